"""``apache-website``: a website's virtual hosts, one file per site in ``sites_dir``.

The file holds a ``<VirtualHost>`` on ``http_listen`` and/or ``https_listen`` as the site's
``protocol`` asks (``https-only``: the plain one only redirects to HTTPS), answering for its
domains (``ServerName`` the first, ``ServerAlias`` every other). Each content path serves its
web app's code folder (``DocumentRoot`` for ``/``, an ``Alias`` for the others): PHP through
the app's pool socket, static files by Apache. A PHP app's upload folders never run PHP or
CGI (such files are refused with 403) and read no ``.htaccess``; a static app's PHP files are
refused rather than shown as source. Symlinks are followed only to files of their own owner
(``SymLinksIfOwnerMatch``): a customer cannot link another customer's files into a site.
Each site ends with ``IncludeOptional overrides_dir/ACCOUNT~NAME/*.conf`` for the operator's
additions. A suspended site answers ``503`` with ``suspended_page`` on every path.

The file is checked before it goes live by ``apache2 -t`` on the whole configuration with the
candidate in its place: the live file is wrapped in ``<IfDefine !orchestra_skip_...>`` and the
check defines that name and includes the candidate, so the live file is never touched before
the check passes. One graceful restart per batch (``SIGUSR1`` to the master in
``pid_file``: ``apache2 -k graceful`` would parse every site once more before sending it),
and the reload waits for Apache's error log to say it is serving again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from orchestra_apache_fpm.names import apache_quote, define_name, server_name, site_name
from orchestra_apache_fpm.settings import ApacheFpmSettings
from orchestra_apache_fpm.webapps import AppPaths, app_paths
from orchestra_core.driver import (
    CANDIDATE,
    Backend,
    BackendError,
    Command,
    DeleteFile,
    EnsureDirectory,
    FieldError,
    RenderContext,
    Server,
    Step,
    WebApp,
    Website,
    WriteFile,
    file_name,
    quote,
    server_path,
)

__all__ = ["ApacheWebsite"]

SiteContext = RenderContext[Website, ApacheFpmSettings]

#: ``apache2 -t`` of a candidate site file (``$1``; the rest is the apache2 command): the
#: live file is hidden by defining its ``<IfDefine !$D>``, and a copy of the candidate
#: without that wrapper (the same text would hide itself too) is included after the
#: configuration is read.
CHECK_SITE = (
    "c=$1; shift\n"
    "t=$(mktemp --suffix=.conf) || exit 1\n"
    'sed -e "/^<IfDefine !$D>\\$/d" -e \'$ { /^<\\/IfDefine>$/d }\' -- "$c" >"$t" || '
    '{ rm -f -- "$t"; exit 1; }\n'
    'out=$("$@" -t -D "$D" -c "Include \\"$t\\"" 2>&1); rc=$?\n'
    'rm -f -- "$t"\n'
    '[ "$rc" -eq 0 ] || { printf "%s\\n" "${out//$t/$c}" >&2; exit 1; }\n'
)
#: Files a PHP app's upload folders (and a static app) refuse to serve: what a server could
#: run rather than send.
RUNNABLE = r"(?i)\.(php[0-9]?|phtml|phar|pht|phps|cgi|pl|py|sh|shtml)$"


@attrs.frozen(kw_only=True)
class Content:
    """One content path of a site, resolved to its web app's folders (real server paths)."""

    path: str
    app: WebApp
    code: str
    socket: str | None
    uploads: tuple[str, ...]


@attrs.frozen(kw_only=True)
class VirtualHost:
    """One ``<VirtualHost>`` of the site's file."""

    listen: str
    tls: bool
    redirect: bool


class ApacheWebsite(Backend[Website, ApacheFpmSettings]):
    """A website's virtual hosts on Apache (see the module's docs)."""

    name: ClassVar[str] = "apache-website"
    service_type: ClassVar[type[Any]] = Website
    after: ClassVar[tuple[str, ...]] = ("apache-webapp",)
    daemon: ClassVar[str | None] = "apache2"
    settings_class: ClassVar[type[Any]] = ApacheFpmSettings
    settings_section: ClassVar[str | None] = "apache_fpm"
    tools: ClassVar[tuple[str, ...]] = ("stat", "tail", "grep")
    template_filters: ClassVar[Any] = {"apache": apache_quote}

    def check(self, obj: Website, settings: ApacheFpmSettings) -> list[FieldError]:
        """A wildcard that would take another customer's names (``*``, ``*.example``): a
        wildcard needs two labels after its ``*.``. Every other value reaching the file is a
        host name the catalogue checked or a path the driver made."""
        errors = []
        for i, domain in enumerate(obj.domains):
            if domain.startswith("*") and domain.count(".") < 2:
                errors.append(
                    FieldError(
                        obj.key,
                        f"domains[{i}]",
                        f"{domain[:60]!r} would answer for every name under a top-level "
                        "domain: a wildcard needs two labels after '*.' (*.acme.example)",
                    )
                )
        return errors

    def site(self, ctx: SiteContext) -> str:
        """The stem of the site's files."""
        return site_name(ctx.obj.account, ctx.obj.name)

    def path(self, ctx: SiteContext) -> str:
        """The site's file on the server."""
        return ctx.path(
            f"{ctx.settings.sites_dir.rstrip('/')}/{file_name(self.site(ctx), '.conf')}"
        )

    def contents(self, ctx: SiteContext) -> list[Content]:
        """Each content path with its web app's folders."""
        found = []
        for i, content in enumerate(ctx.obj.contents):
            app = ctx.index.get(f"webapp:{ctx.obj.account}/{content.webapp}")
            if not isinstance(app, WebApp):
                raise BackendError(
                    self.name,
                    f"contents[{i}].webapp names {content.webapp!r}, which is not a web app of "
                    f"{ctx.obj.account}",
                    object_key=ctx.obj.key,
                )
            paths: AppPaths = app_paths(app, ctx.index, ctx.settings)
            php = app.type == "php"
            found.append(
                Content(
                    path=content.path.rstrip("/") or "/",
                    app=app,
                    code=ctx.path(paths.code),
                    socket=ctx.path(paths.socket) if php else None,
                    uploads=tuple(ctx.path(u) for u in paths.uploads) if php else (),
                )
            )
        return found

    def vhosts(self, ctx: SiteContext) -> list[VirtualHost]:
        """The virtual hosts its protocol asks for."""
        settings, protocol = ctx.settings, ctx.obj.protocol
        hosts = []
        if protocol in ("http", "http/https", "https-only"):
            hosts.append(
                VirtualHost(
                    listen=settings.http_listen, tls=False, redirect=protocol == "https-only"
                )
            )
        if protocol in ("https", "http/https", "https-only"):
            hosts.append(VirtualHost(listen=settings.https_listen, tls=True, redirect=False))
        return hosts

    def file(self, ctx: SiteContext) -> str:
        """The text of the site's file."""
        settings = ctx.settings
        site = self.site(ctx)
        port = settings.https_listen.rpartition(":")[2]
        return self.templates.config(
            "site.conf.j2",
            site=ctx.obj,
            define=define_name(site),
            vhosts=self.vhosts(ctx),
            domains=ctx.obj.domains,
            server_name=server_name(ctx.obj.account, ctx.obj.name, ctx.obj.domains),
            contents=self.contents(ctx) if ctx.active else [],
            suspended=not ctx.active,
            empty_root=ctx.path(f"{settings.sites_dir.rstrip('/')}/.empty"),
            https_port="" if port == "443" else f":{port}",
            overrides=ctx.path(f"{settings.overrides_dir.rstrip('/')}/{file_name(site)}"),
            settings=settings,
            certificate=ctx.path(settings.certificate),
            certificate_key=ctx.path(settings.certificate_key),
            access_log=ctx.path(settings.access_log),
            runnable=RUNNABLE,
        )

    def _validate(self, ctx: SiteContext) -> tuple[str, ...]:
        """``apache2 -t`` with the live file hidden (``-D``, which its ``<IfDefine>`` reads)
        and a copy of the candidate without that wrapper included in its place."""
        script = CHECK_SITE
        return (
            "env",
            f"D={define_name(self.site(ctx))}",
            "bash",
            "-c",
            script,
            "check-site",
            CANDIDATE,
            *ctx.settings.apache2,
        )

    def render_save(self, ctx: SiteContext) -> Sequence[Step]:
        """The site's file (serving, or 503 when suspended), checked, then a graceful reload."""
        settings = ctx.settings
        return [
            EnsureDirectory(description="Apache sites", path=ctx.path(settings.sites_dir)),
            EnsureDirectory(
                description="the empty document root",
                path=ctx.path(f"{settings.sites_dir.rstrip('/')}/.empty"),
            ),
            EnsureDirectory(
                description=f"overrides of {ctx.obj.name}",
                path=ctx.path(f"{settings.overrides_dir.rstrip('/')}/{file_name(self.site(ctx))}"),
            ),
            WriteFile(
                description=f"virtual hosts of {ctx.obj.name}",
                path=self.path(ctx),
                content=self.file(ctx),
                validate=self._validate(ctx),
                notify="apache2",
            ),
        ]

    def render_delete(self, ctx: SiteContext) -> Sequence[Step]:
        """The site's file gone; its overrides folder too when it is empty (what the
        operator put there stays, with the folder)."""
        overrides = ctx.path(
            f"{ctx.settings.overrides_dir.rstrip('/')}/{file_name(self.site(ctx))}"
        )
        return [
            DeleteFile(
                description=f"virtual hosts of {ctx.obj.name}",
                path=self.path(ctx),
                notify="apache2",
            ),
            Command(
                description=f"the overrides folder of {ctx.obj.name}, if empty",
                script=f"__o_safe {quote(overrides)} || exit 1\nrmdir -- {quote(overrides)}",
                unless=(
                    f"[ ! -d {quote(overrides)} ] || [ -L {quote(overrides)} ] || "
                    f'[ -n "$(ls -A -- {quote(overrides)})" ]'
                ),
            ),
        ]

    def reload(self, server: Server, settings: ApacheFpmSettings, daemon: str) -> str | None:
        """A graceful restart (``SIGUSR1`` to the master), then waiting until the error log
        says it serves again."""
        return self.templates.shell(
            "reload-apache.sh.j2",
            pid_file=server_path(server, settings.pid_file),
            error_log=server_path(server, settings.error_log),
        )
