"""Real Apache and PHP-FPM for tests: one web server per temp dir, on free loopback ports.

:func:`start_web_server` writes an Apache configuration (``apache2.conf``: the event MPM,
the modules the driver's sites use, HTTP and HTTPS listeners on ``127.0.0.1``, a
self-signed certificate for ``*.acme.example`` made with ``openssl``, ``IncludeOptional`` of the
driver's ``sites_dir``) and runs ``apache2 -DFOREGROUND`` through
:class:`~orchestra_core.testing.daemon.DaemonProcess`, as root with its children as
``www-data``. PHP-FPM has no process of the fixture's: the driver starts one instance per PHP
web app (see :mod:`orchestra_apache_fpm.webapps`); the fixture stops them all at reset and
stop, found by their process title (``php-fpm: master process (POOLS_DIR/...)``).

The driver creates real unix users. The fixture's settings put their homes under
``home_base`` (in the temp dir) and their ids in :data:`ID_RANGE`; reset and stop remove
every user and group whose home is under the temp dir, with their processes, so a test
leaves no user behind and never touches one it did not make. Names of test users must be
unique on the machine: :func:`unique_name` gives one.

:class:`WebServer` fetches pages with ``curl`` (a ``Host`` header, or ``--resolve`` for HTTPS
so that SNI and the certificate are real) and says which pools run. :class:`WebServerKind`
describes it to orchestra's generic test-daemon factory; this module is also the pytest plugin
``orchestra_apache_fpm`` (``pytest11``): ``web_server`` (the session's, reset for each test)
and ``web_server_factory`` (private ones). It imports orchestra inside functions only.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from orchestra_apache_fpm.userdb_lock import tests_share_users

if TYPE_CHECKING:
    from orchestra_core.testing.daemon import DaemonProcess
    from orchestra_core.testing.factory import InstanceFactory, MakeDir, SharedDaemons

    #: What ``web_server_factory`` is: orchestra's generic factory, of :class:`WebServerKind`.
    WebServerFactory = InstanceFactory["WebServerKind"]

__all__ = [
    "ID_RANGE",
    "Response",
    "WebServer",
    "WebServerKind",
    "start_web_server",
    "unique_name",
    "web_server",
    "web_server_factory",
]

#: Uids and gids of the users tests create (``useradd -K UID_MIN=...``).
ID_RANGE = (63000, 63999)
#: The modules the driver's sites use (unixd, log_config, logio and so are built in).
MODULES = (
    "mpm_event",
    "authz_core",
    "authn_core",
    "alias",
    "dir",
    "mime",
    "rewrite",
    "proxy",
    "proxy_fcgi",
    "socache_shmcb",
    "ssl",
)
MODULES_DIR = "/usr/lib/apache2/modules"

APACHE_CONF = """\
# Written by orchestra_apache_fpm.testing for one test web server.
ServerRoot {dir}
ServerName localhost
Listen 127.0.0.1:{http_port}
Listen 127.0.0.1:{https_port}
PidFile {pid_file}
DefaultRuntimeDir {runtime}
Mutex file:{runtime} default
ErrorLog {error_log}
LogLevel notice
User www-data
Group www-data
{modules}
TypesConfig /etc/mime.types
AddDefaultCharset utf-8
LogFormat "%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" \\
    vhost_combined
Timeout 30
KeepAlive Off
StartServers 1
ServerLimit 2
ThreadsPerChild 10
MaxRequestWorkers 20
AccessFileName .htaccess
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>
DocumentRoot {default_root}
# The first virtual host of an address answers for every name no site has.
<VirtualHost 127.0.0.1:{http_port}>
    ServerName default.invalid
</VirtualHost>
<VirtualHost 127.0.0.1:{https_port}>
    ServerName default.invalid
    SSLEngine on
    SSLCertificateFile {certificate}
    SSLCertificateKeyFile {certificate_key}
</VirtualHost>
IncludeOptional {sites_dir}/*.conf
"""


def unique_name(stem: str) -> str:
    """A unix user name for a test: ``stem`` and four random hex digits (``acme3f9a``),
    so two test runs on one machine never share a user."""
    return f"{stem}{secrets.token_hex(2)}"


@attrs.frozen(kw_only=True)
class Response:
    """What ``curl`` got: the status, the headers (lower-case names) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")


@attrs.frozen(kw_only=True)
class WebServer:
    """A running Apache started by :func:`start_web_server`, and the places the driver's
    settings point at: everything in ``dir`` but ``run_dir`` (sockets need a short path)."""

    name: str
    dir: Path
    http_port: int
    https_port: int
    conf: Path
    sites_dir: Path
    overrides_dir: Path
    home_base: Path
    trash_dir: Path
    pools_dir: Path
    run_dir: Path
    log_dir: Path
    access_log: Path
    error_log: Path
    pid_file: Path
    certificate: Path
    certificate_key: Path
    php_version: str
    apache: DaemonProcess

    def __repr__(self) -> str:
        return f"<WebServer {self.name} 127.0.0.1:{self.http_port}/{self.https_port}>"

    # -- what orchestra drives ------------------------------------------------------------------

    def settings(self, **overrides: object) -> dict[str, object]:
        """The settings the apache-fpm backends take to manage this server, with
        ``overrides`` (put them in a server's ``apache_fpm`` block)."""
        settings: dict[str, object] = {
            "home_base": str(self.home_base),
            "trash_dir": str(self.trash_dir),
            "id_range": list(ID_RANGE),
            "php_versions": [self.php_version],
            "default_php_version": self.php_version,
            "pools_dir": f"{self.pools_dir}/{{version}}",
            "run_dir": str(self.run_dir),
            "log_dir": str(self.log_dir),
            "apache2": ["apache2", "-f", str(self.conf)],
            "pid_file": str(self.pid_file),
            "error_log": str(self.error_log),
            "sites_dir": str(self.sites_dir),
            "overrides_dir": str(self.overrides_dir),
            "http_listen": f"127.0.0.1:{self.http_port}",
            "https_listen": f"127.0.0.1:{self.https_port}",
            "certificate": str(self.certificate),
            "certificate_key": str(self.certificate_key),
            "access_log": str(self.access_log),
            "access_logs_rotated": [f"{self.access_log}.1"],
        }
        settings.update(overrides)
        return settings

    # -- what a customer sees -------------------------------------------------------------------

    def fetch(
        self, host: str, path: str = "/", *, https: bool = False, timeout: float = 20.0
    ) -> Response:
        """``GET path`` from the site answering for ``host``, with ``curl``: plain HTTP with a
        ``Host`` header, or HTTPS to ``host`` resolved to 127.0.0.1 (SNI, the test
        certificate trusted). Redirects are not followed."""
        port = self.https_port if https else self.http_port
        if https:
            url = f"https://{host}:{port}{path}"
            extra = ["--resolve", f"{host}:{port}:127.0.0.1", "--cacert", str(self.certificate)]
        else:
            url = f"http://127.0.0.1:{port}{path}"
            extra = ["-H", f"Host: {host}"]
        done = subprocess.run(
            ["curl", "-sS", "--max-time", str(timeout), "-D", "-", "-o", "-", *extra, url],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"curl {url} failed: {done.stderr.decode(errors='replace')}")
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return Response(status=int(lines[0].split()[1]), headers=headers, body=body)

    def certificate_of(self, host: str) -> str:
        """The subject of the certificate the HTTPS listener shows for ``host`` (SNI)."""
        done = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                f"127.0.0.1:{self.https_port}",
                "-servername",
                host,
            ],
            input=b"",
            capture_output=True,
            check=False,
            timeout=20,
        )
        out = done.stdout.decode(errors="replace")
        for line in out.splitlines():
            if line.startswith("subject="):
                return line.removeprefix("subject=").strip()
        raise AssertionError(f"no certificate from 127.0.0.1:{self.https_port}: {out[-500:]}")

    def add_user(self, name: str) -> Path:
        """Make system user ``name`` and its CGI user ``name-cgi`` with a home under
        ``home_base``, as ``apache-systemuser`` does (for the tests of the other backends)."""
        home = self.home_base / name
        for user in (name, f"{name}-cgi"):
            _run(
                [
                    "useradd",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    "/usr/sbin/nologin",
                    "-K",
                    f"UID_MIN={ID_RANGE[0]}",
                    "-K",
                    f"UID_MAX={ID_RANGE[1]}",
                    "-K",
                    f"GID_MIN={ID_RANGE[0]}",
                    "-K",
                    f"GID_MAX={ID_RANGE[1]}",
                    "--",
                    user,
                ]
            )
        home.mkdir(mode=0o750)
        shutil.chown(home, name, name)
        home.chmod(0o750)
        _run(["setfacl", "-m", f"u:{name}-cgi:--x,u:www-data:--x", str(home)])
        return home

    def fpm_out_of_reach(self) -> dict[str, object]:
        """Settings under which no PHP-FPM instance can be reached: a ``run_dir`` (where the
        instances' sockets are) below a regular file, so that no socket can be made there."""
        blocker = self.dir / "not-a-folder"
        blocker.write_text("a file where the sockets' folder should be\n")
        return {"run_dir": str(blocker / "run")}

    def apache_out_of_reach(self) -> dict[str, object]:
        """Settings under which the graceful restart reaches no running Apache: a pid file
        that no process wrote, as on a server whose Apache has stopped (``apache2 -t`` of the
        same configuration still passes)."""
        return {"pid_file": str(self.dir / "runtime-stopped" / "apache2.pid")}

    # -- what runs ------------------------------------------------------------------------------

    def pools(self) -> dict[str, int]:
        """The PHP-FPM instances running, by pool name: their master's pid (found by what
        each runs, ``php-fpm: master process (POOLS_DIR/VERSION/POOL.conf)``)."""
        running = {}
        head = b"php-fpm: master process ("
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().rstrip(b"\0")
            except OSError:
                continue
            if not cmdline.startswith(head) or not cmdline.endswith(b")"):
                continue
            conf = Path(cmdline[len(head) : -1].decode(errors="replace"))
            if conf.parent.parent == self.pools_dir:
                running[conf.stem] = int(proc.name)
        return dict(sorted(running.items()))

    def users(self) -> list[pwd.struct_passwd]:
        """The unix users whose home is under this server's folder: those tests made."""
        root = str(self.dir) + "/"
        return [entry for entry in pwd.getpwall() if entry.pw_dir.startswith(root)]

    def apache_reloads(self) -> int:
        """How many times Apache said it was serving (its start and each graceful restart)."""
        try:
            return self.error_log.read_text(errors="replace").count("resuming normal operations")
        except FileNotFoundError:
            return 0

    def graceful(self) -> None:
        """An ``apache2 -k graceful`` of the fixture's own (after it changed files by hand)."""
        _run(["apache2", "-f", str(self.conf), "-k", "graceful"])

    # -- between tests --------------------------------------------------------------------------

    def stop_pools(self) -> None:
        """Every PHP-FPM instance killed and its pid file and socket gone, as a reboot
        leaves them (``run_dir`` itself stays)."""
        for pid in self.pools().values():
            _kill_and_wait(pid)
        for leftover in (*self.run_dir.glob("*.pid"), *self.run_dir.glob("*.sock")):
            leftover.unlink(missing_ok=True)

    def _remove_users(self) -> None:
        for entry in self.users():
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
        for entry in self.users():
            _wait_no_processes(entry.pw_name)
            _run(["userdel", "--", entry.pw_name])
        import grp

        root = str(self.dir) + "/"
        mine = {e.pw_name for e in pwd.getpwall() if e.pw_dir.startswith(root)}
        for group in grp.getgrall():
            if ID_RANGE[0] <= group.gr_gid <= ID_RANGE[1] and group.gr_name in mine:
                _run(["groupdel", "--", group.gr_name])

    def reset(self) -> WebServer:
        """Back to the state :func:`start_web_server` left: no pool running, no site, pool,
        override, home or trash, no user the tests made, the logs emptied, Apache restarted
        gracefully (and running)."""
        self.stop_pools()
        self._remove_users()
        for folder in (self.sites_dir, self.overrides_dir, self.home_base, self.trash_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        shutil.rmtree(self.pools_dir, ignore_errors=True)
        self.pools_dir.mkdir(parents=True)
        for log in self.log_dir.glob("*"):
            log.unlink()
        self.access_log.write_bytes(b"")
        if not self.apache.running:
            raise AssertionError(f"Apache of {self.name} is not running: {self.apache.log_tail()}")
        from orchestra_core.testing.daemon import wait_until

        before = self.apache_reloads()
        self.graceful()
        wait_until(lambda: self.apache_reloads() > before, 15, "Apache's graceful restart")
        return self

    def stop(self) -> None:
        """Every pool and Apache stopped, the test users removed."""
        try:
            self.stop_pools()
            self._remove_users()
        finally:
            self.apache.stop()
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _is_fpm_master(pid: int) -> bool:
    try:
        return b"php-fpm: master" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill_and_wait(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _is_fpm_master(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_fpm_master(pid):
        os.kill(pid, signal.SIGKILL)


def _wait_no_processes(user: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["pgrep", "-u", user], capture_output=True, check=False).returncode == 0:
        if time.monotonic() >= deadline:
            raise RuntimeError(f"processes of {user} would not end")
        time.sleep(0.05)


def php_version() -> str:
    """The PHP-FPM version installed (``8.2``): the newest ``/usr/sbin/php-fpmX.Y``."""
    found = sorted(
        (p.name.removeprefix("php-fpm") for p in Path("/usr/sbin").glob("php-fpm*.*")),
        key=lambda v: tuple(int(x) for x in v.split(".")),
    )
    if not found:
        raise RuntimeError("no php-fpmX.Y in /usr/sbin: install php-fpm")
    return found[-1]


def _certificate(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "test.crt", folder / "test.key"
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=orchestra test web server",
            "-addext",
            "subjectAltName=DNS:*.acme.example,DNS:*.beta.example,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    key.chmod(0o600)
    return cert, key


def start_web_server(dir: Path, *, name: str = "web1", timeout: float = 30.0) -> WebServer:
    """Start Apache with everything in ``dir`` (see the module's docs) and return once it
    answers on both ports."""
    from orchestra_core.testing.daemon import DaemonProcess, free_port, traversable, wait_until

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    traversable(dir)
    folders = {
        key: dir / key
        for key in ("sites", "overrides", "home", "trash", "pools", "logs", "runtime", "default")
    }
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    # www-data writes nothing here; root's Apache writes the logs, its children read the sites.
    folders["home"].chmod(0o755)
    run_dir = Path(tempfile.mkdtemp(prefix="ofpm-"))
    run_dir.chmod(0o755)
    cert, key = _certificate(dir / "ssl")
    http_port, https_port = free_port(), free_port()
    conf = dir / "apache2.conf"
    pid_file = folders["runtime"] / "apache2.pid"
    error_log = folders["logs"] / "error.log"
    access_log = folders["logs"] / "access.log"
    access_log.write_bytes(b"")
    modules = "\n".join(
        f"LoadModule {module}_module {MODULES_DIR}/mod_{module}.so" for module in MODULES
    )
    conf.write_text(
        APACHE_CONF.format(
            dir=dir,
            http_port=http_port,
            https_port=https_port,
            pid_file=pid_file,
            runtime=folders["runtime"],
            error_log=error_log,
            modules=modules,
            default_root=folders["default"],
            sites_dir=folders["sites"],
            certificate=cert,
            certificate_key=key,
        )
    )
    _run(["apache2", "-f", str(conf), "-t"])
    apache = DaemonProcess(
        ["apache2", "-f", str(conf), "-DFOREGROUND"],
        cwd=dir,
        ready_port=https_port,
        name="apache2",
    )
    server = WebServer(
        name=name,
        dir=dir,
        http_port=http_port,
        https_port=https_port,
        conf=conf,
        sites_dir=folders["sites"],
        overrides_dir=folders["overrides"],
        home_base=folders["home"],
        trash_dir=folders["trash"],
        pools_dir=folders["pools"],
        run_dir=run_dir,
        log_dir=folders["logs"] / "php",
        access_log=access_log,
        error_log=error_log,
        pid_file=pid_file,
        certificate=cert,
        certificate_key=key,
        php_version=php_version(),
        apache=apache,
    )
    server.log_dir.mkdir(exist_ok=True)
    apache.start(timeout=timeout)
    try:
        wait_until(lambda: apache.listens_on(http_port), timeout, "Apache's HTTP port")
    except BaseException:
        server.stop()
        raise
    return server


class WebServerKind:
    """Apache (and the PHP-FPM instances the driver starts) as a
    :class:`~orchestra_core.testing.factory.DaemonKind`: ``start(make_dir, name="web1")`` is
    :func:`start_web_server` in a new folder ``web-NAME``; reset is :meth:`WebServer.reset`;
    stop :meth:`WebServer.stop`."""

    name = "apache-fpm"

    def start(self, make_dir: MakeDir, /, name: str = "web1") -> WebServer:
        return start_web_server(make_dir(f"web-{name}"), name=name)

    def reset(self, instance: WebServer, /) -> None:
        instance.reset()

    def stop(self, instance: WebServer, /) -> None:
        instance.stop()


if not TYPE_CHECKING:  # mypy reads WebServerFactory above, and checks every other name

    def __getattr__(name: str) -> Any:
        # WebServerFactory is orchestra's generic factory: imported on first use, so that
        # loading this plugin imports nothing of orchestra.
        if name == "WebServerFactory":
            from orchestra_core.testing.factory import InstanceFactory

            return InstanceFactory
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- pytest fixtures -------------------------------------------------------------------------------


@pytest.fixture
def web_server(shared_daemons: SharedDaemons) -> Iterator[WebServer]:
    """The session's Apache on 127.0.0.1 (function scope), reset for this test: running, no
    site, pool, home or test user (see :meth:`WebServer.reset`). Started on first use by
    orchestra's ``shared_daemons``, stopped at the end of the session. Drive it with the
    apache-fpm backends and ``web_server.settings()`` in a server's ``apache_fpm`` block.
    The test holds the user database shared (:mod:`orchestra_apache_fpm.userdb_lock`)."""
    with tests_share_users():
        server: WebServer = shared_daemons.instance(WebServerKind(), "web", "web1")
        yield server


@pytest.fixture
def web_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServerFactory]:
    """A callable that starts private web servers (function scope): ``web_server_factory(
    "web2")``; every one it started is stopped at the end of the test."""
    from orchestra_core.testing.factory import InstanceFactory

    with tests_share_users(), InstanceFactory(WebServerKind(), tmp_path_factory) as factory:
        yield factory
