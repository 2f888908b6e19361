"""The apache-fpm backends against real Apache and PHP-FPM (``web_server``: one Apache per
session, reset before each test), tested as a customer meets them: pages fetched with curl,
PHP that reports who it runs as and what it may touch."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from orchestra_apache_fpm.names import pool_name
from orchestra_apache_fpm.testing import WebServer, unique_name

from orchestra_core import ChangeSet
from orchestra_core.catalogue import SystemUser, WebApp, Website, WebsiteContent
from orchestra_core.model.servers import Server
from orchestra_core.testing.driving import Driver, changed, make_driver, ok, states

pytestmark = pytest.mark.daemon

BACKENDS = ["apache-systemuser", "apache-webapp", "apache-website"]
#: The files an operator installs on a web server by hand (the boot unit and its script).
CONTRIB = Path(__file__).resolve().parents[1] / "contrib"

#: PHP that says who runs it and what it may do, as JSON.
WHOAMI = """<?php
header('Content-Type: application/json');
$r = ['user' => posix_getpwuid(posix_geteuid())['name']];
foreach ($_GET as $k => $path) {
    if (str_starts_with($k, 'read')) { $r[$k] = @file_get_contents($path) !== false; }
    if (str_starts_with($k, 'write')) { $r[$k] = @file_put_contents($path, 'x') !== false; }
}
$r['memory_limit'] = ini_get('memory_limit');
$r['open_basedir'] = ini_get('open_basedir');
echo json_encode($r);
"""


@contextlib.contextmanager
def driving(web: WebServer, **settings: object) -> Iterator[Driver]:
    """The apache-fpm backends routed to ``web``, with ``settings`` over its own."""
    made = make_driver(
        BACKENDS, {}, Server(name="web1", settings={"apache_fpm": web.settings(**settings)})
    )
    try:
        yield made
    finally:
        made.orchestra.close()


@pytest.fixture
def driver(web_server: WebServer) -> Iterator[Driver]:
    with driving(web_server) as made:
        yield made


class Site:
    """One account's system user, PHP app and website, with names unique on the machine."""

    def __init__(self, stem: str, *, domain: str, protocol: str = "http", **options: str):
        self.user = SystemUser(account="acme", name=unique_name(stem))
        self.app = WebApp(
            account="acme", name=f"{stem}app", system_user=self.user.name, options=options
        )
        self.site = Website(
            account="acme",
            name=f"{stem}site",
            domains=(domain, f"www-{domain}"),
            protocol=protocol,
            contents=(WebsiteContent(path="/", webapp=self.app.name),),
        )
        self.domain = domain

    @property
    def objects(self) -> tuple[Any, ...]:
        return (self.user, self.app, self.site)

    def code(self, web: WebServer) -> Path:
        return web.home_base / self.user.name / "webapps" / self.app.name

    def put(self, web: WebServer, relative: str, text: str, *, mode: int = 0o640) -> Path:
        """A file of the customer's code, as the customer would upload it (their own)."""
        path = self.code(web) / relative
        entry = pwd.getpwnam(self.user.name)
        path.write_text(text)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(mode)
        return path


def whoami(web: WebServer, host: str, **query: str) -> dict[str, Any]:
    from urllib.parse import urlencode

    got = web.fetch(host, "/whoami.php" + ("?" + urlencode(query) if query else ""))
    assert got.status == 200, (got.status, got.text[:500])
    result: dict[str, Any] = json.loads(got.body)
    return result


def test_a_php_app_runs_as_its_accounts_cgi_user(driver: Driver, web_server: WebServer) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    assert set(ok(driver.save(*a.objects))) == {"success"}
    a.put(web_server, "whoami.php", WHOAMI)
    a.put(web_server, "hello.txt", "static hello\n")
    got = whoami(web_server, "alpha.acme.example")
    assert got["user"] == f"{a.user.name}-cgi"
    assert got["open_basedir"].startswith(str(a.code(web_server)) + "/")
    # Static files are served by Apache, for every domain of the site.
    assert web_server.fetch("www-alpha.acme.example", "/hello.txt").text == "static hello\n"
    # An unknown host does not reach the site.
    assert "static hello" not in web_server.fetch("nobody.acme.example", "/hello.txt").text
    # A second apply changes nothing.
    result = driver.save(*a.objects)
    assert result.logs and set(states(result)) == {"nothing"}, changed(result)


def test_php_cannot_read_another_account_nor_write_its_own_code(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    b = Site("beta", domain="beta.acme.example")
    assert ok(driver.save(*a.objects, *b.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    secret = b.put(web_server, "config.php", "<?php $password = 'hunter2';")
    code = a.code(web_server)
    uploads = code / "uploads"
    got = whoami(
        web_server,
        "alpha.acme.example",
        read_other=str(secret),
        read_own=str(code / "whoami.php"),
        write_code=str(code / "backdoor.php"),
        write_uploads=str(uploads / "picture.jpg"),
        write_wp=str(code / "wp-content" / "uploads" / "picture.jpg"),
    )
    assert got["read_other"] is False
    assert got["read_own"] is True
    assert got["write_code"] is False and not (code / "backdoor.php").exists()
    assert got["write_uploads"] is True and got["write_wp"] is True
    # Without open_basedir, unix permissions alone keep the other account out too.
    other = subprocess.run(
        ["runuser", "-u", f"{a.user.name}-cgi", "--", "cat", str(secret)],
        capture_output=True,
        check=False,
    )
    assert other.returncode != 0
    # The owner can change what the CGI user made (the default ACL).
    made = uploads / "picture.jpg"
    assert made.stat().st_uid == pwd.getpwnam(f"{a.user.name}-cgi").pw_uid
    as_owner = subprocess.run(
        ["runuser", "-u", a.user.name, "--", "sh", "-c", f"echo y >> {made} && rm {made}"],
        capture_output=True,
        check=False,
    )
    assert as_owner.returncode == 0, as_owner.stderr


def test_php_in_an_upload_folder_never_runs(driver: Driver, web_server: WebServer) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects))
    for folder in ("uploads", "wp-content/uploads"):
        a.put(web_server, f"{folder}/evil.php", "<?php echo 'RAN' . (6 * 7);")
        a.put(web_server, f"{folder}/.htaccess", "SetHandler proxy:fcgi://localhost\n")
        got = web_server.fetch("alpha.acme.example", f"/{folder}/evil.php")
        assert "42" not in got.text and got.status == 403, (folder, got.status, got.text[:200])
    a.put(web_server, "uploads/photo.jpg", "not really a jpeg")
    assert web_server.fetch("alpha.acme.example", "/uploads/photo.jpg").status == 200


def test_https_answers_with_the_certificate_and_https_only_redirects(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example", protocol="https-only")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "index.html", "secure\n")
    got = web_server.fetch("alpha.acme.example", "/index.html", https=True)
    assert (got.status, got.text) == (200, "secure\n")
    assert "orchestra test web server" in web_server.certificate_of("alpha.acme.example")
    plain = web_server.fetch("alpha.acme.example", "/index.html?x=1")
    assert plain.status == 301
    assert plain.headers["location"] == (
        f"https://alpha.acme.example:{web_server.https_port}/index.html?x=1"
    )
    both = Site("beta", domain="beta.acme.example", protocol="http/https")
    assert ok(driver.save(*both.objects))
    both.put(web_server, "index.html", "both\n")
    assert web_server.fetch("beta.acme.example", "/").text == "both\n"
    assert web_server.fetch("beta.acme.example", "/", https=True).text == "both\n"


def test_suspended_sites_answer_503_and_their_pools_stop(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    assert whoami(web_server, "alpha.acme.example")["user"].endswith("-cgi")
    assert list(web_server.pools()) == [f"acme-{a.app.name}"]
    driver.suspend(True)
    assert ok(driver.save(*a.objects))
    got = web_server.fetch("alpha.acme.example", "/whoami.php")
    assert got.status == 503 and "suspended" in got.text
    assert web_server.pools() == {}
    driver.suspend(False)
    assert ok(driver.save(*a.objects))
    assert whoami(web_server, "alpha.acme.example")["user"].endswith("-cgi")


def test_changing_a_php_option_restarts_only_that_pool(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example", memory_limit="64M")
    b = Site("beta", domain="beta.acme.example")
    assert ok(driver.save(*a.objects, *b.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    b.put(web_server, "whoami.php", WHOAMI)
    assert whoami(web_server, "alpha.acme.example")["memory_limit"] == "64M"
    whoami(web_server, "beta.acme.example")
    logs = {s.app.name: web_server.log_dir / f"acme-{s.app.name}.log" for s in (a, b)}
    before = {name: log.read_text() for name, log in logs.items()}
    pids = web_server.pools()
    changed = WebApp(
        account="acme", name=a.app.name, system_user=a.user.name, options={"memory_limit": "96M"}
    )
    assert ok(driver.save(changed))
    assert whoami(web_server, "alpha.acme.example")["memory_limit"] == "96M"
    after = {name: log.read_text() for name, log in logs.items()}
    assert "Reloading in progress" in after[a.app.name].removeprefix(before[a.app.name])
    assert after[b.app.name] == before[b.app.name]
    now = web_server.pools()
    assert now[f"acme-{b.app.name}"] == pids[f"acme-{b.app.name}"]
    assert set(now) == set(pids)


def test_a_stale_pid_file_is_never_signalled(driver: Driver, web_server: WebServer) -> None:
    """The reload finds an instance's master by its pid file only when /proc says that
    process runs the instance's file: a pid file naming another program (stale, or planted)
    is not sent USR2 (which would end it); the real master is found and reloaded."""
    a = Site("alpha", domain="alpha.acme.example", memory_limit="64M")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    pool = pool_name("acme", a.app.name)
    assert pool in web_server.pools()
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (web_server.run_dir / f"{pool}.pid").write_text(f"{bystander.pid}\n")
        changed = attrs.evolve(a.app, options={"memory_limit": "80M"})
        result = driver.save(changed)
        assert ok(result)
        assert f"reloaded {pool}" in "".join(log.stdout for log in result.logs)
        assert bystander.poll() is None, "the reload signalled the process a stale pid file named"
        assert whoami(web_server, "alpha.acme.example")["memory_limit"] == "80M"
        # One master still (a USR2 reload re-executes it: its pid may change).
        masters = subprocess.run(
            ["pgrep", "-c", "-f", f"^php-fpm: master process \\({web_server.pools_dir}/"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert masters.stdout.strip() == "1", masters
    finally:
        bystander.kill()
        bystander.wait()


def test_a_site_apache_refuses_leaves_the_live_one_serving(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example", protocol="http/https")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "index.html", "live\n")
    live = (web_server.sites_dir / f"acme~{a.site.name}.conf").read_text()
    missing = str(web_server.dir / "no-such.crt")
    reloads = web_server.apache_reloads()
    with driving(web_server, certificate=missing) as broken:
        broken.objects = list(a.objects)
        result = broken.apply(ChangeSet().save(a.site))
    assert not result.ok
    words = "".join(log.stderr for log in result.logs)
    assert "SSLCertificateFile" in words, words[-2000:]
    # Refused by apache2 -t before it went live: Apache never restarted with it.
    assert web_server.apache_reloads() == reloads
    assert [s.state.value for log in result.logs for s in log.steps if s.state.value == "failure"]
    assert (web_server.sites_dir / f"acme~{a.site.name}.conf").read_text() == live
    assert web_server.fetch("alpha.acme.example", "/index.html", https=True).text == "live\n"


def test_delete_leaves_nothing_but_the_trashed_home(driver: Driver, web_server: WebServer) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects, password=(a.user, "s3cret pass")))
    shadow = subprocess.run(
        ["getent", "shadow", a.user.name], capture_output=True, text=True, check=True
    ).stdout
    assert shadow.split(":")[1].startswith("$6$") and "s3cret" not in shadow
    a.put(web_server, "index.html", "bye\n")
    assert web_server.pools()
    assert ok(driver.delete(*a.objects))
    assert list(web_server.sites_dir.glob("*.conf")) == []
    assert list(web_server.pools_dir.rglob("*.conf")) == []
    assert web_server.pools() == {}
    assert web_server.users() == []
    assert a.user.name not in {g.gr_name for g in grp.getgrall()}
    assert not (web_server.home_base / a.user.name).exists()
    [day] = web_server.trash_dir.iterdir()
    names = sorted(p.name for p in day.iterdir())
    # The app went first (its code and tmp folders), then the home it leaves.
    assert names == sorted([a.user.name, f"acme~{a.app.name}", f"acme~{a.app.name}.tmp"]), names
    assert (day / f"acme~{a.app.name}" / "index.html").read_text() == "bye\n"
    assert web_server.fetch("alpha.acme.example", "/index.html").status != 200


def test_a_new_home_takes_the_old_ones_files_and_the_site_follows(
    driver: Driver, web_server: WebServer
) -> None:
    """A system user given another home: the home is moved there with the customer's
    files, the pool and the site serve from it, and nothing is left at the old place."""
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    a.put(web_server, "mine.txt", "kept\n")
    old = web_server.home_base / a.user.name
    new = web_server.home_base / "moved" / a.user.name
    (web_server.home_base / "moved").mkdir(mode=0o755)
    moved = attrs.evolve(a.user, home=str(new))
    # Only the user is in the change set: its web app and site follow (related_keys).
    result = driver.save(moved)
    assert ok(result)
    assert {key for log in result.logs for key in log.object_keys} >= {a.app.key, a.site.key}
    assert not old.exists()
    assert pwd.getpwnam(a.user.name).pw_dir == str(new)
    assert pwd.getpwnam(f"{a.user.name}-cgi").pw_dir == str(new)
    assert (new / "webapps" / a.app.name / "mine.txt").read_text() == "kept\n"
    got = whoami(web_server, "alpha.acme.example")
    assert got["user"] == f"{a.user.name}-cgi"
    assert got["open_basedir"].startswith(str(new / "webapps" / a.app.name) + "/")
    assert web_server.fetch("alpha.acme.example", "/mine.txt").text == "kept\n"
    again = driver.save(moved)
    assert again.logs and set(states(again)) == {"nothing"}, changed(again)


def test_a_home_is_never_moved_onto_something_already_there(
    driver: Driver, web_server: WebServer
) -> None:
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "mine.txt", "kept\n")
    taken = web_server.home_base / "taken"
    taken.mkdir()
    (taken / "other.txt").write_text("not the customer's\n")
    moved = attrs.evolve(a.user, home=str(taken))
    result = driver.save(moved)
    assert not result.ok
    assert any("is already there" in log.stderr for log in result.logs), changed(result)
    assert pwd.getpwnam(a.user.name).pw_dir == str(web_server.home_base / a.user.name)
    assert (a.code(web_server) / "mine.txt").read_text() == "kept\n"
    assert sorted(p.name for p in taken.iterdir()) == ["other.txt"]


def test_after_a_reboot_the_boot_script_starts_every_instance_again(
    driver: Driver, web_server: WebServer
) -> None:
    """``contrib/start-php-fpm-instances`` (what ``orchestra-php-fpm.service`` runs at boot)
    with the driver's settings: every app's instance runs again, its page answers, and a
    second run starts nothing. ``run_dir`` is gone, as /run is after a boot."""
    a = Site("alpha", domain="alpha.acme.example")
    b = Site("beta", domain="beta.acme.example")
    assert ok(driver.save(*a.objects, *b.objects))
    a.put(web_server, "whoami.php", WHOAMI)
    assert sorted(web_server.pools()) == sorted(
        [pool_name("acme", a.app.name), pool_name("acme", b.app.name)]
    )
    web_server.stop_pools()
    web_server.run_dir.rmdir()
    assert web_server.pools() == {}
    settings = web_server.settings()
    argv = [
        str(CONTRIB / "start-php-fpm-instances"),
        str(settings["run_dir"]),
        str(settings["pools_dir"]),
        "php-fpm{version}",
        str(settings["log_dir"]),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\n")[:-1]) == sorted(
        f"started {pool_name('acme', x.app.name)} (PHP {web_server.php_version})" for x in (a, b)
    ), done.stdout
    running = web_server.pools()
    assert sorted(running) == sorted([pool_name("acme", a.app.name), pool_name("acme", b.app.name)])
    assert whoami(web_server, "alpha.acme.example")["user"] == f"{a.user.name}-cgi"
    again = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert web_server.pools() == running
    # orchestra finds them as its own: nothing to do.
    result = driver.save(*a.objects, *b.objects)
    assert set(states(result)) == {"nothing"}, changed(result)


def test_traffic_requests_and_disk_are_measured(driver: Driver, web_server: WebServer) -> None:
    """The monitors, as an operator's cron runs them, after real requests: bytes and
    requests per site and UTC hour (counted once when measured twice), the app's disk."""
    a = Site("alpha", domain="alpha.acme.example")
    assert ok(driver.save(*a.objects))
    a.put(web_server, "page.html", "x" * 5000)
    for _ in range(3):
        assert web_server.fetch("alpha.acme.example", "/page.html").status == 200
    assert web_server.fetch("www-alpha.acme.example", "/page.html").status == 200
    index = driver.index()
    names = ["apache-web-traffic", "apache-web-requests", "apache-webapp-disk"]
    first = driver.orchestra.measure(index, monitors=names)
    assert first.ok, first.failures
    by = {(s.monitor.rpartition("/")[2], s.object_key): s for s in first.samples}
    requests = by[("apache-web-requests", a.site.key)]
    traffic = by[("apache-web-traffic", a.site.key)]
    assert requests.value == 4  # both domains: %v is the site's ServerName
    assert traffic.value > 4 * 5000
    assert requests.measured_at.minute == 0 and requests.measured_at.utcoffset() is not None
    disk = by[("apache-webapp-disk", a.app.key)]
    assert disk.value >= 5000
    again = driver.orchestra.measure(index, monitors=names)
    assert {s.idempotency_key for s in again.samples if "web-re" in s.monitor} == {
        requests.idempotency_key
    }
