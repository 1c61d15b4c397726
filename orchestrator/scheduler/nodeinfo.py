"""What the scheduler knows about a node while it places a batch of tasks.

Built once per pass from a view and updated in memory as tasks are placed, so a batch of 100 tasks
sees its own earlier placements (reservations, per-service counts, host ports) without re-reading.
A task counts against a node while it is desired to run and has not stopped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from orchestrator.model import Node, Task
from orchestrator.store import View


@dataclass
class NodeInfo:
    node: Node
    reserved_cpu: int = 0
    reserved_memory: int = 0
    total_tasks: int = 0
    tasks_by_service: Counter[str] = field(default_factory=Counter)
    host_ports: set[tuple[str, int]] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.node.id

    def free_cpu(self) -> int:
        return self.node.resources.nano_cpus - self.reserved_cpu

    def free_memory(self) -> int:
        return self.node.resources.memory_bytes - self.reserved_memory

    def add(self, task: Task) -> None:
        reservations = task.spec.resources.reservations
        self.reserved_cpu += reservations.nano_cpus
        self.reserved_memory += reservations.memory_bytes
        self.total_tasks += 1
        self.tasks_by_service[task.service_id] += 1
        self.host_ports.update(host_ports(task))


def host_ports(task: Task) -> set[tuple[str, int]]:
    return {
        (p.protocol, p.published_port)
        for p in task.spec.endpoint.ports
        if p.publish_mode == "host" and p.published_port
    }


def counts_against_node(task: Task) -> bool:
    return bool(task.node_id) and task.runnable and not task.stopped


def build_node_infos(view: View) -> dict[str, NodeInfo]:
    infos = {n.id: NodeInfo(n) for n in view.all("node")}
    for task in view.all("task"):
        if counts_against_node(task) and task.node_id in infos:
            infos[task.node_id].add(task)
    return infos
