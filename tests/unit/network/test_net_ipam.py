"""IPAM: pools, validation messages, allocation without duplicates, persistence."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from agent.network.ipam import (
    AddressInUse,
    AddressOutOfRange,
    GatewayOutsideSubnet,
    InvalidSubnet,
    Ipam,
    IpamError,
    PoolExhausted,
    PoolOverlap,
    default_user_pools,
)


def test_default_bridge_takes_172_17_and_user_networks_follow_docker_order() -> None:
    ipam = Ipam()
    assert ipam.request_pool("bridge", default_bridge=True).subnet == IPv4Network("172.17.0.0/16")
    assert ipam.request_pool("n1").subnet == IPv4Network("172.18.0.0/16")
    assert ipam.request_pool("n2").subnet == IPv4Network("172.19.0.0/16")
    assert ipam.pool("n1").gateway == IPv4Address("172.18.0.1")


def test_default_bridge_moves_when_172_17_is_taken_by_the_host() -> None:
    ipam = Ipam()
    pool = ipam.request_pool("bridge", default_bridge=True, host_prefixes=["172.17.5.0/24"])
    assert pool.subnet == IPv4Network("172.18.0.0/16")


def test_pools_avoid_host_routes_and_addresses() -> None:
    ipam = Ipam()
    host = ["172.18.0.0/16", "172.19.3.0/24", "10.0.0.0/8", "172.16.0.0/12"]
    # 172.16.0.0/12 covers every 172.x pool: the next candidate is 192.168.0.0/20
    assert ipam.request_pool("a", host_prefixes=host).subnet == IPv4Network("192.168.0.0/20")
    assert ipam.request_pool("b", host_prefixes=host).subnet == IPv4Network("192.168.16.0/20")


def test_pools_run_out_with_a_docker_like_message() -> None:
    ipam = Ipam()
    with pytest.raises(PoolExhausted, match="non-overlapping IPv4 address pool"):
        ipam.request_pool("a", host_prefixes=["172.16.0.0/12", "192.168.0.0/16"])
    assert len(list(default_user_pools())) == 14 + 16


def test_explicit_subnet_validation_messages() -> None:
    ipam = Ipam()
    with pytest.raises(InvalidSubnet, match="Invalid subnet"):
        ipam.request_pool("a", subnet="10.1.2.3/16")  # host bits set
    with pytest.raises(InvalidSubnet, match="Invalid subnet"):
        ipam.request_pool("a", subnet="banana")
    with pytest.raises(GatewayOutsideSubnet, match="no matching subnet for gateway 10.2.0.1"):
        ipam.request_pool("a", subnet="10.1.0.0/16", gateway="10.2.0.1")
    with pytest.raises(IpamError, match="no matching subnet for range"):
        ipam.request_pool("a", subnet="10.1.0.0/16", ip_range="10.2.0.0/24")
    assert ipam.pools == {}, "nothing half-created after errors"
    ipam.request_pool("a", subnet="10.1.0.0/16")
    with pytest.raises(PoolOverlap, match="Pool overlaps with other one on this address space"):
        ipam.request_pool("b", subnet="10.1.128.0/17")


def test_explicit_gateway_and_range_are_honoured() -> None:
    ipam = Ipam()
    pool = ipam.request_pool("a", subnet="10.5.0.0/16", gateway="10.5.0.254", ip_range="10.5.3.0/30")
    assert pool.gateway == IPv4Address("10.5.0.254")
    got = {ipam.allocate("a") for _ in range(4)}
    assert got == {IPv4Address(f"10.5.3.{i}") for i in range(4)}
    with pytest.raises(PoolExhausted):
        ipam.allocate("a")


def test_allocation_skips_gateway_network_and_broadcast_and_never_duplicates() -> None:
    ipam = Ipam()
    ipam.request_pool("a", subnet="10.9.0.0/29")  # .1 gateway, .2-.6 usable
    got = [ipam.allocate("a") for _ in range(5)]
    assert [str(ip) for ip in got] == [f"10.9.0.{i}" for i in range(2, 7)]
    with pytest.raises(PoolExhausted):
        ipam.allocate("a")
    ipam.release("a", "10.9.0.4")
    assert str(ipam.allocate("a")) == "10.9.0.4"


def test_released_address_is_not_reused_immediately() -> None:
    ipam = Ipam()
    ipam.request_pool("a", subnet="10.9.0.0/24")
    first = ipam.allocate("a")
    ipam.release("a", first)
    assert ipam.allocate("a") != first


def test_static_ip_checks() -> None:
    ipam = Ipam()
    ipam.request_pool("a", subnet="10.9.0.0/24")
    assert str(ipam.allocate("a", "10.9.0.50")) == "10.9.0.50"
    with pytest.raises(AddressInUse, match="Address already in use"):
        ipam.allocate("a", "10.9.0.50")
    with pytest.raises(AddressInUse):
        ipam.allocate("a", "10.9.0.1")
    with pytest.raises(AddressOutOfRange, match="does not belong"):
        ipam.allocate("a", "10.8.0.5")
    with pytest.raises(IpamError, match="invalid IP address"):
        ipam.allocate("a", "10.9.0.999")
    with pytest.raises(IpamError, match="not found"):
        ipam.allocate("zzz")


def test_round_trip_through_dict_keeps_allocations() -> None:
    ipam = Ipam()
    ipam.request_pool("a", subnet="10.9.0.0/24", ip_range="10.9.0.128/25")
    ipam.allocate("a")
    ipam.allocate("a", "10.9.0.200")
    again = Ipam.from_dict(ipam.to_dict())
    assert again.to_dict() == ipam.to_dict()
    assert str(again.allocate("a")) == "10.9.0.129", "continues after the last address given"


def test_request_and_release_are_idempotent() -> None:
    ipam = Ipam()
    a = ipam.request_pool("a")
    assert ipam.request_pool("a") is a
    ipam.release_pool("a")
    ipam.release_pool("a")
    ipam.release("a", "1.2.3.4")
    assert ipam.request_pool("b").subnet == a.subnet, "a released subnet can be taken again"
