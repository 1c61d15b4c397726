"""Immutable store snapshots (copy-on-write) and the read view over them.

A :class:`StoreState` is never modified after it is built, so ``store.view()`` is O(1): it grabs the
current state reference and every reader sees one consistent version for as long as it likes. A write
goes through a :class:`StateWriter`, which copies only the tables and index buckets it touches and
keeps an undo log so that one failed group of a batch can be rolled back without affecting the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator.errors import AlreadyExists
from orchestrator.model import Stored
from orchestrator.store.tables import TABLES, Table, table

T = TypeVar("T", bound=Stored)

# kind -> index fields -> key -> ids (dict used as an ordered set)
IndexMap = dict[tuple[str, ...], dict[Hashable, frozenset[str]]]


@dataclass(frozen=True)
class StoreState:
    version: int = 0
    tables: dict[str, dict[str, Stored]] = field(default_factory=lambda: {k: {} for k in TABLES})
    indexes: dict[str, IndexMap] = field(
        default_factory=lambda: {k: {i.fields: {} for i in t.indexes} for k, t in TABLES.items()}
    )

    @classmethod
    def build(cls, version: int, objects: Iterable[Stored]) -> StoreState:
        writer = StateWriter(cls())
        for obj in objects:
            writer.put(obj)
        return writer.finish(version)


class View:
    """A consistent read-only snapshot: ``get(kind, id)`` and ``find(kind, **by)``."""

    def __init__(self, state: StoreState) -> None:
        self._state = state

    @property
    def version(self) -> int:
        return self._state.version

    def get(self, kind: str, obj_id: str) -> Any:
        return self._state.tables[kind].get(obj_id)

    def all(self, kind: str) -> list[Any]:
        return list(self._state.tables[kind].values())

    def find(self, kind: str, **by: Any) -> list[Any]:
        """Objects of ``kind`` whose fields (or declared index keys) equal ``by``.

        Uses the declared index whose fields are exactly ``by``'s names, else a single-field index
        for one of them plus a filter, else a scan.
        """
        tbl = table(kind)
        rows = self._state.tables[kind]
        if not by:
            return list(rows.values())
        index = tbl.index_for(frozenset(by))
        if index is not None:
            key = by[index.fields[0]] if len(index.fields) == 1 else tuple(by[f] for f in index.fields)
            ids = self._state.indexes[kind][index.fields].get(_norm(key), frozenset())
            return [rows[i] for i in sorted(ids)]
        candidates: Iterable[Stored] = rows.values()
        for name in by:
            single = tbl.index_for(frozenset((name,)))
            if single is not None:
                ids = self._state.indexes[kind][single.fields].get(_norm(by[name]), frozenset())
                candidates = [rows[i] for i in sorted(ids)]
                break
        return [o for o in candidates if all(_norm(tbl.field_value(o, k)) == _norm(v) for k, v in by.items())]

    def count(self, kind: str) -> int:
        return len(self._state.tables[kind])


def _norm(key: Any) -> Any:
    """Enum members and their values must hit the same index bucket."""
    if isinstance(key, tuple):
        return tuple(_norm(k) for k in key)
    if hasattr(key, "value") and not isinstance(key, (str, int)):
        return key.value
    if isinstance(key, int) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str):
        return str(key)
    return key


class StateWriter:
    """Builds the next :class:`StoreState` from the current one, touching only what changes."""

    def __init__(self, base: StoreState) -> None:
        self._base = base
        self._tables: dict[str, dict[str, Stored]] = dict(base.tables)
        self._indexes: dict[str, IndexMap] = dict(base.indexes)
        self._copied_tables: set[str] = set()
        self._copied_buckets: set[tuple[str, tuple[str, ...], Hashable]] = set()
        self._copied_indexes: set[tuple[str, tuple[str, ...]]] = set()
        self._copied_kinds: set[str] = set()
        self._undo: list[tuple[str, str, Stored | None]] = []

    def get(self, kind: str, obj_id: str) -> Stored | None:
        return self._tables[kind].get(obj_id)

    def check_unique(self, obj: Stored) -> None:
        tbl = TABLES[obj.kind]
        for index in tbl.indexes:
            if not index.unique:
                continue
            key = _norm(index.key(obj))
            holders = self._indexes[obj.kind][index.fields].get(key, frozenset())
            if holders - {obj.id}:
                raise AlreadyExists.object(obj.kind, str(index.key(obj)))

    def put(self, obj: Stored) -> Stored | None:
        """Insert or replace; returns the previous object."""
        old = self._table(obj.kind).get(obj.id)
        self._undo.append((obj.kind, obj.id, old))
        if old is not None:
            self._unindex(TABLES[obj.kind], old)
        self._tables[obj.kind][obj.id] = obj
        self._index(TABLES[obj.kind], obj)
        return old

    def remove(self, kind: str, obj_id: str) -> Stored | None:
        old = self._table(kind).pop(obj_id, None)
        if old is not None:
            self._undo.append((kind, obj_id, old))
            self._unindex(TABLES[kind], old)
        return old

    def savepoint(self) -> int:
        return len(self._undo)

    def rollback(self, savepoint: int) -> None:
        while len(self._undo) > savepoint:
            kind, obj_id, old = self._undo.pop()
            current = self._tables[kind].get(obj_id)
            if current is not None:
                self._unindex(TABLES[kind], current)
                del self._tables[kind][obj_id]
            if old is not None:
                self._tables[kind][obj_id] = old
                self._index(TABLES[kind], old)
        # undo entries made by the replays above are not wanted either
        del self._undo[savepoint:]

    def finish(self, version: int) -> StoreState:
        for kind, fields, key in self._copied_buckets:
            bucket = self._indexes[kind][fields]
            ids = bucket.get(key)
            if ids:
                bucket[key] = frozenset(ids)
            else:
                bucket.pop(key, None)
        self._copied_buckets.clear()
        return StoreState(version=version, tables=self._tables, indexes=self._indexes)

    def _table(self, kind: str) -> dict[str, Stored]:
        if kind not in self._copied_tables:
            self._tables[kind] = dict(self._tables[kind])
            self._copied_tables.add(kind)
        return self._tables[kind]

    def _bucket(self, kind: str, fields: tuple[str, ...]) -> dict[Hashable, frozenset[str]]:
        if kind not in self._copied_kinds:
            self._indexes[kind] = dict(self._indexes[kind])
            self._copied_kinds.add(kind)
        if (kind, fields) not in self._copied_indexes:
            self._indexes[kind][fields] = dict(self._indexes[kind][fields])
            self._copied_indexes.add((kind, fields))
        return self._indexes[kind][fields]

    def _mutable(self, kind: str, fields: tuple[str, ...], key: Hashable) -> set[str]:
        """The bucket for ``key`` as a private mutable set (frozen again in :meth:`finish`)."""
        bucket = self._bucket(kind, fields)
        marker = (kind, fields, key)
        if marker not in self._copied_buckets:
            bucket[key] = set(bucket.get(key, ()))  # type: ignore[assignment]
            self._copied_buckets.add(marker)
        return bucket[key]  # type: ignore[return-value]

    def _index(self, tbl: Table, obj: Stored) -> None:
        for index in tbl.indexes:
            self._mutable(tbl.kind, index.fields, _norm(index.key(obj))).add(obj.id)

    def _unindex(self, tbl: Table, obj: Stored) -> None:
        for index in tbl.indexes:
            self._mutable(tbl.kind, index.fields, _norm(index.key(obj))).discard(obj.id)
