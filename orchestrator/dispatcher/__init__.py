"""The dispatcher: agent sessions, heartbeats and status batches (DESIGN.md section 4).

::

    agent ══Session══▶ DispatcherServicer ──▶ StatusBatcher ──(≤ one batch / 100 ms)──▶ store
       ▲  (heartbeats, status)   │  ▲                                                  │
       │                         │  └── HeartbeatMonitor ── node DOWN after grace ─────┤
       └── Assignments ◀─────────┴──── task watch (COMPLETE, then INCREMENTAL) ◀───────┘

Vocabulary: a node's *assignment set* is its tasks at ASSIGNED or later; a *grace period* is the
heartbeat period times the cluster's multiplier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orchestrator.dispatcher.heartbeats import HeartbeatMonitor
from orchestrator.dispatcher.session import DispatcherServicer
from orchestrator.dispatcher.status import StatusBatcher, StatusReport
from orchestrator.store import MemoryStore


class Dispatcher:
    """The three parts together, started and stopped as one."""

    def __init__(
        self,
        store: MemoryStore,
        heartbeat_period: float = 5.0,
        grace_multiplier: float = 3.0,
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        ready: threading.Event | None = None,
    ) -> None:
        self.heartbeat_period = heartbeat_period
        self.heartbeats = HeartbeatMonitor(store, heartbeat_period, grace_multiplier, is_leader, clock)
        self.statuses = StatusBatcher(store, clock)
        self.servicer = DispatcherServicer(store, self.heartbeats, self.statuses, lambda: self.heartbeat_period, clock,
                                          ready)

    def start(self) -> None:
        self.statuses.start()
        self.heartbeats.start()

    def stop(self) -> None:
        self.servicer.stop()
        self.heartbeats.stop()
        self.statuses.stop()


__all__ = ["Dispatcher", "DispatcherServicer", "HeartbeatMonitor", "StatusBatcher", "StatusReport"]
