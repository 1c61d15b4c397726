"""Global orchestrator: one runnable task per eligible node, following joins, drains and removals.

Eligible for a *new* task: the node is ready, active and matches the placement constraints. An
existing task is retired when its node is drained or no longer matches (desired SHUTDOWN) or when the
node was removed (desired REMOVE). A paused or down node keeps its task but gets no new one. Tasks are
created with ``node_id`` already set; the scheduler still checks them (resources, ports) before
moving them to ASSIGNED.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from orchestrator.model import Availability, Node, Service, Task, TaskState
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.reconcile.tasks import handing_over, new_task, newest, retire
from orchestrator.scheduler.constraints import matches_all, safe_constraints
from orchestrator.store import Change, View

log = logging.getLogger(__name__)


def reconcile_global(
    service: Service,
    tasks: list[Task],
    nodes: list[Node],
    now: float,
    initial_state: TaskState = TaskState.PENDING,
) -> Plan:
    """Pure decision for one global service over all nodes."""
    plan = Plan()
    constraints = safe_constraints(service.spec.task.placement.constraints)
    node_by_id = {n.id: n for n in nodes}
    runnable: dict[str, list[Task]] = defaultdict(list)
    for t in tasks:
        if t.runnable:
            runnable[t.node_id].append(t)
        else:
            plan.noop.append(t)
    for node_id, on_node in runnable.items():
        node = node_by_id.get(node_id)
        if node is None:
            plan.update.extend(retire(t, TaskState.REMOVE) for t in on_node)
            continue
        if node.availability == Availability.DRAIN or constraints is None or not matches_all(constraints, node):
            plan.update.extend(retire(t) for t in on_node)
            continue
        keep = newest(on_node)
        kept = [keep, *handing_over(on_node, keep, service)]  # dirty tasks are the updater's
        plan.update.extend(retire(t) for t in on_node if all(t is not k for k in kept))
        plan.noop.extend(kept)
    for node in nodes:
        if node.id in runnable or not node.schedulable:
            continue
        if constraints is not None and matches_all(constraints, node):
            plan.create.append(new_task(service, now, node_id=node.id, initial_state=initial_state))
    return plan


class GlobalOrchestrator(Loop):
    name = "global-orchestrator"
    kinds = ("service", "task", "node")

    def __init__(self, *args: object, initial_state: TaskState = TaskState.PENDING, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.initial_state = initial_state
        self._dirty: set[str] = set()
        self._all = False

    def seed(self, view: View) -> None:
        self._all = True

    def handle(self, change: Change) -> None:
        if change.kind == "node":
            self._all = True
        elif change.kind == "service":
            self._dirty.add(change.obj.id)
        elif change.action != "update" or change.old.desired_state != change.new.desired_state:  # type: ignore[union-attr]
            self._dirty.add(change.obj.service_id)  # type: ignore[attr-defined]

    def tick(self) -> None:
        view = self.store.view()
        if self._all:
            dirty = {s.id for s in view.all("service") if s.spec.mode == "global"}
            self._all = False
            self._dirty.clear()
        else:
            dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        nodes = view.all("node")
        now = self.clock()
        plan = Plan()
        for service_id in sorted(dirty):
            service = view.get("service", service_id)
            if service is None or service.spec.mode != "global":
                continue  # deleted services are retired by the replicated orchestrator
            try:
                plan.extend(reconcile_global(service, view.find("task", service_id=service_id), nodes, now, self.initial_state))
            except Exception:
                log.exception("%s: reconciling service %s failed", self.name, service_id)
        write_plan(self.store, plan, self.name)
