"""Variable interpolation: every form of the spec, nested defaults, `$$`, errors."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError
from orchestrator.compose.interpolate import substitute

from .composetest import load, service

ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$SET", "value"),
        ("${SET}", "value"),
        ("pre-${SET}-post", "pre-value-post"),
        ("$SET.txt", "value.txt"),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?must be set}", "value"),
        ("${EMPTY?must be set}", ""),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a ${SET} b}", "a value b"),
        ("${UNSET}", ""),
        ("$UNSET", ""),
        ("${set:-lower}", "lower"),
    ],
)
def test_forms(template: str, expected: str) -> None:
    assert substitute(template, ENV) == expected


@pytest.mark.parametrize("template", ["${UNSET:?boom}", "${EMPTY:?boom}", "${UNSET?boom}"])
def test_required_variables(template: str) -> None:
    with pytest.raises(ComposeError, match=r"required variable (UNSET|EMPTY) is missing a value: boom"):
        substitute(template, ENV)


@pytest.mark.parametrize("template", ["${}", "${SET", "$1", "trailing $", "${SET:x}"])
def test_invalid_templates(template: str) -> None:
    with pytest.raises(ComposeError, match="invalid interpolation format"):
        substitute(template, ENV)


def test_unset_variable_warns_and_becomes_empty(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": "services:\n  a:\n    image: busybox:${TAG}\n"})
    assert service(p, "a")["image"] == "busybox:"
    assert p.warnings == ['The "TAG" variable is not set. Defaulting to a blank string.']


def test_values_are_interpolated_keys_are_not(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            services:
              a:
                image: ${IMAGE}
                environment:
                  $KEY: ${VALUE:-fallback}
                ports:
                  - "${PORT}:80"
                deploy:
                  replicas: ${REPLICAS}
            """},
        environ={"IMAGE": "busybox", "PORT": "8080", "REPLICAS": "3", "KEY": "ignored"},
    )
    svc = service(p, "a")
    assert svc["image"] == "busybox"
    assert svc["environment"] == {"$KEY": "fallback"}
    assert svc["ports"][0]["published"] == "8080"
    assert svc["deploy"] == {"replicas": 3}


def test_missing_required_variable_names_file_line_and_path(tmp_path) -> None:
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": "services:\n  web:\n    image: ${IMG:?set IMG first}\n"})
    assert str(err.value) == (
        "compose.yml:3: services.web.image: required variable IMG is missing a value: set IMG first"
    )


def test_no_interpolation_option(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": "services:\n  a:\n    image: ${X:-busybox}\n"}, interpolate=False)
    assert service(p, "a")["image"] == "${X:-busybox}"
