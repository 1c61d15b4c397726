"""`orch config`: print the canonical compose model, as `docker compose config` does.

Also home of the compose project options (`-f`, `-p`, `--project-directory`,
`--env-file`, `--profile`) shared by every compose command (`up`, `down`, ...),
and of `project_options(args)`, which turns them into loader options.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from orchestrator.compose import ComposeError, ProjectOptions, load_project, render
from orchestrator.compose.models import Project


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    """The compose project options, named as docker compose names them."""
    parser.add_argument(
        "-f", "--file", dest="files", action="append", default=[], metavar="FILE",
        help="compose configuration file (repeatable; later files override earlier ones)",
    )
    parser.add_argument("-p", "--project-name", dest="project_name", help="project name")
    parser.add_argument(
        "--project-directory", dest="project_directory",
        help="alternate working directory (default: the directory of the first file)",
    )
    parser.add_argument(
        "--env-file", dest="env_files", action="append", default=[], metavar="PATH",
        help="alternate environment file (repeatable)",
    )
    parser.add_argument(
        "--profile", dest="profiles", action="append", default=[], metavar="PROFILE",
        help="enable a profile (repeatable)",
    )


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `orch config`."""
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format")
    parser.add_argument("--services", action="store_true", help="print the service names, one per line")
    parser.add_argument("--volumes", action="store_true", help="print the volume names, one per line")
    parser.add_argument("--profiles", dest="list_profiles", action="store_true", help="print the profile names")
    parser.add_argument("--images", action="store_true", help="print the image names, one per line")
    parser.add_argument("-q", "--quiet", action="store_true", help="only validate the configuration")
    parser.add_argument(
        "--no-interpolate", dest="no_interpolate", action="store_true", help="do not interpolate variables"
    )


def project_options(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ProjectOptions:
    """Loader options from parsed project arguments."""
    return ProjectOptions(
        files=[Path(f) for f in getattr(args, "files", None) or []],
        project_name=getattr(args, "project_name", None),
        project_directory=Path(args.project_directory) if getattr(args, "project_directory", None) else None,
        env_files=[Path(f) for f in getattr(args, "env_files", None) or []],
        profiles=[p for value in getattr(args, "profiles", None) or [] for p in value.split(",") if p],
        environ=dict(os.environ) if environ is None else environ,
        interpolate=not getattr(args, "no_interpolate", False),
    )


def print_warnings(project: Project, err: TextIO) -> None:
    for message in project.warnings:
        print(f"WARN[0000] {message}", file=err)


def image_name(project: Project, service: str) -> str:
    """The image a service runs: its `image`, else the one compose would build."""
    svc = project.services[service]
    return svc.image or f"{project.name}-{service}"


def run_config(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `orch config`; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        project = load_project(project_options(args))
    except ComposeError as exc:
        print(str(exc), file=err)
        return 1
    print_warnings(project, err)
    if getattr(args, "quiet", False):
        return 0
    lines: list[str] | None = None
    if getattr(args, "services", False):
        lines = sorted(project.services)
    elif getattr(args, "volumes", False):
        lines = sorted(project.volumes)
    elif getattr(args, "list_profiles", False):
        lines = project.all_profiles()
    elif getattr(args, "images", False):
        lines = [image_name(project, name) for name in sorted(project.services)]
    if lines is not None:
        for line in lines:
            print(line, file=out)
        return 0
    out.write(render(project, getattr(args, "format", "yaml") or "yaml"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (`python -m orchestrator.cli.compose_config`)."""
    parser = argparse.ArgumentParser(prog="orch config", description="Parse, resolve and render compose files")
    add_project_arguments(parser)
    add_config_arguments(parser)
    return run_config(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
