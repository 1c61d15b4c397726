"""Overlay networks on the manager (pure functions over a store view).

The manager owns everything that must agree across nodes: a network's subnet, gateway and VNI are
chosen once when it is created, and every address on it is allocated here, so addresses never collide
between nodes. Three kinds of address share a network's subnet:

- task addresses, allocated when the scheduler assigns a task (lowest free first);
- service VIPs and the nodes' load-balancer addresses (``Network.lb_addresses``), allocated highest
  free first, so that the two allocators, which run in different places, only meet when the subnet is
  nearly full (and each still skips everything already held).

The ``ingress`` network (``spec.ingress``) carries the routing mesh; it is an overlay network like
the others, created when the cluster is initialised or lazily (``ingress_network``).
What an agent receives about these networks is built in ``orchestrator/dispatcher/netstate.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from orchestrator.errors import AlreadyExists, InvalidArgument, Unavailable
from orchestrator.model import Network, NetworkAttachment, Service, Task, TaskState
from orchestrator.model.base import new_id
from orchestrator.model.objects import NetworkSpec

FIRST_VNI = 4096
POOL = ipaddress.ip_network("10.0.0.0/8")
INGRESS_NAME = "ingress"
INGRESS_SUBNET = "10.0.0.0/24"
LABEL = "com.orch.overlay"  # the former per-task overlay description; never set now (see netstate.py)


def new_network(existing: Iterable[Network], name: str, driver: str = "overlay", subnet: str = "",
                gateway: str = "", ingress: bool = False, *, labels: dict[str, str] | None = None,
                internal: bool = False, attachable: bool = False) -> Network:
    """A cluster network named ``name`` with the next free VNI and /24 of 10.0.0.0/8 (or ``subnet``).

    ``internal`` networks get no egress on any node (the agents build them without masquerade or a
    default route); ``attachable`` is recorded for standalone containers, as Docker's flag.
    """
    existing = list(existing)
    if driver != "overlay":
        raise InvalidArgument(f'only the "overlay" driver is cluster-scoped; got "{driver}"')
    if not name:
        raise InvalidArgument("network name is required")
    if any(n.spec.name == name for n in existing):
        raise AlreadyExists(f"network with name {name} already exists")
    if ingress and any(n.spec.ingress for n in existing):
        raise AlreadyExists("an ingress network already exists")
    used = {ipaddress.ip_network(n.spec.subnet) for n in existing if n.spec.subnet}
    if subnet:
        try:
            net = ipaddress.ip_network(subnet)
        except ValueError:
            raise InvalidArgument(f"invalid subnet {subnet!r}") from None
        if any(net.overlaps(u) for u in used):
            raise InvalidArgument(f"subnet {subnet} overlaps another overlay network")
    else:
        net = next((s for s in POOL.subnets(new_prefix=24) if s.network_address.packed[2] != 0
                    and not any(s.overlaps(u) for u in used)), None)
        if net is None:
            raise Unavailable("no free overlay subnet left")
    gw = gateway or str(next(net.hosts()))
    vni = max((n.vni for n in existing), default=FIRST_VNI - 1) + 1
    spec = NetworkSpec(name=name, driver="overlay", subnet=str(net), gateway=gw, ingress=ingress,
                       labels=dict(labels or {}), internal=internal, attachable=attachable)
    return Network(id=new_id(), spec=spec, vni=vni)


def ingress_network(existing: Iterable[Network]) -> Network | None:
    """The ingress network to create, or None when the cluster has one (idempotent by construction).

    It takes 10.0.0.0/24 as in Swarm, unless a user network already holds that subnet.
    """
    existing = list(existing)
    if any(n.spec.ingress for n in existing):
        return None
    taken = any(ipaddress.ip_network(n.spec.subnet).overlaps(ipaddress.ip_network(INGRESS_SUBNET))
                for n in existing if n.spec.subnet)
    name = INGRESS_NAME if not any(n.spec.name == INGRESS_NAME for n in existing) else f"{INGRESS_NAME}-{new_id()[:6]}"
    return new_network(existing, name, subnet="" if taken else INGRESS_SUBNET, ingress=True)


def find_ingress(networks: Iterable[Network]) -> Network | None:
    return next((n for n in networks if n.spec.ingress), None)


def resolve(networks: Iterable[Network], target: str) -> Network | None:
    """The overlay network ``target`` names (id or name), if it is one."""
    for n in networks:
        if n.spec.driver == "overlay" and target in (n.id, n.spec.name):
            return n
    return None


def has_mesh_ports(task_or_spec_ports: Iterable[object]) -> bool:
    return any(getattr(p, "publish_mode", "") == "ingress" for p in task_or_spec_ports)


def overlays_of(networks: Iterable[Network], task: Task) -> list[tuple[Network, list[str]]]:
    """Every overlay network the task joins, in its spec's order, with its aliases; ``ingress`` last
    when the service publishes ports in ingress mode (the routing mesh reaches tasks through it)."""
    networks = list(networks)
    out: list[tuple[Network, list[str]]] = []
    for att in task.spec.networks:
        net = resolve(networks, att.target)
        if net is not None and all(net.id != n.id for n, _ in out):
            out.append((net, list(att.aliases)))
    if has_mesh_ports(task.spec.endpoint.ports):
        ingress = find_ingress(networks)
        if ingress is not None and all(ingress.id != n.id for n, _ in out):
            out.append((ingress, []))
    return out


def overlay_of(networks: Iterable[Network], task: Task) -> Network | None:
    """The first overlay network of the task (kept for callers that need only one)."""
    found = overlays_of(networks, task)
    return found[0][0] if found else None


def holds_address(task: Task) -> bool:
    return bool(task.networks) and task.status.state <= TaskState.RUNNING


def _candidates(net: Network, *, top_down: bool) -> Iterable[str]:
    subnet = ipaddress.ip_network(net.spec.subnet)
    if not top_down:
        return (str(h) for h in subnet.hosts())
    first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - 1
    return (str(ipaddress.IPv4Address(i)) for i in range(last, first - 1, -1))


class Held(set[str]):
    """Addresses held on a network, plus ``recent``: those of stopped tasks still kept as history.

    A stopped task's container stays on its node until the task is reaped, and that node's agent
    keeps its address reserved until then; handing the address straight to the task's replacement
    (which often lands on the same node) would make it fail with "address already in use". So
    :func:`allocate` avoids recent addresses while others are free, as Docker's serial IPAM avoids
    reusing a just-released address.
    """

    recent: frozenset[str] = frozenset()


def allocate(net: Network, used: set[str], *, top_down: bool = False) -> str:
    """The lowest (or highest) free host address of ``net``, never the gateway; adds it to ``used``.

    Addresses in ``used.recent`` (a :class:`Held`) are taken only when nothing else is free.
    """
    recent = getattr(used, "recent", frozenset())
    for avoid in ((recent,) if recent else ()) + (frozenset(),):
        for ip in _candidates(net, top_down=top_down):
            if ip != net.spec.gateway and ip not in used and ip not in avoid:
                used.add(ip)
                return ip
    raise Unavailable(f"no free address left on network {net.spec.name}")


def used_addresses(tasks: Iterable[Task], network_id: str, services: Iterable[Service] = (),
                   networks: Iterable[Network] = ()) -> set[str]:
    """Every address held on the network: live tasks', services' VIPs, nodes' lb addresses (a
    :class:`Held` whose ``recent`` are the stopped tasks' addresses)."""
    tasks = list(tasks)
    used = Held(ip for t in tasks if holds_address(t) for a in t.networks if a.network_id == network_id
                for ip in a.addresses)
    used.recent = frozenset(ip for t in tasks if t.networks and not holds_address(t) for a in t.networks
                            if a.network_id == network_id for ip in a.addresses)
    for svc in services:
        if svc.endpoint is not None:
            used.update(v.addr for v in svc.endpoint.virtual_ips if v.network_id == network_id)
    for n in networks:
        if n.id == network_id:
            used.update(n.lb_addresses.values())
    return used


def attachments(nets: list[tuple[Network, list[str]]], used: dict[str, set[str]]) -> list[NetworkAttachment]:
    """One attachment per network, each with a fresh address (``used``: network id -> held addresses)."""
    return [NetworkAttachment(network_id=net.id, addresses=[allocate(net, used[net.id])], aliases=aliases)
            for net, aliases in nets]


def node_host(addr: str) -> str:
    """The host part of a node's ``host:port`` address (its VXLAN tunnel endpoint)."""
    return addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr
