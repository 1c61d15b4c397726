"""Entry point of ``make bench``: run the benchmark sections side by side in one run and print tables.

Usage::

    python bench/run.py [--quick] [--out FILE.md] [--no-docker] [-n 100] [SECTION ...]

Sections: ``start`` (a), ``cli`` (b), ``detached`` (c) -- together ``runtime`` -- ``network``
(bench/network.py, its own lab), ``cluster`` (bench/cluster.py, a 1-node cluster and an orch lab)
and ``compose`` (bench/compose.py: `up` against docker-compose, `config`). Default: all. The runtime sections share a private orch daemon
under /tmp (never /var/lib/orch), crun/runc bundles on the same busybox rootfs and, for ``cli``, a
throwaway dockerd; all of it is torn down at the end, also on failure or Ctrl-C. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchError, Report, Run, log, machine_facts  # noqa: E402
from bench.dockerd import Dockerd  # noqa: E402
from bench.oci import Bundles, HybridCgroupFix  # noqa: E402
from bench.orchenv import OrchEnv  # noqa: E402
from bench.runtime import SECTIONS as RUNTIME_SECTIONS  # noqa: E402
from bench.runtime import Lab  # noqa: E402

OTHER_SECTIONS = ("network", "cluster", "compose")
GROUPS = {"runtime": list(RUNTIME_SECTIONS), "all": [*RUNTIME_SECTIONS, *OTHER_SECTIONS]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("sections", nargs="*", default=["all"],
                    help=f"sections: {', '.join([*GROUPS, *RUNTIME_SECTIONS, *OTHER_SECTIONS])} (default: all)")
    ap.add_argument("--quick", action="store_true", help="fewer runs (the runtime sections stay under ~3 minutes)")
    ap.add_argument("--out", type=Path, help="also write the tables as markdown (and .json) to this file")
    ap.add_argument("--no-docker", action="store_true", help="do not start a dockerd for the comparison")
    ap.add_argument("-n", "--containers", type=int, default=100, help="detached containers in (c)")
    args = ap.parse_args(argv)
    chosen: list[str] = []
    for s in args.sections:
        for name in GROUPS.get(s, [s]):
            if name not in RUNTIME_SECTIONS and name not in OTHER_SECTIONS:
                ap.error(f"unknown section {s!r}")
            if name not in chosen:
                chosen.append(name)
    args.chosen = chosen
    return args


def run_runtime(args: argparse.Namespace, report: Report, targets: list[str]) -> None:
    """The runtime sections in one lab: orch daemon, bundles, maybe dockerd; torn down on any exit."""
    names = [n for n in args.chosen if n in RUNTIME_SECTIONS]
    if not names:
        return
    with contextlib.ExitStack() as stack:
        orch = stack.enter_context(OrchEnv())
        lab = Lab(orch=orch, report=report, quick=args.quick, targets=targets)
        stack.enter_context(HybridCgroupFix())
        try:
            lab.bundles = Bundles(orch.root / "oci", orch.busybox_tar)
            stack.callback(lab.bundles.cleanup)
        except BenchError as e:
            log(f"no crun/runc bundles: {e}")
        if "cli" in names:
            if args.no_docker:
                lab.docker_error = "--no-docker"
            else:
                try:
                    d = stack.enter_context(Dockerd())
                    d.import_image(orch.busybox_tar)
                    lab.docker_env = dict(d.env)
                    report.facts["docker (measured)"] = f"dockerd {d.version()} (docker.io), --bridge=none"
                except BenchError as e:
                    lab.docker_error = str(e)
                    log(f"dockerd not available, falling back to the reference figure: {e}")
        for name in names:
            try:
                if name == "detached":
                    RUNTIME_SECTIONS[name](lab, args.containers)  # type: ignore[call-arg]
                else:
                    RUNTIME_SECTIONS[name](lab)
            except (BenchError, grpc.RpcError) as e:  # one broken section does not cost the others theirs
                log(f"section {name} failed: {e}")
                targets.append(f"FAILED: section {name}: {e}")


def run_network(args: argparse.Namespace, report: Report, targets: list[str]) -> None:
    if "network" not in args.chosen:
        return
    try:
        from bench.network import bench_network
    except ImportError as e:
        log(f"network section unavailable: {e}")
        return
    try:
        bench_network(Run(report=report, quick=args.quick, targets=targets))
    except BenchError as e:
        log(f"section network failed: {e}")
        targets.append(f"FAILED: section network: {e}")


def run_cluster(args: argparse.Namespace, report: Report, targets: list[str]) -> None:
    if "cluster" not in args.chosen:
        return
    try:
        from bench.cluster import bench_cluster
    except ImportError as e:
        log(f"cluster section unavailable: {e}")
        return
    try:
        bench_cluster(Run(report=report, quick=args.quick, targets=targets))
    except BenchError as e:
        log(f"section cluster failed: {e}")
        targets.append(f"FAILED: section cluster: {e}")


def run_compose(args: argparse.Namespace, report: Report, targets: list[str]) -> None:
    if "compose" not in args.chosen:
        return
    from bench.compose import bench_compose

    try:
        bench_compose(Run(report=report, quick=args.quick, targets=targets), no_docker=args.no_docker)
    except BenchError as e:
        log(f"section compose failed: {e}")
        targets.append(f"FAILED: section compose: {e}")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench/run.py: needs root (namespaces, cgroups, mounts)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    report = Report()
    report.facts.update(machine_facts())
    report.facts["mode"] = "quick" if args.quick else "full"
    targets: list[str] = []
    t_start = time.monotonic()
    try:
        run_runtime(args, report, targets)
        run_network(args, report, targets)
        run_compose(args, report, targets)
        run_cluster(args, report, targets)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted (everything started was cleaned up)", file=sys.stderr)
        return 130
    report.facts["targets"] = "; ".join(targets)
    log(f"done in {time.monotonic() - t_start:.0f} s")
    for line in targets:
        print(line)
    if args.out:
        report.write(args.out)
        log(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
