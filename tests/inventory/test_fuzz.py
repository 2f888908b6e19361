"""Fuzzed inventories through ``orchestra validate``: every malformed one is refused with exit
code 2 and ``error: FILE:LINE:``, in printable lines, never a traceback.

Each test starts from ``examples/hosting.yaml`` (valid) and breaks it in one way that is sure
to be wrong: a value of the wrong type, a required key removed, an unknown key added, a huge
value, deep nesting, an alias bomb, a duplicate, bytes that are not UTF-8, a lone surrogate, a
YAML tag. The budget is fixed so that CI runs the same examples every time, in seconds:
hypothesis is derandomized, keeps no example database, and tries a bounded number of examples.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_core.inventory import located
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Account
from orchestra_core.registry import Registry
from tests.inventory.cli_run import EXAMPLES, Run, validate

BUDGET = settings(
    derandomize=True,
    database=None,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The pure-Python parser is several times slower: fewer examples of it.
PURE_BUDGET = settings(BUDGET, max_examples=12)

TEXT = (EXAMPLES / "hosting.yaml").read_text()
BASE: dict[str, Any] = yaml.safe_load(TEXT)
TYPES = Registry.load().by_plural()


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def refused(run: Run) -> None:
    """Exit 2, ``error: FILE:LINE: ...`` on stderr, every line printable, no traceback."""
    assert run.exception is None, repr(run.exception)
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    assert re.match(rf"error: {re.escape(run.file)}:\d+: ", run.stderr), run.stderr[:500]
    for line in run.stderr.splitlines():
        assert line.isprintable(), repr(line[:200])
        assert len(line) < 2000, len(line)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6)


# -- where things are in the example --------------------------------------------------------------

Where = tuple[str | int, ...]

#: Fields and the kinds of value they take (a kind given here is never one of the wrong ones).
FIELDS: dict[Where, tuple[str, ...]] = {
    ("servers", 0, "name"): ("str",),
    ("servers", 1, "transport"): ("str",),
    ("servers", 2, "root"): ("str", "null"),
    ("servers", 3, "settings"): ("map",),
    ("routes", 0, "backend"): ("str",),
    ("routes", 1, "servers"): ("list", "str"),
    ("routes", 5, "match"): ("str",),
    ("routes", 8, "settings"): ("map",),
    ("routes", 8, "settings", "file_mode"): ("str",),
    ("accounts", 0, "name"): ("str",),
    ("accounts", 0, "systemusers", 0, "home"): ("str",),
    ("accounts", 0, "domains", 0, "name"): ("str",),
    ("accounts", 0, "domains", 0, "records"): ("list",),
    ("accounts", 0, "domains", 0, "records", 0, "values"): ("list",),
    ("accounts", 0, "domains", 0, "records", 0): ("map",),
    ("accounts", 0, "mailboxes", 0, "quota"): ("int", "null"),
    ("accounts", 0, "mailaddresses", 0, "forwards"): ("list",),
    ("accounts", 0, "webapps", 0, "php_version"): ("str", "null"),
    ("accounts", 0, "websites", 0, "domains"): ("list",),
    ("accounts", 0, "websites", 0, "contents", 0): ("map",),
    ("accounts", 0, "databaseusers", 0, "databases"): ("list",),
    ("accounts", 0, "mailinglists", 0, "description"): ("str",),
}

#: The objects of the example, with the class whose fields they hold.
OBJECTS: dict[Where, type[Any]] = {
    ("servers", 0): Server,
    ("routes", 0): Route,
    ("accounts", 0): Account,
    **{
        ("accounts", 0, plural, 0): cls
        for plural, cls in TYPES.items()
        if plural in BASE["accounts"][0]
    },
}

#: Text fields whose value is bounded (names, paths, addresses, a description).
BOUNDED_TEXT: tuple[Where, ...] = (
    ("servers", 0, "name"),
    ("routes", 5, "match"),
    ("accounts", 0, "name"),
    ("accounts", 0, "systemusers", 0, "home"),
    ("accounts", 0, "domains", 0, "name"),
    ("accounts", 0, "mailboxes", 0, "address"),
    ("accounts", 0, "databases", 0, "name"),
    ("accounts", 0, "mailinglists", 0, "description"),
)


def at(data: Any, where: Where) -> Any:
    for part in where:
        data = data[part]
    return data


def replaced(where: Where, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    at(data, where[:-1])[where[-1]] = value
    return data


VALUES = {
    "str": st.text(max_size=20),
    "int": st.integers(min_value=-(10**30), max_value=10**30),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "null": st.none(),
    "list": st.lists(st.integers(), max_size=3),
    "map": st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.integers(), max_size=2),
}


@st.composite
def wrong_types(draw: st.DrawFn) -> str:
    where = draw(st.sampled_from(sorted(FIELDS, key=str)))
    wrong = sorted(set(VALUES) - set(FIELDS[where]) - {"float"} | {"float"})
    kind = draw(st.sampled_from(wrong))
    return dump(replaced(where, draw(VALUES[kind])))


@st.composite
def missing_keys(draw: st.DrawFn) -> str:
    where = draw(st.sampled_from(sorted(OBJECTS, key=str)))
    required = [f.name for f in attrs.fields(OBJECTS[where]) if f.default is attrs.NOTHING]
    required = [name for name in required if name in at(BASE, where)]
    name = draw(st.sampled_from(required))
    data = copy.deepcopy(BASE)
    del at(data, where)[name]
    return dump(data)


def _known(where: Where) -> set[str]:
    if not where:
        return {"servers", "routes", "accounts"}
    known = {f.name for f in attrs.fields(OBJECTS[where])}
    return known | set(TYPES) if OBJECTS[where] is Account else known


@st.composite
def unknown_keys(draw: st.DrawFn) -> str:
    where = draw(st.sampled_from([(), *sorted(OBJECTS, key=str)]))
    name = draw(st.text(min_size=1, max_size=40).filter(lambda n: n not in _known(where)))
    data = copy.deepcopy(BASE)
    at(data, where)[name] = draw(VALUES["int"] | VALUES["str"])
    return dump(data)


@st.composite
def huge_values(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        size = draw(st.sampled_from([5000, 100_000]))  # over every bound, 4096 the largest
        letter = draw(st.sampled_from("ax0-é"))
        return dump(replaced(draw(st.sampled_from(BOUNDED_TEXT)), letter * size))
    number = draw(st.integers(min_value=2**63, max_value=10**4000) | st.integers(max_value=0))
    return dump(replaced(("accounts", 0, "mailboxes", 0, "quota"), number))


@st.composite
def hostile_names(draw: st.DrawFn) -> str:
    """A name that holds a control character, a line break or a terminal escape."""
    bad = draw(st.sampled_from(["\n", "\r", "\x00", "\x1b[2J", "\x1b]0;x\x07", "\x9b", "\u2028"]))
    name = draw(st.text(max_size=10)) + bad + draw(st.text(max_size=10))
    where = draw(st.sampled_from(BOUNDED_TEXT))
    return dump(replaced(where, name))


_SERVER_PATH = re.compile(r"/[A-Za-z0-9._~+@%=,:/-]*")


def _not_a_path(text: str) -> bool:
    return not _SERVER_PATH.fullmatch(text) or ".." in text.split("/")


@st.composite
def bad_paths(draw: st.DrawFn) -> str:
    """A path setting that a batch would fail on: a server's ``state_dir`` that is relative or
    holds ``..``, a space or a control character; the dummy's ``directory`` or ``pid_file``
    that is relative."""
    data = copy.deepcopy(BASE)
    where = draw(st.sampled_from(["state_dir", "directory", "pid_file"]))
    if where == "state_dir":  # orchestra's own: a plain absolute path
        value = draw(
            st.text(max_size=30).filter(_not_a_path)
            | st.sampled_from(["/var/../etc", "rel/dir", "/a b", "/x\n", "", "."])
        )
    else:  # the dummy's, which scripts quote: any absolute path
        value = draw(st.text(max_size=30).filter(lambda t: not t.startswith("/")))
    if where == "state_dir":
        data["servers"][3].setdefault("settings", {})["state_dir"] = value
    else:
        data["routes"][8]["settings"][where] = value
    return dump(data)


# -- edits of the text itself ---------------------------------------------------------------------

#: Lines of the example that end with a scalar value nothing accepts every kind of.
LINES = [
    "    root: sandbox/web1",
    "  - backend: dummy-domain",
    "  - name: acme",
    "        home: /home/acme",
    '        php_version: "8.2"',
    "      - name: acme_shop",
    '        description: "Acme news \u2013 product announcements"',
    "        quota: 1073741824",
    '      file_mode: "0600"',
]


def _index(line: str) -> int:
    lines = TEXT.splitlines()
    assert lines.count(line) == 1, line
    return lines.index(line)


def with_value(line: str, value: str) -> str:
    """The example with ``line``'s value replaced by ``value``, as YAML text."""
    lines = TEXT.splitlines()
    key, _, _ = line.partition(": ")
    lines[_index(line)] = f"{key}: {value}"
    return "\n".join(lines) + "\n"


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([65, 100, 999, 1001, 3000]))
    flow = draw(st.booleans())
    value = "[" * depth + "]" * depth if flow else "{a: " * depth + "1" + "}" * depth
    return with_value(draw(st.sampled_from(LINES)), value)


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    levels = draw(st.integers(min_value=5, max_value=9))
    width = 10
    parts = [f"&l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        parts.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return with_value(draw(st.sampled_from(LINES)), "[" + ", ".join(parts) + "]")


@st.composite
def duplicates(draw: st.DrawFn) -> str:
    """A line twice: the same key twice in a mapping, or the same object twice in a list."""
    line = draw(st.sampled_from(LINES))
    lines = TEXT.splitlines()
    lines.insert(_index(line), line)
    return "\n".join(lines) + "\n"


@st.composite
def tags(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(LINES))
    numeric = line.endswith("1073741824")
    choices = [
        "!!binary aGVsbG8=",
        "!!python/object:os.system x",
        "!!python/name:os.system ''",
        "!foo bar",
        "!!set {a, b}",
        "!!timestamp 2001-01-01",
        "!!omap [a: 1]",
        "!!pairs [a: 1]",
        "!!float 1",
        "!!bool true",
        "!!str 5" if numeric else "!!int 5",
    ]
    return with_value(line, draw(st.sampled_from(choices)))


@st.composite
def surrogates(draw: st.DrawFn) -> bytes:
    code = draw(st.integers(min_value=0xD800, max_value=0xDFFF))
    line = draw(st.sampled_from(LINES))
    if draw(st.booleans()):  # as a YAML escape
        return with_value(line, f'"a\\u{code:04x}b"').encode()
    raw = with_value(line, f'"a{chr(code)}b"')  # as it would be written: not UTF-8
    return raw.encode("utf-8", errors="surrogatepass")


@st.composite
def not_utf8(draw: st.DrawFn) -> bytes:
    data = TEXT.encode()
    junk = draw(
        st.binary(min_size=1, max_size=4).filter(lambda b: _invalid(b))
        | st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    )
    where = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:where] + junk + data[where:]


def _invalid(data: bytes) -> bool:
    try:
        (b"a" + data + b"a").decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@st.composite
def long_numbers(draw: st.DrawFn) -> str:
    digits = draw(st.integers(min_value=4301, max_value=20_000))
    return with_value("        quota: 1073741824", "9" * digits)


# -- the tests ------------------------------------------------------------------------------------


def test_the_example_itself_is_valid(folder: Path) -> None:
    run = validate(TEXT, folder)
    assert run.code == 0, run.stderr
    assert dump(BASE) and validate(dump(BASE), folder).code == 0  # and so is its dump


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param(wrong_types(), id="wrong-types"),
        pytest.param(missing_keys(), id="missing-keys"),
        pytest.param(unknown_keys(), id="unknown-keys"),
        pytest.param(huge_values(), id="huge-values"),
        pytest.param(hostile_names(), id="hostile-names"),
        pytest.param(bad_paths(), id="bad-paths"),
        pytest.param(deep_nesting(), id="nesting"),
        pytest.param(alias_bombs(), id="bombs"),
        pytest.param(duplicates(), id="duplicates"),
        pytest.param(tags(), id="tags"),
        pytest.param(surrogates(), id="surrogates"),
        pytest.param(not_utf8(), id="not-utf8"),
        pytest.param(long_numbers(), id="long-numbers"),
    ],
)
def test_every_malformed_inventory_is_refused_at_a_line(
    folder: Path, malformed: st.SearchStrategy[str | bytes]
) -> None:
    @BUDGET
    @given(malformed)
    def check(text: str | bytes) -> None:
        refused(validate(text, folder))

    check()


@pytest.mark.parametrize(
    "malformed",
    [
        pytest.param(deep_nesting(), id="nesting"),
        pytest.param(alias_bombs(), id="bombs"),
        pytest.param(tags(), id="tags"),
        pytest.param(surrogates(), id="surrogates"),
    ],
)
def test_the_pure_python_parser_refuses_them_at_a_line_too(
    folder: Path, monkeypatch: pytest.MonkeyPatch, malformed: st.SearchStrategy[str | bytes]
) -> None:
    """PyYAML without libyaml (a build without it, a platform with no wheel) reads these
    differently: its composer recurses, and it lets an escaped surrogate through."""
    monkeypatch.setattr(located, "_LOADER", located._DepthLimitedLoader)

    @PURE_BUDGET
    @given(malformed)
    def check(text: str | bytes) -> None:
        refused(validate(text, folder))

    check()
