"""Docker's JSON shapes for networks and for a container's NetworkSettings.

Kept apart from the manager so Docker's field names (CamelCase) never leak into the records.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from agent.network.ports import parse_exposed, ps_text
from agent.network.state import Active, NetworkRecord


def _prefixlen(subnet: str) -> int:
    return ipaddress.IPv4Network(subnet).prefixlen if subnet else 0


def network_json(net: NetworkRecord, members: Iterable[tuple[str, str, str, str]]) -> dict[str, Any]:
    """``network inspect``; ``members``: (container id, name, ip, mac) of running attachments."""
    config: list[dict[str, str]] = []
    if net.subnet:
        entry = {"Subnet": net.subnet, "Gateway": net.gateway}
        if net.ip_range and net.ip_range != net.subnet:
            entry["IPRange"] = net.ip_range
        config.append(entry)
    containers = {
        cid: {"Name": name, "EndpointID": _endpoint_id(cid, net.id), "MacAddress": mac,
              "IPv4Address": f"{ip}/{_prefixlen(net.subnet)}", "IPv6Address": ""}
        for cid, name, ip, mac in members
    }
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": net.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if net.builtin and not net.subnet else {},
                 "Config": config},
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(net.options),
        "Labels": dict(net.labels),
    }


def _endpoint_id(container_id: str, network_id: str) -> str:
    import hashlib

    return hashlib.sha256(f"{container_id}/{network_id}/endpoint".encode()).hexdigest()


def container_settings(
    cfg: dict[str, Any],
    networks: dict[str, NetworkRecord],
    active: Active | None,
    exposed: Iterable[str],
    container_id: str,
) -> dict[str, Any]:
    """NetworkSettings of ``container inspect`` plus ``_ports``/``_networks`` texts for ``ps``."""
    act = {e.network_id: e for e in (active.endpoints if active else [])}
    nets: dict[str, Any] = {}
    names: list[str] = []
    for ep in cfg.get("endpoints", []):
        net = networks.get(ep["network_id"])
        name = net.name if net else ep.get("network", ep["network_id"][:12])
        names.append(name)
        live = act.get(ep["network_id"])
        running = live is not None
        nets[name] = {
            "IPAMConfig": {"IPv4Address": ep["ip"]} if ep.get("requested_ip") else None,
            "Links": [f"{link}" for link in cfg.get("links", [])] or None if net and net.default else None,
            "Aliases": list(ep.get("aliases", [])) or None,
            "MacAddress": (live.mac if live else ep.get("mac", "")) if running else "",
            "NetworkID": ep["network_id"],
            "EndpointID": _endpoint_id(container_id, ep["network_id"]) if running else "",
            "Gateway": (net.gateway if net else "") if running else "",
            "IPAddress": ep["ip"] if running else "",
            "IPPrefixLen": _prefixlen(net.subnet) if running and net else 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": list(live.names) if live and net and net.embedded_dns else None,
        }
    exposed_set = parse_exposed(exposed)
    ports: dict[str, list[dict[str, str]] | None] = {f"{p}/{proto}": None for p, proto in exposed_set}
    for p in (active.ports if active else []):
        ports.setdefault(f"{p.container_port}/{p.protocol}", None)
        ports[f"{p.container_port}/{p.protocol}"] = [
            *(ports[f"{p.container_port}/{p.protocol}"] or []), {"HostIp": p.host_ip, "HostPort": str(p.host_port)}]
    doc: dict[str, Any] = {
        "Bridge": "", "SandboxID": "", "SandboxKey": f"/proc/{active.pid}/ns/net" if active else "",
        "Ports": ports, "Networks": nets,
    }
    default = next((n for n in nets.values()
                    if networks.get(n["NetworkID"]) is not None and networks[n["NetworkID"]].default), None)
    if default is not None:
        doc.update({k: default[k] for k in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress")})
        doc.update({"GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""})
    return {
        "NetworkSettings": doc,
        "_ports": ps_text(active.ports if active else [], exposed_set),
        "_networks": ",".join(names),
    }
