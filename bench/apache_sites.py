"""Benchmark: N websites with one PHP app each on a real Apache and PHP-FPM, through the
embedding API.

Run by hand, never by the test suite::

    .venv/bin/python bench/apache_sites.py                      # 500 sites, against 10
    .venv/bin/python bench/apache_sites.py --count 100 --repeat 9 --floor-repeat 1
    .venv/bin/python bench/apache_sites.py --json               # the figures as JSON

It starts Apache in a temp dir (``orchestra_apache_fpm.testing.start_web_server``), routes
``apache-systemuser``, ``apache-webapp`` and ``apache-website`` to it through one
local-transport server, and builds N sites. Site ``i`` is one account ``a0001``, its system user
``b0001XXXX`` (``unique_name``: unique on the machine, and short enough for its CGI user
``b0001XXXX-cgi``), its PHP web app ``app`` (``memory_limit`` 128M: one PHP-FPM instance of
its own) and its website ``site0001`` answering plain HTTP for ``s0001.acme.example`` with the
app at ``/``. It starts two servers, one with ``--small`` sites (default 10) and one with
``--count`` (default 500), builds each (a to d), then takes the samples of e, f and x-f on
both in turn (small then large, then large then small...), so that a slow minute of this
machine falls on both sizes rather than on one. It times with ``time.perf_counter``:

a. planning (validating, routing, rendering) all of them;
b. applying that plan: 2N unix users, the homes and web app folders with their ACLs, N pool
   files checked with ``php-fpm -t`` and N instances started, N site files each checked with
   ``apache2 -t``, one graceful restart of Apache. Checked: every operation "success", Apache
   restarted exactly once, exactly N PHP-FPM instances running;
c. (not timed) a sample of 10 sites gets an ``index.php`` (the customer's, as uploaded:
   owned by the system user) that prints the user PHP runs as and its ``memory_limit``; each
   page must answer the site's CGI user and 128M, and an unknown host must not reach a site;
d. planning and applying all of them again, unchanged: every operation "nothing", Apache not
   restarted, every instance's master pid unchanged;
e. one app's ``memory_limit`` changed (129M, 130M... one per run), a change set holding just
   that web app (the index holding everything): plan and apply. Checked: the pool file has the
   new value, the page reports it, that instance was reloaded (its log says "Reloading in
   progress" once, or its master pid changed) and no other (their pids unchanged), Apache not
   restarted;
f. one website's domains changed (an alias added, another each run), a change set holding just
   that website: plan and apply (its file checked by ``apache2 -t`` over the whole
   configuration, one graceful restart). Checked: the alias answers with the site's page,
   Apache restarted once, no PHP-FPM instance restarted;
x-f. (on both servers) the floor of f, by hand: the site's file rewritten in place with the
   bytes it has (the old one kept aside), ``apache2 -t`` (the old file back if it fails),
   ``kill -USR1`` and waiting until the error log says Apache serves again. What Apache's
   own parse of every site (twice) costs a site change, without orchestra.

Then, on the large server, the hand-written floor, bash scripts read on stdin (with 500 users,
``bash -c`` would exceed the argument list). x-b makes N more sites (other names, ids just
above the fixture's range): the work of b without its probes and checks (no ``getent``, no
``php-fpm -t``, no ``apache2 -t``). Both ``useradd`` of each site, the folders with the same
owners, modes and ``setfacl`` entries in the driver's order, each pool file and site file
written (their bytes taken from one orchestra wrote, the names substituted), each instance
started (``php-fpm --fpm-config``), one graceful restart (``kill -USR1``) and waiting until
the error log says Apache serves again. Checked: its N instances run beside orchestra's, Apache
restarted once, one floor site's page answers its CGI user, and its folders' modes, owners
and ACLs are those of an orchestra site's. Then (not timed) its instances, files and users are
removed and Apache restarted, so the server is as orchestra left it. x-e is the one-change
floor: the changed app's pool file rewritten (with the bytes it has), ``kill -USR2`` its
master, waiting until its log says it is ready again. The floors poll every 0.01 s.

The fixture's id range (``ID_RANGE``, 63000-63999) holds 1000 ids: the large server's 500
sites fill it, the small one takes ``SMALL_IDS`` (62000-62999), and the run refuses to start
when fewer ids than it needs are free (a test run using them too).

e, f, x-e and x-f take ``--repeat`` samples (7) and report the median, x-b runs
``--floor-repeat`` times (3); the rest run once. Peak RSS is
``ru_maxrss`` of this Python process (the daemons and the batch's shells are not counted). A
phase that did not do its work raises, so the figures never lie.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import grp
import json
import os
import pwd
import random
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
from machine import machine
from orchestra_apache_fpm.names import define_name, pool_name, site_name
from orchestra_apache_fpm.settings import DEFAULT_UPLOAD_DIRS
from orchestra_apache_fpm.testing import (
    ID_RANGE,
    Response,
    WebServer,
    start_web_server,
    unique_name,
)

from orchestra_core import Account, ChangeSet, Orchestra, Route, Server, ServiceIndex
from orchestra_core.catalogue import SystemUser, WebApp, Website, WebsiteContent
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.planning.plan import Plan

SERVER = "web1"
BACKENDS = ("apache-systemuser", "apache-webapp", "apache-website")
#: Every site's one web app.
APP = "app"
#: Every app's ``memory_limit`` in MiB; phase e's run r sets MEMORY + r.
MEMORY = 128
#: How many sites phase c fetches a page of.
SAMPLE = 10
#: The customer's page: who PHP runs as, and its memory_limit.
PAGE = (
    "<?php echo posix_getpwuid(posix_geteuid())['name'], \"\\n\", "
    "ini_get('memory_limit'), \"\\n\";\n"
)
#: What the driver's users get (``apache-systemuser``: ``SystemUser.shell`` and ``cgi_shell``).
USER_SHELL = "/bin/false"
CGI_SHELL = "/usr/sbin/nologin"
APACHE_USER = "www-data"
#: Seconds the floor waits for Apache or PHP-FPM to say it is ready.
FLOOR_WAIT = 15

T = TypeVar("T")


class BenchError(Exception):
    """A phase did not do what it should have: the figures would mean nothing."""


# -- data ------------------------------------------------------------------------------------------


@attrs.define
class Site:
    """One account's system user, PHP web app and website."""

    account: Account
    user: SystemUser
    app: WebApp
    website: Website

    @property
    def domain(self) -> str:
        return self.website.domains[0]

    @property
    def pool(self) -> str:
        return pool_name(self.account.name, self.app.name)

    @property
    def cgi(self) -> str:
        return f"{self.user.name}-cgi"


@attrs.define
class Work:
    """The sites of one run."""

    sites: list[Site]

    @property
    def services(self) -> list[SystemUser | WebApp | Website]:
        return [obj for s in self.sites for obj in (s.user, s.app, s.website)]

    def index(self) -> ServiceIndex:
        return ServiceIndex([s.account for s in self.sites], self.services)


def make_work(n: int) -> Work:
    width = max(4, len(str(n)))
    sites = []
    for i in range(1, n + 1):
        number = f"{i:0{width}d}"
        account = Account(name=f"a{number}")
        user = SystemUser(account=account.name, name=unique_name(f"b{number}"))
        app = WebApp(
            account=account.name,
            name=APP,
            type="php",
            system_user=user.name,
            options={"memory_limit": f"{MEMORY}M"},
        )
        website = Website(
            account=account.name,
            name=f"site{number}",
            domains=(f"s{number}.acme.example",),
            protocol="http",
            contents=(WebsiteContent(path="/", webapp=APP),),
        )
        sites.append(Site(account=account, user=user, app=app, website=website))
    return Work(sites=sites)


# -- the server's files ----------------------------------------------------------------------------


def code_dir(web: WebServer, user: str) -> Path:
    return web.home_base / user / "webapps" / APP


def pool_conf(web: WebServer, pool: str) -> Path:
    return web.pools_dir / web.php_version / f"{pool}.conf"


def pool_log(web: WebServer, pool: str) -> Path:
    return web.log_dir / f"{pool}.log"


def site_conf(web: WebServer, account: str, website: str) -> Path:
    return web.sites_dir / f"{site_name(account, website)}.conf"


def put_page(web: WebServer, user: str) -> None:
    """The customer's ``index.php``, as they would upload it (their own, 0640)."""
    path = code_dir(web, user) / "index.php"
    entry = pwd.getpwnam(user)
    path.write_text(PAGE)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o640)


def fetch(web: WebServer, host: str, path: str, phase: str) -> Response:
    try:
        return web.fetch(host, path)
    except AssertionError as exc:
        raise BenchError(f"phase {phase}: {exc}") from None


def page(web: WebServer, host: str, phase: str) -> tuple[str, str]:
    """What ``index.php`` of ``host`` says: the user PHP runs as and its memory_limit."""
    got = fetch(web, host, "/index.php", phase)
    lines = got.text.splitlines()
    if got.status != 200 or len(lines) != 2:
        raise BenchError(f"phase {phase}: {host} answered {got.status} {got.text[:300]!r}")
    return lines[0], lines[1]


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(path: Path, mark: int) -> str:
    with path.open("rb") as f:
        f.seek(mark)
        return f.read().decode(errors="replace")


def free_ids(first: int, last: int) -> int:
    """How many ids from ``first`` to ``last`` no user and no group has."""
    uids = {e.pw_uid for e in pwd.getpwall()}
    gids = {g.gr_gid for g in grp.getgrall()}
    ids = range(first, last + 1)
    return min(sum(i not in uids for i in ids), sum(i not in gids for i in ids))


# -- measuring -------------------------------------------------------------------------------------


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident set of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plan_counts(plan: Plan) -> dict[str, int]:
    operations = sum(len(sp.operations) for sp in plan.servers)
    steps = sum(len(sp.steps) for sp in plan.servers)
    return {"operations": operations, "steps": steps}


def result_counts(result: ApplyResult) -> dict[str, dict[str, Any]]:
    """Operations and steps by final state, and the seconds the steps took by kind."""
    ops = Counter(log.state.value for log in result.logs)
    steps = Counter(step.state.value for log in result.logs for step in log.steps)
    seconds: dict[str, float] = {}
    for log in result.logs:
        for step in log.steps:
            seconds[step.kind] = seconds.get(step.kind, 0.0) + (step.duration or 0.0)
    return {
        "operation_states": dict(sorted(ops.items())),
        "step_states": dict(sorted(steps.items())),
        "step_seconds": {k: round(v, 3) for k, v in sorted(seconds.items())},
    }


def require_ok(result: ApplyResult, phase: str) -> None:
    if result.ok:
        return
    bad = [log for log in result.logs if not log.state.is_ok][:3]
    details = "\n".join(
        f"  {log.operation_id}: {log.state.value}\n{(log.stdout + log.stderr)[-2000:]}"
        for log in bad
    )
    raise BenchError(f"phase {phase}: {len(bad)}+ operations failed\n{details}")


def median_of(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of each timing over the samples; the other figures of the median run."""
    keys = [k for k in ("seconds", "plan_seconds", "apply_seconds") if k in samples[0]]
    out: dict[str, Any] = {key: statistics.median(s[key] for s in samples) for key in keys}
    middle = sorted(samples, key=lambda s: s["seconds"])[len(samples) // 2]
    out.update({k: v for k, v in middle.items() if k not in out})
    return out


# -- the phases ------------------------------------------------------------------------------------


@attrs.define
class Figures:
    count: int
    small: int
    repeat: int
    floor_repeat: int = 3
    phases: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)

    def add(self, size: str, phase: str, **figures: Any) -> None:
        self.phases.setdefault(size, {})[phase] = {
            **figures,
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }


#: The small server's user ids: the fixture's range (``ID_RANGE``) is the large one's, whole.
SMALL_IDS = (62000, 62999)


@attrs.define
class Bench:
    """One server of the run: its Apache, its orchestra and its sites."""

    size: str
    web: WebServer
    orchestra: Orchestra
    work: Work


def run(figures: Figures, batch_timeout: float) -> Figures:
    """Both servers built (a to d, small then large), then e, f and x-f sampled on each in
    turn, small and large alternating which goes first: a slow minute of the machine falls
    on both sizes, not on one."""
    with contextlib.ExitStack() as stack:
        benches: list[Bench] = []
        for size, n, ids in (
            ("small", figures.small, SMALL_IDS),
            ("large", figures.count, ID_RANGE),
        ):
            free = free_ids(*ids)
            if free < 2 * n:
                raise BenchError(
                    f"{n} sites need {2 * n} user ids in {ids[0]}-{ids[1]}, and {free} are free"
                    + (
                        " (the test fixture's range: is a test run using it?)"
                        if ids == ID_RANGE
                        else ""
                    )
                )
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-apache-{size}-"))
            web = start_web_server(Path(tmp), name=f"bench-{size}", timeout=60)
            stack.callback(web.stop)
            orchestra = Orchestra(
                servers=[
                    Server(
                        name=SERVER,
                        transport="local",
                        settings={"apache_fpm": web.settings(id_range=list(ids))},
                    )
                ],
                routes=[Route(backend=backend, servers=(SERVER,)) for backend in BACKENDS],
                batch_timeout=batch_timeout,
            )
            stack.callback(orchestra.close)
            bench = Bench(size=size, web=web, orchestra=orchestra, work=make_work(n))
            build(bench, figures)
            benches.append(bench)
        for phase, sample in (
            ("e_one_change", app_change),
            ("f_one_site_change", site_change),
            ("x_f_one_site", site_floor),
        ):
            samples: dict[str, list[dict[str, Any]]] = {b.size: [] for b in benches}
            for r in range(1, figures.repeat + 1):
                for bench in benches if r % 2 else benches[::-1]:
                    samples[bench.size].append(sample(bench, r))
            for size, taken in samples.items():
                figures.add(size, phase, **median_of(taken), samples=taken)
        large = benches[-1]
        floors(large.web, large.work, figures)
    return figures


def build(bench: Bench, figures: Figures) -> None:
    """Phases a to d on one server."""
    orchestra, web, work, size = bench.orchestra, bench.web, bench.work, bench.size
    n = len(work.sites)

    def plan_all() -> Plan:
        changes = ChangeSet()
        for service in work.services:
            changes.save(service)
        return orchestra.plan(changes, index=work.index())

    # a, b: plan and apply every save
    plan, seconds = timed(plan_all)
    figures.add(size, "a_plan_all", seconds=seconds, **plan_counts(plan))
    before = web.apache_reloads()
    result, seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "b")
    counts = result_counts(result)
    if set(counts["operation_states"]) != {"success"}:
        raise BenchError(f"phase b: not every operation succeeded: {counts['operation_states']}")
    if web.apache_reloads() - before != 1:
        raise BenchError(f"phase b: Apache restarted {web.apache_reloads() - before} times")
    pools = web.pools()
    if sorted(pools) != sorted(s.pool for s in work.sites):
        raise BenchError(f"phase b: {len(pools)} PHP-FPM instances run, not the {n} of the apps")
    figures.add(size, "b_apply_all_first", seconds=seconds, **plan_counts(plan), **counts)
    del plan, result

    # c: the customer's page of a sample answers as the site's CGI user
    rng = random.Random(n)
    sample = sorted(rng.sample(range(n), min(SAMPLE, n)))
    for k in sample:
        site = work.sites[k]
        put_page(web, site.user.name)
        got = page(web, site.domain, "c")
        if got != (site.cgi, f"{MEMORY}M"):
            raise BenchError(f"phase c: {site.domain} runs as {got}, not ({site.cgi}, {MEMORY}M)")
    stray = fetch(web, "nobody.acme.example", "/index.php", "c")
    if stray.status == 200:
        raise BenchError(f"phase c: an unknown host reached a site: {stray.text[:200]!r}")

    # d: unchanged re-apply
    before = web.apache_reloads()
    plan, plan_seconds = timed(plan_all)
    result, apply_seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "d")
    counts = result_counts(result)
    if set(counts["operation_states"]) != {"nothing"}:
        raise BenchError(f"phase d: an unchanged re-apply changed something: {counts}")
    if web.apache_reloads() != before:
        raise BenchError("phase d: an unchanged re-apply restarted Apache")
    now = web.pools()
    if now != pools:
        moved = {
            k: (pools.get(k), now.get(k)) for k in {*pools, *now} if pools.get(k) != now.get(k)
        }
        raise BenchError(f"phase d: an unchanged re-apply restarted PHP-FPM instances {moved}")
    figures.add(
        size,
        "d_reapply_unchanged",
        seconds=plan_seconds + apply_seconds,
        plan_seconds=plan_seconds,
        apply_seconds=apply_seconds,
        **plan_counts(plan),
        **counts,
    )
    del plan, result


def sample_of(
    plan: Plan, plan_seconds: float, result: ApplyResult, apply_seconds: float
) -> dict[str, Any]:
    """One sample of a one-change phase: its times and what it planned and ran."""
    return {
        "plan_seconds": plan_seconds,
        "apply_seconds": apply_seconds,
        "seconds": plan_seconds + apply_seconds,
        **plan_counts(plan),
        **result_counts(result),
    }


def app_change(bench: Bench, r: int) -> dict[str, Any]:
    """One sample of e: one app's ``memory_limit`` changed, a change set of that app, the
    index of all."""
    orchestra, web, work = bench.orchestra, bench.web, bench.work
    target = work.sites[len(work.sites) // 2]
    if r == 1:
        put_page(web, target.user.name)
    value = f"{MEMORY + r}M"
    changed = attrs.evolve(target.app, options={"memory_limit": value})
    target.app = changed
    before = web.apache_reloads()
    pools = web.pools()
    log = pool_log(web, target.pool)
    mark = log_size(log)

    def plan_one() -> Plan:
        return orchestra.plan(ChangeSet().save(changed), index=work.index())

    plan, plan_seconds = timed(plan_one)
    result, apply_seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "e")
    check_one_change(web, target, value, pools, log, mark)
    if web.apache_reloads() != before:
        raise BenchError("phase e: changing a PHP option restarted Apache")
    return sample_of(plan, plan_seconds, result, apply_seconds)


def site_change(bench: Bench, r: int) -> dict[str, Any]:
    """One sample of f: one website gets another domain, a change set of that site, the
    index of all."""
    orchestra, web, work = bench.orchestra, bench.web, bench.work
    other = work.sites[len(work.sites) // 3]
    if r == 1:
        put_page(web, other.user.name)
    alias = f"alias{r}-{other.domain}"
    grown = attrs.evolve(other.website, domains=(*other.website.domains, alias))
    other.website = grown
    before = web.apache_reloads()
    pools = web.pools()

    def plan_site() -> Plan:
        return orchestra.plan(ChangeSet().save(grown), index=work.index())

    plan, plan_seconds = timed(plan_site)
    result, apply_seconds = timed(partial(orchestra.apply, plan))
    require_ok(result, "f")
    if web.apache_reloads() - before != 1:
        raise BenchError(f"phase f: Apache restarted {web.apache_reloads() - before} times")
    got = page(web, alias, "f")
    if got[0] != other.cgi:
        raise BenchError(f"phase f: {alias} answers as {got}, not as {other.cgi}")
    if web.pools() != pools:
        raise BenchError("phase f: a website change restarted PHP-FPM instances")
    return sample_of(plan, plan_seconds, result, apply_seconds)


def check_one_change(
    web: WebServer, site: Site, value: str, pools: Mapping[str, int], log: Path, mark: int
) -> None:
    """The pool file and the page say ``value``; that instance reloaded, no other."""
    line = f"php_admin_value[memory_limit] = {value}"
    if line not in pool_conf(web, site.pool).read_text().splitlines():
        raise BenchError(f"phase e: {pool_conf(web, site.pool)} lacks {line!r}")
    got = page(web, site.domain, "e")
    if got != (site.cgi, value):
        raise BenchError(f"phase e: {site.domain} runs as {got}, not ({site.cgi}, {value})")
    now = web.pools()
    if set(now) != set(pools):
        raise BenchError(f"phase e: instances {sorted(set(now) ^ set(pools))} came or went")
    others = [name for name, pid in now.items() if name != site.pool and pid != pools[name]]
    if others:
        raise BenchError(f"phase e: {len(others)} other instances restarted: {others[:5]}")
    said = log_since(log, mark)
    if now[site.pool] == pools[site.pool] and said.count("Reloading in progress") != 1:
        raise BenchError(f"phase e: {site.pool} was not reloaded once; its log says {said!r}")


# -- the hand-written floor ------------------------------------------------------------------------


@attrs.frozen
class FloorSite:
    """One site the floor makes: no account, only the names of its files."""

    number: str
    user: str

    @property
    def account(self) -> str:
        return f"x{self.number}"

    @property
    def website(self) -> str:
        return f"w{self.number}"

    @property
    def domain(self) -> str:
        return f"f{self.number}.acme.example"

    @property
    def pool(self) -> str:
        return pool_name(self.account, APP)

    @property
    def cgi(self) -> str:
        return f"{self.user}-cgi"


@attrs.frozen
class Templates:
    """One orchestra site's pool file and site file, with the names that make them its own."""

    pool: str
    site: str
    tokens: Mapping[str, str]
    places: Mapping[str, str]

    def render(self, text: str, floor: FloorSite) -> str:
        names = {
            self.tokens["account"]: floor.account,
            self.tokens["user"]: floor.user,
            self.tokens["website"]: floor.website,
            self.tokens["domain"]: floor.domain,
            self.tokens["define"]: define_name(site_name(floor.account, floor.website)),
        }
        for place, marker in self.places.items():
            text = text.replace(place, marker)
        alternatives = "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
        pattern = re.compile(rf"(?<![A-Za-z0-9_])({alternatives})(?![A-Za-z0-9_])")
        text = pattern.sub(lambda m: names[m[1]], text)
        left = pattern.search(text)
        if left:
            raise BenchError(f"floor: {left[1]!r} still in a file after the names were substituted")
        for place, marker in self.places.items():
            text = text.replace(marker, place)
        return text


def templates_of(web: WebServer, site: Site) -> Templates:
    places = {
        str(place): f"\0{i}\0"
        for i, place in enumerate(sorted({str(web.dir), str(web.run_dir)}, key=len, reverse=True))
    }
    pool = pool_conf(web, site.pool).read_text()
    text = site_conf(web, site.account.name, site.website.name).read_text()
    for name, content in (("pool", pool), ("site", text)):
        if not content.endswith("\n"):
            raise BenchError(f"floor: orchestra's {name} file does not end with a line break")
    return Templates(
        pool=pool,
        site=text,
        tokens={
            "account": site.account.name,
            "user": site.user.name,
            "website": site.website.name,
            "domain": site.domain,
            "define": define_name(site_name(site.account.name, site.website.name)),
        },
        places=places,
    )


def heredoc(path: Path, content: str) -> str:
    if "\nEOF\n" in f"\n{content}":
        raise BenchError(f"{path} holds a line EOF")
    return f"cat > {shlex.quote(str(path))} <<'EOF'\n{content}EOF\n"


def q(*words: object) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def acl(*entries: tuple[str, str, bool]) -> str:
    """``setfacl -m``'s spec of (user, mode, default) entries."""
    return ",".join(f"{'d:' if default else ''}u:{user}:{mode}" for user, mode, default in entries)


def wait_for(log: str, words: str, what: str) -> str:
    """Bash that waits (polling every 0.01 s) until ``log`` after ``$mark`` holds ``words``."""
    tries = FLOOR_WAIT * 100
    return (
        "n=0\n"
        f'until [[ $(tail -c +"$((mark + 1))" -- {q(log)}) == *{q(words)}* ]]; do\n'
        f"  n=$((n + 1)); [ $n -lt {tries} ] || {{ echo {q(what)} >&2; exit 1; }}\n"
        "  sleep 0.01\n"
        "done\n"
    )


def graceful(web: WebServer) -> str:
    log = str(web.error_log)
    return (
        f"mark=$(stat -c %s -- {q(log)})\n"
        f'kill -USR1 "$(cat -- {q(str(web.pid_file))})"\n'
        + wait_for(log, "resuming normal operations", "apache2 did not come back")
    )


def floor_site_script(web: WebServer, templates: Templates, site: FloorSite, ids: str) -> str:
    """What the driver does for one new site, by hand: users, folders, ACLs, files."""
    user, cgi = site.user, site.cgi
    home = web.home_base / user
    code = home / "webapps" / APP
    tmp = home / "tmp" / APP
    readers = [(u, "r-x", d) for d in (False, True) for u in (cgi, APACHE_USER)]
    code_acl = acl(*readers, (user, "rwx", True))
    lines = [
        f"useradd --user-group --no-create-home --home-dir {q(home)} --shell {USER_SHELL} "
        f"{ids} -- {user}",
        f"useradd --user-group --no-create-home --home-dir {q(home)} --shell {CGI_SHELL} "
        f"{ids} -- {cgi}",
        f"install -d -m 0750 -o {user} -g {user} {q(home)}",
        f"setfacl -m {acl((cgi, '--x', False), (APACHE_USER, '--x', False))} -- {q(home)}",
        f"install -d -m 0750 -o root -g {user} {q(home / 'webapps', home / 'tmp')}",
        f"setfacl -m {acl((cgi, '--x', False), (APACHE_USER, '--x', False))} -- "
        f"{q(home / 'webapps', home / 'tmp')}",
        f"install -d -m 0750 -o {user} -g {user} {q(code)}",
        f"setfacl -m {code_acl} -- {q(code)}",
    ]
    # Each folder on the way to an upload folder, in the driver's order: made after the code
    # folder's default ACL, so they inherit it as the driver's do.
    made: set[str] = set()
    for upload in DEFAULT_UPLOAD_DIRS:
        parts = upload.split("/")
        for depth in range(1, len(parts) + 1):
            relative = "/".join(parts[:depth])
            if relative in made:
                continue
            made.add(relative)
            mode = "0770" if depth == len(parts) else "0750"
            lines.append(f"install -d -m {mode} -o {user} -g {user} {q(code / relative)}")
        spec = acl(
            *((u, m, d) for d in (False, True) for u, m in ((APACHE_USER, "r-x"), (cgi, "rwx"))),
            (user, "rwx", True),
        )
        lines.append(f"setfacl -m {spec} -- {q(code / upload)}")
    lines += [
        f"install -d -m 0770 -o {user} -g {user} {q(tmp)}",
        f"setfacl -m {acl((cgi, 'rwx', False), (cgi, 'rwx', True), (user, 'rwx', True))} -- "
        f"{q(tmp)}",
        heredoc(pool_conf(web, site.pool), templates.render(templates.pool, site)),
        f"mkdir -p {q(web.overrides_dir / site_name(site.account, site.website))}",
        heredoc(site_conf(web, site.account, site.website), templates.render(templates.site, site)),
    ]
    return "\n".join(lines) + "\n"


def floor_script(web: WebServer, templates: Templates, sites: Sequence[FloorSite]) -> str:
    """x-b: every site's users, folders and files, every instance started, one graceful."""
    n = len(sites)
    first = ID_RANGE[1] + 1
    last = first + 2 * n + 99
    ids = " ".join(f"-K {key}_MIN={first} -K {key}_MAX={last}" for key in ("UID", "GID"))
    parts = ["set -euo pipefail\n"]
    parts += [floor_site_script(web, templates, site, ids) for site in sites]
    fpm = f"php-fpm{web.php_version}"
    parts += [f"{fpm} --fpm-config {q(pool_conf(web, site.pool))} </dev/null\n" for site in sites]
    parts.append(graceful(web))
    return "".join(parts)


def floor_cleanup_script(web: WebServer, sites: Sequence[FloorSite]) -> str:
    """Not timed: the floor's instances, files and users gone, Apache restarted without them."""
    lines = [
        "set -u",
        'alive() { [ -n "$1" ] && grep -q \'php-fpm: master\' "/proc/$1/cmdline" 2>/dev/null; }',
        "pids=()",
    ]
    for site in sites:
        pid_file = web.run_dir / f"{site.pool}.pid"
        lines.append(
            f'pid=$(cat -- {q(pid_file)} 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null && '
            'pids+=("$pid")'
        )
    lines.append(
        'for pid in "${pids[@]}"; do\n'
        '  for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done\n'
        '  alive "$pid" && kill -KILL "$pid"\n'
        "done"
    )
    for site in sites:
        files = [
            web.run_dir / f"{site.pool}.pid",
            web.run_dir / f"{site.pool}.sock",
            pool_log(web, site.pool),
            pool_conf(web, site.pool),
            site_conf(web, site.account, site.website),
        ]
        lines.append(f"rm -f -- {q(*files)}")
        lines.append(f"rm -rf -- {q(web.overrides_dir / site_name(site.account, site.website))}")
    lines.append(graceful(web))
    # The users that exist (pkill -u refuses a list with one unknown name), their processes
    # ended, then removed with their groups.
    names = " ".join(name for site in sites for name in (site.cgi, site.user))
    lines += [
        "users=()",
        f'for u in {names}; do getent passwd -- "$u" >/dev/null && users+=("$u"); done',
        "if [ ${#users[@]} -gt 0 ]; then",
        '  listed=$(IFS=,; echo "${users[*]}")',
        '  pkill -KILL -u "$listed" 2>/dev/null',
        '  for _ in $(seq 1 100); do pgrep -u "$listed" >/dev/null || break; sleep 0.1; done',
        "fi",
        f"for u in {names}; do",
        '  getent passwd -- "$u" >/dev/null && userdel -- "$u"',
        '  getent group -- "$u" >/dev/null && groupdel -- "$u"',
        "done",
    ]
    lines += [f"rm -rf -- {q(web.home_base / site.user)}" for site in sites]
    return "\n".join(lines) + "\nexit 0\n"


def one_change_script(web: WebServer, pool: str) -> str:
    """x-e: one pool file rewritten (with the bytes it has), its master reloaded, waited for."""
    conf = pool_conf(web, pool)
    log = str(pool_log(web, pool))
    return (
        "set -euo pipefail\n"
        + heredoc(Path(f"{conf}.new"), conf.read_text())
        + f"mv -- {q(f'{conf}.new', conf)}\n"
        + f"mark=$(stat -c %s -- {q(log)})\n"
        + f'kill -USR2 "$(cat -- {q(web.run_dir / f"{pool}.pid")})"\n'
        + wait_for(log, "ready to handle connections", f"php-fpm {pool} did not come back")
    )


def site_change_script(web: WebServer, path: Path) -> str:
    """x-f: one site file rewritten in place (the bytes it has, the old one kept aside),
    ``apache2 -t`` on the whole configuration (the old file back if it fails), one graceful
    restart, waited for: the least that checks a site before Apache serves it."""
    return (
        "set -euo pipefail\n"
        + f"cp -p -- {q(path, f'{path}.bak')}\n"
        + heredoc(path, path.read_text())
        + f"if ! apache2 -f {q(web.conf)} -t >/dev/null 2>&1; then\n"
        + f"  mv -- {q(f'{path}.bak', path)}; echo 'apache2 -t refused the site' >&2; exit 1\n"
        + "fi\n"
        + f"rm -f -- {q(f'{path}.bak')}\n"
        + graceful(web)
    )


def site_floor(bench: Bench, r: int) -> dict[str, Any]:
    """One sample of x-f on this server: the floor of f, which Apache's parse of every site
    bounds."""
    web, work = bench.web, bench.work
    other = work.sites[len(work.sites) // 3]
    script = site_change_script(web, site_conf(web, other.account.name, other.website.name))
    before = web.apache_reloads()
    sample = {"seconds": run_script(script, "x_f_one_site")}
    if web.apache_reloads() - before != 1:
        raise BenchError(f"floor x-f: Apache restarted {web.apache_reloads() - before}x")
    if page(web, other.domain, "x-f")[0] != other.cgi:
        raise BenchError(f"floor x-f: {other.domain} no longer answers as {other.cgi}")
    return sample


def run_script(script: str, phase: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(["bash"], input=script, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"floor {phase}: exit {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def folders_of(web: WebServer, user: str) -> list[str]:
    """Mode, owner, group and ACL of each folder the driver makes for a site, with the user's
    name replaced by USER."""
    home = web.home_base / user
    relatives = ["", "webapps", "tmp", f"webapps/{APP}", f"tmp/{APP}"]
    for upload in DEFAULT_UPLOAD_DIRS:
        parts = upload.split("/")
        relatives += [f"webapps/{APP}/" + "/".join(parts[:d]) for d in range(1, len(parts) + 1)]
    out = []
    for relative in sorted(set(relatives)):
        path = home / relative if relative else home
        st = path.stat()
        owner = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
        acl_text = subprocess.run(
            ["getfacl", "-cpE", "--", str(path)], capture_output=True, text=True, check=True
        ).stdout
        text = f"{relative or '.'} {st.st_mode & 0o7777:o} {owner}:{group}\n{acl_text}"
        out += re.sub(rf"(?<![A-Za-z0-9_]){re.escape(user)}(?![A-Za-z0-9_])", "USER", text).split(
            "\n"
        )
    return out


def floors(web: WebServer, work: Work, figures: Figures) -> None:
    n = len(work.sites)
    width = max(4, len(str(n)))
    model = work.sites[0]
    templates = templates_of(web, model)
    expected = folders_of(web, model.user.name)
    first = ID_RANGE[1] + 1
    if first + 2 * n + 99 > 65533 or free_ids(first, first + 2 * n + 99) < 2 * n:
        raise BenchError(f"floor: no room for {2 * n} user ids from {first}")
    orchestra_pools = web.pools()
    samples: list[dict[str, Any]] = []
    script_bytes = 0
    for _ in range(figures.floor_repeat):
        sites = [
            FloorSite(number=f"{j:0{width}d}", user=unique_name(f"f{j:0{width}d}"))
            for j in range(1, n + 1)
        ]
        script = floor_script(web, templates, sites)
        script_bytes = len(script)
        before = web.apache_reloads()
        try:
            seconds = run_script(script, "x_b_full")
            running = web.pools()
            missing = [s.pool for s in sites if s.pool not in running]
            if missing:
                raise BenchError(f"floor x-b: {len(missing)} instances do not run: {missing[:5]}")
            if web.apache_reloads() - before != 1:
                raise BenchError(f"floor x-b: Apache restarted {web.apache_reloads() - before}x")
            put_page(web, sites[0].user)
            got = page(web, sites[0].domain, "x-b")
            if got[0] != sites[0].cgi:
                raise BenchError(f"floor x-b: {sites[0].domain} runs as {got}")
            made = folders_of(web, sites[0].user)
            if made != expected:
                diff = "\n".join(difflib.unified_diff(expected, made, "orchestra", "floor", n=0))
                raise BenchError(f"floor x-b: its folders differ from orchestra's:\n{diff}")
        finally:
            run_script(floor_cleanup_script(web, sites), "x_b cleanup")
        remaining = {entry.pw_name for entry in web.users()}
        left = [s.user for s in sites if s.user in remaining or s.cgi in remaining]
        if left or web.pools() != orchestra_pools:
            raise BenchError(f"floor x-b: the cleanup left users {left[:5]} or instances")
        samples.append({"seconds": seconds})
    figures.add(
        "large", "x_b_full", **median_of(samples), samples=samples, script_bytes=script_bytes
    )

    target = work.sites[n // 2]
    log = pool_log(web, target.pool)
    script = one_change_script(web, target.pool)
    samples = []
    for _ in range(figures.repeat):
        mark = log_size(log)
        samples.append({"seconds": run_script(script, "x_e_one_change")})
        if log_since(log, mark).count("Reloading in progress") != 1:
            raise BenchError(f"floor x-e: {target.pool} was not reloaded once")
    got = page(web, target.domain, "x-e")
    if got != (target.cgi, target.app.options["memory_limit"]):
        raise BenchError(f"floor x-e: {target.domain} runs as {got} after the floor")
    figures.add(
        "large", "x_e_one_change", **median_of(samples), samples=samples, script_bytes=len(script)
    )


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "a_plan_all": "a  plan all",
    "b_apply_all_first": "b  first apply of all",
    "d_reapply_unchanged": "d  re-apply all, unchanged",
    "e_one_change": "e  one app's memory_limit changed",
    "f_one_site_change": "f  one website's domains changed",
}
FLOOR_LABELS = {
    "x_b_full": "x-b  script: users, folders, ACLs, files, instances, 1 graceful",
    "x_e_one_change": "x-e  script: 1 pool file, USR2, ready",
    "x_f_one_site": "x-f  script: 1 site file, apache2 -t, USR1, ready",
}


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def ratio(phases: dict[str, dict[str, Any]], key: str, floor: str) -> float:
    return float(phases[key]["seconds"] / phases[floor]["seconds"])


def table(figures: Figures) -> str:
    header = (
        "phase",
        f"{figures.small} s",
        f"{figures.count} s",
        "plan s",
        "apply s",
        "ops",
        "steps",
        "RSS MiB",
    )
    rows = [header]
    small, large = figures.phases["small"], figures.phases["large"]
    for key, label in LABELS.items():
        p = large[key]
        plan_s = p.get("plan_seconds", p["seconds"] if key == "a_plan_all" else None)
        apply_s = p.get("apply_seconds", p["seconds"] if key == "b_apply_all_first" else None)
        rows.append(
            (
                label,
                fmt(small[key]["seconds"]),
                fmt(p["seconds"]),
                fmt(plan_s),
                fmt(apply_s),
                str(p["operations"]),
                str(p["steps"]),
                f"{p['peak_rss_mib']:.0f}",
            )
        )
    for key, label in FLOOR_LABELS.items():
        at_small = fmt(small[key]["seconds"]) if key in small else "-"
        rows.append((label, at_small, fmt(large[key]["seconds"]), "-", "-", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    e_small, e_large = small["e_one_change"]["seconds"], large["e_one_change"]["seconds"]
    f_small, f_large = (
        small["f_one_site_change"]["seconds"],
        large["f_one_site_change"]["seconds"],
    )
    lines += [
        "",
        f"e, f, x-e and x-f: median of {figures.repeat}, small and large in turn; "
        f"x-b: median of {figures.floor_repeat}",
        f"one app change among {figures.count} / among {figures.small}: {e_large / e_small:.2f}x; "
        f"one site change: {f_large / f_small:.2f}x (the issue asks at most 2x); "
        f"the floor of a site change: "
        f"{large['x_f_one_site']['seconds'] / small['x_f_one_site']['seconds']:.2f}x",
        f"first apply / floor: {ratio(large, 'b_apply_all_first', 'x_b_full'):.1f}x; "
        f"one change / floor: {ratio(large, 'e_one_change', 'x_e_one_change'):.1f}x",
        "seconds inside the steps, by kind (the rest of apply is batch overhead):",
    ]
    for size in ("small", "large"):
        for key in (
            "b_apply_all_first",
            "d_reapply_unchanged",
            "e_one_change",
            "f_one_site_change",
        ):
            p = figures.phases[size][key]
            inside = ", ".join(f"{k} {v:.3f}" for k, v in p["step_seconds"].items())
            apply_s = p.get("apply_seconds", p["seconds"])
            overhead = apply_s - sum(p["step_seconds"].values())
            lines.append(f"  {size} {key[0]}: {inside}; overhead {overhead:.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500, help="sites on the large server (500)")
    parser.add_argument("--small", type=int, default=10, help="the small run's count (10)")
    parser.add_argument(
        "--repeat", type=int, default=7, help="samples of e, f, x-e and x-f on each server (7)"
    )
    parser.add_argument("--floor-repeat", type=int, default=3, help="runs of x-b (3)")
    parser.add_argument(
        "--json", action="store_true", help="print the figures as JSON (the table on stderr)"
    )
    parser.add_argument(
        "--batch-timeout", type=float, default=3600, help="seconds one batch may take (3600)"
    )
    args = parser.parse_args(argv)
    if min(args.count, args.small, args.repeat, args.floor_repeat) < 1:
        parser.error("--count, --small, --repeat and --floor-repeat must be at least 1")
    figures = Figures(
        count=args.count, small=args.small, repeat=args.repeat, floor_repeat=args.floor_repeat
    )
    try:
        run(figures, args.batch_timeout)
    except (BenchError, OSError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        print(json.dumps(attrs.asdict(figures), indent=2), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": machine(), **attrs.asdict(figures)}, indent=2))
        print(table(figures), file=sys.stderr)
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
