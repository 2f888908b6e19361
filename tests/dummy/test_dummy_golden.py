"""Golden renders of the dummy backends: a change to their templates shows up in review."""

from __future__ import annotations

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server, ServiceIndex
from orchestra_core.dummy.plugin import BACKENDS
from orchestra_core.testing.golden import Golden, rendered_files
from tests.dummy.examples import OBJECTS


def engine(settings: dict[str, object] | None = None) -> Orchestra:
    routes = [Route(backend=b.name, servers=("box",), settings=settings or {}) for b in BACKENDS]
    return Orchestra(servers=[Server(name="box")], routes=routes)


def test_every_kind_saved(golden: Golden) -> None:
    changes = ChangeSet()
    for obj in OBJECTS:
        changes.save(obj)
    plan = engine().plan(changes, index=ServiceIndex([Account(name="acme")], OBJECTS))
    golden.check("save", rendered_files(plan, reloads=True))


def test_suspended_with_a_password_and_settings(golden: Golden) -> None:
    [user] = [obj for obj in OBJECTS if obj.kind == "systemuser"]
    [app] = [obj for obj in OBJECTS if obj.kind == "webapp"]
    # Nothing is applied yet: a change set compares only its own objects (and those they
    # re-save: the user's web app and its website), so the web app that names the user is
    # saved with it to render suspended too.
    changes = ChangeSet().save(user).save(app).set_password(user, Secret("never shown"))
    settings = {"directory": "/srv/dummy", "file_mode": "0600"}
    index = ServiceIndex([Account(name="acme", is_active=False)], OBJECTS)
    plan = engine(settings).plan(changes, index=index)
    files = rendered_files(plan)
    assert "never shown" not in "".join(files.values())
    golden.check("suspended", files)
