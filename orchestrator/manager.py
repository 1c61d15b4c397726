"""The cluster roles of orchd, composed: Raft store, leader loops, dispatcher, ControlAPI, local agent.

::

    orchd ── Manager.start()
               ├─ ClusterStore (Raft on <advertise ip>:<port+1>, or loopback for a cluster of one;
               │     │           journal under <state>/raft/)   managers only
               │     └─ on leadership: LeaderLoops.set_leader, first time: init the cluster
               ├─ Dispatcher (sessions, heartbeats, status batches) ─┐ registered on the daemon's
               ├─ ControlServicer (orch cluster|node|service)  ──────┤ gRPC server (unix socket and,
               ├─ Membership (join, join tokens, node update)  ──────┘ with --listen-addr, TCP)
               └─ Worker (this node's agent) ══ Session to the leader's dispatcher

A single-node setup is a cluster of one (DESIGN.md section 1): the daemon initializes it by itself
on first start, so ``orch service create`` just works. Such a node may still ``cluster join``
another cluster as long as its own holds nothing but itself (no services, no other nodes): it leaves
it silently, which keeps ``orch lab`` and the first-time user's flow to one command (Docker would ask
for ``swarm leave`` first). Membership persists in ``node.json`` (see :mod:`orchestrator.membership.state`).

Only the leader runs the dispatcher's sessions (as in swarmkit); a follower refuses them at once so
an agent moves on to the next manager it knows, and drops its sessions when it loses leadership.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import FailedPrecondition, InvalidArgument, Unavailable
from orchestrator.membership import rpc, tokens
from orchestrator.membership.state import DEFAULT_PORT, Membership, split_addr
from orchestrator.model import (
    DEFAULT_CLUSTER_ID,
    Availability,
    Cluster,
    ClusterSettings,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeRole,
    NodeState,
    Reachability,
    new_id,
)
from orchestrator.store import MemoryStore, commands
from orchestrator.store.raft import ClusterStore, RaftSettings

log = logging.getLogger("orch.manager")

READY_TIMEOUT = 15.0
MEMBERSHIP_PERIOD = 1.0
NOT_A_MANAGER = "this node is a worker, not a manager: run cluster commands on a manager node"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _ControlGate:
    """The ControlAPI's readiness: a worker refuses at once, a manager waits for its store to catch up."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def wait(self, timeout: float | None = None) -> bool:
        if self.m.membership.role != "manager":
            raise FailedPrecondition(NOT_A_MANAGER)
        return self.m.serving.wait(timeout)


class _DispatchGate:
    """Agent sessions only on the leader: a follower refuses at once so the agent tries the next manager."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout or 0.0)
        while True:
            cs = self.m.cluster_store
            if cs is None or (not cs.is_leader() and cs.leader() is not None):
                return False
            if self.m.ready.wait(0.1):
                return True
            if time.monotonic() > deadline:
                return False


class Manager:
    def __init__(
        self,
        state_dir: Path,
        engine: Any,
        server: Any,
        socket_path: str,
        heartbeat_period: float | None = None,
        advertise_addr: str = "",
        hostname: str = "",
    ) -> None:
        self.state_dir = Path(state_dir)
        self.engine = engine
        self.server = server
        self.socket_path = socket_path
        env_period = os.environ.get("ORCH_HEARTBEAT_PERIOD")
        self.heartbeat_period = heartbeat_period or (float(env_period) if env_period else None)
        self.advertise_addr = advertise_addr
        self.hostname = hostname or os.environ.get("ORCH_HOSTNAME") or os.uname().nodename
        self.raft_dir = self.state_dir / "raft"
        self.node_json = self.state_dir / "node.json"
        self.node_id = ""
        self.membership = Membership(node_id="", raft_addr="")
        self.ready = threading.Event()  # leader: cluster initialized, loops running
        self.serving = threading.Event()  # any manager: its store caught up with the journal
        self._init_lock = threading.Lock()
        self._join_lock = threading.Lock()
        self._stop = threading.Event()
        self.store = MemoryStore()
        self.cluster_store: ClusterStore | None = None
        self._loops: Any = None
        self._dispatcher: Any = None
        self._worker: Any = None

    # -- identity -----------------------------------------------------------------------------
    def _addresses(self) -> tuple[str, str]:
        """(API address, Raft address) from --advertise-addr; Raft listens on the API port + 1."""
        if not self.advertise_addr:
            return "", f"127.0.0.1:{_free_port()}"
        host, port = split_addr(self.advertise_addr, DEFAULT_PORT)
        return f"{host}:{port}", f"{host}:{port + 1}"

    def _load_membership(self) -> Membership:
        self.raft_dir.mkdir(parents=True, exist_ok=True)
        m = Membership.load(self.node_json)
        if m is None:
            api, raft = self._addresses()
            m = Membership(node_id=new_id(), raft_addr=raft, api_addr=api)
            m.save(self.node_json)
        elif self.advertise_addr and not m.api_addr:
            m.api_addr = self._addresses()[0]
            m.save(self.node_json)
        return m

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Build everything and register the servicers; call before ``server.start()``."""
        from agent.worker import Worker
        from orchestrator.api import Control, ControlServicer
        from orchestrator.dispatcher import Dispatcher
        from orchestrator.membership.service import MembershipService
        from orchestrator.reconcile.leader import LeaderLoops
        from orchestrator.service_logs import ServiceLogs
        from proto.orch.v1 import control_pb2_grpc, dispatcher_pb2_grpc

        self.membership = self._load_membership()
        self.node_id = self.membership.node_id
        self._loops = LeaderLoops(self.store)
        period = self.heartbeat_period or ClusterSettings().heartbeat_period
        self._dispatcher = Dispatcher(self.store, heartbeat_period=period, is_leader=self.is_leader,
                                      ready=_DispatchGate(self))  # type: ignore[arg-type]
        control = Control(self.store, self)
        control_pb2_grpc.add_ControlServicer_to_server(ControlServicer(control, _ControlGate(self)),  # type: ignore[arg-type]
                                                       self.server)
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(self._dispatcher.servicer, self.server)
        self.server.add_generic_rpc_handlers((rpc.generic_handler(MembershipService(self).methods()),
                                              ServiceLogs(self).handler()))
        self._dispatcher.start()
        if self.membership.role == "manager":
            self._start_raft(self.membership.peers)
        self._worker = Worker(self.engine, self.node_id, self.agent_targets, hostname=self.hostname,
                              on_managers=self._learn_managers)
        self._worker.start()
        threading.Thread(target=self._membership_loop, name="orch-membership", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()
        if self._dispatcher is not None:
            self._dispatcher.stop()
        if self._loops is not None:
            self._loops.stop()
        if self.cluster_store is not None:
            self.cluster_store.close()

    def is_leader(self) -> bool:
        cs = self.cluster_store
        return cs is not None and cs.is_leader()

    def _start_raft(self, peers: list[str]) -> None:
        cs = ClusterStore(RaftSettings(self_addr=self.membership.raft_addr, peers=list(peers), data_dir=self.raft_dir),
                          store=self.store)
        self.cluster_store = cs
        cs.on_leadership(lambda leading, cs=cs: self._on_leadership(cs, leading))
        threading.Thread(target=self._catch_up, args=(cs,), name="orch-catch-up", daemon=True).start()

    def _stop_raft(self) -> None:
        """Leave this node's Raft group locally: loops and sessions stop, journal and state are dropped."""
        cs, self.cluster_store = self.cluster_store, None
        self.ready.clear()
        self.serving.clear()
        self._loops.set_leader(False)
        self._dispatcher.servicer.close_sessions()
        if cs is not None:
            cs.close()
        shutil.rmtree(self.raft_dir, ignore_errors=True)
        self.raft_dir.mkdir(parents=True, exist_ok=True)
        self.store.restore(MemoryStore().dump())

    def _catch_up(self, cs: ClusterStore) -> None:
        """Serve reads once the journal is replayed and the cluster exists (the leader may still create it)."""
        while not self._stop.is_set() and self.cluster_store is cs:
            try:
                self._barrier(cs)
            except Unavailable:
                continue
            except Exception:  # noqa: BLE001 - closed under us (a join or a leave)
                return
            break
        while not self._stop.wait(0.05) and self.cluster_store is cs:
            if self.store.view().get("cluster", DEFAULT_CLUSTER_ID) is not None:
                self.serving.set()
                return

    def _on_leadership(self, cs: ClusterStore, leading: bool) -> None:
        # Called from the store's notifier thread (never the Raft tick thread).
        if cs is not self.cluster_store:
            return
        if not leading:
            self.ready.clear()
            self._loops.set_leader(False)
            self._dispatcher.servicer.close_sessions()
            return
        try:
            self._barrier(cs)
            self.init_cluster("", "", existing_ok=True)
        except Exception:  # noqa: BLE001 - the ControlAPI and the dispatcher report "not ready" meanwhile
            log.exception("initializing the cluster failed")
            return
        self._dispatcher.heartbeats.restart_grace()
        self._dispatcher.servicer.open_sessions()
        self._loops.set_leader(True)
        self.serving.set()
        self.ready.set()

    def _barrier(self, cs: ClusterStore) -> None:
        """Commit an empty command and wait for it: every earlier journal entry is then applied.

        A restarted manager replays its journal progressively; serving agents before that would send
        them an incomplete assignment set, and they would remove the containers of the missing tasks.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        wake = threading.Event()
        while True:
            cmd = {"v": commands.COMMAND_VERSION, "id": secrets.token_hex(8), "ts": time.time(), "groups": []}
            try:
                cs.propose(commands.encode(cmd))
                return
            except Unavailable:
                if time.monotonic() > deadline or cs is not self.cluster_store:
                    raise
                wake.wait(0.1)

    # -- the agent's managers -----------------------------------------------------------------
    def agent_targets(self) -> list[str]:
        """Where this node's agent looks for the dispatcher, the leader first when it is known."""
        own = f"unix://{self.socket_path}"
        m = self.membership
        if m.role != "manager":
            return list(m.managers) or [own]
        if self.is_leader():
            return [own]
        out: list[str] = []
        leader = self.leader_node_id()
        view = self.store.view()
        for node in sorted(view.all("node"), key=lambda n: n.id != leader):
            if node.manager_status is not None and node.status.addr and node.id != self.node_id:
                out.append(node.status.addr)
        out += m.managers
        return list(dict.fromkeys(out)) or [own]

    def _learn_managers(self, addrs: list[str]) -> None:
        """A worker keeps the cluster's current managers (from its session), not only those it joined
        through: after those are demoted or gone, a restarted agent still finds a dispatcher."""
        with self._join_lock:
            m = self.membership
            if m.role != "worker" or not m.joined or sorted(m.managers) == sorted(addrs):
                return
            m.managers = list(addrs)
            m.save(self.node_json)

    # -- membership upkeep --------------------------------------------------------------------
    def _membership_loop(self) -> None:
        """Persist the Raft members for restarts; the leader records managers' reachability."""
        while not self._stop.wait(MEMBERSHIP_PERIOD):
            cs = self.cluster_store
            if cs is None:
                continue
            try:
                members = cs.members()
                peers = sorted(a for a in members if a != self.membership.raft_addr)
                if peers != sorted(self.membership.peers):
                    self.membership.peers = peers
                    self.membership.save(self.node_json)
                if cs.is_leader() and self.ready.is_set():
                    self._record_reachability(cs)
            except Exception:  # noqa: BLE001 - retried on the next period
                log.debug("membership upkeep failed", exc_info=True)

    def _record_reachability(self, cs: ClusterStore) -> None:
        status = cs.status()
        connected: dict[str, bool] = status["peers"]
        connected[self.membership.raft_addr] = True
        changes = []
        for node in self.store.view().all("node"):
            ms = node.manager_status
            if ms is None:
                continue
            want = Reachability.REACHABLE if connected.get(ms.raft_addr) else Reachability.UNREACHABLE
            if ms.reachability != want:
                changes.append(node.evolve(manager_status=ms.model_copy(update={"reachability": want})))
        if changes:
            self.store.update(lambda tx: [tx.update(n) for n in changes])

    # -- join ---------------------------------------------------------------------------------
    def join(self, token: str, remote: str) -> dict[str, Any]:
        """``orch cluster join``: leave the fresh local cluster, register with ``remote``, start the role."""
        with self._join_lock:
            m = self.membership
            if m.joined:
                raise FailedPrecondition("this node is already part of a cluster; run `orch cluster leave` first")
            view = self.store.view()
            others = [n for n in view.all("node") if n.id != self.node_id]
            services = view.all("service")
            if others or services:
                raise FailedPrecondition(
                    f"this node manages its own cluster ({len(others)} other nodes, {len(services)} services); "
                    "run `orch cluster leave --force` first")
            tokens.cluster_secret(token)
            host, port = split_addr(remote, DEFAULT_PORT)
            remote = f"{host}:{port}"
            reply = rpc.call(remote, "Join", {
                "token": token, "node_id": self.node_id, "hostname": self.hostname,
                "addr": m.api_addr, "raft_addr": m.raft_addr if m.api_addr else "",
            }, timeout=15)
            role = str(reply["role"])
            self._stop_raft()
            m.role = role
            m.joined = True
            m.managers = list(dict.fromkeys([*reply.get("managers", []), remote]))
            m.peers = [a for a in reply.get("raft_members", []) if a != m.raft_addr]
            m.save(self.node_json)
            if role == "manager":
                self._start_raft(m.peers)
                rpc.call(remote, "AddManager", {"raft_addr": m.raft_addr}, timeout=15)
            self._worker.reconnect()
            log.info("joined the cluster via %s as a %s", remote, role)
            return {"node_id": self.node_id, "role": role}

    def admit(self, req: dict[str, Any]) -> dict[str, Any]:
        """The manager side of a join: check the token and create (or refresh) the node."""
        cs = self._require_manager()
        view = self.store.view()
        cluster = view.get("cluster", DEFAULT_CLUSTER_ID)
        if cluster is None:
            raise Unavailable("the cluster is not initialized yet; retry in a moment")
        role = tokens.check(str(req.get("token", "")), cluster.join_tokens.model_dump())
        node_id = str(req.get("node_id", ""))
        if not node_id:
            raise InvalidArgument("join: missing node id")
        raft_addr = str(req.get("raft_addr", ""))
        if role == "manager" and not raft_addr:
            raise FailedPrecondition("joining as a manager needs an address the other managers can reach: "
                                     "start the daemon with --advertise-addr")
        manager_status = (ManagerStatus(raft_addr=raft_addr, reachability=Reachability.REACHABLE)
                          if role == "manager" else None)

        def write(tx: Any) -> None:
            node = tx.get("node", node_id)
            if node is None:
                node = Node(id=node_id, hostname=str(req.get("hostname", "")), role=NodeRole(role),
                            manager_status=manager_status)
                node = node.model_copy(update={"status": node.status.model_copy(update={"addr": str(req.get("addr", ""))})})
                tx.create(node)
            else:
                tx.update(node.evolve(role=NodeRole(role), manager_status=manager_status,
                                      status=node.status.model_copy(update={"addr": str(req.get("addr", ""))})))

        self.store.update(write)
        managers = [n.status.addr for n in self.store.view().all("node")
                    if n.manager_status is not None and n.status.addr]
        return {"role": role, "raft_members": cs.members(), "managers": managers}

    def add_manager(self, raft_addr: str) -> None:
        cs = self._require_manager()
        if raft_addr in cs.members():
            return
        cs.add_manager(raft_addr, timeout=10)

    # -- roles: promote, demote, leave --------------------------------------------------------
    def promote(self, node: Node) -> None:
        """Make a worker a manager: it starts Raft with the current members, then joins the group."""
        cs = self._require_manager()
        if node.role == NodeRole.MANAGER:
            return
        if node.status.state != NodeState.READY:
            raise FailedPrecondition(f"node {node.hostname or node.id} is {node.status.state}: it cannot be promoted")
        if not node.status.addr:
            raise FailedPrecondition(f"node {node.hostname or node.id} has no advertised address: "
                                     "restart its daemon with --advertise-addr to promote it")
        reply = rpc.call(node.status.addr, "BecomeManager", {"peers": cs.members()}, timeout=15)
        raft_addr = str(reply["raft_addr"])
        self.store.update(lambda tx: tx.update(tx.get("node", node.id).evolve(
            role=NodeRole.MANAGER, manager_status=ManagerStatus(raft_addr=raft_addr, reachability=Reachability.REACHABLE))))
        self.add_manager(raft_addr)

    def demote(self, node: Node) -> None:
        """Make a manager a worker: leadership moves away first, then it leaves the Raft group."""
        self._require_manager()
        if node.role != NodeRole.MANAGER or node.manager_status is None:
            return
        managers = [n for n in self.store.view().all("node") if n.role == NodeRole.MANAGER]
        if len(managers) <= 1:
            raise FailedPrecondition(f"node {node.hostname or node.id} is the last manager of the cluster: "
                                     "it cannot be demoted or removed")
        self._move_leadership_off(node)
        raft_addr = node.manager_status.raft_addr
        self.store.update(lambda tx: tx.update(tx.get("node", node.id).evolve(role=NodeRole.WORKER, manager_status=None)))
        managers_addrs = [n.status.addr for n in managers if n.id != node.id and n.status.addr]
        if node.id == self.node_id:
            # A member removing itself would never see the commit: another manager does it.
            self._on_any(managers_addrs, "RemoveManager", {"raft_addr": raft_addr})
        else:
            self.remove_manager(raft_addr)
        if node.id == self.node_id:
            self.become_worker(managers_addrs)
        else:
            try:
                rpc.call(node.status.addr, "BecomeWorker", {"managers": managers_addrs}, timeout=15)
            except Exception as err:  # noqa: BLE001 - it finds out when it restarts: Raft ignores it
                log.warning("could not tell node %s it is a worker now: %s", node.id, err)

    def remove_manager(self, raft_addr: str) -> None:
        cs = self._require_manager()
        if raft_addr == self.membership.raft_addr:
            raise FailedPrecondition("a manager cannot remove itself from the Raft group; ask another manager")
        if raft_addr in cs.members():
            cs.remove_manager(raft_addr, timeout=10)

    @staticmethod
    def _on_any(addrs: list[str], method: str, req: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for addr in addrs:
            try:
                return rpc.call(addr, method, req, timeout=15)
            except Unavailable as err:
                errors.append(str(err))
        raise Unavailable(f"no other manager answered ({'; '.join(errors) or 'none known'})")

    def _move_leadership_off(self, node: Node) -> None:
        if self.leader_node_id() != node.id:
            return
        if node.id == self.node_id:
            self.step_down()
        else:
            rpc.call(node.status.addr, "StepDown", {}, timeout=15)
        deadline = time.monotonic() + 10
        while self.leader_node_id() in (node.id, ""):
            if time.monotonic() > deadline:
                raise Unavailable(f"leadership did not move off node {node.hostname or node.id}; retry")
            time.sleep(0.05)

    def step_down(self) -> None:
        """Hand Raft leadership to the most caught-up follower (this node must lead)."""
        cs = self._require_manager()
        if not cs.is_leader():
            return
        sync = cs._sync
        assert sync is not None
        sync.transferLeadership()
        deadline = time.monotonic() + 10
        while cs.is_leader():
            if time.monotonic() > deadline:
                raise Unavailable("no follower could take over the leadership in time")
            time.sleep(0.05)

    def become_manager(self, peers: list[str]) -> str:
        with self._join_lock:
            m = self.membership
            if not m.joined:
                raise FailedPrecondition("this node is not part of a cluster it joined")
            if m.role != "manager":
                m.role = "manager"
                m.peers = [a for a in peers if a != m.raft_addr]
                m.save(self.node_json)
                self._start_raft(m.peers)
                self._worker.reconnect()
            return m.raft_addr

    def become_worker(self, managers: list[str]) -> None:
        with self._join_lock:
            m = self.membership
            if m.role == "worker":
                return
            self._stop_raft()
            m.role, m.peers, m.joined = "worker", [], True
            m.managers = list(dict.fromkeys([*managers, *m.managers]))
            m.save(self.node_json)
            self._worker.reconnect()

    def leave(self, force: bool) -> None:
        """``orch cluster leave``: back to a cluster of one of its own (its tasks stop)."""
        m = self.membership
        if not m.joined:
            view = self.store.view()
            if not force:
                raise FailedPrecondition("this node did not join a cluster (it runs its own cluster of one); "
                                         "use --force to reset that cluster")
            if [n for n in view.all("node") if n.id != self.node_id]:
                raise FailedPrecondition("this node is the last manager of a cluster with other nodes: "
                                         "it cannot leave (remove the other nodes first)")
        elif m.role == "manager":
            if not force:
                raise FailedPrecondition("this node is a manager: leaving removes it from the Raft group and can "
                                         "cost the cluster its quorum; demote it first, or use --force")
            node = self.store.view().get("node", self.node_id)
            if node is not None:
                self.demote(node)
        with self._join_lock:
            self._stop_raft()
            m.role, m.joined, m.peers, m.managers = "manager", False, [], []
            m.save(self.node_json)
            self._start_raft([])
            self._worker.reconnect()

    def _require_manager(self) -> ClusterStore:
        cs = self.cluster_store
        if self.membership.role != "manager" or cs is None:
            raise FailedPrecondition(NOT_A_MANAGER)
        if not self.serving.wait(READY_TIMEOUT):
            raise Unavailable("the manager is still starting (no leader elected yet); retry in a moment")
        return cs

    # -- ClusterFacts for the ControlAPI ------------------------------------------------------
    def leader_node_id(self) -> str:
        cs = self.cluster_store
        if cs is None:
            return ""
        if cs.is_leader():
            return self.node_id
        addr = cs.leader()
        for node in self.store.view().all("node"):
            if node.manager_status is not None and node.manager_status.raft_addr == addr:
                return str(node.id)
        return ""

    def owns_fresh_cluster(self) -> bool:
        """Still on the cluster of one it initialized by itself, holding nothing but itself."""
        view = self.store.view()
        return (not self.membership.joined and self.membership.role == "manager" and not view.all("service")
                and all(n.id == self.node_id for n in view.all("node")))

    def init_cluster(self, advertise_addr: str, listen_addr: str, existing_ok: bool = False) -> tuple[str, str]:
        """Create the Cluster object and this node (a manager) unless they exist.

        The daemon already did so on first start; ``orch cluster init`` then only checks that the
        addresses asked for are the ones the daemon serves (listeners are fixed at daemon start).
        """
        cs = self.cluster_store
        if cs is None:
            raise FailedPrecondition(NOT_A_MANAGER)
        if advertise_addr:
            host, port = split_addr(advertise_addr, DEFAULT_PORT)
            if f"{host}:{port}" != self.membership.api_addr:
                raise FailedPrecondition(
                    f"this daemon advertises {self.membership.api_addr or 'no address'}: restart it with "
                    f"--advertise-addr {advertise_addr} (and --listen-addr) to use that address")
        store = self.store
        with self._init_lock:
            view = store.view()
            if view.get("cluster", DEFAULT_CLUSTER_ID) is not None and view.get("node", self.node_id) is not None:
                return self.node_id, DEFAULT_CLUSTER_ID
            settings = ClusterSettings(heartbeat_period=self.heartbeat_period or ClusterSettings().heartbeat_period)
            secret = tokens.new_cluster_secret()
            cluster = Cluster(id=DEFAULT_CLUSTER_ID, settings=settings,
                              join_tokens=JoinTokens(worker=tokens.new_token("worker", secret),
                                                     manager=tokens.new_token("manager", secret)))
            node = Node(
                id=self.node_id,
                hostname=self.hostname,
                role=NodeRole.MANAGER,
                availability=Availability.ACTIVE,
                manager_status=ManagerStatus(raft_addr=cs.settings.self_addr, leader=True,
                                             reachability=Reachability.REACHABLE),
            )
            node = node.model_copy(update={"status": node.status.model_copy(update={"addr": self.membership.api_addr})})

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
