"""A real orch daemon inside a throwaway network namespace, for the network CLI tests.

One daemon per session, started as ``nsenter --net=<host netns> orch daemon`` with its own state dir,
run dir and cgroup parent; its DNS forwarder's upstream is a dnslib server the fixture runs in the
"outside" namespace (ORCH_DNS_UPSTREAMS), never the machine's resolver. Teardown removes every
container and network through the CLI, stops the daemon and the spawner, unmounts what is left under the
state dir, removes the cgroups and deletes both namespaces -- also when tests fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .hostns import OUTSIDE_IP, HostNetns, UpstreamDns, assert_no_leftover_netns

ROOT = Path(__file__).resolve().parents[3]
ORCH = [sys.executable, "-m", "orchestrator.cli.main"]
UPSTREAM_RECORDS = {"www.example.test": "10.231.0.80"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/network_cli" in str(item.fspath):
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="needs root (namespaces, cgroups, nftables)"))


def eventually(pred: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


class Orchd:
    def __init__(self, base: Path, ns: HostNetns, tag: str) -> None:
        self.base = base
        self.ns = ns
        self.tag = tag
        self.state = base / "state"
        self.run_dir = base / "run"
        self.sock = self.run_dir / "orch.sock"
        self.cgroup_parent = f"orch-test-{tag}"
        self.env = dict(os.environ, ORCH_STATE_DIR=str(self.state), ORCH_RUN_DIR=str(self.run_dir),
                        ORCH_HOST=f"unix://{self.sock}", ORCH_CGROUP_PARENT=self.cgroup_parent,
                        ORCH_DNS_UPSTREAMS=f"{OUTSIDE_IP}:53", PYTHONPATH=str(ROOT))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log = open(self.base / "daemon.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.ns.cmd(*ORCH, "daemon"), env=self.env, stdout=self.log,
                                     stderr=self.log, cwd=str(ROOT), start_new_session=True)
        eventually(lambda: self.sock.exists() and self.orch("version").returncode == 0, timeout=20)

    def kill(self) -> None:
        """SIGKILL the daemon (not the spawner): a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def orch(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORCH, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=str(ROOT))

    def ok(self, *args: str, timeout: float = 60) -> str:
        r = self.orch(*args, timeout=timeout)
        assert r.returncode == 0, f"orch {' '.join(args)} failed ({r.returncode}): {r.stderr}"
        return r.stdout

    def fails(self, *args: str) -> str:
        """Run a command that must fail; returns its stderr (asserted to be one line)."""
        r = self.orch(*args)
        assert r.returncode != 0, f"orch {' '.join(args)} unexpectedly succeeded: {r.stdout}"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected a one-line error, got: {r.stderr!r}"
        return lines[0]

    def name(self, what: str) -> str:
        return f"{self.tag}-{what}-{secrets.token_hex(2)}"

    def spawner_pid(self) -> int | None:
        from agent.runtime.spawn_client import SpawnerClient

        try:
            return int(SpawnerClient(str(self.run_dir / "spawner.sock")).request({"op": "ping"})["pid"])
        except Exception:  # noqa: BLE001
            return None

    def teardown(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                ids = self.orch("ps", "-aq", timeout=30).stdout.split()
                if ids:
                    self.orch("rm", "-f", *ids, timeout=60)
                custom = self.orch("network", "ls", "-q", "--filter", "type=custom").stdout.split()
                if custom:
                    self.orch("network", "rm", *custom)
        finally:
            spid = self.spawner_pid()
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            if spid:
                os.kill(spid, signal.SIGKILL)
            _cleanup_kernel(self.state, self.cgroup_parent)
            shutil.rmtree(self.base, ignore_errors=True)


def _cleanup_kernel(state: Path, cgroup_parent: str) -> None:
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(str(state))]
    for mp in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)
    root = Path("/sys/fs/cgroup")
    for d in [d / cgroup_parent for d in root.iterdir() if (d / cgroup_parent).is_dir()]:
        for child in sorted(d.rglob("*"), key=lambda p: len(str(p)), reverse=True):
            if child.is_dir():
                try:
                    for pid in (child / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
                try:
                    child.rmdir()
                except OSError:
                    pass
        try:
            d.rmdir()
        except OSError:
            pass


def busybox_tar(tmp: Path) -> Path:
    built = ROOT / "build" / "busybox.tar"
    if built.exists():
        return built
    out = tmp / "busybox.tar"
    subprocess.run([sys.executable, "-m", "agent.runtime.busybox_rootfs", str(out)], check=True, cwd=str(ROOT))
    return out


@pytest.fixture(scope="session")
def hostns() -> Iterator[HostNetns]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "t" + secrets.token_hex(3)
    ns = HostNetns(tag)
    try:
        ns.create()
        yield ns
    finally:
        ns.destroy()
        assert_no_leftover_netns(tag)


@pytest.fixture(scope="session")
def upstream(hostns: HostNetns) -> Iterator[UpstreamDns]:
    server = UpstreamDns(hostns.outside_path, OUTSIDE_IP, UPSTREAM_RECORDS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def orchd(tmp_path_factory: pytest.TempPathFactory, hostns: HostNetns, upstream: UpstreamDns) -> Iterator[Orchd]:
    base = Path(tmp_path_factory.mktemp("orchd-net"))
    d = Orchd(base, hostns, hostns.host[:-1])
    try:
        d.start()
        d.ok("image", "import", str(busybox_tar(base)), "busybox:latest")
        yield d
    finally:
        d.teardown()
