"""Bridges, veths and nft rules in throwaway namespaces: reachability, isolation, publishing, cleanup."""

from __future__ import annotations

import pytest

from agent.network import bridge, netlink, nft
from agent.network.bridge import Attachment

from .netlab import (
    BUSYBOX,
    OUTSIDE_HOST_IP,
    OUTSIDE_IP,
    World,
    tcp_request,
    udp_echo_server,
    udp_request,
)

pytestmark = pytest.mark.root


def test_veth_attachment_has_addresses_route_and_mtu(world: World) -> None:
    net = world.network("a")
    ns, (ip,) = world.container("c1", net)
    out = world.lab.run(ns, "ip", "-o", "addr", "show", "dev", "eth0").stdout
    assert f"{ip}/16" in out
    link = world.lab.run(ns, "ip", "-o", "link", "show", "dev", "eth0").stdout
    assert "mtu 1500" in link and bridge.mac_for(ip) in link
    assert f"default via {net.gateway} dev eth0" in world.lab.run(ns, "ip", "route").stdout
    # idempotent: a second ensure/attach changes nothing and does not fail
    bridge.ensure_network(net, netns=world.host)
    bridge.attach(
        Attachment("c1", net, ns, "eth0", ip, veth_prefix=world.lab.prefix + "v"),
        netns=world.host,
    )
    assert netlink.get_sysctl(f"net.ipv4.conf.{net.bridge}.route_localnet", netns=world.host) == "1"


def test_same_network_reaches_other_networks_do_not(world: World) -> None:
    a, b = world.network("a"), world.network("b")
    world.apply([a, b])
    srv, (srv_ip,) = world.container("srv", a)
    peer, _ = world.container("peer", a)
    stranger, _ = world.container("str", b)
    world.httpd(srv)
    got = world.lab.run(peer, "timeout", "5", BUSYBOX, "wget", "-q", "-O", "-", f"http://{srv_ip}:80/")
    assert got.stdout == "hello\n", got.stderr
    assert tcp_request(stranger, srv_ip, 80, timeout=0.5) == b""


def test_container_on_two_networks_reaches_both(world: World) -> None:
    a, b = world.network("a"), world.network("b")
    world.apply([a, b])
    srv, (ip_a,) = world.container("srv", b)
    both, _ = world.container("both", a, b)
    world.httpd(srv)
    assert b"hello" in tcp_request(both, ip_a, 80)
    assert "eth1" in world.lab.run(both, "ip", "-o", "link").stdout


def test_published_tcp_port_from_outside_localhost_host_address_and_hairpin(world: World) -> None:
    net, other = world.network("a"), world.network("b")
    outside = world.lab.outside(world.host)
    srv, (srv_ip,) = world.container("srv", net)
    client, _ = world.container("cli", other)
    world.httpd(srv)
    world.apply([net, other], (nft.PortMapping("tcp", 8080, srv_ip, 80),))
    assert b"hello" in tcp_request(outside, OUTSIDE_HOST_IP, 8080), "from another namespace"
    assert b"hello" in tcp_request(world.host, "127.0.0.1", 8080), "from the host's 127.0.0.1"
    assert b"hello" in tcp_request(world.host, OUTSIDE_HOST_IP, 8080), "from the host to its own address"
    assert b"hello" in tcp_request(srv, OUTSIDE_HOST_IP, 8080), "hairpin: a container to its own port"
    assert b"hello" in tcp_request(client, net.gateway, 8080), "from a container on another network"
    assert tcp_request(outside, OUTSIDE_HOST_IP, 8081, timeout=0.3) == b""


def test_published_port_bound_to_one_host_address_and_ranges(world: World) -> None:
    net = world.network("a")
    outside = world.lab.outside(world.host)
    srv, (srv_ip,) = world.container("srv", net)
    world.httpd(srv, 80)
    world.httpd(srv, 81)
    ports = (
        nft.PortMapping("tcp", 9000, srv_ip, 80, host_ip="127.0.0.1"),
        nft.PortMapping("tcp", 9100, srv_ip, 80, host_port_end=9101),
    )
    world.apply([net], ports)
    assert b"hello" in tcp_request(world.host, "127.0.0.1", 9000)
    assert tcp_request(outside, OUTSIDE_HOST_IP, 9000, timeout=0.3) == b""
    assert b"hello" in tcp_request(outside, OUTSIDE_HOST_IP, 9100)
    assert b"hello" in tcp_request(outside, OUTSIDE_HOST_IP, 9101)


def test_published_udp_port(world: World) -> None:
    net = world.network("a")
    outside = world.lab.outside(world.host)
    srv, (srv_ip,) = world.container("srv", net)
    _, close = udp_echo_server(srv)
    try:
        world.apply([net], (nft.PortMapping("udp", 5300, srv_ip, 5353),))
        assert udp_request(outside, OUTSIDE_HOST_IP, 5300, b"ping") == b"pong:ping"
        assert udp_request(world.host, "127.0.0.1", 5300, b"lo") == b"pong:lo"
    finally:
        close()


def test_egress_is_masqueraded_and_internal_networks_have_no_way_out(world: World) -> None:
    pub, internal = world.network("a"), world.network("i", internal=True)
    outside = world.lab.outside(world.host)
    world.apply([pub, internal])
    world.httpd(outside)
    c_pub, _ = world.container("pub", pub)
    c_int, (int_ip,) = world.container("int", internal)
    c_int2, _ = world.container("int2", internal)
    assert b"hello" in tcp_request(c_pub, OUTSIDE_IP, 80)
    assert "default" not in world.lab.run(c_int, "ip", "route").stdout
    # even with a hand-made route out, the forward chain drops it
    world.lab.run(c_int, "ip", "route", "add", "default", "via", internal.gateway, check=True)
    assert tcp_request(c_int, OUTSIDE_IP, 80, timeout=0.3) == b""
    world.httpd(c_int)
    assert b"hello" in tcp_request(c_int2, int_ip, 80), "inside an internal network traffic flows"


def test_rules_are_replaced_atomically_and_removed(world: World) -> None:
    net = world.network("a")
    srv, (srv_ip,) = world.container("srv", net)
    world.httpd(srv)
    world.apply([net], (nft.PortMapping("tcp", 8080, srv_ip, 80),))
    world.apply([net], (nft.PortMapping("tcp", 8080, srv_ip, 80),))  # "daemon restart": same state again
    assert b"hello" in tcp_request(world.host, "127.0.0.1", 8080)
    world.apply([net], ())
    assert tcp_request(world.host, "127.0.0.1", 8080, timeout=0.3) == b""
    assert nft.table_exists(world.table, netns=world.host)
    assert nft.blocking_forward_chains(world.table, netns=world.host) == []
    nft.remove_all(world.table, netns=world.host)
    nft.remove_all(world.table, netns=world.host)
    assert not nft.table_exists(world.table, netns=world.host)


def test_detach_remove_and_garbage_collection_leave_nothing(world: World) -> None:
    a, b = world.network("a"), world.network("b")
    c1, _ = world.container("c1", a, b)
    world.container("c2", b)
    veth_prefix = world.lab.prefix + "v"
    assert len(netlink.list_links(veth_prefix, netns=world.host)) == 3
    assert bridge.detach("c1", b.network_id, veth_prefix=veth_prefix, netns=world.host)
    assert not bridge.detach("c1", b.network_id, veth_prefix=veth_prefix, netns=world.host)
    assert "eth1" not in world.lab.run(c1, "ip", "-o", "link").stdout
    keep = {a.bridge, bridge.veth_name("c1", a.network_id, veth_prefix)}
    removed = bridge.collect_garbage(
        keep, bridge_prefix=world.lab.prefix + "-", veth_prefix=veth_prefix, netns=world.host
    )
    assert sorted(removed) == sorted([b.bridge, bridge.veth_name("c2", b.network_id, veth_prefix)])
    assert bridge.remove_network(a.bridge, netns=world.host)
    assert not bridge.remove_network(a.bridge, netns=world.host)
    assert bridge.detach("c1", a.network_id, veth_prefix=veth_prefix, netns=world.host)
    assert netlink.list_links(world.lab.prefix, netns=world.host) == []


def test_interface_names_fit_ifnamsiz() -> None:
    assert len(bridge.bridge_name("f" * 64)) <= 15
    assert len(bridge.veth_name("c" * 64, "n" * 64)) <= 15
    with pytest.raises(netlink.NetlinkFailure, match="1..15 bytes"):
        netlink.ensure_bridge("x" * 16, None, 1500)
