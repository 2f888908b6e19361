"""Real Postfix and Dovecot for tests: one pair per temp dir, on free loopback ports.

:func:`start_mail_server` writes a Postfix configuration (``main.cf`` and ``master.cf``: smtpd
on ``ADDRESS:PORT``, delivery to Dovecot over LMTP, the orchestra tables of
:mod:`orchestra_postfix.backends` read from ``maps_dir``) and a ``dovecot.conf`` (IMAP and
LMTP listeners, the ``quota-status`` policy service Postfix asks at RCPT, and the passdbs
and userdb that read orchestra's passwd-files in ``dovecot_dir``), creates every table empty,
runs ``postfix start-fg`` and ``dovecot -F`` in the foreground through
:class:`~orchestra_core.testing.daemon.DaemonProcess` and returns once both answer. The
:class:`MailServer` it returns sends mail with smtplib, logs in with imaplib, reads
Maildirs, and gives the settings the postfix backends take to drive it.

Outbound mail (forwards, bounces) goes to an :class:`SMTPSink` (aiosmtpd) that stands for the
outside world: :meth:`MailServer.route_outside` points the fixture's own transport table at
it. Mailboxes belong to the ``mail`` user (uid 8 on Debian).

:class:`MailServerKind` describes the pair to orchestra's generic test-daemon factory. This
module is also the pytest plugin ``orchestra_postfix`` (``pytest11`` entry point): it offers
``mail_server`` and ``mail_secondary`` (the session's two instances, reset for each
test), ``mail_server_factory`` (private ones) and ``smtp_sink``. It
imports orchestra, smtplib, imaplib and aiosmtpd inside functions only, so that loading the
plugin costs nothing.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    import imaplib

    from orchestra_core.testing.daemon import DaemonProcess
    from orchestra_core.testing.factory import InstanceFactory, MakeDir, SharedDaemons

    #: What ``mail_server_factory`` is: orchestra's generic factory, of :class:`MailServerKind`.
    MailServerFactory = InstanceFactory["MailServerKind"]

__all__ = [
    "MailServer",
    "MailServerKind",
    "SMTPSink",
    "SinkMessage",
    "mail_secondary",
    "mail_server",
    "mail_server_factory",
    "smtp_sink",
    "start_mail_server",
]

#: The orchestra tables (in ``maps_dir``) and passwd-files (in ``dovecot_dir``) main.cf and
#: dovecot.conf read: what a reset empties.
TABLES = (
    "virtual_domains",
    "virtual_mailboxes",
    "virtual_aliases",
    "virtual_mailbox_aliases",
    "recipient_access",
    "relay_domains",
    "relay_recipients",
    "transport",
)
PASSWD_FILES = ("users", "suspended")
#: The domain the tests send from and forward to: the sink's.
OUTSIDE = "outside.test"

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = {hostname}
mydomain = test
myorigin = $myhostname
mydestination =
local_transport = error:no local delivery here
inet_interfaces = {address}
inet_protocols = ipv4
smtp_bind_address = {address}
mynetworks = {address}/32
alias_maps =
alias_database =
biff = no
maillog_file = {log}
maillog_file_prefixes = {log_dir}
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
smtpd_banner = $myhostname ESMTP
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination,
    check_recipient_access hash:{maps}/recipient_access,
    check_policy_service inet:{address}:{quota_port}
virtual_mailbox_domains = hash:{maps}/virtual_domains
virtual_mailbox_maps = hash:{maps}/virtual_mailboxes
virtual_alias_maps = hash:{maps}/virtual_aliases, hash:{maps}/virtual_mailbox_aliases
virtual_transport = lmtp:inet:{address}:{lmtp_port}
relay_domains = hash:{maps}/relay_domains
relay_recipient_maps = hash:{maps}/relay_recipients
transport_maps = hash:{maps}/transport, hash:{own}/transport
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
delay_warning_time = 0
"""

MASTER_CF = """\
{address}:{smtp_port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
lmtp       unix  - - n -  - lmtp
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""

DOVECOT_CONF = """\
instance_name = orchestra-{name}
base_dir = {base}
state_dir = {state}
log_path = {log}
protocols = imap lmtp
listen = {address}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@+
auth_cache_size = 0
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota
lmtp_rcpt_check_quota = yes
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    address = {address}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {address}
    port = {lmtp_port}
  }}
}}
service quota-status {{
  executable = quota-status -p postfix
  client_limit = 1
  inet_listener {{
    address = {address}
    port = {quota_port}
  }}
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = {dovecot_dir}/suspended
  deny = yes
}}
passdb {{
  driver = passwd-file
  args = {dovecot_dir}/passwords/%u
}}
userdb {{
  driver = passwd-file
  args = {dovecot_dir}/users
}}
plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_status_success = DUNNO
  quota_status_nouser = DUNNO
  quota_status_overquota = "552 5.2.2 Mailbox is full"
}}
"""


def _run(
    argv: Sequence[str], *, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=check, timeout=60, **kwargs
    )


@attrs.frozen(eq=False)
class SinkMessage:
    """One message the sink received: its envelope and content."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class SMTPSink:
    """An outside SMTP server (aiosmtpd on a free loopback port) that keeps every message."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        from aiosmtpd.controller import Controller

        from orchestra_core.testing.daemon import free_port

        self.address = address
        self.port = free_port(address)
        self.messages: list[SinkMessage] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with sink._lock:
                    sink.messages.append(
                        SinkMessage(
                            str(envelope.mail_from),
                            [str(r) for r in envelope.rcpt_tos],
                            bytes(envelope.original_content or envelope.content),
                        )
                    )
                return "250 OK"

        self._controller = Controller(Handler(), hostname=address, port=self.port)

    def start(self) -> SMTPSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[SinkMessage]:
        """The first ``count`` messages, waiting up to ``timeout`` seconds for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self._lock:
            got = list(self.messages)
        raise AssertionError(f"the sink has {len(got)} messages, not {count}: {got}")


@attrs.frozen(kw_only=True)
class MailServer:
    """A running Postfix and Dovecot started by :func:`start_mail_server`.

    Everything lives in ``dir``: Postfix's ``config_dir`` (main.cf, master.cf), its queue and
    data folders, orchestra's ``maps_dir`` and ``dovecot_dir``, the fixture's own transport
    table (``own_dir``), Dovecot's ``dovecot_conf`` and runtime folder, ``mail_base`` and
    ``trash_dir``, and the logs (``postfix_log``, ``dovecot_log``). smtpd answers on
    ``address:smtp_port``, IMAP on ``imap_port``, LMTP on ``lmtp_port`` and quota-status on
    ``quota_port``. Mailboxes belong to ``uid``:``gid``.
    """

    name: str
    dir: Path
    address: str
    hostname: str
    timezone: str
    smtp_port: int
    imap_port: int
    lmtp_port: int
    quota_port: int
    config_dir: Path
    maps_dir: Path
    own_dir: Path
    dovecot_dir: Path
    dovecot_conf: Path
    mail_base: Path
    trash_dir: Path
    postfix_log: Path
    dovecot_log: Path
    uid: int
    gid: int
    postfix: DaemonProcess
    dovecot: DaemonProcess
    #: Mutable bookkeeping of a frozen record: where this test's part of each log starts.
    _marks: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        return f"<MailServer {self.name} {self.address}:{self.smtp_port} dir={self.dir}>"

    # -- what orchestra drives ------------------------------------------------------------------

    def settings(self, **overrides: object) -> dict[str, object]:
        """The settings the postfix backends take to manage this instance, with ``overrides``
        (put them in a server's ``postfix`` block)."""
        settings: dict[str, object] = {
            "config_dir": str(self.config_dir),
            "maps_dir": str(self.maps_dir),
            "dovecot_dir": str(self.dovecot_dir),
            "doveadm": ["doveadm", "-c", str(self.dovecot_conf)],
            "doveconf": ["doveconf", "-c", str(self.dovecot_conf)],
            "mail_base": str(self.mail_base),
            "trash_dir": str(self.trash_dir),
            "uid": self.uid,
            "gid": self.gid,
            # The rotated log too, as on a real server: the traffic monitors drop the first
            # hour of the oldest file listed (part of it may be in a file not read).
            "maillog": [str(self.postfix_log), f"{self.postfix_log}.1"],
            "timezone": self.timezone,
            "relay_address": f"{self.address}:{self.smtp_port}",
        }
        settings.update(overrides)
        return settings

    def owned_files(self) -> dict[str, Any]:
        """Every file orchestra's backends may write under ``maps_dir`` and ``dovecot_dir``,
        by path relative to ``dir``: content and mode, a table's ``.db`` as ``postmap -s``
        dumps it (Berkeley DB's pages are not the data)."""
        found: dict[str, Any] = {}
        for folder in (self.maps_dir, self.dovecot_dir):
            for path in sorted(folder.rglob("*")):
                if not path.is_file():
                    continue
                name = str(path.relative_to(self.dir))
                if path.suffix == ".db":
                    dump = subprocess.run(
                        [
                            "postmap",
                            "-c",
                            str(self.config_dir),
                            "-s",
                            f"hash:{path.with_suffix('')}",
                        ],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    found[name] = (sorted(dump.stdout.splitlines()), dump.returncode)
                else:
                    found[name] = (path.read_bytes(), oct(path.stat().st_mode))
        return found

    def doveadm_out_of_reach(self) -> list[str]:
        """A ``doveadm`` setting that talks to no running Dovecot (another ``base_dir``):
        ``doveadm reload`` fails as with Dovecot down; ``doveadm pw`` still works."""
        nowhere = self.dir / "no-dovecot"
        nowhere.mkdir(exist_ok=True)
        return ["doveadm", "-c", str(self.dovecot_conf), "-o", f"base_dir={nowhere}"]

    def broken_config_dir(self) -> Path:
        """A copy of ``config_dir`` that ``postfix check`` refuses (an unknown ``mail_owner``),
        reading the same tables: a configuration the driver must not swap its maps under."""
        broken = self.dir / "conf-broken"
        if not broken.exists():
            shutil.copytree(self.config_dir, broken)
            with (broken / "main.cf").open("a") as main:
                main.write("mail_owner = no-such-orchestra-user\n")
        return broken

    def broken_dovecot_conf(self) -> Path:
        """A copy of ``dovecot_conf`` that ``doveconf`` refuses (an unknown setting), with the
        same passdbs and userdb."""
        broken = self.dir / "dovecot-broken.conf"
        if not broken.exists():
            broken.write_text(self.dovecot_conf.read_text() + "no_such_orchestra_setting = 1\n")
        return broken

    def stopped_config_dir(self) -> Path:
        """A copy of ``config_dir`` whose Postfix is not running (its own queue), reading the
        same tables: ``postfix check`` passes there and ``postfix reload`` fails."""
        stopped = self.dir / "conf-stopped"
        if not stopped.exists():
            queue, data = self.dir / "queue-stopped", self.dir / "data-stopped"
            queue.mkdir()
            data.mkdir()
            shutil.chown(data, "postfix")
            shutil.copytree(self.config_dir, stopped)
            main = (stopped / "main.cf").read_text()
            main = main.replace(
                f"queue_directory = {self.dir}/queue\n", f"queue_directory = {queue}\n"
            )
            main = main.replace(f"data_directory = {self.dir}/data\n", f"data_directory = {data}\n")
            (stopped / "main.cf").write_text(main)
            _run(["postfix", "-c", str(stopped), "check"])
        return stopped

    # -- mail -----------------------------------------------------------------------------------

    def _smtp(self) -> Any:
        import smtplib

        return smtplib.SMTP(self.address, self.smtp_port, timeout=30)

    def send(
        self,
        sender: str,
        recipients: Sequence[str],
        message: EmailMessage | bytes | str,
    ) -> dict[str, tuple[int, bytes]]:
        """Send ``message`` over SMTP; the recipients smtpd refused, as smtplib gives them
        (all refused: :class:`smtplib.SMTPRecipientsRefused`)."""
        with self._smtp() as smtp:
            if isinstance(message, EmailMessage):
                refused: dict[str, tuple[int, bytes]] = smtp.send_message(
                    message, from_addr=sender, to_addrs=list(recipients)
                )
            else:
                refused = smtp.sendmail(sender, list(recipients), message)
            return refused

    def rcpt(self, sender: str, recipient: str, *, size: int | None = None) -> tuple[int, str]:
        """What smtpd answers at ``RCPT TO:<recipient>`` (after ``MAIL FROM:<sender>``, with
        ``SIZE=size`` when given): code and text. Nothing is sent."""
        with self._smtp() as smtp:
            smtp.ehlo("client.outside.test")
            code, text = smtp.mail(sender, [f"SIZE={size}"] if size is not None else [])
            if code != 250:
                return code, text.decode("utf-8", "replace")
            code, text = smtp.rcpt(recipient)
            smtp.rset()
            return code, text.decode("utf-8", "replace")

    def imap_login(self, address: str, password: str) -> imaplib.IMAP4:
        """An IMAP session logged in as ``address`` (AUTHENTICATE PLAIN, UTF-8: any
        password); raises ``imaplib.IMAP4.error`` when Dovecot refuses it."""
        import imaplib

        imap = imaplib.IMAP4(self.address, self.imap_port, timeout=30)
        token = b"\0" + address.encode("utf-8") + b"\0" + password.encode("utf-8")
        try:
            imap.authenticate("PLAIN", lambda _: token)
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def imap_messages(self, address: str, password: str) -> list[bytes]:
        """Every message of the INBOX of ``address``, fetched over IMAP."""
        imap = self.imap_login(address, password)
        try:
            imap.select("INBOX")
            _, data = imap.search(None, "ALL")
            found = []
            for number in data[0].split():
                _, parts = imap.fetch(number, "(RFC822)")
                first = parts[0]
                if isinstance(first, tuple):
                    found.append(first[1])
            return found
        finally:
            imap.logout()

    def maildir(self, address: str) -> Path:
        """Where Dovecot keeps the mail of ``address``: ``MAIL_BASE/DOMAIN/LOCAL/Maildir``."""
        local, _, domain = address.rpartition("@")
        return self.mail_base / domain / local / "Maildir"

    def messages(self, address: str) -> list[bytes]:
        """The messages in the Maildir of ``address`` (new and cur), oldest first."""
        maildir = self.maildir(address)
        files = [p for sub in ("new", "cur") for p in (maildir / sub).glob("*") if p.is_file()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.stat().st_mtime_ns)]

    def wait_for_messages(self, address: str, count: int, timeout: float = 15.0) -> list[bytes]:
        """The messages of ``address`` once it has ``count`` of them (within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages(address)
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{address} has {len(got)} messages, not {count}; queue: {self.queue()}\n"
                    f"{self.log_text()[-3000:]}"
                )
            time.sleep(0.05)

    def queue(self) -> list[dict[str, Any]]:
        """The queue, as ``postqueue -j`` gives it."""
        done = _run(["postqueue", "-c", str(self.config_dir), "-j"], check=False)
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """Try every deferred message again now."""
        _run(["postqueue", "-c", str(self.config_dir), "-f"], check=False)

    def wait_queue_empty(self, timeout: float = 15.0) -> None:
        """Return once the queue is empty (every message delivered, bounced or relayed);
        raise :class:`TimeoutError` naming what is left after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while left := self.queue():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: queue not empty: {left}")
            time.sleep(0.05)

    def route_outside(self, sink: SMTPSink) -> None:
        """Send mail for :data:`OUTSIDE` (and anything else not here) to ``sink``."""
        self._write_own_transport(f"{OUTSIDE} smtp:[{sink.address}]:{sink.port}\n")
        self.postfix_reload()

    # -- control --------------------------------------------------------------------------------

    def postfix_reload(self) -> None:
        _run(["postfix", "-c", str(self.config_dir), "reload"])

    def dovecot_reload(self) -> None:
        _run(["doveadm", "-c", str(self.dovecot_conf), "reload"])

    def _write_own_transport(self, text: str) -> None:
        table = self.own_dir / "transport"
        table.write_text(text)
        _run(["postmap", "-c", str(self.config_dir), f"hash:{table}"])

    def _empty_tables(self) -> None:
        for folder in (self.maps_dir, self.dovecot_dir):
            for path in folder.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        for table in TABLES:
            (self.maps_dir / table).write_text("")
            _run(["postmap", "-c", str(self.config_dir), f"hash:{self.maps_dir / table}"])
        for name in PASSWD_FILES:
            # As the driver keeps them: readable by Dovecot's auth (the dovecot group) only.
            path = self.dovecot_dir / name
            path.write_text("")
            shutil.chown(path, group="dovecot")
            path.chmod(0o640)
        passwords = self.dovecot_dir / "passwords"
        passwords.mkdir(mode=0o750)
        shutil.chown(passwords, group="dovecot")

    def reset(self) -> MailServer:
        """Back to the start, for the next test: every table and passwd-file empty (orchestra's
        fragments gone), no mail, no trash, an empty queue, no outside route, both daemons
        reloaded, the logs read from here on."""
        _run(["postsuper", "-c", str(self.config_dir), "-d", "ALL"], check=False)
        self._empty_tables()
        for folder in (self.mail_base, self.trash_dir):
            shutil.rmtree(folder)
            folder.mkdir()
            os.chown(folder, self.uid, self.gid)
        self._write_own_transport("")
        self.postfix_reload()
        self.dovecot_reload()
        self._marks.update(postfix=_size(self.postfix_log), dovecot=_size(self.dovecot_log))
        return self

    def log_text(self) -> str:
        """Postfix's and Dovecot's log lines since the start (or the last reset)."""
        texts = []
        for key, path in (("postfix", self.postfix_log), ("dovecot", self.dovecot_log)):
            if path.exists():
                with path.open("rb") as log:
                    log.seek(self._marks.get(key, 0))
                    texts.append(log.read().decode("utf-8", "replace"))
        return "".join(texts)

    def stop(self) -> None:
        """Stop both daemons (every process of theirs gone, their ports closed)."""
        _run(["postfix", "-c", str(self.config_dir), "stop"], check=False)
        self.postfix.stop(timeout=15)
        self.dovecot.stop(timeout=15)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _mail_ids() -> tuple[int, int]:
    """The virtual user and group of the Maildirs: Debian's ``mail`` (8:8)."""
    entry = pwd.getpwnam("mail")
    return entry.pw_uid, entry.pw_gid


def start_mail_server(
    dir: Path,
    *,
    name: str = "mx1",
    address: str = "127.0.0.1",
    hostname: str | None = None,
    timezone: str = "UTC",
    timeout: float = 30.0,
) -> MailServer:
    """Start Postfix and Dovecot with everything in ``dir``, listening on ``address`` (any
    127.0.0.x), with the clock of ``timezone`` for their logs; see the module's docs."""
    from orchestra_core.testing.daemon import DaemonProcess, free_port, traversable, wait_until

    dir = Path(dir)
    uid, gid = _mail_ids()
    paths = {
        key: dir / key
        for key in (
            "conf",
            "queue",
            "data",
            "maps",
            "own",
            "dovecot",
            "orchestra-dovecot",
            "vmail",
            "trash",
            "log",
        )
    }
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    traversable(dir)
    shutil.chown(paths["data"], "postfix")
    for folder in (paths["vmail"], paths["trash"]):
        os.chown(folder, uid, gid)
    ports = {key: free_port(address) for key in ("smtp", "imap", "lmtp", "quota")}
    hostname = hostname or f"{name}.test"
    values = {
        "queue": paths["queue"],
        "data": paths["data"],
        "hostname": hostname,
        "address": address,
        "log": paths["log"] / "postfix.log",
        "log_dir": paths["log"],
        "maps": paths["maps"],
        "own": paths["own"],
        "smtp_port": ports["smtp"],
        "lmtp_port": ports["lmtp"],
        "quota_port": ports["quota"],
    }
    (paths["conf"] / "main.cf").write_text(MAIN_CF.format(**values))
    (paths["conf"] / "master.cf").write_text(MASTER_CF.format(**values))
    dovecot_conf = paths["dovecot"] / "dovecot.conf"
    dovecot_conf.write_text(
        DOVECOT_CONF.format(
            name=name,
            base=paths["dovecot"] / "run",
            state=paths["dovecot"] / "state",
            log=paths["log"] / "dovecot.log",
            address=address,
            uid=uid,
            gid=gid,
            imap_port=ports["imap"],
            lmtp_port=ports["lmtp"],
            quota_port=ports["quota"],
            dovecot_dir=paths["orchestra-dovecot"],
        )
    )
    server = MailServer(
        name=name,
        dir=dir,
        address=address,
        hostname=hostname,
        timezone=timezone,
        smtp_port=ports["smtp"],
        imap_port=ports["imap"],
        lmtp_port=ports["lmtp"],
        quota_port=ports["quota"],
        config_dir=paths["conf"],
        maps_dir=paths["maps"],
        own_dir=paths["own"],
        dovecot_dir=paths["orchestra-dovecot"],
        dovecot_conf=dovecot_conf,
        mail_base=paths["vmail"],
        trash_dir=paths["trash"],
        postfix_log=paths["log"] / "postfix.log",
        dovecot_log=paths["log"] / "dovecot.log",
        uid=uid,
        gid=gid,
        postfix=DaemonProcess(
            ["postfix", "-c", str(paths["conf"]), "start-fg"],
            cwd=dir,
            env={"TZ": timezone},
            ready_port=ports["smtp"],
            host=address,
            name="postfix",
        ),
        dovecot=DaemonProcess(
            ["dovecot", "-F", "-c", str(dovecot_conf)],
            cwd=dir,
            env={"TZ": timezone},
            ready_port=ports["imap"],
            host=address,
            name="dovecot",
        ),
    )
    server._empty_tables()
    server._write_own_transport("")
    _run(["postfix", "-c", str(paths["conf"]), "check"])
    server.dovecot.start(timeout=timeout)
    try:
        server.postfix.start(timeout=timeout)
        wait_until(
            lambda: (
                _run(["postfix", "-c", str(paths["conf"]), "status"], check=False).returncode == 0
            ),
            timeout,
            "postfix status",
        )
    except BaseException:
        server.dovecot.stop()
        raise
    return server


class MailServerKind:
    """Postfix and Dovecot as a :class:`~orchestra_core.testing.factory.DaemonKind`.

    ``start(make_dir, name="mx1", *, address="127.0.0.1", timezone="UTC")`` is
    :func:`start_mail_server` in a new folder ``mail-NAME``; reset is
    :meth:`MailServer.reset`; stop :meth:`MailServer.stop`.
    """

    name = "postfix-dovecot"

    def start(
        self,
        make_dir: MakeDir,
        /,
        name: str = "mx1",
        *,
        address: str = "127.0.0.1",
        timezone: str = "UTC",
    ) -> MailServer:
        return start_mail_server(
            make_dir(f"mail-{name}"), name=name, address=address, timezone=timezone
        )

    def reset(self, instance: MailServer, /) -> None:
        instance.reset()

    def stop(self, instance: MailServer, /) -> None:
        instance.stop()


if not TYPE_CHECKING:  # mypy reads MailServerFactory above, and checks every other name

    def __getattr__(name: str) -> Any:
        # MailServerFactory is orchestra's generic factory: imported on first use, so that
        # loading this plugin imports nothing of orchestra.
        if name == "MailServerFactory":
            from orchestra_core.testing.factory import InstanceFactory

            return InstanceFactory
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- pytest fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _smtp_sink_session() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink(_smtp_sink_session: SMTPSink) -> SMTPSink:
    """The outside world (function scope): an aiosmtpd server on a free loopback port that
    keeps every message (``smtp_sink.messages``, ``smtp_sink.wait_for(n)``), emptied for this
    test. The ``mail_server`` of the same test relays mail for ``outside.test`` to it."""
    _smtp_sink_session.clear()
    return _smtp_sink_session


@pytest.fixture
def mail_server(shared_daemons: SharedDaemons, smtp_sink: SMTPSink) -> MailServer:
    """The session's Postfix and Dovecot on 127.0.0.1 (function scope), reset for this test:
    running, every orchestra table and passwd-file empty, no mail, the logs starting now (see
    :meth:`MailServer.reset`), mail for ``outside.test`` relayed to ``smtp_sink``. Started on
    first use by orchestra's ``shared_daemons``, stopped at the end of the session. Drive it
    with the postfix backends and ``mail_server.settings()`` in a server's ``postfix`` block.
    """
    server = shared_daemons.instance(MailServerKind(), "primary", "mx1")
    server.route_outside(smtp_sink)
    return server


@pytest.fixture
def mail_secondary(shared_daemons: SharedDaemons, smtp_sink: SMTPSink) -> MailServer:
    """The session's second pair (``mx2.test``, on ports of its own): a backup MX for
    ``mail_server``, reset for this test like it. Both listen on 127.0.0.1: Postfix refuses
    an ``inet_interfaces`` address no interface has (127.0.0.2 is routed, not assigned)."""
    server = shared_daemons.instance(MailServerKind(), "secondary", "mx2")
    server.route_outside(smtp_sink)
    return server


@pytest.fixture
def mail_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServerFactory]:
    """A callable that starts private Postfix and Dovecot pairs (function scope):
    ``mail_server_factory("mx9", timezone="Europe/Madrid")``; every pair it started is
    stopped at the end of the test."""
    from orchestra_core.testing.factory import InstanceFactory

    with InstanceFactory(MailServerKind(), tmp_path_factory) as factory:
        yield factory
