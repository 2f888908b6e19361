"""The built-in ``dummy`` driver: one dummy backend per catalogue service type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_core.driver import (
    Backend,
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    SystemUser,
    WebApp,
    Website,
    hookimpl,
)
from orchestra_core.dummy.backend import dummy_backend_for

__all__ = ["BACKENDS"]

_PASSWORD = frozenset({"save", "delete", "set_password"})

BACKENDS: tuple[type[Backend[Any]], ...] = (
    dummy_backend_for(SystemUser, actions=_PASSWORD),
    dummy_backend_for(Domain),
    dummy_backend_for(Mailbox, after=("dummy-domain",), actions=_PASSWORD),
    dummy_backend_for(MailAddress, after=("dummy-domain", "dummy-mailbox")),
    dummy_backend_for(WebApp, after=("dummy-systemuser",)),
    dummy_backend_for(Website, after=("dummy-domain", "dummy-webapp")),
    dummy_backend_for(Database),
    dummy_backend_for(DatabaseUser, after=("dummy-database",), actions=_PASSWORD),
    dummy_backend_for(MailingList, after=("dummy-domain",)),
)


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """The dummy backends, ``dummy-KIND`` for each catalogue type."""
    return BACKENDS
