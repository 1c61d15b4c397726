"""Network commands: `orch network create|ls|inspect|rm|prune|connect|disconnect`.

Flags, output and messages follow Docker's: `create` prints the new id, `rm` the names it removed,
`ls` the NETWORK ID/NAME/DRIVER/SCOPE table (filters driver, id, label, name, scope, type, dangling).

Two owners, one view: overlay networks are the cluster's (the ControlAPI on a manager creates, lists,
inspects and removes them), every other network is the node's (its Networks API). On a manager `ls`
shows both, a cluster network once, as ``swarm``, even where this node has a local record of it
(the bridge and VXLAN device that realise it here); `inspect` and `rm` look among the cluster's
networks first. On a worker, which cannot ask the ControlAPI, they see the node's networks only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from orchestrator.cli import client, output
from orchestrator.cli.errors import CliError

LS_COLUMNS = [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")]
BUILTIN = ("bridge", "host", "none")


def _stub() -> Any:
    from proto.orch.v1 import network_pb2_grpc

    return network_pb2_grpc.NetworksStub(client.channel())


def _pb() -> Any:
    from proto.orch.v1 import network_pb2

    return network_pb2


def _kv(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        if not k:
            raise CliError(f'invalid argument "{it}" for "{flag}" flag: invalid key/value')
        out[k] = v
    return out


def _one(values: list[str], flag: str) -> str:
    if len(values) > 1:
        raise CliError(f"orch supports one {flag} per network (got {len(values)})")
    return values[0] if values else ""


def add_commands(sub: Any, parser_class: Any, lazy: Any) -> None:
    """Register `network ...` on the top-level subparsers (called from main.py).

    `orch port` lives in container_extras.py and reads NetworkSettings.Ports of `inspect`, which the
    network manager fills; the Networks service also has a typed `Port` call for other clients.
    """
    m = "orchestrator.cli.networks"
    net = sub.add_parser("network", help="Manage networks")
    nsub = net.add_subparsers(dest="network_cmd", required=True, parser_class=parser_class)

    p = nsub.add_parser("create", help="Create a network")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--ipam-driver", default="default")
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("name")
    p.set_defaults(func=lazy(m, "cmd_create"))

    p = nsub.add_parser("ls", aliases=["list"], help="List networks")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--no-trunc", action="store_true")
    p.set_defaults(func=lazy(m, "cmd_ls"))

    p = nsub.add_parser("inspect", help="Display detailed information on one or more networks")
    p.add_argument("-f", "--format")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=lazy(m, "cmd_inspect"))

    p = nsub.add_parser("rm", aliases=["remove"], help="Remove one or more networks")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=lazy(m, "cmd_rm"))

    p = nsub.add_parser("prune", help="Remove all unused networks")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=lazy(m, "cmd_prune"))

    p = nsub.add_parser("connect", help="Connect a container to a network")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--ip", default="")
    p.add_argument("--link", action="append", default=[])
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=lazy(m, "cmd_connect"))

    p = nsub.add_parser("disconnect", help="Disconnect a container from a network")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("network")
    p.add_argument("container")
    p.set_defaults(func=lazy(m, "cmd_disconnect"))



# ------------------------------------------------------------------ create / ls / inspect


def cmd_create(args: argparse.Namespace) -> int:
    if args.ipv6:
        raise CliError("IPv6 networks are not supported")
    if args.ipam_driver not in ("", "default"):
        raise CliError(f'plugin "{args.ipam_driver}" not found')
    if args.driver == "overlay":  # cluster-scoped: the manager allocates subnet, gateway and VNI
        from orchestrator.cli.swarm import control
        from proto.orch.v1 import control_pb2

        doc = json.loads(control().CreateNetwork(control_pb2.CreateNetworkRequest(
            name=args.name, driver=args.driver, subnet=_one(args.subnet, "--subnet"),
            gateway=_one(args.gateway, "--gateway"), labels=_kv(args.label, "--label"),
            internal=args.internal, attachable=args.attachable)).json)
        print(doc["Id"])
        return 0
    pb = _pb()
    reply = _stub().Create(pb.NetworkCreateRequest(
        name=args.name, driver=args.driver, subnet=_one(args.subnet, "--subnet"),
        gateway=_one(args.gateway, "--gateway"), ip_range=_one(args.ip_range, "--ip-range"),
        internal=args.internal, attachable=args.attachable, options=_kv(args.opt, "-o, --opt"),
        labels=_kv(args.label, "--label")))
    print(reply.id)
    return 0


def _created_text(rfc3339: str) -> str:
    return rfc3339[:19].replace("T", " ") + " +0000 UTC" if rfc3339 else ""


def _ls_row(n: Any, no_trunc: bool) -> dict[str, Any]:
    return {
        "ID": n.id if no_trunc else n.id[:12], "Name": n.name, "Driver": n.driver, "Scope": n.scope,
        "IPv6": str(n.ipv6).lower(), "Internal": str(n.internal).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
        "CreatedAt": _created_text(n.created),
        "_id": n.id, "_labels": dict(n.labels), "_containers": n.containers,
    }


def _cluster_row(doc: dict[str, Any], no_trunc: bool, containers: int) -> dict[str, Any]:
    nid, labels = doc["Id"], dict(doc.get("Labels") or {})
    return {
        "ID": nid if no_trunc else nid[:12], "Name": doc["Name"], "Driver": doc.get("Driver", "overlay"),
        "Scope": "swarm", "IPv6": str(bool(doc.get("EnableIPv6"))).lower(),
        "Internal": str(bool(doc.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "CreatedAt": _created_text(doc.get("Created", "")),
        "_id": nid, "_labels": labels, "_containers": containers,
    }


def merge_rows(local: list[Any], cluster: list[dict[str, Any]] | None, no_trunc: bool) -> list[dict[str, Any]]:
    """The `ls` rows: the node's networks and, on a manager (``cluster`` not None), the cluster's.

    A node's record of an overlay network only realises a cluster network: on a manager it gives way
    to the cluster's row (lending it its container count) or, when the cluster no longer has that
    network (the record lingers until its last container leaves), is not shown; on a worker it is
    shown with scope ``swarm``, as Docker does.
    """
    rows = {}
    for n in local:
        row = _ls_row(n, no_trunc)
        if n.driver == "overlay":
            if cluster is not None:
                continue
            row["Scope"] = "swarm"
        rows[n.name] = row
    counts = {n.name: n.containers for n in local if n.driver == "overlay"}
    for doc in cluster or ():
        rows[doc["Name"]] = _cluster_row(doc, no_trunc, counts.get(doc["Name"], 0))
    return [rows[k] for k in sorted(rows)]


def _cluster_call(method: str, request: Any) -> Any:
    """A ControlAPI network call, or None when this node is not a manager (a worker, no cluster)."""
    import grpc

    from orchestrator.cli.swarm import control

    try:
        return getattr(control(), method)(request)
    except grpc.RpcError as e:
        code, details = e.code(), e.details() or ""  # type: ignore[attr-defined]
        if code == grpc.StatusCode.UNIMPLEMENTED or (code == grpc.StatusCode.FAILED_PRECONDITION and (
                "not a manager" in details or "not part of a cluster" in details)):
            return None
        raise


def _cluster_docs() -> list[dict[str, Any]] | None:
    from proto.orch.v1 import control_pb2

    reply = _cluster_call("ListNetworks", control_pb2.ControlListRequest())
    return None if reply is None else [json.loads(j) for j in reply.json]


NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _filter(rows: list[dict[str, Any]], values: list[str]) -> list[dict[str, Any]]:
    """Docker's `network ls --filter`: name is a regexp, id a prefix, type custom|builtin, dangling unused."""
    from orchestrator.cli.filters import FilterError, Filters
    from orchestrator.cli.parse import FlagError

    try:
        f = Filters.parse(values)
        f.validate(NETWORK_FILTERS)
        for v in f.get("type"):
            if v not in ("custom", "builtin"):
                raise FilterError(f"invalid filter: 'type'='{v}'")
        dangling = f.get_bool("dangling", False) if "dangling" in f else None
    except (FilterError, FlagError) as e:
        raise CliError(str(e)) from None

    def is_dangling(row: dict[str, Any], _v: str) -> bool:
        return (row["Name"] not in BUILTIN and row["_containers"] == 0) == dangling

    return f.apply(rows, lambda r: {"driver": r["Driver"], "id": r["_id"], "label": r["_labels"],
                                    "name": r["Name"], "scope": r["Scope"],
                                    "type": "builtin" if r["Name"] in BUILTIN else "custom"},
                   {"dangling": is_dangling})


def cmd_ls(args: argparse.Namespace) -> int:
    nets = list(_stub().List(_pb().NetworkListRequest()).networks)
    rows = _filter(merge_rows(nets, _cluster_docs(), args.no_trunc), args.filter)
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    output.render(rows, args.format, LS_COLUMNS)
    return 0


def _inspect_one(stub: Any, pb: Any, ref: str) -> dict[str, Any]:
    """The cluster's document when ``ref`` names a cluster network (with this node's containers on it,
    as Docker shows them), else the node's."""
    import grpc

    from proto.orch.v1 import control_pb2

    try:
        reply = _cluster_call("InspectNetwork", control_pb2.ControlRef(ref=ref))
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
            raise
        reply = None
    if reply is None:
        return dict(json.loads(stub.Inspect(pb.NetworkRef(ref=ref)).json))
    doc = dict(json.loads(reply.json))
    try:
        doc["Containers"] = json.loads(stub.Inspect(pb.NetworkRef(ref=doc["Name"])).json).get("Containers") or {}
    except grpc.RpcError:
        pass  # no task of this network on this node
    return doc


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc

    stub, pb = _stub(), _pb()
    docs = []
    rc = 0
    for n in args.names:
        try:
            docs.append(_inspect_one(stub, pb, n))
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    if docs or not rc:
        output.render_inspect(docs, args.format)
    return rc


# ------------------------------------------------------------------ rm / prune


def cmd_rm(args: argparse.Namespace) -> int:
    import grpc

    from proto.orch.v1 import control_pb2

    stub, pb = _stub(), _pb()
    rc = 0
    for n in args.names:
        try:
            if not _remove_cluster_network(control_pb2, n):
                stub.Remove(pb.NetworkRef(ref=n))
            print(n)
        except grpc.RpcError as e:
            if args.force and e.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                continue
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    return rc


def _remove_cluster_network(control_pb2: Any, ref: str) -> bool:
    """Whether ``ref`` was a cluster network (now removed); False sends the caller to the node's."""
    import grpc

    try:
        return _cluster_call("RemoveNetwork", control_pb2.ControlRef(ref=ref)) is not None
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
            return False
        raise


def _until(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    from orchestrator.cli import parse

    try:
        return time.time() - parse.parse_duration(value, "until")
    except parse.FlagError:
        pass
    from agent.runtime.logs import parse_rfc3339

    try:
        return parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        raise CliError(f'invalid filter \'until={value}\': failed to parse value as time or duration') from None


def cmd_prune(args: argparse.Namespace) -> int:
    pb = _pb()
    req = pb.NetworkPruneRequest()
    for f in args.filter:
        key, sep, val = f.partition("=")
        if key == "until" and sep:
            req.until = _until(val)
        elif key == "label" and sep:
            req.labels.append(val)
        elif key == "label!" and sep:
            req.not_labels.append(val)
        else:
            raise CliError(f"invalid filter '{key}'")
    if not args.force:
        sys.stdout.write("WARNING! This will remove all custom networks not used by at least one container.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    reply = _stub().Prune(req)
    if reply.deleted:
        print("Deleted Networks:")
        for name in reply.deleted:
            print(name)
        print()
    return 0


# ------------------------------------------------------------------ connect / disconnect


def cmd_connect(args: argparse.Namespace) -> int:
    if args.link:
        raise CliError("--link is not supported by `network connect`; use --alias")
    if args.ip:
        import ipaddress

        try:
            ipaddress.IPv4Address(args.ip)
        except ValueError:
            raise CliError(f'invalid argument "{args.ip}" for "--ip" flag: invalid IPv4 address') from None
    _stub().Connect(_pb().NetworkConnectRequest(network=args.network, container=args.container,
                                                aliases=args.alias, ipv4_address=args.ip))
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    _stub().Disconnect(_pb().NetworkDisconnectRequest(network=args.network, container=args.container,
                                                      force=args.force))
    return 0
