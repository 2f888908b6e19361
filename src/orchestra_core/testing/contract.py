"""The backend contract suite: what every backend must do, written once, run by every driver.

A driver's tests subclass :class:`BackendContract` once per backend and say four things: the
backend's name, the servers it runs on (where the driver's daemon fixture listens), valid
objects for it, and how to observe the server (everything the backend may change there, as a
value that compares with ``==``). The tests of the class then check, against the real daemon:

1. validation and rendering are pure: no process, socket, write or foreign read, and the same
   input gives the same plan (:func:`~orchestra_core.testing.purity.no_io`);
2. an apply changes the server, a second apply reports "nothing" and changes nothing;
3. a delete after an apply (or after an update) leaves no trace, an update is itself
   idempotent, and a delete of what is absent succeeds with "nothing";
4. a suspended account's object is rendered disabled, stays so when applied again, and comes
   back exactly as it was when the account is resumed;
5. every value of the hostile corpus in every text field is either refused with an error
   naming that field, or applied and read back verbatim from the server; no canary file
   appears, and nothing is left behind;
6. a secret (``set_password``) never reaches the plan, the logs, the store, or any program's
   argv or environment (watched with strace);
7. an object that fails validation changes nothing, and a change the daemon's own checker
   refuses fails with the checker's words and leaves the live configuration as it was;
8. a change applied while the daemon cannot be reached (its control channel pointed at a
   wrong key or a port where nothing listens) fails, says why, and leaves the server as it
   was; the same change applies once the daemon is in reach again.

Each test runs once per transport in :attr:`BackendContract.transports`: ``local``, and
``ssh`` for a real sshd on loopback (the ``ssh_host`` fixture) that logs in to this machine.
See ``docs/contract.md`` for each point and how to satisfy it.
"""

from __future__ import annotations

import difflib
import json
import pprint
import secrets as _secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from orchestra_core.errors import FieldError, ValidationError
from orchestra_core.execution.results import OperationLog
from orchestra_core.model.secret import Secret
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.service import Service
from orchestra_core.planning.changeset import ChangeSet
from orchestra_core.registry import Registry
from orchestra_core.testing.driving import with_state_dir
from orchestra_core.testing.execwatch import ExecWatcher
from orchestra_core.testing.fields import replace_field, text_fields
from orchestra_core.testing.harness import ContractHarness, describe
from orchestra_core.testing.hostile import hostile_values
from orchestra_core.testing.planted import plant, written_folders
from orchestra_core.testing.purity import no_io

__all__ = ["BackendContract", "Rejection", "Unreachable", "names_field"]


@attrs.frozen(kw_only=True)
class Rejection:
    """A change that passes orchestra's validation but the daemon's checker refuses: ``obj``
    (a changed copy of the subject), applied with the backend ``settings`` overrides."""

    obj: Service
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Unreachable:
    """How the contract puts the backend's daemon out of reach for a change.

    ``out_of_reach``: backend settings overrides under which every command that reaches the
    daemon fails as it would with the daemon down or its key wrong (an rndc config with
    another key, a client socket where no server listens, a pid file of no process).
    ``during``, for what no setting can cut off: a context manager factory; the change is
    applied inside the context it makes (the user database locked by another program, a
    daemon stopped and started again), and the contract checks the server once it has been
    left. Give either, or both. The change is ``obj`` (by default the backend's ``changed()``
    of the subject) with the backend ``settings`` overrides of its own (a slave's new
    master), which the apply in reach keeps.
    """

    out_of_reach: Mapping[str, Any] = attrs.field(factory=dict)
    obj: Service | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    during: Callable[[], AbstractContextManager[object]] | None = None

    def __attrs_post_init__(self) -> None:
        if not self.out_of_reach and self.during is None:
            raise TypeError("Unreachable needs out_of_reach settings, a during() context, or both")


def names_field(error: FieldError, path: str) -> bool:
    """True when ``error`` is about the field at ``path`` (or a part of it, or the whole it
    belongs to: ``records[0]`` names ``records[0].values[0]``)."""
    field = error.field
    if field == path:
        return True
    return any(
        longer.startswith(shorter) and longer[len(shorter)] in ".["
        for longer, shorter in ((field, path), (path, field))
        if len(longer) > len(shorter)
    )


class BackendContract:
    """Base class of a driver's contract tests: subclass it once per backend.

    Set :attr:`backend`, implement :meth:`servers`, :meth:`objects`, :meth:`observe`,
    :meth:`changed`, :meth:`rejection` and :meth:`unreachable`, and whichever of the optional
    hooks the backend needs. A daemon fixture reaches the methods through ``self``: an autouse
    fixture of the subclass stores it there::

        class TestMyBackend(BackendContract):
            backend = "mydaemon-domain"

            @pytest.fixture(autouse=True)
            def _daemon(self, mydaemon):
                self.daemon = mydaemon

            def servers(self):
                return [Server(name="box", settings={"mydaemon-domain": self.daemon.settings()})]

            def objects(self):
                return [Domain(account="acme", name="example.com")]

            def observe(self):
                return self.daemon.state()
    """

    #: Name of the backend under test.
    backend: ClassVar[str]
    #: Transports the tests run over: ``local`` and ``ssh`` (a real sshd on loopback).
    transports: ClassVar[tuple[str, ...]] = ("local",)
    #: False when a suspended object is the same on the server as an active one (a database
    #: keeps its data while its users are locked): the suspend test then checks that
    #: suspending and resuming change nothing at all.
    suspends: ClassVar[bool] = True
    #: Text fields left out of the hostile test, each with the reason.
    hostile_skip: ClassVar[Mapping[str, str]] = {}

    # -- what the driver supplies ---------------------------------------------------------------

    def servers(self) -> Sequence[Server]:
        """The servers (local transport) where the daemon under test runs, with the
        backend's settings to reach it in ``settings[BACKEND]``. The ``ssh`` runs reach the
        same servers through the ``ssh_host`` fixture."""
        raise NotImplementedError(f"{type(self).__name__}: implement servers()")

    def routes(self) -> Sequence[Route]:
        """The routes; by default one that sends the backend's objects to every server."""
        return [Route(backend=self.backend, servers=tuple(s.name for s in self.servers()))]

    def objects(self) -> Sequence[Service]:
        """Valid objects: the first is the subject of every test; the others are the world it
        names (in the index of every plan, applied only if routed)."""
        raise NotImplementedError(f"{type(self).__name__}: implement objects()")

    def observe(self) -> Any:
        """Everything the backend may change on the server, as a value compared with ``==``
        (files and their modes, what the daemon serves, rows of its tables). Leave out what
        changes by itself: logs, timestamps, pids."""
        raise NotImplementedError(f"{type(self).__name__}: implement observe()")

    def changed(self, obj: Service) -> Service:
        """A valid change of ``obj`` (the same key) that the backend applies as an update of
        what it made: a record added, a privilege dropped, a quota raised."""
        raise NotImplementedError(
            f"{type(self).__name__}: implement changed(obj): an update of the subject"
        )

    def read_back(self, obj: Service, path: str) -> Any:
        """The value of field ``path`` of ``obj`` as the server holds it, after ``obj`` was
        applied: how an accepted hostile value is shown to have landed verbatim. Needed only
        if some hostile value passes validation."""
        raise NotImplementedError(
            f"{type(self).__name__}: a hostile value in {path!r} of {obj.key} passed validation "
            "and was applied: implement read_back(obj, path) to show it landed verbatim, or "
            "refuse it in the backend's check()"
        )

    def rejection(self, obj: Service) -> Rejection | None:
        """A change of ``obj`` that passes validation but that the daemon's own checker (or
        the server) refuses. Return None only for a backend with no checker to refuse it."""
        raise NotImplementedError(
            f"{type(self).__name__}: implement rejection(obj): a change the daemon refuses"
        )

    def unreachable(self, obj: Service) -> Unreachable | None:
        """Settings under which the daemon that the backend's steps and reload talk to cannot
        be reached, and the change of ``obj`` to apply under them (see :class:`Unreachable`).
        Return None only for a backend that reaches no daemon at all (it only writes files
        that nothing loads): its test is then skipped, saying so."""
        raise NotImplementedError(
            f"{type(self).__name__}: implement unreachable(obj): settings under which the "
            "daemon cannot be reached (a wrong key, a port where nothing listens), or return "
            "None if the backend reaches no daemon"
        )

    def registry(self) -> Registry:
        """The plugins the engines load: every installed one (override to add a plugin that
        is not installed, with ``Registry.load(extra={NAME: MODULE})``)."""
        return Registry.load()

    def check_password(self, obj: Service, secret: str) -> None:
        """Assert that the server took ``secret`` as ``obj``'s password (log in with it).
        The default checks nothing beyond the secrecy of the secret."""

    # -- plumbing --------------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run every test once per transport of :attr:`transports`."""
        if "contract_transport" in metafunc.fixturenames:
            metafunc.parametrize("contract_transport", self.transports)

    @pytest.fixture
    def contract(
        self, request: pytest.FixtureRequest, contract_transport: str, tmp_path: Path
    ) -> Iterator[ContractHarness]:
        """The harness for this test: the backend on :meth:`servers` over the transport."""
        servers = [with_state_dir(s, tmp_path / "state") for s in self.servers()]
        watch: tuple[int, ...] = ()
        if contract_transport == "ssh":
            host = request.getfixturevalue("ssh_host")
            servers = [host.server(s.name, settings=s.settings, root=s.root) for s in servers]
            watch = (host.process.pid,) if host.process.pid is not None else ()
        elif contract_transport != "local":
            raise ValueError(f"the contract runs over local or ssh, not {contract_transport!r}")
        objects = list(self.objects())
        assert objects, f"{type(self).__name__}.objects() gave no object"
        harness = ContractHarness(
            backend=self.backend,
            servers=tuple(servers),
            routes=tuple(self.routes()),
            world=tuple(objects[1:]),
            watch=watch,
            registry=self.registry(),
        )
        assert self.backend in harness.registry.backends, (
            f"backend {self.backend!r} is not installed: is the driver's entry point registered?"
        )
        try:
            yield harness
        finally:
            harness.close()

    def assert_observed(self, expected: Any, message: str = "") -> None:
        """Assert that :meth:`observe` gives ``expected``; the failure shows what differs."""
        now = self.observe()
        assert now == expected, f"{message}\n{_difference(now, expected)}".strip()

    @property
    def subject(self) -> Service:
        """The object every test applies: the first of :meth:`objects`."""
        return self.objects()[0]

    # -- 1. purity -------------------------------------------------------------------------------

    def test_validation_and_rendering_are_pure(self, contract: ContractHarness) -> None:
        """Every action plans without I/O, and planning twice gives the same plan."""
        subject = self.subject
        cases: list[tuple[str, ChangeSet, bool]] = [
            ("save", ChangeSet().save(subject), False),
            ("save suspended", ChangeSet().save(subject), True),
            ("delete", ChangeSet().delete(subject), False),
        ]
        if "set_password" in contract.registry.backends[self.backend].cls.actions:
            secret = Secret("pure-" + _secrets.token_hex(8))
            cases.append(("set_password", ChangeSet().set_password(subject, secret), False))
        for label, changes, suspended in cases:
            engines = (contract.engine(), contract.engine())
            with no_io() as guard:
                plans = [
                    contract.plan(changes, [subject], suspended=suspended, engine=e)
                    for e in engines
                ]
            assert guard.events == [], f"{label}: I/O while planning: {guard.events}"
            texts = [plan.render_text() for plan in plans]
            assert texts[0] == texts[1], f"{label}: two plans of the same input differ:\n" + (
                "".join(
                    difflib.unified_diff(
                        texts[0].splitlines(keepends=True),
                        texts[1].splitlines(keepends=True),
                        "first plan",
                        "second plan",
                    )
                )
            )
            assert plans[0].to_dict() == plans[1].to_dict(), f"{label}: two plans differ"
            if label == "save":
                assert any(op.backend == self.backend for op in plans[0].operations()), (
                    f"saving {subject.key} plans nothing for {self.backend}: check routes()"
                )

    # -- 2. idempotence --------------------------------------------------------------------------

    def test_second_apply_changes_nothing(self, contract: ContractHarness) -> None:
        """The first apply changes the server; the second reports nothing and changes nothing."""
        baseline = self.observe()
        first = contract.save(self.subject)
        assert first.ok, describe(first)
        assert "success" in contract.own(first), describe(first)
        applied = self.observe()
        assert applied != baseline, "observe() shows no change after the first apply"
        second = contract.save(self.subject)
        assert {log.state.value for log in second.logs} == {"nothing"}, describe(second)
        self.assert_observed(applied)

    # -- 3. deletion -----------------------------------------------------------------------------

    def test_delete_leaves_no_trace(self, contract: ContractHarness) -> None:
        """A delete after an apply brings the server back to what it was; again is nothing."""
        baseline = self.observe()
        saved = contract.save(self.subject)
        assert saved.ok, describe(saved)
        deleted = contract.delete(self.subject)
        assert deleted.ok, describe(deleted)
        assert "success" in contract.own(deleted), describe(deleted)
        self.assert_observed(baseline)
        again = contract.delete(self.subject)
        assert {log.state.value for log in again.logs} == {"nothing"}, describe(again)
        self.assert_observed(baseline)

    def test_delete_of_what_is_absent_succeeds(self, contract: ContractHarness) -> None:
        """Deleting an object that was never applied reports nothing and changes nothing."""
        baseline = self.observe()
        result = contract.delete(self.subject)
        assert contract.own(result), f"deleting {self.subject.key} ran nothing of the backend"
        assert {log.state.value for log in result.logs} == {"nothing"}, describe(result)
        self.assert_observed(baseline)

    def test_update_then_delete(self, contract: ContractHarness) -> None:
        """An update changes the server and is itself idempotent; a delete after an update
        still leaves no trace (files the update made, journals of the old version...)."""
        baseline = self.observe()
        saved = contract.save(self.subject)
        assert saved.ok, describe(saved)
        applied = self.observe()
        changed = self.changed(self.subject)
        assert changed.key == self.subject.key, "changed() must keep the object's key"
        assert changed != self.subject, "changed() gave the subject unchanged"
        update = contract.save(changed)
        assert update.ok, describe(update)
        # Another backend may carry the update (a slave's zone comes from its master).
        assert "success" in {log.state.value for log in update.logs}, describe(update)
        updated = self.observe()
        assert updated != applied, "observe() shows no change after the update"
        again = contract.save(changed)
        assert {log.state.value for log in again.logs} == {"nothing"}, describe(again)
        self.assert_observed(updated)
        deleted = contract.delete(changed)
        assert deleted.ok, describe(deleted)
        self.assert_observed(baseline)

    # -- 4. suspension ---------------------------------------------------------------------------

    def test_suspend_and_resume(self, contract: ContractHarness) -> None:
        """A suspended account's object is disabled (or, when :attr:`suspends` is False,
        untouched), idempotently; resuming restores exactly the active state."""
        active = contract.save(self.subject)
        assert active.ok, describe(active)
        serving = self.observe()
        suspended = contract.save(self.subject, suspended=True)
        assert suspended.ok, describe(suspended)
        disabled = self.observe()
        if self.suspends:
            assert disabled != serving, "observe() shows no change when the account is suspended"
        else:
            assert {log.state.value for log in suspended.logs} == {"nothing"}, describe(suspended)
            assert disabled == serving, _difference(disabled, serving)
        again = contract.save(self.subject, suspended=True)
        assert {log.state.value for log in again.logs} == {"nothing"}, describe(again)
        self.assert_observed(disabled)
        resumed = contract.save(self.subject)
        assert resumed.ok, describe(resumed)
        self.assert_observed(serving)

    # -- 5. hostile values -----------------------------------------------------------------------

    def test_hostile_values_are_refused_or_land_verbatim(
        self, contract: ContractHarness, tmp_path: Path
    ) -> None:
        """Each corpus value in each text field: a field error, or applied and read back as
        it was; no canary file, nothing left behind."""
        canary = tmp_path / "canary"
        baseline = self.observe()
        subject = self.subject
        paths = [p for p in text_fields(subject) if p not in self.hostile_skip]
        assert paths, f"{subject.key} has no text field to try"
        accepted: list[str] = []
        for path in paths:
            for hostile in hostile_values(str(canary)):
                label = f"{path} = {hostile.name}"
                obj = replace_field(subject, path, hostile.value)
                try:
                    plan = contract.plan(ChangeSet().save(obj), [obj])
                except ValidationError as exc:
                    assert any(names_field(e, path) for e in exc.errors), (
                        f"{label}: refused, but no error names {path!r}: {exc}"
                    )
                    continue
                result = contract.default.apply(plan)
                assert result.ok, (
                    f"{label}: passed validation, then failed on the server; refuse it in "
                    f"check():\n{describe(result)}"
                )
                held = self.read_back(obj, path)
                assert held == hostile.value, f"{label}: the server holds {held!r}"
                removed = contract.delete(obj)
                assert removed.ok, f"{label}: delete failed:\n{describe(removed)}"
                accepted.append(label)
                assert not canary.exists(), f"{label}: a hostile value ran as code"
        assert not canary.exists(), "a hostile value ran as code"
        self.assert_observed(baseline, f"hostile objects left traces (accepted: {accepted})")

    # -- 6. secrets ------------------------------------------------------------------------------

    def test_secrets_stay_secret(self, contract: ContractHarness) -> None:
        """A password reaches the server, and nowhere else: not the plan, the logs, the store,
        or the argv or environment of any program that ran, whether the server takes it or
        refuses it. A backend without ``set_password`` is never given one."""
        subject = self.subject
        secret = f'S3cr3t-{_secrets.token_hex(6)} it\'s "$(x)" `y`; ü'
        changes = ChangeSet().set_password(subject, Secret(secret))
        if "set_password" not in contract.registry.backends[self.backend].cls.actions:
            plan = contract.plan(changes, [subject])
            mine = [op for op in plan.operations() if op.backend == self.backend]
            assert mine == [], f"{self.backend} has no set_password but was given one"
            return
        # First for an object the server does not have: it may refuse, and an error message
        # that quotes the statement must not carry the secret either.
        early = contract.apply(changes, [subject])
        assert contract.own(early), describe(early)
        for log in early.logs:
            assert secret not in _log_text(log), f"the secret is in the log of {log.operation_id}"
        saved = contract.save(subject)
        assert saved.ok, describe(saved)
        plan = contract.plan(changes, [subject])
        shown = json.dumps(plan.to_dict(), ensure_ascii=False) + plan.render_text() + repr(plan)
        assert secret not in shown, "the secret is in the plan"
        with ExecWatcher(contract.watch) as watcher:
            result = contract.default.apply(plan)
        assert result.ok, describe(result)
        assert "success" in contract.own(result), describe(result)
        assert watcher.execs, "no program ran: the watch proves nothing"
        leaks = watcher.containing(secret)
        assert leaks == [], f"the secret is in the argv or environment of {list(map(str, leaks))}"
        stored = contract.default.store.list_logs()
        assert stored, "the store kept no log"
        for log in [*stored, *result.logs]:
            assert secret not in _log_text(log), f"the secret is in the log of {log.operation_id}"
        self.check_password(subject, secret)

    # -- 7. validation ---------------------------------------------------------------------------

    def test_refused_object_changes_nothing(self, contract: ContractHarness) -> None:
        """An object that fails validation is refused before anything runs."""
        applied = contract.save(self.subject)
        assert applied.ok, describe(applied)
        before = self.observe()
        refused = 0
        for path in text_fields(self.subject):
            bad = replace_field(self.subject, path, "x\x00y")
            with pytest.raises(ValidationError) as caught:
                contract.plan(ChangeSet().save(bad), [bad])
            assert any(names_field(e, path) for e in caught.value.errors), caught.value
            with pytest.raises(ValidationError):
                contract.apply(ChangeSet().save(bad), [bad])
            refused += 1
        assert refused
        self.assert_observed(before)

    def test_change_the_daemon_refuses_leaves_the_live_config(
        self, contract: ContractHarness
    ) -> None:
        """A change the daemon's checker refuses fails with its words; the server keeps what
        it had, and the next good apply finds nothing to do."""
        rejection = self.rejection(self.subject)
        if rejection is None:
            pytest.skip(f"{self.backend} has no checker that could refuse a change")
        applied = contract.save(self.subject)
        assert applied.ok, describe(applied)
        before = self.observe()
        engine = contract.engine(settings=rejection.settings)
        result = contract.apply(ChangeSet().save(rejection.obj), [rejection.obj], engine=engine)
        failed = [log for log in result.logs if not log.state.is_ok]
        assert failed, f"the daemon accepted the rejection:\n{describe(result)}"
        assert any((log.stdout + log.stderr).strip() for log in failed), (
            f"the failure does not say why:\n{describe(result)}"
        )
        self.assert_observed(before)
        again = contract.save(self.subject)
        work = [log.state.value for log in again.logs if log.action != "reload"]
        assert again.ok and set(work) == {"nothing"}, describe(again)
        self.assert_observed(before)

    # -- 8. an unreachable daemon -------------------------------------------------------------

    def test_unreachable_daemon_fails_the_operation(self, contract: ContractHarness) -> None:
        """A change applied while the daemon cannot be reached fails (an operation of the
        backend, or its reload, is not ok), says why, leaves the server as it was, and is not
        recorded as applied where it failed: what was applied is what runs. Once the daemon
        is in reach, the same change applies: it is not taken for done."""
        unreachable = self.unreachable(self.subject)
        if unreachable is None:
            pytest.skip(f"{self.backend} reaches no daemon: unreachable() gave None")
        change = unreachable.obj if unreachable.obj is not None else self.changed(self.subject)
        assert change.key == self.subject.key, "unreachable() must keep the object's key"
        applied = contract.save(self.subject)
        assert applied.ok, describe(applied)
        before = self.observe()
        cut_off = contract.engine(settings={**unreachable.settings, **unreachable.out_of_reach})
        with unreachable.during() if unreachable.during is not None else nullcontext():
            result = contract.apply(ChangeSet().save(change), [change], engine=cut_off)
        mine = [log for log in result.logs if log.backend == self.backend]
        assert mine, f"the change ran nothing of {self.backend}:\n{describe(result)}"
        failed = [log for log in mine if not log.state.is_ok]
        assert failed, (
            f"with the daemon out of reach, every operation of {self.backend} reported "
            f"success or nothing:\n{describe(result)}"
        )
        assert not result.ok, describe(result)
        assert any((log.stdout + log.stderr).strip() for log in failed), (
            f"the failure does not say why:\n{describe(result)}"
        )
        self.assert_observed(before, "a change the daemon never took changed the server")
        where = {log.server for log in failed}
        recorded = [
            p
            for p in cut_off.store.placements(object_keys={change.key})
            if p.backend == self.backend and p.server in where
        ]
        assert not recorded, (
            f"the store counts the change as applied on {', '.join(p.server for p in recorded)}"
            f", where it failed:\n{describe(result)}"
        )
        in_reach = contract.engine(settings=unreachable.settings)
        again = contract.apply(ChangeSet().save(change), [change], engine=in_reach)
        assert again.ok, describe(again)
        assert "success" in {log.state.value for log in again.logs}, (
            f"the change was taken for done while the daemon never had it:\n{describe(again)}"
        )
        assert self.observe() != before, "observe() shows no change once the daemon is back"

    # -- 9. planted symlinks --------------------------------------------------------------------

    def test_planted_symlinks_are_not_followed(
        self, contract: ContractHarness, tmp_path: Path
    ) -> None:
        """Where the backend writes, every file replaced by a symlink to a decoy outside, and
        a symlink at every name its steps are about to make (the files, their backups), as a
        customer could plant them: an update and a delete write through none of them (a
        step may fail, saying so, or replace the link). Then the same with a symlink in
        place of the owed-reload marker."""
        change = self.changed(self.subject)
        planted = False
        for markers in (False, True):
            applied = contract.save(self.subject)
            assert applied.ok, describe(applied)
            # Decided from the server as it is (a probing backend's steps are known only
            # then): the folders an apply would write into.
            folders, targets = written_folders(
                contract.decided(contract.plan(ChangeSet().save(change), [change])),
                markers=markers,
            )
            more, also = written_folders(
                contract.decided(contract.plan(ChangeSet().delete(change), [])), markers=markers
            )
            if not folders | more:
                continue
            planted = True
            decoys = plant(folders | more, targets | also, tmp_path / f"decoys-{markers}")
            updated = contract.save(change)
            deleted = contract.delete(change)
            assert not decoys.changed(), (
                "a batch wrote through a planted symlink:\n"
                + "\n".join(decoys.changed())
                + f"\n{describe(updated)}\n{describe(deleted)}"
            )
            for link in decoys.links:
                if link.is_symlink():
                    link.unlink()
        if not planted:
            pytest.skip(f"{self.backend} writes no file on the server")


def _difference(now: Any, expected: Any) -> str:
    """What ``observe()`` gives now against what it should, as a diff of their pretty forms."""
    lines = difflib.unified_diff(
        pprint.pformat(expected, width=100).splitlines(),
        pprint.pformat(now, width=100).splitlines(),
        "expected",
        "observed",
        lineterm="",
        n=2,
    )
    summary = ""
    if isinstance(now, dict) and isinstance(expected, dict):
        extra = [f"+ {k!r}" for k in now if k not in expected]
        gone = [f"- {k!r}" for k in expected if k not in now]
        changed = [f"~ {k!r}" for k in now if k in expected and now[k] != expected[k]]
        summary = " ".join([*extra, *gone, *changed])[:500] + "\n"
    return "the server differs from what it should be: " + summary + "\n".join(lines)


def _log_text(log: OperationLog) -> str:
    """Every field of ``log``, as text."""
    return json.dumps(attrs.asdict(log), default=str, ensure_ascii=False) + repr(log)
