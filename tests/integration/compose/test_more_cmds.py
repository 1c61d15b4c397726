"""`orch compose run|restart|pause|unpause|kill|rm|top|images|port|events` and `down --rmi` (issue 5 part 4)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path

import pytest

from tests.integration.compose.test_examples import EXAMPLES
from tests.integration.runtime.conftest import ORCH, eventually
from tests.integration.services.svchelpers import Cluster

APP = """name: more
services:
  app:
    image: busybox:latest
    command: [sleep, '3600']
    environment: {FROM_FILE: yes-it-is}
  other:
    image: busybox:latest
    command: [sleep, '3600']
"""


@pytest.fixture
def app(cluster: Cluster, tmp_path: Path) -> Path:
    f = tmp_path / "compose.yaml"
    f.write_text(APP)
    cluster.ok("compose", "-f", str(f), "up", "-d", "--wait", timeout=120)
    try:
        yield f
    finally:
        cluster.ok("compose", "-f", str(f), "down", timeout=120)
    assert "more_" not in cluster.ok("ps", "-a", "--format", "{{.Names}}")


def state(cluster: Cluster, f: Path, service: str) -> list[str]:
    out = cluster.ok("compose", "-f", str(f), "ps", "-a", "--format", "json")
    return [r["State"] for r in json.loads(out) if r["Service"] == service]


def test_run_one_off_on_the_project_network(cluster: Cluster, app: Path) -> None:
    c = ["compose", "-f", str(app)]
    out = cluster.ok(*c, "run", "--rm", "-T", "-e", "EXTRA=1", "app", "sh", "-c", "echo $FROM_FILE $EXTRA; nslookup other")
    assert "yes-it-is 1" in out
    assert "Name:" in out  # the sibling service resolves: the one-off is on the project's network
    assert "more_app_run" not in cluster.ok("ps", "-a", "--format", "{{.Names}}")  # --rm
    name = cluster.ok(*c, "run", "-d", "--name", "more_oneoff", "app").strip()
    assert name == "more_oneoff"
    labels = cluster.ok("inspect", "--format", "{{json .Config.Labels}}", "more_oneoff")
    assert json.loads(labels)["com.docker.compose.oneoff"] == "True"
    assert "more_oneoff" not in cluster.ok(*c, "ps")  # compose ps leaves one-off containers out
    r = cluster.orch(*c, "run", "nosuch")
    assert r.returncode != 0 and "no such service: nosuch" in r.stderr and "Traceback" not in r.stderr
    # down removes the one-off container too (checked by the fixture)


def test_pause_unpause_kill_restart_top_images(cluster: Cluster, app: Path) -> None:
    c = ["compose", "-f", str(app)]
    cluster.ok(*c, "pause", "app")
    assert state(cluster, app, "app") == ["paused"]
    assert state(cluster, app, "other") == ["running"]
    cluster.ok(*c, "unpause")
    assert state(cluster, app, "app") == ["running"]
    top = cluster.ok(*c, "top", "app")
    assert "more_app.1." in top and "sleep 3600" in top and "PID" in top
    images = cluster.ok(*c, "images")
    assert images.splitlines()[0].split()[:3] == ["CONTAINER", "REPOSITORY", "TAG"]
    assert "busybox" in images and "latest" in images and images.count("more_") == 2
    before = cluster.ok("ps", "-q", "-f", "label=com.docker.compose.service=other").split()
    cluster.ok(*c, "restart", "-t", "1", "other")
    eventually(lambda: state(cluster, app, "other").count("running") == 1, timeout=30)
    r = cluster.orch(*c, "kill", "-s", "SIGKILL", "app")
    assert r.returncode == 0 and "Killed" in r.stderr, r.stderr
    # the service's restart policy brings a new task up
    eventually(lambda: len(cluster.running("more_app")) == 1, timeout=30)
    assert before  # restart kept the service running (checked above)
    r = cluster.orch(*c, "kill", "nosuch")
    assert r.returncode != 0 and "no such service" in r.stderr


def test_rm_removes_stopped_containers(cluster: Cluster, app: Path) -> None:
    c = ["compose", "-f", str(app)]
    cluster.ok(*c, "run", "-d", "--name", "more_done", "app", "true")
    eventually(lambda: "exited" in cluster.ok("ps", "-a", "--format", "{{.State}}", "-f", "name=more_done"), timeout=20)
    r = cluster.orch(*c, "rm", "-f")
    assert r.returncode == 0 and "more_done" in r.stderr, r.stderr
    assert "more_done" not in cluster.ok("ps", "-a", "--format", "{{.Names}}")
    assert len(cluster.running("more_app")) == 1  # running containers are left alone
    r = cluster.orch(*c, "rm", "-f", "-s", "other")
    assert r.returncode == 0, r.stderr
    assert state(cluster, app, "other") == []
    assert state(cluster, app, "app") == ["running"]


def test_events_json(cluster: Cluster, app: Path) -> None:
    proc = subprocess.Popen([*ORCH, "compose", "-f", str(app), "events", "--json"], env=cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        def saw_kill() -> bool:
            cluster.ok("compose", "-f", str(app), "kill", "-s", "SIGUSR1", "other")
            try:
                while True:
                    ev = json.loads(lines.get(timeout=1))
                    if ev["action"] == "kill" and ev["service"] == "other":
                        assert ev["type"] == "container" and ev["attributes"]["project"] == "more"
                        assert ev["attributes"]["signal"] in ("10", "SIGUSR1")
                        return True
            except queue.Empty:
                return False

        eventually(saw_kill, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_port_and_down_rmi(cluster: Cluster, tmp_path: Path) -> None:
    f = EXAMPLES / "hello-web" / "compose.yaml"
    try:
        cluster.ok("compose", "-f", str(f), "up", "-d", "--wait", timeout=120)
        assert cluster.ok("compose", "-f", str(f), "port", "web", "80").strip() == "0.0.0.0:8080"
        r = cluster.orch("compose", "-f", str(f), "port", "web", "81")
        assert r.returncode != 0 and "no port 81/tcp" in r.stderr
    finally:
        cluster.ok("compose", "-f", str(f), "down", timeout=120)
    # --rmi all removes the services' images: do it on a copy of busybox so the other tests keep theirs
    cluster.ok("image", "tag", "busybox:latest", "rmi-me:latest")
    g = tmp_path / "compose.yaml"
    g.write_text("name: rmi\nservices:\n  a:\n    image: rmi-me:latest\n    command: [sleep, '3600']\n")
    cluster.ok("compose", "-f", str(g), "up", "-d", "--wait", timeout=120)
    cluster.ok("compose", "-f", str(g), "down", "--rmi", "local", timeout=120)
    assert "rmi-me" in cluster.ok("image", "ls")  # local: only images without a custom name
    cluster.ok("compose", "-f", str(g), "up", "-d", "--wait", timeout=120)
    cluster.ok("compose", "-f", str(g), "down", "--rmi", "all", timeout=120)
    assert "rmi-me" not in cluster.ok("image", "ls")
    assert "busybox" in cluster.ok("image", "ls")
