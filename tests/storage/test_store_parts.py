"""Every store meets, structurally, what each consumer declares it needs: execution's log
sink and outcome store, resources' usage reader and writer, billing's record store, and the
storage parts themselves. Run against every store of the contract suite."""

from __future__ import annotations

from orchestra_core.billing.records import RecordStore
from orchestra_core.execution.executor import LogSink
from orchestra_core.execution.outcome import Lifetimes, OutcomeStore
from orchestra_core.resources.usage import UsageLedger, UsageReader, UsageWriter
from orchestra_core.storage import LockStore, LogStore, StateStore, Store, UsageStore


def test_a_store_is_every_part_its_consumers_ask_for(store: Store) -> None:
    for part in (Store, LogStore, StateStore, LockStore, LogSink, OutcomeStore):
        assert isinstance(store, part), part.__name__
    for part in (UsageStore, UsageReader, UsageWriter, UsageLedger, RecordStore, Lifetimes):
        assert isinstance(store.usage, part), part.__name__


def test_the_parts_split_the_store_without_overlap() -> None:
    def members(protocol: type) -> set[str]:
        return {n for n in vars(protocol) if not n.startswith("_")}

    logs, state, locks = members(LogStore), members(StateStore), members(LockStore)
    assert not (logs & state or logs & locks or state & locks)
    assert {"save_logs", "interrupt_logs"} <= logs
    assert {"placements", "save_topology"} <= state
    assert {"lock_servers", "renew_locks"} <= locks
    assert members(Store) == {"usage"}
