"""Steps: the unit of work a plan asks a server to do, as pure data.

A backend renders an operation into steps; the executor compiles a server's steps into one
script and runs it in one round trip. Every step reports whether it changed something, so a
second apply of the same object reports "nothing".

Paths are absolute and final (already placed under the server's sandbox root, if any). A step
marked ``sensitive`` carries a secret (in ``stdin`` or ``content``): plans, logs and the store
show it redacted, and the secret travels only inside the batch, never on a command line.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

__all__ = [
    "CANDIDATE",
    "Command",
    "DeleteFile",
    "EnsureDirectory",
    "Inspect",
    "Reload",
    "Step",
    "WriteFile",
]

#: In a :class:`WriteFile`'s ``validate`` argv, the element equal to this is replaced by the
#: path of the candidate file (the new content, not yet in place).
CANDIDATE = "{candidate}"


@attrs.frozen(kw_only=True)
class Step:
    """Base of every step.

    ``notify`` names a daemon (``named``, ``apache2``) whose reload this step needs when it
    changes something; the planner adds one :class:`Reload` per daemon and server.
    """

    kind: ClassVar[str] = "step"

    description: str
    notify: str | None = None
    sensitive: bool = False
    timeout: float | None = None


@attrs.frozen(kw_only=True)
class WriteFile(Step):
    """Make a file hold exactly ``content``.

    Unchanged content reports "nothing" and touches nothing. New content is written next to
    the target, checked by ``validate`` (an argv where :data:`CANDIDATE` stands for the new
    file) and only then moved into place atomically; a failed check leaves the live file as it
    was and fails the step with the checker's output.
    """

    kind: ClassVar[str] = "write"

    path: str
    content: str
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None
    validate: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class DeleteFile(Step):
    """Remove a file; removing one that is absent succeeds with "nothing"."""

    kind: ClassVar[str] = "delete"

    path: str


@attrs.frozen(kw_only=True)
class EnsureDirectory(Step):
    """Make a directory exist (with parents) with this mode; "nothing" when it already does.

    The same directory step again later in one batch (many zones, one zone directory) is
    taken as done and reported "nothing" without running.
    """

    kind: ClassVar[str] = "mkdir"

    path: str
    mode: int = 0o755
    owner: str | None = None
    group: str | None = None


@attrs.frozen(kw_only=True)
class Command(Step):
    """Run a shell snippet rendered from a shell-quoting template.

    ``unless`` is a snippet that, when it exits 0, means the work is already done: the step
    reports "nothing" and ``script`` does not run. ``stdin`` is fed to ``script`` (the way a
    secret reaches a command: never in argv). Without ``unless``, a run that exits 0 counts as
    a change.

    ``script`` runs in a bash shell of its own (a subshell of the batch, or a bash under
    ``timeout`` when the step has a timeout), as if sourced: ``exit`` ends the step, its
    variables and ``set`` options end with it, and ``$0`` is not the script's name.
    """

    kind: ClassVar[str] = "command"

    script: str
    unless: str | None = None
    stdin: str | None = None


@attrs.frozen(kw_only=True)
class Inspect(Step):
    """Read something on the server and change nothing: reports "nothing" when ``script``
    exits 0 and fails the step otherwise; its standard output is kept.

    The core adds these itself: a check that the files and state an operation is about to
    replace are still what orchestra last applied (drift, refused without ``--force``), and
    the probes a backend declares (:meth:`Backend.observe`) whose output is learned right
    after the operation, for ``orchestra check`` to compare with later. ``probe`` names the
    probe whose output this is, if it is one.
    """

    kind: ClassVar[str] = "inspect"

    script: str
    probe: str | None = None


@attrs.frozen(kw_only=True)
class Reload(Step):
    """Reload one daemon, only when a step notifying it changed something in this batch.

    Added by the planner, one per daemon and server, after the last step that notifies it. If
    the reload fails, the files that the notifying steps replaced get their previous content
    back, the reload runs once more, and the step fails with the reload's own words.

    ``marker`` is a file on the server that a notifying step creates when it changes
    something and a successful reload removes: a reload that did not happen (its batch failed
    earlier, or was killed) still happens in the next batch, even if nothing changes then.
    """

    kind: ClassVar[str] = "reload"

    daemon: str
    script: str
    marker: str | None = None
