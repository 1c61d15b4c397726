"""nftables rules for bridge networks and published ports, rendered from a desired state and applied atomically.

Decide, then do: ``render(state)`` is a pure function from a ``Ruleset`` (networks and port mappings) to
the text of one ``nft -f`` transaction; ``apply(state)`` runs it. The transaction deletes and recreates
the agent's own table (``table ip <name>``, default ``orch``), so the kernel always holds exactly the
rules of the last desired state, and a restarted daemon converges by applying the same state again.
Nothing outside that table is read or changed; the name is configurable so that tests and ``orch lab``
hosts never collide.

What the table contains::

    prerouting (nat, dstnat)  fib daddr type local -> jump publish     from other hosts/namespaces,
    output     (nat, -100)    fib daddr type local -> jump publish     and from this host (127.0.0.1 too)
    publish                   [ip daddr H] tcp|udp dport P dnat to C:Q
    mesh                      tcp|udp dport P dnat to numgen inc mod N map { 0 : T0, ... } : Q
                              (routing mesh: every local address; jumped to after publish)
    prerouting, output        [iifname B] ip daddr V dnat to numgen inc mod N map { 0 : T0, ... }
                              (service VIPs, before the publish jump; see "Service VIPs" below)
    postrouting (nat, srcnat) oifname B ct status dnat snat to L       overlay B: this node's lb address
                                                                       (first; see agent/network/overlay.py)
                              ip saddr S oifname != B masquerade       egress of non-internal networks
                              ip saddr 127.0.0.0/8 oifname B masquerade    127.0.0.1 -> container
                              ip saddr S ip daddr S ct status dnat masquerade  hairpin (same network)
    forward (filter)          internal B: nothing leaves or enters B except B<->B
                              ct status dnat accept                    published ports from any bridge
                              iifname B oifname != B oifname @bridges drop   isolation between bridges
    input (filter)            ct state new ip daddr { V, ... } reject  a VIP with no task to answer

Service VIPs: a VIP is an address of the network's subnet held by the bridge itself (a /32, so the host
answers ARP for it) and DNATed in the kernel, L3 (every port and protocol), round robin over the running
tasks with ``numgen inc`` (evaluated once per connection: nat chains see only a connection's first packet).
Only packets entering from the VIP's own bridge (or from the host itself) are translated, so a VIP never
opens a way between isolated networks; whatever is not translated would be delivered to the host, which
the input chain refuses. A task reaching its own service's VIP may be sent to itself: the hairpin
masquerade (``ct status dnat``, matched on addresses; see Hairpin) makes the reply come back through the host.

Hairpin: with ``br_netfilter`` loaded (as on this host) a container's packet to a published port of its
own network is DNATed while still inside the bridge and bridged straight back, so (a) the veth ports are
in hairpin mode (``netlink.attach_veth``) and (b) the masquerade matches on addresses, because in the
bridge path postrouting sees no input interface.

Requirements outside the table (set by ``bridge.ensure_network``): ``net.ipv4.ip_forward=1`` and, for
the 127.0.0.1 case, ``net.ipv4.conf.<bridge>.route_localnet=1`` -- the kernel otherwise refuses to route
a packet with a loopback source out of a non-loopback device, even after our DNAT.

Foreign tables: another base chain on the forward hook with ``policy drop`` (Docker's or iptables-nft's
``ip filter FORWARD``) drops our bridged traffic whatever we accept, because every base chain on a hook
must accept. We do not edit foreign tables; ``blocking_forward_chains()`` reports them so the daemon can
warn the operator once at start.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from agent.network.netlink import run_in_netns

DEFAULT_TABLE = "orch"
Protocol = Literal["tcp", "udp"]


class NftError(RuntimeError):
    """``nft`` refused a transaction; the message is nft's first error line."""


@dataclass(frozen=True)
class NetworkRules:
    """What nftables needs to know about one bridge network."""

    bridge: str
    subnet: str
    internal: bool = False
    masquerade: bool = True  # com.docker.network.bridge.enable_ip_masquerade
    snat_to: str = ""  # overlay networks: this node's lb address (balanced traffic leaves from it)


@dataclass(frozen=True)
class PortMapping:
    """A published port (or range): ``[host_ip:]host_port[-host_port_end]:container_port/protocol``.

    A range maps one to one: host port ``host_port + i`` goes to ``container_port + i``.
    ``host_ip`` None (or 0.0.0.0) means every local address of the host, 127.0.0.1 included.
    """

    protocol: Protocol
    host_port: int
    container_ip: str
    container_port: int
    host_ip: str | None = None
    host_port_end: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in ("tcp", "udp"):
            raise ValueError(f"invalid protocol {self.protocol!r}: expected tcp or udp")
        end = self.host_port_end if self.host_port_end is not None else self.host_port
        if not (1 <= self.host_port <= end <= 65535):
            raise ValueError(f"invalid host port range {self.host_port}-{end}")
        if not (1 <= self.container_port and self.container_port + (end - self.host_port) <= 65535):
            raise ValueError(f"invalid container port {self.container_port}")
        ipaddress.IPv4Address(self.container_ip)
        if self.host_ip is not None:
            ipaddress.IPv4Address(self.host_ip)

    def pairs(self) -> list[tuple[int, int]]:
        """(host port, container port) for every port of the range."""
        end = self.host_port_end if self.host_port_end is not None else self.host_port
        return [(p, self.container_port + (p - self.host_port)) for p in range(self.host_port, end + 1)]

    def host_ports(self) -> set[tuple[str, str, int]]:
        """(protocol, host ip, port) keys, for conflict checks by the caller."""
        ip = self.host_ip or "0.0.0.0"
        return {(self.protocol, ip, h) for h, _ in self.pairs()}


@dataclass(frozen=True)
class ServiceVip:
    """A service's virtual IP on one bridge network and the task addresses it balances over."""

    bridge: str
    vip: str
    backends: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.vip)
        for ip in self.backends:
            ipaddress.IPv4Address(ip)


@dataclass(frozen=True)
class MeshPort:
    """A routing-mesh port: every local address accepts it and balances over ingress task addresses."""

    protocol: Protocol
    port: int
    target_port: int
    backends: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.protocol not in ("tcp", "udp"):
            raise ValueError(f"invalid protocol {self.protocol!r}: expected tcp or udp")
        if not (1 <= self.port <= 65535 and 1 <= self.target_port <= 65535):
            raise ValueError(f"invalid mesh port {self.port}:{self.target_port}")
        for ip in self.backends:
            ipaddress.IPv4Address(ip)


@dataclass(frozen=True)
class Ruleset:
    """The whole desired state of the agent's table."""

    networks: tuple[NetworkRules, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    table: str = DEFAULT_TABLE
    vips: tuple[ServiceVip, ...] = ()
    mesh: tuple[MeshPort, ...] = ()
    extra: tuple[str, ...] = field(default=())  # verbatim lines, for experiments


def conflicting_ports(mappings: Iterable[PortMapping]) -> list[tuple[str, str, int]]:
    """Host ports published twice (0.0.0.0 conflicts with every address), sorted."""
    seen: dict[tuple[str, int], set[str]] = {}
    clashes: set[tuple[str, str, int]] = set()
    for m in mappings:
        for proto, ip, port in m.host_ports():
            ips = seen.setdefault((proto, port), set())
            if ip in ips or (ip == "0.0.0.0" and ips) or "0.0.0.0" in ips:
                clashes.add((proto, ip, port))
            ips.add(ip)
    return sorted(clashes)


def _q(name: str) -> str:
    return json.dumps(name)  # a double-quoted nft string


def _publish_rules(ports: Iterable[PortMapping]) -> list[str]:
    rules = []
    for m in ports:
        match_ip = f"ip daddr {m.host_ip} " if m.host_ip and m.host_ip != "0.0.0.0" else ""
        for host_port, container_port in m.pairs():
            rules.append(
                f"{match_ip}{m.protocol} dport {host_port} dnat to {m.container_ip}:{container_port}"
            )
    return rules


def _ip_key(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def vip_target(backends: Iterable[str]) -> str:
    """The ``dnat to`` argument spreading new connections over ``backends`` (sorted, deduplicated)."""
    ips = sorted(set(backends), key=_ip_key)
    if not ips:
        raise ValueError("a VIP rule needs at least one backend")
    if len(ips) == 1:
        return ips[0]
    pairs = ", ".join(f"{i} : {ip}" for i, ip in enumerate(ips))
    return f"numgen inc mod {len(ips)} map {{ {pairs} }}"


def _mesh_rules(mesh: Iterable[MeshPort]) -> list[str]:
    rules = []
    for m in sorted(mesh, key=lambda m: (m.protocol, m.port)):
        if m.backends:
            rules.append(f"{m.protocol} dport {m.port} dnat to {vip_target(m.backends)} : {m.target_port}")
    return rules


def _vip_rules(vips: Iterable[ServiceVip], *, from_bridge: bool) -> list[str]:
    rules = []
    for v in sorted(vips, key=lambda v: (v.bridge, _ip_key(v.vip))):
        if v.backends:
            match = f"iifname {_q(v.bridge)} " if from_bridge else ""
            rules.append(f"{match}ip daddr {v.vip} dnat to {vip_target(v.backends)}")
    return rules


def render(state: Ruleset) -> str:
    """The ``nft -f`` transaction replacing the agent's table with ``state``. Pure and deterministic."""
    t = state.table
    nets = sorted(state.networks, key=lambda n: n.bridge)
    bridges = [n.bridge for n in nets]
    out: list[str] = [f"table ip {t}", f"delete table ip {t}", f"table ip {t} {{"]
    if bridges:
        out += [
            "  set bridges {",
            "    type ifname",
            f"    elements = {{ {', '.join(_q(b) for b in bridges)} }}",
            "  }",
        ]

    out += ["  chain publish {"]
    out += [f"    {r}" for r in _publish_rules(state.ports)]
    out += ["  }"]
    out += ["  chain mesh {"]
    out += [f"    {r}" for r in _mesh_rules(state.mesh)]
    out += ["  }"]

    out += [
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {r}" for r in _vip_rules(state.vips, from_bridge=True)),
        "    fib daddr type local jump publish",
        "    fib daddr type local jump mesh",
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        *(f"    {r}" for r in _vip_rules(state.vips, from_bridge=False)),
        "    fib daddr type local jump publish",
        "    fib daddr type local jump mesh",
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
    ]
    for n in nets:  # first: balanced traffic on an overlay leaves from this node's own address
        if n.snat_to:
            out.append(f"    oifname {_q(n.bridge)} ct status dnat snat to {n.snat_to}")
    for n in nets:
        b = _q(n.bridge)
        if not n.internal and n.masquerade:
            out.append(f"    ip saddr {n.subnet} oifname != {b} masquerade")
        out.append(f"    ip saddr 127.0.0.0/8 oifname {b} masquerade")
        out.append(f"    ip saddr {n.subnet} ip daddr {n.subnet} ct status dnat masquerade")
    out += ["  }"]

    out += ["  chain forward {", "    type filter hook forward priority filter; policy accept;"]
    for n in nets:
        if n.internal:
            b = _q(n.bridge)
            out.append(f"    iifname {b} oifname != {b} drop")
            out.append(f"    oifname {b} iifname != {b} drop")
    if nets:
        out.append("    ct status dnat accept")
    for n in nets:
        b = _q(n.bridge)
        out.append(f"    iifname {b} oifname != {b} oifname @bridges drop")
    out += ["  }"]

    vip_addrs = sorted({v.vip for v in state.vips}, key=_ip_key)
    if vip_addrs:
        out += [
            "  chain input {",
            "    type filter hook input priority filter; policy accept;",
            f"    ct state new ip daddr {{ {', '.join(vip_addrs)} }} reject",
            "  }",
        ]

    out += [f"  {line}" for line in state.extra]
    out += ["}"]
    return "\n".join(out) + "\n"


def _run_nft(script: str, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["nft", *args], input=script, capture_output=True, text=True, check=False, timeout=30
        )
    except FileNotFoundError:
        raise NftError("nft not found: install the nftables package") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise NftError("nft: " + (lines[0] if lines else f"exit status {proc.returncode}"))
    return proc.stdout


def apply(state: Ruleset, *, netns: str | None = None) -> None:
    """Replace the agent's table with ``state`` in one atomic transaction (in ``netns`` if given)."""
    run_in_netns(netns, _run_nft, render(state), "-f", "-")


def remove_all(table: str = DEFAULT_TABLE, *, netns: str | None = None) -> None:
    """Delete the agent's table (idempotent)."""
    run_in_netns(netns, _run_nft, f"table ip {table}\ndelete table ip {table}\n", "-f", "-")


def table_exists(table: str = DEFAULT_TABLE, *, netns: str | None = None) -> bool:
    out = run_in_netns(netns, _run_nft, "", "-j", "list", "tables")
    return any(
        "table" in item and item["table"]["family"] == "ip" and item["table"]["name"] == table
        for item in json.loads(out).get("nftables", [])
    )


def blocking_forward_chains(table: str = DEFAULT_TABLE, *, netns: str | None = None) -> list[str]:
    """Foreign base chains on the forward hook whose policy is drop (they would drop our traffic)."""
    out = run_in_netns(netns, _run_nft, "", "-j", "list", "chains")
    found = []
    for item in json.loads(out).get("nftables", []):
        chain = item.get("chain")
        if not chain or chain.get("hook") != "forward" or chain.get("policy") != "drop":
            continue
        if chain["family"] == "ip" and chain["table"] == table:
            continue
        found.append(f"{chain['family']} {chain['table']} {chain['name']}")
    return found
