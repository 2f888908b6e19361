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
    from orchestra_core.testing.sshd import SSHHost, SSHHostFactory

__all__ = ["daemon_factory", "recording_transport", "ssh_host_factory", "ssh_hosts"]


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


@pytest.fixture
def ssh_host_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHHostFactory]:
    """A callable that starts real sshd hosts on loopback (function scope).

    ``ssh_host_factory(count=1)`` returns a list of started
    :class:`~orchestra_core.testing.sshd.SSHHost`, each on its own 127.0.0.x address (the next
    unused ones, from 127.0.0.2) and free port, with its own host key, in a new temp dir; the
    current user logs in with the client key of that call. Every host it started, and every
    session on it, is stopped at the end of the test, whether it passed or not. Override it
    with a ``ssh_host_factory`` fixture of your own in ``conftest.py``.
    """
    from orchestra_core.testing.sshd import SSHHostFactory

    factory = SSHHostFactory(lambda name: tmp_path_factory.mktemp(name))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def ssh_hosts(ssh_host_factory: SSHHostFactory) -> list[SSHHost]:
    """Three started sshd hosts on 127.0.0.2, 127.0.0.3 and 127.0.0.4 (function scope).

    Made by ``ssh_host_factory`` (so more hosts from it take 127.0.0.5 on) and stopped by it
    after the test. ``host.server()`` gives the ssh ``Server`` for each. Override it with a
    ``ssh_hosts`` fixture of your own in ``conftest.py`` (for example with another count).
    """
    return ssh_host_factory(3)
