"""Every error of a route's ``match`` names the route's file and line: at load for every kind
of object a route sends, at plan time for objects the inventory did not hold, and for objects
that hold hostile values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import attrs
import pytest

from orchestra_core import Orchestra
from orchestra_core.catalogue import WebApp
from orchestra_core.errors import RouteError
from orchestra_core.inventory.loader import load_inventory
from orchestra_core.planning.changeset import ChangeSet
from orchestra_core.registry import Registry
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.hostile import corpus
from tests.inventory.cli_run import EXAMPLES, validate

HOSTING = (EXAMPLES / "hosting.yaml").read_text()
WEBAPP_MATCH = "    match: 'webapp.type == \"php\"'"
#: The backends of the example's routes whose kind the example has objects of.
ROUTED = re.findall(r"^  - backend: (\S+)\n    servers: \[\w+\]\n", HOSTING, re.MULTILINE)


def _with_match(backend: str, match: str) -> tuple[str, int]:
    """The example with ``match`` on the route of ``backend`` (replacing one it has), and the
    line of that match."""
    head = f"  - backend: {backend}\n"
    start = HOSTING.index(head)
    servers_end = HOSTING.index("\n", start + len(head)) + 1
    rest = HOSTING[servers_end:]
    if rest.startswith("    match: "):
        rest = rest[rest.index("\n") + 1 :]
    text = HOSTING[:servers_end] + f"    match: {json.dumps(match)}\n" + rest
    return text, HOSTING[:servers_end].count("\n") + 1


@pytest.mark.parametrize("backend", ROUTED)
@pytest.mark.parametrize(
    ("match", "said"),
    [
        ("nosuch", "'nosuch' is undefined"),
        ("obj.key.center(10**9) != ''", "refused: center() would build"),
        ("obj.__class__", "not allowed: access to attribute '__class__'"),
        ("(obj.key ~ '%0999999999d') % 1 != ''", "refused: the % operator"),
    ],
    ids=["undefined", "center", "internal", "percent"],
)
def test_a_failing_match_names_its_file_and_line_for_every_kind(
    backend: str, match: str, said: str, tmp_path: Path
) -> None:
    text, line = _with_match(backend, match)
    run = validate(text, tmp_path)
    assert run.code == 2, run.stdout
    assert run.error().startswith(f"{line}: route "), run.stderr
    assert said in run.error(), run.stderr


def test_every_routed_kind_is_tried() -> None:
    assert len(ROUTED) >= 8 and "dummy-domain" in ROUTED and "disk-usage" in ROUTED


def test_a_match_failing_at_plan_time_names_its_file_and_line(tmp_path: Path) -> None:
    """The inventory's webapps all have a tier, so it loads; an application then plans a
    webapp that has none: the route's error says where the route is."""
    path = tmp_path / "inv.yaml"
    text = HOSTING.replace(WEBAPP_MATCH, "    match: 'webapp.options.tier == \"gold\"'", 1)
    text = text.replace('        php_version: "8.2"\n', '        php_version: "8.2"\n'
                        "        options: {tier: gold}\n", 1)  # fmt: skip
    path.write_text(text)
    registry = Registry.load()
    inventory = load_inventory(path, service_types=registry.by_plural(), base_dir=tmp_path)
    line = text.splitlines().index("    match: 'webapp.options.tier == \"gold\"'") + 1
    orchestra = Orchestra(
        servers=inventory.servers, routes=inventory.routes, registry=registry, store=MemoryStore()
    )
    shop = next(obj for obj in inventory.services if isinstance(obj, WebApp))
    other = attrs.evolve(shop, name="other", options={})
    try:
        with pytest.raises(RouteError) as caught:
            orchestra.plan(ChangeSet().save(other), accounts=inventory.accounts)
    finally:
        orchestra.close()
    assert str(caught.value).startswith(f"{path}:{line}: route "), str(caught.value)
    assert caught.value.object_key == other.key
    assert caught.value.reason == "'dict object' has no attribute 'tier'"


def test_an_object_holding_a_hostile_format_is_refused_at_the_route(tmp_path: Path) -> None:
    """A customer's own value used as a format by the route: it is the route that is refused,
    at its line, before the billion characters are built."""
    text = HOSTING.replace(WEBAPP_MATCH, "    match: 'webapp.options.motd.format(1) != \"\"'", 1)
    text = text.replace('        php_version: "8.2"\n', '        php_version: "8.2"\n'
                        '        options: {motd: "{0:>999999999}"}\n', 1)  # fmt: skip
    run = validate(text, tmp_path)
    line = text.splitlines().index("    match: 'webapp.options.motd.format(1) != \"\"'") + 1
    assert run.code == 2
    assert run.error().startswith(f"{line}: route "), run.stderr
    assert "for webapp:acme/shop: refused: a format field would build" in run.error()


@pytest.mark.parametrize("name", sorted(corpus("/nonexistent/canary")))
def test_objects_holding_hostile_values_fail_a_match_at_its_line(name: str, tmp_path: Path) -> None:
    """Every hostile value in an object's field that the match formats and compares: valid,
    or refused with a file and line (the option's or the route's), never a traceback."""
    value = corpus("/nonexistent/canary")[name]
    match = "    match: 'webapp.options.v.format(webapp.name) ~ webapp.options.v != \"\"'"
    text = HOSTING.replace(WEBAPP_MATCH, match, 1)
    text = text.replace('        php_version: "8.2"\n', '        php_version: "8.2"\n'
                        f"        options: {{v: {json.dumps(value)}}}\n", 1)  # fmt: skip
    run = validate(text, tmp_path)
    assert run.exception is None, run.exception
    assert run.code in (0, 2), run.stderr
    if run.code == 2:
        assert re.match(rf"error: {re.escape(run.file)}:\d+: ", run.stderr), run.stderr
        assert "\x1b" not in run.stderr and "\x00" not in run.stderr
