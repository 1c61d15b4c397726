"""Service VIPs in the network manager (fake kernel): allocation from the network's pool, DNS names,
the nft desired state, release with the service's last container, persistence, dnsrr unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from agent.network.vips import LABEL_ENDPOINT_MODE, LABEL_SERVICE_ID, LABEL_SERVICE_NAME, records, service_of
from agent.runtime.container import Container
from agent.runtime.errors import Unavailable
from tests.unit.network_manager.test_manager import FakeKernel, World, w  # noqa: F401 - fixture


def task(world: World, name: str, service: str = "app_web", mode: str | None = "vip", **spec: Any) -> Container:
    spec.setdefault("network_mode", "front")
    spec.setdefault("network_aliases", ["web", service])
    c = world.create(name, **spec)
    labels = {LABEL_SERVICE_ID: f"id-{service}", LABEL_SERVICE_NAME: service}
    if mode is not None:
        labels[LABEL_ENDPOINT_MODE] = mode
    c.config["labels"] = labels
    return c


def ip_of(c: Container) -> str:
    return c.host_config["net"]["endpoints"][0]["ip"]


def allocated(world: World, nid: str) -> set[str]:
    return {str(ip) for ip in world.mgr.st.ipam.pools[nid].allocated}


def test_vip_allocated_once_resolved_balanced_and_released_with_the_last_container(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    nid, bridge = w.mgr.find("front").id, w.mgr.find("front").bridge
    a, b = task(w, "web.1"), task(w, "web.2")
    w.start(a)
    w.start(b)
    [held] = w.mgr.st.vips[nid].values()
    vip = held.ip
    assert vip in allocated(w, nid) and vip not in (ip_of(a), ip_of(b))
    assert held.containers == [a.id, b.id]

    recs = w.kernel.records[nid]
    assert recs["web"] == [vip] and recs["app_web"] == [vip]  # the service's names: one address
    assert recs["tasks.web"] == [ip_of(a), ip_of(b)] and recs["tasks.app_web"] == [ip_of(a), ip_of(b)]
    assert recs["web.1"] == [ip_of(a)] and recs[a.id[:12]] == [ip_of(a)]  # containers keep theirs
    [rule] = w.kernel.vips
    assert (rule.bridge, rule.vip, rule.backends) == (bridge, vip, (ip_of(a), ip_of(b)))
    assert w.kernel.vip_addrs[bridge] == [vip]

    w.stop(a)  # a stopped task leaves the balancing, the VIP stays
    assert w.kernel.vips[0].backends == (ip_of(b),) and w.kernel.records[nid]["web"] == [vip]
    w.mgr.release(a)
    assert vip in allocated(w, nid)
    w.stop(b)
    assert w.kernel.vips[0].backends == () and "web" not in w.kernel.records[nid]
    w.start(b)  # restarted: same VIP
    assert w.kernel.records[nid]["web"] == [vip]
    w.stop(b)
    w.mgr.release(b)  # the service's last container: VIP freed, rules and bridge address gone
    assert vip not in allocated(w, nid) and nid not in w.mgr.st.vips
    assert w.kernel.vips == [] and w.kernel.vip_addrs[bridge] == []


def test_each_service_and_network_gets_its_own_vip(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    w.mgr.create("back", subnet="10.4.0.0/24")
    web, api = task(w, "w1"), task(w, "a1", service="app_api", network_aliases=["api"])
    other = task(w, "w2", network_mode="back")
    for c in (web, api, other):
        w.start(c)
    front, back = w.mgr.find("front").id, w.mgr.find("back").id
    assert sorted(w.mgr.st.vips[front]) == ["id-app_api", "id-app_web"]
    assert w.mgr.st.vips[back]["id-app_web"].ip.startswith("10.4.0.")
    assert w.kernel.records[front]["api"] != w.kernel.records[front]["web"]


def test_dnsrr_and_unlabelled_tasks_keep_round_robin_without_vip(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    a, b = task(w, "r1", mode="dnsrr"), task(w, "r2", mode=None)  # no label: created before VIPs existed
    w.start(a)
    w.start(b)
    nid = w.mgr.find("front").id
    assert w.mgr.st.vips == {} and w.kernel.vips == []
    recs = w.kernel.records[nid]
    assert sorted(recs["web"]) == sorted([ip_of(a), ip_of(b)]) == sorted(recs["tasks.web"])


def test_vips_survive_a_restart_and_adopt_drops_removed_holders(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    a = task(w, "w1")
    w.start(a)
    nid = w.mgr.find("front").id
    vip = w.mgr.st.vips[nid]["id-app_web"].ip
    w.kernel = FakeKernel()
    w.mgr = w.boot()
    assert w.mgr.st.vips[nid]["id-app_web"].ip == vip
    assert w.kernel.vips[0].backends == (ip_of(a),) and w.kernel.vip_addrs[w.mgr.find("front").bridge] == [vip]
    w.mgr.adopt([])  # the container is gone altogether: its VIP goes with it
    assert w.mgr.st.vips == {} and vip not in allocated(w, nid) and w.kernel.vips == []


def test_failed_attach_releases_a_new_vip(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    a = task(w, "w1")
    w.kernel.fail_attach = True
    with pytest.raises(Unavailable):
        w.start(a)
    assert w.mgr.st.vips == {} and allocated(w, w.mgr.find("front").id) == {ip_of(a)}


def test_disconnect_drops_the_vip_of_that_network(w: World) -> None:  # noqa: F811
    w.mgr.create("front", subnet="10.3.0.0/24")
    w.mgr.create("back", subnet="10.4.0.0/24")
    a = task(w, "w1")
    w.mgr.connect("back", a.name)
    w.start(a)
    back = w.mgr.find("back").id
    assert back in w.mgr.st.vips
    w.mgr.disconnect("back", a.name)
    assert back not in w.mgr.st.vips and w.mgr.find("front").id in w.mgr.st.vips


def test_labels_and_records_pure() -> None:
    assert service_of({}) is None and service_of({LABEL_SERVICE_ID: "s"}) is None
    t = service_of({LABEL_SERVICE_ID: "s", LABEL_SERVICE_NAME: "n", LABEL_ENDPOINT_MODE: "vip"})
    assert t is not None and t.vip and t.service_name == "n"
    assert records([]) == {}
