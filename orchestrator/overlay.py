"""Overlay networks on the manager (pure functions over a store view).

The manager owns everything that must agree across nodes: a network's subnet, gateway and VNI are
chosen once when it is created, and every task's address on it is allocated here when the scheduler
assigns the task, so addresses never collide between nodes. Agents only build what the assignment
describes (``OverlayInfo``): the local bridge + VXLAN device, the task's endpoint, and static FDB
entries and DNS records for the other tasks of the network (its *peers*).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from orchestrator.errors import AlreadyExists, InvalidArgument, Unavailable
from orchestrator.model import Network, NetworkAttachment, Task, TaskState
from orchestrator.model.base import new_id
from orchestrator.model.objects import NetworkSpec

FIRST_VNI = 4096
POOL = ipaddress.ip_network("10.0.0.0/8")
LABEL = "com.orch.overlay"  # service label of a task assignment: the JSON of ``OverlayInfo``


@dataclass
class Peer:
    ip: str
    node_addr: str  # underlay address of the peer's node (the VXLAN tunnel endpoint)
    names: list[str] = field(default_factory=list)  # DNS names: service, task name, aliases


@dataclass
class OverlayInfo:
    """What an agent needs to attach one task to an overlay network."""

    network_id: str
    name: str
    subnet: str
    gateway: str
    vni: int
    ip: str
    aliases: list[str] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> OverlayInfo:
        d = json.loads(text)
        d["peers"] = [Peer(**p) for p in d.get("peers", [])]
        return cls(**d)


def new_network(existing: Iterable[Network], name: str, driver: str = "overlay", subnet: str = "",
                gateway: str = "") -> Network:
    """A cluster network named ``name`` with the next free VNI and /24 of 10.0.0.0/8 (or ``subnet``)."""
    existing = list(existing)
    if driver != "overlay":
        raise InvalidArgument(f'only the "overlay" driver is cluster-scoped; got "{driver}"')
    if not name:
        raise InvalidArgument("network name is required")
    if any(n.spec.name == name for n in existing):
        raise AlreadyExists(f"network with name {name} already exists")
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
    return Network(id=new_id(), spec=NetworkSpec(name=name, driver="overlay", subnet=str(net), gateway=gw), vni=vni)


def overlay_of(networks: Iterable[Network], task: Task) -> Network | None:
    """The overlay network the task's first attachment names (by name or id), if any."""
    if not task.spec.networks:
        return None
    target = task.spec.networks[0].target
    for n in networks:
        if n.spec.driver == "overlay" and target in (n.id, n.spec.name):
            return n
    return None


def holds_address(task: Task) -> bool:
    return bool(task.networks) and task.status.state <= TaskState.RUNNING


def allocate(net: Network, used: set[str]) -> str:
    """The lowest free host address of ``net`` (the gateway is never handed out); adds it to ``used``."""
    for host in ipaddress.ip_network(net.spec.subnet).hosts():
        ip = str(host)
        if ip != net.spec.gateway and ip not in used:
            used.add(ip)
            return ip
    raise Unavailable(f"no free address left on network {net.spec.name}")


def used_addresses(tasks: Iterable[Task], network_id: str) -> set[str]:
    return {ip for t in tasks if holds_address(t) for a in t.networks if a.network_id == network_id
            for ip in a.addresses}


def attachment(net: Network, task: Task, used: set[str]) -> list[NetworkAttachment]:
    aliases = list(task.spec.networks[0].aliases)
    return [NetworkAttachment(network_id=net.id, addresses=[allocate(net, used)], aliases=aliases)]


def _host(addr: str) -> str:
    return addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr


def info(net: Network, task: Task, tasks: Iterable[Task], node_addrs: dict[str, str]) -> OverlayInfo | None:
    """The assignment's overlay description: the task's address and every live task of the network."""
    own = next((a for a in task.networks if a.network_id == net.id and a.addresses), None)
    if own is None:
        return None
    peers = []
    for t in sorted(tasks, key=lambda t: t.id):
        if t.status.state > TaskState.RUNNING or t.desired_state > TaskState.RUNNING or not t.node_id:
            continue
        for a in t.networks:
            if a.network_id == net.id and a.addresses:
                peers.append(Peer(ip=a.addresses[0], node_addr=_host(node_addrs.get(t.node_id, "")),
                                  names=[t.service_name, t.name, *a.aliases]))
    return OverlayInfo(network_id=net.id, name=net.spec.name, subnet=net.spec.subnet, gateway=net.spec.gateway,
                       vni=net.vni, ip=own.addresses[0], aliases=list(own.aliases), peers=peers)
