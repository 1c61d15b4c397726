"""NetworkManager.sync_network_state against a fake kernel: local record, VXLAN FDB, lb port, remote DNS names."""

from __future__ import annotations

from pathlib import Path

import pytest

from proto.orch.v1 import dispatcher_pb2 as dpb

from .test_manager import FakeKernel, World


class OverlayKernel(FakeKernel):
    def __init__(self) -> None:
        super().__init__()
        self.vxlans: dict[str, tuple[int, str, int]] = {}
        self.fdb: dict[str, list[tuple[str, str]]] = {}
        self.lb_ports: dict[str, tuple[str, str]] = {}
        self.neighbours: dict[str, list[tuple[str, str]]] = {}
        self.deleted: list[str] = []

    def ensure_vxlan(self, name: str, vni: int, bridge: str, mtu: int) -> None:
        self.vxlans[name] = (vni, bridge, mtu)

    def set_fdb(self, dev: str, wanted: list[tuple[str, str]]) -> None:
        self.fdb[dev] = list(wanted)

    def host_addresses(self) -> list[str]:
        return ["127.0.0.1", "10.99.0.1"]

    def ensure_lb_port(self, bridge: str, port: str, peer: str, addr: str, mac: str, mtu: int) -> None:
        self.lb_ports[port] = (bridge, addr)

    def set_neighbours(self, dev: str, wanted: list[tuple[str, str]]) -> None:
        self.neighbours[dev] = list(wanted)

    def delete_link(self, name: str) -> None:
        self.deleted.append(name)


def state(peers: list[tuple[str, str, str]], lb: str = "10.0.1.254") -> dpb.NetworkState:
    """This node (10.99.0.1) serves ``ovl``; ``peers`` are (task address, node address, task name)."""
    eps = [dpb.OverlayEndpoint(ip=ip, node_addr=node, task=task, service_id="s1", running=True)
           for ip, node, task in peers]
    net = dpb.OverlayNetwork(id="x", name="ovl", subnet="10.0.1.0/24", gateway="10.0.1.1", vni=4096, lb_addr=lb,
                             endpoints=eps, services=[dpb.OverlayService(service_id="s1", name="web")])
    return dpb.NetworkState(networks=[net])


@pytest.fixture
def w(tmp_path: Path) -> World:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    world = World.__new__(World)
    world.tmp, world.kernel, world.containers = tmp_path, OverlayKernel(), {}
    world.mgr = world.boot()
    return world


def test_overlay_network_fdb_lb_port_and_remote_names(w: World) -> None:
    k: OverlayKernel = w.kernel  # type: ignore[assignment]
    peers = [("10.0.1.2", "10.99.0.1", "web.1.a"), ("10.0.1.3", "10.99.0.2", "web.2.b")]
    w.mgr.sync_network_state(state(peers))
    net = w.mgr.find("ovl")
    assert (net.driver, net.subnet, net.gateway, net.mtu) == ("overlay", "10.0.1.0/24", "10.0.1.1", 1350)
    assert k.vxlans["vxlan4096"] == (4096, net.bridge, 1350)
    assert ("00:00:00:00:00:00", "10.99.0.2") in k.fdb["vxlan4096"]
    assert ("02:42:0a:00:01:03", "10.99.0.2") in k.fdb["vxlan4096"]
    assert not [e for e in k.fdb["vxlan4096"] if e[1] == "10.99.0.1"]  # nothing points at this node itself
    assert [addr for _, addr in k.lb_ports.values()] == ["10.0.1.254"]
    c = w.create("web.1.a", network_mode="ovl", ipv4_address="10.0.1.2")
    w.start(c)
    records = k.records[net.id]
    assert records["web.2.b"] == ["10.0.1.3"]
    assert sorted(records["tasks.web"]) == ["10.0.1.2", "10.0.1.3"]
    # the remote task goes away: its FDB entries and names go too
    w.mgr.sync_network_state(state(peers[:1]))
    assert not [e for e in k.fdb["vxlan4096"] if e[1] == "10.99.0.2"]
    assert "web.2.b" not in k.records[net.id]
