"""Manager-side overlay networks: subnet/VNI choice, cluster-wide addresses, assignment descriptions."""

from __future__ import annotations

import pytest

from orchestrator import overlay
from orchestrator.dispatcher import assignments as asg
from orchestrator.errors import AlreadyExists, InvalidArgument
from orchestrator.model import (
    ContainerSpec,
    NetworkAttachmentConfig,
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


def test_tasks_without_overlay_are_unchanged() -> None:
    plain = task("n1", target="somebridge")
    msg = asg.to_proto(plain, MemoryStore().view())
    assert overlay.LABEL not in msg.service_labels and not msg.container.ipv4_address
