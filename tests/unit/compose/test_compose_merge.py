"""Several `-f` files, `extends` and `include`."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError

from .composetest import load, service, write

BASE = """
services:
  web:
    image: busybox:1
    command: ["sh", "-c", "sleep 1"]
    entrypoint: /bin/sh
    ports:
      - "8080:80"
      - "9090:90"
    volumes:
      - ./a:/a
      - data:/data
    environment:
      KEEP: base
      CHANGE: base
    labels:
      keep: base
      change: base
    dns: 8.8.8.8
    healthcheck:
      test: ["CMD", "true"]
      interval: 10s
    logging:
      driver: json-file
      options:
        max-size: 1m
volumes:
  data: {}
"""

OVERRIDE = """
services:
  web:
    image: busybox:2
    command: echo override
    ports:
      - "8080:80"
      - "7070:70"
    volumes:
      - ./b:/a
    environment:
      CHANGE: override
      ADDED: override
    labels:
      change: override
    dns: 1.1.1.1
    healthcheck:
      test: ["CMD", "false"]
    logging:
      driver: syslog
      options:
        tag: web
  extra:
    image: busybox
"""


def test_override_rules(tmp_path) -> None:
    write(tmp_path, {"compose.yml": BASE, "compose.override.yml": OVERRIDE})
    p = load(tmp_path, compose=["compose.yml", "compose.override.yml"])
    web = service(p, "web")
    assert web["image"] == "busybox:2"
    assert web["command"] == ["echo", "override"]  # replaced, not appended
    assert web["entrypoint"] == ["/bin/sh"]
    assert [(x["published"], x["target"]) for x in web["ports"]] == [("8080", 80), ("9090", 90), ("7070", 70)]
    assert [(v["source"], v["target"]) for v in web["volumes"]] == [
        (str(tmp_path / "b"), "/a"),  # same target: the override wins, in place
        ("data", "/data"),
    ]
    assert web["environment"] == {"ADDED": "override", "CHANGE": "override", "KEEP": "base"}
    assert web["labels"] == {"change": "override", "keep": "base"}
    assert web["dns"] == ["8.8.8.8", "1.1.1.1"]
    assert web["healthcheck"] == {"test": ["CMD", "false"], "interval": "10s"}
    assert web["logging"] == {"driver": "syslog", "options": {"tag": "web"}}  # other driver: replaced
    assert "extra" in p.services


def test_default_files_include_the_override_file(tmp_path) -> None:
    write(tmp_path, {"compose.yml": BASE, "compose.override.yml": OVERRIDE})
    p = load(tmp_path)
    assert service(p, "web")["image"] == "busybox:2"
    assert p.compose_files == [str(tmp_path / "compose.yml"), str(tmp_path / "compose.override.yml")]


def test_same_logging_driver_merges_options(tmp_path) -> None:
    write(
        tmp_path,
        {
            "a.yml": "services:\n  s:\n    image: x\n    logging:\n      driver: local\n      options: {a: '1'}\n",
            "b.yml": "services:\n  s:\n    logging:\n      options: {b: '2'}\n",
        },
    )
    p = load(tmp_path, compose=["a.yml", "b.yml"])
    assert service(p, "s")["logging"] == {"driver": "local", "options": {"a": "1", "b": "2"}}


def test_reset_and_override_tags(tmp_path) -> None:
    write(
        tmp_path,
        {
            "a.yml": "services:\n  s:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
            "b.yml": "services:\n  s:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
        },
    )
    s = service(load(tmp_path, compose=["a.yml", "b.yml"]), "s")
    assert "ports" not in s
    assert s["environment"] == {"C": "3"}


def test_relative_paths_of_override_files_use_the_project_dir(tmp_path) -> None:
    write(
        tmp_path,
        {
            "compose.yml": "services:\n  s:\n    image: x\n",
            "sub/over.yml": "services:\n  s:\n    volumes: ['./data:/data']\n",
        },
    )
    p = load(tmp_path, compose=["compose.yml", "sub/over.yml"])
    assert service(p, "s")["volumes"][0]["source"] == str(tmp_path / "data")


def test_extends_same_file(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            services:
              base:
                image: busybox
                environment: {A: base, B: base}
                ports: ["80:80"]
              child:
                extends: base
                environment: {B: child}
                ports: ["81:81"]
              grandchild:
                extends:
                  service: child
                command: echo hi
            """},
    )
    child = service(p, "child")
    assert child["image"] == "busybox"
    assert child["environment"] == {"A": "base", "B": "child"}
    assert [x["target"] for x in child["ports"]] == [80, 81]
    assert "extends" not in child
    assert service(p, "grandchild")["command"] == ["echo", "hi"]
    assert service(p, "grandchild")["environment"] == {"A": "base", "B": "child"}


def test_extends_other_file_resolves_its_paths_against_that_file(tmp_path) -> None:
    p = load(
        tmp_path,
        {
            "compose.yml": """
                services:
                  web:
                    extends:
                      file: common/base.yml
                      service: app
                    image: web
                """,
            "common/base.yml": """
                services:
                  app:
                    image: app
                    build: ./ctx
                    volumes: ["./conf:/etc/conf"]
                """,
        },
    )
    web = service(p, "web")
    assert web["image"] == "web"
    assert web["build"] == {"context": str(tmp_path / "common" / "ctx"), "dockerfile": "Dockerfile"}
    assert web["volumes"][0]["source"] == str(tmp_path / "common" / "conf")


def test_extends_errors(tmp_path) -> None:
    with pytest.raises(ComposeError, match='service "missing" not found'):
        load(tmp_path, {"compose.yml": "services:\n  a:\n    extends: missing\n"})
    with pytest.raises(ComposeError, match="circular reference with extends"):
        load(tmp_path, {"compose.yml": "services:\n  a:\n    extends: b\n  b:\n    extends: a\n"})


def test_include(tmp_path) -> None:
    p = load(
        tmp_path,
        {
            "compose.yml": """
                include:
                  - lib/db.yml
                services:
                  web:
                    image: web
                    depends_on: [db]
                """,
            "lib/db.yml": """
                services:
                  db:
                    image: postgres:${PG:-15}
                    volumes: ["./init:/docker-entrypoint-initdb.d", "pgdata:/var/lib/postgresql/data"]
                volumes:
                  pgdata: {}
                """,
            "lib/.env": "PG=16\n",
        },
    )
    db = service(p, "db")
    assert db["image"] == "postgres:16"
    assert db["volumes"][0]["source"] == str(tmp_path / "lib" / "init")
    assert p.volumes["pgdata"].name == f"{p.name}_pgdata"
    assert service(p, "web")["depends_on"] == {"db": {"condition": "service_started", "required": True}}


def test_include_conflict_is_an_error(tmp_path) -> None:
    with pytest.raises(ComposeError, match="services.db conflicts with imported resource"):
        load(
            tmp_path,
            {
                "compose.yml": "include: [other.yml]\nservices:\n  db:\n    image: mine\n",
                "other.yml": "services:\n  db:\n    image: theirs\n",
            },
        )


def test_ulimit_and_build_and_depends_on_merge(tmp_path) -> None:
    write(
        tmp_path,
        {
            "a.yml": """
                services:
                  s:
                    build: ./a
                    ulimits: {nofile: 1024, nproc: 10}
                    depends_on: [db]
                    networks: [front]
                  db: {image: x}
                networks:
                  front: {}
                """,
            "b.yml": """
                services:
                  s:
                    build: {args: {V: '1'}}
                    ulimits: {nofile: {soft: 1, hard: 2}}
                    depends_on:
                      db: {condition: service_healthy}
                    networks:
                      front: {aliases: [s1]}
                """,
        },
    )
    s = service(load(tmp_path, compose=["a.yml", "b.yml"]), "s")
    assert s["build"] == {"context": str(tmp_path / "a"), "dockerfile": "Dockerfile", "args": {"V": "1"}}
    assert s["ulimits"] == {"nofile": {"soft": 1, "hard": 2}, "nproc": 10}
    assert s["depends_on"] == {"db": {"condition": "service_healthy", "required": True}}
    assert s["networks"] == {"front": {"aliases": ["s1"]}}
