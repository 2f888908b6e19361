"""The inventory loader: a valid file loads; every problem names its file, line and fix."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from orchestra_core.catalogue import CATALOGUE, Domain, Mailbox, Record
from orchestra_core.errors import InventoryError
from orchestra_core.inventory import (
    Inventory,
    InventoryValidationError,
    load_inventory,
    parse_inventory,
)
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account

TYPES = {t.plural: t for t in CATALOGUE}
BACKENDS = ["dummy-domain", "dummy-mailbox"]

VALID = """\
servers:
  - name: web1
    root: sandbox/web1
  - name: ns1
    address: ns1.example
    transport: recording
    settings: {ssh: {user: deploy}}
routes:
  - backend: dummy-domain
    servers: web1
    match: 'domain.name.endswith(".example")'
    name: dns
  - backend: dummy-mailbox
    servers: [web1, ns1]
    settings: {file_mode: "0600"}
accounts:
  - name: acme
    email: ops@acme.example
    description: "Société ✓"
    domains:
      - name: acme.example
        records: [{name: "@", type: A, values: [192.0.2.10]}]
      - name: www.acme.example
    mailboxes:
      - {address: info@acme.example, quota: 1024}
  - name: bob
    is_active: false
"""


def yaml_string(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's, surrogate pairs aside)."""
    return json.dumps(value, ensure_ascii=False)


def parse(text: str, **kwargs: object) -> Inventory:
    options: dict[str, object] = {"service_types": TYPES, "backends": BACKENDS, **kwargs}
    return parse_inventory(textwrap.dedent(text), filename="inv.yaml", **options)  # type: ignore[arg-type]


def error_of(text: str, **kwargs: object) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        parse(text, **kwargs)
    assert info.value.file == "inv.yaml"
    return info.value


def test_a_valid_inventory_loads(tmp_path: Path) -> None:
    inventory = parse(VALID, base_dir=tmp_path)
    assert inventory.servers == (
        Server(name="web1", root=str(tmp_path / "sandbox" / "web1")),
        Server(
            name="ns1",
            address="ns1.example",
            transport="recording",
            settings={"ssh": {"user": "deploy"}},
        ),
    )
    assert inventory.routes == (
        Route(
            backend="dummy-domain",
            servers=("web1",),
            match='domain.name.endswith(".example")',
            name="dns",
        ),
        Route(backend="dummy-mailbox", servers=("web1", "ns1"), settings={"file_mode": "0600"}),
    )
    assert inventory.accounts == (
        Account(name="acme", email="ops@acme.example", description="Société ✓"),
        Account(name="bob", is_active=False),
    )
    assert inventory.services == (
        Domain(
            account="acme", name="acme.example", records=(Record(type="A", values=("192.0.2.10",)),)
        ),
        Domain(account="acme", name="www.acme.example"),
        Mailbox(account="acme", address="info@acme.example", quota=1024),
    )
    index = inventory.index()
    assert len(index) == 3
    assert index.account("bob") == Account(name="bob", is_active=False)
    www = index.get("domain:www.acme.example")
    assert www is not None
    assert list(www.related_keys(index)) == ["domain:acme.example"]


def test_an_empty_document_is_an_empty_inventory() -> None:
    assert parse("# nothing yet\n") == Inventory()
    assert parse("servers:\naccounts: []\n") == Inventory()


def test_load_inventory_resolves_roots_against_the_file_folder(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("servers: [{name: web1, root: sb/../box}, {name: web2, root: /abs}]\n")
    inventory = load_inventory(path, service_types=TYPES)
    assert [s.root for s in inventory.servers] == [str(tmp_path / "box"), "/abs"]
    other = load_inventory(str(path), service_types=TYPES, base_dir=Path("/srv"))
    assert other.servers[0].root == "/srv/box"


def test_load_inventory_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "nope.yaml", service_types=TYPES)
    assert info.value.file == str(tmp_path / "nope.yaml")
    assert "cannot read the inventory: No such file or directory" in info.value.message


def test_load_inventory_reports_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(b"accounts: [{name: \xff}]\n")
    with pytest.raises(InventoryError, match="is not UTF-8 text"):
        load_inventory(path, service_types=TYPES)


# -- errors, each with its line -------------------------------------------------------------------

CASES = {
    "yaml_syntax": (
        "accounts:\n  - name: acme\n    domains: [a\n  - name: b\n",
        4,
        "YAML syntax error: while parsing a flow sequence",
    ),
    "top_level_list": (
        "- servers\n",
        1,
        "expected a mapping with sections servers, routes, accounts, got a list",
    ),
    "unknown_top_level_key": (
        "servers: []\nserver:\n  - name: x\n",
        2,
        "unknown section 'server': expected servers, routes, accounts (did you mean 'servers'?)",
    ),
    "duplicate_yaml_key": (
        "accounts:\n  - name: a\n    name: b\n",
        3,
        "duplicate key 'name' in the same mapping",
    ),
    "section_not_a_list": (
        "servers:\n  web1: {}\n",
        1,
        "servers: expected a list of servers, got a mapping",
    ),
    "unknown_service_section": (
        "accounts:\n  - name: acme\n    domainz: []\n",
        3,
        "unknown field 'domainz' in an account (did you mean 'domains'?): expected an account "
        "field (name, is_active, email, description) or a service section (databases, "
        "databaseusers, domains, mailaddresses, mailboxes, mailinglists, systemusers, webapps, "
        "websites)",
    ),
    "unknown_service_field": (
        "accounts:\n  - name: acme\n    domains:\n      - name: a.example\n\n        nmae: x\n",
        6,
        "domain:a.example: nmae: unknown field 'nmae' (did you mean 'name'?)",
    ),
    "unknown_record_field": (
        "accounts:\n  - name: acme\n    domains:\n      - name: a.example\n        records:\n"
        "          - type: A\n            values: [192.0.2.1]\n            tll: 5\n",
        8,
        "domain:a.example: records[0].tll: unknown field 'tll'",
    ),
    "wrong_type": (
        "accounts:\n  - name: acme\n    mailboxes:\n      - address: i@a.example\n"
        "        quota: big\n",
        5,
        "mailbox:i@a.example: quota: expected an integer or null, got a string",
    ),
    "wrong_type_server": (
        "servers:\n  - name: web1\n    settings: [a]\n",
        3,
        "server:web1: settings: expected a mapping, got a list",
    ),
    "service_not_a_mapping": (
        "accounts:\n  - name: acme\n    mailboxes:\n      - info\n",
        4,
        "expected a mapping, got a string",
    ),
    "account_implied": (
        "accounts:\n  - name: acme\n    mailboxes:\n      - address: i@a.example\n"
        "        account: other\n",
        5,
        "mailbox: account: is implied by the enclosing account; remove it",
    ),
    "duplicate_server": (
        "servers:\n  - name: web1\n  - name: web2\n  - name: web1\n",
        4,
        "server:web1: name: server 'web1' is defined twice",
    ),
    "unknown_server": (
        "servers: [{name: web1}]\nroutes:\n  - backend: dummy-domain\n    servers:\n"
        "      - web1\n      - web9\n",
        6,
        "route 'dummy-domain[True]': servers[1]: unknown server 'web9' (did you mean 'web1'?; "
        "servers: web1)",
    ),
    "unknown_backend": (
        "servers: [{name: web1}]\nroutes:\n  - backend: bind9\n    servers: web1\n",
        3,
        "route 'bind9[True]': backend 'bind9' is not installed (installed backends: "
        "dummy-domain, dummy-mailbox)",
    ),
    "bad_match": (
        "servers: [{name: web1}]\nroutes:\n  - backend: dummy-domain\n    servers: web1\n"
        "    name: dns\n    match: 'domain.name =='\n",
        6,
        "route 'dns': match: 'domain.name ==' is not a valid expression: unexpected 'end of "
        "template'",
    ),
    "duplicate_route_name": (
        "servers: [{name: w}]\nroutes:\n  - {backend: dummy-domain, servers: w, name: r}\n"
        "  - {backend: dummy-mailbox, servers: w, name: r}\n",
        4,
        "route 'r': the name is used by another route",
    ),
    "duplicate_natural_key": (
        "accounts:\n  - name: a\n    domains: [{name: x.example}]\n  - name: b\n    domains:\n"
        "      - name: x.example\n",
        6,
        "domain:x.example: defined twice (first at line 3)",
    ),
    "duplicate_account": (
        "accounts:\n  - name: a\n  - name: a\n",
        3,
        "account:a: the account is defined twice",
    ),
    "invalid_value_deep": (
        "accounts:\n  - name: acme\n    domains:\n      - name: a.example\n        records:\n"
        "          - type: A\n            values: [192.0.2.1]\n          - name: www\n"
        "            type: A\n            values:\n              - 192.0.2.2\n"
        "              - '::1'\n",
        12,
        "domain:a.example: records[1].values[1]: '::1' is an IPv6 address, not IPv4: use an "
        "AAAA record for it",
    ),
    "invalid_account": ("accounts:\n  - name: Acme\n", 2, "account:Acme: name: 'Acme' may only"),
    "unsafe_tag": (
        "accounts: !!python/object/apply:os.system ['true']\n",
        1,
        "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "unsafe_scalar_tag": (
        "accounts:\n  - name: !!python/name:os.system\n",
        2,
        "YAML syntax error: could not determine a constructor",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_errors_name_the_file_line_and_problem(case: str) -> None:
    text, line, fragment = CASES[case]
    error = error_of(text)
    assert error.line == line, str(error)
    assert fragment in error.message
    assert str(error).startswith(f"inv.yaml:{line}: ")


def test_backends_are_only_checked_when_given() -> None:
    text = "servers: [{name: w}]\nroutes: [{backend: anything, servers: w}]\n"
    assert parse(text, backends=None).routes[0].backend == "anything"


def test_object_problems_are_collected_in_line_order() -> None:
    text = """\
    accounts:
      - name: acme
        mailboxes:
          - address: nope
          - address: i@a.example
            quota: 0
        databases:
          - name: "a b"
    """
    error = error_of(text)
    assert isinstance(error, InventoryValidationError)
    assert [(p.line, p.error.field if p.error else None) for p in error.problems] == [
        (4, "address"),
        (6, "quota"),
        (8, "name"),
    ]
    assert error.line == 4
    assert error.message.startswith("3 problems:\n  inv.yaml:4: mailbox:nope: address: ")
    assert [e.object_key for e in error.field_errors] == [
        "mailbox:nope",
        "mailbox:i@a.example",
        "database:mysql/a b",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "5\n",
        "accounts: 5\n",
        "accounts: [5]\n",
        "accounts: [{name: a, domains: [5, null, [1]]}]\n",
        "accounts: [{name: a, domains: {x: 1}}]\n",
        "accounts: [{name: [1]}]\n",
        "servers: [{name: 1}, {}, 3, {name: w, root: 7}]\n",
        "routes: [{backend: x, servers: 5}, {servers: []}, {backend: y, servers: [], match: 3}]\n",
        "routes: [{backend: x, servers: [w], settings: {1: 2}}]\n",
        "{1: 2}\n",
        "? [a]\n: b\n",
        "a: &a [*a, *a]\n",
        "---\na: 1\n---\nb: 2\n",
        "x: &a [1]\n"
        + "".join(
            f"x{i}: &a{i} [*{'a' if i == 0 else f'a{i - 1}'}, *{'a' if i == 0 else f'a{i - 1}'}]\n"
            for i in range(40)
        ),
        "accounts: [{name: a, <<: {email: a@b.example}, domains: [{<<: {name: x.example}}]}]\n",
    ],
)
def test_garbage_never_gives_a_traceback(text: str) -> None:
    try:
        parse(text)
    except InventoryError as error:
        assert error.file == "inv.yaml"
        assert error.message


def test_merge_keys_work() -> None:
    text = "accounts: [{name: a, <<: {email: a@b.example}}]\n"
    assert parse(text).accounts == (Account(name="a", email="a@b.example"),)


# -- hostile values -------------------------------------------------------------------------------

HOSTILE = [
    "it's",
    'a"b',
    "$(touch /tmp/pwned)",
    "`id`",
    "a;b",
    "a\nb",
    "a\x00b",
    "a" * 10_000,
    "ünïcode",
    "-rf",
    "a b",
]

# (YAML template with {v} for the value, expected object key prefix, field)
NAME_FIELDS = {
    "server.name": ("servers: [{{name: {v}}}]", "server:", "name"),
    "server.transport": ("servers: [{{name: w, transport: {v}}}]", "server:w", "transport"),
    "server.address": ("servers: [{{name: w, address: {v}}}]", "server:w", "address"),
    "route.backend": ("routes: [{{backend: {v}, servers: [w]}}]", "route:0", "backend"),
    "route.servers": ("routes: [{{backend: b, servers: [{v}]}}]", "route:0", "servers[0]"),
    "account.name": ("accounts: [{{name: {v}}}]", "account:", "name"),
    "domain.name": ("accounts: [{{name: a, domains: [{{name: {v}}}]}}]", "domain:", "name"),
    "record.name": (
        "accounts: [{{name: a, domains: [{{name: a.example, records: "
        "[{{name: {v}, type: A, values: [192.0.2.1]}}]}}]}}]",
        "domain:a.example",
        "records[0].name",
    ),
    "mailbox.address": (
        "accounts: [{{name: a, mailboxes: [{{address: {v}}}]}}]",
        "mailbox:",
        "address",
    ),
    "systemuser.name": (
        "accounts: [{{name: a, systemusers: [{{name: {v}}}]}}]",
        "systemuser:",
        "name",
    ),
    "database.name": (
        "accounts: [{{name: a, databases: [{{name: {v}}}]}}]",
        "database:mysql/",
        "name",
    ),
    "website.domains": (
        "accounts: [{{name: a, websites: [{{name: s, domains: [{v}]}}]}}]",
        "website:a/s",
        "domains[0]",
    ),
}


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("case", NAME_FIELDS)
def test_hostile_names_are_refused_with_a_field_error(case: str, value: str) -> None:
    template, key_prefix, field = NAME_FIELDS[case]
    error = error_of(template.format(v=yaml_string(value)) + "\n", backends=None)
    assert isinstance(error, InventoryValidationError), str(error)
    assert [e.field for e in error.field_errors] == [field]
    assert error.field_errors[0].object_key.startswith(key_prefix)
    assert error.line == 1


@pytest.mark.parametrize("case", NAME_FIELDS)
def test_the_hostile_templates_load_with_a_sane_value(case: str) -> None:
    template = NAME_FIELDS[case][0]
    servers = "servers: [{name: w}, {name: b}, {name: web1}]\n" if case.startswith("route") else ""
    sane = {"mailbox.address": "web1@a.example", "server.transport": "local"}.get(case, "web1")
    parse(servers + template.format(v=sane) + "\n", backends=None)


@pytest.mark.parametrize("value", ["Société ✓ 日本語 🚀", "it's $(not code) `either`; -rf", ""])
def test_free_text_accepts_unicode_and_shell_syntax(value: str) -> None:
    text = f"accounts: [{{name: a, description: {yaml_string(value)}, mailinglists: [{{name: l, "
    text += f"domain: a.example, admin_email: x@a.example, description: {yaml_string(value)}}}]}}]"
    inventory = parse(text + "\n")
    assert inventory.accounts[0].description == value


@pytest.mark.parametrize("value", ["a\nb", "a\x00b", "a\u2028b"])
def test_free_text_refuses_nul_and_line_breaks(value: str) -> None:
    text = "accounts:\n  - name: a\n    mailinglists:\n      - name: l\n        domain: a.example\n"
    text += f"        admin_email: x@a.example\n        description: {yaml_string(value)}\n"
    error = error_of(text)
    assert isinstance(error, InventoryValidationError)
    assert [e.field for e in error.field_errors] == ["description"]
    assert error.line == 7
    assert "must not contain control characters or line breaks" in error.message
