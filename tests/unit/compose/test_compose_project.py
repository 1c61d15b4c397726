"""Project name precedence, profiles and dependency order."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError, start_order

from .composetest import load, write

SIMPLE = "services:\n  a:\n    image: busybox\n"


@pytest.mark.parametrize(
    ("kwargs", "environ", "dotenv", "declared", "expected"),
    [
        ({"project_name": "flag"}, {"COMPOSE_PROJECT_NAME": "env"}, "", "name: file\n", "flag"),
        ({}, {"COMPOSE_PROJECT_NAME": "env"}, "", "name: file\n", "env"),
        ({}, {}, "COMPOSE_PROJECT_NAME=dotenv\n", "name: file\n", "dotenv"),
        ({}, {}, "", "name: file\n", "file"),
        ({}, {"N": "interp"}, "", "name: ${N}\n", "interp"),
        ({}, {}, "", "", "my-app_dir"),
    ],
)
def test_project_name_precedence(tmp_path, kwargs, environ, dotenv, declared, expected) -> None:
    directory = tmp_path / "My-App_Dir"
    directory.mkdir()
    files = {"compose.yml": declared + SIMPLE}
    if dotenv:
        files[".env"] = dotenv
    p = load(directory, files, environ=environ, **kwargs)
    assert p.name == expected


def test_directory_name_is_normalized(tmp_path) -> None:
    directory = tmp_path / "pihole-cloudflared-DoH"
    directory.mkdir()
    assert load(directory, {"compose.yml": SIMPLE}).name == "pihole-cloudflared-doh"


def test_invalid_explicit_project_name(tmp_path) -> None:
    with pytest.raises(ComposeError, match='invalid project name "Bad Name"'):
        load(tmp_path, {"compose.yml": SIMPLE}, project_name="Bad Name")


PROFILES = """
services:
  web:
    image: busybox
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: busybox
    profiles: [tools, debug]
"""


@pytest.mark.parametrize(
    ("profiles", "environ", "expected"),
    [
        ([], {}, ["web"]),
        (["debug"], {}, ["debug", "tools", "web"]),
        (["tools"], {}, ["tools", "web"]),
        ([], {"COMPOSE_PROFILES": "tools"}, ["tools", "web"]),
        ([], {"COMPOSE_PROFILES": "*"}, ["debug", "tools", "web"]),
        (["tools"], {"COMPOSE_PROFILES": "debug"}, ["tools", "web"]),
    ],
)
def test_profiles(tmp_path, profiles, environ, expected) -> None:
    p = load(tmp_path, {"compose.yml": PROFILES}, profiles=profiles, environ=environ)
    assert sorted(p.services) == expected
    assert p.all_profiles() == ["debug", "tools"]


def test_start_order(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            services:
              web: {image: x, depends_on: [api, cache]}
              api: {image: x, depends_on: {db: {condition: service_healthy}}}
              db: {image: x}
              cache: {image: x}
              worker: {image: x, links: ["db:database"]}
            """},
    )
    assert start_order(p) == [["cache", "db"], ["api", "worker"], ["web"]]
    assert p.service_dependencies("api")["db"].condition == "service_healthy"


def test_dependency_cycle(tmp_path) -> None:
    write(tmp_path, {"compose.yml": """
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x, depends_on: [c]}
          c: {image: x, depends_on: [a]}
        """})
    with pytest.raises(ComposeError) as err:
        load(tmp_path)
    assert str(err.value) == "compose.yml:2: services.a.depends_on: dependency cycle detected: a -> b -> c -> a"


def test_self_dependency_is_a_cycle(tmp_path) -> None:
    with pytest.raises(ComposeError, match="dependency cycle detected: a -> a"):
        load(tmp_path, {"compose.yml": "services:\n  a: {image: x, depends_on: [a]}\n"})
