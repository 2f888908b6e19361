"""Incremental plans: compare what is wanted with what was last applied.

Only new, changed and removed objects produce operations; a removed object becomes a delete of
its last applied state. An object is compared as a snapshot of plain data (its fields and
whether it is effectively active), so suspending an account changes each of its services.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from orchestra_core.errors import PlanningError
from orchestra_core.model.convert import structure_service, unstructure
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.service import Account, Service
from orchestra_core.planning.changeset import ChangeSet
from orchestra_core.storage.protocol import ObjectSnapshot

__all__ = ["Changes", "RenameRefused", "compare", "restore", "snapshot"]


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


@attrs.frozen(kw_only=True)
class Changes:
    """What a comparison found, and the change set that applies it."""

    changeset: ChangeSet
    index: ServiceIndex
    desired: tuple[ObjectSnapshot, ...]
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0

    @property
    def touched(self) -> tuple[ObjectSnapshot, ...]:
        """The wanted snapshots of new and changed objects: all the store needs to learn
        (unchanged ones are already recorded as they are)."""
        keys = set(self.new) | set(self.changed)
        return tuple(snap for snap in self.desired if snap.key in keys)

    @property
    def is_empty(self) -> bool:
        """True when nothing differs from the applied state."""
        return not (self.new or self.changed or self.removed)

    def summary(self) -> str:
        """``2 new, 1 changed, 1 removed, 14 unchanged``."""
        return (
            f"{len(self.new)} new, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged"
        )


def compare(
    applied: Mapping[str, ObjectSnapshot],
    accounts: Iterable[Account],
    services: Iterable[Service],
    service_types: Mapping[str, type[Service]],
    *,
    full: bool = False,
    allow_renames: bool = False,
) -> Changes:
    """The change set that turns the ``applied`` state into the wanted one.

    ``full`` saves every wanted object whether it changed or not (a resync); removed objects
    are deleted either way. Renames (see :class:`RenameRefused`) are refused unless allowed.
    """
    services = list(services)
    index = ServiceIndex(accounts, services)
    wanted = {obj.key: snapshot(obj, index) for obj in services}
    new = [key for key in wanted if key not in applied]
    changed = [key for key in wanted if key in applied and applied[key] != wanted[key]]
    removed = [key for key in applied if key not in wanted]
    removed_objects = {key: restore(applied[key], service_types) for key in removed}
    if not allow_renames:
        renames = _renames(removed_objects, [index.get(key) for key in new], applied, wanted)
        if renames:
            raise RenameRefused(renames)
    changes = ChangeSet()
    for key in removed:
        changes.delete(removed_objects[key])
    for obj in services:
        if full or obj.key in new or obj.key in changed:
            changes.save(obj)
    return Changes(
        changeset=changes,
        index=index,
        desired=tuple(wanted.values()),
        new=tuple(new),
        changed=tuple(changed),
        removed=tuple(removed),
        unchanged=len(wanted) - len(new) - len(changed),
    )


def _renames(
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
