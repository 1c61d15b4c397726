"""The networking benchmark of issue 3: a published port next to the container's own address.

Two measurements, each bounded in time, against a private daemon that never sees the machine's network:

- ``throughput`` HTTP requests per second and p99 latency (``wrk --latency``) to ``busybox httpd`` in a
                 container, through the published port (host address, nft DNAT) and straight to the
                 container's IP (plain routing into the bridge), in alternating rounds; the target is
                 published >= 0.9 of direct.
- ``readiness``  the time from ``orch run -d -p ...`` returning to the published port answering an HTTP
                 request (median of >= 10, a fresh host port each time so no conntrack entry is reused).

Topology (all names carry one random tag; ``NetLab.close()`` removes all of it, also on failure)::

    obn-client-<tag>  veth 10.250.N.2/30 --- 10.250.N.1/30  obn-host-<tag>  (daemon, bridge, nft)
      wrk, probes     route 10.251.N.0/24 via 10.250.N.1       bridge 10.251.N.0/24 -- container

The daemon runs as ``nsenter --net=/run/netns/obn-host-<tag>`` (only the network namespace changes) with
its own state dir, run dir, socket and cgroup parent; no DNS upstream, so nothing leaves the namespaces.

Run alone with ``python bench/network.py [--quick] [--out FILE.md]``, or as the ``network`` section of
``bench/run.py`` (``bench_network(lab)`` uses only ``lab.report``, ``lab.quick`` and ``lab.verdict``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchError, Report, Sample, Table, have, log, machine_facts, poll, run  # noqa: E402
from bench.orchenv import REPO, OrchEnv  # noqa: E402

CONTAINER_PORT = 80
HTTPD = ["httpd", "-f", "-p", str(CONTAINER_PORT), "-h", "/var/www"]
THROUGHPUT_PORT = 8080
READY_FIRST_PORT = 18000  # readiness sample i publishes READY_FIRST_PORT + i


# --------------------------------------------------------------------------- namespaces


class Namespaces:
    """The daemon's "host" namespace and a client namespace, joined by one veth pair."""

    def __init__(self, tag: str) -> None:
        n = int(tag[:2], 16)  # 0..255: keeps two concurrent runs apart with good odds
        self.host = f"obn-host-{tag}"
        self.client = f"obn-client-{tag}"
        self.host_ip = f"10.250.{n}.1"
        self.client_ip = f"10.250.{n}.2"
        self.subnet = f"10.251.{n}.0/24"
        self.veth_host = f"obh{tag}"
        self.veth_client = f"obc{tag}"
        self.created: list[str] = []

    def path(self, ns: str) -> str:
        return f"/run/netns/{ns}"

    def create(self) -> None:
        for ns in (self.host, self.client):
            run(["ip", "netns", "add", ns])
            self.created.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.host, "link", "add", self.veth_host, "type", "veth",
             "peer", "name", self.veth_client, "netns", self.client])
        run(["ip", "-n", self.host, "addr", "add", f"{self.host_ip}/30", "dev", self.veth_host])
        run(["ip", "-n", self.client, "addr", "add", f"{self.client_ip}/30", "dev", self.veth_client])
        run(["ip", "-n", self.host, "link", "set", self.veth_host, "up"])
        run(["ip", "-n", self.client, "link", "set", self.veth_client, "up"])
        # "direct": the client reaches the container subnet through the daemon's namespace, like a
        # host on the same LAN with a static route; the bridge and the container are not changed.
        run(["ip", "-n", self.client, "route", "add", self.subnet, "via", self.host_ip])
        # busybox httpd closes every connection, so wrk opens thousands per second and the client's
        # TIME_WAIT sockets exhaust the 28k default ephemeral ports within seconds; then SYNs wait for
        # 1 s retransmits. Let connect() reuse TIME_WAIT ports (per-namespace sysctl, this namespace
        # only); ``port_range`` gives each path its own half of the ports.
        self.sysctl("net.ipv4.tcp_tw_reuse", "1")

    def sysctl(self, key: str, value: str) -> None:
        run(["nsenter", f"--net={self.path(self.client)}", "sysctl", "-qw", f"{key}={value}"])

    def port_range(self, first: int, last: int) -> None:
        """The client's ephemeral ports for the next connections.

        Direct and published connections must not share source ports: the container sees the same
        tuple (client:P -> container:80) for both, because DNAT keeps the source, so a published
        connection's conntrack entry clashes with a direct one still in TIME_WAIT (120 s) on the same
        port; the kernel then drops the SYN and the client waits for a 1 s retransmit.
        """
        self.sysctl("net.ipv4.ip_local_port_range", f"{first} {last}")

    def destroy(self) -> None:
        # Deleting a namespace deletes its end of the veth, and with it the peer; the bridge, the
        # container veths and the nft table die with the host namespace.
        for ns in reversed(self.created):
            run(["ip", "netns", "del", ns], check=False)
        self.created.clear()


# --------------------------------------------------------------------------- daemon


class NetnsOrchEnv(OrchEnv):
    """``OrchEnv`` with the daemon (and so its spawner and containers) inside the host namespace.

    Cleanup is ``OrchEnv.close()``: containers, daemon and spawner by pid, mounts under the state
    dir, the cgroup parent, the directory.
    """

    def __init__(self, netns: str, tag: str) -> None:
        super().__init__(Path(f"/tmp/orch-bnet-{tag}"))
        self.cgroup_parent = f"orch-bnet-{tag}"
        self.netns = netns
        self.env["ORCH_DNS_UPSTREAMS"] = ""
        self.env["PYTHONPATH"] = str(REPO)

    def start(self) -> None:
        self.root.mkdir(parents=True)
        log(f"orch: state in {self.root}, cgroup parent {self.cgroup_parent}, netns {self.netns}")
        with open(self.root / "daemon.log", "ab") as dlog:
            self.daemon = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.netns}", self.orch, "daemon",
                 "--cgroup-parent", self.cgroup_parent],
                env=self.env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=dlog, stderr=dlog,
                start_new_session=True)
        try:
            poll(lambda: self.sock.exists() and self.cli("version", check=False).returncode == 0, 30,
                 interval=0.1, what="the orch daemon")
        except BenchError:
            tail = (self.root / "daemon.log").read_text().strip().splitlines()[-1:]
            raise BenchError(f"orch daemon did not come up: {tail}") from None
        info = json.loads(self.cli("info", "--format", "{{json .}}").stdout or "{}")
        self.spawner_pid = int(info.get("SpawnerPid") or 0)
        run([self.python, "-m", "agent.runtime.busybox_rootfs", str(self.busybox_tar)], cwd=str(REPO))
        self.cli("image", "import", str(self.busybox_tar), "busybox:latest")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.orch, *args], check=check, env=self.env, cwd=str(REPO), timeout=120)

    def remove_all(self) -> None:
        """Containers by the CLI (the gRPC stub is not used here), then the networks."""
        if self.daemon is None or self.daemon.poll() is not None:
            return
        with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
            ids = self.cli("ps", "-aq", check=False).stdout.split()
            if ids:
                self.cli("rm", "-f", *ids, check=False)
            nets = self.cli("network", "ls", "-q", "--filter", "type=custom", check=False).stdout.split()
            if nets:
                self.cli("network", "rm", *nets, check=False)


class NetLab:
    """Namespaces, a daemon in the host one, busybox imported and one bridge network created."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.ns = Namespaces(self.tag)
        self.orch: NetnsOrchEnv | None = None
        self.network = f"obn-{self.tag}"

    def __enter__(self) -> NetLab:
        try:
            self.ns.create()
            self.orch = NetnsOrchEnv(self.ns.host, self.tag)
            self.orch.start()
            self.orch.cli("network", "create", "--subnet", self.ns.subnet, self.network)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.orch is not None:
                self.orch.close()
        finally:
            self.ns.destroy()
            left = [n for n in os.listdir("/run/netns") if self.tag in n] if os.path.isdir("/run/netns") else []
            if left:
                log(f"namespaces left behind: {left}")

    @property
    def env(self) -> NetnsOrchEnv:
        assert self.orch is not None
        return self.orch

    def run_httpd(self, name: str, host_port: int) -> float:
        """``orch run -d -p`` an httpd; returns the CLI's wall time in ms."""
        t0 = time.perf_counter()
        self.env.cli("run", "-d", "--name", name, "--network", self.network,
                     "-p", f"{host_port}:{CONTAINER_PORT}", "busybox", *HTTPD)
        return (time.perf_counter() - t0) * 1000

    def container_ip(self, name: str) -> str:
        data = json.loads(self.env.cli("inspect", name).stdout)[0]
        return str(data["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def in_client(self, fn: Any, *args: Any) -> Any:
        from agent.network.netlink import run_in_netns

        return run_in_netns(self.ns.path(self.ns.client), fn, *args)


# --------------------------------------------------------------------------- probes


def http_ok(ip: str, port: int, timeout: float = 0.5) -> bool:
    """One HTTP/1.0 GET; True on a 200 status line (busybox answers HTTP/1.1). Call it inside the client namespace."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            status = s.recv(64).split(b"\r\n", 1)[0].split()
            return len(status) >= 2 and status[0].startswith(b"HTTP/") and status[1] == b"200"
    except OSError:
        return False


def wait_answering(ip: str, port: int, timeout: float) -> tuple[float, int] | None:
    """(seconds, attempts) until ``http_ok`` first holds, polling back to back; None past ``timeout``.

    Runs entirely inside the client namespace (one helper thread per sample). A refused connection
    comes back at once (RST from the host namespace before the DNAT rule exists, from the container
    before httpd listens), so the loop's resolution is one connect round trip, well under 1 ms.
    """
    t0 = time.perf_counter()
    attempts = 0
    while time.perf_counter() - t0 < timeout:
        attempts += 1
        if http_ok(ip, port):
            return time.perf_counter() - t0, attempts
        time.sleep(0.0005)
    return None


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict[str, float]:
    """Requests/s, p50/p99 latency (ms), requests and socket errors from ``wrk --latency`` output."""
    res: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError(f"wrk printed no Requests/sec: {out.strip().splitlines()[-1:] if out else ''}")
    res["rps"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            res[f"p{pct}"] = float(m.group(1)) * _UNITS[m.group(2)]
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["errors"] = float(sum(int(x) for x in m.groups())) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = float(m.group(1)) if m else 0.0
    return res


PORT_RANGES = {"direct": (1024, 21999), "published": (22000, 43999), "mesh": (44000, 65535)}
MESH_PORT = 8090


def wrk(lab: NetLab, url: str, seconds: int, threads: int, conns: int) -> dict[str, float]:
    p = run(["ip", "netns", "exec", lab.ns.client, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
             "--timeout", "5s", "--latency", url], timeout=seconds + 60)
    return parse_wrk(p.stdout)


# --------------------------------------------------------------------------- sections


def bench_throughput(lab: NetLab, report: Report, quick: bool) -> list[tuple[str, bool, str]]:
    rounds, seconds = (3, 5) if quick else (7, 10)
    # 8 connections: busybox httpd listens with a tiny backlog (9); with 32 its accept queue overflows,
    # SYNs are dropped and wait 1 s for a retransmit, which measures the backlog, not the network path.
    threads, conns = 2, 8
    name = f"web-{lab.tag}"
    lab.run_httpd(name, THROUGHPUT_PORT)
    direct_ip = lab.container_ip(name)
    # the routing mesh: a 2-replica service whose ingress port the node balances (nft numgen) to the
    # tasks' ingress addresses, SNATed to the node's own ingress address
    lab.env.cli("service", "create", "-d", "--name", name + "-svc", "--replicas", "2", "-p",
                f"{MESH_PORT}:{CONTAINER_PORT}", "busybox", *HTTPD)
    urls = {"direct": f"http://{direct_ip}:{CONTAINER_PORT}/",
            "published": f"http://{lab.ns.host_ip}:{THROUGHPUT_PORT}/",
            "mesh": f"http://{lab.ns.host_ip}:{MESH_PORT}/"}
    for what, url in urls.items():
        ip, port = url.split("/")[2].split(":")
        if lab.in_client(wait_answering, ip, int(port), 30.0) is None:
            raise BenchError(f"the httpd does not answer {what} at {ip}:{port} from the client namespace")
    log(f"wrk -t{threads} -c{conns} -d{seconds}s, {rounds} alternating rounds; direct {urls['direct']}, "
        f"published {urls['published']}")
    lab.ns.port_range(*PORT_RANGES["direct"])
    wrk(lab, urls["direct"], 2, threads, conns)  # warm-up: page cache, conntrack, ARP
    results: dict[str, list[dict[str, float]]] = {k: [] for k in urls}
    for i in range(rounds):
        order = list(urls) if i % 2 == 0 else list(reversed(urls))
        for what in order:
            lab.ns.port_range(*PORT_RANGES[what])
            r = wrk(lab, urls[what], seconds, threads, conns)
            results[what].append(r)
            log(f"round {i + 1} {what}: {r['rps']:.0f} req/s, p99 {r.get('p99', float('nan')):.2f} ms, "
                f"errors {r['errors']:.0f}, non-2xx {r['non2xx']:.0f}")
    lab.env.cli("rm", "-f", name)
    lab.env.cli("service", "rm", name + "-svc")

    rps = Table(f"(n1) HTTP requests/s to busybox httpd, wrk -t{threads} -c{conns} -d{seconds}s from another "
                "netns (higher is better)", baseline="direct (container IP)")
    lat = Table("(n1) p99 latency of the same runs (lower is better)", baseline="direct (container IP)")
    labels = {"direct": "direct (container IP)", "published": "published (host IP, nft DNAT)",
              "mesh": "routing mesh (service -p, 2 replicas, nft numgen DNAT + SNAT over ingress)"}
    for what, rs in results.items():
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        note = f"{errs:.0f} socket errors/non-2xx" if errs else ""
        rps.add(Sample(labels[what], [r["rps"] for r in rs], unit="req/s", note=note))
        lat.add(Sample(labels[what], [r["p99"] for r in rs if "p99" in r], unit="ms"))
    rps.notes.append("busybox httpd closes the connection after each response, so every request is a new "
                     "TCP connection: a new conntrack entry, and for the published port a DNAT lookup.")
    # Each round runs both paths back to back, so a round's ratio is taken under the same background
    # load; its median is steadier than the ratio of the two medians on a shared 2-core machine.
    paired = [p["rps"] / d["rps"] for d, p in zip(results["direct"], results["published"], strict=True)]
    paired_p99 = [p["p99"] / d["p99"] for d, p in zip(results["direct"], results["published"], strict=True)
                  if "p99" in p and "p99" in d]
    rps.notes.append(f"Per-round published/direct: {', '.join(f'{x:.2f}' for x in paired)}; "
                     f"median {statistics.median(paired):.2f}x.")
    if paired_p99:
        lat.notes.append(f"Per-round published/direct: {', '.join(f'{x:.2f}' for x in paired_p99)}; "
                         f"median {statistics.median(paired_p99):.2f}x.")
    mesh_paired = [m["rps"] / d["rps"] for d, m in zip(results["direct"], results["mesh"], strict=True)]
    rps.notes.append(f"Per-round mesh/direct: {', '.join(f'{x:.2f}' for x in mesh_paired)}; "
                     f"median {statistics.median(mesh_paired):.2f}x (the mesh spreads over 2 httpds, "
                     "so it may exceed one direct httpd).")
    report.add(rps)
    report.add(lat)
    r_rps = rps.ratio(rps.samples[1]) or 0.0
    r_p99 = lat.ratio(lat.samples[1]) or float("nan")
    r_mesh = rps.ratio(rps.samples[2]) or 0.0
    return [("published port requests/s >= 0.9 of direct", r_rps >= 0.9,
             f"{r_rps:.2f}x of the medians, per-round median {statistics.median(paired):.2f}x; "
             f"p99 {r_p99:.2f}x of direct"),
            ("routing mesh requests/s >= 0.9 of direct", r_mesh >= 0.9,
             f"{r_mesh:.2f}x of the medians, per-round median {statistics.median(mesh_paired):.2f}x")]


def bench_readiness(lab: NetLab, report: Report, quick: bool) -> list[tuple[str, bool, str]]:
    runs = 10 if quick else 20
    ready: list[float] = []
    cli: list[float] = []
    timeouts = first_try = 0
    for i in range(runs):
        name = f"rdy-{lab.tag}-{i}"
        port = READY_FIRST_PORT + i
        cli.append(lab.run_httpd(name, port))
        got = lab.in_client(wait_answering, lab.ns.host_ip, port, 10.0)
        if got is None:
            timeouts += 1
        else:
            ready.append(got[0] * 1000)
            first_try += got[1] == 1
        lab.env.cli("rm", "-f", name)
    table = Table("(n2) `orch run -d -p` returned -> published port answers HTTP (from another netns)")
    table.add(Sample("run returned -> port answers", ready,
                     note=f"{timeouts} never answered within 10 s" if timeouts else ""))
    table.add(Sample("`orch run -d -p ... httpd` itself (CLI wall time)", cli))
    table.notes.append(f"{first_try} of {len(ready)} answered the first request (already listening when the CLI "
                       "exited); polling is back to back, one connect per attempt, from the client namespace.")
    report.add(table)
    med = statistics.median(ready) if ready else float("nan")
    return [("published port answers soon after `orch run -d` returns", not timeouts,
             f"median {med:.1f} ms over {len(ready)} runs, {timeouts} timeouts")]


def bench_network(lab: Any) -> None:
    """The ``network`` section for bench/run.py: needs ``lab.report``, ``lab.quick``, ``lab.verdict``."""
    for what, ok, detail in measure(lab.report, lab.quick):
        lab.verdict(what, ok, detail)


def measure(report: Report, quick: bool) -> list[tuple[str, bool, str]]:
    if not have("wrk"):
        raise BenchError("wrk is not installed (apt-get install wrk)")
    verdicts: list[tuple[str, bool, str]] = []
    with NetLab() as lab:
        report.facts["network lab"] = (f"netns {lab.ns.host} (daemon) <-veth-> {lab.ns.client} (wrk), "
                                       f"bridge network {lab.ns.subnet}")
        p = run(["wrk", "--version"], check=False)
        report.facts["wrk"] = ((p.stdout or p.stderr).strip().splitlines() or ["?"])[0]
        verdicts += bench_throughput(lab, report, quick)
        verdicts += bench_readiness(lab, report, quick)
    return verdicts


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/network.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter wrk runs and 10 readiness samples")
    ap.add_argument("--out", type=Path, help="also write the tables as markdown (and .json) to this file")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/network.py: needs root (namespaces, cgroups, nftables)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    report = Report()
    report.facts.update(machine_facts())
    report.facts["mode"] = "quick" if args.quick else "full"
    try:
        verdicts = measure(report, args.quick)
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted (everything started was cleaned up)", file=sys.stderr)
        return 130
    for what, ok, detail in verdicts:
        print(f"{'MET' if ok else 'MISSED'}: {what} ({detail})")
    if args.out:
        report.write(args.out)
        log(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
