"""The objects the dummy driver's tests work on: a plain module, imported by the contract and
golden tests (a test never imports another test module)."""

from __future__ import annotations

from orchestra_core import Service
from orchestra_core.scaffold.examples import EXAMPLES

__all__ = ["OBJECTS"]

#: One valid object of each catalogue kind, and the objects they name (the examples a generated
#: driver's tests start from).
OBJECTS: list[Service] = list({obj.key: obj for objs in EXAMPLES.values() for obj in objs}.values())
