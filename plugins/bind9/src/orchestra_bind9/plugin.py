"""The ``bind9`` driver's plugin: its two backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestra_bind9.backends import Bind9Master, Bind9Slave
from orchestra_core.driver import Backend, hookimpl


@hookimpl
def orchestra_backends() -> Sequence[type[Backend[Any]]]:
    """``bind9-master`` and ``bind9-slave``, both for ``domain`` objects."""
    return [Bind9Master, Bind9Slave]
