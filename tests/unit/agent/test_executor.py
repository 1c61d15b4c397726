"""The executor's pure step function and the container it asks the engine for."""

from __future__ import annotations

import pytest

from agent.executor import NOTHING, Observed, Report, State, Step, container_name, container_spec, step
from proto.orch.v1 import dispatcher_pb2 as dpb
from proto.orch.v1 import engine_pb2 as epb

R, SD, RM = State.RUNNING, State.SHUTDOWN, State.REMOVE


def obs(status: str, code: int = 0, error: str = "", started: bool = True) -> Observed:
    return Observed(container_id="c1", status=status, exit_code=code, error=error, started=started)


@pytest.mark.parametrize(
    ("desired", "reported", "container", "expected"),
    [
        (R, State.ASSIGNED, None, Step("create")),
        (State.READY, State.ASSIGNED, None, Step("create")),
        (R, State.PREPARING, obs("created", started=False), Step("start")),
        (State.READY, State.PREPARING, obs("created", started=False), Step("none", Report(State.READY, "prepared"))),
        (R, State.STARTING, obs("running"), Step("none", Report(State.RUNNING, "started"))),
        (R, State.RUNNING, obs("running"), NOTHING),
        (R, State.RUNNING, obs("exited", 0), Step("none", Report(State.COMPLETE, "finished", exit_code=0))),
        (R, State.RUNNING, obs("exited", 137),
         Step("none", Report(State.FAILED, "started", err="task: non-zero exit (137)", exit_code=137))),
        (R, State.RUNNING, None, Step("none", Report(State.FAILED, "started", err="task: container is gone"))),
        (R, State.STARTING, obs("created", error="exec: not found", started=False),
         Step("none", Report(State.REJECTED, "starting", err="starting container failed: exec: not found"))),
        (SD, State.RUNNING, obs("running"), Step("stop")),
        (RM, State.RUNNING, obs("running"), Step("stop")),
        (SD, State.ASSIGNED, None, Step("none", Report(State.SHUTDOWN, "shutdown"))),
        (SD, State.FAILED, obs("exited", 1), NOTHING),  # history: the container is kept
        (RM, State.SHUTDOWN, obs("exited", 143), Step("remove")),
        (R, State.FAILED, obs("exited", 1), NOTHING),  # never restarted in place
        (R, State.COMPLETE, None, NOTHING),
    ],
)
def test_step(desired: int, reported: int, container: Observed | None, expected: Step) -> None:
    assert step(desired, reported, container) == expected


def test_reports_only_move_forward() -> None:
    containers = (None, obs("created", started=False), obs("created", error="boom"), obs("running"), obs("exited", 1))
    for desired in (State.READY, R, SD, RM):
        for reported in State:
            for container in containers:
                got = step(desired, reported, container)
                assert got.report is None or got.report.state > reported, (desired, reported, container, got)


def test_container_name_and_swarm_labels() -> None:
    task = dpb.TaskAssignment(id="t1", service_id="s1", service_name="web", slot=3, node_id="n1",
                              desired_state=R, container=epb.ContainerSpec(image="busybox", labels={"a": "b"},
                                                                          stop_timeout=0))
    assert container_name(task) == "web.3.t1"
    spec = container_spec(task)
    assert spec["name"] == "web.3.t1" and spec["stop_timeout"] == 0
    assert spec["labels"]["com.docker.swarm.task.id"] == "t1"
    assert spec["labels"]["com.docker.swarm.service.name"] == "web" and spec["labels"]["a"] == "b"
    assert "network_mode" not in spec
    glob = dpb.TaskAssignment(id="t2", service_name="agent", node_id="n1")
    assert container_name(glob) == "agent.n1.t2"
    assert container_spec(glob, "none")["network_mode"] == "none"


def test_a_task_with_a_healthcheck_runs_only_once_healthy_and_fails_when_unhealthy() -> None:
    """Swarm's semantics: STARTING until healthy, then RUNNING; an unhealthy container fails its task."""
    R = State.RUNNING

    def c(health: str) -> Observed:
        return Observed(container_id="c1", status="running", pid=7, started=True, health=health)

    assert step(R, State.STARTING, c("starting")) == NOTHING
    assert step(R, State.READY, c("starting")) == Step("none", Report(State.STARTING, "starting"))
    assert step(R, State.STARTING, c("healthy")) == Step("none", Report(R, "started"))
    assert step(R, State.STARTING, c("")) == Step("none", Report(R, "started"))  # no healthcheck
    failed = Step("none", Report(State.FAILED, "started", err="task: unhealthy container"))
    assert step(R, State.STARTING, c("unhealthy")) == failed
    assert step(R, R, c("unhealthy")) == failed  # also after it had been healthy
    assert step(State.SHUTDOWN, State.FAILED, c("unhealthy")) == Step("stop")  # retired: stopped


def test_health_of_counts_a_checked_container_as_starting_until_the_monitor_knows_it() -> None:
    from types import SimpleNamespace

    from agent.executor import health_of

    checked = SimpleNamespace(id="c1", config={"healthcheck": {"Test": ["CMD-SHELL", "true"]}})
    plain = SimpleNamespace(id="c2", config={})
    disabled = SimpleNamespace(id="c3", config={"healthcheck": {"Test": ["NONE"]}})
    known: dict[str, str | None] = {"c1": None}
    engine = SimpleNamespace(health=lambda cid: known.get(cid))
    assert health_of(engine, plain) == "" and health_of(engine, disabled) == ""
    assert health_of(engine, checked) == "starting"
    known["c1"] = "healthy"
    assert health_of(engine, checked) == "healthy"
