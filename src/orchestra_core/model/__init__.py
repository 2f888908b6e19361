"""Data that the core works on: accounts, services, servers, routes, secrets."""

from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import REDACTED, Secret
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account, Service, ServiceT

__all__ = [
    "REDACTED",
    "Account",
    "Route",
    "Secret",
    "Server",
    "Service",
    "ServiceIndex",
    "ServiceT",
]
