"""Scheduler: filters, ranking, explanations, batching (pure ``schedule`` and the loop)."""

from __future__ import annotations

from collections import Counter

import pytest

from orchestrator.errors import InvalidArgument
from orchestrator.model import (
    Availability,
    ContainerSpec,
    EndpointSpec,
    Node,
    NodeRole,
    NodeState,
    NodeStatus,
    Placement,
    PlacementPreference,
    PortConfig,
    ResourceRequirements,
    Resources,
    Service,
    ServiceSpec,
    TaskSpec,
    TaskState,
    new_id,
)
from orchestrator.reconcile.tasks import new_task
from orchestrator.scheduler import Scheduler, parse_constraints, schedule
from orchestrator.store import MemoryStore

GIB = 1 << 30


def node(hostname: str, *, state: NodeState = NodeState.READY, memory: int = 4 * GIB, **kw: object) -> Node:
    return Node(
        id=f"id-{hostname}",
        hostname=hostname,
        status=NodeStatus(state=state),
        resources=Resources(nano_cpus=2_000_000_000, memory_bytes=memory),
        **kw,  # type: ignore[arg-type]
    )


def service(name: str = "web", **task: object) -> Service:
    spec = TaskSpec(container=ContainerSpec(image="busybox"), **task)  # type: ignore[arg-type]
    return Service(id=new_id(), spec=ServiceSpec(name=name, task=spec))


def setup(nodes: list[Node], svc: Service, count: int) -> MemoryStore:
    store = MemoryStore(clock=lambda: 50.0)
    tasks = [new_task(svc, 1.0 + i, slot=i + 1) for i in range(count)]
    with store.batch() as b:
        for obj in [*nodes, svc, *tasks]:
            b.update(lambda tx, o=obj: tx.create(o))
    return store


def placements(store: MemoryStore) -> Counter[str]:
    decisions = schedule(store.view())
    return Counter(store.view().get("node", n).hostname for n in decisions.assigned.values())


def test_spreads_over_nodes_by_fewest_tasks() -> None:
    store = setup([node("a"), node("b"), node("c")], service(), 7)
    assert sorted(placements(store).values()) == [2, 2, 3]


def test_unavailable_nodes_are_skipped_and_explained() -> None:
    nodes = [node("a"), node("b", state=NodeState.DOWN), node("c", availability=Availability.DRAIN)]
    store = setup(nodes, service(), 2)
    assert placements(store) == Counter({"a": 2})
    store = setup(nodes[1:], service(), 1)
    (reason,) = schedule(store.view()).unplaceable.values()
    assert reason == "no suitable node (2 nodes not available for new tasks)"


def test_constraints() -> None:
    nodes = [node("a", labels={"zone": "east"}), node("b", labels={"zone": "west"}), node("m", role=NodeRole.MANAGER)]
    assert placements(setup(nodes, service(placement=Placement(constraints=["node.labels.zone==EAST"])), 3)) == Counter({"a": 3})
    only_workers = service(placement=Placement(constraints=["node.role!=manager", "node.labels.zone!=west"]))
    assert placements(setup(nodes, only_workers, 2)) == Counter({"a": 2})
    by_host = service(placement=Placement(constraints=["node.hostname==nowhere"]))
    (reason,) = schedule(setup(nodes, by_host, 1).view()).unplaceable.values()
    assert reason == "no suitable node (3 nodes do not satisfy the placement constraints)"


@pytest.mark.parametrize(
    "expr", ["zone=east", "node.labels==x", "node.color==red", "node.labels.zone=~east", "==east", "node.id=="]
)
def test_bad_constraint_syntax_is_invalid_argument(expr: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_constraints([expr])
    assert expr in str(err.value) and "\n" not in str(err.value)


def test_valid_constraints_parse() -> None:
    parsed = parse_constraints(["node.labels.zone == east", "engine.labels.ssd!=true", "node.platform.os==linux"])
    assert [str(c) for c in parsed] == ["node.labels.zone==east", "engine.labels.ssd!=true", "node.platform.os==linux"]


def test_memory_reservations_and_the_pending_reason() -> None:
    nodes = [node("a", memory=3 * GIB), node("b", memory=1 * GIB), node("c", state=NodeState.DOWN), node("d", state=NodeState.DOWN)]
    svc = service(resources=ResourceRequirements(reservations=Resources(memory_bytes=2 * GIB)))
    store = setup(nodes, svc, 2)
    decisions = schedule(store.view())
    assert list(decisions.assigned.values()) == ["id-a"]
    (reason,) = decisions.unplaceable.values()
    assert reason == "no suitable node (2 nodes not available for new tasks; 2 nodes have insufficient memory)"


def test_cpu_reservations_count_running_tasks() -> None:
    svc = service(resources=ResourceRequirements(reservations=Resources(nano_cpus=1_500_000_000)))
    store = setup([node("a")], svc, 2)
    decisions = schedule(store.view())
    assert len(decisions.assigned) == 1
    assert list(decisions.unplaceable.values()) == ["no suitable node (1 node has insufficient cpu)"]


def test_max_replicas_per_node() -> None:
    svc = service(placement=Placement(max_replicas_per_node=1))
    decisions = schedule(setup([node("a"), node("b")], svc, 3).view())
    assert sorted(decisions.assigned.values()) == ["id-a", "id-b"]
    assert list(decisions.unplaceable.values()) == [
        "no suitable node (2 nodes already run the maximum of 1 replicas per node)"
    ]


def test_host_mode_ports_conflict() -> None:
    ports = EndpointSpec(ports=[PortConfig(target_port=80, published_port=8080, publish_mode="host")])
    decisions = schedule(setup([node("a"), node("b")], service(endpoint=ports), 3).view())
    assert len(set(decisions.assigned.values())) == 2
    assert list(decisions.unplaceable.values()) == ["no suitable node (2 nodes have a host-mode port already in use)"]


def test_spread_preference_balances_zones_before_nodes() -> None:
    nodes = [
        node("e1", labels={"zone": "east"}),
        node("e2", labels={"zone": "east"}),
        node("e3", labels={"zone": "east"}),
        node("w1", labels={"zone": "west"}),
    ]
    svc = service(placement=Placement(preferences=[PlacementPreference(spread="node.labels.zone")]))
    counts = placements(setup(nodes, svc, 6))
    assert counts["w1"] == 3
    assert sorted([counts["e1"], counts["e2"], counts["e3"]]) == [1, 1, 1]


def test_global_tasks_are_checked_on_their_own_node() -> None:
    svc = service(resources=ResourceRequirements(reservations=Resources(memory_bytes=8 * GIB)))
    store = MemoryStore()
    a = node("a")
    task = new_task(svc, 0.0, node_id=a.id)
    store.update(lambda tx: [tx.create(a), tx.create(svc), tx.create(task)])
    decisions = schedule(store.view())
    assert decisions.unplaceable == {task.id: "no suitable node (1 node has insufficient memory)"}


def test_no_nodes_at_all() -> None:
    decisions = schedule(setup([], service(), 1).view())
    assert list(decisions.unplaceable.values()) == ["no suitable node (no nodes in the cluster)"]


def test_loop_assigns_in_one_batch_and_does_not_rewrite_unchanged_reasons() -> None:
    svc = service(resources=ResourceRequirements(reservations=Resources(memory_bytes=3 * GIB)))
    store = setup([node("a"), node("b")], svc, 3)
    loop = Scheduler(store, clock=lambda: 60.0)
    loop.attach()
    before = store.view().version
    loop.tick()
    assert store.view().version == before + 1  # one batch for the whole pass
    tasks = store.view().all("task")
    assert sum(t.status.state == TaskState.ASSIGNED for t in tasks) == 2
    (pending,) = [t for t in tasks if t.status.state == TaskState.PENDING]
    assert pending.status.err == "no suitable node (2 nodes have insufficient memory)"
    loop.pump()
    loop.tick()
    assert store.view().version == before + 1
    # freeing memory (a task stops) lets the pending task in
    running = next(t for t in tasks if t.status.state == TaskState.ASSIGNED)
    store.update(lambda tx: tx.update(running.evolve(desired_state=TaskState.SHUTDOWN)))
    loop.pump()
    assert store.view().get("task", pending.id).node_id == running.node_id


def test_a_pass_whose_writes_lost_a_race_is_retried_without_a_new_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Level-triggered: a lost write (say, the nodes' lb addresses on a network) is decided again at the
    loop's timer, with backoff, not when some unrelated event comes along."""
    from orchestrator.scheduler import scheduler as sched

    store = setup([node("a")], service(), 1)
    now = [60.0]
    loop = Scheduler(store, clock=lambda: now[0])
    loop.attach()
    real = sched.write_decisions
    monkeypatch.setattr(sched, "write_decisions", lambda *a, **k: 1)  # every write loses
    loop.tick()
    assert loop.next_wakeup() == pytest.approx(60.1)
    loop.tick()
    assert loop.next_wakeup() == pytest.approx(60.2)  # backing off
    monkeypatch.setattr(sched, "write_decisions", real)
    loop.tick()  # the timer's tick: no event needed
    assert all(t.status.state == TaskState.ASSIGNED for t in store.view().all("task"))
    assert loop.next_wakeup() is None
