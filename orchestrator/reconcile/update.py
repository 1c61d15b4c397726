"""Updater: rolls a service's dirty tasks over to its current spec, a batch at a time.

The orchestrators fill and empty slots but never replace a task only because its spec changed: that
is this loop's job alone, so exactly one loop replaces dirty tasks and the service's
``update_config`` (or ``rollback_config`` while rolling back) decides how. A *slot* here is a replica
number (replicated) or a node (global). Each tick decides per service from a fresh view
(:func:`plan_update`, pure) and then writes:

1. failures: a task of the new spec that failed, was rejected or ended since the update started
   counts; more than ``max_failure_ratio`` of the slots triggers ``failure_action``: ``pause``
   (update_status ``paused`` with a message, nothing more is replaced), ``continue`` (go on) or
   ``rollback`` (the spec goes back to ``previous_spec`` and the tasks are rolled again with
   ``rollback_config``; a failure then ends in ``rollback_paused``);
2. start-first handovers: an old task whose replacement is RUNNING is retired;
3. the open batch: slots whose new task is not RUNNING yet. While there are any, nothing new starts;
   when the batch closes, the next one waits ``delay``;
4. the next batch: up to ``parallelism`` dirty slots (0 = all), lowest first. ``stop-first`` retires
   the old task and creates its replacement desired READY in one group (the agent prepares it) and
   promotes it to RUNNING once the old task stopped, so both never run at once (host ports, volumes);
   ``start-first`` creates the replacement and leaves the old task running until step 2;
5. nothing dirty and nothing in flight: ``completed`` (``rollback_completed``).

``update_status.state`` takes Swarm's values: updating, paused, completed, rollback_started,
rollback_paused, rollback_completed. The ControlAPI clears it on every service update, which is
also what resumes a paused update. What it does not do: health gating (agents do not report health
to managers yet) and the ``monitor`` window (every failure of a new task counts, however late).
The delay between batches lives in memory: after a leader change the next batch starts at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from orchestrator.errors import OrchError
from orchestrator.model import NodeState, Service, Task, TaskState, UpdateConfig, UpdateStatus
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.reconcile.tasks import new_task, newest, ready, retire, rolling_back, spec_hash
from orchestrator.store import Change, View

log = logging.getLogger(__name__)

UPDATING, PAUSED, COMPLETED = "updating", "paused", "completed"
ROLLBACK_STARTED, ROLLBACK_PAUSED, ROLLBACK_COMPLETED = "rollback_started", "rollback_paused", "rollback_completed"
_ACTIVE = (UPDATING, ROLLBACK_STARTED)
_FAILED_STATES = (TaskState.FAILED, TaskState.REJECTED, TaskState.COMPLETE)

SlotKey = tuple[int, str]


@dataclass(frozen=True)
class Progress:
    """What the updater remembers about one service between ticks (lost on failover: harmless)."""

    in_flight: int = 0
    not_before: float = 0.0


@dataclass
class UpdateStep:
    """The decision for one service: task writes, the new update status and/or a rollback."""

    plan: Plan = field(default_factory=Plan)
    status: UpdateStatus | None = None  # to write; None leaves it as it is
    rollback: bool = False  # write spec := previous_spec
    progress: Progress = field(default_factory=Progress)

    @property
    def waiting_until(self) -> float | None:
        return self.progress.not_before if self.progress.not_before else None


def config_for(service: Service) -> UpdateConfig:
    return service.spec.rollback_config if rolling_back(service) else service.spec.update_config


def _key(t: Task) -> SlotKey:
    return (t.slot, "" if t.slot else t.node_id)


def _slots(service: Service, tasks: list[Task]) -> dict[SlotKey, list[Task]]:
    """Runnable tasks by slot, only the slots the orchestrators keep (1..replicas when replicated)."""
    slots: dict[SlotKey, list[Task]] = defaultdict(list)
    for t in tasks:
        if not t.runnable:
            continue
        if service.spec.mode == "replicated" and not 1 <= t.slot <= service.spec.replicas:
            continue
        slots[_key(t)].append(t)
    return slots


def held(task: Task) -> bool:
    """A stop-first replacement waiting for its predecessor to stop (restart delays set start_after)."""
    return task.desired_state == TaskState.READY and task.start_after == 0


def _gone(task: Task, lost_nodes: frozenset[str]) -> bool:
    """Nothing runs for ``task`` any more, or it never started (or its node is gone)."""
    return task.stopped or task.status.state < TaskState.ASSIGNED or not task.node_id or task.node_id in lost_nodes


def _promotions(service: Service, tasks: list[Task], lost_nodes: frozenset[str]) -> list[Task]:
    """Held stop-first replacements whose slot has nothing else running: they may start now."""
    by_slot: dict[SlotKey, list[Task]] = defaultdict(list)
    for t in tasks:
        by_slot[_key(t)].append(t)
    out = []
    for in_slot in by_slot.values():
        for t in in_slot:
            if held(t) and all(o is t or _gone(o, lost_nodes) for o in in_slot):
                out.append(t.evolve(desired_state=TaskState.RUNNING))
    return out


def _failures(tasks: list[Task], current: str, since: float) -> list[Task]:
    """Tasks of the current spec (hash ``current``) that failed or ended since the update started."""
    return [t for t in tasks if t.spec_hash == current and t.status.state in _FAILED_STATES
            and t.meta.created_at >= since]


def _status(state: str, message: str, started_at: float, completed_at: float = 0.0) -> UpdateStatus:
    return UpdateStatus(state=state, message=message, started_at=started_at, completed_at=completed_at)


def plan_update(service: Service, tasks: list[Task], now: float, progress: Progress | None = None,
                initial_state: TaskState = TaskState.PENDING, lost_nodes: frozenset[str] = frozenset()) -> UpdateStep:
    """Pure decision for one service: what to replace now, given its tasks and the updater's memory.

    ``lost_nodes``: nodes that are down or gone (a task there counts as stopped).
    """
    progress = progress or Progress()
    step = UpdateStep(progress=progress)
    step.plan.update.extend(_promotions(service, tasks, lost_nodes))  # finish what was started, even paused
    status = service.update_status
    state = status.state if status is not None else ""
    if state in (PAUSED, ROLLBACK_PAUSED):
        return step
    cfg = config_for(service)
    current = spec_hash(service.spec.task)  # once per decision, not once per task
    slots = _slots(service, tasks)
    dirty: list[SlotKey] = []
    in_flight = 0
    for key in sorted(slots):
        in_slot = slots[key]
        keep = newest(in_slot)
        if keep.spec_hash != current:
            dirty.append(key)
            continue
        old = [t for t in in_slot if t is not keep]
        if ready(keep):
            step.plan.update.extend(retire(t) for t in old)  # start-first handover done
        elif keep.status.state < TaskState.RUNNING:
            in_flight += 1
    if not dirty and not in_flight:
        if state in _ACTIVE and status is not None:
            done = ROLLBACK_COMPLETED if state == ROLLBACK_STARTED else COMPLETED
            words = "rollback completed" if state == ROLLBACK_STARTED else "update completed"
            step.status = _status(done, words, status.started_at, now)
        step.progress = Progress()
        return step
    if (state not in _ACTIVE or status is None) and not dirty:
        step.progress = Progress()
        return step  # new tasks starting (scale-up, restarts), but nothing to roll
    if state not in _ACTIVE or status is None:
        status = step.status = _status(UPDATING, "update in progress", now)
        progress = Progress()  # a new update: whatever the last one waited for is moot
    failed = _failures(tasks, current, status.started_at)
    if failed and cfg.failure_action != "continue" and len(failed) / max(1, len(slots)) > cfg.max_failure_ratio:
        return _on_failure(service, step, status, failed[0], now)
    not_before = now + cfg.delay if progress.in_flight and not in_flight else progress.not_before
    if in_flight or not dirty:
        step.progress = Progress(in_flight, 0.0)
        return step
    if now < not_before:
        step.progress = Progress(0, not_before)
        return step
    batch = dirty if cfg.parallelism <= 0 else dirty[: cfg.parallelism]
    for key in batch:
        slot, node_id = key
        if cfg.order == "stop-first":
            step.plan.update.extend(retire(t) for t in slots[key])
        held_back = TaskState.READY if cfg.order == "stop-first" else TaskState.RUNNING
        step.plan.create.append(new_task(service, now, slot=slot, node_id=node_id, initial_state=initial_state,
                                         desired_state=held_back))
    step.progress = Progress(len(batch), 0.0)
    return step


def _on_failure(service: Service, step: UpdateStep, status: UpdateStatus, task: Task, now: float) -> UpdateStep:
    why = f"failure or early termination of task {task.id}"
    step.progress = Progress()  # nothing new starts; promotions and handovers already decided still apply
    if rolling_back(service):
        step.status = _status(ROLLBACK_PAUSED, f"rollback paused due to {why}", status.started_at)
    elif service.spec.update_config.failure_action == "rollback" and service.previous_spec is not None:
        step.rollback = True
        step.status = _status(ROLLBACK_STARTED, f"update rolled back due to {why}", now)
    else:
        step.status = _status(PAUSED, f"update paused due to {why}", status.started_at)
    return step


class Updater(Loop):
    name = "updater"
    kinds = ("service", "task")

    def __init__(self, *args: object, initial_state: TaskState = TaskState.PENDING, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.initial_state = initial_state
        self._dirty: set[str] = set()
        self._progress: dict[str, Progress] = {}

    def seed(self, view: View) -> None:
        self._dirty.update(s.id for s in view.all("service"))

    def handle(self, change: Change) -> None:
        if change.kind == "service":
            if change.new is None:
                self._progress.pop(change.obj.id, None)
            else:
                self._dirty.add(change.obj.id)
            return
        old, new = change.old, change.new
        if old is None or new is None or old.status.state != new.status.state \
                or old.desired_state != new.desired_state:  # type: ignore[attr-defined]
            self._dirty.add(change.obj.service_id)  # type: ignore[attr-defined]

    def next_wakeup(self) -> float | None:
        waits = [p.not_before for p in self._progress.values() if p.not_before]
        return min(waits) if waits else None

    def tick(self) -> None:
        now = self.clock()
        dirty, self._dirty = self._dirty, set()
        dirty.update(sid for sid, p in self._progress.items() if p.not_before and p.not_before <= now)
        if not dirty:
            return
        view = self.store.view()
        nodes = {n.id: n for n in view.all("node")}
        plan = Plan()
        for service_id in sorted(dirty):
            service = view.get("service", service_id)
            if service is None:
                self._progress.pop(service_id, None)
                continue
            try:
                tasks = view.find("task", service_id=service_id)
                lost = frozenset(t.node_id for t in tasks if t.node_id and (
                    (node := nodes.get(t.node_id)) is None or node.status.state == NodeState.DOWN))
                step = plan_update(service, tasks, now, self._progress.get(service_id), self.initial_state, lost)
                if not self._write_service(service, step):
                    continue
            except Exception:
                log.exception("%s: updating service %s failed", self.name, service_id)
                continue
            if step.progress == Progress():
                self._progress.pop(service_id, None)
            else:
                self._progress[service_id] = step.progress
            plan.extend(step.plan)
        write_plan(self.store, plan, self.name)

    def _write_service(self, service: Service, step: UpdateStep) -> bool:
        """Write the status (and rollback) first; on a conflict the service changed: decide again."""
        if step.status is None and not step.rollback:
            return True
        changes: dict[str, object] = {}
        if step.status is not None and step.status != service.update_status:
            changes["update_status"] = step.status
        if step.rollback and service.previous_spec is not None:
            changes.update(spec=service.previous_spec, previous_spec=None)
        if not changes:
            return True
        new = service.evolve(**changes)
        try:
            self.store.update(lambda tx: tx.update(new))
        except OrchError as err:
            log.info("%s: service %s changed meanwhile (%s); deciding again", self.name, service.spec.name, err)
            self._dirty.add(service.id)
            return False
        return not step.rollback
