"""A real Mailman 3 core for tests: its own var dir, LMTP and REST on free loopback ports.

:func:`start_mailman` writes a ``mailman.cfg`` whose layout puts every folder of Mailman's
(queues, lists, archives, logs, locks, the SQLite database) under one temp dir, owned by the
``list`` user, and runs Mailman's master in the foreground as ``list`` (``runuser``: the
command line refuses root without ``--run-as-root``, and the runners' cron jobs fail as
root) through :class:`~orchestra_core.testing.daemon.DaemonProcess`. The master starts the
runners (about 16 processes); the fixture is ready once the REST API answers, which takes
several seconds (see the README for what was measured). Mail for lists comes in over LMTP
on ``lmtp_port``; what Mailman sends goes out by SMTP to ``smtp_port`` (a Postfix fixture's
port, or a sink). Mailman writes the Postfix maps of its lists (``postfix_lmtp``,
``postfix_domains``) into its data dir; ``postmap_command`` runs ``postmap`` on them with
the given Postfix config dir, or ``/bin/true`` when there is none (DAEMONS.md: a postmap
that fails makes list creation roll back).

This module is the pytest plugin ``orchestra_mailman`` (``pytest11``): ``mailman_server``,
the session's, reset for each test (every list removed). It imports orchestra inside
functions only.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from orchestra_postfix.testing import MailServer

    from orchestra_core.testing.daemon import DaemonProcess
    from orchestra_core.testing.factory import MakeDir, SharedDaemons

__all__ = ["MailmanServer", "MailmanServerKind", "mailman_server", "start_mailman"]

#: Mailman's own programs (Debian's ``mailman3`` package).
BIN_DIR = Path("/usr/lib/mailman3/bin")
#: The user Mailman runs as (Debian's package makes it).
MAILMAN_USER = "list"
#: How many lines of Mailman's own log a failed start shows.
TAIL_LINES = 40

MAILMAN_CFG = """\
# Written by orchestra_mailman.testing for one test Mailman.
[mailman]
site_owner: postmaster@lists.test
layout: test

[paths.test]
var_dir: {var}
bin_dir: {bin_dir}
etc_dir: {dir}
log_dir: {var}/logs
pid_file: {var}/master.pid
lock_file: {var}/locks/master.lck

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///{var}/data/mailman.db

[webservice]
hostname: 127.0.0.1
port: {rest_port}
admin_user: {admin_user}
admin_pass: {admin_pass}

[archiver.prototype]
enable: yes

[mta]
incoming: mailman.mta.postfix.LMTP
outgoing: mailman.mta.deliver.deliver
smtp_host: 127.0.0.1
smtp_port: {smtp_port}
lmtp_host: 127.0.0.1
lmtp_port: {lmtp_port}
configuration: {dir}/postfix.cfg
"""

POSTFIX_CFG = """\
[postfix]
postmap_command: {postmap}
transport_file_type: hash
"""


@attrs.frozen(kw_only=True)
class MailmanServer:
    """A running Mailman started by :func:`start_mailman`."""

    name: str
    dir: Path
    var_dir: Path
    config: Path
    rest_port: int
    lmtp_port: int
    smtp_port: int
    admin_user: str
    admin_pass: str = attrs.field(repr=False)
    master: DaemonProcess

    def mailman(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Mailman's command line on this instance, as its user (not checked)."""
        return subprocess.run(
            ["runuser", "-u", MAILMAN_USER, "--", "mailman", "-C", str(self.config), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def rest(
        self, method: str, path: str, data: dict[str, Any] | None = None, *, timeout: float = 30
    ) -> tuple[int, Any]:
        """A call of the REST API (``/3.1/PATH``): its status and its JSON (None if empty).
        A connection refused or timed out is status 0 with the reason."""
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rest_port}/3.1/{path.lstrip('/')}",
            data=body,
            method=method,
            headers={
                "Authorization": "Basic "
                + base64.b64encode(f"{self.admin_user}:{self.admin_pass}".encode()).decode(),
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw.decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def lists(self) -> list[str]:
        """The posting addresses of every list, sorted."""
        status, body = self.rest("GET", "lists")
        if status != 200:
            raise AssertionError(f"GET lists answered {status}: {body!r}")
        return sorted(entry["fqdn_listname"] for entry in (body or {}).get("entries", []))

    def lmtp_map(self) -> dict[str, str]:
        """What Mailman's ``postfix_lmtp`` says: address -> transport."""
        path = self.var_dir / "data" / "postfix_lmtp"
        if not path.exists():
            return {}
        pairs = (line.split() for line in path.read_text().splitlines())
        return {p[0]: p[1] for p in pairs if len(p) == 2 and not p[0].startswith("#")}

    def reset(self) -> MailmanServer:
        """Every list, domain and archive removed: a fresh Mailman for the next test."""
        for address in self.lists():
            done = self.mailman("remove", address)
            if done.returncode != 0:
                raise AssertionError(f"mailman remove {address}: {done.stderr}")
        status, body = self.rest("GET", "domains")
        for entry in (body or {}).get("entries", []) if status == 200 else []:
            self.rest("DELETE", f"domains/{entry['mail_host']}")
        shutil.rmtree(self.archive_dir, ignore_errors=True)
        return self

    @property
    def archive_dir(self) -> Path:
        """Where the prototype archiver (enabled) keeps each list's posts: a Maildir per
        list, ``ARCHIVE_DIR/LIST@DOMAIN``."""
        return self.var_dir / "archives" / "prototype"

    def settings(self, **overrides: object) -> dict[str, object]:
        """The ``mailman`` settings block that reaches this instance."""
        return {"config": str(self.config), "lmtp": f"127.0.0.1:{self.lmtp_port}", **overrides}

    def out_of_reach_config(self) -> Path:
        """A copy of the instance's config whose REST port nobody listens on: ``mailman
        info`` reads it and the REST calls are refused, as with Mailman's REST runner down."""
        from orchestra_core.testing.daemon import free_port

        path = self.dir / "out-of-reach.cfg"
        text = self.config.read_text().replace(
            f"port: {self.rest_port}\n", f"port: {free_port()}\n"
        )
        path.write_text(text)
        path.chmod(0o644)
        return path

    def held(self, fqdn: str) -> list[dict[str, Any]]:
        """The posts of list ``fqdn`` held for moderation."""
        status, body = self.rest("GET", f"lists/{fqdn}/held")
        if status != 200:
            raise AssertionError(f"GET lists/{fqdn}/held answered {status}: {body!r}")
        return list((body or {}).get("entries", []))

    def subscribe(self, fqdn: str, email: str) -> None:
        """``email`` a member of ``fqdn``, without confirmation or moderation."""
        status, body = self.rest(
            "POST",
            "members",
            {
                "list_id": fqdn.replace("@", "."),
                "subscriber": email,
                "pre_verified": True,
                "pre_confirmed": True,
                "pre_approved": True,
                "send_welcome_message": False,
            },
        )
        if status != 201:
            raise AssertionError(f"subscribing {email} to {fqdn} answered {status}: {body!r}")

    def processes(self) -> list[str]:
        """The processes running with this instance's config (``PID COMMAND`` lines)."""
        done = subprocess.run(
            ["pgrep", "-a", "-f", "--", str(self.config)],
            capture_output=True,
            text=True,
            check=False,
        )
        return [line for line in done.stdout.splitlines() if line]

    def stop(self) -> None:
        """The master and its runners stopped (SIGTERM to the group, then SIGKILL)."""
        self.master.stop(timeout=15)


def start_mailman(
    dir: Path,
    *,
    name: str = "lists1",
    smtp_port: int | None = None,
    postfix_config_dir: Path | None = None,
    timeout: float = 90.0,
    attempts: int = 2,
) -> MailmanServer:
    """Start Mailman with everything in ``dir`` and return once its REST API answers and
    its LMTP server listens. ``smtp_port``: where it sends mail (by default a free port
    nobody listens on); ``postfix_config_dir``: the Postfix whose ``postmap`` builds its
    maps.

    A start that fails (the master exits, or is not ready within ``timeout``) is tried again
    on new ports, up to ``attempts`` in all, the failed try's var dir kept beside as
    ``var.failed-N``; the :class:`~orchestra_core.testing.daemon.DaemonError` of the last
    try carries the tail of Mailman's own log and says what each earlier try printed."""
    from orchestra_core.testing.daemon import DaemonError, traversable

    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    traversable(dir)
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            return _start_once(
                dir,
                name=name,
                smtp_port=smtp_port,
                postfix_config_dir=postfix_config_dir,
                timeout=timeout,
            )
        except DaemonError as exc:
            failures.append(f"try {attempt}: {exc}")
            if attempt == attempts:
                if len(failures) == 1:
                    raise
                raise DaemonError(
                    f"{exc.message}\n(tried {attempts} times; the earlier tries:\n"
                    + "\n".join(failures[:-1])
                    + ")",
                    argv=exc.argv,
                    exit_code=exc.exit_code,
                    stderr_tail=exc.stderr_tail,
                ) from exc
            (dir / "var").rename(dir / f"var.failed-{attempt}")
    raise AssertionError("unreachable")  # pragma: no cover


def _start_once(
    dir: Path,
    *,
    name: str,
    smtp_port: int | None,
    postfix_config_dir: Path | None,
    timeout: float,
) -> MailmanServer:
    """One try of :func:`start_mailman`: config written on new ports, master started,
    waited for."""
    from orchestra_core.testing.daemon import DaemonError, DaemonProcess, free_port

    var = dir / "var"
    var.mkdir()
    rest_port, lmtp_port = free_port(), free_port()
    smtp_port = smtp_port if smtp_port is not None else free_port()
    admin_user, admin_pass = "restadmin", secrets.token_urlsafe(16)
    config = dir / "mailman.cfg"
    config.write_text(
        MAILMAN_CFG.format(
            dir=dir,
            var=var,
            bin_dir=BIN_DIR,
            rest_port=rest_port,
            lmtp_port=lmtp_port,
            smtp_port=smtp_port,
            admin_user=admin_user,
            admin_pass=admin_pass,
        )
    )
    postmap = f"/usr/sbin/postmap -c {postfix_config_dir}" if postfix_config_dir else "/bin/true"
    (dir / "postfix.cfg").write_text(POSTFIX_CFG.format(postmap=postmap))
    for path in (config, dir / "postfix.cfg"):
        path.chmod(0o644)
    shutil.chown(var, MAILMAN_USER, MAILMAN_USER)

    log = var / "logs" / "mailman.log"

    def ready() -> bool:
        if _port_lost(log):
            raise DaemonError("a Mailman runner could not bind its port", argv=master.argv)
        return (
            master.listens_on(rest_port)
            and master.listens_on(lmtp_port)
            and server.rest("GET", "system/versions", timeout=5)[0] == 200
        )

    master = DaemonProcess(
        ["runuser", "-u", MAILMAN_USER, "--", str(BIN_DIR / "master"), "-C", str(config)],
        cwd=dir,
        name="mailman",
        ready=ready,
    )
    server = MailmanServer(
        name=name,
        dir=dir,
        var_dir=var,
        config=config,
        rest_port=rest_port,
        lmtp_port=lmtp_port,
        smtp_port=smtp_port,
        admin_user=admin_user,
        admin_pass=admin_pass,
        master=master,
    )
    try:
        master.start(timeout=timeout)
    except DaemonError as exc:
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-TAIL_LINES:])
        except FileNotFoundError:
            tail = "(Mailman wrote no log)"
        raise DaemonError(
            f"{exc.message} (REST on {rest_port}, LMTP on {lmtp_port});"
            f" the last lines of {log}:\n{tail}\n---",
            argv=exc.argv,
            exit_code=exc.exit_code,
            stderr_tail=exc.stderr_tail,
        ) from exc
    return server


def _port_lost(log: Path) -> bool:
    """True once Mailman's log says a runner gave up binding its port (gunicorn's REST
    runner logs "Can't connect to" after five tries and is not restarted)."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return "Can't connect to" in text or "Address already in use" in text


class MailmanServerKind:
    """Mailman as a :class:`~orchestra_core.testing.factory.DaemonKind`: ``start(make_dir,
    name="lists1", smtp_port=None)`` is :func:`start_mailman` in a new folder, sending its
    mail to ``smtp_port``; reset removes every list."""

    name = "mailman"

    def start(
        self, make_dir: MakeDir, /, name: str = "lists1", smtp_port: int | None = None
    ) -> MailmanServer:
        return start_mailman(make_dir(f"mailman-{name}"), name=name, smtp_port=smtp_port)

    def reset(self, instance: MailmanServer, /) -> None:
        instance.reset()

    def stop(self, instance: MailmanServer, /) -> None:
        instance.stop()


@pytest.fixture
def mailman_server(shared_daemons: SharedDaemons, mail_server: MailServer) -> MailmanServer:
    """The session's Mailman on 127.0.0.1 (function scope), reset for this test (no list,
    no domain), beside the session's Postfix (``mail_server`` of orchestra-postfix), to
    whose SMTP port it sends its mail. Started on first use by orchestra's
    ``shared_daemons``, stopped at the end of the session."""
    server: MailmanServer = shared_daemons.instance(
        MailmanServerKind(), "mailman", "lists1", smtp_port=mail_server.smtp_port
    )
    return server
