"""What the loader checks against the installed plugins: transports, route and server
settings, route matches; and the close names it suggests for what is misspelt."""

from __future__ import annotations

import textwrap

import attrs
import pytest

from orchestra_core.catalogue import CATALOGUE
from orchestra_core.errors import InventoryError
from orchestra_core.inventory import (
    INSTALLED,
    Inventory,
    InventoryValidationError,
    Routable,
    parse_inventory,
    routables_of,
)
from orchestra_core.registry import Registry

TYPES = {t.plural: t for t in CATALOGUE}


def parse(text: str, **kwargs: object) -> Inventory:
    return parse_inventory(
        textwrap.dedent(text), filename="inv.yaml", service_types=TYPES, **kwargs
    )  # type: ignore[arg-type]


def problems(text: str, **kwargs: object) -> list[tuple[int | None, str]]:
    with pytest.raises(InventoryValidationError) as info:
        parse(text, **kwargs)
    assert info.value.file == "inv.yaml"
    return [(p.line, p.message) for p in info.value.problems]


# -- transports -----------------------------------------------------------------------------------

SSSH = """\
servers:
  - name: web1
    transport: sssh
routes:
  - {backend: dummy-domain, servers: [web1]}
"""


def test_an_unknown_transport_is_refused_at_load() -> None:
    assert problems(SSSH) == [
        (
            3,
            "server:web1: transport: unknown transport 'sssh' (did you mean 'ssh'?; "
            "installed transports: local, recording, ssh)",
        )
    ]
    far = problems("servers: [{name: w, transport: pigeon}]\n")
    assert far == [
        (
            1,
            "server:w: transport: unknown transport 'pigeon' "
            "(installed transports: local, recording, ssh)",
        )
    ]


def test_the_known_transports_can_be_given() -> None:
    assert parse(SSSH, transports=["sssh"]).servers[0].transport == "sssh"
    assert parse(SSSH, transports=None).servers[0].transport == "sssh"
    [(line, message)] = problems(
        "servers: [{name: w}]\n", transports=["ssh"]
    )  # the default transport is checked too
    assert (line, message) == (
        1,
        "server:w: transport: unknown transport 'local' (installed transports: ssh)",
    )
    assert parse("servers: [{name: w, transport: ssh}]\n", transports=INSTALLED).servers


# -- settings -------------------------------------------------------------------------------------

SETTINGS = """\
servers:
  - name: db1
    settings:
      ssh: {port: 22, user: deploy}
      state_dir: /var/lib/orchestra
      dummy-databaseuser:
        directory: /srv
        file_mod: "0600"
  - name: web1
    settings:
      disk-usage: {apparent_size: "yes"}
routes:
  - backend: dummy-databaseuser
    servers: [db1]
    settings:
      file_mode: 644
      checker: named-checkzone
  - backend: disk-usage
    servers: [web1]
    name: homes
    settings:
      home_bsae: /srv/home
"""


def test_route_and_server_settings_are_checked_where_they_are_written() -> None:
    assert problems(SETTINGS) == [
        (
            8,
            "server:db1: settings[dummy-databaseuser]: unknown setting 'file_mod' of backend "
            "dummy-databaseuser (did you mean 'file_mode'?)",
        ),
        (
            11,
            "server:web1: settings[disk-usage]: setting 'apparent_size' must be true or false, "
            "got 'yes'",
        ),
        (
            16,
            "route 'dummy-databaseuser[True]': settings: setting 'file_mode' must be a string, "
            'got 644 (a mode is octal text in quotes: write "0644")',
        ),
        (
            17,
            "route 'dummy-databaseuser[True]': settings: setting 'checker' must be a list of "
            "strings, got 'named-checkzone'",
        ),
        (
            22,
            "route 'homes': settings: unknown setting 'home_bsae' of backend disk-usage "
            "(did you mean 'home_base'?)",
        ),
    ]


def test_a_validators_words_and_a_layer_that_is_not_a_mapping() -> None:
    text = """\
    servers:
      - name: db1
        settings:
          dummy-databaseuser: [file_mode]
    routes:
      - backend: dummy-databaseuser
        servers: [db1]
        settings: {file_mode: "999"}
    """
    assert problems(text) == [
        (
            4,
            "server:db1: settings[dummy-databaseuser]: settings must be a mapping, got a list",
        ),
        (
            8,
            "route 'dummy-databaseuser[True]': settings: setting 'file_mode' must match "
            "'(0o)?[0-7]{3,4}', got '999'",
        ),
    ]


def test_settings_are_checked_against_what_is_given() -> None:
    @attrs.frozen
    class Needs:
        host: str
        port: int = 1

    routables = {"dummy-databaseuser": Routable("databaseuser", Needs)}
    text = "servers: [{name: s}]\nroutes: [{backend: dummy-databaseuser, servers: s}]\n"
    # a required setting given by neither the server nor the route is placed at the route
    assert problems(text, routables=routables) == [
        (
            2,
            "route 'dummy-databaseuser[True]': settings on server s: setting 'host' is required "
            "(a string)",
        )
    ]
    text = text.replace("servers: s}", "servers: s, settings: {host: db}}")
    assert parse(text, routables=routables).routes
    bad = text.replace("settings: {host: db}", "settings: {host: db, port: x}")
    assert problems(bad, routables=routables) == [
        (
            2,
            "route 'dummy-databaseuser[True]': settings: setting 'port' must be an integer, "
            "got 'x'",
        )
    ]
    assert parse(bad, routables=None).routes[0].settings == {"host": "db", "port": "x"}
    assert parse(SETTINGS, routables=None).servers


def test_routables_of_a_registry_name_backends_and_monitors() -> None:
    found = routables_of(Registry.load())
    assert found["dummy-domain"].kind == "domain"
    assert found["disk-usage"].kind == "systemuser"
    assert found["dummy-domain"].settings_class.__name__ == "DummySettings"


# -- route matches --------------------------------------------------------------------------------

MATCH = """\
servers: [{{name: web1}}]
routes:
  - backend: dummy-webapp
    servers: [web1]
    match: '{match}'
accounts:
  - name: acme
    systemusers: [{{name: acme}}]
    webapps: [{{name: shop, type: php, system_user: acme}}]
"""


@pytest.mark.parametrize(
    ("match", "message"),
    [
        (
            'webapp.typ == "php"',
            "for webapp:acme/shop: webapp has no field 'typ' (did you mean 'type'?)",
        ),
        (
            'webap.type == "php"',
            "for webapp:acme/shop: 'webap' is undefined (did you mean 'webapp'?) (a match sees "
            "the object as 'webapp' and 'obj', and its account as 'account')",
        ),
        ("obj.nope", "webapp has no field 'nope' (fields: "),
        ("webapp.__class__", "not allowed: access to attribute '__class__' of 'WebApp'"),
        ("1 // 0", "ZeroDivisionError: integer division or modulo by zero"),
    ],
)
def test_a_match_that_fails_for_an_object_is_placed_at_the_match(match: str, message: str) -> None:
    [(line, said)] = problems(MATCH.format(match=match))
    assert line == 5
    assert said.startswith(f"route 'dummy-webapp[{match}]': match: ")
    assert message in said


def test_a_match_is_evaluated_only_for_its_backends_kind() -> None:
    # a domain has no 'type'; the route is for web apps only
    text = MATCH.format(match='webapp.type == "php"') + "    domains: [{name: a.example}]\n"
    assert len(parse(text).services) == 3
    assert parse(MATCH.format(match="webapp.typ"), routables=None).routes


def test_a_syntax_error_names_the_line_once() -> None:
    [(line, said)] = problems(MATCH.format(match="webapp.type =="))
    assert (line, said) == (
        5,
        "route 'dummy-webapp[webapp.type ==]': match: 'webapp.type ==' is not a valid "
        "expression: unexpected 'end of template'",
    )


# -- close names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "servers: []\ndomian: []\n",
            2,
            "unknown section 'domian': expected servers, routes, accounts ('domains' is a "
            "section of an account, under accounts:)",
        ),
        (
            "acounts: []\n",
            1,
            "unknown section 'acounts': expected servers, routes, accounts (did you mean "
            "'accounts'?)",
        ),
        (
            "accounts:\n  - name: acme\n    domian: []\n",
            3,
            "unknown field 'domian' in an account (did you mean 'domains'?): expected",
        ),
        (
            "accounts:\n  - name: acme\n    emial: a@b.example\n",
            3,
            "unknown field 'emial' in an account (did you mean 'email'?): expected",
        ),
        (
            "accounts:\n  - name: acme\n    mailboxes:\n      - addres: i@acme.example\n",
            4,
            "mailbox:?: addres: unknown field 'addres' (did you mean 'address'?)",
        ),
        (
            "servers:\n  - name: w\n    adress: 192.0.2.1\n",
            3,
            "server:w: adress: unknown field 'adress' (did you mean 'address'?)",
        ),
        (
            "servers: [{name: web1}]\nroutes:\n  - backend: dummy-domian\n    servers: web1\n",
            3,
            "route 'dummy-domian[True]': backend 'dummy-domian' is not installed (did you mean "
            "'dummy-domain'?; installed backends: ",
        ),
    ],
)
def test_a_misspelt_name_gets_the_closest_known(text: str, line: int, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse(text, backends=Registry.load().routable())
    assert info.value.line == line
    assert message in info.value.message


def test_values_in_messages_are_escaped_and_cut() -> None:
    name = "sss\\eh" + "h" * 100  # \e is ESC in a YAML double-quoted string
    with pytest.raises(InventoryError) as info:
        parse(f'"{name}": []\n')
    assert "\x1b" not in info.value.message
    assert info.value.message.startswith("unknown section 'sss\\x1bh")
    assert "... (105 characters): expected servers" in info.value.message
