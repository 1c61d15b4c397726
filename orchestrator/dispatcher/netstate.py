"""A node's network state: the overlay networks and mesh ports its agent must program (pure).

One message per node instead of a peer list in every task assignment: with ``n`` tasks on a network,
per-task descriptions cost O(n^2) to build and send, this costs O(n) per node, and it is sent only
when it changes (``session.py`` compares the bytes).

A node serves ``ingress`` always (every node accepts every mesh port) and each overlay network one of
its live tasks joins. For each it gets every endpoint (live tasks' addresses and every node's lb
address, with the underlay address of the node holding it), the services and their VIPs, and its own
lb address. Mesh ports list the running tasks' ingress addresses of every service publishing them.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator import overlay
from orchestrator.model import Network, Service, Task, TaskState
from orchestrator.store import View
from proto.orch.v1 import dispatcher_pb2 as dpb


def live(task: Task) -> bool:
    """Holds its addresses and may run: a peer of the network (FDB, DNS)."""
    return bool(task.node_id) and task.status.state <= TaskState.RUNNING and task.desired_state <= TaskState.RUNNING


def running(task: Task) -> bool:
    """A backend of VIPs and mesh ports: new connections must find a process listening."""
    return task.status.state == TaskState.RUNNING and task.desired_state <= TaskState.RUNNING


def served_networks(networks: Iterable[Network], tasks: Iterable[Task], node_id: str) -> list[Network]:
    ids = {a.network_id for t in tasks if t.node_id == node_id and live(t) for a in t.networks}
    return sorted((n for n in networks if n.spec.ingress or n.id in ids), key=lambda n: n.vni)


def build(view: View, node_id: str) -> dpb.NetworkState:
    networks = view.all("network")
    tasks = [t for t in view.all("task") if t.networks and live(t)]
    services = {s.id: s for s in view.all("service")}
    addrs = {n.id: overlay.node_host(n.status.addr) for n in view.all("node")}
    by_net: dict[str, list[Task]] = {}
    for t in sorted(tasks, key=lambda t: t.id):
        for a in t.networks:
            by_net.setdefault(a.network_id, []).append(t)
    out = dpb.NetworkState()
    for net in served_networks(networks, tasks, node_id):
        out.networks.append(_network(net, by_net.get(net.id, []), services, addrs, node_id))
    ingress = overlay.find_ingress(networks)
    if ingress is not None:
        out.mesh.extend(_mesh(ingress, by_net.get(ingress.id, []), services))
    return out


def _network(net: Network, tasks: list[Task], services: dict[str, Service], addrs: dict[str, str],
             node_id: str) -> dpb.OverlayNetwork:
    msg = dpb.OverlayNetwork(id=net.id, name=net.spec.name, subnet=net.spec.subnet, gateway=net.spec.gateway,
                             vni=net.vni, ingress=net.spec.ingress, lb_addr=net.lb_addresses.get(node_id, ""),
                             internal=net.spec.internal)
    seen: set[str] = set()
    for t in tasks:
        att = next(a for a in t.networks if a.network_id == net.id)
        if not att.addresses:
            continue
        msg.endpoints.append(dpb.OverlayEndpoint(ip=att.addresses[0], node_addr=addrs.get(t.node_id, ""), task=t.name,
                                                 service_id=t.service_id, aliases=list(att.aliases),
                                                 running=running(t)))
        seen.add(t.service_id)
    for nid, ip in sorted(net.lb_addresses.items()):
        if nid in addrs:
            msg.endpoints.append(dpb.OverlayEndpoint(ip=ip, node_addr=addrs[nid]))
    if net.spec.ingress:
        return msg  # no names on ingress: the mesh needs no DNS
    for sid in sorted(seen):
        svc = services.get(sid)
        if svc is None:
            continue
        aliases = next((list(a.aliases) for a in svc.spec.task.networks
                        if a.target in (net.id, net.spec.name)), [])
        vip = next((v.addr for v in (svc.endpoint.virtual_ips if svc.endpoint else []) if v.network_id == net.id), "")
        msg.services.append(dpb.OverlayService(service_id=sid, name=svc.spec.name, aliases=aliases,
                                               vip=vip if svc.spec.task.endpoint.mode == "vip" else ""))
    return msg


def _mesh(ingress: Network, tasks: list[Task], services: dict[str, Service]) -> list[dpb.MeshPort]:
    backends: dict[str, list[str]] = {}
    for t in tasks:
        if running(t):
            att = next(a for a in t.networks if a.network_id == ingress.id)
            backends.setdefault(t.service_id, []).extend(att.addresses[:1])
    out = []
    for svc in sorted(services.values(), key=lambda s: s.id):
        for p in svc.endpoint.ports if svc.endpoint else []:
            if p.publish_mode == "ingress" and p.published_port and p.protocol in ("tcp", "udp"):
                out.append(dpb.MeshPort(protocol=p.protocol, published_port=p.published_port,
                                        target_port=p.target_port, service_id=svc.id,
                                        backends=sorted(backends.get(svc.id, []))))
    return out


def relevant(obj: object) -> bool:
    """Whether a change to ``obj`` may change some node's network state."""
    kind = getattr(obj, "kind", "")
    if kind == "task":
        return bool(getattr(obj, "networks", None))
    if kind == "service":  # only its VIPs, names and mesh ports are in a network state
        spec = obj.spec.task  # type: ignore[attr-defined]
        ep = getattr(obj, "endpoint", None)
        return bool(spec.networks or spec.endpoint.ports or (ep is not None and (ep.virtual_ips or ep.ports)))
    return kind in ("network", "node")
