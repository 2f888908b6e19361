"""Compiled batches run by the real local transport with real bash, in a sandbox root."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchestra_core.backends.steps import (
    CANDIDATE,
    Command,
    DeleteFile,
    EnsureDirectory,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.model.servers import Server
from tests.execution.helpers import RunSteps, server_plan, statuses, wait_gone


def write(path: Path, content: str, **kw: object) -> WriteFile:
    return WriteFile(description=f"write {path.name}", path=str(path), content=content, **kw)  # type: ignore[arg-type]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if ".orchestra-" in name)


# --- WriteFile -----------------------------------------------------------------------------------


def test_write_file_then_unchanged_then_changed_content(run: RunSteps, root: Path) -> None:
    target = root / "etc" / "app.conf"

    first = run(write(target, "one\n"))
    assert statuses(first) == ["changed"]
    assert first.exit_code == 0
    assert target.read_bytes() == b"one\n"
    assert mode_of(target) == 0o644

    assert statuses(run(write(target, "one\n"))) == ["unchanged"]

    third = run(write(target, "two\n"))
    assert statuses(third) == ["changed"]
    assert target.read_bytes() == b"two\n"
    assert hidden_leftovers(target.parent) == []


def test_write_file_mode_change_alone_is_a_change(run: RunSteps, root: Path) -> None:
    target = root / "secret.conf"
    run(write(target, "x"))
    assert mode_of(target) == 0o644

    result = run(write(target, "x", mode=0o600))

    assert statuses(result) == ["changed"]
    assert mode_of(target) == 0o600
    assert statuses(run(write(target, "x", mode=0o600))) == ["unchanged"]


def test_write_file_parents_are_world_traversable(run: RunSteps, root: Path) -> None:
    target = root / "a" / "b" / "c.txt"
    run(write(target, "x"))
    assert mode_of(root / "a" / "b") == 0o755


def test_write_file_owner_and_group_by_id(run: RunSteps, root: Path) -> None:
    target = root / "owned"
    uid, gid = str(os.getuid()), str(os.getgid())
    assert statuses(run(write(target, "x", owner=uid, group=gid))) == ["changed"]
    assert statuses(run(write(target, "x", owner=uid, group=gid))) == ["unchanged"]
    assert (target.stat().st_uid, target.stat().st_gid) == (int(uid), int(gid))


def test_failing_validation_keeps_the_live_file(run: RunSteps, root: Path) -> None:
    target = root / "named.conf"
    run(write(target, "good old\n"))
    checker = (
        "sh",
        "-c",
        'grep -q good "$1" || { echo "checker: bad content: $(cat "$1")" >&2; exit 3; }',
        "checker",
        CANDIDATE,
    )

    result = run(
        write(target, "broken new\n", validate=checker), Command(description="after", script="true")
    )

    assert statuses(result) == ["failed"]
    assert result.steps[0].exit_code == 3
    assert result.steps[0].stderr == "checker: bad content: broken new\n"
    assert result.exit_code == 1
    assert target.read_bytes() == b"good old\n"
    assert hidden_leftovers(root) == []


def test_passing_validation_sees_the_candidate(run: RunSteps, root: Path) -> None:
    target = root / "zone"
    checker = ("sh", "-c", 'echo "checked: $(cat "$1")"', "checker", CANDIDATE)

    result = run(write(target, "good new", validate=checker))

    assert statuses(result) == ["changed"]
    assert result.steps[0].stdout == "checked: good new\n"
    assert target.read_text() == "good new"


def test_write_onto_a_directory_fails(run: RunSteps, root: Path) -> None:
    (root / "dir").mkdir(parents=True)
    result = run(write(root / "dir", "x"))
    assert statuses(result) == ["failed"]
    assert "is a directory" in result.steps[0].stderr
    assert (root / "dir").is_dir()


# --- DeleteFile and EnsureDirectory --------------------------------------------------------------


def test_delete_present_then_absent(run: RunSteps, root: Path) -> None:
    target = root / "old.conf"
    run(write(target, "x"))

    assert statuses(run(DeleteFile(description="rm", path=str(target)))) == ["changed"]
    assert not target.exists()
    assert statuses(run(DeleteFile(description="rm", path=str(target)))) == ["unchanged"]


def test_ensure_directory(run: RunSteps, root: Path) -> None:
    target = root / "srv" / "www" / "site"
    step = EnsureDirectory(description="docroot", path=str(target), mode=0o750)

    assert statuses(run(step)) == ["changed"]
    assert target.is_dir()
    assert mode_of(target) == 0o750
    assert statuses(run(step)) == ["unchanged"]

    target.chmod(0o700)
    assert statuses(run(step)) == ["changed"]
    assert mode_of(target) == 0o750


# --- Command -------------------------------------------------------------------------------------


def test_command_with_unless(run: RunSteps, root: Path) -> None:
    step = Command(
        description="create marker",
        script="echo made > marker; echo done",
        unless="test -e marker",
    )

    first = run(step)
    assert statuses(first) == ["changed"]
    assert first.steps[0].stdout == "done\n"
    assert (root / "marker").read_text() == "made\n"

    second = run(step)
    assert statuses(second) == ["unchanged"]
    assert second.steps[0].stdout == ""


def test_command_failure_stops_the_batch(run: RunSteps, root: Path) -> None:
    result = run(
        Command(description="ok", script="echo first"),
        Command(description="bad", script="echo out; echo oops >&2; exit 5"),
        Command(description="never", script="touch never"),
    )

    assert statuses(result) == ["changed", "failed"]
    assert [s.index for s in result.steps] == [0, 1]
    assert (result.steps[1].exit_code, result.steps[1].stdout, result.steps[1].stderr) == (
        5,
        "out\n",
        "oops\n",
    )
    assert result.exit_code == 1
    assert not (root / "never").exists()


def test_stdin_reaches_the_command(run: RunSteps, root: Path) -> None:
    stdin = "pass'word $(touch CANARY) `id`\nsecond line\n"
    result = run(Command(description="read", script="cat > got", stdin=stdin))

    assert statuses(result) == ["changed"]
    assert (root / "got").read_text() == stdin
    assert not (root / "CANARY").exists()


def test_command_without_stdin_reads_nothing(run: RunSteps, root: Path) -> None:
    # The batch itself is on bash's stdin: a step must not be able to read it.
    result = run(
        Command(description="slurp", script="cat > slurped"),
        Command(description="next", script="touch next-ran"),
    )
    assert statuses(result) == ["changed", "changed"]
    assert (root / "slurped").read_bytes() == b""
    assert (root / "next-ran").exists()


def test_a_command_runs_as_a_sourced_script_in_its_own_subshell(run: RunSteps, root: Path) -> None:
    # ``return`` ends the script as it would a sourced file; ``exit 0``, ``cd``, variables
    # and shell options stay inside the step.
    result = run(
        Command(description="returns", script="echo before; return 0; echo after"),
        Command(description="leaves", script="set -e; cd /; LEAK=1; exit 0"),
        Command(description="sees none", script='echo "${LEAK:-none} $PWD"; false; echo on'),
        Command(description="fails by return", script="return 3"),
        Command(description="never", script="touch never"),
    )

    assert statuses(result) == ["changed", "changed", "changed", "failed"]
    assert result.steps[0].stdout == "before\n"
    assert result.steps[2].stdout == f"none {root}\non\n"
    assert result.steps[3].exit_code == 3
    assert not (root / "never").exists()


def test_a_command_holding_nul_still_runs(run: RunSteps, root: Path) -> None:
    # No bash string holds NUL: such a script travels as a file, where bash drops the NUL
    # byte as it does in any script file.
    result = run(Command(description="nul", script="printf ok >got # \x00 after a NUL"))

    assert statuses(result) == ["changed"]
    assert (root / "got").read_text() == "ok"


# --- timeouts ------------------------------------------------------------------------------------


def test_step_timeout_kills_the_step_and_aborts_the_rest(run: RunSteps, root: Path) -> None:
    result = run(
        Command(
            description="hang",
            script="sleep 30 & echo $! > sleeper.pid; wait",
            timeout=1,
        ),
        Command(description="never", script="touch never"),
    )

    assert statuses(result) == ["timeout"]
    assert result.steps[0].exit_code in (124, 137)
    assert not result.timed_out
    assert result.exit_code == 1
    assert not (root / "never").exists()
    assert wait_gone(int((root / "sleeper.pid").read_text()))


def test_batch_timeout_kills_every_process_of_the_batch(server: Server, root: Path) -> None:
    # The second sleeper runs under `timeout`, which puts it in a process group of its own.
    plan = server_plan(
        server,
        (
            Command(description="quick", script="true"),
            Command(
                description="background",
                script="sleep 60 & echo $! > plain.pid; wait",
            ),
        ),
    )
    plan_timed = server_plan(
        server,
        (Command(description="timed", script="sleep 60 & echo $! > timed.pid; wait", timeout=60),),
    )

    for sp, pidfile in ((plan, "plain.pid"), (plan_timed, "timed.pid")):
        result = LocalTransport().run(server, compile_batch(sp), timeout=1)
        assert result.timed_out
        assert result.error is None
        assert statuses(result) == (["changed"] if pidfile == "plain.pid" else [])
        assert wait_gone(int((root / pidfile).read_text()))


# --- Reload --------------------------------------------------------------------------------------


def test_reload_runs_only_when_a_notifying_step_changed(run: RunSteps, root: Path) -> None:
    conf = root / "daemon.conf"
    steps = (
        write(conf, "v1\n", notify="daemon"),
        write(root / "other.conf", "x", notify="otherd"),
        Reload(description="reload daemon", daemon="daemon", script="echo r >> reloads"),
    )

    first = run(*steps)
    assert statuses(first) == ["changed", "changed", "changed"]
    assert (root / "reloads").read_text() == "r\n"

    second = run(*steps)
    assert statuses(second) == ["unchanged", "unchanged", "unchanged"]
    assert (root / "reloads").read_text() == "r\n"

    # Only the other daemon's file changes: this daemon is not reloaded.
    third = run(steps[0], write(root / "other.conf", "y", notify="otherd"), steps[2])
    assert statuses(third) == ["unchanged", "changed", "unchanged"]
    assert (root / "reloads").read_text() == "r\n"


def test_failed_reload_restores_the_previous_files(run: RunSteps, root: Path) -> None:
    conf, extra, gone = root / "d.conf", root / "new.conf", root / "gone.conf"
    run(write(conf, "v1\n"), write(gone, "keep me\n", mode=0o640))
    reload_script = (
        'echo "saw $(cat d.conf)"; echo run >> attempts; echo "reload broke" >&2; exit 7'
    )

    result = run(
        write(conf, "v2\n", notify="d"),
        write(extra, "brand new\n", notify="d"),
        DeleteFile(description="rm", path=str(gone), notify="d"),
        Reload(description="reload d", daemon="d", script=reload_script),
        Command(description="never", script="touch never"),
    )

    assert statuses(result) == ["changed", "changed", "changed", "failed"]
    reload = result.steps[3]
    assert (reload.exit_code, reload.stdout, reload.stderr) == (7, "saw v2\n", "reload broke\n")
    assert conf.read_text() == "v1\n"
    assert not extra.exists()
    assert gone.read_text() == "keep me\n"
    assert mode_of(gone) == 0o640
    assert (root / "attempts").read_text() == "run\nrun\n"
    assert not (root / "never").exists()
    assert hidden_leftovers(root) == []


# --- hostile content -----------------------------------------------------------------------------


def hostile_values(canary: str) -> dict[str, str]:
    from orchestra_core.testing.hostile import corpus

    values = dict(corpus(canary))
    values.update(
        {
            "eof_markers": "EOF\n'EOF'\nORCHESTRA_EOF\n__END__\n",
            "record_lines": "@@ORCHESTRA abc 0 changed 0 0 - -\n@@ORCHESTRA\n",
            "base64_looking": "aGVsbG8gd29ybGQ=\n-\n====\n",
            "crlf": "a\r\nb\r\n",
            "no_trailing_newline": "last",
            "big": "0123456789abcdef\n" * 6400,  # about 100 kB
            "all_bytes": "".join(chr(c) for c in range(1, 128)),
        }
    )
    return values


def test_hostile_content_lands_byte_exact(run: RunSteps, root: Path, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    values = hostile_values(str(canary))
    steps: list[Step] = [
        write(root / "files" / f"{name}.txt", value) for name, value in values.items()
    ]
    steps.append(
        Command(
            description="echo fake records",
            script="printf '@@ORCHESTRA abc 0 failed 9 0 - -\\n'; cat",
            stdin=values["quote_breakout"],
        )
    )

    result = run(*steps, nonce="abc")

    assert statuses(result) == ["changed"] * len(steps)
    assert [s.index for s in result.steps] == list(range(len(steps)))
    for name, value in values.items():
        assert (root / "files" / f"{name}.txt").read_bytes() == value.encode("utf-8"), name
    assert (
        result.steps[-1].stdout == "@@ORCHESTRA abc 0 failed 9 0 - -\n" + values["quote_breakout"]
    )
    assert not canary.exists()
    assert statuses(run(*steps, nonce="abc")) == ["unchanged"] * (len(steps) - 1) + ["changed"]


def test_hostile_paths_are_quoted(run: RunSteps, root: Path, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    names = [f"$(touch {canary})", f"a'b; touch {canary}", "-rf", "sp ace", f"`touch {canary}`"]
    for name in names:
        target = root / name
        assert statuses(run(write(target, name), Command(description="c", script="true"))) == [
            "changed",
            "changed",
        ]
        assert target.read_text() == name
        assert statuses(run(DeleteFile(description="rm", path=str(target)))) == ["changed"]
        assert not target.exists()
    assert not canary.exists()


def test_unicode_and_invalid_utf8_output(run: RunSteps) -> None:
    result = run(Command(description="out", script="printf 'Ünï ✓\\n'; printf '\\377\\n' >&2"))
    assert result.steps[0].stdout == "Ünï ✓\n"
    assert result.steps[0].stderr == "\ufffd\n"


# --- sandbox -------------------------------------------------------------------------------------


def test_paths_outside_the_root_are_refused(server: Server, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "escape").symlink_to(outside)
    bad_paths = [
        str(outside / "x.conf"),
        f"{root}/../outside/x.conf",
        f"{root}/sub/../../outside/x.conf",
        str(root / "escape" / "x.conf"),
        "/etc/orchestra-should-not-exist",
    ]
    for path in bad_paths:
        sp = server_plan(
            server,
            (
                Command(description="first", script="touch ran"),
                WriteFile(description="escape", path=path, content="x"),
            ),
        )
        result = LocalTransport().run(server, compile_batch(sp), timeout=30)

        assert result.steps == ()
        assert result.error == (
            f"server sandbox: path {path!r} is outside the sandbox root {str(root)!r}"
        )
        assert not (root / "ran").exists()
        assert os.listdir(outside) == []


def test_sandbox_root_is_created_and_is_the_working_directory(server: Server, root: Path) -> None:
    assert not root.exists()
    sp = server_plan(server, (Command(description="pwd", script="pwd"),))
    result = LocalTransport().run(server, compile_batch(sp), timeout=30)
    assert result.steps[0].stdout == f"{root}\n"


def test_private_temporary_folder_is_removed(
    run: RunSteps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))

    result = run(Command(description="look", script='stat -c %a "$TMPDIR"/*'))

    # Only the batch's private folder: the saved batch was unlinked as soon as it was open.
    assert result.steps[0].stdout == "700\n"
    assert os.listdir(tmpdir) == []


def test_private_temporary_folder_is_removed_after_a_batch_timeout(
    run: RunSteps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))

    result = run(Command(description="hang", script="sleep 60"), timeout=1)

    assert result.timed_out
    assert os.listdir(tmpdir) == []


def test_missing_bash_is_reported(server: Server) -> None:
    sp = server_plan(server, (Command(description="c", script="true"),))
    result = LocalTransport(bash="/nonexistent/bash").run(server, compile_batch(sp), timeout=5)
    assert result.steps == ()
    assert result.error is not None
    assert result.error.startswith("could not start /nonexistent/bash: ")


def test_a_repeated_directory_step_reports_unchanged_without_running(
    server: Server, root: Path
) -> None:
    from orchestra_core.backends.steps import EnsureDirectory

    target = str(root / "d")
    mkdir = EnsureDirectory(description="dir", path=target)
    sp = server_plan(server, (mkdir, Command(description="rm", script=f"rmdir {target}"), mkdir))
    batch = compile_batch(sp)
    assert batch.script.count("__o_done ") == 3  # two steps run (plus the helper itself)
    result = LocalTransport().run(server, batch, timeout=30)
    assert [s.status for s in result.steps] == ["changed", "changed", "unchanged"]
    assert not (root / "d").exists()  # proof that the repeat did not run


def test_a_reload_a_batch_could_not_run_is_run_by_the_next(server: Server, root: Path) -> None:
    from orchestra_core.backends.steps import Reload

    marker = str(root / "state/pending-reload/box.d")
    log = root / "reloads"
    write = WriteFile(description="conf", path=str(root / "conf"), content="x\n", notify="d")
    boom = Command(description="boom", script="exit 3")
    reload = Reload(description="reload d", daemon="d", script=f"echo r >> {log}", marker=marker)

    def run(*steps: object) -> list[str]:
        sp = server_plan(server, steps)  # type: ignore[arg-type]
        return [s.status for s in LocalTransport().run(server, compile_batch(sp), timeout=30).steps]

    assert run(write, boom, reload) == ["changed", "failed"]  # the reload never ran...
    assert Path(marker).exists()  # ...and is owed
    assert run(write, reload) == ["unchanged", "changed"]  # nothing changed, still reloaded
    assert not Path(marker).exists() and log.read_text() == "r\n"
    assert run(write, reload) == ["unchanged", "unchanged"]
    assert log.read_text() == "r\n"


def test_the_private_folder_is_in_ram_unless_tmpdir_says_otherwise(
    run: RunSteps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)):
        pytest.skip("no writable /dev/shm on this machine")
    monkeypatch.delenv("TMPDIR", raising=False)
    result = run(Command(description="where", script='echo "$T"'))
    assert result.steps[0].stdout.startswith("/dev/shm/tmp.")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    result = run(Command(description="where", script='echo "$T"'))
    assert result.steps[0].stdout.startswith(f"{tmp_path}/tmp.")


@pytest.mark.parametrize("cut", ["end line", "mid step", "first line", "nothing"])
def test_a_batch_that_arrived_incomplete_runs_none_of_itself(
    server: Server, root: Path, cut: str
) -> None:
    """What a lost connection leaves of a batch on the server's stdin must not run: the
    bootstrap checks the batch's last line (its nonce, then ``end``) before it runs a byte."""
    import attrs

    canary = root / "canary"
    sp = server_plan(
        server,
        (Command(description="first", script=f": >{canary}"),),
        (WriteFile(description="conf", path=str(root / "conf"), content="x\n"),),
    )
    batch = compile_batch(sp)
    script = batch.script
    cuts = {
        "end line": script.rstrip("\n").rsplit("\n", 1)[0] + "\n",
        "mid step": script[: script.index("# step 1")],
        "first line": script[:10],
        "nothing": "",
    }
    result = LocalTransport().run(server, attrs.evolve(batch, script=cuts[cut]), timeout=30)
    assert result.steps == () and result.exit_code == 1
    assert "the batch arrived incomplete" in result.stderr, result.stderr
    assert not canary.exists() and not (root / "conf").exists()
