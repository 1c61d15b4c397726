from proto.orch.v1 import engine_pb2 as _engine_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeResources(_message.Message):
    __slots__ = ("nano_cpus", "memory_bytes")
    NANO_CPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    nano_cpus: int
    memory_bytes: int
    def __init__(self, nano_cpus: _Optional[int] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("node_id", "hostname", "resources", "engine_labels", "addr")
    class EngineLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_LABELS_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    hostname: str
    resources: NodeResources
    engine_labels: _containers.ScalarMap[str, str]
    addr: str
    def __init__(self, node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., resources: _Optional[_Union[NodeResources, _Mapping]] = ..., engine_labels: _Optional[_Mapping[str, str]] = ..., addr: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TaskStatusUpdate(_message.Message):
    __slots__ = ("task_id", "state", "message", "err", "container_id", "pid", "has_exit_code", "exit_code")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: int
    message: str
    err: str
    container_id: str
    pid: int
    has_exit_code: bool
    exit_code: int
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[int] = ..., message: _Optional[str] = ..., err: _Optional[str] = ..., container_id: _Optional[str] = ..., pid: _Optional[int] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ...) -> None: ...

class StatusBatch(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[TaskStatusUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[TaskStatusUpdate, _Mapping]]] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("register", "heartbeat", "status")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    register: Register
    heartbeat: Heartbeat
    status: StatusBatch
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., status: _Optional[_Union[StatusBatch, _Mapping]] = ...) -> None: ...

class TaskAssignment(_message.Message):
    __slots__ = ("id", "service_id", "service_name", "slot", "node_id", "desired_state", "observed_state", "container_id", "container", "service_labels")
    class ServiceLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DESIRED_STATE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_STATE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LABELS_FIELD_NUMBER: _ClassVar[int]
    id: str
    service_id: str
    service_name: str
    slot: int
    node_id: str
    desired_state: int
    observed_state: int
    container_id: str
    container: _engine_pb2.ContainerSpec
    service_labels: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., service_id: _Optional[str] = ..., service_name: _Optional[str] = ..., slot: _Optional[int] = ..., node_id: _Optional[str] = ..., desired_state: _Optional[int] = ..., observed_state: _Optional[int] = ..., container_id: _Optional[str] = ..., container: _Optional[_Union[_engine_pb2.ContainerSpec, _Mapping]] = ..., service_labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Assignments(_message.Message):
    __slots__ = ("kind", "tasks", "removed")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        COMPLETE: _ClassVar[Assignments.Kind]
        INCREMENTAL: _ClassVar[Assignments.Kind]
    COMPLETE: Assignments.Kind
    INCREMENTAL: Assignments.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    kind: Assignments.Kind
    tasks: _containers.RepeatedCompositeFieldContainer[TaskAssignment]
    removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[Assignments.Kind, str]] = ..., tasks: _Optional[_Iterable[_Union[TaskAssignment, _Mapping]]] = ..., removed: _Optional[_Iterable[str]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("node_id", "heartbeat_period", "managers")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    heartbeat_period: float
    managers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node_id: _Optional[str] = ..., heartbeat_period: _Optional[float] = ..., managers: _Optional[_Iterable[str]] = ...) -> None: ...

class Managers(_message.Message):
    __slots__ = ("addrs",)
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    addrs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, addrs: _Optional[_Iterable[str]] = ...) -> None: ...

class OverlayEndpoint(_message.Message):
    __slots__ = ("ip", "node_addr", "task", "service_id", "aliases", "running")
    IP_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    ip: str
    node_addr: str
    task: str
    service_id: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    running: bool
    def __init__(self, ip: _Optional[str] = ..., node_addr: _Optional[str] = ..., task: _Optional[str] = ..., service_id: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., running: _Optional[bool] = ...) -> None: ...

class OverlayService(_message.Message):
    __slots__ = ("service_id", "name", "aliases", "vip")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    vip: str
    def __init__(self, service_id: _Optional[str] = ..., name: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., vip: _Optional[str] = ...) -> None: ...

class OverlayNetwork(_message.Message):
    __slots__ = ("id", "name", "subnet", "gateway", "vni", "ingress", "lb_addr", "endpoints", "services", "internal")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    INGRESS_FIELD_NUMBER: _ClassVar[int]
    LB_ADDR_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    subnet: str
    gateway: str
    vni: int
    ingress: bool
    lb_addr: str
    endpoints: _containers.RepeatedCompositeFieldContainer[OverlayEndpoint]
    services: _containers.RepeatedCompositeFieldContainer[OverlayService]
    internal: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., subnet: _Optional[str] = ..., gateway: _Optional[str] = ..., vni: _Optional[int] = ..., ingress: _Optional[bool] = ..., lb_addr: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[OverlayEndpoint, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[OverlayService, _Mapping]]] = ..., internal: _Optional[bool] = ...) -> None: ...

class MeshPort(_message.Message):
    __slots__ = ("protocol", "published_port", "target_port", "service_id", "backends")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_PORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    published_port: int
    target_port: int
    service_id: str
    backends: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol: _Optional[str] = ..., published_port: _Optional[int] = ..., target_port: _Optional[int] = ..., service_id: _Optional[str] = ..., backends: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkState(_message.Message):
    __slots__ = ("networks", "mesh")
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    MESH_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[OverlayNetwork]
    mesh: _containers.RepeatedCompositeFieldContainer[MeshPort]
    def __init__(self, networks: _Optional[_Iterable[_Union[OverlayNetwork, _Mapping]]] = ..., mesh: _Optional[_Iterable[_Union[MeshPort, _Mapping]]] = ...) -> None: ...

class SessionMessage(_message.Message):
    __slots__ = ("welcome", "assignments", "managers", "network_state")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_STATE_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    assignments: Assignments
    managers: Managers
    network_state: NetworkState
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., assignments: _Optional[_Union[Assignments, _Mapping]] = ..., managers: _Optional[_Union[Managers, _Mapping]] = ..., network_state: _Optional[_Union[NetworkState, _Mapping]] = ...) -> None: ...
