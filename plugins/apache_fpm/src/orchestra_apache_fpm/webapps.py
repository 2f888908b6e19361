"""``apache-webapp``: a PHP or static web app's folders, ACLs and (for PHP) its PHP-FPM pool.

Folders, for web app ``APP`` of system user ``NAME`` (home ``HOME``), CGI user ``CGI``:

``HOME/webapps`` and ``HOME/tmp``: ``root:NAME`` 0750
    The base folders belong to root: the customer cannot make or replace a folder there that
    a pool or vhost trusts. ``CGI`` and Apache's user get ``--x``.
``HOME/webapps/APP``: ``NAME:NAME`` 0750, the code
    ACL ``CGI:r-x`` and Apache's ``r-x``, and as default ACLs (what is created inside gets
    them too, whatever the umask): PHP reads the code and cannot change it, so a compromised
    app cannot plant a backdoor; ``NAME:rwx`` by default, so the owner can change what the
    CGI user made.
``HOME/webapps/APP/UPLOAD`` (each of ``upload_dirs``): 0770, as above with ``CGI:rwx``
    Where PHP may write; the vhost never runs PHP or CGI there.
``HOME/tmp/APP``: ``NAME:NAME`` 0770 with ``CGI:rwx`` (and by default)
    Uploads in flight, sessions, ``sys_temp_dir``.

Another account's PHP runs as another CGI user, with no entry on this home: it cannot read a
byte of it, and ``open_basedir`` confines each pool to its app and its tmp folder as well.

A PHP app's pool runs in an instance of its own (``pools_dir/POOL.conf``, see
:mod:`orchestra_apache_fpm.settings`), checked with ``php-fpmX.Y -t`` before it goes live;
its socket is ``run_dir/POOL.sock``, mode 0600 and Apache's. Suspended: the instance file
goes (its pool stops); resumed, it comes back. Deleted: the instance file goes and the app's
folders are moved to ``TRASH_DIR/YYYY-MM-DD/ACCOUNT~APP`` (and ``...~APP.tmp``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any, ClassVar

from orchestra_apache_fpm import php_options
from orchestra_apache_fpm.acl import acl_step, entry
from orchestra_apache_fpm.names import ini_quote, pool_name
from orchestra_apache_fpm.settings import ApacheFpmSettings
from orchestra_core.driver import (
    CANDIDATE,
    Backend,
    Command,
    DeleteFile,
    EnsureDirectory,
    FieldError,
    RenderContext,
    Server,
    ServiceIndex,
    Step,
    SystemUser,
    WebApp,
    WriteFile,
    move_to_trash,
    server_path,
)

__all__ = ["ApacheWebApp", "AppPaths", "app_paths"]

AppContext = RenderContext[WebApp, ApacheFpmSettings]
#: ``php-fpm -t`` of a candidate instance file (``$2``, with the program in ``$1``), its
#: ``error_log`` pointed at stderr: the check writes "test is successful" to the error log,
#: and the live instance's log is not the check's to write (nor a link planted in its place).
CHECK_POOL = (
    "c=$(mktemp) || exit 1\n"
    'sed "s|^error_log = .*|error_log = /proc/self/fd/2|" -- "$2" >"$c" || '
    '{ rm -f -- "$c"; exit 1; }\n'
    'out=$("$1" -t -y "$c" 2>&1); rc=$?\n'
    'rm -f -- "$c"\n'
    '[ "$rc" -eq 0 ] || { printf "%s\\n" "$out" >&2; exit 1; }\n'
)
#: The longest unix socket path (``sun_path`` holds 108 bytes with its NUL).
SOCKET_MAX = 107


class AppPaths:
    """Where a web app's folders, pool and socket are (before the sandbox root)."""

    def __init__(self, app: WebApp, user: SystemUser | None, settings: ApacheFpmSettings):
        self.user = app.system_user
        self.cgi = settings.cgi_user(app.system_user)
        self.home = settings.home(app.system_user, user.home if user is not None else None)
        self.webapps = f"{self.home.rstrip('/')}/webapps"
        self.code = f"{self.webapps}/{app.name}"
        self.tmp_base = f"{self.home.rstrip('/')}/tmp"
        self.tmp = f"{self.tmp_base}/{app.name}"
        self.version = app.php_version or settings.default_php_version
        self.pool = pool_name(app.account, app.name)
        self.pools = settings.pools(self.version)
        self.conf = f"{self.pools}/{self.pool}.conf"
        self.socket = f"{settings.run_dir.rstrip('/')}/{self.pool}.sock"
        self.uploads = tuple(f"{self.code}/{d}" for d in settings.upload_dirs)


def app_paths(app: WebApp, index: ServiceIndex, settings: ApacheFpmSettings) -> AppPaths:
    """The paths of ``app``, its system user looked up in ``index`` (for its home)."""
    user = index.get(f"systemuser:{app.system_user}")
    return AppPaths(app, user if isinstance(user, SystemUser) else None, settings)


class ApacheWebApp(Backend[WebApp, ApacheFpmSettings]):
    """A web app's folders and PHP-FPM pool (see the module's docs)."""

    name: ClassVar[str] = "apache-webapp"
    service_type: ClassVar[type[Any]] = WebApp
    after: ClassVar[tuple[str, ...]] = ("apache-systemuser",)
    settings_class: ClassVar[type[Any]] = ApacheFpmSettings
    settings_section: ClassVar[str | None] = "apache_fpm"
    tools: ClassVar[tuple[str, ...]] = ("setfacl", "getfacl", "kill", "tail")
    template_filters: ClassVar[Any] = {"ini": ini_quote}

    def check(self, obj: WebApp, settings: ApacheFpmSettings) -> list[FieldError]:
        """A PHP version the server lacks, options PHP refuses or the driver sets, a socket
        path too long; options on a static app."""
        errors: list[FieldError] = []
        if obj.type == "static":
            if obj.options:
                errors.append(
                    FieldError(obj.key, "options", "a static web app has no PHP to set options of")
                )
            return errors
        version = obj.php_version or settings.default_php_version
        if version not in settings.php_versions:
            errors.append(
                FieldError(
                    obj.key,
                    "php_version",
                    f"PHP {version} is not installed on this server (it has "
                    f"{', '.join(settings.php_versions)})",
                )
            )
        for name, value in obj.options.items():
            problem = php_options.option_problem(name, value, version)
            if problem:
                errors.append(FieldError(obj.key, f"options[{name}]", problem))
        socket = f"{settings.run_dir.rstrip('/')}/{pool_name(obj.account, obj.name)}.sock"
        if len(socket.encode("utf-8")) > SOCKET_MAX:
            errors.append(
                FieldError(
                    obj.key,
                    "name",
                    f"its pool's socket {socket!r} is longer than the {SOCKET_MAX} bytes a unix "
                    "socket path holds: shorten run_dir",
                )
            )
        return errors

    # -- rendering ------------------------------------------------------------------------------

    def paths(self, ctx: AppContext) -> AppPaths:
        """The app's paths (before the sandbox root)."""
        return app_paths(ctx.obj, ctx.index, ctx.settings)

    def _folders(self, ctx: AppContext, paths: AppPaths) -> list[Step]:
        settings = ctx.settings
        php = ctx.obj.type == "php"
        readers = (paths.cgi, settings.apache_user) if php else (settings.apache_user,)
        steps: list[Step] = []
        for base, what in ((paths.webapps, "web apps"), (paths.tmp_base, "temporary files")):
            real = ctx.path(base)
            steps += [
                EnsureDirectory(
                    description=f"folder of {paths.user}'s {what}",
                    path=real,
                    mode=0o750,
                    owner="root",
                    group=paths.user,
                ),
                acl_step(
                    f"the folder of {paths.user}'s {what}",
                    real,
                    [entry(user, "--x") for user in readers],
                ),
            ]
        code = ctx.path(paths.code)
        steps += [
            EnsureDirectory(
                description=f"code of {ctx.obj.name}",
                path=code,
                mode=0o750,
                owner=paths.user,
                group=paths.user,
            ),
            self._acl(f"code of {ctx.obj.name}", code, paths, readers, writers=()),
        ]
        if php:
            for upload in paths.uploads:
                # Each folder on the way, so every one is the customer's (mkdir -p would
                # leave the middle ones root's).
                relative = posixpath.relpath(upload, paths.code).split("/")
                for depth in range(1, len(relative) + 1):
                    folder = ctx.path(posixpath.join(paths.code, *relative[:depth]))
                    steps.append(
                        EnsureDirectory(
                            description=f"{'/'.join(relative[:depth])} of {ctx.obj.name}",
                            path=folder,
                            # The group bits of a folder with an ACL are its mask: rwx lets
                            # the CGI user's entry write (0750 would take that away).
                            mode=0o770 if depth == len(relative) else 0o750,
                            owner=paths.user,
                            group=paths.user,
                        )
                    )
                steps.append(
                    self._acl(
                        f"uploads {posixpath.relpath(upload, paths.code)} of {ctx.obj.name}",
                        ctx.path(upload),
                        paths,
                        (settings.apache_user,),
                        writers=(paths.cgi,),
                    )
                )
            tmp = ctx.path(paths.tmp)
            steps += [
                EnsureDirectory(
                    description=f"temporary files of {ctx.obj.name}",
                    path=tmp,
                    mode=0o770,
                    owner=paths.user,
                    group=paths.user,
                ),
                self._acl(
                    f"temporary files of {ctx.obj.name}", tmp, paths, (), writers=(paths.cgi,)
                ),
            ]
        return steps

    def _acl(
        self,
        what: str,
        path: str,
        paths: AppPaths,
        readers: Sequence[str],
        *,
        writers: Sequence[str],
    ) -> Command:
        """Exactly these named entries on ``path``, as access and default ACLs: ``readers``
        ``r-x``, ``writers`` ``rwx``, and the owner ``rwx`` by default."""
        entries = [(u, "r-x") for u in readers] + [(u, "rwx") for u in writers]
        return acl_step(
            f"the {what}",
            path,
            [
                *(entry(user, mode) for user, mode in entries),
                *(entry(user, mode, default=True) for user, mode in entries),
                entry(paths.user, "rwx", default=True),
            ],
        )

    def pool_file(self, ctx: AppContext, paths: AppPaths) -> str:
        """The text of the app's PHP-FPM instance file."""
        settings = ctx.settings
        options = [
            php_options.pool_line(name, value) for name, value in sorted(ctx.obj.options.items())
        ]
        return self.templates.config(
            "pool.conf.j2",
            app=ctx.obj,
            pool=paths.pool,
            cgi=paths.cgi,
            apache_user=settings.apache_user,
            pid=ctx.path(f"{settings.run_dir.rstrip('/')}/{paths.pool}.pid"),
            log=ctx.path(f"{settings.log_dir.rstrip('/')}/{paths.pool}.log"),
            socket=ctx.path(paths.socket),
            code=ctx.path(paths.code),
            tmp=ctx.path(paths.tmp),
            settings=settings,
            disable_functions=",".join(settings.functions_disabled),
            options=options,
        )

    def _pool_steps(self, ctx: AppContext, paths: AppPaths, *, present: bool) -> list[Step]:
        """The instance file of the app's version written (or removed), and removed from the
        other versions' folders (a version change)."""
        settings = ctx.settings
        steps: list[Step] = []
        if present:
            steps += [
                EnsureDirectory(
                    description=f"PHP {paths.version} pools", path=ctx.path(paths.pools)
                ),
                EnsureDirectory(description="PHP-FPM sockets", path=ctx.path(settings.run_dir)),
                EnsureDirectory(description="PHP-FPM logs", path=ctx.path(settings.log_dir)),
                WriteFile(
                    description=f"PHP {paths.version} pool of {ctx.obj.name}",
                    path=ctx.path(paths.conf),
                    content=self.pool_file(ctx, paths),
                    validate=(
                        "bash",
                        "-c",
                        CHECK_POOL,
                        "check-pool",
                        settings.fpm_program(paths.version),
                        CANDIDATE,
                    ),
                    notify=f"php{paths.version}-fpm",
                ),
            ]
        for version in settings.php_versions:
            if present and version == paths.version:
                continue
            steps.append(
                DeleteFile(
                    description=f"PHP {version} pool of {ctx.obj.name}",
                    path=ctx.path(f"{settings.pools(version)}/{paths.pool}.conf"),
                    notify=f"php{version}-fpm",
                )
            )
        return steps

    def render_save(self, ctx: AppContext) -> Sequence[Step]:
        """The folders and their ACLs; for PHP the pool, started or reloaded."""
        paths = self.paths(ctx)
        return [
            *self._folders(ctx, paths),
            *self._pool_steps(ctx, paths, present=ctx.obj.type == "php"),
        ]

    def render_suspended(self, ctx: AppContext) -> Sequence[Step]:
        """The folders kept; the pool's instance file gone, so its pool stops."""
        paths = self.paths(ctx)
        return [*self._folders(ctx, paths), *self._pool_steps(ctx, paths, present=False)]

    def render_delete(self, ctx: AppContext) -> Sequence[Step]:
        """The pool stopped and its file gone; the code and tmp folders moved to the trash
        (and the user's base folders removed once no app is left in them)."""
        paths = self.paths(ctx)
        trash = ctx.path(ctx.settings.trash_dir)
        stem = f"{ctx.obj.account}~{ctx.obj.name}"
        return [
            *self._pool_steps(ctx, paths, present=False),
            move_to_trash(
                f"move {ctx.obj.name}'s code to the trash",
                ctx.path(paths.code),
                trash,
                stem,
                prune=True,
            ),
            move_to_trash(
                f"move {ctx.obj.name}'s temporary files to the trash",
                ctx.path(paths.tmp),
                trash,
                f"{stem}.tmp",
                prune=True,
            ),
        ]

    def reload(self, server: Server, settings: ApacheFpmSettings, daemon: str) -> str | None:
        """``php{version}-fpm``: each instance whose file changed in the batch started,
        reloaded (``SIGUSR2``, then waiting for it to be ready again) or stopped."""
        version = daemon.removeprefix("php").removesuffix("-fpm")
        return self.templates.shell(
            "reload-fpm.sh.j2",
            fpm=settings.fpm_program(version),
            pools=server_path(server, settings.pools(version)),
            run=server_path(server, settings.run_dir),
            logs=server_path(server, settings.log_dir),
        )
