"""A throwaway "host" network namespace for a test daemon, with a fake uplink to an "outside" namespace.

The daemon runs as ``nsenter --net=/run/netns/<host> ...`` (only the network namespace changes; ``ip
netns exec`` would also remount /sys and bind /etc/netns files), so its bridges, nft tables, sysctls and
DNS listeners never touch the machine's network. The uplink is a veth pair to the "outside" namespace,
which plays the rest of the world: the host's default route points at it, so masquerading, egress and
"the host's own address" are real. Names are ``<tag>h``/``<tag>o``; ``destroy()`` deletes both.

Also used by tests/integration/runtime/conftest.py (loaded by file path).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Callable

HOST_IP = "10.231.0.1"  # the host's address on its uplink
OUTSIDE_IP = "10.231.0.2"  # "the internet": also where the test's upstream DNS server listens
UPLINK = "uplink0"


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


class HostNetns:
    def __init__(self, tag: str) -> None:
        self.host = f"{tag}h"
        self.outside = f"{tag}o"
        self.created: list[str] = []

    @property
    def host_path(self) -> str:
        return f"/run/netns/{self.host}"

    @property
    def outside_path(self) -> str:
        return f"/run/netns/{self.outside}"

    def create(self) -> None:
        for ns in (self.host, self.outside):
            _sh("ip", "netns", "add", ns)
            self.created.append(ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", self.host, "link", "add", UPLINK, "type", "veth", "peer", "name", "wan0",
            "netns", self.outside)
        _sh("ip", "-n", self.host, "addr", "add", f"{HOST_IP}/24", "dev", UPLINK)
        _sh("ip", "-n", self.host, "link", "set", UPLINK, "up")
        _sh("ip", "-n", self.outside, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "wan0")
        _sh("ip", "-n", self.outside, "link", "set", "wan0", "up")
        _sh("ip", "-n", self.host, "route", "add", "default", "via", OUTSIDE_IP)

    def cmd(self, *argv: str, outside: bool = False) -> list[str]:
        """``argv`` run inside the host (or outside) namespace, nothing else changed."""
        return ["nsenter", f"--net={self.outside_path if outside else self.host_path}", *argv]

    def run(self, *argv: str, outside: bool = False, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.cmd(*argv, outside=outside), capture_output=True, text=True, timeout=timeout)

    def destroy(self) -> None:
        for ns in reversed(self.created):
            _sh("ip", "netns", "del", ns, check=False)
        self.created.clear()


def in_netns(path: str, fn: Callable[[], object]) -> object:
    """Run ``fn`` on a helper thread whose network namespace is ``path`` (sockets stay there)."""
    from agent.network.netlink import run_in_netns

    return run_in_netns(path, fn)


class UpstreamDns:
    """A tiny authoritative DNS server (dnslib) in a namespace: the forwarder's upstream in tests.

    Answers ``A`` queries for the names in ``records``, NXDOMAIN for anything else, on UDP port 53.
    """

    def __init__(self, netns_path: str, addr: str, records: dict[str, str]) -> None:
        self.records = {k.rstrip(".").lower(): v for k, v in records.items()}
        self.queries = 0
        self.sock: socket.socket = in_netns(netns_path, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))  # type: ignore[assignment]
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="upstream-dns")
        self._thread.start()

    def _serve(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            try:
                req = DNSRecord.parse(data)
            except Exception:  # noqa: BLE001 - garbage in a test: drop it
                continue
            self.queries += 1
            reply = req.reply()
            name = str(req.q.qname).rstrip(".").lower()
            if name in self.records and req.q.qtype == QTYPE.A:
                reply.add_answer(RR(req.q.qname, QTYPE.A, rdata=A(self.records[name]), ttl=60))
            elif name not in self.records:
                reply.header.rcode = RCODE.NXDOMAIN
            try:
                self.sock.sendto(reply.pack(), peer)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def assert_no_leftover_netns(tag: str) -> None:
    left = [n for n in os.listdir("/run/netns") if n.startswith(tag)] if os.path.isdir("/run/netns") else []
    assert not left, f"namespaces left behind: {left}"
