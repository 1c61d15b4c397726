"""Published ports: from what a container asked for (``-p``, ``-P``) to host ports, without conflicts.

Pure planning, no kernel: ``plan_ports`` turns the requested bindings into ``ActivePort`` records,
choosing ephemeral host ports (Docker's range 32768-60999, handed out in increasing order per protocol
so a just-freed port is not reused at once) and refusing a host port another container already
publishes. ``0.0.0.0`` conflicts with every address of the same port and protocol. Whether a host port
is free *on the host* (a local process listening) is asked through ``probe`` for ephemeral ports only:
an explicit ``-p`` wins over a local listener, as with Docker without its userland proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agent.network.state import ActivePort

EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999
ANY = "0.0.0.0"
PortKey = tuple[str, str, int]  # (protocol, host ip, host port)


class PortAllocated(ValueError):
    """``str()`` is Docker's message: ``Bind for 0.0.0.0:8080 failed: port is already allocated``."""


@dataclass(frozen=True)
class Request:
    """One ``-p`` entry after the CLI's parsing (a host range with one container port: pick one)."""

    protocol: str
    container_port: int
    host_ip: str = ANY
    host_port: int = 0  # 0: ephemeral
    host_port_end: int = 0  # >0 with a single container port: any free port of host_port..host_port_end

    @classmethod
    def from_spec(cls, d: dict[str, Any]) -> list[Request]:
        """Requests from a ContainerSpec ``PortBinding`` dict (missing keys are proto defaults)."""
        proto = (d.get("protocol") or "tcp").lower()
        if proto not in ("tcp", "udp"):
            raise ValueError(f"invalid proto: {proto}")
        cstart = int(d.get("container_port") or 0)
        cend = int(d.get("container_port_end") or 0) or cstart
        hstart = int(d.get("host_port") or 0)
        hend = int(d.get("host_port_end") or 0)
        ip = d.get("host_ip") or ANY
        if not 1 <= cstart <= cend <= 65535:
            raise ValueError(f"invalid containerPort: {cstart}")
        if cend == cstart:
            return [cls(proto, cstart, ip, hstart, hend if hend > hstart else 0)]
        if hstart and hend and hend - hstart != cend - cstart:
            raise ValueError(f"invalid ranges specified for container and host Ports: {cstart}-{cend} and {hstart}-{hend}")
        return [cls(proto, cstart + i, ip, hstart + i if hstart else 0) for i in range(cend - cstart + 1)]


def parse_exposed(items: Iterable[str]) -> list[tuple[int, str]]:
    """``["80/tcp", "53/udp", "8080"]`` -> sorted unique ``(port, protocol)``."""
    out: set[tuple[int, str]] = set()
    for item in items:
        port, _, proto = str(item).partition("/")
        out.add((int(port), (proto or "tcp").lower()))
    return sorted(out)


def _clashes(key: PortKey, taken: set[PortKey]) -> bool:
    proto, ip, port = key
    if ip == ANY:
        return any(p == proto and n == port for p, _, n in taken)
    return (proto, ip, port) in taken or (proto, ANY, port) in taken


def plan_ports(
    requests: Iterable[Request],
    *,
    publish_all: bool,
    exposed: Iterable[tuple[int, str]],
    container_ip: str,
    taken: Iterable[PortKey],
    next_port: dict[str, int],
    probe: Callable[[str, str, int], bool] = lambda proto, ip, port: True,
) -> list[ActivePort]:
    """The host ports of one container; raises ``PortAllocated`` on a conflict.

    ``taken`` are the keys of every other running container's ports; ``next_port`` (protocol -> next
    ephemeral candidate) is advanced in place, so the caller persists it only if the plan is used.
    """
    used = set(taken)
    out: list[ActivePort] = []
    reqs = list(requests)
    if publish_all:
        explicit = {(r.container_port, r.protocol) for r in reqs}
        reqs += [Request(proto, port) for port, proto in exposed if (port, proto) not in explicit]

    def take(proto: str, ip: str, port: int) -> None:
        used.add((proto, ip, port))

    for r in reqs:
        if r.host_port == 0:
            port = _ephemeral(r.protocol, r.host_ip, used, next_port, probe)
        elif r.host_port_end:
            port = next((p for p in range(r.host_port, r.host_port_end + 1)
                         if not _clashes((r.protocol, r.host_ip, p), used)), 0)
            if not port:
                raise PortAllocated(
                    f"Bind for {r.host_ip}:{r.host_port}-{r.host_port_end} failed: port is already allocated")
        else:
            port = r.host_port
            if _clashes((r.protocol, r.host_ip, port), used):
                raise PortAllocated(f"Bind for {r.host_ip}:{port} failed: port is already allocated")
        take(r.protocol, r.host_ip, port)
        out.append(ActivePort(r.protocol, r.host_ip, port, r.container_port, container_ip))
    return out


def _ephemeral(proto: str, ip: str, used: set[PortKey], next_port: dict[str, int],
               probe: Callable[[str, str, int], bool]) -> int:
    span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
    start = next_port.get(proto, EPHEMERAL_FIRST)
    if not EPHEMERAL_FIRST <= start <= EPHEMERAL_LAST:
        start = EPHEMERAL_FIRST
    for i in range(span):
        port = EPHEMERAL_FIRST + (start - EPHEMERAL_FIRST + i) % span
        if not _clashes((proto, ip, port), used) and probe(proto, ip, port):
            next_port[proto] = port + 1 if port < EPHEMERAL_LAST else EPHEMERAL_FIRST
            return port
    raise PortAllocated(f"Bind for {ip}:0 failed: no free host port in {EPHEMERAL_FIRST}-{EPHEMERAL_LAST}")


def keys(ports: Iterable[ActivePort]) -> set[PortKey]:
    out: set[PortKey] = set()
    for p in ports:
        end = p.host_port_end or p.host_port
        out |= {(p.protocol, p.host_ip, n) for n in range(p.host_port, end + 1)}
    return out


def ps_text(ports: Iterable[ActivePort], exposed: Iterable[tuple[int, str]]) -> str:
    """Docker's PORTS column: ``0.0.0.0:8080->80/tcp, 443/tcp``."""
    published = sorted(ports, key=lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port))
    seen = {(p.container_port, p.protocol) for p in published}
    parts = [f"{p.host_ip}:{p.host_port}->{p.container_port}/{p.protocol}" for p in published]
    parts += [f"{port}/{proto}" for port, proto in sorted(exposed) if (port, proto) not in seen]
    return ", ".join(parts)
