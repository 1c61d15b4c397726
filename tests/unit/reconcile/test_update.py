"""The updater on a MemoryStore with the other leader loops: batches, delay, order, failures."""

from __future__ import annotations

from typing import Any

from orchestrator.model import ContainerSpec, RestartPolicy, Service, TaskState, TaskStatus, UpdateConfig
from orchestrator.reconcile.replicated import reconcile_replicated
from orchestrator.reconcile.tasks import new_task
from orchestrator.reconcile.update import plan_update

from .conftest import Harness


def _roll(h: Harness, service_id: str, image: str = "nginx", **update: Any) -> None:
    """What ControlAPI UpdateService writes: a new spec, the old one kept, the update status cleared."""
    cur = h.store.view().get("service", service_id)
    task = cur.spec.task.model_copy(update={"container": ContainerSpec(image=image)})
    spec = cur.spec.model_copy(update={"task": task, "update_config": UpdateConfig(**update)})
    h.store.update(lambda tx: tx.update(cur.evolve(spec=spec, previous_spec=cur.spec, update_status=None)))
    h.settle()


def _images(h: Harness, service_id: str) -> list[str]:
    return sorted(t.spec.container.image for t in h.tasks(service_id))


def _running(h: Harness, service_id: str) -> int:
    return sum(1 for t in h.tasks(service_id) if t.status.state == TaskState.RUNNING)


def _status(h: Harness, service_id: str) -> tuple[str, str]:
    st = h.store.view().get("service", service_id).update_status
    return (st.state, st.message) if st is not None else ("", "")


def _started(h: Harness, svc_id: str) -> None:
    h.agents_run()
    assert _running(h, svc_id) == len(h.tasks(svc_id))


def _converge(h: Harness, rounds: int = 12) -> None:
    """Agents act (stop retired tasks, start promoted ones) until nothing changes."""
    for _ in range(rounds):
        before = h.version()
        h.agents_run()
        if h.version() == before:
            return


def test_parallelism_one_replaces_one_slot_at_a_time_and_completes(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=3)
    _started(h, svc.id)
    _roll(h, svc.id, parallelism=1)
    assert _status(h, svc.id) == ("updating", "update in progress")
    seen = []
    for _ in range(12):
        if _images(h, svc.id) not in seen:
            seen.append(_images(h, svc.id))
        assert len(h.tasks(svc.id)) == 3
        assert sum(1 for t in h.tasks(svc.id) if t.spec.container.image == "nginx"
                   and t.status.state < TaskState.RUNNING) <= 1
        h.agents_run()
        assert _running(h, svc.id) >= 2
    assert seen == [["busybox", "busybox", "nginx"], ["busybox", "nginx", "nginx"], ["nginx"] * 3]
    assert _status(h, svc.id) == ("completed", "update completed")
    assert _running(h, svc.id) == 3


def test_parallelism_zero_replaces_everything_at_once(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=4)
    _started(h, svc.id)
    _roll(h, svc.id, parallelism=0)
    assert _images(h, svc.id) == ["nginx"] * 4
    _converge(h)
    assert _status(h, svc.id)[0] == "completed"


def test_delay_separates_batches(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2)
    _started(h, svc.id)
    _roll(h, svc.id, parallelism=1, delay=10.0)
    assert _images(h, svc.id) == ["busybox", "nginx"]
    _converge(h)  # the first batch is done; the second waits 10 s
    assert _images(h, svc.id) == ["busybox", "nginx"]
    h.advance(5)
    assert _images(h, svc.id) == ["busybox", "nginx"]
    h.advance(5)
    assert _images(h, svc.id) == ["nginx", "nginx"]


def test_start_first_keeps_the_old_task_until_the_new_one_runs(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=1)
    _started(h, svc.id)
    old = h.tasks(svc.id)[0]
    _roll(h, svc.id, order="start-first")
    both = h.tasks(svc.id)
    assert len(both) == 2 and {t.slot for t in both} == {1}
    assert h.get(old.id).desired_state == TaskState.RUNNING
    new = next(t for t in both if t.id != old.id)
    h.report(new.id, TaskState.RUNNING)
    assert h.get(old.id).desired_state == TaskState.SHUTDOWN
    assert [t.id for t in h.tasks(svc.id)] == [new.id]
    assert _status(h, svc.id)[0] == "completed"


def test_stop_first_retires_the_old_task_with_its_replacement(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=1)
    _started(h, svc.id)
    old = h.tasks(svc.id)[0]
    _roll(h, svc.id)
    assert h.get(old.id).desired_state == TaskState.SHUTDOWN
    [new] = h.tasks(svc.id)
    assert new.desired_state == TaskState.READY, "held until the old task stopped"
    h.agents_run()  # stops the old task; only then is the new one let go
    assert h.get(new.id).desired_state == TaskState.RUNNING
    h.agents_run()
    assert _running(h, svc.id) == 1 and _status(h, svc.id)[0] == "completed"


def test_a_failing_new_task_pauses_the_update(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=3, restart=RestartPolicy(condition="none"))
    _started(h, svc.id)
    _roll(h, svc.id, image="broken", parallelism=1)
    new = next(t for t in h.tasks(svc.id) if t.spec.container.image == "broken")
    h.report(new.id, TaskState.FAILED, exit_code=1)
    state, message = _status(h, svc.id)
    assert state == "paused" and message == f"update paused due to failure or early termination of task {new.id}"
    h.agents_run()
    h.advance(60)
    assert _images(h, svc.id) == ["broken", "busybox", "busybox"]


def test_continue_goes_on_after_a_failure(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2, restart=RestartPolicy(condition="none"))
    _started(h, svc.id)
    _roll(h, svc.id, image="broken", parallelism=1, failure_action="continue")
    first = next(t for t in h.tasks(svc.id) if t.spec.container.image == "broken")
    h.report(first.id, TaskState.FAILED, exit_code=1)
    _converge(h)
    assert _images(h, svc.id) == ["broken", "broken"]
    assert _status(h, svc.id)[0] == "completed"


def test_rollback_returns_to_the_previous_spec(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2, restart=RestartPolicy(condition="none"))
    _started(h, svc.id)
    _roll(h, svc.id, image="broken", parallelism=1, failure_action="rollback")
    first = next(t for t in h.tasks(svc.id) if t.spec.container.image == "broken")
    h.report(first.id, TaskState.FAILED, exit_code=1)
    cur = h.store.view().get("service", svc.id)
    assert cur.spec.task.container.image == "busybox" and cur.previous_spec is None
    assert _status(h, svc.id)[0] == "rollback_started"
    _converge(h)
    assert _images(h, svc.id) == ["busybox", "busybox"]
    assert _status(h, svc.id) == ("rollback_completed", "rollback completed")


def test_scaling_during_and_after_an_update_restarts_nothing(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2)
    _started(h, svc.id)
    before = {t.id for t in h.tasks(svc.id)}
    h.update_service(svc.id, replicas=4)
    h.agents_run()
    assert before < {t.id for t in h.tasks(svc.id)}
    assert _status(h, svc.id) == ("", "")


def test_force_update_replaces_tasks_without_other_changes(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2)
    _started(h, svc.id)
    before = {t.id for t in h.tasks(svc.id)}
    cur = h.store.view().get("service", svc.id)
    h.update_service(svc.id, task=cur.spec.task.model_copy(update={"force_update": 1}),
                     update_config=UpdateConfig(parallelism=0))
    _converge(h)
    assert not before & {t.id for t in h.tasks(svc.id)}


def test_global_service_rolls_node_by_node(h: Harness) -> None:
    n1 = h.add_node("n1")
    n2 = h.add_node("n2")
    svc = h.create_service(mode="global", replicas=0)
    _started(h, svc.id)
    _roll(h, svc.id, parallelism=1)
    tasks = h.tasks(svc.id)
    assert sorted(t.spec.container.image for t in tasks) == ["busybox", "nginx"]
    _converge(h)
    tasks = h.tasks(svc.id)
    assert [t.spec.container.image for t in tasks] == ["nginx", "nginx"]
    assert {t.node_id for t in tasks} == {n1.id, n2.id}


def test_orchestrator_leaves_dirty_tasks_to_the_updater() -> None:
    svc = Service(id="s", spec={"name": "web", "replicas": 2, "task": {"container": {"image": "a"}}})
    tasks = [new_task(svc, 0.0, slot=s).evolve(spec_hash="stale") for s in (1, 2)]
    plan = reconcile_replicated(svc, tasks, 0.0)
    assert plan.empty and len(plan.noop) == 2


def test_plan_update_is_idempotent_while_a_batch_is_in_flight() -> None:
    svc = Service(id="s", spec={"name": "web", "replicas": 2, "task": {"container": {"image": "a"}}})
    up = TaskStatus(state=TaskState.RUNNING)
    tasks = [new_task(svc, 0.0, slot=s).evolve(spec_hash="stale", node_id="n1", status=up) for s in (1, 2)]
    step = plan_update(svc, tasks, 1.0)
    assert len(step.plan.create) == 1 and step.status is not None and step.status.state == "updating"
    created = step.plan.create[0]
    assert created.desired_state == TaskState.READY
    after = [t for t in tasks if t.slot != created.slot] + step.plan.update + [created]
    again = plan_update(svc.evolve(update_status=step.status), after, 2.0, step.progress)
    assert again.plan.empty and again.status is None


def test_a_held_replacement_starts_once_its_predecessor_stopped() -> None:
    svc = Service(id="s", spec={"name": "web", "replicas": 1, "task": {"container": {"image": "a"}}})
    old = new_task(svc, 0.0, slot=1).evolve(spec_hash="stale", node_id="n1", desired_state=TaskState.SHUTDOWN,
                                            status=TaskStatus(state=TaskState.RUNNING))
    new = new_task(svc, 0.0, slot=1, desired_state=TaskState.READY)
    assert plan_update(svc, [old, new], 1.0).plan.update == []
    stopped = old.evolve(status=TaskStatus(state=TaskState.SHUTDOWN))
    [promoted] = plan_update(svc, [stopped, new], 1.0).plan.update
    assert promoted.id == new.id and promoted.desired_state == TaskState.RUNNING
    [promoted] = plan_update(svc, [old, new], 1.0, lost_nodes=frozenset({"n1"})).plan.update
    assert promoted.id == new.id
