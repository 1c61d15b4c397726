"""OCI image configs: building them, applying `changes`, and docker-shaped views of them.

An image config (the JSON blob whose digest is the image id) holds `config` (the execution
defaults: Env, Cmd, Entrypoint, ...), `rootfs.diff_ids` and `history`. `import` and `commit` build
one from a parent (or nothing) plus a `changes` mapping using docker's key names, the same
vocabulary as `docker import/commit --change`. `inspect_view` and `history_rows` render what
`docker image inspect` / `docker image history` print, so that the CLI can show them unchanged.
"""

from __future__ import annotations

import copy
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from agent.runtime.image_errors import InvalidChange

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ZERO_TIME = "0001-01-01T00:00:00Z"
CHANGE_KEYS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels",
               "StopSignal", "Volumes")
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> tuple[str, str]:
    """(architecture, os) in OCI/Go spelling, e.g. ('amd64', 'linux')."""
    machine = platform.machine()
    return _GOARCH.get(machine, machine), "linux"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strings(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return ["/bin/sh", "-c", value]  # the shell form, as in a Dockerfile
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidChange(f"change {key}: expected a list of strings or a string")


def _keyed_set(key: str, value: Any, normalise: Any = str) -> dict[str, dict[str, Any]]:
    if isinstance(value, Mapping):
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise InvalidChange(f"change {key}: expected a list or a mapping")
    return {normalise(v): {} for v in value}


def _port(value: str | int) -> str:
    text = str(value)
    port, _, proto = text.partition("/")
    if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("", "tcp", "udp", "sctp"):
        raise InvalidChange(f"change ExposedPorts: invalid port {text!r}")
    return f"{int(port)}/{proto or 'tcp'}"


def _merge_env(current: list[str], value: Any) -> list[str]:
    if isinstance(value, Mapping):
        value = [f"{k}={v}" for k, v in value.items()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidChange("change Env: expected a list of KEY=VALUE strings or a mapping")
    merged = {entry.split("=", 1)[0]: entry for entry in current}
    for entry in value:
        if not entry.split("=", 1)[0]:
            raise InvalidChange(f"change Env: invalid entry {entry!r}")
        merged[entry.split("=", 1)[0]] = entry
    return list(merged.values())


def apply_changes(run_config: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of an image's `config` section with docker-style `changes` applied."""
    result = copy.deepcopy(run_config)
    for key, value in (changes or {}).items():
        if key not in CHANGE_KEYS:
            raise InvalidChange(f"unknown change {key!r} (allowed: {', '.join(CHANGE_KEYS)})")
        if key in ("Cmd", "Entrypoint"):
            result[key] = None if value is None else _strings(key, value)
            if key == "Entrypoint" and "Cmd" not in (changes or {}):
                result.pop("Cmd", None)  # as in a Dockerfile: a new ENTRYPOINT resets CMD
        elif key == "Env":
            result["Env"] = _merge_env(result.get("Env") or [], value)
        elif key in ("WorkingDir", "User", "StopSignal"):
            if not isinstance(value, str):
                raise InvalidChange(f"change {key}: expected a string")
            result[key] = value
        elif key == "Labels":
            if not isinstance(value, Mapping):
                raise InvalidChange("change Labels: expected a mapping")
            result["Labels"] = {**(result.get("Labels") or {}), **{str(k): str(v) for k, v in value.items()}}
        elif key == "ExposedPorts":
            result[key] = {**(result.get(key) or {}), **_keyed_set(key, value, _port)}
        else:
            result[key] = {**(result.get(key) or {}), **_keyed_set(key, value)}
    return {k: v for k, v in result.items() if v is not None}


def new_image_config(parent: dict[str, Any] | None, diff_id: str, changes: Mapping[str, Any] | None,
                     history: dict[str, Any]) -> dict[str, Any]:
    """An image config one layer above `parent` (None: from scratch, with the default PATH)."""
    arch, os_name = host_platform()
    config = copy.deepcopy(parent) if parent else {
        "architecture": arch, "os": os_name, "config": {"Env": [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
    config["created"] = history["created"]
    if history.get("author"):
        config["author"] = history["author"]
    config["config"] = apply_changes(config.get("config") or {}, changes)
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
    config.setdefault("history", []).append({k: v for k, v in history.items() if v})
    return config


def inspect_view(*, image_id: str, repo_tags: list[str], repo_digests: list[str], config: dict[str, Any],
                 size: int, last_tag_time: str | None) -> dict[str, Any]:
    """The document `docker image inspect` prints for one image."""
    run = config.get("config") or {}
    history = config.get("history") or []
    return {
        "Id": image_id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": (history[-1].get("comment", "") if history else ""),
        "Created": config.get("created", ZERO_TIME),
        "DockerVersion": "",
        "Author": config.get("author", ""),
        "Config": {
            "User": run.get("User", ""),
            "ExposedPorts": run.get("ExposedPorts"),
            "Env": run.get("Env"),
            "Cmd": run.get("Cmd"),
            "Volumes": run.get("Volumes"),
            "WorkingDir": run.get("WorkingDir", ""),
            "Entrypoint": run.get("Entrypoint"),
            "Labels": run.get("Labels"),
            "StopSignal": run.get("StopSignal", ""),
        },
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", ""),
        "Os": config.get("os", ""),
        "Size": size,
        "RootFS": {"Type": "layers", "Layers": list((config.get("rootfs") or {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": last_tag_time or ZERO_TIME},
    }


def history_rows(image_id: str, config: dict[str, Any], layer_sizes: list[int],
                 repo_tags: list[str]) -> list[dict[str, Any]]:
    """`docker image history` rows, newest first; `Id` is `<missing>` below the top, as in docker."""
    history = config.get("history") or []
    if sum(1 for h in history if not h.get("empty_layer")) != len(layer_sizes):
        history = [{"created": config.get("created", ZERO_TIME)} for _ in layer_sizes]  # inconsistent
    sizes = iter(layer_sizes)
    rows = []
    for entry in history:
        rows.append({
            "Id": "<missing>",
            "Created": entry.get("created", ZERO_TIME),
            "CreatedBy": entry.get("created_by", ""),
            "Size": 0 if entry.get("empty_layer") else next(sizes),
            "Comment": entry.get("comment", ""),
            "Tags": None,
        })
    rows.reverse()
    if rows:
        rows[0]["Id"], rows[0]["Tags"] = image_id, repo_tags or None
    return rows
