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
    from agent.runtime.inspect import human_duration

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
    }


def _match(row: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        ok = False
        for v in values:
            if key == "id":
                ok = row["_full_id"].startswith(v)
            elif key == "name":
                ok = v.lstrip("/") in row["Names"]
            elif key == "status":
                ok = row["State"] == v
            elif key == "label":
                k, sep, val = v.partition("=")
                ok = k in row["_labels"] and (not sep or row["_labels"][k] == val)
            elif key == "exited":
                ok = row["State"] == "exited" and str(row["_exit_code"]) == v
            elif key == "ancestor":
                ok = row["Image"] == v or row["Image"].split(":")[0] == v
            elif key == "volume":
                ok = v in row["Mounts"].split(",")
            elif key == "network":
                ok = row["Networks"] == v
            else:
                raise CliError(f"invalid filter '{key}'")
            if ok:
                break
        if not ok:
            return False
    return True


def cmd_ps(args: argparse.Namespace) -> int:
    from orchestrator.cli import parse

    filters = parse.parse_filters(args.filter)
    show_all = args.all or args.last > 0 or args.latest or any(k in filters for k in ("status", "exited"))
    reply = client.engine().ContainerList(pb.ContainerListRequest(all=show_all))
    rows = [_ps_row(c, args.no_trunc) for c in reply.containers]
    rows = [r for r in rows if _match(r, filters)]
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
