"""Heartbeats: a node is READY while its agent keeps talking, DOWN once it misses its grace.

Last-seen times live in memory on the manager running the dispatcher (as in swarmkit: heartbeats
are far too frequent for the Raft log). A manager that just started gives every READY node a full
grace period before judging it. Only the leader marks nodes down (``is_leader``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from orchestrator.model import NodeState
from orchestrator.reconcile import mark_node_down
from orchestrator.store import MemoryStore

log = logging.getLogger(__name__)


class HeartbeatMonitor:
    def __init__(
        self,
        store: MemoryStore,
        period: float,
        grace_multiplier: float = 3.0,
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.period = period
        self.grace = period * grace_multiplier
        self.is_leader = is_leader
        self.clock = clock
        self.monotonic = monotonic
        self._seen: dict[str, float] = {}
        self._started = monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seen(self, node_id: str) -> None:
        with self._lock:
            self._seen[node_id] = self.monotonic()

    def restart_grace(self) -> None:
        """A new leader gives every node two grace periods: heartbeats went to the old one, and its
        agent first has to find the new leader."""
        with self._lock:
            self._started = self.monotonic() + self.grace
            self._seen.clear()

    def expired(self) -> list[str]:
        """READY nodes whose last heartbeat is older than the grace period."""
        now = self.monotonic()
        out = []
        with self._lock:
            for node in self.store.view().all("node"):
                if node.status.state != NodeState.READY:
                    continue
                last = self._seen.get(node.id, self._started)
                if now - last > self.grace:
                    out.append(node.id)
        return out

    def check(self) -> list[str]:
        if not self.is_leader():
            return []
        down = self.expired()
        for node_id in down:
            log.warning("node %s missed its heartbeats for %.1fs: marking it down", node_id, self.grace)
            try:
                mark_node_down(self.store, node_id, self.clock())
            except Exception:  # noqa: BLE001 - retried on the next check
                log.warning("marking node %s down failed", node_id, exc_info=True)
        return down

    def start(self) -> None:
        self._stop.clear()
        self._started = self.monotonic()
        self._thread = threading.Thread(target=self._run, name="orch-heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(max(0.05, self.period / 2)):
            self.check()
