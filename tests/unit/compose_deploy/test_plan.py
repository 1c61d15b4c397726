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
                                             "PublishMode": "host"}]
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
    assert (same.create, same.recreate, same.scale, same.noop) == ([], [], {}, ["db", "web"])
    assert same.orphans == ["p_old"] and not same.changes()
    edited = desired_state(project(tmp_path, BASE.replace('A: "1"', 'A: "2"')), scale={"db": 5})
    p = plan(edited, existing, set(), set(), remove_orphans=True)
    assert p.recreate == ["web"] and p.scale == {"db": 5} and p.remove == ["p_old"]
    assert p.networks == ["p_default"] and p.volumes == ["p_data"]
    assert plan(d, existing, set(), set(), force_recreate=True).recreate == ["db", "web"]
    assert existing["p_web"]["Spec"]["Labels"][LABEL_HASH] == d.services["web"].config_hash


@pytest.mark.parametrize("text, message", [
    ("services:\n  a:\n    image: busybox\n    ports: ['80:80']\n    deploy: {replicas: 2}\n", "at most 1 replica"),
    ("services:\n  a:\n    image: busybox\n    networks: [x, y]\nnetworks: {x: {}, y: {}}\n", "more than one network"),
    ("services:\n  a:\n    build: .\n", "services.a.build: not supported"),
    ("services:\n  a:\n    image: busybox\n    ports: ['80:80']\n  b:\n    image: busybox\n    ports: ['80:81']\n",
     "80"),
])
def test_refused_before_any_write(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        desired_state(project(tmp_path, "name: p\n" + text))
