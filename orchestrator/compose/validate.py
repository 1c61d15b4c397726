"""Turn the normalized document into models and check the project is consistent.

Model validation reports the first problem as one line with its key path
(unknown keys suggest the closest known key). Consistency checks follow
compose-go's `checkConsistency`: every service has an image or a build,
references to networks, volumes, secrets, configs and services exist,
`network_mode` and `networks` are exclusive, healthcheck tests are well
formed and `depends_on` has no cycle. `start_order` gives the batches `up`
starts services in.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ComposeError, KeyPath
from .models import Project

_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

_TYPE_MESSAGES = {
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be a boolean",
    "bool_type": "must be a boolean",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> tuple[KeyPath, Any]:
    """Drop pydantic's union-member labels from a location; return the real path and value."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and part == loc[-1]:
            path.append(part)
            node = None
    return tuple(path), node


def _inner_model(annotation: Any) -> Any:
    """Find the model class inside `X | None`, `list[X]` or `dict[str, X]`."""
    args = getattr(annotation, "__args__", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in args or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _known_keys(path: KeyPath) -> list[str]:
    model: Any = Project
    i = 0
    parts = [p for p in path if not isinstance(p, int)]
    while i < len(parts):
        part = parts[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
        ann = str(field.annotation)
        if ann.startswith("dict[str,") and model is not None:
            i += 1  # skip the name key (service name, network name, ...)
        i += 1
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f for f in model.model_fields if f != "extensions"]
    return []


def error_from_validation(exc: ValidationError, data: Any, prefix: KeyPath = ()) -> ComposeError:
    """The first pydantic error as one user-facing line (path filled in)."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    kind = err["type"]
    path, _value = _clean_loc(data, loc)
    path = (*prefix, *path)
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else str(loc[-1])
        parent = path[:-1]
        message = f'unknown key "{key}"'
        close = difflib.get_close_matches(key, _known_keys(parent), n=1)
        if close:
            message += f' (did you mean "{close[0]}"?)'
        out = ComposeError(message, path=parent)
        out.key_path = path  # type: ignore[attr-defined]
        return out
    if kind == "missing":
        return ComposeError(f'missing required key "{loc[-1]}"', path=path)
    if kind in _TYPE_MESSAGES:
        return ComposeError(f"{_TYPE_MESSAGES[kind]}, got {_describe(err.get('input'))}", path=path)
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return ComposeError(msg[0].lower() + msg[1:] if msg else kind, path=path)


TOP_LEVEL_KEYS = ("name", "services", "networks", "volumes", "secrets", "configs", "models")


def build_project(doc: dict[str, Any]) -> Project:
    """Validate the normalized document into a Project (unknown keys are errors)."""
    for key in doc:
        if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
            message = f'unknown key "{key}"'
            close = difflib.get_close_matches(key, [*TOP_LEVEL_KEYS, "include", "version"], n=1)
            if close:
                message += f' (did you mean "{close[0]}"?)'
            err = ComposeError(message, path=())
            err.key_path = (key,)  # type: ignore[attr-defined]
            raise err
    try:
        return Project.model_validate(doc)
    except ValidationError as exc:
        raise error_from_validation(exc, doc) from None


def _invalid(message: str, path: KeyPath | None = None) -> ComposeError:
    return ComposeError(f"{message}: invalid compose project", path=path)


def check_consistency(project: Project) -> None:
    """compose-go's consistency rules, one error at a time."""
    for name in sorted(project.services):
        svc = project.services[name]
        where: KeyPath = ("services", name)
        if not svc.image and not svc.build and not svc.provider:
            raise _invalid(f'service "{name}" has neither an image nor a build context specified', where)
        if svc.network_mode and svc.networks:
            raise _invalid(f"service {name} declares mutually exclusive `network_mode` and `networks`", where)
        for net in svc.networks or {}:
            if net not in project.networks:
                raise _invalid(f'service "{name}" refers to undefined network {net}', (*where, "networks", net))
        for i, vol in enumerate(svc.volumes or ()):
            if vol.type == "volume" and vol.source and vol.source not in project.volumes:
                raise _invalid(f'service "{name}" refers to undefined volume {vol.source}', (*where, "volumes", i))
        for section, defined in (("secrets", project.secrets), ("configs", project.configs)):
            for i, ref in enumerate(getattr(svc, section) or ()):
                if ref.source not in defined:
                    raise _invalid(
                        f'service "{name}" refers to undefined {section[:-1]} {ref.source}', (*where, section, i)
                    )
        for dep, spec in (svc.depends_on or {}).items():
            if dep not in project.services:
                if spec.required and dep not in project.disabled_services:
                    raise _invalid(f'service "{name}" depends on undefined service "{dep}"', (*where, "depends_on", dep))
            if spec.condition not in _CONDITIONS:
                raise ComposeError(
                    f'invalid condition "{spec.condition}", must be one of {", ".join(_CONDITIONS)}',
                    path=(*where, "depends_on", dep, "condition"),
                )
        hc = svc.healthcheck
        if hc is not None and hc.test:
            if hc.test[0] not in ("NONE", "CMD", "CMD-SHELL"):
                raise ComposeError(
                    'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"', path=(*where, "healthcheck", "test")
                )
            if hc.test[0] == "NONE" and len(hc.test) > 1:
                raise ComposeError('healthcheck.test with "NONE" must not have arguments', path=(*where, "healthcheck", "test"))
        if svc.deploy and svc.scale is not None and svc.deploy.replicas is not None and svc.scale != svc.deploy.replicas:
            raise _invalid(f'service "{name}" has inconsistent scale ({svc.scale}) and deploy.replicas ({svc.deploy.replicas})', where)
    cycle = find_cycle(project)
    if cycle:
        raise ComposeError(
            "dependency cycle detected: " + " -> ".join(cycle), path=("services", cycle[0], "depends_on")
        )


def _edges(project: Project) -> Callable[[str], list[str]]:
    def deps(name: str) -> list[str]:
        return sorted(d for d in (project.services[name].depends_on or {}) if d in project.services)

    return deps


def find_cycle(project: Project) -> list[str] | None:
    """A dependency cycle as a path `a, b, a`, or None."""
    deps = _edges(project)
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in deps(name):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(project.services):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def start_order(project: Project) -> list[list[str]]:
    """Batches of services to start: each batch depends only on earlier ones."""
    deps = {name: set(_edges(project)(name)) for name in project.services}
    done: set[str] = set()
    batches: list[list[str]] = []
    while len(done) < len(deps):
        ready = sorted(n for n, d in deps.items() if n not in done and d <= done)
        if not ready:
            raise ComposeError("dependency cycle detected: " + " -> ".join(find_cycle(project) or []))
        batches.append(ready)
        done.update(ready)
    return batches


def check_port_conflicts(project: Project) -> None:
    """Two services publishing the same host port and protocol cannot both run."""
    seen: dict[tuple[str, str, str], str] = {}
    for name in sorted(project.services):
        for port in project.services[name].ports or ():
            if not port.published:
                continue
            start, _, end = port.published.partition("-")
            host_ports = range(int(start), int(end or start) + 1) if start.isdigit() else ()
            for hp in host_ports:
                key = (port.host_ip or "0.0.0.0", str(hp), port.protocol or "tcp")
                other = seen.get(key)
                if other and other != name:
                    raise ComposeError(
                        f'services "{other}" and "{name}" both publish port {hp}/{key[2]}',
                        path=("services", name, "ports"),
                    )
                seen[key] = name
