"""Canonicalize a parsed compose file: every short form becomes its long form.

Runs per file, after interpolation and before files are merged, like
compose-go's `transform.Canonical`, so that merging works on one shape
(ports and volumes as long-form lists, environment and labels as maps,
depends_on as a map with conditions). Keys not listed here are passed
through untouched; the models reject the ones that are not compose keys.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from .errors import ComposeError, KeyPath
from .shortsyntax import parse_device, parse_port, parse_volume
from .yamlio import Override, Reset

Transformer = Callable[[Any, KeyPath], Any]


def go_str(value: Any) -> str:
    """Stringify a scalar the way Go's fmt.Sprint prints decoded YAML values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if value is None:
        return ""
    return str(value)


def _scalar_str(value: Any, path: KeyPath) -> str:
    if isinstance(value, (dict, list)):
        raise ComposeError(f"must be a string, got {_kind(value)}", path=path)
    return go_str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


def _expect_list(value: Any, path: KeyPath) -> list[Any]:
    if not isinstance(value, list):
        raise ComposeError(f"must be a list, got {_kind(value)}", path=path)
    return value


def _expect_map(value: Any, path: KeyPath) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ComposeError(f"must be a mapping, got {_kind(value)}", path=path)
    return value


def string_list(value: Any, path: KeyPath) -> list[str]:
    """A string or a list of scalars -> list of strings."""
    if isinstance(value, str):
        return [value]
    return [_scalar_str(v, (*path, i)) for i, v in enumerate(_expect_list(value, path))]


def str_list(value: Any, path: KeyPath) -> list[str]:
    """A list of scalars -> list of strings (a bare string is an error)."""
    return [_scalar_str(v, (*path, i)) for i, v in enumerate(_expect_list(value, path))]


def shell_command(value: Any, path: KeyPath) -> list[str] | None:
    """`command: echo "a b"` is split like a POSIX shell; a list is kept."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ComposeError(f"invalid command line: {exc}", path=path) from None
    return str_list(value, path)


def mapping_with_equals(value: Any, path: KeyPath, *, nullable: bool = True) -> dict[str, str | None]:
    """`[K=V, K2]` or `{K: V}` -> {K: "V", K2: None} (environment, args, labels)."""
    out: dict[str, str | None] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                raise ComposeError(f"must be a string, number, boolean or null, got {_kind(v)}", path=(*path, k))
            out[k] = None if v is None else go_str(v)
        return out
    for i, item in enumerate(_expect_list(value, path)):
        text = _scalar_str(item, (*path, i))
        key, sep, val = text.partition("=")
        if not key:
            raise ComposeError(f'invalid entry "{text}"', path=(*path, i))
        out[key] = val if sep else None
    return out


def labels(value: Any, path: KeyPath) -> dict[str, str]:
    """Labels: a bare key in list form means an empty value."""
    return {k: "" if v is None else v for k, v in mapping_with_equals(value, path).items()}


def extra_hosts(value: Any, path: KeyPath) -> list[str]:
    """`host:ip`, `host=ip` or a map -> sorted `host=ip` entries (compose prints `=`)."""
    hosts: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for host, ips in value.items():
            if isinstance(ips, list):
                hosts[host] = [go_str(ip) for ip in ips]
            else:
                hosts[host] = [go_str(ips)]
    else:
        for i, item in enumerate(string_list(value, path)):
            for sep in ("=", ":"):
                host, found, ip = item.partition(sep)
                if found:
                    hosts.setdefault(host, []).extend(ip.split(","))
                    break
            else:
                raise ComposeError(f"invalid additional host, missing IP: {item}", path=(*path, i))
    out: list[str] = []
    for host, ips in hosts.items():
        if not host or ":" in host or "=" in host:
            raise ComposeError(f"bad host name '{host}'", path=path)
        for ip in ips:
            if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]":
                ip = ip[1:-1]
            out.append(f"{host}={ip}")
    return sorted(out)


def ports(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(_expect_list(value, path)):
        sub = (*path, i)
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            out.extend(parse_port(str(item), sub))
        elif isinstance(item, dict):
            entry = dict(item)
            if "published" in entry and entry["published"] is not None:
                entry["published"] = go_str(entry["published"])
            entry.setdefault("mode", "ingress")
            entry.setdefault("protocol", "tcp")
            out.append(entry)
        else:
            raise ComposeError(f"invalid port {_kind(item)}", path=sub)
    return out


def port_key(entry: dict[str, Any]) -> str:
    """compose-go's unicity key for a port."""
    return "{}:{}:{}/{}".format(
        entry.get("host_ip") or "0.0.0.0",
        entry.get("published") or "",
        entry.get("target"),
        entry.get("protocol") or "tcp",
    )


def volumes(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(_expect_list(value, path)):
        sub = (*path, i)
        if isinstance(item, str):
            out.append(parse_volume(item, sub))
        elif isinstance(item, dict):
            entry = dict(item)
            if "type" not in entry:
                raise ComposeError('volume is missing "type"', path=sub)
            if entry.get("type") == "bind" and isinstance(entry.get("bind"), dict):
                entry["bind"] = {**entry["bind"]}
                entry["bind"].setdefault("create_host_path", True)
            out.append(entry)
        else:
            raise ComposeError(f"invalid volume {_kind(item)}", path=sub)
    return out


def depends_on(value: Any, path: KeyPath) -> dict[str, dict[str, Any]]:
    if isinstance(value, list):
        return {
            _scalar_str(name, (*path, i)): {"condition": "service_started", "required": True}
            for i, name in enumerate(value)
        }
    out: dict[str, dict[str, Any]] = {}
    for name, dep in _expect_map(value, path).items():
        entry = dict(_expect_map(dep, (*path, name))) if dep is not None else {}
        entry.setdefault("condition", "service_started")
        entry.setdefault("required", True)
        out[name] = entry
    return out


def file_refs(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    """Service secrets/configs: `- name` -> {source: name}."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(_expect_list(value, path)):
        if isinstance(item, str):
            out.append({"source": item})
        elif isinstance(item, dict):
            entry = dict(item)
            for key in ("uid", "gid"):
                if key in entry and entry[key] is not None:
                    entry[key] = go_str(entry[key])
            out.append(entry)
        else:
            raise ComposeError(f"invalid reference {_kind(item)}", path=(*path, i))
    return out


def name_map(value: Any, path: KeyPath) -> dict[str, Any]:
    """Service networks/models: a list of names -> {name: null}."""
    if isinstance(value, list):
        return {_scalar_str(n, (*path, i)): None for i, n in enumerate(value)}
    return dict(_expect_map(value, path))


def ulimits(value: Any, path: KeyPath) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in _expect_map(value, path).items():
        if isinstance(limit, dict):
            out[name] = dict(limit)
        elif isinstance(limit, (int, str)) and not isinstance(limit, bool):
            try:
                out[name] = {"single": int(limit)}
            except ValueError:
                raise ComposeError(f'invalid ulimit "{limit}"', path=(*path, name)) from None
        else:
            raise ComposeError(f"invalid ulimit {_kind(limit)}", path=(*path, name))
    return out


def env_files(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, str) else _expect_list(value, path)
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append({"path": item, "required": True})
        elif isinstance(item, dict):
            entry = dict(item)
            entry.setdefault("required", True)
            out.append(entry)
        else:
            raise ComposeError(f"invalid env_file entry {_kind(item)}", path=(*path, i))
    return out


def healthcheck(value: Any, path: KeyPath) -> dict[str, Any]:
    hc = dict(_expect_map(value, path))
    test = hc.get("test")
    if isinstance(test, str):
        hc["test"] = ["CMD-SHELL", test]
    elif test is not None and not isinstance(test, (Reset, Override)):
        hc["test"] = str_list(test, (*path, "test"))
    return hc


def build(value: Any, path: KeyPath) -> dict[str, Any]:
    if isinstance(value, str):
        return {"context": value}
    cfg = dict(_expect_map(value, path))
    converters: dict[str, Transformer] = {
        "args": mapping_with_equals,
        "labels": labels,
        "extra_hosts": extra_hosts,
        "cache_from": string_list,
        "cache_to": string_list,
        "tags": string_list,
        "platforms": string_list,
        "no_cache_filter": string_list,
        "secrets": file_refs,
        "ulimits": ulimits,
        "ssh": _ssh,
        "additional_contexts": labels,
    }
    for key, fn in converters.items():
        if key in cfg and cfg[key] is not None and not isinstance(cfg[key], (Reset, Override)):
            cfg[key] = fn(cfg[key], (*path, key))
    for key in ("provenance", "sbom"):
        if key in cfg and isinstance(cfg[key], bool):
            cfg[key] = go_str(cfg[key])
    return cfg


def _ssh(value: Any, path: KeyPath) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [k if v is None else f"{k}={v}" for k, v in value.items()]
    return str_list(value, path)


def devices(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_expect_list(value, path)):
        out.append(parse_device(item, (*path, i)) if isinstance(item, str) else item)
    return out


def deploy(value: Any, path: KeyPath) -> dict[str, Any]:
    cfg = dict(_expect_map(value, path))
    if isinstance(cfg.get("labels"), (list, dict)):
        cfg["labels"] = labels(cfg["labels"], (*path, "labels"))
    return cfg


def logging(value: Any, path: KeyPath) -> dict[str, Any]:
    cfg = dict(_expect_map(value, path))
    opts = cfg.get("options")
    if isinstance(opts, dict):
        cfg["options"] = {k: None if v is None else go_str(v) for k, v in opts.items()}
    return cfg


def hooks(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_expect_list(value, path)):
        hook = dict(_expect_map(item, (*path, i)))
        if "command" in hook:
            hook["command"] = shell_command(hook["command"], (*path, i, "command"))
        if "environment" in hook:
            hook["environment"] = mapping_with_equals(hook["environment"], (*path, i, "environment"))
        out.append(hook)
    return out


def develop(value: Any, path: KeyPath) -> dict[str, Any]:
    cfg = dict(_expect_map(value, path))
    watch = cfg.get("watch")
    if isinstance(watch, list):
        rules = []
        for i, rule in enumerate(watch):
            rule = dict(_expect_map(rule, (*path, "watch", i)))
            for key in ("ignore", "include"):
                if key in rule:
                    rule[key] = string_list(rule[key], (*path, "watch", i, key))
            rules.append(rule)
        cfg["watch"] = rules
    return cfg


def expose(value: Any, path: KeyPath) -> list[str]:
    return str_list(value, path)


def _stringish(value: Any, path: KeyPath) -> Any:
    """Scalars that compose stores as strings even when written as numbers."""
    return _scalar_str(value, path)


SERVICE_TRANSFORMS: dict[str, Transformer] = {
    "annotations": labels,
    "build": build,
    "command": shell_command,
    "configs": file_refs,
    "depends_on": depends_on,
    "deploy": deploy,
    "develop": develop,
    "devices": devices,
    "dns": string_list,
    "dns_search": string_list,
    "dns_opt": str_list,
    "entrypoint": shell_command,
    "environment": mapping_with_equals,
    "env_file": env_files,
    "expose": expose,
    "extends": lambda v, p: {"service": v} if isinstance(v, str) else _expect_map(v, p),
    "extra_hosts": extra_hosts,
    "group_add": str_list,
    "healthcheck": healthcheck,
    "labels": labels,
    "label_file": string_list,
    "logging": logging,
    "models": name_map,
    "networks": name_map,
    "ports": ports,
    "post_start": hooks,
    "pre_stop": hooks,
    "secrets": file_refs,
    "sysctls": labels,
    "tmpfs": string_list,
    "ulimits": ulimits,
    "volumes": volumes,
    "user": _stringish,
    "cpuset": _stringish,
    "mac_address": _stringish,
}


def canonical_service(service: Any, path: KeyPath) -> dict[str, Any]:
    """Canonicalize one service definition."""
    if service is None:
        return {}
    svc = _expect_map(service, path)
    out: dict[str, Any] = {}
    for key, value in svc.items():
        fn = SERVICE_TRANSFORMS.get(key)
        if fn is None or value is None or isinstance(value, Reset):
            out[key] = value
        elif isinstance(value, Override):
            out[key] = Override(fn(value.value, (*path, key)))
        else:
            out[key] = fn(value, (*path, key))
    return out


def _top_level_resource(value: Any, path: KeyPath) -> dict[str, Any]:
    if value is None:
        return {}
    cfg = dict(_expect_map(value, path))
    ext = cfg.get("external")
    if isinstance(ext, dict):  # legacy `external: {name: x}`
        cfg["external"] = True
        if "name" in ext and "name" not in cfg:
            cfg["name"] = ext["name"]
    if isinstance(cfg.get("labels"), (list, dict)):
        cfg["labels"] = labels(cfg["labels"], (*path, "labels"))
    return cfg


def _include(value: Any, path: KeyPath) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_expect_list(value, path)):
        sub = (*path, i)
        if isinstance(item, str):
            out.append({"path": [item]})
            continue
        entry = dict(_expect_map(item, sub))
        if "path" not in entry:
            raise ComposeError('include entry is missing "path"', path=sub)
        entry["path"] = string_list(entry["path"], (*sub, "path"))
        if "env_file" in entry:
            entry["env_file"] = string_list(entry["env_file"], (*sub, "env_file"))
        out.append(entry)
    return out


def canonical_file(doc: dict[str, Any]) -> dict[str, Any]:
    """Canonicalize a whole (interpolated) compose file."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "services" and value is not None:
            out[key] = {
                name: canonical_service(svc, ("services", name))
                for name, svc in _expect_map(value, ("services",)).items()
            }
        elif key in ("networks", "volumes", "secrets", "configs", "models") and value is not None:
            out[key] = {
                name: _top_level_resource(cfg, (key, name))
                for name, cfg in _expect_map(value, (key,)).items()
            }
        elif key == "include" and value is not None:
            out[key] = _include(value, (key,))
        else:
            out[key] = value
    return out
