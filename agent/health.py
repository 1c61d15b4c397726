"""Container healthchecks: run each container's check on its schedule and keep State.Health.

Docker semantics: the check (`CMD`, `CMD-SHELL` or `NONE`, from `--health-cmd` or the image's
HEALTHCHECK) runs inside the container's namespaces every `interval` (every `start_interval` while
the start period lasts); a run that exceeds `timeout` is killed and counts as a failure; `retries`
consecutive failures make the container `unhealthy`, one success makes it `healthy`. Failures
inside the start period do not count. Every status change is a `health_status: <status>` event.
Nothing is restarted here: the orchestrator reads the status (``Engine.health``) and decides.

One scheduler thread keeps a heap of due checks for all containers and hands the runs to a small
worker pool, so a slow check never delays another container's and there is no thread per container.
The state is written next to the container record (`health.json`), so a restarted daemon keeps the
status of what still runs.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.runtime.container import now_rfc3339
from agent.runtime.spawner import F_EXIT, F_STDERR, F_STDOUT

log = logging.getLogger("orch.health")

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
STARTING, HEALTHY, UNHEALTHY, NONE = "starting", "healthy", "unhealthy", "none"
_DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


class HealthConfigError(ValueError):
    """A healthcheck that cannot run (bad Test form, negative durations); `str()` is one line."""


# --- configuration -------------------------------------------------------------------------------
def _ns(value: Any) -> int:
    """Durations arrive as ints, or as strings from protobuf's JSON mapping of int64."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise HealthConfigError(f"invalid healthcheck duration {value!r}") from None


def from_spec(hc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ContainerSpec's `healthcheck` message (as a dict) in Docker's shape, or None if absent."""
    if not hc:
        return None
    doc: dict[str, Any] = {"Test": list(hc.get("test") or [])}
    for key, name in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period"),
                      ("StartInterval", "start_interval")):
        doc[key] = _ns(hc.get(name))
    doc["Retries"] = int(hc.get("retries") or 0)
    return doc


def merge(container: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the container runs: its own settings, each unset field (empty/0) taken from the image's.

    This is the record's `config["healthcheck"]` (Docker's Config.Healthcheck shape, nanoseconds).
    """
    if not container and not image:
        return None
    base = {"Test": [], "Interval": 0, "Timeout": 0, "StartPeriod": 0, "StartInterval": 0, "Retries": 0}
    merged = dict(base)
    for src in (image or {}, container or {}):
        if src.get("Test"):
            merged["Test"] = list(src["Test"])
        for key in (*_DURATIONS, "Retries"):
            if src.get(key):
                merged[key] = int(src[key])
    validate(merged)
    return merged


def validate(doc: dict[str, Any]) -> None:
    test = doc.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise HealthConfigError(f"unknown healthcheck type {test[0]!r} (expected CMD, CMD-SHELL or NONE)")
    if test and test[0] == "CMD-SHELL" and len(test) != 2:
        raise HealthConfigError("CMD-SHELL healthcheck needs exactly one command string")
    if test and test[0] == "CMD" and len(test) < 2:
        raise HealthConfigError("CMD healthcheck needs a command")
    for key in _DURATIONS:
        value = int(doc.get(key) or 0)
        if value < 0:
            raise HealthConfigError(f"{key} in Healthcheck cannot be negative")
        if 0 < value < 1_000_000:
            raise HealthConfigError(f"{key} in Healthcheck cannot be less than 1ms")
    if int(doc.get("Retries") or 0) < 0:
        raise HealthConfigError("Retries in Healthcheck cannot be negative")


@dataclass(frozen=True)
class Probe:
    """A container's effective check: the command and its schedule in seconds, defaults applied."""

    argv: list[str]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    start_period: float = DEFAULT_START_PERIOD
    start_interval: float = DEFAULT_START_INTERVAL


def probe_of(doc: dict[str, Any] | None) -> Probe | None:
    """The check to run for a record's `config["healthcheck"]`; None when there is none (or NONE)."""
    if not doc:
        return None
    test = list(doc.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    if not argv:
        return None

    def secs(key: str, default: float) -> float:
        v = int(doc.get(key) or 0)
        return v / NS if v > 0 else default

    return Probe(argv=argv, interval=secs("Interval", DEFAULT_INTERVAL), timeout=secs("Timeout", DEFAULT_TIMEOUT),
                 retries=int(doc.get("Retries") or 0) or DEFAULT_RETRIES,
                 start_period=secs("StartPeriod", DEFAULT_START_PERIOD),
                 start_interval=secs("StartInterval", DEFAULT_START_INTERVAL))


# --- state machine -------------------------------------------------------------------------------
@dataclass
class Result:
    start: str
    end: str
    exit_code: int
    output: str


@dataclass
class Health:
    """State.Health of one run of a container (``pid`` ties it to that run)."""

    status: str = STARTING
    failing_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    pid: int = 0

    def record(self, r: Result, in_start_period: bool, retries: int) -> str | None:
        """Apply one check result; returns the new status if it changed (the event to emit)."""
        old = self.status
        self.log.append({"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output})
        del self.log[:-MAX_LOG_ENTRIES]
        if r.exit_code == 0:
            self.failing_streak = 0
            self.status = HEALTHY
        elif in_start_period and self.status == STARTING:
            pass  # failures while the container is still starting up do not count
        else:
            self.failing_streak += 1
            if self.failing_streak >= retries:
                self.status = UNHEALTHY
        return self.status if self.status != old else None

    def doc(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": list(self.log)}


# --- running one check ---------------------------------------------------------------------------
def run_check(engine: Any, cid: str, probe: Probe) -> Result:
    """Exec the check in the container, collect up to 4 KiB of output, kill it when the timeout passes."""
    start = now_rfc3339()
    try:
        stream = engine.exec(cid, probe.argv, env=[], workdir="", user="", tty=False, stdin=False)
    except Exception as e:  # noqa: BLE001 — a check that cannot even start is a failed check
        return Result(start, now_rfc3339(), 1, str(e))
    deadline = time.monotonic() + probe.timeout
    out = bytearray()
    code: int | None = None
    try:
        stream.sock.settimeout(max(0.001, probe.timeout))
        for ftype, payload in stream:
            if ftype in (F_STDOUT, F_STDERR) and len(out) < MAX_OUTPUT:
                out += payload[: MAX_OUTPUT - len(out)]
            elif ftype == F_EXIT:
                try:
                    code = int(json.loads(payload)["exit_code"])
                except (ValueError, KeyError, TypeError):
                    code = 1
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            stream.sock.settimeout(remaining)
    finally:
        if code is None:
            _kill_group(stream.pid)
        stream.close()
    if code is None:
        if time.monotonic() >= deadline - 0.001:
            return Result(start, now_rfc3339(), -1, f"Health check exceeded timeout ({_human(probe.timeout)})")
        return Result(start, now_rfc3339(), 1, out.decode(errors="replace") + "(the check's stream broke)")
    return Result(start, now_rfc3339(), code, out.decode(errors="replace"))


def _kill_group(pid: int) -> None:
    """The exec'd check leads its own session (setsid), so its whole process group goes."""
    if pid <= 0:
        return
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


def _human(seconds: float) -> str:
    """Roughly Go's Duration.String, as Docker's timeout message prints it ("300ms", "30s", "1.5s")."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


# --- the scheduler -------------------------------------------------------------------------------
class HealthMonitor:
    """Runs every running container's healthcheck; one scheduler thread plus a few workers."""

    def __init__(self, engine: Any, workers: int = 4) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._states: dict[str, Health] = {}
        self._gen: dict[str, int] = {}        # bumped on start/stop: stale heap entries are skipped
        self._heap: list[tuple[float, int, str, int]] = []
        self._tie = itertools.count()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health")
        self._threads: list[threading.Thread] = []
        self._unsubscribe: Any = None

    # --- lifecycle
    def start(self) -> None:
        """Subscribe to container events, then pick up what already runs (so no start is missed)."""
        _, q, self._unsubscribe = self.engine.events.subscribe()
        for c in self.engine.list():
            if c.state.status in ("running", "paused"):
                self._begin(c, resume=True)
            elif probe_of(c.config.get("healthcheck")) is not None:
                h = self._load(c, any_run=True)
                if h is not None:
                    with self._lock:
                        self._states[c.id] = h
        for target, name in ((self._pump, "health-events"), (self._schedule_loop, "health-scheduler")):
            t = threading.Thread(target=target, args=(q,) if target == self._pump else (), name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for t in self._threads:
            t.join(timeout=2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- queries
    def status(self, cid: str) -> str | None:
        with self._lock:
            h = self._states.get(cid)
            return h.status if h is not None else None

    def doc(self, cid: str) -> dict[str, Any] | None:
        with self._lock:
            h = self._states.get(cid)
            return h.doc() if h is not None else None

    # --- events
    def _pump(self, q: queue.Queue[Any]) -> None:
        while not self._stopping.is_set():
            try:
                ev = q.get(timeout=0.5)
            except queue.Empty:
                continue
            if ev.type != "container":
                continue
            try:
                if ev.action == "start":
                    self._begin(self.engine.get(ev.id), resume=False)
                elif ev.action in ("die", "destroy"):
                    self._end(ev.id, forget=ev.action == "destroy")
            except Exception:  # noqa: BLE001
                log.debug("health: ignoring event for %s", ev.id[:12], exc_info=True)

    def _begin(self, c: Any, resume: bool) -> None:
        probe = probe_of(c.config.get("healthcheck"))
        if probe is None:
            return
        h = self._load(c) if resume else None
        if h is None:
            h = Health(pid=c.state.pid)
            self._persist(c.id, h)
        with self._lock:
            self._states[c.id] = h
            gen = self._gen.get(c.id, 0) + 1
            self._gen[c.id] = gen
            self._push(time.monotonic() + self._interval(probe, c, h), c.id, gen)

    def _end(self, cid: str, forget: bool) -> None:
        """A stopped container is not healthy (so nothing waiting for `healthy` trusts it); its log stays."""
        with self._lock:
            self._gen[cid] = self._gen.get(cid, 0) + 1
            h = self._states.get(cid)
            if forget:
                self._states.pop(cid, None)
                self._gen.pop(cid, None)
                return
            if h is not None:
                h.status = UNHEALTHY
        if h is not None:
            self._persist(cid, h)

    def _push(self, due: float, cid: str, gen: int) -> None:
        heapq.heappush(self._heap, (due, next(self._tie), cid, gen))
        self._wake.set()

    @staticmethod
    def _in_start_period(probe: Probe, c: Any) -> bool:
        started = c.state.started_mono or 0.0
        return probe.start_period > 0 and time.monotonic() - started < probe.start_period

    def _interval(self, probe: Probe, c: Any, h: Health) -> float:
        if h.status == STARTING and self._in_start_period(probe, c):
            return min(probe.start_interval, probe.interval)
        return probe.interval

    # --- scheduling and running
    def _schedule_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                due: list[tuple[str, int]] = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, cid, gen = heapq.heappop(self._heap)
                    if self._gen.get(cid) == gen:
                        due.append((cid, gen))
                wait = self._heap[0][0] - now if self._heap else 1.0
                self._wake.clear()
            for cid, gen in due:
                try:
                    self._pool.submit(self._check, cid, gen)
                except RuntimeError:
                    return  # the pool is shut down: we are stopping
            self._wake.wait(timeout=max(0.0, min(wait, 1.0)))

    def _check(self, cid: str, gen: int) -> None:
        try:
            c = self.engine.get(cid)
        except Exception:  # noqa: BLE001 — removed meanwhile
            return
        probe = probe_of(c.config.get("healthcheck"))
        if probe is None or c.state.status not in ("running", "paused"):
            return
        if c.state.status == "paused":
            self._reschedule(cid, gen, probe, c)
            return
        result = run_check(self.engine, cid, probe)
        with self._lock:
            h = self._states.get(cid)
            if h is None or self._gen.get(cid) != gen:
                return  # stopped or restarted while the check ran: this result belongs to an old run
            changed = h.record(result, self._in_start_period(probe, c), probe.retries)
        self._persist(cid, h)
        if changed is not None:
            self.engine.events.emit("container", f"health_status: {changed}", cid, name=c.name, image=c.image)
        self._reschedule(cid, gen, probe, c)

    def _reschedule(self, cid: str, gen: int, probe: Probe, c: Any) -> None:
        with self._lock:
            h = self._states.get(cid)
            if h is not None and self._gen.get(cid) == gen and not self._stopping.is_set():
                self._push(time.monotonic() + self._interval(probe, c, h), cid, gen)

    # --- persistence (so a daemon restart keeps the status of what still runs)
    def _path(self, cid: str) -> Path:
        return Path(self.engine.cdir_root) / cid / "health.json"

    def _persist(self, cid: str, h: Health) -> None:
        path = self._path(cid)
        tmp = path.with_suffix(".tmp")
        try:
            with self._lock:
                data = json.dumps(asdict(h))
            tmp.write_text(data)
            os.replace(tmp, path)
        except OSError:
            pass  # the container is being removed

    def _load(self, c: Any, any_run: bool = False) -> Health | None:
        try:
            h = Health(**json.loads(self._path(c.id).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return h if any_run or h.pid == c.state.pid else None
