"""compose-examples/ end to end: `orch up -d`, check the app works, `orch down` (issue 5 part 5)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.integration.network_cli.hostns import in_netns
from tests.integration.runtime.conftest import ROOT, eventually
from tests.integration.services.svchelpers import Cluster

EXAMPLES = ROOT / "compose-examples"


def http_get(cluster: Cluster, port: int, timeout: float = 1.0) -> bytes:
    def go() -> bytes:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
                return out
        except OSError:
            return b""

    return in_netns(cluster.netns.host_path, go)  # type: ignore[return-value]


def boot_time(cluster: Cluster) -> bytes:
    """The store's boot stamp as web serves it (empty until the chain web -> api -> store delivered it)."""
    body = http_get(cluster, 8081).partition(b"\r\n\r\n")[2].strip()
    return body if body.isdigit() else b""


def compose(cluster: Cluster, example: str, *args: str, files: tuple[str, ...] = ("compose.yaml",)) -> list[str]:
    out: list[str] = ["compose"]
    for f in files:
        out += ["-f", str(EXAMPLES / example / f)]
    return [*out, *args]


def test_hello_web(cluster: Cluster) -> None:
    cluster.ok(*compose(cluster, "hello-web", "up", "-d", "--wait"), timeout=120)
    try:
        eventually(lambda: b"hello from orch" in http_get(cluster, 8080), timeout=15)
        ps = cluster.ok(*compose(cluster, "hello-web", "ps"))
        assert "hello_web.1." in ps and "web" in ps
        assert "hello" in cluster.ok("compose", "ls")
        # up twice is a no-op: the same task keeps running
        before = [t["ID"] for t in cluster.running("hello_web")]
        r = cluster.orch(*compose(cluster, "hello-web", "up", "-d"))
        assert r.returncode == 0, r.stderr
        assert "Recreat" not in r.stderr and "Creat" not in r.stderr
        assert [t["ID"] for t in cluster.running("hello_web")] == before
        assert cluster.ok(*compose(cluster, "hello-web", "ps", "--services")).split() == ["web"]
        out = cluster.ok(*compose(cluster, "hello-web", "exec", "-T", "--index", "1", "web", "cat", "/tmp/index.html"))
        assert out.strip() == "hello from orch"
        cluster.ok(*compose(cluster, "hello-web", "stop"), timeout=60)
        assert cluster.running("hello_web") == []
        cluster.ok(*compose(cluster, "hello-web", "start"), timeout=60)
        eventually(lambda: len(cluster.running("hello_web")) == 1, timeout=30)
        eventually(lambda: b"hello from orch" in http_get(cluster, 8080), timeout=15)
    finally:
        cluster.ok(*compose(cluster, "hello-web", "down"), timeout=120)
    assert cluster.ok("service", "ls", "-q").split() == []
    assert "hello_default" not in cluster.ok("network", "ls")


def test_bad_file_leaves_deployment_untouched(cluster: Cluster, tmp_path: Path) -> None:
    good = tmp_path / "compose.yaml"
    good.write_text("name: keep\nservices:\n  a:\n    image: busybox:latest\n    command: [sleep, '3600']\n")
    cluster.ok("up", "-d", "--wait", "-f", str(good), timeout=120)
    try:
        before = [t["ID"] for t in cluster.running("keep_a")]
        good.write_text("name: keep\nservices:\n  a:\n    image: busybox:latest\n    command: [sleep, '3600']\n"
                        "    ports: ['80:80:80']\n")
        r = cluster.orch("up", "-d", "-f", str(good))
        assert r.returncode != 0 and "ports" in r.stderr and "Traceback" not in r.stderr
        good.write_text("name: keep\nservices:\n  a:\n    image: busybox:latest\n    command: [sleep, '3600']\n"
                        "    ports: ['9000:80']\n  b:\n    image: busybox:latest\n    ports: ['9000:81']\n")
        r = cluster.orch("up", "-d", "-f", str(good))
        assert r.returncode != 0 and "9000" in r.stderr
        assert [t["ID"] for t in cluster.running("keep_a")] == before
        # editing one service's environment replaces only that service's tasks
        good.write_text("name: keep\nservices:\n  a:\n    image: busybox:latest\n    command: [sleep, '3600']\n"
                        "  b:\n    image: busybox:latest\n    command: [sleep, '3600']\n")
        cluster.ok("up", "-d", "--wait", "-f", str(good), timeout=120)
        b_tasks = [t["ID"] for t in cluster.running("keep_b")]
        good.write_text("name: keep\nservices:\n  a:\n    image: busybox:latest\n    command: [sleep, '3600']\n"
                        "    environment: {X: '1'}\n  b:\n    image: busybox:latest\n    command: [sleep, '3600']\n")
        a_id = json.loads(cluster.ok("service", "inspect", "keep_a"))[0]["ID"]
        r = cluster.orch("up", "-d", "--wait", "-f", str(good), timeout=120)
        assert r.returncode == 0, r.stderr
        assert "Service keep_a" in r.stderr and "Updated" in r.stderr and "Recreat" not in r.stderr
        assert [t["ID"] for t in cluster.running("keep_b")] == b_tasks
        running_a = cluster.running("keep_a")
        assert len(running_a) == 1 and running_a[0]["ID"] not in before
        assert "X=1" in cluster.ok("exec", running_a[0]["Name"], "env").split()
        doc = json.loads(cluster.ok("service", "inspect", "keep_a"))[0]
        assert doc["ID"] == a_id, "updated in place, not removed and created again"
        assert doc["UpdateStatus"]["State"] == "completed" and "PreviousSpec" in doc
        # --force-recreate rolls the tasks of an unchanged service through an update as well
        cluster.ok("up", "-d", "--wait", "--force-recreate", "-f", str(good), "b", timeout=120)
        assert not set(b_tasks) & {t["ID"] for t in cluster.running("keep_b")}
        assert json.loads(cluster.ok("service", "inspect", "keep_b"))[0]["Spec"]["TaskTemplate"]["ForceUpdate"] == 1
        # build: without an image that exists is refused in one line, naming the service
        built = tmp_path / "built.yaml"
        built.write_text("name: keep\nservices:\n  c:\n    build: .\n")
        r = cluster.orch("up", "-d", "-f", str(built))
        assert r.returncode != 0 and "service 'c'" in r.stderr and "not supported yet" in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
        built.write_text("name: keep\nservices:\n  c:\n    build: .\n    image: busybox:latest\n"
                         "    command: [sleep, '3600']\n")
        r = cluster.orch("up", "-d", "--build", "-f", str(built))
        assert r.returncode != 0 and "--build: building images is not supported yet" in r.stderr
    finally:
        cluster.ok("down", "-f", str(good), timeout=120)


def test_web_api_store_volume_survives_down(cluster: Cluster) -> None:
    ex = "web-api-store"
    try:
        cluster.ok(*compose(cluster, ex, "up", "-d", "--wait"), timeout=180)
        first = eventually(lambda: boot_time(cluster), timeout=30)
        cluster.ok(*compose(cluster, ex, "down"), timeout=120)
        assert "shop_data" in cluster.ok("volume", "ls")
        cluster.ok(*compose(cluster, ex, "up", "-d", "--wait"), timeout=180)
        again = eventually(lambda: boot_time(cluster), timeout=30)
        assert again == first
    finally:
        cluster.ok(*compose(cluster, ex, "down", "-v"), timeout=120)
    assert "shop_data" not in cluster.ok("volume", "ls")


def test_replicated_reached_by_name(cluster: Cluster) -> None:
    ex = "replicated"
    try:
        cluster.ok(*compose(cluster, ex, "up", "-d", "--wait"), timeout=180)
        assert len(cluster.running("rep_echo")) == 5
        def ask() -> bool:
            r = cluster.orch(*compose(cluster, ex, "exec", "-T", "client", "sh", "-c",
                                      "timeout 3 wget -q -O - http://echo/ && nslookup echo && echo --- "
                                      "&& nslookup tasks.echo; exit $?"))
            # reached by name: the name is one VIP, tasks.echo resolves to all five replicas
            vip, _, tasks = r.stdout.partition("---")
            return r.returncode == 0 and vip.count("Name:") == 1 and tasks.count("Name:") == 5

        eventually(ask, timeout=30)
        cluster.ok(*compose(cluster, ex, "scale", "echo=2"))
        eventually(lambda: len(cluster.running("rep_echo")) == 2, timeout=30)
    finally:
        cluster.ok(*compose(cluster, ex, "down"), timeout=120)


def test_global_service_and_stack_names(cluster: Cluster) -> None:
    try:
        cluster.ok("stack", "deploy", "-c", str(EXAMPLES / "global" / "compose.yaml"), "glob", timeout=120)
        eventually(lambda: len(cluster.running("glob_agent")) == 1, timeout=30)
        assert "glob" in cluster.ok("stack", "ls")
        assert "glob_agent" in cluster.ok("stack", "services", "glob")
        assert "glob_agent" in cluster.ok("stack", "ps", "glob")
    finally:
        cluster.ok("stack", "rm", "glob", timeout=120)
    assert cluster.ok("service", "ls", "-q").split() == []


def test_profiles_env_override(cluster: Cluster) -> None:
    ex = "profiles-env"
    files = ("compose.yaml", "compose.override.yaml")
    try:
        cluster.ok(*compose(cluster, ex, "up", "-d", "--wait", files=files), timeout=120)
        body = eventually(lambda: http_get(cluster, 8082), timeout=15)
        assert b"hello from .env (overridden)" in body  # type: ignore[operator]
        assert cluster.ok("service", "ls", "--format", "{{.Name}}").split() == ["prof_app"]
        cluster.ok(*compose(cluster, ex, "--profile", "debug", "up", "-d", "--wait", files=files), timeout=120)
        assert sorted(cluster.ok("service", "ls", "--format", "{{.Name}}").split()) == ["prof_app", "prof_debug"]
        logs = cluster.ok(*compose(cluster, ex, "logs", files=files))
        assert logs is not None
    finally:
        cluster.ok(*compose(cluster, ex, "down", files=files), timeout=120)


def test_wait_reports_why_a_service_does_not_start(cluster: Cluster, tmp_path: Path) -> None:
    f = tmp_path / "compose.yaml"
    f.write_text("name: broken\nservices:\n  a:\n    image: nosuchimage:latest\n")
    try:
        r = cluster.orch("up", "-d", "--wait", "--wait-timeout", "3", "-f", str(f))
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert "timed out" in r.stderr and "nosuchimage" in r.stderr, r.stderr
    finally:
        cluster.ok("down", "-f", str(f), timeout=120)
