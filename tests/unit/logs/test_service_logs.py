"""ServiceLogs against two fake engines on unix sockets: every node's lines, merged and prefixed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from orchestrator.api import Control
from orchestrator.cli.services import _log_prefix
from orchestrator.errors import NotFound
from orchestrator.model import ContainerSpec, Node, NodeState, NodeStatus, Task, TaskSpec, TaskStatus, new_id
from orchestrator.service_logs import ServiceLogs, decode_data, open_stream
from orchestrator.store import MemoryStore
from proto.orch.v1 import engine_pb2 as epb
from proto.orch.v1 import engine_pb2_grpc


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """Knows some containers by id; each says one line per requested tail entry."""

    def __init__(self, node: str, containers: set[str]) -> None:
        self.node, self.containers, self.requests = node, containers, []
        self.following = 0

    def ContainerLogs(self, request: epb.LogsRequest, context: grpc.ServicerContext) -> Iterator[epb.LogEntry]:  # noqa: N802
        self.requests.append(request)
        if request.id not in self.containers:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such container: {request.id}")
        yield epb.LogEntry(stream="stdout", data=f"hello from {self.node}\n".encode(), time="2026-01-01T00:00:00Z")
        if request.follow:  # a running container: more lines may come until the reader goes away
            self.following += 1
            deadline = time.monotonic() + 10
            while context.is_active() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.following -= 1


class Manager:
    node_id = "local-node"

    def __init__(self, store: MemoryStore, socket_path: str) -> None:
        self.store, self.socket_path = store, socket_path

    def _require_manager(self) -> None:
        return None

    def leader_node_id(self) -> str:
        return self.node_id


class Context:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_callback(self, fn: Any) -> None:
        self.callbacks.append(fn)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Manager, dict[str, FakeEngine], grpc.Server]]:
    store = MemoryStore()
    engines = {"local": FakeEngine("local", {"c-local"}), "remote": FakeEngine("remote", {"c-remote"})}
    servers = []
    for name, engine in engines.items():
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
        server.add_insecure_port(f"unix://{tmp_path / name}.sock")
        server.start()
        servers.append(server)
    front = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    manager = Manager(store, str(tmp_path / "local.sock"))
    front.add_generic_rpc_handlers((ServiceLogs(manager).handler(),))  # type: ignore[arg-type]
    front.add_insecure_port(f"unix://{tmp_path / 'front.sock'}")
    front.start()
    servers.append(front)
    store.update(lambda tx: tx.create(Node(id="local-node", hostname="m1", status=NodeStatus(state=NodeState.READY))))
    store.update(lambda tx: tx.create(Node(id="remote-node", hostname="w1", status=NodeStatus(
        state=NodeState.READY, addr=f"unix://{tmp_path / 'remote.sock'}"))))
    svc = Control(store, manager).create_service(  # type: ignore[arg-type]
        {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, "Mode": {"Replicated": {"Replicas": 3}}})
    spec = TaskSpec(container=ContainerSpec(image="busybox"))
    for slot, node, cid in ((1, "local-node", "c-local"), (2, "remote-node", "c-remote"), (3, "remote-node", "gone")):
        task = Task(id=new_id(), service_id=svc.id, service_name="web", slot=slot, node_id=node, spec=spec,
                    status=TaskStatus(container_id=cid))
        store.update(lambda tx, t=task: tx.create(t))
    try:
        yield manager, engines, front
    finally:
        for s in servers:
            s.stop(None)


def test_lines_of_every_node_are_merged(cluster: Any, tmp_path: Path) -> None:
    manager, engines, _ = cluster
    msgs = list(ServiceLogs(manager).stream({"service": "web", "tail": 5, "timestamps": True}, Context()))
    by_node = {m["node"]: decode_data(m) for m in msgs}
    assert by_node == {"m1": b"hello from local\n", "w1": b"hello from remote\n"}  # the pruned one is skipped
    assert {m["name"].split(".")[1] for m in msgs} == {"1", "2"}
    assert all(r.tail == 5 and r.timestamps and not r.follow for e in engines.values() for r in e.requests)


def test_over_grpc_and_the_cli_prefix(cluster: Any, tmp_path: Path) -> None:
    channel = grpc.insecure_channel(f"unix://{tmp_path / 'front.sock'}")
    try:
        msgs = list(open_stream(channel, {"service": "web"}))
        prefixes = sorted(_log_prefix(m, False, False).decode() for m in msgs)
        assert [p.split("@")[1] for p in prefixes] == ["m1    | ", "w1    | "]
        assert all(p.startswith("web.") and p.count(".") == 2 for p in prefixes)
        assert _log_prefix(msgs[0], True, False).decode().count(".") == 1
        with pytest.raises(grpc.RpcError) as err:
            list(open_stream(channel, {"service": "nope"}))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    finally:
        channel.close()


def test_unknown_service_is_not_found(cluster: Any) -> None:
    with pytest.raises(NotFound):
        list(ServiceLogs(cluster[0]).stream({"service": "nope"}, Context()))


def test_follow_merges_live_streams_and_stops_them_when_the_reader_leaves(cluster: Any) -> None:
    manager, engines, _ = cluster
    stream = ServiceLogs(manager).stream({"service": "web", "follow": True}, Context())
    nodes = {next(stream)["node"], next(stream)["node"]}
    assert nodes == {"m1", "w1"}
    deadline = time.monotonic() + 5
    while not all(e.following == 1 for e in engines.values()):
        assert time.monotonic() < deadline, "the node streams did not stay open"
        time.sleep(0.01)
    stream.close()  # the caller went away: every node's ContainerLogs is cancelled
    while any(e.following for e in engines.values()):
        assert time.monotonic() < deadline, "the node streams were not cancelled"
        time.sleep(0.01)
