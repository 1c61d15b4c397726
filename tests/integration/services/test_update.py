"""`orch service update` on a single-node daemon: rolling replacement, --force, scaling, pausing."""

from __future__ import annotations

import json
import threading

import pytest

from .svchelpers import Cluster, eventually

pytestmark = pytest.mark.root

FAST = ["--restart-delay", "0s", "--stop-grace-period", "0s"]


def _inspect(cluster: Cluster, name: str) -> dict:
    return json.loads(cluster.ok("service", "inspect", name))[0]


class RunningSampler:
    """Counts the service's running tasks in the background while an update rolls."""

    def __init__(self, cluster: Cluster, service: str) -> None:
        self.cluster, self.service = cluster, service
        self.counts: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.counts.append(len(self.cluster.running(self.service)))

    def __enter__(self) -> RunningSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_env_add_rolls_every_task_one_at_a_time(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "roll", "--replicas", "3", "--update-parallelism", "1", *FAST,
               "busybox", "sleep", "1000")
    try:
        before = {t["ID"] for t in cluster.running("roll")}
        assert len(before) == 3
        with RunningSampler(cluster, "roll") as sampler:
            r = cluster.orch("service", "update", "--env-add", "GREETING=hi", "--detach=false", "roll", timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "roll"
        assert "verify: Service converged" in r.stderr and "overall progress: 3 out of 3 tasks" in r.stderr
        assert sampler.counts and min(sampler.counts) >= 2, sampler.counts
        running = cluster.running("roll")
        assert len(running) == 3 and not before & {t["ID"] for t in running}
        for t in running:
            assert "GREETING=hi" in cluster.ok("exec", t["Name"], "env").split()
        history = [t for t in cluster.tasks("roll") if t["ID"] in before]
        assert len(history) == 3 and all(t["DesiredState"] == "Shutdown" for t in history)
        doc = _inspect(cluster, "roll")
        assert doc["UpdateStatus"]["State"] == "completed" and doc["UpdateStatus"]["Message"] == "update completed"
        assert "GREETING=hi" not in (doc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"].get("Env") or [])
        assert "GREETING=hi" in doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
        assert "State:\t\tcompleted" in cluster.ok("service", "inspect", "--pretty", "roll")

        # scaling (by `scale` or by `update --replicas`) never restarts a task
        kept = {t["ID"] for t in cluster.running("roll")}
        cluster.ok("service", "scale", "roll=5", timeout=60)
        assert kept < {t["ID"] for t in cluster.running("roll")}
        cluster.ok("service", "update", "--replicas", "4", "roll", timeout=60)
        eventually(lambda: len(cluster.running("roll")) == 4, timeout=20)
        assert kept <= {t["ID"] for t in cluster.running("roll")}

        # --force replaces the tasks without another change
        kept = {t["ID"] for t in cluster.running("roll")}
        cluster.ok("service", "update", "--force", "--update-parallelism", "0", "roll", timeout=120)
        running = cluster.running("roll")
        assert len(running) == 4 and not kept & {t["ID"] for t in running}
        assert _inspect(cluster, "roll")["Spec"]["TaskTemplate"]["ForceUpdate"] == 1
    finally:
        cluster.ok("service", "rm", "roll")
        eventually(lambda: cluster.containers("roll") == [], timeout=30)


def test_a_failing_update_pauses_and_says_why(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "brittle", "--replicas", "2", *FAST, "busybox", "sleep", "1000")
    try:
        before = {t["ID"] for t in cluster.running("brittle")}
        r = cluster.orch("service", "update", "--update-delay", "3s", "--args", "false", "brittle", timeout=120)
        assert r.returncode == 1
        assert "service update paused: update paused due to failure or early termination of task" in r.stderr
        assert "Traceback" not in r.stderr
        status = _inspect(cluster, "brittle")["UpdateStatus"]
        assert status["State"] == "paused"
        # only the first slot was touched: the other old task still runs
        assert len(before & {t["ID"] for t in cluster.running("brittle")}) == 1
        # a new update resumes: back to a working command
        cluster.ok("service", "update", "--args", "sleep 999", "brittle", timeout=120)
        assert len(cluster.running("brittle")) == 2
        assert _inspect(cluster, "brittle")["UpdateStatus"]["State"] == "completed"
    finally:
        cluster.ok("service", "rm", "brittle")
        eventually(lambda: cluster.containers("brittle") == [], timeout=30)


def test_create_publish_forms_reach_the_spec(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--detach", "--name", "pub", "-p", "18080:80", "--publish", "18081:81/udp",
               "-p", "published=18082,target=82,mode=host", "busybox", "sleep", "1000")
    try:
        ports = _inspect(cluster, "pub")["Spec"]["EndpointSpec"]["Ports"]
        assert [(p["PublishedPort"], p["TargetPort"], p["Protocol"], p["PublishMode"]) for p in ports] == [
            (18080, 80, "tcp", "ingress"), (18081, 81, "udp", "ingress"), (18082, 82, "tcp", "host")]
        r = cluster.orch("service", "create", "-p", "1.2.3.4:80:80", "busybox")
        assert r.returncode != 0 and "hostip is not supported" in r.stderr and "Traceback" not in r.stderr
    finally:
        cluster.ok("service", "rm", "pub")


def test_rollback_returns_to_the_previous_spec(cluster: Cluster) -> None:
    cluster.ok("service", "create", "--name", "back", "--replicas", "2", "-e", "V=1", *FAST, "busybox", "sleep", "1000")
    try:
        r = cluster.orch("service", "rollback", "back")
        assert r.returncode != 0 and "does not have a previous spec" in r.stderr and "Traceback" not in r.stderr
        cluster.ok("service", "update", "--env-add", "V=2", "--detach=false", "back", timeout=120)
        r = cluster.orch("service", "rollback", "back", timeout=120)  # waits until rolled back
        assert r.returncode == 0 and r.stdout.strip() == "back", r.stderr
        doc = _inspect(cluster, "back")
        assert doc["UpdateStatus"]["State"] == "rollback_completed"
        assert doc["UpdateStatus"]["Message"]
        assert "V=1" in doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
        assert "V=2" in doc["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Env"]
        running = cluster.running("back")
        assert len(running) == 2
        for t in running:
            assert "V=1" in cluster.ok("exec", t["Name"], "env").split()
        # `update --rollback` is the same request, and goes forward again
        cluster.ok("service", "update", "--rollback", "--detach=false", "back", timeout=120)
        assert "V=2" in _inspect(cluster, "back")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
        r = cluster.orch("service", "update", "--rollback", "--env-add", "X=1", "back")
        assert r.returncode != 0 and "--rollback" in r.stderr
    finally:
        cluster.orch("service", "rm", "back")
