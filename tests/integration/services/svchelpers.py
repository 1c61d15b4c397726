"""A real single-node orch daemon (a cluster of one) for the service tests.

Reuses the runtime suite's :class:`Orchd` (own state dir, run dir and cgroup parent; teardown removes
containers, stops the daemon and the spawner, unmounts and removes cgroups, also on failure) and
adds helpers to read `service ps` as JSON. Heartbeats run every second so node state is quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.runtime.conftest import Orchd, busybox_tar, eventually  # noqa: F401 - re-exported


class Cluster(Orchd):  # type: ignore[misc, valid-type]
    def __init__(self, base: Path) -> None:
        super().__init__(base)
        self.env["ORCH_HEARTBEAT_PERIOD"] = "1"

    def tasks(self, service: str, *filters: str) -> list[dict[str, Any]]:
        args = ["service", "ps", "--no-trunc", "--format", "{{json .}}", service]
        for f in filters:
            args += ["-f", f]
        return [json.loads(line) for line in self.ok(*args).splitlines() if line.strip()]

    def running(self, service: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks(service) if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")]

    def containers(self, service: str) -> list[str]:
        out = self.ok("ps", "--format", "{{.Names}}", "-f", f"label=com.docker.swarm.service.name={service}")
        return sorted(out.split())

    def teardown(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                names = self.orch("service", "ls", "-q", timeout=30).stdout.split()
                if names:
                    self.orch("service", "rm", *names, timeout=30)
        finally:
            super().teardown()
