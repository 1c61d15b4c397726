"""Compose networks are cluster overlay networks: a service on two networks, names scoped per network,
`network ls|inspect|rm` seeing cluster networks, and `down` removing them (single-node daemon)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.runtime.conftest import eventually
from tests.integration.services.svchelpers import Cluster

SERVE = "mkdir -p /www && echo {0} > /www/index.html && exec httpd -f -p 80 -h /www"
APP = f"""name: nets
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE.format('web')}"]
    networks: [front, back]
  api:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE.format('api')}"]
    networks:
      back: {{aliases: [backend]}}
  probe:
    image: busybox:latest
    command: [sleep, "3600"]
    networks: [front]
networks:
  front: {{}}
  back: {{internal: true, labels: {{tier: back}}}}
"""


def test_two_networks_scope_names_and_down_removes_them(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "compose.yaml"
    f.write_text(APP)
    c = ["compose", "-f", str(f)]

    def sh(service: str, script: str) -> tuple[int, str]:
        r = cluster.orch(*c, "exec", "-T", service, "sh", "-c", script, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def get(service: str, host: str) -> str:
        """The body ``host`` serves, fetched from inside ``service`` (busybox nc: wget -T crashes)."""
        rc, out = sh(service, f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} 80")
        return out.strip().splitlines()[-1] if rc == 0 and out.strip() else ""

    cluster.ok(*c, "up", "-d", "--wait", timeout=180)
    try:
        rows = [json.loads(line) for line in cluster.ok("network", "ls", "--format", "{{json .}}").splitlines()]
        mine = [(r["Name"], r["Driver"], r["Scope"]) for r in rows if r["Name"].startswith("nets_")]
        assert mine == [("nets_back", "overlay", "swarm"), ("nets_front", "overlay", "swarm")]
        doc = json.loads(cluster.ok("network", "inspect", "nets_back"))[0]
        assert doc["Scope"] == "swarm" and doc["Internal"] is True
        assert doc["Labels"]["com.docker.compose.project"] == "nets" and doc["Labels"]["tier"] == "back"
        assert doc["Containers"], "this node's containers on the network are shown"

        # web is on both networks: it reaches api (and its alias) through back
        eventually(lambda: get("web", "api") == "api", timeout=30)
        assert get("web", "backend") == "api"
        # probe shares only front with web: web resolves, api does not exist there
        eventually(lambda: get("probe", "web") == "web", timeout=30)
        rc, out = sh("probe", "nslookup api")
        assert rc != 0 or "can't find" in out or "NXDOMAIN" in out, out
        # api is only on an internal network: no route out of it
        assert "default" not in sh("api", "ip route")[1]
        assert "default" in sh("web", "ip route")[1]

        r = cluster.orch("network", "rm", "nets_back")
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "network nets_back is in use by service nets_" in r.stderr
    finally:
        cluster.ok(*c, "down", timeout=180)
    assert "nets_" not in cluster.ok("network", "ls", "--format", "{{.Name}}")
    assert "nets_" not in cluster.ok("network", "ls", "--format", "{{.Name}}", "-f", "scope=swarm")
    # the node's bridge and VXLAN device for the removed networks go too (once its agent hears of it)
    eventually(lambda: "not found" in cluster.orch("network", "inspect", "nets_front", "nets_back").stderr
               and not cluster.orch("network", "inspect", "nets_front").stdout.strip("[]\n "), timeout=30)
