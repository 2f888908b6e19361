"""A read-only view of every known object, for routes, renderers and change sets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from orchestra_core.errors import FieldError, ValidationError
from orchestra_core.model.service import Account, Service, ServiceT

__all__ = ["ServiceIndex"]

T = TypeVar("T")


class ServiceIndex:
    """Accounts and services by natural key, with look-ups by kind and account.

    Renderers use it to see more than the object they render (a zone gathers its subdomains);
    change sets use it to re-save the owners of a changed object.
    """

    def __init__(self, accounts: Iterable[Account] = (), services: Iterable[Service] = ()) -> None:
        self._accounts: dict[str, Account] = {}
        self._services: dict[str, Service] = {}
        self._memo: dict[str, object] = {}
        for account in accounts:
            self._accounts[account.name] = account
        for service in services:
            if service.key in self._services:
                raise ValidationError(
                    [FieldError(service.key, "key", "two objects share this natural key")]
                )
            self._services[service.key] = service

    def __contains__(self, key: object) -> bool:
        return key in self._services

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    def get(self, key: str) -> Service | None:
        """The service with this key, or None."""
        return self._services.get(key)

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()``, computed once per index and ``key``.

        For look-up tables a renderer needs for every object of a plan (a zone's subdomains):
        the index never changes, so they are built once instead of once per object. ``key``
        names the table; prefix it with your package name.
        """
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[return-value]

    def of_type(self, cls: type[ServiceT]) -> list[ServiceT]:
        """Every service of this class (or a subclass), in insertion order."""
        return [s for s in self._services.values() if isinstance(s, cls)]

    def of_kind(self, kind: str) -> list[Service]:
        """Every service whose ``kind`` is this one, in insertion order."""
        return [s for s in self._services.values() if s.kind == kind]

    def of_account(self, account: str) -> list[Service]:
        """Every service owned by this account."""
        return [s for s in self._services.values() if s.account == account]

    @property
    def accounts(self) -> dict[str, Account]:
        """Accounts by name."""
        return dict(self._accounts)

    def account(self, name: str) -> Account | None:
        """The account of this name, or None when it is unknown."""
        return self._accounts.get(name)

    def is_effectively_active(self, service: Service) -> bool:
        """True when the service and its account are both active (a suspension disables both)."""
        account = self._accounts.get(service.account)
        return service.is_active and (account is None or account.is_active)
