"""``make demo-real``: examples/hosting-real.yaml applied to real daemons, and shown working.

Starts, on loopback ports and in one folder (``--dir``, by default a new temp dir), a
private named, MariaDB, Postfix with Dovecot, Mailman 3 and Apache with PHP-FPM: the drivers'
own test fixtures, which touch nothing of the machine's own daemons. Applies the inventory
with each server's settings replaced by its daemon's, gives the mailbox and the database
user a password, then shows what a customer would see: ``dig`` answers for the zone, a mail
is delivered and read over IMAP, the website runs PHP, the database user logs in, a post
reaches the list's member. Applies again (nothing to do), then stops every daemon and
removes the unix user it made (and its folder, unless it was given or a check failed).

Run as root on Debian with the system packages installed (``make system-packages``).
Exit code 0 when every check held, 1 when one failed (each is printed), 2 when it cannot
run here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "hosting-real.yaml"
MAILBOX_PASSWORD = "correct horse battery staple"
DATABASE_PASSWORD = "s3cret-shop-password"
INDEX_PHP = "<?php echo 'PHP ' . PHP_MAJOR_VERSION . ' says ' . (6 * 7) . \"\\n\";\n"


@attrs.define
class Daemons:
    """The private daemons, one per server of the inventory."""

    named: Any
    mariadb: Any
    mail: Any
    mailman: Any
    web: Any

    def settings(self, server: str, state_dir: Path) -> dict[str, Any]:
        """The settings that reach ``server``'s daemon (with a state folder in the demo's)."""
        # A driver's shared block (postfix, mailman, apache_fpm) or each backend's own
        # (bind9 and mysql have none): every backend of the inventory reaches its private
        # daemon, never the machine's own.
        blocks: dict[str, dict[str, Any]] = {
            "ns1": {"bind9-master": self.named.settings()},
            "mail1": {"postfix": self.mail.settings(), "mailman": self.mailman.settings()},
            "web1": {"apache_fpm": self.web.settings()},
            "db1": {
                "mysql-database": self.mariadb.settings(),
                "mysql-user": self.mariadb.settings(),
            },
        }
        return {**blocks[server], "state_dir": str(state_dir / server)}


@contextlib.contextmanager
def daemons(dir: Path) -> Iterator[Daemons]:
    """Every daemon started in ``dir``, stopped (and its users removed) when the context
    ends, whatever happened."""
    from orchestra_apache_fpm.testing import start_web_server
    from orchestra_apache_fpm.userdb_lock import tests_share_users
    from orchestra_bind9.testing import start_named
    from orchestra_mailman.testing import start_mailman
    from orchestra_mysql.testing import start_mariadb
    from orchestra_postfix.testing import start_mail_server

    with contextlib.ExitStack() as stack:
        stack.enter_context(tests_share_users())
        step("starting named, MariaDB, Postfix with Dovecot, Mailman and Apache on loopback")
        named = start_named(dir / "ns1", name="ns1")
        stack.callback(named.stop)
        mariadb = start_mariadb(dir / "db1")
        stack.callback(mariadb.stop)
        mail = start_mail_server(dir / "mail1", name="mail1")
        stack.callback(mail.stop)
        mailman = start_mailman(dir / "lists1", smtp_port=mail.smtp_port)
        stack.callback(mailman.stop)
        web = start_web_server(dir / "web1")
        stack.callback(web.stop)
        yield Daemons(named=named, mariadb=mariadb, mail=mail, mailman=mailman, web=web)
        step("stopping them")


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        type=Path,
        help="where the daemons live (default: a new temp dir); keep its path short: "
        "Dovecot's unix sockets are in it, and a socket's path has at most 107 bytes",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "demo-real: run it as root (it starts daemons and makes a unix user)", file=sys.stderr
        )
        return 2
    dir = (args.dir or Path(tempfile.mkdtemp(prefix="orchestra-demo-real-"))).resolve()
    dir.mkdir(parents=True, exist_ok=True)
    try:
        with daemons(dir) as running:
            code = demo(running, dir)
    except Exception as exc:  # a daemon that would not start: say which, and why
        print(f"demo-real: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 2
    if code == 0 and args.dir is None:
        shutil.rmtree(dir, ignore_errors=True)
    elif code:
        print(f"demo-real: the daemons' folders and logs are in {dir}", file=sys.stderr)
    return code


def demo(running: Daemons, dir: Path) -> int:
    """Apply the inventory to ``running`` and check what it made; 0 when all held."""
    from orchestra_core import ChangeSet, Orchestra, Secret
    from orchestra_core.inventory.loader import load_inventory
    from orchestra_core.registry import Registry
    from orchestra_core.storage.memory import MemoryStore

    registry = Registry.load()
    inventory = load_inventory(
        INVENTORY, service_types=registry.by_plural(), backends=registry.routable()
    )
    servers = [
        attrs.evolve(s, settings=running.settings(s.name, dir / "state")) for s in inventory.servers
    ]
    engine = Orchestra(
        servers=servers, routes=inventory.routes, registry=registry, store=MemoryStore()
    )
    try:
        step(f"applying {INVENTORY.relative_to(HERE.parent)}")
        plan = engine.plan_inventory(inventory.accounts, inventory.services)
        result = engine.apply(plan)
        report = [(log.operation_id, log.state.value) for log in result.logs]
        for operation, state in report:
            print(f"    {state:8} {operation}")
        if not result.ok:
            for log in result.logs:
                if not log.state.is_ok:
                    said = (log.stdout + log.stderr)[-2000:]
                    print(f"FAILED {log.operation_id}:\n{said}", file=sys.stderr)
            return 1
        index = inventory.index()
        by_key = {obj.key: obj for obj in inventory.services}
        mailbox = by_key["mailbox:info@acme.example"]
        db_user = by_key["databaseuser:mysql/acme_shop"]
        changes = (
            ChangeSet()
            .set_password(mailbox, Secret(MAILBOX_PASSWORD))
            .set_password(db_user, Secret(DATABASE_PASSWORD))
        )
        step("setting the mailbox's and the database user's passwords")
        passwords = engine.apply(engine.plan(changes, index=index, accounts=inventory.accounts))
        if not passwords.ok:
            print("FAILED to set the passwords", file=sys.stderr)
            return 1
        failures = sum(
            not check(name, probe)
            for name, probe in (
                ("dig answers for acme.example", lambda: dig(running)),
                ("a mail is delivered and read over IMAP", lambda: mail(running)),
                ("the website serves PHP", lambda: website(running)),
                ("the database user logs in", lambda: database(running)),
                ("a post reaches the list's member", lambda: mailing_list(running)),
            )
        )
        step("applying again: nothing to do")
        again = engine.apply(engine.plan_inventory(inventory.accounts, inventory.services))
        changed = [log.operation_id for log in again.logs if log.state.value != "nothing"]
        if not again.ok or changed:
            print(f"FAILED: the second apply changed {changed}", file=sys.stderr)
            failures += 1
        else:
            print("    ok  nothing changed")
        return 1 if failures else 0
    finally:
        engine.close()


def check(name: str, probe: Callable[[], str]) -> bool:
    """Run ``probe``; print ``ok NAME: WHAT IT SAW`` or ``FAILED NAME: WHY``."""
    try:
        seen = probe()
    except Exception as exc:
        print(f"    FAILED {name}: {type(exc).__name__}: {exc}", flush=True)
        return False
    print(f"    ok  {name}: {seen}", flush=True)
    return True


def dig(running: Daemons) -> str:
    done = subprocess.run(
        ["dig", "+short", "-p", str(running.named.port), "@127.0.0.1", "acme.example", "A"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = done.stdout.strip()
    assert answer == "192.0.2.10", f"dig printed {answer!r}"
    return f"acme.example A {answer}"


def mail(running: Daemons) -> str:
    message = EmailMessage()
    message["From"], message["To"] = "friend@outside.test", "sales@acme.example"
    message["Subject"] = "hello from demo-real"
    message.set_content("to sales, delivered to info's mailbox\n")
    refused = running.mail.send("friend@outside.test", ["sales@acme.example"], message)
    assert refused == {}, refused
    running.mail.wait_for_messages("info@acme.example", 1, timeout=60)
    fetched = running.mail.imap_messages("info@acme.example", MAILBOX_PASSWORD)
    assert any(b"hello from demo-real" in m for m in fetched), fetched
    return f"sales@ -> info@acme.example, {len(fetched)} message read over IMAP"


def website(running: Daemons) -> str:
    web = running.web
    entry = pwd.getpwnam("acme")
    page = web.home_base / "acme" / "webapps" / "shop" / "index.php"
    page.write_text(INDEX_PHP)
    os.chown(page, entry.pw_uid, entry.pw_gid)
    page.chmod(0o640)
    got = web.fetch("www.acme.example", "/index.php")
    assert got.status == 200 and b"says 42" in got.body, (got.status, got.body[:300])
    return f"http://www.acme.example/index.php: {got.body.decode().strip()}"


def database(running: Daemons) -> str:
    connection = running.mariadb.connect("acme_shop", DATABASE_PASSWORD, "acme_shop")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER(), DATABASE()")
            user, name = cursor.fetchone()
    finally:
        connection.close()
    return f"logged in as {user} into {name}"


def mailing_list(running: Daemons) -> str:
    running.mailman.subscribe("news@acme.example", "info@acme.example")
    before = len(running.mail.messages("info@acme.example"))
    message = EmailMessage()
    message["From"], message["To"] = "info@acme.example", "news@acme.example"
    message["Subject"] = "launch day"
    message.set_content("the new shop is open\n")
    refused = running.mail.send("info@acme.example", ["news@acme.example"], message)
    assert refused == {}, refused
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        posts = [
            m for m in running.mail.messages("info@acme.example")[before:] if b"launch day" in m
        ]
        if posts:
            assert b"List-Id:" in posts[0], posts[0][:500]
            return "news@acme.example -> its member info@acme.example"
        time.sleep(0.3)
    raise AssertionError("the post did not reach the member within 60 s")


if __name__ == "__main__":
    sys.exit(main())
