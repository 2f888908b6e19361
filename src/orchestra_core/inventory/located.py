"""YAML read into plain data, remembering the line of every mapping key and list item.

``yaml.safe_load`` forgets where things were; the inventory loader must say ``file:line`` for
every problem, down to ``records[2].values[0]``. So the text is composed into nodes (which keep
their marks) and built into dicts, lists and scalars here, with a :class:`LineMap` from each
path to its line. Duplicate keys, which YAML loaders silently overwrite, are refused, and so is
what the rest of orchestra cannot take, each at its line: a lone surrogate (``"\\udc80"``, which
no file, script or log can hold), nesting deeper than :data:`MAX_DEPTH`, an integer too long to
read, a tag other than YAML's own.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from orchestra_core.errors import InventoryError, shown
from orchestra_core.inventory.wording import quote

__all__ = ["MAX_ALIAS_VALUES", "MAX_DEPTH", "LineMap", "Path", "parse_field_path", "read_yaml"]

#: Where a value sits in the document: mapping keys and list indexes from the root.
Path = tuple[str | int, ...]

#: Aliases can make a small file expand into a huge tree ("billion laughs"): the values an
#: alias builds again (a node already built, and everything under it) are counted, and the
#: document is refused past this many. The document's own values are not: they are what the
#: file holds (an inventory of 4,000 domains has more than 200,000), already composed.
MAX_ALIAS_VALUES = 200_000
#: No inventory nests deeper than a dozen levels; Python's recursion ends near a thousand.
MAX_DEPTH = 64
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: Numbers YAML 1.1 reads unlike what they look like: ``0644`` is the octal 420 (YAML 1.2
#: reads 644), ``1:30`` is the base-60 90.
_AMBIGUOUS = re.compile(r"[-+]?0[0-7_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_PLAIN = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_FIELD_PART = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


class LineMap:
    """The 1-based line of each path; a missing path falls back to its nearest ancestor."""

    def __init__(self) -> None:
        self._lines: dict[Path, int] = {}

    def set(self, path: Path, line: int) -> None:
        """Remember the line of a path (the first time only: aliases reuse nodes)."""
        self._lines.setdefault(path, line)

    def line(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None


def parse_field_path(field: str) -> Path:
    """``records[2].values[0]`` as ``("records", 2, "values", 0)``; ``options[a.b]`` keeps
    ``a.b`` as one key. Unparsable parts end the path (the caller falls back to its parent).
    """
    parts: list[str | int] = []
    pos = 0
    while pos < len(field):
        match = _FIELD_PART.match(field, pos)
        if match is None or match.end() == pos:
            break
        name, index = match.groups()
        if name is not None:
            parts.append(name)
        else:
            parts.append(int(index) if index.isdigit() else index)
        pos = match.end()
    return tuple(parts)


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's pure-Python loader, whose composer recurses once per level: stopped at
    :data:`MAX_DEPTH` with the line, before Python's recursion limit stops it with none.
    (libyaml stops at a thousand levels itself, with the line; the builder stops it sooner.)"""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


#: libyaml's parser when PyYAML was built with it (Debian's and the wheels are): it composes a
#: big inventory about ten times faster than the pure-Python one, with the same marks.
_LOADER: type[yaml.SafeLoader] = _C_LOADER or _DepthLimitedLoader


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines = LineMap()
        self.constructor = SafeConstructor()
        #: The nodes built so far (by id: the composed tree holds them all while it builds);
        #: one met again is an alias.
        self.built: set[int] = set()
        #: How deep the build is inside an alias's repetition, and what it built there.
        self.repeating = 0
        self.repeated = 0

    def error(self, node: yaml.Node, message: str) -> InventoryError:
        return InventoryError(message, file=self.filename, line=node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        again = id(node) in self.built
        self.built.add(id(node))
        if again or self.repeating:
            self.repeated += 1
            if self.repeated > MAX_ALIAS_VALUES:
                # An alias's node carries its anchor's line: say where the document's own
                # entry that holds the expansion begins.
                line = self.lines.line(path[:1]) or node.start_mark.line + 1
                raise InventoryError(
                    f"{_field(path[:1])}its aliases repeat more than {MAX_ALIAS_VALUES} values "
                    "(a document that expands without bound?)",
                    file=self.filename,
                    line=line,
                )
        if not again:
            return self._build(node, path)
        self.repeating += 1
        try:
            return self._build(node, path)
        finally:
            self.repeating -= 1

    def _build(self, node: yaml.Node, path: Path) -> Any:
        if len(path) > MAX_DEPTH:
            raise self.error(node, f"the document nests more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN:
            raise self.error(node, f"unsupported YAML tag {quote(node.tag)}")
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines.set((*path, i), item.start_mark.line + 1)
                items.append(self.build(item, (*path, i)))
            return items
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: Path) -> Any:
        """A scalar's value; what nothing downstream can hold, and a number that is not what
        it looks like, are refused here, at their line."""
        if node.tag in _NUMBER_TAGS and _AMBIGUOUS.fullmatch(node.value):
            octal = ":" not in node.value
            number = self.constructor.construct_object(node)
            raise self.error(
                node,
                f"{_field(path)}{node.value} is read by YAML as the "
                + (
                    f'octal number {number}: quote it ("{node.value}") for text such as a file '
                    "mode, or write the number without a leading zero"
                    if octal
                    else f'base-60 number {number}: quote it ("{node.value}") for text, or '
                    "write the number in decimal"
                ),
            )
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ValueError:  # an integer of more digits than Python reads (4300)
            raise self.error(
                node, f"{_field(path)}{quote(node.value, 40)} is a number too long to read"
            ) from None
        if isinstance(value, str) and _SURROGATE.search(value):
            raise self.error(
                node,
                f"{_field(path)}{quote(value)} holds a lone surrogate, which is not a "
                "character: no file, script or log can hold it",
            )
        return value

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # resolves '<<' merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            scalar = isinstance(key_node, yaml.ScalarNode)
            key = self.scalar(key_node, path) if scalar else None
            if not isinstance(key, str):
                shown = quote(key) if key is not None else "a list or a mapping"
                raise self.error(key_node, f"mapping keys must be strings, got {shown}")
            if key in out:
                raise self.error(key_node, f"duplicate key {quote(key)} in the same mapping")
            self.lines.set((*path, key), key_node.start_mark.line + 1)
            out[key] = self.build(value_node, (*path, key))
        return out


def _field(path: Path) -> str:
    """``routes[2].settings: `` for a message about the value at ``path``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return f"{shown(out)}: " if out else ""


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def read_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain data and the line of every path.

    An empty document is None. Syntax errors, unknown tags, non-string keys, duplicate keys,
    lone surrogates and nesting deeper than :data:`MAX_DEPTH` raise :class:`InventoryError`
    with the file and line.
    """
    found = _SURROGATE.search(text)
    if found is not None:  # neither YAML parser can take one (libyaml's raises, unmarked)
        raise InventoryError(
            f"a lone surrogate {quote(found.group())} is not a character",
            file=filename,
            line=_line_of(text, found.start()),
        )
    try:
        root = yaml.compose(text, Loader=_LOADER)
        if root is None:
            return None, LineMap()
        builder = _Builder(filename)
        builder.lines.set((), root.start_mark.line + 1)
        return builder.build(root, ()), builder.lines
    except _TooDeep as exc:
        raise InventoryError(
            f"the document nests more than {MAX_DEPTH} levels deep",
            file=filename,
            line=exc.mark.line + 1,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise InventoryError(
            f"YAML syntax error: {what or 'invalid document'}", file=filename, line=line
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (a control character)
        raise InventoryError(
            f"YAML error: {exc.reason} {quote(chr(exc.character))}"
            if isinstance(exc.character, int)
            else f"YAML error: {exc.reason}",
            file=filename,
            line=_line_of(text, exc.position),
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"YAML error: {exc}", file=filename) from None
