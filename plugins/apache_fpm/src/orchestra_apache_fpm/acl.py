"""The one step that gives a folder its named ACL entries, for every backend of the driver."""

from __future__ import annotations

from collections.abc import Sequence

from orchestra_core.driver import Command, quote

__all__ = ["acl_step", "entry"]


def entry(user: str, mode: str, *, default: bool = False) -> str:
    """An ACL entry as ``getfacl`` prints it: ``user:NAME:r-x`` (``default:...``)."""
    return f"{'default:' if default else ''}user:{user}:{mode}"


def acl_step(what: str, path: str, entries: Sequence[str]) -> Command:
    """The step that gives ``path`` (a real server path, not a symlink) each of ``entries``
    (:func:`entry`): "nothing" when ``getfacl`` already lists them all. The check is one
    ``getfacl`` and bash patterns, no process per entry; other entries are left alone."""
    spec = ",".join(e.replace("default:", "d:").replace("user:", "u:") for e in entries)
    wanted = " && ".join(f"[[ $a == *$'\\n'{quote(e)}$'\\n'* ]]" for e in entries)
    return Command(
        description=f"ACL of {what}",
        script=f"__o_safe {quote(path)} || exit 1\nsetfacl -m {quote(spec)} -- {quote(path)}",
        unless=f"a=$'\\n'$(getfacl -cpE -- {quote(path)} 2>/dev/null)$'\\n' && {wanted}",
    )
