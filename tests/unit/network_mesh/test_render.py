"""Agent side, pure: a NetworkState network -> FDB, DNS names, VIPs; mesh and lb SNAT in the nft text."""

from __future__ import annotations

from agent.network import overlay
from agent.network.nft import MeshPort, NetworkRules, Ruleset, ServiceVip, render
from proto.orch.v1 import dispatcher_pb2 as dpb


def network() -> dpb.OverlayNetwork:
    return dpb.OverlayNetwork(
        id="n", name="a", subnet="10.0.1.0/24", gateway="10.0.1.1", vni=4097, lb_addr="10.0.1.250",
        endpoints=[
            dpb.OverlayEndpoint(ip="10.0.1.2", node_addr="10.99.0.1", task="web.1.x", service_id="s", running=True),
            dpb.OverlayEndpoint(ip="10.0.1.3", node_addr="10.99.0.2", task="web.2.y", service_id="s", running=False),
            dpb.OverlayEndpoint(ip="10.0.1.250", node_addr="10.99.0.1"),
            dpb.OverlayEndpoint(ip="10.0.1.249", node_addr="10.99.0.2"),
        ],
        services=[dpb.OverlayService(service_id="s", name="web", aliases=["www"], vip="10.0.1.254")])


def test_fdb_floods_to_other_nodes_and_pins_their_macs() -> None:
    assert set(overlay.fdb(network(), ["10.99.0.1"])) == {
        ("00:00:00:00:00:00", "10.99.0.2"), ("02:42:0a:00:01:03", "10.99.0.2"), ("02:42:0a:00:01:f9", "10.99.0.2")}


def test_names_resolve_to_the_vip_tasks_to_addresses() -> None:
    rec = overlay.dns_records(network())
    assert rec["web"] == ["10.0.1.254"] and rec["www"] == ["10.0.1.254"]
    assert rec["tasks.web"] == ["10.0.1.2", "10.0.1.3"] and rec["web.2.y"] == ["10.0.1.3"]
    rr = network()
    rr.services[0].vip = ""
    assert overlay.dns_records(rr)["web"] == ["10.0.1.2", "10.0.1.3"]
    ingress = network()
    ingress.ingress = True
    assert overlay.dns_records(ingress) == {}


def test_vip_balances_over_running_tasks_only() -> None:
    assert overlay.service_vips(network(), "br") == [ServiceVip(bridge="br", vip="10.0.1.254", backends=("10.0.1.2",))]


def test_ruleset_snat_to_the_lb_address_first_and_mesh_on_local_addresses() -> None:
    text = render(Ruleset(
        networks=(NetworkRules(bridge="br", subnet="10.0.0.0/24", snat_to="10.0.0.250"),),
        mesh=(MeshPort(protocol="tcp", port=30000, target_port=80, backends=("10.0.0.3", "10.0.0.2")),
              MeshPort(protocol="udp", port=30001, target_port=53, backends=("10.0.0.4",)),
              MeshPort(protocol="tcp", port=30002, target_port=80)),
        table="tmesh"))
    assert "tcp dport 30000 dnat to numgen inc mod 2 map { 0 : 10.0.0.2, 1 : 10.0.0.3 } : 80" in text
    assert "udp dport 30001 dnat to 10.0.0.4 : 53" in text and "30002" not in text
    assert text.count("fib daddr type local jump mesh") == 2
    post = text[text.index("chain postrouting"):]
    assert post.index('oifname "br" ct status dnat snat to 10.0.0.250') < post.index("masquerade")
