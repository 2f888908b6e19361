"""Steps: the unit of work a plan asks a server to do, as pure data.

A backend renders an operation into steps; the executor compiles a server's steps into one
script and runs it in one round trip. Every step reports whether it changed something, so a
second apply of the same object reports "nothing".

Paths are absolute and final (already placed under the server's sandbox root, if any). A step
marked ``sensitive`` carries a secret (in ``stdin`` or ``content``): plans, logs and the store
show it redacted, and the secret travels only inside the batch, never on a command line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs

from orchestra_core.rendering.names import NAME_MAX

__all__ = [
    "CANDIDATE",
    "AssembleFile",
    "Command",
    "DeleteFile",
    "Derived",
    "EnsureDirectory",
    "Inspect",
    "Reconcile",
    "Reload",
    "Step",
    "WriteFile",
]

#: In a :class:`WriteFile`'s ``validate`` argv, the element equal to this is replaced by the
#: path of the candidate file (the new content, not yet in place); in an
#: :class:`AssembleFile`'s ``validate`` and a :class:`Derived` argv, wherever it appears in an
#: element (``"hash:" + CANDIDATE``).
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


def _one_line(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if any(c in value for c in "\n\r\x00"):
        raise ValueError(f"{attribute.name} must be one line without NUL, not {value!r}")


def _absolute(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    _one_line(instance, attribute, value)
    if not value.startswith("/") or value.rstrip("/") == "" or ".." in value.split("/"):
        raise ValueError(f"{attribute.name} must be an absolute path without '..', not {value!r}")


def _suffix(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    _one_line(instance, attribute, value)
    if not value or "/" in value:
        raise ValueError(f"{attribute.name} must be a non-empty name ending, not {value!r}")


def _words(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _derived(value: Iterable[Derived]) -> tuple[Derived, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Derived:
    """A file (or files) built from an assembled file by a command: ``postmap hash:FILE``
    makes ``FILE.db``, which is what Postfix reads.

    ``argv`` runs on the candidate before anything goes live; :data:`CANDIDATE` stands for
    the candidate's path wherever it appears in an element (``"hash:" + CANDIDATE``).
    ``outputs`` are the endings of the files it makes beside its input (``".db"``): each
    ``CANDIDATE + ending`` must exist afterwards and goes live as ``FILE + ending`` just
    before the assembled file itself, so the two always match.
    """

    argv: tuple[str, ...] = attrs.field(converter=_words)
    outputs: tuple[str, ...] = attrs.field(
        converter=_words, validator=attrs.validators.deep_iterable(_suffix)
    )

    @argv.validator
    def _check_argv(self, _: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not value or any("\x00" in arg for arg in value):
            raise ValueError("a derived file's argv is a non-empty list of words without NUL")


@attrs.frozen(kw_only=True)
class AssembleFile(Step):
    """Build one file from the fragments many objects keep in one folder: a Postfix map, a
    passwd-file, Mailman's aliases, bind9's include of zone stanzas.

    Each object's operation writes (or removes) its own fragment, ``FRAGMENTS/NAME+SUFFIX``,
    with a :class:`WriteFile` (or :class:`DeleteFile`) whose ``fragment_of`` is this step; the
    planner adds this step once per server, assembled file and batch, after the last
    operation with one of its fragments (and before the reload it notifies). Plans are
    incremental, so the file is built on the server from every fragment found there, not
    from the plan's objects.

    It builds a candidate beside ``path``: a header line (``COMMENT Managed by MANAGED_BY:
    assembled from FRAGMENTS/*SUFFIX. Do not edit.``) and then each fragment in byte order of
    its name, each ending with a newline (with ``unique``, a line already given is left
    out); with no fragment left, an empty file. A fragment
    that is a symlink or not a regular file is refused, and the fragment folder and every
    path written go through ``__o_safe``. When the candidate equals the live file (content,
    mode, owner, and each derived output present and not older) the step reports "nothing"
    and runs no checker. Otherwise ``validate`` checks the whole candidate, each
    :class:`Derived` command builds its outputs from it, and they go live atomically, the
    outputs first. A refused candidate leaves the live files as they were and takes back the
    fragments this batch changed for it (so one bad fragment does not block every later
    assembly), failing with the checker's words. A failed reload of ``notify``'s daemon puts
    back the assembled file, its outputs and its fragments.
    """

    kind: ClassVar[str] = "assemble"

    path: str = attrs.field(validator=_absolute)
    fragments: str = attrs.field(validator=_absolute)
    suffix: str = attrs.field(validator=_suffix)
    validate: tuple[str, ...] | None = None
    derived: tuple[Derived, ...] = attrs.field(default=(), converter=_derived)
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None
    #: What starts a comment line in the file's format (``#``, ``//``).
    comment: str = attrs.field(default="#", validator=_one_line)
    #: Who manages it, for the header line.
    managed_by: str = attrs.field(default="orchestra", validator=_one_line)
    #: Keep only the first of lines that repeat, in fragment order: for a file whose lines
    #: several objects give alike (a Postfix domain that many mailboxes name, each object
    #: keeping ``DOMAIN OK`` in its own fragment until it goes).
    unique: bool = False

    def __attrs_post_init__(self) -> None:
        folder = posixpath.normpath(self.fragments)
        name = posixpath.basename(self.path)
        if posixpath.dirname(posixpath.normpath(self.path)) == folder and name.endswith(
            self.suffix
        ):
            raise ValueError(
                f"{self.path} would be one of its own fragments ({folder}/*{self.suffix})"
            )
        for output in (o for d in self.derived for o in d.outputs):
            if len((name + output).encode("utf-8")) > NAME_MAX:
                raise ValueError(f"{name}{output} is longer than a file name may be")

    @property
    def header(self) -> str:
        """The first line of the assembled file (with its newline)."""
        return (
            f"{self.comment} Managed by {self.managed_by}: assembled from "
            f"{posixpath.normpath(self.fragments)}/*{self.suffix}. Do not edit.\n"
        )


def _fragment(step: Any, _: attrs.Attribute[Any], value: AssembleFile | None) -> None:
    """A fragment must be where its assembly looks for it: ``FRAGMENTS/NAME+SUFFIX``."""
    if value is None:
        return
    folder, name = posixpath.split(posixpath.normpath(step.path))
    if (
        folder != posixpath.normpath(value.fragments)
        or not name.endswith(value.suffix)
        or name.startswith(".")
    ):
        raise ValueError(
            f"{step.path} is not a fragment of {value.path}: fragments are "
            f"{posixpath.normpath(value.fragments)}/NAME{value.suffix} (NAME not starting "
            "with a dot)"
        )
    if "\x00" in getattr(step, "content", ""):
        raise ValueError(f"refusing a NUL character in the fragment {step.path}")


@attrs.frozen(kw_only=True)
class WriteFile(Step):
    """Make a file hold exactly ``content``.

    Unchanged content reports "nothing" and touches nothing. New content is written next to
    the target, checked by ``validate`` (an argv where :data:`CANDIDATE` stands for the new
    file) and only then moved into place atomically; a failed check leaves the live file as it
    was and fails the step with the checker's output.

    ``fragment_of`` makes the file a fragment of an :class:`AssembleFile` (its ``path`` must
    be ``FRAGMENTS/NAME+SUFFIX`` of that step, its content without NUL): the planner adds the
    assembly after it, and a failed reload of the assembly's daemon (or its refused
    candidate) puts the fragment back as it was. A fragment usually notifies nothing itself:
    the assembly notifies, and only when the assembled file changed.
    """

    kind: ClassVar[str] = "write"

    path: str
    content: str
    mode: int = 0o644
    owner: str | None = None
    group: str | None = None
    validate: tuple[str, ...] | None = None
    fragment_of: AssembleFile | None = attrs.field(default=None, validator=_fragment)


@attrs.frozen(kw_only=True)
class DeleteFile(Step):
    """Remove a file; removing one that is absent succeeds with "nothing".

    ``fragment_of``: the file is a fragment of that :class:`AssembleFile`, as for
    :class:`WriteFile`; the assembly that follows rebuilds the file without it.
    """

    kind: ClassVar[str] = "delete"

    path: str
    fragment_of: AssembleFile | None = attrs.field(default=None, validator=_fragment)


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

    The script finds in ``$ORCHESTRA_CHANGED_FILES`` a file listing, each path ended by a NUL,
    the files this batch replaced or removed for the daemon (those of notifying steps, the
    assembled files notifying it, their derived outputs and fragments), for a reload that
    acts on what changed (bind9 refreshes the slave zones whose stanza is new).
    """

    kind: ClassVar[str] = "reload"

    daemon: str
    script: str
    marker: str | None = None


@attrs.frozen(kw_only=True)
class Reconcile(Step):
    """Where an operation's steps are decided from what the server has: the planner puts it
    in place of the steps a backend that probes (:meth:`Backend.probe`) decides at apply time.

    ``probe`` is the read-only script (shown in plans, run in the server's probe round trip
    before its batch); ``decide`` turns what it printed into the steps that replace this one
    (the backend's ``parse`` and ``reconcile``, with the operation's timeouts and sandbox
    checks): none when the server already matches. It never reaches a batch: an apply
    (:func:`orchestra_core.execution.reconcile.decide_plan`) replaces it first, with the
    decided steps or, when the probe fails, with a step that fails with the probe's words.
    """

    kind: ClassVar[str] = "reconcile"

    probe: str
    decide: Callable[[str], tuple[Step, ...]] = attrs.field(repr=False, eq=False)
    #: The observation the probe's output stands for (:class:`Probe`), if any.
    observation: str | None = None
