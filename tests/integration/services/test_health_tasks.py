"""Swarm's health semantics on a real single-node daemon: a task with a healthcheck is Starting until
its container is healthy, and an unhealthy container fails its task, which a new task replaces."""

from __future__ import annotations

import pytest

from .svchelpers import Cluster, eventually

pytestmark = pytest.mark.root


def test_running_only_once_healthy_and_unhealthy_tasks_are_replaced(cluster: Cluster) -> None:
    # healthy once /tmp/ok exists (created 2 s after start: failures in the start period do not count);
    # unhealthy at the first failure once /tmp/ok is removed
    cluster.ok("service", "create", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok",
               "--health-interval", "300ms", "--health-retries", "1", "--health-start-period", "20s",
               "--restart-delay", "0s",
               "--stop-grace-period", "0s", "busybox", "sh", "-c", "sleep 2; touch /tmp/ok; exec sleep 1000")
    try:
        first = eventually(lambda: [t for t in cluster.tasks("hc") if t["CurrentState"].startswith("Starting")],
                           timeout=30)
        assert not cluster.running("hc"), "running before healthy"
        running = eventually(lambda: cluster.running("hc"), timeout=30)
        assert running[0]["ID"] == first[0]["ID"]
        cluster.ok("exec", running[0]["Name"], "rm", "/tmp/ok")

        def failed_unhealthy() -> bool:
            t = next(t for t in cluster.tasks("hc") if t["ID"] == first[0]["ID"])
            return t["CurrentState"].startswith("Failed") and "unhealthy" in t["Error"]

        eventually(failed_unhealthy, timeout=30)
        replaced = eventually(lambda: [t for t in cluster.running("hc") if t["ID"] != first[0]["ID"]], timeout=60)
        assert len(replaced) == 1
    finally:
        cluster.orch("service", "rm", "hc")


def test_bad_health_flags_are_one_line_errors(cluster: Cluster) -> None:
    r = cluster.orch("service", "create", "--name", "hcbad", "--no-healthcheck", "--health-cmd", "true", "busybox")
    assert r.returncode != 0 and "conflicts" in r.stderr and "Traceback" not in r.stderr
    r = cluster.orch("service", "create", "--name", "hcbad", "--health-interval", "soon", "busybox")
    assert r.returncode != 0 and "--health-interval" in r.stderr and len(r.stderr.strip().splitlines()) == 1
