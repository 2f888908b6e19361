"""The example of docs/writing-a-driver.md's "Files assembled from many objects" runs: a
Postfix mailbox map assembled from one fragment per mailbox, planned by the planner and run
by real bash, with the real ``postmap`` when it is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest

from orchestra_core.catalogue import Mailbox
from orchestra_core.execution.local import LocalTransport
from orchestra_core.execution.script import compile_batch
from orchestra_core.model import Route, Server, ServiceIndex
from orchestra_core.planning import ChangeSet, Planner

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-driver.md"


@attrs.frozen(kw_only=True)
class PostfixSettings:
    config_dir: str = "/etc/postfix"
    postmap: str = "postmap"
    postfix: tuple[str, ...] = ("postfix",)


def example_backend() -> Any:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("#### Files assembled from many objects", 1)[1]
    block = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert block is not None, "the section has no Python example"
    namespace: dict[str, Any] = {"PostfixSettings": PostfixSettings}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace["PostfixMailbox"]


def apply(planner: Planner, changes: ChangeSet, *boxes: Mailbox) -> list[tuple[str, str]]:
    plan = planner.plan(changes, ServiceIndex([], boxes))
    out = []
    for sp in plan.servers:
        result = LocalTransport().run(sp.server, compile_batch(sp), timeout=60.0)
        assert result.exit_code == 0, [(s.status, s.stdout, s.stderr) for s in result.steps]
        by_index = dict(enumerate(sp.steps))
        out += [(by_index[s.index].kind, s.status) for s in result.steps]
    return out


@pytest.mark.skipif(shutil.which("postmap") is None, reason="postfix's postmap is not installed")
def test_the_postfix_map_example_runs(tmp_path: Path) -> None:
    backend = example_backend()
    root = tmp_path / "root"
    conf = root / "etc/postfix"
    conf.mkdir(parents=True)
    (conf / "main.cf").write_text("")
    reloads = tmp_path / "reloads"
    server = Server(name="mx1", root=str(root))
    route = Route(
        backend="postfix-mailbox",
        servers=("mx1",),
        settings={"postfix": ["bash", "-c", f'echo "$@" >>{reloads}', "postfix"]},
    )
    planner = Planner({"postfix-mailbox": backend}, [server], [route])
    info = Mailbox(account="acme", address="info@example.com")
    sales = Mailbox(account="acme", address="sales@example.com")

    def lookup(key: str) -> str:
        done = subprocess.run(
            ["postmap", "-c", str(conf), "-q", key, f"hash:{conf}/virtual_mailboxes"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    ran = apply(planner, ChangeSet().save(info).save(sales), info, sales)
    assert ran.count(("assemble", "changed")) == 1 and ran[-1] == ("reload", "changed")
    assert lookup("info@example.com") == "example.com/info/"
    assert lookup("sales@example.com") == "example.com/sales/"
    assert (
        (conf / "virtual_mailboxes")
        .read_text()
        .startswith("# Managed by orchestra-postfix: assembled from ")
    )
    assert reloads.read_text() == f"-c {conf} reload\n"

    again = apply(planner, ChangeSet().save(info), info, sales)
    assert ("assemble", "unchanged") in again and again[-1] == ("reload", "unchanged")

    apply(planner, ChangeSet().delete(sales), info)
    assert lookup("sales@example.com") == ""
    assert lookup("info@example.com") == "example.com/info/"
    assert reloads.read_text().count("reload") == 2
