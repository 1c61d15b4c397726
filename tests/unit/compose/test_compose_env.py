"""`.env`, `--env-file`, `env_file:` and environment resolution."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError
from orchestrator.compose.dotenv import parse_dotenv

from .composetest import load, service, write

COMPOSE = """
services:
  app:
    image: busybox:${TAG:-none}
    environment:
      FROM_FILE: ${FROM_FILE:-unset}
      SHARED: ${SHARED}
"""


def test_dotenv_syntax() -> None:
    text = (
        "# comment\n"
        "PLAIN=hello world\n"
        "export EXPORTED=yes\n"
        "COLON: value\n"
        "INLINE=abc # a comment\n"
        "HASH=abc#not-a-comment\n"
        "SINGLE='literal ${PLAIN} \\n'\n"
        'DOUBLE="line1\\nline2 ${PLAIN}"\n'
        "REF=${PLAIN}!\n"
        "EMPTY=\n"
        "INHERITED\n"
        "MISSING_INHERITED\n"
        'MULTI="a\nb"\n'
        "  SPACED  =  padded  \n"
    )
    env = parse_dotenv(text, {"INHERITED": "from-os"}.get)
    assert env == {
        "PLAIN": "hello world",
        "EXPORTED": "yes",
        "COLON": "value",
        "INLINE": "abc",
        "HASH": "abc#not-a-comment",
        "SINGLE": "literal ${PLAIN} \\n",
        "DOUBLE": "line1\nline2 hello world",
        "REF": "hello world!",
        "EMPTY": "",
        "INHERITED": "from-os",
        "MULTI": "a\nb",
        "SPACED": "padded",
    }


def test_dotenv_in_project_dir_with_os_env_winning(tmp_path) -> None:
    write(tmp_path, {"compose.yml": COMPOSE, ".env": "TAG=1.0\nFROM_FILE=dotenv\nSHARED=dotenv\n"})
    p = load(tmp_path, environ={"SHARED": "os"})
    svc = service(p, "app")
    assert svc["image"] == "busybox:1.0"
    assert svc["environment"] == {"FROM_FILE": "dotenv", "SHARED": "os"}


def test_env_file_option_replaces_dotenv(tmp_path) -> None:
    write(
        tmp_path,
        {
            "compose.yml": COMPOSE,
            ".env": "TAG=from-dotenv\n",
            "a.env": "TAG=a\nFROM_FILE=a\n",
            "b.env": "TAG=b\nSHARED=b\n",
        },
    )
    p = load(tmp_path, env_files=[tmp_path / "a.env", tmp_path / "b.env"], environ={"SHARED": "os"})
    svc = service(p, "app")
    assert svc["image"] == "busybox:b"  # later --env-file wins over earlier
    assert svc["environment"] == {"FROM_FILE": "a", "SHARED": "os"}


def test_missing_env_file_option_is_an_error(tmp_path) -> None:
    write(tmp_path, {"compose.yml": COMPOSE})
    with pytest.raises(ComposeError, match="couldn't find env file"):
        load(tmp_path, env_files=[tmp_path / "nope.env"])


def test_compose_disable_env_file(tmp_path) -> None:
    write(tmp_path, {"compose.yml": COMPOSE, ".env": "TAG=1.0\n"})
    p = load(tmp_path, environ={"COMPOSE_DISABLE_ENV_FILE": "1"})
    assert service(p, "app")["image"] == "busybox:none"


def test_service_env_file_forms(tmp_path) -> None:
    p = load(
        tmp_path,
        {
            "compose.yml": """
                services:
                  one:
                    image: busybox
                    env_file: one.env
                  many:
                    image: busybox
                    env_file: [one.env, two.env]
                    environment:
                      B: explicit
                  long:
                    image: busybox
                    env_file:
                      - path: one.env
                      - path: absent.env
                        required: false
                """,
            "one.env": "A=1\nB=1\n",
            "two.env": "B=2\nC=${HOST_VAR}\n",
        },
        environ={"HOST_VAR": "host"},
    )
    assert service(p, "one")["environment"] == {"A": "1", "B": "1"}
    assert service(p, "many")["environment"] == {"A": "1", "B": "explicit", "C": "host"}
    assert service(p, "long")["environment"] == {"A": "1", "B": "1"}
    assert "env_file" not in service(p, "long")


def test_missing_required_env_file(tmp_path) -> None:
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": "services:\n  a:\n    image: busybox\n    env_file: nope.env\n"})
    missing = tmp_path / "nope.env"
    assert str(err.value) == (
        f"compose.yml:4: services.a.env_file[0]: env file {missing} not found: "
        f"stat {missing}: no such file or directory"
    )


def test_environment_list_and_bare_keys(tmp_path) -> None:
    p = load(
        tmp_path,
        {"compose.yml": """
            services:
              a:
                image: busybox
                environment:
                  - PLAIN=1
                  - WITH_EQUALS=a=b
                  - FROM_HOST
                  - NOT_SET
                  - EMPTY=
              b:
                image: busybox
                environment:
                  NUM: 1
                  FLOAT: 1.5
                  BOOL: true
                  NULL_FROM_HOST:
            """},
        environ={"FROM_HOST": "h", "NULL_FROM_HOST": "n"},
    )
    assert service(p, "a")["environment"] == {
        "EMPTY": "",
        "FROM_HOST": "h",
        "NOT_SET": None,
        "PLAIN": "1",
        "WITH_EQUALS": "a=b",
    }
    assert service(p, "b")["environment"] == {"BOOL": "true", "FLOAT": "1.5", "NULL_FROM_HOST": "n", "NUM": "1"}
