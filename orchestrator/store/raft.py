"""The Raft-replicated store: a :class:`MemoryStore` whose commits go through PySyncObj.

::

    writer ──update()/batch()──▶ MemoryStore._commit ──encode──▶ ClusterStore.propose
                                                                   │ _apply(cmd) via PySyncObj
                                                                   ▼ (forwarded to the leader,
    loops ◀── watch queues ◀── MemoryStore.apply_command ◀─────── committed, applied everywhere)

Rules this module keeps (STYLE.md practice 7, pitfall 5):

- exactly one ``@replicated`` method, ``_apply(cmd: bytes)``; the command is our versioned JSON,
  so the journal does not depend on method numbering. No other replicated attributes exist: every
  attribute is set *before* ``SyncObjConsumer.__init__`` and the snapshot is written by our own
  serializer (:mod:`orchestrator.store.durable`), not by pickling this object;
- ``_apply`` runs on PySyncObj's tick thread: it is deterministic, does no I/O and only puts events
  on watcher queues. Leadership callbacks are handed to a separate notifier thread;
- a write fails fast with ``Unavailable("no quorum: ...")`` instead of hanging: immediately when too
  few managers are connected, else after ``commit_timeout``. Retries after a leader change are safe
  because the store de-duplicates command ids.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.syncobj import _RAFT_STATE

from orchestrator.errors import FailedPrecondition, Unavailable
from orchestrator.store import commands
from orchestrator.store.commands import ApplyResult
from orchestrator.store.durable import (
    JOURNAL_NAME,
    SNAPSHOT_NAME,
    JournalFlusher,
    read_snapshot,
    write_snapshot,
)
from orchestrator.store.memory import MemoryStore

log = logging.getLogger(__name__)

_RETRYABLE = {FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER, FAIL_REASON.LEADER_CHANGED, FAIL_REASON.DISCARDED}


@dataclass
class RaftSettings:
    """Raft timing and storage. The defaults give sub-2-second failover on a LAN."""

    self_addr: str
    peers: list[str] = field(default_factory=list)
    data_dir: Path | None = None
    election_timeout: tuple[float, float] = (0.4, 1.2)
    heartbeat_period: float = 0.1
    leader_fallback_timeout: float = 3.0
    connection_timeout: float = 3.5
    connection_retry: float = 1.0
    commit_timeout: float = 3.0
    compaction_min_entries: int = 5000
    compaction_min_time: float = 300.0
    low_latency: bool = True
    # How long the Raft thread sleeps between ticks when idle. pysyncobj's 50 ms default makes every
    # commit wait for the next tick (a single-node write then costs ~50 ms); 5 ms costs ~200 idle
    # wake-ups a second and makes writes commit in a few milliseconds.
    tick_period: float = 0.005
    auto_tick: bool = True


class ClusterStore(SyncObjConsumer):
    """One manager's replica of the store; also the store's :class:`Proposer`."""

    def __init__(self, settings: RaftSettings, store: MemoryStore | None = None) -> None:
        # Everything is set before SyncObjConsumer.__init__ so none of it counts as replicated state.
        self.settings = settings
        self.store = store if store is not None else MemoryStore()
        self.store.proposer = self
        self._listeners: list[Callable[[bool], None]] = []
        self._leadership: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self._was_leader = False
        self._closed = False
        self._sync: SyncObj | None = None
        self._flusher: JournalFlusher | None = None
        self._notifier = threading.Thread(target=self._notify_loop, name="orch-raft-leadership", daemon=True)
        super().__init__()
        self._notifier.start()
        conf = self._conf()
        if settings.data_dir is not None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._flusher = JournalFlusher(settings.data_dir, self._durability_marker)
        self._sync = SyncObj(settings.self_addr, list(settings.peers), conf, consumers=[self])
        if self._flusher is not None:
            self._flusher.start()

    def _conf(self) -> SyncObjConf:
        s = self.settings
        files: dict[str, Any] = {}
        if s.data_dir is not None:
            files = {
                "journalFile": str(s.data_dir / JOURNAL_NAME),
                "fullDumpFile": str(s.data_dir / SNAPSHOT_NAME),
                "serializer": self._write_snapshot,
                "deserializer": self._read_snapshot,
            }
        return SyncObjConf(
            autoTick=s.auto_tick,
            autoTickPeriod=s.tick_period,
            raftMinTimeout=s.election_timeout[0],
            raftMaxTimeout=s.election_timeout[1],
            appendEntriesPeriod=s.heartbeat_period,
            leaderFallbackTimeout=s.leader_fallback_timeout,
            connectionTimeout=s.connection_timeout,
            connectionRetryTime=s.connection_retry,
            logCompactionMinEntries=s.compaction_min_entries,
            logCompactionMinTime=s.compaction_min_time,
            appendEntriesUseBatch=not s.low_latency,
            commandsWaitLeader=False,
            dynamicMembershipChange=True,
            useFork=False,
            onStateChanged=self._on_state_changed,
            **files,
        )

    # -- the one replicated method ----------------------------------------------------------
    @replicated
    def _apply(self, cmd: bytes) -> dict[str, Any]:
        try:
            decoded = commands.decode(cmd)
        except Exception as err:  # a malformed entry must not stop the apply loop
            return {"version": -1, "failed": [[0, "invalid_argument", f"malformed store command: {err}"]]}
        return self.store.apply_command(decoded).to_json()

    # -- Proposer ---------------------------------------------------------------------------
    def propose(self, cmd: bytes, timeout: float | None = None) -> ApplyResult:
        sync = self._require()
        wait = self.settings.commit_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            if not sync.hasQuorum:
                raise Unavailable(f"no quorum: {self._reachable()} reachable; the write was not accepted")
            done = threading.Event()
            outcome: list[Any] = []

            def on_result(res: Any, err: int, _done: threading.Event = done, _out: list[Any] = outcome) -> None:
                _out.extend((res, err))
                _done.set()

            self._apply(cmd, callback=on_result)
            if not done.wait(max(0.0, deadline - time.monotonic())):
                raise Unavailable(
                    f"no quorum: the write was not committed within {wait:g}s "
                    f"({self._reachable()} reachable); its outcome is unknown"
                )
            res, err = outcome
            if err == FAIL_REASON.SUCCESS:
                return ApplyResult.from_json(res)
            if err not in _RETRYABLE or time.monotonic() >= deadline:
                raise Unavailable(f"no quorum: the write failed ({_reason(err)}); retry when a leader is elected")
            threading.Event().wait(min(0.05, max(0.0, deadline - time.monotonic())))

    def is_leader(self) -> bool:
        return self._sync is not None and self._sync._isLeader()

    def leader(self) -> str | None:
        node = self._sync._getLeader() if self._sync is not None else None
        return None if node is None else str(node.id)

    # -- membership and status --------------------------------------------------------------
    def add_manager(self, addr: str, timeout: float | None = None) -> None:
        """Add a Raft member (the new manager must already run with the current members as peers)."""
        self._membership(self._require().addNodeToCluster, addr, "add", timeout)

    def remove_manager(self, addr: str, timeout: float | None = None) -> None:
        self._membership(self._require().removeNodeFromCluster, addr, "remove", timeout)

    def _membership(self, call: Callable[..., None], addr: str, verb: str, timeout: float | None) -> None:
        done = threading.Event()
        outcome: list[Any] = []

        def on_result(res: Any, err: int) -> None:
            outcome.extend((res, err))
            done.set()

        call(addr, callback=on_result)
        if not done.wait(self.settings.commit_timeout if timeout is None else timeout):
            raise Unavailable(f"no quorum: could not {verb} manager {addr} in time")
        if outcome[1] != FAIL_REASON.SUCCESS:
            raise FailedPrecondition(f"could not {verb} manager {addr}: {_reason(outcome[1])}")

    def members(self) -> list[str]:
        sync = self._require()
        return sorted([str(sync.selfNode.id)] + [str(n.id) for n in sync.otherNodes])

    def status(self) -> dict[str, Any]:
        """Raft facts for ``cluster inspect`` / ``node ls`` manager status."""
        sync = self._require()
        raw = sync.getStatus()
        peers = {str(n.id): bool(sync.isNodeConnected(n)) for n in sync.otherNodes}
        return {
            "self": self.settings.self_addr,
            "leader": self.leader(),
            "is_leader": self.is_leader(),
            "term": raw["raft_term"],
            "commit_index": raw["commit_idx"],
            "last_applied": raw["last_applied"],
            "log_len": raw["log_len"],
            "has_quorum": raw["has_quorum"],
            "peers": peers,
            "store_version": self.store.view().version,
        }

    def on_leadership(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(is_leader)`` on every change (from a notifier thread, never the tick thread)."""
        self._listeners.append(listener)

    def force_compaction(self) -> None:
        self._require().forceLogCompaction()

    def close(self) -> None:
        """Stop Raft and the helper threads; idempotent."""
        if self._closed:
            return
        self._closed = True
        sync = self._sync
        if sync is not None:
            if self.settings.auto_tick:
                sync.destroy_synchronous()
            else:
                sync.destroy()
        if self._flusher is not None:
            self._flusher.stop()
        self._leadership.put(None)
        self._notifier.join(timeout=5)

    # -- internals --------------------------------------------------------------------------
    def _require(self) -> SyncObj:
        if self._sync is None or self._closed:
            raise Unavailable("this manager's store is shut down")
        return self._sync

    def _reachable(self) -> str:
        sync = self._sync
        if sync is None:
            return "0 managers"
        others = sync.otherNodes
        up = 1 + sum(1 for n in others if sync.isNodeConnected(n))
        return f"{up} of {len(others) + 1} managers"

    def _on_state_changed(self, old: int, new: int) -> None:
        # Tick thread: only enqueue.
        self._leadership.put(new == _RAFT_STATE.LEADER)

    def _notify_loop(self) -> None:
        while True:
            leading = self._leadership.get()
            if leading is None:
                return
            if leading == self._was_leader:
                continue
            self._was_leader = leading
            for listener in list(self._listeners):
                try:
                    listener(leading)
                except Exception:
                    log.exception("leadership listener failed")

    def _durability_marker(self) -> object:
        sync = self._sync
        if sync is None:
            return None
        return (sync.raftCurrentTerm, sync.raftCommitIndex, sync._getRaftLogSize(), sync.raftLastApplied)

    def _write_snapshot(self, path: str, internal: tuple[Any, ...]) -> None:
        write_snapshot(path, self.store.dump(), internal)

    def _read_snapshot(self, path: str) -> tuple[Any, ...]:
        dump, internal = read_snapshot(path)
        self.store.restore(dump)
        return internal


def _reason(err: int) -> str:
    names = {v: k.lower().replace("_", " ") for k, v in vars(FAIL_REASON).items() if k.isupper()}
    return names.get(err, f"error {err}")
