"""Moving what a delete takes away into a dated trash folder, never removing it.

A hosting customer's data (a Maildir, a home, a web app's files) is never ``rm -rf``'d by a
delete: it goes to ``TRASH/YYYY-MM-DD/NAME`` (the UTC day of the delete; ``NAME.2``,
``NAME.3``... when that day already has one), for the operator to restore or purge.
"""

from __future__ import annotations

from orchestra_core.backends.steps import Command
from orchestra_core.rendering.names import file_name
from orchestra_core.rendering.shell import quote
from orchestra_core.rendering.templates import Templates

__all__ = ["move_to_trash"]


def move_to_trash(
    description: str, path: str, trash: str, name: str, *, prune: bool = False
) -> Command:
    """The step that moves ``path`` (a real server path) to ``trash/YYYY-MM-DD/name``.

    ``name`` is one file name (``/`` is turned into ``~``, a long one is shortened with its
    hash). Nothing to move (``path`` absent) reports "nothing"; a ``path`` or destination
    reached through a symlink is refused. With ``prune``, the folder ``path`` was in is
    removed too when it is left empty (a mail domain's folder after its last mailbox).
    """
    script = Templates.for_package("orchestra_core.backends").shell(
        "trash.sh.j2", path=path, trash=trash, name=file_name(name.replace("/", "~")), prune=prune
    )
    return Command(
        description=description,
        script=script,
        unless=f"[ ! -e {quote(path)} ] && [ ! -L {quote(path)} ]",
    )
