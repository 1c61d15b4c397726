"""Address management for bridge networks on one host: pure, deterministic and serializable.

What it does: picks a subnet for each network (explicit ``--subnet`` or the next free one from Docker's
default pools), validates ``--gateway``/``--ip-range``, and hands out container addresses without
duplicates. What it does not: touch the kernel. The caller passes the host's own routes/addresses in
(``netlink.host_prefixes()``), so overlap avoidance is testable, and persists ``to_dict()``.

Pools (Docker's defaults): the default ``bridge`` network tries 172.17.0.0/16 first; user networks take
172.18.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/16 cut into /20s.

Addresses are handed out round-robin after the last one given, so an address released by a removed
container is not reused at once (peers may still have it in their ARP caches).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

DEFAULT_BRIDGE_SUBNET = IPv4Network("172.17.0.0/16")


def default_user_pools() -> Iterator[IPv4Network]:
    """Candidate subnets for user-defined networks, in Docker's order."""
    for second in range(18, 32):
        yield IPv4Network(f"172.{second}.0.0/16")
    yield from IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


class IpamError(ValueError):
    """Bad or impossible address request; ``str()`` is the one-line message for the user."""


class InvalidSubnet(IpamError):
    pass


class GatewayOutsideSubnet(IpamError):
    pass


class PoolOverlap(IpamError):
    pass


class PoolExhausted(IpamError):
    pass


class AddressInUse(IpamError):
    pass


class AddressOutOfRange(IpamError):
    pass


class UnknownNetwork(IpamError):
    pass


@dataclass
class Pool:
    """The addressing of one network: subnet, gateway, allocatable range, addresses in use."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network
    allocated: set[IPv4Address] = field(default_factory=set)
    last: IPv4Address | None = None

    def candidates(self) -> Iterator[IPv4Address]:
        """Assignable addresses of the range in order, starting after the last one handed out."""
        first = int(self.ip_range.network_address)
        end = int(self.ip_range.broadcast_address)
        start = first
        if self.last is not None and self.last in self.ip_range:
            start = int(self.last) + 1
        for n in itertools.chain(range(start, end + 1), range(first, start)):
            ip = IPv4Address(n)
            if self._assignable(ip):
                yield ip

    def _assignable(self, ip: IPv4Address) -> bool:
        if ip == self.gateway:
            return False
        if self.subnet.prefixlen < 31 and ip in (self.subnet.network_address, self.subnet.broadcast_address):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "subnet": str(self.subnet),
            "gateway": str(self.gateway),
            "ip_range": str(self.ip_range),
            "allocated": sorted(str(ip) for ip in self.allocated),
            "last": str(self.last) if self.last else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pool:
        return cls(
            subnet=IPv4Network(data["subnet"]),
            gateway=IPv4Address(data["gateway"]),
            ip_range=IPv4Network(data["ip_range"]),
            allocated={IPv4Address(ip) for ip in data.get("allocated", [])},
            last=IPv4Address(data["last"]) if data.get("last") else None,
        )


def _parse_subnet(text: str) -> IPv4Network:
    try:
        net = IPv4Network(text, strict=True)
    except ValueError as err:
        raise InvalidSubnet(f"Invalid subnet {text} : {err}") from None
    if net.prefixlen > 30:
        raise InvalidSubnet(f"Invalid subnet {text} : too small for a network")
    return net


def _parse_address(text: str, what: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise IpamError(f"invalid {what} address {text}") from None


class Ipam:
    """Pools of all networks on this host, keyed by network id."""

    def __init__(self, pools: dict[str, Pool] | None = None) -> None:
        self.pools: dict[str, Pool] = dict(pools or {})

    # ------------------------------------------------------------ networks

    def request_pool(
        self,
        network_id: str,
        *,
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        host_prefixes: Iterable[str] = (),
        default_bridge: bool = False,
    ) -> Pool:
        """Reserve the addressing of a new network (idempotent for an id that already has a pool)."""
        if network_id in self.pools:
            return self.pools[network_id]
        if subnet is None and (gateway or ip_range):
            raise IpamError("a --gateway or --ip-range needs an explicit --subnet")
        host = [ipaddress.ip_network(p, strict=False) for p in host_prefixes]
        if subnet is not None:
            net = _parse_subnet(subnet)
            if self._overlaps(net):
                raise PoolOverlap("Pool overlaps with other one on this address space")
        else:
            net = self._pick(host, default_bridge)
        rng = net
        if ip_range is not None:
            rng = _parse_subnet(ip_range)
            if not rng.subnet_of(net):
                raise IpamError(f"no matching subnet for range {ip_range}")
        if gateway is not None:
            gw = _parse_address(gateway, "gateway")
            if gw not in net:
                raise GatewayOutsideSubnet(f"no matching subnet for gateway {gateway}")
        else:
            gw = next(net.hosts())
        pool = Pool(subnet=net, gateway=gw, ip_range=rng)
        self.pools[network_id] = pool
        return pool

    def _overlaps(self, net: IPv4Network) -> bool:
        return any(net.overlaps(p.subnet) for p in self.pools.values())

    def _pick(
        self, host: list[ipaddress.IPv4Network | ipaddress.IPv6Network], default_bridge: bool
    ) -> IPv4Network:
        candidates: Iterable[IPv4Network] = default_user_pools()
        if default_bridge:
            candidates = [DEFAULT_BRIDGE_SUBNET, *default_user_pools()]
        for net in candidates:
            if self._overlaps(net):
                continue
            if any(h.version == 4 and net.overlaps(h) for h in host):  # type: ignore[arg-type]
                continue
            return net
        raise PoolExhausted(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
        )

    def release_pool(self, network_id: str) -> None:
        """Forget a network's addressing (idempotent)."""
        self.pools.pop(network_id, None)

    def pool(self, network_id: str) -> Pool:
        try:
            return self.pools[network_id]
        except KeyError:
            raise UnknownNetwork(f"network {network_id} not found") from None

    # ------------------------------------------------------------ addresses

    def allocate(self, network_id: str, ip: str | None = None) -> IPv4Address:
        """Hand out ``ip`` (``--ip``) or the next free address of the network."""
        pool = self.pool(network_id)
        if ip is not None:
            addr = _parse_address(ip, "IP")
            if addr not in pool.subnet:
                raise AddressOutOfRange(
                    f"Invalid address {ip}: It does not belong to any of this network's subnets"
                )
            if addr in pool.allocated or addr == pool.gateway:
                raise AddressInUse(f"Address already in use: {ip}")
            if not pool._assignable(addr):
                raise AddressOutOfRange(f"Invalid address {ip}: network or broadcast address")
            pool.allocated.add(addr)
            return addr
        for addr in pool.candidates():
            if addr not in pool.allocated:
                pool.allocated.add(addr)
                pool.last = addr
                return addr
        raise PoolExhausted(f"no available IPv4 addresses on network {network_id}")

    def release(self, network_id: str, ip: str | IPv4Address) -> None:
        """Return an address to its network (idempotent; unknown networks are ignored)."""
        pool = self.pools.get(network_id)
        if pool is not None:
            pool.allocated.discard(IPv4Address(str(ip)))

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "pools": {nid: p.to_dict() for nid, p in sorted(self.pools.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ipam:
        return cls({nid: Pool.from_dict(p) for nid, p in data.get("pools", {}).items()})
