"""The orchestra pytest plugin: fixtures for testing backends, drivers and embedding code.

Registered through the ``pytest11`` entry point ``orchestra``, so every test session that has
orchestra-core installed gets these fixtures. The module holds fixtures only and imports the
rest of orchestra inside their bodies, so loading it costs nothing and does not hide code from
coverage. Disable it with ``-p no:orchestra``; override a fixture by defining one of the same
name in a ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from orchestra_core.execution.recording import RecordingTransport
    from orchestra_core.testing.daemon import DaemonFactory

__all__ = ["daemon_factory", "recording_transport"]


@pytest.fixture
def recording_transport() -> Iterator[RecordingTransport]:
    """A fresh :class:`~orchestra_core.execution.recording.RecordingTransport` (function scope).

    Starts nothing: it records every batch it is asked to run in ``.batches`` instead of
    running it, and is closed after the test. Override it with a ``recording_transport``
    fixture of your own in ``conftest.py`` (for example one that answers with canned results).
    """
    from orchestra_core.execution.recording import RecordingTransport

    transport = RecordingTransport()
    yield transport
    transport.close()


@pytest.fixture
def daemon_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonFactory]:
    """A callable that starts real daemons, each in its own temp dir (function scope).

    ``daemon_factory(argv, ready_port=PORT)`` (or ``ready=CALLABLE``, ``cwd=``, ``env=``,
    ``name=``, ``start=False``, ``timeout=``) returns a started
    :class:`~orchestra_core.testing.daemon.DaemonProcess`; every daemon it made is stopped
    (SIGTERM, then SIGKILL) at the end of the test. Driver suites build their daemon fixtures
    on it; override it with a ``daemon_factory`` fixture of your own in ``conftest.py``.
    """
    from orchestra_core.testing.daemon import DaemonFactory

    factory = DaemonFactory(lambda name: tmp_path_factory.mktemp(f"daemon-{name}"))
    try:
        yield factory
    finally:
        factory.stop_all()
