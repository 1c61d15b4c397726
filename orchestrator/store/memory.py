"""The in-memory store: tables, read views, write transactions and watches.

This is the whole store when there is no Raft (every loop test uses ``MemoryStore()``). With a
:class:`Proposer` (the Raft store), a commit is encoded, replicated, and applied on every manager by
:meth:`MemoryStore.apply_command` — the same function the local path uses, so the two cannot drift.

Writers use transactions::

    store.update(lambda tx: tx.create(task))             # one all-or-nothing group
    with store.batch() as batch:                          # many groups, committed in capped chunks
        for t in tasks:
            batch.update(lambda tx, t=t: tx.update(t.evolve(desired_state=TaskState.SHUTDOWN)))

Updates carry the version the caller read (``obj.meta.version``); a stale one fails with
``SequenceConflict`` when applied. Only top-level fields that differ from the read object travel in
the command (pitfall 14: keep Raft commands small).
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from orchestrator.errors import InvalidArgument, NotFound, OrchError
from orchestrator.model import Stored
from orchestrator.store import commands
from orchestrator.store.commands import ApplyResult
from orchestrator.store.state import StoreState, View
from orchestrator.store.tables import table
from orchestrator.store.watch import Change, Commit, Reset, Watch

R = TypeVar("R")

MAX_CHANGES_PER_TRANSACTION = 200
RECENT_COMMANDS = 1024


class Proposer(Protocol):
    """How a store hands a commit to Raft (three methods; ``MemoryStore`` needs none of them)."""

    def propose(self, cmd: bytes, timeout: float | None = None) -> ApplyResult:
        """Replicate ``cmd``; return once it is applied locally. Raises ``Unavailable``."""
        ...

    def is_leader(self) -> bool: ...

    def leader(self) -> str | None: ...


class Tx:
    """A write transaction over one view plus its own writes; ``ops`` become one command."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._local: dict[tuple[str, str], Stored | None] = {}
        self._ops: list[dict[str, Any]] = []
        self._groups: list[list[dict[str, Any]]] = []

    # -- reads (see own writes) -------------------------------------------------------------
    def get(self, kind: str, obj_id: str) -> Any:
        key = (kind, obj_id)
        if key in self._local:
            return self._local[key]
        return self.view.get(kind, obj_id)

    def find(self, kind: str, **by: Any) -> list[Any]:
        tbl = table(kind)
        found = {o.id: o for o in self.view.find(kind, **by)}
        for (k, obj_id), obj in self._local.items():
            if k != kind:
                continue
            found.pop(obj_id, None)
            if obj is not None and all(tbl.field_value(obj, f) == v for f, v in by.items()):
                found[obj_id] = obj
        return [found[i] for i in sorted(found)]

    # -- writes -----------------------------------------------------------------------------
    def create(self, obj: Stored) -> Stored:
        if self.get(obj.kind, obj.id) is not None:
            from orchestrator.errors import AlreadyExists

            raise AlreadyExists.object(obj.kind, obj.id)
        self._local[(obj.kind, obj.id)] = obj
        self._ops.append({"op": "create", "kind": obj.kind, "obj": obj.model_dump(mode="json")})
        return obj

    def update(self, obj: Stored) -> Stored:
        current = self.get(obj.kind, obj.id)
        if current is None:
            raise NotFound.object(obj.kind, obj.id)
        pending = self._pending_op(obj.kind, obj.id)
        if pending is not None and pending["op"] == "create":
            pending["obj"] = obj.model_dump(mode="json")
        elif pending is not None:
            pending["set"].update(_diff(current, obj))
        else:
            base = self.view.get(obj.kind, obj.id)
            changed = _diff(base, obj) if base is not None and base.meta.version == obj.meta.version else None
            if changed is None:
                changed = obj.model_dump(mode="json", exclude={"id", "meta"})
            if not changed:
                return obj
            self._ops.append(
                {"op": "update", "kind": obj.kind, "id": obj.id, "version": obj.meta.version, "set": changed}
            )
        self._local[(obj.kind, obj.id)] = obj
        return obj

    def delete(self, kind: str, obj_id: str, version: int | None = None) -> None:
        current = self.get(kind, obj_id)
        if current is None:
            raise NotFound.object(kind, obj_id)
        pending = self._pending_op(kind, obj_id)
        if pending is not None and pending["op"] == "create":
            self._ops.remove(pending)
        else:
            if pending is not None:
                self._ops.remove(pending)
            base = self.view.get(kind, obj_id)
            expected = version if version is not None else (base.meta.version if base else current.meta.version)
            self._ops.append({"op": "delete", "kind": kind, "id": obj_id, "version": expected})
        self._local[(kind, obj_id)] = None

    @property
    def changes(self) -> int:
        return len(self._ops) + sum(len(g) for g in self._groups)

    def _pending_op(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        for op in self._ops:
            if op["kind"] == kind and (op.get("id") == obj_id or op.get("obj", {}).get("id") == obj_id):
                return op
        return None

    # -- grouping (used by Batch) ------------------------------------------------------------
    def _close_group(self) -> None:
        if self._ops:
            self._groups.append(self._ops)
        self._ops = []

    def _mark(self) -> tuple[dict[tuple[str, str], Stored | None], int]:
        return dict(self._local), len(self._groups)

    def _restore(self, mark: tuple[dict[tuple[str, str], Stored | None], int]) -> None:
        self._local, groups = mark
        del self._groups[groups:]
        self._ops = []


def _diff(old: Stored, new: Stored) -> dict[str, Any]:
    before = old.model_dump(mode="json", exclude={"id", "meta"})
    after = new.model_dump(mode="json", exclude={"id", "meta"})
    return {k: v for k, v in after.items() if before.get(k) != v}


class Batch:
    """Many independent groups, committed in chunks of at most ``cap`` changes.

    A callback that raises an ``OrchError`` is dropped (its error is kept in ``errors``); the others
    proceed. A group that fails when applied (e.g. a stale version) is reported the same way.
    """

    def __init__(self, store: MemoryStore, cap: int = MAX_CHANGES_PER_TRANSACTION) -> None:
        self._store = store
        self._cap = cap
        self._tx = Tx(store.view())
        self.errors: list[OrchError] = []
        self.committed = 0

    def update(self, fn: Callable[[Tx], object]) -> None:
        mark = self._tx._mark()
        try:
            fn(self._tx)
        except OrchError as err:
            self._tx._restore(mark)
            self.errors.append(err)
            return
        self._tx._close_group()
        if self._tx.changes >= self._cap:
            self.flush()

    def flush(self) -> None:
        groups = self._tx._groups
        self._tx = Tx(self._store.view())
        if not groups:
            return
        result = self._store._commit(groups)
        self.errors.extend(result.failed.values())
        self.committed += len(groups) - len(result.failed)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()


class MemoryStore:
    """Tables + views + transactions + watches; replicated when given a ``proposer``."""

    def __init__(self, proposer: Proposer | None = None, clock: Callable[[], float] = time.time) -> None:
        self.proposer = proposer
        self._clock = clock
        self._lock = threading.Lock()
        self._state = StoreState()
        self._watches: list[Watch] = []
        self._recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    # -- reads ------------------------------------------------------------------------------
    def view(self) -> View:
        return View(self._state)

    def watch(self, kinds: Iterable[str] | None = None) -> Watch:
        """Subscribe to change events of ``kinds`` (all when ``None``)."""
        with self._lock:
            return self._subscribe(kinds)

    def view_and_watch(self, kinds: Iterable[str] | None = None) -> tuple[View, Watch]:
        """Subscribe and snapshot atomically: no event is both in the view and in the queue."""
        with self._lock:
            return View(self._state), self._subscribe(kinds)

    def _subscribe(self, kinds: Iterable[str] | None) -> Watch:
        w = Watch(kinds, on_close=self._unsubscribe)
        self._watches.append(w)
        return w

    def _unsubscribe(self, w: Watch) -> None:
        with self._lock:
            if w in self._watches:
                self._watches.remove(w)

    # -- writes -----------------------------------------------------------------------------
    def update(self, fn: Callable[[Tx], R]) -> R:
        """Run ``fn`` in a transaction and commit its writes as one all-or-nothing group."""
        tx = Tx(self.view())
        out = fn(tx)
        tx._close_group()
        if tx.changes > MAX_CHANGES_PER_TRANSACTION:
            raise InvalidArgument(
                f"transaction too large ({tx.changes} changes, at most {MAX_CHANGES_PER_TRANSACTION}); use a batch"
            )
        if tx._groups:
            result = self._commit(tx._groups)
            if 0 in result.failed:
                raise result.failed[0]
        return out

    def batch(self, cap: int = MAX_CHANGES_PER_TRANSACTION) -> Batch:
        return Batch(self, cap)

    def _commit(self, groups: list[list[dict[str, Any]]]) -> ApplyResult:
        cmd = {"v": commands.COMMAND_VERSION, "id": secrets.token_hex(8), "ts": self._clock(), "groups": groups}
        if self.proposer is None:
            return self.apply_command(cmd)
        return self.proposer.propose(commands.encode(cmd))

    # -- the replicated entry point ---------------------------------------------------------
    def apply_command(self, cmd: dict[str, Any]) -> ApplyResult:
        """Apply a decoded command (deterministic; called on Raft's apply path).

        A command id seen recently returns its first result: a proposer may retry a command whose
        outcome it could not learn (leader change) without applying it twice.
        """
        with self._lock:
            cmd_id = str(cmd.get("id", ""))
            if cmd_id and cmd_id in self._recent:
                return ApplyResult.from_json(self._recent[cmd_id])
            state, changes, result = commands.apply(self._state, cmd)
            self._state = state
            if cmd_id:
                self._recent[cmd_id] = result.to_json()
                while len(self._recent) > RECENT_COMMANDS:
                    self._recent.popitem(last=False)
            self._publish(changes, Commit(state.version))
            return result

    def _publish(self, changes: list[Change], marker: Commit | Reset) -> None:
        for w in self._watches:
            for ch in changes:
                if w.wants(ch.kind):
                    w.queue.put(ch)
            w.queue.put(marker)

    # -- snapshots --------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The whole replicated state as JSON-able data (for snapshots)."""
        with self._lock:
            state = self._state
            return {
                "version": state.version,
                "objects": {
                    kind: [o.model_dump(mode="json") for o in rows.values()]
                    for kind, rows in state.tables.items()
                },
                "recent": list(self._recent.items()),
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the state with a :meth:`dump`; watchers get a ``Reset``."""
        from orchestrator.model import KINDS

        objects = [KINDS[kind].model_validate(o) for kind, rows in data["objects"].items() for o in rows]
        state = StoreState.build(int(data["version"]), objects)
        with self._lock:
            self._state = state
            self._recent = collections.OrderedDict((k, v) for k, v in data.get("recent", []))
            self._publish([], Reset(state.version))
