"""The manager role of orchd, composed: Raft store, leader loops, dispatcher, ControlAPI, local agent.

::

    orchd ── Manager.start()
               ├─ ClusterStore (Raft group of one on 127.0.0.1:<port>, journal under <state>/raft/)
               │     └─ on leadership: LeaderLoops.set_leader, first time: init the cluster
               ├─ Dispatcher (sessions, heartbeats, status batches) ─┐ registered on the daemon's
               ├─ ControlServicer (orch cluster|node|service)  ──────┘ gRPC server
               └─ Worker (this node's agent) ══ Session over the daemon's own socket

A single-node setup is a cluster of one (DESIGN.md section 1): the daemon initializes it by itself
on first start, exactly as ``orch cluster init`` would, so ``orch service create`` just works. The
node id and the Raft address persist in the state dir, so a restarted daemon recovers the same
cluster from its journal and its agent re-adopts the running task containers.

What it does not do yet: join/leave other managers and workers (``orch lab``), TLS, a CA.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import Unavailable
from orchestrator.model import (
    DEFAULT_CLUSTER_ID,
    Cluster,
    ClusterSettings,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeRole,
    Reachability,
    new_id,
)
from orchestrator.store import commands
from orchestrator.store.raft import ClusterStore, RaftSettings

log = logging.getLogger("orch.manager")

READY_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _join_token(kind: str) -> str:
    return f"SWMTKN-1-{secrets.token_hex(25)}-{kind[0]}{secrets.token_hex(12)}"


class Manager:
    def __init__(
        self,
        state_dir: Path,
        engine: Any,
        server: Any,
        socket_path: str,
        heartbeat_period: float | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.engine = engine
        self.server = server
        self.socket_path = socket_path
        env_period = os.environ.get("ORCH_HEARTBEAT_PERIOD")
        self.heartbeat_period = heartbeat_period or (float(env_period) if env_period else None)
        self.raft_dir = self.state_dir / "raft"
        self.node_id = ""
        self.ready = threading.Event()
        self._init_lock = threading.Lock()
        self.cluster_store: ClusterStore | None = None
        self._loops: Any = None
        self._dispatcher: Any = None
        self._worker: Any = None

    # -- identity -----------------------------------------------------------------------------
    def _identity(self) -> tuple[str, str]:
        """(node id, raft address), created once and kept in the state dir."""
        self.raft_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "node.json"
        try:
            data = json.loads(path.read_text())
            return str(data["node_id"]), str(data["raft_addr"])
        except (OSError, ValueError, KeyError):
            pass
        data = {"node_id": new_id(), "raft_addr": f"127.0.0.1:{_free_port()}"}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
        return data["node_id"], data["raft_addr"]

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Build everything and register the servicers; call before ``server.start()``."""
        from agent.worker import Worker
        from orchestrator.api import Control, ControlServicer
        from orchestrator.dispatcher import Dispatcher
        from orchestrator.reconcile.leader import LeaderLoops
        from proto.orch.v1 import control_pb2_grpc, dispatcher_pb2_grpc

        self.node_id, raft_addr = self._identity()
        self.cluster_store = ClusterStore(RaftSettings(self_addr=raft_addr, data_dir=self.raft_dir))
        store = self.cluster_store.store
        self._loops = LeaderLoops(store)
        period = self.heartbeat_period or ClusterSettings().heartbeat_period
        self._dispatcher = Dispatcher(store, heartbeat_period=period, is_leader=self.cluster_store.is_leader,
                                      ready=self.ready)
        control = Control(store, self)
        control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(control, self.ready), self.server)
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(self._dispatcher.servicer, self.server)
        self.cluster_store.on_leadership(self._on_leadership)
        self._dispatcher.start()
        self._worker = Worker(self.engine, self.node_id, f"unix://{self.socket_path}")
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._dispatcher is not None:
            self._dispatcher.stop()
        if self._loops is not None:
            self._loops.stop()
        if self.cluster_store is not None:
            self.cluster_store.close()

    def _on_leadership(self, leading: bool) -> None:
        # Called from the store's notifier thread (never the Raft tick thread).
        if not leading:
            self.ready.clear()
            self._loops.set_leader(False)
            return
        try:
            self._barrier()
            self.init_cluster("", "", existing_ok=True)
        except Exception:  # noqa: BLE001 - the ControlAPI and the dispatcher report "not ready" meanwhile
            log.exception("initializing the cluster failed")
            return
        self._loops.set_leader(True)
        self.ready.set()

    def _barrier(self) -> None:
        """Commit an empty command and wait for it: every earlier journal entry is then applied.

        A restarted manager replays its journal progressively; serving agents before that would send
        them an incomplete assignment set, and they would remove the containers of the missing tasks.
        """
        assert self.cluster_store is not None
        deadline = time.monotonic() + READY_TIMEOUT
        wake = threading.Event()
        while True:
            cmd = {"v": commands.COMMAND_VERSION, "id": secrets.token_hex(8), "ts": time.time(), "groups": []}
            try:
                self.cluster_store.propose(commands.encode(cmd))
                return
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                wake.wait(0.1)

    # -- ClusterFacts for the ControlAPI ------------------------------------------------------
    def leader_node_id(self) -> str:
        cs = self.cluster_store
        if cs is None:
            return ""
        if cs.is_leader():
            return self.node_id
        addr = cs.leader()
        for node in cs.store.view().all("node"):
            if node.manager_status is not None and node.manager_status.raft_addr == addr:
                return str(node.id)
        return ""

    def init_cluster(self, advertise_addr: str, listen_addr: str, existing_ok: bool = False) -> tuple[str, str]:
        """Create the Cluster object and this node (a manager) unless they exist."""
        assert self.cluster_store is not None
        store = self.cluster_store.store
        with self._init_lock:
            view = store.view()
            if view.get("cluster", DEFAULT_CLUSTER_ID) is not None and view.get("node", self.node_id) is not None:
                return self.node_id, DEFAULT_CLUSTER_ID
            settings = ClusterSettings(heartbeat_period=self.heartbeat_period or ClusterSettings().heartbeat_period)
            cluster = Cluster(id=DEFAULT_CLUSTER_ID, settings=settings,
                              join_tokens=JoinTokens(worker=_join_token("worker"), manager=_join_token("manager")))
            node = Node(
                id=self.node_id,
                hostname=os.uname().nodename,
                role=NodeRole.MANAGER,
                manager_status=ManagerStatus(raft_addr=self.cluster_store.settings.self_addr, leader=True,
                                             reachability=Reachability.REACHABLE),
            )

            def write(tx: Any) -> None:
                if tx.get("cluster", DEFAULT_CLUSTER_ID) is None:
                    tx.create(cluster)
                if tx.get("node", self.node_id) is None:
                    tx.create(node)

            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                try:
                    store.update(write)
                    break
                except Unavailable:
                    if time.monotonic() > deadline:
                        raise
                    threading.Event().wait(0.1)
            log.info("initialized a cluster of one: node %s", self.node_id)
            return self.node_id, DEFAULT_CLUSTER_ID
