"""An in-memory stand-in for ``agent.runtime.engine.Engine`` (the subset the worker uses)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeState:
    status: str = "created"
    pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""


@dataclass
class FakeContainer:
    id: str
    name: str
    config: dict[str, Any]
    spec: dict[str, Any]
    state: FakeState = field(default_factory=FakeState)
    has_been_started: bool = False


class FakeEngine:
    network = None

    def __init__(self) -> None:
        self.containers: dict[str, FakeContainer] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.fail_create: set[str] = set()  # images whose create fails
        self.fail_start: set[str] = set()

    def create(self, spec: dict[str, Any]) -> FakeContainer:
        with self._lock:
            if spec["image"] in self.fail_create:
                raise RuntimeError(f"No such image: {spec['image']}")
            if any(c.name == spec["name"] for c in self.containers.values()):
                raise RuntimeError(f'Conflict. The container name "/{spec["name"]}" is already in use')
            cid = f"c{next(self._ids):04d}"
            c = FakeContainer(cid, spec["name"], {"labels": dict(spec.get("labels") or {})}, spec)
            self.containers[cid] = c
            return c

    def start(self, cid: str) -> None:
        c = self.get(cid)
        if c.spec["image"] in self.fail_start:
            c.state.error = "exec: not found"
            c.state.exit_code = 127
            raise RuntimeError("exec: not found")
        c.state = FakeState(status="running", pid=1000 + int(cid[1:]))
        c.has_been_started = True

    def exit(self, cid: str, code: int) -> None:
        """The container's process ended by itself (or was killed)."""
        c = self.get(cid)
        c.state = FakeState(status="exited", exit_code=code)

    def stop(self, cid: str, timeout: int | None = None) -> None:
        c = self.get(cid)
        if c.state.status == "running":
            c.state = FakeState(status="exited", exit_code=143)

    def remove(self, cid: str, force: bool = False) -> None:
        with self._lock:
            self.containers.pop(self.get(cid).id, None)

    def get(self, ref: str) -> FakeContainer:
        with self._lock:
            for c in self.containers.values():
                if ref in (c.id, c.name):
                    return c
        raise KeyError(ref)

    def list(self) -> list[FakeContainer]:
        with self._lock:
            return list(self.containers.values())

    def running(self) -> list[FakeContainer]:
        return [c for c in self.list() if c.state.status == "running"]
