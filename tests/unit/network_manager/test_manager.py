"""NetworkManager logic with a fake kernel: CRUD, Docker's errors, hooks, DNS and nft desired state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent.network import hosts, ports
from agent.network.manager import NetworkManager
from agent.runtime.container import Container, State
from agent.runtime.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, Unavailable


class FakeKernel:
    def __init__(self) -> None:
        self.bridges: set[str] = set()
        self.veths: set[tuple[str, str]] = set()
        self.rules: tuple[list[Any], list[Any]] = ([], [])
        self.listening: set[str] = set()
        self.records: dict[str, dict[str, list[str]]] = {}
        self.clients: dict[str, list[str]] = {}
        self.fail_bridge = False
        self.fail_attach = False
        self.busy_ports: set[int] = set()
        self.vips: list[Any] = []
        self.vip_addrs: dict[str, list[str]] = {}

    def host_prefixes(self) -> list[str]:
        return ["10.231.0.0/24"]

    def mtu(self) -> int:
        return 1400

    def link_exists(self, name: str) -> bool:
        return name in self.bridges

    def port_free(self, proto: str, ip: str, port: int) -> bool:
        return port not in self.busy_ports

    def ensure_network(self, net: Any) -> None:
        if self.fail_bridge:
            raise OSError("no bridges today")
        self.bridges.add(net.bridge)

    def remove_network(self, name: str) -> None:
        self.bridges.discard(name)

    def attach(self, att: Any) -> None:
        if self.fail_attach:
            raise OSError("veth failed")
        self.veths.add((att.container_id, att.network.network_id))

    def detach(self, cid: str, nid: str) -> None:
        self.veths.discard((cid, nid))

    def collect_garbage(self, wanted: Any) -> list[str]:
        return []

    def apply_rules(self, networks: Any, mappings: Any, vips: Any = ()) -> None:
        self.rules = (list(networks), list(mappings))
        self.vips = list(vips)

    def set_vip_addresses(self, bridge: str, vips: Any) -> None:
        self.vip_addrs[bridge] = sorted(vips)

    def warn_foreign_firewall(self) -> None:
        pass

    def dns_listen(self, addr: str) -> None:
        self.listening.add(addr)

    def dns_unlisten(self, addr: str) -> None:
        self.listening.discard(addr)

    def dns_set_records(self, nid: str, records: dict[str, list[str]], **kw: Any) -> None:
        self.records[nid] = records

    def dns_remove_network(self, nid: str) -> None:
        self.records.pop(nid, None)

    def dns_set_client(self, ip: str, nets: Any, upstreams: Any) -> None:
        self.clients[ip] = list(nets)

    def dns_remove_client(self, ip: str) -> None:
        self.clients.pop(ip, None)

    def close(self) -> None:
        pass


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.kernel = FakeKernel()
        self.containers: dict[str, Container] = {}
        self.mgr = self.boot()

    def boot(self) -> NetworkManager:
        mgr = NetworkManager(self.tmp / "network", kernel=self.kernel, resolv_conf=str(self.tmp / "resolv.conf"))
        mgr.bind(self.get, lambda c: None)
        mgr.boot()
        return mgr

    def get(self, ref: str) -> Container:
        for c in self.containers.values():
            if ref in (c.id, c.name):
                return c
        raise NotFound(f"No such container: {ref}")

    def create(self, name: str, **spec: Any) -> Container:
        cid = (name.encode().hex() * 8)[:64]
        c = Container(id=cid, name=name, created=0.0, image="busybox", image_id="x", path="sh", args=[],
                      config={"hostname": cid[:12], "exposed_ports": {}},
                      host_config={"network_mode": spec.pop("network_mode", "bridge")})
        self.mgr.prepare(c, spec)
        self.containers[cid] = c
        return c

    def start(self, c: Container) -> None:
        pid = os.getpid()  # a live process: the manager only reads /proc/<pid>/ns/net's existence
        self.mgr.attach(c, pid)
        c.state = State(status="running", pid=pid)

    def stop(self, c: Container) -> None:
        self.mgr.detach(c)
        c.state = State(status="exited")


@pytest.fixture
def w(tmp_path: Path) -> World:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\nsearch example.org\n")
    return World(tmp_path)


def test_builtins_and_default_bridge(w: World) -> None:
    names = {n.name: n for n in w.mgr.networks()}
    assert set(names) == {"bridge", "host", "none"}
    assert names["bridge"].subnet == "172.17.0.0/16" and "orch0" in w.kernel.bridges
    assert w.kernel.listening == set()  # no embedded DNS on the default bridge
    with pytest.raises(Conflict, match="pre-defined network"):
        w.mgr.remove("bridge")


def test_create_validates_and_creates_nothing_on_error(w: World) -> None:
    net = w.mgr.create("front", subnet="10.1.0.0/24")
    assert net.gateway == "10.1.0.1" and net.bridge in w.kernel.bridges and "10.1.0.1" in w.kernel.listening
    with pytest.raises(AlreadyExists, match="network with name front already exists"):
        w.mgr.create("front")
    with pytest.raises(Conflict, match="Pool overlaps"):
        w.mgr.create("b", subnet="10.1.0.128/25")
    with pytest.raises(InvalidArgument, match="no matching subnet for gateway"):
        w.mgr.create("b", subnet="10.2.0.0/24", gateway="10.3.0.1")
    with pytest.raises(InvalidArgument, match="Invalid subnet"):
        w.mgr.create("b", subnet="10.2.0.0/99")
    with pytest.raises(NotFound, match='plugin "overlay" not found'):
        w.mgr.create("b", driver="overlay")
    w.kernel.fail_bridge = True
    with pytest.raises(Unavailable, match="failed to create network b"):
        w.mgr.create("b", subnet="10.2.0.0/24")
    assert "b" not in {n.name for n in w.mgr.networks()}
    assert len(w.mgr.st.ipam.pools) == 2  # bridge + front: b's pool was given back


def test_user_networks_avoid_host_routes(w: World) -> None:
    assert w.mgr.create("a").subnet == "172.18.0.0/16"
    assert w.mgr.create("b").subnet == "172.19.0.0/16"


def test_prepare_errors(w: World) -> None:
    w.mgr.create("front")
    with pytest.raises(NotFound, match="network nope not found"):
        w.create("x", network_mode="nope")
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        w.create("x", ipv4_address="172.17.0.9")
    with pytest.raises(InvalidArgument, match="user configured subnets"):
        w.create("x", network_mode="front", ipv4_address="172.18.0.9")
    with pytest.raises(InvalidArgument, match="network-scoped alias"):
        w.create("x", network_aliases=["a"])
    with pytest.raises(InvalidArgument, match="could not get container for ghost"):
        w.create("x", links=["ghost:g"])


def test_lifecycle_dns_ports_and_release(w: World) -> None:
    w.mgr.create("front", subnet="10.1.0.0/24")
    web = w.create("web", network_mode="front", network_aliases=["site"],
                   ports=[{"container_port": 80, "host_port": 8080, "protocol": "tcp"}])
    api = w.create("api", network_mode="front", network_aliases=["site"], links=["web:www"])
    w.start(web)
    w.start(api)
    nid = w.mgr.find("front").id
    ip_web, ip_api = (c.host_config["net"]["endpoints"][0]["ip"] for c in (web, api))
    records = w.kernel.records[nid]
    assert records["web"] == [ip_web] and sorted(records["site"]) == sorted([ip_web, ip_api])
    assert records[web.id[:12]] == [ip_web]
    assert w.kernel.clients[ip_api] == [nid, f"links/{api.id}"]
    assert w.kernel.records[f"links/{api.id}"] == {"www": [ip_web]}
    [mapping] = w.kernel.rules[1]
    assert (mapping.host_port, mapping.container_ip, mapping.container_port) == (8080, ip_web, 80)
    view = w.mgr.container_view(web)
    assert view["_ports"] == "0.0.0.0:8080->80/tcp" and view["_networks"] == "front"
    assert view["NetworkSettings"]["Networks"]["front"]["IPAddress"] == ip_web
    assert view["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    with pytest.raises(Conflict, match="has active endpoints"):
        w.mgr.remove("front")

    other = w.create("other", ports=[{"container_port": 81, "host_port": 8080, "protocol": "tcp"}])
    with pytest.raises(Conflict, match="Bind for 0.0.0.0:8080 failed: port is already allocated"):
        w.start(other)
    assert (other.id, w.mgr.find("bridge").id) not in w.kernel.veths  # nothing half-created

    w.stop(web)
    assert w.kernel.rules[1] == [] and "web" not in w.kernel.records[nid]
    assert ip_web in {str(ip) for ip in w.mgr.st.ipam.pools[nid].allocated}  # kept while it exists
    w.mgr.release(web)
    assert ip_web not in {str(ip) for ip in w.mgr.st.ipam.pools[nid].allocated}
    w.stop(api)
    w.mgr.release(api)
    assert w.kernel.veths == set() and w.kernel.clients == {}
    w.mgr.remove("front")
    assert nid not in w.kernel.records and "10.1.0.1" not in w.kernel.listening


def test_attach_failure_rolls_back(w: World) -> None:
    c = w.create("c", ports=[{"container_port": 80, "protocol": "tcp"}])
    w.kernel.fail_attach = True
    with pytest.raises(Unavailable, match="failed to set up container networking"):
        w.start(c)
    assert c.id not in w.mgr.st.active and w.kernel.rules[1] == []


def test_state_survives_a_restart(w: World) -> None:
    w.mgr.create("front")
    c = w.create("c", network_mode="front", ports=[{"container_port": 80, "protocol": "udp"}])
    w.start(c)
    port = w.kernel.rules[1][0].host_port
    assert 32768 <= port <= 60999
    w.kernel = FakeKernel()
    w.mgr = w.boot()
    assert [m.host_port for m in w.kernel.rules[1]] == [port]
    assert "c" in w.kernel.records[w.mgr.find("front").id]
    w.mgr.adopt([])  # the engine says nothing runs any more
    assert w.kernel.rules[1] == [] and w.mgr.st.active == {}


def test_connect_and_disconnect_stopped_container(w: World) -> None:
    w.mgr.create("front", subnet="10.5.0.0/24")
    c = w.create("c")
    w.mgr.connect("front", "c", aliases=["x"], ip="10.5.0.7")
    assert [e["network"] for e in c.host_config["net"]["endpoints"]] == ["bridge", "front"]
    with pytest.raises(AlreadyExists):
        w.mgr.connect("front", "c")
    w.start(c)
    assert w.kernel.records[w.mgr.find("front").id]["x"] == ["10.5.0.7"]
    w.mgr.disconnect("front", "c")
    assert "x" not in w.kernel.records[w.mgr.find("front").id]
    with pytest.raises(Conflict, match="is not connected to network front"):
        w.mgr.disconnect("front", "c")


def test_prune_keeps_used_and_builtin(w: World) -> None:
    w.mgr.create("used")
    w.mgr.create("idle", labels={"team": "a"})
    w.start(w.create("c", network_mode="used"))
    assert w.mgr.prune(labels=["team=b"]) == []
    assert w.mgr.prune() == ["idle"]
    assert {n.name for n in w.mgr.networks()} == {"bridge", "host", "none", "used"}


def test_etc_files(w: World, tmp_path: Path) -> None:
    w.mgr.create("front")
    c = w.create("c", network_mode="front", extra_hosts=["db:10.9.9.9"], dns=["192.0.2.1"])
    w.mgr.etc_files(c, tmp_path)
    ip = c.host_config["net"]["endpoints"][0]["ip"]
    text = (tmp_path / "hosts").read_text()
    assert "10.9.9.9\tdb\n" in text and text.endswith(f"{ip}\t{c.config['hostname']}\n")
    assert (tmp_path / "resolv.conf").read_text().startswith("nameserver 172.18.0.1\n")
    d = w.create("d", dns=["192.0.2.1"])
    w.mgr.etc_files(d, tmp_path)
    assert (tmp_path / "resolv.conf").read_text().startswith("nameserver 192.0.2.1\n")


# ------------------------------------------------------------------ pure helpers


def test_plan_ports_ranges_ephemeral_and_conflicts() -> None:
    nxt: dict[str, int] = {}
    reqs = ports.Request.from_spec({"container_port": 80, "container_port_end": 81, "host_port": 9000,
                                    "host_port_end": 9001})
    out = ports.plan_ports(reqs, publish_all=True, exposed=[(80, "tcp"), (443, "tcp")], container_ip="10.0.0.2",
                           taken=[("tcp", "0.0.0.0", 32768)], next_port=nxt)
    assert [(p.host_port, p.container_port) for p in out] == [(9000, 80), (9001, 81), (32769, 443)]
    assert nxt == {"tcp": 32770}
    pick = ports.Request("tcp", 80, host_port=7000, host_port_end=7002)
    [p] = ports.plan_ports([pick], publish_all=False, exposed=[], container_ip="10.0.0.2",
                           taken=[("tcp", "127.0.0.1", 7000)], next_port={})
    assert p.host_port == 7001
    with pytest.raises(ports.PortAllocated, match="Bind for 127.0.0.1:7000 failed"):
        ports.plan_ports([ports.Request("tcp", 80, "127.0.0.1", 7000)], publish_all=False, exposed=[],
                         container_ip="10.0.0.2", taken=[("tcp", "0.0.0.0", 7000)], next_port={})
    [u] = ports.plan_ports([ports.Request("udp", 53, host_port=7000)], publish_all=False, exposed=[],
                           container_ip="10.0.0.2", taken=[("tcp", "0.0.0.0", 7000)], next_port={})
    assert u.host_port == 7000
    assert ports.ps_text(out, [(80, "tcp"), (8443, "tcp")]) == \
        "0.0.0.0:9000->80/tcp, 0.0.0.0:9001->81/tcp, 0.0.0.0:32769->443/tcp, 8443/tcp"


def test_render_hosts() -> None:
    text = hosts.render_hosts("abc", ["172.18.0.2"], ["gw:host-gateway", "db:10.0.0.5"],
                              [("172.17.0.3", ["www", "0123456789ab", "web"])], host_gateway="172.18.0.1")
    assert text.startswith(hosts.BOILERPLATE)
    assert text[len(hosts.BOILERPLATE):] == ("172.18.0.1\tgw\n10.0.0.5\tdb\n172.17.0.3\twww 0123456789ab web\n"
                                             "172.18.0.2\tabc\n")
