"""`orch network ls` merges the cluster's networks with the node's (pure part: rows and filters)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from orchestrator.cli.networks import _filter, merge_rows


def local(name: str, driver: str = "bridge", containers: int = 0, **labels: str) -> Any:
    return SimpleNamespace(id=f"{name}-local-id-0123456789", name=name, driver=driver, scope="local", ipv6=False,
                           internal=False, labels=labels, created="2026-01-02T03:04:05.000000000Z",
                           containers=containers)


def cluster(name: str, **labels: str) -> dict[str, Any]:
    return {"Id": f"{name}-cluster-id-0123456789", "Name": name, "Driver": "overlay", "Scope": "swarm",
            "EnableIPv6": False, "Internal": name == "p_back", "Labels": labels,
            "Created": "2026-01-02T03:04:05.000000000Z"}


NODE = [local("bridge"), local("host", "host"), local("p_front", "overlay", containers=2), local("stale", "overlay"),
        local("lan", com_example="x")]
CLUSTER = [cluster("ingress"), cluster("p_front", project="p"), cluster("p_back", project="p")]


def test_a_manager_shows_cluster_networks_once_as_swarm() -> None:
    rows = merge_rows(NODE, CLUSTER, no_trunc=False)
    assert [(r["Name"], r["Driver"], r["Scope"]) for r in rows] == [
        ("bridge", "bridge", "local"), ("host", "host", "local"), ("ingress", "overlay", "swarm"),
        ("lan", "bridge", "local"), ("p_back", "overlay", "swarm"), ("p_front", "overlay", "swarm")]
    front = next(r for r in rows if r["Name"] == "p_front")
    assert front["ID"] == "p_front-clus" and front["_containers"] == 2  # the node's containers on it
    assert next(r for r in rows if r["Name"] == "p_back")["Internal"] == "true"
    assert "stale" not in [r["Name"] for r in rows]  # a node record the cluster no longer has


def test_a_worker_lists_its_own_networks_only() -> None:
    rows = merge_rows(NODE, None, no_trunc=True)
    assert [(r["Name"], r["Scope"]) for r in rows] == [
        ("bridge", "local"), ("host", "local"), ("lan", "local"), ("p_front", "swarm"), ("stale", "swarm")]
    assert rows[0]["ID"] == "bridge-local-id-0123456789"


def test_filters_apply_to_the_merged_rows() -> None:
    rows = merge_rows(NODE, CLUSTER, no_trunc=False)
    assert [r["Name"] for r in _filter(rows, ["scope=swarm"])] == ["ingress", "p_back", "p_front"]
    assert [r["Name"] for r in _filter(rows, ["driver=overlay", "label=project=p"])] == ["p_back", "p_front"]
    assert [r["Name"] for r in _filter(rows, ["name=p_"])] == ["p_back", "p_front"]
    assert [r["Name"] for r in _filter(rows, ["dangling=true", "scope=swarm"])] == ["ingress", "p_back"]
