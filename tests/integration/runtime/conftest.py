"""A real orch daemon for the runtime tests: its own state dir, run dir, cgroup parent and network namespace.

The daemon runs inside a throwaway network namespace (tests/integration/network_cli/hostns.py), so the
default bridge, nft table and DNS listeners it creates never touch the machine's network; its DNS
forwarder has no upstream (ORCH_DNS_UPSTREAMS="").

One daemon per test session (starting one costs ~0.3 s); every test names its containers with
a unique prefix. Teardown removes every container, stops the daemon and the spawner, unmounts
anything left under the state dir and removes the cgroup parent — also when tests fail.
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

ROOT = Path(__file__).resolve().parents[3]
ORCH = [sys.executable, "-m", "orchestrator.cli.main"]


from tests.integration.network_cli import hostns  # noqa: E402


def eventually(pred: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


class Orchd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.tag = "t" + secrets.token_hex(3)
        self.state = base / "state"
        self.run_dir = base / "run"
        self.sock = self.run_dir / "orch.sock"
        self.cgroup_parent = f"orch-test-{self.tag}"
        self.env = dict(os.environ, ORCH_STATE_DIR=str(self.state), ORCH_RUN_DIR=str(self.run_dir),
                        ORCH_HOST=f"unix://{self.sock}", ORCH_CGROUP_PARENT=self.cgroup_parent,
                        ORCH_DNS_UPSTREAMS="", PYTHONPATH=str(ROOT))
        self.proc: subprocess.Popen[bytes] | None = None
        self.netns = hostns.HostNetns(self.tag)

    def start(self) -> None:
        if not self.netns.created:
            self.netns.create()
        self.log = open(self.base / "daemon.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.netns.cmd(*ORCH, "daemon"), env=self.env, stdout=self.log,
                                     stderr=self.log, cwd=str(ROOT), start_new_session=True)
        eventually(lambda: self.sock.exists() and self.orch("version").returncode == 0, timeout=20)

    def kill(self) -> None:
        """SIGKILL the daemon (not the spawner): a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def orch(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORCH, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=input.decode() if input is not None else None, cwd=str(ROOT))

    def ok(self, *args: str, timeout: float = 60) -> str:
        r = self.orch(*args, timeout=timeout)
        assert r.returncode == 0, f"orch {' '.join(args)} failed ({r.returncode}): {r.stderr}"
        return r.stdout

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
            self.netns.destroy()
            shutil.rmtree(self.base, ignore_errors=True)


def mounts_under(path: Path) -> list[str]:
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mp = line.split()[1]
            if mp.startswith(str(path)):
                out.append(mp)
    return out


def cgroup_dirs(parent: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [d / parent for d in root.iterdir() if (d / parent).is_dir()]


def _cleanup_kernel(state: Path, cgroup_parent: str) -> None:
    for mp in sorted(mounts_under(state), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)
    for d in cgroup_dirs(cgroup_parent):
        for child in sorted(d.rglob("*"), key=lambda p: len(str(p)), reverse=True):
            if child.is_dir():
                procs = child / "cgroup.procs"
                try:
                    for pid in procs.read_text().split():
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
def orchd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchd]:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, cgroups, mounts)")
    base = Path(tmp_path_factory.mktemp("orchd"))
    d = Orchd(base)
    try:
        d.start()
        d.ok("image", "import", str(busybox_tar(base)), "busybox:latest")
        yield d
    finally:
        d.teardown()
