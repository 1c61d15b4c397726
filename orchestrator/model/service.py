"""Service specs: what the user asked for, as ControlAPI and the compose loader produce it.

``ServiceSpec.task`` (a :class:`TaskSpec`) is the part copied into every task; changing it makes
existing tasks *dirty* (see ``reconcile.tasks.spec_hash``). Mode, replica count, update and rollback
settings live outside it on purpose: scaling must never restart tasks.
Durations are seconds (float), sizes bytes, CPUs nano-CPUs, as in Docker's API.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orchestrator.model.base import Model, Stored


class Mount(Model):
    type: Literal["bind", "volume", "tmpfs"] = "volume"
    source: str = ""
    target: str
    read_only: bool = False


class HealthCheck(Model):
    test: list[str] = Field(default_factory=list)
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


class ContainerSpec(Model):
    image: str
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    mounts: list[Mount] = Field(default_factory=list)
    workdir: str = ""
    user: str = ""
    groups: list[str] = Field(default_factory=list)
    hostname: str = ""
    init: bool = False
    read_only: bool = False
    tty: bool = False
    stop_signal: str = "SIGTERM"
    stop_grace_period: float = 10.0
    healthcheck: HealthCheck | None = None
    secrets: list[str] = Field(default_factory=list)
    configs: list[str] = Field(default_factory=list)


class Resources(Model):
    nano_cpus: int = 0
    memory_bytes: int = 0


class ResourceRequirements(Model):
    limits: Resources = Field(default_factory=Resources)
    reservations: Resources = Field(default_factory=Resources)


class PlacementPreference(Model):
    """``spread=node.labels.zone``: spread tasks evenly over the values of that label."""

    spread: str


class Placement(Model):
    constraints: list[str] = Field(default_factory=list)
    preferences: list[PlacementPreference] = Field(default_factory=list)
    max_replicas_per_node: int = 0


class RestartPolicy(Model):
    """When a task stops, whether its slot gets a new task (never a restart in place)."""

    condition: Literal["none", "on-failure", "any"] = "any"
    delay: float = 5.0
    max_attempts: int = 0
    window: float = 0.0


class UpdateConfig(Model):
    parallelism: int = 1
    delay: float = 0.0
    failure_action: Literal["pause", "continue", "rollback"] = "pause"
    monitor: float = 5.0
    max_failure_ratio: float = 0.0
    order: Literal["stop-first", "start-first"] = "stop-first"


class NetworkAttachmentConfig(Model):
    target: str
    aliases: list[str] = Field(default_factory=list)


class PortConfig(Model):
    name: str = ""
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    target_port: int
    published_port: int = 0
    publish_mode: Literal["ingress", "host"] = "ingress"


class EndpointSpec(Model):
    mode: Literal["vip", "dnsrr"] = "vip"
    ports: list[PortConfig] = Field(default_factory=list)


class TaskSpec(Model):
    """Everything about *how one task runs*; copied verbatim into each task."""

    container: ContainerSpec
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    placement: Placement = Field(default_factory=Placement)
    restart_policy: RestartPolicy = Field(default_factory=RestartPolicy)
    networks: list[NetworkAttachmentConfig] = Field(default_factory=list)
    endpoint: EndpointSpec = Field(default_factory=EndpointSpec)
    force_update: int = 0


class ServiceSpec(Model):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    task: TaskSpec
    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = Field(default=1, ge=0)
    update_config: UpdateConfig = Field(default_factory=UpdateConfig)
    rollback_config: UpdateConfig = Field(default_factory=UpdateConfig)


class UpdateStatus(Model):
    state: str = ""
    message: str = ""
    started_at: float = 0.0
    completed_at: float = 0.0


class VirtualIP(Model):
    """A service's VIP on one overlay network (Swarm's ``Endpoint.VirtualIPs``)."""

    network_id: str
    addr: str


class EndpointStatus(Model):
    """What the manager allocated for a service's endpoint: VIPs, and ports with published ports filled."""

    virtual_ips: list[VirtualIP] = Field(default_factory=list)
    ports: list[PortConfig] = Field(default_factory=list)


class Service(Stored):
    kind = "service"

    spec: ServiceSpec
    previous_spec: ServiceSpec | None = None
    update_status: UpdateStatus | None = None
    endpoint: EndpointStatus | None = None  # written by the allocator (orchestrator/netalloc.py)

    @property
    def name(self) -> str:
        return self.spec.name
