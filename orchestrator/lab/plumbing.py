"""Kernel plumbing for ``orch lab``: namespaces, links, processes, mounts and cgroups.

Every function is idempotent and tolerant of what is already gone, so ``lab down`` can run after a
half-made ``lab up`` or a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class PlumbingError(Exception):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise PlumbingError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def add_netns(name: str) -> None:
    if not netns_exists(name):
        ip("netns", "add", name)
    ip("-n", name, "link", "set", "lo", "up")


def delete_netns(name: str) -> None:
    if netns_exists(name):
        ip("netns", "delete", name, check=False)


def add_bridge(ns: str, bridge: str) -> None:
    if ip("-n", ns, "link", "show", bridge, check=False).returncode != 0:
        ip("-n", ns, "link", "add", bridge, "type", "bridge")
    ip("-n", ns, "link", "set", bridge, "up")


def plug_host(lab_ns: str, bridge: str, host_ns: str, port: str, addr: str) -> None:
    """A veth from the underlay bridge to ``eth0`` in the host's namespace, with ``addr``."""
    if ip("-n", lab_ns, "link", "show", port, check=False).returncode != 0:
        ip("-n", lab_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host_ns)
    ip("-n", lab_ns, "link", "set", port, "master", bridge, "up")
    if addr not in ip("-n", host_ns, "-o", "addr", "show", "dev", "eth0").stdout:
        ip("-n", host_ns, "addr", "add", addr, "dev", "eth0")
    ip("-n", host_ns, "link", "set", "eth0", "up")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pids_in_netns(name: str) -> list[int]:
    """Processes whose network namespace is ``name`` (the daemon, its spawner, helpers)."""
    try:
        target = os.stat(netns_path(name))
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            out.append(int(entry))
    return out


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def unmount_under(*paths: Path) -> None:
    prefixes = tuple(str(p).rstrip("/") + "/" for p in paths)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for mp in sorted((m for m in points if m.startswith(prefixes)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False, capture_output=True)


def remove_cgroups(parent: str) -> None:
    """Kill what is left in ``parent`` under every controller and remove its directories."""
    if not parent.strip("/"):
        return
    for ctrl in CGROUP_ROOT.iterdir():
        top = ctrl / parent
        if not top.is_dir():
            continue
        dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda p: len(str(p)), reverse=True) + [top]
        for d in dirs:
            try:
                kill([int(p) for p in (d / "cgroup.procs").read_text().split()])
            except (OSError, ValueError):
                pass
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass
