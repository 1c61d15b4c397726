"""The runtime benchmarks of issue 2: orch next to crun, runc and Docker, in one run, on one rootfs.

Three sections, each bounded in time:

- ``start``    (a) daemon running: ContainerCreate+ContainerStart over gRPC until the RPC returns
               (it returns once the container's process has exec'd), next to ``crun run`` and
               ``runc run`` of /bin/true (hyperfine, start to exit), plus the same path driven
               in-process (``bench.enginepath``) with each step timed, so the gRPC share shows.
- ``cli``      (b) ``orch run --rm busybox true`` end to end from a shell (hyperfine -N) next to
               ``docker run --rm`` on a throwaway dockerd, plus an importtime profile of the CLI.
- ``detached`` (c) N detached ``sleep 3600`` containers one after another, per-container start
               time next to ``crun run -d``, the daemon's and spawner's RSS growth and the
               MemAvailable drop per container; then removal, timed.

Each orch sample's teardown (waiting for the exit, removing the container) runs untimed between
samples, so one sample's cleanup never lands in the next one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

from bench import importprof
from bench.common import (
    BenchError,
    Breakdown,
    Run,
    Sample,
    Table,
    have,
    hyperfine,
    log,
    mem_available_kb,
    poll,
    pss_kb,
    rss_kb,
    time_calls,
)
from bench.dockerd import DOCKER_CLI
from bench.dockerd import IMAGE as DOCKER_IMAGE
from bench.oci import Bundles
from bench.orchenv import REPO, OrchEnv

DOCKER_REFERENCE_MS = 335.74  # docker run --rm, default bridge network: /work/shared/reference/anchors-perf.md §2
CRUN_REFERENCE_MS = 9.87


@dataclass(kw_only=True)
class Lab(Run):
    """What the runtime sections share: the orch daemon, the OCI bundles, a dockerd (or why there is none)."""

    orch: OrchEnv
    bundles: Bundles | None = None
    docker_env: dict[str, str] | None = None
    docker_error: str = ""


# --------------------------------------------------------------------------- (a) start latency


def bench_start(lab: Lab) -> None:
    runs = 20 if lab.quick else 40
    orch = lab.orch
    table = Table("(a) Start latency with the daemon running: create request to process running",
                  baseline="crun run /bin/true")
    current: list[str] = []

    def create_start() -> None:
        cid = orch.create(["true"])
        orch.start_container(cid)
        current.append(cid)

    def reap() -> None:
        cid = current.pop()
        orch.wait(cid)
        orch.discard(cid)

    log(f"(a) orch gRPC create+start x{runs}")
    t_cs = table.add(Sample("orch gRPC ContainerCreate+ContainerStart", time_calls(create_start, runs, 3, reap),
                            note="returns after exec"))

    created: list[str] = []
    creates = time_calls(lambda: created.append(orch.create(["true"])), runs, 1)
    starts = []
    for cid in created:
        t0 = time.perf_counter()
        orch.start_container(cid)
        starts.append((time.perf_counter() - t0) * 1000)
        orch.wait(cid)
        orch.discard(cid)
    table.add(Sample("orch ContainerCreate alone", creates))
    table.add(Sample("orch ContainerStart alone", starts[-runs:]))

    def to_exit() -> None:
        cid = orch.create(["true"])
        orch.start_container(cid)
        orch.wait(cid)
        current.append(cid)

    table.add(Sample("orch create+start+wait (exit recorded)", time_calls(to_exit, runs, 2, lambda: orch.discard(
        current.pop())), note="comparable to `crun run`"))

    if lab.bundles is not None:
        tag = lab.bundles.tag
        cmds = [(f"{rt} run /bin/true", f"{rt} run --bundle {lab.bundles.true} hf-{tag}-{rt}")
                for rt in ("crun", "runc") if have(rt)]
        cmds.append(("host /bin/true (floor)", "/bin/true"))
        log(f"(a) hyperfine {', '.join(n for n, _ in cmds)} x{runs}")
        for s in hyperfine(cmds, runs, warmup=3, rounds=2):
            s.note = "start to exit, hyperfine -N"
            table.add(s)
    else:
        table.notes.append("crun/runc not measured: no bundles (see log).")
    if orch.lost_exits:
        table.notes.append(f"**{len(orch.lost_exits)} lost exit(s)**: the daemon never recorded the exit of "
                           "a /bin/true container (its ContainerWait timed out after 10 s, which is in the "
                           "`create+start+wait` max). See the engine race in docs/performance.md.")
    table.notes.append("orch rows: gRPC over the daemon's unix socket from a warm client; the container "
                       "exit and removal run untimed between samples. crun/runc: `run` of a bundle with "
                       "the same busybox rootfs, read-only root, no network (new netns), timed start to exit.")
    lab.report.add(table)
    crun = table.find("crun run /bin/true")
    if crun is not None:
        lab.verdict("(a) orch create+start <= crun run", t_cs.median <= crun.median,
                    f"{t_cs.median:.2f} ms vs crun {crun.median:.2f} ms, ratio {t_cs.median / crun.median:.2f}x")
    bench_engine_path(lab, runs)


def bench_engine_path(lab: Lab, runs: int) -> None:
    """The same create+start, in-process (no gRPC), broken into steps."""
    orch = lab.orch
    log(f"(a) in-process engine path x{runs}")
    p = subprocess.run(
        [sys.executable, "-m", "bench.enginepath", "--state-dir", str(orch.root / "inproc"),
         "--image-dir", str(orch.state_dir / "images"), "--cgroup-parent", f"{orch.cgroup_parent}/inproc",
         "--runs", str(runs)], cwd=str(REPO), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        log(f"in-process engine path failed: {p.stderr.strip().splitlines()[-1:]}")
        return
    result = json.loads(p.stdout)
    phases: dict[str, list[float]] = result["phases"]
    table = Table("(a') Where orch's start time goes: the daemon's Engine driven in-process (no gRPC)",
                  baseline="create+start")
    order = ["create+start", "Engine.create", "Engine.start", "spawn spec (overlay+cgroup+user)",
             "overlay mount", "cgroup create", "user lookup (/etc/passwd)", "image resolve",
             "hostname/hosts/resolv.conf", "state file write (each)", "spawner request (fork..exec)",
             "spawner ping (IPC floor)"]
    for name in order + [k for k in phases if k not in order]:
        if name in phases:
            table.add(Sample(name, phases[name]))
    table.notes.append("Steps are nested: Engine.start = spawn spec + spawner request + a state write; "
                       "`spawner request` is the unix-socket round trip in which the spawner forks, the "
                       "child sets up namespaces, mounts, cgroup and pivot_root, and execs. Ratios here are "
                       "shares of the whole create+start.")
    if result.get("lost_exits"):
        table.notes.append(f"**{len(result['lost_exits'])} lost exit(s)** in-process too (Engine.wait timed out).")
    lab.report.add(table)


# --------------------------------------------------------------------------- (b) CLI end to end


def bench_cli(lab: Lab) -> None:
    runs = 10 if lab.quick else 30
    orch = lab.orch
    env = dict(orch.env)
    cmds = [("orch run --rm busybox true", f"{orch.orch} run --rm busybox true"),
            ("python: import grpc + stubs, 1 RPC (gRPC CLI floor)", f"{orch.python} {REPO}/bench/grpcfloor.py"),
            (f"{orch.python} -c pass (interpreter floor)", f"{orch.python} -c pass")]
    if lab.docker_env is not None:
        env.update(lab.docker_env)
        cmds.insert(1, ("docker run --rm busybox true", f"{DOCKER_CLI} run --rm {DOCKER_IMAGE} true"))
    if lab.bundles is not None and have("crun"):
        cmds.append(("crun run /bin/true", f"crun run --bundle {lab.bundles.true} hf-{lab.bundles.tag}-crunb"))
    log(f"(b) hyperfine {len(cmds)} commands x{runs}")
    samples = hyperfine(cmds, runs, warmup=2, env=env, rounds=2 if lab.quick else 3)
    baseline = "docker run --rm busybox true" if lab.docker_env is not None else None
    table = Table("(b) `orch run --rm busybox true` end to end from the shell", baseline=baseline)
    for s in samples:
        s.note = "hyperfine -N"
        table.add(s)
    o = samples[0]
    if lab.docker_env is not None:
        table.notes.append("docker: Debian docker.io 20.10 dockerd+containerd started for this run, temporary "
                           "data-root/exec-root, `--bridge=none --iptables=false`, so `docker run` gets no "
                           "network, like orch's default `none`. The reference figure with Docker's default "
                           f"bridge network is {DOCKER_REFERENCE_MS} ms (anchors-perf.md §2, not this run).")
        d = table.find("docker run --rm busybox true")
        assert d is not None
        lab.verdict("(b) orch run --rm <= 0.5x docker run --rm (same run, both without network)",
                    o.median <= 0.5 * d.median, f"{o.median:.0f} ms vs {d.median:.0f} ms, "
                    f"ratio {o.median / d.median:.2f}x")
    else:
        table.notes.append(f"docker NOT measured in this run ({lab.docker_error}); the reference figure "
                           f"{DOCKER_REFERENCE_MS} ms (anchors-perf.md §2, default bridge network, another run) "
                           f"gives a ratio of {o.median / DOCKER_REFERENCE_MS:.2f}x.")
    lab.verdict("(b) orch run --rm <= 150 ms", o.median <= 150, f"{o.median:.0f} ms")
    lab.verdict("(b) orch run --rm <= 0.5x docker reference 336 ms (bridge network, not this run)",
                o.median <= 0.5 * DOCKER_REFERENCE_MS, f"ratio {o.median / DOCKER_REFERENCE_MS:.2f}x")
    lab.report.add(table)
    cli_profile(lab)


def cli_profile(lab: Lab) -> None:
    """python -X importtime of `orch run --rm busybox true`: which imports cost what."""
    orch = lab.orch
    try:
        wall, rows = importprof.profile(["run", "--rm", "busybox", "true"], orch.env, str(REPO))
    except RuntimeError as e:
        log(f"importtime profile failed: {e}")
        return
    top = importprof.top_level(rows)
    total = sum(c.cumulative_ms for c in top)
    bd = Breakdown("(b') Imports of `orch run --rm busybox true` (python -X importtime, one run)")
    bd.add("whole command under -X importtime", wall, note="importtime inflates imports by ~20-40 %")
    bd.add("all imports", total, note=f"{100 * total / wall:.0f} % of the command")
    for c in top[:8]:
        kids = importprof.children(rows, c.module)[:3]
        bd.add(f"import {c.module}", c.cumulative_ms,
               note=", ".join(f"{k.module} {k.cumulative_ms:.1f}" for k in kids))
    lab.report.add(bd)


# --------------------------------------------------------------------------- (c) detached containers


@dataclass
class MemPoint:
    available_kb: int
    rss_kb: int
    pss_kb: int
    memcg_kb: int = 0


def _orch_mem(orch: OrchEnv) -> MemPoint:
    pids = [orch.daemon_pid, orch.spawner_pid]
    return MemPoint(mem_available_kb(5, 0.2), sum(rss_kb(p) for p in pids), sum(pss_kb(p) for p in pids),
                    orch.memcg_usage_kb())


def bench_detached(lab: Lab, n: int = 100) -> None:
    orch = lab.orch
    start = Table(f"(c) {n} detached `sleep 3600` containers, started one after another: time per container",
                  baseline="crun run -d")
    remove = Table(f"(c) removing the {n} containers: time per container", baseline="crun delete --force")
    mem = Breakdown(f"(c) memory per running container ({n} containers)")

    log(f"(c) orch: {n} detached containers")
    m0 = _orch_mem(orch)
    rss0 = {"daemon": rss_kb(orch.daemon_pid), "spawner": rss_kb(orch.spawner_pid)}
    ids: list[str] = []

    def one() -> None:
        cid = orch.create(["sleep", "3600"])
        ids.append(cid)
        orch.start_container(cid)

    t0 = time.perf_counter()
    orch_times = time_calls(one, n, warmup=0)
    total = time.perf_counter() - t0
    poll(lambda: orch.running_count() >= n, 30, 0.1, what=f"{n} orch containers running")
    m1 = _orch_mem(orch)
    rss1 = {"daemon": rss_kb(orch.daemon_pid), "spawner": rss_kb(orch.spawner_pid)}
    start.add(Sample("orch gRPC create+start", orch_times, note=f"total {total:.2f} s"))
    per = (m1.rss_kb - m0.rss_kb) / n
    mem.add("orch daemon+spawner RSS growth per container", per, "kB",
            f"daemon {rss0['daemon']}→{rss1['daemon']} kB, spawner {rss0['spawner']}→{rss1['spawner']} kB")
    mem.add("orch daemon+spawner PSS growth per container", (m1.pss_kb - m0.pss_kb) / n, "kB")
    mem.add("orch MemAvailable drop per container", (m0.available_kb - m1.available_kb) / n, "kB",
            "whole system: kernel objects (namespaces, mounts, cgroups), container processes, daemon growth")
    mem.add("orch memcg usage of the containers' cgroups per container", (m1.memcg_kb - m0.memcg_kb) / n, "kB")
    lab.verdict("(c) orch daemon+spawner extra memory <= 1 MiB per container", per <= 1024, f"{per:.0f} kB")

    t0 = time.perf_counter()
    rm_times = []
    for cid in ids:
        t1 = time.perf_counter()
        orch.discard(cid)
        rm_times.append((time.perf_counter() - t1) * 1000)
    remove.add(Sample("orch ContainerRemove(force)", rm_times, note=f"total {time.perf_counter() - t0:.2f} s"))
    poll(lambda: orch.running_count() == 0, 30, 0.1, what="orch containers gone")

    if lab.bundles is not None:
        runtimes = ["crun"] if lab.quick else ["crun", "runc"]
        for rt in (r for r in runtimes if have(r)):
            _oci_detached(lab, rt, n, start, remove, mem)
    start.notes.append("orch: one gRPC client, ContainerCreate+ContainerStart per container (network none). "
                       "crun/runc: `run -d` of a bundle sharing the read-only busybox rootfs, new netns, "
                       "timed as a subprocess from Python.")
    for t in (start, remove, mem):
        lab.report.add(t)
    o, c = start.find("orch gRPC create+start"), start.find("crun run -d")
    if o is not None and c is not None:
        lab.verdict("(c) orch per detached container <= crun run -d", o.median <= c.median,
                    f"{o.median:.2f} ms vs {c.median:.2f} ms")


def _oci_detached(lab: Lab, rt: str, n: int, start: Table, remove: Table, mem: Breakdown) -> None:
    assert lab.bundles is not None
    b = lab.bundles
    log(f"(c) {rt}: {n} detached containers")
    a0 = mem_available_kb(5, 0.2)
    ids = []
    errfile = b.root / f"{rt}-run.err"

    def one() -> None:
        cid = b.new_id(rt)
        ids.append(cid)
        # Not a pipe: the detached container inherits the runtime's stdio and would hold it open.
        with open(errfile, "w+b") as err:
            p = subprocess.run([rt, "run", "-d", "--bundle", str(b.sleep), cid], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err)
            if p.returncode != 0:
                err.seek(0)
                raise BenchError(f"{rt} run -d failed: {err.read().decode(errors='replace').strip()}")

    t0 = time.perf_counter()
    times = time_calls(one, n, warmup=0)
    total = time.perf_counter() - t0
    a1 = mem_available_kb(5, 0.2)
    start.add(Sample(f"{rt} run -d", times, note=f"total {total:.2f} s"))
    mem.add(f"{rt} MemAvailable drop per container", (a0 - a1) / n, "kB", "no daemon, no shim")
    t0 = time.perf_counter()
    rm = []
    for cid in ids:
        t1 = time.perf_counter()
        b.delete(rt, cid)
        rm.append((time.perf_counter() - t1) * 1000)
    remove.add(Sample(f"{rt} delete --force", rm, note=f"total {time.perf_counter() - t0:.2f} s"))


SECTIONS = {"start": bench_start, "cli": bench_cli, "detached": bench_detached}
