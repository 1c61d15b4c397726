"""Overlay networks on the agent: what one node programs from the manager's ``NetworkState`` (pure).

The dispatcher sends each node one ``NetworkState`` (``proto/orch/v1/dispatcher.proto``): the overlay
networks it serves (``ingress`` always, and each network one of its tasks joins) with every endpoint
on them, the services and their VIPs, the node's own lb address, and the routing-mesh ports. The
functions here turn one network of it into the kernel's terms; ``manager.py`` applies them. They take
the generated messages or anything shaped like them (duck typing keeps this module free of proto).

Per network and node::

    bridge (gateway, the same everywhere) ── vxlan<VNI> ══ UDP 4789 ══▶ other nodes
        │   FDB: flood 00:00:00:00:00:00 to every other node; one static entry per remote endpoint MAC
        └── vlb<VNI> ═ vlp<VNI> (host side, <lb addr>/32, MAC 02:42:<lb addr>)
    nft: [iifname bridge] ip daddr VIP dnat to numgen(running tasks)   (prerouting, output)
         oifname bridge ct status dnat snat to <lb addr>               (postrouting, first)
         fib daddr type local <proto> dport P dnat to numgen(ingress tasks) : target   (mesh, ingress only)
    DNS: <service>, <alias> -> VIP (vip) or task addresses (dnsrr); tasks.<service> -> task addresses;
         <task name> -> its address

Why the lb address: the gateway is the same on every node, so a task answering a connection that another
node balanced to it would send the reply to its own node. SNAT to the balancing node's own address, on a
port with its own MAC, brings the reply back to the node holding the connection's NAT state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.network.bridge import mac_for
from agent.network.nft import MeshPort, ServiceVip

TASKS_PREFIX = "tasks."
FLOOD = "00:00:00:00:00:00"


def lb_port_names(vni: int) -> tuple[str, str]:
    """(bridge port, host end) of the node's lb veth on the network with ``vni`` (<= 15 bytes)."""
    return f"vlb{vni}", f"vlp{vni}"


def fdb(network: Any, local_addrs: Iterable[str]) -> list[tuple[str, str]]:
    """Static FDB of the network's VXLAN device: flood to every other node, one entry per remote MAC."""
    local = set(local_addrs)
    remote = {e.ip: e.node_addr for e in network.endpoints if e.node_addr and e.node_addr not in local}
    vteps = sorted(set(remote.values()))
    return [(FLOOD, v) for v in vteps] + [(mac_for(ip), vtep) for ip, vtep in sorted(remote.items())]


def neighbours(network: Any, local_addrs: Iterable[str]) -> list[tuple[str, str]]:
    """Permanent neighbour entries of the bridge for every remote endpoint (see ``netlink.set_neighbours``)."""
    local = set(local_addrs)
    return sorted({(e.ip, mac_for(e.ip)) for e in network.endpoints if e.node_addr and e.node_addr not in local})


def dns_records(network: Any) -> dict[str, list[str]]:
    """The network's names: services (VIP or tasks), ``tasks.<name>``, and each task's own name."""
    if network.ingress:
        return {}
    out: dict[str, list[str]] = {}

    def add(name: str, ip: str) -> None:
        ips = out.setdefault(name, [])
        if ip not in ips:
            ips.append(ip)

    tasks_of: dict[str, list[str]] = {}
    for e in network.endpoints:
        if e.task:
            add(e.task, e.ip)
            tasks_of.setdefault(e.service_id, []).append(e.ip)
    for svc in network.services:
        ips = tasks_of.get(svc.service_id, [])
        for name in dict.fromkeys([svc.name, *svc.aliases]):
            for ip in [svc.vip] if svc.vip else ips:
                add(name, ip)
            for ip in ips:
                add(TASKS_PREFIX + name, ip)
    return out


def service_vips(network: Any, bridge: str) -> list[ServiceVip]:
    """The network's VIPs with their running tasks (a VIP without one is refused by the input chain)."""
    out = []
    for svc in network.services:
        if svc.vip:
            backends = tuple(dict.fromkeys(e.ip for e in network.endpoints
                                           if e.task and e.service_id == svc.service_id and e.running))
            out.append(ServiceVip(bridge=bridge, vip=svc.vip, backends=backends))
    return out


def mesh_ports(mesh: Iterable[Any]) -> list[MeshPort]:
    return [MeshPort(protocol=m.protocol, port=m.published_port, target_port=m.target_port,
                     backends=tuple(m.backends)) for m in mesh if m.protocol in ("tcp", "udp")]
