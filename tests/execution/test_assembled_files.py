"""Files assembled from many objects' fragments (``AssembleFile``), run by real bash through
the local transport: the fragments on the server are the truth, the file is rebuilt from all
of them, checked whole, swapped in only when it changed, derived files (postmap's ``.db``)
built from the candidate, and everything it writes goes through ``__o_safe``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestra_core.backends.steps import (
    CANDIDATE,
    AssembleFile,
    Command,
    DeleteFile,
    Derived,
    Reload,
    Step,
    WriteFile,
)
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.execution.transport import BatchResult
from orchestra_core.model.servers import Server
from orchestra_core.rendering.names import file_name
from tests.execution.helpers import RunSteps, server_plan, statuses

NOBODY = 65534
HEADER = "# Managed by orchestra: assembled from {d}/*.map. Do not edit.\n"


def assembly(root: Path, **overrides: object) -> AssembleFile:
    values: dict[str, object] = {
        "description": "virtual map",
        "path": str(root / "etc/postfix/virtual"),
        "fragments": str(root / "etc/postfix/virtual.d"),
        "suffix": ".map",
        "notify": "postfix",
    }
    values.update(overrides)
    return AssembleFile(**values)  # type: ignore[arg-type]


def fragment(target: AssembleFile, name: str, content: str) -> WriteFile:
    return WriteFile(
        description=f"fragment {name}",
        path=f"{target.fragments}/{name}{target.suffix}",
        content=content,
        fragment_of=target,
    )


def removal(target: AssembleFile, name: str) -> DeleteFile:
    return DeleteFile(
        description=f"no fragment {name}",
        path=f"{target.fragments}/{name}{target.suffix}",
        fragment_of=target,
    )


def header(target: AssembleFile) -> str:
    return HEADER.format(d=target.fragments)


def ok(result: BatchResult) -> bool:
    """Every step of the batch reported and none failed."""
    return result.exit_code == 0 and all(s.status in ("changed", "unchanged") for s in result.steps)


def explain(result: BatchResult) -> str:
    return "\n".join(
        f"{s.index} {s.status} rc={s.exit_code}\n{s.stdout}{s.stderr}" for s in result.steps
    )


@pytest.fixture
def target(root: Path) -> AssembleFile:
    return assembly(root)


def test_fragments_added_changed_removed_and_none_left(run: RunSteps, target: AssembleFile) -> None:
    live = Path(target.path)
    first = run(
        fragment(target, "b", "b@x.test b\n"), fragment(target, "a", "a@x.test a\n"), target
    )
    assert statuses(first) == ["changed", "changed", "changed"], explain(first)
    # In byte order of the fragments' names, whatever order the batch wrote them in.
    assert live.read_text() == header(target) + "a@x.test a\nb@x.test b\n"
    assert oct(live.stat().st_mode & 0o777) == "0o644"

    again = run(fragment(target, "a", "a@x.test a\n"), target)
    assert statuses(again) == ["unchanged", "unchanged"], explain(again)

    changed = run(fragment(target, "a", "a@x.test alpha\n"), target)
    assert statuses(changed) == ["changed", "changed"]
    assert live.read_text() == header(target) + "a@x.test alpha\nb@x.test b\n"

    removed = run(removal(target, "b"), target)
    assert statuses(removed) == ["changed", "changed"]
    assert live.read_text() == header(target) + "a@x.test alpha\n"

    # No fragment left: an empty file, as before the first object.
    empty = run(removal(target, "a"), target)
    assert statuses(empty) == ["changed", "changed"]
    assert live.read_bytes() == b""
    assert statuses(run(removal(target, "a"), target)) == ["unchanged", "unchanged"]


def test_a_unique_file_keeps_the_first_of_repeated_lines(run: RunSteps, root: Path) -> None:
    """Several objects name one domain: each keeps ``DOMAIN OK`` in its own fragment, and the
    domain stays in the file until the last of them goes."""
    target = assembly(root, unique=True)
    live = Path(target.path)
    result = run(
        fragment(target, "a", "acme.test OK\n"),
        fragment(target, "b", "acme.test OK\nbeta.test OK\n"),
        fragment(target, "c", "beta.test OK"),  # no newline at the end: one is added
        target,
    )
    assert ok(result), explain(result)
    assert live.read_text() == header(target) + "acme.test OK\nbeta.test OK\n"
    assert statuses(run(removal(target, "a"), target)) == ["changed", "unchanged"]
    assert statuses(run(removal(target, "b"), target)) == ["changed", "changed"]
    assert live.read_text() == header(target) + "beta.test OK\n"
    # Without unique, every line is kept.
    plain = assembly(
        root, path=str(root / "etc/postfix/plain"), fragments=str(root / "etc/postfix/plain.d")
    )
    run(fragment(plain, "a", "x OK\n"), fragment(plain, "b", "x OK\n"), plain)
    assert Path(plain.path).read_text() == header(plain) + "x OK\nx OK\n"


def test_the_file_is_built_from_every_fragment_on_the_server(
    run: RunSteps, target: AssembleFile
) -> None:
    """Plans are incremental: a batch that writes one fragment keeps every other one."""
    assert ok(run(*(fragment(target, f"f{n:02d}", f"k{n} v\n") for n in range(12)), target))
    result = run(fragment(target, "f05", "k5 changed\n"), target)
    assert ok(result), explain(result)
    lines = Path(target.path).read_text().splitlines()
    assert lines[1:] == [f"k{n} {'changed' if n == 5 else 'v'}" for n in range(12)]


def test_a_fragment_without_a_final_newline_does_not_join_the_next(
    run: RunSteps, target: AssembleFile
) -> None:
    result = run(fragment(target, "a", "a x"), fragment(target, "b", "b y\n"), target)
    assert ok(result), explain(result)
    assert Path(target.path).read_text() == header(target) + "a x\nb y\n"


def test_only_fragments_of_the_suffix_count_and_hidden_files_do_not(
    run: RunSteps, target: AssembleFile
) -> None:
    folder = Path(target.fragments)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("not a fragment\n")
    (folder / ".half.map.orchestra-Ab12Cd").write_text("a candidate of another batch\n")
    (folder / "x.map.orchestra-previous").write_text("a copy\n")
    assert ok(run(fragment(target, "a", "a\n"), target))
    assert Path(target.path).read_text() == header(target) + "a\n"


def test_the_checker_sees_the_whole_candidate_and_its_refusal_changes_nothing(
    run: RunSteps, root: Path
) -> None:
    # Refuses a file where one key appears twice: only the whole can tell.
    check = (
        "bash",
        "-c",
        '! grep -v "^#" -- "$1" | cut -d" " -f1 | sort | uniq -d | grep -q . '
        '|| { echo "duplicate key in $1" >&2; exit 3; }',
        "check",
        CANDIDATE,
    )
    target = assembly(root, validate=check)
    assert ok(run(fragment(target, "a", "k1 a\n"), target))
    before = Path(target.path).read_text()

    refused = run(fragment(target, "b", "k1 b\n"), fragment(target, "c", "k3 c\n"), target)
    assert statuses(refused) == ["changed", "changed", "failed"], explain(refused)
    assert refused.steps[2].exit_code == 3
    assert "duplicate key in" in refused.steps[2].stderr
    assert "is refused" in refused.steps[2].stderr
    assert Path(target.path).read_text() == before
    # The batch's fragments are taken back: a bad one does not block every later assembly.
    assert sorted(p.name for p in Path(target.fragments).iterdir()) == ["a.map"]

    # A fragment changed, then refused: its previous content comes back.
    refused = run(fragment(target, "a", "k1 new\n"), fragment(target, "d", "k1 d\n"), target)
    assert not ok(refused)
    assert (Path(target.fragments) / "a.map").read_text() == "k1 a\n"
    assert ok(run(fragment(target, "d", "k4 d\n"), target))
    assert Path(target.path).read_text() == header(target) + "k1 a\nk4 d\n"


def test_an_unchanged_file_runs_no_checker(run: RunSteps, root: Path) -> None:
    log = root / "checks.log"
    check = ("bash", "-c", 'echo checked >>"$1"', "check", str(log))
    target = assembly(root, validate=check)
    assert ok(run(fragment(target, "a", "a\n"), target))
    assert ok(run(fragment(target, "a", "a\n"), target))
    assert log.read_text() == "checked\n"


def derive_counting(root: Path) -> Derived:
    """A stand-in for postmap: ``CANDIDATE.db`` holds the map sorted, each run logged."""
    return Derived(
        argv=(
            "bash",
            "-c",
            'grep -v "^#" -- "$1" | sort >"$1.db" && echo built >>"$2"',
            "derive",
            CANDIDATE,
            str(root / "derive.log"),
        ),
        outputs=(".db",),
    )


def test_derived_files_are_rebuilt_only_when_the_file_changed(run: RunSteps, root: Path) -> None:
    target = assembly(root, derived=(derive_counting(root),))
    log = root / "derive.log"
    db = Path(target.path + ".db")
    assert ok(run(fragment(target, "b", "b 2\n"), fragment(target, "a", "a 1\n"), target))
    assert db.read_text() == "a 1\nb 2\n"
    assert oct(db.stat().st_mode & 0o777) == "0o644"
    assert ok(run(fragment(target, "a", "a 1\n"), target))
    assert log.read_text() == "built\n"
    assert ok(run(fragment(target, "a", "a 9\n"), target))
    assert db.read_text() == "a 9\nb 2\n"
    assert log.read_text() == "built\nbuilt\n"
    # A lost output is rebuilt even though the file is unchanged.
    db.unlink()
    result = run(fragment(target, "a", "a 9\n"), target)
    assert statuses(result) == ["unchanged", "changed"], explain(result)
    assert db.read_text() == "a 9\nb 2\n"
    # No leftovers of candidates beside the file.
    assert sorted(p.name for p in db.parent.iterdir()) == ["virtual", "virtual.d", "virtual.db"]


def test_a_derived_command_that_fails_changes_nothing(run: RunSteps, root: Path) -> None:
    good = assembly(root, derived=(derive_counting(root),))
    assert ok(run(fragment(good, "a", "a 1\n"), good))
    failing = Derived(argv=("bash", "-c", "echo 'bad map' >&2; exit 4"), outputs=(".db",))
    bad = assembly(root, derived=(failing,))
    result = run(fragment(bad, "a", "a 2\n"), bad)
    assert statuses(result) == ["changed", "failed"]
    assert "bad map" in result.steps[1].stderr
    assert Path(good.path).read_text() == header(good) + "a 1\n"
    assert Path(good.path + ".db").read_text() == "a 1\n"
    assert (Path(good.fragments) / "a.map").read_text() == "a 1\n"
    # One that makes no output is refused too.
    silent = assembly(root, derived=(Derived(argv=("true",), outputs=(".db",)),))
    result = run(fragment(silent, "a", "a 3\n"), silent)
    assert not ok(result) and "did not make its .db file" in result.steps[1].stderr


@pytest.mark.skipif(shutil.which("postmap") is None, reason="postfix's postmap is not installed")
def test_postmap_builds_the_db_from_the_candidate(run: RunSteps, root: Path) -> None:
    conf = root / "etc/postfix"
    conf.mkdir(parents=True)
    (conf / "main.cf").write_text("")
    target = assembly(
        root,
        derived=(
            Derived(argv=("postmap", "-c", str(conf), "hash:" + CANDIDATE), outputs=(".db",)),
        ),
    )
    assert ok(run(fragment(target, "a", "info@a.test a/Maildir/\n"), target))

    def lookup(key: str) -> str:
        done = subprocess.run(
            ["postmap", "-c", str(conf), "-q", key, f"hash:{target.path}"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    assert lookup("info@a.test") == "a/Maildir/"
    assert ok(run(fragment(target, "b", "sales@b.test b/Maildir/\n"), target))
    assert lookup("sales@b.test") == "b/Maildir/"
    assert ok(run(removal(target, "a"), target))
    assert lookup("info@a.test") == ""
    assert sorted(p.name for p in conf.iterdir()) == [
        "main.cf",
        "virtual",
        "virtual.d",
        "virtual.db",
    ]


def test_a_failed_reload_puts_back_the_file_its_outputs_and_fragments(
    run: RunSteps, root: Path
) -> None:
    target = assembly(root, derived=(derive_counting(root),))
    assert ok(run(fragment(target, "a", "a 1\n"), target))
    live, db = Path(target.path), Path(target.path + ".db")
    before = (live.read_text(), db.read_text())
    seen = root / "changed-files"
    added = root / "added-files"
    script = (
        f'tr "\\0" "\\n" <"$ORCHESTRA_CHANGED_FILES" >>{seen}; '
        f'tr "\\0" "\\n" <"$ORCHESTRA_ADDED_FILES" >>{added}; [ ! -e {root}/fail ]'
    )
    reload = Reload(description="reload postfix", daemon="postfix", script=script)
    assert ok(run(fragment(target, "a", "a 1\n"), target, reload))  # nothing changed: no reload
    assert not seen.exists()

    (root / "fail").write_text("")
    result = run(
        fragment(target, "a", "a 2\n"),
        fragment(target, "b", "b 2\n"),
        removal(target, "x"),
        target,
        reload,
    )
    assert statuses(result) == ["changed", "changed", "unchanged", "changed", "failed"]
    assert (live.read_text(), db.read_text()) == before
    assert sorted(p.name for p in Path(target.fragments).iterdir()) == ["a.map"]
    assert (Path(target.fragments) / "a.map").read_text() == "a 1\n"
    # The reload was told what changed (twice: the try, and the run after the restore).
    told = seen.read_text().splitlines()
    expected = [
        f"{target.fragments}/a.map",
        f"{target.fragments}/b.map",
        f"{target.path}.db",
        target.path,
    ]
    assert told == expected * 2
    assert added.read_text().splitlines() == [f"{target.fragments}/b.map"] * 2

    (root / "fail").unlink()
    assert ok(run(fragment(target, "a", "a 2\n"), target, reload))
    assert live.read_text() == header(target) + "a 2\n"


def test_only_a_changed_file_notifies(run: RunSteps, target: AssembleFile, root: Path) -> None:
    log = root / "reloads.log"
    reload = Reload(description="reload", daemon="postfix", script=f"echo reloaded >>{log}")
    assert ok(run(fragment(target, "a", "a\n"), target, reload))
    assert ok(run(fragment(target, "a", "a\n"), target, reload))
    # A fragment that changes the file only in a final newline it lacked: same file.
    assert ok(run(fragment(target, "a", "a"), target, reload))
    assert log.read_text() == "reloaded\n"


# -- safety ---------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious").write_text("keep me\n")
    return folder


def test_a_symlink_planted_at_the_file_is_replaced_never_followed(
    run: RunSteps, target: AssembleFile, outside: Path
) -> None:
    live = Path(target.path)
    live.parent.mkdir(parents=True)
    live.symlink_to(outside / "precious")
    assert ok(run(fragment(target, "a", "a\n"), target))
    assert (outside / "precious").read_text() == "keep me\n"
    assert not live.is_symlink() and live.read_text() == header(target) + "a\n"


@pytest.mark.parametrize("where", ["fragment", "folder", "parent"])
def test_a_planted_symlink_in_the_way_is_refused(
    run: RunSteps, target: AssembleFile, root: Path, outside: Path, where: str
) -> None:
    assert ok(run(fragment(target, "a", "a\n"), target))
    live, folder = Path(target.path), Path(target.fragments)
    before = live.read_text()
    (outside / "secret.map").write_text("root:secret\n")
    if where == "fragment":  # someone's link among the fragments: its target is not read
        (folder / "b.map").symlink_to(outside / "secret.map")
        result = run(fragment(target, "a", "a changed\n"), target)
        assert "not a regular file" in result.steps[-1].stderr
        assert (folder / "a.map").read_text() == "a\n"  # taken back
    elif where == "folder":  # the fragment folder itself
        shutil.move(folder, outside / "frags")
        folder.symlink_to(outside / "frags")
        result = run(target)
    else:  # a folder on the way to the file
        etc = root / "etc"
        shutil.move(etc, outside / "etc")
        etc.symlink_to(outside / "etc")
        result = run(target)
    assert not ok(result), explain(result)
    if where == "parent":  # the local transport sees the folder leave the root first
        assert result.error is not None and "outside the sandbox root" in result.error
    else:
        said = result.steps[-1].stderr
        assert "symlink" in said or "not a regular file" in said, explain(result)
    assert (outside / "precious").read_text() == "keep me\n"
    assert live.read_text() == before  # through the moved folder, for "parent"
    assert sorted(p.name for p in outside.iterdir() if p.is_file()) == ["precious", "secret.map"]


def test_an_assembled_file_outside_the_sandbox_root_is_refused(
    run: RunSteps, root: Path, tmp_path: Path
) -> None:
    target = AssembleFile(
        description="x",
        path=str(tmp_path / "elsewhere"),
        fragments=str(root / "frags"),
        suffix=".map",
    )
    result = run(target)
    assert result.error is not None and "outside the sandbox root" in result.error
    assert not (tmp_path / "elsewhere").exists()


def test_a_planted_link_at_a_derived_output_is_replaced(
    run: RunSteps, root: Path, outside: Path
) -> None:
    target = assembly(root, derived=(derive_counting(root),))
    Path(target.path).parent.mkdir(parents=True)
    Path(target.path + ".db").symlink_to(outside / "precious")
    assert ok(run(fragment(target, "a", "a 1\n"), target))
    assert (outside / "precious").read_text() == "keep me\n"
    assert Path(target.path + ".db").read_text() == "a 1\n"


def test_symlinks_planted_by_another_user_outside_a_sandbox_are_refused(
    tmp_path: Path, outside: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("planting a link as another user needs root")
    base = tmp_path / "srv"
    folder = base / "virtual.d"
    folder.mkdir(parents=True)
    os.chmod(base, 0o777)  # a folder others may write, not sticky: a customer's tree
    target = AssembleFile(
        description="map", path=str(base / "virtual"), fragments=str(folder), suffix=".map"
    )
    link = base / "elsewhere"
    link.symlink_to(outside)
    os.lchown(link, NOBODY, NOBODY)
    sneaky = AssembleFile(
        description="map", path=str(link / "virtual"), fragments=str(folder), suffix=".map"
    )
    server = Server(name="real")
    result = LocalTransport().run(
        server, compile_batch(server_plan(server, (sneaky,))), timeout=60.0
    )
    assert not ok(result) and "symlink" in result.steps[0].stderr
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert ok(
        LocalTransport().run(server, compile_batch(server_plan(server, (target,))), timeout=60.0)
    )


# -- hostile content and names ----------------------------------------------------------------

HOSTILE = [
    "quote ' double \" backslash \\ dollar $HOME $(touch {canary}) `touch {canary}`\n",
    "two\nlines\n\n",
    "Ünïcödé ✓ 🚀 \t tab\r\n",
    "; rm -rf / #\n",
]


def test_hostile_fragment_content_arrives_verbatim(
    run: RunSteps, target: AssembleFile, root: Path
) -> None:
    canary = root / "canary"
    contents = [text.format(canary=canary) for text in HOSTILE]
    steps: list[Step] = [fragment(target, f"h{n}", text) for n, text in enumerate(contents)]
    result = run(*steps, target)
    assert ok(result), explain(result)
    assert Path(target.path).read_bytes() == (header(target) + "".join(contents)).encode()
    assert not canary.exists()


def test_nul_in_a_fragment_is_refused_before_anything_runs(target: AssembleFile) -> None:
    with pytest.raises(ValueError, match="NUL"):
        fragment(target, "a", "a\x00b\n")


def test_hostile_and_long_names(run: RunSteps, root: Path) -> None:
    folder = root / "etc/it's $(touch x) `y`/maps ü.d"
    target = AssembleFile(
        description="hostile",
        path=str(folder.parent / ("v" * 250)),
        fragments=str(folder),
        suffix=".map",
        comment="//",
        managed_by="orchestra-test",
    )
    names = ["x" * 253, "ünïcödé-" * 30, "a'b\"c$(d)`e`;f", "-starts-with-a-dash", "white space"]
    steps = [
        WriteFile(
            description="fragment",
            path=f"{target.fragments}/{file_name(name, '.map')}",
            content=f"{name[:20]}\n",
            fragment_of=target,
        )
        for name in names
    ]
    result = run(*steps, target)
    assert ok(result), explain(result)
    text = Path(target.path).read_text()
    assert text.startswith(f"// Managed by orchestra-test: assembled from {folder}/*.map.")
    assert sorted(text.splitlines()[1:]) == sorted(name[:20] for name in names)
    assert not (folder.parent / "x").exists()
    assert ok(run(*steps, target))


def test_a_header_line_cannot_be_broken() -> None:
    with pytest.raises(ValueError):
        AssembleFile(description="x", path="/etc/a\nb", fragments="/etc/a.d", suffix=".map")
    with pytest.raises(ValueError):
        AssembleFile(description="x", path="/a", fragments="/a.d", suffix=".m", comment="#\n")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/etc/postfix/other.d/a.map", "not a fragment"),
        ("/etc/postfix/virtual.d/a.conf", "not a fragment"),
        ("/etc/postfix/virtual.d/.a.map", "not a fragment"),
    ],
)
def test_a_fragment_must_be_where_its_assembly_reads(path: str, why: str) -> None:
    target = AssembleFile(
        description="x",
        path="/etc/postfix/virtual",
        fragments="/etc/postfix/virtual.d",
        suffix=".map",
    )
    with pytest.raises(ValueError, match=why):
        WriteFile(description="f", path=path, content="x\n", fragment_of=target)
    with pytest.raises(ValueError, match=why):
        DeleteFile(description="f", path=path, fragment_of=target)


def test_a_file_cannot_be_its_own_fragment() -> None:
    with pytest.raises(ValueError, match="own fragments"):
        AssembleFile(description="x", path="/etc/a.d/all.map", fragments="/etc/a.d", suffix=".map")


def test_with_a_step_timeout_it_runs_the_same(run: RunSteps, root: Path) -> None:
    target = assembly(root, timeout=30.0, derived=(derive_counting(root),))
    result = run(fragment(target, "a", "a 1\n"), target)
    assert statuses(result) == ["changed", "changed"], explain(result)
    assert Path(target.path + ".db").read_text() == "a 1\n"
    assert statuses(run(target)) == ["unchanged"]


def test_an_assembly_without_a_daemon_and_a_command_after_it(run: RunSteps, root: Path) -> None:
    target = assembly(root, notify=None)
    after = Command(description="read it", script=f"cat -- {target.path}")
    result = run(fragment(target, "a", "a\n"), target, after)
    assert ok(result), explain(result)
    assert result.steps[2].stdout == header(target) + "a\n"


def test_a_long_file_name_keeps_room_for_its_derived_outputs(run: RunSteps, root: Path) -> None:
    name = "m" * 252  # with ".db": 255 bytes, the most a name holds
    target = assembly(root, path=str(root / "etc/postfix" / name), derived=(derive_counting(root),))
    result = run(fragment(target, "a", "a 1\n"), target)
    assert ok(result), explain(result)
    assert Path(target.path + ".db").read_text() == "a 1\n"
    with pytest.raises(ValueError, match="longer than a file name"):
        assembly(root, path=str(root / "etc" / ("m" * 253)), derived=(derive_counting(root),))


def test_a_refusal_takes_back_the_batch_s_other_files_for_the_daemon(
    run: RunSteps, root: Path
) -> None:
    """One object's lines are in two tables of one daemon: the first is assembled and
    swapped in, the second refused. Both tables and both fragment folders are as the batch
    found them (a list's addresses were left in three tables whose assembly never ran)."""
    domains = assembly(
        root, path=str(root / "etc/postfix/domains"), fragments=str(root / "etc/postfix/d.d")
    )
    refuse = ("bash", "-c", '! grep -q bad -- "$1"', "check", CANDIDATE)
    maps = assembly(root, validate=refuse)
    assert ok(
        run(
            fragment(domains, "a", "a.test OK\n"),
            fragment(maps, "a", "a@a.test a\n"),
            domains,
            maps,
        )
    )
    before = {p: p.read_bytes() for p in (Path(domains.path), Path(maps.path))}
    refused = run(
        fragment(domains, "b", "b.test OK\n"),
        fragment(maps, "b", "b@b.test bad\n"),
        domains,
        maps,
    )
    assert statuses(refused) == ["changed", "changed", "changed", "failed"], explain(refused)
    assert "what this batch changed before for postfix" in refused.steps[3].stderr
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in Path(domains.fragments).iterdir()) == ["a.map"]
    assert sorted(p.name for p in Path(maps.fragments).iterdir()) == ["a.map"]
