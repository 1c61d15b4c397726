"""Nodes: a host that runs an agent, and for managers also a Raft member.

``labels`` (from the base class) are the operator's labels (``node update --label-add``, matched by
``node.labels.X``); ``engine_labels`` are what the agent reports about itself (``engine.labels.X``).
``availability`` is operator intent, ``status`` is what heartbeats say.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from orchestrator.model.base import Model, Stored
from orchestrator.model.service import Resources


class NodeRole(StrEnum):
    WORKER = "worker"
    MANAGER = "manager"


class Availability(StrEnum):
    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(StrEnum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(StrEnum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


class NodeStatus(Model):
    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    addr: str = ""
    timestamp: float = 0.0


class ManagerStatus(Model):
    raft_addr: str = ""
    leader: bool = False
    reachability: Reachability = Reachability.UNKNOWN


class Platform(Model):
    os: str = "linux"
    architecture: str = "x86_64"


class Node(Stored):
    kind = "node"

    hostname: str = ""
    role: NodeRole = NodeRole.WORKER
    availability: Availability = Availability.ACTIVE
    engine_labels: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    platform: Platform = Field(default_factory=Platform)
    status: NodeStatus = Field(default_factory=NodeStatus)
    manager_status: ManagerStatus | None = None
    certificate: str = ""

    @property
    def schedulable(self) -> bool:
        """Takes new tasks: the agent is up and the operator has not paused or drained it."""
        return self.status.state == NodeState.READY and self.availability == Availability.ACTIVE
