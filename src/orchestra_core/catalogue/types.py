"""Every service type of the standard catalogue, in dependency order, and their parts."""

from __future__ import annotations

from orchestra_core.catalogue.databases import Database, DatabaseUser
from orchestra_core.catalogue.dns import RECORD_TYPES, Domain, Record
from orchestra_core.catalogue.mail import MailAddress, Mailbox, MailingList
from orchestra_core.catalogue.web import (
    PROTOCOLS,
    WEBAPP_TYPES,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.model.service import Service

__all__ = [
    "CATALOGUE",
    "PROTOCOLS",
    "RECORD_TYPES",
    "WEBAPP_TYPES",
    "Database",
    "DatabaseUser",
    "Domain",
    "MailAddress",
    "Mailbox",
    "MailingList",
    "Record",
    "SystemUser",
    "WebApp",
    "Website",
    "WebsiteContent",
]

#: The service types the built-in ``catalogue`` plugin registers.
CATALOGUE: tuple[type[Service], ...] = (
    SystemUser,
    Domain,
    Mailbox,
    MailAddress,
    WebApp,
    Website,
    Database,
    DatabaseUser,
    MailingList,
)
