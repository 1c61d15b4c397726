"""A throwaway Docker 20.10 (Debian's docker.io) for the side-by-side `run --rm` comparison.

containerd and dockerd are started by hand with every path under one temporary directory (root,
state, sockets, data-root, exec-root, pid file), so nothing of the host's own Docker, if any, is
touched. dockerd runs with ``--iptables=false --ip6tables=false --bridge=none``: it then creates
no docker0 bridge and no iptables chains, and containers get only a loopback interface, which is
what ``orch run`` gives by default (network ``none``), so the two are compared like for like.
``close()`` stops both by pid, unmounts what is left below the directory, removes it, and, in case
a Docker did add them anyway, deletes the DOCKER-* chains it leaves behind.

If docker.io is not installed or dockerd does not come up in bounded time, ``Dockerd.start``
raises BenchError and the caller falls back to the reference figure, clearly marked as such.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from bench.common import BenchError, have, log, poll, run
from bench.orchenv import stop_pid, unmount_under

DOCKER_CLI = "/usr/bin/docker"  # Debian's 20.10 CLI; a newer one may sit in /usr/local/bin
IMAGE = "busybox:orchbench"


class Dockerd:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(f"/tmp/orch-bench-docker-{secrets.token_hex(3)}")
        self.sock = self.root / "docker.sock"
        self.csock = self.root / "containerd.sock"
        self.containerd: subprocess.Popen[bytes] | None = None
        self.dockerd: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")

    def __enter__(self) -> Dockerd:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, timeout: float = 30.0) -> None:
        for prog in ("dockerd", "containerd", DOCKER_CLI):
            if not have(prog):
                raise BenchError(f"{prog} is not installed (apt-get install docker.io)")
        self.root.mkdir(parents=True)
        cfg = self.root / "containerd.toml"
        cfg.write_text(
            "version = 2\n"
            f'root = "{self.root}/containerd-root"\n'
            f'state = "{self.root}/containerd-state"\n'
            f'[grpc]\n  address = "{self.csock}"\n'
            f'[ttrpc]\n  address = "{self.csock}.ttrpc"\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n  disable = true\n')
        clog = open(self.root / "containerd.log", "ab")
        self.containerd = subprocess.Popen(["containerd", "--config", str(cfg)], stdout=clog, stderr=clog,
                                           stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
        clog.close()
        poll(self.csock.exists, timeout, what="containerd's socket")
        dlog = open(self.root / "dockerd.log", "ab")
        self.dockerd = subprocess.Popen(
            ["dockerd", "-H", f"unix://{self.sock}", "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
             "--containerd", str(self.csock), "--iptables=false", "--ip6tables=false", "--bridge=none",
             "--storage-driver", "overlay2"],
            stdout=dlog, stderr=dlog, stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
        dlog.close()

        def ready() -> bool:
            if self.dockerd is not None and self.dockerd.poll() is not None:
                raise BenchError(f"dockerd exited: {self._log_tail()}")
            return subprocess.run([DOCKER_CLI, "info"], env=self.env, capture_output=True).returncode == 0

        try:
            poll(ready, timeout, interval=0.2, what="dockerd")
        except BenchError as e:
            raise BenchError(f"{e} ({self._log_tail()})") from None
        log(f"dockerd {self.version()} up in {self.root}")

    def _log_tail(self) -> str:
        try:
            return (self.root / "dockerd.log").read_text().strip().splitlines()[-1]
        except (OSError, IndexError):
            return ""

    def version(self) -> str:
        return run([DOCKER_CLI, "version", "--format", "{{.Server.Version}}"], env=self.env).stdout.strip()

    def import_image(self, tar: Path) -> None:
        with open(tar, "rb") as f:
            p = subprocess.run([DOCKER_CLI, "import", "-", IMAGE], stdin=f, env=self.env, capture_output=True,
                               text=True)
        if p.returncode != 0:
            raise BenchError(f"docker import failed: {p.stderr.strip()}")

    def close(self) -> None:
        if self.dockerd is not None and self.dockerd.poll() is None:
            ids = subprocess.run([DOCKER_CLI, "ps", "-aq"], env=self.env, capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run([DOCKER_CLI, "rm", "-f", *ids], env=self.env, capture_output=True)
        for proc in (self.dockerd, self.containerd):
            if proc is not None:
                stop_pid(proc.pid, timeout=15)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self._shim_cleanup()
        if self.root.exists():
            unmount_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
        _remove_docker_iptables()

    def _shim_cleanup(self) -> None:
        """Stop containerd-shim processes that serve our containerd (there should be none left)."""
        needle = str(self.csock).encode()
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                if (p / "comm").read_text().strip() == "containerd-shim" and needle in (p / "cmdline").read_bytes():
                    stop_pid(int(p.name), timeout=5)
            except OSError:
                continue


def _remove_docker_iptables() -> None:
    """Delete DOCKER-* chains and the jumps to them, if any exist (with --iptables=false there are none)."""
    if not have("iptables"):
        return
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()
        chains = [r.split()[1] for r in rules if r.startswith("-N DOCKER")]
        if not chains:
            continue
        for r in rules:
            parts = r.split()
            if r.startswith("-A ") and "-j" in parts and parts[parts.index("-j") + 1] in chains:
                subprocess.run(["iptables", "-t", table, "-D", *parts[1:]], capture_output=True)
        for c in chains:
            subprocess.run(["iptables", "-t", table, "-F", c], capture_output=True)
        for c in chains:
            subprocess.run(["iptables", "-t", table, "-X", c], capture_output=True)
