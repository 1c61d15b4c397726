"""`orch config`: canonical YAML and JSON output, the listing flags, errors, speed."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.cli.compose_config import add_config_arguments, add_project_arguments, run_config
from orchestrator.compose import ComposeError, check_port_conflicts, render, unsupported_keys

from .composetest import load, write

FIXTURE = Path(__file__).parent / "fixtures" / "app"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    target = tmp_path / "app"
    shutil.copytree(FIXTURE, target)
    return target


def _run(argv: list[str], cwd: Path, monkeypatch) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_project_arguments(parser)
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    monkeypatch.chdir(cwd)
    for var in ("COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE", "NGINX_TAG", "DEBUG"):
        monkeypatch.delenv(var, raising=False)
    out, err = io.StringIO(), io.StringIO()
    code = run_config(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_yaml_output_matches_docker_compose_shape(app_dir, monkeypatch) -> None:
    code, out, err = _run([], app_dir, monkeypatch)
    assert code == 0
    expected = (app_dir / "expected.yml").read_text().replace("@DIR@", str(app_dir))
    assert out == expected
    assert err == (
        f"WARN[0000] {app_dir / 'compose.yml'}: the attribute `version` is obsolete, it will be ignored, "
        "please remove it to avoid potential confusion\n"
    )


def test_output_reads_back_to_the_same_document(app_dir, monkeypatch) -> None:
    _, out, _ = _run([], app_dir, monkeypatch)
    reread = load(app_dir, compose=[], environ={})
    assert yaml.safe_load(out)["services"]["web"]["ports"][0]["published"] == "8080"
    write(app_dir, {"canonical.yml": out})
    again = load(app_dir, compose=["canonical.yml"])
    assert render(again) == render(reread)  # canonical output is a fixed point


def test_json_output(app_dir, monkeypatch) -> None:
    code, out, _ = _run(["--format", "json"], app_dir, monkeypatch)
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["name", "services", "networks", "volumes"]
    assert data["services"]["db"]["command"] is None  # compose's JSON keeps command/entrypoint
    assert data["services"]["web"]["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}
    ]
    assert data["services"]["api"]["healthcheck"]["interval"] == "30s"


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("--services", "api\ndb\nweb\n"),
        ("--volumes", "pgdata\n"),
        ("--images", "app-api\npostgres:16\nnginx:1.25\n"),
        ("--profiles", ""),
        ("-q", ""),
    ],
)
def test_listing_flags(app_dir, monkeypatch, flag, expected) -> None:
    code, out, _ = _run([flag], app_dir, monkeypatch)
    assert (code, out) == (0, expected)


def test_errors_are_one_line_with_exit_code_1(tmp_path, monkeypatch) -> None:
    write(tmp_path, {"compose.yml": "services:\n  web:\n    image: x\n    portz: ['80:80']\n"})
    code, out, err = _run(["-f", "compose.yml"], tmp_path, monkeypatch)
    assert code == 1
    assert out == ""
    assert err == 'compose.yml:4: services.web: unknown key "portz" (did you mean "ports"?)\n'


def test_project_options_on_the_command_line(tmp_path, monkeypatch) -> None:
    write(
        tmp_path,
        {
            "base.yml": "services:\n  a:\n    image: busybox:${TAG}\n  b:\n    image: x\n    profiles: [extra]\n",
            "over.yml": "services:\n  a:\n    command: echo\n",
            "vars.env": "TAG=9\n",
        },
    )
    argv = ["-f", "base.yml", "-f", "over.yml", "-p", "proj", "--env-file", "vars.env", "--profile", "extra"]
    code, out, _ = _run(argv, tmp_path, monkeypatch)
    data = yaml.safe_load(out)
    assert code == 0
    assert data["name"] == "proj"
    assert data["services"]["a"]["image"] == "busybox:9"
    assert data["services"]["a"]["command"] == ["echo"]
    assert sorted(data["services"]) == ["a", "b"]


def test_unknown_key_in_an_override_file_names_that_file(tmp_path) -> None:
    write(tmp_path, {
        "compose.yml": "services:\n  web:\n    image: x\n",
        "override.yml": "services:\n  web:\n    # comment\n    imagee: y\n",
    })
    with pytest.raises(ComposeError) as err:
        load(tmp_path, compose=["compose.yml", "override.yml"])
    assert str(err.value) == 'override.yml:4: services.web: unknown key "imagee" (did you mean "image"?)'


def test_no_compose_file(tmp_path, monkeypatch) -> None:
    code, _, err = _run([], tmp_path, monkeypatch)
    assert code == 1
    assert err == "no configuration file provided: not found\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("services:\n  web:\n    image: x\n    portz: []\n", 'compose.yml:4: services.web: unknown key "portz"'),
        ("services:\n  web:\n    image: x\n    deploy:\n      replicaz: 2\n",
         'compose.yml:5: services.web.deploy: unknown key "replicaz" (did you mean "replicas"?)'),
        ("servicez: {}\n", 'compose.yml:1: unknown key "servicez" (did you mean "services"?)'),
        ("services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        publish: 80\n",
         'compose.yml:6: services.web.ports[0]: unknown key "publish" (did you mean "published"?)'),
        ("services:\n  web:\n    image: x\n    ports: 80\n", "compose.yml:4: services.web.ports: must be a list"),
        ("services:\n  web:\n    image: [x]\n", "compose.yml:3: services.web.image: must be a string"),
        ("services:\n  web:\n    image: x\n    privileged: maybe\n",
         'compose.yml:4: services.web.privileged: must be a boolean, got "maybe"'),
        ("- a\n- b\n", "compose.yml:1: top-level object must be a mapping"),
        ("", "compose.yml: empty compose file"),
        ("services:\n  web:\n    image: x\n    extensions: {a: 1}\n",
         'compose.yml:4: services.web: unknown key "extensions"'),
        ("environment: {A: 1}\nservices:\n  web:\n    image: x\n", 'compose.yml:1: unknown key "environment"'),
        ("services:\n  web:\n    image: x\n    x-anything: {a: 1}\nx-top: 1\n", None),
    ],
)
def test_model_errors(tmp_path, body, message) -> None:
    if message is None:  # x- extensions are allowed anywhere the spec allows them
        load(tmp_path, {"compose.yml": body})
        return
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": body})
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_unsupported_keys_are_reported(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": "services:\n  a:\n    image: x\n    gpus: all\n    privileged: true\n"})
    assert unsupported_keys(p, {"image", "networks", "privileged"}) == ["services.a.gpus"]


def test_port_conflicts(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          a: {image: x, ports: ["8080:80"]}
          b: {image: x, ports: ["8079-8081:90"]}
        """})
    with pytest.raises(ComposeError, match='services "a" and "b" both publish port 8080/tcp'):
        check_port_conflicts(p)


def test_config_of_100_services_is_fast(tmp_path) -> None:
    lines = ["services:"]
    for i in range(100):
        lines += [
            f"  svc{i}:",
            "    image: busybox:1.36",
            f"    command: sh -c 'echo {i} && sleep 3600'",
            f"    ports: ['{10000 + i}:80', '127.0.0.1:{20000 + i}:443/udp']",
            f"    volumes: ['./data{i}:/data', 'vol{i}:/var/lib']",
            "    environment: {A: '1', B: '2', C: '3'}",
            "    labels: [com.example.x=1, com.example.y=2]",
            f"    depends_on: [{'svc%d' % (i - 1) if i else 'base'}]",
            "    healthcheck: {test: 'true', interval: 30s, timeout: 5s, retries: 3}",
            "    deploy: {replicas: 2, resources: {limits: {cpus: '0.5', memory: 64M}}}",
        ]
    lines += ["  base:", "    image: busybox", "volumes:"] + [f"  vol{i}: {{}}" for i in range(100)]
    write(tmp_path, {"compose.yml": "\n".join(lines) + "\n"})
    start = time.perf_counter()
    project = load(tmp_path)
    text = render(project)
    elapsed = time.perf_counter() - start
    assert len(project.services) == 101
    assert text.count("published:") == 200
    assert elapsed < 0.5, f"config of 100 services took {elapsed:.3f}s"


def test_every_spec_key_parses_and_renders(tmp_path) -> None:
    source = Path(__file__).parent / "fixtures" / "kitchen-sink"
    target = tmp_path / "ks"
    shutil.copytree(source, target)
    raw = yaml.safe_load((source / "compose.yml").read_text())["services"]["all"]
    project = load(target)
    rendered = yaml.safe_load(render(project))["services"]["all"]
    assert set(raw) - set(rendered) == set()
    assert rendered["attach"] is False
    assert rendered["labels"] == {"a": "b"}  # from label_file
    assert rendered["blkio_config"]["device_read_bps"] == [{"path": "/dev/sda", "rate": "12582912"}]
    assert rendered["develop"]["watch"][0]["path"] == str(target / "src")
    write(target, {"canonical.yml": render(project)})
    assert render(load(target, compose=["canonical.yml"])) == render(project)
