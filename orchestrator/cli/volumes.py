"""Volume commands: create, ls, inspect, rm, prune."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from orchestrator.cli import client, output
from orchestrator.cli.errors import CliError
from proto.orch.v1 import engine_pb2 as pb


def volume_doc(v: Any) -> dict[str, Any]:
    return {"CreatedAt": v.created_at, "Driver": v.driver, "Labels": dict(v.labels) or None,
            "Mountpoint": v.mountpoint, "Name": v.name, "Options": dict(v.options) or None, "Scope": v.scope}


def _kv(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not k:
            raise CliError(f'invalid argument "{it}" for "{flag}" flag: invalid key/value')
        out[k] = v
    return out


def cmd_create(args: argparse.Namespace) -> int:
    v = client.engine().VolumeCreate(pb.VolumeCreateRequest(name=args.name or "", driver=args.driver,
                                                            labels=_kv(args.label, "--label"),
                                                            options=_kv(args.opt, "-o, --opt")))
    print(v.name)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    vols = client.engine().VolumeList(pb.VolumeListRequest()).volumes
    rows = [{"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint, "Scope": v.scope,
             "Labels": ",".join(f"{k}={val}" for k, val in sorted(v.labels.items())), "Links": "N/A",
             "Size": "N/A", "_labels": dict(v.labels)}
            for v in vols]
    rows = _filter_volumes(rows, args.filter)
    if args.quiet:
        for r in rows:
            print(r["Name"])
        return 0
    output.render(rows, args.format, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")])
    return 0


VOLUME_FILTERS = ("dangling", "driver", "label", "name")


def _filter_volumes(rows: list[dict[str, Any]], values: list[str]) -> list[dict[str, Any]]:
    """Docker's `volume ls --filter` keys: dangling (used by no container), driver, label, name (a regexp)."""
    from orchestrator.cli.filters import FilterError, Filters
    from orchestrator.cli.parse import FlagError

    try:
        f = Filters.parse(values)
        f.validate(VOLUME_FILTERS)
        dangling = f.get_bool("dangling", False) if "dangling" in f else None
    except (FilterError, FlagError) as e:
        raise CliError(str(e)) from None
    used: set[str] = set()
    if dangling is not None:
        for c in client.engine().ContainerList(pb.ContainerListRequest(all=True)).containers:
            used.update(m for m in c.mounts.split(",") if m)
    out = []
    for r in rows:
        if dangling is not None and (r["Name"] not in used) != dangling:
            continue
        if f.matches({"name": r["Name"], "driver": r["Driver"], "label": r["_labels"]},
                     {"dangling": lambda v: True}):
            out.append(r)
    return out


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc

    stub = client.engine()
    docs = []
    rc = 0
    for n in args.names:
        try:
            docs.append(volume_doc(stub.VolumeInspect(pb.RefRequest(ref=n))))
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    output.render_inspect(docs, args.format)
    return rc


def cmd_rm(args: argparse.Namespace) -> int:
    import grpc

    stub = client.engine()
    rc = 0
    for n in args.names:
        try:
            stub.VolumeRemove(pb.VolumeRemoveRequest(names=[n], force=args.force))
            print(n)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    return rc


def cmd_prune(args: argparse.Namespace) -> int:
    reply = client.engine().VolumePrune(pb.PruneRequest(all=args.all))
    if reply.deleted:
        print("Deleted Volumes:")
        for d in reply.deleted:
            print(d)
        print()
    print(f"Total reclaimed space: {reply.reclaimed}B")
    return 0
