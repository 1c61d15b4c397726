"""Healthchecks end to end: the daemon runs the check in the container and reports State.Health."""

from __future__ import annotations

import json

import pytest

from .conftest import Orchd, eventually

pytestmark = pytest.mark.root


def _health(orchd: Orchd, name: str) -> dict:
    doc = json.loads(orchd.ok("inspect", name))[0]
    return doc["State"].get("Health") or {}


def _run(orchd: Orchd, name: str, *flags: str) -> None:
    orchd.ok("run", "-d", "--name", name, *flags, "busybox", "sleep", "300")


def test_passing_check_becomes_healthy(orchd: Orchd) -> None:
    name = orchd.name("hok")
    _run(orchd, name, "--health-cmd", "echo fine", "--health-interval", "200ms")
    try:
        assert _health(orchd, name)["Status"] in ("starting", "healthy")
        eventually(lambda: _health(orchd, name).get("Status") == "healthy", timeout=15)
        h = _health(orchd, name)
        assert h["FailingStreak"] == 0
        assert h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "fine\n"
        assert "(healthy)" in orchd.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
        assert orchd.ok("ps", "-q", "--filter", "health=healthy", "--filter", f"name={name}").strip()
        assert not orchd.ok("ps", "-q", "--filter", "health=unhealthy", "--filter", f"name={name}").strip()
        cfg = json.loads(orchd.ok("inspect", name))[0]["Config"]["Healthcheck"]
        assert cfg["Test"] == ["CMD-SHELL", "echo fine"] and cfg["Interval"] == 200_000_000
        events = orchd.ok("events", "--since", "60s", "--until", "0s", "--filter", f"container={name}",
                          "--format", "{{.Action}}")
        assert "health_status: healthy" in events
    finally:
        orchd.orch("rm", "-f", name)


def test_failing_check_becomes_unhealthy_after_retries(orchd: Orchd) -> None:
    name = orchd.name("hbad")
    _run(orchd, name, "--health-cmd", "exit 1", "--health-interval", "100ms", "--health-retries", "3")
    try:
        eventually(lambda: _health(orchd, name).get("Status") == "unhealthy", timeout=15)
        h = _health(orchd, name)
        assert h["FailingStreak"] >= 3 and len(h["Log"]) <= 5
        assert "(unhealthy)" in orchd.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
        assert orchd.ok("ps", "-q", "--filter", "health=unhealthy", "--filter", f"name={name}").strip()
        # Nothing is restarted by the monitor itself.
        assert json.loads(orchd.ok("inspect", name))[0]["State"]["Running"] is True
    finally:
        orchd.orch("rm", "-f", name)


def test_timeout_is_enforced(orchd: Orchd) -> None:
    name = orchd.name("hslow")
    _run(orchd, name, "--health-cmd", "sleep 30", "--health-interval", "100ms", "--health-timeout", "300ms",
         "--health-retries", "1")
    try:
        eventually(lambda: _health(orchd, name).get("FailingStreak", 0) >= 3, timeout=20)
        h = _health(orchd, name)
        assert h["Status"] == "unhealthy"
        entry = h["Log"][-1]
        assert entry["ExitCode"] == -1 and "exceeded timeout (300ms)" in entry["Output"]
        # Timed-out checks are killed: at most the one check in flight is left, never a pile of them.
        eventually(lambda: orchd.ok("top", name).count("sleep 30") <= 1, timeout=10)
    finally:
        orchd.orch("rm", "-f", name)


def test_no_healthcheck_and_plain_containers(orchd: Orchd) -> None:
    name = orchd.name("hnone")
    _run(orchd, name, "--no-healthcheck")
    try:
        doc = json.loads(orchd.ok("inspect", name))[0]
        assert "Health" not in doc["State"]
        assert doc["Config"]["Healthcheck"]["Test"] == ["NONE"]
        assert orchd.ok("ps", "-q", "--filter", "health=none", "--filter", f"name={name}").strip()
        status = orchd.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
        assert "health" not in status
    finally:
        orchd.orch("rm", "-f", name)
    r = orchd.orch("run", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert r.returncode == 125 and "conflicts" in r.stderr
