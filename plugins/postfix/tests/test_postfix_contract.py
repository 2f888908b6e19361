"""The postfix backends pass the backend contract, against real Postfix and Dovecot, locally
and over SSH.

Observing a server means everything the backends may change on it: every file orchestra owns
under the instance's ``maps_dir`` and ``dovecot_dir`` (content and mode; a table's ``.db`` as
``postmap -s`` dumps it, not as bytes: Berkeley DB's pages are not the data), every domain
folder and home under ``mail_base`` (path, mode, owner), and what the daemons make of them:
Postfix's answer at RCPT to each subject address, and Dovecot's userdb record of each
subject mailbox.

Left out, because they change by themselves or are not the backends' to change:

- the logs, queues, pid files and Dovecot's runtime folder;
- the trash: a deleted mailbox's home goes there by design (``test_postfix_mail.py`` checks
  it), so a delete leaves that trace and only that one;
- what Dovecot keeps inside a home (the Maildir it makes when it first looks at it, its
  indexes): its data, not the backend's;
- folders as such: the fragment folders and the password folder are made once per server and
  shared by every object (a delete leaves them in place, empty); every file in them is
  observed.

The daemons are put out of reach by a ``doveadm`` that talks to a Dovecot that is not there
(another ``base_dir``: ``doveadm reload`` fails as with Dovecot down) and by a ``config_dir``
whose Postfix is not running (``postfix reload`` fails so); both stay running for the
observations.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest
from orchestra_postfix.testing import MailServer

from orchestra_core import Server, Service
from orchestra_core.catalogue import MailAddress, Mailbox
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

pytestmark = pytest.mark.daemon

MAILBOX = Mailbox(account="acme", address="info@acme.example", quota=50_000_000)
OTHER = Mailbox(account="acme", address="sales@acme.example")
ADDRESS = MailAddress(
    account="acme",
    address="orders@acme.example",
    mailboxes=("info@acme.example",),
    forwards=("boss@outside.test",),
)


def files(mail: MailServer) -> dict[str, Any]:
    """Every file the backends may write on this server, by path: content and mode (a
    table's ``.db`` as its dump)."""
    return mail.owned_files()


def homes(mail: MailServer) -> list[tuple[str, str, int, int]]:
    """The domain folders and homes under ``mail_base`` (``DOMAIN/LOCAL``): path, mode, owner
    and group. What Dovecot keeps inside a home (the Maildir it makes on first use, its
    indexes) is its own data, not the backend's."""
    found = []
    for path in sorted([*mail.mail_base.glob("*"), *mail.mail_base.glob("*/*")]):
        info = path.stat()
        found.append(
            (str(path.relative_to(mail.mail_base)), oct(info.st_mode), info.st_uid, info.st_gid)
        )
    return found


def userdb(mail: MailServer, address: str) -> str:
    """What Dovecot's userdb answers for ``address``."""
    done = subprocess.run(
        ["doveadm", "-c", str(mail.dovecot_conf), "user", "-f", "home", address],
        capture_output=True,
        text=True,
        check=False,
    )
    quota = subprocess.run(
        ["doveadm", "-c", str(mail.dovecot_conf), "user", "-f", "quota_rule", address],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{done.returncode} {done.stdout.strip()} {quota.stdout.strip()}"


def state(mail: MailServer, addresses: list[str], mailboxes: list[str]) -> dict[str, Any]:
    return {
        "files": files(mail),
        "homes": homes(mail),
        "rcpt": {a: mail.rcpt("sender@outside.test", a)[0] for a in addresses},
        "userdb": {a: userdb(mail, a) for a in mailboxes},
    }


class _Contract(BackendContract):
    transports = ("local", "ssh")

    mail: MailServer

    def servers(self) -> list[Server]:
        return [Server(name="mx1", settings={"postfix": self.mail.settings()})]

    def rejection(self, obj: Service) -> Rejection:
        """A Postfix configuration ``postfix check`` refuses (an unknown mail_owner)."""
        return Rejection(
            obj=self.changed(obj), settings={"config_dir": str(self.mail.broken_config_dir())}
        )


class TestPostfixMailboxContract(_Contract):
    """``postfix-mailbox`` on one Postfix and Dovecot."""

    backend = "postfix-mailbox"

    @pytest.fixture(autouse=True)
    def _mail(self, mail_server: MailServer) -> None:
        self.mail = mail_server

    def objects(self) -> list[Service]:
        return [MAILBOX]

    def observe(self) -> dict[str, Any]:
        return state(self.mail, [MAILBOX.address], [MAILBOX.address])

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, Mailbox)
        return attrs.evolve(obj, quota=(obj.quota or 0) + 1_000_000)

    def read_back(self, obj: Service, path: str) -> Any:
        assert isinstance(obj, Mailbox) and path == "quota", path
        rule = userdb(self.mail, obj.address).rsplit(" ", 1)[-1]
        return int(rule.removeprefix("*:storage=").removesuffix("B"))

    def rejection(self, obj: Service) -> Rejection:
        """A quota change (only Dovecot's userdb changes) under a Dovecot configuration that
        ``doveconf`` refuses (an unknown setting)."""
        broken = ["doveconf", "-c", str(self.mail.broken_dovecot_conf())]
        return Rejection(obj=self.changed(obj), settings={"doveconf": broken})

    def unreachable(self, obj: Service) -> Unreachable:
        return Unreachable(out_of_reach={"doveadm": self.mail.doveadm_out_of_reach()})

    def check_password(self, obj: Service, secret: str) -> None:
        assert isinstance(obj, Mailbox)
        self.mail.imap_login(obj.address, secret).logout()


# Class names of different lengths: pytest --fixtures sorts fixtures by the length of their
# class's node id, then by where they are defined, and fails on a tie (two classes of one
# length sharing the base's fixtures).
class TestPostfixMailAddressContract(_Contract):
    """``postfix-address`` on one Postfix, naming a mailbox of the world (not applied: the
    address is accepted at RCPT by its own line)."""

    backend = "postfix-address"
    #: A suspended account's addresses keep delivering: only its mailboxes' logins stop.
    suspends = False

    @pytest.fixture(autouse=True)
    def _mail(self, mail_server: MailServer) -> None:
        self.mail = mail_server

    def objects(self) -> list[Service]:
        return [ADDRESS, MAILBOX]

    def observe(self) -> dict[str, Any]:
        return state(self.mail, [ADDRESS.address, "nobody@acme.example"], [])

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, MailAddress)
        return attrs.evolve(obj, forwards=(*obj.forwards, "shop@outside.test"))

    def unreachable(self, obj: Service) -> Unreachable:
        return Unreachable(out_of_reach={"config_dir": str(self.mail.stopped_config_dir())})


def test_the_observation_sees_a_table_change(mail_server: MailServer, tmp_path: Path) -> None:
    """The contract's observe() is not blind: a line written by hand shows."""
    before = files(mail_server)
    (mail_server.maps_dir / "virtual_aliases").write_text("x@acme.example y@acme.example\n")
    assert files(mail_server) != before
