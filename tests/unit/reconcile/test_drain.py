"""A drained node's replicated tasks get new tasks elsewhere (the restart supervisor treats them as lost)."""

from __future__ import annotations

from orchestrator.model import Availability, Node, NodeState, NodeStatus, Service, ServiceSpec, TaskState
from orchestrator.reconcile.restart import node_lost, supervise
from orchestrator.reconcile.tasks import new_task


def test_drained_node_loses_its_replicated_tasks() -> None:
    svc = Service(id="s1", spec=ServiceSpec(name="web", replicas=1, task={"container": {"image": "busybox"}}))
    task = new_task(svc, 1.0, slot=1).evolve(node_id="n1")
    task = task.evolve(status=task.status.model_copy(update={"state": TaskState.RUNNING}))
    ready = Node(id="n1", status=NodeStatus(state=NodeState.READY))
    drained = ready.evolve(availability=Availability.DRAIN)
    assert not node_lost(task, ready)
    assert node_lost(task, drained)
    plan = supervise(task, svc, drained, 2.0)
    assert [t.desired_state for t in plan.update] == [TaskState.SHUTDOWN]
    assert [(t.slot, t.node_id) for t in plan.create] == [(1, "")]


def test_drain_moves_tasks_whatever_their_restart_policy() -> None:
    """Restart policies say what happens when a task ends; a drained node's task did not end."""
    for condition in ("none", "on-failure"):
        svc = Service(id="s1", spec=ServiceSpec(name="job", replicas=1, task={
            "container": {"image": "busybox"}, "restart_policy": {"condition": condition, "max_attempts": 1}}))
        task = new_task(svc, 1.0, slot=1).evolve(node_id="n1", restart_history=[1.5])
        task = task.evolve(status=task.status.model_copy(update={"state": TaskState.RUNNING}))
        drained = Node(id="n1", status=NodeStatus(state=NodeState.READY), availability=Availability.DRAIN)
        plan = supervise(task, svc, drained, 2.0)
        assert [t.desired_state for t in plan.update] == [TaskState.SHUTDOWN], condition
        assert [t.slot for t in plan.create] == [1], condition
        # ... but a task that ended by itself under "none" keeps its slot empty, drained or not
        ended = task.evolve(status=task.status.model_copy(update={"state": TaskState.COMPLETE}))
        if condition == "none":
            assert not supervise(ended, svc, drained, 2.0).create
