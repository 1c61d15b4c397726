"""The manager's object store (DESIGN.md section 2, STYLE.md practice 6).

::

    View ◀─ view() ─┐                         ┌─ watch(kinds) ─▶ Watch (Change... Commit)
                    │                         │
                 MemoryStore ── update(fn) / batch() ── Tx ops ──▶ commands.apply (pure)
                    │ proposer (optional)
                    ▼
                 ClusterStore (PySyncObj, one @replicated _apply) ── journal + snapshot on disk

Vocabulary: a *view* is an immutable snapshot of all tables; a *group* is an all-or-nothing set of
ops; a *command* is one Raft entry holding one or more groups; the *store version* rises by one per
command and is stamped into ``meta.version`` of every object the command writes.
"""

from __future__ import annotations

from orchestrator.store.commands import ApplyResult
from orchestrator.store.memory import MAX_CHANGES_PER_TRANSACTION, Batch, MemoryStore, Proposer, Tx
from orchestrator.store.state import View
from orchestrator.store.watch import Change, Commit, Event, Reset, Watch

__all__ = [
    "MAX_CHANGES_PER_TRANSACTION",
    "ApplyResult",
    "Batch",
    "Change",
    "Commit",
    "Event",
    "MemoryStore",
    "Proposer",
    "Reset",
    "Tx",
    "View",
    "Watch",
]
