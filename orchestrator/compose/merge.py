"""Merge canonical compose documents with the Compose Specification's override rules.

Mappings merge key by key (the override wins for scalars); `command`,
`entrypoint` and `healthcheck.test` are replaced; other sequences are
appended, then entries that share an identity collapse to the later one
(ports by `host_ip:published:target/protocol`, volumes by target, secrets
and configs by target, expose by value); a `logging` block with another
driver replaces the old one. `!reset` removes a value, `!override` replaces
it without merging. `extends` uses the same rules with the base service as
the starting point.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import ComposeError, KeyPath
from .transform import port_key
from .yamlio import Override, Reset

_REPLACED = frozenset({"command", "entrypoint"})


def _identity(field: str) -> Callable[[Any], Any] | None:
    if field == "ports":
        return lambda e: port_key(e) if isinstance(e, dict) else e
    if field == "volumes":
        return lambda e: e.get("target") if isinstance(e, dict) else e
    if field == "secrets":
        return lambda e: e.get("target") or f"/run/secrets/{e.get('source')}"
    if field == "configs":
        return lambda e: e.get("target") or f"/{e.get('source')}"
    if field in ("expose", "dns", "dns_search", "dns_opt", "cap_add", "cap_drop", "extra_hosts", "tmpfs",
                 "security_opt", "profiles", "links", "external_links", "volumes_from", "group_add"):
        return lambda e: e
    return None


def unique(field: str, items: list[Any]) -> list[Any]:
    """Collapse entries with the same identity; the later one takes the earlier place."""
    ident = _identity(field)
    if ident is None:
        return items
    out: list[Any] = []
    index: dict[Any, int] = {}
    for item in items:
        try:
            key = ident(item)
        except (AttributeError, TypeError):
            out.append(item)
            continue
        if key in index:
            out[index[key]] = item
        else:
            index[key] = len(out)
            out.append(item)
    return out


def strip_tags(value: Any) -> Any:
    """Resolve `!reset`/`!override` in a document with nothing underneath."""
    if isinstance(value, Override):
        return strip_tags(value.value)
    if isinstance(value, dict):
        return {k: strip_tags(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip_tags(v) for v in value if not isinstance(v, Reset)]
    return value


def merge_values(base: Any, over: Any, path: KeyPath) -> Any:
    """Merge `over` onto `base` (neither is modified)."""
    if isinstance(over, Override):
        return strip_tags(copy.deepcopy(over.value))
    if base is None:
        return strip_tags(copy.deepcopy(over))
    if len(path) == 4 and path[0] == "services" and path[2] == "ulimits":
        return strip_tags(copy.deepcopy(over))  # a limit is replaced whole (single vs soft/hard)
    if isinstance(base, dict) and isinstance(over, dict):
        return merge_mappings(base, over, path)
    if isinstance(base, list) and isinstance(over, list):
        field = path[-1] if path and isinstance(path[-1], str) else ""
        in_service = len(path) == 3 and path[0] == "services"
        if in_service and field in _REPLACED:
            return strip_tags(copy.deepcopy(over))
        if path[-2:] == ("healthcheck", "test") and path[0] == "services":
            return strip_tags(copy.deepcopy(over))
        merged = copy.deepcopy(base) + strip_tags(copy.deepcopy(over))
        return unique(field, merged) if in_service else merged
    if over is None:
        return copy.deepcopy(base)
    if isinstance(base, (dict, list)) or isinstance(over, (dict, list)):
        raise ComposeError("cannot override: incompatible types", path=path)
    return copy.deepcopy(over)


def merge_mappings(base: dict[str, Any], over: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    out = copy.deepcopy(base)
    if len(path) == 3 and path[0] == "services" and path[2] == "logging":
        if "driver" in base and "driver" in over and base["driver"] != over["driver"]:
            return strip_tags(copy.deepcopy(over))
    for key, value in over.items():
        if isinstance(value, Reset):
            out.pop(key, None)
            continue
        if key not in out or key.startswith("x-"):
            out[key] = strip_tags(copy.deepcopy(value))
            continue
        out[key] = merge_values(out[key], value, (*path, key))
    return out


def merge_documents(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge a whole override file onto what has been loaded so far."""
    return merge_mappings(base, over, ())


_UNIQUE_IN_FILE = ("ports", "volumes", "secrets", "configs", "expose")


def enforce_unicity(doc: dict[str, Any]) -> dict[str, Any]:
    """Within one file, later duplicates of a port, mount or expose replace earlier ones."""
    for svc in (doc.get("services") or {}).values():
        if not isinstance(svc, dict):
            continue
        for field in _UNIQUE_IN_FILE:
            if isinstance(svc.get(field), list):
                svc[field] = unique(field, svc[field])
    return doc
