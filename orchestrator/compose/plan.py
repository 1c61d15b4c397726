"""From a loaded compose project to what `orch up` must change (pure: decide, then do).

:func:`desired_state` turns a :class:`Project` into Docker-shaped ServiceSpec documents - exactly the
JSON `orch service create` sends to the ControlAPI - plus the networks and volumes the project needs.
:func:`plan` compares that with what the cluster holds and sorts every service into one bucket
(create, update, recreate, scale, noop, remove), like compose's ConvergencePlan. Nothing here talks to a
daemon, so every rule is unit-tested; ``deploy.py`` carries the plan out.

Networking, as `docker stack deploy`: a compose network without a driver, or with ``driver: overlay``,
is a cluster overlay network named ``<project>_<net>`` (created through the ControlAPI with the compose
labels, ``internal`` and ``attachable`` as declared), so the project's tasks reach each other by name
whichever nodes they land on; ``driver: bridge`` keeps a node-local bridge on the node the CLI talks
to, as before, which only suits a single node. ``external: true`` networks are looked up among the
cluster's networks and the node's. A service on several networks joins all of them, in file order
(``eth0``, ``eth1``, ...), with the compose service name, ``<project>_<service>`` and the aliases given
for that network as its names there; a service resolves only on the networks it shares with the
caller. Names resolve to the service's virtual IP, balanced by nftables over the replicas (Docker's
default ``endpoint_mode: vip``), or to every replica's address with ``endpoint_mode: dnsrr`` (DNS round
robin); ``tasks.api`` resolves to the replicas either way. Published ports go to the routing mesh
(``mode: ingress``, the default): every node accepts them and balances over the replicas, so any
number of replicas may publish one; ``mode: host`` ports are the task's node's own, as in Docker.

Re-running `up` updates only the services whose spec hash (label ``com.docker.compose.config-hash``)
changed, through UpdateService, so their tasks are rolled per ``deploy.update_config`` (a mode change
replicated <-> global cannot be an update: that service is removed and created again). The hash leaves
out the replica count, which is applied by scaling without a restart. A service with ``build:`` runs
the image it names (or compose's ``<project>-<service>`` tag), which must already exist: no builds yet.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import ComposeError
from .models import Project, ServiceConfig
from .support import unsupported_keys
from .validate import check_port_conflicts, start_order

NS = 1_000_000_000
LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_STACK = "com.docker.stack.namespace"
LABEL_IMAGE = "com.docker.stack.image"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_FILES = "com.docker.compose.project.config_files"
LABEL_WORKDIR = "com.docker.compose.project.working_dir"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"

SUPPORTED = frozenset({
    "image", "command", "entrypoint", "environment", "labels", "volumes", "networks", "ports", "healthcheck",
    "deploy", "depends_on", "scale", "working_dir", "user", "hostname", "init", "read_only", "stop_signal",
    "stop_grace_period", "restart", "mem_limit", "cpus", "tty", "expose", "stdin_open", "pull_policy", "build",
})
_RESTART = {"no": "none", "always": "any", "unless-stopped": "any", "on-failure": "on-failure"}


@dataclass
class DesiredService:
    """One compose service as the ControlAPI will store it."""

    service: str  # the compose name ("web")
    name: str  # the cluster name ("proj_web")
    doc: dict[str, Any]  # Docker's ServiceSpec JSON, labels include the config hash
    config_hash: str
    global_mode: bool
    replicas: int
    healthcheck: bool
    build: bool = False  # the file says how to build the image: it must exist already (no builds yet)

    @property
    def image(self) -> str:
        return str(self.doc["TaskTemplate"]["ContainerSpec"]["Image"])


@dataclass
class DesiredState:
    project: str
    services: dict[str, DesiredService]  # by compose service name
    # network name -> {labels, internal, attachable, external, driver ("overlay": cluster, "bridge": node)}
    networks: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]  # cluster volume name -> {labels, external}
    order: list[list[str]]  # start batches (compose names)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Every selected service lands in exactly one of create/recreate/scale/noop; orphans in remove."""

    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)  # spec changed: UpdateService rolls the tasks
    recreate: list[str] = field(default_factory=list)  # mode changed (replicated <-> global): rm + create
    scale: dict[str, int] = field(default_factory=dict)
    noop: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # cluster names of orphan services
    orphans: list[str] = field(default_factory=list)  # orphans kept (no --remove-orphans)
    networks: list[str] = field(default_factory=list)  # to create
    volumes: list[str] = field(default_factory=list)  # to create

    def changes(self) -> bool:
        return bool(self.create or self.update or self.recreate or self.scale or self.remove or self.networks or self.volumes)


def config_hash(doc: dict[str, Any]) -> str:
    """sha256 of the spec without the replica count (scaling never restarts tasks)."""
    body = json.loads(json.dumps(doc))
    for label in (LABEL_HASH, LABEL_FILES, LABEL_WORKDIR):
        body.get("Labels", {}).pop(label, None)
    if "Replicated" in body.get("Mode", {}):
        body["Mode"] = {"Replicated": {}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def network_name(project: Project, net: str) -> str:
    cfg = project.networks.get(net)
    if cfg is not None and cfg.name:
        return cfg.name
    return f"{project.name}_{net}"


def volume_name(project: Project, vol: str) -> str:
    cfg = project.volumes.get(vol)
    if cfg is not None and cfg.name:
        return cfg.name
    return f"{project.name}_{vol}"


def _where(svc: str, key: str) -> str:
    return f"services.{svc}.{key}"


def _restart_policy(name: str, cfg: ServiceConfig) -> dict[str, Any]:
    rp = cfg.deploy.restart_policy if cfg.deploy is not None else None
    if rp is not None:
        doc: dict[str, Any] = {"Condition": rp.condition or "any"}
        if rp.delay is not None:
            doc["Delay"] = int(rp.delay)
        if rp.max_attempts is not None:
            doc["MaxAttempts"] = rp.max_attempts
        if rp.window is not None:
            doc["Window"] = int(rp.window)
        return doc
    restart = (cfg.restart or "always").split(":", 1)[0]
    if restart not in _RESTART:
        raise ComposeError(f"{_where(name, 'restart')}: invalid restart policy {cfg.restart!r}")
    return {"Condition": _RESTART[restart], "Delay": int(0.1 * NS)}


def _mounts(project: Project, name: str, cfg: ServiceConfig) -> list[dict[str, Any]]:
    mounts = []
    for i, v in enumerate(cfg.volumes or ()):
        where = f"{_where(name, 'volumes')}[{i}]"
        if v.type == "volume":
            source = volume_name(project, v.source) if v.source else ""
            mounts.append({"Type": "volume", **({"Source": source} if source else {}), "Target": v.target})
        elif v.type == "bind":
            mounts.append({"Type": "bind", "Source": v.source, "Target": v.target})
        elif v.type == "tmpfs":
            mounts.append({"Type": "tmpfs", "Target": v.target})
        else:
            raise ComposeError(f"{where}: volume type {v.type!r} is not supported by orch up yet")
        if v.read_only:
            mounts[-1]["ReadOnly"] = True
    return mounts


def _ports(name: str, cfg: ServiceConfig, replicated: int | None) -> list[dict[str, Any]]:
    ports = []
    for i, p in enumerate(cfg.ports or ()):
        where = f"{_where(name, 'ports')}[{i}]"
        published = p.published or ""
        if "-" in published:
            raise ComposeError(f"{where}: published port ranges are not supported by orch up yet")
        if p.host_ip and p.host_ip not in ("0.0.0.0", "::"):
            raise ComposeError(f"{where}: host_ip is not supported by orch up yet")
        mode = "host" if p.mode == "host" else "ingress"  # the routing mesh, as `docker stack deploy`
        ports.append({"Protocol": p.protocol or "tcp", "TargetPort": p.target,
                      "PublishedPort": int(published or 0), "PublishMode": mode})
    return ports


def _update_configs(name: str, deploy: Any) -> dict[str, Any]:
    """``deploy.update_config``/``rollback_config`` as Docker's UpdateConfig/RollbackConfig (defaults left out)."""
    out: dict[str, Any] = {}
    for key, doc_key in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        cfg = getattr(deploy, key, None) if deploy is not None else None
        if cfg is None:
            continue
        allowed = {"failure_action": ("pause", "continue", "rollback"), "order": ("stop-first", "start-first")}
        for attr, values in allowed.items():
            if getattr(cfg, attr) is not None and getattr(cfg, attr) not in values:
                raise ComposeError(f"{_where(name, f'deploy.{key}.{attr}')}: {getattr(cfg, attr)!r} is not one of "
                                   + ", ".join(values))
        doc: dict[str, Any] = {}
        for attr, field_name in (("parallelism", "Parallelism"), ("failure_action", "FailureAction"),
                                 ("max_failure_ratio", "MaxFailureRatio"), ("order", "Order")):
            if getattr(cfg, attr) is not None:
                doc[field_name] = getattr(cfg, attr)
        for attr, field_name in (("delay", "Delay"), ("monitor", "Monitor")):
            if getattr(cfg, attr) is not None:
                doc[field_name] = int(getattr(cfg, attr))
        out[doc_key] = doc
    return out


def _healthcheck(cfg: ServiceConfig) -> dict[str, Any] | None:
    hc = cfg.healthcheck
    if hc is None:
        return None
    if hc.disable:
        return {"Test": ["NONE"]}
    if not hc.test:
        return None
    doc: dict[str, Any] = {"Test": list(hc.test)}
    for key, value in (("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.start_period)):
        if value is not None:
            doc[key] = int(value)
    if hc.retries is not None:
        doc["Retries"] = hc.retries
    return doc


def _resources(cfg: ServiceConfig) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    reservations: dict[str, Any] = {}
    res = cfg.deploy.resources if cfg.deploy is not None else None
    if res is not None and res.limits is not None:
        if res.limits.cpus:
            limits["NanoCPUs"] = int(res.limits.cpus * NS)
        if res.limits.memory:
            limits["MemoryBytes"] = int(res.limits.memory)
    if res is not None and res.reservations is not None:
        if res.reservations.cpus:
            reservations["NanoCPUs"] = int(res.reservations.cpus * NS)
        if res.reservations.memory:
            reservations["MemoryBytes"] = int(res.reservations.memory)
    if cfg.cpus and "NanoCPUs" not in limits:
        limits["NanoCPUs"] = int(cfg.cpus * NS)
    if cfg.mem_limit and "MemoryBytes" not in limits:
        limits["MemoryBytes"] = int(cfg.mem_limit)
    return {"Limits": limits, "Reservations": reservations}


def service_doc(project: Project, name: str, cfg: ServiceConfig, replicas: int) -> tuple[dict[str, Any], list[str]]:
    """Docker's ServiceSpec JSON for one compose service (without the hash label) and warnings."""
    warnings: list[str] = []
    if not cfg.image and cfg.build is None:
        raise ComposeError(f"{_where(name, 'image')}: an image is required (builds are not supported yet)")
    image = cfg.image or f"{project.name}-{name}"  # the tag compose gives a built image
    deploy = cfg.deploy
    global_mode = deploy is not None and deploy.mode == "global"
    if deploy is not None and deploy.mode not in (None, "replicated", "global"):
        raise ComposeError(f"{_where(name, 'deploy.mode')}: {deploy.mode!r} is not supported (replicated or global)")
    compose_labels = {LABEL_PROJECT: project.name, LABEL_SERVICE: name}
    container: dict[str, Any] = {"Image": image, "Labels": {**(cfg.labels or {}), **compose_labels}}
    if cfg.entrypoint is not None:
        container["Command"] = list(cfg.entrypoint)
    if cfg.command is not None:
        container["Args"] = list(cfg.command)
    env = [f"{k}={v}" for k, v in sorted((cfg.environment or {}).items()) if v is not None]
    if env:
        container["Env"] = env
    mounts = _mounts(project, name, cfg)
    if mounts:
        container["Mounts"] = mounts
    for key, attr in (("Dir", "working_dir"), ("User", "user"), ("Hostname", "hostname"),
                      ("StopSignal", "stop_signal")):
        if getattr(cfg, attr):
            container[key] = getattr(cfg, attr)
    if cfg.init:
        container["Init"] = True
    if cfg.read_only:
        container["ReadOnly"] = True
    container["StopGracePeriod"] = int(cfg.stop_grace_period) if cfg.stop_grace_period is not None else 10 * NS
    hc = _healthcheck(cfg)
    if hc is not None:
        container["Healthcheck"] = hc
    nets = cfg.networks if cfg.networks else ({"default": None} if cfg.network_mode is None else {})
    networks = [{"Target": network_name(project, net),
                 "Aliases": [name, f"{project.name}_{name}", *((opts.aliases or []) if opts else [])]}
                for net, opts in nets.items()]
    placement: dict[str, Any] = {}
    if deploy is not None and deploy.placement is not None:
        pl = deploy.placement
        if pl.constraints:
            placement["Constraints"] = list(pl.constraints)
        if pl.preferences:
            placement["Preferences"] = [{"Spread": {"SpreadDescriptor": p.spread}} for p in pl.preferences if p.spread]
        if pl.max_replicas_per_node:
            placement["MaxReplicas"] = pl.max_replicas_per_node
    endpoint_mode = (deploy.endpoint_mode if deploy is not None else None) or "vip"
    ports = _ports(name, cfg, None if global_mode else replicas)
    doc: dict[str, Any] = {
        "Name": f"{project.name}_{name}",
        "Labels": {**((deploy.labels or {}) if deploy is not None else {}), **compose_labels,
                   LABEL_STACK: project.name, LABEL_IMAGE: image,
                   LABEL_FILES: ",".join(project.compose_files), LABEL_WORKDIR: project.working_dir},
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": _resources(cfg),
            "RestartPolicy": _restart_policy(name, cfg),
            "Placement": placement,
            **({"Networks": networks} if networks else {}),
        },
        "Mode": {"Global": {}} if global_mode else {"Replicated": {"Replicas": replicas}},
        **_update_configs(name, deploy),
        "EndpointSpec": {"Mode": endpoint_mode, **({"Ports": ports} if ports else {})},
    }
    return doc, warnings


def desired_state(project: Project, scale: dict[str, int] | None = None,
                  selected: list[str] | None = None) -> DesiredState:
    """Validate everything `up` needs and build the desired documents; raises :class:`ComposeError`."""
    scale = scale or {}
    for svc in scale:
        if svc not in project.services:
            raise ComposeError(f"--scale: no such service: {svc}")
    for svc in selected or ():
        if svc not in project.services:
            raise ComposeError(f"no such service: {svc}")
    bad = unsupported_keys(project, SUPPORTED)
    if bad:
        raise ComposeError(f"{bad[0]}: not supported by orch up yet" + (f" (also: {', '.join(bad[1:])})" if bad[1:] else ""))
    check_port_conflicts(project)
    order = start_order(project)
    names = set(project.services)
    if selected:
        names = set()
        todo = list(selected)
        while todo:
            s = todo.pop()
            if s not in names:
                names.add(s)
                todo.extend(d for d, dep in (project.services[s].depends_on or {}).items()
                            if dep.required and d in project.services)
    services: dict[str, DesiredService] = {}
    warnings = list(project.warnings)
    used_nets: set[str] = set()
    used_vols: set[str] = set()
    for name in sorted(names):
        cfg = project.services[name]
        replicas = scale.get(name, cfg.replicas())
        doc, warn = service_doc(project, name, cfg, replicas)
        warnings += warn
        h = config_hash(doc)
        doc["Labels"][LABEL_HASH] = h
        for n in doc["TaskTemplate"].get("Networks", ()):
            used_nets.add(n["Target"])
        for v in cfg.volumes or ():
            if v.type == "volume" and v.source:
                used_vols.add(v.source)
        services[name] = DesiredService(service=name, name=doc["Name"], doc=doc, config_hash=h,
                                        global_mode="Global" in doc["Mode"], replicas=replicas,
                                        healthcheck=bool(cfg.healthcheck and cfg.healthcheck.test
                                                         and not cfg.healthcheck.disable),
                                        build=cfg.build is not None)
    networks: dict[str, dict[str, Any]] = {}
    for net, ncfg in sorted(project.networks.items()):
        full = network_name(project, net)
        if full not in used_nets:
            continue
        driver = ncfg.driver or "overlay"
        if driver not in ("bridge", "overlay"):
            raise ComposeError(f"networks.{net}.driver: {driver!r} is not supported (overlay or bridge)")
        networks[full] = {"labels": {**(ncfg.labels or {}), LABEL_PROJECT: project.name, LABEL_NETWORK: net,
                                     LABEL_STACK: project.name},
                          "internal": bool(ncfg.internal), "attachable": bool(ncfg.attachable),
                          "external": bool(ncfg.external), "driver": driver}
    for full in sorted(used_nets - set(networks)):  # the implicit default network
        net = full[len(project.name) + 1:]
        networks[full] = {"labels": {LABEL_PROJECT: project.name, LABEL_NETWORK: net, LABEL_STACK: project.name},
                          "internal": False, "attachable": False, "external": False, "driver": "overlay"}
    volumes: dict[str, dict[str, Any]] = {}
    for vol in sorted(used_vols):
        vcfg = project.volumes.get(vol)
        if vcfg is None:
            raise ComposeError(f"service volume refers to undefined volume {vol}")
        volumes[volume_name(project, vol)] = {
            "labels": {**(vcfg.labels or {}), LABEL_PROJECT: project.name, LABEL_VOLUME: vol,
                       LABEL_STACK: project.name},
            "external": bool(vcfg.external)}
    batches = [[s for s in batch if s in names] for batch in order]
    return DesiredState(project=project.name, services=services, networks=networks, volumes=volumes,
                        order=[b for b in batches if b], warnings=warnings)


def plan(desired: DesiredState, existing: dict[str, dict[str, Any]], networks: set[str], volumes: set[str], *,
         force_recreate: bool = False, no_recreate: bool = False, remove_orphans: bool = False,
         all_services: set[str] | None = None) -> Plan:
    """Compare the desired services with ``existing`` (cluster name -> service document).

    ``all_services`` are every compose service name of the project (selected or not): a service of the
    project that is merely not selected is not an orphan.
    """
    if force_recreate and no_recreate:
        raise ComposeError("--force-recreate and --no-recreate are incompatible")
    p = Plan()
    for name, want in sorted(desired.services.items()):
        have = existing.get(want.name)
        if have is None:
            p.create.append(name)
            continue
        spec = have.get("Spec") or {}
        same = (spec.get("Labels") or {}).get(LABEL_HASH) == want.config_hash
        if force_recreate or (not same and not no_recreate):
            mode_changed = ("Global" in (spec.get("Mode") or {})) != want.global_mode
            (p.recreate if mode_changed else p.update).append(name)
            continue
        current = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
        if not want.global_mode and current is not None and current != want.replicas:
            p.scale[name] = want.replicas
        else:
            p.noop.append(name)
    known = {f"{desired.project}_{s}" for s in (all_services or set(desired.services))}
    for full in sorted(existing):
        if full not in known:
            (p.remove if remove_orphans else p.orphans).append(full)
    for net, cfg in desired.networks.items():
        if net not in networks:
            if cfg["external"]:
                raise ComposeError(f"network {net} declared as external, but could not be found")
            p.networks.append(net)
    for vol, cfg in desired.volumes.items():
        if vol not in volumes:
            if cfg["external"]:
                raise ComposeError(f"external volume {vol!r} not found")
            p.volumes.append(vol)
    return p


def command_text(doc: dict[str, Any]) -> str:
    c = doc.get("TaskTemplate", {}).get("ContainerSpec", {})
    return shlex.join([*(c.get("Command") or []), *(c.get("Args") or [])])
