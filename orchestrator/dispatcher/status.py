"""Status batching: agents' task status updates become one store batch at most every 100 ms (at once after a quiet period).

Updates are checked (the task must be assigned to the reporting node), coalesced per task (the most
advanced state wins), stamped with the *manager's* clock (workers' clocks may be skewed; pitfall 4)
and written together. The store drops backward moves; an update that lost a version race is queued
again for the next flush, so a report is never lost to a concurrent orchestrator write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.model import Task, TaskState, TaskStatus
from orchestrator.store import MemoryStore

log = logging.getLogger(__name__)

FLUSH_PERIOD = 0.1
MAX_RETRIES = 5


@dataclass(frozen=True)
class StatusReport:
    """One agent-reported status (the proto's TaskStatusUpdate, decoupled from protobuf)."""

    task_id: str
    state: TaskState
    message: str = ""
    err: str = ""
    container_id: str = ""
    pid: int = 0
    exit_code: int | None = None


def merged_status(task: Task, report: StatusReport, now: float) -> TaskStatus | None:
    """The task's new status, or ``None`` when the report changes nothing or moves backward."""
    cur = task.status
    if report.state < cur.state:
        return None
    new = TaskStatus(
        state=report.state,
        message=report.message or cur.message,
        err=report.err,
        timestamp=now if report.state != cur.state else cur.timestamp,
        container_id=report.container_id or cur.container_id,
        pid=report.pid,
        exit_code=report.exit_code,
        health=cur.health,
    )
    same = new.model_copy(update={"timestamp": cur.timestamp}) == cur
    return None if same else new


class StatusBatcher:
    def __init__(self, store: MemoryStore, clock: Callable[[], float] = time.time, period: float = FLUSH_PERIOD) -> None:
        self.store = store
        self.clock = clock
        self.period = period
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, StatusReport, int]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def put(self, node_id: str, reports: list[StatusReport]) -> None:
        with self._lock:
            for r in reports:
                prev = self._pending.get(r.task_id)
                if prev is None or r.state >= prev[1].state:
                    self._pending[r.task_id] = (node_id, r, 0)
        self._wake.set()

    def flush(self) -> int:
        """Write what is pending in one batch; returns how many task statuses were written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        view = self.store.view()
        now = self.clock()
        written: list[tuple[str, StatusReport, int]] = []
        with self.store.batch() as batch:
            for task_id, (node_id, report, tries) in pending.items():
                task = view.get("task", task_id)
                if task is None or task.node_id != node_id:
                    log.info("dropping status of task %s: not assigned to node %s", task_id, node_id)
                    continue
                status = merged_status(task, report, now)
                if status is None:
                    continue
                batch.update(lambda tx, t=task, s=status: tx.update(t.evolve(status=s)))
                written.append((node_id, report, tries))
        if batch.errors:
            after = self.store.view()
            with self._lock:
                for node_id, report, tries in written:
                    task = after.get("task", report.task_id)
                    if task is not None and task.status.state < report.state and tries < MAX_RETRIES:
                        self._pending.setdefault(report.task_id, (node_id, report, tries + 1))
                        self._wake.set()
        return len(written) - len(batch.errors)

    # -- thread -------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="orch-status-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - shutting down; the agent re-reports on reconnect
            log.info("final status flush failed", exc_info=True)

    def _run(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            # At most one batch per period: a report after a quiet period is written at once (a single
            # task's RUNNING is not held back), and during a burst what arrives meanwhile is coalesced.
            gap = self.period - (time.monotonic() - last)
            if gap > 0:
                self._stop.wait(gap)
            self._wake.clear()
            last = time.monotonic()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - e.g. no quorum: keep the loop, agents re-report
                log.warning("writing task statuses failed", exc_info=True)
