"""The compose loader: compose files in, a canonical `Project` out.

Public surface:
    load_project(ProjectOptions) -> Project     load, merge, normalize, check
    render(project, fmt="yaml"|"json") -> str    what `orch config` prints
    start_order(project) -> list[list[str]]     dependency batches for `up`
    check_port_conflicts(project)               published-port clashes (for `up`)
    unsupported_keys(project, supported)        keys a deployer cannot honour yet
    ComposeError                                 every user error, one line

Modules, in pipeline order: yamlio (YAML 1.2 + line index), dotenv,
interpolate, transform (short -> long forms), merge, extends, normalize,
models, validate, render; loader wires them together.
"""

from __future__ import annotations

from .errors import ComposeError
from .loader import ProjectOptions, load_project, normalize_project_name
from .models import Project, ServiceConfig
from .render import project_document, render
from .support import unsupported_keys
from .units import ByteSize, Duration
from .validate import check_port_conflicts, start_order

__all__ = [
    "ByteSize",
    "ComposeError",
    "Duration",
    "Project",
    "ProjectOptions",
    "ServiceConfig",
    "check_port_conflicts",
    "load_project",
    "normalize_project_name",
    "project_document",
    "render",
    "start_order",
    "unsupported_keys",
]
