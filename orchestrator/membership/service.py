"""The handlers behind ``orch.v1.Membership`` (see :mod:`orchestrator.membership.rpc`).

=============  ===========================  ==================================================
method         called by                    does
=============  ===========================  ==================================================
JoinCluster    the local CLI                ``orch cluster join``: :meth:`Manager.join`
Join           a joining node's daemon      checks the token, creates the node, lists members
AddManager     a joining manager's daemon   adds its Raft address (forwarded to the leader)
JoinToken      the CLI, on a manager        shows or rotates a role's token
UpdateNode     the CLI, on a manager        availability, labels, role (promote / demote)
Info           ``orch lab ls``, scripts     this node's id, role, and whether Raft leads
RemoveNode     the CLI, on a manager        ``orch node rm [--force]`` (workers only)
Leave          the local CLI                ``orch cluster leave [--force]``
BecomeManager  the manager promoting it     starts Raft with the members; replies its address
BecomeWorker   the manager demoting it      stops Raft and drops the journal
StepDown       a manager demoting a leader  hands leadership to a caught-up follower
RemoveManager  a manager removing itself    removes a Raft member (not the caller's own)
=============  ===========================  ==================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.errors import FailedPrecondition, InvalidArgument, SequenceConflict
from orchestrator.membership import tokens
from orchestrator.membership.rpc import Handler
from orchestrator.model import DEFAULT_CLUSTER_ID, Availability, JoinTokens

if TYPE_CHECKING:
    from orchestrator.manager import Manager


class MembershipService:
    def __init__(self, manager: Manager) -> None:
        self.m = manager

    def methods(self) -> dict[str, Handler]:
        return {
            "JoinCluster": self.join_cluster,
            "Join": self.m.admit,
            "AddManager": self.add_manager,
            "JoinToken": self.join_token,
            "UpdateNode": self.update_node,
            "Info": self.info,
            "RemoveNode": self.remove_node,
            "Leave": self.leave,
            "BecomeManager": lambda req: {"raft_addr": self.m.become_manager(list(req.get("peers", [])))},
            "BecomeWorker": lambda req: self.m.become_worker(list(req.get("managers", []))) or {},
            "StepDown": lambda req: self.m.step_down() or {},
            "RemoveManager": lambda req: self.m.remove_manager(str(req.get("raft_addr", ""))) or {},
        }

    def join_cluster(self, req: dict[str, Any]) -> dict[str, Any]:
        token, remote = str(req.get("token", "")), str(req.get("remote", ""))
        if not token or not remote:
            raise InvalidArgument("join needs --token and the address of a manager (HOST:PORT)")
        return self.m.join(token, remote)

    def add_manager(self, req: dict[str, Any]) -> dict[str, Any]:
        self.m.add_manager(str(req.get("raft_addr", "")))
        return {}

    def join_token(self, req: dict[str, Any]) -> dict[str, Any]:
        role = str(req.get("role", ""))
        if role not in tokens.ROLES:
            raise InvalidArgument(f"invalid role {role!r}: use worker or manager")
        self.m._require_manager()
        store = self.m.store
        if req.get("rotate"):
            def write(tx: Any) -> None:
                cluster = tx.get("cluster", DEFAULT_CLUSTER_ID)
                current = cluster.join_tokens.model_dump()
                current[role] = tokens.rotate(current, role)
                tx.update(cluster.evolve(join_tokens=JoinTokens(**current)))

            store.update(write)
        cluster = store.view().get("cluster", DEFAULT_CLUSTER_ID)
        if cluster is None:
            raise FailedPrecondition("this node is not part of a cluster")
        return {"token": getattr(cluster.join_tokens, role), "addr": self.m.membership.api_addr}

    def update_node(self, req: dict[str, Any]) -> dict[str, Any]:
        from orchestrator.api import Control

        self.m._require_manager()
        availability = str(req.get("availability") or "")
        if availability and availability not in {a.value for a in Availability}:
            raise InvalidArgument(f"invalid availability {availability!r}: use active, pause or drain")
        role = str(req.get("role") or "")
        if role and role not in tokens.ROLES:
            raise InvalidArgument(f"invalid role {role!r}: use worker or manager")
        add: dict[str, str] = {}
        for item in req.get("label_add", []):
            key, _, value = str(item).partition("=")
            if not key:
                raise InvalidArgument(f"invalid label {item!r}: expected key=value")
            add[key] = value
        remove = [str(k) for k in req.get("label_rm", [])]
        control = Control(self.m.store, self.m)
        for _ in range(10):
            node = control.resolve_node(self.m.store.view(), str(req.get("ref", "")))
            labels = {k: v for k, v in {**node.labels, **add}.items() if k not in remove}
            changes: dict[str, Any] = {"labels": labels}
            if availability:
                changes["availability"] = Availability(availability)
            new = node.evolve(**changes)
            try:
                self.m.store.update(lambda tx, n=new: tx.update(n))
            except SequenceConflict:
                continue
            break
        else:
            raise SequenceConflict("the node keeps changing; retry the update")
        if role == "manager":
            self.m.promote(self.m.store.view().get("node", node.id) or node)
        elif role == "worker":
            self.m.demote(self.m.store.view().get("node", node.id) or node)
        return {"id": node.id}

    def remove_node(self, req: dict[str, Any]) -> dict[str, Any]:
        from orchestrator.api import Control
        from orchestrator.model import NodeRole, NodeState

        self.m._require_manager()
        force = bool(req.get("force"))
        node = Control(self.m.store, self.m).resolve_node(self.m.store.view(), str(req.get("ref", "")))
        name = node.hostname or node.id
        if node.role == NodeRole.MANAGER:
            raise FailedPrecondition(f"node {name} is a cluster manager and a member of the Raft group: "
                                     "demote it before removing it")
        if node.status.state != NodeState.DOWN and not force:
            raise FailedPrecondition(f"node {name} is not down and can't be removed (use --force)")
        self.m.store.update(lambda tx: tx.delete("node", node.id, tx.get("node", node.id).meta.version))
        return {"id": node.id}

    def leave(self, req: dict[str, Any]) -> dict[str, Any]:
        self.m.leave(bool(req.get("force")))
        return {}

    def info(self, req: dict[str, Any]) -> dict[str, Any]:
        m = self.m.membership
        return {"node_id": m.node_id, "role": m.role, "joined": m.joined, "leader": self.m.is_leader(),
                "addr": m.api_addr, "hostname": self.m.hostname}
