"""Change events and per-watcher queues.

After every applied batch the store puts one :class:`Change` per written object and then one
:class:`Commit` marker on each interested watcher's queue (``queue.SimpleQueue``: putting never
blocks, which matters because Raft applies batches on PySyncObj's tick thread). A :class:`Reset`
means the whole state was replaced (a snapshot was installed): watchers must re-read everything.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from orchestrator.model import Stored

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class Change:
    kind: str
    action: Action
    old: Stored | None
    new: Stored | None
    version: int

    @property
    def obj(self) -> Stored:
        """The object as it is now (the old one for deletes)."""
        obj = self.new if self.new is not None else self.old
        assert obj is not None
        return obj


@dataclass(frozen=True)
class Commit:
    """End of one applied batch; loops reconcile on it (handlers only mark dirty before it)."""

    version: int


@dataclass(frozen=True)
class Reset:
    """The state was replaced wholesale; everything is dirty."""

    version: int


Event = Change | Commit | Reset


class Watch:
    """A subscription; ``get`` returns the next event or ``None`` on timeout or after ``close``."""

    def __init__(self, kinds: Iterable[str] | None, on_close: object = None) -> None:
        self.kinds: frozenset[str] | None = frozenset(kinds) if kinds is not None else None
        self.queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._on_close = on_close
        self.closed = False

    def wants(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def get(self, timeout: float | None = None) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> Event | None:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        """Unsubscribe and wake a reader blocked in ``get``."""
        if not self.closed:
            self.closed = True
            if callable(self._on_close):
                self._on_close(self)
            self.queue.put(None)
