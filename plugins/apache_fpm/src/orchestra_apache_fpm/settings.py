"""Settings of the apache-fpm backends and monitors, per server or route (defaults fit Debian's
apache2 and php-fpm packages).

Every apache-fpm backend reads one block, ``apache_fpm`` in a server's settings (a block
named after one backend, ``apache-website``, overrides it for that backend), so a server's
paths are written once. What orchestra owns on a web server:

Homes (``home_base/NAME``, or the system user's ``home``)
    Each system user ``NAME`` has a unix user and group of its name, and a **CGI user**
    ``NAME`` + ``cgi_suffix`` (``NAME-cgi``) that its PHP runs as. The home is ``NAME:NAME``
    0750; the CGI user and Apache's user get only ``--x`` on it (an ACL). Web apps live in
    ``HOME/webapps/APP`` and their temporary files in ``HOME/tmp/APP``; both base folders
    belong to root (group ``NAME``, 0750), so the customer can neither create a folder there
    that a pool or vhost would trust nor remove one.

``pools_dir`` (``{version}`` is the PHP version)
    One PHP-FPM **instance** per PHP web app, ``POOL.conf``: a ``[global]`` section (its pid
    and log under ``run_dir`` and ``log_dir``) and one pool, so that changing one app's
    options restarts that app's pool alone. ``php{version}-fpm`` is reloaded once per batch
    and acts only on the instances whose file changed (started, reloaded with ``SIGUSR2``, or
    stopped when its file went).

``sites_dir``
    One file per website, ``ACCOUNT~NAME.conf``, read by Apache's
    ``IncludeOptional SITES_DIR/*.conf``; each site also includes
    ``overrides_dir/ACCOUNT~NAME/*.conf``, the operator's manual additions.

The driver's README shows the lines of ``apache2.conf`` that read them.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["DEFAULT_DISABLE_FUNCTIONS", "DEFAULT_UPLOAD_DIRS", "ApacheFpmSettings"]


# The core's validators, imported when first used: importing this package (its pytest fixtures
# in ``orchestra_apache_fpm.testing`` do) must not import orchestra_core.
def absolute_path(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """See :func:`orchestra_core.driver.absolute_path`."""
    from orchestra_core import driver

    driver.absolute_path(instance, attribute, value)


def program(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    """See :func:`orchestra_core.driver.program`."""
    from orchestra_core import driver

    driver.program(instance, attribute, value)


def command(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    """See :func:`orchestra_core.driver.command`."""
    from orchestra_core import driver

    driver.command(instance, attribute, value)


#: Functions no customer PHP may call: they run programs or reach the server's processes.
DEFAULT_DISABLE_FUNCTIONS = (
    "exec",
    "passthru",
    "shell_exec",
    "system",
    "proc_open",
    "popen",
    "pcntl_exec",
    "pcntl_fork",
    "posix_kill",
    "posix_setuid",
    "posix_setgid",
    "dl",
)
#: Upload folders of the common CMSs, relative to a web app: writable by the CGI user, and
#: never running PHP or CGI.
DEFAULT_UPLOAD_DIRS = ("wp-content/uploads", "uploads")

_VERSION = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
_UNIX = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_LISTEN = re.compile(r"(?:\*|[0-9.]{7,15}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}")
_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_RELATIVE = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_SUFFIX = re.compile(r"[a-z0-9_-]{1,16}")


def _versions(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not isinstance(value, tuple) or not value:
        raise ValueError(f"{attribute.name} must list at least one PHP version ('8.2')")
    for item in value:
        if not isinstance(item, str) or not _VERSION.fullmatch(item):
            raise ValueError(f"{attribute.name}: {item!r} is not a PHP version like '8.2'")
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} lists a version twice")


def _version(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a PHP version like '8.2'")


def _unix(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not _UNIX.fullmatch(value):
        raise ValueError(f"{attribute.name}: {value!r} is not a unix user or group name")


def _suffix(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not _SUFFIX.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} must be 1 to 16 lower-case letters, digits, '_' or '-'"
        )


def _listen(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not _LISTEN.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not a VirtualHost address: '*:80', "
            "'192.0.2.1:80' or '[2001:db8::1]:443'"
        )
    port = int(value.rpartition(":")[2])
    if not 1 <= port <= 65535:
        raise ValueError(f"{attribute.name}: {value!r}: the port must be from 1 to 65535")


def _functions(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"{attribute.name} must be a list of PHP function names")
    for item in value:
        if not isinstance(item, str) or not _FUNCTION.fullmatch(item):
            raise ValueError(f"{attribute.name}: {item!r} is not a PHP function name")


def _relative_dirs(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not isinstance(value, tuple):
        raise ValueError(f"{attribute.name} must be a list of folders inside a web app")
    for item in value:
        if (
            not isinstance(item, str)
            or not _RELATIVE.fullmatch(item)
            or any(part in (".", "..") for part in item.split("/"))
            or len(item) > 255
        ):
            raise ValueError(
                f"{attribute.name}: {item!r} is not a folder inside a web app: segments of "
                "letters, digits and '_.-' joined by '/', no '.' or '..'"
            )


def _page(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 4096
        or not value.isprintable()
        or "\\" in value
    ):
        raise ValueError(
            f"{attribute.name} must be one line of printable text (HTML), at most 4096 "
            "characters, without a backslash"
        )


def _positive(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValueError(f"{attribute.name} must be a whole number from 1 to 10000")


def _id_range(_: object, attribute: attrs.Attribute[Any], value: tuple[int, int] | None) -> None:
    if value is None:
        return
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not 1000 <= value[0] <= value[1] <= 2**31 - 2
    ):
        raise ValueError(
            f"{attribute.name} must be [FIRST, LAST]: ids from 1000 to 2147483646, FIRST <= LAST"
        )


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen(kw_only=True)
class ApacheFpmSettings:
    """Where homes, pools and sites are, how Apache and PHP-FPM are driven, and what every
    site and pool enforces. Paths are the server's (under its sandbox root, if it has one)."""

    # -- system users ---------------------------------------------------------------------------
    #: Where homes are when a system user names none: ``HOME_BASE/NAME``.
    home_base: str = attrs.field(default="/home", validator=absolute_path)
    #: The CGI user of system user ``NAME`` is ``NAME`` + this.
    cgi_suffix: str = attrs.field(default="-cgi", validator=_suffix)
    #: The shell of CGI users: none can log in.
    cgi_shell: str = attrs.field(default="/usr/sbin/nologin", validator=absolute_path)
    #: Ids for new users and groups (``useradd -K UID_MIN=...``); None: login.defs decides.
    id_range: tuple[int, int] | None = attrs.field(
        default=None, converter=_tuple, validator=_id_range
    )
    #: Where a deleted home or web app goes: ``TRASH_DIR/YYYY-MM-DD/NAME`` (UTC day). Never
    #: removed by orchestra.
    trash_dir: str = attrs.field(default="/var/trash/orchestra", validator=absolute_path)

    # -- PHP-FPM --------------------------------------------------------------------------------
    #: The PHP versions installed; a web app naming another is refused at validate.
    php_versions: tuple[str, ...] = attrs.field(
        default=("8.2",), converter=_tuple, validator=_versions
    )
    #: The version of a web app that names none.
    default_php_version: str = attrs.field(default="8.2", validator=_version)
    #: PHP-FPM's program, ``{version}`` replaced (``php-fpm8.2``).
    php_fpm: str = attrs.field(default="php-fpm{version}")
    #: One instance file per PHP web app (``{version}`` replaced).
    pools_dir: str = attrs.field(default="/etc/php/{version}/fpm/orchestra")
    #: Sockets and pid files of the instances.
    run_dir: str = attrs.field(default="/run/php/orchestra", validator=absolute_path)
    #: The instances' error logs (``POOL.log``).
    log_dir: str = attrs.field(default="/var/log/php-orchestra", validator=absolute_path)
    #: ``pm.max_children`` of every pool (``pm = ondemand``).
    max_children: int = attrs.field(default=5, validator=_positive)
    #: Seconds an idle PHP process lives (``pm.process_idle_timeout``).
    idle_timeout: int = attrs.field(default=10, validator=_positive)
    disable_functions: tuple[str, ...] = attrs.field(
        default=DEFAULT_DISABLE_FUNCTIONS, converter=_tuple, validator=_functions
    )
    #: More functions to disable, on top of ``disable_functions`` (per route or server).
    extra_disable_functions: tuple[str, ...] = attrs.field(
        default=(), converter=_tuple, validator=_functions
    )
    upload_dirs: tuple[str, ...] = attrs.field(
        default=DEFAULT_UPLOAD_DIRS, converter=_tuple, validator=_relative_dirs
    )

    # -- Apache ---------------------------------------------------------------------------------
    #: Apache's control program and its arguments: ``-t`` checks a site before it goes live.
    #: (The graceful restart signals the master ``pid_file`` names, without this program.)
    apache2: tuple[str, ...] = attrs.field(
        default=("apache2ctl",), converter=_tuple, validator=command
    )
    #: The user Apache's children run as: it gets read access to web apps (an ACL).
    apache_user: str = attrs.field(default="www-data", validator=_unix)
    #: Apache's pid file and error log: the reload signals that master (``SIGUSR1``, once
    #: it is known to be Apache) and waits until its log says it serves again.
    pid_file: str = attrs.field(default="/run/apache2/apache2.pid", validator=absolute_path)
    error_log: str = attrs.field(default="/var/log/apache2/error.log", validator=absolute_path)
    #: One file per website (see the module's docs).
    sites_dir: str = attrs.field(default="/etc/apache2/orchestra", validator=absolute_path)
    overrides_dir: str = attrs.field(
        default="/etc/apache2/orchestra-overrides", validator=absolute_path
    )
    #: Where the plain HTTP and the HTTPS virtual hosts listen.
    http_listen: str = attrs.field(default="*:80", validator=_listen)
    https_listen: str = attrs.field(default="*:443", validator=_listen)
    #: The certificate every HTTPS site uses (a wildcard or multi-name one) and its key.
    certificate: str = attrs.field(
        default="/etc/ssl/certs/ssl-cert-snakeoil.pem", validator=absolute_path
    )
    certificate_key: str = attrs.field(
        default="/etc/ssl/private/ssl-cert-snakeoil.key", validator=absolute_path
    )
    #: The access log every site writes (``vhost_combined``), which the traffic monitor reads,
    #: newest first with the one rotated before it.
    access_log: str = attrs.field(
        default="/var/log/apache2/other_vhosts_access.log", validator=absolute_path
    )
    access_logs_rotated: tuple[str, ...] = attrs.field(
        default=("/var/log/apache2/other_vhosts_access.log.1",), converter=_tuple
    )
    #: The body of a suspended site's ``503 Service Unavailable`` (one line of HTML).
    suspended_page: str = attrs.field(
        default="<h1>This site is suspended</h1><p>Please contact your hosting provider.</p>",
        validator=_page,
    )

    def __attrs_post_init__(self) -> None:
        fields = attrs.fields(ApacheFpmSettings)
        for attribute in (fields.pools_dir, fields.php_fpm):
            value: str = getattr(self, attribute.name)
            filled = value.replace("{version}", "8.2") if isinstance(value, str) else value
            if not isinstance(filled, str) or "{" in filled or "}" in filled:
                raise ValueError(
                    f"{attribute.name}: {value!r} may hold '{{version}}' and no other braces"
                )
            if attribute is fields.pools_dir:
                absolute_path(self, attribute, filled)
            else:
                program(self, attribute, filled)
        if self.default_php_version not in self.php_versions:
            raise ValueError(
                f"default_php_version {self.default_php_version!r} is not in php_versions "
                f"{list(self.php_versions)}"
            )
        for log in self.access_logs_rotated:
            if not isinstance(log, str) or not log.startswith("/"):
                raise ValueError(f"access_logs_rotated: {log!r} is not an absolute path")

    def cgi_user(self, name: str) -> str:
        """The CGI user of system user ``name``."""
        return name + self.cgi_suffix

    def home(self, name: str, home: str | None) -> str:
        """A system user's home (before the sandbox root)."""
        return home if home is not None else f"{self.home_base.rstrip('/')}/{name}"

    def fpm_program(self, version: str) -> str:
        """PHP-FPM's program for ``version``."""
        return self.php_fpm.replace("{version}", version)

    def pools(self, version: str) -> str:
        """The instance files' folder of ``version`` (before the sandbox root)."""
        return self.pools_dir.replace("{version}", version)

    @property
    def functions_disabled(self) -> tuple[str, ...]:
        """Every function disabled in every pool, each once."""
        return tuple(dict.fromkeys((*self.disable_functions, *self.extra_disable_functions)))
