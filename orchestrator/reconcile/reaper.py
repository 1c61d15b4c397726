"""Task reaper: deletes retired tasks, and only once nothing can still be running for them.

A task may be deleted when it is retired (desired state past RUNNING) *and* one of:
its agent reported a terminal state (COMPLETE or later), it never reached a node (status before
ASSIGNED), or its node no longer exists. Deleting earlier would leak containers and addresses
(pitfall 4). Among deletable tasks:

- desired REMOVE (scale-down, service removal, node removal): deleted right away;
- otherwise they are history: each slot (replicated) or service-and-node (global) keeps at most
  ``task_history_limit`` tasks in total (cluster setting, default 5); the oldest go first. A negative
  limit keeps everything.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from orchestrator.model import DEFAULT_CLUSTER_ID, Node, Task, TaskState
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.store import Change, View

log = logging.getLogger(__name__)

DEFAULT_HISTORY_LIMIT = 5


def deletable(task: Task, node: Node | None) -> bool:
    if task.runnable:
        return False
    return task.stopped or task.status.state < TaskState.ASSIGNED or not task.node_id or node is None


def reap(tasks: list[Task], nodes: dict[str, Node], history_limit: int, service_exists: bool = True) -> Plan:
    """Pure decision over all tasks of one service.

    A deleted service keeps no history: every task of it that may be deleted is deleted.
    """
    plan = Plan()
    groups: dict[tuple[int, str], list[Task]] = defaultdict(list)
    for t in tasks:
        if (t.desired_state >= TaskState.REMOVE or not service_exists) and deletable(t, nodes.get(t.node_id)):
            plan.remove.append(t)
        else:
            groups[(t.slot, "" if t.slot else t.node_id)].append(t)
    for group in groups.values():
        excess = len(group) - history_limit if history_limit >= 0 else 0
        oldest_first = sorted(group, key=lambda t: (t.meta.created_at, t.meta.version, t.id))
        for t in oldest_first:
            if excess > 0 and deletable(t, nodes.get(t.node_id)):
                plan.remove.append(t)
                excess -= 1
            else:
                plan.noop.append(t)
    return plan


def history_limit(view: View) -> int:
    cluster = view.get("cluster", DEFAULT_CLUSTER_ID)
    if cluster is None:
        clusters = view.all("cluster")
        cluster = clusters[0] if clusters else None
    return cluster.settings.task_history_limit if cluster is not None else DEFAULT_HISTORY_LIMIT


class TaskReaper(Loop):
    name = "task-reaper"
    kinds = ("task", "node", "cluster", "service")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._dirty: set[str] = set()
        self._all = False

    def seed(self, view: View) -> None:
        self._all = True

    def handle(self, change: Change) -> None:
        if change.kind == "service":
            if change.action == "delete":
                self._dirty.add(change.obj.id)  # type: ignore[attr-defined]
            return
        if change.kind != "task":
            if change.kind == "cluster" or change.action == "delete":
                self._all = True
            return
        task = change.new
        if task is not None and (not task.runnable or task.stopped):  # type: ignore[attr-defined]
            self._dirty.add(task.service_id)  # type: ignore[attr-defined]
        elif change.action == "create":
            self._dirty.add(change.obj.service_id)  # type: ignore[attr-defined]

    def tick(self) -> None:
        view = self.store.view()
        if self._all:
            dirty = {t.service_id for t in view.all("task")}
            self._all = False
            self._dirty.clear()
        else:
            dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        nodes = {n.id: n for n in view.all("node")}
        limit = history_limit(view)
        plan = Plan()
        for service_id in sorted(dirty):
            try:
                plan.extend(reap(view.find("task", service_id=service_id), nodes, limit,
                                 service_exists=view.get("service", service_id) is not None))
            except Exception:
                log.exception("%s: reaping tasks of service %s failed", self.name, service_id)
        write_plan(self.store, plan, self.name)
