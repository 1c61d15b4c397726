"""The nft ruleset is a pure function of the desired state."""

from __future__ import annotations

import pytest

from agent.network.nft import NetworkRules, PortMapping, Ruleset, conflicting_ports, render

NETS = (
    NetworkRules("orch-b", "172.19.0.0/16"),
    NetworkRules("orch-a", "172.18.0.0/16"),
    NetworkRules("orch-i", "172.20.0.0/16", internal=True),
)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_transaction_replaces_only_our_table() -> None:
    out = lines(render(Ruleset(table="t1")))
    assert out[:3] == ["table ip t1", "delete table ip t1", "table ip t1 {"]
    assert not any("filter" in line and "table" in line for line in out)


def test_render_is_deterministic_whatever_the_input_order() -> None:
    again = Ruleset(networks=tuple(reversed(NETS)))
    assert render(Ruleset(networks=NETS)) == render(again)


def test_masquerade_egress_except_internal_and_localhost_and_hairpin() -> None:
    out = lines(render(Ruleset(networks=NETS)))
    assert 'ip saddr 172.18.0.0/16 oifname != "orch-a" masquerade' in out
    assert not any(line.startswith("ip saddr 172.20.0.0/16 oifname") for line in out)
    assert 'ip saddr 127.0.0.0/8 oifname "orch-a" masquerade' in out
    assert "ip saddr 172.18.0.0/16 ip daddr 172.18.0.0/16 ct status dnat masquerade" in out


def test_isolation_and_internal_networks() -> None:
    out = lines(render(Ruleset(networks=NETS)))
    assert 'elements = { "orch-a", "orch-b", "orch-i" }' in out
    for bridge in ("orch-a", "orch-b", "orch-i"):
        assert f'iifname "{bridge}" oifname != "{bridge}" oifname @bridges drop' in out
    internal_drops = [
        out.index('iifname "orch-i" oifname != "orch-i" drop'),
        out.index('oifname "orch-i" iifname != "orch-i" drop'),
    ]
    assert max(internal_drops) < out.index("ct status dnat accept"), (
        "published ports never open internal networks"
    )
    assert out.index("ct status dnat accept") < out.index(
        'iifname "orch-a" oifname != "orch-a" oifname @bridges drop'
    )


def test_published_ports_tcp_udp_ranges_and_host_ip() -> None:
    ports = (
        PortMapping("tcp", 8080, "172.18.0.2", 80),
        PortMapping("udp", 5000, "172.18.0.3", 6000, host_port_end=5002),
        PortMapping("tcp", 9000, "172.18.0.4", 90, host_ip="127.0.0.1"),
        PortMapping("tcp", 9001, "172.18.0.4", 91, host_ip="0.0.0.0"),
    )
    out = lines(render(Ruleset(networks=NETS, ports=ports)))
    assert "tcp dport 8080 dnat to 172.18.0.2:80" in out
    assert [line for line in out if line.startswith("udp dport")] == [
        "udp dport 5000 dnat to 172.18.0.3:6000",
        "udp dport 5001 dnat to 172.18.0.3:6001",
        "udp dport 5002 dnat to 172.18.0.3:6002",
    ]
    assert "ip daddr 127.0.0.1 tcp dport 9000 dnat to 172.18.0.4:90" in out
    assert "tcp dport 9001 dnat to 172.18.0.4:91" in out
    assert out.count("fib daddr type local jump publish") == 2  # prerouting and output


def test_bad_mappings_are_rejected() -> None:
    with pytest.raises(ValueError, match="protocol"):
        PortMapping("sctp", 1, "1.2.3.4", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host port range"):
        PortMapping("tcp", 10, "1.2.3.4", 1, host_port_end=5)
    with pytest.raises(ValueError, match="container port"):
        PortMapping("tcp", 10, "1.2.3.4", 65535, host_port_end=11)
    with pytest.raises(ValueError):
        PortMapping("tcp", 10, "not-an-ip", 1)


def test_conflicting_ports() -> None:
    maps = [
        PortMapping("tcp", 80, "172.18.0.2", 80),
        PortMapping("udp", 80, "172.18.0.2", 80),
        PortMapping("tcp", 8000, "172.18.0.2", 80, host_ip="127.0.0.1"),
        PortMapping("tcp", 8000, "172.18.0.3", 80, host_ip="10.0.0.1"),
    ]
    assert conflicting_ports(maps) == []
    assert conflicting_ports([*maps, PortMapping("tcp", 79, "172.18.0.9", 1, host_port_end=81)]) == [
        ("tcp", "0.0.0.0", 80)
    ]
    assert conflicting_ports([*maps, PortMapping("tcp", 8000, "172.18.0.9", 1)]) == [("tcp", "0.0.0.0", 8000)]


def test_service_vips_dnat_round_robin_before_published_ports() -> None:
    from agent.network.nft import ServiceVip

    vips = (
        ServiceVip("orch-a", "172.18.0.10", ("172.18.0.3", "172.18.0.2", "172.18.0.11")),
        ServiceVip("orch-a", "172.18.0.12", ("172.18.0.4",)),
        ServiceVip("orch-a", "172.18.0.13"),  # no running task: no DNAT, refused by the host
    )
    out = lines(render(Ruleset(networks=NETS, ports=(PortMapping("tcp", 80, "172.18.0.9", 80),), vips=vips)))
    spread = "dnat to numgen inc mod 3 map { 0 : 172.18.0.2, 1 : 172.18.0.3, 2 : 172.18.0.11 }"
    pre = f'iifname "orch-a" ip daddr 172.18.0.10 {spread}'
    assert pre in out and f"ip daddr 172.18.0.10 {spread}" in out  # from the bridge, and from the host
    assert 'iifname "orch-a" ip daddr 172.18.0.12 dnat to 172.18.0.4' in out
    assert not any("172.18.0.13 dnat" in line for line in out)
    assert out.index(pre) < out.index("fib daddr type local jump publish"), "VIPs win over published ports"
    assert "ct state new ip daddr { 172.18.0.10, 172.18.0.12, 172.18.0.13 } reject" in out
    # no VIPs, no input chain
    assert "chain input {" not in lines(render(Ruleset(networks=NETS)))


def test_vip_rules_are_deterministic_and_validated() -> None:
    from agent.network.nft import ServiceVip, vip_target

    a = (ServiceVip("orch-b", "172.19.0.9", ("172.19.0.3", "172.19.0.2")), ServiceVip("orch-a", "172.18.0.9"))
    b = (ServiceVip("orch-a", "172.18.0.9"), ServiceVip("orch-b", "172.19.0.9", ("172.19.0.2", "172.19.0.3")))
    assert render(Ruleset(networks=NETS, vips=a)) == render(Ruleset(networks=NETS, vips=b))
    assert vip_target(["10.0.0.3", "10.0.0.3"]) == "10.0.0.3"
    with pytest.raises(ValueError):
        vip_target([])
    with pytest.raises(ValueError):
        ServiceVip("orch-a", "not-an-ip")
