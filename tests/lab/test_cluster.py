"""Multi-host behaviour on a lab of 3 managers and 2 workers (tests run in order on one lab)."""

from __future__ import annotations

import time

import pytest

from .conftest import LabRun, eventually

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.root]

MANAGERS = ("m1", "m2", "m3")


def nodes(lab: LabRun, via: str) -> list[tuple[str, str, str, str]]:
    out = lab.orch(via, "node", "ls", "--format", "{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}")
    if out.returncode != 0:
        return []
    return [tuple(line.split("|")) for line in out.stdout.splitlines()]  # type: ignore[misc]


def running(lab: LabRun, via: str, service: str) -> list[str]:
    """Nodes of the service's tasks that are desired and observed running."""
    r = lab.orch(via, "service", "ps", service, "-f", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
    if r.returncode != 0:
        return []
    return sorted(line.split()[0] for line in r.stdout.splitlines() if " Running " in f" {line} ")


def all_ready(lab: LabRun, via: str) -> bool:
    ns = nodes(lab, via)
    return len(ns) == 5 and all(n[1] == "Ready" for n in ns) and [n[3] for n in ns].count("Leader") == 1


def test_five_ready_nodes_one_leader(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m1"))
    eventually(lambda: all_ready(lab, "m3"))  # a follower answers too
    roles = {n[0]: n[3] for n in nodes(lab, "m2")}
    assert {roles[m] for m in MANAGERS} <= {"Leader", "Reachable"} and roles["w1"] == roles["w2"] == ""
    hosts = lab.hosts()
    assert [h["state"] for h in hosts] == ["running"] * 5
    assert lab.leader() in MANAGERS


def test_worker_is_not_a_manager(lab: LabRun) -> None:
    r = lab.orch("w1", "node", "ls")
    assert r.returncode == 1 and "not a manager" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_join_token(lab: LabRun) -> None:
    token = lab.ok("m2", "cluster", "join-token", "worker", "-q").strip()
    assert token.startswith("SWMTKN-1-") and token.split("-")[3].startswith("w")
    rotated = lab.ok("m1", "cluster", "join-token", "worker", "-q", "--rotate").strip()
    assert rotated != token and rotated.split("-")[2] == token.split("-")[2]


def test_replicated_service_spreads(lab: LabRun) -> None:
    lab.ok("m2", "service", "create", "-d", "--name", "web", "--replicas", "6", "busybox", "sleep", "100000")
    placed = eventually(lambda: (r := running(lab, "m1", "web")) and len(r) == 6 and r)
    assert set(placed) == {"m1", "m2", "m3", "w1", "w2"}  # type: ignore[arg-type]


def test_drain_moves_tasks_off(lab: LabRun) -> None:
    lab.ok("m1", "node", "update", "--availability", "drain", "w1")
    eventually(lambda: (r := running(lab, "m3", "web")) and len(r) == 6 and "w1" not in r)
    lab.ok("m1", "node", "update", "--availability", "active", "w1")


def test_global_service_follows_undrained_node(lab: LabRun) -> None:
    lab.ok("m1", "node", "update", "--availability", "drain", "w2")
    lab.ok("m1", "service", "create", "-d", "--name", "agent", "--mode", "global", "busybox", "sleep", "100000")
    eventually(lambda: running(lab, "m2", "agent") == ["m1", "m2", "m3", "w1"])
    lab.ok("m3", "node", "update", "--availability", "active", "w2")
    eventually(lambda: running(lab, "m2", "agent") == ["m1", "m2", "m3", "w1", "w2"])


def overlay_task(lab: LabRun, host: str, service: str) -> tuple[str, str, str]:
    """(container id, name, overlay address) of the service's running task on ``host``."""
    found = lab.ok(host, "ps", "--filter", f"name=^{service}\\.", "--format", "{{.ID}} {{.Names}}").split()
    assert len(found) == 2, found
    cid, name = found
    ip = lab.ok(host, "exec", cid, "ip", "-4", "-o", "addr", "show", "eth0").split()[3].split("/")[0]
    return cid, name, ip


def test_overlay_network_spans_hosts(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m1"), timeout=30)
    lab.ok("m1", "network", "create", "-d", "overlay", "ovl")
    lab.ok("m2", "service", "create", "-d", "--name", "ov", "--replicas", "2", "--replicas-max-per-node", "1",
           "--constraint", "node.role==worker", "--network", "ovl", "busybox", "sleep", "100000")
    try:
        check_overlay(lab)
    finally:
        lab.orch("m1", "service", "rm", "ov")


def check_overlay(lab: LabRun) -> None:
    eventually(lambda: running(lab, "m1", "ov") == ["w1", "w2"], timeout=30)
    cid1, _, ip1 = overlay_task(lab, "w1", "ov")
    cid2, name2, ip2 = overlay_task(lab, "w2", "ov")
    assert ip1 != ip2
    # by address and by name, both ways across the VXLAN tunnel between the two workers
    eventually(lambda: lab.orch("w1", "exec", cid1, "ping", "-c1", "-W1", ip2).returncode == 0, timeout=15)
    assert lab.orch("w2", "exec", cid2, "ping", "-c1", "-W1", ip1).returncode == 0
    eventually(lambda: lab.orch("w1", "exec", cid1, "ping", "-c1", "-W1", name2).returncode == 0, timeout=15)
    resolved = lab.ok("w2", "exec", cid2, "nslookup", "tasks.ov").split()
    assert ip1 in resolved and ip2 in resolved
    # a TCP connection, not just ICMP
    lab.ok("w2", "exec", "-d", cid2, "sh", "-c", "echo hello-overlay | nc -l -p 7777")
    eventually(lambda: "hello-overlay" in lab.orch("w1", "exec", cid1, "nc", name2, "7777").stdout, timeout=15)


def test_leader_failover(lab: LabRun) -> None:
    old = lab.leader()
    assert old
    on_workers = lab.ok("w1", "ps", "-q").split()
    assert on_workers
    other = next(m for m in MANAGERS if m != old)
    lab.lab("kill", old)
    killed = time.monotonic()
    # A write through another manager succeeds once a new leader is elected.
    eventually(lambda: lab.orch(other, "service", "scale", "-d", "web=8").returncode == 0, timeout=15)
    failover = time.monotonic() - killed
    print(f"failover: leader killed -> scale accepted in {failover:.2f}s")
    assert lab.leader() not in ("", old)
    eventually(lambda: "web 8/8" in lab.orch(other, "service", "ls", "--format", "{{.Name}} {{.Replicas}}").stdout,
               timeout=20)
    assert set(on_workers) <= set(lab.ok("w1", "ps", "-q").split())  # the services kept running
    assert lab.lab("start", old).returncode == 0
    eventually(lambda: all_ready(lab, other), timeout=20)


def test_no_quorum_fails_fast(lab: LabRun) -> None:
    down = ["m1", "m2"]
    for m in down:
        assert lab.lab("kill", m).returncode == 0
    try:
        started = time.monotonic()
        r = lab.orch("m3", "service", "scale", "-d", "web=9")
        assert r.returncode == 1 and ("quorum" in r.stderr or "no leader" in r.stderr), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert time.monotonic() - started < 20
    finally:
        for m in down:
            lab.lab("start", m)


def test_all_managers_restart_recover_from_disk(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m3"), timeout=30)
    for m in MANAGERS:
        assert lab.lab("kill", m).returncode == 0
    assert lab.lab("start").returncode == 0
    eventually(lambda: "web 8/8" in lab.orch("m2", "service", "ls", "--format", "{{.Name}} {{.Replicas}}").stdout,
               timeout=30)
    eventually(lambda: all_ready(lab, "m1"), timeout=30)
    assert len(running(lab, "m1", "agent")) == 5


def test_promote_and_demote(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m1"), timeout=30)
    lab.ok("m2", "node", "promote", "w1")
    eventually(lambda: {n[0]: n[3] for n in nodes(lab, "w1")}.get("w1") == "Reachable")
    lab.ok("m3", "node", "demote", "w1")
    eventually(lambda: {n[0]: n[3] for n in nodes(lab, "m1")}.get("w1") == "")
    r = lab.orch("w1", "node", "ls")
    assert r.returncode == 1 and "not a manager" in r.stderr


def test_leave_rm_and_rejoin_follows_global_service(lab: LabRun) -> None:
    lab.ok("w2", "cluster", "leave")
    eventually(lambda: [n[1] for n in nodes(lab, "m1") if n[0] == "w2"] == ["Down"], timeout=10)
    r = lab.orch("m1", "node", "promote", "w2")
    assert r.returncode == 1 and r.stderr.strip() == "Error: node w2 is down: it cannot be promoted"
    lab.ok("m1", "node", "rm", "w2")
    eventually(lambda: running(lab, "m2", "agent") == ["m1", "m2", "m3", "w1"])
    bad = lab.orch("w2", "cluster", "join", "--token", "SWMTKN-1-0000-w0000", "10.99.0.1:2377")
    assert bad.returncode == 1 and "does not match" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    token = lab.ok("m3", "cluster", "join-token", "worker", "-q").strip()
    lab.ok("w2", "cluster", "join", "--token", token, "10.99.0.1:2377")
    eventually(lambda: running(lab, "m2", "agent") == ["m1", "m2", "m3", "w1", "w2"])


def test_last_manager_and_forced_leave(lab: LabRun) -> None:
    r = lab.orch("m1", "cluster", "leave")
    assert r.returncode == 1 and "--force" in r.stderr
    lab.ok("m1", "node", "demote", "m2", "m3")
    r = lab.orch("m2", "node", "ls")
    assert r.returncode == 1 and "not a manager" in r.stderr
    r = lab.orch("m1", "node", "demote", "m1")
    assert r.returncode == 1 and r.stderr.strip() == "Error: node m1 is the last manager of the cluster: it cannot be demoted or removed"


# -- issue 4: logs from every node, and a reconnecting agent drops what was moved off it ------------
def log_nodes(lab: LabRun, via: str, service: str, *flags: str) -> set[str]:
    """Nodes named in the ``task@node    | line`` prefixes of ``orch service logs``."""
    r = lab.orch(via, "service", "logs", *flags, service)
    if r.returncode != 0:
        return set()
    return {line.split("@", 1)[1].split()[0] for line in r.stdout.splitlines() if "@" in line and "| hello" in line}


def test_service_logs_gathers_every_node(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m1"), timeout=30)
    lab.ok("m1", "service", "create", "-d", "--name", "talk", "--replicas", "5",
           "busybox", "sh", "-c", "echo hello; sleep 100000")
    placed = eventually(lambda: (r := running(lab, "m1", "talk")) and len(r) == 5 and r, timeout=30)
    assert len(set(placed)) >= 2  # type: ignore[arg-type]
    seen = eventually(lambda: (n := log_nodes(lab, "m1", "talk")) and len(n) >= 2 and n, timeout=20)
    assert seen <= set(placed)  # type: ignore[operator]
    out = lab.ok("m1", "service", "logs", "--tail", "1", "-t", "talk").splitlines()
    assert out and all(line.startswith("talk.") and "    | " in line and "hello" in line for line in out)
    r = lab.orch("w1", "service", "logs", "talk")
    assert r.returncode == 1 and "not a manager" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    lab.ok("m1", "service", "rm", "talk")


def containers(lab: LabRun, host: str, prefix: str) -> set[str]:
    r = lab.orch(host, "ps", "--format", "{{.Names}}")
    assert r.returncode == 0, r.stderr
    return {n for n in r.stdout.split() if n.startswith(prefix)}


def test_reconnecting_agent_stops_tasks_moved_off_it(lab: LabRun) -> None:
    eventually(lambda: all_ready(lab, "m1"), timeout=30)
    lab.ok("m1", "service", "create", "-d", "--name", "moved", "--replicas", "5", "busybox", "sleep", "100000")
    eventually(lambda: (r := running(lab, "m1", "moved")) and len(r) == 5 and "w2" in r, timeout=30)
    old = eventually(lambda: containers(lab, "w2", "moved."), timeout=20)
    assert lab.lab("kill", "w2").returncode == 0
    try:
        eventually(lambda: [n[1] for n in nodes(lab, "m1") if n[0] == "w2"] == ["Down"], timeout=30)
        eventually(lambda: (r := running(lab, "m1", "moved")) and len(r) == 5 and "w2" not in r, timeout=30)
    finally:
        assert lab.lab("start", "w2").returncode == 0
    eventually(lambda: [n[1] for n in nodes(lab, "m1") if n[0] == "w2"] == ["Ready"], timeout=30)
    # The old containers survived the daemon (the spawner keeps them); the agent must stop them.
    eventually(lambda: not (containers(lab, "w2", "moved.") & old), timeout=30)  # type: ignore[operator]
    assert len(running(lab, "m1", "moved")) == 5
    lab.ok("m1", "service", "rm", "moved")

