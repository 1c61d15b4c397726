"""Docker's JSON shapes for a container: `inspect` documents and `ps` rows.

Kept apart from the engine so that field naming (Docker's, CamelCase) never leaks into the
engine's own records.
"""

from __future__ import annotations

import time
from typing import Any

from agent.runtime.container import Container
from agent.runtime.humanize import human_duration
from agent.runtime.logs import parse_rfc3339


def _ago(ts: str) -> float:
    try:
        return max(0.0, time.time() - parse_rfc3339(ts))
    except (ValueError, OverflowError):
        return 0.0


_HEALTH_SUFFIX = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}


def status_text(c: Container, health: str | None = None) -> str:
    st = c.state
    if st.status == "running":
        return f"Up {human_duration(_ago(st.started_at))}{_HEALTH_SUFFIX.get(health or '', '')}"
    if st.status == "paused":
        return f"Up {human_duration(_ago(st.started_at))} (Paused)"
    if st.status == "restarting":
        return f"Restarting ({st.exit_code}) {human_duration(_ago(st.finished_at))} ago"
    if st.status == "exited":
        return f"Exited ({st.exit_code}) {human_duration(_ago(st.finished_at))} ago"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "dead":
        return "Dead"
    return "Created"


def command_text(c: Container) -> str:
    return " ".join([c.path, *c.args])


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e9):09d}Z"


def container_json(c: Container, log_path: str, health: dict[str, Any] | None = None) -> dict[str, Any]:
    """``health`` is State.Health (agent/health.py), present only for containers with a healthcheck."""
    st = c.state
    hc = c.host_config
    res = hc.get("resources") or {}
    mounts = [
        {
            "Type": m.type, "Name": m.name or None, "Source": m.source, "Destination": m.destination,
            "Driver": "local" if m.type == "volume" else "", "Mode": "ro" if m.read_only else "",
            "RW": not m.read_only, "Propagation": "rprivate" if m.type == "bind" else "",
        }
        for m in c.mounts
    ]
    for m in mounts:
        if m["Name"] is None:
            del m["Name"]
    return {
        "Id": c.id,
        "Created": iso(c.created),
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.status,
            "Running": st.status in ("running", "paused"),
            "Paused": st.status == "paused",
            "Restarting": st.status == "restarting",
            "OOMKilled": st.oom_killed,
            "Dead": st.status == "dead",
            "Pid": st.pid if st.status in ("running", "paused") else 0,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at,
            **({"Health": health} if health is not None else {}),
        },
        "Image": c.image_id,
        "ResolvConfPath": log_path.rsplit("/", 1)[0] + "/resolv.conf",
        "HostnamePath": log_path.rsplit("/", 1)[0] + "/hostname",
        "HostsPath": log_path.rsplit("/", 1)[0] + "/hosts",
        "LogPath": log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": [f"{m.source}:{m.destination}{':ro' if m.read_only else ''}" for m in c.mounts
                      if m.type == "bind"] or None,
            "NetworkMode": hc.get("network_mode", "none"),
            "RestartPolicy": {"Name": (hc.get("restart_policy") or {}).get("name") or "no",
                              "MaximumRetryCount": (hc.get("restart_policy") or {}).get("max_retries", 0)},
            "AutoRemove": hc.get("auto_remove", False),
            "ReadonlyRootfs": hc.get("read_only", False),
            "Init": hc.get("init", False),
            "Privileged": hc.get("privileged", False),
            "CapAdd": hc.get("cap_add") or None,
            "CapDrop": hc.get("cap_drop") or None,
            "Memory": res.get("memory", 0),
            "MemorySwap": res.get("memory_swap", 0),
            "NanoCpus": res.get("nano_cpus", 0),
            "CpuShares": res.get("cpu_shares", 0),
            "CpusetCpus": res.get("cpuset_cpus", ""),
            "CpusetMems": res.get("cpuset_mems", ""),
            "PidsLimit": res.get("pids_limit") or None,
            "Ulimits": [{"Name": u["name"], "Soft": u["soft"], "Hard": u["hard"]} for u in hc.get("ulimits", [])]
            or None,
            "LogConfig": {"Type": "json-file", "Config": hc.get("log_opts") or {}},
            "Tmpfs": {m.destination: m.tmpfs_options for m in c.mounts if m.type == "tmpfs"} or None,
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": c.config.get("hostname", ""),
            "User": c.config.get("user", ""),
            "Tty": c.config.get("tty", False),
            "OpenStdin": c.config.get("open_stdin", False),
            "Env": c.config.get("env", []),
            "Cmd": c.config.get("cmd") or None,
            "Entrypoint": c.config.get("entrypoint") or None,
            "Image": c.image,
            "WorkingDir": c.config.get("workdir", ""),
            "Labels": c.config.get("labels") or {},
            "StopSignal": c.config.get("stop_signal", "SIGTERM"),
            "StopTimeout": c.config.get("stop_timeout") if (c.config.get("stop_timeout") or -1) >= 0 else None,
            "ExposedPorts": c.config.get("exposed_ports") or None,
            **({"Healthcheck": c.config["healthcheck"]} if c.config.get("healthcheck") else {}),
        },
        "NetworkSettings": {"Networks": {hc.get("network_mode", "none"): {}}},
    }
