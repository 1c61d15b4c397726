"""The ControlAPI in-process: Docker-shaped specs round-trip, validation and lookups fail in one line."""

from __future__ import annotations

import pytest

from orchestrator.api import Control, convert
from orchestrator.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from orchestrator.model import Node, NodeState, NodeStatus
from orchestrator.store import MemoryStore


class Facts:
    node_id = "self-node"

    def leader_node_id(self) -> str:
        return self.node_id

    def init_cluster(self, advertise_addr: str, listen_addr: str) -> tuple[str, str]:
        return self.node_id, "default"


SPEC = {
    "Name": "web",
    "Labels": {"tier": "front"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox", "Command": ["sh", "-c"], "Args": ["echo hi"], "Env": ["A=1"],
                          "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data", "ReadOnly": True}],
                          "StopGracePeriod": 2_000_000_000},
        "Resources": {"Limits": {"MemoryBytes": 64 << 20}, "Reservations": {"NanoCPUs": 500_000_000}},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 0, "MaxAttempts": 3},
        "Placement": {"Constraints": ["node.role==manager"], "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                      "MaxReplicas": 2},
    },
    "Mode": {"Replicated": {"Replicas": 4}},
}


@pytest.fixture
def control() -> Control:
    store = MemoryStore()
    store.update(lambda tx: tx.create(Node(id="self-node", hostname="host1", status=NodeStatus(state=NodeState.READY))))
    return Control(store, Facts())


def test_docker_spec_round_trips(control: Control) -> None:
    svc = control.create_service(SPEC)
    spec = svc.spec
    assert spec.replicas == 4 and spec.task.container.stop_grace_period == 2.0
    assert spec.task.restart_policy.condition == "on-failure" and spec.task.restart_policy.delay == 0
    assert spec.task.placement.max_replicas_per_node == 2
    doc = control.inspect_service("web")
    assert doc["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"] == SPEC["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert convert.service_spec_from_doc(doc["Spec"]) == spec


def test_names_ids_and_prefixes_resolve(control: Control) -> None:
    svc = control.create_service(SPEC)
    for ref in ("web", svc.id, svc.id[:6]):
        assert control.inspect_service(ref)["ID"] == svc.id
    with pytest.raises(NotFound, match="^service nosuch not found$"):
        control.inspect_service("nosuch")
    with pytest.raises(NotFound, match="^node bar not found$"):
        control.inspect_node("bar")
    assert control.inspect_node("self")["Description"]["Hostname"] == "host1"
    assert control.inspect_node("host1")["Self"] is True


def test_bad_specs_are_invalid_arguments(control: Control) -> None:
    bad_constraint = {**SPEC, "TaskTemplate": {**SPEC["TaskTemplate"], "Placement": {"Constraints": ["node.role=manager"]}}}
    with pytest.raises(InvalidArgument, match="invalid constraint"):
        control.create_service(bad_constraint)
    with pytest.raises(InvalidArgument, match="invalid service name"):
        control.create_service({**SPEC, "Name": "-web"})
    with pytest.raises(InvalidArgument, match="replicas"):
        control.create_service({**SPEC, "Mode": {"Replicated": {"Replicas": -1}}})
    with pytest.raises(InvalidArgument, match="image"):
        control.create_service({"Name": "x", "TaskTemplate": {"ContainerSpec": {}}})
    control.create_service(SPEC)
    with pytest.raises(AlreadyExists, match="service web already exists"):
        control.create_service(SPEC)


def test_scale(control: Control) -> None:
    control.create_service(SPEC)
    assert control.scale_service("web", 7).spec.replicas == 7
    with pytest.raises(InvalidArgument, match="-1"):
        control.scale_service("web", -1)
    control.create_service({**SPEC, "Name": "g", "Mode": {"Global": {}}})
    with pytest.raises(FailedPrecondition, match="replicated mode"):
        control.scale_service("g", 2)
    with pytest.raises(NotFound):
        control.scale_service("nosuch", 2)


def test_random_name_and_counts(control: Control) -> None:
    svc = control.create_service({**SPEC, "Name": ""})
    assert "_" in svc.spec.name
    (row,) = control.list_services({})
    assert row["ServiceStatus"] == {"RunningTasks": 0, "DesiredTasks": 4, "CompletedTasks": 0}
    with pytest.raises(InvalidArgument, match="invalid filter 'bogus'"):
        control.list_services({"bogus": ["x"]})


def test_remove_is_all_or_nothing(control: Control) -> None:
    control.create_service(SPEC)
    with pytest.raises(NotFound):
        control.remove_services(["web", "nosuch"])
    assert control.list_services({})
    control.remove_services(["web"])
    assert control.list_services({}) == []
