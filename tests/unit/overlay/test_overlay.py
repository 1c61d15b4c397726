"""Manager-side overlay networks: subnet/VNI choice, cluster-wide addresses, assignment descriptions."""

from __future__ import annotations

import json

import pytest

from orchestrator import overlay
from orchestrator.dispatcher import assignments as asg
from orchestrator.errors import AlreadyExists, InvalidArgument
from orchestrator.model import (
    ContainerSpec,
    NetworkAttachmentConfig,
    Node,
    NodeStatus,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    new_id,
)
from orchestrator.store import MemoryStore


def task(node_id: str, target: str = "ovl", slot: int = 1) -> Task:
    spec = TaskSpec(container=ContainerSpec(image="busybox"), networks=[NetworkAttachmentConfig(target=target)])
    return Task(id=new_id(), service_id="svc", service_name="web", slot=slot, node_id=node_id, spec=spec,
                spec_hash="h", status=TaskStatus(state=TaskState.ASSIGNED))


def test_networks_get_distinct_subnets_and_vnis() -> None:
    a = overlay.new_network([], "a")
    b = overlay.new_network([a], "b")
    assert (a.spec.subnet, a.spec.gateway, a.vni) == ("10.0.1.0/24", "10.0.1.1", overlay.FIRST_VNI)
    assert (b.spec.subnet, b.vni) == ("10.0.2.0/24", overlay.FIRST_VNI + 1)
    with pytest.raises(AlreadyExists):
        overlay.new_network([a, b], "a")
    with pytest.raises(InvalidArgument):
        overlay.new_network([a], "c", subnet="10.0.1.128/25")
    with pytest.raises(InvalidArgument):
        overlay.new_network([], "d", driver="bridge")


def test_addresses_never_repeat_and_skip_the_gateway() -> None:
    net = overlay.new_network([], "ovl")
    used: set[str] = set()
    got = [overlay.allocate(net, used) for _ in range(3)]
    assert got == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
    held = task("n1").evolve(networks=[{"network_id": net.id, "addresses": ["10.0.1.2"]}])
    assert overlay.used_addresses([held], net.id) == {"10.0.1.2"}


def test_assignment_carries_address_and_peers_on_other_nodes() -> None:
    store = MemoryStore()
    net = overlay.new_network([], "ovl")
    nodes = [Node(id=f"n{i}", hostname=f"h{i}", status=NodeStatus(addr=f"10.99.0.{i}:2377")) for i in (1, 2)]
    t1 = task("n1").evolve(networks=[{"network_id": net.id, "addresses": ["10.0.1.2"]}])
    t2 = task("n2", slot=2).evolve(networks=[{"network_id": net.id, "addresses": ["10.0.1.3"]}])

    def fill(tx: object) -> None:
        for obj in (net, *nodes, t1, t2):
            tx.create(obj)  # type: ignore[attr-defined]

    store.update(fill)
    view = store.view()
    msg = asg.to_proto(t1, view)
    info = overlay.OverlayInfo.from_json(msg.service_labels[overlay.LABEL])
    assert (info.ip, info.vni, info.subnet) == ("10.0.1.2", net.vni, "10.0.1.0/24")
    assert {(p.ip, p.node_addr) for p in info.peers} == {("10.0.1.2", "10.99.0.1"), ("10.0.1.3", "10.99.0.2")}
    assert t2.name in next(p.names for p in info.peers if p.ip == "10.0.1.3")
    assert msg.container.ipv4_address == "10.0.1.2" and msg.container.network_mode == "ovl"
    assert json.loads(msg.service_labels[overlay.LABEL])["name"] == "ovl"
    # a peer leaving changes the key the dispatcher compares, so the assignment is sent again
    before = asg.agent_key(t1, view)
    stored = store.view().get("task", t2.id)
    store.update(lambda tx: tx.update(stored.evolve(desired_state=TaskState.SHUTDOWN)))
    assert asg.agent_key(t1, store.view()) != before


def test_tasks_without_overlay_are_unchanged() -> None:
    plain = task("n1", target="somebridge")
    msg = asg.to_proto(plain, MemoryStore().view())
    assert overlay.LABEL not in msg.service_labels and not msg.container.ipv4_address
