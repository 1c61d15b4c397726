"""Conversions between the manager's model and Docker's JSON shapes (the ControlAPI documents).

Everything that knows Docker's field names for swarm objects lives here, in one place: the ControlAPI
hands these documents to the CLI, which renders tables and ``--format`` templates from them, and the
CLI sends service specs in the same shape, so ``service inspect`` output is valid input again.
Durations are nanoseconds in Docker's JSON and seconds in the model; sizes are bytes in both.

What it does not do: validate semantics (constraints, names) - that is ``orchestrator.api.control``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import InvalidArgument
from orchestrator.model import (
    Cluster,
    ContainerSpec,
    EndpointSpec,
    HealthCheck,
    Mount,
    Network,
    NetworkAttachmentConfig,
    Node,
    Placement,
    PlacementPreference,
    PortConfig,
    ResourceRequirements,
    Resources,
    RestartPolicy,
    Service,
    ServiceSpec,
    Task,
    TaskSpec,
    UpdateConfig,
    UpdateStatus,
)

NS = 1_000_000_000
ENGINE_VERSION = "0.1.0"


def timestamp(epoch: float) -> str:
    """RFC 3339 with nanoseconds and a ``Z``, as Docker's API prints times."""
    if epoch <= 0:
        return "0001-01-01T00:00:00Z"
    whole = int(epoch)
    nanos = int(round((epoch - whole) * NS))
    if nanos >= NS:
        whole, nanos = whole + 1, nanos - NS
    base = _dt.datetime.fromtimestamp(whole, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def _ns(seconds: float) -> int:
    return int(round(seconds * NS))


def _seconds(value: Any, key: str) -> float:
    if value is None:
        return 0.0
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidArgument(f"invalid service spec: {key} must be a number of nanoseconds")
    return float(value) / NS


# ---------------------------------------------------------------------------------- specs


def _resources_doc(r: Resources) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if r.nano_cpus:
        doc["NanoCPUs"] = r.nano_cpus
    if r.memory_bytes:
        doc["MemoryBytes"] = r.memory_bytes
    return doc


def _resources(doc: Any) -> Resources:
    doc = doc or {}
    return Resources(nano_cpus=int(doc.get("NanoCPUs") or 0), memory_bytes=int(doc.get("MemoryBytes") or 0))


def task_spec_doc(spec: TaskSpec) -> dict[str, Any]:
    c = spec.container
    container: dict[str, Any] = {"Image": c.image}
    if c.labels:
        container["Labels"] = dict(c.labels)
    if c.command:
        container["Command"] = list(c.command)
    if c.args:
        container["Args"] = list(c.args)
    if c.hostname:
        container["Hostname"] = c.hostname
    if c.env:
        container["Env"] = list(c.env)
    if c.workdir:
        container["Dir"] = c.workdir
    if c.user:
        container["User"] = c.user
    if c.init:
        container["Init"] = True
    if c.read_only:
        container["ReadOnly"] = True
    if c.mounts:
        container["Mounts"] = [
            {"Type": m.type, **({"Source": m.source} if m.source else {}), "Target": m.target,
             **({"ReadOnly": True} if m.read_only else {})}
            for m in c.mounts
        ]
    if c.stop_signal and c.stop_signal != "SIGTERM":
        container["StopSignal"] = c.stop_signal
    container["StopGracePeriod"] = _ns(c.stop_grace_period)
    if c.healthcheck is not None:
        hc = c.healthcheck
        container["Healthcheck"] = {"Test": list(hc.test), "Interval": _ns(hc.interval), "Timeout": _ns(hc.timeout),
                                    "Retries": hc.retries, "StartPeriod": _ns(hc.start_period)}
    container["Isolation"] = "default"
    p = spec.placement
    placement: dict[str, Any] = {}
    if p.constraints:
        placement["Constraints"] = list(p.constraints)
    if p.preferences:
        placement["Preferences"] = [{"Spread": {"SpreadDescriptor": pref.spread}} for pref in p.preferences]
    if p.max_replicas_per_node:
        placement["MaxReplicas"] = p.max_replicas_per_node
    rp = spec.restart_policy
    networks = {"Networks": [{"Target": n.target, **({"Aliases": list(n.aliases)} if n.aliases else {})}
                             for n in spec.networks]} if spec.networks else {}
    return {
        "ContainerSpec": container,
        **networks,
        "Resources": {"Limits": _resources_doc(spec.resources.limits),
                      "Reservations": _resources_doc(spec.resources.reservations)},
        "RestartPolicy": {"Condition": rp.condition, "Delay": _ns(rp.delay), "MaxAttempts": rp.max_attempts,
                          **({"Window": _ns(rp.window)} if rp.window else {})},
        "Placement": placement,
        "ForceUpdate": spec.force_update,
        "Runtime": "container",
    }


def service_spec_doc(spec: ServiceSpec) -> dict[str, Any]:
    mode: dict[str, Any] = {"Global": {}} if spec.mode == "global" else {"Replicated": {"Replicas": spec.replicas}}
    return {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": task_spec_doc(spec.task),
        "Mode": mode,
        "UpdateConfig": update_config_doc(spec.update_config),
        "RollbackConfig": update_config_doc(spec.rollback_config),
        "EndpointSpec": endpoint_spec_doc(spec.task.endpoint),
    }


def update_config_doc(cfg: UpdateConfig) -> dict[str, Any]:
    return {"Parallelism": cfg.parallelism, "Delay": _ns(cfg.delay), "FailureAction": cfg.failure_action,
            "Monitor": _ns(cfg.monitor), "MaxFailureRatio": cfg.max_failure_ratio, "Order": cfg.order}


def _update_config(doc: Any, key: str) -> UpdateConfig:
    """Docker's UpdateConfig/RollbackConfig; missing keys keep Docker's defaults."""
    if doc is None:
        return UpdateConfig()
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid service spec: {key} must be an object")
    parallelism = doc.get("Parallelism", 1)
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 0:
        raise InvalidArgument(f"invalid service spec: {key}.Parallelism must be a number >= 0")
    action = str(doc.get("FailureAction") or "pause")
    if action not in ("pause", "continue", "rollback"):
        raise InvalidArgument(f"invalid {key} failure action {action!r}: use pause, continue or rollback")
    order = str(doc.get("Order") or "stop-first")
    if order not in ("stop-first", "start-first"):
        raise InvalidArgument(f"invalid {key} order {order!r}: use stop-first or start-first")
    ratio = doc.get("MaxFailureRatio") or 0.0
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio <= 1:
        raise InvalidArgument(f"invalid service spec: {key}.MaxFailureRatio must be between 0 and 1")
    return UpdateConfig(parallelism=parallelism, delay=_seconds(doc.get("Delay"), f"{key}.Delay"),
                        failure_action=action, order=order,  # type: ignore[arg-type]
                        monitor=_seconds(doc.get("Monitor"), f"{key}.Monitor") if doc.get("Monitor") else 5.0,
                        max_failure_ratio=float(ratio))


def update_status_doc(status: UpdateStatus) -> dict[str, Any]:
    doc: dict[str, Any] = {"State": status.state, "StartedAt": timestamp(status.started_at)}
    if status.completed_at:
        doc["CompletedAt"] = timestamp(status.completed_at)
    doc["Message"] = status.message
    return doc


def endpoint_spec_doc(endpoint: EndpointSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"Mode": endpoint.mode}
    if endpoint.ports:
        doc["Ports"] = [{**({"Name": p.name} if p.name else {}), "Protocol": p.protocol, "TargetPort": p.target_port,
                         "PublishedPort": p.published_port, "PublishMode": p.publish_mode} for p in endpoint.ports]
    return doc


def endpoint_doc(svc: Service, subnets: Mapping[str, str]) -> dict[str, Any]:
    """Swarm's ``Endpoint``: the spec, the ports as allocated (published ports filled in) and the VIPs."""
    doc: dict[str, Any] = {"Spec": endpoint_spec_doc(svc.spec.task.endpoint)}
    ep = svc.endpoint
    if ep is None:
        return doc
    if ep.ports:
        doc["Ports"] = endpoint_spec_doc(EndpointSpec(ports=ep.ports))["Ports"]
    if ep.virtual_ips:
        doc["VirtualIPs"] = [{"NetworkID": v.network_id,
                              "Addr": f"{v.addr}/{subnets[v.network_id].rpartition('/')[2]}"
                              if "/" in subnets.get(v.network_id, "") else v.addr} for v in ep.virtual_ips]
    return doc


def _healthcheck(doc: Any) -> HealthCheck | None:
    if not doc:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid service spec: Healthcheck must be an object")
    return HealthCheck(test=_str_list(doc.get("Test"), "Healthcheck.Test"),
                       interval=_seconds(doc.get("Interval"), "Healthcheck.Interval") if doc.get("Interval") else 30.0,
                       timeout=_seconds(doc.get("Timeout"), "Healthcheck.Timeout") if doc.get("Timeout") else 30.0,
                       retries=int(doc.get("Retries") or 3),
                       start_period=_seconds(doc.get("StartPeriod"), "Healthcheck.StartPeriod"))


def _networks(doc: Any) -> list[NetworkAttachmentConfig]:
    out = []
    for n in doc or []:
        if not isinstance(n, dict) or not isinstance(n.get("Target"), str) or not n["Target"]:
            raise InvalidArgument("invalid service spec: every network attachment needs a Target")
        out.append(NetworkAttachmentConfig(target=n["Target"], aliases=_str_list(n.get("Aliases"), "Aliases")))
    return out


def _endpoint(doc: Any) -> EndpointSpec:
    doc = doc or {}
    mode = str(doc.get("Mode") or "vip")
    if mode not in ("vip", "dnsrr"):
        raise InvalidArgument(f"invalid endpoint mode {mode!r}: use vip or dnsrr")
    ports = []
    for p in doc.get("Ports") or []:
        target = p.get("TargetPort") if isinstance(p, dict) else None
        if not isinstance(target, int) or not 0 < target < 65536:
            raise InvalidArgument("invalid service spec: every port needs a TargetPort between 1 and 65535")
        proto = str(p.get("Protocol") or "tcp")
        publish = str(p.get("PublishMode") or "ingress")
        if proto not in ("tcp", "udp", "sctp") or publish not in ("ingress", "host"):
            raise InvalidArgument(f"invalid port {target}: protocol tcp|udp|sctp, publish mode ingress|host")
        ports.append(PortConfig(name=str(p.get("Name") or ""), protocol=proto, target_port=target,  # type: ignore[arg-type]
                                published_port=int(p.get("PublishedPort") or 0), publish_mode=publish))  # type: ignore[arg-type]
    return EndpointSpec(mode=mode, ports=ports)  # type: ignore[arg-type]


def _str_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid service spec: {key} must be a list of strings")
    return list(value)


def _str_map(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid service spec: {key} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def service_spec_from_doc(doc: Any) -> ServiceSpec:
    """Docker's ServiceSpec JSON -> the model; shape errors are ``InvalidArgument`` (one line)."""
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid service spec: expected a JSON object")
    tmpl = doc.get("TaskTemplate") or {}
    c = tmpl.get("ContainerSpec") or {}
    image = c.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidArgument("invalid service spec: an image is required")
    mounts = []
    for m in c.get("Mounts") or []:
        if not isinstance(m, dict) or not m.get("Target"):
            raise InvalidArgument("invalid service spec: every mount needs a Target")
        kind = str(m.get("Type") or "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            raise InvalidArgument(f"invalid mount type {kind!r}: use bind, volume or tmpfs")
        mounts.append(Mount(type=kind, source=str(m.get("Source") or ""), target=str(m["Target"]),  # type: ignore[arg-type]
                            read_only=bool(m.get("ReadOnly"))))
    container = ContainerSpec(
        image=image,
        command=_str_list(c.get("Command"), "Command"),
        args=_str_list(c.get("Args"), "Args"),
        env=_str_list(c.get("Env"), "Env"),
        labels=_str_map(c.get("Labels"), "ContainerSpec.Labels"),
        mounts=mounts,
        workdir=str(c.get("Dir") or ""),
        user=str(c.get("User") or ""),
        hostname=str(c.get("Hostname") or ""),
        init=bool(c.get("Init")),
        read_only=bool(c.get("ReadOnly")),
        stop_signal=str(c.get("StopSignal") or "SIGTERM"),
        stop_grace_period=_seconds(c.get("StopGracePeriod"), "StopGracePeriod") if "StopGracePeriod" in c else 10.0,
        healthcheck=_healthcheck(c.get("Healthcheck")),
    )
    res = tmpl.get("Resources") or {}
    rp = tmpl.get("RestartPolicy") or {}
    condition = str(rp.get("Condition") or "any")
    if condition not in ("none", "on-failure", "any"):
        raise InvalidArgument(f"invalid restart condition {condition!r}: use none, on-failure or any")
    max_attempts = int(rp.get("MaxAttempts") or 0)
    if max_attempts < 0:
        raise InvalidArgument("invalid restart policy: max attempts must not be negative")
    restart = RestartPolicy(
        condition=condition,  # type: ignore[arg-type]
        delay=_seconds(rp.get("Delay"), "RestartPolicy.Delay") if "Delay" in rp else 5.0,
        max_attempts=max_attempts,
        window=_seconds(rp.get("Window"), "RestartPolicy.Window"),
    )
    pl = tmpl.get("Placement") or {}
    prefs = []
    for pref in pl.get("Preferences") or []:
        spread = ((pref or {}).get("Spread") or {}).get("SpreadDescriptor")
        if not isinstance(spread, str) or not spread:
            raise InvalidArgument("invalid placement preference: only spread=<label> is supported")
        prefs.append(PlacementPreference(spread=spread))
    max_replicas = int(pl.get("MaxReplicas") or 0)
    if max_replicas < 0:
        raise InvalidArgument("invalid placement: max replicas per node must not be negative")
    placement = Placement(constraints=_str_list(pl.get("Constraints"), "Constraints"), preferences=prefs,
                          max_replicas_per_node=max_replicas)
    task = TaskSpec(
        container=container,
        resources=ResourceRequirements(limits=_resources(res.get("Limits")),
                                       reservations=_resources(res.get("Reservations"))),
        placement=placement,
        restart_policy=restart,
        networks=_networks(tmpl.get("Networks")),
        endpoint=_endpoint(doc.get("EndpointSpec")),
        force_update=int(tmpl.get("ForceUpdate") or 0),
    )
    rolling = {"update_config": _update_config(doc.get("UpdateConfig"), "UpdateConfig"),
               "rollback_config": _update_config(doc.get("RollbackConfig"), "RollbackConfig")}
    mode = doc.get("Mode") or {"Replicated": {"Replicas": 1}}
    if "Global" in mode:
        return ServiceSpec(name=str(doc.get("Name") or ""), labels=_str_map(doc.get("Labels"), "Labels"), task=task,
                           mode="global", replicas=0, **rolling)
    replicas = (mode.get("Replicated") or {}).get("Replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise InvalidArgument(f"invalid replicas value {replicas!r}: replicas must be a number >= 0")
    return ServiceSpec(name=str(doc.get("Name") or ""), labels=_str_map(doc.get("Labels"), "Labels"), task=task,
                       mode="replicated", replicas=replicas, **rolling)


# ---------------------------------------------------------------------------------- objects


def _meta(obj: Any) -> dict[str, Any]:
    return {"ID": obj.id, "Version": {"Index": obj.meta.version}, "CreatedAt": timestamp(obj.meta.created_at),
            "UpdatedAt": timestamp(obj.meta.updated_at)}


def service_doc(svc: Service, running: int | None = None, desired: int | None = None,
                subnets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Docker's service document; ``subnets`` (network id -> subnet) gives the VIPs their prefix length."""
    doc = {**_meta(svc), "Spec": service_spec_doc(svc.spec)}
    if svc.previous_spec is not None:
        doc["PreviousSpec"] = service_spec_doc(svc.previous_spec)
    doc["Endpoint"] = endpoint_doc(svc, subnets or {})
    if svc.update_status is not None:
        doc["UpdateStatus"] = update_status_doc(svc.update_status)
    if running is not None and desired is not None:
        doc["ServiceStatus"] = {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}
    return doc


def task_doc(task: Task, node_hostname: str = "") -> dict[str, Any]:
    st = task.status
    status: dict[str, Any] = {"Timestamp": timestamp(st.timestamp), "State": st.state.label, "Message": st.message}
    if st.err:
        status["Err"] = st.err
    if st.container_id or st.exit_code is not None:
        status["ContainerStatus"] = {"ContainerID": st.container_id, "PID": st.pid, "ExitCode": st.exit_code or 0}
    status["PortStatus"] = {}
    doc = {**_meta(task), "Labels": dict(task.labels), "Spec": task_spec_doc(task.spec), "ServiceID": task.service_id}
    if task.slot:
        doc["Slot"] = task.slot
    if task.node_id:
        doc["NodeID"] = task.node_id
    doc.update({"Status": status, "DesiredState": task.desired_state.label,
                "ServiceName": task.service_name, "NodeHostname": node_hostname, "Name": task.name})
    return doc


def node_doc(node: Node, self_id: str = "", leader_id: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {
        **_meta(node),
        "Spec": {"Labels": dict(node.labels), "Role": str(node.role), "Availability": str(node.availability)},
        "Description": {
            "Hostname": node.hostname,
            "Platform": {"Architecture": node.platform.architecture, "OS": node.platform.os},
            "Resources": {"NanoCPUs": node.resources.nano_cpus, "MemoryBytes": node.resources.memory_bytes},
            "Engine": {"EngineVersion": ENGINE_VERSION, "Labels": dict(node.engine_labels)},
        },
        "Status": {"State": str(node.status.state), "Addr": node.status.addr,
                   **({"Message": node.status.message} if node.status.message else {})},
    }
    if node.manager_status is not None:
        ms = node.manager_status
        doc["ManagerStatus"] = {"Leader": node.id == leader_id if leader_id else ms.leader,
                                "Reachability": str(ms.reachability), "Addr": ms.raft_addr}
    doc["Self"] = node.id == self_id
    return doc


def cluster_doc(cluster: Cluster) -> dict[str, Any]:
    s = cluster.settings
    return {
        **_meta(cluster),
        "Spec": {
            "Name": cluster.name,
            "Labels": dict(cluster.labels),
            "Orchestration": {"TaskHistoryRetentionLimit": s.task_history_limit},
            "Raft": {"SnapshotInterval": 5000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                     "ElectionTick": 10, "HeartbeatTick": 1},
            "Dispatcher": {"HeartbeatPeriod": _ns(s.heartbeat_period)},
            "CAConfig": {"NodeCertExpiry": 7776000000000000},
            "TaskDefaults": {},
            "EncryptionConfig": {"AutoLockManagers": False},
        },
        "TLSInfo": {},
        "RootRotationInProgress": False,
        "DefaultAddrPool": ["10.0.0.0/8"],
        "SubnetSize": 24,
        "DataPathPort": 4789,
        "JoinTokens": {"Worker": cluster.join_tokens.worker, "Manager": cluster.join_tokens.manager},
    }


VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def network_doc(net: Network) -> dict[str, Any]:
    """Docker's document of a swarm-scoped network (``docker network inspect`` on a manager).

    ``Containers`` stays empty here: which containers sit on the network is each node's knowledge (the
    CLI fills it from the local agent when this node has the network too).
    """
    spec = net.spec
    return {
        "Name": spec.name, "Id": net.id, "Created": timestamp(net.meta.created_at), "Scope": "swarm",
        "Driver": spec.driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None,
                 "Config": [{"Subnet": spec.subnet, "Gateway": spec.gateway}] if spec.subnet else []},
        "Internal": spec.internal, "Attachable": spec.attachable, "Ingress": spec.ingress,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
        "Options": {**spec.options, **({VXLAN_OPTION: str(net.vni)} if net.vni else {})},
        "Labels": dict(spec.labels),
    }
