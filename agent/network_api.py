"""The Networks gRPC service: a thin adapter from proto messages to the NetworkManager.

Errors map to status codes through agent/api.py's ``_errors`` (one vocabulary for the whole agent).
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from agent.api import _errors
from agent.network.manager import NetworkManager
from agent.runtime.engine import Engine
from proto.orch.v1 import engine_pb2 as epb
from proto.orch.v1 import network_pb2 as pb
from proto.orch.v1 import network_pb2_grpc as rpc


class NetworkService(rpc.NetworksServicer):
    def __init__(self, manager: NetworkManager, engine: Engine) -> None:
        self.manager = manager
        self.engine = engine

    @_errors
    def Create(self, request: pb.NetworkCreateRequest, context: grpc.ServicerContext) -> pb.NetworkCreateReply:  # noqa: N802
        net = self.manager.create(
            request.name, driver=request.driver or "bridge", subnet=request.subnet, gateway=request.gateway,
            ip_range=request.ip_range, internal=request.internal, attachable=request.attachable,
            options=dict(request.options), labels=dict(request.labels))
        return pb.NetworkCreateReply(id=net.id)

    @_errors
    def List(self, request: pb.NetworkListRequest, context: grpc.ServicerContext) -> pb.NetworkListReply:  # noqa: N802
        out = []
        for n in self.manager.networks():
            out.append(pb.NetworkSummary(
                id=n.id, name=n.name, driver=n.driver, scope="local", internal=n.internal,
                attachable=n.attachable, ipv6=False, created=n.created, labels=n.labels,
                containers=len(self.manager.members(n)), subnet=n.subnet, gateway=n.gateway))
        return pb.NetworkListReply(networks=out)

    @_errors
    def Inspect(self, request: pb.NetworkRef, context: grpc.ServicerContext) -> epb.JsonReply:  # noqa: N802
        return epb.JsonReply(json=json.dumps(self.manager.inspect(request.ref)))

    @_errors
    def Remove(self, request: pb.NetworkRef, context: grpc.ServicerContext) -> epb.Empty:  # noqa: N802
        self.manager.remove(request.ref)
        return epb.Empty()

    @_errors
    def Prune(self, request: pb.NetworkPruneRequest, context: grpc.ServicerContext) -> pb.NetworkPruneReply:  # noqa: N802
        deleted = self.manager.prune(until=request.until or None, labels=list(request.labels),
                                     not_labels=list(request.not_labels))
        return pb.NetworkPruneReply(deleted=deleted)

    @_errors
    def Connect(self, request: pb.NetworkConnectRequest, context: grpc.ServicerContext) -> epb.Empty:  # noqa: N802
        self.manager.connect(request.network, request.container, aliases=list(request.aliases),
                             ip=request.ipv4_address)
        return epb.Empty()

    @_errors
    def Disconnect(self, request: pb.NetworkDisconnectRequest, context: grpc.ServicerContext) -> epb.Empty:  # noqa: N802
        self.manager.disconnect(request.network, request.container, force=request.force)
        return epb.Empty()

    @_errors
    def Port(self, request: pb.PortRequest, context: grpc.ServicerContext) -> pb.PortReply:  # noqa: N802
        c = self.engine.get(request.container)
        ports: list[Any] = self.manager.ports_of(c)
        return pb.PortReply(name=c.name, ports=[
            pb.PortPublication(container_port=p.container_port, protocol=p.protocol, host_ip=p.host_ip,
                               host_port=p.host_port)
            for p in sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip))])
