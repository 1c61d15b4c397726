"""Containers outlive the daemon: SIGKILL it, start a new one, and everything keeps working."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import Orchd, eventually

pytestmark = pytest.mark.root


def test_daemon_sigkill_and_restart_readopts_running_containers(orchd: Orchd) -> None:
    name = orchd.name("live")
    short = orchd.name("short")
    orchd.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
             "trap 'echo bye; exit 3' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done")
    # This one exits while the daemon is down: its exit code must still be recorded.
    orchd.ok("run", "-d", "--name", short, "busybox", "sh", "-c", "sleep 1; exit 42")
    pid = json.loads(orchd.ok("inspect", name))[0]["State"]["Pid"]
    eventually(lambda: "tick-2" in orchd.ok("logs", name))

    orchd.kill()
    time.sleep(1.5)  # the short container exits while no daemon runs
    orchd.start()

    doc = json.loads(orchd.ok("inspect", name))[0]
    assert doc["State"]["Running"] and doc["State"]["Pid"] == pid
    eventually(lambda: json.loads(orchd.ok("inspect", short))[0]["State"]["Status"] == "exited")
    assert json.loads(orchd.ok("inspect", short))[0]["State"]["ExitCode"] == 42
    # Logs kept flowing while the daemon was away (the spawner owns them).
    before = orchd.ok("logs", name).count("tick-")
    eventually(lambda: orchd.ok("logs", name).count("tick-") > before + 3)
    assert orchd.ok("exec", name, "echo", "still-here").strip() == "still-here"
    assert name in orchd.ok("ps", "--format", "{{.Names}}").split()
    orchd.ok("stop", "-t", "5", name)
    doc = json.loads(orchd.ok("inspect", name))[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 3
    assert "bye" in orchd.ok("logs", "--tail", "3", name)
    orchd.ok("rm", name, short)
