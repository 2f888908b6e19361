"""Plugin loading through real entry points (distributions made on the fly in a temp dir)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from stevedore import ExtensionManager

from orchestra_core.errors import PluginLoadError
from orchestra_core.registry import ENTRY_POINT_GROUP, Registry


def make_distribution(where: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """An installed distribution, as pip would leave it: a .dist-info folder and modules."""
    info = where / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (where / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path where distributions can be "installed" for one test."""
    # stevedore keeps the entry points of a group for the life of the process.
    ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        ExtensionManager.ENTRY_POINT_CACHE.pop(ENTRY_POINT_GROUP, None)
        for name in [m for m in sys.modules if m.startswith("orch_test_")]:
            del sys.modules[name]


def test_builtin_plugins_register_through_entry_points() -> None:
    registry = Registry.load()
    assert registry.plugins["catalogue"].distribution == "orchestra-core"
    assert registry.plugins["dummy"].distribution == "orchestra-core"
    assert "domain" in registry.service_types
    assert registry.backends["dummy-domain"].plugin.name == "dummy"
    [(plugin, backends)] = [d for d in registry.drivers() if d[0].name == "dummy"]
    assert plugin.version
    assert {b.service_kind for b in backends} >= {"domain", "mailbox", "website"}


def test_a_plugin_that_fails_to_import_names_itself_and_its_distribution(site: Path) -> None:
    make_distribution(
        site,
        "orchestra-broken",
        """
        [orchestra.plugins]
        broken = orch_test_broken
        """,
        {"orch_test_broken": "import a_module_that_does_not_exist\n"},
    )
    with pytest.raises(PluginLoadError) as info:
        Registry.load()
    assert info.value.plugin == "broken"
    assert info.value.distribution == "orchestra-broken"
    assert "a_module_that_does_not_exist" in info.value.reason


def test_a_third_party_driver_is_found_like_the_builtin_ones(site: Path) -> None:
    make_distribution(
        site,
        "orchestra-extra",
        """
        [orchestra.plugins]
        extra = orch_test_extra
        """,
        {
            "orch_test_extra": """
            from orchestra_core.catalogue import Domain
            from orchestra_core.dummy.backend import DummyBackend
            from orchestra_core.hookspecs import hookimpl

            class ExtraDomain(DummyBackend):
                name = "extra-domain"
                service_type = Domain

            @hookimpl
            def orchestra_backends():
                return [ExtraDomain]
            """
        },
    )
    registry = Registry.load()
    info = registry.backends["extra-domain"]
    assert (info.plugin.name, info.plugin.distribution, info.plugin.version) == (
        "extra",
        "orchestra-extra",
        "1.2.3",
    )


def test_a_misspelt_hook_is_refused(site: Path) -> None:
    make_distribution(
        site,
        "orchestra-typo",
        """
        [orchestra.plugins]
        typo = orch_test_typo
        """,
        {
            "orch_test_typo": """
            from orchestra_core.hookspecs import hookimpl

            @hookimpl
            def orchestra_backend():
                return []
            """
        },
    )
    with pytest.raises(PluginLoadError, match=r"typo.*orchestra-typo.*orchestra_backend"):
        Registry.load()


SECTION_PLUGIN = """
import attrs
from orchestra_core.catalogue import Domain, Mailbox
from orchestra_core.dummy.backend import DummyBackend, DummySettings
from orchestra_core.hookspecs import hookimpl

@attrs.frozen(kw_only=True)
class OtherSettings:
    directory: str = "/x"

class Shared(DummyBackend):
    # The dummy's templates, not those of this module's package (it has none).
    def __init__(self):
        from orchestra_core.dummy.plugin import BACKENDS
        super().__init__(BACKENDS[0]().templates)

class SharedDomain(Shared):
    name = "shared-domain"
    service_type = Domain
    settings_section = "shared"

class SharedMailbox(Shared):
    name = "shared-mailbox"
    service_type = Mailbox
    settings_section = "shared"

class Apart(Shared):
    name = "apart-mailbox"
    service_type = Mailbox
    settings_section = SECTION
    settings_class = OtherSettings

@hookimpl
def orchestra_backends():
    return [SharedDomain, SharedMailbox] + ([Apart] if SECTION else [])
"""


def _section_plugin(site: Path, section: str | None) -> None:
    make_distribution(
        site,
        "orchestra-shared",
        """
        [orchestra.plugins]
        shared = orch_test_shared
        """,
        {"orch_test_shared": f"SECTION = {section!r}\n" + textwrap.dedent(SECTION_PLUGIN)},
    )


def test_backends_sharing_a_settings_section_read_its_block_first(site: Path) -> None:
    """A driver's backends read the server's block of their section, then their own: a
    server's paths are written once, and one backend may still differ."""
    from orchestra_core.catalogue import Domain, Mailbox
    from orchestra_core.engine import Orchestra
    from orchestra_core.model.index import ServiceIndex
    from orchestra_core.model.servers import Route, Server
    from orchestra_core.model.service import Account
    from orchestra_core.planning.changeset import ChangeSet

    _section_plugin(site, None)
    registry = Registry.load()
    server = Server(
        name="s1",
        transport="recording",
        settings={
            "shared": {"directory": "/srv/shared", "file_mode": "0600"},
            "shared-mailbox": {"directory": "/srv/mail"},
        },
    )
    routes = [Route(backend=b, servers=("s1",)) for b in ("shared-domain", "shared-mailbox")]
    engine = Orchestra(servers=[server], routes=routes, registry=registry)
    domain = Domain(account="acme", name="acme.example")
    mailbox = Mailbox(account="acme", address="info@acme.example")
    index = ServiceIndex([Account(name="acme")], [domain, mailbox])
    text = engine.plan(ChangeSet().save(domain).save(mailbox), index=index).render_text()
    assert "write /srv/shared/domain/acme.example.conf (mode 0600)" in text
    assert "write /srv/mail/mailbox/info@acme.example.conf (mode 0600)" in text
    engine.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "shared",
            "'apart-mailbox' shares the settings section 'shared' with 'shared-domain' but "
            "has another settings class (OtherSettings, not DummySettings)",
        ),
        (
            "ssh",
            "'apart-mailbox' has the settings section 'ssh', a key of a server's settings "
            "that the core keeps for itself",
        ),
    ],
)
def test_a_settings_section_is_one_class_and_not_the_cores(
    site: Path, section: str, message: str
) -> None:
    _section_plugin(site, section)
    with pytest.raises(PluginLoadError) as info:
        Registry.load()
    assert message in info.value.reason
