"""Service VIPs across hosts and the routing mesh on a 3-manager, 2-worker lab (one lab per module)."""

from __future__ import annotations

import sys

import pytest

from .conftest import LabRun, eventually

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
ADDR = {"m1": "10.99.0.1", "w2": "10.99.0.102"}  # orch lab's underlay addresses


def running(lab: LabRun, service: str) -> list[str]:
    r = lab.orch("m1", "service", "ps", service, "-f", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
    return sorted(line.split()[0] for line in r.stdout.splitlines() if " Running " in f" {line} ") if r.returncode == 0 else []


def fetch(lab: LabRun, host: str, url: str) -> str:
    """An HTTP GET run in ``host``'s namespace (the node itself, not a container)."""
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=2).read().decode().strip())"
    r = lab.lab("exec", host, "--", sys.executable, "-c", code, timeout=20)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_mesh_port_reaches_tasks_on_another_node_and_vip_answers_across_hosts(lab: LabRun) -> None:
    eventually(lambda: "w2" in lab.ok("m1", "node", "ls"), timeout=30)
    lab.ok("m1", "network", "create", "-d", "overlay", "meshnet")
    try:
        lab.ok("m1", "service", "create", "-d", "--name", "mweb", "--replicas", "2", "--constraint",
               "node.hostname==w1", "--network", "meshnet", "--publish", "8090:80", "busybox", "sh", "-c", SERVE)
        lab.ok("m1", "service", "create", "-d", "--name", "mcli", "--constraint", "node.hostname==w2",
               "--network", "meshnet", "busybox", "sleep", "100000")
        eventually(lambda: running(lab, "mweb") == ["w1", "w1"] and running(lab, "mcli") == ["w2"], timeout=60)
        # the routing mesh: m1 and w2 run no task of mweb, yet accept its port and balance to w1
        for host, addr in (("m1", ADDR["m1"]), ("w2", ADDR["w2"]), ("w2", ADDR["m1"]), ("m1", "127.0.0.1")):
            seen: set[str] = set()

            def both(h: str = host, a: str = addr, s: set[str] = seen) -> bool:
                out = fetch(lab, h, f"http://{a}:8090/")
                if out:
                    s.add(out)
                return len(s) >= 2

            eventually(both, timeout=30)
        # the VIP on the overlay network: a task on w2 reaches the service on w1 through its name
        cid = lab.ok("w2", "ps", "-q", "--filter", "name=^mcli\\.").split()[0]
        vip = lab.ok("w2", "exec", cid, "nslookup", "mweb").split()[-1]
        tasks = lab.ok("w2", "exec", cid, "nslookup", "tasks.mweb").split()
        assert vip.startswith("10.") and vip not in tasks
        answers: set[str] = set()

        def via_vip() -> bool:
            r = lab.orch("w2", "exec", cid, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 mweb 80")
            if r.returncode == 0 and r.stdout.strip():
                answers.add(r.stdout.strip().splitlines()[-1])
            return len(answers) >= 2

        eventually(via_vip, timeout=30)
    finally:
        lab.orch("m1", "service", "rm", "mweb", "mcli")
        eventually(lambda: not running(lab, "mweb") and not running(lab, "mcli"), timeout=60)
        lab.orch("m1", "network", "rm", "meshnet")
