"""Which compose keys a deployer honours, so nothing is dropped silently.

`orch config` parses and prints every key of the spec. A deployer (`orch up`)
passes the service keys it implements to `unsupported_keys` and refuses the
project with one clear error naming the rest, instead of ignoring them.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import Project

# Keys that only describe the compose model itself and never need a deployer's support.
ALWAYS_SUPPORTED = frozenset({"profiles", "extends", "env_file", "label_file", "annotations", "develop"})


def unsupported_keys(project: Project, supported: Iterable[str]) -> list[str]:
    """`services.<name>.<key>` paths set in the project that are not in `supported`."""
    allowed = ALWAYS_SUPPORTED | frozenset(supported)
    found: list[str] = []
    for name in sorted(project.services):
        svc = project.services[name]
        for key in svc.model_fields_set:
            if key == "extensions" or key in allowed:
                continue
            if getattr(svc, key) is not None:
                found.append(f"services.{name}.{key}")
    return sorted(found)
