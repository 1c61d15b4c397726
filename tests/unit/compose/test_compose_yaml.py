"""YAML reading: 1.2 semantics, anchors and merge keys, extensions, syntax errors."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError
from orchestrator.compose.yamlio import parse_yaml

from .composetest import load, service


def test_yaml12_scalars_stay_strings() -> None:
    data, _ = parse_yaml("a: 22:22\nb: on\nc: yes\nd: off\ne: 1.5\nf: ~\ng: 0x10\nh: true\n", "f.yml")
    assert data == {"a": "22:22", "b": "on", "c": "yes", "d": "off", "e": 1.5, "f": None, "g": 16, "h": True}


def test_unquoted_port_pair_is_not_base60(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            services:
              ssh:
                image: busybox
                ports:
                  - 22:22
                environment:
                  ENABLED: on
                  ANSWER: yes
            """},
    )
    svc = service(p, "ssh")
    assert svc["ports"] == [{"mode": "ingress", "target": 22, "published": "22", "protocol": "tcp"}]
    assert svc["environment"] == {"ANSWER": "yes", "ENABLED": "on"}


def test_anchors_merge_keys_and_extensions(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            x-defaults: &defaults
              image: busybox
              restart: always
              labels:
                team: core
            x-more: &more
              restart: "no"
              user: nobody
            services:
              a:
                <<: *defaults
              b:
                <<: [*more, *defaults]
                image: alpine
                x-note: kept
            """},
    )
    assert service(p, "a") == {
        "image": "busybox",
        "labels": {"team": "core"},
        "networks": {"default": None},
        "restart": "always",
    }
    b = service(p, "b")
    assert (b["image"], b["restart"], b["user"]) == ("alpine", "no", "nobody")
    assert b["x-note"] == "kept"
    assert p.extensions["x-defaults"]["image"] == "busybox"


def test_broken_yaml_reports_line_and_column(tmp_path) -> None:
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": "services:\n  web:\n    image: x\n     ports: []\n"})
    assert str(err.value).startswith("compose.yml:4:11: yaml: ")
    assert "\n" not in str(err.value)


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(ComposeError, match=r'f.yml:2:1: yaml: mapping key "a" already defined at line 1'):
        parse_yaml("a: 1\na: 2\n", "f.yml")


def test_version_is_dropped_with_a_warning(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": "version: '3.8'\nservices:\n  a:\n    image: busybox\n"})
    path = tmp_path / "compose.yml"
    assert p.warnings == [
        f"{path}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"
    ]
    assert "version" not in p.model_dump()
