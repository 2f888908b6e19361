"""The contract suite catches what it promises to catch.

Each case is a backend broken in one way (impure, not idempotent, leaving traces, ignoring
suspension, splicing a value into a script, leaking a secret, skipping its checker, swallowing
a failed reload, writing through a planted symlink), put
through the suite in an inner pytest session: the matching contract test must fail, with a
message that says what is wrong, while the dummy backend it is built on passes everything
(``tests/dummy/test_dummy_contract.py``).
"""

from __future__ import annotations

import textwrap

import pytest

from orchestra_core.errors import FieldError
from orchestra_core.testing.contract import names_field

pytestmark = pytest.mark.daemon

#: The inner test module: a plugin with one backend, ``broken-domain``, whose BROKEN class
#: attribute picks what is wrong with it, and the contract class that tests it.
MODULE = """
import subprocess
import urllib.parse
from pathlib import Path

import attrs
import pytest

from orchestra_core import Server
from orchestra_core.catalogue import Domain, Record
from orchestra_core.dummy.backend import DummySettings, dummy_backend_for
from orchestra_core.hookspecs import hookimpl
from orchestra_core.backends.steps import Command, DeleteFile, WriteFile
from orchestra_core.registry import Registry
from orchestra_core.rendering import Templates
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

BROKEN = "{broken}"
Base = dummy_backend_for(Domain, actions=frozenset({{"save", "delete", "set_password"}}))


class Broken(Base):
    name = "broken-domain"

    def __init__(self):
        super().__init__(Templates.for_package("orchestra_core.dummy"))

    def render(self, ctx):
        if BROKEN == "impure" and ctx.action == "save":
            subprocess.run(["true"], check=True)
        if BROKEN == "suspension" and not ctx.active:
            ctx = attrs.evolve(ctx, active=True)
        if BROKEN == "argv" and ctx.action == "set_password":
            return [
                Command(
                    description="password through argv",
                    script='xargs -0 true <<<"$(cat)"',
                    stdin=ctx.secret.reveal(),
                    sensitive=True,
                )
            ]
        if BROKEN == "plan" and ctx.action == "set_password":
            secret = ctx.secret.reveal()
            return [Command(description="password in the plan", script="true " + repr(secret))]
        steps = list(super().render(ctx))
        if BROKEN == "stale":
            # A file per version of the record: a delete removes only the current one.
            version = ctx.obj.records[0].values[0] if ctx.obj.records else "none"
            path = self.file_path(ctx) + "." + version
            if ctx.action == "delete":
                steps.append(DeleteFile(description="version", path=self.file_path(ctx) + ".v"))
            else:
                steps.append(WriteFile(description="version", path=path, content="x"))
        if BROKEN == "trace" and ctx.action == "save":
            path = self.file_path(ctx) + ".extra"
            steps.append(WriteFile(description="extra", path=path, content="x"))
        if BROKEN == "follow" and ctx.action == "save":
            # A copy of the file made beside it without __o_safe: cp writes through a link.
            path = self.file_path(ctx)
            steps.append(
                Command(
                    description="copy",
                    script=f"cp -- {{path}} {{path}}.orchestra-previous 2>/dev/null || true",
                )
            )
        if BROKEN == "idempotence" and ctx.action == "save":
            steps.append(Command(description="always runs", script="true"))
        if BROKEN == "splice" and ctx.action == "save":
            value = ctx.obj.records[0].values[0] if ctx.obj.records else ""
            steps.append(Command(description="spliced", script="echo " + value + " >/dev/null"))
        return steps

    def validate(self, key, settings):
        if BROKEN == "checker":
            return None
        return super().validate(key, settings)

    def reload(self, server, settings, daemon):
        script = super().reload(server, settings, daemon)
        if BROKEN == "swallow":
            # As bind9's publish once did: a failure to reach the daemon is not a failure.
            return "(\\n" + script + "\\n) || echo 'reload failed, carrying on' >&2\\n"
        return script


@hookimpl
def orchestra_backends():
    return [Broken]


class TestBroken(BackendContract):
    backend = "broken-domain"

    @pytest.fixture(autouse=True)
    def _root(self, tmp_path):
        self.root = tmp_path / "root"

    def registry(self):
        import sys
        return Registry.load(extra={{"broken": sys.modules[__name__]}})

    def servers(self):
        return [Server(name="box", root=str(self.root))]

    def objects(self):
        record = Record(type="TXT", values=("v",))
        return [Domain(account="acme", name="example.com", records=(record,))]

    def observe(self):
        base = self.root / "var/lib/orchestra-dummy"
        return {{
            str(p.relative_to(base)): (p.read_bytes(), p.stat().st_mode)
            for p in sorted(base.rglob("*")) if p.is_file() and p.name != "reloads.log"
        }}

    def changed(self, obj):
        return attrs.evolve(obj, records=(Record(type="TXT", values=("w",)),))

    def read_back(self, obj, path):
        import json
        conf = self.root / "var/lib/orchestra-dummy/domain/example.com.conf"
        line = next(x for x in conf.read_text().splitlines() if x.startswith("data = "))
        data = json.loads(line[7:])
        if path == "records[0].values[0]":
            return data["records"][0]["values"][0]
        if path == "records[0].name":
            return data["records"][0]["name"]
        raise AssertionError(path)

    def rejection(self, obj):
        refuse = ("bash", "-c", "echo refused >&2; exit 1")
        return Rejection(obj=obj, settings={{"file_mode": "0600", "checker": refuse}})

    def unreachable(self, obj):
        return Unreachable(out_of_reach={{"pid_file": "/run/orchestra-dummy/dummy.pid"}})
"""


def run_contract(pytester: pytest.Pytester, broken: str, test: str) -> pytest.RunResult:
    pytester.makepyfile(test_broken=textwrap.dedent(MODULE.format(broken=broken)))
    return pytester.runpytest("-p", "no:cacheprovider", "-k", test)


@pytest.mark.parametrize(
    ("broken", "test", "says"),
    [
        ("impure", "pure", "*ImpureCall: I/O during pure code: subprocess.Popen*"),
        ("idempotence", "second_apply", "*broken-domain save domain:example.com: success*"),
        ("trace", "delete_leaves_no_trace", "*differs*+ *domain/example.com.conf.extra*"),
        ("stale", "update_then_delete", "*differs*+ *domain/example.com.conf.w*"),
        ("suspension", "suspend", "*observe() shows no change when the account is suspended*"),
        ("splice", "hostile", "*records[[]0[]].values[[]0[]] = *"),
        ("plan", "secrets", "*the secret is in the plan*"),
        ("argv", "secrets", "*the secret is in the argv or environment of*/usr/bin/true*"),
        ("checker", "daemon_refuses", "*the daemon accepted the rejection*"),
        ("follow", "planted", "*a batch wrote through a planted symlink*"),
        (
            "swallow",
            "unreachable",
            "*with the daemon out of reach, every operation of broken-domain reported success*",
        ),
    ],
)
def test_a_broken_backend_fails_its_contract_test(
    pytester: pytest.Pytester, broken: str, test: str, says: str
) -> None:
    result = run_contract(pytester, broken, test)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([says])


def test_the_unbroken_backend_passes_every_contract_test(pytester: pytest.Pytester) -> None:
    result = run_contract(pytester, "nothing", "local")
    result.assert_outcomes(passed=12)


def test_a_contract_class_without_its_hooks_says_what_to_implement(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from orchestra_core.testing.contract import BackendContract

        class TestEmpty(BackendContract):
            backend = "dummy-domain"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "second_apply")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TestEmpty: implement servers()*"])


@pytest.mark.parametrize(
    ("field", "path", "named"),
    [
        ("name", "name", True),
        ("records[0]", "records[0].values[0]", True),
        ("records[0].values[0]", "records[0]", True),
        ("records[0].values[0]", "records[0].values[0]", True),
        ("records[1]", "records[10]", False),
        ("name", "names", False),
        ("records[0].name", "records[0].values[0]", False),
    ],
)
def test_names_field(field: str, path: str, named: bool) -> None:
    assert names_field(FieldError("domain:x", field, "bad"), path) is named
