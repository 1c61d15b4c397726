"""A stopped task's address is not handed to its replacement while other addresses are free: the
stopped container keeps it reserved on its node until the task is reaped."""

from __future__ import annotations

from orchestrator import overlay
from orchestrator.model import NetworkAttachment, Task, TaskState, TaskStatus
from orchestrator.model.service import ContainerSpec, TaskSpec

SPEC = TaskSpec(container=ContainerSpec(image="busybox"))


def task(tid: str, ip: str, state: TaskState, net_id: str) -> Task:
    return Task(id=tid, service_id="s", node_id="n", spec=SPEC, status=TaskStatus(state=state),
                networks=[NetworkAttachment(network_id=net_id, addresses=[ip])])


def test_recent_addresses_are_avoided_until_nothing_else_is_free() -> None:
    net = overlay.new_network([], "p_back", subnet="10.9.0.0/29")  # hosts .1 (gateway) to .6
    tasks = [task("a", "10.9.0.2", TaskState.RUNNING, net.id), task("b", "10.9.0.3", TaskState.SHUTDOWN, net.id)]
    used = overlay.used_addresses(tasks, net.id)
    assert set(used) == {"10.9.0.2"} and used.recent == {"10.9.0.3"}
    assert [overlay.allocate(net, used) for _ in range(3)] == ["10.9.0.4", "10.9.0.5", "10.9.0.6"]
    assert overlay.allocate(net, used) == "10.9.0.3"  # full otherwise: the stopped task's address after all
