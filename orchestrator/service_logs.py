"""``orch.v1.Logs/ServiceLogs``: a service's logs gathered from every node that ran its tasks.

A task's container lives on the node the scheduler placed it on, so a manager reads the logs
where they are: for each task it opens the Engine API of the task's node (the node's advertised
TCP address, or this daemon's own unix socket for its own tasks) and streams ``ContainerLogs``.
The per-task streams are merged into one stream of JSON messages, line by line as they arrive,
so ``--follow`` interleaves the nodes the way ``docker service logs -f`` does.

Request: ``{"service", "follow", "tail", "timestamps"}``. Each reply message is one of
``{"task_id", "name", "node", "stream", "time", "data"}`` (``data`` base64: logs are bytes) or
``{"error": "..."}`` when one node could not be read (the other nodes' lines still come).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc

from orchestrator.errors import InvalidArgument, OrchError

if TYPE_CHECKING:
    from orchestrator.manager import Manager
    from orchestrator.model import Task

log = logging.getLogger(__name__)

SERVICE = "orch.v1.Logs"
METHOD = f"/{SERVICE}/ServiceLogs"
NON_FOLLOW_TIMEOUT = 30.0
_DONE = object()


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _decode(raw: bytes) -> dict[str, Any]:
    return json.loads(raw or b"{}")


class ServiceLogs:
    """Fans one request out to the engines of the service's nodes and merges what they send."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def handler(self) -> grpc.GenericRpcHandler:
        from orchestrator.api import status_code

        def call(request: dict[str, Any], context: grpc.ServicerContext) -> Iterator[dict[str, Any]]:
            try:
                yield from self.stream(request, context)
            except OrchError as err:
                context.abort(status_code(err), str(err))

        method = grpc.unary_stream_rpc_method_handler(call, request_deserializer=_decode, response_serializer=_encode)
        return grpc.method_handlers_generic_handler(SERVICE, {"ServiceLogs": method})

    def targets(self, tasks: list[Task]) -> dict[str, tuple[str, str]]:
        """node id -> (gRPC target of its engine, hostname); this node through its own socket."""
        view = self.m.store.view()
        out: dict[str, tuple[str, str]] = {}
        for node_id in {t.node_id for t in tasks}:
            node = view.get("node", node_id)
            hostname = (node.hostname if node is not None else "") or node_id
            if node_id == self.m.node_id:
                out[node_id] = (f"unix://{self.m.socket_path}", hostname)
            else:
                out[node_id] = ((node.status.addr if node is not None else "").removeprefix("tcp://"), hostname)
        return out

    def stream(self, req: dict[str, Any], context: grpc.ServicerContext) -> Iterator[dict[str, Any]]:
        from orchestrator.api import Control

        self.m._require_manager()
        ref = str(req.get("service", ""))
        if not ref:
            raise InvalidArgument("service logs needs a service name or id")
        view = self.m.store.view()
        svc = Control(self.m.store, self.m).resolve_service(view, ref)
        tasks = sorted((t for t in view.all("task") if t.service_id == svc.id and t.node_id),
                       key=lambda t: (t.slot, t.node_id, t.id))
        follow, tail, stamps = bool(req.get("follow")), int(req.get("tail", -1)), bool(req.get("timestamps"))
        targets = self.targets(tasks)
        channels = {nid: grpc.insecure_channel(tgt, options=[("grpc.enable_http_proxy", 0)])
                    for nid, (tgt, _) in targets.items() if tgt}
        q: queue.Queue[Any] = queue.Queue(maxsize=1024)
        calls: list[Any] = []
        lock = threading.Lock()
        cancelled = threading.Event()

        def cancel() -> None:
            cancelled.set()
            with lock:
                for c in calls:
                    c.cancel()

        context.add_callback(cancel)

        def offer(item: Any) -> None:
            """Queue ``item`` unless the caller went away (a full queue must not strand a pump)."""
            while not cancelled.is_set():
                try:
                    q.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue

        def pump(task: Task) -> None:
            from proto.orch.v1 import engine_pb2 as epb
            from proto.orch.v1 import engine_pb2_grpc

            hostname = targets[task.node_id][1]
            try:
                ch = channels.get(task.node_id)
                if ch is None:
                    offer({"error": f"node {hostname} has no advertised address: its logs cannot be read"})
                    return
                ereq = epb.LogsRequest(id=task.status.container_id or task.name, follow=follow, tail=tail,
                                       timestamps=stamps, stdout=True, stderr=True)
                call = engine_pb2_grpc.EngineStub(ch).ContainerLogs(ereq, timeout=None if follow else NON_FOLLOW_TIMEOUT)
                with lock:
                    calls.append(call)
                    if cancelled.is_set():
                        call.cancel()
                base = {"task_id": task.id, "name": task.name, "node": hostname}
                for e in call:
                    offer({**base, "stream": e.stream, "time": e.time, "data": base64.b64encode(e.data).decode()})
            except grpc.RpcError as err:
                code = err.code() if hasattr(err, "code") else None  # type: ignore[attr-defined]
                if code == grpc.StatusCode.UNAVAILABLE:
                    offer({"error": f"node {hostname} is unreachable: the logs of {task.name} are missing"})
                elif code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.CANCELLED):
                    log.debug("logs of %s on %s: %s", task.name, hostname, err)
                # NOT_FOUND: the container is gone (pruned history): nothing to show, as docker does
            finally:
                offer(_DONE)

        threads = [threading.Thread(target=pump, args=(t,), name=f"logs-{t.id[:12]}", daemon=True) for t in tasks]
        for th in threads:
            th.start()
        try:
            running = len(threads)
            while running and not cancelled.is_set():
                try:
                    item = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is _DONE:
                    running -= 1
                else:
                    yield item
        finally:
            cancel()
            for ch in channels.values():
                ch.close()


def open_stream(channel: grpc.Channel, request: dict[str, Any]) -> Any:
    """The client side: an iterator (and cancellable call) of the reply messages described above."""
    fn = channel.unary_stream(METHOD, request_serializer=_encode, response_deserializer=_decode)
    return fn(request)


def decode_data(msg: dict[str, Any]) -> bytes:
    return base64.b64decode(msg.get("data", ""))
