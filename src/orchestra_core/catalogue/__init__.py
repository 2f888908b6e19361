"""The standard service catalogue: what hosting customers have, shared by every driver.

Registered by the built-in ``catalogue`` plugin (:mod:`orchestra_core.catalogue.plugin`), so
that two drivers for the same job (bind9 and PowerDNS) provision one type.
"""

from orchestra_core.catalogue.types import (
    CATALOGUE,
    PROTOCOLS,
    RECORD_TYPES,
    WEBAPP_TYPES,
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    Record,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)

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
