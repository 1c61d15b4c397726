"""Bridge networks and container attachments on one host, composed from ``netlink`` calls.

A network is a Linux bridge carrying the gateway address; each container attachment is a veth pair
whose host end is a bridge port and whose peer is ``eth0``/``eth1``/... inside the container. Device
names are derived from ids (``<prefix>-<netid>`` for bridges, ``<veth prefix><hash7>`` for host veth
ends) so that a restarted daemon can recompute them, and ``collect_garbage`` can remove whatever carries
our prefixes but is no longer wanted. Every function is idempotent. Filtering and NAT are in ``nft.py``;
this module only derives their input (``nft_networks``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from agent.network import netlink
from agent.network.nft import NetworkRules

BRIDGE_PREFIX = "orch"
VETH_PREFIX = "vorch"
DEFAULT_BRIDGE = "orch0"


def bridge_name(network_id: str, prefix: str = BRIDGE_PREFIX) -> str:
    """``orch-<first chars of the id>``, at most 15 bytes (IFNAMSIZ)."""
    room = netlink.IFNAMSIZ - len(prefix) - 1
    if room < 6:
        raise ValueError(f"bridge prefix {prefix!r} is too long")
    return f"{prefix}-{network_id[:room]}"


def veth_name(container_id: str, network_id: str, prefix: str = VETH_PREFIX) -> str:
    """Host end of a container's attachment to a network: ``<prefix><hash>``, at most 15 bytes."""
    room = netlink.IFNAMSIZ - len(prefix)
    if room < 7:
        raise ValueError(f"veth prefix {prefix!r} is too long")
    digest = hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()
    return prefix + digest[: min(room, 10)]


@dataclass(frozen=True)
class BridgeNetwork:
    """A bridge network as the kernel sees it."""

    network_id: str
    bridge: str
    subnet: str  # "172.18.0.0/16"
    gateway: str  # "172.18.0.1"
    mtu: int = netlink.DEFAULT_MTU
    internal: bool = False
    masquerade: bool = True

    @property
    def gateway_cidr(self) -> str:
        return f"{self.gateway}/{ipaddress.IPv4Network(self.subnet).prefixlen}"


@dataclass(frozen=True)
class Attachment:
    """One container on one network."""

    container_id: str
    network: BridgeNetwork
    container_netns: str  # netlink.netns_of_pid(pid) or a bind-mounted netns file
    ifname: str  # "eth0", "eth1", ...
    ip: str
    mac: str | None = None
    default_route: bool = True  # only the first (non-internal) attachment routes out
    veth_prefix: str = VETH_PREFIX

    @property
    def host_ifname(self) -> str:
        return veth_name(self.container_id, self.network.network_id, self.veth_prefix)


def mac_for(ip: str) -> str:
    """Docker's deterministic MAC for an IPv4 address: 02:42 followed by the address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def ensure_network(net: BridgeNetwork, *, netns: str | None = None) -> None:
    """Create or repair the bridge of ``net`` and the sysctls its rules need.

    ``ip_forward`` is global to the (host) namespace; ``route_localnet`` on the bridge lets the output
    DNAT of 127.0.0.1 reach a container (see nft.py).
    """
    netlink.ensure_bridge(net.bridge, net.gateway_cidr, net.mtu, netns=netns)
    netlink.set_sysctl("net.ipv4.ip_forward", "1", netns=netns)
    netlink.set_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", "1", netns=netns)


def remove_network(bridge: str, *, netns: str | None = None) -> bool:
    """Delete a network's bridge (its remaining ports are detached by the kernel)."""
    return netlink.delete_link(bridge, netns=netns)


def attach(att: Attachment, *, netns: str | None = None) -> str:
    """Plug a container into its network; returns the host-side veth name."""
    net = att.network
    prefixlen = ipaddress.IPv4Network(net.subnet).prefixlen
    spec = netlink.VethSpec(
        host_ifname=att.host_ifname,
        bridge=net.bridge,
        container_netns=att.container_netns,
        ifname=att.ifname,
        address=f"{att.ip}/{prefixlen}",
        gateway=net.gateway if att.default_route and not net.internal else None,
        mtu=net.mtu,
        mac=att.mac or mac_for(att.ip),
    )
    netlink.attach_veth(spec, netns=netns)
    return spec.host_ifname


def detach(
    container_id: str, network_id: str, *, veth_prefix: str = VETH_PREFIX, netns: str | None = None
) -> bool:
    """Unplug a container from a network (idempotent; a dead container's veth is already gone)."""
    return netlink.detach_veth(veth_name(container_id, network_id, veth_prefix), netns=netns)


def collect_garbage(
    wanted: Iterable[str],
    *,
    bridge_prefix: str = BRIDGE_PREFIX,
    veth_prefix: str = VETH_PREFIX,
    netns: str | None = None,
) -> list[str]:
    """Delete our bridges and host veths that are not in ``wanted``; returns what was removed.

    Veths go first so that no bridge is deleted under a port we are about to look at.
    """
    keep = set(wanted)
    removed = []
    for prefix in (veth_prefix, bridge_prefix):
        for name in netlink.list_links(prefix, netns=netns):
            if name not in keep and netlink.delete_link(name, netns=netns):
                removed.append(name)
    return removed


def nft_networks(networks: Iterable[BridgeNetwork]) -> tuple[NetworkRules, ...]:
    """The part of the nft desired state that comes from networks."""
    return tuple(
        NetworkRules(bridge=n.bridge, subnet=n.subnet, internal=n.internal, masquerade=n.masquerade)
        for n in networks
    )
