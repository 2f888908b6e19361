"""The base of every service type: what a customer has (a domain, a mailbox, a website...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

import attrs

from orchestra_core.errors import FieldError, ValidationError

if TYPE_CHECKING:
    from orchestra_core.model.index import ServiceIndex

__all__ = ["Account", "Service", "ServiceT", "reference_errors"]


@attrs.frozen(kw_only=True)
class Account:
    """A customer account: the owner of services. Suspending it disables all its services."""

    name: str
    is_active: bool = True
    email: str | None = None
    description: str = ""

    kind: ClassVar[str] = "account"

    @property
    def key(self) -> str:
        """Stable natural key, ``account:NAME``."""
        return f"account:{self.name}"

    def check(self) -> list[FieldError]:
        """Problems with this account's fields; empty when it is valid."""
        from orchestra_core.model import checks

        errors: list[FieldError] = []
        checks.name_field(errors, self.key, "name", self.name, max_length=64)
        if self.email is not None:
            checks.email_field(errors, self.key, "email", self.email)
        checks.text_field(errors, self.key, "description", self.description, max_length=4096)
        return errors


@attrs.frozen(kw_only=True)
class Service:
    """Base class of the service catalogue and of every plugin service type.

    Subclasses are frozen attrs classes with ``kw_only=True``; they set :attr:`kind` (the
    singular name used in keys, routes and templates) and :attr:`plural` (the inventory section),
    and implement :attr:`identity` and :meth:`check`.
    """

    kind: ClassVar[str] = "service"
    plural: ClassVar[str] = "services"

    account: str
    is_active: bool = True

    @property
    def identity(self) -> str:
        """The part of the key that identifies the object within its kind."""
        raise NotImplementedError

    @property
    def key(self) -> str:
        """Stable natural key ``KIND:IDENTITY``; never depends on a storage id."""
        return f"{self.kind}:{self.identity}"

    def check(self) -> list[FieldError]:
        """Problems with this object's fields, each naming the field; empty when valid.

        Called without touching any server. Subclasses extend the list from ``super()``.
        """
        from orchestra_core.model import checks

        errors: list[FieldError] = []
        checks.name_field(errors, self.key, "account", self.account, max_length=64)
        return errors

    def validate(self) -> None:
        """Raise :class:`ValidationError` listing every problem :meth:`check` finds."""
        errors = self.check()
        if errors:
            raise ValidationError(errors)

    def references(self) -> Sequence[tuple[str, str]]:
        """The objects this one names, as ``(field, key)``: a web app's system user
        (``("system_user", "systemuser:u1")``), a database user's databases. The default
        names none."""
        return ()

    def check_references(self, index: ServiceIndex) -> list[FieldError]:
        """Problems with the objects this one names: each of :meth:`references` must be in
        ``index``, in the same account.

        Called by the planner for every object being saved, with the index of every known
        object. Override it for other rules, with :func:`reference_errors` to build errors.
        """
        return [
            error
            for field, key in self.references()
            for error in reference_errors(self, index, field, key)
        ]

    def related_keys(self, index: ServiceIndex) -> Iterable[str]:
        """Keys of other objects whose rendering depends on this one.

        When this object is saved or deleted, the change set re-saves them (a subdomain
        re-saves the zone it lives in). The default is none.
        """
        return ()


ServiceT = TypeVar("ServiceT", bound=Service)


def reference_errors(
    obj: Service, index: ServiceIndex, field: str, key: str, *, same_account: bool = True
) -> list[FieldError]:
    """An error when ``key`` is not in the index (or belongs to another account), else none."""
    target = index.get(key)
    if target is None:
        return [
            FieldError(
                obj.key,
                field,
                f"names {key}, which is neither in the inventory nor applied: add it, or "
                "name one that exists",
            )
        ]
    if same_account and target.account != obj.account:
        return [FieldError(obj.key, field, f"names {key}, which belongs to another account")]
    return []
