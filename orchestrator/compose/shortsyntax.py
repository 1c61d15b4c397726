"""Parsers for compose's short string syntaxes: ports, volumes, devices.

Ports follow docker's `nat.ParsePortSpecs` as compose-go uses it:
`[ip:][host[-host]:]container[-container][/proto]`, one long-form entry per
container port, `[v6]` brackets stripped, published ports as strings.
Volumes follow compose-go's `ParseVolume`: `[source:]target[:options]`, a
source starting with `.`, `/` or `~` is a bind mount, anything else a named
volume.
"""

from __future__ import annotations

import ipaddress
import posixpath
from typing import Any

from .errors import ComposeError, KeyPath


def _port_range(text: str) -> tuple[int, int] | None:
    """`80` or `8000-8010` -> (start, end); None when not a valid range."""
    start, sep, end = text.partition("-")
    try:
        lo = int(start, 10)
        hi = int(end, 10) if sep else lo
    except ValueError:
        return None
    if not (start.isdigit() and (not sep or end.isdigit())):
        return None
    if lo < 0 or hi > 65535 or hi < lo:
        return None
    return lo, hi


def parse_port(spec: str, path: KeyPath) -> list[dict[str, Any]]:
    """Expand one short port spec into long-form entries."""
    raw = spec.strip()

    def bad(reason: str = "") -> ComposeError:
        return ComposeError(f'invalid port "{spec}"' + (f": {reason}" if reason else ""), path=path)

    if not raw:
        raise bad()
    body, slash, proto = raw.rpartition("/")
    if not slash:
        body, proto = raw, "tcp"
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise bad(f"invalid protocol {proto}")
    host_ip = ""
    if body.startswith("["):
        close = body.find("]")
        if close < 0 or body[close + 1 : close + 2] != ":":
            raise bad()
        host_ip = body[1:close]
        rest = body[close + 2 :].split(":")
        if len(rest) == 1:
            host_port, container = "", rest[0]
        elif len(rest) == 2:
            host_port, container = rest
        else:
            raise bad()
    else:
        parts = body.split(":")
        if len(parts) == 1:
            host_port, container = "", parts[0]
        elif len(parts) == 2:
            host_port, container = parts
        elif len(parts) == 3:
            host_ip, host_port, container = parts
        else:  # an unbracketed IPv6 address
            host_ip = ":".join(parts[:-2])
            host_port, container = parts[-2], parts[-1]
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise bad(f"invalid IP address {host_ip}") from None
    crange = _port_range(container)
    if crange is None:
        raise bad(f"invalid container port {container}")
    hrange: tuple[int, int] | None = None
    if host_port:
        hrange = _port_range(host_port)
        if hrange is None:
            raise bad(f"invalid host port {host_port}")
    count = crange[1] - crange[0]
    if hrange and count != 0 and hrange[1] - hrange[0] != count:
        raise bad("invalid ranges specified for container and host ports")
    keyed: list[tuple[str, dict[str, Any]]] = []
    for i in range(count + 1):
        target = crange[0] + i
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = target
        if hrange is not None:
            if count == 0 and hrange[0] != hrange[1]:
                entry["published"] = host_port
            else:
                entry["published"] = str(hrange[0] + i)
        entry["protocol"] = proto
        keyed.append((f"{target}/{proto}", entry))
    keyed.sort(key=lambda kv: kv[0])  # compose-go sorts by "port/proto" as strings
    return [entry for _, entry in keyed]


_PROPAGATION = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})


def _is_file_path(source: str) -> bool:
    return source[:1] in (".", "/", "~") or (len(source) > 1 and source[1] == ":" and source[0].isalpha())


def clean_path(target: str) -> str:
    """Go's path.Clean for container paths."""
    return posixpath.normpath(target) if target else target


def parse_volume(spec: str, path: KeyPath) -> dict[str, Any]:
    """Expand one short volume spec into the long form."""
    if not spec:
        raise ComposeError("invalid empty volume spec", path=path)
    parts = _split_volume(spec)
    if len(parts) > 3:
        raise ComposeError(f'invalid spec: {spec}: too many colons', path=path)
    out: dict[str, Any] = {}
    if len(parts) == 1:
        out["type"] = "volume"
        out["target"] = clean_path(parts[0])
        out["volume"] = {}
        return out
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if not target:
        raise ComposeError(f"invalid spec: {spec}: empty container path", path=path)
    bind = _is_file_path(source)
    out["type"] = "bind" if bind else "volume"
    out["source"] = source
    out["target"] = clean_path(target)
    bind_opts: dict[str, Any] = {}
    volume_opts: dict[str, Any] = {}
    for opt in options:
        if opt == "ro":
            out["read_only"] = True
        elif opt == "rw":
            out["read_only"] = False
        elif opt in ("z", "Z"):
            bind_opts["selinux"] = opt
        elif opt in _PROPAGATION:
            bind_opts["propagation"] = opt
        elif opt == "nocopy":
            volume_opts["nocopy"] = True
        elif opt in ("consistent", "cached", "delegated"):
            out["consistency"] = opt
        elif opt:
            raise ComposeError(f'invalid volume option "{opt}" in "{spec}"', path=path)
    if out.get("read_only") is False:
        del out["read_only"]
    if bind:
        bind_opts["create_host_path"] = True
        out["bind"] = bind_opts
    else:
        if bind_opts:
            raise ComposeError(f'bind options are not allowed on named volume "{spec}"', path=path)
        out["volume"] = volume_opts
    return out


def _split_volume(spec: str) -> list[str]:
    """Split on `:` but keep a Windows drive letter (`C:\\x`) together."""
    if len(spec) > 2 and spec[1] == ":" and spec[0].isalpha() and spec[2] in "\\/":
        rest = spec[2:].split(":")
        return [spec[:2] + rest[0], *rest[1:]]
    return spec.split(":")


def parse_device(spec: str, path: KeyPath) -> dict[str, Any]:
    """`/dev/a[:/dev/b[:rwm]]` -> {source, target, permissions}."""
    parts = spec.split(":")
    if len(parts) == 1:
        return {"source": parts[0], "target": parts[0], "permissions": "rwm"}
    if len(parts) == 2:
        return {"source": parts[0], "target": parts[1], "permissions": "rwm"}
    if len(parts) == 3:
        return {"source": parts[0], "target": parts[1], "permissions": parts[2]}
    raise ComposeError(f"confusing device mapping, please use long syntax: {spec}", path=path)
