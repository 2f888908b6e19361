"""Change sets: what the embedding application wants done, merged before planning."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from orchestra_core.errors import PlanningError
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.secret import Secret
from orchestra_core.model.service import Service

__all__ = ["ChangeSet", "Operation"]


@attrs.frozen(kw_only=True)
class Operation:
    """One action on one object: ``save``, ``delete`` or ``set_password``.

    ``secret`` is set for ``set_password`` only; it is a :class:`Secret`, so its repr is
    redacted wherever the operation is printed.
    """

    action: str
    obj: Service
    secret: Secret | None = None

    @property
    def key(self) -> str:
        """The natural key of the object."""
        return self.obj.key


class ChangeSet:
    """Collects saves, deletes and password changes, and merges them.

    * the latest save of an object wins;
    * a delete cancels a pending save and password change of the same object;
    * a save after a delete cancels the delete (the object is re-created);
    * saving or deleting an object re-saves the objects whose rendering depends on it
      (:meth:`Service.related_keys`), resolved in the index given to :meth:`operations`.

    Operations come out in the order their objects were first mentioned.
    """

    def __init__(self) -> None:
        self._saves: dict[str, Operation] = {}
        self._deletes: dict[str, Operation] = {}
        self._passwords: dict[str, Operation] = {}
        self._order: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._saves) + len(self._deletes) + len(self._passwords)

    def __repr__(self) -> str:
        return (
            f"ChangeSet(saves={list(self._saves)}, deletes={list(self._deletes)}, "
            f"set_password={list(self._passwords)})"
        )

    def _touch(self, key: str) -> None:
        self._order.setdefault(key, None)

    def save(self, obj: Service) -> ChangeSet:
        """Ask for ``obj`` to exist on its servers exactly as it is now."""
        self._touch(obj.key)
        self._deletes.pop(obj.key, None)
        self._saves[obj.key] = Operation(action="save", obj=obj)
        return self

    def delete(self, obj: Service) -> ChangeSet:
        """Ask for ``obj`` to be removed from its servers."""
        self._touch(obj.key)
        self._saves.pop(obj.key, None)
        self._passwords.pop(obj.key, None)
        self._deletes[obj.key] = Operation(action="delete", obj=obj)
        return self

    def set_password(self, obj: Service, secret: Secret | str) -> ChangeSet:
        """Ask for ``obj``'s password to become ``secret`` (never stored by orchestra)."""
        if obj.key in self._deletes:
            raise PlanningError(f"{obj.key}: cannot set the password of an object being deleted")
        self._touch(obj.key)
        value = secret if isinstance(secret, Secret) else Secret(secret)
        self._passwords[obj.key] = Operation(action="set_password", obj=obj, secret=value)
        return self

    def operations(self, index: ServiceIndex | None = None) -> list[Operation]:
        """The merged operations, with related objects re-saved from ``index``."""
        out: list[Operation] = []
        for key in self._order:
            for table in (self._deletes, self._saves, self._passwords):
                if key in table:
                    out.append(table[key])
        if index is not None:
            out.extend(self._related_saves(out, index))
        return out

    def _related_saves(self, ops: list[Operation], index: ServiceIndex) -> Iterator[Operation]:
        planned = {op.key for op in ops if op.action in ("save", "delete")}
        queue = [op.obj for op in ops if op.action in ("save", "delete")]
        while queue:
            obj = queue.pop(0)
            for key in obj.related_keys(index):
                owner = index.get(key)
                if owner is None or key in planned:
                    continue
                planned.add(key)
                queue.append(owner)
                yield Operation(action="save", obj=owner)
