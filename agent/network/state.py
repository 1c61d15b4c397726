"""The network side's persistent records: networks, address pools and live attachments.

Everything the daemon must know after a restart lives in one JSON document,
``<state_dir>/network/state.json``, rewritten atomically (write + rename) after each change:

- ``networks``: the objects of ``orch network ls`` (user-defined bridges and the default ``bridge``);
- ``ipam``: ``Ipam.to_dict()`` -- subnets and every reserved container address;
- ``active``: the attachments of running containers (pid, addresses, DNS names, published ports), so a
  restarted daemon can rebuild nft rules and DNS records *before* the engine re-adopts its containers;
- ``vips``: per network, the virtual IP of each service (endpoint mode vip) with the containers holding
  it; the address itself is reserved in ``ipam`` like a container's.

What a container asked for (``--network``, ``-p``, ``--dns`` ...) and which addresses it reserved are
kept in the container's own record (``c.host_config["net"]``, see ``manager.py``), not here.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.network.ipam import Ipam

BUILTIN_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}


@dataclass
class NetworkRecord:
    """One network as the user sees it (``network inspect``)."""

    id: str
    name: str
    driver: str  # "bridge" for everything with a bridge device; "host"/"null" for the builtins
    created: str  # RFC 3339
    bridge: str = ""  # Linux device name; "" for host/none
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    user_subnet: bool = False  # --subnet given: --ip allowed (Docker's rule)
    internal: bool = False
    attachable: bool = False
    default: bool = False  # the default "bridge" network: no embedded DNS, /etc/hosts links
    masquerade: bool = True
    mtu: int = 0  # 0: the host's default-route MTU at (re)boot
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_DRIVERS

    @property
    def has_bridge(self) -> bool:
        return bool(self.bridge)

    @property
    def embedded_dns(self) -> bool:
        """User-defined bridges get name resolution from the embedded server; the default bridge does not."""
        return self.has_bridge and not self.default

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkRecord:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class ActivePort:
    """A published port as programmed in the kernel (one host port or a one-to-one range)."""

    protocol: str
    host_ip: str  # "0.0.0.0" for every address
    host_port: int
    container_port: int
    container_ip: str
    host_port_end: int = 0  # 0: single port

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ActiveEndpoint:
    """A running container's attachment to one network."""

    network_id: str
    ifname: str
    ip: str
    mac: str
    names: list[str]  # what the container is called on this network: name, aliases, short id
    service_id: str = ""  # a service task's service (swarm labels), "" for a plain container
    service_names: list[str] = field(default_factory=list)  # the service name and aliases (tasks.<n> too)
    vip: str = ""  # the service's VIP on this network (endpoint mode vip), "" for dnsrr


@dataclass
class Active:
    """Everything programmed for one running container."""

    container_id: str
    name: str
    pid: int
    endpoints: list[ActiveEndpoint] = field(default_factory=list)
    ports: list[ActivePort] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # alias -> container id (DNS of user networks)
    dns: list[str] = field(default_factory=list)  # --dns: upstreams of the embedded server for this client

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Active:
        return cls(
            container_id=d["container_id"],
            name=d["name"],
            pid=int(d["pid"]),
            endpoints=[ActiveEndpoint(**e) for e in d.get("endpoints", [])],
            ports=[ActivePort(**p) for p in d.get("ports", [])],
            links=dict(d.get("links", {})),
            dns=list(d.get("dns", [])),
        )


@dataclass
class VipRecord:
    """A service's virtual IP on one network, kept while any of its containers exists."""

    ip: str
    service_name: str
    containers: list[str] = field(default_factory=list)  # ids of the containers that attached with it


@dataclass
class NetState:
    networks: dict[str, NetworkRecord] = field(default_factory=dict)
    ipam: Ipam = field(default_factory=Ipam)
    active: dict[str, Active] = field(default_factory=dict)
    next_port: dict[str, int] = field(default_factory=dict)  # protocol -> next ephemeral candidate
    vips: dict[str, dict[str, VipRecord]] = field(default_factory=dict)  # network id -> service id -> VIP

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "networks": {nid: n.to_dict() for nid, n in sorted(self.networks.items())},
            "ipam": self.ipam.to_dict(),
            "active": {cid: a.to_dict() for cid, a in sorted(self.active.items())},
            "next_port": dict(self.next_port),
            "vips": {nid: {sid: asdict(v) for sid, v in sorted(by_svc.items())}
                     for nid, by_svc in sorted(self.vips.items())},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetState:
        return cls(
            networks={nid: NetworkRecord.from_dict(n) for nid, n in d.get("networks", {}).items()},
            ipam=Ipam.from_dict(d.get("ipam", {})),
            active={cid: Active.from_dict(a) for cid, a in d.get("active", {}).items()},
            next_port={k: int(v) for k, v in d.get("next_port", {}).items()},
            vips={nid: {sid: VipRecord(**v) for sid, v in by_svc.items()}
                  for nid, by_svc in d.get("vips", {}).items()},
        )


def load(path: Path) -> NetState:
    """The saved state, or an empty one on first boot. A corrupt file is an error, never silently reset."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return NetState()
    try:
        return NetState.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as err:
        raise RuntimeError(f"corrupt network state {path}: {err}") from None


def save(path: Path, st: NetState) -> None:
    """Write the state atomically (temp file + rename), compact and without fsync.

    It is written on every attach and release, under the manager's lock, so its cost is paid once
    per container start: pretty-printing and an fsync were a fifth of the daemon's CPU while 100
    replicas started. The rename survives a crash of the daemon (the page cache holds it); only a
    crash of the machine could lose the last writes, and that also ends every container they describe.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(st.to_dict(), f, separators=(",", ":"))
    os.replace(tmp, path)
