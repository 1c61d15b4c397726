"""Global orchestrator follows node joins, drains, pauses, removals and constraints."""

from __future__ import annotations

from orchestrator.model import Availability, NodeRole, Placement, TaskState

from .conftest import Harness


def test_one_task_per_ready_node_and_follows_joins(h: Harness) -> None:
    n1 = h.add_node("n1")
    svc = h.create_service("agent", mode="global")
    assert [t.node_id for t in h.tasks(svc.id)] == [n1.id]
    n2 = h.add_node("n2")
    tasks = h.tasks(svc.id)
    assert sorted(t.node_id for t in tasks) == sorted([n1.id, n2.id])
    assert all(t.status.state == TaskState.ASSIGNED and t.slot == 0 for t in tasks)


def test_drain_shuts_tasks_down_and_active_brings_a_new_one(h: Harness) -> None:
    n1 = h.add_node("n1")
    h.add_node("n2")
    svc = h.create_service("agent", mode="global")
    h.agents_run()
    h.update_node(n1.id, availability=Availability.DRAIN)
    assert [t.node_id for t in h.tasks(svc.id)] != [] and n1.id not in {t.node_id for t in h.tasks(svc.id)}
    retired = [t for t in h.tasks(svc.id, runnable=False) if t.node_id == n1.id]
    assert retired and retired[0].desired_state == TaskState.SHUTDOWN
    h.update_node(n1.id, availability=Availability.ACTIVE)
    assert n1.id in {t.node_id for t in h.tasks(svc.id)}


def test_pause_keeps_existing_but_places_nothing_new(h: Harness) -> None:
    n1 = h.add_node("n1", availability=Availability.PAUSE)
    svc = h.create_service("agent", mode="global")
    assert h.tasks(svc.id) == []
    h.update_node(n1.id, availability=Availability.ACTIVE)
    assert len(h.tasks(svc.id)) == 1
    h.update_node(n1.id, availability=Availability.PAUSE)
    assert len(h.tasks(svc.id)) == 1


def test_node_removal_retires_its_task(h: Harness) -> None:
    h.add_node("n1")
    n2 = h.add_node("n2")
    svc = h.create_service("agent", mode="global")
    h.remove_node(n2.id)
    assert [t.node_id for t in h.tasks(svc.id) if t.node_id == n2.id] == []
    # the task on a removed node can never be reported stopped; the reaper deletes it
    assert all(t.node_id != n2.id for t in h.tasks(svc.id, runnable=None))


def test_constraints_select_nodes(h: Harness) -> None:
    h.add_node("m1", role=NodeRole.MANAGER)
    w1 = h.add_node("w1")
    svc = h.create_service("agent", mode="global", placement=Placement(constraints=["node.role==worker"]))
    assert [t.node_id for t in h.tasks(svc.id)] == [w1.id]
    h.update_node(w1.id, role=NodeRole.MANAGER)
    assert h.tasks(svc.id) == []
