"""Cluster networks through the ControlAPI in-process: create with labels, list filters, inspect, remove
refused while something uses the network (one line naming it), ingress kept while ports are published."""

from __future__ import annotations

import pytest

from orchestrator.api import Control
from orchestrator.errors import FailedPrecondition, InvalidArgument, NotFound
from orchestrator.model import (
    NetworkAttachment,
    Node,
    NodeState,
    NodeStatus,
    Task,
    TaskState,
    TaskStatus,
)
from orchestrator.model.service import ContainerSpec, TaskSpec
from orchestrator.store import MemoryStore

from .test_control import Facts

SPEC = TaskSpec(container=ContainerSpec(image="busybox"))


@pytest.fixture
def control() -> Control:
    store = MemoryStore()
    store.update(lambda tx: tx.create(Node(id="self-node", hostname="host1", status=NodeStatus(state=NodeState.READY))))
    return Control(store, Facts())


def service(name: str, *networks: str, publish: int = 0) -> dict[str, object]:
    doc: dict[str, object] = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": "busybox"},
                                                              "Networks": [{"Target": n} for n in networks]},
                              "Mode": {"Replicated": {"Replicas": 1}}}
    if publish:
        doc["EndpointSpec"] = {"Ports": [{"TargetPort": 80, "PublishedPort": publish}]}
    return doc


def test_create_carries_labels_internal_attachable_into_the_document(control: Control) -> None:
    doc = control.create_network("p_back", labels={"com.docker.compose.project": "p"}, internal=True, attachable=True)
    assert (doc["Name"], doc["Scope"], doc["Driver"]) == ("p_back", "swarm", "overlay")
    assert doc["Labels"] == {"com.docker.compose.project": "p"}
    assert (doc["Internal"], doc["Attachable"], doc["Ingress"]) == (True, True, False)
    assert doc["IPAM"]["Config"][0]["Subnet"].endswith("/24")
    assert int(doc["Options"]["com.docker.network.driver.overlay.vxlanid_list"]) >= 4096
    assert doc["Created"] != "0001-01-01T00:00:00Z"
    assert control.inspect_network("p_back") == doc
    assert control.inspect_network(doc["Id"][:8])["Name"] == "p_back"


def test_list_filters_as_docker(control: Control) -> None:
    a = control.create_network("p_front", labels={"tier": "front", "com.docker.compose.project": "p"})
    control.create_network("p_back", labels={"tier": "back", "com.docker.compose.project": "p"})
    control.create_network("other")

    def names(**filters: list[str]) -> list[str]:
        return [d["Name"] for d in control.list_networks(filters)]

    assert names() == ["other", "p_back", "p_front"]
    assert names(name=["p_"]) == ["p_back", "p_front"]
    assert names(id=[a["Id"][:10]]) == ["p_front"]
    assert names(label=["com.docker.compose.project=p"]) == ["p_back", "p_front"]
    assert names(label=["tier=back"]) == ["p_back"] and names(label=["tier"]) == ["p_back", "p_front"]
    assert names(driver=["overlay"]) == names() and names(driver=["bridge"]) == []
    assert names(scope=["swarm"]) == names() and names(scope=["local"]) == []
    with pytest.raises(InvalidArgument, match="invalid filter 'dangle'"):
        control.list_networks({"dangle": ["true"]})


def test_remove_refused_while_a_service_uses_it_then_allowed(control: Control) -> None:
    control.create_network("p_back")
    control.create_service(service("p_api", "p_back"))
    with pytest.raises(FailedPrecondition) as err:
        control.remove_network("p_back")
    assert str(err.value) == "network p_back is in use by service p_api"
    control.remove_services(["p_api"])
    assert control.remove_network("p_back") == "p_back"
    with pytest.raises(NotFound, match="network p_back not found"):
        control.inspect_network("p_back")
    with pytest.raises(NotFound, match="network p_back not found"):
        control.remove_network("p_back")


def test_remove_waits_for_a_retired_task_still_stopping_on_a_live_node(control: Control) -> None:
    net_id = control.create_network("p_back")["Id"]
    task = Task(id="t1", service_id="gone", service_name="p_api", slot=1, node_id="self-node", spec=SPEC,
                desired_state=TaskState.SHUTDOWN, status=TaskStatus(state=TaskState.RUNNING),
                networks=[NetworkAttachment(network_id=net_id, addresses=["10.0.1.2"])])
    control.store.update(lambda tx: tx.create(task))
    with pytest.raises(FailedPrecondition, match="network p_back is in use by task p_api.1.t1"):
        control.remove_network("p_back")
    stopped = control.store.view().get("task", "t1").evolve(status=TaskStatus(state=TaskState.SHUTDOWN))
    control.store.update(lambda tx: tx.update(stopped))
    assert control.remove_network("p_back") == "p_back"


def test_a_task_on_a_down_node_does_not_hold_the_network(control: Control) -> None:
    net_id = control.create_network("p_back")["Id"]
    node = Node(id="gone-node", hostname="host2", status=NodeStatus(state=NodeState.DOWN))
    task = Task(id="t2", service_id="gone", service_name="p_api", slot=1, node_id="gone-node", spec=SPEC,
                desired_state=TaskState.SHUTDOWN, status=TaskStatus(state=TaskState.RUNNING),
                networks=[NetworkAttachment(network_id=net_id, addresses=["10.0.1.2"])])
    control.store.update(lambda tx: (tx.create(node), tx.create(task)))
    assert control.remove_network("p_back") == "p_back"


def test_ingress_kept_while_a_service_publishes_mesh_ports(control: Control) -> None:
    control.create_service(service("web", publish=8080))
    ingress = next(d for d in control.list_networks({}) if d["Ingress"])
    with pytest.raises(FailedPrecondition, match="ingress network cannot be removed because service web"):
        control.remove_network(ingress["Name"])
    control.remove_services(["web"])
    assert control.remove_network(ingress["Id"]) == ingress["Name"]
