"""One `orch lab` (3 managers, 2 workers) per test module, removed with `lab down` also on failure."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import eventually as _eventually

ROOT = Path(__file__).resolve().parents[2]
ORCH = [sys.executable, "-m", "orchestrator.cli.main"]


def eventually(pred: Callable[[], object], timeout: float = 20.0, interval: float = 0.1) -> object:
    """The runtime suite's poll, with the lab's longer defaults (every check is a CLI call in a netns)."""
    return _eventually(pred, timeout, interval)


class LabRun:
    def __init__(self, name: str) -> None:
        self.name = name
        self.env = dict(os.environ, ORCH_HEARTBEAT_PERIOD="0.5", PYTHONPATH=str(ROOT))

    def lab(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORCH, "lab", args[0], "--name", self.name, *args[1:]], env=self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))

    def orch(self, host: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.lab("exec", host, "--", sys.executable, "-m", "orchestrator.cli.main", *args, timeout=timeout)

    def ok(self, host: str, *args: str) -> str:
        r = self.orch(host, *args)
        assert r.returncode == 0, f"{host}: orch {' '.join(args)} failed ({r.returncode}): {r.stderr}"
        return r.stdout

    def hosts(self) -> list[dict[str, str]]:
        r = self.lab("ls", "--format", "{{.Name}} {{.Role}} {{.State}} {{.ManagerStatus}}")
        assert r.returncode == 0, r.stderr
        return [dict(zip(("name", "role", "state", "status"), (line.split() + [""])[:4], strict=True))
                for line in r.stdout.splitlines()]

    def leader(self) -> str:
        found = [h["name"] for h in self.hosts() if h["status"] == "Leader"]
        return found[0] if len(found) == 1 else ""


@pytest.fixture(scope="module")
def lab() -> Iterator[LabRun]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, cgroups, mounts)")
    run = LabRun("t" + secrets.token_hex(3))
    try:
        r = run.lab("up", "--managers", "3", "--workers", "2", timeout=180)
        assert r.returncode == 0, f"lab up failed: {r.stderr}"
        yield run
    finally:
        keep = os.environ.get("ORCH_LAB_KEEP_LOGS")
        if keep:  # keep every host's daemon log for a post-mortem before the lab is removed
            import shutil
            from pathlib import Path

            for log in Path("/var/lib/orch-lab", run.name).glob("*/daemon.log"):
                dst = Path(keep, run.name, log.parent.name + ".log")
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, dst)
        r = run.lab("down")
        assert r.returncode == 0 or "no lab named" in r.stderr, r.stderr
