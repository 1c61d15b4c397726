"""The ControlAPI as in-process calls: validation, name resolution, filters, store writes.

The gRPC servicer (:mod:`orchestrator.api.server`) is a thin adapter over this class; tests call it
directly on a ``MemoryStore``. It only writes *desired* state (services, scale, cluster networks) and never touches
tasks: the leader's loops turn services into tasks, the dispatcher reports what runs.

Errors are the closed vocabulary of :mod:`orchestrator.errors`, worded like Docker's
(``service web not found``, ``node bar not found``), one line each.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from orchestrator import netalloc, overlay
from orchestrator.api import convert
from orchestrator.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, SequenceConflict
from orchestrator.model import (
    DEFAULT_CLUSTER_ID,
    Network,
    Node,
    NodeState,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    new_id,
)
from orchestrator.model.service import UpdateStatus
from orchestrator.scheduler import parse_constraints, parse_spread
from orchestrator.store import MemoryStore, Tx, View

_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$")
_ADJECTIVES = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
               "nifty", "proud", "quirky", "sharp", "tender", "vivid", "witty", "zen")
_NOUNS = ("archimedes", "babbage", "curie", "darwin", "euclid", "fermat", "galileo", "hopper", "kepler",
          "lovelace", "newton", "noether", "pascal", "ritchie", "turing", "wozniak")

Filters = Mapping[str, list[str]]


class ClusterFacts(Protocol):
    """What the ControlAPI needs to know about the manager serving it."""

    node_id: str

    def leader_node_id(self) -> str: ...

    def init_cluster(self, advertise_addr: str, listen_addr: str) -> tuple[str, str]: ...


def _check_filters(filters: Filters, allowed: tuple[str, ...]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def _subnets(view: View) -> dict[str, str]:
    return {n.id: n.spec.subnet for n in view.all("network")}


def _label_match(labels: Mapping[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


class Control:
    def __init__(self, store: MemoryStore, facts: ClusterFacts, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.facts = facts
        self.clock = clock

    # -- cluster ------------------------------------------------------------------------------
    def init_cluster(self, advertise_addr: str = "", listen_addr: str = "") -> tuple[str, str]:
        fresh = getattr(self.facts, "owns_fresh_cluster", lambda: False)()  # the daemon's own cluster of one
        if self.store.view().get("cluster", DEFAULT_CLUSTER_ID) is not None and not fresh:
            raise FailedPrecondition(
                "this node is already part of a cluster; use `orch cluster leave` to leave it first"
            )
        out = self.facts.init_cluster(advertise_addr, listen_addr)
        netalloc.ensure_ingress(self.store)  # the routing mesh's network (also created lazily elsewhere)
        return out

    def inspect_cluster(self) -> dict[str, Any]:
        cluster = self.store.view().get("cluster", DEFAULT_CLUSTER_ID)
        if cluster is None:
            raise FailedPrecondition("this node is not part of a cluster; run `orch cluster init` first")
        return convert.cluster_doc(cluster)

    # -- nodes --------------------------------------------------------------------------------
    def resolve_node(self, view: View, ref: str) -> Node:
        if ref == "self":
            ref = self.facts.node_id
        node = view.get("node", ref)
        if node is not None:
            return node
        by_name = view.find("node", hostname=ref)
        if len(by_name) == 1:
            return by_name[0]
        prefixed = [n for n in view.all("node") if ref and n.id.startswith(ref)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(by_name) > 1 or len(prefixed) > 1:
            raise InvalidArgument(f"node {ref} is ambiguous ({len(by_name) or len(prefixed)} matches)")
        raise NotFound(f"node {ref} not found")

    def list_nodes(self, filters: Filters) -> list[dict[str, Any]]:
        _check_filters(filters, ("id", "name", "role", "membership", "label", "node.label"))
        view = self.store.view()
        leader = self.facts.leader_node_id()
        docs = []
        for node in sorted(view.all("node"), key=lambda n: n.hostname):
            if "id" in filters and not any(node.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(v in node.hostname for v in filters["name"]):
                continue
            if "role" in filters and str(node.role) not in filters["role"]:
                continue
            if "membership" in filters and "accepted" not in filters["membership"]:
                continue
            if "node.label" in filters and not _label_match(node.labels, filters["node.label"]):
                continue
            if "label" in filters and not _label_match(node.engine_labels, filters["label"]):
                continue
            docs.append(convert.node_doc(node, self.facts.node_id, leader))
        return docs

    def inspect_node(self, ref: str) -> dict[str, Any]:
        view = self.store.view()
        return convert.node_doc(self.resolve_node(view, ref), self.facts.node_id, self.facts.leader_node_id())

    # -- services -----------------------------------------------------------------------------
    def resolve_service(self, view: View, ref: str) -> Service:
        svc = view.get("service", ref)
        if svc is not None:
            return svc
        by_name = view.find("service", name=ref)
        if by_name:
            return by_name[0]
        prefixed = [s for s in view.all("service") if ref and s.id.startswith(ref)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise InvalidArgument(f"service {ref} is ambiguous ({len(prefixed)} services match)")
        raise NotFound(f"service {ref} not found")

    def validate_spec(self, spec: ServiceSpec) -> None:
        if not _SERVICE_NAME.match(spec.name):
            raise InvalidArgument(
                f"invalid service name {spec.name!r}: use letters, digits, '-' and '_', at most 63 characters"
            )
        parse_constraints(spec.task.placement.constraints)
        for pref in spec.task.placement.preferences:
            parse_spread(pref.spread)

    def create_service(self, spec_doc: Any) -> Service:
        try:
            spec = convert.service_spec_from_doc(spec_doc)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidArgument(f"invalid service spec: {where}: {first['msg']}") from None
        view = self.store.view()
        if not spec.name:
            spec = spec.model_copy(update={"name": self._random_name(view)})
        self.validate_spec(spec)
        if view.find("service", name=spec.name):
            raise AlreadyExists(f"service {spec.name} already exists")
        svc = Service(id=new_id(), spec=spec)
        svc = netalloc.update_retrying(self.store, lambda tx: netalloc.create_service(tx, svc))  # VIPs, mesh ports (ingress)
        return self.store.view().get("service", svc.id) or svc

    # -- networks (cluster-scoped overlay networks; node-local ones are each agent's Networks API) --
    def create_network(self, name: str, driver: str = "overlay", subnet: str = "", gateway: str = "", *,
                       labels: Mapping[str, str] | None = None, internal: bool = False,
                       attachable: bool = False) -> dict[str, Any]:
        """A cluster-scoped overlay network (subnet, gateway and VNI chosen here, once for all nodes)."""
        net = netalloc.create_network(
            self.store, lambda existing: overlay.new_network(
                existing, name, driver or "overlay", subnet, gateway, labels=dict(labels or {}),
                internal=internal, attachable=attachable))
        return convert.network_doc(self.store.view().get("network", net.id) or net)

    def list_networks(self, filters: Filters) -> list[dict[str, Any]]:
        """Docker's filters: name (substring), id (prefix), label, driver, scope (these are "swarm")."""
        _check_filters(filters, ("id", "name", "label", "driver", "scope"))
        docs = []
        for net in sorted(self.store.view().all("network"), key=lambda n: n.spec.name):
            if "id" in filters and not any(net.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(v in net.spec.name for v in filters["name"]):
                continue
            if "driver" in filters and net.spec.driver not in filters["driver"]:
                continue
            if "scope" in filters and "swarm" not in filters["scope"]:
                continue
            if "label" in filters and not _label_match(net.spec.labels, filters["label"]):
                continue
            docs.append(convert.network_doc(net))
        return docs

    def inspect_network(self, ref: str) -> dict[str, Any]:
        return convert.network_doc(_resolve_network(self.store.view().all("network"), ref))

    def remove_network(self, ref: str) -> str:
        """Remove a cluster network nothing uses any more; returns its name.

        Refused while a service names it, while a retired task on a live node still holds an address on
        it (its container is stopping: removing the network now would leave that node's bridge behind
        until it stops), and for the ingress network while a service publishes mesh ports. The checks
        run in the deleting transaction, which claims the network slot like creators do, so a service
        created concurrently on this network makes one of the two writes retry.
        """
        def tx_fn(tx: Tx) -> Network:
            net = _resolve_network(tx.find("network"), ref)
            _check_unused(net, tx.find("service"), tx.find("task"), {n.id: n for n in tx.find("node")})
            netalloc.claim_network_slot(tx)
            tx.delete("network", net.id, net.meta.version)
            return net

        return netalloc.update_retrying(self.store, tx_fn).spec.name

    def _random_name(self, view: View) -> str:
        for _ in range(100):
            name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}"
            if not view.find("service", name=name):
                return name
        return f"service_{new_id()[:8]}"

    def list_services(self, filters: Filters) -> list[dict[str, Any]]:
        _check_filters(filters, ("id", "name", "label", "mode"))
        view = self.store.view()
        subnets = _subnets(view)
        nodes = {n.id: n for n in view.all("node")}
        docs = []
        for svc in sorted(view.all("service"), key=lambda s: s.spec.name):
            if "id" in filters and not any(svc.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(svc.spec.name.startswith(v) for v in filters["name"]):
                continue
            if "mode" in filters and svc.spec.mode not in filters["mode"]:
                continue
            if "label" in filters and not _label_match(svc.spec.labels, filters["label"]):
                continue
            running, desired = self._counts(view, svc, nodes)
            docs.append(convert.service_doc(svc, running, desired, subnets))
        return docs

    @staticmethod
    def _counts(view: View, svc: Service, nodes: dict[str, Node]) -> tuple[int, int]:
        tasks = [t for t in view.find("task", service_id=svc.id) if t.desired_state == TaskState.RUNNING]
        running = sum(
            1 for t in tasks
            if t.status.state == TaskState.RUNNING and (n := nodes.get(t.node_id)) is not None
            and n.status.state != NodeState.DOWN
        )
        desired = svc.spec.replicas if svc.spec.mode == "replicated" else len(tasks)
        return running, desired

    def inspect_service(self, ref: str) -> dict[str, Any]:
        view = self.store.view()
        return convert.service_doc(self.resolve_service(view, ref), subnets=_subnets(view))

    def update_service(self, ref: str, version: int, spec_doc: Any) -> Service:
        """Replace a service's spec, as `docker service update` does (optimistic concurrency).

        ``version`` is the ``Version.Index`` the caller read; if the service was written since, the
        update is refused (the caller re-reads and retries) rather than silently undoing that write.
        The old spec is kept as ``previous_spec`` (for a rollback) and the update status is cleared,
        which starts a new rolling update of dirty tasks (or resumes a paused one). The name and the
        mode cannot change. An unchanged spec writes nothing.
        """
        view = self.store.view()
        svc = self.resolve_service(view, ref)
        if version != svc.meta.version:
            raise SequenceConflict(
                f"update out of sequence: service {svc.spec.name} changed since it was read "
                f"(version {version}, now {svc.meta.version}); re-read it and retry"
            )
        spec = _parse_spec(spec_doc)
        if spec.name != svc.spec.name:
            raise InvalidArgument(f"renaming services is not supported (service {svc.spec.name})")
        if spec.mode != svc.spec.mode:
            raise InvalidArgument(f"service mode change is not allowed (service {svc.spec.name} is {svc.spec.mode})")
        self.validate_spec(spec)
        if spec == svc.spec:
            return svc
        new = svc.evolve(spec=spec, previous_spec=svc.spec, update_status=None)
        self.store.update(lambda tx: tx.update(new))
        return self.store.view().get("service", svc.id) or new

    def rollback_service(self, ref: str, version: int = 0) -> Service:
        """`docker service rollback`: the previous spec becomes the spec (the current one becomes the
        previous, so a second rollback goes forward again) and the updater rolls the tasks with
        ``rollback_config``, the update status saying it was asked for. ``version`` 0: any version."""
        view = self.store.view()
        svc = self.resolve_service(view, ref)
        if version and version != svc.meta.version:
            raise SequenceConflict(
                f"update out of sequence: service {svc.spec.name} changed since it was read "
                f"(version {version}, now {svc.meta.version}); re-read it and retry"
            )
        if svc.previous_spec is None:
            raise FailedPrecondition(f"service {svc.spec.name} does not have a previous spec")
        status = UpdateStatus(state="rollback_started", message="manually requested rollback",
                              started_at=self.clock())
        new = svc.evolve(spec=svc.previous_spec, previous_spec=svc.spec, update_status=status)
        self.store.update(lambda tx: tx.update(new))
        return self.store.view().get("service", svc.id) or new

    def scale_service(self, ref: str, replicas: int) -> Service:
        if replicas < 0:
            raise InvalidArgument(f"invalid replicas value {replicas}: replicas must be >= 0")
        for _ in range(10):
            view = self.store.view()
            svc = self.resolve_service(view, ref)
            if svc.spec.mode != "replicated":
                raise FailedPrecondition(f"scale can only be used with replicated mode (service {svc.spec.name} is global)")
            if svc.spec.replicas == replicas:
                return svc
            new = svc.evolve(spec=svc.spec.model_copy(update={"replicas": replicas}))
            try:
                self.store.update(lambda tx, n=new: tx.update(n))
            except SequenceConflict:
                continue
            return self.store.view().get("service", svc.id) or new
        raise SequenceConflict(f"service {ref} keeps changing; retry the scale")

    def remove_services(self, refs: list[str]) -> list[str]:
        view = self.store.view()
        targets = [self.resolve_service(view, ref) for ref in refs]

        def delete(tx: Tx) -> None:
            for svc in {s.id: s for s in targets}.values():
                tx.delete("service", svc.id, svc.meta.version)

        self.store.update(delete)
        return refs

    # -- tasks --------------------------------------------------------------------------------
    def list_tasks(self, filters: Filters) -> list[dict[str, Any]]:
        _check_filters(filters, ("id", "name", "node", "service", "desired-state", "label"))
        view = self.store.view()
        tasks: list[Task]
        if "service" in filters:
            tasks = []
            for ref in filters["service"]:
                tasks.extend(view.find("task", service_id=self.resolve_service(view, ref).id))
        else:
            tasks = view.all("task")
        if "node" in filters:
            ids = {self.resolve_node(view, ref).id for ref in filters["node"]}
            tasks = [t for t in tasks if t.node_id in ids]
        if "id" in filters:
            tasks = [t for t in tasks if any(t.id.startswith(v) for v in filters["id"])]
        if "name" in filters:
            tasks = [t for t in tasks if any(_task_short_name(t).startswith(v) for v in filters["name"])]
        if "desired-state" in filters:
            wanted = set()
            for v in filters["desired-state"]:
                if v not in ("running", "shutdown", "accepted"):
                    raise InvalidArgument(f"invalid filter 'desired-state={v}': use running, shutdown or accepted")
                wanted.add(v)
            tasks = [t for t in tasks if _desired_bucket(t) in wanted]
        if "label" in filters:
            tasks = [t for t in tasks if _label_match(t.labels, filters["label"])]
        hostnames = {n.id: n.hostname for n in view.all("node")}
        tasks.sort(key=lambda t: (t.service_name, t.slot, t.node_id, -t.meta.created_at))
        return [convert.task_doc(t, hostnames.get(t.node_id, "")) for t in tasks]


def _resolve_network(networks: list[Network], ref: str) -> Network:
    """By full id, then name, then unique id prefix (Docker's order)."""
    for net in networks:
        if net.id == ref:
            return net
    for net in networks:
        if net.spec.name == ref:
            return net
    prefixed = [n for n in networks if ref and n.id.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise InvalidArgument(f"network {ref} is ambiguous ({len(prefixed)} networks match)")
    raise NotFound(f"network {ref} not found")


def _check_unused(net: Network, services: list[Service], tasks: list[Task], nodes: dict[str, Node]) -> None:
    name = net.spec.name
    for svc in sorted(services, key=lambda s: s.spec.name):
        if any(a.target in (net.id, name) for a in svc.spec.task.networks):
            raise FailedPrecondition(f"network {name} is in use by service {svc.spec.name}")
        if net.spec.ingress and overlay.has_mesh_ports(svc.spec.task.endpoint.ports):
            raise FailedPrecondition(f"ingress network cannot be removed because service {svc.spec.name} "
                                     "publishes ports through it")
    for t in sorted(tasks, key=lambda t: t.id):
        node = nodes.get(t.node_id)
        if (node is not None and node.status.state != NodeState.DOWN and t.status.state <= TaskState.RUNNING
                and any(a.network_id == net.id for a in t.networks)):
            raise FailedPrecondition(f"network {name} is in use by task {t.name} (it is stopping; retry in a moment)")


def _task_short_name(t: Task) -> str:
    return f"{t.service_name}.{t.slot if t.slot else t.node_id}"


def _desired_bucket(t: Task) -> str:
    if t.desired_state == TaskState.RUNNING:
        return "running"
    if t.desired_state <= TaskState.READY:
        return "accepted"
    return "shutdown"


def _parse_spec(spec_doc: Any) -> ServiceSpec:
    try:
        return convert.service_spec_from_doc(spec_doc)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidArgument(f"invalid service spec: {where}: {first['msg']}") from None
