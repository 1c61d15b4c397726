"""Dispatcher parts against a MemoryStore: assignment sets, status batching, heartbeats."""

from __future__ import annotations

from orchestrator.dispatcher import HeartbeatMonitor, StatusBatcher, StatusReport
from orchestrator.dispatcher import assignments as asg
from orchestrator.model import (
    ContainerSpec,
    Mount,
    Node,
    NodeState,
    NodeStatus,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    new_id,
)
from orchestrator.store import MemoryStore
from proto.orch.v1 import dispatcher_pb2 as dpb


def make_task(node_id: str, state: TaskState = TaskState.ASSIGNED, **kw: object) -> Task:
    spec = TaskSpec(container=ContainerSpec(image="busybox", command=["sh", "-c"], args=["echo hi"],
                                            mounts=[Mount(type="volume", source="data", target="/data")],
                                            stop_grace_period=3.0))
    return Task(id=new_id(), service_id="svc", service_name="web", slot=1, node_id=node_id, spec=spec,
                spec_hash="h1", status=TaskStatus(state=state), **kw)  # type: ignore[arg-type]


def add_node(store: MemoryStore, state: NodeState = NodeState.READY) -> Node:
    node = Node(id=new_id(), hostname="n1", status=NodeStatus(state=state))
    store.update(lambda tx: tx.create(node))
    return node


# -- assignments ---------------------------------------------------------------------------------


def test_assignment_set_is_tasks_on_the_node_from_assigned_on() -> None:
    mine = make_task("n1")
    pending = make_task("n1", TaskState.PENDING)
    other = make_task("n2")
    done = make_task("n1", TaskState.FAILED, desired_state=TaskState.SHUTDOWN)
    got = asg.assignment_set([mine, pending, other, done], "n1")
    assert set(got) == {mine.id, done.id}


def test_container_spec_carries_the_service_spec() -> None:
    spec = asg.to_proto(make_task("n1")).container
    assert spec.image == "busybox" and list(spec.entrypoint) == ["sh", "-c"] and spec.entrypoint_set
    assert list(spec.cmd) == ["echo hi"] and spec.stop_timeout == 3
    assert spec.mounts[0].source == "data" and spec.mounts[0].target == "/data"


def test_increment_sends_only_what_the_agent_acts_on() -> None:
    a, b = make_task("n1"), make_task("n1")
    sent = {t.id: asg.agent_key(t) for t in (a, b)}
    running = a.evolve(status=TaskStatus(state=TaskState.RUNNING))  # the agent's own report
    assert asg.increment(sent, {a.id: running, b.id: b}, [a.id]) is None
    retired = a.evolve(desired_state=TaskState.SHUTDOWN)
    msg = asg.increment(sent, {a.id: retired}, [a.id, b.id])
    assert msg is not None and msg.kind == dpb.Assignments.INCREMENTAL
    assert [t.id for t in msg.tasks] == [a.id] and msg.tasks[0].desired_state == TaskState.SHUTDOWN
    assert list(msg.removed) == [b.id]
    assert asg.increment(sent, {a.id: retired}, [a.id, b.id]) is None  # idempotent


# -- status batching -----------------------------------------------------------------------------


def test_statuses_are_coalesced_checked_and_written_in_one_batch() -> None:
    store = MemoryStore(clock=lambda: 50.0)
    node = add_node(store)
    t1, t2, foreign = make_task(node.id), make_task(node.id), make_task("elsewhere")
    store.update(lambda tx: [tx.create(t) for t in (t1, t2, foreign)])
    batcher = StatusBatcher(store, clock=lambda: 1234.0)
    version = store.view().version
    batcher.put(node.id, [StatusReport(t1.id, TaskState.PREPARING), StatusReport(t2.id, TaskState.RUNNING, "started")])
    batcher.put(node.id, [StatusReport(t1.id, TaskState.RUNNING, "started", container_id="c1", pid=7)])
    batcher.put(node.id, [StatusReport(foreign.id, TaskState.RUNNING)])  # not this node's task: dropped
    assert batcher.flush() == 2
    view = store.view()
    assert view.version == version + 1  # one store write for the whole batch
    s1 = view.get("task", t1.id).status
    assert (s1.state, s1.container_id, s1.pid, s1.timestamp) == (TaskState.RUNNING, "c1", 7, 1234.0)
    assert view.get("task", foreign.id).status.state == TaskState.ASSIGNED


def test_backward_and_repeated_statuses_write_nothing() -> None:
    store = MemoryStore()
    node = add_node(store)
    t = make_task(node.id, TaskState.RUNNING)
    store.update(lambda tx: tx.create(t))
    batcher = StatusBatcher(store)
    version = store.view().version
    batcher.put(node.id, [StatusReport(t.id, TaskState.STARTING)])
    assert batcher.flush() == 0
    batcher.put(node.id, [StatusReport(t.id, TaskState.FAILED, err="task: non-zero exit (1)", exit_code=1)])
    assert batcher.flush() == 1
    batcher.put(node.id, [StatusReport(t.id, TaskState.FAILED, err="task: non-zero exit (1)", exit_code=1)])
    assert batcher.flush() == 0
    assert store.view().version == version + 1
    assert store.view().get("task", t.id).status.exit_code == 1


# -- heartbeats ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_silent_node_is_marked_down_after_its_grace() -> None:
    store = MemoryStore()
    talker, silent = add_node(store), add_node(store)
    mono = Clock()
    hb = HeartbeatMonitor(store, period=1.0, grace_multiplier=3.0, monotonic=mono)
    mono.now += 2.0
    hb.seen(talker.id)
    assert hb.check() == []  # within the grace given at start
    mono.now += 2.0
    assert hb.check() == [silent.id]
    view = store.view()
    assert view.get("node", silent.id).status.state == NodeState.DOWN
    assert view.get("node", talker.id).status.state == NodeState.READY
    assert hb.check() == []  # already down: no more writes


def test_only_the_leader_marks_nodes_down() -> None:
    store = MemoryStore()
    node = add_node(store)
    mono = Clock()
    hb = HeartbeatMonitor(store, period=1.0, is_leader=lambda: False, monotonic=mono)
    mono.now += 60
    assert hb.check() == []
    assert store.view().get("node", node.id).status.state == NodeState.READY
