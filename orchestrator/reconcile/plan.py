"""Decide, then do: the result record of every reconcile decision, and the one step that writes it.

A :class:`Plan` is built by a pure function from a view; :func:`write_plan` commits it as one store
batch (split in capped chunks by the store). Conflicting groups (another writer got there first) are
dropped and logged: the loop is level-triggered and will see the winner's change as a new event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from orchestrator.model import Task
from orchestrator.store import MemoryStore, Tx

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """Buckets of a decision: each task the decision looked at lands in exactly one bucket."""

    create: list[Task] = field(default_factory=list)
    update: list[Task] = field(default_factory=list)
    remove: list[Task] = field(default_factory=list)
    noop: list[Task] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.create.extend(other.create)
        self.update.extend(other.update)
        self.remove.extend(other.remove)
        self.noop.extend(other.noop)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.remove)


def write_plan(store: MemoryStore, plan: Plan, who: str) -> int:
    """Commit ``plan``; returns the number of groups that failed (logged, not raised)."""
    if plan.empty:
        return 0
    # A retire and its replacement (same slot) go in one all-or-nothing group, so a conflict can
    # never leave a slot with two runnable tasks or none.
    groups: dict[tuple[str, int, str], list[tuple[str, Task]]] = {}
    for action, tasks in (("update", plan.update), ("create", plan.create)):
        for task in tasks:
            key = (task.service_id, task.slot, "" if task.slot else task.node_id)
            groups.setdefault(key, []).append((action, task))
    with store.batch() as batch:
        for items in groups.values():
            batch.update(lambda tx, items=items: _write_group(tx, items))
        for task in plan.remove:
            batch.update(lambda tx, t=task: _delete(tx, t))
    for err in batch.errors:
        log.info("%s: write skipped: %s", who, err)
    return len(batch.errors)


def _write_group(tx: Tx, items: list[tuple[str, Task]]) -> None:
    for action, task in items:
        if action == "update":
            tx.update(task)
        else:
            tx.create(task)


def _delete(tx: Tx, task: Task) -> None:
    tx.delete("task", task.id, version=task.meta.version)
