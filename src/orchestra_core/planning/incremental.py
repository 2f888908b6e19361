"""Objects as plain-data snapshots, and renames between what was applied and what is wanted.

An object is compared as a snapshot of plain data (its fields and whether it is effectively
active), so suspending an account changes each of its services. The comparison itself is
per placement: see :meth:`~orchestra_core.planning.planner.Planner.reconcile`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestra_core.errors import PlanningError
from orchestra_core.model.convert import structure_service, unstructure
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Account, Service
from orchestra_core.model.state import ObjectSnapshot

__all__ = ["RenameRefused", "find_renames", "restore", "snapshot", "world_from_snapshots"]


class RenameRefused(PlanningError):
    """The inventory seems to rename objects (a new natural key with the same fields).

    A rename deletes the old object on its servers and creates a new one: data kept under the
    old name (a mailbox's mail, a database's tables) would be lost. Refused unless asked for.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        listed = ", ".join(f"{old} -> {new}" for old, new in pairs)
        super().__init__(
            f"the inventory renames {listed}: a natural key cannot change in place (the old "
            "object would be deleted on its servers and a new one created). Remove the old one "
            "and add the new one in two applies, or pass --allow-renames"
        )


def snapshot(obj: Service, index: ServiceIndex) -> ObjectSnapshot:
    """The plain-data snapshot of ``obj`` as the index sees it (active or suspended)."""
    return ObjectSnapshot(
        key=obj.key, kind=obj.kind, data=unstructure(obj), active=index.is_effectively_active(obj)
    )


def restore(snap: ObjectSnapshot, service_types: Mapping[str, type[Service]]) -> Service:
    """The object of a snapshot; a kind no plugin registers any more is a clear error."""
    try:
        cls = service_types[snap.kind]
    except KeyError:
        raise PlanningError(
            f"{snap.key} was applied with service type {snap.kind!r}, which no installed "
            "plugin registers: reinstall the plugin to change or delete it"
        ) from None
    return structure_service(snap.data, cls)


def find_renames(
    removed: Mapping[str, Service],
    added: Iterable[Service | None],
    applied: Mapping[str, ObjectSnapshot],
    wanted: Mapping[str, ObjectSnapshot],
) -> list[tuple[str, str]]:
    """Pairs (old key, new key) of the same kind and account whose fields differ only in the
    ones that make up the natural key."""
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for new_obj in added:
        if new_obj is None:
            continue
        for old_key, old_obj in removed.items():
            if (
                old_key in taken
                or old_obj.kind != new_obj.kind
                or old_obj.account != new_obj.account
            ):
                continue
            before, after = applied[old_key].data, wanted[new_obj.key].data
            differing = {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)}
            if differing and all(str(before.get(f)) in old_obj.identity for f in differing):
                pairs.append((old_key, new_obj.key))
                taken.add(old_key)
                break
    return pairs


def world_from_snapshots(
    snapshots: Iterable[ObjectSnapshot],
    service_types: Mapping[str, type[Service]],
    accounts: Iterable[Account] = (),
) -> ServiceIndex:
    """The objects of ``snapshots`` as an index that sees each as it was applied.

    Accounts are not kept with the applied state: an object applied disabled although its own
    ``is_active`` is true was disabled by its account, which is then in the index suspended
    (unless ``accounts`` gives it), so that every object's snapshot comes out as it went in.
    """
    snaps = list(snapshots)
    objects = [restore(snap, service_types) for snap in snaps]
    given = {account.name: account for account in accounts}
    suspended = {
        obj.account
        for obj, snap in zip(objects, snaps, strict=True)
        if obj.is_active and not snap.active
    }
    names = dict.fromkeys(obj.account for obj in objects)
    made = [
        given.get(name) or Account(name=name, is_active=name not in suspended) for name in names
    ]
    made += [account for name, account in given.items() if name not in names]
    return ServiceIndex(made, objects)
