"""Helpers for the compose loader tests: write a project into a temp dir, load it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from orchestrator.compose import ProjectOptions, load_project, project_document
from orchestrator.compose.models import Project


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def load(
    directory: Path,
    files: dict[str, str] | None = None,
    *,
    compose: list[str] | None = None,
    environ: dict[str, str] | None = None,
    **options: Any,
) -> Project:
    """Write `files` into `directory` and load the project (default file: compose.yml)."""
    if files:
        write(directory, files)
    paths = [directory / f for f in (compose or [])]
    return load_project(
        ProjectOptions(files=paths, environ=environ or {}, working_dir=directory, **options)
    )


def doc(project: Project) -> dict[str, Any]:
    """The canonical document, as `orch config` structures it."""
    return project_document(project)


def service(project: Project, name: str) -> dict[str, Any]:
    return doc(project)["services"][name]
