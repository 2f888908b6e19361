"""YAML read into plain data, remembering the line of every mapping key and list item.

``yaml.safe_load`` forgets where things were; the inventory loader must say ``file:line`` for
every problem, down to ``records[2].values[0]``. So the text is composed into nodes (which keep
their marks) and built into dicts, lists and scalars here, with a :class:`LineMap` from each
path to its line. Duplicate keys, which YAML loaders silently overwrite, are refused.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from orchestra_core.errors import InventoryError

__all__ = ["LineMap", "Path", "parse_field_path", "read_yaml"]

#: Where a value sits in the document: mapping keys and list indexes from the root.
Path = tuple[str | int, ...]

#: Aliases can make a small file expand into a huge tree ("billion laughs"); stop early.
_MAX_NODES = 200_000
_PLAIN = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
#: libyaml's parser when PyYAML was built with it (Debian's and the wheels are): it composes a
#: big inventory about ten times faster than the pure-Python one, with the same marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines = LineMap()
        self.constructor = SafeConstructor()
        self.count = 0

    def error(self, node: yaml.Node, message: str) -> InventoryError:
        return InventoryError(message, file=self.filename, line=node.start_mark.line + 1)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.error(node, f"the document expands to more than {_MAX_NODES} values")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN:
            raise self.error(node, f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.lines.set((*path, i), item.start_mark.line + 1)
                items.append(self.build(item, (*path, i)))
            return items
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # resolves '<<' merge keys
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.error(key_node, f"mapping keys must be strings, got {key!r}")
            if key in out:
                raise self.error(key_node, f"duplicate key {key!r} in the same mapping")
            self.lines.set((*path, key), key_node.start_mark.line + 1)
            out[key] = self.build(value_node, (*path, key))
        return out


def read_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain data and the line of every path.

    An empty document is None. Syntax errors, unknown tags, non-string keys and duplicate keys
    raise :class:`InventoryError` with the file and line.
    """
    try:
        root = yaml.compose(text, Loader=_LOADER)
        if root is None:
            return None, LineMap()
        builder = _Builder(filename)
        builder.lines.set((), root.start_mark.line + 1)
        return builder.build(root, ()), builder.lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise InventoryError(
            f"YAML syntax error: {what or 'invalid document'}", file=filename, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"YAML error: {exc}", file=filename) from None
    except RecursionError:
        raise InventoryError("the document nests too deeply", file=filename) from None
