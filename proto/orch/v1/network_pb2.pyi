from proto.orch.v1 import engine_pb2 as _engine_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NetworkCreateRequest(_message.Message):
    __slots__ = ("name", "driver", "subnet", "gateway", "ip_range", "internal", "attachable", "options", "labels")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    IP_RANGE_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    ATTACHABLE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    driver: str
    subnet: str
    gateway: str
    ip_range: str
    internal: bool
    attachable: bool
    options: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., driver: _Optional[str] = ..., subnet: _Optional[str] = ..., gateway: _Optional[str] = ..., ip_range: _Optional[str] = ..., internal: _Optional[bool] = ..., attachable: _Optional[bool] = ..., options: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class NetworkCreateReply(_message.Message):
    __slots__ = ("id", "warning")
    ID_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    id: str
    warning: str
    def __init__(self, id: _Optional[str] = ..., warning: _Optional[str] = ...) -> None: ...

class NetworkSummary(_message.Message):
    __slots__ = ("id", "name", "driver", "scope", "internal", "attachable", "ipv6", "created", "labels", "containers", "subnet", "gateway")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    ATTACHABLE_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    driver: str
    scope: str
    internal: bool
    attachable: bool
    ipv6: bool
    created: str
    labels: _containers.ScalarMap[str, str]
    containers: int
    subnet: str
    gateway: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., driver: _Optional[str] = ..., scope: _Optional[str] = ..., internal: _Optional[bool] = ..., attachable: _Optional[bool] = ..., ipv6: _Optional[bool] = ..., created: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., containers: _Optional[int] = ..., subnet: _Optional[str] = ..., gateway: _Optional[str] = ...) -> None: ...

class NetworkListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NetworkListReply(_message.Message):
    __slots__ = ("networks",)
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[NetworkSummary]
    def __init__(self, networks: _Optional[_Iterable[_Union[NetworkSummary, _Mapping]]] = ...) -> None: ...

class NetworkRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class NetworkPruneRequest(_message.Message):
    __slots__ = ("until", "labels", "not_labels")
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NOT_LABELS_FIELD_NUMBER: _ClassVar[int]
    until: float
    labels: _containers.RepeatedScalarFieldContainer[str]
    not_labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, until: _Optional[float] = ..., labels: _Optional[_Iterable[str]] = ..., not_labels: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkPruneReply(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[_Iterable[str]] = ...) -> None: ...

class NetworkConnectRequest(_message.Message):
    __slots__ = ("network", "container", "aliases", "ipv4_address")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    IPV4_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    network: str
    container: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    ipv4_address: str
    def __init__(self, network: _Optional[str] = ..., container: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., ipv4_address: _Optional[str] = ...) -> None: ...

class NetworkDisconnectRequest(_message.Message):
    __slots__ = ("network", "container", "force")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    network: str
    container: str
    force: bool
    def __init__(self, network: _Optional[str] = ..., container: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class PortPublication(_message.Message):
    __slots__ = ("container_port", "protocol", "host_ip", "host_port")
    CONTAINER_PORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    HOST_PORT_FIELD_NUMBER: _ClassVar[int]
    container_port: int
    protocol: str
    host_ip: str
    host_port: int
    def __init__(self, container_port: _Optional[int] = ..., protocol: _Optional[str] = ..., host_ip: _Optional[str] = ..., host_port: _Optional[int] = ...) -> None: ...

class PortRequest(_message.Message):
    __slots__ = ("container",)
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    container: str
    def __init__(self, container: _Optional[str] = ...) -> None: ...

class PortReply(_message.Message):
    __slots__ = ("ports", "name")
    PORTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[PortPublication]
    name: str
    def __init__(self, ports: _Optional[_Iterable[_Union[PortPublication, _Mapping]]] = ..., name: _Optional[str] = ...) -> None: ...
