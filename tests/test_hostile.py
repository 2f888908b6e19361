"""The hostile corpus, end to end: validation, planning, rendering and a real bash run.

Every hostile value is put into every text field of every catalogue type. Each must be either
refused by validation with an error naming that field (and then nothing is planned), or applied
by the dummy driver through the local transport, landing verbatim in the object's file while no
canary file appears.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ValidationError
from orchestra_core.catalogue import (
    Database,
    DatabaseUser,
    Domain,
    MailAddress,
    Mailbox,
    MailingList,
    Record,
    SystemUser,
    WebApp,
    Website,
    WebsiteContent,
)
from orchestra_core.dummy.plugin import BACKENDS
from orchestra_core.model import Service, ServiceIndex
from orchestra_core.testing.hostile import corpus

BASES: dict[type[Service], dict[str, Any]] = {
    SystemUser: {"name": "u1", "home": "/home/u1"},
    Domain: {"name": "example.com", "records": (Record(type="TXT", values=("v",)),)},
    Mailbox: {"address": "info@example.com"},
    MailAddress: {"address": "a@example.com", "forwards": ("b@example.org",)},
    WebApp: {"name": "app", "system_user": "u1", "options": {"memory_limit": "64M"}},
    Website: {
        "name": "site",
        "domains": ("example.com",),
        "contents": (WebsiteContent(path="/", webapp="app"),),
    },
    Database: {"name": "db1"},
    DatabaseUser: {"username": "dbu", "databases": ("db1",)},
    MailingList: {
        "name": "news",
        "domain": "example.com",
        "admin_email": "a@example.com",
        "description": "d",
    },
}

Case = tuple[str, Callable[[str], Service], Callable[[dict[str, Any]], Any]]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for cls, base in BASES.items():
        for field in attrs.fields(cls):
            if field.type in ("str", "str | None", str):
                cases.append(
                    (
                        f"{cls.kind}.{field.name}",
                        lambda v, c=cls, b=base, f=field.name: c(**{"account": "acme", **b, f: v}),
                        lambda data, f=field.name: data[f],
                    )
                )
            elif field.type in ("tuple[str, ...]",):
                cases.append(
                    (
                        f"{cls.kind}.{field.name}[0]",
                        lambda v, c=cls, b=base, f=field.name: c(
                            **{"account": "acme", **b, f: (v,)}
                        ),
                        lambda data, f=field.name: data[f][0],
                    )
                )
    cases += [
        (
            "domain.records[0].values[0]",
            lambda v: Domain(
                account="acme", name="example.com", records=(Record(type="TXT", values=(v,)),)
            ),
            lambda data: data["records"][0]["values"][0],
        ),
        (
            "domain.records[0].name",
            lambda v: Domain(
                account="acme",
                name="example.com",
                records=(Record(name=v, type="TXT", values=("x",)),),
            ),
            lambda data: data["records"][0]["name"],
        ),
        (
            "webapp.options[memory_limit]",
            lambda v: WebApp(
                account="acme", name="app", system_user="u1", options={"memory_limit": v}
            ),
            lambda data: data["options"]["memory_limit"],
        ),
        (
            "website.contents[0].path",
            lambda v: Website(
                account="acme",
                name="site",
                domains=("example.com",),
                contents=(WebsiteContent(path=v, webapp="app"),),
            ),
            lambda data: data["contents"][0]["path"],
        ),
    ]
    return cases


CASES = _cases()
WORLD = [cls(**{"account": "acme", **base}) for cls, base in BASES.items()]


def world_with(obj: Service) -> ServiceIndex:
    """Every base object (so that references resolve), with ``obj`` in place of its twin."""
    return ServiceIndex([Account(name="acme")], [o for o in WORLD if o.key != obj.key] + [obj])


ROUTES = [Route(backend=b.name, servers=("box",)) for b in BACKENDS]


def test_every_catalogue_type_has_cases() -> None:
    kinds = {label.split(".")[0] for label, _, _ in CASES}
    assert kinds == {cls.kind for cls in BASES}
    assert len(CASES) >= 30


@pytest.mark.parametrize("value_name", sorted(corpus("x")))
def test_hostile_value_is_refused_or_lands_verbatim(value_name: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    value = corpus(str(canary))[value_name]
    root = tmp_path / "root"
    orchestra = Orchestra(servers=[Server(name="box", root=str(root))], routes=ROUTES)
    accepted, refused = [], []
    try:
        for label, make, extract in CASES:
            obj = make(value)
            field = label.split(".", 1)[1]
            errors = obj.check()
            if errors:
                assert any(e.field == field or e.field.startswith(field) for e in errors), (
                    label,
                    errors,
                )
                with pytest.raises(ValidationError):
                    orchestra.plan(ChangeSet().save(obj), index=world_with(obj))
                refused.append(label)
                continue
            plan = orchestra.plan(ChangeSet().save(obj), index=world_with(obj))
            result = orchestra.apply(plan)
            assert result.ok, (label, [(log.state, log.stderr) for log in result.logs])
            name = urllib.parse.quote(obj.identity, safe="@.-_+") + ".conf"
            conf = root / "var/lib/orchestra-dummy" / obj.kind / name
            data_line = next(
                line for line in conf.read_text().splitlines() if line.startswith("data = ")
            )
            assert extract(json.loads(data_line[len("data = ") :])) == value, label
            accepted.append(label)
    finally:
        orchestra.close()
    assert not canary.exists(), "a hostile value ran as code"
    assert accepted or refused
    if value_name in {"nul", "newline", "carriage_return", "long", "heredoc"}:
        # No field of the catalogue takes control characters or 10 kB strings.
        assert not accepted, accepted


def test_names_refuse_every_hostile_value_but_plain_ones() -> None:
    """Identity fields (the ones that end up in paths and keys) refuse all of the corpus."""
    values = corpus("/tmp/canary")
    identity_fields = ["systemuser.name", "domain.name", "mailbox.address", "database.name"]
    for label, make, _ in CASES:
        if label not in identity_fields:
            continue
        for value_name, value in values.items():
            if value_name in {"glob"}:
                continue
            assert make(value).check(), (label, value_name)


@pytest.mark.parametrize("value_name", sorted(set(corpus("x")) - {"nul", "empty"}))
def test_hostile_settings_reach_the_shell_quoted(value_name: str, tmp_path: Path) -> None:
    """Settings are operator input, not validated like fields: they reach scripts as paths
    (mkdir, the write, the reload snippet) and must stay literal there."""
    canary = tmp_path / "canary"
    value = corpus(str(canary))[value_name]
    root = tmp_path / "root"
    directory = "/srv/" + value.replace("/", "_")
    route = Route(backend="dummy-domain", servers=("box",), settings={"directory": directory})
    orchestra = Orchestra(servers=[Server(name="box", root=str(root))], routes=[route])
    domain = Domain(account="acme", name="example.com")
    try:
        result = orchestra.apply(orchestra.plan(ChangeSet().save(domain)))
    finally:
        orchestra.close()
    assert not canary.exists(), "a hostile setting ran as code"
    if value_name == "long":
        # A 10 kB path component is refused by the file system: a clean failure, not a mess.
        assert [log.state.value for log in result.logs] == ["failure", "aborted"]
        assert "File name too long" in result.logs[0].stderr
        return
    assert result.ok, [(log.state, log.stderr) for log in result.logs]
    base = root / directory.lstrip("/")
    assert (base / "domain" / "example.com.conf").read_text().startswith("# Managed by")
    assert (base / "reloads.log").read_text().startswith("reloaded ")


def test_nul_in_a_setting_is_refused_before_anything_runs(tmp_path: Path) -> None:
    route = Route(backend="dummy-domain", servers=("box",), settings={"directory": "/srv/a\x00b"})
    orchestra = Orchestra(servers=[Server(name="box", root=str(tmp_path))], routes=[route])
    with pytest.raises(Exception, match="NUL"):
        orchestra.apply(orchestra.plan(ChangeSet().save(Domain(account="a", name="example.com"))))
    assert list(tmp_path.iterdir()) == []
