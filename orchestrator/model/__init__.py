"""The manager's object model (DESIGN.md section 2): frozen pydantic objects stored in the store.

Vocabulary: a *service* is desired state written by users; a *task* is one scheduled unit of a
service (one *slot* of a replicated service, or one node of a global one); a *node* is a host running
an agent. Every stored object has ``id``, ``meta`` (version, created/updated times) and ``labels``.
"""

from __future__ import annotations

from orchestrator.model.base import Meta, Model, Stored, new_id
from orchestrator.model.cluster import DEFAULT_CLUSTER_ID, Cluster, ClusterSettings, JoinTokens
from orchestrator.model.node import (
    Availability,
    ManagerStatus,
    Node,
    NodeRole,
    NodeState,
    NodeStatus,
    Platform,
    Reachability,
)
from orchestrator.model.objects import Config, Network, NetworkSpec, Secret
from orchestrator.model.service import (
    ContainerSpec,
    EndpointSpec,
    HealthCheck,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    PlacementPreference,
    PortConfig,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    Service,
    ServiceSpec,
    TaskSpec,
    UpdateConfig,
    UpdateStatus,
)
from orchestrator.model.task import NetworkAttachment, Task, TaskState, TaskStatus

KINDS: dict[str, type[Stored]] = {
    cls.kind: cls for cls in (Cluster, Node, Service, Task, Network, Secret, Config)
}

__all__ = [
    "DEFAULT_CLUSTER_ID",
    "KINDS",
    "Availability",
    "Cluster",
    "ClusterSettings",
    "Config",
    "ContainerSpec",
    "EndpointSpec",
    "HealthCheck",
    "JoinTokens",
    "ManagerStatus",
    "Meta",
    "Model",
    "Mount",
    "Network",
    "NetworkAttachment",
    "NetworkAttachmentConfig",
    "NetworkSpec",
    "Node",
    "NodeRole",
    "NodeState",
    "NodeStatus",
    "Placement",
    "PlacementPreference",
    "Platform",
    "PortConfig",
    "Reachability",
    "ResourceRequirements",
    "Resources",
    "RestartPolicy",
    "Secret",
    "Service",
    "ServiceSpec",
    "Stored",
    "Task",
    "TaskSpec",
    "TaskState",
    "TaskStatus",
    "UpdateConfig",
    "UpdateStatus",
    "new_id",
]
