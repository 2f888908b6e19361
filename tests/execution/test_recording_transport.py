"""The recording transport and loading transports by name."""

from __future__ import annotations

import pytest

from orchestra_core.backends.steps import Command, Reload, WriteFile
from orchestra_core.errors import ConfigurationError
from orchestra_core.execution.loading import available_transports, load_transport
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.recording import RecordingTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import Transport
from orchestra_core.model.servers import Server
from tests.execution.helpers import server_plan, statuses

WEB = Server(name="web", transport="recording")
DB = Server(name="db", transport="recording")
STEPS = (
    WriteFile(description="vhost example.com", path="/etc/a", content="x"),
    Command(description="enable example.com", script="a2ensite x"),
    Reload(description="reload apache", daemon="apache2", script="apachectl graceful"),
)


def test_records_batches_and_reports_changed_by_default() -> None:
    transport = RecordingTransport()
    batch = compile_batch(server_plan(WEB, STEPS))

    result = transport.run(WEB, batch, timeout=5)

    assert transport.batches == [(WEB, batch)]
    assert statuses(result) == ["changed", "changed", "changed"]
    assert [s.exit_code for s in result.steps] == [0, 0, 0]
    assert result.exit_code == 0
    assert transport.scripts("web") == [batch.script]
    assert transport.scripts("db") == []


def test_programmed_failure_stops_the_rest() -> None:
    transport = RecordingTransport()
    transport.respond(description_contains="enable", exit_code=3, stderr="no such site")

    result = transport.run(WEB, compile_batch(server_plan(WEB, STEPS)), timeout=5)

    assert statuses(result) == ["changed", "failed"]
    assert (result.steps[1].exit_code, result.steps[1].stderr) == (3, "no such site")
    assert result.exit_code == 1


def test_responses_match_server_and_kind() -> None:
    transport = RecordingTransport()
    transport.respond(server="db", kind="write", status="unchanged", exit_code=0)

    web = transport.run(WEB, compile_batch(server_plan(WEB, STEPS)), timeout=5)
    db = transport.run(DB, compile_batch(server_plan(DB, STEPS)), timeout=5)

    assert statuses(web) == ["changed", "changed", "changed"]
    assert statuses(db) == ["unchanged", "changed", "changed"]


def test_fail_connect() -> None:
    transport = RecordingTransport()
    transport.fail_connect(DB)

    result = transport.run(DB, compile_batch(server_plan(DB, STEPS)), timeout=5)

    assert result.error == "connection refused"
    assert result.steps == ()
    assert len(transport.batches) == 1


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        RecordingTransport().respond(status="exploded")


def test_transports_implement_the_protocol() -> None:
    assert isinstance(RecordingTransport(), Transport)
    assert isinstance(LocalTransport(), Transport)


def test_load_transport_by_name() -> None:
    assert {"local", "recording"} <= set(available_transports())
    assert isinstance(load_transport("recording"), RecordingTransport)
    local = load_transport("local", bash="/bin/bash")
    assert isinstance(local, LocalTransport)
    assert local.bash == "/bin/bash"


def test_unknown_transport_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_transport("carrier-pigeon")
    message = str(info.value)
    assert message.startswith("unknown transport 'carrier-pigeon'; installed transports: ")
    assert "local" in message
    assert "recording" in message
