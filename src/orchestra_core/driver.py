"""The face of orchestra-core for drivers: everything a driver imports, from this one module.

A driver (a distribution under ``plugins/``, found through the ``orchestra.plugins`` entry
point) imports only from here, and its tests from :mod:`orchestra_core.testing` as well::

    from orchestra_core.driver import Backend, Domain, RenderContext, Step, WriteFile, hookimpl

What is here is the contract the core keeps for drivers; any other module of the core may
change without notice. In groups:

- backends: :class:`Backend` (typed ``Backend[ServiceT, SettingsT]``, or
  ``Backend[ServiceT, SettingsT, ObservedT]`` for one that probes), :class:`RenderContext`,
  :class:`Observation`, :class:`Probe`, :class:`NoSettings`, :func:`server_path`,
  :data:`ACTIONS`;
- steps: :class:`Step`, :class:`WriteFile`, :class:`DeleteFile`, :class:`EnsureDirectory`,
  :class:`Command`, :class:`Inspect`, :class:`Reload`, :data:`CANDIDATE`;
- checks: :class:`FieldError`, :class:`BackendError`, the field checks (``checks.name_field``,
  ``checks.hostname_field``...), and the settings validators (:func:`absolute_path`,
  :func:`any_absolute_path`, :func:`program`, :func:`command`) for a settings class;
- rendering: :class:`Templates`, :func:`quote`, :func:`file_name` (a file name from an object's
  name that fits the file system whatever its length);
- the model: :class:`Service`, :class:`Account`, :class:`Server`, :class:`ServiceIndex`, the
  catalogue's service types (:class:`Domain`, :class:`Database`...), and :func:`unstructure`
  (an object as plain data, as an inventory writes it);
- usage and billing: :class:`Monitor`, :class:`Sample`, :class:`Aggregation`,
  :class:`ResourceDefinition`, :class:`BillingMetric`;
- plugins: :data:`hookimpl`, the marker of a plugin's hook implementations.
"""

from __future__ import annotations

from orchestra_core.backends.base import (
    ACTIONS,
    Backend,
    NoSettings,
    Observation,
    ObservedT,
    Probe,
    RenderContext,
    ServiceT,
    SettingsT,
    server_path,
)
from orchestra_core.backends.settings import absolute_path, any_absolute_path, command, program
from orchestra_core.backends.steps import (
    CANDIDATE,
    AssembleFile,
    Command,
    DeleteFile,
    Derived,
    EnsureDirectory,
    Inspect,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.backends.trash import move_to_trash
from orchestra_core.billing.metrics import BillingMetric
from orchestra_core.catalogue import (
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
from orchestra_core.errors import BackendError, FieldError
from orchestra_core.hookspecs import hookimpl
from orchestra_core.model import checks
from orchestra_core.model.convert import unstructure
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Server
from orchestra_core.model.service import Account, Service
from orchestra_core.rendering import Templates, quote
from orchestra_core.rendering.names import file_name
from orchestra_core.resources.definitions import Aggregation, Monitor, ResourceDefinition, Sample

__all__ = [
    "ACTIONS",
    "CANDIDATE",
    "Account",
    "Aggregation",
    "AssembleFile",
    "Backend",
    "BackendError",
    "BillingMetric",
    "Command",
    "Database",
    "DatabaseUser",
    "DeleteFile",
    "Derived",
    "Domain",
    "EnsureDirectory",
    "FieldError",
    "Inspect",
    "MailAddress",
    "Mailbox",
    "MailingList",
    "Monitor",
    "NoSettings",
    "Observation",
    "ObservedT",
    "Probe",
    "Record",
    "Reload",
    "RenderContext",
    "ResourceDefinition",
    "Sample",
    "Server",
    "Service",
    "ServiceIndex",
    "ServiceT",
    "SettingsT",
    "Step",
    "SystemUser",
    "Templates",
    "WebApp",
    "Website",
    "WebsiteContent",
    "WriteFile",
    "absolute_path",
    "any_absolute_path",
    "checks",
    "command",
    "file_name",
    "hookimpl",
    "move_to_trash",
    "program",
    "quote",
    "server_path",
    "unstructure",
]
