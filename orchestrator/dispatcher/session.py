"""The agent Session stream (the contract is written in ``proto/orch/v1/dispatcher.proto``).

One server-side generator per agent: it subscribes to task changes *before* reading the view it
sends as the COMPLETE set, then turns change events into INCREMENTAL messages on each commit. A
reader thread consumes what the agent sends (heartbeats, status batches) so that sending never
waits on receiving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from orchestrator import netalloc
from orchestrator.dispatcher import assignments, netstate
from orchestrator.dispatcher.heartbeats import HeartbeatMonitor
from orchestrator.dispatcher.status import StatusBatcher, StatusReport
from orchestrator.errors import NotFound, OrchError
from orchestrator.model import NodeState, Resources, TaskState
from orchestrator.reconcile import set_node_state
from orchestrator.store import Change, Commit, MemoryStore, Reset, View
from proto.orch.v1 import dispatcher_pb2 as dpb
from proto.orch.v1 import dispatcher_pb2_grpc as drpc

log = logging.getLogger(__name__)

POLL = 0.5
READY_TIMEOUT = 10.0


def report_from_proto(u: dpb.TaskStatusUpdate) -> StatusReport:
    return StatusReport(
        task_id=u.task_id,
        state=TaskState(u.state),
        message=u.message,
        err=u.err,
        container_id=u.container_id,
        pid=u.pid,
        exit_code=u.exit_code if u.has_exit_code else None,
    )


def manager_addrs(view: View) -> list[str]:
    """The dispatcher addresses of the cluster's managers, for agents to fail over to (sorted)."""
    return sorted(n.status.addr for n in view.all("node") if n.manager_status is not None and n.status.addr)


class DispatcherServicer(drpc.DispatcherServicer):
    def __init__(
        self,
        store: MemoryStore,
        heartbeats: HeartbeatMonitor,
        statuses: StatusBatcher,
        heartbeat_period: Callable[[], float],
        clock: Callable[[], float] = time.time,
        ready: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.ready = ready
        self.heartbeats = heartbeats
        self.statuses = statuses
        self.heartbeat_period = heartbeat_period
        self.clock = clock
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def close_sessions(self) -> None:
        """End every open session (this manager lost leadership): agents reconnect to the new leader."""
        self._stopping.set()

    def open_sessions(self) -> None:
        self._stopping.clear()

    def Session(self, request_iterator: Iterator[dpb.SessionRequest], context: grpc.ServicerContext) -> Iterator[dpb.SessionMessage]:
        # Not before the store caught up with its journal: an incomplete COMPLETE set would make the
        # agent remove the containers of the tasks it lacks.
        if self.ready is not None and not self.ready.wait(READY_TIMEOUT):
            context.abort(grpc.StatusCode.UNAVAILABLE, "the manager is not ready yet (no leader, or replaying its journal)")
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "register":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a session must start with Register")
        node_id = self._register(first.register, context)
        closed = threading.Event()
        reader = threading.Thread(target=self._read, args=(node_id, request_iterator, closed),
                                  name=f"orch-session-{node_id[:8]}", daemon=True)
        reader.start()
        yield dpb.SessionMessage(welcome=dpb.Welcome(node_id=node_id, heartbeat_period=self.heartbeat_period(),
                                                     managers=manager_addrs(self.store.view())))
        yield from self._assignments(node_id, context, closed)

    def _register(self, reg: dpb.Register, context: grpc.ServicerContext) -> str:
        try:
            node = self.store.view().get("node", reg.node_id)
            if node is None:
                raise NotFound(f"node {reg.node_id} not found; join the cluster first")
            if reg.hostname or reg.resources.nano_cpus or reg.engine_labels:
                res = Resources(nano_cpus=reg.resources.nano_cpus, memory_bytes=reg.resources.memory_bytes)
                changes: dict[str, Any] = {}
                if reg.hostname and reg.hostname != node.hostname:
                    changes["hostname"] = reg.hostname
                if reg.resources.nano_cpus and res != node.resources:
                    changes["resources"] = res
                if dict(reg.engine_labels) != node.engine_labels:
                    changes["engine_labels"] = dict(reg.engine_labels)
                if changes:
                    self.store.update(lambda tx: tx.update(tx.get("node", node.id).evolve(**changes)))
            self.heartbeats.seen(reg.node_id)
            netalloc.ensure_node_ingress(self.store, reg.node_id)
            set_node_state(self.store, reg.node_id, NodeState.READY, "", self.clock(), addr=reg.addr or None)
        except OrchError as err:
            from orchestrator.api.server import status_code

            context.abort(status_code(err), str(err))
        log.info("agent session opened for node %s", reg.node_id)
        return reg.node_id

    def _read(self, node_id: str, requests: Iterator[dpb.SessionRequest], closed: threading.Event) -> None:
        try:
            for req in requests:
                kind = req.WhichOneof("msg")
                self.heartbeats.seen(node_id)
                if kind == "status":
                    self.statuses.put(node_id, [report_from_proto(u) for u in req.status.updates])
        except grpc.RpcError:
            pass
        except Exception:  # noqa: BLE001
            log.exception("session reader for node %s failed", node_id)
        finally:
            closed.set()

    def _assignments(self, node_id: str, context: grpc.ServicerContext, closed: threading.Event) -> Iterator[dpb.SessionMessage]:
        view, watch = self.store.view_and_watch(["task", "network", "service", "node"])
        managers = manager_addrs(view)
        try:
            current = assignments.assignment_set(view.find("task", node_id=node_id), node_id)
            sent = {tid: assignments.agent_key(t, view) for tid, t in current.items()}
            # the networks first: the agent creates a task's container only on networks it already has
            net_msg = netstate.build(view, node_id)
            net_sent = net_msg.SerializeToString(deterministic=True)
            yield dpb.SessionMessage(network_state=net_msg)
            yield dpb.SessionMessage(assignments=assignments.complete(current, view))
            dirty: set[str] = set()
            net_dirty = False
            while context.is_active() and not closed.is_set() and not self._stopping.is_set():
                event = watch.get(timeout=POLL)
                if event is None:
                    continue
                if isinstance(event, Change) and event.kind == "node":
                    net_dirty = True  # a node's address is its VXLAN endpoint
                    now_managers = manager_addrs(self.store.view())
                    if now_managers != managers:
                        managers = now_managers
                        yield dpb.SessionMessage(managers=dpb.Managers(addrs=managers))
                    continue
                if isinstance(event, Change):
                    old, new = event.old, event.new
                    if netstate.relevant(old) or netstate.relevant(new):
                        net_dirty = True
                    if event.kind == "task" and ((old is not None and getattr(old, "node_id", "") == node_id) or (
                            new is not None and getattr(new, "node_id", "") == node_id)):
                        dirty.add(event.obj.id)
                    continue
                if isinstance(event, Reset):
                    net_dirty = True
                    dirty.update(sent)
                    dirty.update(t.id for t in self.store.view().find("task", node_id=node_id))
                if isinstance(event, Commit | Reset) and (dirty or net_dirty):
                    now_view = self.store.view()
                    if net_dirty:
                        net_dirty = False
                        net_msg = netstate.build(now_view, node_id)
                        data = net_msg.SerializeToString(deterministic=True)
                        if data != net_sent:
                            net_sent = data
                            yield dpb.SessionMessage(network_state=net_msg)
                    if dirty:
                        current = {tid: t for tid in dirty if assignments.assigned(t := now_view.get("task", tid), node_id)}
                        msg = assignments.increment(sent, current, dirty, now_view)
                        dirty = set()
                        if msg is not None:
                            yield dpb.SessionMessage(assignments=msg)
        finally:
            watch.close()
            log.info("agent session closed for node %s", node_id)
