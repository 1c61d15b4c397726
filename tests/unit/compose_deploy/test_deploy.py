"""`up`/`down`/`stop` against an in-memory fake cluster: write order, waits, and no writes on bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.compose import ComposeError, ProjectOptions, load_project
from orchestrator.compose.deploy import UpOptions, down, stop, up


@dataclass
class Container:
    id: str
    labels: dict[str, str]
    state: str = "running"
    health: str = ""


class FakeCluster:
    """Services start running at once; a container of a service with a healthcheck is healthy."""

    def __init__(self) -> None:
        self.svcs: dict[str, dict[str, Any]] = {}
        self.nets: dict[str, dict[str, str]] = {}
        self.vols: dict[str, dict[str, str]] = {}
        self.log: list[str] = []
        self.images: set[str] = set()

    def all_services(self) -> list[dict[str, Any]]:
        return [{"Spec": d} for d in self.svcs.values()]

    def services(self, project: str) -> dict[str, dict[str, Any]]:
        return {n: {"Spec": d} for n, d in self.svcs.items() if d["Labels"]["com.docker.compose.project"] == project}

    def create_service(self, doc: dict[str, Any]) -> None:
        self.log.append(f"create {doc['Name']}")
        self.svcs[doc["Name"]] = doc

    def update_service(self, name: str, doc: dict[str, Any], force: bool = False) -> None:
        self.log.append(f"update {name}" + (" --force" if force else ""))
        self.svcs[name] = doc

    def image_exists(self, ref: str) -> bool:
        return ref in self.images

    def remove_services(self, names: list[str]) -> None:
        self.log.append(f"remove {' '.join(names)}")
        for n in names:
            del self.svcs[n]

    def scale(self, name: str, replicas: int) -> None:
        self.log.append(f"scale {name} {replicas}")
        self.svcs[name]["Mode"] = {"Replicated": {"Replicas": replicas}}

    def tasks(self, service: str) -> list[dict[str, Any]]:
        doc = self.svcs.get(service)
        if doc is None:
            return []
        n = doc["Mode"].get("Replicated", {"Replicas": 1})["Replicas"]
        return [{"DesiredState": "running", "Status": {"State": "running",
                                                      "ContainerStatus": {"ContainerID": f"{service}.{i}"}}}
                for i in range(1, n + 1)]

    def containers(self, project: str) -> list[Any]:
        out = []
        for name, doc in self.services(project).items():
            healthy = "healthy" if "Healthcheck" in doc["Spec"]["TaskTemplate"]["ContainerSpec"] else ""
            out += [Container(t["Status"]["ContainerStatus"]["ContainerID"], {}, health=healthy)
                    for t in self.tasks(name)]
        return out

    def networks(self) -> dict[str, dict[str, str]]:
        return self.nets

    def create_network(self, name: str, labels: dict[str, str], internal: bool, *, driver: str = "overlay",
                       attachable: bool = False) -> None:
        self.log.append(f"network {name}" + (f" ({driver})" if driver != "overlay" else ""))
        self.nets[name] = labels

    def remove_network(self, name: str) -> None:
        self.log.append(f"rm network {name}")
        del self.nets[name]

    def volumes(self) -> dict[str, dict[str, str]]:
        return self.vols

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.log.append(f"volume {name}")
        self.vols[name] = labels

    def remove_volume(self, name: str) -> None:
        self.log.append(f"rm volume {name}")
        del self.vols[name]


FILE = """
name: p
services:
  web: {image: busybox, depends_on: [api]}
  api:
    image: busybox
    depends_on: {db: {condition: service_healthy}}
  db:
    image: busybox
    volumes: [data:/data]
    healthcheck: {test: [CMD, "true"]}
volumes: {data: {}}
"""


def load(tmp_path: Path, text: str = FILE):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(ProjectOptions(files=[tmp_path / "compose.yaml"], environ={}))


def test_up_writes_in_dependency_order_and_twice_is_a_noop(tmp_path: Path) -> None:
    c = FakeCluster()
    events: list[tuple[str, str, str]] = []
    up(load(tmp_path), c, UpOptions(services=[], scale={}, wait=True), lambda *e: events.append(e))
    assert c.log == ["network p_default", "volume p_data", "create p_db", "create p_api", "create p_web"]
    assert ("Service", "p_db", "Healthy") in events
    c.log.clear()
    _, p = up(load(tmp_path), c, UpOptions(services=[], scale={}))
    assert c.log == [] and not p.changes()


def test_edit_updates_one_service_and_bad_input_writes_nothing(tmp_path: Path) -> None:
    c = FakeCluster()
    up(load(tmp_path), c, UpOptions(services=[], scale={}))
    c.log.clear()
    up(load(tmp_path, FILE.replace("web: {image: busybox,", "web: {image: busybox, environment: [A=1],")), c,
       UpOptions(services=[], scale={"api": 2}))
    assert c.log == ["scale p_api 2", "update p_web"]
    c.log.clear()
    up(load(tmp_path), c, UpOptions(services=["db"], scale={}, force_recreate=True))
    assert c.log == ["update p_db --force"]
    c.log.clear()
    with pytest.raises(ComposeError):
        up(load(tmp_path, FILE + "  x: 1\n"), c, UpOptions(services=[], scale={}))
    with pytest.raises(ComposeError, match="no such service"):
        up(load(tmp_path), c, UpOptions(services=["nope"], scale={}))
    assert c.log == []


def test_build_needs_an_existing_image_and_build_flag_is_refused(tmp_path: Path) -> None:
    c = FakeCluster()
    text = "name: p\nservices:\n  a:\n    build: .\n    image: mine:1\n"
    with pytest.raises(ComposeError, match="service 'a' has build: and its image mine:1 does not exist") as err:
        up(load(tmp_path, text), c, UpOptions(services=[], scale={}))
    assert "\n" not in str(err.value) and c.log == []
    c.images.add("mine:1")
    with pytest.raises(ComposeError, match="service 'a': --build: building images is not supported yet"):
        up(load(tmp_path, text), c, UpOptions(services=[], scale={}, build=True))
    up(load(tmp_path, text), c, UpOptions(services=[], scale={}))
    assert c.log == ["network p_default", "create p_a"]
    assert c.svcs["p_a"]["TaskTemplate"]["ContainerSpec"]["Image"] == "mine:1"


def test_stop_then_down(tmp_path: Path) -> None:
    c = FakeCluster()
    up(load(tmp_path), c, UpOptions(services=[], scale={}))
    c.log.clear()
    stop("p", c)
    assert sorted(c.log) == ["scale p_api 0", "scale p_db 0", "scale p_web 0"]
    c.log.clear()
    down("p", c)
    assert c.log == ["remove p_api p_db p_web", "rm network p_default"] and "p_data" in c.vols
    up(load(tmp_path), c, UpOptions(services=[], scale={}))
    down("p", c, volumes=True)
    assert c.vols == {} and c.nets == {} and c.svcs == {}


def test_down_keeps_orphans_unless_asked(tmp_path: Path) -> None:
    c = FakeCluster()
    up(load(tmp_path), c, UpOptions(services=[], scale={}))
    down("p", c, services={"web", "api"})
    assert set(c.svcs) == {"p_db"} and "p_default" in c.nets  # the orphan still uses the network
    down("p", c, services={"web", "api"}, remove_orphans=True)
    assert c.svcs == {} and c.nets == {}


def test_up_creates_overlay_and_bridge_networks_and_down_removes_them(tmp_path: Path) -> None:
    text = ("name: p\nservices:\n  web: {image: busybox, networks: [front, back]}\n  api: {image: busybox, networks: [back]}\n"
            "networks:\n  front: {}\n  back: {driver: bridge}\n")
    c = FakeCluster()
    up(load(tmp_path, text), c, UpOptions(services=[], scale={}))
    assert c.log[:2] == ["network p_back (bridge)", "network p_front"]
    c.log.clear()
    down("p", c)
    assert c.log == ["remove p_api p_web", "rm network p_back", "rm network p_front"] and c.nets == {}
