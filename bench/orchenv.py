"""An isolated orch daemon for the benchmarks: its own state dir, run dir, socket and cgroup parent.

Nothing here touches /var/lib/orch or /run/orch. The daemon is started by hand (so the CLI never
auto-starts another one), in a network namespace of its own (its bridge, firewall tables and ports
stay private to the run and vanish with it), the busybox image is built with ``agent.runtime.busybox_rootfs`` and
imported, and ``close()`` removes every container, stops the daemon and the spawner by pid,
unmounts whatever is left under the state dir, removes the cgroup parent and deletes the dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc

from bench.common import BenchError, log, poll, run
from proto.orch.v1 import engine_pb2 as pb
from proto.orch.v1 import engine_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
IMAGE = "busybox:latest"
RPC_TIMEOUT = 30.0  # every call has a deadline: a blocked gRPC call does not even see SIGTERM
WAIT_TIMEOUT = 10.0  # /bin/true exits at once; a longer wait means the daemon lost the exit


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL one process we started (never by name)."""
    if pid <= 0 or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    try:
        poll(lambda: not _alive(pid) or _zombie(pid), timeout, what=f"pid {pid} to exit")
    except BenchError:
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def unmount_under(root: Path) -> None:
    """Lazily unmount every mount point below ``root``, deepest first."""
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    for mp in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


class OrchEnv:
    """A running orch daemon in ``/tmp/orch-bench-<hex>``; use as a context manager."""

    def __init__(self, root: Path | None = None) -> None:
        tag = secrets.token_hex(3)
        self.root = root or Path(f"/tmp/orch-bench-{tag}")
        self.state_dir = self.root / "state"
        self.run_dir = self.root / "run"
        self.sock = self.run_dir / "orch.sock"
        self.cgroup_parent = f"orch-bench-{tag}"
        self.python = sys.executable
        self.orch = str(Path(sys.executable).parent / "orch")
        self.env = dict(os.environ, ORCH_STATE_DIR=str(self.state_dir), ORCH_RUN_DIR=str(self.run_dir),
                        ORCH_HOST=f"unix://{self.sock}")
        self.daemon: subprocess.Popen[bytes] | None = None
        self.spawner_pid = 0
        self.busybox_tar = self.root / "busybox.tar"
        self._channel: grpc.Channel | None = None
        self.stub: Any = None
        self.lost_exits: list[str] = []  # containers whose exit the daemon never recorded

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> OrchEnv:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.root.mkdir(parents=True)
        log(f"orch: state in {self.root}, cgroup parent {self.cgroup_parent}")
        dlog = open(self.root / "daemon.log", "ab")
        # A private network namespace: the daemon's bridge, nft tables, DNS listeners and Raft port
        # then cannot collide with other daemons on the host (nor outlive this run); `none`
        # containers get their own namespace either way, so the measured path is the same.
        daemon = [self.python, "-m", "orchestrator.cli.main", "daemon", "--cgroup-parent", self.cgroup_parent]
        if shutil.which("unshare") and shutil.which("ip"):  # sh execs the daemon: its pid stays Popen's
            daemon = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "orchd", *daemon]
        self.daemon = subprocess.Popen(
            daemon,
            env=self.env, cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=dlog, stderr=dlog,
            start_new_session=True)
        dlog.close()
        self._channel = grpc.insecure_channel(f"unix://{self.sock}")
        self.stub = engine_pb2_grpc.EngineStub(self._channel)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            tail = (self.root / "daemon.log").read_text().strip().splitlines()[-1:]
            raise BenchError(f"orch daemon did not come up: {tail}") from None
        info = json.loads(self.stub.Info(pb.Empty(), timeout=RPC_TIMEOUT).json)
        self.spawner_pid = int(info.get("SpawnerPid") or 0)
        run([self.python, "-m", "agent.runtime.busybox_rootfs", str(self.busybox_tar)], cwd=str(REPO))
        run([self.orch, "image", "import", str(self.busybox_tar), IMAGE], env=self.env, cwd=str(REPO))

    @property
    def daemon_pid(self) -> int:
        return self.daemon.pid if self.daemon else 0

    def remove_all(self) -> None:
        if self.stub is None:
            return
        try:
            for c in self.stub.ContainerList(pb.ContainerListRequest(all=True), timeout=RPC_TIMEOUT).containers:
                try:
                    self.stub.ContainerRemove(pb.RemoveRequest(id=c.id, force=True), timeout=RPC_TIMEOUT)
                except grpc.RpcError:
                    pass
        except grpc.RpcError:
            pass

    def close(self) -> None:
        self.remove_all()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.daemon is not None:
            stop_pid(self.daemon.pid)
            try:
                self.daemon.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        stop_pid(self.spawner_pid or self._find_spawner())
        if self.root.exists():
            unmount_under(self.root)
        self._remove_cgroups()
        shutil.rmtree(self.root, ignore_errors=True)

    def _find_spawner(self) -> int:
        """The spawner serving this run dir, when the daemon died before telling us its pid."""
        needle = f"--socket\0{self.run_dir}/spawner.sock".encode()
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if needle in (p / "cmdline").read_bytes():
                        return int(p.name)
                except OSError:
                    continue
        return 0

    def _remove_cgroups(self) -> None:
        base = Path("/sys/fs/cgroup")
        for d in [*base.glob(f"*/{self.cgroup_parent}"), base / self.cgroup_parent]:
            if not d.is_dir():
                continue
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(str(p)), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
            try:
                d.rmdir()
            except OSError:
                pass

    # --- calls -------------------------------------------------------------------------------
    def create(self, cmd: list[str]) -> str:
        spec = pb.ContainerSpec(image=IMAGE, cmd=cmd, stop_timeout=-1, network_mode="none")
        return str(self.stub.ContainerCreate(spec, timeout=RPC_TIMEOUT).id)

    def start_container(self, cid: str) -> None:
        self.stub.ContainerStart(pb.ContainerRef(id=cid), timeout=RPC_TIMEOUT)

    def wait(self, cid: str) -> int:
        """The exit code; -1 (and the id noted in ``lost_exits``) when the daemon never records the exit."""
        try:
            return int(self.stub.ContainerWait(pb.ContainerRef(id=cid), timeout=WAIT_TIMEOUT).exit_code)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                raise
            self.lost_exits.append(cid)
            log(f"orch: no exit recorded for {cid[:12]} after {WAIT_TIMEOUT:.0f} s (lost exit event)")
            return -1

    def remove(self, cid: str) -> None:
        self.stub.ContainerRemove(pb.RemoveRequest(id=cid, force=True), timeout=RPC_TIMEOUT)

    def discard(self, cid: str) -> None:
        """Remove between samples; a failure (a container whose exit was lost) is logged, not fatal."""
        try:
            self.remove(cid)
        except grpc.RpcError as e:
            log(f"orch: rm -f {cid[:12]} failed: {e.details()}")  # type: ignore[attr-defined]

    def running_count(self) -> int:
        cs = self.stub.ContainerList(pb.ContainerListRequest(all=False), timeout=RPC_TIMEOUT).containers
        return sum(1 for c in cs if c.state == "running")

    def memcg_usage_kb(self) -> int:
        """Memory charged to all of orch's container cgroups (v1 parent's usage, or v2 memory.current)."""
        for f in (Path("/sys/fs/cgroup/memory") / self.cgroup_parent / "memory.usage_in_bytes",
                  Path("/sys/fs/cgroup") / self.cgroup_parent / "memory.current"):
            try:
                return int(f.read_text()) // 1024
            except (OSError, ValueError):
                continue
        return 0
