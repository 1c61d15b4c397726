"""Kernel links, addresses, routes and sysctls: the only module that imports pyroute2.

Everything here is idempotent (an existing object is reused, a missing one is not an error) and
releases its netlink socket with ``with IPRoute()``. Higher layers (``bridge.py``) compose these calls;
they never see pyroute2 types.

Network namespaces in a threaded daemon
---------------------------------------
The daemon runs gRPC threads, so it must never ``fork()``, ``unshare()`` or ``setns()`` the whole
process. pyroute2 0.9's own namespace support (``IPRoute(netns=...)``) obtains its socket from a forked
``ChildProcess`` (``pyroute2.netns.create_socket``), so we do not use it. Instead ``run_in_netns`` starts a
short-lived helper thread which calls ``setns(fd, CLONE_NEWNET)`` on itself only (a per-thread operation
for network namespaces), runs the function there (netlink sockets, ``/proc/sys/net`` writes and child
processes started from that thread all live in the target namespace), and restores the thread's original
namespace before it ends. A namespace is named by a file path (``/proc/<pid>/ns/net`` for a container's
init, ``/run/netns/<name>`` for ``ip netns``); ``None`` means the daemon's own (host) namespace and runs
inline.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import ipaddress
import json
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

T = TypeVar("T")

IFNAMSIZ = 15
CLONE_NEWNET = 0x40000000
DEFAULT_MTU = 1500
VXLAN_PORT = 4789  # IANA; the same on every node

_libc = ctypes.CDLL(None, use_errno=True)


class NetlinkFailure(RuntimeError):
    """A kernel network operation failed; the message names the object and the operation."""


def netns_of_pid(pid: int) -> str:
    """The namespace file of a process (a container's init)."""
    return f"/proc/{pid}/ns/net"


def netns_named(name: str) -> str:
    """The namespace file of an ``ip netns add NAME`` namespace."""
    return f"/run/netns/{name}"


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def enter_netns_for_thread(netns: str) -> None:
    """Move the *calling thread* (only) into ``netns`` for the rest of its life.

    Used as a thread-pool initializer by long-lived servers (the DNS server) whose threads are
    dedicated to one namespace.
    """
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    finally:
        os.close(fd)


def run_in_netns(netns: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)`` inside ``netns`` on a temporary helper thread and return its result."""
    if netns is None:
        return fn(*args, **kwargs)
    target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    result: list[Any] = []
    failure: list[BaseException] = []

    def body() -> None:
        home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                result.append(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: B036 - handed back to the caller thread
                failure.append(exc)
            finally:
                _setns(home)
        except BaseException as exc:  # noqa: B036
            failure.append(exc)
        finally:
            os.close(home)

    try:
        helper = threading.Thread(target=body, name="netns-helper", daemon=True)
        helper.start()
        helper.join()
    finally:
        os.close(target)
    if failure:
        raise failure[0]
    return result[0]


def _ifindex(ipr: IPRoute, ifname: str) -> int | None:
    """The index of link ``ifname``, or None. One RTM_GETLINK for that name: ``link_lookup`` dumps every
    link of the namespace, so with a veth per container each lookup grew with the container count."""
    try:
        return int(ipr.link("get", ifname=ifname)[0]["index"])
    except NetlinkError as err:
        if err.code in (errno.ENODEV, errno.ENOENT):
            return None
        raise


def _check_name(ifname: str) -> None:
    if not ifname or len(ifname.encode()) > IFNAMSIZ:
        raise NetlinkFailure(f"interface name {ifname!r} must be 1..{IFNAMSIZ} bytes")


def _ignore(err: NetlinkError, *codes: int) -> None:
    if err.code not in codes:
        raise err


# ---------------------------------------------------------------- sysctl


def _write_sysctl(key: str, value: str) -> None:
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


def _read_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def set_sysctl(key: str, value: str, *, netns: str | None = None) -> None:
    """Write a sysctl (dotted key, e.g. ``net.ipv4.ip_forward``) in ``netns``; skips the write if equal.

    Note ``net.*`` sysctls are per namespace, but in the host namespace they are global to the machine.
    Interface names containing dots are not supported (ours never do).
    """

    def write() -> None:
        if _read_sysctl(key) != value:
            _write_sysctl(key, value)

    run_in_netns(netns, write)


def get_sysctl(key: str, *, netns: str | None = None) -> str:
    return run_in_netns(netns, _read_sysctl, key)


# ---------------------------------------------------------------- links


def bridge_mac(name: str, gateway_cidr: str | None) -> str:
    """A fixed MAC for a bridge: ``02:42:<gateway ip>`` (or derived from the name without a gateway).

    A bridge whose address was never set takes the lowest MAC of its ports and changes it whenever
    ports come and go; containers then keep sending to a stale gateway MAC (DNS, VIPs, egress time out
    until their ARP entry is refreshed). Setting it once pins it.
    """
    if gateway_cidr:
        raw = ipaddress.ip_interface(gateway_cidr).ip.packed
    else:
        raw = hashlib.sha256(name.encode()).digest()[:4]
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)


def _ensure_bridge(name: str, gateway_cidr: str | None, mtu: int) -> int:
    mac = bridge_mac(name, gateway_cidr)
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            try:
                ipr.link("add", ifname=name, kind="bridge", mtu=mtu, address=mac)
            except NetlinkError as err:
                _ignore(err, errno.EEXIST)
            idx = _ifindex(ipr, name)
            if idx is None:
                raise NetlinkFailure(f"bridge {name} vanished while being created")
        ipr.link("set", index=idx, mtu=mtu)
        if ipr.get_links(idx)[0].get_attr("IFLA_ADDRESS") != mac:
            ipr.link("set", index=idx, address=mac)
        if gateway_cidr:
            _ensure_addr(ipr, idx, gateway_cidr)
        ipr.link("set", index=idx, state="up")
        return idx


def ensure_bridge(name: str, gateway_cidr: str | None, mtu: int, *, netns: str | None = None) -> int:
    """Create (or reuse) a bridge named ``name`` with ``gateway_cidr`` (``172.18.0.1/16``), MTU and up.

    Returns its ifindex. ``gateway_cidr=None`` leaves the bridge without an address.
    """
    _check_name(name)
    try:
        return run_in_netns(netns, _ensure_bridge, name, gateway_cidr, mtu)
    except NetlinkError as err:
        raise NetlinkFailure(f"bridge {name}: {err}") from err


def _ensure_addr(ipr: IPRoute, idx: int, cidr: str) -> None:
    iface = ipaddress.ip_interface(cidr)
    try:
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    except NetlinkError as err:
        _ignore(err, errno.EEXIST)


def _set_host_addresses(name: str, wanted: list[str]) -> None:
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            raise NetlinkFailure(f"link {name} not found")
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2, index=idx) if a["prefixlen"] == 32}
        for ip in sorted(set(wanted) - have):
            _ensure_addr(ipr, idx, f"{ip}/32")
        for ip in sorted(have - set(wanted)):
            try:
                ipr.addr("del", index=idx, address=ip, prefixlen=32)
            except NetlinkError as err:
                _ignore(err, errno.EADDRNOTAVAIL, errno.ENOENT)


def set_host_addresses(name: str, addresses: list[str], *, netns: str | None = None) -> None:
    """Make the /32 addresses of link ``name`` exactly ``addresses`` (service VIPs on a bridge).

    Addresses with any other prefix length (the gateway) are left alone.
    """
    try:
        run_in_netns(netns, _set_host_addresses, name, list(addresses))
    except NetlinkError as err:
        raise NetlinkFailure(f"addresses of {name}: {err}") from err


def _delete_link(name: str) -> bool:
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            return False
        try:
            ipr.link("del", index=idx)
        except NetlinkError as err:
            _ignore(err, errno.ENODEV)
            return False
        return True


def delete_link(name: str, *, netns: str | None = None) -> bool:
    """Delete a link by name (a veth takes its peer with it); False if it did not exist."""
    try:
        return run_in_netns(netns, _delete_link, name)
    except NetlinkError as err:
        raise NetlinkFailure(f"delete link {name}: {err}") from err


def _list_links(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return sorted(n for n in names if n and n.startswith(prefix))


def list_links(prefix: str, *, netns: str | None = None) -> list[str]:
    """Names of the links starting with ``prefix`` (garbage collection of leftovers)."""
    return run_in_netns(netns, _list_links, prefix)


def link_exists(name: str, *, netns: str | None = None) -> bool:
    return name in list_links(name, netns=netns)


# ---------------------------------------------------------------- veth attachments


@dataclass(frozen=True)
class VethSpec:
    """One container attachment: host end on a bridge, peer inside the container as ``ifname``."""

    host_ifname: str  # e.g. "veth1a2b3c4"
    bridge: str
    container_netns: str  # namespace file of the container
    ifname: str  # "eth0", "eth1", ...
    address: str  # CIDR, e.g. "172.18.0.2/16"
    gateway: str | None  # default route via this address; None: no default route (e.g. eth1)
    mtu: int
    mac: str | None = None


def _host_side(spec: VethSpec, ns_fd: int) -> None:
    with IPRoute() as ipr:
        bridge_idx = _ifindex(ipr, spec.bridge)
        if bridge_idx is None:
            raise NetlinkFailure(f"bridge {spec.bridge} does not exist")
        idx = _ifindex(ipr, spec.host_ifname)
        if idx is None:
            peer: dict[str, Any] = {"ifname": spec.ifname, "net_ns_fd": ns_fd, "mtu": spec.mtu}
            if spec.mac:
                peer["address"] = spec.mac
            try:
                ipr.link("add", ifname=spec.host_ifname, kind="veth", mtu=spec.mtu, peer=peer)
            except NetlinkError as err:
                if err.code == errno.EEXIST:
                    raise NetlinkFailure(
                        f"{spec.ifname} already exists in the container (or {spec.host_ifname} on the host)"
                    ) from err
                raise
            idx = _ifindex(ipr, spec.host_ifname)
            if idx is None:
                raise NetlinkFailure(f"veth {spec.host_ifname} vanished while being created")
        ipr.link("set", index=idx, master=bridge_idx, mtu=spec.mtu)
        # Hairpin: with br_netfilter loaded, a container's packet to its own published port is DNATed
        # while still in the bridge and must leave through the port it came in on.
        ipr.brport("set", index=idx, mode=1)
        ipr.link("set", index=idx, state="up")


def _container_side(spec: VethSpec) -> None:
    with IPRoute() as ipr:
        lo = _ifindex(ipr, "lo")
        if lo is not None:
            ipr.link("set", index=lo, state="up")
        idx = _ifindex(ipr, spec.ifname)
        if idx is None:
            raise NetlinkFailure(f"{spec.ifname} is missing in the container namespace")
        if spec.mac:
            ipr.link("set", index=idx, address=spec.mac)
        ipr.link("set", index=idx, mtu=spec.mtu)
        _ensure_addr(ipr, idx, spec.address)
        ipr.link("set", index=idx, state="up")
        if spec.gateway:
            try:
                ipr.route("add", dst="0.0.0.0/0", gateway=spec.gateway, oif=idx)
            except NetlinkError as err:
                _ignore(err, errno.EEXIST)


def attach_veth(spec: VethSpec, *, netns: str | None = None) -> None:
    """Create the veth pair of one attachment and configure both ends; safe to repeat.

    The peer is created directly inside the container namespace under its final name, so there is
    never a half-named interface to clean up. ``netns`` is the host side's namespace (None: daemon's).
    """
    _check_name(spec.host_ifname)
    _check_name(spec.ifname)
    ns_fd = os.open(spec.container_netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        run_in_netns(netns, _host_side, spec, ns_fd)
        run_in_netns(spec.container_netns, _container_side, spec)
    except NetlinkError as err:
        raise NetlinkFailure(f"attach {spec.host_ifname} to {spec.bridge}: {err}") from err
    finally:
        os.close(ns_fd)


def detach_veth(host_ifname: str, *, netns: str | None = None) -> bool:
    """Remove an attachment by deleting its host end (the kernel removes the peer)."""
    return delete_link(host_ifname, netns=netns)


def _set_link_up(name: str) -> None:
    with IPRoute() as ipr:
        idx = _ifindex(ipr, name)
        if idx is None:
            raise NetlinkFailure(f"link {name} does not exist")
        ipr.link("set", index=idx, state="up")


def set_link_up(name: str, *, netns: str | None = None) -> None:
    """Bring a link up (``lo`` of a ``--network none`` container)."""
    run_in_netns(netns, _set_link_up, name)


# ---------------------------------------------------------------- host facts


def _host_prefixes() -> list[str]:
    out: set[str] = set()
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2, table=254):
            dst = route.get_attr("RTA_DST")
            if dst and route["dst_len"] > 0:
                out.add(str(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False)))
        for addr in ipr.get_addr(family=2):
            ip = addr.get_attr("IFA_ADDRESS")
            if ip and not ip.startswith("127."):
                out.add(str(ipaddress.ip_network(f"{ip}/{addr['prefixlen']}", strict=False)))
    return sorted(out)


def host_prefixes(*, netns: str | None = None) -> list[str]:
    """IPv4 networks the host already routes or has addresses in (fed to IPAM to avoid overlap)."""
    return run_in_netns(netns, _host_prefixes)


def _default_route_mtu() -> int:
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2, table=254):
            if route["dst_len"] == 0 and route.get_attr("RTA_OIF"):
                links = ipr.get_links(route.get_attr("RTA_OIF"))
                if links:
                    return int(links[0].get_attr("IFLA_MTU"))
    return DEFAULT_MTU


def default_route_mtu(*, netns: str | None = None) -> int:
    """MTU of the interface carrying the default route (1500 when there is none)."""
    return run_in_netns(netns, _default_route_mtu)


def _addresses() -> list[str]:
    with IPRoute() as ipr:
        return [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2)]


def host_addresses(*, netns: str | None = None) -> list[str]:
    """All IPv4 addresses in the namespace."""
    return run_in_netns(netns, _addresses)


# ---------------------------------------------------------------- overlay (VXLAN) devices
def _ensure_vxlan(name: str, vni: int, bridge: str, mtu: int) -> None:
    with IPRoute() as ipr:
        if _ifindex(ipr, name) is None:
            try:  # learning off: the agent programs every remote MAC (no multicast, no gossip)
                ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_port=VXLAN_PORT, vxlan_learning=0,
                         mtu=mtu)
            except NetlinkError as err:
                _ignore(err, errno.EEXIST)
        idx = _ifindex(ipr, name)
        master = _ifindex(ipr, bridge)
        if idx is None or master is None:
            raise NetlinkFailure(f"vxlan {name} or bridge {bridge} vanished")
        ipr.link("set", index=idx, mtu=mtu, master=master, state="up")


def ensure_vxlan(name: str, vni: int, bridge: str, mtu: int, *, netns: str | None = None) -> None:
    """A VXLAN device ``name`` (id ``vni``, UDP 4789, learning off) enslaved to ``bridge`` and up."""
    _check_name(name)
    try:
        run_in_netns(netns, _ensure_vxlan, name, vni, bridge, mtu)
    except NetlinkError as err:
        raise NetlinkFailure(f"vxlan {name}: {err}") from err


def _bridge_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bridge", *args], capture_output=True, text=True, check=False)


def _set_fdb(dev: str, wanted: list[tuple[str, str]]) -> None:
    shown = _bridge_cmd("-j", "fdb", "show", "dev", dev)
    have = {(e.get("mac", ""), e.get("dst", "")) for e in json.loads(shown.stdout or "[]") if e.get("dst")}
    for mac, dst in sorted(have - set(wanted)):
        _bridge_cmd("fdb", "del", mac, "dev", dev, "dst", dst, "self")
    for mac, dst in sorted(set(wanted) - have):
        r = _bridge_cmd("fdb", "append", mac, "dev", dev, "dst", dst, "self", "permanent")
        if r.returncode != 0:
            raise NetlinkFailure(f"fdb {mac} dst {dst} on {dev}: {r.stderr.strip()}")


def set_fdb(dev: str, wanted: list[tuple[str, str]], *, netns: str | None = None) -> None:
    """Make the static FDB of VXLAN device ``dev`` exactly ``wanted`` ((mac, remote VTEP) pairs;
    ``00:00:00:00:00:00`` entries are where broadcast and unknown unicast are flooded)."""
    run_in_netns(netns, _set_fdb, dev, wanted)


# ---------------------------------------------------------------- a node's own port on an overlay network
def _ensure_lb_port(bridge: str, port: str, peer: str, ip: str, mac: str, mtu: int) -> None:
    with IPRoute() as ipr:
        master = _ifindex(ipr, bridge)
        if master is None:
            raise NetlinkFailure(f"bridge {bridge} does not exist")
        if _ifindex(ipr, port) is None or _ifindex(ipr, peer) is None:
            for name in (port, peer):
                idx = _ifindex(ipr, name)
                if idx is not None:
                    ipr.link("del", index=idx)
            try:
                ipr.link("add", ifname=port, kind="veth", mtu=mtu, peer={"ifname": peer, "mtu": mtu, "address": mac})
            except NetlinkError as err:
                _ignore(err, errno.EEXIST)
        pidx, qidx = _ifindex(ipr, port), _ifindex(ipr, peer)
        if pidx is None or qidx is None:
            raise NetlinkFailure(f"veth {port} vanished while being created")
        ipr.link("set", index=pidx, master=master, mtu=mtu, state="up")
        if ipr.get_links(qidx)[0].get_attr("IFLA_ADDRESS") != mac:
            ipr.link("set", index=qidx, address=mac)
        ipr.link("set", index=qidx, mtu=mtu, state="up")
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2, index=qidx)}
        for old in sorted(have - {ip}):
            try:
                ipr.addr("del", index=qidx, address=old, prefixlen=32)
            except NetlinkError as err:
                _ignore(err, errno.EADDRNOTAVAIL, errno.ENOENT)
        _ensure_addr(ipr, qidx, f"{ip}/32")
    # Only the owner of an address answers ARP for it, and requests leave with the bridge's own address:
    # the bridge's MAC (from the gateway) is the same on every node, the lb address is this node's alone.
    for dev in (bridge, peer):
        _write_sysctl(f"net.ipv4.conf.{dev}.arp_ignore", "1")
        _write_sysctl(f"net.ipv4.conf.{dev}.arp_announce", "2")
    _write_sysctl(f"net.ipv4.conf.{peer}.rp_filter", "0")


def ensure_lb_port(bridge: str, port: str, peer: str, ip: str, mac: str, mtu: int, *,
                   netns: str | None = None) -> None:
    """A veth pair whose ``port`` end is on ``bridge`` and whose ``peer`` end, in the host namespace,
    holds ``ip``/32 with ``mac``: the node's own address on an overlay network (replies to traffic it
    balanced and SNATed come back to it, not to the gateway every node shares). Safe to repeat."""
    _check_name(port)
    _check_name(peer)
    try:
        run_in_netns(netns, _ensure_lb_port, bridge, port, peer, ip, mac, mtu)
    except NetlinkError as err:
        raise NetlinkFailure(f"lb port {port} on {bridge}: {err}") from err


def _set_neighbours(dev: str, wanted: list[tuple[str, str]]) -> None:
    permanent = 0x80  # NUD_PERMANENT
    with IPRoute() as ipr:
        idx = _ifindex(ipr, dev)
        if idx is None:
            raise NetlinkFailure(f"link {dev} not found")
        have = {(n.get_attr("NDA_DST"), (n.get_attr("NDA_LLADDR") or "").lower())
                for n in ipr.get_neighbours(family=2, ifindex=idx) if n["state"] & permanent}
        want = {(ip, mac.lower()) for ip, mac in wanted}
        for ip, _ in sorted(have - want):
            if ip not in {w[0] for w in want}:
                try:
                    ipr.neigh("del", dst=ip, ifindex=idx)
                except NetlinkError as err:
                    _ignore(err, errno.ENOENT)
        for ip, mac in sorted(want - have):
            ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=idx, state=permanent)


def set_neighbours(dev: str, wanted: list[tuple[str, str]], *, netns: str | None = None) -> None:
    """Make the permanent neighbour entries of ``dev`` exactly ``wanted`` ((ip, mac) pairs).

    On an overlay bridge the host must not ARP for remote endpoints: it asks with the bridge's MAC,
    which every node shares, so the answer would be delivered to the remote node's own bridge.
    """
    try:
        run_in_netns(netns, _set_neighbours, dev, list(wanted))
    except NetlinkError as err:
        raise NetlinkFailure(f"neighbours of {dev}: {err}") from err
