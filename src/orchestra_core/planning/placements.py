"""What plans compare: placements, their fingerprints, and the checks that guard them.

A *wanted* placement is (object, backend, server) as routing gives it today; an *applied* one
is what the store remembers (:class:`~orchestra_core.model.state.Placement`). The planner
compares the two (see :meth:`~orchestra_core.planning.planner.Planner.reconcile`); this
module holds the pieces it compares with:

* :func:`fingerprint`: a hash of every input of a placement's rendering, computed without
  rendering: the backend and its driver's version, the effective settings, the server's
  address and sandbox root, the object's snapshot, the snapshots of the objects it names and
  of the objects whose rendering it gathers (a zone's subdomains), the allocations they are
  over, and the servers (with settings) of the peer backends it reads (a master's slaves);
* :func:`drift_guard`: the read-only step that an operation on an applied placement starts
  with: the files and observed state it is about to replace must still be what orchestra last
  applied there, else the operation fails and says which (``--force`` leaves it out);
* :func:`observe_steps`: the read-only steps that learn, right after an operation, what a
  backend's probes read on the server (kept as hashes, compared by ``orchestra check``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from orchestra_core.backends.base import Observation
from orchestra_core.backends.steps import Inspect, Step, WriteFile
from orchestra_core.model.convert import converter
from orchestra_core.model.servers import Server
from orchestra_core.model.state import FileRecord, ObjectSnapshot, Placement, content_hash
from orchestra_core.rendering.shell import quote

__all__ = [
    "FINGERPRINT_VERSION",
    "drift_guard",
    "file_records",
    "fingerprint",
    "observe_steps",
    "probe_command",
    "settings_data",
]

#: Bumped when what goes into a fingerprint changes: every placement is saved once again.
FINGERPRINT_VERSION = 1


def settings_data(settings: Any) -> dict[str, Any]:
    """Effective backend settings as plain data (what a placement keeps to delete with)."""
    data = converter.unstructure(settings)
    return data if isinstance(data, dict) else {}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _snap(snapshot: ObjectSnapshot | None) -> Any:
    if snapshot is None:
        return None
    return [snapshot.kind, snapshot.data, snapshot.active]


def fingerprint(
    *,
    backend: str,
    version: str,
    settings: Mapping[str, Any],
    server: Server,
    snapshot: ObjectSnapshot,
    related: Iterable[tuple[str, ObjectSnapshot | None]] = (),
    exceeded: Mapping[str, Iterable[str]] | None = None,
    peers: Mapping[str, Sequence[tuple[str, str, Mapping[str, Any]]]] | None = None,
) -> str:
    """The fingerprint of one placement's inputs (see the module's docstring).

    ``related`` gives the objects it names and those it gathers, by key (None: named but
    unknown); ``exceeded`` the allocations each of them (and it) is over; ``peers`` by peer
    backend, its (server name, address, settings) for this object.
    """
    inputs = {
        "v": FINGERPRINT_VERSION,
        "backend": backend,
        "version": version,
        "settings": settings,
        "server": [server.address, server.root],
        "object": _snap(snapshot),
        "related": sorted([key, _snap(snap)] for key, snap in related),
        "exceeded": {key: sorted(names) for key, names in sorted((exceeded or {}).items())},
        "peers": {name: [list(p) for p in found] for name, found in sorted((peers or {}).items())},
    }
    return hashlib.sha256(_canonical(inputs).encode("utf-8")).hexdigest()


def file_records(steps: Iterable[Step]) -> tuple[FileRecord, ...]:
    """The files a rendering writes, last write of a path winning; sensitive ones unhashed."""
    found: dict[str, FileRecord] = {}
    for step in steps:
        if isinstance(step, WriteFile):
            found[step.path] = FileRecord(
                path=step.path,
                sha256=None if step.sensitive else content_hash(step.content),
                mode=step.mode,
            )
    return tuple(found.values())


def probe_command(probe: Observation) -> str:
    """Shell that prints the SHA-256 of what ``probe`` prints, failing when the probe does
    (the hash is what is kept; a failing read is never taken for a state)."""
    return f"set -o pipefail\n( eval {quote(probe.script)} ) | sha256sum | cut -d ' ' -f 1\n"


def observe_steps(probes: Sequence[Observation], label: str) -> list[Step]:
    """Steps that learn, after an operation, what its probes without ``expected`` read."""
    return [
        Inspect(
            description=f"observe {probe.name} of {label}",
            script=probe_command(probe),
            probe=probe.name,
        )
        for probe in probes
        if probe.expected is None
    ]


_GUARD_HEAD = r"""__d=0
__f() {
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then return 0; fi
  if [ -L "$1" ] || [ ! -f "$1" ]; then
    printf 'drift: %s is no longer the regular file orchestra wrote\n' "$1" >&2; __d=1; return 0
  fi
  local h
  h=$(sha256sum <"$1" | cut -d ' ' -f 1) || { printf 'cannot read %s\n' "$1" >&2; __d=1; return 0; }
  if [ "$h" != "$2" ] && [ "$h" != "$3" ]; then
    printf 'drift: %s was changed on the server since orchestra last applied it\n' "$1" >&2
    __d=1
  fi
}
__p() {
  local h
  if ! h=$(set -o pipefail; ( eval "$4" ) 2>/dev/null | sha256sum | cut -d ' ' -f 1); then
    printf 'cannot read %s to compare it with what orchestra last applied\n' "$1" >&2
    __d=1; return 0
  fi
  if [ "$h" != "$2" ] && [ "$h" != "$3" ]; then
    printf 'drift: %s differs from what orchestra last applied\n' "$1" >&2
    __d=1
  fi
}
"""

_GUARD_TAIL = r"""if [ "$__d" != 0 ]; then
  printf '%s\n' 'refusing to replace what was changed on the server by hand:' \
    '`orchestra check` shows it; apply with --force to overwrite it' >&2
  exit 1
fi
"""


def drift_guard(
    applied: Placement,
    label: str,
    *,
    new_files: Sequence[FileRecord] = (),
    probes: Sequence[Observation] = (),
) -> Inspect | None:
    """The check an operation on ``applied`` starts with, or None when nothing is kept to
    compare (a placement recorded before files were, or one that wrote nothing).

    A file is drifted when it exists with content that is neither what was last applied nor
    what this operation writes (a missing file loses nothing); a probe when its output hashes
    to neither the last observed value nor the new expected one.
    """
    new = {record.path: record.sha256 for record in new_files}
    lines: list[str] = []
    for record in applied.files:
        if record.sha256 is None:
            continue
        lines.append(f"__f {quote(record.path)} {record.sha256} {new.get(record.path) or '-'}\n")
    by_name = {probe.name: probe for probe in probes}
    for name, observed in sorted(applied.observed.items()):
        probe = by_name.get(name)
        if probe is None:
            continue
        expected = content_hash(probe.expected) if probe.expected is not None else "-"
        lines.append(
            f"__p {quote(name + ' of ' + label)} {observed} {expected} {quote(probe.script)}\n"
        )
    if not lines:
        return None
    return Inspect(
        description=f"check that {label} still holds what orchestra last applied",
        script=_GUARD_HEAD + "".join(lines) + _GUARD_TAIL,
    )


def expected_observations(probes: Sequence[Observation]) -> dict[str, str]:
    """The hashes of the probes whose value is known before the operation runs."""
    return {p.name: content_hash(p.expected) for p in probes if p.expected is not None}


def with_observed(placement: Placement, observed: Mapping[str, str]) -> Placement:
    """``placement`` with more observations (those learned by its operation's steps)."""
    if not observed:
        return placement
    return attrs.evolve(placement, observed={**placement.observed, **observed})
