"""The one skeleton every leader-only loop shares (STYLE.md practice 3, pitfall 2).

::

    attach():  view, watch = store.view_and_watch(kinds)   # subscribe *before* reading
               seed(view)                                  # mark everything relevant dirty
    run():     tick(); then forever:
                 Change  -> handle(change)                 # marks dirty, never writes
                 Commit  -> tick()                         # decides from a fresh view, writes a batch
                 Reset   -> seed(view); tick()
                 timeout -> tick() if a timer (next_wakeup) is due

``tick`` must be idempotent: running it twice without new events writes nothing the second time.
Errors inside one item are logged by the subclass and the loop carries on; an exception escaping
``tick`` is logged here and the loop keeps running (one bad service never stops the loop).

Tests drive loops without threads: ``attach()`` once, then ``pump()`` after each write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from orchestrator.store import Change, Commit, MemoryStore, Reset, View, Watch

log = logging.getLogger(__name__)


class Loop:
    """Base class: subclasses set ``kinds`` and implement ``seed``, ``handle`` and ``tick``."""

    name = "loop"
    kinds: tuple[str, ...] = ()
    debounce: float = 0.0
    debounce_max: float = 1.0
    idle_period: float = 1.0

    def __init__(self, store: MemoryStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._watch: Watch | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what subclasses implement ----------------------------------------------------------
    def seed(self, view: View) -> None:
        """Mark everything in ``view`` this loop cares about as dirty."""

    def handle(self, change: Change) -> None:
        """Mark what ``change`` makes dirty. Never write from here."""

    def tick(self) -> None:
        """Reconcile what is dirty against a fresh view and write the result in one batch."""

    def next_wakeup(self) -> float | None:
        """Clock time at which ``tick`` must run even without events (restart delays)."""
        return None

    # -- driving without threads (tests) ----------------------------------------------------
    def attach(self) -> None:
        view, self._watch = self.store.view_and_watch(self.kinds)
        self.seed(view)

    def pump(self) -> int:
        """Handle queued events; tick on commit markers. Returns how many events were handled."""
        assert self._watch is not None, "attach() first"
        handled = 0
        need_tick = False
        while (event := self._watch.get_nowait()) is not None:
            handled += 1
            need_tick |= self._dispatch(event)
        if need_tick:
            self._safe_tick()
        return handled

    def detach(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    # -- driving with a thread --------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"orch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        watch = self._watch
        if watch is not None:
            watch.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None

    def run(self) -> None:
        self.attach()
        watch = self._watch
        assert watch is not None
        self._safe_tick()
        try:
            while not self._stop.is_set():
                event = watch.get(timeout=self._wait_time())
                if self._stop.is_set():
                    break
                if event is None:
                    if self._timer_due():
                        self._safe_tick()
                    continue
                if self._dispatch(event):
                    self._settle(watch)
                    self._safe_tick()
        finally:
            self.detach()

    # -- internals --------------------------------------------------------------------------
    def _dispatch(self, event: Change | Commit | Reset) -> bool:
        """Returns True when the event calls for a tick."""
        if isinstance(event, Change):
            try:
                self.handle(event)
            except Exception:
                log.exception("%s: handling %s %s failed", self.name, event.kind, event.action)
            return False
        if isinstance(event, Reset):
            self.seed(self.store.view())
        return True

    def _settle(self, watch: Watch) -> None:
        """Debounce: keep absorbing events until a quiet gap (scheduler) or ``debounce_max``."""
        if self.debounce <= 0:
            return
        deadline = time.monotonic() + self.debounce_max
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            event = watch.get(timeout=min(self.debounce, left))
            if event is None:
                return
            self._dispatch(event)

    def _wait_time(self) -> float:
        wakeup = self.next_wakeup()
        if wakeup is None:
            return self.idle_period
        return max(0.0, min(self.idle_period, wakeup - self.clock()))

    def _timer_due(self) -> bool:
        wakeup = self.next_wakeup()
        return wakeup is not None and wakeup <= self.clock()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("%s: tick failed; will retry on the next event", self.name)


def settle(loops: Iterable[Loop], rounds: int = 100) -> None:
    """Pump ``loops`` until none of them has anything left to handle (for tests and benchmarks)."""
    loops = list(loops)
    for _ in range(rounds):
        if sum(loop.pump() for loop in loops) == 0:
            return
    raise RuntimeError("loops did not settle: they keep writing (a reconcile is not idempotent)")
