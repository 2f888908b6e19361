"""Write a new driver distribution from the template tree under ``scaffold/driver/``.

The template files are the files of a working driver with ``@@token@@`` markers in their
content and paths, and a ``.tmpl`` suffix (so that neither ruff, mypy nor pytest takes them for
the core's own code). The generated package holds jinja2 templates and shell scripts of its
own, so the markers are replaced by plain text substitution, once, never by a template engine:
a replacement is never scanned again, and an unknown marker is an error.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import attrs

from orchestra_core.catalogue import CATALOGUE
from orchestra_core.errors import OrchestraError
from orchestra_core.scaffold.examples import (
    CHANGES,
    EXAMPLES,
    KINDS,
    imports_of,
    set_lines,
    source,
)

__all__ = [
    "DEFAULT_KIND",
    "DriverNames",
    "ScaffoldError",
    "driver_names",
    "new_driver",
    "render_tree",
    "replace_tokens",
]

#: The service kind of a driver made without ``--kind``.
DEFAULT_KIND = "domain"
#: A driver name: lower-case letters and digits, words joined by one ``-`` or ``_``.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
#: Longest driver name accepted (it becomes a package, a fixture and a backend name).
MAX_NAME = 20
#: Names taken by orchestra-core itself (its distribution and its built-in plugins).
RESERVED = frozenset({"core", "catalogue", "dummy", "testing", "scaffold"})
#: The markers in template files.
TOKEN = re.compile(r"@@([A-Za-z_]+)@@")
#: The suffix of every template file, removed when it is written.
SUFFIX = ".tmpl"
#: Template names that become hidden files (a wheel drops files starting with a dot).
HIDDEN = {"gitignore": ".gitignore"}


class ScaffoldError(OrchestraError):
    """A driver cannot be generated: a bad name, an unknown kind, an existing folder."""


@attrs.frozen(kw_only=True)
class DriverNames:
    """Every name a driver called ``name`` for service kind ``kind`` goes by."""

    name: str
    kind: str

    @property
    def ident(self) -> str:
        """The name as a Python identifier: ``my_daemon`` (fixtures, the package suffix)."""
        return self.name.replace("-", "_")

    @property
    def distribution(self) -> str:
        """``orchestra-NAME``."""
        return f"orchestra-{self.name}"

    @property
    def package(self) -> str:
        """``orchestra_IDENT``."""
        return f"orchestra_{self.ident}"

    @property
    def class_prefix(self) -> str:
        """``MyDaemon``: the start of the driver's class names."""
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.name))

    @property
    def backend(self) -> str:
        """``NAME-KIND``: the backend's name, the one routes give."""
        return f"{self.name}-{self.kind}"

    @property
    def service_class(self) -> str:
        """The catalogue class of :attr:`kind` (``Domain``)."""
        return next(t.__name__ for t in CATALOGUE if t.kind == self.kind)

    def tokens(self) -> dict[str, str]:
        """What each ``@@token@@`` of the template tree becomes."""
        objects = EXAMPLES[self.kind]
        subject = objects[0]
        listed = "".join(f"    {source(obj, 4)},\n" for obj in objects)
        changed = CHANGES[self.kind]
        imports = ", ".join(name for name in imports_of((*objects, changed)))
        return {
            "name": self.name,
            "ident": self.ident,
            "distribution": self.distribution,
            "package": self.package,
            "Class": self.class_prefix,
            "kind": self.kind,
            "Kind": self.service_class,
            "backend": self.backend,
            "slug": re.sub(r"[^a-z0-9]+", "-", self.name),
            "example_imports": imports,
            "face_imports": _import_lines((*FACE_NAMES, self.service_class)),
            "example_objects": listed,
            "example_changed": source(changed, 0, len("CHANGED: Service = ")),
            "example_key_json": json.dumps(subject.key),
            "example_file": _file_name(subject.identity),
            "example_set_lines": set_lines(subject),
        }


#: What the template's backend imports from the driver face, besides its service type.
FACE_NAMES = (
    "CANDIDATE",
    "Backend",
    "DeleteFile",
    "EnsureDirectory",
    "FieldError",
    "RenderContext",
    "Server",
    "Step",
    "WriteFile",
    "file_name",
)


def _import_lines(names: tuple[str, ...]) -> str:
    """The names of a parenthesised import, one a line, in the order ruff's isort keeps
    them (constants, then classes, then functions), so that the generated code is lint-clean
    whatever the service type's name."""

    def kind(name: str) -> int:
        return 0 if name.isupper() else 1 if name[0].isupper() else 2

    return "".join(f"    {name},\n" for name in sorted(set(names), key=lambda n: (kind(n), n)))


def driver_names(name: str, kind: str = DEFAULT_KIND) -> DriverNames:
    """Check a driver's ``name`` and ``kind``; :class:`ScaffoldError` says what is wrong."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"driver name {name!r} is not valid: use lower-case letters and digits, starting "
            f"with a letter, words joined by one '-' or '_', at most {MAX_NAME} characters "
            "(e.g. powerdns, exim, php-fpm)"
        )
    if name in RESERVED:
        raise ScaffoldError(
            f"driver name {name!r} is taken by orchestra-core itself; choose another "
            "(the name of the daemon the driver drives)"
        )
    if kind not in KINDS:
        raise ScaffoldError(
            f"unknown service kind {kind!r}: the catalogue's kinds are {', '.join(KINDS)}"
        )
    return DriverNames(name=name, kind=kind)


def replace_tokens(text: str, tokens: Mapping[str, str], *, where: str = "template") -> str:
    """``text`` with every ``@@token@@`` replaced by ``tokens[token]``, in one pass.

    An unknown token is a :class:`ScaffoldError` naming ``where`` it is.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in tokens:
            raise ScaffoldError(f"{where}: unknown token @@{token}@@")
        return tokens[token]

    return TOKEN.sub(replace, text)


def template_root() -> Traversable:
    """The template tree of a driver (package data of orchestra-core)."""
    return resources.files("orchestra_core.scaffold").joinpath("driver")


def render_tree(names: DriverNames) -> dict[str, str]:
    """Every file of the new driver, ``{relative path: content}``, nothing written."""
    tokens = names.tokens()
    files: dict[str, str] = {}
    for relative, entry in _walk(template_root()):
        if not relative.endswith(SUFFIX):
            continue  # editor backups, __pycache__...
        parts = relative.removesuffix(SUFFIX).split("/")
        parts[-1] = HIDDEN.get(parts[-1], parts[-1])
        path = replace_tokens("/".join(parts), tokens, where=relative)
        files[path] = replace_tokens(entry.read_text(encoding="utf-8"), tokens, where=relative)
    return files


def new_driver(name: str, kind: str = DEFAULT_KIND, directory: Path | str = ".") -> Path:
    """Write the driver ``orchestra-NAME`` for service ``kind`` into ``directory``.

    Returns the new folder, ``DIRECTORY/orchestra-NAME``. Refuses (:class:`ScaffoldError`) a
    bad name or kind, and a folder that exists already: nothing is ever overwritten.
    """
    names = driver_names(name, kind)
    target = Path(directory).absolute() / names.distribution
    if target.exists() or target.is_symlink():
        raise ScaffoldError(
            f"{target} already exists: remove it or choose another --directory; "
            "new-driver never overwrites"
        )
    files = render_tree(names)
    target.mkdir(parents=True)
    for relative, content in sorted(files.items()):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return target


def _walk(root: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _walk(entry, relative + "/")
        else:
            yield relative, entry


def _file_name(identity: str) -> str:
    """The config file name the generated backend gives an object (see its ``file_name``)."""
    return urllib.parse.quote(identity, safe="@.-_+") + ".conf"
