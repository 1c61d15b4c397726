"""`orch run` / `orch create` flags and their conversion into a ContainerSpec message.

Flag syntax is checked here, before anything reaches the daemon, with Docker's wording
(`invalid argument "lots" for "-m, --memory" flag: ...`) and exit status 125.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from orchestrator.cli import parse
from orchestrator.cli.errors import CliError


def add_create_arguments(p: argparse.ArgumentParser, run: bool) -> None:
    a = p.add_argument
    if run:
        a("-d", "--detach", action="store_true", help="run in the background and print the container ID")
        a("--rm", action="store_true", help="remove the container when it exits")
        a("--sig-proxy", default="true")
        a("--detach-keys")
    a("-a", "--attach", action="append", default=[])
    a("--name")
    a("-e", "--env", action="append", default=[])
    a("--env-file", action="append", default=[])
    a("-w", "--workdir", default="")
    a("-u", "--user", default="")
    a("--entrypoint", default=None)
    a("-h", "--hostname", default="")
    a("-v", "--volume", action="append", default=[])
    a("--mount", action="append", default=[])
    a("--tmpfs", action="append", default=[])
    a("--read-only", action="store_true")
    a("-m", "--memory")
    a("--memory-swap")
    a("--cpus")
    a("-c", "--cpu-shares")
    a("--cpuset-cpus")
    a("--cpuset-mems")
    a("--pids-limit")
    a("--ulimit", action="append", default=[])
    a("--init", action="store_true")
    a("--restart", default="no")
    a("--stop-signal", default="")
    a("--stop-timeout", default=None)
    a("-l", "--label", action="append", default=[])
    a("--label-file", action="append", default=[])
    a("-i", "--interactive", action="store_true")
    a("-t", "--tty", action="store_true")
    a("--network", "--net", dest="network", default="")
    a("-p", "--publish", action="append", default=[])
    a("-P", "--publish-all", action="store_true")
    a("--expose", action="append", default=[])
    a("--network-alias", "--net-alias", dest="network_alias", action="append", default=[])
    a("--ip", default="")
    a("--mac-address", default="")
    a("--dns", action="append", default=[])
    a("--add-host", action="append", default=[])
    a("--link", action="append", default=[])
    a("--log-opt", action="append", default=[])
    a("--log-driver", default="json-file")
    a("--cap-add", action="append", default=[])
    a("--cap-drop", action="append", default=[])
    a("--privileged", action="store_true")
    a("--security-opt", action="append", default=[])
    a("--pull", default="missing")
    a("--health-cmd", default="")
    a("--health-interval", default="")
    a("--health-timeout", default="")
    a("--health-retries", default="")
    a("--health-start-period", default="")
    a("--health-start-interval", default="")
    a("--no-healthcheck", action="store_true")
    a("--platform")
    a("image")
    a("command", nargs=argparse.REMAINDER)


def _flag(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except parse.FlagError as e:
        raise CliError(str(e), 125) from None


def build_spec(args: argparse.Namespace) -> Any:
    """The ContainerSpec for these flags (raises CliError 125 on a malformed value)."""
    from proto.orch.v1 import engine_pb2 as pb

    spec = pb.ContainerSpec(image=args.image, name=args.name or "", workdir=args.workdir, user=args.user,
                            hostname=args.hostname, read_only=args.read_only, init=args.init,
                            tty=args.tty, open_stdin=args.interactive, privileged=args.privileged)
    if args.user:
        _flag(parse.parse_user, args.user)
    if args.workdir and not args.workdir.startswith("/"):
        raise CliError(f'the working directory \'{args.workdir}\' is invalid, it needs to be an absolute path', 125)
    spec.cmd.extend(args.command)
    if args.entrypoint is not None:
        spec.entrypoint_set = True
        if args.entrypoint:
            spec.entrypoint.append(args.entrypoint)
    env: dict[str, str] = {}
    for f in args.env_file:
        env.update(_flag(parse.parse_env_file, f))
    env.update(_flag(parse.parse_env, args.env))
    spec.env.extend(f"{k}={v}" for k, v in env.items())
    labels: dict[str, str] = {}
    for f in args.label_file:
        labels.update(_flag(parse.parse_label_file, f))
    labels.update(_flag(parse.parse_labels, args.label))
    spec.labels.update(labels)
    if args.log_driver not in ("json-file", "local"):
        raise CliError(f'logging driver "{args.log_driver}" is not supported (orch writes json-file logs)', 125)
    lo = _flag(parse.parse_log_opts, args.log_opt)
    if lo.max_size:
        spec.log_opts["max-size"] = str(lo.max_size)
    if lo.max_file:
        spec.log_opts["max-file"] = str(lo.max_file)
    for v in args.volume:
        m = _flag(parse.parse_volume, v, cwd=os.getcwd())
        spec.mounts.append(pb.Mount(type=m.type, source=m.source or "", target=m.target, read_only=m.read_only))
    for v in args.mount:
        m = _flag(parse.parse_mount, v)
        opts = []
        if m.type == "tmpfs":
            if m.tmpfs_size:
                opts.append(f"size={m.tmpfs_size}")
            if m.tmpfs_mode is not None:
                opts.append(f"mode={m.tmpfs_mode:o}")
        spec.mounts.append(pb.Mount(type=m.type, source=m.source or "", target=m.target, read_only=m.read_only,
                                    tmpfs_options=",".join(opts)))
    for v in args.tmpfs:
        target, opts = _flag(parse.parse_tmpfs, v)
        spec.mounts.append(pb.Mount(type="tmpfs", target=target, tmpfs_options=opts))
    r = spec.resources
    if args.memory:
        r.memory = _flag(parse.parse_bytes, args.memory, "-m, --memory")
        if r.memory < 6 * 1024 * 1024:
            raise CliError("Minimum memory limit allowed is 6MB", 125)
    if args.memory_swap:
        r.memory_swap = -1 if args.memory_swap == "-1" else _flag(parse.parse_bytes, args.memory_swap, "--memory-swap")
    if args.cpus:
        r.nano_cpus = _flag(parse.parse_cpus, args.cpus)
    if args.cpu_shares:
        try:
            r.cpu_shares = int(args.cpu_shares)
        except ValueError:
            raise CliError(f'invalid argument "{args.cpu_shares}" for "-c, --cpu-shares" flag: '
                           f'strconv.ParseInt: parsing "{args.cpu_shares}": invalid syntax', 125) from None
    if args.cpuset_cpus:
        r.cpuset_cpus = _flag(parse.parse_cpuset, args.cpuset_cpus)
    if args.cpuset_mems:
        r.cpuset_mems = _flag(parse.parse_cpuset, args.cpuset_mems, "--cpuset-mems")
    if args.pids_limit:
        try:
            r.pids_limit = int(args.pids_limit)
        except ValueError:
            raise CliError(f'invalid argument "{args.pids_limit}" for "--pids-limit" flag: '
                           f'strconv.ParseInt: parsing "{args.pids_limit}": invalid syntax', 125) from None
    for u in args.ulimit:
        ul = _flag(parse.parse_ulimit, u)
        spec.ulimits.append(pb.Ulimit(name=ul.name, soft=ul.soft, hard=ul.hard))
    rp = _flag(parse.parse_restart, args.restart)
    spec.restart_policy.name = rp.name
    spec.restart_policy.max_retries = rp.max_retries
    if args.stop_signal:
        _flag(parse.parse_signal, args.stop_signal)
        spec.stop_signal = args.stop_signal
    if args.stop_timeout is not None:
        try:
            spec.stop_timeout = int(args.stop_timeout)
        except ValueError:
            raise CliError(f'invalid argument "{args.stop_timeout}" for "--stop-timeout" flag: '
                           f'strconv.ParseInt: parsing "{args.stop_timeout}": invalid syntax', 125) from None
    else:
        spec.stop_timeout = -1
    spec.network_mode = args.network
    for v in args.publish:
        for b in _flag(parse.parse_publish, v):
            spec.ports.append(pb.PortBinding(host_ip=b.host_ip or "", host_port=b.host_port or 0,
                                             host_port_end=b.host_port_end or 0, container_port=b.container_port,
                                             protocol=b.protocol))
    spec.publish_all = args.publish_all
    for v in args.expose:
        spec.exposed.extend(f"{port}/{proto}" for port, proto in _flag(parse.parse_expose, v))
    spec.network_aliases.extend(args.network_alias)
    if args.ip:
        import ipaddress

        try:
            ipaddress.IPv4Address(args.ip)
        except ValueError:
            raise CliError(f'invalid argument "{args.ip}" for "--ip" flag: invalid IPv4 address', 125) from None
        spec.ipv4_address = args.ip
    if args.mac_address:
        import re

        if not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", args.mac_address):
            raise CliError(f"{args.mac_address} is not a valid mac address", 125)
        spec.mac_address = args.mac_address
    for v in args.dns:
        import ipaddress

        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise CliError(f'invalid argument "{v}" for "--dns" flag: {v} is not an ip address', 125) from None
        spec.dns.append(v)
    for v in args.add_host:
        h = _flag(parse.parse_add_host, v)
        spec.extra_hosts.append(f"{h.name}:{h.ip}")
    for v in args.link:
        name, _, alias = v.partition(":")
        if not name:
            raise CliError(f"invalid link format: {v!r}", 125)
        spec.links.append(f"{name}:{alias or name}")
    spec.cap_add.extend(args.cap_add)
    spec.cap_drop.extend(args.cap_drop)
    for so in args.security_opt:
        if so in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            spec.no_new_privileges = True
        else:
            raise CliError(f"invalid --security-opt: {so!r} (supported: no-new-privileges)", 125)
    if getattr(args, "rm", False):
        spec.auto_remove = True
    _healthcheck(args, spec)
    return spec


_HEALTH_DURATIONS = (("health_interval", "interval"), ("health_timeout", "timeout"),
                     ("health_start_period", "start_period"), ("health_start_interval", "start_interval"))


def _healthcheck(args: argparse.Namespace, spec: Any) -> None:
    """`--health-*` / `--no-healthcheck` into spec.healthcheck (left unset: the image's HEALTHCHECK applies)."""
    given = [name for name, _ in (("health_cmd", ""), ("health_retries", ""), *_HEALTH_DURATIONS)
             if getattr(args, name, "")]
    if getattr(args, "no_healthcheck", False):
        if given:
            raise CliError("--no-healthcheck conflicts with --health-* options", 125)
        spec.healthcheck.test.append("NONE")
        return
    if not given:
        return
    hc = spec.healthcheck
    if args.health_cmd:
        hc.test.extend(["CMD-SHELL", args.health_cmd])
    for name, field in _HEALTH_DURATIONS:
        value = getattr(args, name)
        if not value:
            continue
        flag = "--" + name.replace("_", "-")
        seconds = _flag(parse.parse_duration, value, flag, allow_negative=True)
        if seconds < 0:
            raise CliError(f"{flag} cannot be negative", 125)
        setattr(hc, field, int(round(seconds * 1_000_000_000)))
    if args.health_retries:
        try:
            retries = int(args.health_retries)
        except ValueError:
            raise CliError(f'invalid argument "{args.health_retries}" for "--health-retries" flag: '
                           f'strconv.ParseInt: parsing "{args.health_retries}": invalid syntax', 125) from None
        if retries < 0:
            raise CliError("--health-retries cannot be negative", 125)
        hc.retries = retries


def changes_to_json(changes: list[str]) -> dict[str, str]:
    """`-c/--change` Dockerfile instructions (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, ...)."""
    out: dict[str, Any] = {}
    for ch in changes:
        instr, _, rest = ch.strip().partition(" ")
        instr = instr.upper()
        rest = rest.strip()
        if instr in ("CMD", "ENTRYPOINT"):
            val: Any = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
        elif instr == "ENV":
            k, sep, v = rest.partition("=")
            if not sep:
                k, _, v = rest.partition(" ")
            val = [*out.get("Env", []), f"{k.strip()}={v.strip()}"]
            instr = "Env"
        elif instr == "LABEL":
            k, _, v = rest.partition("=")
            val = {**out.get("Labels", {}), k.strip(): v.strip().strip('"')}
            instr = "Labels"
        elif instr == "EXPOSE":
            val = [*out.get("ExposedPorts", []), *rest.split()]
            instr = "ExposedPorts"
        elif instr in ("WORKDIR", "USER", "STOPSIGNAL"):
            val = rest
        elif instr == "VOLUME":
            val = json.loads(rest) if rest.startswith("[") else rest.split()
        else:
            raise CliError(f"{instr} is not a valid change command", 125)
        key = {"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "WORKDIR": "WorkingDir", "USER": "User",
               "STOPSIGNAL": "StopSignal", "VOLUME": "Volumes"}.get(instr, instr)
        out[key] = val
    return {k: json.dumps(v) for k, v in out.items()}
