"""The leader-only loops as one unit the daemon starts and stops on leadership changes.

``ClusterStore.on_leadership(loops.set_leader)`` is the whole wiring: becoming leader starts every
loop (each subscribes, reads a fresh view and reconciles from scratch, so nothing is lost across a
failover); losing leadership stops them. Two leaders can briefly overlap (PySyncObj warns about it);
every write carries expected versions, so the loser's writes fail and nothing is applied twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.model import TaskState
from orchestrator.reconcile.global_ import GlobalOrchestrator
from orchestrator.reconcile.loop import Loop
from orchestrator.reconcile.reaper import TaskReaper
from orchestrator.reconcile.replicated import ReplicatedOrchestrator
from orchestrator.reconcile.restart import RestartSupervisor
from orchestrator.reconcile.update import Updater
from orchestrator.scheduler.scheduler import Scheduler
from orchestrator.store import MemoryStore


@dataclass(frozen=True)
class LoopSettings:
    """``with_allocator``: when an allocator loop runs, tasks are created NEW and it moves them to
    PENDING; without one, orchestrators create them PENDING so the scheduler can place them."""

    with_allocator: bool = False
    scheduler_debounce: float = 0.05

    @property
    def initial_state(self) -> TaskState:
        return TaskState.NEW if self.with_allocator else TaskState.PENDING


class LeaderLoops:
    def __init__(
        self,
        store: MemoryStore,
        settings: LoopSettings | None = None,
        extra: list[Loop] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or LoopSettings()
        state = self.settings.initial_state
        scheduler = Scheduler(store, clock)
        scheduler.debounce = self.settings.scheduler_debounce
        self.loops: list[Loop] = [
            *(extra or []),
            ReplicatedOrchestrator(store, clock, initial_state=state),
            GlobalOrchestrator(store, clock, initial_state=state),
            RestartSupervisor(store, clock, initial_state=state),
            Updater(store, clock, initial_state=state),
            scheduler,
            TaskReaper(store, clock),
        ]
        self._lock = threading.Lock()
        self.running = False

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            for loop in self.loops:
                loop.start()
            self.running = True

    def stop(self) -> None:
        with self._lock:
            if not self.running:
                return
            for loop in reversed(self.loops):
                loop.stop()
            self.running = False

    def set_leader(self, leading: bool) -> None:
        """Listener for ``ClusterStore.on_leadership``."""
        if leading:
            self.start()
        else:
            self.stop()
