"""The canonical compose model: what `orch config` prints and `orch up` deploys.

These pydantic models hold a project *after* canonicalization (every short
form already expanded by `transform`), so each field has one shape. Field
order follows compose-go's structs, which is the order `docker compose config`
prints. Unknown keys are rejected (`extra="forbid"`); `x-*` keys are kept in
`extensions` wherever the spec allows them.

Rendering follows Go's `omitempty`: unset, empty and zero values are left
out, except the fields listed in a model's `KEEP_ZERO` (pointers in Go, so an
explicit `false` or `0` is printed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .units import ByteSize, Duration, FileMode

EXTENSIONS_KEY = "#extensions"


class Spec(BaseModel):
    """Base of every compose model: strict keys, `x-*` extensions kept aside."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=False)
    KEEP_ZERO: ClassVar[frozenset[str]] = frozenset()
    # The alias keeps a user's `extensions:` key an unknown key instead of this field.
    extensions: dict[str, Any] = Field(default_factory=dict, exclude=True, alias=EXTENSIONS_KEY)

    @model_validator(mode="before")
    @classmethod
    def _split_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict):
            ext = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("x-")}
            if ext:
                data = {k: v for k, v in data.items() if k not in ext}
                data[EXTENSIONS_KEY] = ext
        return data


StrMap = dict[str, str]
NullableStrMap = dict[str, str | None]


class ServiceHook(Spec):
    command: list[str] | None = None
    user: str | None = None
    privileged: bool | None = None
    working_dir: str | None = None
    environment: NullableStrMap | None = None


class PortConfig(Spec):
    name: str | None = None
    mode: str | None = None
    host_ip: str | None = None
    target: int | None = Field(default=None, ge=0, le=65535)
    published: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class VolumeBind(Spec):
    selinux: str | None = None
    propagation: str | None = None
    create_host_path: bool | None = None
    recursive: str | None = None


class VolumeVolume(Spec):
    labels: StrMap | None = None
    nocopy: bool | None = None
    subpath: str | None = None


class VolumeTmpfs(Spec):
    size: ByteSize | None = None
    mode: int | None = None


class VolumeImage(Spec):
    subpath: str | None = None


class ServiceVolume(Spec):
    type: str
    source: str | None = None
    target: str | None = None
    read_only: bool | None = None
    consistency: str | None = None
    bind: VolumeBind | None = None
    volume: VolumeVolume | None = None
    tmpfs: VolumeTmpfs | None = None
    image: VolumeImage | None = None


class FileReference(Spec):
    """A service's use of a secret or config."""

    KEEP_ZERO = frozenset({"mode"})
    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: FileMode | None = None


class ServiceDependency(Spec):
    KEEP_ZERO = frozenset({"required"})
    condition: str | None = None
    restart: bool | None = None
    required: bool = True


class Ulimit(Spec):
    single: int | None = None
    soft: int | None = None
    hard: int | None = None


class ServiceNetwork(Spec):
    aliases: list[str] | None = None
    driver_opts: dict[str, Any] | None = None
    gw_priority: int | None = None
    interface_name: str | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: list[str] | None = None
    mac_address: str | None = None
    priority: int | None = None


class ServiceModel(Spec):
    endpoint_var: str | None = None
    model_var: str | None = None


class HealthCheck(Spec):
    KEEP_ZERO = frozenset({"timeout", "interval", "retries", "start_period", "start_interval"})
    test: list[str] | None = None
    timeout: Duration | None = None
    interval: Duration | None = None
    retries: int | None = Field(default=None, ge=0)
    start_period: Duration | None = None
    start_interval: Duration | None = None
    disable: bool | None = None


class Logging(Spec):
    driver: str | None = None
    options: NullableStrMap | None = None


class DeviceRequest(Spec):
    capabilities: list[str] | None = None
    driver: str | None = None
    count: int | str | None = None
    device_ids: list[str] | None = None
    options: dict[str, Any] | None = None


class DiscreteResource(Spec):
    kind: str
    value: int


class GenericResource(Spec):
    discrete_resource_spec: DiscreteResource | None = None


class Resource(Spec):
    cpus: float | None = None
    memory: ByteSize | None = None
    pids: int | None = None
    devices: list[DeviceRequest] | None = None
    generic_resources: list[GenericResource] | None = None


class Resources(Spec):
    limits: Resource | None = None
    reservations: Resource | None = None


class UpdateConfig(Spec):
    KEEP_ZERO = frozenset({"parallelism"})
    parallelism: int | None = Field(default=None, ge=0)
    delay: Duration | None = None
    failure_action: str | None = None
    monitor: Duration | None = None
    max_failure_ratio: float | None = None
    order: str | None = None


class RestartPolicy(Spec):
    KEEP_ZERO = frozenset({"delay", "max_attempts", "window"})
    condition: str | None = None
    delay: Duration | None = None
    max_attempts: int | None = Field(default=None, ge=0)
    window: Duration | None = None


class PlacementPreference(Spec):
    spread: str | None = None


class Placement(Spec):
    constraints: list[str] | None = None
    preferences: list[PlacementPreference] | None = None
    max_replicas_per_node: int | None = None


class Deploy(Spec):
    KEEP_ZERO = frozenset({"replicas"})
    mode: str | None = None
    replicas: int | None = Field(default=None, ge=0)
    labels: StrMap | None = None
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None
    placement: Placement | None = None
    endpoint_mode: str | None = None


class BuildConfig(Spec):
    context: str | None = None
    dockerfile: str | None = None
    dockerfile_inline: str | None = None
    entitlements: list[str] | None = None
    args: NullableStrMap | None = None
    provenance: str | None = None
    sbom: str | None = None
    ssh: list[str] | None = None
    labels: StrMap | None = None
    cache_from: list[str] | None = None
    cache_to: list[str] | None = None
    no_cache: bool | None = None
    no_cache_filter: list[str] | None = None
    additional_contexts: StrMap | None = None
    pull: bool | None = None
    extra_hosts: list[str] | None = None
    isolation: str | None = None
    network: str | None = None
    target: str | None = None
    secrets: list[FileReference] | None = None
    shm_size: ByteSize | None = None
    tags: list[str] | None = None
    ulimits: dict[str, Ulimit] | None = None
    platforms: list[str] | None = None
    privileged: bool | None = None


class WatchRule(Spec):
    path: str
    action: str
    target: str | None = None
    ignore: list[str] | None = None
    include: list[str] | None = None
    initial_sync: bool | None = None
    exec: ServiceHook | None = None


class Develop(Spec):
    watch: list[WatchRule] | None = None


class WeightDevice(Spec):
    path: str
    weight: int


class ThrottleDevice(Spec):
    path: str
    rate: ByteSize


class BlkioConfig(Spec):
    weight: int | None = None
    weight_device: list[WeightDevice] | None = None
    device_read_bps: list[ThrottleDevice] | None = None
    device_read_iops: list[ThrottleDevice] | None = None
    device_write_bps: list[ThrottleDevice] | None = None
    device_write_iops: list[ThrottleDevice] | None = None


class DeviceMapping(Spec):
    source: str | None = None
    target: str | None = None
    permissions: str | None = None


class CredentialSpec(Spec):
    config: str | None = None
    file: str | None = None
    registry: str | None = None


class Provider(Spec):
    type: str | None = None
    options: dict[str, Any] | None = None


class EnvFile(Spec):
    path: str
    required: bool = True
    format: str | None = None


class Extends(Spec):
    file: str | None = None
    service: str


class ServiceConfig(Spec):
    """One service, canonical. Field order is the order compose prints."""

    KEEP_ZERO = frozenset({"attach", "init", "scale", "stop_grace_period"})

    profiles: list[str] | None = None
    annotations: StrMap | None = None
    attach: bool | None = None
    build: BuildConfig | None = None
    develop: Develop | None = None
    blkio_config: BlkioConfig | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroup_parent: str | None = None
    cgroup: str | None = None
    cpu_count: int | None = None
    cpu_percent: float | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    cpu_rt_period: int | str | None = None
    cpu_rt_runtime: int | str | None = None
    cpus: float | None = None
    cpuset: str | None = None
    cpu_shares: int | None = None
    command: list[str] | None = None
    configs: list[FileReference] | None = None
    container_name: str | None = None
    credential_spec: CredentialSpec | None = None
    depends_on: dict[str, ServiceDependency] | None = None
    deploy: Deploy | None = None
    device_cgroup_rules: list[str] | None = None
    devices: list[DeviceMapping] | None = None
    dns: list[str] | None = None
    dns_opt: list[str] | None = None
    dns_search: list[str] | None = None
    domainname: str | None = None
    entrypoint: list[str] | None = None
    provider: Provider | None = None
    environment: NullableStrMap | None = None
    env_file: list[EnvFile] | None = None
    expose: list[str] | None = None
    extends: Extends | None = None
    external_links: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    gpus: list[DeviceRequest] | str | None = None
    hostname: str | None = None
    healthcheck: HealthCheck | None = None
    image: str | None = None
    init: bool | None = None
    ipc: str | None = None
    isolation: str | None = None
    labels: StrMap | None = None
    label_file: list[str] | None = None
    links: list[str] | None = None
    logging: Logging | None = None
    mem_limit: ByteSize | None = None
    mem_reservation: ByteSize | None = None
    memswap_limit: ByteSize | None = None
    mem_swappiness: int | None = None
    mac_address: str | None = None
    models: dict[str, ServiceModel | None] | None = None
    network_mode: str | None = None
    networks: dict[str, ServiceNetwork | None] | None = None
    oom_kill_disable: bool | None = None
    oom_score_adj: int | None = None
    pid: str | None = None
    pids_limit: int | None = None
    platform: str | None = None
    ports: list[PortConfig] | None = None
    privileged: bool | None = None
    pull_policy: str | None = None
    read_only: bool | None = None
    restart: str | None = None
    runtime: str | None = None
    scale: int | None = Field(default=None, ge=0)
    secrets: list[FileReference] | None = None
    security_opt: list[str] | None = None
    shm_size: ByteSize | None = None
    stdin_open: bool | None = None
    stop_grace_period: Duration | None = None
    stop_signal: str | None = None
    storage_opt: dict[str, Any] | None = None
    sysctls: StrMap | None = None
    tmpfs: list[str] | None = None
    tty: bool | None = None
    ulimits: dict[str, Ulimit] | None = None
    use_api_socket: bool | None = None
    user: str | None = None
    userns_mode: str | None = None
    uts: str | None = None
    volume_driver: str | None = None
    volumes: list[ServiceVolume] | None = None
    volumes_from: list[str] | None = None
    working_dir: str | None = None
    post_start: list[ServiceHook] | None = None
    pre_stop: list[ServiceHook] | None = None

    def replicas(self) -> int:
        """How many tasks this service wants: `scale`, then `deploy.replicas`, else 1."""
        if self.scale is not None:
            return self.scale
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        return 1


class IpamPool(Spec):
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: StrMap | None = None


class Ipam(Spec):
    driver: str | None = None
    config: list[IpamPool] | None = None
    options: StrMap | None = None


class NetworkConfig(Spec):
    KEEP_ZERO = frozenset({"enable_ipv4", "enable_ipv6"})
    name: str | None = None
    driver: str | None = None
    driver_opts: dict[str, Any] | None = None
    ipam: Ipam | None = None
    external: bool | None = None
    internal: bool | None = None
    attachable: bool | None = None
    labels: StrMap | None = None
    enable_ipv4: bool | None = None
    enable_ipv6: bool | None = None


class VolumeConfig(Spec):
    name: str | None = None
    driver: str | None = None
    driver_opts: dict[str, Any] | None = None
    external: bool | None = None
    labels: StrMap | None = None


class FileObjectConfig(Spec):
    """A top-level secret or config."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool | None = None
    labels: StrMap | None = None
    driver: str | None = None
    driver_opts: dict[str, Any] | None = None
    template_driver: str | None = None


class ModelConfig(Spec):
    name: str | None = None
    model: str | None = None
    context_size: int | None = None
    runtime_flags: list[str] | None = None


class Project(Spec):
    """A loaded, canonical compose project."""

    name: str
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    networks: dict[str, NetworkConfig] = Field(default_factory=dict)
    volumes: dict[str, VolumeConfig] = Field(default_factory=dict)
    secrets: dict[str, FileObjectConfig] = Field(default_factory=dict)
    configs: dict[str, FileObjectConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    # Not part of the compose document: where and how it was loaded.
    working_dir: str = Field(default="", exclude=True)
    compose_files: list[str] = Field(default_factory=list, exclude=True)
    environment: dict[str, str] = Field(default_factory=dict, exclude=True)
    disabled_services: dict[str, ServiceConfig] = Field(default_factory=dict, exclude=True)
    warnings: list[str] = Field(default_factory=list, exclude=True)

    def service_names(self) -> list[str]:
        return sorted(self.services)

    def service_dependencies(self, name: str | None = None) -> dict[str, Any]:
        """What services depend on, with conditions.

        With a name: `{dependency: ServiceDependency}` of that service; without:
        `{service: {dependency: ServiceDependency}}` for every enabled service.
        """
        if name is not None:
            return dict(self.services[name].depends_on or {})
        return {svc: dict(cfg.depends_on or {}) for svc, cfg in self.services.items()}

    def all_profiles(self) -> list[str]:
        """Every profile named by any service, enabled or not."""
        names: set[str] = set()
        for svc in (*self.services.values(), *self.disabled_services.values()):
            names.update(svc.profiles or ())
        return sorted(names)
