"""The orchestra pytest plugin: fixtures for testing backends, drivers and embedding code.

Registered through the ``pytest11`` entry point ``orchestra``, so every test session that has
orchestra-core installed gets these fixtures (``pytest --fixtures`` lists them with their
docs; ``docs/testing.md`` is their reference). The module holds fixtures only and imports the
rest of orchestra inside their bodies, so loading it costs nothing and does not hide code from
coverage. Disable it with ``-p no:orchestra``; override a fixture by defining one of the same
name in a ``conftest.py``.

What starts a daemon follows one pattern, built on one generic factory
(:class:`~orchestra_core.testing.factory.InstanceFactory` of a
:class:`~orchestra_core.testing.factory.DaemonKind`): a session-scoped fixture starts it once
(``shared_ssh_host``, on ``shared_daemons``, which keeps one factory per kind for the session
and stops everything at its end), a function-scoped one hands it to each test reset
(``ssh_host``), and a factory starts private ones that stop after the test
(``ssh_host_factory``, ``daemon_factory``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orchestra_core.engine import Orchestra
    from orchestra_core.execution.recording import RecordingTransport
    from orchestra_core.model import Route, Server
    from orchestra_core.testing.daemon import DaemonFactory
    from orchestra_core.testing.factory import SharedDaemons
    from orchestra_core.testing.golden import Golden
    from orchestra_core.testing.sshd import SSHHost, SSHHostFactory

__all__ = [
    "daemon_factory",
    "golden",
    "orchestra",
    "orchestra_factory",
    "orchestra_routes",
    "orchestra_servers",
    "postgres_server",
    "postgres_url",
    "recording_transport",
    "shared_daemon_factory",
    "shared_daemons",
    "shared_ssh_host",
    "ssh_host",
    "ssh_host_factory",
    "ssh_hosts",
]

#: What the ``orchestra_factory`` fixture is: ``(servers, routes, **options) -> Orchestra``.
OrchestraFactory = Callable[..., "Orchestra"]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A session run as root without ``--basetemp`` keeps its temp dirs under a root of its
    own (:func:`orchestra_core.testing.basetemp.private_basetemp`): another pytest session,
    started by a test or beside this one, takes ``/tmp/pytest-of-root`` back to mode 0700 and
    would cut the daemons' own users off their folders. Before pytest's own configure, which
    reads ``--basetemp``; xdist's workers take theirs from this session's."""
    import os

    if config.option.basetemp or hasattr(config, "workerinput") or os.geteuid() != 0:
        return
    from orchestra_core.testing.basetemp import private_basetemp

    config.option.basetemp = str(private_basetemp())


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-golden``: rewrite golden files instead of comparing with them."""
    parser.getgroup("orchestra").addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="orchestra: rewrite the golden files of the golden fixture instead of comparing",
    )


# -- stores ----------------------------------------------------------------------------------------

#: Where ``postgres_server`` finds PostgreSQL, and the URL it tries without it.
POSTGRES_ENV = "ORCHESTRA_TEST_POSTGRES"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the PostgreSQL server tests may create schemas on (session scope):
    ``$ORCHESTRA_TEST_POSTGRES``, by default ``postgresql://postgres@127.0.0.1:5432/test``.
    Skips the test when it cannot be reached, and fails it instead under ``CI=true``."""
    import os

    import sqlalchemy as sa

    from orchestra_core.storage.database import resolve

    url = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    db = resolve(url)
    assert db is not None and not db.is_sqlite, f"{POSTGRES_ENV}={url} is not PostgreSQL"
    engine = sa.create_engine(db.url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        reason = (
            f"no PostgreSQL at {db.label} ({str(exc.orig).strip().splitlines()[0]}); "
            f"set {POSTGRES_ENV} to the URL of a server where this user may create schemas"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    finally:
        engine.dispose()
    yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty schema on ``postgres_server``, first in its search path
    (function scope): give it to ``open_store`` for an SQL store of the test's own. The
    schema is dropped after the test."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    schema = f"orchestra_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = sa.make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


# -- engines ---------------------------------------------------------------------------------------


@pytest.fixture
def orchestra_servers(tmp_path: Path) -> list[Server]:
    """The servers of the ``orchestra`` fixture (function scope): one ``local`` server named
    ``local`` whose sandbox root is ``tmp_path / "root"``, so that everything a backend
    writes lands in the test's temp dir. Override it in ``conftest.py`` (or a test module) to
    drive your own servers."""
    from orchestra_core.model import Server

    return [Server(name="local", root=str(tmp_path / "root"))]


@pytest.fixture
def orchestra_routes() -> list[Route]:
    """The routes of the ``orchestra`` fixture (function scope): none. Override it to send
    your backend's objects to ``orchestra_servers``, e.g. ``[Route(backend="dummy-domain",
    servers=("local",))]``."""
    return []


@pytest.fixture
def orchestra_factory() -> Iterator[OrchestraFactory]:
    """A callable that makes engines (function scope):
    ``orchestra_factory(servers, routes, **options)`` returns an
    :class:`~orchestra_core.engine.Orchestra` on a new memory store, with every installed
    plugin, and the options of its constructor (``transports=``, ``registry=``...). Starts
    nothing; every engine it made is closed after the test (its SSH connections too)."""
    from orchestra_core.engine import Orchestra
    from orchestra_core.storage.memory import MemoryStore

    made: list[Orchestra] = []

    def make(servers: Sequence[Server], routes: Sequence[Route], **options: Any) -> Orchestra:
        options.setdefault("store", MemoryStore())
        engine = Orchestra(servers=servers, routes=routes, **options)
        made.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in made:
            engine.close()


@pytest.fixture
def orchestra(
    orchestra_factory: OrchestraFactory,
    orchestra_servers: list[Server],
    orchestra_routes: list[Route],
) -> Orchestra:
    """An :class:`~orchestra_core.engine.Orchestra` on a memory store (function scope), with
    ``orchestra_servers`` and ``orchestra_routes`` (override those two to shape it) and every
    installed plugin. Closed after the test. ``orchestra.plan(changes)`` and
    ``orchestra.apply(plan)`` run for real through each server's transport."""
    return orchestra_factory(orchestra_servers, orchestra_routes)


@pytest.fixture
def recording_transport() -> Iterator[RecordingTransport]:
    """A fresh :class:`~orchestra_core.execution.recording.RecordingTransport` (function scope).

    Starts nothing: it records every batch it is asked to run in ``.batches`` instead of
    running it, and is closed after the test. Give it to an engine with
    ``orchestra_factory(servers, routes, transports={"recording": recording_transport})`` and
    servers whose ``transport`` is ``recording``. Override it with a ``recording_transport``
    fixture of your own in ``conftest.py`` (for example one that answers with canned results).
    """
    from orchestra_core.execution.recording import RecordingTransport

    transport = RecordingTransport()
    yield transport
    transport.close()


# -- daemons ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDaemons]:
    """One :class:`~orchestra_core.testing.factory.InstanceFactory` per kind of daemon for
    the whole session (session scope), each starting its instances in fresh temp dirs;
    everything they started is stopped at the end of the session.

    ``shared_daemons(KIND)`` is the session's factory for a
    :class:`~orchestra_core.testing.factory.DaemonKind`; ``shared_daemons(KIND).shared(KEY,
    ...)`` its instance ``KEY``, started on first use; ``shared_daemons(KIND).reset(it)``
    what a function-scoped fixture returns. Drivers build their daemon fixtures on it
    (``named_master``, ``mariadb_server``, ``shared_ssh_host``).
    """
    from orchestra_core.testing.factory import SharedDaemons

    daemons = SharedDaemons(tmp_path_factory)
    try:
        yield daemons
    finally:
        daemons.stop_all()


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


@pytest.fixture(scope="session")
def shared_daemon_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonFactory]:
    """Like ``daemon_factory``, but for the whole session (session scope): what it starts
    runs until the last test is done. A driver's daemon fixtures are better built on
    ``shared_daemons`` with a kind of their own, which says what a reset is (the pattern of
    ``shared_ssh_host`` and ``ssh_host``)."""
    from orchestra_core.testing.daemon import DaemonFactory

    factory = DaemonFactory(lambda name: tmp_path_factory.mktemp(f"shared-{name}"))
    try:
        yield factory
    finally:
        factory.stop_all()


# -- SSH hosts -------------------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def shared_ssh_host(shared_daemons: SharedDaemons) -> SSHHost:
    """One real sshd host for the whole session (session scope), on 127.0.0.254 so that it
    never meets the hosts of ``ssh_host_factory``; started the first time a test asks for it
    (by ``shared_daemons``), stopped at the end. Tests should take ``ssh_host``, which resets
    it."""
    from orchestra_core.testing.sshd import SSHHostKind

    [host] = shared_daemons(SSHHostKind()).shared("shared", 1, first=254)
    return host


@pytest.fixture
def ssh_host(shared_ssh_host: SSHHost) -> SSHHost:
    """The session's sshd host (function scope), reset for this test: running, with no
    session left from an earlier test (:meth:`~orchestra_core.testing.sshd.SSHHost.reset`).

    It logs in to this machine as the current user: ``ssh_host.server(name, settings=...)``
    is a :class:`~orchestra_core.model.Server` that reaches the daemons a test started
    locally over real SSH. Engines keep pooled connections: close them (the ``orchestra``
    fixtures do) before the next test's reset kills what is left.
    """
    return shared_ssh_host.reset()


# -- golden renders --------------------------------------------------------------------------------


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """Golden files for this test module (function scope): a
    :class:`~orchestra_core.testing.golden.Golden` over ``golden/MODULE/`` beside the test
    file. ``golden.check(name, rendered_files(plan))`` compares a backend's rendered output
    with ``golden/MODULE/NAME/``; ``pytest --update-golden`` rewrites the files instead, for
    review in ``git diff``."""
    from orchestra_core.testing.golden import Golden

    path = Path(str(request.node.path))
    update = bool(request.config.getoption("update_golden"))
    return Golden(path.parent / "golden" / path.stem, update=update)
