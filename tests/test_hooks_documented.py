"""Every hook is documented in docs/hooks.md and has a test of its own; the docs' examples run.

Hooks are the functions of ``orchestra_core.hookspecs`` that carry pluggy's spec marker
(the ``orchestra_spec`` attribute). For each, docs/hooks.md must have a heading that is its
exact signature, under the heading of its family (the banner it sits under in hookspecs.py),
and some ``tests/**/*.py`` must define ``test_hook_<name>`` or ``test_hook_<name>_...``.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orchestra_core import hookspecs
from orchestra_core.execution.results import OperationLog, State
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan
from orchestra_core.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "hooks.md"
TESTS = ROOT / "tests"
SPEC_MARKER = f"{hookspecs.PROJECT}_spec"


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every function of hookspecs.py marked as a hook spec, by name."""
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, SPEC_MARKER)
    }


HOOKS = sorted(hook_specs())


def signature_heading(func: Callable[..., Any]) -> str:
    """``## name(arg: Type) -> Return``, with annotations as written in hookspecs.py."""
    sig = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"## {func.__name__}({params}) -> {sig.return_annotation}"


def families() -> dict[str, str]:
    """Hook name -> family, from the ``# family`` banners of hookspecs.py."""
    out: dict[str, str] = {}
    family = None
    lines = inspect.getsource(hookspecs).splitlines()
    for previous, line in zip(["", *lines], lines, strict=False):
        banner = re.fullmatch(r"# ([a-z][a-z ]*)", line)
        if banner and previous.startswith("# ---"):
            family = banner.group(1)
        hook = re.match(r"def (orchestra_\w+)\(", line)
        if hook:
            assert family is not None, f"{hook.group(1)} is not under a family banner"
            out[hook.group(1)] = family
    return out


def doc_headings() -> Iterator[tuple[str | None, str]]:
    """Each ``## `` heading of docs/hooks.md with the ``# `` heading it sits under."""
    section = None
    in_code = False
    for line in DOCS.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("# "):
            section = line[2:].strip().lower()
        elif not in_code and line.startswith("## "):
            yield section, line.rstrip()


def test_hookspecs_are_found() -> None:
    assert "orchestra_backends" in HOOKS
    assert "orchestra_operation_finished" in HOOKS
    assert all(name.startswith("orchestra_") for name in HOOKS)
    assert set(families()) == set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_under_its_family(name: str) -> None:
    expected = signature_heading(hook_specs()[name])
    headings = list(doc_headings())
    matching = [(section, h) for section, h in headings if h.startswith(f"## {name}(")]
    assert matching, f"docs/hooks.md has no section '{expected}'"
    assert len(matching) == 1, f"docs/hooks.md documents {name} twice"
    section, heading = matching[0]
    assert heading == expected, "the heading must be the hook's signature"
    assert section == families()[name], f"{name} belongs under '# {families()[name]}'"


def test_docs_document_no_unknown_hook() -> None:
    documented = {
        m.group(1) for _, h in doc_headings() if (m := re.match(r"## (orchestra_\w+)\(", h))
    }
    assert documented == set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name: str) -> None:
    pattern = re.compile(rf"^\s*(?:async\s+)?def test_hook_{name}(?:_\w+)?\(", re.MULTILINE)
    files = [p for p in TESTS.rglob("*.py") if pattern.search(p.read_text())]
    assert files, f"no test function named test_hook_{name} or test_hook_{name}_... in tests/"


# -- the examples of docs/hooks.md run ------------------------------------------------------------


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOCS.read_text(), re.MULTILINE | re.DOTALL)


@pytest.fixture
def example_plugin(tmp_path: Path) -> Iterator[ModuleType]:
    """The plugin module that the ``python`` blocks of docs/hooks.md build, imported."""
    blocks = python_blocks()
    assert len(blocks) >= len(HOOKS)
    path = tmp_path / "acme_hosting_plugin.py"
    path.write_text("\n\n".join(blocks))
    spec = importlib.util.spec_from_file_location("acme_hosting_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs and dataclass-like machinery look modules up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_docs_example_plugin_loads_and_implements_every_hook(example_plugin: ModuleType) -> None:
    from orchestra_core.catalogue import plugin as catalogue

    implemented = {name for name in HOOKS if hasattr(example_plugin, name)}
    assert implemented == set(HOOKS)
    registry = Registry.load(
        entry_points=False, extra={"catalogue": catalogue, "acme": example_plugin}
    )
    assert registry.service_types["certificate"] is example_plugin.Certificate
    assert registry.backends["acme-certbot"].plugin.name == "acme"
    assert registry.monitors["acme-maildir-size"] is example_plugin.MaildirSize
    assert registry.resources["acme-mailbox-disk"] is example_plugin.MAILBOX_DISK
    assert registry.billing_metrics["acme_mailbox_storage"].resource == "acme-mailbox-disk"


def test_docs_example_backend_renders(example_plugin: ModuleType) -> None:
    from orchestra_core.backends.base import RenderContext
    from orchestra_core.rendering.templates import Templates

    cert = example_plugin.Certificate(account="acme", domain="shop.example.com")
    assert cert.key == "certificate:shop.example.com"
    assert cert.check() == []
    assert [e.field for e in example_plugin.Certificate(account="a", domain="*.x.org").check()] == [
        "domain"
    ]
    backend = example_plugin.CertbotBackend(templates=Templates.for_package("orchestra_core.dummy"))
    ctx = RenderContext(
        obj=cert,
        action="save",
        server=Server(name="web1", root="/srv/sandbox"),
        settings=example_plugin.CertbotSettings(),
        index=ServiceIndex(services=[cert]),
    )
    (step,) = backend.render(ctx)
    assert step.script == (
        "/usr/bin/certbot certonly --non-interactive --webroot -w /var/www/acme -d shop.example.com"
    )
    assert step.unless == "test -e /srv/sandbox/etc/letsencrypt/live/shop.example.com/fullchain.pem"


def test_docs_example_monitor_parses_its_output(example_plugin: ModuleType) -> None:
    from datetime import UTC, datetime

    from orchestra_core.catalogue import Mailbox

    box = Mailbox(account="acme", address="info@example.com")
    monitor = example_plugin.MaildirSize()
    (step,) = monitor.render([box], Server(name="mail1"), None)
    assert step.script == (
        "printf '%s\\t' mailbox:info@example.com; du -sb /var/mail/info@example.com | cut -f1"
    )
    when = datetime(2026, 1, 31, tzinfo=UTC)
    (sample,) = monitor.parse("mailbox:info@example.com\t4096\n", [box], when)
    assert (sample.object_key, sample.value, sample.measured_at) == (box.key, 4096.0, when)


def test_docs_example_events(example_plugin: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry.load(entry_points=False, extra={"acme": example_plugin})
    registry.plan_ready(Plan())  # a small plan passes the change policy
    failed = OperationLog(
        operation_id="op-1",
        server="web1",
        backend="acme-certbot",
        action="save",
        object_keys=("certificate:shop.example.com",),
        state=State.FAILURE,
        stderr="too many certificates already issued\n",
    )
    with caplog.at_level(logging.WARNING, logger="acme.alerts"):
        registry.operation_finished(failed)
    (record,) = [r for r in caplog.records if r.name == "acme.alerts"]
    assert record.getMessage() == (
        "save certificate:shop.example.com on web1 ended failure: "
        "too many certificates already issued"
    )
