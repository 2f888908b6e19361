"""The engine with a store: applied state, server locks, retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra_core import Account, Orchestra, Route, Server
from orchestra_core.catalogue import Domain, SystemUser
from orchestra_core.errors import PlanningError
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.protocol import ServerBusy

ACME = Account(name="acme")
DOMAIN = Domain(account="acme", name="a.example")
USER = SystemUser(account="acme", name="acme")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Orchestra, MemoryStore, Path]:
    store = MemoryStore()
    root = tmp_path / "root"
    orchestra = Orchestra(
        servers=[Server(name="box", root=str(root)), Server(name="dns", root=str(root / "dns"))],
        routes=[
            Route(backend="dummy-domain", servers=("dns",)),
            Route(backend="dummy-systemuser", servers=("box",)),
        ],
        store=store,
    )
    return orchestra, store, root


def apply_all(orchestra: Orchestra, store: MemoryStore, *objects: object) -> object:
    plan = orchestra.plan_inventory([ACME], objects, allow_deletes=True)  # type: ignore[arg-type]
    return orchestra.apply(plan)


def test_only_objects_whose_operations_all_succeeded_count_as_applied(
    setup: tuple[Orchestra, MemoryStore, Path],
) -> None:
    orchestra, store, root = setup
    blocker = root / "var/lib/orchestra-dummy/systemuser"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    result = apply_all(orchestra, store, DOMAIN, USER)
    assert not result.ok  # type: ignore[attr-defined]
    assert set(store.applied()) == {"domain:a.example"}
    assert store.desired("systemuser:acme") is not None
    assert [s.name for s in store.servers()] == ["box", "dns"] and len(store.routes()) == 2
    blocker.unlink()
    again = orchestra.plan_inventory([ACME], [DOMAIN, USER]).summary
    assert again is not None
    assert again.new == ("systemuser:acme",) and again.changed == ()


def test_a_busy_server_refuses_the_apply_before_anything_runs(
    setup: tuple[Orchestra, MemoryStore, Path],
) -> None:
    orchestra, store, root = setup
    store.lock_servers(["dns"], "elsewhere:1")
    with pytest.raises(ServerBusy, match="server dns is being applied by elsewhere:1"):
        apply_all(orchestra, store, DOMAIN, USER)
    assert not root.exists() and store.list_logs() == []
    store.unlock_servers(["dns"], "elsewhere:1")
    assert apply_all(orchestra, store, DOMAIN).ok  # type: ignore[attr-defined]
    store.lock_servers(["dns"], "me:2")  # the apply released its lock


def test_retry_reruns_the_failed_operation_linked_to_it(
    setup: tuple[Orchestra, MemoryStore, Path],
) -> None:
    orchestra, store, root = setup
    blocker = root / "var/lib/orchestra-dummy/systemuser"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    first = apply_all(orchestra, store, DOMAIN, USER)
    [failed] = [log for log in first.logs if not log.state.is_ok and log.action == "save"]  # type: ignore[attr-defined]
    with pytest.raises(PlanningError, match="nothing to retry"):
        orchestra.retry(next(log.id for log in first.logs if log.state.is_ok))  # type: ignore[attr-defined]
    blocker.unlink()
    result = orchestra.retry(failed.id)
    assert result.ok
    [new] = [log for log in result.logs if log.action == "save"]
    assert (new.retry_of, new.operation_id, new.backend) == (
        failed.id,
        failed.operation_id,
        "dummy-systemuser",
    )
    assert store.get_log(new.id).retry_of == failed.id
    assert set(store.applied()) == {"domain:a.example", "systemuser:acme"}
    assert (root / "var/lib/orchestra-dummy/systemuser/acme.conf").exists()


def test_an_object_whose_reload_was_aborted_is_not_applied(tmp_path: Path) -> None:
    store = MemoryStore()
    root = tmp_path / "root"
    orchestra = Orchestra(
        servers=[Server(name="box", root=str(root))],
        routes=[Route(backend=b, servers=("box",)) for b in ("dummy-domain", "dummy-systemuser")],
        store=store,
    )
    blocker = root / "var/lib/orchestra-dummy/systemuser"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    result = apply_all(orchestra, store, DOMAIN, USER)
    assert [(log.action, log.state.value) for log in result.logs] == [  # type: ignore[attr-defined]
        ("save", "success"),
        ("save", "failure"),
        ("reload", "aborted"),
    ]
    # The domain's file is in place, but the daemon never reloaded it: not applied.
    assert store.applied() == {}


def test_an_incremental_apply_writes_only_the_objects_it_touched(
    setup: tuple[Orchestra, MemoryStore, Path],
) -> None:
    import attrs

    orchestra, store, _ = setup
    assert apply_all(orchestra, store, DOMAIN, USER).ok  # type: ignore[attr-defined]
    written: list[list[str]] = []
    original = store.record_placements

    def spy(recorded, forgotten=(), *, contents=None):  # type: ignore[no-untyped-def]
        written.append([p.object_key for p in recorded])
        return original(recorded, forgotten, contents=contents)

    store.record_placements = spy  # type: ignore[method-assign]
    assert apply_all(orchestra, store, attrs.evolve(DOMAIN, ttl=60), USER).ok  # type: ignore[attr-defined]
    assert written == [["domain:a.example"]]
    assert store.applied()["domain:a.example"].data["ttl"] == 60
    assert store.desired("systemuser:acme") is not None  # from the first apply
