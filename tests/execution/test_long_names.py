"""The longest legal names apply: a file name holds 255 bytes, a domain may have 253
characters and a mailbox address 254, and the names made beside a file (the batch's candidate
``.NAME.orchestra-XXXXXX``, a restore spare) add more. Such names used to pass validation and
fail at apply (``mktemp: File name too long``)."""

from __future__ import annotations

from pathlib import Path

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import Domain, Mailbox, Record
from orchestra_core.model.service import Service
from orchestra_core.rendering.names import HEADROOM, NAME_MAX, companion, file_name

ACME = Account(name="acme")
#: 253 characters: four labels of 63, 63, 63 and 61.
LONGEST_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
#: An address has at most 254 characters (an SMTP path): the longest local part, and a
#: domain of the rest (189 characters).
LONGEST_ADDRESS = "l" * 64 + "@" + ".".join(["d" * 63, "e" * 63, "f" * 61])


def test_names_that_fit_are_kept_and_long_ones_shortened_apart() -> None:
    assert file_name("example.com", ".zone") == "example.com.zone"
    one, two = file_name(LONGEST_DOMAIN, ".zone"), file_name(LONGEST_DOMAIN[:-1] + "e", ".zone")
    assert one != two and one == file_name(LONGEST_DOMAIN, ".zone")
    assert len(one.encode()) <= NAME_MAX - HEADROOM and one.endswith(".zone")
    assert len(companion(".", "é" * 200, ".orchestra-XXXXXX").encode()) <= NAME_MAX
    assert companion(".", "x.conf", ".orchestra-restore") == ".x.conf.orchestra-restore"


def apply_twice(tmp_path: Path, backend: str, obj: Service, changed: Service) -> None:
    root = tmp_path / "root"
    engine = Orchestra(
        servers=[Server(name="s" * 200, root=str(root))],
        routes=[Route(backend=backend, servers=("s" * 200,))],
    )
    try:
        for version in (obj, changed):
            plan = engine.plan(ChangeSet().save(version), index=ServiceIndex([ACME], [version]))
            result = engine.apply(plan)
            assert result.ok, [(log.state.value, log.stderr) for log in result.logs]
        files = [p for p in root.rglob("*") if p.is_file()]
        assert all(len(p.name.encode()) <= NAME_MAX for p in files)
        result = engine.apply(
            engine.plan(ChangeSet().delete(changed), index=ServiceIndex([ACME], []))
        )
        assert result.ok, [(log.state.value, log.stderr) for log in result.logs]
    finally:
        engine.close()


def test_the_longest_domain_is_saved_changed_and_deleted(tmp_path: Path) -> None:
    zone = Domain(
        account="acme", name=LONGEST_DOMAIN, records=(Record(type="A", values=("192.0.2.1",)),)
    )
    changed = Domain(
        account="acme", name=LONGEST_DOMAIN, records=(Record(type="A", values=("192.0.2.2",)),)
    )
    apply_twice(tmp_path, "dummy-domain", zone, changed)


def test_the_longest_mailbox_address_is_saved_changed_and_deleted(tmp_path: Path) -> None:
    box = Mailbox(account="acme", address=LONGEST_ADDRESS)
    apply_twice(
        tmp_path, "dummy-mailbox", box, Mailbox(account="acme", address=LONGEST_ADDRESS, quota=1024)
    )
