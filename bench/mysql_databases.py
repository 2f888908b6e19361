"""Benchmark: N MariaDB databases with one user each, orchestra against Ansible's community.mysql.

Run by hand, never by the test suite::

    .venv/bin/python bench/mysql_databases.py                       # 200 pairs, re-applies 3 times
    .venv/bin/python bench/mysql_databases.py --count 50 --repeat 5
    .venv/bin/python bench/mysql_databases.py --ansible-repeat 1    # fewer (slow) Ansible re-runs
    .venv/bin/python bench/mysql_databases.py --json                # the figures as JSON
    .venv/bin/python bench/mysql_databases.py --skip-ansible        # orchestra only

It starts a private MariaDB in a temp dir (``orchestra_mysql.testing.start_mariadb``: its own
socket and port, never the system server) and does the same work twice, each timed with
``time.perf_counter``: N databases ``db0001``... (utf8mb4) and N users ``u0001``... (host
``%``), each with a password of its own and ALL privileges on its database.

Orchestra, through the embedding API, one local-transport server with ``mysql-database`` and
``mysql-user`` routed to it, one account per database (``acme0001``...):

o-a. plan: a ``ChangeSet`` saving the N databases and N users and setting the N passwords;
o-b. apply it (every database and user created, every password set);
o-c. plan and apply the same saves again, without the passwords: every operation "nothing";
o-d. the same with the passwords: every password set again (orchestra cannot read a password
     back, so it always rehashes);
o-e. ``Orchestra.check`` of every database and user, nothing drifted (one read-only batch);
o-f. one ``GRANT`` by hand on one user: check finds that user and nothing else.

Ansible (ansible-core with the ``community.mysql`` collection, in a venv of its own), after
every database and user was dropped: ``ansible-playbook`` on a generated playbook for
localhost (``connection: local``, no facts) with one ``community.mysql.mysql_db`` task and one
``community.mysql.mysql_user`` task, each looping over the N items:

x-0. for scale, the same ``ansible-playbook`` on a play with no task: its start-up;
x-1. for scale, ``ansible.builtin.ping`` looped over the N items: Ansible's own cost per item;
x-b. the first run (every database and user created);
x-c. the second run, unchanged: the changed count is what Ansible reports.

After o-b, x-b and every re-apply, every database and user must exist (and nothing else), and a
sample of users must log in with their passwords; a run that did not do the work raises, so
the figures never lie. o-a, o-b, o-f, x-1 and x-b run once; o-c, o-d and o-e run ``--repeat``
times, x-0 and x-c ``--ansible-repeat`` times (default: ``--repeat``), and the table shows the
median.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from orchestra_mysql.testing import MariaDBInstance, start_mariadb

from orchestra_core import Account, ChangeSet, Orchestra, Route, Secret, Server
from orchestra_core.catalogue import Database, DatabaseUser
from orchestra_core.execution.executor import ApplyResult
from orchestra_core.planning.plan import Plan

SERVER = "db1"
#: How many users log in after each run.
SAMPLE = 10
#: What the Ansible venv gets when it has to be made (``ansible`` bundles community.mysql;
#: ``ansible-galaxy collection install`` needs galaxy.ansible.com, PyPI is enough here).
ANSIBLE_REQUIREMENTS = ("ansible==12.3.0", "PyMySQL==1.2.4")
DEFAULT_VENV = Path(tempfile.gettempdir()) / "bench-ansible-venv"
#: Seconds one ansible-playbook run may take.
ANSIBLE_TIMEOUT = 3600.0

T = TypeVar("T")


class BenchError(Exception):
    """A variant did not do the work it should have: the figures would mean nothing."""


from machine import machine as base_machine  # noqa: E402 - bench/ is the script's path

# -- the work --------------------------------------------------------------------------------------


class Work:
    """The N databases and users, and their passwords (new ones for every bench run)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.numbers = range(1, count + 1)
        # Letters, digits and punctuation that needs quoting in SQL and in the shell.
        self.passwords = {k: f"p'w\"{k:04d};`$-{secrets.token_urlsafe(12)}" for k in self.numbers}

    @staticmethod
    def database(k: int) -> str:
        return f"db{k:04d}"

    @staticmethod
    def user(k: int) -> str:
        return f"u{k:04d}"

    def verify(self, mariadb: MariaDBInstance, variant: str) -> None:
        """Every database and user exists and nothing else; a sample logs in (into its
        database) with its password, and not with a wrong one."""
        want_dbs = {self.database(k) for k in self.numbers}
        have_dbs = mariadb.databases()
        if have_dbs != want_dbs:
            raise BenchError(
                f"{variant}: {len(have_dbs & want_dbs)} of {self.count} databases exist, "
                f"{len(have_dbs - want_dbs)} others (e.g. {sorted(have_dbs ^ want_dbs)[:5]})"
            )
        want_users = {(self.user(k), "%") for k in self.numbers}
        have_users = mariadb.users()
        if have_users != want_users:
            raise BenchError(
                f"{variant}: {len(have_users & want_users)} of {self.count} users exist, "
                f"{len(have_users - want_users)} others "
                f"(e.g. {sorted(have_users ^ want_users)[:5]})"
            )
        for k in random.Random(self.count).sample(list(self.numbers), min(SAMPLE, self.count)):
            user, database, password = self.user(k), self.database(k), self.passwords[k]
            if not mariadb.can_login(user, password, database):
                raise BenchError(f"{variant}: {user} cannot log in to {database}")
            if mariadb.can_login(user, "wrong", database):
                raise BenchError(f"{variant}: {user} logs in with a wrong password")

    def drop_all(self, mariadb: MariaDBInstance) -> None:
        mariadb.reset()
        if mariadb.databases() or mariadb.users():
            raise BenchError("could not drop the databases and users between the variants")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def median_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run of median seconds (the lower middle one for an even count), with every run's
    seconds in ``runs``."""
    middle = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    return {
        **middle,
        "seconds": statistics.median(r["seconds"] for r in runs),
        "runs": [r["seconds"] for r in runs],
    }


# -- o: orchestra ----------------------------------------------------------------------------------


def orchestra_changes(work: Work, passwords: bool) -> ChangeSet:
    changes = ChangeSet()
    for k in work.numbers:
        account, name = f"acme{k:04d}", work.database(k)
        database = Database(account=account, name=name)
        user = DatabaseUser(account=account, username=work.user(k), databases=(name,))
        changes.save(database).save(user)
        if passwords:
            changes.set_password(user, Secret(work.passwords[k]))
    return changes


def plan_counts(plan: Plan) -> dict[str, int]:
    return {
        "operations": sum(len(sp.operations) for sp in plan.servers),
        "steps": sum(len(sp.steps) for sp in plan.servers),
    }


def counts(plan: Plan, result: ApplyResult) -> dict[str, Any]:
    """Operations and steps, operations by final state, and the seconds inside the steps (the
    rest of an apply is batch overhead: compiling, bash, reporting, the executor)."""
    return {
        **plan_counts(plan),
        "states": dict(sorted(Counter(log.state.value for log in result.logs).items())),
        "step_seconds": sum(step.duration or 0.0 for log in result.logs for step in log.steps),
    }


def require_ok(result: ApplyResult, phase: str, states: set[str]) -> None:
    bad = [log for log in result.logs if not log.state.is_ok]
    if bad:
        details = "\n".join(
            f"  {log.operation_id}: {log.state.value}\n{(log.stdout + log.stderr)[-1500:]}"
            for log in bad[:3]
        )
        raise BenchError(f"orchestra {phase}: {len(bad)} operations failed\n{details}")
    got = {log.state.value for log in result.logs}
    if got != states:
        raise BenchError(
            f"orchestra {phase}: operation states {sorted(got)}, want {sorted(states)}"
        )


def run_orchestra(work: Work, mariadb: MariaDBInstance, repeat: int) -> dict[str, Any]:
    settings = {**mariadb.settings(), "client": "mysql"}
    accounts = [Account(name=f"acme{k:04d}") for k in work.numbers]
    orchestra = Orchestra(
        servers=[
            Server(
                name=SERVER,
                transport="local",
                settings={"mysql-database": settings, "mysql-user": settings},
            )
        ],
        routes=[
            Route(backend="mysql-database", servers=(SERVER,)),
            Route(backend="mysql-user", servers=(SERVER,)),
        ],
        batch_timeout=3600,
    )
    out: dict[str, Any] = {}
    try:
        # a + b: plan, then apply, everything with the passwords.
        changes = orchestra_changes(work, passwords=True)
        plan, plan_seconds = timed(lambda: orchestra.plan(changes, accounts=accounts))
        out["o_plan"] = {"seconds": plan_seconds, **plan_counts(plan)}
        result, apply_seconds = timed(lambda: orchestra.apply(plan))
        require_ok(result, "first apply", {"success"})
        work.verify(mariadb, "orchestra first apply")
        out["o_first"] = {
            "seconds": plan_seconds + apply_seconds,
            "plan_seconds": plan_seconds,
            "apply_seconds": apply_seconds,
            **counts(plan, result),
        }

        def again(passwords: bool, phase: str, states: set[str]) -> dict[str, Any]:
            changes = orchestra_changes(work, passwords=passwords)
            plan, plan_seconds = timed(lambda: orchestra.plan(changes, accounts=accounts))
            result, apply_seconds = timed(lambda: orchestra.apply(plan))
            require_ok(result, phase, states)
            work.verify(mariadb, f"orchestra {phase}")
            return {
                "seconds": plan_seconds + apply_seconds,
                "plan_seconds": plan_seconds,
                "apply_seconds": apply_seconds,
                **counts(plan, result),
            }

        out["o_again"] = median_runs([again(False, "re-apply", {"nothing"}) for _ in range(repeat)])
        # With the passwords: the saves find nothing to do, the passwords are set again.
        out["o_again_passwords"] = median_runs(
            [again(True, "re-apply with passwords", {"nothing", "success"}) for _ in range(repeat)]
        )
        states = out["o_again_passwords"]["states"]
        if states != {"nothing": 2 * work.count, "success": work.count}:
            raise BenchError(f"orchestra re-apply with passwords: states {states}")
        out["o_check"], out["o_check_drift"] = run_check(orchestra, work, mariadb, repeat)
    finally:
        orchestra.close()
    return out


def run_check(
    orchestra: Orchestra, work: Work, mariadb: MariaDBInstance, repeat: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """o-e: ``Orchestra.check`` of every database and user, nothing drifted; o-f: one GRANT
    by hand, which check must report for that user and nothing else."""
    placements = 2 * work.count
    runs = []
    for _ in range(repeat):
        report, seconds = timed(orchestra.check)
        if not report.clean or report.checked != placements:
            raise BenchError(f"orchestra check: a clean server gave {report.to_dict()}")
        runs.append({"seconds": seconds, "checked": report.checked})
    clean = median_runs(runs)
    k = work.count // 2 or 1
    user = work.user(k)
    key = DatabaseUser(account=f"acme{k:04d}", username=user, databases=(work.database(k),)).key
    mariadb.query(f"GRANT SELECT ON `other`.* TO `{user}`@`%`")
    try:
        report, seconds = timed(orchestra.check)
    finally:
        mariadb.query(f"REVOKE SELECT ON `other`.* FROM `{user}`@`%`")
    found = sorted({f.placement.object_key for f in report.findings})
    if found != [key]:
        raise BenchError(f"orchestra check after a GRANT on {user} by hand found {found}")
    return clean, {"seconds": seconds, "checked": report.checked, "findings": found}


# -- x: Ansible ------------------------------------------------------------------------------------


def ensure_ansible(venv: Path) -> dict[str, str]:
    """The Ansible venv (made when missing); the versions in it."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "ansible-playbook").exists():
        print(f"making {venv} with {' '.join(ANSIBLE_REQUIREMENTS)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *ANSIBLE_REQUIREMENTS], check=True
        )
    probe = (
        "import json, pathlib, ansible.release, ansible_collections\n"
        "from importlib.metadata import version\n"
        "m = pathlib.Path(ansible_collections.__path__[0]) / 'community/mysql/MANIFEST.json'\n"
        "try:\n"
        "    bundle = version('ansible')\n"
        "except Exception:\n"
        "    bundle = None\n"
        "print(json.dumps({'ansible-core': ansible.release.__version__, 'ansible': bundle,\n"
        "    'community.mysql': json.loads(m.read_text())['collection_info']['version'],\n"
        "    'PyMySQL': version('PyMySQL')}))\n"
    )
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise BenchError(
            f"{venv} lacks ansible-core, community.mysql or PyMySQL "
            f"(pip install {' '.join(ANSIBLE_REQUIREMENTS)}):\n{found.stderr[-1500:]}"
        )
    versions: dict[str, str] = json.loads(found.stdout)
    return versions


PLAYBOOK = """\
- name: {count} databases with one user each
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - items.json
  tasks:
    - name: Databases
      community.mysql.mysql_db:
        name: "{{{{ item.db }}}}"
        state: present
        encoding: utf8mb4
        login_unix_socket: "{{{{ mysql_socket }}}}"
        login_user: root
      loop: "{{{{ bench_items }}}}"
      loop_control:
        label: "{{{{ item.db }}}}"

    - name: Users, each with all privileges on its database
      community.mysql.mysql_user:
        name: "{{{{ item.user }}}}"
        host: "%"
        password: "{{{{ item.password }}}}"
        priv: "{{{{ item.db }}}}.*:ALL"
        state: present
        login_unix_socket: "{{{{ mysql_socket }}}}"
        login_user: root
      loop: "{{{{ bench_items }}}}"
      loop_control:
        label: "{{{{ item.user }}}}"
"""

EMPTY_PLAYBOOK = """\
- name: Nothing
  hosts: localhost
  connection: local
  gather_facts: false
  tasks: []
"""

#: The same loop over a module that does nothing: what Ansible itself costs per item.
PING_PLAYBOOK = """\
- name: Ping once per item
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - items.json
  tasks:
    - name: Ping
      ansible.builtin.ping:
      loop: "{{ bench_items }}"
      loop_control:
        label: "{{ item.db }}"
"""

ANSIBLE_CFG = """\
[defaults]
inventory = {dir}/hosts.ini
local_tmp = {dir}/local-tmp
remote_tmp = {dir}/remote-tmp
interpreter_python = {python}
"""

ITEM_LINE = re.compile(r"^(ok|changed|failed|fatal|skipping): \[localhost\] => \(item=(.*)\)")
RECAP = re.compile(r"^localhost\s*:\s*(.*)$", re.M)


class AnsibleProject:
    """The generated playbooks, inventory and ansible.cfg in ``dir``, for one MariaDB."""

    def __init__(self, dir: Path, venv: Path, work: Work, mariadb: MariaDBInstance) -> None:
        self.dir, self.venv = dir, venv
        dir.mkdir(parents=True, exist_ok=True)
        python = venv / "bin" / "python"
        (dir / "hosts.ini").write_text("localhost ansible_connection=local\n")
        (dir / "ansible.cfg").write_text(ANSIBLE_CFG.format(dir=dir, python=python))
        (dir / "playbook.yml").write_text(PLAYBOOK.format(count=work.count))
        (dir / "empty.yml").write_text(EMPTY_PLAYBOOK)
        (dir / "ping.yml").write_text(PING_PLAYBOOK)
        items = [
            {"db": work.database(k), "user": work.user(k), "password": work.passwords[k]}
            for k in work.numbers
        ]
        vars_file = dir / "items.json"
        vars_file.touch(mode=0o600)
        vars_file.write_text(
            json.dumps({"mysql_socket": str(mariadb.socket), "bench_items": items}, indent=1)
        )

    def run(self, playbook: str) -> dict[str, Any]:
        """``ansible-playbook playbook``, timed; what it printed, counted per task."""
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.dir / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}",
        }
        argv = [str(self.venv / "bin" / "ansible-playbook"), playbook]
        start = time.perf_counter()
        run = subprocess.run(
            argv,
            cwd=self.dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=ANSIBLE_TIMEOUT,
        )
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            raise BenchError(
                f"ansible-playbook {playbook}: exit {run.returncode}\n"
                f"{(run.stdout + run.stderr)[-3000:]}"
            )
        tasks: dict[str, Counter[str]] = {}
        task = "?"
        for line in run.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line[len("TASK [") : line.index("]")]
                tasks[task] = Counter()
            elif m := ITEM_LINE.match(line):
                tasks.setdefault(task, Counter())[m.group(1)] += 1
        recap = RECAP.search(run.stdout)
        warnings = [line for line in (run.stdout + run.stderr).splitlines() if "[WARNING]" in line]
        return {
            "seconds": seconds,
            "items": {name: dict(sorted(c.items())) for name, c in tasks.items()},
            "recap": " ".join(recap.group(1).split()) if recap else "",
            "warnings": warnings,
        }


def run_ansible(
    work: Work, mariadb: MariaDBInstance, repeat: int, venv: Path, dir: Path
) -> dict[str, Any]:
    project = AnsibleProject(dir, venv, work, mariadb)
    n = work.count

    def check(figures: dict[str, Any], variant: str, changed: bool | None, tasks: int = 2) -> None:
        for task, items in figures["items"].items():
            if sum(items.values()) != n or set(items) - {"ok", "changed"}:
                raise BenchError(f"{variant}: task {task!r} reported {items}, for {n} items")
            if changed is not None and items.get("changed", 0) != (n if changed else 0):
                raise BenchError(f"{variant}: task {task!r} reported {items}")
        if len(figures["items"]) != tasks:
            raise BenchError(f"{variant}: {len(figures['items'])} tasks ran, not {tasks}")

    empty = median_runs([project.run("empty.yml") for _ in range(repeat)])
    ping = project.run("ping.yml")
    check(ping, "ansible ping", changed=False, tasks=1)
    first = project.run("playbook.yml")
    check(first, "ansible first run", changed=True)
    work.verify(mariadb, "ansible first run")
    runs = []
    for _ in range(repeat):
        runs.append(project.run("playbook.yml"))
        check(runs[-1], "ansible second run", changed=None)  # whatever it says: recorded
        work.verify(mariadb, "ansible second run")
    return {"x_empty": empty, "x_ping": ping, "x_first": first, "x_again": median_runs(runs)}


# -- running ---------------------------------------------------------------------------------------


@contextmanager
def running_mariadb(directory: Path) -> Iterator[MariaDBInstance]:
    mariadb = start_mariadb(directory, timeout=60)
    try:
        yield mariadb
    finally:
        mariadb.stop()


def mariadb_version(mariadb: MariaDBInstance) -> str:
    [(version,)] = mariadb.query("SELECT VERSION()")
    return version or "?"


def run(
    count: int, repeat: int, ansible_repeat: int, venv: Path | None, skip_orchestra: bool = False
) -> dict[str, Any]:
    work = Work(count)
    figures: dict[str, Any] = {
        "count": count,
        "repeat": repeat,
        "ansible_repeat": ansible_repeat,
        "versions": {},
        "phases": {},
    }
    if venv is not None:
        figures["versions"].update(ensure_ansible(venv))
    with (
        tempfile.TemporaryDirectory(prefix="bench-mysql-") as tmp,
        running_mariadb(Path(tmp) / "mariadb") as mariadb,
    ):
        figures["versions"]["MariaDB"] = mariadb_version(mariadb)
        if not skip_orchestra:
            figures["phases"].update(run_orchestra(work, mariadb, repeat))
        if venv is not None:
            work.drop_all(mariadb)
            ansible = run_ansible(work, mariadb, ansible_repeat, venv, Path(tmp) / "ans")
            figures["phases"].update(ansible)
    return figures


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "o_plan": "o-a  orchestra: plan all",
    "o_first": "o-b  orchestra: plan + first apply",
    "o_again": "o-c  orchestra: re-apply (saves)",
    "o_again_passwords": "o-d  orchestra: re-apply + passwords",
    "o_check": "o-e  orchestra: check, nothing drifted",
    "o_check_drift": "o-f  orchestra: check, one GRANT by hand",
    "x_empty": "x-0  ansible-playbook, a play with no task",
    "x_ping": "x-1  ansible: ping looped over N items",
    "x_first": "x-b  ansible: first run",
    "x_again": "x-c  ansible: second run",
}


def what(key: str, p: dict[str, Any]) -> str:
    if key == "o_plan":
        return f"{p['operations']} operations, {p['steps']} steps"
    if key.startswith("o_check"):
        found = f", found {', '.join(p['findings'])}" if "findings" in p else ""
        return f"{p['checked']} placements read{found}"
    if key.startswith("o_"):
        states = ", ".join(f"{k} {v}" for k, v in p["states"].items())
        return f"{states}; apply {p['apply_seconds']:.3f} s, in steps {p['step_seconds']:.3f} s"
    if key == "x_empty":
        return "start-up and one empty play"
    items = "; ".join(
        f"{task.split(',')[0].lower()}: " + ", ".join(f"{k} {v}" for k, v in c.items())
        for task, c in p["items"].items()
    )
    recap = re.search(r"changed=\d+", p["recap"])
    return f"{items} ({recap.group(0) if recap else p['recap']} tasks)"


def table(figures: dict[str, Any]) -> str:
    n = figures["count"]
    phases = figures["phases"]
    rows = [("variant", "median s", "ms/pair", "runs s", "reported")]
    for key, label in LABELS.items():
        if key not in phases:
            continue
        p = phases[key]
        runs = " ".join(f"{s:.3f}" for s in p.get("runs", [p["seconds"]]))
        per = "-" if key == "x_empty" else f"{p['seconds'] / n * 1000:.1f}"
        rows.append((label, f"{p['seconds']:.3f}", per, runs, what(key, p)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i in (0, 3, 4) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    versions = ", ".join(f"{k} {v}" for k, v in figures["versions"].items() if v)
    lines += [
        "",
        f"{n} databases and {n} users; median of {figures['repeat']} runs for o-c and o-d, "
        f"of {figures['ansible_repeat']} for x-0 and x-c; ms/pair: seconds / N",
        versions,
    ]
    if "o_first" in phases and "x_first" in phases:
        s = {k: v["seconds"] for k, v in phases.items()}
        lines.append(
            f"ansible / orchestra: first {s['x_first'] / s['o_first']:.1f}x; "
            f"re-apply {s['x_again'] / s['o_again']:.1f}x "
            f"(against o-d, passwords set again: {s['x_again'] / s['o_again_passwords']:.1f}x)"
        )
    warnings = sorted(
        {w for k in ("x_first", "x_again") for w in phases.get(k, {}).get("warnings", [])}
    )
    lines += [f"ansible: {w}" for w in warnings]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200, help="databases and users (default 200)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each re-apply (default 3; median)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--ansible-venv",
        type=Path,
        default=DEFAULT_VENV,
        help=f"venv with ansible and PyMySQL, made when missing (default {DEFAULT_VENV})",
    )
    parser.add_argument(
        "--ansible-repeat",
        type=int,
        default=None,
        help="runs of Ansible's second run and of x-0 (default: --repeat)",
    )
    parser.add_argument("--skip-ansible", action="store_true", help="orchestra only")
    parser.add_argument("--skip-orchestra", action="store_true", help="Ansible only")
    args = parser.parse_args(argv)
    if args.ansible_repeat is None:
        args.ansible_repeat = args.repeat
    if args.count < 1 or args.count > 9999 or args.repeat < 1 or args.ansible_repeat < 1:
        parser.error("need 1 <= --count <= 9999, --repeat >= 1 and --ansible-repeat >= 1")
    venv = None if args.skip_ansible else args.ansible_venv.resolve()
    try:
        figures = run(args.count, args.repeat, args.ansible_repeat, venv, args.skip_orchestra)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": base_machine(), **figures}, indent=2))
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
