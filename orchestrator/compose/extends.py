"""`extends`: a service starts from another service's definition.

The base may be in the same (merged) document or in another file
(`extends: {file: other.yml, service: base}`, relative to the declaring
file's directory). Bases are resolved recursively; the extending service is
merged onto its base with the normal override rules. Relative paths of a
base from another file are made absolute against that file's directory
first, so they keep pointing where their author meant.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import ComposeError
from .merge import merge_mappings
from .normalize import absolute, resolve_service_paths

ReadFile = Callable[[Path], dict[str, Any]]


class Extender:
    def __init__(self, read_file: ReadFile, env: Mapping[str, str]) -> None:
        self.read_file = read_file
        self.env = env

    def apply(self, doc: dict[str, Any], base_dir: Path, label: str) -> None:
        """Resolve `extends` of every service of `doc` in place."""
        services = doc.get("services") or {}
        for name in list(services):
            self.resolve(services, name, base_dir, label, ())

    def resolve(
        self,
        services: dict[str, Any],
        name: str,
        base_dir: Path,
        label: str,
        chain: tuple[tuple[str, str], ...],
    ) -> dict[str, Any]:
        svc = services[name]
        ext = svc.get("extends") if isinstance(svc, dict) else None
        if not ext:
            return svc
        here = (label, name)
        if here in chain:
            names = " -> ".join(n for _, n in (*chain, here))
            raise ComposeError(f"circular reference with extends: {names}", path=("services", name, "extends"))
        ref = ext.get("service")
        if not isinstance(ref, str) or not ref:
            raise ComposeError('extends requires "service"', path=("services", name, "extends"))
        file = ext.get("file")
        if file:
            other_path = Path(absolute(str(file), base_dir, self.env))
            other = self.read_file(other_path)
            other_services = other.get("services") or {}
            if ref not in other_services:
                raise ComposeError(
                    f'cannot extend service "{name}" in {other_path}: service "{ref}" not found',
                    path=("services", name, "extends"),
                )
            base = self.resolve(other_services, ref, other_path.parent, str(other_path), (*chain, here))
            base = copy.deepcopy(base)
            resolve_service_paths(base, other_path.parent, self.env)
        else:
            if ref not in services:
                raise ComposeError(
                    f'cannot extend service "{name}": service "{ref}" not found', path=("services", name, "extends")
                )
            base = self.resolve(services, ref, base_dir, label, (*chain, here))
        base = {k: v for k, v in base.items() if k != "extends"}
        own = {k: v for k, v in svc.items() if k != "extends"}
        merged = merge_mappings(base, own, ("services", name))
        services[name] = merged
        return merged
