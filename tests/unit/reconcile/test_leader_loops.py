"""LeaderLoops with real threads: start on leadership, converge, stop cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orchestrator.model import (
    ContainerSpec,
    Node,
    NodeState,
    NodeStatus,
    Resources,
    Service,
    ServiceSpec,
    TaskSpec,
    TaskState,
    new_id,
)
from orchestrator.reconcile.leader import LeaderLoops
from orchestrator.store import MemoryStore


def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        wake.wait(0.01)


def test_threaded_loops_converge_and_stop() -> None:
    store = MemoryStore()
    loops = LeaderLoops(store)
    node = Node(id=new_id(), hostname="n1", status=NodeStatus(state=NodeState.READY), resources=Resources(nano_cpus=10**9))
    svc = Service(id=new_id(), spec=ServiceSpec(name="web", replicas=5, task=TaskSpec(container=ContainerSpec(image="x"))))
    store.update(lambda tx: [tx.create(node), tx.create(svc)])
    loops.set_leader(True)
    try:
        assigned = lambda: [t for t in store.view().all("task") if t.status.state == TaskState.ASSIGNED]  # noqa: E731
        eventually(lambda: len(assigned()) == 5)
        cur = store.view().get("service", svc.id)
        store.update(lambda tx: tx.update(cur.evolve(spec=cur.spec.model_copy(update={"replicas": 7}))))
        eventually(lambda: len(assigned()) == 7)
    finally:
        loops.set_leader(False)
    assert not loops.running
    assert all(loop._thread is None for loop in loops.loops)
    version = store.view().version
    cur = store.view().get("service", svc.id)
    store.update(lambda tx: tx.update(cur.evolve(spec=cur.spec.model_copy(update={"replicas": 1}))))
    assert store.view().version == version + 1  # stopped loops write nothing more
