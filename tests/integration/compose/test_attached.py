"""`orch up` without -d: live progress on a TTY, prefixed logs, Ctrl-C stops the project."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from tests.integration.runtime.conftest import ORCH, ROOT, eventually
from tests.integration.services.svchelpers import Cluster

FILE = """name: att
services:
  ticker:
    image: busybox:latest
    command: ["sh", "-c", "i=0; while true; do echo tick $$i; i=$$((i+1)); sleep 0.2; done"]
  other:
    image: busybox:latest
    command: ["sh", "-c", "echo other says hi; exec sleep 3600"]
"""


def test_attached_up_streams_logs_and_ctrl_c_stops(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "compose.yaml"
    f.write_text(FILE)
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "up", "-f", str(f)], env=cluster.env, cwd=str(ROOT),
                          encoding="utf-8", timeout=60, dimensions=(40, 160))
    child.logfile_read = sys.stdout
    try:
        child.expect("Attaching to")
        seen: set[int] = set()
        while seen != {0, 1}:  # either order; the colour reset may sit between prefix and line
            seen.add(child.expect([r"ticker-1\s*\| (\x1b\[0m)?tick \d+", r"other-1\s*\| (\x1b\[0m)?other says hi"]))
        child.sendintr()
        child.expect("Gracefully stopping")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        assert not [t for t in cluster.running("att_ticker")]
        # the project is stopped, not removed: `up -d` brings it back by scaling
        out = cluster.orch("up", "-d", "--wait", "-f", str(f))
        assert out.returncode == 0, out.stderr
        assert "Scaled" in out.stderr
        eventually(lambda: len(cluster.running("att_ticker")) == 1, timeout=30)
        logs = cluster.ok("compose", "-f", str(f), "logs", "--tail", "1", "other")
        assert logs.strip().startswith("other-1") and "ticker" not in logs
    finally:
        if child.isalive():
            child.terminate(force=True)
        cluster.ok("down", "-f", str(f), timeout=120)
