"""Benchmark: many small steps fanned out over SSH to a few hosts, orchestra against plain ssh.

Run by hand, never by the test suite::

    .venv/bin/python bench/ssh_fanout.py --steps 500 --hosts 4 --repeat 3
    .venv/bin/python bench/ssh_fanout.py --profile     # and where orchestra's time goes
    .venv/bin/python bench/ssh_fanout.py --json

It starts ``--hosts`` real sshd hosts on 127.0.0.x (``orchestra_core.testing.sshd``) in a temp
dir, spreads ``--steps`` steps over them round robin (step N goes to host (N-1) mod hosts) and
applies them in each of these ways, each timed with ``time.perf_counter``:

o. orchestra: a hand-built Plan, one ServerPlan per host, one operation of one ``Command`` step
   per step, run by ``Executor`` with the ssh transport and ``max_parallel`` = hosts. "cold"
   uses a new ``SSHTransport`` per run (the connections are opened inside the timing); "warm"
   reuses one transport whose pooled connections were opened by an untimed first run;
a. one ``ssh`` client process per step (``SSHHost.ssh_args()``, no ControlMaster), hosts in
   parallel (one thread each), each host's steps in order;
b. one hand-written script per host (its steps' commands, one per line) over one ``ssh``
   client each, ``bash -s`` with the script on stdin, hosts in parallel: the floor of the
   one-round-trip approach;
b'. the same scripts over paramiko: "cold" connects inside the timing, "warm" over connections
   opened beforehand (the fair match for orchestra warm).

Every step is the same command, ``printf '%s\\n' N >>FILE``, FILE being one file per host and
variant; after each run the files are read back and must hold each host's N, in order.
Each figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import paramiko

from orchestra_core.execution.executor import ApplyResult, Executor
from orchestra_core.execution.results import State
from orchestra_core.execution.script import BOOTSTRAP, compile_batch, parse_output
from orchestra_core.execution.ssh import SSHTransport
from orchestra_core.execution.transport import Batch, BatchResult
from orchestra_core.model.servers import Server
from orchestra_core.planning.plan import Plan, PlannedOperation, ServerPlan
from orchestra_core.backends.steps import Command
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.testing.sshd import SSHHost, start_ssh_hosts

#: Seconds one host's batch (or one ssh client) may take.
TIMEOUT = 600.0


class BenchError(Exception):
    """A variant did not do the work it should have: the figures would mean nothing."""


# -- the work --------------------------------------------------------------------------------------


@attrs.frozen
class Work:
    """Which step numbers go to which host, and where each variant's host writes them."""

    hosts: tuple[SSHHost, ...]
    numbers: tuple[tuple[int, ...], ...]  # per host, in order
    out: Path

    @classmethod
    def spread(cls, hosts: Sequence[SSHHost], steps: int, out: Path) -> Work:
        numbers = tuple(
            tuple(n for n in range(1, steps + 1) if (n - 1) % len(hosts) == k)
            for k in range(len(hosts))
        )
        return cls(hosts=tuple(hosts), numbers=numbers, out=out)

    @property
    def steps(self) -> int:
        return sum(len(ns) for ns in self.numbers)

    def file(self, variant: str, k: int) -> Path:
        return self.out / variant / f"{self.hosts[k].name}.txt"

    def command(self, variant: str, k: int, n: int) -> str:
        """The one command of step ``n`` on host ``k``: the same text in every variant."""
        return f"printf '%s\\n' {n} >>{self.file(variant, k)}"

    def script(self, variant: str, k: int) -> str:
        """Host ``k``'s steps as one hand-written script (variants b and b')."""
        return "".join(self.command(variant, k, n) + "\n" for n in self.numbers[k])

    def reset(self, variant: str) -> None:
        """Remove what an earlier run of ``variant`` wrote (the hosts are on this machine)."""
        folder = self.out / variant
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def verify(self, variant: str) -> None:
        for k, numbers in enumerate(self.numbers):
            path = self.file(variant, k)
            got = path.read_text().split() if path.exists() else []
            if got != [str(n) for n in numbers]:
                raise BenchError(
                    f"{variant}: {path} holds {len(got)} lines, expected {len(numbers)} "
                    f"in order (first lines: {got[:5]})"
                )


from machine import machine as base_machine  # noqa: E402 - bench/ is the script's path


def parallel(work: Work, fn: Callable[[int], object]) -> None:
    """``fn(k)`` for every host ``k``, one thread per host; the first error is raised."""
    with ThreadPoolExecutor(max_workers=len(work.hosts)) as pool:
        for future in [pool.submit(fn, k) for k in range(len(work.hosts))]:
            future.result()


def timed_run(work: Work, variant: str, fn: Callable[[], object]) -> float:
    """Clean ``variant``'s files, time ``fn()``, then check the files hold the work."""
    work.reset(variant)
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    work.verify(variant)
    return seconds


# -- o: orchestra ----------------------------------------------------------------------------------


def orchestra_plan(work: Work, servers: Sequence[Server], variant: str) -> Plan:
    """One ServerPlan per host, one operation of one Command step per step."""
    return Plan(
        servers=tuple(
            ServerPlan(
                server=server,
                operations=tuple(
                    PlannedOperation(
                        id=f"{server.name}-{n}",
                        server=server.name,
                        backend="bench",
                        action="save",
                        object_keys=(f"step:{n}",),
                        steps=(
                            Command(description=f"step {n}", script=work.command(variant, k, n)),
                        ),
                    )
                    for n in work.numbers[k]
                ),
            )
            for k, server in enumerate(servers)
        )
    )


class TimedTransport:
    """The ssh transport, recording how long each server's ``run`` took (for --profile)."""

    name = "ssh"

    def __init__(self, inner: SSHTransport) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = {}
        self.results: dict[str, BatchResult] = {}
        self._lock = threading.Lock()

    def run(self, server: Server, batch: Batch, *, timeout: float | None) -> BatchResult:
        start = time.perf_counter()
        result = self.inner.run(server, batch, timeout=timeout)
        with self._lock:
            self.seconds[server.name] = time.perf_counter() - start
            self.results[server.name] = result
        return result

    def probe(self, server: Server, tools: Sequence[str]) -> Any:
        return self.inner.probe(server, tools)

    def close(self) -> None:
        self.inner.close()


def execute(transport: TimedTransport, plan: Plan, hosts: int) -> ApplyResult:
    executor = Executor(
        {"ssh": transport}, MemoryStore(), max_parallel=hosts, batch_timeout=TIMEOUT
    )
    result = executor.execute(plan)
    states = {step.state for log in result.logs for step in log.steps}
    if not result.ok or states != {State.SUCCESS}:
        bad = next(log for log in result.logs if log.state is not State.SUCCESS)
        raise BenchError(f"orchestra: {bad.operation_id} {bad.state.value}: {bad.stderr[-500:]}")
    return result


def run_orchestra(work: Work, repeat: int) -> dict[str, Any]:
    servers = [host.server() for host in work.hosts]
    plan = orchestra_plan(work, servers, "o")
    hosts = len(work.hosts)
    cold: list[float] = []
    for _ in range(repeat):
        transport = TimedTransport(SSHTransport())
        try:
            cold.append(timed_run(work, "o", partial(execute, transport, plan, hosts)))
        finally:
            transport.close()
    warm: list[float] = []
    transport = TimedTransport(SSHTransport())
    try:
        timed_run(work, "o", lambda: execute(transport, plan, hosts))  # opens the pool
        runs: list[dict[str, Any]] = []
        for _ in range(repeat):
            warm.append(timed_run(work, "o", lambda: execute(transport, plan, hosts)))
            runs.append(
                {
                    "seconds": warm[-1],
                    "transport_seconds": dict(transport.seconds),
                    "step_seconds": {
                        name: sum(s.duration for s in result.steps)
                        for name, result in transport.results.items()
                    },
                }
            )
        middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    finally:
        transport.close()
    return {"cold": cold, "warm": warm, "warm_detail": middle}


# -- a: one ssh per step ---------------------------------------------------------------------------


def ssh(host: SSHHost, command: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [*host.ssh_args(), command],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(
            f"ssh {host.name} {command[:60]!r}: exit {result.returncode}: "
            f"{result.stderr.strip()[-300:]}"
        )


def run_per_step(work: Work, repeat: int) -> list[float]:
    def host_steps(k: int) -> None:
        for n in work.numbers[k]:
            ssh(work.hosts[k], work.command("a", k, n))

    return [timed_run(work, "a", lambda: parallel(work, host_steps)) for _ in range(repeat)]


# -- b: one script per host ------------------------------------------------------------------------


def run_script(work: Work, repeat: int) -> list[float]:
    def host_script(k: int) -> None:
        ssh(work.hosts[k], "bash -s", stdin=work.script("b", k))

    return [timed_run(work, "b", lambda: parallel(work, host_script)) for _ in range(repeat)]


def paramiko_client(host: SSHHost) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(host.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=host.user,
        key_filename=str(host.key_file),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def paramiko_script(client: paramiko.SSHClient, script: str) -> None:
    stdin, stdout, stderr = client.exec_command("bash -s", timeout=TIMEOUT)
    stdin.write(script.encode())
    stdin.channel.shutdown_write()
    code = stdout.channel.recv_exit_status()
    stdout.read()
    err = stderr.read()
    if code != 0:
        raise BenchError(f"paramiko bash -s: exit {code}: {err.decode()[-300:]}")


def run_paramiko(work: Work, repeat: int) -> dict[str, list[float]]:
    def cold_host(k: int) -> None:
        client = paramiko_client(work.hosts[k])
        try:
            paramiko_script(client, work.script("b1", k))
        finally:
            client.close()

    cold = [timed_run(work, "b1", lambda: parallel(work, cold_host)) for _ in range(repeat)]
    clients = [paramiko_client(host) for host in work.hosts]
    try:

        def warm_host(k: int) -> None:
            paramiko_script(clients[k], work.script("b1", k))

        warm = [timed_run(work, "b1", lambda: parallel(work, warm_host)) for _ in range(repeat)]
    finally:
        for client in clients:
            client.close()
    return {"cold": cold, "warm": warm}


# -- --profile: where orchestra's time goes --------------------------------------------------------


def local_batch(script: str, tmpdir: str | None = None) -> tuple[float, str]:
    """Run a compiled batch here, as the ssh transport's remote side would (no ssh); with
    ``tmpdir``, the batch's private folder (``mktemp -d``) is made there."""
    env = {**os.environ, "TMPDIR": tmpdir} if tmpdir else None
    start = time.perf_counter()
    out = subprocess.run(
        ["bash", "-c", BOOTSTRAP],
        input=script,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return time.perf_counter() - start, out


def processes_per_step(script: str, steps: int) -> dict[str, float] | None:
    """Processes created (clone/fork) and programs run (execve) per step, with strace."""
    if shutil.which("strace") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-strace-") as tmp:
        trace = Path(tmp) / "trace"
        argv = ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork,execve", "-o"]
        subprocess.run(
            [*argv, str(trace), "bash", "-c", BOOTSTRAP],
            input=script,
            capture_output=True,
            text=True,
            check=True,
        )
        text = trace.read_text()
    forks = len(re.findall(r"\b(?:clone3?|v?fork)\(.*= \d+$", text, re.M))
    execs = len(re.findall(r"\bexecve\(.*= 0$", text, re.M))
    programs: dict[str, int] = {}
    for name in re.findall(r'\bexecve\("[^"]*?([^/"]+)"', text):
        programs[name] = programs.get(name, 0) + 1
    return {
        "forks": round(forks / steps, 2),
        "execs": round(execs / steps, 2),
        **{f"exec {k}": round(v / steps, 2) for k, v in sorted(programs.items())},
    }


MICRO_LOOPS = 200
#: Bash loops timing, alone on this machine, the pieces a batch runs per step; $d is a scratch
#: folder holding s.sh (a snippet that execs ``bash c.sh``, as a Command's does) and c.sh.
MICRO = {
    "builtin printf >>file (a step of the plain script)": "printf x >>$d/a",
    "$(builtin) command substitution (__o_b64 of an empty output)": "x=$(printf -)",
    "printf | base64 -d >file (__o_put, twice per step)": "printf %s eA== | base64 -d >$d/p",
    "fork+exec /bin/true (for scale)": "/bin/true",
    "fork+exec bash on an empty script": "bash /dev/null </dev/null",
    "bash snippet that execs bash cmd (__o_run of a Command)": (
        "bash $d/s.sh $d </dev/null >$d/o 2>$d/e"
    ),
}


def micro_costs() -> dict[str, float]:
    """Milliseconds per run of each piece of :data:`MICRO`."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-micro-") as d:
        Path(d, "c.sh").write_text("printf '%s\\n' 1 >>\"$1/c.out\"\n")
        Path(d, "s.sh").write_text(f"set -u\nT=$1\nexec bash {d}/c.sh $T </dev/null\n")
        for label, body in MICRO.items():
            loop = f"d={d}; s=$EPOCHREALTIME; for ((i=0; i<{MICRO_LOOPS}; i++)); do {body}; done; "
            loop += "e=$EPOCHREALTIME; echo $(( (${e/./} - ${s/./}) ))"
            micros = subprocess.run(
                ["bash", "-c", loop], capture_output=True, text=True, check=True
            ).stdout
            out[label] = int(micros) / MICRO_LOOPS / 1000
    return out


def profile(work: Work, detail: dict[str, Any], repeat: int) -> dict[str, Any]:
    servers = [host.server() for host in work.hosts]
    plan = orchestra_plan(work, servers, "p")
    start = time.perf_counter()
    batches = [compile_batch(sp) for sp in plan.servers]
    compile_seconds = time.perf_counter() - start
    per_host = len(work.numbers[0])
    work.reset("p")
    out = local_batch(batches[0].script)[1]
    start = time.perf_counter()
    records = parse_output(out, batches[0].nonce)
    parse_seconds = (time.perf_counter() - start) * len(batches)
    if len(records) != per_host:
        raise BenchError(f"profile: the local batch reported {len(records)} of {per_host} steps")

    def local(variant: str, fn: Callable[[], object]) -> float:
        """Median of ``repeat`` runs of ``fn`` here, without ssh (files cleaned, checked)."""
        return statistics.median(timed_run(work, variant, fn) for _ in range(repeat))

    def together() -> None:
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            list(pool.map(lambda b: local_batch(b.script), batches))

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    one = Work(hosts=work.hosts[:1], numbers=work.numbers[:1], out=work.out)
    alone = statistics.median(
        timed_run(one, "p", partial(local_batch, batches[0].script)) for _ in range(repeat)
    )
    on_tmpfs = (
        statistics.median(
            timed_run(one, "p", partial(local_batch, batches[0].script, shm)) for _ in range(repeat)
        )
        if shm
        else None
    )
    all_hosts = local("p", together)
    plain_script = ["bash", "-s"]
    plain = statistics.median(
        timed_run(
            one,
            "q",
            partial(subprocess.run, plain_script, input=one.script("q", 0), text=True, check=True),
        )
        for _ in range(repeat)
    )
    transport = detail["transport_seconds"]
    return {
        "compile_seconds_all_hosts": compile_seconds,
        "parse_seconds_all_hosts": parse_seconds,
        "warm_run_seconds": detail["seconds"],
        "warm_transport_seconds_max": max(transport.values()),
        "warm_executor_overhead_seconds": detail["seconds"] - max(transport.values()),
        "warm_reported_step_seconds": detail["step_seconds"],
        "local_batch_one_host_seconds": alone,
        "local_batch_one_host_tmpfs_seconds": on_tmpfs,
        "local_batches_all_hosts_seconds": all_hosts,
        "local_plain_script_one_host_seconds": plain,
        "steps_per_host": per_host,
        "micro_ms": micro_costs(),
        "batch_bytes_per_step": len(batches[0].script) / per_host,
        "per_step_processes": processes_per_step(batches[0].script, per_host),
    }


# -- running ---------------------------------------------------------------------------------------


@contextmanager
def running_hosts(directory: Path, count: int) -> Iterator[list[SSHHost]]:
    hosts = start_ssh_hosts(directory, count)
    try:
        yield hosts
    finally:
        for host in reversed(hosts):
            try:
                host.stop()
            except Exception as exc:  # stop the others all the same
                print(f"could not stop {host.name}: {exc}", file=sys.stderr)


def run(steps: int, hosts: int, repeat: int, with_profile: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp,
        running_hosts(Path(tmp) / "hosts", hosts) as started,
    ):
        work = Work.spread(started, steps, Path(tmp) / "out")
        o = run_orchestra(work, repeat)
        b = run_script(work, repeat)
        b1 = run_paramiko(work, repeat)
        a = run_per_step(work, repeat)
        out: dict[str, Any] = {
            "steps": work.steps,
            "hosts": hosts,
            "repeat": repeat,
            "seconds": {
                "o_cold": o["cold"],
                "o_warm": o["warm"],
                "a": a,
                "b": b,
                "b1_cold": b1["cold"],
                "b1_warm": b1["warm"],
            },
        }
        if with_profile:
            out["profile"] = profile(work, o["warm_detail"], repeat)
    return out


# -- output ----------------------------------------------------------------------------------------

LABELS = {
    "o_cold": "o   orchestra, cold (connects)",
    "o_warm": "o   orchestra, warm (pooled)",
    "a": "a   one ssh per step",
    "b": "b   ssh bash -s, one per host",
    "b1_cold": "b'  paramiko bash -s, cold",
    "b1_warm": "b'  paramiko bash -s, warm",
}


def medians(figures: dict[str, Any]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in figures["seconds"].items()}


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def table(figures: dict[str, Any]) -> str:
    med = medians(figures)
    steps = figures["steps"]
    rows = [("variant", "median s", "ms/step", "runs s")]
    for key, label in LABELS.items():
        runs = " ".join(f"{s:.3f}" for s in figures["seconds"][key])
        rows.append((label, f"{med[key]:.3f}", f"{med[key] / steps * 1000:.2f}", runs))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i in (0, 3) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [
        "",
        f"steps {steps} over {figures['hosts']} hosts, median of {figures['repeat']} runs "
        "(ms/step: median seconds / steps, hosts in parallel)",
        f"o cold / b: {med['o_cold'] / med['b']:.2f}x   "
        f"o warm / b' warm: {med['o_warm'] / med['b1_warm']:.2f}x   "
        f"o warm / b: {med['o_warm'] / med['b']:.2f}x   (target: at most 1.3x)",
        f"a / o cold: {med['a'] / med['o_cold']:.1f}x   "
        f"a / o warm: {med['a'] / med['o_warm']:.1f}x",
    ]
    p = figures.get("profile")
    if p:
        n = p["steps_per_host"]
        reported = p["warm_reported_step_seconds"]
        lines += [
            "",
            "where orchestra's warm run goes:",
            f"  compile the {figures['hosts']} batches: {p['compile_seconds_all_hosts']:.3f} s; "
            f"parse their output: {p['parse_seconds_all_hosts']:.3f} s; "
            f"batch script {p['batch_bytes_per_step']:.0f} bytes per step",
            f"  run {p['warm_run_seconds']:.3f} s = slowest transport.run "
            f"{p['warm_transport_seconds_max']:.3f} s + executor "
            f"{p['warm_executor_overhead_seconds']:.3f} s (logs, store, mapping)",
            "  time inside the steps as the batches report it: "
            + ", ".join(f"{k} {v:.3f} s" for k, v in sorted(reported.items())),
            f"  here, without ssh (median of --repeat): one host's batch ({n} steps) "
            f"{p['local_batch_one_host_seconds']:.3f} s, all {figures['hosts']} at once "
            f"{p['local_batches_all_hosts_seconds']:.3f} s; "
            f"the plain script of one host {p['local_plain_script_one_host_seconds']:.3f} s",
            "  one host's batch with its private folder on tmpfs (TMPDIR=/dev/shm): "
            + fmt(p["local_batch_one_host_tmpfs_seconds"]),
            f"  what the pieces of one step cost here, alone (ms, bash loops of {MICRO_LOOPS}):",
            *(f"    {v:7.3f}  {k}" for k, v in p["micro_ms"].items()),
        ]
        procs = p.get("per_step_processes")
        if procs:
            lines.append(
                "  per step in the batch (strace): "
                + ", ".join(f"{k} {v:g}" for k, v in procs.items())
            )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """The machine (see machine.py), with the SSH software measured here."""
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return {
        **base_machine(),
        "paramiko": paramiko.__version__,
        "openssh": ssh_version.stderr.strip(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=500, help="steps in all (default 500)")
    parser.add_argument("--hosts", type=int, default=4, help="sshd hosts (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="also break down orchestra's warm run"
    )
    args = parser.parse_args(argv)
    if args.steps < args.hosts or args.hosts < 1 or args.repeat < 1:
        parser.error("need --hosts >= 1, --steps >= --hosts and --repeat >= 1")
    try:
        figures = run(args.steps, args.hosts, args.repeat, args.profile)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"machine": machine(), **figures, "medians": medians(figures)}, indent=2))
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
