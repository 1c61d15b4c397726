"""The pure half of `orch up`: compose project -> ServiceSpec documents -> convergence plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api.convert import service_spec_from_doc
from orchestrator.compose import ComposeError, ProjectOptions, load_project
from orchestrator.compose.plan import LABEL_HASH, desired_state, plan


def project(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    f = tmp_path / "compose.yaml"
    f.write_text(text)
    return load_project(ProjectOptions(files=[f], environ={}))


BASE = """
name: p
services:
  web:
    image: busybox
    command: [httpd, -f]
    environment: {A: "1"}
    ports: ["8080:80"]
    volumes: [data:/data]
    healthcheck: {test: [CMD, "true"], interval: 1s}
    depends_on: {db: {condition: service_healthy}}
  db:
    image: busybox
    deploy: {replicas: 3}
volumes:
  data: {}
"""


def test_desired_documents_are_valid_control_api_specs(tmp_path: Path) -> None:
    d = desired_state(project(tmp_path, BASE))
    assert d.order == [["db"], ["web"]]
    web = d.services["web"].doc
    assert web["Name"] == "p_web"
    assert web["Labels"]["com.docker.compose.project"] == "p"
    assert web["Labels"]["com.docker.stack.namespace"] == "p"
    assert web["TaskTemplate"]["Networks"] == [{"Target": "p_default", "Aliases": ["web", "p_web"]}]
    assert web["TaskTemplate"]["ContainerSpec"]["Mounts"] == [{"Type": "volume", "Source": "p_data", "Target": "/data"}]
    assert web["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                             "PublishMode": "ingress"}]
    spec = service_spec_from_doc(web)
    assert spec.task.container.env == ["A=1"]
    assert spec.task.container.healthcheck is not None and spec.task.container.healthcheck.interval == 1.0
    assert spec.task.networks[0].aliases == ["web", "p_web"]
    assert service_spec_from_doc(d.services["db"].doc).replicas == 3
    assert set(d.networks) == {"p_default"} and set(d.volumes) == {"p_data"}


def test_hash_ignores_replicas_and_plan_buckets(tmp_path: Path) -> None:
    d = desired_state(project(tmp_path, BASE))
    scaled = desired_state(project(tmp_path, BASE), scale={"db": 5})
    assert d.services["db"].config_hash == scaled.services["db"].config_hash
    existing = {s.name: {"Spec": s.doc} for s in d.services.values()}
    existing["p_old"] = {"Spec": {"Name": "p_old", "Labels": {}}}
    same = plan(d, existing, {"p_default"}, {"p_data"})
    assert (same.create, same.update, same.recreate, same.scale, same.noop) == ([], [], [], {}, ["db", "web"])
    assert same.orphans == ["p_old"] and not same.changes()
    edited = desired_state(project(tmp_path, BASE.replace('A: "1"', 'A: "2"')), scale={"db": 5})
    p = plan(edited, existing, set(), set(), remove_orphans=True)
    assert p.update == ["web"] and p.recreate == [] and p.scale == {"db": 5} and p.remove == ["p_old"]
    assert p.networks == ["p_default"] and p.volumes == ["p_data"]
    assert plan(d, existing, set(), set(), force_recreate=True).update == ["db", "web"]
    global_db = desired_state(project(tmp_path, BASE.replace("deploy: {replicas: 3}", "deploy: {mode: global}")))
    assert plan(global_db, existing, set(), set()).recreate == ["db"], "a mode change cannot be an update"
    assert existing["p_web"]["Spec"]["Labels"][LABEL_HASH] == d.services["web"].config_hash


@pytest.mark.parametrize("text, message", [
    ("services:\n  a:\n    image: busybox\n    networks: [x]\nnetworks: {x: {driver: macvlan}}\n",
     "networks.x.driver: 'macvlan' is not supported"),
    ("services:\n  a:\n    image: busybox\n    ports: ['80:80']\n  b:\n    image: busybox\n    ports: ['80:81']\n",
     "80"),
])
def test_refused_before_any_write(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        desired_state(project(tmp_path, "name: p\n" + text))


def test_replicas_publish_through_the_routing_mesh(tmp_path: Path) -> None:
    text = ("name: p\nservices:\n  a:\n    image: busybox\n    ports: ['80:80', {target: 81, published: 8081, mode: host}]\n"
            "    deploy: {replicas: 3}\n")
    doc = desired_state(project(tmp_path, text)).services["a"].doc
    assert [p["PublishMode"] for p in doc["EndpointSpec"]["Ports"]] == ["ingress", "host"]


def test_build_runs_the_named_or_default_image_and_update_config_is_passed(tmp_path: Path) -> None:
    text = ("name: p\nservices:\n  a:\n    build: .\n  b:\n    build: .\n    image: mine:1\n"
            "    deploy: {update_config: {parallelism: 2, delay: 1s, order: start-first, failure_action: continue}}\n")
    d = desired_state(project(tmp_path, text))
    assert (d.services["a"].image, d.services["a"].build) == ("p-a", True)
    assert d.services["b"].image == "mine:1"
    spec = service_spec_from_doc(d.services["b"].doc)
    cfg = spec.update_config
    assert (cfg.parallelism, cfg.delay, cfg.order, cfg.failure_action) == (2, 1.0, "start-first", "continue")
    with pytest.raises(ComposeError, match="services.b.deploy.update_config.order"):
        desired_state(project(tmp_path, text.replace("start-first", "sideways")))


TWO_NETWORKS = """name: p
services:
  web:
    image: busybox
    networks:
      front: {aliases: [www]}
      back: {aliases: [web-internal]}
  api: {image: busybox, networks: [back]}
  probe: {image: busybox, networks: [front]}
  local: {image: busybox, networks: [lan]}
networks:
  front: {attachable: true}
  back: {driver: overlay, internal: true, labels: {tier: back}}
  lan: {driver: bridge}
"""


def test_a_service_joins_every_network_with_its_aliases_there(tmp_path: Path) -> None:
    d = desired_state(project(tmp_path, TWO_NETWORKS))
    assert d.services["web"].doc["TaskTemplate"]["Networks"] == [
        {"Target": "p_front", "Aliases": ["web", "p_web", "www"]},
        {"Target": "p_back", "Aliases": ["web", "p_web", "web-internal"]},
    ]
    assert [n["Target"] for n in d.services["api"].doc["TaskTemplate"]["Networks"]] == ["p_back"]
    assert [n["Target"] for n in d.services["probe"].doc["TaskTemplate"]["Networks"]] == ["p_front"]
    spec = service_spec_from_doc(d.services["web"].doc)
    assert [(a.target, a.aliases) for a in spec.task.networks] == [
        ("p_front", ["web", "p_web", "www"]), ("p_back", ["web", "p_web", "web-internal"])]


def test_networks_without_a_driver_are_cluster_overlays_bridge_stays_local(tmp_path: Path) -> None:
    nets = desired_state(project(tmp_path, TWO_NETWORKS)).networks
    assert {n: c["driver"] for n, c in nets.items()} == {"p_front": "overlay", "p_back": "overlay", "p_lan": "bridge"}
    assert (nets["p_front"]["attachable"], nets["p_front"]["internal"]) == (True, False)
    assert (nets["p_back"]["attachable"], nets["p_back"]["internal"]) == (False, True)
    assert nets["p_back"]["labels"] == {"tier": "back", "com.docker.compose.project": "p",
                                        "com.docker.compose.network": "back", "com.docker.stack.namespace": "p"}
    default = desired_state(project(tmp_path, "name: p\nservices:\n  a: {image: busybox}\n")).networks
    assert default["p_default"]["driver"] == "overlay"


def test_external_networks_are_looked_up_not_created(tmp_path: Path) -> None:
    text = ("name: p\nservices:\n  a: {image: busybox, networks: [shared]}\n"
            "networks:\n  shared: {external: true, name: shared-net}\n")
    d = desired_state(project(tmp_path, text))
    assert d.services["a"].doc["TaskTemplate"]["Networks"][0]["Target"] == "shared-net"
    assert plan(d, {}, {"shared-net"}, set()).networks == []
    with pytest.raises(ComposeError, match="network shared-net declared as external, but could not be found"):
        plan(d, {}, set(), set())
