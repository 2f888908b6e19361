"""The apache-fpm backends pass the backend contract, against real Apache and PHP-FPM, locally
and over SSH.

Observing a server means everything the backends may change on it: the two unix users of
each subject system user (home, shell, groups, expiry; not their numeric ids, which a
re-created user may not get back), every folder under the homes (mode, owner, group, ACL),
every file in ``sites_dir``, ``overrides_dir`` and ``pools_dir`` (content and mode), the PHP-FPM
instances running, and what Apache answers for each subject domain over HTTP and HTTPS
(status and body).

Left out, because they change by themselves or are not the backends' to change: the logs,
sockets and pid files, and the trash (a delete moves a home or an app there by design;
``test_apache_fpm_web.py`` checks it).

The web app's and website's contracts need the system user to exist: the fixture makes it
(``web_server.add_user``) as ``apache-systemuser`` would, outside what is observed.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import attrs
import pytest
from orchestra_apache_fpm.testing import WebServer, unique_name
from orchestra_apache_fpm.userdb_lock import user_database_locked

from orchestra_core import Server, Service
from orchestra_core.catalogue import SystemUser, WebApp, Website, WebsiteContent
from orchestra_core.testing.contract import BackendContract, Rejection, Unreachable

pytestmark = pytest.mark.daemon

USER = SystemUser(account="acme", name=unique_name("ct"), groups=())
APP = WebApp(account="acme", name="blog", system_user=USER.name, options={"memory_limit": "128M"})
SITE = Website(
    account="acme",
    name="www",
    domains=("contract.acme.example", "www-contract.acme.example"),
    protocol="http/https",
    contents=(WebsiteContent(path="/", webapp="blog"),),
)


def tree(root: Path) -> list[tuple[str, str, str, str, str]]:
    """Every folder and file under ``root``: path, mode, owner, group and ACL."""
    found = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        acl = subprocess.run(
            ["getfacl", "-cp", "--", str(path)], capture_output=True, text=True, check=False
        ).stdout
        found.append(
            (
                str(path.relative_to(root)),
                oct(info.st_mode),
                _name(info.st_uid),
                _group(info.st_gid),
                acl,
            )
        )
    return found


def _name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def files(folder: Path) -> dict[str, tuple[bytes, str]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), oct(path.stat().st_mode))
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def account(name: str) -> str:
    """What the system has of user ``name``: its passwd entry without the ids, its groups
    and its shadow expiry and password state."""
    passwd = subprocess.run(["getent", "passwd", name], capture_output=True, text=True)
    if passwd.returncode != 0:
        return "absent"
    fields = passwd.stdout.strip().split(":")
    groups = subprocess.run(["id", "-Gn", name], capture_output=True, text=True).stdout.split()
    shadow = subprocess.run(["getent", "shadow", name], capture_output=True, text=True)
    shadow_fields = shadow.stdout.strip().split(":")
    return f"{fields[5]} {fields[6]} groups={sorted(groups)} expires={shadow_fields[7]!r}"


def answers(web: WebServer, domains: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for domain in domains:
        for https in (False, True):
            got = web.fetch(domain, "/", https=https)
            found[f"{'https' if https else 'http'}://{domain}"] = (
                got.status,
                hashlib.sha256(got.body).hexdigest()[:16],
            )
    return found


def state(web: WebServer, users: list[str], domains: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "accounts": {name: account(name) for u in users for name in (u, f"{u}-cgi")},
        "homes": tree(web.home_base),
        "sites": files(web.sites_dir),
        "overrides": tree(web.overrides_dir),
        "pools": files(web.pools_dir),
        "running": sorted(web.pools()),
        "answers": answers(web, domains),
    }


class _Contract(BackendContract):
    transports = ("local", "ssh")

    web: WebServer

    @pytest.fixture(autouse=True)
    def _web(self, web_server: WebServer) -> None:
        self.web = web_server

    def servers(self) -> list[Server]:
        return [Server(name="web1", settings={"apache_fpm": self.web.settings()})]


class TestApacheSystemUserContract(_Contract):
    """``apache-systemuser``: the user, its CGI user and its home."""

    backend = "apache-systemuser"

    def objects(self) -> list[Service]:
        return [USER]

    def observe(self) -> dict[str, Any]:
        return state(self.web, [USER.name])

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, SystemUser)
        return attrs.evolve(obj, shell="/bin/bash" if obj.shell != "/bin/bash" else "/bin/sh")

    def rejection(self, obj: Service) -> Rejection | None:
        """No checker stands between orchestra and useradd: a group that does not exist is
        refused by usermod itself, and nothing changes."""
        assert isinstance(obj, SystemUser)
        return Rejection(obj=attrs.evolve(obj, groups=("nosuchgroupx",)))

    def unreachable(self, obj: Service) -> Unreachable:
        """No daemon holds the users: the user database is the server's own files, and what
        keeps a change out is another program holding their lock (``vipw``, a package adding
        its user): useradd and usermod fail with "cannot lock /etc/passwd"."""
        return Unreachable(during=user_database_locked)

    def check_password(self, obj: Service, secret: str) -> None:
        assert isinstance(obj, SystemUser)
        shadow = subprocess.run(
            ["getent", "shadow", obj.name], capture_output=True, text=True, check=True
        ).stdout.split(":")[1]
        done = subprocess.run(
            ["openssl", "passwd", "-6", "-salt", shadow.split("$")[2], "-stdin"],
            input=secret,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == shadow


class TestApacheWebAppContract(_Contract):
    """``apache-webapp``: folders, ACLs and a PHP-FPM instance; the user made by hand."""

    backend = "apache-webapp"

    @pytest.fixture(autouse=True)
    def _user(self, _web: None) -> None:
        self.web.add_user(USER.name)

    def objects(self) -> list[Service]:
        return [APP, USER]

    def observe(self) -> dict[str, Any]:
        return state(self.web, [])

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, WebApp)
        return attrs.evolve(obj, options={**obj.options, "max_execution_time": "45"})

    def rejection(self, obj: Service) -> Rejection:
        """A pool ``php-fpm -t`` refuses: its socket given to a user that does not exist."""
        return Rejection(obj=self.changed(obj), settings={"apache_user": "nosuchuserx"})

    def unreachable(self, obj: Service) -> Unreachable:
        return Unreachable(out_of_reach=self.web.fpm_out_of_reach())

    def read_back(self, obj: Service, path: str) -> Any:
        raise AssertionError(f"{path} of a web app should never take a hostile value")


class TestApacheWebsiteContract(_Contract):
    """``apache-website``: the site's file and what Apache answers."""

    backend = "apache-website"

    @pytest.fixture(autouse=True)
    def _user(self, _web: None) -> None:
        self.web.add_user(USER.name)

    def objects(self) -> list[Service]:
        return [SITE, APP, USER]

    def observe(self) -> dict[str, Any]:
        return state(self.web, [], SITE.domains)

    def changed(self, obj: Service) -> Service:
        assert isinstance(obj, Website)
        return attrs.evolve(obj, protocol="https-only")

    def rejection(self, obj: Service) -> Rejection:
        """A certificate that is not there: ``apache2 -t`` refuses the site."""
        return Rejection(
            obj=self.changed(obj), settings={"certificate": str(self.web.dir / "no-such.crt")}
        )

    def unreachable(self, obj: Service) -> Unreachable:
        return Unreachable(out_of_reach=self.web.apache_out_of_reach())

    def read_back(self, obj: Service, path: str) -> Any:
        raise AssertionError(f"{path} of a website should never take a hostile value")


def test_the_observation_sees_an_acl_change(web_server: WebServer) -> None:
    """The contract's observe() is not blind: an ACL entry set by hand shows."""
    web_server.add_user(USER.name)
    before = state(web_server, [USER.name])
    home = web_server.home_base / USER.name
    subprocess.run(["setfacl", "-m", "u:nobody:r-x", str(home)], check=True)
    assert state(web_server, [USER.name]) != before
