"""`orch service create|ls|ps|inspect|scale|rm|logs`, as `docker service` does them (`update`: service_update.py).

Flags are turned into Docker's ServiceSpec JSON here (the ControlAPI's input shape) with the shared
flag parsers of ``parse.py``; the manager validates what needs the cluster (constraints, names).
Without ``--detach``, create and scale wait until the service converged, printing progress to stderr
so that ``$(orch service create ...)`` captures only the id.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from orchestrator.cli import client, parse
from orchestrator.cli.errors import CliError
from orchestrator.cli.output import render, render_inspect
from orchestrator.cli.swarm import control, docs, filters_pb, print_tasks, short_image

NS = 1_000_000_000
GLOBAL_SETTLE = 2.0


def health_doc(args: argparse.Namespace) -> dict[str, Any] | None:
    """`--health-*` / `--no-healthcheck` as the spec's Healthcheck (durations in ns, as Docker sends them).

    Left out when no flag is given, so the image's HEALTHCHECK applies; a task with a healthcheck
    counts as running only once healthy.
    """
    durations = (("Interval", "health_interval", "--health-interval"), ("Timeout", "health_timeout", "--health-timeout"),
                 ("StartPeriod", "health_start_period", "--health-start-period"))
    given = [flag for _, attr, flag in durations if getattr(args, attr)]
    if args.no_healthcheck:
        if args.health_cmd or args.health_retries or given:
            raise CliError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not args.health_cmd and not args.health_retries and not given:
        return None
    doc: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd] if args.health_cmd else []}
    for key, attr, flag in durations:
        if getattr(args, attr):
            doc[key] = int(parse.parse_duration(getattr(args, attr), flag) * NS)
    if args.health_retries:
        try:
            doc["Retries"] = int(args.health_retries)
        except ValueError:
            raise CliError(f"invalid argument {args.health_retries!r} for \"--health-retries\" flag") from None
    return doc


def add_arguments(sub: Any) -> None:
    """Register `service` and its subcommands on the top-level subparsers ``sub``."""
    from orchestrator.cli.main import Parser, _lazy

    m = "orchestrator.cli.services"
    svc = sub.add_parser("service", help="Manage services")
    ssub = svc.add_subparsers(dest="service_cmd", required=True, parser_class=Parser)

    p = ssub.add_parser("create", help="Create a new service")
    p.add_argument("--name", default="")
    p.add_argument("--replicas", default=None)
    p.add_argument("--mode", default="replicated", choices=["replicated", "global"])
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--container-label", action="append", default=[])
    p.add_argument("--constraint", action="append", default=[])
    p.add_argument("--placement-pref", action="append", default=[])
    p.add_argument("--replicas-max-per-node", default=None)
    p.add_argument("--network", action="append", default=[])
    p.add_argument("--reserve-cpu", default=None)
    p.add_argument("--reserve-memory", default=None)
    p.add_argument("--limit-cpu", default=None)
    p.add_argument("--limit-memory", default=None)
    p.add_argument("--restart-condition", default=None, choices=["none", "on-failure", "any"])
    p.add_argument("--restart-delay", default=None)
    p.add_argument("--restart-max-attempts", default=None)
    p.add_argument("--restart-window", default=None)
    p.add_argument("--mount", action="append", default=[])
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-u", "--user", default="")
    p.add_argument("--hostname", default="")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("--stop-grace-period", default=None)
    p.add_argument("--stop-signal", default=None)
    p.add_argument("--init", action="store_true")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--health-cmd", default="")
    p.add_argument("--health-interval", default="")
    p.add_argument("--health-timeout", default="")
    p.add_argument("--health-retries", default="")
    p.add_argument("--health-start-period", default="")
    p.add_argument("--no-healthcheck", action="store_true")
    p.add_argument("--update-parallelism", default=None)
    p.add_argument("--update-delay", default=None)
    p.add_argument("--update-order", default=None, choices=["start-first", "stop-first"])
    p.add_argument("--update-failure-action", default=None, choices=["pause", "continue", "rollback"])
    _add_detach(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=_lazy(m, "cmd_create"))

    p = ssub.add_parser("ls", aliases=["list"], help="List services")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.set_defaults(func=_lazy(m, "cmd_ls"))

    p = ssub.add_parser("ps", help="List the tasks of one or more services")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--no-resolve", action="store_true")
    p.add_argument("services", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_ps"))

    p = ssub.add_parser("inspect", help="Display detailed information on one or more services")
    p.add_argument("-f", "--format")
    p.add_argument("--pretty", action="store_true")
    p.add_argument("services", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))

    p = ssub.add_parser("scale", help="Scale one or multiple replicated services")
    _add_detach(p)
    p.add_argument("specs", nargs="+", metavar="SERVICE=REPLICAS")
    p.set_defaults(func=_lazy(m, "cmd_scale"))

    from orchestrator.cli.service_update import add_update_parser

    add_update_parser(ssub, _lazy, _add_detach)

    p = ssub.add_parser("rm", aliases=["remove"], help="Remove one or more services")
    p.add_argument("services", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_rm"))

    p = ssub.add_parser("logs", help="Fetch the logs of a service or task")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("--no-task-ids", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--raw", action="store_true")
    p.add_argument("service")
    p.set_defaults(func=_lazy(m, "cmd_logs"))


def _add_detach(p: Any) -> None:
    """Docker's boolean ``-d, --detach`` (default false: wait for convergence), also as ``--detach=false``.

    argparse looks up an option string verbatim before splitting at ``=``, so the explicit forms are
    registered as options of their own; a bare ``--detach`` never swallows the image name.
    """
    p.add_argument("-d", "--detach", "--detach=true", "--detach=1", "-d=true", dest="detach", action="store_true",
                   default=False)
    p.add_argument("--detach=false", "--detach=0", "-d=false", dest="detach", action="store_false",
                   help=argparse.SUPPRESS)


# ------------------------------------------------------------------------------------- create


def _uint(value: str, flag: str) -> int:
    if not value.isdigit():
        raise CliError(f'invalid argument "{value}" for "{flag}" flag: strconv.ParseUint: parsing "{value}": invalid syntax')
    return int(value)


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    """Docker's ServiceSpec JSON from `service create` flags (raises CliError on a bad flag)."""
    try:
        env: dict[str, str] = {}
        for f in args.env_file:
            env.update(parse.parse_env_file(f))
        env.update(parse.parse_env(args.env))
        container: dict[str, Any] = {"Image": args.image}
        if args.entrypoint is not None:
            container["Command"] = shlex.split(args.entrypoint)
        if args.command:
            container["Args"] = list(args.command)
        if env:
            container["Env"] = [f"{k}={v}" for k, v in env.items()]
        labels = parse.parse_labels(args.container_label, "--container-label")
        if labels:
            container["Labels"] = labels
        for key, flag in (("Dir", "workdir"), ("User", "user"), ("Hostname", "hostname")):
            if getattr(args, flag):
                container[key] = getattr(args, flag)
        if args.init:
            container["Init"] = True
        if args.read_only:
            container["ReadOnly"] = True
        if args.stop_signal:
            parse.parse_signal(args.stop_signal)
            container["StopSignal"] = args.stop_signal
        if args.stop_grace_period is not None:
            container["StopGracePeriod"] = int(parse.parse_duration(args.stop_grace_period, "--stop-grace-period") * NS)
        hc = health_doc(args)
        if hc is not None:
            container["Healthcheck"] = hc
        mounts = []
        for value in args.mount:
            m = parse.parse_mount(value)
            mounts.append({"Type": m.type, **({"Source": m.source} if m.source else {}), "Target": m.target,
                           **({"ReadOnly": True} if m.read_only else {})})
        if mounts:
            container["Mounts"] = mounts
        limits: dict[str, int] = {}
        reservations: dict[str, int] = {}
        if args.limit_cpu is not None:
            limits["NanoCPUs"] = parse.parse_cpus(args.limit_cpu, "--limit-cpu")
        if args.limit_memory is not None:
            limits["MemoryBytes"] = parse.parse_bytes(args.limit_memory, "--limit-memory")
        if args.reserve_cpu is not None:
            reservations["NanoCPUs"] = parse.parse_cpus(args.reserve_cpu, "--reserve-cpu")
        if args.reserve_memory is not None:
            reservations["MemoryBytes"] = parse.parse_bytes(args.reserve_memory, "--reserve-memory")
        restart: dict[str, Any] = {}
        if args.restart_condition is not None:
            restart["Condition"] = args.restart_condition
        if args.restart_delay is not None:
            restart["Delay"] = int(parse.parse_duration(args.restart_delay, "--restart-delay") * NS)
        if args.restart_max_attempts is not None:
            restart["MaxAttempts"] = _uint(args.restart_max_attempts, "--restart-max-attempts")
        if args.restart_window is not None:
            restart["Window"] = int(parse.parse_duration(args.restart_window, "--restart-window") * NS)
        placement: dict[str, Any] = {}
        if args.constraint:
            placement["Constraints"] = list(args.constraint)
        prefs = []
        for pref in args.placement_pref:
            strategy, sep, target = pref.partition("=")
            if not sep or strategy != "spread" or not target:
                raise CliError(f'invalid argument "{pref}" for "--placement-pref" flag: '
                               "only spread=<label> preferences are supported")
            prefs.append({"Spread": {"SpreadDescriptor": target}})
        if prefs:
            placement["Preferences"] = prefs
        if args.replicas_max_per_node is not None:
            placement["MaxReplicas"] = _uint(args.replicas_max_per_node, "--replicas-max-per-node")
        service_labels = parse.parse_labels(args.label)
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    if args.mode == "global":
        if args.replicas is not None:
            raise CliError("replicas can only be used with replicated mode")
        mode: dict[str, Any] = {"Global": {}}
    else:
        replicas = 1 if args.replicas is None else _uint(args.replicas, "--replicas")
        mode = {"Replicated": {"Replicas": replicas}}
    template: dict[str, Any] = {"ContainerSpec": container, "Resources": {"Limits": limits, "Reservations": reservations}}
    if restart:
        template["RestartPolicy"] = restart
    if placement:
        template["Placement"] = placement
    if args.network:
        template["Networks"] = [{"Target": n} for n in args.network]
    doc = {"Name": args.name, "Labels": service_labels, "TaskTemplate": template, "Mode": mode}
    if args.publish:
        from orchestrator.cli.service_update import port_docs

        doc["EndpointSpec"] = {"Mode": "vip", "Ports": port_docs(args.publish)}
    update: dict[str, Any] = {}
    if args.update_parallelism is not None:
        update["Parallelism"] = _uint(args.update_parallelism, "--update-parallelism")
    if args.update_delay is not None:
        try:
            update["Delay"] = int(parse.parse_duration(args.update_delay, "--update-delay") * NS)
        except parse.FlagError as e:
            raise CliError(str(e)) from None
    if args.update_order is not None:
        update["Order"] = args.update_order
    if args.update_failure_action is not None:
        update["FailureAction"] = args.update_failure_action
    if update:
        doc["UpdateConfig"] = update
    return doc


def cmd_create(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    detach = args.detach
    spec = build_spec(args)
    reply = control().CreateService(pb.CreateServiceRequest(spec_json=json.dumps(spec)))
    print(reply.id)
    sys.stdout.flush()
    if not detach:
        wait_converged(reply.id, quiet=args.quiet)
    return 0


# ------------------------------------------------------------------------------------- progress


def _progress(service_id: str, started: float) -> tuple[int, int, bool]:
    """(running, desired, converged) for a service from its tasks."""
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    svc = json.loads(stub.InspectService(pb.ControlRef(ref=service_id)).json)
    tasks = docs(stub.ListTasks(pb.ListTasksRequest(filters=[pb.ControlFilter(key="service", value=service_id)])))
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    running = sum(1 for t in wanted if (t.get("Status") or {}).get("State") == "running")
    mode = svc["Spec"]["Mode"]
    desired = mode["Replicated"]["Replicas"] if "Replicated" in mode else len(wanted)
    leftovers = any((t.get("Status") or {}).get("State") == "running" for t in tasks if t.get("DesiredState") != "running")
    # A global service has no task until the orchestrator saw it: 0 of 0 is not converged yet.
    settled = "Replicated" in mode or desired > 0 or time.monotonic() - started > GLOBAL_SETTLE
    return running, desired, running == desired and not leftovers and settled


def follow_progress(poll: Callable[[], tuple[int, int, bool, str]], quiet: bool = False) -> None:
    """Docker's `overall progress: N out of M tasks` until ``poll`` says done, or fails with the error it
    returns (after printing that round's progress).

    Ctrl-C stops waiting, not the service. Shared by create/scale (converged) and update/rollback.
    """
    wake = threading.Event()
    last = ""
    try:
        while True:
            running, desired, done, error = poll()
            line = f"overall progress: {running} out of {desired} tasks"
            if not quiet and line != last:
                print(line, file=sys.stderr)
                last = line
            if error:
                raise CliError(error)
            if done:
                if not quiet:
                    print("verify: Service converged", file=sys.stderr)
                return
            wake.wait(0.1)
    except KeyboardInterrupt:
        print("Operation continuing in background.", file=sys.stderr)


def wait_converged(service_id: str, quiet: bool = False) -> None:
    """Block until the service converged (Ctrl-C stops waiting, not the service), like Docker."""
    started = time.monotonic()
    follow_progress(lambda: (*_progress(service_id, started), ""), quiet)


# ------------------------------------------------------------------------------------- ls, ps, inspect

SERVICE_COLUMNS = [("ID", "ID"), ("NAME", "Name"), ("MODE", "Mode"), ("REPLICAS", "Replicas"), ("IMAGE", "Image"),
                   ("PORTS", "Ports")]


def service_row(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["Spec"]
    mode = spec.get("Mode") or {}
    status = doc.get("ServiceStatus") or {}
    replicas = f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}"
    max_per_node = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("MaxReplicas")
    if max_per_node and "Replicated" in mode:
        replicas += f" (max {max_per_node} per node)"
    return {
        "ID": doc["ID"][:12],
        "Name": spec["Name"],
        "Mode": "global" if "Global" in mode else "replicated",
        "Replicas": replicas,
        "Image": short_image(spec["TaskTemplate"]["ContainerSpec"]["Image"]),
        "Ports": service_ports(doc),
    }


def service_ports(doc: dict[str, Any]) -> str:
    """Docker's PORTS column: the ingress-published ports as `*:8080->80/tcp` (host-mode ones show per task)."""
    endpoint = doc.get("Endpoint") or {}
    ports = endpoint.get("Ports") or (endpoint.get("Spec") or {}).get("Ports") or []
    return ", ".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol') or 'tcp'}"
                     for p in ports if (p.get("PublishMode") or "ingress") == "ingress" and p.get("PublishedPort"))


SERVICE_MODES = ("replicated", "global", "replicated-job", "global-job")


def cmd_ls(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    flt = filters_pb(args.filter)
    for f in flt:
        if f.key == "mode" and f.value not in SERVICE_MODES:
            raise CliError(f"invalid filter 'mode={f.value}'")
    rows = [service_row(d) for d in docs(control().ListServices(pb.ControlListRequest(filters=flt)))]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    render(rows, args.format, SERVICE_COLUMNS)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    extra = filters_pb(args.filter)
    tasks: list[dict[str, Any]] = []
    for ref in args.services:
        filters = [pb.ControlFilter(key="service", value=ref), *extra]
        tasks.extend(docs(stub.ListTasks(pb.ListTasksRequest(filters=filters))))
    print_tasks(tasks, args)
    return 0


def _pretty(doc: dict[str, Any]) -> str:
    spec = doc["Spec"]
    tmpl = spec.get("TaskTemplate") or {}
    c = tmpl.get("ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    lines = ["", f"ID:\t\t{doc['ID']}", f"Name:\t\t{spec['Name']}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines.extend(f" {k}={v}" for k, v in spec["Labels"].items())
    if "Global" in mode:
        lines.append("Service Mode:\tGlobal")
    else:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{mode['Replicated']['Replicas']}"]
    status = doc.get("UpdateStatus") or {}
    if status:
        lines += ["UpdateStatus:", f" State:\t\t{status.get('State', '')}", f" Started:\t{status.get('StartedAt', '')}"]
        if status.get("CompletedAt"):
            lines.append(f" Completed:\t{status['CompletedAt']}")
        lines.append(f" Message:\t{status.get('Message', '')}")
    placement = tmpl.get("Placement") or {}
    lines.append("Placement:")
    if placement.get("Constraints"):
        lines.append(f" Constraints:\t[{' '.join(placement['Constraints'])}]")
    if placement.get("Preferences"):
        prefs = " ".join(f"spread={p['Spread']['SpreadDescriptor']}" for p in placement["Preferences"])
        lines.append(f" Preferences:\t[{prefs}]")
    if placement.get("MaxReplicas"):
        lines.append(f" Max Replicas Per Node:  {placement['MaxReplicas']}")
    rp = tmpl.get("RestartPolicy") or {}
    if rp:
        lines += ["RestartPolicy:", f" Condition:\t{rp.get('Condition', 'any')}",
                  f" Delay:\t\t{rp.get('Delay', 0) / NS:g}s", f" MaxAttempts:\t{rp.get('MaxAttempts', 0)}"]
    uc = spec.get("UpdateConfig") or {}
    if uc:
        lines += ["UpdateConfig:", f" Parallelism:\t{uc.get('Parallelism', 1)}"]
        if uc.get("Delay"):
            lines.append(f" Delay:\t\t{uc['Delay'] / NS:g}s")
        lines += [f" On failure:\t{uc.get('FailureAction', 'pause')}", f" Monitor:\t{uc.get('Monitor', 0) / NS:g}s",
                  f" Max failure ratio: {uc.get('MaxFailureRatio', 0):g}", f" Update order:      {uc.get('Order', 'stop-first')}"]
    lines += ["ContainerSpec:", f" Image:\t\t{c.get('Image', '')}"]
    if c.get("Command"):
        lines.append(f" Command:\t{' '.join(c['Command'])}")
    if c.get("Args"):
        lines.append(f" Args:\t\t{' '.join(c['Args'])} ")
    if c.get("Env"):
        lines.append(f" Env:\t\t{' '.join(c['Env'])}")
    if c.get("Dir"):
        lines.append(f" Dir:\t\t{c['Dir']}")
    if c.get("User"):
        lines.append(f" User:\t\t{c['User']}")
    if c.get("Init"):
        lines.append(" Init:\t\ttrue")
    if c.get("Mounts"):
        lines.append("Mounts:")
        for m in c["Mounts"]:
            lines += [f" Target:\t{m['Target']}", f"  Source:\t{m.get('Source', '')}",
                      f"  ReadOnly:\t{str(bool(m.get('ReadOnly'))).lower()}", f"  Type:\t\t{m['Type']}"]
    res = tmpl.get("Resources") or {}
    lines.append("Resources:")
    for title, key in (("Reservations", "Reservations"), ("Limits", "Limits")):
        r = res.get(key) or {}
        if r:
            lines.append(f" {title}:")
            if r.get("NanoCPUs"):
                lines.append(f"  CPU:\t\t{r['NanoCPUs'] / NS:g}")
            if r.get("MemoryBytes"):
                from orchestrator.cli.table import bytes_size

                lines.append(f"  Memory:\t{bytes_size(r['MemoryBytes'])}")
    endpoint = spec.get("EndpointSpec") or {}
    lines.append(f"Endpoint Mode:\t{endpoint.get('Mode', 'vip')}")
    if endpoint.get("Ports"):
        lines.append("Ports:")
        for p in endpoint["Ports"]:
            lines += [f" PublishedPort = {p.get('PublishedPort', 0)}", f"  Protocol = {p.get('Protocol', 'tcp')}",
                      f"  TargetPort = {p.get('TargetPort', 0)}", f"  PublishMode = {p.get('PublishMode', 'ingress')}"]
    return "\n".join(lines) + "\n"


def cmd_inspect(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for ref in args.services:
        try:
            found.append(json.loads(stub.InspectService(pb.ControlRef(ref=ref)).json))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise
            missing.append(ref)
    if args.pretty and not args.format:
        sys.stdout.write("\n".join(_pretty(d) for d in found))
    else:
        render_inspect(found, args.format)
    if missing:
        raise CliError(f"no such service: {missing[0]}")
    return 0


# ------------------------------------------------------------------------------------- scale, rm, logs


def cmd_scale(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    detach = args.detach
    wanted: list[tuple[str, int]] = []
    for item in args.specs:
        try:
            wanted.extend(parse.parse_scale_args([item]).items())
        except parse.FlagError as e:
            raise CliError(str(e)) from None
    stub = control()
    failed = False
    scaled: list[str] = []
    for name, replicas in wanted:
        try:
            reply = stub.ScaleService(pb.ScaleServiceRequest(ref=name, replicas=replicas))
        except grpc.RpcError as e:
            print(f"{name}: {client.rpc_error_message(e)}", file=sys.stderr)
            failed = True
            continue
        print(f"{name} scaled to {replicas}")
        scaled.append(reply.id)
    sys.stdout.flush()
    if not detach:
        for service_id in scaled:
            wait_converged(service_id)
    return 1 if failed else 0


def cmd_rm(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    failed = False
    for ref in args.services:
        try:
            stub.RemoveServices(pb.RemoveServicesRequest(refs=[ref]))
            print(ref)
        except grpc.RpcError as e:
            print(f"Error: {client.rpc_error_message(e)}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def cmd_logs(args: argparse.Namespace) -> int:
    """Asks a manager, which reads each task's logs on the node that ran it and merges the streams."""
    from orchestrator.service_logs import decode_data, open_stream

    tail = -1 if args.tail in ("all", "") else int(args.tail) if str(args.tail).lstrip("-").isdigit() else None
    if tail is None:
        raise CliError(f'invalid value for "tail": "{args.tail}"')
    out = sys.stdout.buffer
    call = open_stream(client.channel(), {"service": args.service, "follow": args.follow, "tail": tail,
                                          "timestamps": args.timestamps})
    try:
        for msg in call:
            if "error" in msg:
                print(f"error from daemon in stream: {msg['error']}", file=sys.stderr)
                continue
            data = decode_data(msg)
            if args.timestamps:
                data = msg.get("time", "").encode() + b" " + data
            if not args.raw:
                data = _log_prefix(msg, args.no_task_ids, args.no_trunc) + data
            out.write(data)
            out.flush()
    except KeyboardInterrupt:
        call.cancel()
        return 0
    except grpc.RpcError as e:
        raise CliError(client.rpc_error_message(e)) from None
    return 0


def _log_prefix(msg: dict[str, Any], no_task_ids: bool, no_trunc: bool) -> bytes:
    """Docker's ``web.1.abc123@node    | ``: the task (slot and id) and the node it ran on."""
    base = str(msg.get("name", "")).rsplit(".", 1)[0]
    task_id = str(msg.get("task_id", ""))
    name = base if no_task_ids else f"{base}.{task_id if no_trunc else task_id[:12]}"
    return f"{name}@{msg.get('node', '')}    | ".encode()
    return 0
