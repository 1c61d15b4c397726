"""Three ClusterStores on localhost: replication, forwarding, failover, recovery from disk, no quorum.

Each manager runs PySyncObj's own tick thread (as in the daemon); tests wait on predicates with
deadlines, never on fixed sleeps. Everything lives under pytest's tmp_path and is closed on teardown.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.errors import Unavailable
from orchestrator.model import ContainerSpec, Service, ServiceSpec, TaskSpec, new_id
from orchestrator.store.raft import ClusterStore, RaftSettings

# PySyncObj's MetaStorer.getMeta reads the .meta file without closing it (a library leak, not ours).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def eventually(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    wake = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        wake.wait(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Trio:
    def __init__(self, base: Path) -> None:
        self.addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        self.dirs = [base / f"m{i}" for i in range(3)]
        self.nodes: list[ClusterStore | None] = [self.start(i) for i in range(3)]

    def start(self, i: int) -> ClusterStore:
        peers = [a for a in self.addrs if a != self.addrs[i]]
        return ClusterStore(RaftSettings(self_addr=self.addrs[i], peers=peers, data_dir=self.dirs[i]))

    def stop(self, i: int) -> None:
        node = self.nodes[i]
        if node is not None:
            node.close()
            self.nodes[i] = None

    def live(self) -> list[ClusterStore]:
        return [n for n in self.nodes if n is not None]

    def leader(self) -> ClusterStore:
        eventually(lambda: len([n for n in self.live() if n.is_leader()]) == 1, what="a single leader")
        (leader,) = [n for n in self.live() if n.is_leader()]
        eventually(lambda: all(n.leader() == leader.settings.self_addr for n in self.live()), what="followers to know the leader")
        return leader

    def close(self) -> None:
        for i in range(3):
            self.stop(i)


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    t = Trio(tmp_path)
    try:
        yield t
    finally:
        t.close()


def service(name: str) -> Service:
    return Service(id=new_id(), spec=ServiceSpec(name=name, task=TaskSpec(container=ContainerSpec(image="busybox"))))


def create(node: ClusterStore, name: str) -> Service:
    svc = service(name)
    node.store.update(lambda tx: tx.create(svc))
    return svc


def names(node: ClusterStore | None) -> set[str]:
    assert node is not None
    return {s.spec.name for s in node.store.view().all("service")}


def test_write_via_follower_is_applied_everywhere(trio: Trio) -> None:
    leader = trio.leader()
    follower = next(n for n in trio.live() if n is not leader)
    watch = leader.store.watch(kinds=("service",))
    create(follower, "web")
    assert "web" in names(follower)  # read-your-write on the node that proposed
    eventually(lambda: all(names(n) == {"web"} for n in trio.live()), what="replication")
    assert watch.get(timeout=5).action == "create"  # type: ignore[union-attr]
    versions = {n.store.view().version for n in trio.live()}
    assert len(versions) == 1


def test_leader_changes_are_reported_and_a_new_leader_takes_writes(trio: Trio) -> None:
    events: list[tuple[str, bool]] = []
    for n in trio.live():
        n.on_leadership(lambda leading, addr=n.settings.self_addr: events.append((addr, leading)))
    leader = trio.leader()
    create(leader, "before")
    old = trio.nodes.index(leader)
    started = time.monotonic()
    trio.stop(old)
    new_leader = trio.leader()
    assert new_leader is not leader
    create(new_leader, "after")
    failover = time.monotonic() - started
    print(f"\nfailover (leader stopped -> write committed): {failover:.2f}s")
    eventually(lambda: all(names(n) == {"before", "after"} for n in trio.live()), what="replication after failover")
    eventually(lambda: (new_leader.settings.self_addr, True) in events, what="leadership callback")
    assert failover < 5.0


def test_two_of_three_down_fails_fast_with_unavailable(trio: Trio) -> None:
    leader = trio.leader()
    create(leader, "web")
    survivor_index = (trio.nodes.index(leader) + 1) % 3
    # A commit returns once a majority has the entry; a follower applies it when the next append
    # tells it the commit index. Stopping the others first could leave it never applied here.
    eventually(lambda: names(trio.nodes[survivor_index]) == {"web"}, what="the survivor to apply the write")
    for i in range(3):
        if i != survivor_index:
            trio.stop(i)
    survivor = trio.nodes[survivor_index]
    assert survivor is not None
    eventually(lambda: not survivor.status()["has_quorum"], what="loss of quorum to be noticed")
    started = time.monotonic()
    with pytest.raises(Unavailable) as err:
        create(survivor, "lost")
    assert time.monotonic() - started < 4.0
    assert str(err.value).startswith("no quorum") and "\n" not in str(err.value)
    assert names(survivor) == {"web"}  # reads still served locally


@pytest.mark.slow
def test_restarted_manager_recovers_from_journal_and_snapshot(trio: Trio) -> None:
    leader = trio.leader()
    for i in range(20):
        create(leader, f"s{i}")
    victim = next(i for i, n in enumerate(trio.nodes) if n is not leader)
    node = trio.nodes[victim]
    assert node is not None
    eventually(lambda: len(names(node)) == 20, what="victim to catch up")
    node.force_compaction()
    eventually(lambda: (trio.dirs[victim] / "raft.snapshot").exists(), what="snapshot on disk")
    create(leader, "after-snapshot")
    eventually(lambda: "after-snapshot" in names(node), what="victim to apply the post-snapshot write")
    trio.stop(victim)
    create(leader, "while-down")
    trio.nodes[victim] = trio.start(victim)
    expected = {f"s{i}" for i in range(20)} | {"after-snapshot", "while-down"}
    eventually(lambda: names(trio.nodes[victim]) == expected, what="recovery from disk and catch-up")


@pytest.mark.slow
def test_whole_cluster_restart_recovers_state(trio: Trio) -> None:
    leader = trio.leader()
    for i in range(5):
        create(leader, f"s{i}")
    eventually(lambda: all(len(names(n)) == 5 for n in trio.live()), what="replication")
    version = leader.store.view().version
    trio.close()
    trio.nodes = [trio.start(i) for i in range(3)]
    eventually(lambda: all(len(names(n)) == 5 for n in trio.live()), what="state recovered on every manager")
    new_leader = trio.leader()
    create(new_leader, "post-restart")
    assert new_leader.store.view().version > version
