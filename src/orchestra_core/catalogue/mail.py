"""Mail: mailboxes, addresses that deliver to them or forward, and mailing lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from orchestra_core.errors import FieldError
from orchestra_core.model import checks
from orchestra_core.model.service import Service

__all__ = ["MailAddress", "Mailbox", "MailingList"]


@attrs.frozen(kw_only=True)
class Mailbox(Service):
    """A mailbox that stores mail, reached at ``address``.

    ``quota`` is in bytes; None means no limit. The password is never a field: it travels in a
    ``set_password`` operation only.
    """

    kind: ClassVar[str] = "mailbox"
    plural: ClassVar[str] = "mailboxes"

    address: str
    quota: int | None = None

    @property
    def identity(self) -> str:
        """The address."""
        return self.address

    @property
    def domain(self) -> str:
        """The domain of the address."""
        return self.address.rpartition("@")[2]

    def check(self) -> list[FieldError]:
        """Problems with the address and the quota."""
        errors = super().check()
        checks.email_field(errors, self.key, "address", self.address)
        if self.quota is not None:
            checks.int_field(errors, self.key, "quota", self.quota, minimum=1)
        return errors


@attrs.frozen(kw_only=True)
class MailAddress(Service):
    """An address that delivers to local ``mailboxes`` and/or ``forwards`` to other addresses.

    It needs at least one destination. ``@DOMAIN`` (no local part) is the domain's catch-all:
    it takes the mail of every address of the domain that is neither a mailbox nor another
    address.
    """

    kind: ClassVar[str] = "mailaddress"
    plural: ClassVar[str] = "mailaddresses"

    address: str
    mailboxes: tuple[str, ...] = ()
    forwards: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        """The address."""
        return self.address

    def check(self) -> list[FieldError]:
        """Problems with the address and each destination."""
        errors = super().check()
        key = self.key
        if self.is_catch_all:
            checks.hostname_field(errors, key, "address", self.address[1:], trailing_dot=False)
        else:
            checks.email_field(errors, key, "address", self.address)
        for field in ("mailboxes", "forwards"):
            values: tuple[str, ...] = getattr(self, field)
            for i, value in enumerate(values):
                checks.email_field(errors, key, f"{field}[{i}]", value)
            checks.unique_items(errors, key, field, values)
        if not self.mailboxes and not self.forwards:
            errors.append(
                FieldError(key, "mailboxes", "needs at least one mailbox or forward address")
            )
        return errors

    @property
    def is_catch_all(self) -> bool:
        """True for ``@DOMAIN``, the domain's catch-all."""
        return isinstance(self.address, str) and self.address.startswith("@")

    @property
    def domain(self) -> str:
        """The domain of the address."""
        return self.address.rpartition("@")[2]

    def references(self) -> Sequence[tuple[str, str]]:
        """Every local mailbox it delivers to (which must exist in the same account)."""
        return [
            (f"mailboxes[{i}]", f"mailbox:{mailbox}") for i, mailbox in enumerate(self.mailboxes)
        ]


@attrs.frozen(kw_only=True)
class MailingList(Service):
    """A mailing list ``name@domain`` run by ``admin_email``."""

    kind: ClassVar[str] = "mailinglist"
    plural: ClassVar[str] = "mailinglists"

    name: str
    domain: str
    admin_email: str
    description: str = ""

    @property
    def identity(self) -> str:
        """The list's address."""
        return f"{self.name}@{self.domain}"

    def check(self) -> list[FieldError]:
        """Problems with the name, domain, admin address and description."""
        errors = super().check()
        key = self.key
        checks.name_field(errors, key, "name", self.name, max_length=64)
        checks.hostname_field(errors, key, "domain", self.domain, trailing_dot=False)
        checks.email_field(errors, key, "admin_email", self.admin_email)
        checks.text_field(errors, key, "description", self.description, max_length=4096)
        return errors
