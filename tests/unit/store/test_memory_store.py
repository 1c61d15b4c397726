"""MemoryStore: views, indexes, optimistic concurrency, monotone tasks, batches, watches, snapshots."""

from __future__ import annotations

import pytest

from orchestrator.errors import AlreadyExists, InvalidArgument, NotFound, SequenceConflict
from orchestrator.model import (
    ContainerSpec,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    TaskState,
    TaskStatus,
    new_id,
)
from orchestrator.store import Change, Commit, MemoryStore, Reset, commands

SPEC = TaskSpec(container=ContainerSpec(image="busybox"))


def service(name: str = "web") -> Service:
    return Service(id=new_id(), spec=ServiceSpec(name=name, task=SPEC))


def task(service_id: str, slot: int, node_id: str = "") -> Task:
    return Task(id=new_id(), service_id=service_id, slot=slot, node_id=node_id, spec=SPEC)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(clock=lambda: 1000.0)


def test_create_stamps_meta_and_find_uses_indexes(store: MemoryStore) -> None:
    svc = service()
    store.update(lambda tx: tx.create(svc))
    t1, t2 = task(svc.id, 1, "n1"), task(svc.id, 2, "n2")
    store.update(lambda tx: [tx.create(t1), tx.create(t2)])
    view = store.view()
    stored = view.get("service", svc.id)
    assert stored.meta.version == 1 and stored.meta.created_at == 1000.0
    assert view.get("task", t1.id).meta.version == 2
    assert [t.id for t in view.find("task", service_id=svc.id, slot=2)] == [t2.id]
    assert [t.id for t in view.find("task", node_id="n1")] == [t1.id]
    assert len(view.find("task", state=TaskState.NEW)) == 2
    assert [t.id for t in view.find("task", service_id=svc.id, node_id="n2", slot=2)] == [t2.id]
    assert view.find("service", name="web")[0].id == svc.id


def test_views_are_consistent_snapshots(store: MemoryStore) -> None:
    svc = service()
    before = store.view()
    store.update(lambda tx: tx.create(svc))
    assert before.get("service", svc.id) is None
    assert store.view().get("service", svc.id) is not None


def test_stale_update_fails_with_sequence_conflict(store: MemoryStore) -> None:
    svc = service()
    store.update(lambda tx: tx.create(svc))
    read = store.view().get("service", svc.id)
    store.update(lambda tx: tx.update(read.evolve(labels={"a": "1"})))
    with pytest.raises(SequenceConflict) as err:
        store.update(lambda tx: tx.update(read.evolve(labels={"b": "2"})))
    assert "re-read" in str(err.value) and "\n" not in str(err.value)
    assert store.view().get("service", svc.id).labels == {"a": "1"}


def test_update_sends_only_changed_fields(store: MemoryStore) -> None:
    svc = service()
    store.update(lambda tx: tx.create(svc))
    t = task(svc.id, 1)
    store.update(lambda tx: tx.create(t))
    seen: list[dict] = []
    original = store.apply_command

    def spy(cmd: dict) -> object:
        seen.append(cmd)
        return original(cmd)

    store.apply_command = spy  # type: ignore[method-assign]
    cur = store.view().get("task", t.id)
    store.update(lambda tx: tx.update(cur.evolve(node_id="n1")))
    (op,) = seen[0]["groups"][0]
    assert op["op"] == "update" and op["set"] == {"node_id": "n1"}


def test_backward_task_moves_are_dropped(store: MemoryStore) -> None:
    svc = service()
    t = task(svc.id, 1)
    store.update(lambda tx: tx.create(t))
    cur = store.view().get("task", t.id)
    store.update(lambda tx: tx.update(cur.evolve(status=TaskStatus(state=TaskState.RUNNING), desired_state=TaskState.SHUTDOWN)))
    cur = store.view().get("task", t.id)
    store.update(
        lambda tx: tx.update(cur.evolve(status=TaskStatus(state=TaskState.PENDING), desired_state=TaskState.RUNNING, node_id="n9"))
    )
    after = store.view().get("task", t.id)
    assert after.status.state == TaskState.RUNNING
    assert after.desired_state == TaskState.SHUTDOWN
    assert after.node_id == "n9"  # the rest of the write still applies


def test_unique_names_and_missing_objects(store: MemoryStore) -> None:
    store.update(lambda tx: tx.create(service("web")))
    with pytest.raises(AlreadyExists, match="service 'web' already exists"):
        store.update(lambda tx: tx.create(service("web")))
    with pytest.raises(NotFound):
        store.update(lambda tx: tx.delete("service", "nope"))


def test_delete_then_recreate_name(store: MemoryStore) -> None:
    svc = service("web")
    store.update(lambda tx: tx.create(svc))
    cur = store.view().get("service", svc.id)
    store.update(lambda tx: tx.delete("service", svc.id, version=cur.meta.version))
    store.update(lambda tx: tx.create(service("web")))
    assert len(store.view().find("service", name="web")) == 1


def test_tx_reads_its_own_writes(store: MemoryStore) -> None:
    svc = service()

    def fn(tx):  # type: ignore[no-untyped-def]
        tx.create(svc)
        tx.create(task(svc.id, 1))
        assert tx.get("service", svc.id) is svc
        assert len(tx.find("task", service_id=svc.id)) == 1

    store.update(fn)
    assert store.view().count("task") == 1


def test_transactions_are_capped(store: MemoryStore) -> None:
    with pytest.raises(InvalidArgument, match="use a batch"):
        store.update(lambda tx: [tx.create(task("s", i)) for i in range(201)])


def test_batch_commits_in_chunks_and_isolates_failing_groups(store: MemoryStore) -> None:
    svc = service()
    store.update(lambda tx: tx.create(svc))
    stale = store.view().get("service", svc.id)
    store.update(lambda tx: tx.update(stale.evolve(labels={"x": "y"})))
    start = store.view().version
    with store.batch(cap=100) as batch:
        for i in range(250):
            batch.update(lambda tx, i=i: tx.create(task(svc.id, i + 1)))
        batch.update(lambda tx: tx.update(stale.evolve(labels={"lost": "race"})))
    assert store.view().count("task") == 250
    assert store.view().version == start + 3  # 100 + 100 + 51 groups
    assert batch.committed == 250 and len(batch.errors) == 1
    assert isinstance(batch.errors[0], SequenceConflict)


def test_group_is_all_or_nothing(store: MemoryStore) -> None:
    store.update(lambda tx: tx.create(service("web")))
    dup = service("web")
    t = task(dup.id, 1)
    with pytest.raises(AlreadyExists):
        store.update(lambda tx: [tx.create(t), tx.create(dup)])
    assert store.view().get("task", t.id) is None


def test_watch_gets_changes_then_commit(store: MemoryStore) -> None:
    view, watch = store.view_and_watch(kinds=("task",))
    assert view.version == 0
    svc = service()
    t = task(svc.id, 1)
    store.update(lambda tx: [tx.create(svc), tx.create(t)])
    first, second = watch.get_nowait(), watch.get_nowait()
    assert isinstance(first, Change) and first.action == "create" and first.new.id == t.id
    assert second == Commit(1)
    assert watch.get_nowait() is None
    watch.close()
    store.update(lambda tx: tx.create(task(svc.id, 2)))
    assert watch.get_nowait() is None  # only the close sentinel was queued


def test_duplicate_command_ids_apply_once(store: MemoryStore) -> None:
    obj = task("s", 1).model_dump(mode="json")
    cmd = {"v": 1, "id": "abc", "ts": 1.0, "groups": [[{"op": "create", "kind": "task", "obj": obj}]]}
    first = store.apply_command(dict(cmd))
    second = store.apply_command(dict(cmd))
    assert not first.failed and not second.failed
    assert store.view().count("task") == 1 and store.view().version == 1


def test_dump_restore_roundtrip_publishes_reset(store: MemoryStore) -> None:
    svc = service()
    store.update(lambda tx: [tx.create(svc), tx.create(task(svc.id, 1))])
    other = MemoryStore()
    watch = other.watch()
    other.restore(store.dump())
    assert other.view().version == store.view().version
    assert other.view().find("task", service_id=svc.id)[0].spec == SPEC
    assert isinstance(watch.get_nowait(), Reset)


def test_command_encoding_is_versioned_json() -> None:
    raw = commands.encode({"v": 1, "id": "x", "ts": 0, "groups": []})
    assert commands.decode(raw)["v"] == 1
    with pytest.raises(InvalidArgument, match="unsupported store command version"):
        commands.decode(b'{"v": 99}')
