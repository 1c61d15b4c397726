"""Scheduler filters: small classes that each decide one thing about a node (practice 8).

Every filter has ``set_task(task) -> bool`` (False: this filter has nothing to check for this task),
``check(node_info) -> bool`` and ``explain(n) -> str`` for "n nodes failed this filter". The pipeline
counts, per filter, the nodes it rejected, which is how an unplaceable task says why:
``no suitable node (2 nodes not available for new tasks; 1 node has insufficient memory)``.
"""

from __future__ import annotations

from orchestrator.model import Task
from orchestrator.scheduler.constraints import Constraint, matches_all, safe_constraints
from orchestrator.scheduler.nodeinfo import NodeInfo, host_ports


def nodes(n: int, singular: str, plural: str) -> str:
    """``1 node has ...`` / ``2 nodes have ...``."""
    return f"{n} node {singular}" if n == 1 else f"{n} nodes {plural}"


class Filter:
    def set_task(self, task: Task) -> bool:
        self.task = task
        return True

    def check(self, info: NodeInfo) -> bool:
        raise NotImplementedError

    def explain(self, n: int) -> str:
        raise NotImplementedError


class ReadyFilter(Filter):
    """The agent is up and the operator has not paused or drained the node."""

    def check(self, info: NodeInfo) -> bool:
        return info.node.schedulable

    def explain(self, n: int) -> str:
        return nodes(n, "not available for new tasks", "not available for new tasks")


class ConstraintFilter(Filter):
    def set_task(self, task: Task) -> bool:
        self.constraints: list[Constraint] | None = safe_constraints(task.spec.placement.constraints)
        return self.constraints is None or bool(self.constraints)

    def check(self, info: NodeInfo) -> bool:
        return self.constraints is not None and matches_all(self.constraints, info.node)

    def explain(self, n: int) -> str:
        return nodes(n, "does not satisfy the placement constraints", "do not satisfy the placement constraints")


class CpuFilter(Filter):
    def set_task(self, task: Task) -> bool:
        self.need = task.spec.resources.reservations.nano_cpus
        return self.need > 0

    def check(self, info: NodeInfo) -> bool:
        return info.free_cpu() >= self.need

    def explain(self, n: int) -> str:
        return nodes(n, "has insufficient cpu", "have insufficient cpu")


class MemoryFilter(Filter):
    def set_task(self, task: Task) -> bool:
        self.need = task.spec.resources.reservations.memory_bytes
        return self.need > 0

    def check(self, info: NodeInfo) -> bool:
        return info.free_memory() >= self.need

    def explain(self, n: int) -> str:
        return nodes(n, "has insufficient memory", "have insufficient memory")


class MaxReplicasFilter(Filter):
    def set_task(self, task: Task) -> bool:
        self.task = task
        self.limit = task.spec.placement.max_replicas_per_node
        return self.limit > 0

    def check(self, info: NodeInfo) -> bool:
        return info.tasks_by_service[self.task.service_id] < self.limit

    def explain(self, n: int) -> str:
        return nodes(
            n,
            f"already runs the maximum of {self.limit} replicas per node",
            f"already run the maximum of {self.limit} replicas per node",
        )


class HostPortFilter(Filter):
    def set_task(self, task: Task) -> bool:
        self.ports = host_ports(task)
        return bool(self.ports)

    def check(self, info: NodeInfo) -> bool:
        return not (self.ports & info.host_ports)

    def explain(self, n: int) -> str:
        return nodes(n, "has a host-mode port already in use", "have a host-mode port already in use")


def default_filters() -> list[Filter]:
    """Pipeline order: the first failing filter is the one a node is counted against."""
    return [ReadyFilter(), ConstraintFilter(), CpuFilter(), MemoryFilter(), MaxReplicasFilter(), HostPortFilter()]
