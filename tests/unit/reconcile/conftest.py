"""A whole leader's loops on a MemoryStore with a fake clock, driven without threads."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.model import (
    Availability,
    ContainerSpec,
    Node,
    NodeRole,
    NodeState,
    NodeStatus,
    Resources,
    RestartPolicy,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    new_id,
)
from orchestrator.reconcile.leader import LeaderLoops
from orchestrator.reconcile.loop import settle
from orchestrator.store import MemoryStore


class Harness:
    def __init__(self) -> None:
        self.now = 1000.0
        self.store = MemoryStore(clock=lambda: self.now)
        self.loops = LeaderLoops(self.store, clock=lambda: self.now).loops
        for loop in self.loops:
            loop.attach()

    def settle(self) -> None:
        settle(self.loops)

    def advance(self, seconds: float) -> None:
        """Move the clock and run loops whose timers are due (what the threaded driver does)."""
        self.now += seconds
        for loop in self.loops:
            if loop._timer_due():
                loop.tick()
        self.settle()

    # -- objects ------------------------------------------------------------------------------
    def add_node(self, hostname: str, **kw: Any) -> Node:
        kw.setdefault("resources", Resources(nano_cpus=4_000_000_000, memory_bytes=8 << 30))
        node = Node(id=new_id(), hostname=hostname, status=NodeStatus(state=NodeState.READY), **kw)
        self.store.update(lambda tx: tx.create(node))
        self.settle()
        return node

    def update_node(self, node_id: str, **changes: Any) -> None:
        cur = self.store.view().get("node", node_id)
        self.store.update(lambda tx: tx.update(cur.evolve(**changes)))
        self.settle()

    def remove_node(self, node_id: str) -> None:
        self.store.update(lambda tx: tx.delete("node", node_id))
        self.settle()

    def create_service(
        self, name: str = "web", replicas: int = 1, mode: str = "replicated", restart: RestartPolicy | None = None, **task: Any
    ) -> Service:
        spec = TaskSpec(
            container=ContainerSpec(image="busybox"),
            restart_policy=restart or RestartPolicy(delay=0),
            **task,
        )
        svc = Service(id=new_id(), spec=ServiceSpec(name=name, task=spec, replicas=replicas, mode=mode))  # type: ignore[arg-type]
        self.store.update(lambda tx: tx.create(svc))
        self.settle()
        return svc

    def update_service(self, service_id: str, **spec_changes: Any) -> None:
        cur = self.store.view().get("service", service_id)
        spec = cur.spec.model_copy(update=spec_changes)
        self.store.update(lambda tx: tx.update(cur.evolve(spec=spec)))
        self.settle()

    def delete_service(self, service_id: str) -> None:
        self.store.update(lambda tx: tx.delete("service", service_id))
        self.settle()

    # -- reads --------------------------------------------------------------------------------
    def tasks(self, service_id: str, runnable: bool | None = True) -> list[Task]:
        tasks = self.store.view().find("task", service_id=service_id)
        return [t for t in tasks if runnable is None or t.runnable == runnable]

    def get(self, task_id: str) -> Task | None:
        return self.store.view().get("task", task_id)

    # -- the agent's side -----------------------------------------------------------------------
    def report(self, task_id: str, state: TaskState, exit_code: int | None = None) -> None:
        cur = self.get(task_id)
        assert cur is not None
        status = TaskStatus(state=state, exit_code=exit_code, timestamp=self.now, message=state.label)
        self.store.update(lambda tx: tx.update(cur.evolve(status=status)))
        self.settle()

    def agents_run(self) -> None:
        """Every node's agent starts what is assigned and desired RUNNING, stops what is retired."""
        for t in self.store.view().all("task"):
            if t.desired_state == TaskState.RUNNING and TaskState.ASSIGNED <= t.status.state < TaskState.RUNNING:
                self.report(t.id, TaskState.RUNNING)
            elif not t.runnable and TaskState.ASSIGNED <= t.status.state <= TaskState.RUNNING:
                self.report(t.id, TaskState.SHUTDOWN)

    def version(self) -> int:
        return self.store.view().version


@pytest.fixture
def h() -> Harness:
    return Harness()


__all__ = ["Availability", "Harness", "NodeRole"]
