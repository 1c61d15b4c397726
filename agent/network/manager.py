"""The network manager: Docker's single-host network model on top of the network library.

It owns the network objects (``orch network create/ls/inspect/rm/prune/connect/disconnect``), the
address pools, and every container's attachments, and implements the engine's ``NetworkHooks``:

    create   prepare(c, spec)   resolve --network, validate, reserve addresses -> c.host_config["net"]
    start    etc_files(c, dir)  /etc/hosts and resolv.conf
             attach(c, pid)     host ports, veths in the paused container's namespace, nft rules, DNS
    exit     detach(c)          veths, ports, DNS records go; reserved addresses stay
    rm       release(c)         addresses freed, and a service's VIP once its last container is gone

Service tasks (swarm labels, see ``vips.py``) get Swarm's names: in endpoint mode vip the service name and
aliases resolve to a virtual IP per network, allocated from the network's pool when the service's first
task attaches and balanced by nftables over its running tasks; ``tasks.<service>`` resolves to the tasks.

Decide, then do: every change first updates the desired state (``self.st``), then ``_sync()`` makes the
kernel match all of it at once (one nft transaction, the DNS tables); a failed step is undone before the
error is raised, so nothing is left half-created. State is saved under ``<state_dir>/network/`` after each
change (see ``state.py``); ``boot()`` rebuilds bridges, rules and DNS from it before the engine re-adopts
its containers, and ``adopt()`` then keeps only what belongs to containers still running and deletes
leftover links.

Locking: one re-entrant lock around state and kernel changes. The engine calls ``detach`` while holding
its own lock, so this class never calls into the engine while holding its lock.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.network import hosts, overlay, ports, views, vips
from agent.network.bridge import DEFAULT_BRIDGE, Attachment, BridgeNetwork, bridge_name, mac_for
from agent.network.dns import container_resolv_conf
from agent.network.ipam import AddressInUse, IpamError, PoolOverlap
from agent.network.kernel import Kernel
from agent.network.nft import MeshPort, NetworkRules, PortMapping, ServiceVip
from agent.network.state import (
    Active,
    ActiveEndpoint,
    ActivePort,
    NetState,
    NetworkRecord,
    VipRecord,
    load,
    save,
)
from agent.runtime.container import Container
from agent.runtime.errors import AlreadyExists, Conflict, EngineError, InvalidArgument, NotFound, Unavailable

log = logging.getLogger("orch.network")

_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPT_MTU = "com.docker.network.driver.mtu"
SUPPORTED_DRIVERS = ("bridge",)
LABEL_VNI = "com.orch.overlay.vni"
VXLAN_OVERHEAD = 50  # outer IPv4 + UDP + VXLAN + inner Ethernet headers


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def _ipam_error(err: IpamError) -> EngineError:
    if isinstance(err, (PoolOverlap, AddressInUse)):
        return Conflict(str(err))
    return InvalidArgument(str(err))


class NetworkManager:
    """See the module docstring. ``get_container``/``save_container`` come from the engine (``bind``)."""

    def __init__(self, state_dir: Path, *, kernel: Kernel | Any | None = None,
                 resolv_conf: str = "/etc/resolv.conf") -> None:
        self.path = Path(state_dir) / "state.json"
        self.kernel = kernel if kernel is not None else Kernel()
        self.resolv_conf = resolv_conf
        # One daemon per network namespace is the normal case; a second one (benchmarks) must pick
        # its own default bridge and nft table (ORCH_DEFAULT_BRIDGE, ORCH_NFT_TABLE in kernel.py).
        self.default_bridge = os.environ.get("ORCH_DEFAULT_BRIDGE") or DEFAULT_BRIDGE
        self._lock = threading.RLock()
        self.st: NetState = load(self.path)
        self._dns_clients: set[str] = set()
        self._dns_views: set[str] = set()
        # overlay network id (local record) -> what the manager's NetworkState says about it
        self._overlays: dict[str, _Overlay] = {}
        self._have_state = False  # a NetworkState was applied: _overlays says what this node serves
        self._mesh: list[MeshPort] = []  # the routing mesh's ports (from the NetworkState)
        self._mtu = 0
        self.get_container: Callable[[str], Container] | None = None
        self.save_container: Callable[[Container], None] | None = None

    def bind(self, get: Callable[[str], Container], save_record: Callable[[Container], None]) -> None:
        """Give the manager the engine's container lookup (links, connect) and record writer."""
        self.get_container = get
        self.save_container = save_record

    # ================================================================ boot
    def boot(self) -> None:
        """Before ``engine.boot()``: builtin networks, bridges, DNS listeners, rules of live containers."""
        with self._lock:
            self._mtu = self.kernel.mtu()
            self._ensure_builtins()
            dead = []
            for cid, act in list(self.st.active.items()):
                if not _alive(act.pid):
                    dead.append(self.st.active.pop(cid))
            for net in self.st.networks.values():
                if net.has_bridge:
                    self.kernel.ensure_network(self._bridge(net))
                    if net.embedded_dns:
                        self._listen(net)
            self._sync()
            self._save()
            self._collect_garbage(dead)
        self.kernel.warn_foreign_firewall()

    def adopt(self, containers: Iterable[Container]) -> None:
        """After ``engine.boot()``: forget attachments of containers that are no longer running."""
        containers = list(containers)
        running = {c.id: c.state.pid for c in containers if c.running}
        with self._lock:
            stale = [self.st.active.pop(cid) for cid, a in list(self.st.active.items()) if running.get(cid) != a.pid]
            known = {c.id for c in containers}
            gone = {h for by_svc in self.st.vips.values() for v in by_svc.values() for h in v.containers} - known
            freed = [self._release_vips(cid) for cid in sorted(gone)]
            if stale or any(freed):
                self._sync()
                self._save()
            self._collect_garbage(stale)

    def close(self) -> None:
        self.kernel.close()

    def _ensure_builtins(self) -> None:
        names = {n.name for n in self.st.networks.values()}
        if "bridge" not in names:
            nid = secrets.token_hex(32)
            pool = self.st.ipam.request_pool(nid, host_prefixes=self.kernel.host_prefixes(), default_bridge=True)
            self.st.networks[nid] = NetworkRecord(
                id=nid, name="bridge", driver="bridge", created=_now(), bridge=self.default_bridge,
                subnet=str(pool.subnet), gateway=str(pool.gateway), ip_range=str(pool.ip_range), default=True,
                options={"com.docker.network.bridge.default_bridge": "true",
                         "com.docker.network.bridge.enable_icc": "true",
                         OPT_MASQUERADE: "true", OPT_BRIDGE_NAME: self.default_bridge,
                         "com.docker.network.driver.mtu": str(self._mtu)})
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in names:
                nid = secrets.token_hex(32)
                self.st.networks[nid] = NetworkRecord(id=nid, name=name, driver=driver, created=_now())

    # ================================================================ lookups
    def find(self, ref: str) -> NetworkRecord:
        """A network by full id, name, or unique id prefix (Docker's order)."""
        with self._lock:
            nets = self.st.networks
            if ref in nets:
                return nets[ref]
            for n in nets.values():
                if n.name == ref:
                    return n
            found = [n for nid, n in nets.items() if ref and nid.startswith(ref)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def networks(self) -> list[NetworkRecord]:
        with self._lock:
            return sorted(self.st.networks.values(), key=lambda n: n.name)

    def members(self, net: NetworkRecord) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return [(a.container_id, a.name, e.ip, e.mac) for a in self.st.active.values()
                    for e in a.endpoints if e.network_id == net.id]

    def inspect(self, ref: str) -> dict[str, Any]:
        net = self.find(ref)
        return views.network_json(net, self.members(net))

    def container_view(self, c: Container) -> dict[str, Any]:
        """Docker's NetworkSettings for ``c`` plus ``_ports``/``_networks`` texts for ``ps``."""
        cfg = c.host_config.get("net")
        with self._lock:
            if not cfg:
                mode = c.host_config.get("network_mode", "none")
                name = mode if not mode.startswith("container:") else ""
                net = next((n for n in self.st.networks.values() if n.name == name), None)
                nets = {name: _empty_endpoint(net.id if net else "")} if name else {}
                return {"NetworkSettings": {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {},
                                            "Networks": nets}, "_ports": "", "_networks": name}
            act = self.st.active.get(c.id) if c.running else None
            return views.container_settings(cfg, self.st.networks, act, cfg.get("exposed", []), c.id)

    def ports_of(self, c: Container) -> list[ActivePort]:
        """Published ports of a running container (``orch port``)."""
        with self._lock:
            act = self.st.active.get(c.id)
            return list(act.ports) if act and c.running else []

    # ================================================================ network CRUD
    def create(self, name: str, *, driver: str = "bridge", subnet: str = "", gateway: str = "",
               ip_range: str = "", internal: bool = False, attachable: bool = False,
               options: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> NetworkRecord:
        options = dict(options or {})
        driver = driver or "bridge"
        if not name:
            raise InvalidArgument("network name is required")
        if not _NAME_RE.match(name):
            raise InvalidArgument(f'invalid network name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        if driver in ("host", "null"):
            raise Conflict(f'only one instance of "{driver}" network is allowed')
        if driver not in SUPPORTED_DRIVERS:
            raise NotFound(f'plugin "{driver}" not found')
        masquerade = options.get(OPT_MASQUERADE, "true").lower() not in ("false", "0")
        mtu = 0
        if OPT_MTU in options:
            try:
                mtu = int(options[OPT_MTU])
            except ValueError:
                raise InvalidArgument(f"invalid {OPT_MTU} value {options[OPT_MTU]!r}") from None
            if not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid {OPT_MTU} value {mtu}: must be between 68 and 65535")
        with self._lock:
            if any(n.name == name for n in self.st.networks.values()):
                raise AlreadyExists(f"network with name {name} already exists")
            nid = secrets.token_hex(32)
            dev = options.get(OPT_BRIDGE_NAME) or bridge_name(nid)
            if len(dev.encode()) > 15 or not re.fullmatch(r"[a-zA-Z0-9_.-]+", dev):
                raise InvalidArgument(f"invalid bridge name {dev!r}: at most 15 characters [a-zA-Z0-9_.-]")
            if any(n.bridge == dev for n in self.st.networks.values()):
                raise Conflict(f"bridge name {dev} is already used by another network")
            if OPT_BRIDGE_NAME in options and self.kernel.link_exists(dev):
                raise Conflict(f"cannot create network {name}: a link named {dev} already exists")
            try:
                pool = self.st.ipam.request_pool(nid, subnet=subnet or None, gateway=gateway or None,
                                                 ip_range=ip_range or None,
                                                 host_prefixes=self.kernel.host_prefixes())
            except IpamError as err:
                raise _ipam_error(err) from None
            net = NetworkRecord(
                id=nid, name=name, driver=driver, created=_now(), bridge=dev, subnet=str(pool.subnet),
                gateway=str(pool.gateway), ip_range=str(pool.ip_range) if ip_range else "",
                user_subnet=bool(subnet), internal=internal, attachable=attachable, masquerade=masquerade,
                mtu=mtu, options=options, labels=dict(labels or {}))
            self.st.networks[nid] = net
            try:
                self.kernel.ensure_network(self._bridge(net))
                self._listen(net)
                self._sync()
                self._save()
            except Exception as err:
                self._undo_network(net)
                raise Unavailable(f"failed to create network {name}: {err}") from None
            return net

    def _undo_network(self, net: NetworkRecord) -> None:
        self.st.networks.pop(net.id, None)
        self.st.vips.pop(net.id, None)
        self.st.ipam.release_pool(net.id)
        for step in (lambda: self.kernel.dns_unlisten(net.gateway), lambda: self.kernel.dns_remove_network(net.id),
                     lambda: self.kernel.remove_network(net.bridge), self._sync):
            try:
                step()
            except Exception:  # noqa: BLE001 - best effort while undoing
                log.exception("undoing network %s", net.name)

    def remove(self, ref: str) -> NetworkRecord:
        with self._lock:
            net = self.find(ref)
            if net.builtin:
                raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
            if self.members(net):
                raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints")
            self._undo_network(net)
            self._save()
            return net

    def prune(self, *, until: float | None = None, labels: Iterable[str] = (),
              not_labels: Iterable[str] = ()) -> list[str]:
        """Remove unused user-defined networks; returns their names."""
        removed = []
        with self._lock:
            for net in list(self.st.networks.values()):
                if net.builtin or self.members(net):
                    continue
                if until is not None and _epoch(net.created) >= until:
                    continue
                if not all(_label_match(net.labels, sel) for sel in labels):
                    continue
                if any(_label_match(net.labels, sel) for sel in not_labels):
                    continue
                self._undo_network(net)
                removed.append(net.name)
            self._save()
        return sorted(removed)

    # ================================================================ overlay networks
    def sync_network_state(self, state: Any) -> None:
        """Make this node's overlay networks and mesh ports match the manager's ``NetworkState``.

        Per network (see ``overlay.py``): the local record reuses the manager's subnet and gateway, the
        bridge gets a ``vxlan<VNI>`` device with a static FDB, the node's lb port holds its own address,
        and the names, VIPs and mesh ports go to DNS and nft in one ``_sync()``. Overlay networks that
        left the state are removed once no local container uses them. An ``internal`` network's record
        is internal (no masquerade, no route out), so no node gives it egress.
        """
        with self._lock:
            local = set(self.kernel.host_addresses())
            wanted: dict[str, _Overlay] = {}
            for n in state.networks:
                net = next((r for r in self.st.networks.values() if r.name == n.name), None)
                if net is not None and net.driver == "overlay" and not self.members(net) and (
                        net.labels.get(LABEL_VNI) != str(n.vni) or net.subnet != n.subnet):
                    self._drop_overlay(net)  # a removed network's record, and a new one took its name
                    net = None
                if net is None:
                    net = self.create(n.name, subnet=n.subnet, gateway=n.gateway, internal=n.internal,
                                      options={OPT_MTU: str((self._mtu or self.kernel.mtu()) - VXLAN_OVERHEAD)},
                                      labels={LABEL_VNI: str(n.vni)})
                    net.driver = "overlay"
                    self._save()
                    log.info("overlay network %s: bridge %s, vxlan%d, lb address %s", n.name, net.bridge, n.vni,
                             n.lb_addr or "(none yet)")
                self.kernel.ensure_vxlan(f"vxlan{n.vni}", int(n.vni), net.bridge, net.mtu)
                if n.lb_addr:
                    port, peer = overlay.lb_port_names(n.vni)
                    self.kernel.ensure_lb_port(net.bridge, port, peer, n.lb_addr, mac_for(n.lb_addr), net.mtu)
                self.kernel.set_fdb(f"vxlan{n.vni}", overlay.fdb(n, local))
                self.kernel.set_neighbours(net.bridge, overlay.neighbours(n, local))
                wanted[net.id] = _Overlay(vni=int(n.vni), lb=n.lb_addr, records=overlay.dns_records(n),
                                          vips=overlay.service_vips(n, net.bridge) if n.lb_addr else [])
            self._overlays = wanted
            self._have_state = True
            self._mesh = overlay.mesh_ports(state.mesh) if any(n.ingress and n.lb_addr for n in state.networks) else []
            self._drop_unserved_overlays()
            self._sync()

    def _drop_unserved_overlays(self) -> None:
        """Remove the records of overlay networks this node no longer serves once no container uses
        them: after a NetworkState, and after a container's removal (a network usually leaves the
        state while its last containers are still stopping, and no new state may follow)."""
        if not self._have_state:
            return  # before the first NetworkState every overlay record looks unserved
        for net in list(self.st.networks.values()):
            if net.driver == "overlay" and net.id not in self._overlays and not self.members(net):
                self._drop_overlay(net)

    def _drop_overlay(self, net: NetworkRecord) -> None:
        vni = int(net.labels.get(LABEL_VNI, "0") or 0)
        log.info("overlay network %s: no longer served by this node, removing bridge %s and vxlan%d",
                 net.name, net.bridge, vni)
        self._undo_network(net)
        for link in (f"vxlan{vni}", overlay.lb_port_names(vni)[0]):
            try:
                self.kernel.delete_link(link)
            except Exception:  # noqa: BLE001 - already gone with the bridge
                log.debug("deleting %s", link, exc_info=True)
        self._save()

    # ================================================================ engine hooks
    def prepare(self, c: Container, spec: dict[str, Any]) -> None:
        mode = c.host_config.get("network_mode") or "bridge"
        wanted = _task_networks(spec) or [{"network": "bridge" if mode == "default" else mode,
                                           "ip": spec.get("ipv4_address") or "",
                                           "aliases": [a for a in spec.get("network_aliases") or [] if a]}]
        joined: list[tuple[NetworkRecord, dict[str, Any]]] = []
        for w in wanted:
            net = self.find(w["network"])
            if not net.has_bridge:
                raise InvalidArgument(f"network {w['network']} cannot be used with a bridge attachment")
            self._check_endpoint_options(net, w["aliases"], w["ip"])
            joined.append((net, w))
        links = list(spec.get("links") or [])
        for link in links:
            self._resolve_link(link)
        requests = []
        for b in spec.get("ports") or []:
            try:
                requests += ports.Request.from_spec(b)
            except ValueError as err:
                raise InvalidArgument(str(err)) from None
        exposed = sorted({*(spec.get("exposed") or []), *(c.config.get("exposed_ports") or {}),
                          *(f"{r.container_port}/{r.protocol}" for r in requests)})
        for item in spec.get("extra_hosts") or []:
            try:
                hosts.split_extra_host(item)
            except ValueError as err:
                raise InvalidArgument(str(err)) from None
        mac = spec.get("mac_address") or ""
        endpoints: list[dict[str, Any]] = []
        with self._lock:
            try:
                for i, (net, w) in enumerate(joined):
                    ip = str(self.st.ipam.allocate(net.id, w["ip"] or None))
                    endpoints.append({"network_id": net.id, "network": net.name, "ip": ip, "mac": mac if i == 0 else "",
                                      "aliases": list(w["aliases"]), "requested_ip": bool(w["ip"])})
            except IpamError as err:
                for e in endpoints:
                    self.st.ipam.release(e["network_id"], e["ip"])
                raise _ipam_error(err) from None
            self._save()
        c.host_config["net"] = {
            "endpoints": endpoints,
            "ports": [r.__dict__ for r in requests],
            "publish_all": bool(spec.get("publish_all")),
            "exposed": exposed,
            "dns": list(spec.get("dns") or []),
            "extra_hosts": list(spec.get("extra_hosts") or []),
            "links": links,
        }

    def _check_endpoint_options(self, net: NetworkRecord, aliases: list[str], ip: str) -> None:
        if net.default and aliases:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        if ip and net.default:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if ip and not net.user_subnet:
            raise InvalidArgument("user specified IP address is supported only when connecting to networks "
                                  "with user configured subnets")

    def _resolve_link(self, link: str) -> Container:
        name = link.partition(":")[0]
        if self.get_container is None:
            raise InvalidArgument("links are not available")
        try:
            return self.get_container(name)
        except NotFound:
            raise InvalidArgument(f"could not get container for {name}") from None

    def etc_files(self, c: Container, cdir: Path) -> None:
        cfg = c.host_config.get("net") or {}
        with self._lock:
            eps = [(e, self.st.networks.get(e["network_id"])) for e in cfg.get("endpoints", [])]
        gateway = next((n.gateway for _, n in eps if n is not None), None)
        link_lines = self._default_bridge_links(cfg, eps)
        text = hosts.render_hosts(c.config.get("hostname", c.id[:12]), [e["ip"] for e, _ in eps],
                                  cfg.get("extra_hosts", []), link_lines, host_gateway=gateway)
        (cdir / "hosts").write_text(text)
        embedded = next((n.gateway for _, n in eps if n is not None and n.embedded_dns), None)
        try:
            host_conf = Path(self.resolv_conf).read_text()
        except OSError:
            host_conf = ""
        (cdir / "resolv.conf").write_text(container_resolv_conf(
            embedded=embedded, host_resolv_conf=host_conf, dns=cfg.get("dns", [])))

    def _default_bridge_links(self, cfg: dict[str, Any],
                              eps: list[tuple[dict[str, Any], NetworkRecord | None]]) -> list[tuple[str, list[str]]]:
        default = next((n for _, n in eps if n is not None and n.default), None)
        if default is None or self.get_container is None:
            return []
        out = []
        for link in cfg.get("links", []):
            name, _, alias = link.partition(":")
            try:
                target = self.get_container(name)
            except NotFound:
                continue
            for e in (target.host_config.get("net") or {}).get("endpoints", []):
                if e["network_id"] == default.id:
                    out.append((e["ip"], [alias or name, target.id[:12], target.name]))
        return out

    def attach(self, c: Container, pid: int) -> None:
        cfg = c.host_config.get("net") or {}
        netns = f"/proc/{pid}/ns/net"
        link_targets = {}
        for link in cfg.get("links", []):
            name, _, alias = link.partition(":")
            try:
                link_targets[alias or name] = self._resolve_link(name).id
            except InvalidArgument:
                continue
        with self._lock:
            if c.id in self.st.active:
                self._detach_locked(c.id, sync=False)
            eps = []
            for e in cfg.get("endpoints", []):
                net = self.st.networks.get(e["network_id"])
                if net is None:
                    raise NotFound(f"network {e.get('network', e['network_id'])} not found")
                eps.append((e, net))
            act = Active(container_id=c.id, name=c.name, pid=pid, links=link_targets, dns=list(cfg.get("dns", [])))
            act.ports = self._plan_ports(c, cfg, eps)
            held = {nid for nid, by_svc in self.st.vips.items() for v in by_svc.values() if c.id in v.containers}
            try:
                for i, (e, net) in enumerate(eps):
                    act.endpoints.append(self._plug(c, e, net, netns, f"eth{i}", first=i == self._first_external(eps)))
                self.st.active[c.id] = act
                self._sync()
                self._save()
            except Exception as err:
                self.st.active.pop(c.id, None)
                for _, net in eps:
                    self._unplug(c.id, net.id)
                    if net.id not in held:
                        self._release_vips(c.id, net.id)
                try:
                    self._sync()
                except Exception:  # noqa: BLE001
                    log.exception("restoring rules after a failed attach")
                if isinstance(err, EngineError):
                    raise
                raise Unavailable(f"failed to set up container networking: {err}") from None

    @staticmethod
    def _first_external(eps: list[tuple[dict[str, Any], NetworkRecord]]) -> int:
        return next((i for i, (_, n) in enumerate(eps) if not n.internal), -1)

    def _plan_ports(self, c: Container, cfg: dict[str, Any],
                    eps: list[tuple[dict[str, Any], NetworkRecord]]) -> list[ActivePort]:
        reqs = [ports.Request(**r) for r in cfg.get("ports", [])]
        if not reqs and not cfg.get("publish_all"):
            return []
        first = self._first_external(eps)
        if first < 0:
            return []  # only internal networks: nothing can be published (as Docker)
        taken = ports.keys(p for cid, a in self.st.active.items() if cid != c.id for p in a.ports)
        try:
            return ports.plan_ports(reqs, publish_all=bool(cfg.get("publish_all")),
                                    exposed=ports.parse_exposed(cfg.get("exposed", [])),
                                    container_ip=eps[first][0]["ip"], taken=taken,
                                    next_port=self.st.next_port, probe=self.kernel.port_free)
        except ports.PortAllocated as err:
            raise Conflict(f"driver failed programming external connectivity on endpoint {c.name} "
                           f"({c.id[:12]}): {err}") from None

    def _plug(self, c: Container, e: dict[str, Any], net: NetworkRecord, netns: str, ifname: str,
              first: bool) -> ActiveEndpoint:
        mac = e.get("mac") or mac_for(e["ip"])
        self.kernel.attach(Attachment(container_id=c.id, network=self._bridge(net), container_netns=netns,
                                      ifname=ifname, ip=e["ip"], mac=mac, default_route=first))
        names = [c.name, *e.get("aliases", []), c.id[:12]] if net.embedded_dns else []
        ep = ActiveEndpoint(network_id=net.id, ifname=ifname, ip=e["ip"], mac=mac, names=names)
        task = vips.service_of(c.config.get("labels") or {})
        if task is not None and net.driver == "overlay":
            ep.names = [c.name, c.id[:12]]  # its service's names and aliases come from the manager
        if task is not None and net.embedded_dns and net.driver != "overlay":  # overlay: names from the manager
            ep.service_id = task.service_id
            ep.service_names = vips.service_names(task, e.get("aliases", []))
            if task.vip:
                ep.names = [c.name, c.id[:12]]  # the service's names go to the VIP
                ep.vip = self._hold_vip(net, task, c.id)
        return ep

    def _hold_vip(self, net: NetworkRecord, task: vips.ServiceTask, container_id: str) -> str:
        """The service's VIP on ``net``, allocated from the network's pool for its first task."""
        by_svc = self.st.vips.setdefault(net.id, {})
        v = by_svc.get(task.service_id)
        if v is None:
            try:
                ip = str(self.st.ipam.allocate(net.id))
            except IpamError as err:
                raise _ipam_error(err) from None
            v = by_svc[task.service_id] = VipRecord(ip=ip, service_name=task.service_name)
        if container_id not in v.containers:
            v.containers.append(container_id)
        return v.ip

    def _release_vips(self, container_id: str, network_id: str | None = None) -> bool:
        """``container_id`` no longer holds VIPs (on ``network_id``, or anywhere); free the VIPs nobody
        holds any more. True if one was freed (the caller syncs the kernel)."""
        freed = False
        for nid in [network_id] if network_id else list(self.st.vips):
            for v in vips.drop_holder(self.st.vips.get(nid, {}), container_id):
                self.st.ipam.release(nid, v.ip)
                freed = True
            if not self.st.vips.get(nid, True):
                self.st.vips.pop(nid, None)
        return freed

    def _unplug(self, container_id: str, network_id: str) -> None:
        try:
            self.kernel.detach(container_id, network_id)
        except Exception:  # noqa: BLE001 - the container's namespace may already be gone
            log.debug("detaching %s from %s", container_id[:12], network_id[:12], exc_info=True)

    def detach(self, c: Container) -> None:
        with self._lock:
            self._detach_locked(c.id, sync=True)

    def _detach_locked(self, container_id: str, *, sync: bool) -> None:
        act = self.st.active.pop(container_id, None)
        if act is None:
            return
        for ep in act.endpoints:
            self._unplug(container_id, ep.network_id)
        if sync:
            self._sync()
            self._save()

    def release(self, c: Container) -> None:
        cfg = c.host_config.get("net") or {}
        with self._lock:
            self._detach_locked(c.id, sync=True)
            for e in cfg.get("endpoints", []):
                self.st.ipam.release(e["network_id"], e["ip"])
            if self._release_vips(c.id):
                self._sync()
            self._save()
            if any(self.st.networks.get(e["network_id"]) is not None
                   and self.st.networks[e["network_id"]].driver == "overlay" for e in cfg.get("endpoints", [])):
                self._drop_unserved_overlays()
                self._sync()

    # ================================================================ connect / disconnect
    def connect(self, net_ref: str, container_ref: str, *, aliases: Iterable[str] = (), ip: str = "") -> None:
        c = self._container(container_ref)
        net = self.find(net_ref)
        mode = c.host_config.get("network_mode", "")
        if mode == "host" or net.driver == "host":
            raise Conflict("container cannot be disconnected from host network or connected to host network")
        if mode == "none" or net.driver == "null":
            raise Conflict("container cannot be connected to multiple networks with one of the networks "
                           "in private (none) mode")
        if mode.startswith("container:"):
            raise Conflict("container sharing network namespace with another container or host cannot be "
                           "connected to any other network")
        aliases = [a for a in aliases if a]
        self._check_endpoint_options(net, aliases, ip)
        cfg = c.host_config.setdefault("net", {"endpoints": [], "ports": [], "exposed": []})
        with self._lock:
            if any(e["network_id"] == net.id for e in cfg["endpoints"]):
                raise AlreadyExists(f"endpoint with name {c.name} already exists in network {net.name}")
            try:
                addr = str(self.st.ipam.allocate(net.id, ip or None))
            except IpamError as err:
                raise _ipam_error(err) from None
            e = {"network_id": net.id, "network": net.name, "ip": addr, "mac": "", "aliases": aliases,
                 "requested_ip": bool(ip)}
            act = self.st.active.get(c.id) if c.running else None
            if act is not None:
                used = {ep.ifname for ep in act.endpoints}
                ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
                try:
                    ep = self._plug(c, e, net, f"/proc/{act.pid}/ns/net", ifname, first=False)
                    act.endpoints.append(ep)
                    self._sync()
                except Exception as err:
                    act.endpoints = [x for x in act.endpoints if x.network_id != net.id]
                    self._unplug(c.id, net.id)
                    self.st.ipam.release(net.id, addr)
                    self._release_vips(c.id, net.id)
                    self._sync()
                    raise Unavailable(f"failed to connect {c.name} to {net.name}: {err}") from None
            cfg["endpoints"].append(e)
            self._save()
        self._save_container(c)

    def disconnect(self, net_ref: str, container_ref: str, *, force: bool = False) -> None:
        c = self._container(container_ref)
        net = self.find(net_ref)
        if net.driver == "host":
            raise Conflict("container cannot be disconnected from host network or connected to host network")
        cfg = c.host_config.get("net") or {}
        with self._lock:
            e = next((x for x in cfg.get("endpoints", []) if x["network_id"] == net.id), None)
            if e is None:
                raise Conflict(f"container {c.id} is not connected to network {net.name}")
            act = self.st.active.get(c.id) if c.running else None
            if act is not None:
                self._unplug(c.id, net.id)
                act.endpoints = [x for x in act.endpoints if x.network_id != net.id]
                remaining = [x for x in act.endpoints if not self.st.networks[x.network_id].internal]
                for p in act.ports:
                    if p.container_ip == e["ip"]:
                        p.container_ip = remaining[0].ip if remaining else ""
                act.ports = [p for p in act.ports if p.container_ip]
                self._sync()
            cfg["endpoints"] = [x for x in cfg["endpoints"] if x["network_id"] != net.id]
            self.st.ipam.release(net.id, e["ip"])
            if self._release_vips(c.id, net.id):
                self._sync()
            self._save()
        self._save_container(c)

    def _container(self, ref: str) -> Container:
        if self.get_container is None:
            raise Unavailable("the network manager is not bound to an engine")
        return self.get_container(ref)

    def _save_container(self, c: Container) -> None:
        if self.save_container is not None:
            self.save_container(c)

    # ================================================================ kernel sync
    def _bridge(self, net: NetworkRecord) -> BridgeNetwork:
        return BridgeNetwork(network_id=net.id, bridge=net.bridge, subnet=net.subnet, gateway=net.gateway,
                             mtu=net.mtu or self._mtu or 1500, internal=net.internal, masquerade=net.masquerade)

    def _listen(self, net: NetworkRecord) -> None:
        if net.embedded_dns:
            self.kernel.dns_listen(net.gateway)

    def _sync(self) -> None:
        """Make nft and the DNS tables match ``self.st`` (bridges and veths are handled by callers)."""
        nets = [n for n in self.st.networks.values() if n.has_bridge]
        rules = [NetworkRules(bridge=n.bridge, subnet=n.subnet, internal=n.internal, masquerade=n.masquerade,
                              snat_to=self._overlays[n.id].lb if n.id in self._overlays else "")
                 for n in nets]
        mappings = [PortMapping(protocol=p.protocol, host_port=p.host_port, container_ip=p.container_ip,  # type: ignore[arg-type]
                                container_port=p.container_port,
                                host_ip=None if p.host_ip == ports.ANY else p.host_ip,
                                host_port_end=p.host_port_end or None)
                    for a in self.st.active.values() for p in a.ports]
        service_vips = []
        for n in nets:
            held = self.st.vips.get(n.id, {})
            eps = [e for a in self.st.active.values() for e in a.endpoints if e.network_id == n.id]
            service_vips += [ServiceVip(bridge=n.bridge, vip=v.ip, backends=vips.backends(sid, eps))
                             for sid, v in sorted(held.items())]
            cluster_vips = self._overlays[n.id].vips if n.id in self._overlays else []
            service_vips += cluster_vips
            self.kernel.set_vip_addresses(n.bridge, [v.ip for v in held.values()] + [v.vip for v in cluster_vips])
        if self._mesh:
            self.kernel.apply_rules(rules, mappings, service_vips, self._mesh)
        else:  # the three-argument form kernels (and test fakes) without a routing mesh implement
            self.kernel.apply_rules(rules, mappings, service_vips)
        self._sync_dns(nets)

    def _sync_dns(self, nets: list[NetworkRecord]) -> None:
        eps_of: dict[str, list[ActiveEndpoint]] = {n.id: [] for n in nets if n.embedded_dns}
        ips_of: dict[str, dict[str, str]] = {}  # container id -> network id -> ip
        for a in self.st.active.values():
            for e in a.endpoints:
                ips_of.setdefault(a.container_id, {})[e.network_id] = e.ip
                if e.network_id in eps_of:
                    eps_of[e.network_id].append(e)
        by_net = {nid: vips.records(eps) for nid, eps in eps_of.items()}
        for nid, ov in self._overlays.items():  # overlay networks: every task's names, from the manager
            for name, ips in ov.records.items():
                if nid in by_net:
                    by_net[nid].setdefault(name, []).extend(ip for ip in ips if ip not in by_net[nid][name])
        for n in nets:
            if n.embedded_dns:
                self.kernel.dns_set_records(n.id, by_net[n.id], subnet=n.subnet, internal=n.internal)
        clients: set[str] = set()
        views_now: set[str] = set()
        for a in self.st.active.values():
            own = [e.network_id for e in a.endpoints if e.network_id in by_net]
            if not own:
                continue
            view = list(own)
            if a.links:
                vid = f"links/{a.container_id}"
                records = {alias: [ip for nid, ip in ips_of.get(target, {}).items() if nid in own]
                           for alias, target in a.links.items()}
                records = {k: v for k, v in records.items() if v}
                self.kernel.dns_set_records(vid, records, subnet=None, internal=False)
                views_now.add(vid)
                view.append(vid)
            upstreams = [(s, 53) for s in a.dns if _is_ipv4(s)]
            for e in a.endpoints:
                self.kernel.dns_set_client(e.ip, view, upstreams)
                clients.add(e.ip)
        for ip in self._dns_clients - clients:
            self.kernel.dns_remove_client(ip)
        for vid in self._dns_views - views_now:
            self.kernel.dns_remove_network(vid)
        self._dns_clients, self._dns_views = clients, views_now

    def _collect_garbage(self, gone: Iterable[Active]) -> None:
        """Delete the host veths of attachments whose containers died while we were not looking.

        Only links this daemon recorded are candidates: a prefix scan (``bridge.collect_garbage``) would
        also delete the links of another daemon sharing the namespace (tests, benchmarks).
        """
        for act in gone:
            for e in act.endpoints:
                self._unplug(act.container_id, e.network_id)

    def _save(self) -> None:
        save(self.path, self.st)


@dataclass
class _Overlay:
    """What the manager's NetworkState says about one overlay network this node serves."""

    vni: int
    lb: str  # this node's own address on the network ("" until the manager allocated it)
    records: dict[str, list[str]] = field(default_factory=dict)
    vips: list[ServiceVip] = field(default_factory=list)


def _task_networks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A service task's networks in order (``vips.LABEL_NETWORKS``), or [] for a plain container."""
    text = (spec.get("labels") or {}).get(vips.LABEL_NETWORKS, "")
    if not text:
        return []
    try:
        items = json.loads(text)
        return [{"network": str(i["network"]), "ip": str(i.get("ip") or ""),
                 "aliases": [str(a) for a in i.get("aliases") or [] if a]} for i in items]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f"invalid {vips.LABEL_NETWORKS} label: {text!r}") from None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/ns/net").exists()
    except OSError:
        return False


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _empty_endpoint(network_id: str) -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": network_id,
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def _epoch(rfc3339: str) -> float:
    import calendar

    try:
        return calendar.timegm(time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0


def _label_match(labels: dict[str, str], selector: str) -> bool:
    key, sep, value = selector.partition("=")
    return key in labels and (not sep or labels[key] == value)


def engine_binding(engine: Any) -> tuple[Callable[[str], Container], Callable[[Container], None]]:
    """(lookup, writer) for ``NetworkManager.bind`` from an ``agent.runtime.engine.Engine``.

    The writer persists a container record changed by ``connect``/``disconnect`` the same way the
    engine does (atomic rewrite of ``<state>/containers/<id>/container.json``), unless it was removed.
    """
    from agent.runtime.container import save as save_record

    def write(c: Container) -> None:
        cdir = engine.cdir_root / c.id
        if c.id in engine.containers and cdir.is_dir():
            save_record(cdir, c)

    return engine.get, write
