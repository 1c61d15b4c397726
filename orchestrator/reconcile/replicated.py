"""Replicated orchestrator: every slot 1..replicas holds exactly one runnable task.

It moves only desired state. A slot is *occupied* by any task desired RUNNING or READY, whatever its
observed status: a failed task waits for the restart supervisor, which replaces it or (policy says no)
leaves it as the slot's final word. Per service:

- missing slots get a new task;
- a slot with several runnable tasks keeps the newest, the rest are shut down;
- a dirty task (spec changed) is left alone: replacing it is the updater's job alone
  (``reconcile.update``: batches, delay, order), so exactly one loop rolls tasks; during a start-first
  replacement the slot's old task keeps running next to the new one (``tasks.handing_over``);
- slots above ``replicas`` are retired with desired REMOVE, highest first;
- tasks of a deleted service are retired with desired REMOVE.

It does not delete tasks (the reaper does, once the agent has stopped them) and it does not place
them (the scheduler does).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from orchestrator.model import Service, Task, TaskState
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.reconcile.tasks import handing_over, new_task, newest, retire
from orchestrator.store import Change, View

log = logging.getLogger(__name__)


def reconcile_replicated(
    service: Service | None,
    tasks: list[Task],
    now: float,
    initial_state: TaskState = TaskState.PENDING,
) -> Plan:
    """Pure decision for one replicated service (``None`` when it was deleted) and its tasks."""
    plan = Plan()
    runnable = [t for t in tasks if t.runnable]
    plan.noop.extend(t for t in tasks if not t.runnable)
    if service is None:
        plan.update.extend(retire(t, TaskState.REMOVE) for t in runnable)
        return plan
    wanted = service.spec.replicas
    by_slot: dict[int, list[Task]] = defaultdict(list)
    for t in runnable:
        by_slot[t.slot].append(t)
    for slot in sorted(by_slot, reverse=True):
        in_slot = by_slot[slot]
        if slot < 1 or slot > wanted:
            plan.update.extend(retire(t, TaskState.REMOVE) for t in in_slot)
            continue
        keep = newest(in_slot)
        kept = [keep, *handing_over(in_slot, keep, service)]
        plan.update.extend(retire(t) for t in in_slot if all(t is not k for k in kept))
        plan.noop.extend(kept)
    for slot in range(1, wanted + 1):
        if slot not in by_slot:
            plan.create.append(new_task(service, now, slot=slot, initial_state=initial_state))
    return plan


class ReplicatedOrchestrator(Loop):
    name = "replicated-orchestrator"
    kinds = ("service", "task")

    def __init__(self, *args: object, initial_state: TaskState = TaskState.PENDING, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.initial_state = initial_state
        self._dirty: set[str] = set()

    def seed(self, view: View) -> None:
        self._dirty.update(s.id for s in view.all("service") if s.spec.mode == "replicated")
        self._dirty.update(t.service_id for t in view.all("task") if view.get("service", t.service_id) is None)

    def handle(self, change: Change) -> None:
        if change.kind == "service":
            self._dirty.add(change.obj.id)
        elif change.action != "update" or change.old.desired_state != change.new.desired_state:  # type: ignore[union-attr]
            self._dirty.add(change.obj.service_id)  # type: ignore[attr-defined]

    def tick(self) -> None:
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        view = self.store.view()
        now = self.clock()
        plan = Plan()
        for service_id in sorted(dirty):
            service = view.get("service", service_id)
            if service is not None and service.spec.mode != "replicated":
                continue
            try:
                plan.extend(reconcile_replicated(service, view.find("task", service_id=service_id), now, self.initial_state))
            except Exception:
                log.exception("%s: reconciling service %s failed", self.name, service_id)
        write_plan(self.store, plan, self.name)
