"""Manager-side allocation: VIPs, mesh ports, lb addresses, ingress, scheduling attachments."""

from __future__ import annotations

import pytest

from orchestrator import netalloc, overlay
from orchestrator.dispatcher import assignments as asg
from orchestrator.dispatcher import netstate
from orchestrator.errors import InvalidArgument
from orchestrator.model import (
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    Node,
    NodeStatus,
    PortConfig,
    Service,
    ServiceSpec,
    TaskSpec,
    TaskState,
    new_id,
)
from orchestrator.model import Task as TaskObj
from orchestrator.scheduler.scheduler import Decisions, write_decisions
from orchestrator.store import MemoryStore


def spec(name: str, nets: list[str] = (), ports: list[PortConfig] = (), mode: str = "vip") -> ServiceSpec:  # type: ignore[assignment]
    return ServiceSpec(name=name, replicas=2, task=TaskSpec(
        container=ContainerSpec(image="busybox"),
        networks=[NetworkAttachmentConfig(target=n, aliases=[f"{name}-alias"]) for n in nets],
        endpoint=EndpointSpec(mode=mode, ports=list(ports))))  # type: ignore[arg-type]


def world() -> MemoryStore:
    store = MemoryStore()
    a = overlay.new_network([], "a")
    b = overlay.new_network([a], "b")
    nodes = [Node(id=f"n{i}", hostname=f"h{i}", status=NodeStatus(addr=f"10.99.0.{i}:2377")) for i in (1, 2, 3)]

    def fill(tx: object) -> None:
        for obj in (a, b, *nodes):
            tx.create(obj)  # type: ignore[attr-defined]

    store.update(fill)
    netalloc.ensure_ingress(store)
    return store


def create(store: MemoryStore, s: ServiceSpec) -> Service:
    svc = Service(id=new_id(), spec=s)
    return store.update(lambda tx: netalloc.create_service(tx, svc))


def test_ingress_is_created_once_on_its_subnet() -> None:
    store = world()
    netalloc.ensure_ingress(store)
    ing = [n for n in store.view().all("network") if n.spec.ingress]
    assert len(ing) == 1 and ing[0].spec.subnet == "10.0.0.0/24" and ing[0].spec.name == "ingress"
    assert ing[0].vni > overlay.FIRST_VNI  # from the cluster's sequence like the others


def test_one_vip_per_service_and_network_from_the_top_and_ports_from_the_mesh_range() -> None:
    store = world()
    web = create(store, spec("web", ["a", "b"], [PortConfig(target_port=80)]))
    api = create(store, spec("api", ["a"], [PortConfig(target_port=80, published_port=8080)]))
    view = store.view()
    a, b = view.find("network", name="a")[0], view.find("network", name="b")[0]
    assert web.endpoint is not None and api.endpoint is not None
    assert [(v.network_id, v.addr) for v in web.endpoint.virtual_ips] == [(a.id, "10.0.1.254"), (b.id, "10.0.2.254")]
    assert [v.addr for v in api.endpoint.virtual_ips] == ["10.0.1.253"]
    assert web.endpoint.ports[0].published_port == 30000 and api.endpoint.ports[0].published_port == 8080
    dnsrr = create(store, spec("rr", ["a"], mode="dnsrr"))
    assert dnsrr.endpoint is not None and dnsrr.endpoint.virtual_ips == []


def test_published_port_conflicts_are_refused_in_one_line() -> None:
    store = world()
    create(store, spec("web", [], [PortConfig(target_port=80, published_port=8080)]))
    with pytest.raises(InvalidArgument, match="port '8080/tcp' is already in use by service 'web'"):
        create(store, spec("other", [], [PortConfig(target_port=81, published_port=8080)]))
    create(store, spec("udp", [], [PortConfig(target_port=81, published_port=8080, protocol="udp")]))
    auto = create(store, spec("auto", [], [PortConfig(target_port=80)]))
    assert auto.endpoint is not None and auto.endpoint.ports[0].published_port == 30000


def pending(store: MemoryStore, svc: Service, slot: int) -> TaskObj:
    t = TaskObj(id=new_id(), service_id=svc.id, service_name=svc.spec.name, slot=slot, spec=svc.spec.task,
                status={"state": TaskState.PENDING})
    store.update(lambda tx: tx.create(t))
    return t


def test_scheduling_attaches_every_network_in_order_plus_ingress_and_gives_nodes_lb_addresses() -> None:
    store = world()
    web = create(store, spec("web", ["b", "a"], [PortConfig(target_port=80)]))
    t1, t2 = pending(store, web, 1), pending(store, web, 2)
    assert write_decisions(store, store.view(), Decisions(assigned={t1.id: "n1", t2.id: "n2"}), 1.0) == 0
    view = store.view()
    nets = {n.spec.name: n for n in view.all("network")}
    got = view.get("task", t1.id)
    assert [a.network_id for a in got.networks] == [nets["b"].id, nets["a"].id, nets["ingress"].id]
    assert got.networks[0].aliases == ["web-alias"]
    assert [a.addresses for a in got.networks] == [["10.0.2.2"], ["10.0.1.2"], ["10.0.0.2"]]
    assert view.get("task", t2.id).networks[0].addresses == ["10.0.2.3"]
    # lb addresses for both nodes, below the VIP, never a task's
    assert set(nets["b"].lb_addresses) == {"n1", "n2"}
    held = {a for t in view.all("task") for n in t.networks for a in n.addresses}
    vips = {v.addr for v in view.get("service", web.id).endpoint.virtual_ips}
    for n in nets.values():
        assert not set(n.lb_addresses.values()) & (held | vips)


def test_network_state_per_node_carries_endpoints_vips_and_mesh() -> None:
    store = world()
    web = create(store, spec("web", ["a"], [PortConfig(target_port=80, published_port=8080)]))
    t1, t2 = pending(store, web, 1), pending(store, web, 2)
    write_decisions(store, store.view(), Decisions(assigned={t1.id: "n1", t2.id: "n2"}), 1.0)
    running = store.view().get("task", t1.id)
    store.update(lambda tx: tx.update(running.evolve(status={"state": TaskState.RUNNING})))
    for node in ("n1", "n2", "n3"):
        netalloc.ensure_node_ingress(store, node)
    view = store.view()
    st1 = netstate.build(view, "n1")
    assert [n.name for n in st1.networks] == ["a", "ingress"]
    a = st1.networks[0]
    assert a.lb_addr and a.gateway == "10.0.1.1"
    assert {(e.ip, e.node_addr, e.running) for e in a.endpoints if e.task} == {
        ("10.0.1.2", "10.99.0.1", True), ("10.0.1.3", "10.99.0.2", False)}
    assert [(s.name, list(s.aliases), s.vip) for s in a.services] == [("web", ["web-alias"], "10.0.1.254")]
    assert [(m.published_port, m.target_port, list(m.backends)) for m in st1.mesh] == [(8080, 80, ["10.0.0.2"])]
    # a node without tasks serves ingress only, with its own lb address and the same mesh
    st3 = netstate.build(view, "n3")
    assert [n.name for n in st3.networks] == ["ingress"] and st3.networks[0].lb_addr
    assert st3.mesh == st1.mesh
    assert len({netstate.build(view, n).networks[-1].lb_addr for n in ("n1", "n2", "n3")}) == 3


def test_assignment_lists_every_network_and_only_host_mode_ports() -> None:
    store = world()
    web = create(store, spec("web", ["a", "b"], [PortConfig(target_port=80), PortConfig(
        target_port=81, published_port=9000, publish_mode="host")]))
    t1 = pending(store, web, 1)
    write_decisions(store, store.view(), Decisions(assigned={t1.id: "n1"}), 1.0)
    view = store.view()
    msg = asg.to_proto(view.get("task", t1.id), view)
    c = msg.container
    assert c.network_mode == "a" and c.ipv4_address == "10.0.1.2"
    assert [(p.host_port, p.container_port) for p in c.ports] == [(9000, 81)]
    import json

    listed = json.loads(c.labels["com.orch.networks"])
    assert [(x["network"], x["ip"]) for x in listed] == [("a", "10.0.1.2"), ("b", "10.0.2.2"), ("ingress", "10.0.0.2")]
    assert c.labels["orch.service.endpoint-mode"] == "vip"


def test_concurrent_network_creators_never_share_a_vni_or_subnet() -> None:
    """`network create` racing the lazy ingress: the loser's commit conflicts on the Cluster object and
    is retried on a view that has the winner's network."""
    from orchestrator.model import DEFAULT_CLUSTER_ID, Cluster, Network

    store = MemoryStore()
    store.update(lambda tx: tx.create(Cluster(id=DEFAULT_CLUSTER_ID)))
    attempts: list[int] = []

    def build(existing: list[Network]) -> Network:
        net = overlay.new_network(existing, "appnet")
        if not attempts:  # while this first attempt is in flight, the ingress is created elsewhere
            netalloc.ensure_ingress(store)
        attempts.append(net.vni)
        return net

    created = netalloc.create_network(store, build)
    nets = store.view().all("network")
    assert len(attempts) == 2 and attempts[0] == attempts[1] - 1  # the first try took the ingress's VNI
    assert len({n.vni for n in nets}) == 2 and len({n.spec.subnet for n in nets}) == 2
    assert created.vni == max(n.vni for n in nets)


def test_a_plain_service_needs_no_endpoint_work_and_no_network_state() -> None:
    """Services without networks or ports are most writes: they must not scan the cluster nor make
    every agent session rebuild its network state (that halved the committed writes per second)."""
    from orchestrator.model import Service, ServiceSpec
    from orchestrator.model.service import EndpointStatus

    svc = Service(id="s1", spec=ServiceSpec(name="plain", task={"container": {"image": "busybox"}}))

    class NoReads:
        def all(self, kind: str) -> list:  # type: ignore[type-arg]
            raise AssertionError(f"read every {kind}")

    assert netalloc.with_endpoint(NoReads(), svc).endpoint == EndpointStatus()  # type: ignore[arg-type]
    assert not netstate.relevant(svc.model_copy(update={"endpoint": EndpointStatus()}))
    published = ServiceSpec(name="web", task={"container": {"image": "busybox"},
                                              "endpoint": {"ports": [{"target_port": 80}]}})
    assert netstate.relevant(svc.model_copy(update={"spec": published}))
