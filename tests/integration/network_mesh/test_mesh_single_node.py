"""A single-node cluster: a VIP on an overlay network and the routing mesh, through the real kernel."""

from __future__ import annotations

import json

import pytest

from tests.integration.network_cli.hostns import HOST_IP
from tests.integration.services.conftest import cluster  # noqa: F401 - the fixture
from tests.integration.services.svchelpers import Cluster, eventually

pytestmark = pytest.mark.root

SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


def _fetch_outside(c: Cluster, url: str) -> str:
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=2).read().decode().strip())"
    r = c.netns.run("python3", "-c", code, outside=True, timeout=10)
    return r.stdout.strip() if r.returncode == 0 else ""


def test_vip_on_overlay_and_published_port_on_the_node(cluster: Cluster) -> None:  # noqa: F811
    c = cluster
    c.ok("network", "create", "-d", "overlay", "tmeshnet")
    try:
        c.ok("service", "create", "-d", "--name", "tmweb", "--replicas", "3", "--network", "tmeshnet",
             "--publish", "8088:80", "busybox", "sh", "-c", SERVE)
        c.ok("service", "create", "-d", "--name", "tmcli", "--network", "tmeshnet", "busybox", "sleep", "100000")
        eventually(lambda: len(c.running("tmweb")) == 3 and len(c.running("tmcli")) == 1, timeout=60)
        doc = json.loads(c.ok("service", "inspect", "tmweb"))
        doc = doc[0] if isinstance(doc, list) else doc
        client = c.containers("tmcli")[0]
        # the service name resolves to one VIP (not a task address); tasks.<name> to the three tasks
        vip = c.ok("exec", client, "nslookup", "tmweb").split()[-1]
        tasks = c.ok("exec", client, "nslookup", "tasks.tmweb").split()
        assert vip not in tasks and sum(t.startswith("10.") for t in tasks) >= 3
        seen: set[str] = set()
        tries: list[str] = []

        def via_vip() -> bool:
            # (busybox's wget crashes in this image; a bare HTTP request through nc does the same)
            r = c.orch("exec", client, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 tmweb 80")
            tries.append(f"{r.returncode}:{r.stdout.strip()[-40:]}:{r.stderr.strip()[-80:]}")
            if r.returncode == 0 and r.stdout.strip():
                seen.add(r.stdout.strip().splitlines()[-1])
            return len(seen) >= 2

        try:
            eventually(via_vip, timeout=30)
        except AssertionError:
            ruleset = c.netns.run("nft", "list", "ruleset", timeout=10).stdout
            addrs = c.netns.run("ip", "-o", "addr", timeout=10).stdout
            links = c.netns.run("ip", "-br", "link", timeout=10).stdout
            log = (c.base / "daemon.log").read_text(errors="replace")[-6000:]
            raise AssertionError(f"VIP {vip} never reached 2 replicas: seen={seen} tries={tries[-5:]}\n"
                                 f"{ruleset}\n{addrs}\n{links}\n{log}") from None
        # the routing mesh: the node's own address, from outside the node
        got: set[str] = set()

        def via_mesh() -> bool:
            out = _fetch_outside(c, f"http://{HOST_IP}:8088/")
            if out:
                got.add(out)
            return len(got) >= 2

        eventually(via_mesh, timeout=30)
        # and 127.0.0.1 on the node itself
        r = c.netns.run("python3", "-c", "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8088/', "
                        "timeout=2).read().decode())", timeout=10)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr
        # `service inspect` shows what the cluster allocated, in Swarm's shape
        vips = [v["Addr"] for v in doc["Endpoint"]["VirtualIPs"]]
        assert any(v.split("/")[0] == vip and v.endswith("/24") for v in vips), (vip, vips)
        assert [(p["PublishedPort"], p["TargetPort"]) for p in doc["Endpoint"]["Ports"]] == [(8088, 80)]
    finally:
        c.orch("service", "rm", "tmweb", "tmcli")
        eventually(lambda: not c.containers("tmweb") and not c.containers("tmcli"), timeout=60)
        c.orch("network", "rm", "tmeshnet")


def test_a_second_service_cannot_take_a_published_port(cluster: Cluster) -> None:  # noqa: F811
    c = cluster
    c.ok("service", "create", "-d", "--name", "tmone", "--publish", "8099:80", "busybox", "sleep", "1000")
    try:
        r = c.orch("service", "create", "-d", "--name", "tmtwo", "--publish", "8099:80", "busybox", "sleep", "1000")
        assert r.returncode != 0 and "8099" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    finally:
        c.orch("service", "rm", "tmone", "tmtwo")
