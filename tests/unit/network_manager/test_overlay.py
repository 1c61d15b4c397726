"""NetworkManager.sync_overlays against a fake kernel: local record, VXLAN FDB, remote DNS names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .test_manager import FakeKernel, World


class OverlayKernel(FakeKernel):
    def __init__(self) -> None:
        super().__init__()
        self.vxlans: dict[str, tuple[int, str, int]] = {}
        self.fdb: dict[str, list[tuple[str, str]]] = {}

    def ensure_vxlan(self, name: str, vni: int, bridge: str, mtu: int) -> None:
        self.vxlans[name] = (vni, bridge, mtu)

    def set_fdb(self, dev: str, wanted: list[tuple[str, str]]) -> None:
        self.fdb[dev] = list(wanted)

    def host_addresses(self) -> list[str]:
        return ["127.0.0.1", "10.99.0.1"]


def info(ip: str, peers: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {"network_id": "x", "name": "ovl", "subnet": "10.0.1.0/24", "gateway": "10.0.1.1", "vni": 4096,
            "ip": ip, "aliases": [], "peers": [{"ip": p, "node_addr": n, "names": ["web", t]} for p, n, t in peers]}


@pytest.fixture
def w(tmp_path: Path) -> World:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    world = World.__new__(World)
    world.tmp, world.kernel, world.containers = tmp_path, OverlayKernel(), {}
    world.mgr = world.boot()
    return world


def test_overlay_network_fdb_and_remote_names(w: World) -> None:
    k: OverlayKernel = w.kernel  # type: ignore[assignment]
    peers = [("10.0.1.2", "10.99.0.1", "web.1.a"), ("10.0.1.3", "10.99.0.2", "web.2.b")]
    w.mgr.sync_overlays([info("10.0.1.2", peers)])
    net = w.mgr.find("ovl")
    assert (net.driver, net.subnet, net.gateway, net.mtu) == ("overlay", "10.0.1.0/24", "10.0.1.1", 1350)
    assert k.vxlans["vxlan4096"] == (4096, net.bridge, 1350)
    assert sorted(k.fdb["vxlan4096"]) == [("00:00:00:00:00:00", "10.99.0.2"), ("02:42:0a:00:01:03", "10.99.0.2")]
    c = w.create("web.1.a", network_mode="ovl", ipv4_address="10.0.1.2")
    w.start(c)
    records = k.records[net.id]
    assert records["web.2.b"] == ["10.0.1.3"] and records["tasks.web"] == ["10.0.1.3"]
    assert records["web.1.a"] == ["10.0.1.2"]  # the local task, from its endpoint
    # the remote task goes away: its FDB entries and names go too
    w.mgr.sync_overlays([info("10.0.1.2", peers[:1])])
    assert k.fdb["vxlan4096"] == [] and "web.2.b" not in k.records[net.id]
