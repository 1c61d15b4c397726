"""The executor: what one assigned task needs next, and doing it with the local engine.

:func:`step` is the pure part (STYLE.md practice 9): from the task's desired state, the most advanced
state already reported and what the engine shows for its container, it returns one
:class:`Step` - an action to take and/or a status to report. It never moves a task backward:
once a task is terminal nothing but cleanup happens (a new task takes the slot; no restart in place).

::

    desired <= RUNNING, not terminal:   no container ─▶ create (PREPARING ─▶ READY) ─▶ start (RUNNING)
                                        running ─▶ report RUNNING; exited ─▶ COMPLETE | FAILED
                                        a failed create ─▶ REJECTED; a failed start ─▶ FAILED
    desired  > RUNNING, not terminal:   running ─▶ stop ─▶ SHUTDOWN;  otherwise report SHUTDOWN
    desired REMOVE (any state):         remove the container once stopped

:class:`Executor` carries steps out against :class:`agent.runtime.engine.Engine` and reports through a
callback. Containers are named ``<service>.<slot or node id>.<task id>`` and carry Docker's swarm
labels, which is how a restarted agent re-adopts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from google.protobuf.json_format import MessageToDict

from agent.health import probe_of
from proto.orch.v1 import dispatcher_pb2 as dpb

log = logging.getLogger("orch.executor")

LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_TASK = "com.docker.swarm.task"
LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_TASK_NAME = "com.docker.swarm.task.name"
LABEL_NODE_ID = "com.docker.swarm.node.id"


class State(IntEnum):
    """Task states as the dispatcher contract numbers them (dispatcher.proto)."""

    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    READY = 384
    STARTING = 448
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832


@dataclass(frozen=True)
class Observed:
    """What the engine shows for a task's container (``None`` in :func:`step` when there is none)."""

    container_id: str
    status: str  # created | running | paused | restarting | exited | dead | removing
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    pid: int = 0
    started: bool = False
    health: str = ""  # "" without a healthcheck, else starting | healthy | unhealthy


@dataclass(frozen=True)
class Report:
    state: State
    message: str
    err: str = ""
    exit_code: int | None = None


@dataclass(frozen=True)
class Step:
    """``action`` is one of none, create, start, stop, remove; ``report`` is a status to send now."""

    action: str = "none"
    report: Report | None = None


NOTHING = Step()


def exit_report(c: Observed) -> Report:
    if c.exit_code == 0 and not c.oom_killed:
        return Report(State.COMPLETE, "finished", exit_code=0)
    err = f"task: non-zero exit ({c.exit_code})"
    if c.oom_killed:
        err += ": out of memory"
    return Report(State.FAILED, "started", err=err, exit_code=c.exit_code)


def step(desired: int, reported: int, c: Observed | None) -> Step:
    """The next thing to do for one task (pure)."""
    running = c is not None and c.status in ("running", "paused", "restarting")
    if reported > State.RUNNING:
        if running and desired > State.RUNNING:
            return Step("stop")
        if c is not None and not running and desired >= State.REMOVE:
            return Step("remove")
        return NOTHING
    if desired > State.RUNNING:
        if running:
            return Step("stop")
        return Step("none", Report(State.SHUTDOWN, "shutdown"))
    if c is None:
        if reported >= State.STARTING:
            return Step("none", Report(State.FAILED, "started", err="task: container is gone"))
        return Step("create")
    if c.status == "created":
        if c.error:
            state = State.FAILED if c.started else State.REJECTED
            return Step("none", Report(state, "starting", err=f"starting container failed: {c.error}"))
        if desired >= State.RUNNING:
            return Step("start")
        if reported < State.READY:
            return Step("none", Report(State.READY, "prepared"))
        return NOTHING
    if running:
        # Swarm's health semantics: a task with a healthcheck is RUNNING only once healthy, and an
        # unhealthy container fails its task (the restart policy then gives the slot a new one).
        if c.health == "unhealthy":
            return Step("none", Report(State.FAILED, "started", err="task: unhealthy container"))
        if reported < State.RUNNING:
            if c.health == "starting":
                return NOTHING if reported >= State.STARTING else Step("none", Report(State.STARTING, "starting"))
            return Step("none", Report(State.RUNNING, "started"))
        return NOTHING
    return Step("none", exit_report(c))


def health_of(engine: Any, container: Any) -> str:
    """The container's health as :class:`Observed` carries it ("" when it has no healthcheck).

    A container with a healthcheck whose monitor has not picked it up yet (the start event is
    handled asynchronously) counts as starting, never as healthy.
    """
    if probe_of(container.config.get("healthcheck")) is None:
        return ""
    lookup = getattr(engine, "health", None)
    return (lookup(container.id) if lookup is not None else None) or "starting"


def observe(container: Any, health: str = "") -> Observed:
    """An engine ``Container`` record as :class:`Observed`."""
    st = container.state
    return Observed(
        health=health,
        container_id=container.id,
        status=st.status,
        exit_code=int(st.exit_code or 0),
        oom_killed=bool(getattr(st, "oom_killed", False)),
        error=str(getattr(st, "error", "") or ""),
        pid=int(st.pid or 0),
        started=bool(getattr(container, "has_been_started", False)),
    )


def container_name(task: dpb.TaskAssignment) -> str:
    middle = str(task.slot) if task.slot else task.node_id
    return f"{task.service_name}.{middle}.{task.id}"


def container_spec(task: dpb.TaskAssignment, network_mode: str = "") -> dict[str, Any]:
    """The engine's create spec (a dict mirroring engine.proto's ContainerSpec) for a task."""
    spec = MessageToDict(task.container, preserving_proto_field_name=True)
    c = task.container
    spec["entrypoint_set"] = c.entrypoint_set
    spec["stop_timeout"] = c.stop_timeout  # the manager always sets the grace period (0 = kill at once)
    spec["resources"] = {"memory": c.resources.memory, "nano_cpus": c.resources.nano_cpus}
    spec["mounts"] = [{"type": m.type, "source": m.source, "target": m.target, "read_only": m.read_only,
                       "tmpfs_options": m.tmpfs_options} for m in c.mounts]
    spec["name"] = container_name(task)
    spec["labels"] = {
        **dict(c.labels),
        LABEL_SERVICE_ID: task.service_id,
        LABEL_SERVICE_NAME: task.service_name,
        LABEL_TASK: "",
        LABEL_TASK_ID: task.id,
        LABEL_TASK_NAME: container_name(task),
        LABEL_NODE_ID: task.node_id,
    }
    spec["restart_policy"] = {"name": "no", "max_retries": 0}
    if network_mode and not c.network_mode:  # a network the task names (compose) wins over the node's default
        spec["network_mode"] = network_mode
    elif not c.network_mode:
        spec.pop("network_mode", None)
    return spec


Reporter = Callable[[str, Report, str, int], None]  # task id, report, container id, pid


class Executor:
    """Performs :class:`Step` actions with the engine; every action is safe to repeat."""

    def __init__(self, engine: Any, report: Reporter, network_mode: str = "") -> None:
        self.engine = engine
        self.report = report
        self.network_mode = network_mode

    def run(self, task: dpb.TaskAssignment, action: str, container_id: str) -> None:
        try:
            getattr(self, f"_{action}")(task, container_id)
        except Exception as err:  # noqa: BLE001 - engine errors are one-line messages
            log.warning("task %s: %s failed: %s", task.id, action, err)
            if action == "create":
                self.report(task.id, Report(State.REJECTED, "preparing", err=f"preparing container failed: {err}"), "", 0)
            elif action == "start":
                self.report(task.id, Report(State.FAILED, "starting", err=f"starting container failed: {err}"),
                            container_id, 0)

    def _create(self, task: dpb.TaskAssignment, _: str) -> None:
        self.report(task.id, Report(State.PREPARING, "preparing"), "", 0)
        c = self.engine.create(container_spec(task, self.network_mode))
        if task.desired_state >= State.RUNNING:
            self._start(task, c.id)
        else:
            self.report(task.id, Report(State.READY, "prepared"), c.id, 0)

    def _start(self, task: dpb.TaskAssignment, container_id: str) -> None:
        self.report(task.id, Report(State.STARTING, "starting"), container_id, 0)
        self.engine.start(container_id)
        c = self.engine.get(container_id)
        if not health_of(self.engine, c):  # with a healthcheck, the worker reports RUNNING once healthy
            self.report(task.id, Report(State.RUNNING, "started"), c.id, int(c.state.pid or 0))

    def _stop(self, task: dpb.TaskAssignment, container_id: str) -> None:
        self.engine.stop(container_id, timeout=max(0, task.container.stop_timeout))
        # Reported even after a terminal state: the manager drops backward moves.
        self.report(task.id, Report(State.SHUTDOWN, "shutdown"), container_id, 0)
        if task.desired_state >= State.REMOVE:
            self._remove(task, container_id)

    def _remove(self, task: dpb.TaskAssignment, container_id: str) -> None:
        self.engine.remove(container_id, force=True)

    def remove_orphan(self, container_id: str) -> None:
        """A container whose task is no longer assigned: stop it and remove it."""
        try:
            self.engine.stop(container_id)
            self.engine.remove(container_id, force=True)
        except Exception as err:  # noqa: BLE001
            log.warning("removing container %s of an unassigned task failed: %s", container_id[:12], err)
