"""Compile one server's steps into one bash script, and read its result records back.

The script travels on standard input (to ``bash -c BOOTSTRAP``, which saves it in a private
file and runs it), so nothing it carries (file content, secrets) ever appears in a process's
argv. Its shape:

* a prelude: ``set -u``, ``umask 077``, a private temporary folder (in ``/dev/shm`` when it
  has room and ``TMPDIR`` is unset) removed on exit, and a few helper functions;
* per step, its data (file content, ``unless`` snippets, stdin) is written into files of the
  private folder by the ``printf`` builtin from ``$'...'`` words (:func:`payload_word`: every
  byte outside a small safe set as ``\\xHH``, so nothing can end the word; base64 for the
  rare payload holding NUL). A Command's script goes into the variable ``$__o_c`` instead;
* the step's own code, a snippet generated here with every path and argv element quoted, runs
  in a subshell of the batch (one fork per step) with stdin from ``/dev/null`` and its output
  captured to files; a step with a timeout runs as ``timeout ... bash <snippet file>``
  instead. A Command's script is evaluated (or sourced from its file) in the step's shell,
  so ``exit``, ``cd`` and variables stay inside the step. Then one record line goes to
  stdout::

      @@ORCHESTRA <nonce> <index> <status> <exit_code> <duration_ms> <b64 stdout> <b64 stderr>

  Nothing else reaches stdout, and :func:`parse_output` ignores lines without the nonce.

Every path a step writes, appends to, copies to, moves or removes is checked first by the
batch's ``__o_safe`` (exported, so the scripts of Commands and reloads have it too): a symlink
under the sandbox root, or one that someone other than root could have planted elsewhere, is
never followed, and the step fails naming it.

A snippet reports "unchanged" by creating ``<tmpdir>/<index>.unchanged``; exit 0 otherwise
means "changed". A changed step that notifies a daemon leaves ``<index>.changed`` (what a
:class:`Reload` and the owed-reload markers look at), and replaced or deleted files leave
``<index>.backup`` (or ``<index>.absent``) for a failed reload to restore. After a failed or
timed-out step the script stops with exit code 1.
"""

from __future__ import annotations

import base64
import binascii
import os
import posixpath
import secrets

from orchestra_core.backends.steps import (
    CANDIDATE,
    AssembleFile,
    Command,
    DeleteFile,
    EnsureDirectory,
    Inspect,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.errors import TemplateError
from orchestra_core.execution.transport import Batch, RawStepResult
from orchestra_core.model.secret import REDACTED
from orchestra_core.planning.plan import ServerPlan
from orchestra_core.rendering.names import companion
from orchestra_core.rendering.shell import quote

__all__ = [
    "OUTPUT_LIMIT",
    "RECORD_PREFIX",
    "SAFE_PATHS",
    "STATUSES",
    "compile_batch",
    "describe_for_log",
    "parse_output",
]

#: First word of every result record line.
RECORD_PREFIX = "@@ORCHESTRA"
#: The statuses a record may carry.
STATUSES = frozenset({"changed", "unchanged", "failed", "timeout"})
#: Bytes of a step's stdout (and of its stderr) sent back: the last ones, where errors are.
OUTPUT_LIMIT = 1024 * 1024
#: Seconds ``timeout`` waits after SIGTERM before it sends SIGKILL.
KILL_AFTER = 2

#: The batch's checked path (``__o_safe``, see the module text), as shell; every batch has
#: it, and a script run outside one (a test of a template) can be given it first.
SAFE_PATHS = r"""
# __o_safe [-l] PATH...: every path a batch writes, appends to, copies to, moves or removes
# goes through here first. It fails, saying why, when the way to PATH crosses a symlink that
# the batch may not follow: any symlink at or under the sandbox root ($__o_root), and
# elsewhere one that someone other than root (or the batch's own user) could have planted (a
# link they own, or one in a folder they may write that is not sticky). PATH itself must not
# be a symlink, unless -l: the step replaces or removes the link, never what it points to.
__o_safe() {
  local last=0 p q rest
  if [[ ${1-} == -l ]]; then last=1; shift; fi
  for p in "$@"; do
    [[ $p == /* ]] || p=$PWD/$p
    if (( ! last )) && [[ -L $p ]]; then
      printf 'orchestra: refusing to write through the symlink %s\n' "$p" >&2
      return 1
    fi
    q=; rest=${p#/}
    while [[ $rest == */* ]]; do
      q=$q/${rest%%/*}; rest=${rest#*/}
      if [[ -L $q ]] && ! __o_trusted "$q"; then
        printf 'orchestra: refusing to follow the symlink %s (to %s) on the way to %s\n' \
          "$q" "$(readlink -- "$q")" "$p" >&2
        return 1
      fi
    done
  done
}
# __o_trusted LINK: a symlink nobody but root or this user could have put there.
__o_trusted() {
  local me=${EUID:-0} dir=${1%/*} link_uid dir_uid dir_mode
  [[ -n ${__o_root-} && ( $1 == "$__o_root" || $1 == "$__o_root"/* ) ]] && return 1
  link_uid=$(stat -c %u -- "$1") || return 1
  read -r dir_uid dir_mode < <(stat -L -c '%u %a' -- "${dir:-/}") || return 1
  (( link_uid == 0 || link_uid == me )) || return 1
  (( dir_uid == 0 || dir_uid == me )) || return 1
  (( (8#$dir_mode & 8#022) == 0 || (8#$dir_mode & 8#1000) != 0 ))
}
export -f __o_safe __o_trusted
"""

_PRELUDE = r"""set -u
umask 077
# The private folder goes to RAM (/dev/shm) unless TMPDIR says otherwise or RAM is short:
# a batch creates a few small files per step, much cheaper on tmpfs than on a disk.
__o_base=${TMPDIR:-}
if [ -z "$__o_base" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  __o_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ -n "$__o_free" ] && [ "$__o_free" -gt __NEED_KIB__ ]; then __o_base=/dev/shm; fi
fi
__o_tmp=$(mktemp -d ${__o_base:+-p "$__o_base"}) || exit 1
trap 'rm -rf -- "$__o_tmp"' EXIT
__o_nonce=__NONCE__
export __o_root=__ROOT__
__o_ms=0
__o_now() {
  local t=${EPOCHREALTIME:-}
  if [ -n "$t" ]; then t=${t//[.,]/}; __o_ms=$((10#$t / 1000)); else __o_ms=$(date +%s%3N); fi
}
__o_b64() {
  if [ -s "$1" ]; then tail -c __LIMIT__ -- "$1" | base64 -w0; else printf -- '-'; fi
}
__o_put() {
  printf '%s' "$2" >"$__o_tmp/$1"
}
__SAFE_PATHS__
# A Command's script, from $__o_c, in a function as a sourced file would be (return works).
__o_eval() {
  eval "$__o_c"
}
__o_put64() {
  printf '%s' "$2" | base64 -d >"$__o_tmp/$1"
}
__o_report() {
  local start=$4 o=- e=-
  __o_now
  # A command substitution forks: only pay for it when there is output to send.
  if [[ -s $__o_tmp/$1.out ]]; then o=$(__o_b64 "$__o_tmp/$1.out"); fi
  if [[ -s $__o_tmp/$1.err ]]; then e=$(__o_b64 "$__o_tmp/$1.err"); fi
  printf '@@ORCHESTRA %s %s %s %s %s %s %s\n' "$__o_nonce" "$1" "$2" "$3" \
    "$((__o_ms - start))" "$o" "$e"
}
__o_broken() {
  __o_now
  : >"$__o_tmp/$1.out"
  printf 'orchestra: could not unpack step %s\n' "$1" >"$__o_tmp/$1.err"
  __o_report "$1" failed 2 "$__o_ms"
}
__o_run() {
  local i=$1 secs=$2 wrap=$3 start
  __o_now
  start=$__o_ms
  if [ -n "$secs" ] && [ "$wrap" = 1 ]; then
    timeout --kill-after=__KILL__ "$secs" bash "$__o_tmp/$i.sh" "$__o_tmp" \
      </dev/null >"$__o_tmp/$i.out" 2>"$__o_tmp/$i.err"
  else
    bash "$__o_tmp/$i.sh" "$__o_tmp" </dev/null >"$__o_tmp/$i.out" 2>"$__o_tmp/$i.err"
  fi
  __o_done "$i" $? "$secs" "$start" "$4"
}
# Arguments: INDEX RC SECS START NOTIFY. Reports a step by its exit code; NOTIFY=1 leaves
# INDEX.changed behind when it changed something (what reloads and owed-reload markers test).
__o_done() {
  local i=$1 rc=$2 st=changed
  if [[ -n $3 ]] && (( rc == 124 || rc == 137 )); then
    st=timeout
  elif (( rc != 0 )); then
    st=failed
  elif [[ -e $__o_tmp/$i.unchanged ]]; then
    st=unchanged
  elif [[ $5 == 1 ]]; then
    : >"$__o_tmp/$i.changed"
  fi
  __o_report "$i" "$st" "$rc" "$4"
  [[ $st == changed || $st == unchanged ]]
}
"""

REDACTED_WORD = "'" + REDACTED + "'"
#: The names a file step makes beside its file: the candidate (``mktemp``'s template) and the
#: spare a failed reload restores through.
_CANDIDATE = ".orchestra-XXXXXX"
_RESTORE = ".orchestra-restore"
_NEW = '"$n"'
_PATH = '"$p"'
_SNIPPET_HEAD = "set -u\nT=$1\n"
_UNCHANGED = ': >"$T/{i}.unchanged"\nexit 0\n'


def _b64(data: str) -> str:
    return base64.b64encode(data.encode("utf-8")).decode("ascii")


def _mode(mode: int) -> str:
    """The mode as ``stat -c %a`` prints it and ``chmod`` takes it."""
    return format(mode, "o")


def _owner_checks(var: str, owner: str | None, group: str | None, *, follow: bool) -> str:
    """``&& ...`` tests that the file in ``$var`` has this owner/group (by name or id)."""
    stat = "stat -L" if follow else "stat"
    out = ""
    for want, name_fmt, id_fmt in ((owner, "%U", "%u"), (group, "%G", "%g")):
        if want is None:
            continue
        q = quote(want)
        out += (
            f' && {{ [ "$({stat} -c {name_fmt} -- "${var}")" = {q} ]'
            f' || [ "$({stat} -c {id_fmt} -- "${var}")" = {q} ]; }}'
        )
    return out


def _chown(target: str, owner: str | None, group: str | None) -> str:
    out = ""
    if owner is not None:
        out += f" && chown -- {quote(owner)} {target}"
    if group is not None:
        out += f" && chgrp -- {quote(group)} {target}"
    return out


def _write_snippet(step: WriteFile, i: int) -> str:
    parent = posixpath.dirname(step.path) or "."
    base = posixpath.basename(step.path)
    mode = _mode(step.mode)
    lines = [
        _SNIPPET_HEAD,
        f"p={quote(step.path)}\n",
        f'c="$T/{i}.data"\n',
        'if [ -d "$p" ] && [ ! -L "$p" ]; then\n'
        "  printf 'orchestra: %s is a directory\\n' \"$p\" >&2\n  exit 1\nfi\n",
        'if [ -f "$p" ] && [ ! -L "$p" ] && cmp -s -- "$c" "$p"'
        f' && [ "$(stat -c %a -- "$p")" = {mode} ]'
        f"{_owner_checks('p', step.owner, step.group, follow=False)}; then\n",
        "  " + _UNCHANGED.format(i=i).replace("\n", "\n  ", 1),
        "fi\n",
    ]
    if step.validate:
        argv = " ".join('"$c"' if arg == CANDIDATE else quote(arg) for arg in step.validate)
        lines.append(f'{argv}\nrc=$?\n[ "$rc" -eq 0 ] || exit "$rc"\n')
    lines += [
        '__o_safe -l "$p" || exit 1\n',
        f"(umask 022 && mkdir -p -- {quote(parent)}) || exit 1\n",
        f"n=$(mktemp -- {quote(posixpath.join(parent, companion('.', base, _CANDIDATE)))})"
        " || exit 1\n",
        f'if ! {{ cat -- "$c" >"$n" && chmod {mode} -- "$n"'
        + _chown(_NEW, step.owner, step.group)
        + "; }; then\n"
        '  rm -f -- "$n"\n  exit 1\nfi\n',
        'if [ -e "$p" ] || [ -L "$p" ]; then\n'
        f'  cp -a -- "$p" "$T/{i}.backup" || {{ rm -f -- "$n"; exit 1; }}\n'
        f'else\n  : >"$T/{i}.absent"\nfi\n',
        'mv -f -- "$n" "$p" || { rm -f -- "$n"; exit 1; }\n',
    ]
    return "".join(lines)


def _delete_snippet(step: DeleteFile, i: int) -> str:
    return (
        _SNIPPET_HEAD
        + f"p={quote(step.path)}\n"
        + 'if [ ! -e "$p" ] && [ ! -L "$p" ]; then\n  '
        + _UNCHANGED.format(i=i).replace("\n", "\n  ", 1)
        + "fi\n"
        + 'if [ -d "$p" ] && [ ! -L "$p" ]; then\n'
        + "  printf 'orchestra: refusing to delete the directory %s\\n' \"$p\" >&2\n"
        + "  exit 1\nfi\n"
        + '__o_safe -l "$p" || exit 1\n'
        + f'cp -a -- "$p" "$T/{i}.backup" || exit 1\n'
        + 'rm -f -- "$p"\n'
    )


def _mkdir_snippet(step: EnsureDirectory, i: int) -> str:
    mode = _mode(step.mode)
    return (
        _SNIPPET_HEAD
        + f"p={quote(step.path)}\n"
        + f'if [ -d "$p" ] && [ "$(stat -L -c %a -- "$p")" = {mode} ]'
        + f"{_owner_checks('p', step.owner, step.group, follow=True)}; then\n  "
        + _UNCHANGED.format(i=i).replace("\n", "\n  ", 1)
        + "fi\n"
        + 'if [ -e "$p" ] && [ ! -d "$p" ]; then\n'
        + "  printf 'orchestra: %s exists and is not a directory\\n' \"$p\" >&2\n"
        + "  exit 1\nfi\n"
        + '__o_safe "$p" || exit 1\n'
        + f'(umask 022 && mkdir -p -- "$p") && chmod {mode} -- "$p"'
        + _chown(_PATH, step.owner, step.group)
        + "\n"
    )


def _command_snippet(step: Command, i: int, *, inline: bool = False) -> str:
    """Runs a Command's script: sourced from its data file, or (``inline``, in a subshell of
    the batch) evaluated from ``$__o_c``, where the batch put it: no file to write and read."""
    out = _SNIPPET_HEAD
    if step.unless is not None:
        out += f'if bash "$T/{i}.unless" </dev/null >/dev/null 2>&1; then\n  '
        out += _UNCHANGED.format(i=i).replace("\n", "\n  ", 1) + "fi\n"
    # The step's stdin is /dev/null already, unless the Command brings its own.
    stdin = f' <"$T/{i}.stdin"' if step.stdin is not None else ""
    # Sourced, not run by a second bash: the step already has a shell of its own.
    run = "__o_eval" if inline else f'. "$T/{i}.cmd"'
    return out + f"set +u\n{run}{stdin}\n"


def _inspect_snippet(step: Inspect, i: int, *, inline: bool = False) -> str:
    """Runs a read-only script: "unchanged" unless it fails (the marker is made first, so an
    ``exit 0`` in the script still reads as unchanged, and a failure wins over it)."""
    run = "__o_eval" if inline else f'. "$T/{i}.cmd"'
    return _SNIPPET_HEAD + f': >"$T/{i}.unchanged"\nset +u\n{run}\n'


def _restore_block(changed: str, path: str, saved: str) -> str:
    """Put ``path`` back as the batch found it when ``$T/CHANGED.changed`` says a step
    replaced or removed it: from ``$T/SAVED.backup``, or removed again when
    ``$T/SAVED.absent`` says it was not there. Through a spare beside it, never a link."""
    parent = posixpath.dirname(path) or "."
    spare = posixpath.join(parent, companion(".", posixpath.basename(path), _RESTORE))
    warn = "printf 'orchestra: could not restore %s\\n' \"$p\" >&2"
    return (
        f'if [ -e "$T/{changed}.changed" ]; then\n'
        f"  p={quote(path)}\n"
        f'  if ! __o_safe -l "$p" {quote(spare)}; then\n'
        f"    {warn}\n"
        f'  elif [ -e "$T/{saved}.backup" ] || [ -L "$T/{saved}.backup" ]; then\n'
        f"    n={quote(spare)}\n"
        f'    rm -f -- "$n"\n'
        f'    {{ cp -a -- "$T/{saved}.backup" "$n" && mv -f -- "$n" "$p"; }} \\\n'
        f"      || {warn}\n"
        f'  elif [ -e "$T/{saved}.absent" ]; then\n'
        f'    rm -f -- "$p"\n'
        f"  fi\nfi\n"
    )


def _restorable(daemon: str, earlier: list[tuple[int, Step]]) -> list[tuple[int, str, str]]:
    """(index, path, saved) of every file the batch replaced or removed so far for
    ``daemon``: files of steps notifying it, fragments of assemblies notifying it, and
    assembled files with their derived outputs."""
    out: list[tuple[int, str, str]] = []
    for j, s in earlier:
        if isinstance(s, WriteFile | DeleteFile):
            owner = s.fragment_of
            if s.notify == daemon or (owner is not None and owner.notify == daemon):
                out.append((j, s.path, str(j)))
        elif isinstance(s, AssembleFile) and s.notify == daemon:
            out += [(j, s.path + o, f"{j}.o{k}") for k, o in enumerate(_outputs(s))]
            out.append((j, s.path, str(j)))
    return out


def _reload_snippet(step: Reload, i: int, earlier: list[tuple[int, Step]]) -> str:
    watched = [j for j, s in earlier if s.notify == step.daemon]
    restorable = _restorable(step.daemon, earlier)
    out = _SNIPPET_HEAD
    owed = [f'[ -e "$T/{j}.changed" ]' for j in watched]
    if step.marker is not None:
        owed.append(f"[ -e {quote(step.marker)} ]")  # a reload an earlier batch still owes
    if not owed:
        return out + _UNCHANGED.format(i=i)
    out += f"if ! {{ {' || '.join(owed)}; }}; then\n  " + _UNCHANGED.format(i=i).replace(
        "\n", "\n  ", 1
    )
    out += "fi\n"
    # What the batch changed for the daemon, for its script: NUL-terminated paths, of every
    # file replaced or removed, and of those among them that were not there before.
    listed, added = f'"$T/{i}.files"', f'"$T/{i}.added"'
    out += f": >{added}\n{{\n"
    for j, path, saved in restorable:
        out += (
            f'  if [ -e "$T/{j}.changed" ]; then\n'
            f"    printf '%s\\0' {quote(path)}\n"
            f'    if [ -e "$T/{saved}.absent" ]; then\n'
            f"      printf '%s\\0' {quote(path)} >>{added}\n    fi\n"
            "  fi\n"
        )
    out += f"  :\n}} >{listed}\n"
    env = f"ORCHESTRA_CHANGED_FILES={listed} ORCHESTRA_ADDED_FILES={added}"
    run = f'{env} bash "$T/{i}.cmd" </dev/null'
    if step.timeout is not None:
        run = (
            f"{env} timeout --kill-after={KILL_AFTER} "
            f'{_seconds(step.timeout)} bash "$T/{i}.cmd" </dev/null'
        )
    done = (
        f"__o_safe -l {quote(step.marker)} && rm -f -- {quote(step.marker)}; "
        if step.marker is not None
        else ""
    )
    out += f'{run}\nrc=$?\n[ "$rc" -eq 0 ] && {{ {done}exit 0; }}\n'
    for j, path, saved in restorable:
        out += _restore_block(str(j), path, saved)
    return out + f'{run} >/dev/null 2>&1\nexit "$rc"\n'


def _outputs(step: AssembleFile) -> list[str]:
    """The endings of every derived output, each once, in order."""
    return list(dict.fromkeys(o for d in step.derived for o in d.outputs))


def _argv(argv: tuple[str, ...]) -> str:
    """An assembly's checker or derived command as shell words, :data:`CANDIDATE` anywhere
    in an element as the candidate's path (``"$n"``)."""
    words = []
    for arg in argv:
        parts = arg.split(CANDIDATE)
        words.append('"$n"'.join(quote(part) if part else "" for part in parts) or "''")
    return " ".join(words)


def _assemble_snippet(step: AssembleFile, i: int, earlier: list[tuple[int, Step]]) -> str:
    """Builds the candidate from the fragments found on the server, swaps it in (derived
    outputs first) when it differs; a refusal takes back this batch's fragments of it."""
    parent = posixpath.dirname(step.path) or "."
    base = posixpath.basename(step.path)
    mode = _mode(step.mode)
    outputs = _outputs(step)
    # Room beside the candidate for the longest output's ending (postmap's .db).
    room = max((len(o.encode("utf-8")) for o in outputs), default=0)
    template = companion(".", base, _CANDIDATE + "x" * room)
    template = template[: len(template) - room]
    # A refusal takes back what the batch changed for the file's daemon so far (the other
    # tables' fragments, the files already assembled: one object's lines are in several),
    # or, for a file no daemon reads, this file's own fragments.
    if step.notify is not None:
        restored = _restorable(step.notify, earlier)
    else:
        restored = [
            (j, s.path, str(j))
            for j, s in earlier
            if isinstance(s, WriteFile | DeleteFile)
            and s.fragment_of is not None
            and s.fragment_of.path == step.path
        ]
    takeback = "__o_takeback() {\n  local p n\n"
    for j, path, saved in restored:
        takeback += "  " + _restore_block(str(j), path, saved).replace("\n", "\n  ").rstrip(" ")
    for j in dict.fromkeys(j for j, _, _ in restored):
        takeback += f'  rm -f -- "$T/{j}.changed"\n'
    takeback += "  :\n}\n"
    fresh = "".join(
        f' && [ -f "$p"{quote(o)} ] && [ ! -L "$p"{quote(o)} ] && [ ! "$p"{quote(o)} -ot "$p" ]'
        for o in outputs
    )
    lines = [
        _SNIPPET_HEAD,
        "export LC_ALL=C\n",
        f"p={quote(step.path)}\n",
        f"d={quote(posixpath.normpath(step.fragments))}\n",
        takeback,
        "__o_refuse() {\n"
        + (
            "  printf 'orchestra: %s is refused: the live file and its fragments stay as they "
            'were\\n\' "$p" >&2\n'
            if step.notify is None
            else "  printf 'orchestra: %s is refused: it, its fragments and what this batch "
            f'changed before for %s stay as they were\\n\' "$p" {quote(step.notify)} >&2\n'
        )
        + '  __o_takeback\n  exit "$1"\n}\n',
        'if [ -d "$p" ] && [ ! -L "$p" ]; then\n'
        "  printf 'orchestra: %s is a directory\\n' \"$p\" >&2\n  exit 1\nfi\n",
        '__o_safe -l "$p"' + "".join(f' "$p"{quote(o)}' for o in outputs) + " || exit 1\n",
        '__o_safe "$d" || __o_refuse 1\n',
        f"(umask 022 && mkdir -p -- {quote(parent)}) || exit 1\n",
        f"n=$(mktemp -- {quote(posixpath.join(parent, template))}) || exit 1\n",
        'trap \'rm -f -- "$n" "$n"*\' EXIT\n',
        "shopt -s nullglob\n",
        f'set -- "$d"/*{quote(step.suffix)}\n',
        "for f; do\n"
        "  if [[ -L $f || ! -f $f ]]; then\n"
        "    printf 'orchestra: refusing the fragment %s: not a regular file\\n' \"$f\" >&2\n"
        "    __o_refuse 1\n"
        "  fi\ndone\n",
        # Each fragment ends with a newline (sed adds one where it is missing).
        # A unique file keeps the first of repeated lines (pipefail: a failed sed fails it).
        "if (( $# )); then\n"
        + ("  set -o pipefail\n" if step.unique else "")
        + f"  {{ cat -- \"$T/{i}.data\" && printf '%s\\0' \"$@\" | xargs -0 sed -s -e '$a\\' --"
        + (" | awk '!seen[$0]++'" if step.unique else "")
        + '; } >"$n" || exit 1\n'
        "fi\n",
        f'chmod {mode} -- "$n"' + _chown(_NEW, step.owner, step.group) + " || exit 1\n",
        'if [ -f "$p" ] && [ ! -L "$p" ] && cmp -s -- "$n" "$p"'
        f' && [ "$(stat -c %a -- "$p")" = {mode} ]'
        f"{_owner_checks('p', step.owner, step.group, follow=False)}{fresh}; then\n",
        "  " + _UNCHANGED.format(i=i).replace("\n", "\n  ", 1),
        "fi\n",
    ]
    if step.validate:
        lines.append(f'{_argv(step.validate)}\nrc=$?\n[ "$rc" -eq 0 ] || __o_refuse "$rc"\n')
    for derived in step.derived:
        lines.append(f'{_argv(derived.argv)}\nrc=$?\n[ "$rc" -eq 0 ] || __o_refuse "$rc"\n')
        for o in derived.outputs:
            lines.append(
                f'if [ ! -f "$n"{quote(o)} ] || [ -L "$n"{quote(o)} ]; then\n'
                f"  printf 'orchestra: %s did not make its %s file\\n' {quote(derived.argv[0])}"
                f" {quote(o)} >&2\n  __o_refuse 1\nfi\n"
            )
    for k, o in enumerate(outputs):
        lines.append(
            f'chmod {mode} -- "$n"{quote(o)}'
            + _chown(f'"$n"{quote(o)}', step.owner, step.group)
            + " || exit 1\n"
            + f'if [ -e "$p"{quote(o)} ] || [ -L "$p"{quote(o)} ]; then\n'
            f'  cp -a -- "$p"{quote(o)} "$T/{i}.o{k}.backup" || exit 1\n'
            f'else\n  : >"$T/{i}.o{k}.absent"\nfi\n'
        )
    lines.append(
        'if [ -e "$p" ] || [ -L "$p" ]; then\n'
        f'  cp -a -- "$p" "$T/{i}.backup" || exit 1\n'
        f'else\n  : >"$T/{i}.absent"\nfi\n'
    )
    lines += [f'mv -f -- "$n"{quote(o)} "$p"{quote(o)} || exit 1\n' for o in outputs]
    lines.append('mv -f -- "$n" "$p" || exit 1\n')
    return "".join(lines)


def _seconds(timeout: float) -> str:
    return format(max(timeout, 0.001), ".3f")


def _snippet(step: Step, i: int, earlier: list[tuple[int, Step]]) -> str:
    if isinstance(step, WriteFile):
        return _write_snippet(step, i)
    if isinstance(step, DeleteFile):
        return _delete_snippet(step, i)
    if isinstance(step, EnsureDirectory):
        return _mkdir_snippet(step, i)
    if isinstance(step, Reload):
        return _reload_snippet(step, i, earlier)
    if isinstance(step, AssembleFile):
        return _assemble_snippet(step, i, earlier)
    if isinstance(step, Inspect):
        return _inspect_snippet(step, i)
    if isinstance(step, Command):
        return _command_snippet(step, i)
    raise TypeError(f"cannot compile a step of kind {step.kind!r}: {type(step).__name__}")


def _payloads(step: Step, i: int) -> list[tuple[str, str, bool]]:
    """The data files of a step: (file name, text, secret?)."""
    if isinstance(step, WriteFile):
        return [(f"{i}.data", step.content, step.sensitive)]
    if isinstance(step, AssembleFile):
        return [(f"{i}.data", step.header, False)]
    if isinstance(step, Reload | Inspect):
        return [(f"{i}.cmd", step.script, False)]
    if isinstance(step, Command):
        out = [(f"{i}.cmd", step.script, False)]
        if step.unless is not None:
            out.append((f"{i}.unless", step.unless, False))
        if step.stdin is not None:
            out.append((f"{i}.stdin", step.stdin, step.sensitive))
        return out
    return []


def _repeat_block(step: Step, i: int) -> str:
    """A directory step identical to an earlier one of this batch: already done, no fork."""
    label = " ".join(f"{step.kind}: {step.description}".split())
    return (
        f"# step {i} - {label} (same as an earlier step)\n"
        f'__o_now; : >"$__o_tmp/{i}.out"; : >"$__o_tmp/{i}.err"; '
        f'__o_report {i} unchanged 0 "$__o_ms"\n'
    )


def _marker_block(i: int, marker: str) -> str:
    """After a step that notifies a daemon: when it changed something, the reload is owed.
    A marker that cannot be written safely (a planted symlink) ends the batch."""
    parent = posixpath.dirname(marker)
    return (
        f'if [ -e "$__o_tmp/{i}.changed" ]; then __o_safe {quote(marker)} && '
        f"mkdir -p -- {quote(parent)} && : >{quote(marker)} || exit 1; fi\n"
    )


def payload_word(text: str) -> str:
    """``text`` as a bash ``$'...'`` word: safe characters as they are, every other byte as
    ``\\xHH``, so nothing in it can end the word; the printf builtin writes it, no process.
    NUL cannot be held by a bash string and is refused."""
    if "\x00" in text:
        raise TemplateError("refusing to put a NUL character into a batch")
    out = []
    for char in text:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode("utf-8"))
    return "$'" + "".join(out) + "'"


def _put(name: str, text: str) -> str:
    """The batch line that writes a payload file: a bash word for the printf builtin, or
    base64 for the rare payload holding NUL (no bash string can)."""
    if "\x00" in text:
        return f"__o_put64 {name} '{_b64(text)}'"
    return f"__o_put {name} {payload_word(text)}"


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,._+:@%/=-")


def _step_block(step: Step, i: int, earlier: list[tuple[int, Step]], *, redact: bool) -> str:
    payloads = _payloads(step, i)
    label = " ".join(f"{step.kind}: {step.description}".split())
    head = f"# step {i} - {label}\n"
    notify = "1" if _tracked(step) else "0"
    if step.timeout is None:
        # In a subshell of the batch: one fork, no new bash to start. A Command's script
        # (never secret) goes into a variable rather than a file.
        if isinstance(step, Command | Inspect) and "\x00" not in step.script:
            head += f"__o_c={payload_word(step.script)}\n"
            payloads = [p for p in payloads if p[0] != f"{i}.cmd"]
            if isinstance(step, Inspect):
                snippet = _inspect_snippet(step, i, inline=True)
            else:
                snippet = _command_snippet(step, i, inline=True)
        else:
            snippet = _snippet(step, i, earlier)
        body = snippet.replace(_SNIPPET_HEAD, 'set -u\nT="$__o_tmp"\n', 1)
        return (
            head
            + _unpack(payloads, i, redact=redact)
            + "__o_now; __o_start=$__o_ms\n"
            + f"(\n{body})"
            + f' </dev/null >"$__o_tmp/{i}.out" 2>"$__o_tmp/{i}.err"\n'
            + f'__o_done {i} $? "" "$__o_start" {notify} || exit 1\n'
        )
    wrap = "0" if isinstance(step, Reload) else "1"
    payloads.append((f"{i}.sh", _snippet(step, i, earlier), False))
    return (
        head
        + _unpack(payloads, i, redact=redact)
        + f"__o_run {i} '{_seconds(step.timeout)}' {wrap} {notify} || exit 1\n"
    )


def _tracked(step: Step) -> bool:
    """True for a step whose change a later step looks at (``INDEX.changed``): one that
    notifies a daemon, and a fragment of an assembled file."""
    if step.notify is not None:
        return True
    return isinstance(step, WriteFile | DeleteFile) and step.fragment_of is not None


def _unpack(payloads: list[tuple[str, str, bool]], i: int, *, redact: bool) -> str:
    """The line writing a step's data files (secret ones as the redaction marker when
    ``redact``); a step that cannot be unpacked is reported broken and ends the batch."""
    if not payloads:
        return ""
    puts = [
        f"__o_put {name} {REDACTED_WORD}" if redact and secret else _put(name, text)
        for name, text, secret in payloads
    ]
    return f"{{ {' && '.join(puts)}; }} || {{ __o_broken {i}; exit 1; }}\n"


#: What the bootstrap says, on stderr, of a batch that did not arrive whole.
INCOMPLETE = "orchestra: the batch arrived incomplete (its last line is missing): none of it ran"

#: Runs a batch sent on stdin (``bash -c BOOTSTRAP``): save it whole in a private file, check
#: that it arrived whole, open it, unlink it at once (nothing is left behind, even if the
#: batch is killed) and run it from the open descriptor. A batch's first line is ``# orchestra
#: batch NONCE`` and its last ``# orchestra batch NONCE end``: a connection lost while it was
#: sent must not run the part that came, and the nonce (new for every batch) cannot be in the
#: text of a step. bash reads a script from a pipe one byte at a time (it must not read past
#: a command that reads stdin itself); from a file it reads in blocks, several times faster
#: for a big batch. The batch's own stdin is /dev/null.
BOOTSTRAP = (
    'umask 077; f=$(mktemp) || exit 1; if cat >"$f" && IFS= read -r h <"$f" && '
    r'[ "${h#\# orchestra batch }" != "$h" ] && [ "$(tail -n 1 -- "$f")" = "$h end" ] && '
    'exec 3<"$f"; then rm -f -- "$f"; '
    f'else rm -f -- "$f"; echo {quote(INCOMPLETE)} >&2; exit 1; fi; '
    "exec bash /dev/fd/3 </dev/null"
)


def _root(root: str | None) -> str:
    """The sandbox root as the batch sees it (absolute, no trailing slash), or nothing."""
    if not root:
        return ""
    return posixpath.normpath(os.path.abspath(root))


def compile_batch(server_plan: ServerPlan, *, nonce: str | None = None) -> Batch:
    """Compile a server's steps, in order, into one script (run it with :data:`BOOTSTRAP`).

    Raises :class:`~orchestra_core.errors.TemplateError` for a path or argv element that no
    shell word can hold (NUL), and ``TypeError`` for a step kind it does not know.
    """
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    if not nonce or not nonce.isalnum():
        raise ValueError("a batch nonce is a non-empty alphanumeric word")
    steps = server_plan.steps
    payload_bytes = sum(
        len(text.encode("utf-8"))
        for i, step in enumerate(steps)
        for _, text, _ in _payloads(step, i)
    )
    # Room for the payloads twice over (data and the copies steps make) and 64 MiB of output.
    need_kib = 2 * payload_bytes // 1024 + 65536
    prelude = (
        _PRELUDE.replace("__NONCE__", nonce)
        .replace("__NEED_KIB__", str(need_kib))
        .replace("__LIMIT__", str(OUTPUT_LIMIT))
        .replace("__KILL__", str(KILL_AFTER))
        .replace("__ROOT__", quote(_root(server_plan.server.root)))
        .replace("__SAFE_PATHS__", SAFE_PATHS)
    )
    head = f"# orchestra batch {nonce}\n"
    script, redacted = [head, prelude], [head, prelude]
    earlier: list[tuple[int, Step]] = []
    directories: set[EnsureDirectory] = set()
    markers = {s.daemon: s.marker for s in steps if isinstance(s, Reload) and s.marker}
    for i, step in enumerate(steps):
        if isinstance(step, EnsureDirectory) and step.timeout is None:
            if step in directories:
                script.append(_repeat_block(step, i))
                redacted.append(_repeat_block(step, i))
                earlier.append((i, step))
                continue
            directories.add(step)
        script.append(_step_block(step, i, earlier, redact=False))
        redacted.append(_step_block(step, i, earlier, redact=True))
        if step.notify is not None and step.notify in markers and not isinstance(step, Reload):
            marker = markers[step.notify]
            script.append(_marker_block(i, marker))
            redacted.append(_marker_block(i, marker))
        earlier.append((i, step))
    script.append(f"exit 0\n# orchestra batch {nonce} end\n")
    redacted.append(f"exit 0\n# orchestra batch {nonce} end\n")
    return Batch(
        server=server_plan.server.name,
        steps=steps,
        script="".join(script),
        redacted="".join(redacted),
        nonce=nonce,
    )


def describe_for_log(
    step: Step, index: int = 0, earlier: list[tuple[int, Step]] | None = None
) -> str:
    """A readable, redacted account of what the batch ran for one step, for operation logs.

    Shows the step's data files (a sensitive step's content and stdin as the redaction marker)
    followed by the generated snippet; ``$T`` is the batch's private temporary folder.
    """
    label = " ".join(f"{step.kind}: {step.description}".split())
    out = [f"# step {index} - {label}\n"]
    for name, text, secret in _payloads(step, index):
        if secret:
            out.append(f"# $T/{name}: {REDACTED} (sensitive)\n")
            continue
        out.append(f"# $T/{name} ({len(text.encode('utf-8'))} bytes):\n")
        out.extend(f"#| {line}\n" for line in text.splitlines())
    out.append(_snippet(step, index, earlier or []))
    return "".join(out)


def _decode(field: str) -> str:
    if field == "-":
        return ""
    return base64.b64decode(field, validate=True).decode("utf-8", errors="replace")


def parse_output(stdout: str, nonce: str) -> list[RawStepResult]:
    """The result records of a batch's stdout, in order; other and malformed lines are ignored."""
    results: list[RawStepResult] = []
    for line in stdout.splitlines():
        fields = line.split(" ")
        if len(fields) != 8 or fields[0] != RECORD_PREFIX or fields[1] != nonce:
            continue
        _, _, index, status, exit_code, duration_ms, out, err = fields
        if status not in STATUSES:
            continue
        try:
            results.append(
                RawStepResult(
                    index=int(index),
                    status=status,
                    exit_code=int(exit_code),
                    duration=int(duration_ms) / 1000,
                    stdout=_decode(out),
                    stderr=_decode(err),
                )
            )
        except (ValueError, binascii.Error):
            continue
    return results
