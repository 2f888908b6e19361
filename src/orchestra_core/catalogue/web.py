"""Hosting: system users, the web apps they run, and the websites that serve them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs

from orchestra_core.errors import FieldError
from orchestra_core.model import checks
from orchestra_core.model.service import Service

if TYPE_CHECKING:
    from orchestra_core.model.index import ServiceIndex

__all__ = [
    "PROTOCOLS",
    "WEBAPP_TYPES",
    "SystemUser",
    "WebApp",
    "Website",
    "WebsiteContent",
]

#: What a web app runs.
WEBAPP_TYPES = ("php", "static")
#: How a website answers: plain HTTP, HTTPS, both, or HTTPS with HTTP redirected to it.
PROTOCOLS = ("http", "https", "http/https", "https-only")

_PHP_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_.]{0,127}")
_URL_PATH = re.compile(r"/([A-Za-z0-9._~-]+/?)*")


@attrs.frozen(kw_only=True)
class SystemUser(Service):
    """A unix user that owns files and runs processes (PHP pools, cron jobs).

    ``home`` of None means the driver's default; ``shell`` ``/bin/false`` forbids log-ins.
    """

    kind: ClassVar[str] = "systemuser"
    plural: ClassVar[str] = "systemusers"

    name: str
    home: str | None = None
    shell: str = "/bin/false"
    groups: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        """The user name (unique on the servers, whatever the account)."""
        return self.name

    def check(self) -> list[FieldError]:
        """Problems with the name, home, shell and groups."""
        errors = super().check()
        key = self.key
        checks.unix_name_field(errors, key, "name", self.name)
        if self.home is not None:
            checks.path_field(errors, key, "home", self.home)
        checks.path_field(errors, key, "shell", self.shell, max_length=255)
        for i, group in enumerate(self.groups):
            checks.unix_name_field(errors, key, f"groups[{i}]", group)
        checks.unique_items(errors, key, "groups", self.groups)
        return errors

    def related_keys(self, index: ServiceIndex) -> Iterable[str]:
        """Its web apps and the websites serving them: their files name folders in its home,
        so a changed home re-saves them."""
        return index.memo(
            "orchestra_core.catalogue:sites-by-user", lambda: _sites_by_user(index)
        ).get((self.account, self.name), ())


@attrs.frozen(kw_only=True)
class WebApp(Service):
    """An application run by ``system_user``: a PHP pool, or static files.

    ``php_version`` (``8.2``) of None means the driver's default; ``options`` are settings such
    as ``memory_limit`` or ``upload_max_filesize``, passed to the driver as text.
    """

    kind: ClassVar[str] = "webapp"
    plural: ClassVar[str] = "webapps"

    name: str
    type: str = "php"
    system_user: str
    php_version: str | None = None
    options: dict[str, str] = attrs.field(factory=dict)

    @property
    def identity(self) -> str:
        """``ACCOUNT/NAME``: app names are unique within an account."""
        return f"{self.account}/{self.name}"

    def check(self) -> list[FieldError]:
        """Problems with the name, type, user, PHP version and options."""
        errors = super().check()
        key = self.key
        checks.name_field(errors, key, "name", self.name, max_length=64)
        checks.choice_field(errors, key, "type", self.type, WEBAPP_TYPES)
        checks.unix_name_field(errors, key, "system_user", self.system_user)
        if self.php_version is not None and (
            not isinstance(self.php_version, str) or not _PHP_VERSION.fullmatch(self.php_version)
        ):
            errors.append(FieldError(key, "php_version", f"{self.php_version!r} is not like '8.2'"))
        if self.php_version is not None and self.type != "php":
            errors.append(FieldError(key, "php_version", "is only meaningful for type 'php'"))
        for name, value in self.options.items():
            if not isinstance(name, str) or not _OPTION_NAME.fullmatch(name):
                errors.append(
                    FieldError(
                        key,
                        "options",
                        f"{str(name)[:80]!r} is not an option name: lower-case letters, digits, "
                        "'_' and '.', starting with a letter, at most 128 characters",
                    )
                )
                continue
            checks.text_field(errors, key, f"options[{name}]", value, max_length=4096)
        return errors

    def references(self) -> Sequence[tuple[str, str]]:
        """Its system user (which must exist in the same account)."""
        return [("system_user", f"systemuser:{self.system_user}")]


@attrs.frozen(kw_only=True)
class WebsiteContent:
    """The web app of the same account that a website serves under ``path`` (``/``, ``/blog``)."""

    path: str = "/"
    webapp: str


@attrs.frozen(kw_only=True)
class Website(Service):
    """A virtual host answering for ``domains`` and serving web apps under paths."""

    kind: ClassVar[str] = "website"
    plural: ClassVar[str] = "websites"

    name: str
    domains: tuple[str, ...]
    protocol: str = "http"
    contents: tuple[WebsiteContent, ...] = ()

    @property
    def identity(self) -> str:
        """``ACCOUNT/NAME``: website names are unique within an account."""
        return f"{self.account}/{self.name}"

    def check(self) -> list[FieldError]:
        """Problems with the name, domains, protocol and contents."""
        errors = super().check()
        key = self.key
        checks.name_field(errors, key, "name", self.name, max_length=64)
        if not self.domains:
            errors.append(FieldError(key, "domains", "needs at least one host name"))
        for i, domain in enumerate(self.domains):
            checks.hostname_field(
                errors, key, f"domains[{i}]", domain, allow_wildcard=True, trailing_dot=False
            )
        checks.unique_items(errors, key, "domains", self.domains)
        checks.choice_field(errors, key, "protocol", self.protocol, PROTOCOLS)
        paths: dict[str, int] = {}
        for i, content in enumerate(self.contents):
            prefix = f"contents[{i}]"
            if not isinstance(content, WebsiteContent):
                errors.append(FieldError(key, prefix, "must be a path and a webapp"))
                continue
            path = content.path
            if not isinstance(path, str) or len(path) > 1024 or not _URL_PATH.fullmatch(path):
                shown = repr(path[:80]) if isinstance(path, str) else type(path).__name__
                errors.append(
                    FieldError(
                        key,
                        f"{prefix}.path",
                        f"{shown} is not a URL path: '/' then segments of ASCII letters, "
                        "digits and '._~-'",
                    )
                )
            elif ".." in path.split("/") or "." in path.split("/"):
                errors.append(FieldError(key, f"{prefix}.path", f"{path!r} has a '.' or '..'"))
            elif path.rstrip("/") in paths:
                first = paths[path.rstrip("/")]
                errors.append(
                    FieldError(
                        key, f"{prefix}.path", f"{path!r} is already served by contents[{first}]"
                    )
                )
            else:
                paths[path.rstrip("/")] = i
            checks.name_field(errors, key, f"{prefix}.webapp", content.webapp, max_length=64)
        return errors

    def references(self) -> Sequence[tuple[str, str]]:
        """Every web app it serves (which must exist in the same account)."""
        return [
            (f"contents[{i}].webapp", f"webapp:{self.account}/{content.webapp}")
            for i, content in enumerate(self.contents)
        ]


def _sites_by_user(index: ServiceIndex) -> dict[tuple[str, str], tuple[str, ...]]:
    """By (account, system user), the keys of its web apps and of the websites serving one
    of them."""
    user_of = {(app.account, app.name): app.system_user for app in index.of_type(WebApp)}
    found: dict[tuple[str, str], list[str]] = {}
    for app in index.of_type(WebApp):
        found.setdefault((app.account, app.system_user), []).append(app.key)
    for site in index.of_type(Website):
        users = {
            user_of[(site.account, content.webapp)]
            for content in site.contents
            if (site.account, content.webapp) in user_of
        }
        for user in sorted(users):
            found.setdefault((site.account, user), []).append(site.key)
    return {key: tuple(keys) for key, keys in found.items()}
