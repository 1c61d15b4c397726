"""`orch service` on a single-node daemon: real task containers, replacement, scaling, placement."""

from __future__ import annotations

import json

import pytest

from .svchelpers import Cluster, eventually

pytestmark = pytest.mark.root

FAST = ["--restart-delay", "0s", "--stop-grace-period", "0s"]


def test_cluster_of_one_is_initialized(cluster: Cluster) -> None:
    def nodes() -> list[dict]:
        return [json.loads(line) for line in cluster.ok("node", "ls", "--format", "{{json .}}").splitlines()]

    eventually(lambda: nodes()[0]["Status"] == "Ready", timeout=10)  # once the local agent registered
    rows = nodes()
    assert len(rows) == 1
    node = rows[0]
    assert node["Self"] is True and node["Status"] == "Ready" and node["Availability"] == "Active"
    assert node["ManagerStatus"] == "Leader"
    info = json.loads(cluster.ok("cluster", "inspect"))[0]
    assert info["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    # The daemon's own cluster of one, holding nothing else yet: `init` just confirms it.
    assert "Cluster initialized" in cluster.ok("cluster", "init")


def test_five_replicas_run_as_named_containers(cluster: Cluster) -> None:
    sid = cluster.ok("service", "create", "--name", "five", "--replicas", "5", *FAST, "busybox", "sleep", "1000").split()[0]
    assert len(cluster.running("five")) == 5  # create waits for convergence
    tasks = cluster.tasks("five")
    names = cluster.containers("five")
    assert names == sorted(t["Name"] for t in tasks)  # --no-trunc names are <service>.<slot>.<task id>
    assert sorted(n.split(".")[1] for n in names) == ["1", "2", "3", "4", "5"]
    doc = json.loads(cluster.ok("inspect", names[0]))[0]
    assert doc["Config"]["Labels"]["com.docker.swarm.service.id"] == sid
    r = cluster.orch("cluster", "init")  # now it holds a service: a real cluster
    assert r.returncode == 1 and "already part of a cluster" in r.stderr
    ls = cluster.ok("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
    assert "five replicated 5/5 busybox" in ls
    cluster.ok("service", "rm", "five")
    eventually(lambda: cluster.containers("five") == [], timeout=20)


def test_killed_task_is_replaced_by_a_new_task_in_its_slot(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "phoenix", "--replicas", "2", *FAST, "busybox", "sleep", "1000")
    victim = next(t for t in cluster.tasks("phoenix") if t["Name"].startswith("phoenix.1."))
    cluster.ok("kill", victim["Name"])

    def replaced() -> bool:
        slot1 = [t for t in cluster.tasks("phoenix") if t["Name"].split(".")[1] == "1" or "phoenix.1" in t["Name"]]
        fresh = [t for t in slot1 if t["ID"] != victim["ID"] and t["CurrentState"].startswith("Running")]
        return bool(fresh)

    eventually(replaced, timeout=20)
    history = {t["ID"]: t for t in cluster.tasks("phoenix")}
    old = history[victim["ID"]]
    assert old["DesiredState"] == "Shutdown"
    assert old["CurrentState"].startswith("Failed")
    assert old["Error"] == '"task: non-zero exit (137)"'
    table = cluster.ok("service", "ps", "phoenix")
    assert " \\_ phoenix.1" in table  # the history row is indented under the slot's new task
    assert len(cluster.running("phoenix")) == 2
    cluster.ok("service", "rm", "phoenix")


def test_scale_to_ten_and_to_zero(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "elastic", "--replicas", "1", *FAST, "busybox", "sleep", "1000")
    out = cluster.ok("service", "scale", "elastic=10")
    assert out.strip() == "elastic scaled to 10"
    assert len(cluster.running("elastic")) == 10
    assert len(cluster.containers("elastic")) == 10
    cluster.ok("service", "scale", "elastic=0")
    eventually(lambda: cluster.containers("elastic") == [], timeout=20)
    assert cluster.running("elastic") == []
    assert "elastic replicated 0/0" in cluster.ok("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
    cluster.ok("service", "rm", "elastic")


def test_global_service_runs_one_task_on_the_node(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "everywhere", "--mode", "global", *FAST, "busybox", "sleep", "1000")
    running = cluster.running("everywhere")
    assert len(running) == 1
    node_id = json.loads(cluster.ok("node", "inspect", "self"))[0]["ID"]
    assert running[0]["Name"].startswith(f"everywhere.{node_id}.")
    assert "everywhere global 1/1" in cluster.ok("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
    r = cluster.orch("service", "scale", "everywhere=3")
    assert r.returncode == 1 and "replicated mode" in r.stderr
    cluster.ok("service", "rm", "everywhere")


def test_unsatisfiable_constraint_stays_pending_with_its_reason(cluster: Cluster) -> None:
    cluster.ok("service", "create", "-d", "--name", "nowhere", "--constraint", "node.labels.zone==mars",
               "busybox", "sleep", "1000")

    def pending() -> dict | None:
        tasks = cluster.tasks("nowhere")
        return tasks[0] if tasks and tasks[0]["Error"] else None

    task = eventually(pending, timeout=10)
    assert isinstance(task, dict)
    assert task["CurrentState"].startswith("Pending") and task["Node"] == ""
    assert task["Error"].startswith('"no suitable node (') and "constraint" in task["Error"]
    short = cluster.ok("service", "ps", "--format", "{{.Error}}", "nowhere").strip()
    assert short.startswith('"no suitable node') and short.endswith('…"') and len(short) == 32
    assert cluster.containers("nowhere") == []
    cluster.ok("service", "rm", "nowhere")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["service", "scale", "web=-1"], "invalid replicas value for web: -1"),
        (["service", "scale", "web=abc"], "invalid scale specifier: web=abc"),
        (["service", "scale", "nosuch=2"], "service nosuch not found"),
        (["service", "create", "-d", "--constraint", "node.labels.zone=east", "busybox", "true"], "invalid constraint"),
        (["service", "create", "-d", "--constraint", "node.color==red", "busybox", "true"], "unknown key"),
        (["service", "create", "-d", "--replicas", "-2", "busybox", "true"], "--replicas"),
        (["service", "inspect", "nosuch"], "no such service: nosuch"),
        (["service", "ps", "nosuch"], "service nosuch not found"),
        (["service", "rm", "nosuch"], "service nosuch not found"),
        (["node", "inspect", "nosuch"], "node nosuch not found"),
    ],
)
def test_bad_input_is_a_one_line_error(cluster: Cluster, args: list[str], message: str) -> None:
    r = cluster.orch(*args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_node_ps_and_service_logs(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "talker", *FAST, "busybox", "sh", "-c", "echo hello from $HOSTNAME; sleep 1000")
    eventually(lambda: "hello from" in cluster.ok("service", "logs", "talker"), timeout=10)
    line = cluster.ok("service", "logs", "talker").splitlines()[0]
    assert line.startswith("talker.1.") and "    | hello from" in line
    names = cluster.ok("node", "ps", "--format", "{{.Name}} {{.DesiredState}}")
    assert "talker.1 Running" in names
    cluster.ok("service", "rm", "talker")


def test_daemon_restart_recovers_the_cluster_and_readopts_tasks(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "durable", "--replicas", "3", *FAST, "busybox", "sleep", "1000")
    before = {t["ID"] for t in cluster.running("durable")}
    containers = cluster.containers("durable")
    cluster.kill()  # SIGKILL: the spawner keeps the containers running
    cluster.start()
    eventually(lambda: {t["ID"] for t in cluster.running("durable")} == before, timeout=20)
    assert cluster.containers("durable") == containers, (cluster.base / "daemon.log").read_text()[-6000:]
    cluster.ok("service", "scale", "durable=1")
    eventually(lambda: len(cluster.containers("durable")) == 1, timeout=20)
    cluster.ok("service", "rm", "durable")
