"""Normalization of a merged compose document, as compose-go's loader does it.

After files are merged and `extends` applied, this stage: makes relative
paths absolute (against the project directory), loads `env_file`s into
`environment` and resolves bare keys from the project environment, fills
defaults (build context and Dockerfile), adds implicit dependencies (links,
`service:` namespaces, volumes_from), gives services without networks the
`default` network, names top-level resources `<project>_<key>`, and drops
networks and volumes no service uses (as `docker compose config` does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dotenv import read_dotenv
from .errors import ComposeError

_REMOTE_PREFIXES = ("git://", "git@", "github.com/", "http://", "https://", "ssh://")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote_context(context: str) -> bool:
    return context.startswith(_REMOTE_PREFIXES) or bool(_URL_RE.match(context))


def expand_user(path: str, env: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return path


def absolute(path: str, base: Path, env: Mapping[str, str]) -> str:
    """Make `path` absolute against `base` (with `~` expansion), lexically cleaned."""
    path = expand_user(path, env)
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(base, path))


def resolve_service_paths(svc: dict[str, Any], base: Path, env: Mapping[str, str]) -> None:
    """Make a service's relative host paths absolute (in place)."""
    build = svc.get("build")
    if isinstance(build, dict):
        ctx = build.get("context")
        if isinstance(ctx, str) and not is_remote_context(ctx):
            build["context"] = absolute(ctx, base, env)
        extra = build.get("additional_contexts")
        if isinstance(extra, dict):
            for name, value in extra.items():
                if isinstance(value, str) and not is_remote_context(value) and ":" not in value.split("/")[0]:
                    extra[name] = absolute(value, base, env)
    for entry in svc.get("env_file") or ():
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            entry["path"] = absolute(entry["path"], base, env)
    if isinstance(svc.get("label_file"), list):
        svc["label_file"] = [absolute(p, base, env) for p in svc["label_file"]]
    for vol in svc.get("volumes") or ():
        if isinstance(vol, dict) and vol.get("type") == "bind" and isinstance(vol.get("source"), str):
            vol["source"] = absolute(vol["source"], base, env)
    develop = svc.get("develop")
    if isinstance(develop, dict):
        for rule in develop.get("watch") or ():
            if isinstance(rule, dict) and isinstance(rule.get("path"), str):
                rule["path"] = absolute(rule["path"], base, env)


def resolve_top_level_paths(doc: dict[str, Any], base: Path, env: Mapping[str, str]) -> None:
    for section in ("secrets", "configs"):
        for cfg in (doc.get(section) or {}).values():
            if isinstance(cfg, dict) and isinstance(cfg.get("file"), str):
                cfg["file"] = absolute(cfg["file"], base, env)
    for cfg in (doc.get("volumes") or {}).values():
        if not isinstance(cfg, dict):
            continue
        opts = cfg.get("driver_opts")
        if (
            isinstance(opts, dict)
            and cfg.get("driver") in (None, "local")
            and isinstance(opts.get("device"), str)
            and "bind" in str(opts.get("o", "")).split(",")
        ):
            opts["device"] = absolute(opts["device"], base, env)


def resolve_environment(name: str, svc: dict[str, Any], env: Mapping[str, str]) -> None:
    """Fold env_file into environment (explicit entries win), resolve bare keys."""
    files = svc.pop("env_file", None)
    explicit = svc.get("environment")
    if not files and explicit is None:
        return
    merged: dict[str, str | None] = {}
    for i, entry in enumerate(files or ()):
        path = Path(entry["path"])
        if not path.exists():
            if entry.get("required", True) in (False, "false"):
                continue
            raise ComposeError(
                f"env file {path} not found: stat {path}: no such file or directory",
                path=("services", name, "env_file", i),
            )
        try:
            values = read_dotenv(path, env.get)
        except ComposeError as exc:
            raise exc.located(str(path), exc.line) from None
        merged.update(values)
    for key, value in (explicit or {}).items():
        merged[key] = value if value is not None else env.get(key)
    svc["environment"] = merged


def resolve_label_files(name: str, svc: dict[str, Any], env: Mapping[str, str]) -> None:
    """Labels from `label_file`s come first; labels written in the service win."""
    files = svc.get("label_file")
    if not files:
        return
    merged: dict[str, str] = {}
    for i, file in enumerate(files):
        path = Path(file)
        if not path.is_file():
            raise ComposeError(f"label file {path} not found", path=("services", name, "label_file", i))
        merged.update(read_dotenv(path, lambda _k: None))
    merged.update(svc.get("labels") or {})
    svc["labels"] = merged


def resolve_build_args(svc: dict[str, Any], env: Mapping[str, str]) -> None:
    build = svc.get("build")
    if not isinstance(build, dict):
        return
    build.setdefault("context", ".")
    if "dockerfile" not in build and "dockerfile_inline" not in build:
        build["dockerfile"] = "Dockerfile"
    args = build.get("args")
    if isinstance(args, dict):
        build["args"] = {k: (v if v is not None else env.get(k)) for k, v in args.items()}


def implicit_dependencies(svc: dict[str, Any]) -> None:
    """links, `service:` namespaces and volumes_from imply depends_on entries."""
    deps: dict[str, Any] = svc.get("depends_on") or {}

    def add(target: str, restart: bool) -> None:
        if target and target not in deps:
            entry: dict[str, Any] = {"condition": "service_started"}
            if restart:
                entry["restart"] = True
            entry["required"] = True
            deps[target] = entry

    for link in svc.get("links") or ():
        add(str(link).split(":", 1)[0], True)
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = svc.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            add(value[len("service:") :], True)
    for ref in svc.get("volumes_from") or ():
        ref = str(ref)
        if not ref.startswith("container:"):
            add(ref.split(":", 1)[0], False)
    if deps:
        svc["depends_on"] = deps


def default_network(svc: dict[str, Any]) -> None:
    if not svc.get("networks") and not svc.get("network_mode"):
        svc["networks"] = {"default": None}


def name_resources(doc: dict[str, Any], project: str) -> None:
    """Top-level networks/volumes/secrets/configs get `<project>_<key>` unless named."""
    for section in ("networks", "volumes", "secrets", "configs"):
        for key, cfg in (doc.get(section) or {}).items():
            if cfg.get("name"):
                continue
            cfg["name"] = key if cfg.get("external") else f"{project}_{key}"


def used_resources(services: Mapping[str, dict[str, Any]]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"networks": set(), "volumes": set(), "secrets": set(), "configs": set()}
    for svc in services.values():
        used["networks"].update((svc.get("networks") or {}).keys())
        for vol in svc.get("volumes") or ():
            if isinstance(vol, dict) and vol.get("type") == "volume" and vol.get("source"):
                used["volumes"].add(vol["source"])
        for section in ("secrets", "configs"):
            for ref in svc.get(section) or ():
                if isinstance(ref, dict) and ref.get("source"):
                    used[section].add(ref["source"])
        build = svc.get("build")
        if isinstance(build, dict):
            for ref in build.get("secrets") or ():
                if isinstance(ref, dict) and ref.get("source"):
                    used["secrets"].add(ref["source"])
    return used


def normalize(doc: dict[str, Any], project: str, project_dir: Path, env: Mapping[str, str]) -> None:
    """Normalize the enabled services and top-level resources of `doc` in place."""
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    for name, svc in services.items():
        resolve_service_paths(svc, project_dir, env)
        resolve_environment(name, svc, env)
        resolve_label_files(name, svc, env)
        resolve_build_args(svc, env)
        implicit_dependencies(svc)
        default_network(svc)
    resolve_top_level_paths(doc, project_dir, env)
    networks = doc.setdefault("networks", {}) or {}
    doc["networks"] = networks
    if any("default" in (svc.get("networks") or {}) for svc in services.values()):
        networks.setdefault("default", {})
    used = used_resources(services)
    for section in ("networks", "volumes"):
        if doc.get(section):
            doc[section] = {k: v for k, v in doc[section].items() if k in used[section]}
    name_resources(doc, project)
