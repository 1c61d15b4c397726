"""Service VIPs on one node: a compose service's name is one virtual IP that nftables balances over the
replicas; ``tasks.<service>`` lists the replicas; ``endpoint_mode: dnsrr`` keeps DNS round robin."""

from __future__ import annotations

from pathlib import Path

from tests.integration.runtime.conftest import eventually
from tests.integration.services.svchelpers import Cluster

COMPOSE = """\
name: vipt
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    deploy:
      replicas: 3
  rr:
    image: busybox:latest
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  client:
    image: busybox:latest
    command: ["sleep", "3600"]
"""


def addresses(nslookup_output: str) -> list[str]:
    """The answer addresses of busybox nslookup (the server's own ``Address: ip:53`` line left out)."""
    answer = nslookup_output.partition("Name:")[2]
    return sorted({line.split()[-1] for line in answer.splitlines() if line.startswith("Address")})


def test_vip_balances_over_replicas_and_tasks_name_lists_them(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "compose.yaml"
    f.write_text(COMPOSE)
    base = ["compose", "-f", str(f)]

    def sh(service: str, script: str) -> tuple[int, str]:
        r = cluster.orch(*base, "exec", "-T", service, "sh", "-c", script)
        return r.returncode, r.stdout

    try:
        cluster.ok(*base, "up", "-d", "--wait", timeout=180)
        assert len(cluster.running("vipt_web")) == 3

        def lookup(name: str, want: int) -> list[str] | None:
            rc, out = sh("client", f"nslookup {name}")
            found = addresses(out) if rc == 0 else []
            return found if len(found) == want else None

        [vip] = eventually(lambda: lookup("web", 1), timeout=30)  # type: ignore[misc]
        tasks = eventually(lambda: lookup("tasks.web", 3), timeout=30)
        assert vip not in tasks  # type: ignore[operator]
        assert eventually(lambda: lookup("rr", 2), timeout=30) == lookup("tasks.rr", 2)

        # repeated connections to the VIP reach more than one replica (each serves its own hostname)
        rc, out = sh("client", "for i in 1 2 3 4 5 6; do timeout 3 wget -q -O - http://web/ || exit 1; done")
        assert rc == 0, out
        assert len(set(out.split())) > 1, out
        rc, out = sh("client", f"timeout 3 wget -q -O - http://{vip}:80/")  # L3: the address itself works
        assert rc == 0 and out.strip(), out

        # hairpin: a replica reaches its own service's VIP, whichever replica the kernel picks
        rc, out = sh("web", "for i in 1 2 3 4; do timeout 3 wget -q -O - http://web/ || exit 1; done")
        assert rc == 0 and len(out.split()) == 4, out

        # the VIP follows scaling: one replica left, every connection goes to it
        cluster.ok(*base, "scale", "web=1", timeout=60)
        eventually(lambda: len(cluster.running("vipt_web")) == 1 and lookup("tasks.web", 1), timeout=30)
        rc, out = sh("client", "for i in 1 2 3; do timeout 3 wget -q -O - http://web/ || exit 1; done")
        assert rc == 0 and len(set(out.split())) == 1, out
        assert lookup("web", 1) == [vip]
    finally:
        cluster.ok(*base, "down", timeout=120)
