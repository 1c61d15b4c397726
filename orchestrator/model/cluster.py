"""The one Cluster object: join tokens, CA material and cluster-wide default settings."""

from __future__ import annotations

from pydantic import Field

from orchestrator.model.base import Model, Stored

DEFAULT_CLUSTER_ID = "default"


class ClusterSettings(Model):
    task_history_limit: int = 5
    heartbeat_period: float = 5.0
    heartbeat_grace_multiplier: float = 3.0


class JoinTokens(Model):
    worker: str = ""
    manager: str = ""


class Cluster(Stored):
    kind = "cluster"

    name: str = "default"
    settings: ClusterSettings = Field(default_factory=ClusterSettings)
    join_tokens: JoinTokens = Field(default_factory=JoinTokens)
    root_ca_cert: str = ""
    root_ca_key: str = ""
    # Bumped by every cluster network creation, so that two concurrent creators conflict on this
    # object's version instead of both taking the same VNI and subnet (see netalloc.create_network).
    network_seq: int = 0
