"""The agent against a real dispatcher over gRPC (unix socket), with the leader's loops on a
MemoryStore and a fake engine: convergence, replacement, scaling, re-adoption, no early GC."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from agent.executor import LABEL_TASK_ID
from agent.worker import Worker
from orchestrator.dispatcher import Dispatcher
from orchestrator.model import (
    ContainerSpec,
    Node,
    NodeRole,
    NodeState,
    NodeStatus,
    RestartPolicy,
    Service,
    ServiceSpec,
    TaskSpec,
    TaskState,
    new_id,
)
from orchestrator.reconcile.leader import LeaderLoops
from orchestrator.store import MemoryStore
from proto.orch.v1 import dispatcher_pb2_grpc

from .fakes import FakeEngine


def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        wake.wait(0.02)


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.store = MemoryStore()
        self.node = Node(id=new_id(), hostname="n1", role=NodeRole.MANAGER)
        self.store.update(lambda tx: tx.create(self.node))
        self.loops = LeaderLoops(self.store)
        self.dispatcher = Dispatcher(self.store, heartbeat_period=0.2)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        dispatcher_pb2_grpc.add_DispatcherServicer_to_server(self.dispatcher.servicer, self.server)
        self.target = f"unix://{tmp / 'd.sock'}"
        self.server.add_insecure_port(self.target)
        self.server.start()
        self.dispatcher.start()
        self.loops.start()
        self.engine = FakeEngine()
        self.worker: Worker | None = None

    def start_worker(self) -> Worker:
        self.worker = Worker(self.engine, self.node.id, self.target, hostname="n1", poll=0.05)
        self.worker.start()
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop_worker()
        self.loops.stop()
        self.dispatcher.stop()
        self.server.stop(0).wait()

    def create_service(self, name: str, replicas: int = 1, mode: str = "replicated") -> Service:
        spec = TaskSpec(container=ContainerSpec(image="busybox", args=["sleep", "1000"]),
                        restart_policy=RestartPolicy(delay=0))
        svc = Service(id=new_id(), spec=ServiceSpec(name=name, task=spec, replicas=replicas, mode=mode))  # type: ignore[arg-type]
        self.store.update(lambda tx: tx.create(svc))
        return svc

    def scale(self, svc: Service, replicas: int) -> None:
        cur = self.store.view().get("service", svc.id)
        self.store.update(lambda tx: tx.update(cur.evolve(spec=cur.spec.model_copy(update={"replicas": replicas}))))

    def running_tasks(self, svc: Service) -> list[str]:
        return sorted(t.id for t in self.store.view().find("task", service_id=svc.id)
                      if t.status.state == TaskState.RUNNING and t.desired_state == TaskState.RUNNING)

    def running_containers(self) -> list[str]:
        return sorted(c.config["labels"][LABEL_TASK_ID] for c in self.engine.running())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        yield r
    finally:
        r.close()


def test_registration_marks_the_node_ready_and_reports_resources(rig: Rig) -> None:
    rig.start_worker()
    eventually(lambda: rig.store.view().get("node", rig.node.id).status.state == NodeState.READY)
    assert rig.store.view().get("node", rig.node.id).resources.nano_cpus > 0


def test_replicas_converge_and_a_dead_task_is_replaced(rig: Rig) -> None:
    rig.start_worker()
    svc = rig.create_service("web", replicas=3)
    eventually(lambda: len(rig.running_tasks(svc)) == 3)
    eventually(lambda: rig.running_containers() == rig.running_tasks(svc))
    names = sorted(c.name for c in rig.engine.list())
    assert [n.rsplit(".", 1)[0] for n in names] == ["web.1", "web.2", "web.3"]

    victim = next(c for c in rig.engine.list() if c.name.startswith("web.2."))
    old_task = victim.config["labels"][LABEL_TASK_ID]
    rig.engine.exit(victim.id, 137)
    eventually(lambda: old_task not in rig.running_tasks(svc) and len(rig.running_tasks(svc)) == 3)
    old = rig.store.view().get("task", old_task)
    assert old.status.state == TaskState.FAILED and old.status.exit_code == 137
    assert old.status.err == "task: non-zero exit (137)" and old.desired_state == TaskState.SHUTDOWN
    assert victim.id in rig.engine.containers  # history keeps its container
    eventually(lambda: rig.running_containers() == rig.running_tasks(svc))

    rig.scale(svc, 1)
    eventually(lambda: len(rig.running_containers()) == 1 and len(rig.running_tasks(svc)) == 1)
    eventually(lambda: not any(c.name.startswith(("web.2.", "web.3.")) and c.state.status == "running"
                               for c in rig.engine.list()))


def test_a_failed_create_rejects_the_task(rig: Rig) -> None:
    rig.engine.fail_create.add("busybox")
    rig.start_worker()
    svc = rig.create_service("broken")

    def rejected() -> bool:
        return any(t.status.state == TaskState.REJECTED for t in rig.store.view().find("task", service_id=svc.id))

    eventually(rejected)
    t = next(t for t in rig.store.view().find("task", service_id=svc.id) if t.status.state == TaskState.REJECTED)
    assert "No such image" in t.status.err


def test_restarted_agent_readopts_and_removes_what_is_no_longer_assigned(rig: Rig) -> None:
    rig.start_worker()
    svc = rig.create_service("web", replicas=2)
    eventually(lambda: len(rig.running_tasks(svc)) == 2)
    eventually(lambda: len(rig.running_containers()) == 2)
    rig.stop_worker()
    stray = rig.engine.create({"image": "busybox", "name": "web.9.gone",
                               "labels": {LABEL_TASK_ID: "gone"}})
    rig.engine.start(stray.id)
    adopted = set(rig.engine.containers) - {stray.id}
    rig.start_worker()
    eventually(lambda: stray.id not in rig.engine.containers)
    assert set(rig.engine.containers) == adopted  # nothing recreated
    assert len(rig.running_tasks(svc)) == 2


def test_nothing_is_removed_before_the_first_complete_set(tmp_path: Path) -> None:
    engine = FakeEngine()
    c = engine.create({"image": "busybox", "name": "web.1.t1", "labels": {LABEL_TASK_ID: "t1"}})
    engine.start(c.id)
    worker = Worker(engine, "n1", f"unix://{tmp_path / 'nobody.sock'}", poll=0.01)
    worker.start()
    try:
        deadline = time.monotonic() + 0.3
        wake = threading.Event()
        while time.monotonic() < deadline:
            assert c.id in engine.containers
            wake.wait(0.02)
        assert not worker.synced
    finally:
        worker.stop()


def test_a_global_service_follows_the_node(rig: Rig) -> None:
    rig.start_worker()
    eventually(lambda: rig.store.view().get("node", rig.node.id).status.state == NodeState.READY)
    svc = rig.create_service("agent", mode="global")
    eventually(lambda: len(rig.running_tasks(svc)) == 1)
    (c,) = rig.engine.running()
    assert c.name.startswith(f"agent.{rig.node.id}.")


def test_the_agent_learns_the_managers_and_their_changes(rig: Rig) -> None:
    """The Welcome lists the managers' dispatcher addresses; a Managers message follows each change."""
    from orchestrator.model import ManagerStatus

    seen: list[list[str]] = []
    rig.worker = Worker(rig.engine, rig.node.id, rig.target, hostname="n1", poll=0.05, on_managers=seen.append)
    rig.worker.start()
    eventually(lambda: rig.worker is not None and rig.worker.synced)

    def add_manager(addr: str) -> None:
        node = Node(id=new_id(), hostname=addr, role=NodeRole.MANAGER, manager_status=ManagerStatus(raft_addr=addr),
                    status=NodeStatus(state=NodeState.READY, addr=addr))
        rig.store.update(lambda tx: tx.create(node))

    add_manager("10.9.0.2:2377")
    eventually(lambda: bool(seen) and seen[-1] == ["10.9.0.2:2377"])
    add_manager("10.9.0.1:2377")
    eventually(lambda: seen[-1] == ["10.9.0.1:2377", "10.9.0.2:2377"])
