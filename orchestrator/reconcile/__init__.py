"""Leader-only reconcile loops (DESIGN.md section 4).

::

    services ──▶ ReplicatedOrchestrator ─┐            ┌─▶ Scheduler (node_id, ASSIGNED)
    nodes    ──▶ GlobalOrchestrator ─────┼─▶ tasks ───┤
    stopped  ──▶ RestartSupervisor ──────┤  (desired) └─▶ TaskReaper (deletes retired history)
    dirty    ──▶ Updater (rolling) ──────┘

Vocabulary: a *slot* is a replica number 1..N of a replicated service; a task is *runnable* when
desired RUNNING or READY (it holds its slot); *retired* when desired SHUTDOWN or REMOVE; *stopped*
when the agent reported a terminal state; *dirty* when its spec hash differs from its service's.
Every decision is a pure function returning a :class:`Plan`; ``write_plan`` commits it as one batch.
The composition the daemon starts on leadership is ``orchestrator.reconcile.leader.LeaderLoops``
(not imported here: it pulls in the scheduler, which itself builds on ``reconcile.loop``).
"""

from __future__ import annotations

from orchestrator.reconcile.global_ import GlobalOrchestrator, reconcile_global
from orchestrator.reconcile.loop import Loop, settle
from orchestrator.reconcile.nodes import mark_node_down, mark_node_ready, set_node_state
from orchestrator.reconcile.plan import Plan, write_plan
from orchestrator.reconcile.reaper import TaskReaper, reap
from orchestrator.reconcile.replicated import ReplicatedOrchestrator, reconcile_replicated
from orchestrator.reconcile.restart import RestartSupervisor, supervise
from orchestrator.reconcile.tasks import is_dirty, new_task, should_restart, spec_hash
from orchestrator.reconcile.update import Updater, plan_update

__all__ = [
    "GlobalOrchestrator",
    "Loop",
    "Plan",
    "ReplicatedOrchestrator",
    "RestartSupervisor",
    "TaskReaper",
    "Updater",
    "is_dirty",
    "mark_node_down",
    "mark_node_ready",
    "new_task",
    "plan_update",
    "reap",
    "reconcile_global",
    "reconcile_replicated",
    "set_node_state",
    "settle",
    "should_restart",
    "spec_hash",
    "supervise",
    "write_plan",
]
