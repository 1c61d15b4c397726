"""The worker: one node's agent. It holds the dispatcher session and reconciles assignments locally.

::

    dispatcher ══Session══▶ assignments (COMPLETE, INCREMENTAL) ──▶ self._tasks ─┐
        ▲                                                                         ▼
        └── heartbeats + StatusBatch ◀── outbox ◀── Executor ◀── reconcile(): step() per task,
                                                    (thread pool)   orphans removed

Reconciliation is level-triggered: every pass (on each assignment change, after each action, and
every ``poll`` seconds) compares the assigned tasks with the containers that carry a task label,
so a restarted daemon re-adopts what still runs and a missed event is corrected on the next pass.
Nothing is garbage-collected before the first COMPLETE set arrived. The worker speaks to the
dispatcher only through the generated ``dispatcher.proto`` code, over gRPC, even on a single node.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from agent.executor import LABEL_TASK_ID, Executor, Observed, Report, State, health_of, observe, step
from proto.orch.v1 import dispatcher_pb2 as dpb
from proto.orch.v1 import dispatcher_pb2_grpc as drpc

log = logging.getLogger("orch.worker")



def host_resources() -> tuple[int, int]:
    """(nano-CPUs, memory bytes) of this host, reported at registration."""
    cpus = (os.cpu_count() or 1) * 1_000_000_000
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return cpus, mem


class Worker:
    def __init__(
        self,
        engine: Any,
        node_id: str,
        target: str | Callable[[], list[str]],
        hostname: str | None = None,
        network_mode: str = "",
        poll: float = 0.25,
        max_workers: int = 16,
        on_managers: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_managers = on_managers  # called with the managers' dispatcher addresses the session reports
        self.node_id = node_id
        self.target = target
        self.hostname = hostname or os.uname().nodename
        self.poll = poll
        # Passes are O(assigned tasks); without a gap, every finished action of a 1000-task burst
        # triggers a full pass and the passes eat the CPU the container starts need. The first pass
        # of a burst submits every action at once, so a short gap delays nothing that waits.
        self.min_pass_gap = min(0.05, poll)
        self.heartbeat_period = 5.0
        self.executor = Executor(engine, self._report, network_mode)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="orch-exec")
        self._lock = threading.Lock()
        self._tasks: dict[str, dpb.TaskAssignment] = {}
        self._synced = False
        self._reported: dict[str, int] = {}
        self._busy: set[str] = set()
        self._outbox: queue.SimpleQueue[dpb.TaskStatusUpdate | None] | None = None
        self._call: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._attempt = 0
        self._welcomed = False
        self._unsubscribe: Callable[[], None] | None = None
        self._net_state: dpb.NetworkState | None = None  # the last NetworkState from the dispatcher
        self._net_failed = False

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        loops = [(self._session_loop, "orch-agent-session"), (self._reconcile_loop, "orch-agent-worker")]
        events = getattr(self.engine, "events", None)
        if events is not None and hasattr(events, "subscribe"):
            _, queue_, self._unsubscribe = events.subscribe()
            loops.append((lambda q=queue_: self._event_loop(q), "orch-agent-events"))
        for target, name in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        call, box = self._call, self._outbox
        if box is not None:
            box.put(None)
        if call is not None:
            call.cancel()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reconnect(self) -> None:
        """Drop the session: the next one goes to the current targets (after a join, leave or role change)."""
        call = self._call
        if call is not None:
            call.cancel()

    @property
    def synced(self) -> bool:
        return self._synced

    # -- the session --------------------------------------------------------------------------
    def _session_loop(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._run_session()
                backoff = 0.1
                self._attempt = 0
            except grpc.RpcError as err:
                self._attempt += 1
                if self._stop.is_set():
                    return
                code = err.code() if hasattr(err, "code") else None
                log.info("dispatcher session ended (%s); reconnecting", code)
            except Exception:  # noqa: BLE001
                log.exception("dispatcher session failed")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)

    def _learn_managers(self, addrs: list[str]) -> None:
        """Tell the owner the cluster's current managers (it persists them for the next connect)."""
        if addrs and self.on_managers is not None:
            try:
                self.on_managers(addrs)
            except Exception:  # noqa: BLE001 - a failed save must not end the session
                log.exception("recording the managers failed")

    def _next_target(self) -> str:
        """The dispatcher to try now: the managers in turn, moving on after each failed attempt."""
        if isinstance(self.target, str):
            return self.target
        targets = self.target() or []
        if not targets:
            raise RuntimeError("no manager known to this node")
        return targets[self._attempt % len(targets)]

    def _run_session(self) -> None:
        box: queue.SimpleQueue[dpb.TaskStatusUpdate | None] = queue.SimpleQueue()
        self._welcomed = False
        target = self._next_target()
        if target.startswith("tcp://"):
            target = target[len("tcp://"):]
        channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
        try:
            stub = drpc.DispatcherStub(channel)
            call = stub.Session(self._requests(box))
            self._call = call
            for msg in call:
                kind = msg.WhichOneof("msg")
                if kind == "welcome":
                    self.heartbeat_period = msg.welcome.heartbeat_period or self.heartbeat_period
                    self._welcomed = True
                    with self._lock:
                        self._outbox = box
                    self._learn_managers(list(msg.welcome.managers))
                elif kind == "assignments":
                    self._apply(msg.assignments)
                elif kind == "managers":
                    self._learn_managers(list(msg.managers.addrs))
                elif kind == "network_state":
                    self._apply_network_state(msg.network_state)
        finally:
            with self._lock:
                if self._outbox is box:
                    self._outbox = None
            box.put(None)
            self._call = None
            channel.close()

    def _requests(self, box: queue.SimpleQueue[dpb.TaskStatusUpdate | None]) -> Iterator[dpb.SessionRequest]:
        cpus, mem = host_resources()
        yield dpb.SessionRequest(register=dpb.Register(
            node_id=self.node_id, hostname=self.hostname,
            resources=dpb.NodeResources(nano_cpus=cpus, memory_bytes=mem)))
        while not self._stop.is_set():
            try:
                # Until the Welcome says the period, beat often: the manager's grace may be short.
                first = box.get(timeout=self.heartbeat_period if self._welcomed else 0.2)
            except queue.Empty:
                yield dpb.SessionRequest(heartbeat=dpb.Heartbeat())
                continue
            if first is None:
                return
            batch = [first]
            while len(batch) < 500:
                try:
                    more = box.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    yield dpb.SessionRequest(status=dpb.StatusBatch(updates=batch))
                    return
                batch.append(more)
            yield dpb.SessionRequest(status=dpb.StatusBatch(updates=batch))

    def _apply(self, msg: dpb.Assignments) -> None:
        with self._lock:
            if msg.kind == dpb.Assignments.COMPLETE:
                self._tasks = {t.id: t for t in msg.tasks}
                # Re-derive what the manager must hear from what it knows (it may have lost reports).
                self._reported = {}
                self._synced = True
            else:
                for t in msg.tasks:
                    self._tasks[t.id] = t
                for task_id in msg.removed:
                    self._tasks.pop(task_id, None)
                    self._reported.pop(task_id, None)
        self._wake.set()

    def _apply_network_state(self, state: dpb.NetworkState | None) -> None:
        """The node's overlay networks and mesh ports (the dispatcher sends them before the assignments
        that use them). A failure is retried by the reconcile loop until a newer state replaces it."""
        network = getattr(self.engine, "network", None)
        if network is None or not hasattr(network, "sync_network_state"):
            return
        if state is not None:
            self._net_state = state
        if self._net_state is None:
            return
        try:
            network.sync_network_state(self._net_state)
            self._net_failed = False
        except Exception:  # noqa: BLE001 - retried by the next reconcile pass
            if not self._net_failed:
                log.exception("programming overlay networks failed")
            self._net_failed = True

    # -- reporting ----------------------------------------------------------------------------
    def _report(self, task_id: str, report: Report, container_id: str, pid: int) -> None:
        with self._lock:
            if report.state <= self._reported.get(task_id, -1):
                return
            self._reported[task_id] = int(report.state)
            box = self._outbox
        if box is None:
            return  # re-derived and sent after the next COMPLETE set
        box.put(dpb.TaskStatusUpdate(
            task_id=task_id, state=int(report.state), message=report.message, err=report.err,
            container_id=container_id, pid=pid, has_exit_code=report.exit_code is not None,
            exit_code=report.exit_code or 0))

    # -- reconciliation -----------------------------------------------------------------------
    # Container events after which a task's state may have moved: the pass runs now, not at the next poll.
    WAKING_EVENTS = ("die", "oom")

    def _event_loop(self, events: queue.Queue[Any]) -> None:
        """Wake the reconcile pass on a container exit or health change (a healthy task is reported
        RUNNING, an exited one COMPLETE/FAILED, about a poll period sooner)."""
        while not self._stop.is_set():
            try:
                ev = events.get(timeout=0.5)
            except queue.Empty:
                continue
            action = getattr(ev, "action", "")
            if getattr(ev, "type", "") == "container" and (action in self.WAKING_EVENTS
                                                          or action.startswith("health_status")):
                self._wake.set()

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self._net_failed:
                    self._apply_network_state(None)
                self.reconcile()
            except Exception:  # noqa: BLE001 - one bad pass never stops the worker
                log.exception("reconcile pass failed")
            self._stop.wait(self.min_pass_gap)  # wakes during the gap coalesce into the next pass

    def local_containers(self) -> dict[str, Any]:
        """Containers that belong to tasks, by task id (the label survives daemon restarts)."""
        out: dict[str, Any] = {}
        for c in self.engine.list():
            task_id = (c.config.get("labels") or {}).get(LABEL_TASK_ID)
            if task_id and c.state.status != "removing":
                out[task_id] = c
        return out

    def reconcile(self) -> None:
        with self._lock:
            if not self._synced:
                return
            tasks = dict(self._tasks)
            reported = dict(self._reported)
            busy = set(self._busy)
        local = self.local_containers()
        for task_id, task in tasks.items():
            if task_id in busy:
                continue
            c = local.get(task_id)
            obs: Observed | None = observe(c, health_of(self.engine, c)) if c is not None else None
            known = max(task.observed_state, reported.get(task_id, 0))
            decision = step(task.desired_state, known, obs)
            if decision.report is not None:
                self._report(task_id, decision.report, obs.container_id if obs else "", obs.pid if obs else 0)
            if decision.action != "none":
                self._submit(task_id, lambda t=task, a=decision.action, o=obs: self.executor.run(
                    t, a, o.container_id if o else ""))
        for task_id, c in local.items():
            if task_id not in tasks and task_id not in busy:
                log.info("removing container %s: task %s is no longer assigned", c.name, task_id)
                self._submit(task_id, lambda cid=c.id: self.executor.remove_orphan(cid))

    def _submit(self, task_id: str, fn: Any) -> None:
        with self._lock:
            if task_id in self._busy:
                return
            self._busy.add(task_id)

        def run() -> None:
            try:
                fn()
            finally:
                with self._lock:
                    self._busy.discard(task_id)
                self._wake.set()

        try:
            self._pool.submit(run)
        except RuntimeError:  # shutting down
            with self._lock:
                self._busy.discard(task_id)


__all__ = ["State", "Worker"]
