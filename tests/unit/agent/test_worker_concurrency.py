"""The worker starts a burst of tasks in parallel and reports each one, without a pass per finished action."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.worker import Worker

from .fakes import FakeEngine
from .test_worker import Rig, eventually

PARALLEL = 8


class GatedEngine(FakeEngine):
    """Every start waits until PARALLEL starts are in flight at once: only a concurrent worker gets past."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(PARALLEL, timeout=5)
        self.in_flight = 0
        self.most_in_flight = 0
        self.lists = 0
        self.work = 0.0  # seconds each start takes (a real start takes 10-30 ms)
        self._count = threading.Lock()

    def start(self, cid: str) -> None:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.barrier.wait()
            if self.work:
                threading.Event().wait(self.work)
            super().start(cid)
        finally:
            with self._count:
                self.in_flight -= 1

    def list(self) -> list:  # type: ignore[override]
        self.lists += 1
        return super().list()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.engine = GatedEngine()
    try:
        yield r
    finally:
        r.close()


def test_tasks_start_in_parallel_and_all_report_running(rig: Rig) -> None:
    rig.start_worker()
    svc = rig.create_service("burst", replicas=PARALLEL)
    eventually(lambda: len(rig.running_tasks(svc)) == PARALLEL, timeout=10)
    assert rig.running_containers() == rig.running_tasks(svc)
    assert rig.engine.most_in_flight >= PARALLEL  # type: ignore[attr-defined]
    assert not rig.engine.barrier.broken  # type: ignore[attr-defined]


def test_a_burst_does_not_cost_a_pass_per_finished_action(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    engine = GatedEngine()
    engine.barrier = threading.Barrier(1)  # no gate: just count the passes
    engine.work = 0.02
    r.engine = engine
    try:
        worker = Worker(engine, r.node.id, r.target, hostname="n1", poll=0.25)
        r.worker = worker
        worker.start()
        svc = r.create_service("many", replicas=200)
        eventually(lambda: len(r.running_tasks(svc)) == 200, timeout=20)
        # 200 starts of 20 ms each end with a wake; passes coalesce to at most one per gap (~0.3 s of
        # starts on 16 threads: a handful of passes, where one pass per finished start would be ~200).
        assert engine.lists < 30, engine.lists
    finally:
        r.close()
