"""`service update` flags applied to a ServiceSpec document, and `--publish` forms (pure, no daemon)."""

from __future__ import annotations

import argparse

import pytest

from orchestrator.cli.errors import CliError
from orchestrator.cli.main import build_parser
from orchestrator.cli.service_update import apply_update, port_docs, rolls_tasks
from orchestrator.cli.services import build_spec

SPEC = {
    "Name": "web",
    "Labels": {"a": "1"},
    "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Env": ["B=2", "A=1"], "Labels": {"x": "y"}},
                     "Resources": {"Limits": {}, "Reservations": {}}, "RestartPolicy": {"Condition": "any"}},
    "Mode": {"Replicated": {"Replicas": 3}},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                                               "PublishMode": "ingress"}]},
}


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["service", "update", *argv, "web"])


def test_env_labels_image_and_args() -> None:
    new = apply_update(SPEC, _args("--env-add", "C=3", "--env-add", "A=9", "--env-rm", "B", "--image", "nginx",
                                   "--label-add", "z=1", "--label-rm", "a", "--container-label-rm", "x",
                                   "--args", "sh -c 'sleep 1'"))
    c = new["TaskTemplate"]["ContainerSpec"]
    assert c["Env"] == ["A=9", "C=3"] and c["Image"] == "nginx" and c["Args"] == ["sh", "-c", "sleep 1"]
    assert c["Labels"] == {} and new["Labels"] == {"z": "1"}
    assert SPEC["TaskTemplate"]["ContainerSpec"]["Env"] == ["B=2", "A=1"], "the input is not modified"


def test_replicas_update_config_limits_and_force() -> None:
    new = apply_update(SPEC, _args("--replicas", "5", "--update-parallelism", "2", "--update-delay", "1s",
                                   "--update-order", "start-first", "--update-failure-action", "continue",
                                   "--limit-cpu", "0.5", "--limit-memory", "64m", "--force"))
    assert new["Mode"] == {"Replicated": {"Replicas": 5}}
    assert new["UpdateConfig"] == {"Parallelism": 2, "Delay": 1_000_000_000, "Order": "start-first",
                                   "FailureAction": "continue"}
    assert new["TaskTemplate"]["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}
    assert new["TaskTemplate"]["ForceUpdate"] == 1
    assert apply_update(new, _args("--force"))["TaskTemplate"]["ForceUpdate"] == 2
    assert not rolls_tasks(SPEC, apply_update(SPEC, _args("--replicas", "5")))
    assert rolls_tasks(SPEC, apply_update(SPEC, _args("--force")))


def test_publish_add_and_rm() -> None:
    new = apply_update(SPEC, _args("--publish-add", "9090:90/udp", "--publish-rm", "80"))
    assert new["EndpointSpec"]["Ports"] == [{"Protocol": "udp", "TargetPort": 90, "PublishedPort": 9090,
                                             "PublishMode": "ingress"}]
    replaced = apply_update(SPEC, _args("--publish-add", "published=8080,target=81,mode=host"))
    assert [p["TargetPort"] for p in replaced["EndpointSpec"]["Ports"]] == [81]


def test_replicas_of_a_global_service_is_an_error() -> None:
    with pytest.raises(CliError, match="replicas can only be used with replicated mode"):
        apply_update({**SPEC, "Mode": {"Global": {}}}, _args("--replicas", "2"))


@pytest.mark.parametrize(("value", "port"), [
    ("8080:80", {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}),
    ("8080:80/udp", {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}),
    ("80", {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 0, "PublishMode": "ingress"}),
    ("published=8080,target=80,protocol=tcp,mode=host",
     {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}),
    ("target=53,protocol=udp", {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 0, "PublishMode": "ingress"}),
])
def test_publish_forms(value: str, port: dict) -> None:
    assert port_docs([value]) == [port]


@pytest.mark.parametrize("value", ["127.0.0.1:8080:80", "x:80", "published=80", "8080:80/icmp"])
def test_bad_publish_values_are_one_line_errors(value: str) -> None:
    with pytest.raises(CliError) as err:
        port_docs([value])
    assert "\n" not in str(err.value)


def test_create_publish_goes_into_the_endpoint_spec() -> None:
    args = build_parser().parse_args(["service", "create", "-p", "8080:80", "--publish", "81",
                                      "--update-parallelism", "0", "busybox"])
    doc = build_spec(args)
    assert [(p["PublishedPort"], p["TargetPort"]) for p in doc["EndpointSpec"]["Ports"]] == [(8080, 80), (0, 81)]
    assert doc["UpdateConfig"] == {"Parallelism": 0}
