"""The network allocator: service VIPs, mesh ports, nodes' lb addresses and the ingress network.

Pure functions decide (``service_endpoint``, ``lb_address``); a few helpers write through the store.
Where allocation happens, and why there:

- ``create_service`` (ControlAPI) allocates a new service's endpoint in the transaction that creates
  it, so a published-port conflict is a one-line ``InvalidArgument`` for the user;
- the scheduler re-checks each service it places tasks of (``needs_endpoint``) in the same batch as the
  assignment: services created before this existed, or whose networks/ports changed by an update, get
  their endpoint then (a conflict there is logged and the port stays unpublished);
- a node's lb address on a network is allocated when the scheduler first puts one of the network's
  tasks on it, and on ``ingress`` when the node opens its dispatcher session (every node serves the
  routing mesh). Addresses live on the ``Service`` and ``Network`` objects, so removing a service frees
  its VIPs with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from orchestrator import overlay
from orchestrator.errors import InvalidArgument, OrchError, SequenceConflict, Unavailable
from orchestrator.model import DEFAULT_CLUSTER_ID, Network, PortConfig, Service, ServiceSpec, Task
from orchestrator.model.service import EndpointStatus, VirtualIP
from orchestrator.store import MemoryStore, Tx, View

R = TypeVar("R")

log = logging.getLogger(__name__)

MESH_PORTS = range(30000, 32768)


def wanted_networks(networks: Iterable[Network], spec: ServiceSpec) -> list[Network]:
    """The overlay networks a service's tasks join (ingress last when it publishes mesh ports)."""
    probe = Task(id="-", service_id="-", spec=spec.task)
    return [n for n, _ in overlay.overlays_of(networks, probe)]


def _port_key(p: PortConfig) -> tuple[str, int]:
    return (p.protocol, p.published_port)


def service_endpoint(svc: Service, services: Iterable[Service], networks: Iterable[Network],
                     tasks: Iterable[Task], reserved: dict[str, set[str]] | None = None) -> EndpointStatus:
    """The endpoint status ``svc`` should have: kept VIPs, new ones, and published ports filled in.

    Raises ``InvalidArgument`` when a published port is another service's, ``Unavailable`` when a
    subnet or the mesh port range is full.
    """
    networks = list(networks)
    others = [s for s in services if s.id != svc.id]
    tasks = list(tasks)
    old = svc.endpoint or EndpointStatus()
    vips: list[VirtualIP] = []
    if svc.spec.task.endpoint.mode == "vip":
        for net in wanted_networks(networks, svc.spec):
            if net.spec.ingress:
                continue  # the mesh balances ingress traffic itself; names never resolve on ingress
            kept = next((v for v in old.virtual_ips if v.network_id == net.id), None)
            if kept is None:
                used = overlay.used_addresses(tasks, net.id, others, networks) | (reserved or {}).get(net.id, set())
                kept = VirtualIP(network_id=net.id, addr=overlay.allocate(net, used, top_down=True))
            vips.append(kept)
    taken: dict[tuple[str, int], str] = {}
    for s in others:
        for p in (s.endpoint.ports if s.endpoint is not None else []) + [
                p for p in s.spec.task.endpoint.ports if p.published_port]:
            taken.setdefault(_port_key(p), s.spec.name)
    ports: list[PortConfig] = []
    previous = {(p.protocol, p.target_port, p.publish_mode): p.published_port for p in old.ports}
    mine: set[tuple[str, int]] = set()
    for p in svc.spec.task.endpoint.ports:
        published = p.published_port or (previous.get((p.protocol, p.target_port, p.publish_mode), 0)
                                          if p.publish_mode == "ingress" else 0)
        if p.publish_mode == "ingress" and not published:
            published = next((n for n in MESH_PORTS if (p.protocol, n) not in taken and (p.protocol, n) not in mine), 0)
            if not published:
                raise Unavailable("no free port left in the routing mesh range 30000-32767")
        if published:
            owner = taken.get((p.protocol, published))
            if owner is not None:
                raise InvalidArgument(f"port '{published}/{p.protocol}' is already in use by service '{owner}'")
            if (p.protocol, published) in mine:
                raise InvalidArgument(f"port '{published}/{p.protocol}' is published twice")
            mine.add((p.protocol, published))
        ports.append(p.model_copy(update={"published_port": published}))
    return EndpointStatus(virtual_ips=vips, ports=ports)


def needs_endpoint(svc: Service, networks: Iterable[Network]) -> bool:
    """Whether the service's endpoint status lags its spec (cheap check, no allocation)."""
    ep = svc.endpoint
    if ep is None:
        return True
    if [(p.protocol, p.target_port, p.publish_mode) for p in ep.ports] != [
            (p.protocol, p.target_port, p.publish_mode) for p in svc.spec.task.endpoint.ports]:
        return True
    if any(p.published_port and p.published_port != q.published_port
           for p, q in zip(svc.spec.task.endpoint.ports, ep.ports, strict=True)):
        return True
    want = {n.id for n in wanted_networks(networks, svc.spec) if not n.spec.ingress} \
        if svc.spec.task.endpoint.mode == "vip" else set()
    return want != {v.network_id for v in ep.virtual_ips}


def with_endpoint(view: View | Tx, svc: Service, reserved: dict[str, set[str]] | None = None) -> Service:
    """``svc`` with its endpoint allocated against ``view`` (a transaction sees its own writes) and
    ``reserved`` (network id -> addresses allocated but not yet in ``view``)."""
    if not svc.spec.task.networks and not svc.spec.task.endpoint.ports:
        # nothing to allocate: do not read every service and task (a create was O(cluster) otherwise)
        ep = EndpointStatus()
        return svc if ep == svc.endpoint else svc.model_copy(update={"endpoint": ep})
    networks = _all(view, "network")
    ep = service_endpoint(svc, _all(view, "service"), networks, _all(view, "task"), reserved)
    return svc if ep == svc.endpoint else svc.model_copy(update={"endpoint": ep})


def _all(view: View | Tx, kind: str) -> list:  # type: ignore[type-arg]
    return view.find(kind) if isinstance(view, Tx) else view.all(kind)


def create_service(tx: Tx, svc: Service) -> Service:
    """Create ``svc`` with its endpoint (and the ingress network when it publishes mesh ports first)."""
    if overlay.has_mesh_ports(svc.spec.task.endpoint.ports):
        if ensure_ingress_tx(tx) is not None:
            return tx.create(with_endpoint(tx, svc))  # the ingress creation claimed the slot already
    if svc.spec.task.endpoint.ports or svc.spec.task.networks:
        claim_network_slot(tx)  # VIPs and published ports are chosen from what this tx read, like VNIs
    return tx.create(with_endpoint(tx, svc))


def claim_network_slot(tx: Tx) -> None:
    """Serialize cluster network creation through the Cluster object's version.

    A network's VNI and subnet are chosen from the networks the creator read; two creators that read
    the same set (``network create`` racing the lazy ingress, say) would both take the next VNI. Both
    also bump ``Cluster.network_seq``, so the second commit fails with ``SequenceConflict`` and is
    retried on a view that has the first network (:func:`update_retrying`).
    """
    cluster = tx.get("cluster", DEFAULT_CLUSTER_ID)
    if cluster is not None:
        tx.update(cluster.evolve(network_seq=cluster.network_seq + 1))


def update_retrying(store: MemoryStore, fn: Callable[[Tx], R], attempts: int = 5) -> R:
    """``store.update(fn)``, again on a fresh view when a concurrent writer changed what ``fn`` read."""
    for attempt in range(attempts):
        try:
            return store.update(fn)
        except SequenceConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def create_network(store: MemoryStore, build: Callable[[list[Network]], Network]) -> Network:
    """Commit the network ``build`` makes from the current networks, serialized with other creators."""
    def tx_fn(tx: Tx) -> Network:
        net = build(list(tx.find("network")))
        claim_network_slot(tx)
        tx.create(net)
        return net

    return update_retrying(store, tx_fn)


def ensure_ingress_tx(tx: Tx) -> Network | None:
    net = overlay.ingress_network(tx.find("network"))
    if net is not None:
        claim_network_slot(tx)
        tx.create(net)
    return net


def ensure_ingress(store: MemoryStore) -> None:
    """Create the ingress network unless the cluster has one (idempotent; safe to call on every start)."""
    if overlay.find_ingress(store.view().all("network")) is not None:
        return
    try:
        update_retrying(store, ensure_ingress_tx)
    except OrchError as err:  # the store is not writable here (no leader, say): retried at the next session
        log.info("ingress network not created: %s", err)


def lb_address(net: Network, node_id: str, tasks: Iterable[Task], services: Iterable[Service],
               networks: Iterable[Network]) -> Network:
    """``net`` with an lb address for ``node_id`` (unchanged when it has one)."""
    if node_id in net.lb_addresses:
        return net
    used = overlay.used_addresses(tasks, net.id, services, networks)
    addr = overlay.allocate(net, used, top_down=True)
    return net.evolve(lb_addresses={**net.lb_addresses, node_id: addr})


def ensure_node_ingress(store: MemoryStore, node_id: str) -> None:
    """The ingress network exists and ``node_id`` has its lb address on it (at session open)."""
    ensure_ingress(store)

    def give(tx: Tx) -> None:
        net = overlay.find_ingress(tx.find("network"))
        if net is not None and node_id not in net.lb_addresses:
            tx.update(lb_address(net, node_id, tx.find("task"), tx.find("service"), tx.find("network")))

    try:
        store.update(give)
    except OrchError as err:
        log.info("ingress address for node %s not allocated (retried at its next session): %s", node_id, err)
