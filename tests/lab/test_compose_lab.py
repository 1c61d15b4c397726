"""`orch up` of a compose project on a 3-manager, 2-worker lab: the project's network is a cluster
overlay network, so replicas spread over the nodes and still reach each other by name (one lab)."""

from __future__ import annotations

import pytest

from .conftest import ROOT, LabRun, eventually

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.root]

FILE = str(ROOT / "compose-examples" / "replicated" / "compose.yaml")
HOSTS = ("m1", "m2", "m3", "w1", "w2")


def placed(lab: LabRun, service: str) -> list[str]:
    """Nodes of the service's running tasks (one entry per task)."""
    r = lab.orch("m1", "service", "ps", service, "-f", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
    return sorted(line.split()[0] for line in r.stdout.splitlines() if " Running " in f" {line} ") \
        if r.returncode == 0 else []


def test_up_spreads_replicas_reached_by_name_across_nodes_and_down_cleans_up(lab: LabRun) -> None:
    eventually(lambda: len(lab.ok("m1", "node", "ls", "-q").split()) == 5, timeout=60)
    r = lab.orch("m1", "up", "-d", "--wait", "-f", FILE, timeout=240)
    assert r.returncode == 0, r.stderr
    try:
        echo = placed(lab, "rep_echo")
        assert len(echo) == 5 and len(set(echo)) >= 2, f"replicas not spread: {echo}"
        rows = lab.ok("m1", "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").splitlines()
        assert "rep_default overlay swarm" in rows
        [client_node] = eventually(lambda: placed(lab, "rep_client"), timeout=60)  # type: ignore[misc]
        cid = lab.ok(client_node, "ps", "-q", "--filter", "name=^rep_client\\.").split()[0]
        vip = lab.ok(client_node, "exec", cid, "nslookup", "echo").split()[-1]
        replicas = lab.ok(client_node, "exec", cid, "nslookup", "tasks.echo").split()
        assert vip.startswith("10.") and vip not in replicas
        local = echo.count(client_node)  # replicas on the client's own node
        answers: set[str] = set()

        def beyond_its_node() -> bool:
            out = lab.orch(client_node, "exec", cid, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 echo 80")
            if out.returncode == 0 and out.stdout.strip():
                answers.add(out.stdout.strip().splitlines()[-1])
            return len(answers) > local  # more replicas answered than run where the client does

        eventually(beyond_its_node, timeout=60)
    finally:
        r = lab.orch("m1", "down", "-f", FILE, timeout=240)
    assert r.returncode == 0, r.stderr
    assert lab.ok("m1", "service", "ls", "-q").split() == []
    assert "rep_default" not in lab.ok("m1", "network", "ls", "--format", "{{.Name}}")
    for host in HOSTS:  # every node's containers, and its bridge for the network, are gone
        eventually(lambda h=host: not lab.ok(h, "ps", "-aq", "--filter", "name=^rep_").split()
                   and "rep_default" not in lab.ok(h, "network", "ls", "--format", "{{.Name}}"), timeout=60)
