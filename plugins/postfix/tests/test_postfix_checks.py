"""Validation and rendering without a server: hostile addresses, the formats' own limits,
settings, and the shape of a plan (which lines go where, one assembly per table and batch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from orchestra_postfix import maps
from orchestra_postfix.settings import PostfixSettings

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.catalogue import MailAddress, Mailbox
from orchestra_core.errors import ConfigurationError, ValidationError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Service

BACKENDS = ("postfix-mailbox", "postfix-address")

#: Addresses the issue lists, and what each would do if it reached a table unescaped.
HOSTILE = {
    "single_quote": "o'brien@acme.example",
    "double_quote": '"john doe"@acme.example',
    "space": "john doe@acme.example",
    "command": "$(touch /tmp/x)@acme.example",
    "backtick": "`id`@acme.example",
    "semicolon": "a;b@acme.example",
    "newline": "info@acme.example\nevil@x.test",
    "tab": "info\t@acme.example",
    "nul": "in\x00fo@acme.example",
    "comma": "a,b@acme.example",
    "colon": "a:b@acme.example",
    "percent": "%u@acme.example",
    "slash": "../../etc@acme.example",
    "hash": "#info@acme.example",
    "pipe": "|cmd@acme.example",
    "unicode_local": "jürgen@acme.example",
    "unicode_domain": "info@äcme.example",
    "upper": "Info@acme.example",
    "two_ats": "a@b@acme.example",
    "too_long": "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".example",
    "empty_local": "@acme.example",
}


def orchestra(settings: dict[str, Any] | None = None, transport: str = "recording") -> Orchestra:
    server = Server(name="mx1", transport=transport, settings={"postfix": settings or {}})
    return Orchestra(
        servers=[server], routes=[Route(backend=b, servers=("mx1",)) for b in BACKENDS]
    )


def plan(*objects: Service, settings: dict[str, Any] | None = None, **kwargs: Any) -> str:
    """The text of the plan that saves ``objects`` (a ValidationError when refused)."""
    changes = ChangeSet()
    for obj in objects:
        changes = changes.save(obj)
    accounts = [Account(name="acme", is_active=not kwargs.get("suspended", False))]
    engine = orchestra(settings)
    try:
        return engine.plan(
            changes, index=ServiceIndex(accounts, list(objects)), **kwargs.get("plan", {})
        ).render_text()
    finally:
        engine.close()


def plan_errors(*objects: Service, settings: dict[str, Any] | None = None) -> list[str]:
    """The ``object: field: message`` lines planning ``objects`` gives."""
    try:
        plan(*objects, settings=settings)
    except ValidationError as exc:
        return [f"{e.object_key}: {e.field}: {e.message}" for e in exc.errors]
    return []


@pytest.mark.parametrize("address", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_mailbox_addresses_are_refused_with_their_field(address: str) -> None:
    errors = plan_errors(Mailbox(account="acme", address=address))
    assert errors, address
    assert all(": address: " in e for e in errors), errors


@pytest.mark.parametrize("address", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_destinations_are_refused_with_their_field(address: str) -> None:
    mailbox = Mailbox(account="acme", address="info@acme.example")
    errors = plan_errors(
        mailbox,
        MailAddress(account="acme", address="sales@acme.example", forwards=("ok@x.test", address)),
    )
    assert errors, address
    assert all(": forwards[1]: " in e for e in errors), errors


#: What the tables could hold as it is (no shell reads them), which the catalogue refuses.
EXPRESSIBLE = {"@acme.example", "o'brien@acme.example", "`id`@acme.example"}


@pytest.mark.parametrize("address", sorted(set(HOSTILE.values()) - EXPRESSIBLE))
def test_the_formats_refuse_what_they_cannot_hold(address: str) -> None:
    """The driver's own check, whatever the catalogue lets through."""
    assert maps.address_problem(address) is not None


def test_the_formats_take_what_they_can_hold() -> None:
    longest = "l" * 64 + "@" + ".".join(["d" * 60, "e" * 60, "f" * 60]) + ".exampl"
    assert len(longest) == 254
    for address in ("info@acme.example", "a+b.c_d-e@x.test", longest):
        assert maps.address_problem(address) is None, address
    assert maps.address_problem("@acme.example", catch_all=True) is None
    assert "254" in str(maps.address_problem("l" + longest))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"mail_base": "/var/v:mail"}, "mail_base"),
        ({"mail_base": "relative"}, "mail_base"),
        ({"uid": 0}, "uid"),
        ({"gid": -1}, "gid"),
        ({"password_scheme": "PLAIN"}, "password_scheme"),
        ({"suspended_mail": "drop"}, "suspended_mail"),
        ({"defer_reply": "550 no"}, "defer_reply"),
        ({"defer_reply": "450 a\nREJECT"}, "defer_reply"),
        ({"map_type": "regexp"}, "map_type"),
        ({"relay_address": "mx1.example.net:99999"}, "relay_address"),
        ({"relay_address": "$(id)"}, "relay_address"),
        ({"timezone": "Europe/../../etc"}, "timezone"),
        ({"postmap": "postmap -v"}, "postmap"),
    ],
)
def test_bad_settings_are_refused_with_their_name(settings: dict[str, Any], field: str) -> None:
    with pytest.raises((ConfigurationError, ValidationError)) as info:
        plan(Mailbox(account="acme", address="info@acme.example"), settings=settings)
    assert field in str(info.value)


def test_the_settings_defaults_fit_debian() -> None:
    settings = PostfixSettings()
    assert (settings.config_dir, settings.map_suffix) == ("/etc/postfix", ".db")
    assert settings.home("info@acme.example") == "/var/vmail/acme.example/info"


MAILBOX = Mailbox(account="acme", address="info@acme.example", quota=2_000_000)
OTHER = Mailbox(account="acme", address="sales@acme.example")
CATCH_ALL = MailAddress(
    account="acme",
    address="@acme.example",
    mailboxes=("info@acme.example",),
    forwards=("boss@outside.test",),
)


def test_a_batch_assembles_each_table_once_and_reloads_each_daemon_once() -> None:
    text = plan(MAILBOX, OTHER, CATCH_ALL)
    for table in ("virtual_domains", "virtual_mailboxes", "virtual_mailbox_aliases"):
        assert text.count(f"assemble /etc/postfix/orchestra/{table} ") == 1, table
    assert text.count("assemble /etc/dovecot/orchestra/users ") == 1
    assert text.count("$ __postfix postfix -c /etc/postfix reload") == 1
    assert text.count("$ doveadm reload") == 1
    # The lines of each object, in its own fragment.
    assert "+info@acme.example acme.example/info/Maildir/" in text
    assert "+info@acme.example info@acme.example" in text  # the catch-all does not take it
    assert "+@acme.example info@acme.example,boss@outside.test" in text
    assert (
        "+info@acme.example::5000:5000::/var/vmail/acme.example/info::"
        "userdb_quota_rule=*:storage=2000000B" in text
    )
    assert "+sales@acme.example::5000:5000::/var/vmail/acme.example/sales::" in text
    assert "storage=0\n" in text  # no quota: no limit
    # The domain, from three objects, is one line of the assembled table (unique).
    assert text.count("+acme.example OK") == 3


def test_suspended_mailboxes_are_denied_and_defer_only_when_asked() -> None:
    accepted = plan(MAILBOX, suspended=True)
    assert "write /etc/dovecot/orchestra/parts/suspended/mailbox~info@acme.example.map" in (
        accepted
    )
    assert "delete /etc/postfix/orchestra/parts/recipient_access/" in accepted
    deferred = plan(MAILBOX, suspended=True, settings={"suspended_mail": "defer"})
    assert "+info@acme.example 450 4.2.1 Mailbox temporarily unavailable" in deferred
    active = plan(MAILBOX)
    assert "delete /etc/dovecot/orchestra/parts/suspended/mailbox~info@acme.example.map" in active


def test_a_mailbox_over_its_allocation_gets_a_quota_nothing_fits_in() -> None:
    text = plan(MAILBOX, plan={"exceeded": {MAILBOX.key: frozenset({"mailbox-disk"})}})
    assert "userdb_quota_rule=*:storage=1B" in text


def test_set_password_keeps_the_password_off_the_plan_and_any_argv() -> None:
    engine = orchestra()
    secret = "pa$$ 'w\"ord` ü"
    index = ServiceIndex([Account(name="acme")], [MAILBOX])
    text = engine.plan(ChangeSet().set_password(MAILBOX, Secret(secret)), index=index).render_text()
    engine.close()
    assert secret not in text
    assert "doveadm pw -s SHA512-CRYPT" in text or "pw -s" in text
    for bad in ("two\nlines", "nul\x00"):
        engine = orchestra()
        with pytest.raises(Exception, match="without a line break or NUL"):
            engine.plan(ChangeSet().set_password(MAILBOX, Secret(bad)), index=index)
        engine.close()


def test_deleting_moves_the_home_to_the_trash_and_takes_every_line_out() -> None:
    engine = orchestra()
    index = ServiceIndex([Account(name="acme")], [MAILBOX])
    text = engine.plan(ChangeSet().delete(MAILBOX), index=index).render_text()
    engine.close()
    for table in ("virtual_domains", "virtual_mailboxes", "virtual_mailbox_aliases"):
        assert f"delete /etc/postfix/orchestra/parts/{table}/mailbox~info@acme.example.map" in text
    assert "delete /etc/dovecot/orchestra/passwords/info@acme.example" in text
    assert "move the home of info@acme.example to the trash" in text
    assert "rm -r" not in text


def test_a_backup_mx_relays_the_domain_to_the_primary() -> None:
    servers = [
        Server(name="mx1", address="192.0.2.1", transport="recording"),
        Server(
            name="mx2",
            address="192.0.2.2",
            transport="recording",
            settings={"postfix": {"relay_address": "[2001:db8::1]:2525"}},
        ),
    ]
    routes = [
        Route(backend="postfix-mailbox", servers=("mx1",)),
        Route(backend="postfix-relay-mailbox", servers=("mx2",)),
        Route(backend="postfix-address", servers=("mx2",)),
        Route(backend="postfix-relay-address", servers=("mx1",)),
    ]
    engine = Orchestra(servers=servers, routes=routes)
    index = ServiceIndex([Account(name="acme")], [MAILBOX, CATCH_ALL])
    text = engine.plan(ChangeSet().save(MAILBOX).save(CATCH_ALL), index=index).render_text()
    engine.close()
    mx1, _, mx2 = text.partition("server mx2")
    assert "+acme.example smtp:[192.0.2.1]:25" in mx2
    assert "+info@acme.example OK" in mx2
    assert "+@acme.example OK" in mx1  # the catch-all's backup is mx1, its primary mx2
    assert "+acme.example smtp:[2001:db8::1]:2525" in mx1


def test_a_backup_mx_without_a_primary_says_so() -> None:
    engine = Orchestra(
        servers=[Server(name="mx2", transport="recording")],
        routes=[Route(backend="postfix-relay-mailbox", servers=("mx2",))],
    )
    index = ServiceIndex([Account(name="acme")], [MAILBOX])
    with pytest.raises(Exception, match="no primary mail server"):
        engine.plan(ChangeSet().save(MAILBOX), index=index)
    engine.close()


def test_the_shared_settings_block_is_checked_at_its_line(tmp_path: Path) -> None:
    """A mistake in a server's ``postfix`` block is an error at its file, line and key, from
    ``orchestra validate``, before anything runs."""
    example = Path(__file__).resolve().parents[3] / "examples" / "mail.yaml"
    text = example.read_text().replace(
        "        uid: 5000\n", "        uid: 5000\n        maps_dri: /x\n"
    )
    text = text.replace("        gid: 5000\n", "        gid: root\n", 1)
    path = tmp_path / "mail.yaml"
    path.write_text(text)
    orchestra = str(Path(sys.executable).with_name("orchestra"))
    done = subprocess.run(
        [orchestra, "validate", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = text.splitlines()
    typo = lines.index("        maps_dri: /x") + 1
    gid = lines.index("        gid: root") + 1
    assert f"{path}:{typo}:" in done.stderr and "maps_dri" in done.stderr, done.stderr
    assert f"{path}:{gid}:" in done.stderr and "gid" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert subprocess.run([orchestra, "validate", str(example)], check=False).returncode == 0
