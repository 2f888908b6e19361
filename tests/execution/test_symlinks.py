"""A symlink planted on a server cannot redirect what a batch writes: every path a batch
writes, appends to, copies to, moves or removes goes through one check (``__o_safe`` in the
batch) that refuses a symlink under the sandbox root, and elsewhere one that someone other
than root could have planted. Each case here wrote outside the sandbox before that check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Record
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.testing.harness import describe

ACME = Account(name="acme")
NOBODY = 65534


def domain(value: str = "192.0.2.1") -> Domain:
    return Domain(account="acme", name="acme.example", records=(Record(type="A", values=(value,)),))


def engine(root: Path | None, settings: dict[str, object] | None = None) -> Orchestra:
    server = Server(
        name="box", root=str(root) if root is not None else None, settings=settings or {}
    )
    return Orchestra(servers=[server], routes=[Route(backend="dummy-domain", servers=("box",))])


def apply(orchestra: Orchestra, obj: Domain) -> ApplyResult:
    plan = orchestra.plan(ChangeSet().save(obj), index=ServiceIndex([ACME], [obj]))
    return orchestra.apply(plan)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside"
    target.mkdir()
    (target / "precious").write_text("keep me\n")
    return target


def test_a_symlinked_reload_log_is_not_appended_to(sandbox: Path, outside: Path) -> None:
    orchestra = engine(sandbox)
    assert apply(orchestra, domain()).ok
    log = sandbox / "var/lib/orchestra-dummy/reloads.log"
    log.unlink()
    log.symlink_to(outside / "precious")
    result = apply(orchestra, domain("192.0.2.2"))
    assert (outside / "precious").read_text() == "keep me\n"
    assert not result.ok and "symlink" in describe(result), describe(result)


def test_a_symlinked_reload_marker_is_not_truncated(sandbox: Path, outside: Path) -> None:
    orchestra = engine(sandbox)
    assert apply(orchestra, domain()).ok
    markers = sandbox / "var/lib/orchestra/pending-reload"
    markers.mkdir(parents=True, exist_ok=True)
    (markers / "box.dummy").symlink_to(outside / "precious")
    result = apply(orchestra, domain("192.0.2.2"))
    assert (outside / "precious").read_text() == "keep me\n"
    assert not result.ok, describe(result)


def test_a_symlinked_marker_folder_makes_no_marker_outside(sandbox: Path, outside: Path) -> None:
    orchestra = engine(sandbox)
    assert apply(orchestra, domain()).ok
    state = sandbox / "var/lib/orchestra"
    state.mkdir(parents=True, exist_ok=True)
    if (state / "pending-reload").exists():
        os.rmdir(state / "pending-reload")
    (state / "pending-reload").symlink_to(outside)
    result = apply(orchestra, domain("192.0.2.2"))
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert not result.ok, describe(result)


@pytest.mark.skipif(os.geteuid() != 0, reason="planting a link as another user needs root")
def test_a_link_a_customer_planted_on_a_real_server_is_not_followed(
    tmp_path: Path, outside: Path
) -> None:
    """No sandbox: the dummy's folder lies in a customer's home, where the customer (not
    root) replaced a folder by a link to one of root's."""
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    (home / "dummy").symlink_to(outside)
    os.lchown(home / "dummy", NOBODY, NOBODY)
    settings = {"dummy-domain": {"directory": str(home / "dummy")}, "state_dir": str(tmp_path)}
    result = apply(engine(None, settings), domain())
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert not result.ok and "refusing to follow the symlink" in describe(result), describe(result)


def test_a_link_root_made_on_a_real_server_is_followed(tmp_path: Path, outside: Path) -> None:
    """An operator's own link (owned by the batch's user, in a folder only it may write) is
    how servers are laid out: it is followed."""
    (tmp_path / "dummy").symlink_to(outside)
    settings = {"dummy-domain": {"directory": str(tmp_path / "dummy")}, "state_dir": str(tmp_path)}
    result = apply(engine(None, settings), domain())
    assert result.ok, describe(result)
    assert (outside / "domain/acme.example.conf").exists()
