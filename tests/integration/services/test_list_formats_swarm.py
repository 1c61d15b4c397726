"""Swarm list commands against Docker's --format fields and --filter keys: service ls/ps, node ls/ps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli.services import service_row

from .svchelpers import Cluster, eventually

pytestmark = pytest.mark.root

FAST = ["--restart-delay", "0s", "--stop-grace-period", "0s"]


@pytest.fixture(scope="module")
def services(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """A labelled replicated service of two and a global one, removed afterwards."""
    rep, glob = f"{cluster.tag}-lsrep", f"{cluster.tag}-lsglob"
    try:
        cluster.ok("service", "create", "--name", rep, "--replicas", "2", "-l", "tier=front", *FAST,
                   "busybox", "sleep", "1000")
        cluster.ok("service", "create", "--name", glob, "--mode", "global", *FAST, "busybox", "sleep", "1000")
        yield rep, glob
    finally:
        cluster.orch("service", "rm", rep, glob)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_service_ls_format_and_filters(cluster: Cluster, services: tuple[str, str]) -> None:
    rep, glob = services

    def names(*flt: str) -> set[str]:
        args = [x for f in flt for x in ("--filter", f)]
        return set(cluster.ok("service", "ls", *args, "--format", "{{.Name}}").split())

    assert {rep, glob} <= names()
    assert names(f"name={cluster.tag}-ls") == {rep, glob}  # a name prefix, as in Docker
    assert names("mode=global") & {rep, glob} == {glob}
    assert names("mode=replicated") & {rep, glob} == {rep}
    assert names("label=tier=front") == {rep}
    assert names("label=tier=back") == set()
    rows = _json_lines(cluster.ok("service", "ls", "--filter", f"name={rep}", "--format", "{{json .}}"))
    assert len(rows) == 1
    row = rows[0]
    for key in ("ID", "Name", "Mode", "Replicas", "Image", "Ports"):
        assert key in row
    assert row["Mode"] == "replicated" and row["Replicas"] == "2/2" and row["Image"].startswith("busybox")
    assert names(f"id={row['ID'][:6]}") == {rep}
    table = cluster.ok("service", "ls", "--filter", f"name={glob}",
                       "--format", "table {{.Name}}\t{{.Mode}}").splitlines()
    assert table[0].split() == ["NAME", "MODE"] and table[1].split() == [glob, "global"]
    for flt, message in (("bogus=1", "invalid filter 'bogus'"), ("mode=odd", "invalid filter 'mode=odd'")):
        bad = cluster.orch("service", "ls", "--filter", flt)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr


def test_service_ls_ports_column() -> None:
    doc = {"ID": "x" * 25, "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 1}},
                                    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1@sha256:abc"}}},
           "Endpoint": {"Spec": {"Ports": [
               {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
               {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"}]}}}
    row = service_row(doc)
    assert row["Ports"] == "*:8080->80/tcp" and row["Image"] == "nginx:1" and row["ID"] == "x" * 12


def test_service_ps_format_and_filters(cluster: Cluster, services: tuple[str, str]) -> None:
    rep, _ = services
    rows = _json_lines(cluster.ok("service", "ps", "--format", "{{json .}}", rep))
    assert len(rows) == 2
    for key in ("ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports"):
        assert key in rows[0]
    assert {r["Name"] for r in rows} == {f"{rep}.1", f"{rep}.2"}
    assert all(r["DesiredState"] == "Running" for r in rows)
    hostname = rows[0]["Node"]

    def tasks(*flt: str) -> set[str]:
        args = [x for f in flt for x in ("--filter", f)]
        return set(cluster.ok("service", "ps", *args, "--format", "{{.Name}}", rep).split())

    assert tasks("desired-state=running") == {f"{rep}.1", f"{rep}.2"}
    assert tasks("desired-state=shutdown") == set()
    assert tasks(f"name={rep}.1") == {f"{rep}.1"}
    assert tasks(f"id={rows[1]['ID']}") == {rows[1]["Name"]}
    assert tasks(f"node={hostname}") == {f"{rep}.1", f"{rep}.2"}
    table = cluster.ok("service", "ps", "--format", "table {{.Name}}\t{{.DesiredState}}", rep).splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "STATE"] and len(table) == 3
    bad = cluster.orch("service", "ps", "--filter", "desired-state=sleepy", rep)
    assert bad.returncode != 0 and "invalid filter 'desired-state=sleepy'" in bad.stderr


def test_node_ls_format_and_filters(cluster: Cluster) -> None:
    def nodes(*flt: str) -> list[dict]:
        args = [x for f in flt for x in ("--filter", f)]
        return _json_lines(cluster.ok("node", "ls", *args, "--format", "{{json .}}"))

    eventually(lambda: nodes()[0]["Status"] == "Ready", timeout=10)
    row = nodes()[0]
    for key in ("ID", "Self", "Hostname", "Status", "Availability", "ManagerStatus", "EngineVersion", "TLSStatus"):
        assert key in row
    assert row["Self"] is True and not row["ID"].endswith("*")
    hostname = row["Hostname"]
    assert [n["ID"] for n in nodes(f"id={row['ID'][:6]}")] == [row["ID"]]
    assert [n["Hostname"] for n in nodes(f"name={hostname}")] == [hostname]
    assert len(nodes("role=manager")) == 1 and nodes("role=worker") == []
    assert len(nodes("membership=accepted")) == 1 and nodes("membership=pending") == []
    assert nodes("node.label=zone=x") == [] and nodes("label=nope") == []
    self_marked = cluster.ok("node", "ls", "--format", "{{.ID}} {{if .Self}}*{{end}} {{.ManagerStatus}}").split()
    assert self_marked == [row["ID"], "*", "Leader"]
    for flt, message in (("bogus=1", "invalid filter 'bogus'"), ("role=boss", "Invalid role filter value boss"),
                         ("membership=x", "Invalid membership filter value x")):
        bad = cluster.orch("node", "ls", "--filter", flt)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr


def test_node_ps_format_and_filters(cluster: Cluster, services: tuple[str, str]) -> None:
    rep, glob = services
    rows = _json_lines(cluster.ok("node", "ps", "--format", "{{json .}}"))
    names = {r["Name"].strip() for r in rows if r["DesiredState"] == "Running"}
    assert {f"{rep}.1", f"{rep}.2"} <= names and any(n.startswith(f"{glob}.") for n in names)
    for key in ("ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports"):
        assert key in rows[0]
    only = cluster.ok("node", "ps", "--filter", f"name={rep}.1", "--filter", "desired-state=running",
                      "--format", "{{.Name}}|{{.Node}}").split()
    assert only == [f"{rep}.1|{rows[0]['Node']}"]


def test_compose_ps_format_and_status_filter(cluster: Cluster, tmp_path: Path) -> None:
    project = f"{cluster.tag}lsc"
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    image: busybox:latest\n"
        "    command: [sleep, '1000']\n"
        "    ports: ['18093:80']\n"
        "    stop_grace_period: 0s\n")
    compose = ["compose", "-f", str(tmp_path / "compose.yaml"), "-p", project]
    cluster.ok(*compose, "up", "-d", "--wait", timeout=120)
    try:
        rows = json.loads(cluster.ok(*compose, "ps", "--format", "json"))
        assert len(rows) == 1
        row = rows[0]
        for key in ("ID", "Name", "Image", "Command", "Project", "Service", "Created", "State", "Status", "Health",
                    "ExitCode", "Publishers"):
            assert key in row
        assert row["Project"] == project and row["Service"] == "app" and row["State"] == "running"
        assert row["ExitCode"] == 0 and isinstance(row["Created"], int) and row["Health"] == ""
        assert {"URL", "TargetPort", "PublishedPort", "Protocol"} <= set(row["Publishers"][0])
        assert (row["Publishers"][0]["TargetPort"], row["Publishers"][0]["PublishedPort"]) == (80, 18093)
        again = _json_lines(cluster.ok(*compose, "ps", "--format", "{{json .}}"))
        assert [(r["ID"], sorted(r)) for r in again] == [(r["ID"], sorted(r)) for r in rows]
        line = cluster.ok(*compose, "ps", "--format", "{{.Service}}|{{.State}}|{{.Project}}").strip()
        assert line == f"app|running|{project}"
        assert cluster.ok(*compose, "ps", "--filter", "status=running", "--format", "{{.Service}}").split() == ["app"]
        assert cluster.ok(*compose, "ps", "--status", "exited", "--format", "{{.Service}}").split() == []
        bad = cluster.orch(*compose, "ps", "--filter", "bogus=1")
        assert bad.returncode != 0 and "invalid filter 'bogus'" in bad.stderr
        bad = cluster.orch(*compose, "ps", "--status", "sleepy")
        assert bad.returncode != 0 and "invalid filter 'status=sleepy'" in bad.stderr
    finally:
        cluster.orch(*compose, "down", timeout=120)
