"""Tasks: one scheduled unit of a service, and the lifecycle states it moves through.

The three owners of a task never write each other's fields (see DESIGN.md section 3):
``spec``/``spec_version`` are copied from the service at creation and never change; ``desired_state``
is moved forward only by reconcilers; ``status`` is moved forward only by the dispatcher on behalf of
the agent (and by the scheduler from PENDING to ASSIGNED). The store drops backward moves of both.
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import Field

from orchestrator.model.base import Model, Stored
from orchestrator.model.service import TaskSpec


class TaskState(IntEnum):
    """Monotone lifecycle with swarmkit's gaps of 64, so code compares with ``<`` and ``>``."""

    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    READY = 384
    STARTING = 448
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832

    @property
    def label(self) -> str:
        """Docker's spelling in ``service ps`` (``running``, ``shutdown``, ...)."""
        return self.name.lower()


class TaskStatus(Model):
    """Observed state reported by the agent (timestamp is the manager's clock, not the worker's)."""

    state: TaskState = TaskState.NEW
    message: str = ""
    err: str = ""
    timestamp: float = 0.0
    container_id: str = ""
    pid: int = 0
    exit_code: int | None = None
    health: str = ""


class NetworkAttachment(Model):
    """Addresses a task holds on one network (filled in by the allocator)."""

    network_id: str
    addresses: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)


class Task(Stored):
    """One slot (replicated) or one node (global) of a service at one point in time."""

    kind = "task"

    service_id: str
    service_name: str = ""
    slot: int = 0
    node_id: str = ""
    spec: TaskSpec
    spec_version: int = 0
    spec_hash: str = ""
    desired_state: TaskState = TaskState.RUNNING
    status: TaskStatus = Field(default_factory=TaskStatus)
    networks: list[NetworkAttachment] = Field(default_factory=list)
    restart_history: list[float] = Field(default_factory=list)
    start_after: float = 0.0

    @property
    def name(self) -> str:
        """Container name ``<service>.<slot or node>.<task id>`` as agents and ``orch ps`` show it."""
        middle = str(self.slot) if self.slot else self.node_id
        return f"{self.service_name}.{middle}.{self.id}"

    @property
    def runnable(self) -> bool:
        """Desired to run (or to be ready to run); the slot is taken by this task."""
        return self.desired_state <= TaskState.RUNNING

    @property
    def stopped(self) -> bool:
        """The agent reported a terminal state: nothing runs for this task any more."""
        return self.status.state > TaskState.RUNNING
