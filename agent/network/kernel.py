"""The kernel side of the network manager, behind one small class so unit tests can swap in a fake.

``Kernel`` composes the library modules (``bridge``, ``nft``, ``dns``) for the daemon's own network
namespace: bridges and veths, the nft table, the embedded DNS server. It keeps no state of its own
except the DNS server object; the manager tells it the whole desired state (``apply_rules``,
``set_dns_*``) after each change.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Iterable, Sequence

from agent.network import bridge, netlink, nft
from agent.network.bridge import Attachment, BridgeNetwork
from agent.network.dns import DnsServer, Upstream, host_upstreams

log = logging.getLogger("orch.network")


def parse_upstreams(text: str) -> list[Upstream]:
    """``"10.0.0.2:53,10.0.0.3"`` -> [("10.0.0.2", 53), ("10.0.0.3", 53)] (ORCH_DNS_UPSTREAMS)."""
    out: list[Upstream] = []
    for item in text.replace(" ", ",").split(","):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, "53"
        out.append((host, int(port)))
    return out


class Kernel:
    """Bridges, veths, nft rules and the DNS server of the daemon's network namespace."""

    def __init__(self, *, table: str | None = None, upstreams: Sequence[Upstream] | None = None,
                 dns_port: int = 53) -> None:
        self.table = table or os.environ.get("ORCH_NFT_TABLE") or nft.DEFAULT_TABLE
        env = os.environ.get("ORCH_DNS_UPSTREAMS")
        if upstreams is None:
            upstreams = parse_upstreams(env) if env is not None else host_upstreams()
        self.upstreams = list(upstreams)
        self.dns_port = dns_port
        self._dns: DnsServer | None = None
        self._vip_addrs: dict[str, tuple[str, ...]] = {}  # bridge -> VIPs last set on it
        self._applied: nft.Ruleset | None = None  # the ruleset of the last nft transaction
        # Overlay plumbing last made so: (kind, device) -> arguments. The NetworkState is re-applied
        # whole whenever any task of a network changes; unchanged devices are not touched again (each
        # FDB sync runs `bridge fdb show`). Forgotten when a link or network is deleted.
        self._overlay_done: dict[tuple[str, str], object] = {}

    # ------------------------------------------------------------ facts
    def host_prefixes(self) -> list[str]:
        return netlink.host_prefixes()

    def mtu(self) -> int:
        return netlink.default_route_mtu()

    def link_exists(self, name: str) -> bool:
        return netlink.link_exists(name)

    def port_free(self, proto: str, ip: str, port: int) -> bool:
        """No local socket holds ``ip:port`` (ephemeral ports skip ports the host itself uses)."""
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((ip, port))
            except OSError as err:
                return err.errno not in (errno.EADDRINUSE, errno.EACCES)
        return True

    # ------------------------------------------------------------ links
    def ensure_network(self, net: BridgeNetwork) -> None:
        bridge.ensure_network(net)

    def _once(self, kind: str, dev: str, args: object, do: object) -> None:
        key = (kind, dev)
        if self._overlay_done.get(key) == args:
            return
        self._overlay_done.pop(key, None)
        do()  # type: ignore[operator]
        self._overlay_done[key] = args

    def ensure_vxlan(self, name: str, vni: int, bridge_name: str, mtu: int) -> None:
        self._once("vxlan", name, (vni, bridge_name, mtu), lambda: netlink.ensure_vxlan(name, vni, bridge_name, mtu))

    def set_fdb(self, dev: str, wanted: list[tuple[str, str]]) -> None:
        self._once("fdb", dev, sorted(wanted), lambda: netlink.set_fdb(dev, wanted))

    def ensure_lb_port(self, bridge_name: str, port: str, peer: str, ip: str, mac: str, mtu: int) -> None:
        self._once("lb", port, (bridge_name, peer, ip, mac, mtu),
                   lambda: netlink.ensure_lb_port(bridge_name, port, peer, ip, mac, mtu))

    def set_neighbours(self, dev: str, wanted: list[tuple[str, str]]) -> None:
        self._once("neigh", dev, sorted(wanted), lambda: netlink.set_neighbours(dev, wanted))

    def _forget(self, *devs: str) -> None:
        for key in [k for k in self._overlay_done if k[1] in devs]:
            del self._overlay_done[key]

    def delete_link(self, name: str) -> None:
        self._forget(name)
        netlink.delete_link(name)

    def host_addresses(self) -> list[str]:
        return netlink.host_addresses()

    def remove_network(self, bridge_name: str) -> None:
        # the bridge takes its VXLAN device and lb port along; their next ensure must do the work again
        self._forget(bridge_name, *[k[1] for k, v in self._overlay_done.items()
                                    if isinstance(v, tuple) and bridge_name in v])
        bridge.remove_network(bridge_name)
        self._vip_addrs.pop(bridge_name, None)

    def set_vip_addresses(self, bridge_name: str, vips: Iterable[str]) -> None:
        """Hold exactly ``vips`` (as /32s) on the bridge, so the host answers ARP for them (see nft.py).

        Skipped when unchanged since the last call, like ``apply_rules``: it runs on every attach.
        """
        wanted = tuple(sorted(vips))
        if self._vip_addrs.get(bridge_name) == wanted:
            return
        netlink.set_host_addresses(bridge_name, list(wanted))
        self._vip_addrs[bridge_name] = wanted

    def attach(self, att: Attachment) -> None:
        bridge.attach(att)

    def detach(self, container_id: str, network_id: str) -> None:
        bridge.detach(container_id, network_id)

    # ------------------------------------------------------------ nft
    def apply_rules(self, networks: Iterable[nft.NetworkRules], ports: Iterable[nft.PortMapping],
                    vips: Iterable[nft.ServiceVip] = (), mesh: Iterable[nft.MeshPort] = ()) -> None:
        """Apply the ruleset in one nft transaction, unless it is the one applied last.

        Most container starts change no rule (no published port), and running `nft -f` costs more
        than the rest of the attach; the first call after boot always applies.
        """
        ruleset = nft.Ruleset(networks=tuple(networks), ports=tuple(ports), vips=tuple(vips), mesh=tuple(mesh),
                              table=self.table)
        if ruleset == self._applied:
            return
        nft.apply(ruleset)
        self._applied = ruleset

    def warn_foreign_firewall(self) -> None:
        try:
            chains = nft.blocking_forward_chains(self.table)
        except (nft.NftError, ValueError):
            return
        for chain in chains:
            log.warning("nft chain %s has policy drop on the forward hook: it will drop container traffic",
                        chain)

    # ------------------------------------------------------------ dns
    @property
    def dns(self) -> DnsServer:
        if self._dns is None:
            self._dns = DnsServer((), port=self.dns_port, upstreams=self.upstreams)
        return self._dns

    def dns_listen(self, addr: str) -> None:
        self.dns.listen(addr)

    def dns_unlisten(self, addr: str) -> None:
        if self._dns is not None:
            self._dns.unlisten(addr)

    def dns_set_records(self, network_id: str, records: dict[str, list[str]], *, subnet: str | None,
                        internal: bool) -> None:
        self.dns.set_records(network_id, records, subnet=subnet, internal=internal)

    def dns_remove_network(self, network_id: str) -> None:
        if self._dns is not None:
            self._dns.remove_network(network_id)

    def dns_set_client(self, ip: str, network_ids: Sequence[str], upstreams: Sequence[Upstream]) -> None:
        self.dns.set_client(ip, network_ids, upstreams)

    def dns_remove_client(self, ip: str) -> None:
        if self._dns is not None:
            self._dns.remove_client(ip)

    def close(self) -> None:
        if self._dns is not None:
            self._dns.stop()
            self._dns = None
