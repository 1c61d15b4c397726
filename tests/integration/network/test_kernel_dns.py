"""The embedded DNS server on bridge gateways, queried from container namespaces."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
from dnslib import RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from agent.network import netlink
from agent.network.dns import DnsServer, container_resolv_conf
from agent.network.ipam import Ipam

from .netlab import BUSYBOX, Lab, World

pytestmark = pytest.mark.root

UPSTREAM_PORT = 5353


class Upstream(BaseResolver):  # type: ignore[misc]
    """The test's own "internet" resolver: *.example.test -> 203.0.113.7."""

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname)
        if name.endswith("example.test."):
            reply.add_answer(*RR.fromZone(f"{name} 60 A 203.0.113.7"))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture
def upstream(host: str) -> Iterator[None]:
    servers = [
        netlink.run_in_netns(
            host, lambda t=tcp: DNSServer(Upstream(), address="127.0.0.1", port=UPSTREAM_PORT, tcp=t)
        )
        for tcp in (False, True)
    ]
    for srv in servers:
        srv.start_thread()
    try:
        yield
    finally:
        for srv in servers:
            srv.stop()
            srv.server.server_close()


def query(ns: str, server: str, name: str, *, tcp: bool = False) -> DNSRecord:
    raw = netlink.run_in_netns(ns, lambda: DNSRecord.question(name).send(server, 53, tcp=tcp, timeout=2))
    return DNSRecord.parse(raw)


def addrs(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


def test_names_per_network_round_robin_and_forwarding(lab: Lab, host: str, upstream: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "index.html").write_text("hello\n")
    world = World(lab, host, Ipam(), str(tmp_path))
    a, b = world.network("a"), world.network("b")
    world.apply([a, b])
    web, (web_ip,) = world.container("web", a)
    client, (client_ip,) = world.container("cli", a)
    stranger, (stranger_ip,) = world.container("str", b)
    r1, (r1_ip,) = world.container("r1", a)
    r2, (r2_ip,) = world.container("r2", a)
    with DnsServer([a.gateway, b.gateway], 53, [("127.0.0.1", UPSTREAM_PORT)], netns=host) as dns:
        dns.set_records(
            a.network_id, {"web": [web_ip], "cli": [client_ip], "pool": [r1_ip, r2_ip]}, subnet=a.subnet
        )
        dns.set_records(b.network_id, {"str": [stranger_ip]}, subnet=b.subnet)

        assert addrs(query(client, a.gateway, "web")) == [web_ip]
        assert addrs(query(client, a.gateway, "web", tcp=True)) == [web_ip]
        assert query(stranger, b.gateway, "web").header.rcode == RCODE.NXDOMAIN
        assert addrs(query(stranger, b.gateway, "str")) == [stranger_ip]

        first, second = addrs(query(client, a.gateway, "pool")), addrs(query(client, a.gateway, "pool"))
        assert sorted(first) == sorted(second) == sorted([r1_ip, r2_ip]) and first != second

        assert addrs(query(client, a.gateway, "www.example.test")) == ["203.0.113.7"]
        assert addrs(query(client, a.gateway, "www.example.test", tcp=True)) == ["203.0.113.7"]
        assert query(client, a.gateway, "nope.invalid").header.rcode == RCODE.NXDOMAIN

        # busybox's own resolver, through the resolv.conf a container would get
        lab.resolv_conf(client, container_resolv_conf(embedded=a.gateway, host_resolv_conf=""))
        out = lab.run(client, "timeout", "5", BUSYBOX, "nslookup", "web").stdout
        assert web_ip in out
        world.httpd(web)
        got = lab.run(client, "timeout", "5", BUSYBOX, "wget", "-q", "-O", "-", "http://web:80/")
        assert got.stdout == "hello\n", got.stderr

        dns.unlisten(b.gateway)
        assert b.gateway not in dns.listening()


def test_local_answers_are_fast(lab: Lab, host: str) -> None:
    world = World(lab, host, Ipam(), "/nonexistent")
    a = world.network("a")
    client, (client_ip,) = world.container("cli", a)
    with DnsServer([a.gateway], 53, [], netns=host) as dns:
        dns.set_records(a.network_id, {"cli": [client_ip]}, subnet=a.subnet)
        packet = DNSRecord.question("cli").pack()

        def measure() -> list[float]:
            import socket

            times = []
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(1)
                s.connect((a.gateway, 53))
                for _ in range(200):
                    t0 = time.perf_counter()
                    s.send(packet)
                    s.recv(512)
                    times.append(time.perf_counter() - t0)
            return times

        times = netlink.run_in_netns(client, measure)
        dns.listen("127.0.0.1")  # a second listener: stop() must close both promptly
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.0
    assert statistics.median(times) < 0.001, f"median {statistics.median(times) * 1e6:.0f} us"
