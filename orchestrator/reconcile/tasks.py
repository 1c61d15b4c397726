"""Task helpers shared by the orchestrators: making tasks, spotting dirty ones, restart policy.

*Dirty* (practice 5): a task whose ``spec_hash`` differs from the hash of its service's current task
spec. The hash leaves out fields that must not restart anything (the restart policy is read from the
service when it is needed), and scaling never touches the task spec at all.
"""

from __future__ import annotations

import hashlib
import json

from orchestrator.model import Service, Task, TaskSpec, TaskState, TaskStatus, new_id

_NOT_DIRTYING = {"restart_policy"}


def spec_hash(spec: TaskSpec) -> str:
    data = spec.model_dump(mode="json", exclude=_NOT_DIRTYING)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def is_dirty(task: Task, service: Service) -> bool:
    return task.spec_hash != spec_hash(service.spec.task)


def rolling_back(service: Service) -> bool:
    """The updater is rolling the service back to its previous spec (``rollback_config`` applies)."""
    status = service.update_status
    return status is not None and status.state.startswith("rollback")


def update_order(service: Service) -> str:
    cfg = service.spec.rollback_config if rolling_back(service) else service.spec.update_config
    return cfg.order


def ready(task: Task) -> bool:
    """A replacement counts as up (its batch may close, its start-first predecessor may go)."""
    return task.status.state == TaskState.RUNNING


def handing_over(in_slot: list[Task], keep: Task, service: Service) -> list[Task]:
    """Older dirty tasks that keep running next to ``keep`` during a start-first replacement.

    With ``order: start-first`` the updater starts the new task before it retires the old one, so a
    slot briefly holds two runnable tasks; the orchestrators must not "fix" that. Once the new task
    runs, the old ones are no longer handed over and get retired. A new task that failed keeps the
    old one running too (the update is paused or the restart supervisor replaces the new one).
    """
    if update_order(service) != "start-first" or is_dirty(keep, service) or ready(keep):
        return []
    return [t for t in in_slot if t is not keep and is_dirty(t, service)]


def new_task(
    service: Service,
    now: float,
    *,
    slot: int = 0,
    node_id: str = "",
    initial_state: TaskState = TaskState.PENDING,
    desired_state: TaskState = TaskState.RUNNING,
    start_after: float = 0.0,
    restart_history: list[float] | None = None,
) -> Task:
    """A fresh task for one slot (replicated) or one node (global) of ``service``.

    ``initial_state`` is PENDING when no allocator runs (the allocator moves NEW to PENDING).
    """
    return Task(
        id=new_id(),
        service_id=service.id,
        service_name=service.spec.name,
        slot=slot,
        node_id=node_id,
        spec=service.spec.task,
        spec_version=service.meta.version,
        spec_hash=spec_hash(service.spec.task),
        desired_state=desired_state,
        status=TaskStatus(state=initial_state, message="created", timestamp=now),
        start_after=start_after,
        restart_history=list(restart_history or []),
        labels=dict(service.spec.labels),
    )


def retire(task: Task, state: TaskState = TaskState.SHUTDOWN) -> Task:
    """``task`` with desired state moved forward to ``state`` (never backward)."""
    return task.evolve(desired_state=max(task.desired_state, state))


def newest(tasks: list[Task]) -> Task:
    return max(tasks, key=lambda t: (t.meta.created_at, t.meta.version, t.id))


def restart_attempts(history: list[float], window: float, now: float) -> list[float]:
    """Restart times that still count against ``max_attempts`` (all of them when window is 0)."""
    if window <= 0:
        return list(history)
    return [t for t in history if t >= now - window]


def should_restart(task: Task, service: Service, now: float, lost: bool = False) -> bool:
    """Whether a stopped (or lost) task's slot gets a new task under the service's restart policy.

    A *lost* task (its node drained, down or removed while it still ran) did not stop by itself, so
    the restart policy, which is about how a task ends, does not apply: the slot always moves, as
    Docker documents for drain ("the manager stops tasks running on the node and launches replica
    tasks on a node with ACTIVE availability").
    """
    if lost:
        return True
    policy = service.spec.task.restart_policy
    if policy.condition == "none":
        return False
    if policy.condition == "on-failure" and task.status.state == TaskState.COMPLETE:
        return False
    if policy.max_attempts > 0:
        if len(restart_attempts(task.restart_history, policy.window, now)) >= policy.max_attempts:
            return False
    return True
