"""The cluster benchmark of issue 4: replicas to running, store writes, leader failover, idle memory.

Four measurements, each bounded in time, on clusters that never see the machine's network:

- ``converge``  from issuing ``orch service create -d --replicas N`` (or ``orch service scale S=N`` on a
                service created with 0 replicas) to all N tasks reported running (ControlAPI
                ``ListTasks``, polled every 50 ms), N = 10, 100, 1000; on a 1-node cluster (a private
                daemon in its own network namespace, :class:`bench.orchenv.OrchEnv`) and on an
                ``orch lab up --managers 3 --workers 2`` lab. The CLI has no ``--network``: tasks join the
                node's default bridge, so every start includes a veth and an address on it.
- ``writes``    committed store writes per second on the lab's 3 managers: concurrent ControlAPI
                ``CreateService`` calls (0 replicas, so no task follows) to the leader for a fixed time;
                a call returns once Raft committed the write.
- ``failover``  ``orch lab kill <leader>`` to the first write accepted again by a surviving manager
                (median of >= 5); the killed daemon is restarted and rejoins between samples.
- ``memory``    RSS of each idle manager's daemon and its spawner (no services).

Run alone with ``python bench/cluster.py [--quick] [--out FILE.md]``, or as the ``cluster`` section of
``bench/run.py``. Everything made (daemon, lab, namespaces, cgroups, containers) is removed at the end,
also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchError, Breakdown, Report, Run, Sample, Table, log, machine_facts, rss_kb  # noqa: E402
from bench.orchenv import IMAGE, REPO, OrchEnv  # noqa: E402
from proto.orch.v1 import control_pb2 as cpb  # noqa: E402
from proto.orch.v1 import control_pb2_grpc, engine_pb2_grpc  # noqa: E402
from proto.orch.v1 import engine_pb2 as epb  # noqa: E402

ORCH = [sys.executable, "-m", "orchestrator.cli.main"]
RPC_TIMEOUT = 30.0
CONVERGE_TIMEOUT = {10: 30.0, 100: 60.0, 1000: 150.0}
DRAIN_TIMEOUT = 240.0  # removing 1000 containers
TASK_CMD = ["sleep", "86400"]
WRITE_SECONDS = 5.0
WRITE_THREADS = 8
FAILOVER_TIMEOUT = 30.0


# --------------------------------------------------------------------------- a cluster endpoint


class Endpoint:
    """One daemon's unix socket: its ControlAPI and Engine stubs, and its CLI environment."""

    def __init__(self, sock: str, env: dict[str, str]) -> None:
        self.sock = sock
        self.env = env
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.control = control_pb2_grpc.ControlStub(self.channel)
        self.engine = engine_pb2_grpc.EngineStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def cli(self, *args: str, timeout: float = 120.0) -> None:
        p = subprocess.run([*ORCH, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                           cwd=str(REPO))
        if p.returncode != 0:
            raise BenchError(f"orch {' '.join(args[:3])} failed: {(p.stderr or p.stdout).strip()[-200:]}")

    def running_tasks(self, service: str) -> int:
        req = cpb.ListTasksRequest(filters=[cpb.ControlFilter(key="service", value=service),
                                            cpb.ControlFilter(key="desired-state", value="running")])
        docs = self.control.ListTasks(req, timeout=RPC_TIMEOUT).json
        return sum(1 for d in docs if json.loads(d).get("Status", {}).get("State") == "running")

    def containers(self) -> int:
        return len(self.engine.ContainerList(epb.ContainerListRequest(all=True), timeout=RPC_TIMEOUT).containers)

    def create_service(self, name: str, replicas: int) -> None:
        spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": IMAGE, "Command": TASK_CMD,
                                                                 "StopGracePeriod": 0}},
                "Mode": {"Replicated": {"Replicas": replicas}}}
        self.control.CreateService(cpb.CreateServiceRequest(spec_json=json.dumps(spec)), timeout=5)

    def remove_services(self, names: list[str]) -> None:
        if names:
            self.control.RemoveServices(cpb.RemoveServicesRequest(refs=names), timeout=RPC_TIMEOUT)

    def spawner_pid(self) -> int:
        return int(json.loads(self.engine.Info(epb.Empty(), timeout=RPC_TIMEOUT).json).get("SpawnerPid") or 0)


def _poll_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """Seconds until ``pred()`` held (RPC errors count as "not yet"); BenchError at the deadline."""
    t0 = time.monotonic()
    while True:
        try:
            if pred():
                return time.monotonic() - t0
        except grpc.RpcError:
            pass
        if time.monotonic() - t0 > timeout:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def converge(api: Endpoint, nodes: list[Endpoint], n: int, how: str) -> float:
    """Seconds from issuing the CLI command to n running tasks; the service is removed after."""
    name = f"b{secrets.token_hex(3)}"
    timeout = CONVERGE_TIMEOUT.get(n, 60.0 + n / 5)
    try:
        if how == "scale":
            api.cli("service", "create", "-d", "-q", "--name", name, "--replicas", "0",
                    "--stop-grace-period", "0s", IMAGE, *TASK_CMD)
        t0 = time.monotonic()
        if how == "create":
            api.cli("service", "create", "-d", "-q", "--name", name, "--replicas", str(n),
                    "--stop-grace-period", "0s", IMAGE, *TASK_CMD)
        else:
            api.cli("service", "scale", "-d", f"{name}={n}")
        # Listing 1000 task documents costs the leader CPU too: poll big services less often.
        _poll_until(lambda: api.running_tasks(name) >= n, timeout - (time.monotonic() - t0),
                    f"{n} running tasks of {name}", interval=0.05 if n <= 100 else 0.25)
        return time.monotonic() - t0
    finally:
        with contextlib.suppress(grpc.RpcError):
            api.remove_services([name])
        _poll_until(lambda: all(e.containers() == 0 for e in nodes), DRAIN_TIMEOUT, "the task containers to go")


def converge_table(run: Run, title: str, api: Endpoint, nodes: list[Endpoint], sizes: list[int],
                   budget_s: float) -> Table:
    """Samples per (size, how); 3 for the small sizes, 1 (create only) for 1000. Past ``budget_s`` sizes are skipped."""
    table = Table(title)
    started = time.monotonic()
    for n in sizes:
        reps = 1 if (n >= 1000 or run.quick) else 3
        for how in ("create",) if n >= 1000 else ("create", "scale"):
            if time.monotonic() - started > budget_s:
                table.notes.append(f"N={n} ({how}) skipped: the section's time budget ({budget_s:.0f} s) was spent")
                log(f"{title}: N={n} {how} skipped (time budget)")
                continue
            xs: list[float] = []
            note = ""
            for _ in range(reps):
                try:
                    xs.append(converge(api, nodes, n, how) * 1000)
                except BenchError as e:
                    note = str(e)
                    log(f"{title}: N={n} {how}: {e}")
                    break
            table.add(Sample(f"{how} N={n}", [x / 1000 for x in xs], unit="s", note=note))
            log(f"{title}: {how} N={n}: {', '.join(f'{x / 1000:.2f}' for x in xs)} s")
    return table


# --------------------------------------------------------------------------- the lab


class LabRun:
    """An ``orch lab`` built with the CLI under a random name; ``close()`` is ``orch lab down``."""

    def __init__(self, managers: int = 3, workers: int = 2) -> None:
        self.name = f"b{secrets.token_hex(3)}"
        self.managers, self.workers = managers, workers
        self.env = dict(os.environ, PYTHONPATH=str(REPO))
        self.hosts: dict[str, Endpoint] = {}
        self.roles: dict[str, str] = {}
        self.pids: dict[str, int] = {}

    def __enter__(self) -> LabRun:
        try:
            self.lab("up", "--managers", str(self.managers), "--workers", str(self.workers), timeout=300)
            self.reload()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lab(self, *args: str, timeout: float = 60.0) -> str:
        p = subprocess.run([*ORCH, "lab", args[0], "--name", self.name, *args[1:]], env=self.env,
                           capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
        if p.returncode != 0:
            raise BenchError(f"orch lab {args[0]} failed: {(p.stderr or p.stdout).strip()[-200:]}")
        return p.stdout

    def reload(self) -> None:
        from orchestrator.lab.lab import Lab

        for e in self.hosts.values():
            e.close()
        lab = Lab.load(self.name)
        self.hosts = {h.name: Endpoint(h.socket.removeprefix("unix://"), h.env()) for h in lab.hosts}
        self.roles = {h.name: h.role for h in lab.hosts}
        self.pids = {h.name: h.pid for h in lab.hosts}

    def leader(self) -> str:
        for line in self.lab("ls", "--format", "{{.Name}} {{.ManagerStatus}}").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == "Leader":
                return parts[0]
        return ""

    def managers_up(self) -> list[str]:
        return [h for h, r in self.roles.items() if r == "manager"]

    def close(self) -> None:
        for e in self.hosts.values():
            e.close()
        self.hosts = {}
        try:
            self.lab("down", timeout=180)
        except (BenchError, subprocess.TimeoutExpired) as e:
            if "no lab named" not in str(e):
                log(f"lab {self.name}: down failed: {e}")


def store_writes(lab: LabRun, leader: str) -> Sample:
    """Committed writes/s: WRITE_THREADS callers creating 0-replica services on the leader."""
    api = lab.hosts[leader]
    names: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + WRITE_SECONDS

    def caller(i: int) -> None:
        k = 0
        while time.monotonic() < stop:
            name = f"w{i}x{k}"
            k += 1
            try:
                api.create_service(name, 0)
            except grpc.RpcError as e:
                with lock:
                    errors.append(str(e.details()))  # type: ignore[attr-defined]
                continue
            with lock:
                names.append(name)

    t0 = time.monotonic()
    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(WRITE_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WRITE_SECONDS + 10)
    elapsed = time.monotonic() - t0
    rate = len(names) / elapsed
    log(f"writes: {len(names)} committed in {elapsed:.1f} s = {rate:.0f}/s, {len(errors)} errors")
    for i in range(0, len(names), 200):
        api.remove_services(names[i:i + 200])
    note = f"{WRITE_THREADS} concurrent CreateService callers, {elapsed:.1f} s" + (
        f", {len(errors)} failed calls" if errors else "")
    return Sample("CreateService (0 replicas) on the leader", [rate], unit="writes/s", note=note)


def _write_accepted(lab: LabRun, managers: list[str], prefix: str) -> bool:
    """One write attempt on each manager in turn; True once one was committed."""
    for m in managers:
        try:
            lab.hosts[m].create_service(f"{prefix}{secrets.token_hex(3)}", 0)
            return True
        except grpc.RpcError:
            continue
    return False


def failover(lab: LabRun, runs: int) -> Sample:
    """Seconds from SIGKILL of the leader's daemon to the first write a surviving manager accepts."""
    xs: list[float] = []
    for i in range(runs):
        _poll_until(lambda: bool(lab.leader()), FAILOVER_TIMEOUT, "a leader")
        leader = lab.leader()
        survivors = [m for m in lab.managers_up() if m != leader]
        t0 = time.monotonic()
        lab.lab("kill", leader)
        _poll_until(functools.partial(_write_accepted, lab, survivors, f"f{i}x"), FAILOVER_TIMEOUT, "a write after the leader was killed", interval=0.01)
        dt = time.monotonic() - t0
        xs.append(dt)
        log(f"failover {i + 1}/{runs}: leader {leader} killed, write accepted after {dt:.2f} s")
        lab.lab("start", leader, timeout=60)
        lab.reload()
        # The restarted manager has rejoined once it answers the ControlAPI (its store caught up).
        _poll_until(lambda m=leader: lab.hosts[m].control.ListServices(cpb.ControlListRequest(), timeout=2) is not None,
                    FAILOVER_TIMEOUT, f"{leader} to serve again")
        with contextlib.suppress(grpc.RpcError):
            names = [json.loads(d)["Spec"]["Name"] for d in
                     lab.hosts[survivors[0]].control.ListServices(cpb.ControlListRequest(), timeout=RPC_TIMEOUT).json]
            lab.hosts[survivors[0]].remove_services(names)
    return Sample("leader killed -> write accepted", xs, unit="s")


def idle_memory(table: Breakdown, where: str, pid: int, spawner: int) -> float:
    d, s = rss_kb(pid) / 1024, rss_kb(spawner) / 1024 if spawner else 0.0
    table.add(f"{where}: daemon + spawner", d + s, "MiB", f"daemon {d:.1f} MiB, spawner {s:.1f} MiB")
    return d + s


# --------------------------------------------------------------------------- the section


@contextlib.contextmanager
def _single_node() -> Iterator[tuple[OrchEnv, Endpoint]]:
    with OrchEnv() as env:
        api = Endpoint(str(env.sock), env.env)
        try:
            # The daemon's cluster of one takes a moment after the socket answers.
            _poll_until(lambda: api.control.ListServices(cpb.ControlListRequest(), timeout=2) is not None, 30,
                        "the 1-node cluster")
            yield env, api
        finally:
            api.close()


def bench_cluster(run: Run, sizes: tuple[int, ...] = (10, 100, 1000), lab_budget_s: float = 180.0) -> None:
    mem = Breakdown("Idle manager memory (RSS)")
    one_node_100: Sample | None = None
    with _single_node() as (env, api):
        fresh = [idle_memory(mem, "1-node cluster, fresh", env.daemon_pid, env.spawner_pid)]
        table = converge_table(run, "Replicas to running, 1-node cluster (s)", api, [api], list(sizes), 600)
        table.notes.append("From issuing the CLI command to all N tasks running in `ListTasks`; tasks run "
                           "`sleep` on the default bridge (`service create` has no `--network`).")
        run.report.add(table)
        one_node_100 = table.find("create N=100")
        _poll_until(lambda: api.containers() == 0, 30, "an idle daemon")
        idle_memory(mem, "1-node cluster, after the runs", env.daemon_pid, env.spawner_pid)
    if one_node_100 and one_node_100.values:
        run.verdict("100 replicas running on 1 node <= 3 s (Docker Swarm: 12.5 s)", one_node_100.median <= 3.0,
                    f"{one_node_100.median:.2f} s")

    with LabRun() as lab:
        nodes = list(lab.hosts.values())
        leader = lab.leader()
        if not leader:
            raise BenchError("the lab has no leader")
        api = lab.hosts[leader]
        for m in lab.managers_up():
            fresh.append(idle_memory(mem, f"lab {m}, fresh" + (" (leader)" if m == leader else ""), lab.pids[m],
                                     lab.hosts[m].spawner_pid()))
        table = converge_table(run, "Replicas to running, lab: 3 managers + 2 workers (s)", api, nodes,
                               list(sizes), lab_budget_s)
        table.notes.append(f"CLI pointed at the leader ({leader}); tasks spread over all 5 nodes.")
        run.report.add(table)
        big = table.find("create N=1000")
        if big and big.values:
            run.verdict("1000 replicas running on the lab <= 30 s", big.median <= 30.0, f"{big.median:.1f} s")
        else:
            run.verdict("1000 replicas running on the lab <= 30 s", False, "not measured (skipped or timed out)")

        for m in lab.managers_up():
            idle_memory(mem, f"lab {m}, after the runs" + (" (leader)" if m == leader else ""), lab.pids[m],
                        lab.hosts[m].spawner_pid())
        mem.notes.append("Idle: no services. \"fresh\": right after the daemon (or the lab) came up; \"after the "
                         "runs\": once the convergence runs (up to 1000 tasks) were removed and drained; the growth is "
                         "not broken down (CPython rarely returns freed memory to the OS). RSS counts shared pages "
                         "in each process.")
        worst = max(fresh)
        run.verdict("idle manager < 100 MiB RSS (daemon + spawner, fresh)", worst < 100, f"worst {worst:.1f} MiB")

        writes = Table("Committed store writes, 3 managers")
        w = writes.add(store_writes(lab, leader))
        run.report.add(writes)
        log(f"writes: {w.median:.0f}/s")

        fo = Table("Leader failover (s)")
        s = fo.add(failover(lab, 5))
        fo.notes.append("`orch lab kill <leader>` (SIGKILL of its daemon) to the first CreateService a surviving "
                        "manager accepts, polled every 10 ms; Raft election timeout 0.4-1.2 s.")
        run.report.add(fo)
        run.verdict("leader failover <= 2 s", s.median <= 2.0, f"median {s.median:.2f} s of {s.runs}")
    run.report.add(mem)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/cluster.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one sample per size")
    ap.add_argument("--out", type=Path, help="also write the tables as markdown (and .json) to this file")
    ap.add_argument("--sizes", default="10,100,1000", help="replica counts (default: 10,100,1000)")
    ap.add_argument("--lab-budget", type=float, default=180.0, help="seconds of convergence runs on the lab")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/cluster.py: needs root (namespaces, cgroups, mounts)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    report = Report()
    report.facts.update(machine_facts())
    run = Run(report=report, quick=args.quick)
    try:
        bench_cluster(run, tuple(int(x) for x in args.sizes.split(",")), args.lab_budget)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted (everything started was cleaned up)", file=sys.stderr)
        return 130
    report.facts["targets"] = "; ".join(run.targets)
    for line in run.targets:
        print(line)
    if args.out:
        report.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
