"""A lab: hosts (network namespaces with their own daemon) on an underlay bridge; see the package doc.

``Lab.up`` builds it and forms the cluster with real join tokens (m1's cluster of one is the
cluster; the other managers join one at a time, then the workers). ``kill``/``start`` stop and
revive one host's daemon only (its containers and spawner keep running, as on a crashed host).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import OrchError
from orchestrator.lab import plumbing
from orchestrator.membership import rpc

STATE_ROOT = Path(os.environ.get("ORCH_LAB_STATE", "/var/lib/orch-lab"))
RUN_ROOT = Path(os.environ.get("ORCH_LAB_RUN", "/run/orch-lab"))
SUBNET = "10.99.0"
PORT = 2377
BRIDGE = "ul0"
DEFAULT_NAME = "lab"
START_TIMEOUT = 30.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}$")
ROOT = Path(__file__).resolve().parents[2]


class LabError(Exception):
    """A one-line message for the user."""


@dataclass
class Host:
    name: str
    role: str  # what it was built as: manager | worker
    addr: str
    netns: str
    state_dir: str
    run_dir: str
    cgroup_parent: str
    pid: int = 0

    @property
    def socket(self) -> str:
        return f"unix://{self.run_dir}/orch.sock"

    @property
    def api(self) -> str:
        return f"{self.addr}:{PORT}"

    def env(self) -> dict[str, str]:
        """The environment that points the CLI at this host's daemon."""
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
        return dict(os.environ, ORCH_HOST=self.socket, ORCH_STATE_DIR=self.state_dir, ORCH_RUN_DIR=self.run_dir,
                    ORCH_CGROUP_PARENT=self.cgroup_parent, ORCH_HOSTNAME=self.name, ORCH_DNS_UPSTREAMS="",
                    PATH=path)

    def running(self) -> bool:
        if not plumbing.pid_alive(self.pid):
            return False
        try:
            return "daemon" in Path(f"/proc/{self.pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False


@dataclass
class Lab:
    name: str
    netns: str = ""
    hosts: list[Host] = field(default_factory=list)

    # -- records ------------------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME.match(name):
            raise LabError(f"invalid lab name {name!r}: 1-12 lowercase letters, digits or '-'")
        return name

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def record(self) -> Path:
        return self.state_dir / "lab.json"

    @classmethod
    def load(cls, name: str) -> Lab:
        path = STATE_ROOT / cls.check_name(name) / "lab.json"
        try:
            data = json.loads(path.read_text())
        except OSError:
            raise LabError(f"no lab named {name} (run `orch lab up --name {name}`)") from None
        return cls(name=data["name"], netns=data["netns"], hosts=[Host(**h) for h in data["hosts"]])

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": self.name, "netns": self.netns,
                                   "hosts": [asdict(h) for h in self.hosts]}, indent=1))
        os.replace(tmp, self.record)

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise LabError(f"lab {self.name} has no host {name} (hosts: {', '.join(h.name for h in self.hosts)})")

    # -- up -----------------------------------------------------------------------------------
    @classmethod
    def up(cls, name: str, managers: int, workers: int, progress: Callable[[str], None] = lambda s: None) -> Lab:
        cls.check_name(name)
        if managers < 1:
            raise LabError("a lab needs at least one manager")
        if managers + workers > 50:
            raise LabError("a lab has at most 50 hosts")
        if (STATE_ROOT / name / "lab.json").exists():
            raise LabError(f"lab {name} already exists (`orch lab down --name {name}` first)")
        lab = cls(name=name, netns=f"orchlab-{name}")
        specs = [(f"m{i}", "manager", i) for i in range(1, managers + 1)]
        specs += [(f"w{i}", "worker", 100 + i) for i in range(1, workers + 1)]
        for host, role, n in specs:
            lab.hosts.append(Host(name=host, role=role, addr=f"{SUBNET}.{n}", netns=f"orchlab-{name}-{host}",
                                  state_dir=str(lab.state_dir / host), run_dir=str(RUN_ROOT / name / host),
                                  cgroup_parent=f"orch-lab-{name}-{host}"))
        lab.save()  # first, so `down` finds whatever a failed `up` leaves
        try:
            lab._build(progress)
        except BaseException:
            progress("lab up failed; removing what it made")
            lab.down()
            raise
        return lab

    def _build(self, progress: Callable[[str], None]) -> None:
        plumbing.add_netns(self.netns)
        plumbing.add_bridge(self.netns, BRIDGE)
        for h in self.hosts:
            plumbing.add_netns(h.netns)
            plumbing.plug_host(self.netns, BRIDGE, h.netns, f"v-{h.name}", f"{h.addr}/24")
        progress(f"underlay {SUBNET}.0/24 with {len(self.hosts)} hosts")
        for h in self.hosts:
            self._spawn(h)
        self.save()
        image = self._busybox()
        for h in self.hosts:
            self._wait_daemon(h)
        imports = [subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "image", "import", str(image),
                                     "busybox:latest"], env=h.env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, cwd="/") for h in self.hosts]
        first = self.hosts[0]
        self._init(first)
        tokens = {role: self._call(first, "JoinToken", {"role": role}, START_TIMEOUT)["token"]
                  for role in ("manager", "worker")}
        progress(f"{first.name}: cluster initialized")
        for h in self.hosts[1:]:
            self._call(h, "JoinCluster", {"token": tokens[h.role], "remote": first.api}, 60)
            progress(f"{h.name}: joined as a {h.role}")
        for p in imports:
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise LabError(f"importing busybox failed: {err.decode().strip()}")
        progress("busybox:latest imported on every host")

    def _busybox(self) -> Path:
        built = ROOT / "build" / "busybox.tar"
        if built.exists():
            return built
        out = self.state_dir / "busybox.tar"
        if not out.exists():
            subprocess.run([sys.executable, "-m", "agent.runtime.busybox_rootfs", str(out)], check=True,
                           cwd=str(ROOT), capture_output=True)
        return out

    @staticmethod
    def _init(h: Host) -> None:
        """``orch cluster init --advertise-addr`` on the first manager (its daemon made the cluster of one)."""
        import grpc

        from proto.orch.v1 import control_pb2 as pb
        from proto.orch.v1 import control_pb2_grpc as cg

        with rpc.channel(h.socket) as ch:
            try:
                cg.ControlStub(ch).InitCluster(pb.InitClusterRequest(advertise_addr=h.api), timeout=START_TIMEOUT)
            except grpc.RpcError as err:
                raise LabError(f"{h.name}: cluster init failed: {err.details()}") from None  # type: ignore[attr-defined]

    # -- daemons ------------------------------------------------------------------------------
    def _spawn(self, h: Host) -> None:
        Path(h.state_dir).mkdir(parents=True, exist_ok=True)
        Path(h.run_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(h.state_dir) / "daemon.log", "ab") as log:
            proc = subprocess.Popen(
                ["nsenter", f"--net={plumbing.netns_path(h.netns)}", "--", sys.executable, "-m",
                 "orchestrator.cli.main", "daemon", "--state-dir", h.state_dir, "--run-dir", h.run_dir,
                 "--cgroup-parent", h.cgroup_parent, "--advertise-addr", h.api, "--hostname", h.name],
                env=h.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                close_fds=True, cwd="/")
        h.pid = proc.pid  # nsenter execs the command: this is the daemon's pid

    def _wait_daemon(self, h: Host) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._call(h, "Info", {}, 2)
                return
            except OrchError:
                pass
            if not plumbing.pid_alive(h.pid):
                raise LabError(f"{h.name}: the daemon exited (see {h.state_dir}/daemon.log)")
            if time.monotonic() > deadline:
                raise LabError(f"{h.name}: the daemon did not start in {START_TIMEOUT:g}s (see {h.state_dir}/daemon.log)")
            time.sleep(0.05)

    @staticmethod
    def _call(h: Host, method: str, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return rpc.call(h.socket, method, req, timeout=timeout)
        except OrchError as err:
            if method == "Info":
                raise
            raise LabError(f"{h.name}: {err}") from None

    def kill(self, host: str) -> None:
        h = self.host(host)
        if not h.running():
            raise LabError(f"{host}: its daemon is not running")
        os.kill(h.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while plumbing.pid_alive(h.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def start(self, host: str | None = None) -> list[str]:
        targets = [self.host(host)] if host else self.hosts
        started = []
        for h in targets:
            if h.running():
                if host:
                    raise LabError(f"{host}: its daemon is already running")
                continue
            self._spawn(h)
            started.append(h)
        self.save()
        for h in started:
            self._wait_daemon(h)
        return [h.name for h in started]

    # -- ls, exec -----------------------------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        rows = []
        for h in self.hosts:
            state, status, role = "stopped", "", h.role
            if h.running():
                state = "running"
                try:
                    info = rpc.call(h.socket, "Info", {}, timeout=2)
                    role = str(info.get("role") or role)
                    if role == "manager":
                        status = "Leader" if info.get("leader") else "Follower"
                except OrchError:
                    state = "starting"
            rows.append({"Name": h.name, "Address": h.addr, "Role": role, "State": state, "ManagerStatus": status,
                         "Pid": str(h.pid if state != "stopped" else ""), "Lab": self.name})
        return rows

    def exec_argv(self, host: str, argv: list[str]) -> tuple[list[str], dict[str, str]]:
        h = self.host(host)
        if not argv:
            raise LabError("lab exec needs a command (orch lab exec NODE -- CMD...)")
        return ["nsenter", f"--net={plumbing.netns_path(h.netns)}", "--", *argv], h.env()

    # -- down ---------------------------------------------------------------------------------
    def down(self) -> None:
        """Remove everything: processes, containers, mounts, cgroups, namespaces, links, state."""
        for h in self.hosts:
            plumbing.kill([p for p in [h.pid] if h.running()])
            plumbing.kill(plumbing.pids_in_netns(h.netns))
            plumbing.remove_cgroups(h.cgroup_parent)
        for h in self.hosts:
            plumbing.unmount_under(Path(h.state_dir), Path(h.run_dir))
            plumbing.remove_cgroups(h.cgroup_parent)
            plumbing.delete_netns(h.netns)
        plumbing.kill(plumbing.pids_in_netns(self.netns))
        plumbing.delete_netns(self.netns)
        shutil.rmtree(RUN_ROOT / self.name, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def names() -> list[str]:
    try:
        return sorted(d.name for d in STATE_ROOT.iterdir() if (d / "lab.json").exists())
    except OSError:
        return []
