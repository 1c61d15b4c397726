"""Throwaway namespaces for the network library tests.

Every test gets its own "host" namespace (the library's ``netns=`` argument), so nothing touches the
machine's links, sysctls or nft tables; "containers" are more namespaces, and "outside" is a namespace
linked to the host by a veth, standing for another machine. Names start with ``t<hex>`` and everything is
removed by finalizers, also when the test fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.network import bridge, netlink, nft
from agent.network.bridge import Attachment, BridgeNetwork
from agent.network.ipam import Ipam

BUSYBOX = "/bin/busybox"
OUTSIDE_HOST_IP = "10.199.0.1"  # the test host's own address towards "outside"
OUTSIDE_IP = "10.199.0.2"


def sh(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, input=input, timeout=30)


def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Lab:
    """A set of namespaces for one test; ``cleanup()`` removes all of them."""

    prefix: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:6])
    names: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def netns(self, suffix: str) -> str:
        """Create ``<prefix><suffix>`` with lo up; returns its file path."""
        name = self.prefix + suffix
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return netlink.netns_named(name)

    @staticmethod
    def name_of(path: str) -> str:
        return os.path.basename(path)

    def run(self, ns: str, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name_of(ns), *cmd, check=check)

    def spawn(self, ns: str, *cmd: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name_of(ns), *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def resolv_conf(self, ns: str, text: str) -> None:
        """What ``ip netns exec`` bind-mounts over /etc/resolv.conf inside ``ns``."""
        d = f"/etc/netns/{self.name_of(ns)}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/resolv.conf", "w") as f:
            f.write(text)

    def outside(self, host: str) -> str:
        """A namespace linked to ``host`` by a veth: another machine on the host's LAN."""
        out = self.netns("o")
        h, o = self.prefix + "ho", self.prefix + "oh"
        hn, on = self.name_of(host), self.name_of(out)
        sh("ip", "-n", hn, "link", "add", h, "type", "veth", "peer", "name", o, "netns", on)
        sh("ip", "-n", hn, "addr", "add", f"{OUTSIDE_HOST_IP}/24", "dev", h)
        sh("ip", "-n", hn, "link", "set", h, "up")
        sh("ip", "-n", on, "addr", "add", f"{OUTSIDE_IP}/24", "dev", o)
        sh("ip", "-n", on, "link", "set", o, "up")
        sh("ip", "-n", on, "route", "add", "default", "via", OUTSIDE_HOST_IP)
        return out

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=5)
        for name in reversed(self.names):
            sh("ip", "netns", "del", name, check=False)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def tcp_request(
    ns: str, ip: str, port: int, payload: bytes = b"GET / HTTP/1.0\r\n\r\n", timeout: float = 1.0
) -> bytes:
    """Connect from ``ns``, send ``payload`` and read until EOF; b"" if unreachable."""

    def go() -> bytes:
        try:
            with socket.create_connection((ip, port), timeout=timeout) as s:
                s.sendall(payload)
                chunks = []
                while True:
                    data = s.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
                return b"".join(chunks)
        except OSError:
            return b""

    return netlink.run_in_netns(ns, go)


def udp_request(ns: str, ip: str, port: int, payload: bytes, timeout: float = 0.5) -> bytes:
    def go() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(payload, (ip, port))
                return s.recv(65536)
            except OSError:
                return b""

    return netlink.run_in_netns(ns, go)


def udp_echo_server(ns: str) -> tuple[socket.socket, Callable[[], None]]:
    """A UDP socket bound in ``ns`` on port 5353 answering ``pong:<payload>``; returns (socket, stop)."""
    import threading

    sock = netlink.run_in_netns(ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("0.0.0.0", 5353))
    sock.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                continue
            sock.sendto(b"pong:" + data, peer)

    t = threading.Thread(target=loop, daemon=True)
    t.start()

    def close() -> None:
        stop.set()
        t.join(timeout=2)
        sock.close()

    return sock, close


@dataclass
class World:
    """One test host with IPAM and helpers to add networks and containers through the library."""

    lab: Lab
    host: str
    ipam: Ipam
    www: str

    @property
    def table(self) -> str:
        return self.lab.prefix

    def network(self, name: str, *, internal: bool = False) -> BridgeNetwork:
        net_id = name + "0123456789abcdef"
        pool = self.ipam.request_pool(net_id, host_prefixes=netlink.host_prefixes(netns=self.host))
        net = BridgeNetwork(
            network_id=net_id,
            bridge=bridge.bridge_name(net_id, prefix=self.lab.prefix),
            subnet=str(pool.subnet),
            gateway=str(pool.gateway),
            mtu=netlink.default_route_mtu(netns=self.host),
            internal=internal,
        )
        bridge.ensure_network(net, netns=self.host)
        return net

    def container(self, name: str, *nets: BridgeNetwork) -> tuple[str, list[str]]:
        """A namespace attached to ``nets`` (eth0, eth1, ...); returns (netns path, addresses)."""
        ns = self.lab.netns(name)
        ips = []
        for i, net in enumerate(nets):
            ip = str(self.ipam.allocate(net.network_id))
            att = Attachment(
                container_id=name,
                network=net,
                container_netns=ns,
                ifname=f"eth{i}",
                ip=ip,
                default_route=i == 0,
                veth_prefix=self.lab.prefix + "v",
            )
            bridge.attach(att, netns=self.host)
            ips.append(ip)
        return ns, ips

    def httpd(self, ns: str, port: int = 80) -> None:
        self.lab.spawn(ns, BUSYBOX, "httpd", "-f", "-p", f"0.0.0.0:{port}", "-h", self.www)
        eventually(lambda: b"hello" in tcp_request(ns, "127.0.0.1", port), what="httpd to listen")

    def apply(self, nets: list[BridgeNetwork], ports: tuple[nft.PortMapping, ...] = ()) -> None:
        state = nft.Ruleset(networks=bridge.nft_networks(nets), ports=ports, table=self.table)
        nft.apply(state, netns=self.host)
