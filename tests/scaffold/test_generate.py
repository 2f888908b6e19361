"""The driver generator: names, refusals, tokens, and what it writes for every catalogue kind.

These run in-process and start nothing; ``test_new_driver.py`` installs a generated driver and
runs its own tests.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestra_core import ChangeSet, Route, Server, ServiceIndex
from orchestra_core.catalogue import CATALOGUE
from orchestra_core.engine import Orchestra
from orchestra_core.model.service import Account
from orchestra_core.registry import Registry
from orchestra_core.scaffold import (
    EXAMPLES,
    KINDS,
    ScaffoldError,
    driver_names,
    new_driver,
    render_tree,
)
from orchestra_core.scaffold.examples import source
from orchestra_core.scaffold.generate import SUFFIX, TOKEN, replace_tokens, template_root
from orchestra_core.testing.golden import Golden, rendered_files

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "orchestra_core" / "scaffold" / "driver"
RUFF = Path(sys.executable).with_name("ruff")
#: The ``generate`` fixture: ``generate(name, kind)`` writes a driver into the temp dir.
Generate = Callable[..., Path]

#: What a new driver called mydaemon holds.
FILES = [
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "src/orchestra_mydaemon/__init__.py",
    "src/orchestra_mydaemon/backend.py",
    "src/orchestra_mydaemon/plugin.py",
    "src/orchestra_mydaemon/py.typed",
    "src/orchestra_mydaemon/settings.py",
    "src/orchestra_mydaemon/stubd.py",
    "src/orchestra_mydaemon/templates/object.conf.j2",
    "src/orchestra_mydaemon/templates/reload.sh.j2",
    "src/orchestra_mydaemon/testing.py",
    "tests/conftest.py",
    "tests/examples_mydaemon.py",
    "tests/golden/test_mydaemon_golden/saved/commands/01-reload-mydaemon.sh",
    "tests/golden/test_mydaemon_golden/saved/etc/mydaemon/orchestra/example.com.conf",
    "tests/golden/test_mydaemon_golden/suspended/etc/mydaemon/orchestra/example.com.conf",
    "tests/test_mydaemon_backend.py",
    "tests/test_mydaemon_contract.py",
    "tests/test_mydaemon_golden.py",
    "tests/test_mydaemon_stubd.py",
]


# -- names -----------------------------------------------------------------------------------------


def test_names_of_a_driver() -> None:
    names = driver_names("php-fpm", "webapp")
    assert names.distribution == "orchestra-php-fpm"
    assert names.package == "orchestra_php_fpm"
    assert names.ident == "php_fpm"
    assert names.class_prefix == "PhpFpm"
    assert names.backend == "php-fpm-webapp"
    assert names.service_class == "WebApp"


@pytest.mark.parametrize("name", ["mydaemon", "exim4", "php-fpm", "power_dns", "a", "a" * 20])
def test_good_names_are_taken(name: str) -> None:
    assert driver_names(name).name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "MyDaemon",
        "4exim",
        "my daemon",
        "my--daemon",
        "-x",
        "x-",
        "my.daemon",
        "café",
        "a/b",
        "a" * 21,
    ],
)
def test_bad_names_are_refused_saying_what_a_name_is(name: str) -> None:
    with pytest.raises(ScaffoldError) as refused:
        driver_names(name)
    assert f"driver name {name!r} is not valid" in str(refused.value)
    assert "lower-case letters and digits" in str(refused.value)


@pytest.mark.parametrize("name", ["core", "dummy", "catalogue"])
def test_names_of_orchestra_core_itself_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="taken by orchestra-core itself"):
        driver_names(name)


def test_an_unknown_kind_is_refused_listing_the_kinds() -> None:
    with pytest.raises(ScaffoldError) as refused:
        driver_names("mydaemon", "zone")
    message = str(refused.value)
    assert "unknown service kind 'zone'" in message
    for kind in KINDS:
        assert kind in message


def test_the_kinds_are_the_catalogue_and_each_has_examples() -> None:
    assert set(KINDS) == {t.kind for t in CATALOGUE}
    assert set(EXAMPLES) == set(KINDS)


# -- writing ---------------------------------------------------------------------------------------


def test_new_driver_writes_the_files_of_a_driver(generate: Generate, tmp_path: Path) -> None:
    target = generate()
    assert target == tmp_path / "orchestra-mydaemon"
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == FILES


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "orchestra-mydaemon"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(ScaffoldError) as refused:
        new_driver("mydaemon", "domain", tmp_path)
    assert str(target) in str(refused.value)
    assert "already exists" in str(refused.value)
    assert [p.name for p in target.iterdir()] == ["mine.txt"]
    assert (target / "mine.txt").read_text() == "keep me"


def test_the_directory_is_created_when_missing(tmp_path: Path) -> None:
    target = new_driver("mydaemon", "domain", tmp_path / "a" / "b")
    assert (target / "pyproject.toml").is_file()


def test_a_refused_name_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError):
        new_driver("Bad Name", "domain", tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- tokens ----------------------------------------------------------------------------------------


def test_tokens_are_replaced_once_and_unknown_ones_refused() -> None:
    assert replace_tokens("a @@x@@ b @@x@@", {"x": "@@y@@"}) == "a @@y@@ b @@y@@"
    with pytest.raises(ScaffoldError, match=r"here: unknown token @@nope@@"):
        replace_tokens("@@nope@@", {"x": "1"}, where="here")


def test_every_template_file_has_the_suffix() -> None:
    files = [p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert files
    assert [p for p in files if not p.name.endswith(SUFFIX)] == []


def test_every_token_is_used_and_known() -> None:
    used: set[str] = set()
    for path in TEMPLATES.rglob(f"*{SUFFIX}"):
        used.update(TOKEN.findall(str(path.relative_to(TEMPLATES))))
        used.update(TOKEN.findall(path.read_text(encoding="utf-8")))
    assert used == set(driver_names("mydaemon").tokens())


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_is_left_for_any_kind(kind: str) -> None:
    files = render_tree(driver_names("x-" + kind, kind))
    assert len(files) == len(FILES)
    for path, content in files.items():
        assert "@@" not in path
        assert "@@" not in content, f"{path} keeps a token"


def test_the_template_tree_ships_as_package_data() -> None:
    """pyproject's package-data patterns cover every template file (a wheel holds them)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["orchestra_core"]
    package = ROOT / "src" / "orchestra_core"
    shipped = {p for pattern in patterns for p in package.glob(pattern)}
    templates = {p for p in TEMPLATES.rglob(f"*{SUFFIX}")}
    assert templates <= shipped
    assert template_root().joinpath("pyproject.toml" + SUFFIX).is_file()


# -- what is generated, for every kind -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_generated_python_compiles(kind: str) -> None:
    for path, content in render_tree(driver_names("x-" + kind, kind)).items():
        if path.endswith(".py"):
            compile(content, path, "exec")


@pytest.mark.parametrize("kind", KINDS)
def test_examples_are_valid_objects_and_their_source_builds_them(kind: str) -> None:
    objects = EXAMPLES[kind]
    index = ServiceIndex([Account(name="acme")], objects)
    for obj in objects:
        assert obj.check() == [], obj
        assert obj.check_references(index) == [], obj
    namespace: dict[str, object] = {}
    files = render_tree(driver_names("x", kind))
    exec(compile(files["tests/examples_x.py"], "examples_x.py", "exec"), namespace)
    assert namespace["OBJECTS"] == list(objects)


def test_source_explodes_what_does_not_fit_on_its_line() -> None:
    [user, *_] = EXAMPLES["databaseuser"]
    assert source(user) == 'DatabaseUser(account="acme", username="shopuser", databases=("shop",))'
    [website, *_] = EXAMPLES["website"]
    assert source(website, 4).splitlines() == [
        "Website(",
        '        account="acme",',
        '        name="site",',
        '        domains=("example.com", "www.example.com"),',
        '        contents=(WebsiteContent(webapp="app"),),',
        "    )",
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_golden_files_match_what_the_backend_renders(
    kind: str, generate: Generate, import_generated: Callable[[Path], None]
) -> None:
    """The golden files are templates too: for every kind they must be what the generated
    backend renders, or the generated golden test would fail at once."""
    names = driver_names("g-" + kind, kind)
    target = generate(names.name, kind)
    import_generated(target)
    plugin = importlib.import_module(f"{names.package}.plugin")
    registry = Registry.load(extra={names.name: plugin})
    engine = Orchestra(
        servers=[Server(name="box")],
        routes=[Route(backend=names.backend, servers=("box",))],
        registry=registry,
    )
    golden = Golden(target / "tests" / "golden" / f"test_{names.ident}_golden")
    objects = EXAMPLES[kind]
    for snapshot, active in (("saved", True), ("suspended", False)):
        index = ServiceIndex([Account(name="acme", is_active=active)], objects)
        plan = engine.plan(ChangeSet().save(objects[0]), index=index)
        golden.check(snapshot, rendered_files(plan, reloads=active))
    engine.close()


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is not installed beside this python")
def test_generated_code_passes_ruff_for_every_kind_and_a_long_name(tmp_path: Path) -> None:
    """ruff check and ruff format: names of every length and every kind keep lines short and
    imports sorted (mypy runs on one generated driver in test_new_driver.py)."""
    for kind in KINDS:
        new_driver("k-" + kind, kind, tmp_path)
    new_driver("abcdefghij-klmnopqrs", "databaseuser", tmp_path)
    new_driver("z", "website", tmp_path)
    for args in (["check", "--no-cache"], ["format", "--no-cache", "--check"]):
        done = subprocess.run([str(RUFF), *args, "."], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_no_template_line_is_too_long_for_the_longest_name() -> None:
    """The budget that keeps the previous test green: a token line grows by the name."""
    longest = driver_names("a" * 20, "databaseuser").tokens()
    for path in TEMPLATES.rglob("*.py" + SUFFIX):
        text = replace_tokens(path.read_text(encoding="utf-8"), longest, where=path.name)
        for number, line in enumerate(text.splitlines(), start=1):
            assert len(line) <= 100, f"{path.name}:{number} is {len(line)} long with {line!r}"


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = new_driver("mydaemon", "domain", tmp_path / "one")
    second = new_driver("mydaemon", "domain", tmp_path / "two")
    for path in first.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (second / path.relative_to(first)).read_bytes()
