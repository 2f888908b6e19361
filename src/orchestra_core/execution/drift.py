"""Drift: what the servers hold now against what orchestra last applied there.

:class:`Inspector` sends every server one read-only batch (like the monitors') that, for each
applied placement there, hashes the files it wrote and runs the probes its backend declares
(:meth:`~orchestra_core.backends.base.Backend.observe`), and compares them with the hashes the
store kept. A file whose content differs, a file that is missing or no longer a regular file,
and a probe whose output differs (or that cannot read) are drift. :meth:`Inspector.read_files`
reads files as they are (what ``plan --refresh`` diffs against).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from orchestra_core.backends.steps import Command, Step
from orchestra_core.errors import OrchestraError
from orchestra_core.execution.executors import BatchExecutor
from orchestra_core.execution.readonly import ReadResult, run_read_only
from orchestra_core.execution.transport import Transport
from orchestra_core.model.index import ServiceIndex
from orchestra_core.model.servers import Server
from orchestra_core.model.state import Placement, PlacementKey
from orchestra_core.planning.planner import Planner
from orchestra_core.rendering.shell import quote

__all__ = ["DriftReport", "Finding", "Inspector"]

#: Placements per read-only step, and the largest live file shown whole in a finding.
_PER_STEP = 40
_SHOW_LIMIT = 64 * 1024

_CHECK_HEAD = rf"""__file() {{
  local h
  if [ -L "$2" ]; then printf 'F %s not-a-file\n' "$1"; return 0; fi
  if [ ! -e "$2" ]; then printf 'F %s missing\n' "$1"; return 0; fi
  if [ ! -f "$2" ]; then printf 'F %s not-a-file\n' "$1"; return 0; fi
  if ! h=$(sha256sum <"$2" | cut -d ' ' -f 1); then printf 'F %s unreadable\n' "$1"; return 0; fi
  if [ "$h" = "$3" ]; then printf 'F %s same\n' "$1"; return 0; fi
  if [ "$(stat -c %s -- "$2")" -le {_SHOW_LIMIT} ]; then
    printf 'F %s changed %s\n' "$1" "$(base64 -w0 <"$2")"
  else
    printf 'F %s changed -\n' "$1"
  fi
}}
__probe() {{
  local out
  if ! out=$(set -o pipefail; ( eval "$2" ) 2>/dev/null | base64 -w0); then
    printf 'P %s unreadable\n' "$1"; return 0
  fi
  printf 'P %s output %s\n' "$1" "${{out:--}}"
}}
"""

_READ_HEAD = r"""__read() {
  if [ -f "$2" ] && [ ! -L "$2" ]; then
    printf 'C %s %s\n' "$1" "$(base64 -w0 <"$2")"
  else
    printf 'C %s -\n' "$1"
  fi
}
"""


@attrs.frozen(kw_only=True)
class Finding:
    """One thing on a server that is not what orchestra last applied.

    ``what`` is ``file`` (``name`` its path) or ``probe`` (``name`` the probe's); ``state``
    is ``changed``, ``missing``, ``not-a-file`` or ``unreadable``; ``live`` is what the
    server holds (when it could be read and is not too big), ``applied`` the content last
    applied (when kept: files only).
    """

    placement: PlacementKey
    what: str
    name: str
    state: str
    live: str | None = None
    applied: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "object_key": self.placement.object_key,
            "backend": self.placement.backend,
            "server": self.placement.server,
            "what": self.what,
            "name": self.name,
            "state": self.state,
            "live": self.live,
            "applied": self.applied,
        }


@attrs.frozen(kw_only=True)
class DriftReport:
    """What :meth:`Inspector.check` found: ``findings`` (drift), how many placements were
    ``checked``, those with nothing kept to compare (``unobserved``), and per server what
    kept it from being read (``errors``)."""

    findings: tuple[Finding, ...] = ()
    checked: int = 0
    unobserved: tuple[PlacementKey, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def clean(self) -> bool:
        """True when nothing drifted and every server could be read."""
        return not self.findings and not self.errors

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "clean": self.clean,
            "checked": self.checked,
            "findings": [finding.to_dict() for finding in self.findings],
            "unobserved": [
                {"object_key": k.object_key, "backend": k.backend, "server": k.server}
                for k in self.unobserved
            ],
            "errors": [{"server": server, "message": message} for server, message in self.errors],
        }


def _decode(text: str) -> str | None:
    if text == "-":
        return ""
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
    except (ValueError, binascii.Error):
        return None


def _bytes_hash(text: str) -> str | None:
    if text == "-":
        return hashlib.sha256(b"").hexdigest()
    try:
        return hashlib.sha256(base64.b64decode(text, validate=True)).hexdigest()
    except (ValueError, binascii.Error):
        return None


@attrs.frozen
class _Look:
    """One thing a check step looks at: its id in the step's output, and what it expects."""

    placement: Placement
    what: str
    name: str
    expected: str
    script: str = ""


class Inspector:
    """Reads servers, never writing: drift against the store's placements, or live files.

    ``servers`` are the servers as configured now (a placement's server is reached through
    them when they still have it, else as it was when applied); ``contents`` gives the kept
    content of applied files by hash (shown beside the live one). Batches run through
    ``executor`` like an apply's; no log is kept.
    """

    def __init__(
        self,
        planner: Planner,
        transports: Callable[[str], Transport],
        *,
        servers: Mapping[str, Server],
        contents: Callable[[Iterable[str]], Mapping[str, str]] | None = None,
        max_parallel: int = 8,
        batch_timeout: float | None = 600,
        executor: str | BatchExecutor = "threads",
    ) -> None:
        self.planner = planner
        self.transports = transports
        self.servers = dict(servers)
        self.contents = contents
        self.max_parallel = max_parallel
        self.batch_timeout = batch_timeout
        self.executor = executor

    def _server(self, placement: Placement) -> Server:
        return self.servers.get(placement.server) or placement.on_server()

    def check(self, placements: Sequence[Placement], index: ServiceIndex) -> DriftReport:
        """Compare every placement's files and probes with what was last applied."""
        by_server: dict[str, list[_Look]] = {}
        unobserved: list[PlacementKey] = []
        hosts: dict[str, Server] = {}
        for placement in placements:
            looks = [
                _Look(placement, "file", record.path, record.sha256)
                for record in placement.files
                if record.sha256 is not None
            ]
            if placement.observed:
                probes = {p.name: p for p in self.planner.probes_of(placement, index)}
                looks += [
                    _Look(placement, "probe", name, expected, probes[name].script)
                    for name, expected in sorted(placement.observed.items())
                    if name in probes
                ]
            if not looks:
                unobserved.append(placement.key)
                continue
            hosts.setdefault(placement.server, self._server(placement))
            by_server.setdefault(placement.server, []).extend(looks)
        work = [(hosts[name], _check_steps(looks)) for name, looks in by_server.items()]
        outcomes = run_read_only(
            work,
            self.transports,
            label="check",
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            executor=self.executor,
        )
        findings: list[Finding] = []
        errors: list[tuple[str, str]] = []
        for (server, _), results in zip(work, outcomes, strict=True):
            looks = by_server[server.name]
            found, problem = self._parse(looks, results)
            findings += found
            if problem is not None:
                errors.append((server.name, problem))
        findings = self._with_applied(findings, placements)
        return DriftReport(
            findings=tuple(findings),
            checked=len(placements),
            unobserved=tuple(unobserved),
            errors=tuple(errors),
        )

    def _parse(
        self, looks: Sequence[_Look], results: Sequence[ReadResult]
    ) -> tuple[list[Finding], str | None]:
        problem = next((r.problem for r in results if r.problem is not None), None)
        seen: dict[int, list[str]] = {}
        for result in results:
            for line in result.output.splitlines():
                fields = line.split(" ")
                if len(fields) >= 3 and fields[0] in ("F", "P") and fields[1].isdigit():
                    seen[int(fields[1])] = fields[2:]
        findings: list[Finding] = []
        for i, look in enumerate(looks):
            got = seen.get(i)
            if got is None:
                if problem is None:
                    problem = "the check's output is incomplete"
                continue
            state, rest = got[0], got[1:]
            if look.what == "file":
                if state == "same":
                    continue
                live = _decode(rest[0]) if state == "changed" and rest and rest[0] != "-" else None
                findings.append(_finding(look, state, live))
            else:
                if state == "unreadable":
                    findings.append(_finding(look, "unreadable", None))
                    continue
                output = rest[0] if rest else "-"
                if _bytes_hash(output) != look.expected:
                    findings.append(_finding(look, "changed", _decode(output)))
        return findings, problem

    def _with_applied(
        self, findings: list[Finding], placements: Sequence[Placement]
    ) -> list[Finding]:
        """The findings with the content last applied beside what is live (files only)."""
        if self.contents is None:
            return findings
        hashes = {
            (p.key, record.path): record.sha256
            for p in placements
            for record in p.files
            if record.sha256 is not None
        }
        wanted = {hashes[f.placement, f.name] for f in findings if f.what == "file"}
        kept = self.contents(wanted) if wanted else {}
        return [
            attrs.evolve(f, applied=kept.get(hashes[f.placement, f.name]))
            if f.what == "file"
            else f
            for f in findings
        ]

    def read_files(
        self, paths: Mapping[str, Sequence[str]], servers: Mapping[str, Server]
    ) -> dict[tuple[str, str], str | None]:
        """The content of each file as the server holds it now, by (server, path); None for
        a file that is missing (or not a regular file). A server that cannot be read raises
        :class:`~orchestra_core.errors.OrchestraError` naming it."""
        order = [(name, list(dict.fromkeys(found))) for name, found in paths.items() if found]
        work: list[tuple[Server, Sequence[Step]]] = []
        for name, files in order:
            lines = [f"__read {i} {quote(path)}\n" for i, path in enumerate(files)]
            steps: list[Step] = [
                Command(
                    description=f"read {len(chunk)} files",
                    script=_READ_HEAD + "".join(chunk),
                )
                for chunk in _chunked(lines, _PER_STEP)
            ]
            work.append((servers[name], steps))
        outcomes = run_read_only(
            work,
            self.transports,
            label="refresh",
            max_parallel=self.max_parallel,
            batch_timeout=self.batch_timeout,
            executor=self.executor,
        )
        found: dict[tuple[str, str], str | None] = {}
        for (name, files), results in zip(order, outcomes, strict=True):
            problem = next((r.problem for r in results if r.problem is not None), None)
            if problem is not None:
                raise OrchestraError(f"could not read the files of server {name}: {problem}")
            for result in results:
                for line in result.output.splitlines():
                    fields = line.split(" ")
                    if len(fields) == 3 and fields[0] == "C" and fields[1].isdigit():
                        i = int(fields[1])
                        if i < len(files):
                            found[name, files[i]] = None if fields[2] == "-" else _decode(fields[2])
        return found


def _finding(look: _Look, state: str, live: str | None) -> Finding:
    return Finding(
        placement=look.placement.key, what=look.what, name=look.name, state=state, live=live
    )


def _chunked(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_steps(looks: Sequence[_Look]) -> list[Step]:
    lines = []
    for i, look in enumerate(looks):
        if look.what == "file":
            lines.append(f"__file {i} {quote(look.name)} {look.expected}\n")
        else:
            lines.append(f"__probe {i} {quote(look.script)}\n")
    return [
        Command(description=f"check {len(chunk)} things", script=_CHECK_HEAD + "".join(chunk))
        for chunk in _chunked(lines, _PER_STEP * 3)
    ]
