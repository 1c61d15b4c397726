"""Restart supervisor: what happens to a slot when its task stops or its node goes down.

A task *needs attention* when it is still desired to run but the agent reported it stopped
(COMPLETE, FAILED, REJECTED, SHUTDOWN, ...), or - for replicated services - its node is down, gone
or drained.
Then, by the service's ``restart_policy``:

- restart allowed: the old task is retired (desired SHUTDOWN) and a *new* task takes the slot (never
  a restart in place). With a delay the new task is created desired READY (the agent may prepare it)
  and promoted to RUNNING once ``start_after`` has passed (a READY task without ``start_after`` is
  the updater's stop-first replacement: the updater promotes it once the old task stopped);
- restart not allowed (condition ``none``, ``on-failure`` after a clean exit, ``max_attempts`` used up
  within ``window``): nothing is written. The stopped task stays desired RUNNING and so keeps its slot
  occupied; the orchestrator will not refill it.

Restart history travels from task to task (``restart_history``), so it survives leader changes.
"""

from __future__ import annotations

import logging

from orchestrator.model import Availability, Node, NodeState, Service, Task, TaskState
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.reconcile.tasks import new_task, restart_attempts, retire, should_restart
from orchestrator.store import Change, View

log = logging.getLogger(__name__)


def node_lost(task: Task, node: Node | None) -> bool:
    """The task's node can no longer run it: removed, marked down by the dispatcher, or drained."""
    if not task.node_id or task.status.state > TaskState.RUNNING:
        return False
    return node is None or node.status.state == NodeState.DOWN or node.availability == Availability.DRAIN


def supervise(
    task: Task,
    service: Service | None,
    node: Node | None,
    now: float,
    initial_state: TaskState = TaskState.PENDING,
) -> Plan:
    """Pure decision for one task desired to run."""
    plan = Plan()
    if service is None or not task.runnable:
        plan.noop.append(task)
        return plan
    lost = service.spec.mode == "replicated" and node_lost(task, node)
    if task.status.state <= TaskState.RUNNING and not lost:
        if task.desired_state == TaskState.READY and 0 < task.start_after <= now:
            plan.update.append(task.evolve(desired_state=TaskState.RUNNING))
        else:
            plan.noop.append(task)
        return plan
    if service.spec.mode == "global" and task.status.state <= TaskState.RUNNING:
        plan.noop.append(task)
        return plan
    if not should_restart(task, service, now, lost=lost):
        plan.noop.append(task)
        return plan
    policy = service.spec.task.restart_policy
    history = restart_attempts(task.restart_history, policy.window, now) + [now]
    if policy.max_attempts > 0:
        history = history[-policy.max_attempts :]
    delayed = policy.delay > 0
    plan.update.append(retire(task))
    plan.create.append(
        new_task(
            service,
            now,
            slot=task.slot,
            node_id="" if task.slot else task.node_id,
            initial_state=initial_state,
            desired_state=TaskState.READY if delayed else TaskState.RUNNING,
            start_after=now + policy.delay if delayed else 0.0,
            restart_history=history,
        )
    )
    return plan


class RestartSupervisor(Loop):
    name = "restart-supervisor"
    kinds = ("task", "node")

    def __init__(self, *args: object, initial_state: TaskState = TaskState.PENDING, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.initial_state = initial_state
        self._dirty: set[str] = set()
        self._delayed: dict[str, float] = {}
        self._down_nodes: set[str] = set()

    def seed(self, view: View) -> None:
        for state in (TaskState.READY, TaskState.RUNNING):
            for t in view.find("task", desired_state=state):
                self._consider(t)

    def handle(self, change: Change) -> None:
        if change.kind == "node":
            new = change.new
            if new is None or new.status.state == NodeState.DOWN or new.availability == Availability.DRAIN:  # type: ignore[attr-defined]
                self._down_nodes.add(change.obj.id)
            return
        if change.new is None:
            self._delayed.pop(change.obj.id, None)
            return
        self._consider(change.new)  # type: ignore[arg-type]

    def _consider(self, task: Task) -> None:
        if not task.runnable:
            self._delayed.pop(task.id, None)
            return
        if task.desired_state == TaskState.READY and task.start_after > 0:
            self._delayed[task.id] = task.start_after
        else:
            self._delayed.pop(task.id, None)
        if task.status.state > TaskState.RUNNING or task.desired_state == TaskState.READY:
            self._dirty.add(task.id)
        elif task.node_id:
            self._dirty.add(task.id)  # cheap to re-check: node may be down or gone

    def next_wakeup(self) -> float | None:
        return min(self._delayed.values()) if self._delayed else None

    def tick(self) -> None:
        view = self.store.view()
        now = self.clock()
        dirty, self._dirty = self._dirty, set()
        dirty.update(tid for tid, at in self._delayed.items() if at <= now)
        for node_id in self._down_nodes:
            dirty.update(t.id for t in view.find("task", node_id=node_id) if t.runnable)
        self._down_nodes.clear()
        if not dirty:
            return
        plan = Plan()
        for task_id in sorted(dirty):
            task = view.get("task", task_id)
            if task is None:
                self._delayed.pop(task_id, None)
                continue
            try:
                decision = supervise(
                    task,
                    view.get("service", task.service_id),
                    view.get("node", task.node_id) if task.node_id else None,
                    now,
                    self.initial_state,
                )
            except Exception:
                log.exception("%s: supervising task %s failed", self.name, task_id)
                continue
            plan.extend(decision)
        write_plan(self.store, plan, self.name)
