"""Replicated orchestrator with scheduler and reaper on a MemoryStore (no Raft)."""

from __future__ import annotations

import random

from orchestrator.model import (
    ContainerSpec,
    NodeState,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    new_id,
)
from orchestrator.reconcile.loop import settle
from orchestrator.reconcile.replicated import reconcile_replicated
from orchestrator.reconcile.tasks import new_task

from .conftest import Harness


def test_create_five_replicas_gives_five_assigned_tasks(h: Harness) -> None:
    h.add_node("n1")
    h.add_node("n2")
    svc = h.create_service(replicas=5)
    tasks = h.tasks(svc.id)
    assert sorted(t.slot for t in tasks) == [1, 2, 3, 4, 5]
    assert all(t.desired_state == TaskState.RUNNING and t.status.state == TaskState.ASSIGNED for t in tasks)
    assert all(t.name == f"web.{t.slot}.{t.id}" for t in tasks)
    per_node = sorted(sum(1 for t in tasks if t.node_id == n.id) for n in h.store.view().all("node"))
    assert per_node == [2, 3]


def test_reconcile_is_idempotent(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=3)
    before = h.version()
    for loop in h.loops:
        loop.tick()
    settle(h.loops)
    assert h.version() == before
    assert len(h.tasks(svc.id)) == 3


def test_scale_up_to_ten_and_down_to_zero(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=5)
    h.agents_run()
    h.update_service(svc.id, replicas=10)
    assert sorted(t.slot for t in h.tasks(svc.id)) == list(range(1, 11))
    h.agents_run()
    h.update_service(svc.id, replicas=0)
    assert h.tasks(svc.id) == []
    retired = h.tasks(svc.id, runnable=False)
    assert len(retired) == 10 and all(t.desired_state == TaskState.REMOVE for t in retired)
    h.agents_run()  # agents stop them; only then does the reaper delete
    assert h.tasks(svc.id, runnable=None) == []


def test_scale_down_retires_highest_slots(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=5)
    h.update_service(svc.id, replicas=2)
    assert sorted(t.slot for t in h.tasks(svc.id)) == [1, 2]


def test_running_tasks_are_not_deleted_before_the_agent_stops_them(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2)
    h.agents_run()
    h.delete_service(svc.id)
    left = h.tasks(svc.id, runnable=None)
    assert len(left) == 2 and all(t.desired_state == TaskState.REMOVE for t in left)
    h.agents_run()
    assert h.tasks(svc.id, runnable=None) == []


def test_spec_change_replaces_dirty_tasks_in_their_slots(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=3)
    old = {t.id for t in h.tasks(svc.id)}
    cur = h.store.view().get("service", svc.id)
    h.update_service(svc.id, task=cur.spec.task.model_copy(update={"container": ContainerSpec(image="nginx")}))
    for _ in range(6):  # the updater rolls one slot at a time, each once the last one runs
        h.agents_run()
    new = h.tasks(svc.id)
    assert sorted(t.slot for t in new) == [1, 2, 3]
    assert not old & {t.id for t in new}
    assert all(t.spec.container.image == "nginx" for t in new)


def test_scaling_does_not_make_tasks_dirty(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2)
    old = {t.id for t in h.tasks(svc.id)}
    h.update_service(svc.id, replicas=3)
    assert old < {t.id for t in h.tasks(svc.id)}


def test_node_down_reschedules_its_replicated_tasks(h: Harness) -> None:
    n1 = h.add_node("n1")
    n2 = h.add_node("n2")
    svc = h.create_service(replicas=4)
    h.agents_run()
    on_n1 = [t for t in h.tasks(svc.id) if t.node_id == n1.id]
    assert on_n1
    from orchestrator.reconcile.nodes import mark_node_down

    mark_node_down(h.store, n1.id, h.now)
    h.settle()
    tasks = h.tasks(svc.id)
    assert sorted(t.slot for t in tasks) == [1, 2, 3, 4]
    assert all(t.node_id == n2.id for t in tasks)
    assert all(h.get(t.id).desired_state == TaskState.SHUTDOWN for t in on_n1)
    assert h.store.view().get("node", n1.id).status.state == NodeState.DOWN


# -- property-style checks of the pure decision ------------------------------------------------

SPEC = TaskSpec(container=ContainerSpec(image="busybox"))


def _random_tasks(rng: random.Random, service: Service) -> list[Task]:
    tasks = []
    for _ in range(rng.randint(0, 15)):
        t = new_task(service, 0.0, slot=rng.randint(0, 8))
        desired = rng.choice([TaskState.READY, TaskState.RUNNING, TaskState.SHUTDOWN, TaskState.REMOVE])
        state = rng.choice(list(TaskState))
        if rng.random() < 0.3:
            t = t.evolve(spec_hash="stale")
        tasks.append(t.evolve(desired_state=desired, status=TaskStatus(state=state), id=new_id()))
    return tasks


def test_property_slots_are_filled_exactly_and_every_task_lands_in_one_bucket() -> None:
    rng = random.Random(4)
    for _ in range(500):
        replicas = rng.randint(0, 6)
        service = Service(id="s", spec=ServiceSpec(name="p", task=SPEC, replicas=replicas))
        deleted = rng.random() < 0.1
        tasks = _random_tasks(rng, service)
        plan = reconcile_replicated(None if deleted else service, tasks, 0.0)
        seen = [t.id for t in plan.update + plan.noop]
        assert sorted(seen) == sorted(t.id for t in tasks), "each existing task in exactly one bucket"
        after = {t.id: t for t in tasks}
        after.update({t.id: t for t in plan.update})
        after.update({t.id: t for t in plan.create})
        runnable = [t for t in after.values() if t.runnable]
        if deleted:
            assert runnable == []
            continue
        assert sorted(t.slot for t in runnable) == list(range(1, replicas + 1)), "one runnable task per slot"
        assert reconcile_replicated(service, list(after.values()), 0.0).empty, "a second pass changes nothing"
