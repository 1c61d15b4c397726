"""Container commands: run, create, start, ps, logs, exec, stop, restart, kill, rm, inspect, wait, stats."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import grpc

from orchestrator.cli import client, output
from orchestrator.cli.container_args import build_spec
from orchestrator.cli.errors import CliError
from orchestrator.cli.filters import Filters
from orchestrator.cli.stream import run_attached
from proto.orch.v1 import engine_pb2 as pb


def cmd_create(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    reply = client.engine().ContainerCreate(spec)
    print(reply.id)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    if args.detach and (args.tty and args.interactive) is False and args.attach:
        raise CliError("Conflicting options: -a and -d", 125)
    stub = client.engine()
    reply = stub.ContainerCreate(spec)
    if args.detach:
        stub.ContainerStart(pb.ContainerRef(id=reply.id))
        print(reply.id)
        return 0
    return run_attached(stub, reply.id, start=True, stdin=args.interactive, tty=args.tty,
                        sig_proxy=str(args.sig_proxy).lower() != "false")


def cmd_start(args: argparse.Namespace) -> int:
    stub = client.engine()
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise CliError("you cannot start and attach multiple containers at once")
        info = json.loads(stub.ContainerInspect(pb.ContainerRef(id=args.containers[0])).json)
        return run_attached(stub, info["Id"], start=True, stdin=args.interactive, tty=info["Config"]["Tty"])
    failed = False
    for c in args.containers:
        try:
            stub.ContainerStart(pb.ContainerRef(id=c))
            print(c)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            failed = True
    if failed:
        raise CliError("failed to start containers: " + ", ".join(args.containers))
    return 0


def _each(args: argparse.Namespace, names: list[str], fn: Any, what: str) -> int:
    errors = []
    for n in names:
        try:
            fn(n)
            print(n)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            errors.append(n)
    return 1 if errors else 0


def cmd_stop(args: argparse.Namespace) -> int:
    stub = client.engine()
    return _each(args, args.containers, lambda n: stub.ContainerStop(pb.StopRequest(
        id=n, timeout=args.time or 0, has_timeout=args.time is not None, signal=args.signal)), "stop")


def cmd_restart(args: argparse.Namespace) -> int:
    stub = client.engine()
    return _each(args, args.containers, lambda n: stub.ContainerRestart(pb.StopRequest(
        id=n, timeout=args.time or 0, has_timeout=args.time is not None)), "restart")


def cmd_kill(args: argparse.Namespace) -> int:
    stub = client.engine()
    return _each(args, args.containers, lambda n: stub.ContainerKill(pb.KillRequest(id=n, signal=args.signal)),
                 "kill")


def cmd_rm(args: argparse.Namespace) -> int:
    stub = client.engine()
    return _each(args, args.containers, lambda n: stub.ContainerRemove(pb.RemoveRequest(
        id=n, force=args.force, volumes=args.volumes)), "rm")


def cmd_wait(args: argparse.Namespace) -> int:
    stub = client.engine()
    rc = 0
    for n in args.containers:
        try:
            print(stub.ContainerWait(pb.ContainerRef(id=n)).exit_code)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    return rc


PS_COLUMNS = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
              ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]


def _ps_row(c: Any, no_trunc: bool) -> dict[str, Any]:
    from agent.runtime.humanize import human_duration

    cmd = c.command
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return {
        "ID": c.id if no_trunc else c.id[:12], "Image": c.image, "Command": f'"{cmd}"',
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c.created)),
        "RunningFor": human_duration(time.time() - c.created) + " ago", "Status": c.status, "State": c.state,
        "Ports": c.ports, "Names": c.name, "Labels": ",".join(f"{k}={v}" for k, v in sorted(c.labels.items())),
        "Mounts": c.mounts, "Networks": c.networks, "Size": "0B", "LocalVolumes": str(len(c.mounts.split(",")) if c.mounts else 0),
        "_labels": dict(c.labels), "_exit_code": c.exit_code, "_full_id": c.id,
        "_health": c.health or "none", "_image_base": c.image.rsplit(":", 1)[0] if ":" in c.image.split("/")[-1]
        else c.image,
    }


PS_FILTERS = ("id", "name", "label", "exited", "status", "ancestor", "before", "since", "volume", "network",
              "health", "publish", "expose", "is-task")
PS_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
PS_HEALTH = ("starting", "healthy", "unhealthy", "none")


def _port_set(spec: str) -> set[tuple[int, str]]:
    """`80`, `80/udp`, `8000-8010/tcp` → {(port, proto)} (Docker's publish=/expose= values)."""
    ports, _, proto = spec.partition("/")
    lo, _, hi = ports.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise CliError(f"invalid filter value {spec!r}: expected <port>[/<proto>] or <start>-<end>[/<proto>]") \
            from None
    return {(p, proto or "tcp") for p in range(first, last + 1)}


def _row_ports(row: dict[str, Any], published_only: bool) -> set[tuple[int, str]]:
    """Container-side ports of the PORTS text ("0.0.0.0:8080->80/tcp, 53/udp")."""
    out: set[tuple[int, str]] = set()
    for item in filter(None, (p.strip() for p in row["Ports"].split(","))):
        published = "->" in item
        if published_only and not published:
            continue
        try:
            out |= _port_set(item.rsplit("->", 1)[-1])
        except CliError:
            continue
    return out


def _with_tag(ref: str) -> str:
    return ref if ":" in ref.split("/")[-1] or "@" in ref else ref + ":latest"


def _ancestor_match(row: dict[str, Any], value: str) -> bool:
    """By image reference: `busybox` and `busybox:latest` are the same; a bare name matches any of its tags."""
    return _with_tag(row["Image"]) == _with_tag(value) or row["_image_base"] == value


def _filter_rows(rows: list[dict[str, Any]], f: Filters, everyone: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Docker's `ps --filter` keys; ``everyone`` resolves the containers named by before=/since=."""
    f.validate(PS_FILTERS)
    f.validate_values("status", PS_STATUSES)
    f.validate_values("health", PS_HEALTH)
    f.get_bool("is-task", False)

    order = {r["_full_id"]: i for i, r in enumerate(everyone)}  # newest first, as the daemon lists them

    def position(ref: str) -> int:
        for r in everyone:
            if r["Names"] == ref.lstrip("/") or r["_full_id"].startswith(ref):
                return order[r["_full_id"]]
        raise CliError(f"No such container: {ref}")

    before = [position(v) for v in f.get("before")]
    since = [position(v) for v in f.get("since")]
    out = []
    for r in rows:
        pos = order.get(r["_full_id"], -1)
        if before and not pos > max(before):
            continue
        if since and not pos < min(since):
            continue
        fields = {"id": r["_full_id"], "name": r["Names"], "label": r["_labels"], "status": r["State"],
                  "health": r["_health"], "network": [n for n in r["Networks"].split(",") if n],
                  "volume": [m for m in r["Mounts"].split(",") if m]}
        preds = {
            "exited": lambda v, r=r: r["State"] == "exited" and str(r["_exit_code"]) == v,
            "ancestor": lambda v, r=r: _ancestor_match(r, v),
            "publish": lambda v, r=r: bool(_port_set(v) & _row_ports(r, True)),
            "expose": lambda v, r=r: bool(_port_set(v) & _row_ports(r, False)),
            "is-task": lambda v, r=r: (v.lower() in ("true", "1")) == ("com.docker.swarm.task.id" in r["_labels"]),
            "before": lambda v: True, "since": lambda v: True,
        }
        if f.matches(fields, preds):
            out.append(r)
    return out


def cmd_ps(args: argparse.Namespace) -> int:
    from orchestrator.cli.filters import FilterError
    from orchestrator.cli.parse import FlagError

    try:
        filters = Filters.parse(args.filter)
    except FlagError as e:
        raise CliError(str(e)) from None
    show_all = args.all or args.last > 0 or args.latest or any(k in filters for k in ("status", "exited"))
    stub = client.engine()
    reply = stub.ContainerList(pb.ContainerListRequest(all=show_all))
    rows = [_ps_row(c, args.no_trunc) for c in reply.containers]
    everyone = rows
    if not show_all and ("before" in filters or "since" in filters):
        everyone = [_ps_row(c, args.no_trunc) for c in stub.ContainerList(pb.ContainerListRequest(all=True)).containers]
    try:
        rows = _filter_rows(rows, filters, everyone)
    except FilterError as e:
        raise CliError(str(e)) from None
    if args.latest:
        rows = rows[:1]
    elif args.last > 0:
        rows = rows[: args.last]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    output.render(rows, args.format, PS_COLUMNS)
    return 0


def _parse_since(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        pass
    from orchestrator.cli import parse

    try:
        return time.time() - parse.parse_duration(value, "--since")
    except parse.FlagError:
        pass
    from agent.runtime.logs import parse_rfc3339

    try:
        return parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        raise CliError(f'invalid value for "since": failed to parse value as time or duration: "{value}"') from None


def cmd_logs(args: argparse.Namespace) -> int:
    tail = -1 if args.tail in ("all", "") else int(args.tail) if str(args.tail).lstrip("-").isdigit() else None
    if tail is None:
        raise CliError(f'invalid value for "tail": "{args.tail}"')
    req = pb.LogsRequest(id=args.container, follow=args.follow, tail=tail, since=_parse_since(args.since),
                         until=_parse_since(args.until) if args.until else 0, timestamps=args.timestamps,
                         stdout=True, stderr=True)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for e in client.engine().ContainerLogs(req):
            data = e.data
            if args.timestamps:
                data = e.time.encode() + b" " + data
            (out if e.stream == "stdout" else err).write(data)
            (out if e.stream == "stdout" else err).flush()
    except KeyboardInterrupt:
        return 0
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from orchestrator.cli import parse
    from orchestrator.cli.stream import run_exec

    if not args.command:
        raise CliError("exec requires at least 2 arguments")
    env: dict[str, str] = {}
    try:
        for f in args.env_file:
            env.update(parse.parse_env_file(f))
        env.update(parse.parse_env(args.env))
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    first = pb.ExecInput(id=args.container, cmd=args.command, env=[f"{k}={v}" for k, v in env.items()],
                         workdir=args.workdir, user=args.user, tty=args.tty, stdin=args.interactive,
                         privileged=args.privileged, detach=args.detach)
    return run_exec(client.engine(), first, tty=args.tty, stdin=args.interactive)


def cmd_inspect(args: argparse.Namespace) -> int:
    stub = client.engine()
    docs: list[Any] = []
    rc = 0
    for name in args.names:
        doc = None
        kinds = [args.type] if args.type else ["container", "image", "volume"]
        for kind in kinds:
            try:
                if kind == "container":
                    doc = json.loads(stub.ContainerInspect(pb.ContainerRef(id=name)).json)
                elif kind == "image":
                    doc = json.loads(stub.ImageInspect(pb.RefRequest(ref=name)).json)
                else:
                    from orchestrator.cli.volumes import volume_doc

                    doc = volume_doc(stub.VolumeInspect(pb.RefRequest(ref=name)))
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    raise
        if doc is None:
            print(f"Error: No such object: {name}", file=sys.stderr)
            rc = 1
            continue
        docs.append(doc)
    output.render_inspect(docs, args.format)
    return rc


def cmd_stats(args: argparse.Namespace) -> int:
    from orchestrator.cli.stats import run_stats

    return run_stats(client.engine(), args)
