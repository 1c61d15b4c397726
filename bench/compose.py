"""The compose benchmark of issue 5: `orch up -d --wait` against Debian's docker-compose, and `orch config`.

Three measurements, each bounded in time:

- ``(c1)`` bringing compose-examples/web-api-store up (store healthy, then api, then web on a published
  port): ``orch up -d --wait`` on the embedded default (a private daemon in its own netns, bench/orchenv.py)
  against ``docker-compose up -d`` (v1.29, no ``--wait``, so the clock runs until every container is
  running and, where it has a healthcheck, healthy) on docker.io started by hand (bench/dockerd.py);
  target orch <= 0.5x Docker.
- ``(c2)`` the same for a generated file of 20 independent services.
- ``(c3)`` ``orch config`` on a generated 100-service file (hyperfine); target median < 0.5 s.

Every run starts from nothing (``down -v`` untimed after each). Docker gets the file with the same
services, a free host port instead of 8081 (Docker's proxy listens in the host's namespace) and ``-p``
for the project name. Cleanup: both compose projects are taken down, both daemons stopped by pid, their
dirs removed, and bench/dockerd.py deletes any DOCKER-* iptables chains.

Run alone with ``python bench/compose.py [--quick] [--out FILE.md] [--no-docker]``, or as the ``compose``
section of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BenchError,
    Report,
    Run,
    Sample,
    Table,
    have,
    hyperfine,
    log,
    machine_facts,
    poll,
    run,
)
from bench.dockerd import DOCKER_CLI, Dockerd  # noqa: E402
from bench.orchenv import REPO, OrchEnv  # noqa: E402

EXAMPLE = REPO / "compose-examples" / "web-api-store" / "compose.yaml"
UP_TIMEOUT = 180.0
DOCKER_COMPOSE = "docker-compose"


def many_services(n: int, *, rich: bool = False) -> dict[str, Any]:
    """A compose document of ``n`` busybox services; ``rich`` adds the keys a real file has (for `config`)."""
    services: dict[str, Any] = {}
    for i in range(n):
        svc: dict[str, Any] = {"image": "busybox:latest", "command": ["sleep", "3600"]}
        if rich:
            svc.update({
                "environment": {"INDEX": str(i), "MODE": "${MODE:-bench}"},
                "labels": ["tier=t%d" % (i % 3)],
                "ports": [f"{20000 + i}:80"],
                "volumes": [f"data{i % 10}:/data", "./conf:/etc/conf:ro"],
                "healthcheck": {"test": ["CMD", "true"], "interval": "1m30s", "retries": 3},
                "depends_on": [f"s{i - 1:03d}"] if i else [],
                "deploy": {"resources": {"limits": {"memory": "64M", "cpus": "0.5"}}},
            })
        services[f"s{i:03d}"] = svc
    doc: dict[str, Any] = {"services": services}
    if rich:
        doc["volumes"] = {f"data{i}": {} for i in range(10)}
    return doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_copy(src: Path, dst: Path) -> str:
    """The same file for docker-compose 1.29: no top-level `name:` (its schema predates it), a free port."""
    doc = yaml.safe_load(src.read_text())
    name = str(doc.pop("name", dst.parent.name))
    for svc in doc["services"].values():
        svc["image"] = "busybox:latest"
        svc["ports"] = [f"{_free_port()}:{str(p).rsplit(':', 1)[-1]}" for p in svc.get("ports", [])]
        if not svc["ports"]:
            del svc["ports"]
    dst.write_text(yaml.safe_dump(doc, sort_keys=False))
    return name


class OrchUp:
    def __init__(self, orch: OrchEnv, file: Path) -> None:
        self.orch, self.file = orch, file

    def up(self) -> None:
        run([self.orch.orch, "up", "-d", "--wait", "-f", str(self.file)], env=self.orch.env, timeout=UP_TIMEOUT)

    def down(self) -> None:
        run([self.orch.orch, "down", "-v", "-f", str(self.file)], env=self.orch.env, timeout=UP_TIMEOUT, check=False)


class DockerUp:
    def __init__(self, d: Dockerd, file: Path, project: str) -> None:
        self.d, self.file, self.project = d, file, project
        self.base = [DOCKER_COMPOSE, "-f", str(file), "-p", project, "--no-ansi"]
        self.expected = len(yaml.safe_load(file.read_text())["services"])

    def _ready(self) -> bool:
        """All the project's containers running (and healthy where checked); `docker ps`, not the slow
        `docker-compose ps`, so the polling itself adds little to Docker's time."""
        out = run([DOCKER_CLI, "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                   "--format", "{{.Names}} {{.State}} {{.Status}}"], env=self.d.env).stdout.splitlines()
        if len(out) < self.expected:
            return False
        for line in out:
            name, state, status = (line.split(" ", 2) + ["", ""])[:3]
            if state in ("exited", "dead"):
                logs = run([DOCKER_CLI, "logs", "--tail", "3", name], env=self.d.env, check=False)
                said = " | ".join((logs.stdout + logs.stderr).strip().splitlines()[-3:])
                raise BenchError(f"docker-compose: {name} {status}" + (f" (it said: {said})" if said else ""))
            if state != "running" or "(health: starting)" in status or "(unhealthy)" in status:
                return False
        return True

    def up(self) -> None:
        run([*self.base, "up", "-d"], env=self.d.env, timeout=UP_TIMEOUT)
        poll(self._ready, UP_TIMEOUT, interval=0.05, what="docker-compose services to be running and healthy")

    def down(self) -> None:
        run([*self.base, "down", "-v", "-t", "1"], env=self.d.env, timeout=UP_TIMEOUT, check=False)


def time_up(tool: Any, runs: int, failures: list[str]) -> list[float]:
    """``runs`` timed `up`s, each followed by an untimed `down -v`; a failed run is noted, not timed."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            tool.up()
            out.append((time.perf_counter() - t0) * 1000)
        except BenchError as e:
            failures.append(str(e))
            log(f"run failed: {e}")
        finally:
            tool.down()
    return out


def bench_up(lab: Run, orch: OrchEnv, docker: Dockerd | None, docker_error: str, work: Path) -> None:
    runs = 3 if lab.quick else 5
    gen = work / "many" / "compose.yaml"
    gen.parent.mkdir(parents=True)
    gen.write_text(yaml.safe_dump({"name": "many", **many_services(20)}, sort_keys=False))
    cases = [("(c1) `up -d --wait` of compose-examples/web-api-store (3 services, healthcheck, volume, port)",
              EXAMPLE, 3), ("(c2) `up -d --wait` of 20 independent services", gen, 20)]
    for title, file, n in cases:
        table = Table(title, baseline="docker-compose 1.29 + docker.io")
        if docker is not None:
            dfile = work / f"docker-{file.parent.name}" / "compose.yaml"
            dfile.parent.mkdir(parents=True)
            project = docker_copy(file, dfile)
            DockerUp(docker, dfile, project).down()
            failed: list[str] = []
            table.add(Sample("docker-compose 1.29 + docker.io", time_up(DockerUp(docker, dfile, project), runs, failed),
                             note="up -d, then polled until running/healthy"))
            table.notes += [f"Docker run failed (not timed): {f}" for f in failed]
        else:
            table.notes.append(f"Docker not measured: {docker_error}; reference figure ~230 ms per container "
                               f"(~{230 * n} ms for {n}).")
        failed_orch: list[str] = []
        orch_sample = table.add(Sample("orch up -d --wait", time_up(OrchUp(orch, file), runs, failed_orch)))
        table.notes += [f"orch run failed (not timed): {f}" for f in failed_orch]
        lab.report.add(table)
        base = table.find("docker-compose 1.29 + docker.io")
        base = base if base is not None and base.values else None
        ref = base.median if base is not None else 230.0 * n
        ratio = orch_sample.median / ref
        lab.verdict(f"{title.split(')')[0]}) orch up <= 0.5x docker-compose", ratio <= 0.5,
                    f"{orch_sample.median:.0f} ms vs {ref:.0f} ms = {ratio:.2f}x"
                    + ("" if base is not None else ", reference figure"))


def bench_config(lab: Run, orch: OrchEnv, work: Path) -> None:
    d = work / "config100"
    (d / "conf").mkdir(parents=True)
    f = d / "compose.yaml"
    f.write_text(yaml.safe_dump({"name": "big", **many_services(100, rich=True)}, sort_keys=False))
    runs = 10 if lab.quick else 20
    commands = [("orch config (100 services)", f"{orch.orch} config -f {f}")]
    if have(DOCKER_COMPOSE):  # the same file without `name:`, which docker-compose 1.29's schema rejects
        dfile = d / "docker-compose.yaml"
        dfile.write_text(yaml.safe_dump(many_services(100, rich=True), sort_keys=False))
        commands.append(("docker-compose 1.29 config (100 services)", f"{DOCKER_COMPOSE} -f {dfile} config"))
    env = dict(orch.env, MODE="bench")
    samples = hyperfine(commands, runs=runs, warmup=2, env=env)
    table = Table("(c3) `config` of a generated 100-service file (ports, volumes, env, healthcheck, depends_on)",
                  baseline="orch config (100 services)")
    for s in samples:
        table.add(s)
    lab.report.add(table)
    med = samples[0].median
    lab.verdict("(c3) orch config of 100 services < 0.5 s", med < 500, f"median {med:.0f} ms")


def bench_compose(lab: Run, no_docker: bool = False) -> None:
    """The whole section: one orch daemon, one dockerd, a work dir; all torn down on any exit."""
    import shutil
    import tempfile

    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="orch-bench-compose-"))
        stack.callback(shutil.rmtree, work, True)
        orch = stack.enter_context(OrchEnv())
        docker: Dockerd | None = None
        docker_error = "--no-docker" if no_docker else ""
        if not no_docker:
            if not have(DOCKER_COMPOSE):
                docker_error = "docker-compose is not installed (apt-get install docker-compose)"
            else:
                try:
                    docker = stack.enter_context(Dockerd())
                    docker.import_image(orch.busybox_tar)
                    run([DOCKER_CLI, "tag", "busybox:orchbench", "busybox:latest"], env=docker.env)
                    version = run([DOCKER_COMPOSE, "version", "--short"]).stdout.strip()
                    lab.report.facts["docker (measured)"] = (f"docker-compose {version} with dockerd "
                                                             f"{docker.version()} (docker.io)")
                except BenchError as e:
                    docker_error = str(e)
                    log(f"dockerd not available, falling back to the reference figure: {e}")
        bench_config(lab, orch, work)
        bench_up(lab, orch, docker, docker_error, work)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/compose.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/compose.py: needs root", file=sys.stderr)
        return 2
    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds the ExitStack: daemons stopped, dirs and chains removed

    signal.signal(signal.SIGTERM, terminate)
    report = Report()
    report.facts.update(machine_facts())
    lab = Run(report=report, quick=args.quick)
    try:
        bench_compose(lab, args.no_docker)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted (everything started was cleaned up)", file=sys.stderr)
        return 130
    report.facts["targets"] = "; ".join(lab.targets)
    if args.out:
        report.write(args.out)
    print(json.dumps(lab.targets, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
