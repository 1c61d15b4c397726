"""The daemon's start path without gRPC: orch's Engine driven in-process, each step timed.

Run as ``python -m bench.enginepath --state-dir D --image-dir I --cgroup-parent P --runs N``; prints
one JSON object ``{"phases": {name: [ms, ...]}, "spawner_pid": ...}`` on stdout. It builds the
Engine the way ``orchestrator/daemon.py`` does, with its own spawner (own socket, own state dir)
and the daemon's image store (read only), then wraps the steps of ``Engine.create``/``start`` in
timers by replacing attributes on the instances and on the engine module. Nothing in orch is
edited; the wrappers only exist in this process.

Why a separate process: the wrapped Engine runs threads (the spawner event pump) and its own
spawner, and must not share the benchmark driver's gRPC channel or its cleanup fate.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PHASES: dict[str, list[float]] = {}


def timed(obj: Any, attr: str, label: str) -> None:
    fn: Callable[..., Any] = getattr(obj, attr)

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            PHASES.setdefault(label, []).append((time.perf_counter() - t0) * 1000)

    setattr(obj, attr, wrapper)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--image-dir", required=True)
    ap.add_argument("--cgroup-parent", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args(argv)

    from agent.runtime import engine as engine_mod
    from agent.runtime.engine import Engine
    from agent.runtime.images import ImageStore
    from agent.runtime.spawn_client import SpawnerClient
    from agent.runtime.volumes import VolumeStore

    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    spawner = SpawnerClient(str(state / "spawner.sock"), str(state / "spawner.log"))
    spawner_pid = spawner.ensure_running()
    engine = Engine(state, state, ImageStore(Path(args.image_dir)), VolumeStore(state / "volumes"), spawner,
                    cgroup_parent=args.cgroup_parent)
    engine.boot()
    ids: list[str] = []
    lost: list[str] = []
    try:
        timed(engine.images, "resolve", "image resolve")
        timed(engine_mod.rootfs, "mount_overlay", "overlay mount")
        timed(engine_mod, "resolve_user", "user lookup (/etc/passwd)")
        timed(engine.cgroups, "create", "cgroup create")
        timed(engine, "_write_etc_files", "hostname/hosts/resolv.conf")
        timed(engine, "_save", "state file write (each)")
        timed(engine, "_spawn_spec", "spawn spec (overlay+cgroup+user)")
        timed(spawner, "start", "spawner request (fork..exec)")
        spec = {"image": "busybox:latest", "cmd": ["true"], "stop_timeout": -1, "network_mode": "none"}
        for i in range(args.warmup + args.runs):
            if i == args.warmup:
                PHASES.clear()
            t0 = time.perf_counter()
            c = engine.create(spec)
            t1 = time.perf_counter()
            engine.start(c.id)
            t2 = time.perf_counter()
            PHASES.setdefault("Engine.create", []).append((t1 - t0) * 1000)
            PHASES.setdefault("Engine.start", []).append((t2 - t1) * 1000)
            PHASES.setdefault("create+start", []).append((t2 - t0) * 1000)
            ids.append(c.id)
            try:
                engine.wait(c.id, timeout=10)
            except TimeoutError:
                lost.append(c.id)  # the engine never recorded the exit (see docs/performance.md)
            try:
                engine.remove(c.id, force=True)
                ids.remove(c.id)
            except Exception as e:  # noqa: BLE001 - a lost exit makes remove time out too; keep measuring
                print(f"enginepath: remove {c.id[:12]}: {e}", file=sys.stderr)
        pings = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            spawner.request({"op": "ping"})
            pings.append((time.perf_counter() - t0) * 1000)
        PHASES["spawner ping (IPC floor)"] = pings
    finally:
        for cid in ids:
            try:
                engine.remove(cid, force=True)
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
        engine.shutdown()
        os.kill(spawner_pid, signal.SIGTERM)
    json.dump({"phases": PHASES, "spawner_pid": spawner_pid, "lost_exits": lost}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
