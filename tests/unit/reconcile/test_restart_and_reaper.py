"""Restart supervisor (condition, delay, max attempts, window) and task reaper (history per slot)."""

from __future__ import annotations

from orchestrator.model import Cluster, ClusterSettings, RestartPolicy, TaskState

from .conftest import Harness


def _only(h: Harness, service_id: str):  # type: ignore[no-untyped-def]
    (task,) = h.tasks(service_id)
    return task


def test_failed_task_gets_a_new_task_in_its_slot_after_the_delay(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(restart=RestartPolicy(condition="on-failure", delay=5))
    h.agents_run()
    first = _only(h, svc.id)
    h.report(first.id, TaskState.FAILED, exit_code=1)
    second = _only(h, svc.id)
    assert second.id != first.id and second.slot == first.slot
    assert second.desired_state == TaskState.READY and second.start_after == h.now + 5
    assert h.get(first.id).desired_state == TaskState.SHUTDOWN
    h.advance(4)
    assert _only(h, svc.id).desired_state == TaskState.READY
    h.advance(1.5)
    assert _only(h, svc.id).desired_state == TaskState.RUNNING


def test_on_failure_gives_up_after_max_attempts(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(restart=RestartPolicy(condition="on-failure", delay=0, max_attempts=2))
    for _ in range(2):
        h.agents_run()
        h.report(_only(h, svc.id).id, TaskState.FAILED, exit_code=1)
    h.agents_run()
    last = _only(h, svc.id)
    assert last.restart_history and len(last.restart_history) == 2
    h.report(last.id, TaskState.FAILED, exit_code=1)
    dead = _only(h, svc.id)
    assert dead.id == last.id and dead.status.state == TaskState.FAILED  # slot stays dead
    assert len(h.tasks(svc.id, runnable=None)) == 3


def test_window_forgives_old_failures(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(restart=RestartPolicy(condition="any", delay=0, max_attempts=1, window=60))
    h.agents_run()
    h.report(_only(h, svc.id).id, TaskState.FAILED, exit_code=1)
    h.agents_run()
    h.advance(61)
    h.report(_only(h, svc.id).id, TaskState.FAILED, exit_code=1)
    assert _only(h, svc.id).status.state < TaskState.RUNNING  # replaced again


def test_clean_exit_is_not_restarted_on_failure_but_is_with_any(h: Harness) -> None:
    h.add_node("n1")
    on_failure = h.create_service("a", restart=RestartPolicy(condition="on-failure", delay=0))
    always = h.create_service("b", restart=RestartPolicy(condition="any", delay=0))
    never = h.create_service("c", restart=RestartPolicy(condition="none", delay=0))
    h.agents_run()
    firsts = {s.id: _only(h, s.id).id for s in (on_failure, always, never)}
    for task_id in firsts.values():
        h.report(task_id, TaskState.COMPLETE, exit_code=0)
    assert _only(h, on_failure.id).id == firsts[on_failure.id]
    assert _only(h, always.id).id != firsts[always.id]
    assert _only(h, never.id).id == firsts[never.id]


def test_dead_slot_is_not_refilled_by_the_orchestrator_until_scaled(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=1, restart=RestartPolicy(condition="none"))
    h.agents_run()
    h.report(_only(h, svc.id).id, TaskState.FAILED, exit_code=3)
    assert len(h.tasks(svc.id, runnable=None)) == 1


def test_reaper_keeps_five_tasks_per_slot(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2, restart=RestartPolicy(condition="any", delay=0))
    for _ in range(8):
        h.agents_run()
        for t in h.tasks(svc.id):
            h.report(t.id, TaskState.FAILED, exit_code=1)
    h.agents_run()
    for slot in (1, 2):
        in_slot = [t for t in h.tasks(svc.id, runnable=None) if t.slot == slot]
        assert len(in_slot) == 5
        assert sum(t.runnable for t in in_slot) == 1


def test_reaper_follows_the_cluster_history_limit(h: Harness) -> None:
    h.store.update(lambda tx: tx.create(Cluster(id="default", settings=ClusterSettings(task_history_limit=2))))
    h.add_node("n1")
    svc = h.create_service(restart=RestartPolicy(condition="any", delay=0))
    for _ in range(4):
        h.agents_run()
        h.report(_only(h, svc.id).id, TaskState.FAILED, exit_code=1)
    assert len(h.tasks(svc.id, runnable=None)) == 2


def test_reaper_never_deletes_a_task_that_may_still_run(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=3)
    h.agents_run()
    h.update_service(svc.id, replicas=0)
    assert len(h.tasks(svc.id, runnable=None)) == 3  # retired, still RUNNING on the agent


def test_removing_a_service_deletes_its_history_once_stopped(h: Harness) -> None:
    h.add_node("n1")
    svc = h.create_service(replicas=2, restart=RestartPolicy(condition="any", delay=0))
    h.agents_run()
    h.report(h.tasks(svc.id)[0].id, TaskState.FAILED, exit_code=137)  # one task of history
    h.agents_run()
    assert len(h.tasks(svc.id, runnable=None)) == 3
    h.delete_service(svc.id)
    h.agents_run()  # the agent stops what runs and reports SHUTDOWN
    for t in h.tasks(svc.id, runnable=None):
        h.report(t.id, TaskState.SHUTDOWN)
    h.settle()
    assert h.tasks(svc.id, runnable=None) == []
