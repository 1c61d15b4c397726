"""Embedded DNS: views per client, round robin, NXDOMAIN, resolv.conf rendering (no sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from agent.network.dns import DnsServer, container_resolv_conf, host_upstreams, parse_resolv_conf


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer(upstreams=[]) as srv:
        srv.set_records("a", {"web": ["172.18.0.2"], "db": ["172.18.0.3"]}, subnet="172.18.0.0/16")
        srv.set_records(
            "b", {"cache": ["172.19.0.2"], "Pool": ["172.19.0.3", "172.19.0.4"]}, subnet="172.19.0.0/16"
        )
        srv.set_records("i", {"secret": ["172.20.0.2"]}, subnet="172.20.0.0/16", internal=True)
        yield srv


def ask(srv: DnsServer, name: str, client: str, qtype: str = "A") -> DNSRecord | None:
    raw = srv._answer_local(DNSRecord.question(name, qtype).pack(), client)
    return None if raw is None else DNSRecord.parse(raw)


def addrs(reply: DNSRecord | None) -> list[str]:
    assert reply is not None
    return [str(rr.rdata) for rr in reply.rr]


def test_names_resolve_only_inside_their_network(server: DnsServer) -> None:
    assert addrs(ask(server, "web", "172.18.0.9")) == ["172.18.0.2"]
    assert addrs(ask(server, "WEB.", "172.18.0.9")) == ["172.18.0.2"]
    reply = ask(server, "web", "172.19.0.9")
    assert reply is not None and reply.header.rcode == RCODE.NXDOMAIN


def test_declared_clients_see_all_their_networks(server: DnsServer) -> None:
    server.set_client("172.18.0.7", ["a", "b"])
    assert addrs(ask(server, "cache", "172.18.0.7")) == ["172.19.0.2"]
    server.remove_client("172.18.0.7")
    assert ask(server, "cache", "172.18.0.7").header.rcode == RCODE.NXDOMAIN  # type: ignore[union-attr]


def test_shared_alias_rotates(server: DnsServer) -> None:
    first = addrs(ask(server, "pool", "172.19.0.9"))
    second = addrs(ask(server, "pool", "172.19.0.9"))
    assert sorted(first) == sorted(second) == ["172.19.0.3", "172.19.0.4"]
    assert first != second


def test_other_types_and_reverse_lookups(server: DnsServer) -> None:
    reply = ask(server, "web", "172.18.0.9", "AAAA")
    assert reply is not None and reply.header.rcode == RCODE.NOERROR and not reply.rr
    ptr = ask(server, "2.0.18.172.in-addr.arpa", "172.18.0.9", "PTR")
    assert ptr is not None and str(ptr.rr[0].rdata) == "web." and ptr.rr[0].rtype == QTYPE.PTR


def test_dotted_unknown_names_are_forwarded_except_from_internal_networks(server: DnsServer) -> None:
    assert ask(server, "example.com", "172.18.0.9") is None
    assert ask(server, "example.com", "10.1.1.1") is None, "unknown clients (the host) are forwarded"
    reply = ask(server, "example.com", "172.20.0.9")
    assert reply is not None and reply.header.rcode == RCODE.SERVFAIL
    assert addrs(ask(server, "secret", "172.20.0.9")) == ["172.20.0.2"]


def test_removed_network_no_longer_resolves(server: DnsServer) -> None:
    server.remove_network("a")
    assert ask(server, "web", "172.18.0.9").header.rcode == RCODE.NXDOMAIN  # type: ignore[union-attr]


def test_garbage_is_dropped(server: DnsServer) -> None:
    assert server._answer_local(b"\x00\x01garbage", "172.18.0.9") == b""


HOST = "nameserver 127.0.0.53\nnameserver 10.0.0.2 # lan\nsearch example.org corp\noptions edns0 trust-ad\n"


def test_parse_resolv_conf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert parse_resolv_conf(HOST) == (
        ["127.0.0.53", "10.0.0.2"],
        ["example.org", "corp"],
        ["edns0", "trust-ad"],
    )
    path = tmp_path / "resolv.conf"
    path.write_text(HOST + "nameserver fe80::1%eth0\n")
    assert host_upstreams(str(path)) == [("127.0.0.53", 53), ("10.0.0.2", 53)]
    assert host_upstreams(str(tmp_path / "missing")) == []


def test_container_resolv_conf_user_network_points_at_gateway() -> None:
    text = container_resolv_conf(embedded="172.18.0.1", host_resolv_conf=HOST)
    assert text == "nameserver 172.18.0.1\nsearch example.org corp\noptions ndots:0\n"


def test_container_resolv_conf_default_bridge_copies_host_resolvers() -> None:
    assert container_resolv_conf(embedded=None, host_resolv_conf=HOST).startswith("nameserver 10.0.0.2\n")
    only_loopback = container_resolv_conf(embedded=None, host_resolv_conf="nameserver 127.0.0.53\n")
    assert only_loopback == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    custom = container_resolv_conf(embedded=None, host_resolv_conf=HOST, dns=["9.9.9.9"], dns_search=[])
    assert custom == "nameserver 9.9.9.9\noptions edns0 trust-ad\n"
