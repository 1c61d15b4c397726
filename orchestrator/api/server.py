"""The gRPC face of :class:`orchestrator.api.control.Control`: a thin adapter.

Each method decodes the request, calls the in-process control with the same shape and encodes the
reply. Domain errors become gRPC status codes here and only here; anything unexpected is logged and
reported as INTERNAL with a one-line message (never a traceback to the user).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from orchestrator.api.control import Control
from orchestrator.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OrchError,
    Unavailable,
)
from proto.orch.v1 import control_pb2 as pb
from proto.orch.v1 import control_pb2_grpc as rpc

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
READY_TIMEOUT = 10.0

_CODES: list[tuple[type[OrchError], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (Conflict, grpc.StatusCode.ABORTED),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]


def status_code(err: OrchError) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(err, cls):
            return code
    return grpc.StatusCode.UNKNOWN


def _mapped(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            if self.ready is not None and not self.ready.wait(READY_TIMEOUT):
                raise Unavailable("the manager is still starting (no leader elected yet); retry in a moment")
            return fn(self, request, context)
        except OrchError as err:
            context.abort(status_code(err), str(err))
        except Exception as err:  # noqa: BLE001 - the one place foreign errors become a status
            log.exception("control API %s failed", fn.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")

    return wrapper  # type: ignore[return-value]


def _filters(items: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in items:
        out.setdefault(f.key, []).append(f.value)
    return out


def _docs(docs: list[dict[str, Any]]) -> pb.ControlDocuments:
    return pb.ControlDocuments(json=[json.dumps(d) for d in docs])


class ControlServicer(rpc.ControlServicer):
    """``ready`` is set once this manager has a store it can serve (leader elected, cluster initialized)."""

    def __init__(self, control: Control, ready: threading.Event | None = None) -> None:
        self.control = control
        self.ready = ready

    @_mapped
    def InitCluster(self, request: pb.InitClusterRequest, context: grpc.ServicerContext) -> pb.InitClusterReply:
        node_id, cluster_id = self.control.init_cluster(request.advertise_addr, request.listen_addr)
        return pb.InitClusterReply(node_id=node_id, cluster_id=cluster_id)

    @_mapped
    def InspectCluster(self, request: pb.ControlEmpty, context: grpc.ServicerContext) -> pb.ControlDocument:
        return pb.ControlDocument(json=json.dumps(self.control.inspect_cluster()))

    @_mapped
    def ListNodes(self, request: pb.ControlListRequest, context: grpc.ServicerContext) -> pb.ControlDocuments:
        return _docs(self.control.list_nodes(_filters(request.filters)))

    @_mapped
    def InspectNode(self, request: pb.ControlRef, context: grpc.ServicerContext) -> pb.ControlDocument:
        return pb.ControlDocument(json=json.dumps(self.control.inspect_node(request.ref)))

    @_mapped
    def CreateService(self, request: pb.CreateServiceRequest, context: grpc.ServicerContext) -> pb.CreateServiceReply:
        try:
            doc = json.loads(request.spec_json)
        except ValueError as err:
            raise InvalidArgument(f"invalid service spec: not JSON ({err})") from None
        svc = self.control.create_service(doc)
        return pb.CreateServiceReply(id=svc.id, name=svc.spec.name)

    @_mapped
    def CreateNetwork(self, request: pb.CreateNetworkRequest, context: grpc.ServicerContext) -> pb.ControlDocument:
        doc = self.control.create_network(request.name, request.driver, request.subnet, request.gateway,
                                          labels=dict(request.labels), internal=request.internal,
                                          attachable=request.attachable)
        return pb.ControlDocument(json=json.dumps(doc))

    @_mapped
    def ListNetworks(self, request: pb.ControlListRequest, context: grpc.ServicerContext) -> pb.ControlDocuments:
        return _docs(self.control.list_networks(_filters(request.filters)))

    @_mapped
    def InspectNetwork(self, request: pb.ControlRef, context: grpc.ServicerContext) -> pb.ControlDocument:
        return pb.ControlDocument(json=json.dumps(self.control.inspect_network(request.ref)))

    @_mapped
    def RemoveNetwork(self, request: pb.ControlRef, context: grpc.ServicerContext) -> pb.ControlEmpty:
        self.control.remove_network(request.ref)
        return pb.ControlEmpty()

    @_mapped
    def ListServices(self, request: pb.ControlListRequest, context: grpc.ServicerContext) -> pb.ControlDocuments:
        return _docs(self.control.list_services(_filters(request.filters)))

    @_mapped
    def InspectService(self, request: pb.ControlRef, context: grpc.ServicerContext) -> pb.ControlDocument:
        return pb.ControlDocument(json=json.dumps(self.control.inspect_service(request.ref)))

    @_mapped
    def ScaleService(self, request: pb.ScaleServiceRequest, context: grpc.ServicerContext) -> pb.ScaleServiceReply:
        svc = self.control.scale_service(request.ref, request.replicas)
        return pb.ScaleServiceReply(id=svc.id, name=svc.spec.name, replicas=svc.spec.replicas)

    @_mapped
    def UpdateService(self, request: pb.UpdateServiceRequest, context: grpc.ServicerContext) -> pb.UpdateServiceReply:
        if request.rollback:
            svc = self.control.rollback_service(request.ref, request.version)
            return pb.UpdateServiceReply(id=svc.id, name=svc.spec.name, version=svc.meta.version)
        try:
            doc = json.loads(request.spec_json)
        except ValueError as err:
            raise InvalidArgument(f"invalid service spec: not JSON ({err})") from None
        svc = self.control.update_service(request.ref, request.version, doc)
        return pb.UpdateServiceReply(id=svc.id, name=svc.spec.name, version=svc.meta.version)

    @_mapped
    def RemoveServices(self, request: pb.RemoveServicesRequest, context: grpc.ServicerContext) -> pb.RemoveServicesReply:
        return pb.RemoveServicesReply(removed=self.control.remove_services(list(request.refs)))

    @_mapped
    def ListTasks(self, request: pb.ListTasksRequest, context: grpc.ServicerContext) -> pb.ControlDocuments:
        return _docs(self.control.list_tasks(_filters(request.filters)))
