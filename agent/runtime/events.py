"""The engine's event bus: what `orch events` shows (create, start, die, kill, stop, destroy, ...).

Events are kept in a bounded in-memory ring so `--since` can replay recent history; subscribers
get every later event through their own queue. Nothing is persisted: after a daemon restart the
history starts empty, which is what Docker does too.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HISTORY = 1000


@dataclass
class Event:
    type: str                      # container | image | volume | network
    action: str                    # create, start, die, ...
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_nano: int = 0
    seq: int = 0

    def doc(self) -> dict[str, Any]:
        """Docker's JSON shape of an event (what `--format '{{json .}}'` prints)."""
        return {"Type": self.type, "Action": self.action, "Actor": {"ID": self.id, "Attributes": self.attributes},
                "status": self.action, "id": self.id, "from": self.attributes.get("image", ""),
                "scope": "local", "time": self.time_nano // 10**9, "timeNano": self.time_nano}


class EventBus:
    def __init__(self, history: int = HISTORY) -> None:
        self._lock = threading.Lock()
        self._history: deque[Event] = deque(maxlen=history)
        self._subs: list[queue.Queue[Event]] = []
        self._seq = itertools.count(1)

    def emit(self, type: str, action: str, id: str, **attributes: str) -> None:
        ev = Event(type, action, id, {k: str(v) for k, v in attributes.items()}, time.time_ns())
        with self._lock:
            ev.seq = next(self._seq)
            self._history.append(ev)
            subs = list(self._subs)
        for q in subs:
            q.put(ev)

    def subscribe(self, since: float | None = None) -> tuple[list[Event], queue.Queue[Event], Any]:
        """Past events at or after ``since`` (unix seconds), a queue of future ones, and an
        unsubscribe function. Taken under one lock so no event is lost or seen twice."""
        q: queue.Queue[Event] = queue.Queue()
        with self._lock:
            past = [e for e in self._history if since is not None and e.time_nano >= since * 1e9]
            self._subs.append(q)

        def unsubscribe() -> None:
            with self._lock:
                if q in self._subs:
                    self._subs.remove(q)

        return past, q, unsubscribe

    def stream(self, since: float | None, until: float | None, active: Any) -> Iterator[Event]:
        """Past then live events until ``until`` passes or ``active()`` turns false."""
        past, q, unsubscribe = self.subscribe(since)
        try:
            for e in past:
                if until is not None and e.time_nano > until * 1e9:
                    return
                yield e
            while active():
                if until is not None and time.time() > until:
                    return
                try:
                    e = q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if until is not None and e.time_nano > until * 1e9:
                    return
                yield e
        finally:
            unsubscribe()
