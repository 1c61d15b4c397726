"""`orch node ls|inspect|ps`, as `docker node` shows them (the node serving the call is `self`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from orchestrator.cli.errors import CliError
from orchestrator.cli.output import render, render_inspect
from orchestrator.cli.swarm import control, docs, filters_pb, pretty, print_tasks

NODE_COLUMNS = [("ID", "ID"), ("HOSTNAME", "Hostname"), ("STATUS", "Status"), ("AVAILABILITY", "Availability"),
                ("MANAGER STATUS", "ManagerStatus"), ("ENGINE VERSION", "EngineVersion")]


def add_arguments(sub: Any) -> None:
    from orchestrator.cli.main import Parser, _lazy

    m = "orchestrator.cli.nodes"
    node = sub.add_parser("node", help="Manage cluster nodes")
    nsub = node.add_subparsers(dest="node_cmd", required=True, parser_class=Parser)
    p = nsub.add_parser("ls", aliases=["list"], help="List nodes in the cluster")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.set_defaults(func=_lazy(m, "cmd_ls"))
    p = nsub.add_parser("inspect", help="Display detailed information on one or more nodes")
    p.add_argument("-f", "--format")
    p.add_argument("--pretty", action="store_true")
    p.add_argument("nodes", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))
    p = nsub.add_parser("update", help="Update a node")
    p.add_argument("--availability", choices=["active", "pause", "drain"])
    p.add_argument("--label-add", action="append", default=[])
    p.add_argument("--label-rm", action="append", default=[])
    p.add_argument("--role", choices=["worker", "manager"])
    p.add_argument("node")
    p.set_defaults(func=_lazy(m, "cmd_update"))
    for verb, help_ in (("promote", "Promote one or more nodes to manager in the cluster"),
                        ("demote", "Demote one or more nodes from manager in the cluster")):
        p = nsub.add_parser(verb, help=help_)
        p.add_argument("nodes", nargs="+")
        p.set_defaults(func=_lazy(m, f"cmd_{verb}"))
    p = nsub.add_parser("rm", aliases=["remove"], help="Remove one or more nodes from the cluster")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("nodes", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_rm"))
    p = nsub.add_parser("ps", help="List tasks running on one or more nodes, defaults to current node")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--no-resolve", action="store_true")
    p.add_argument("nodes", nargs="*", default=[])
    p.set_defaults(func=_lazy(m, "cmd_ps"))


def node_row(doc: dict[str, Any]) -> dict[str, Any]:
    ms = doc.get("ManagerStatus")
    manager = ""
    if ms:
        manager = "Leader" if ms.get("Leader") else pretty(ms.get("Reachability", ""))
    self_ = bool(doc.get("Self"))
    return {
        "ID": doc["ID"] + (" *" if self_ else ""),
        "Self": self_,
        "Hostname": doc["Description"]["Hostname"],
        "Status": pretty(doc["Status"]["State"]),
        "Availability": pretty(doc["Spec"]["Availability"]),
        "ManagerStatus": manager,
        "EngineVersion": doc["Description"].get("Engine", {}).get("EngineVersion", ""),
        "TLSStatus": "Ready",
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    flt = filters_pb(args.filter)
    for f in flt:  # Docker's daemon wording for values outside these closed sets
        if f.key == "role" and f.value not in ("manager", "worker"):
            raise CliError(f"Invalid role filter value {f.value}")
        if f.key == "membership" and f.value not in ("accepted", "pending"):
            raise CliError(f"Invalid membership filter value {f.value}")
    nodes = docs(control().ListNodes(pb.ControlListRequest(filters=flt)))
    if args.quiet:
        for d in nodes:
            print(d["ID"])
        return 0
    rows = [node_row(d) for d in nodes]
    if args.format:  # {{.ID}} is the bare id in templates, as in Docker
        for r in rows:
            r["ID"] = r["ID"].removesuffix(" *")
    render(rows, args.format, NODE_COLUMNS)
    return 0


def _pretty(doc: dict[str, Any]) -> str:
    desc, spec, status = doc["Description"], doc["Spec"], doc["Status"]
    lines = [f"ID:\t\t\t{doc['ID']}", f"Hostname:\t\t{desc['Hostname']}", "Joined at:\t\t" + doc["CreatedAt"],
             "Status:", f" State:\t\t\t{pretty(status['State'])}", f" Availability:\t\t{pretty(spec['Availability'])}",
             f" Address:\t\t{status.get('Addr', '')}"]
    ms = doc.get("ManagerStatus")
    if ms:
        lines += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                  f" Raft Status:\t\t{pretty(ms.get('Reachability', ''))}",
                  f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}"]
    res = desc.get("Resources") or {}
    lines += ["Platform:", f" Operating System:\t{desc['Platform']['OS']}",
              f" Architecture:\t\t{desc['Platform']['Architecture']}", "Resources:",
              f" CPUs:\t\t\t{int(res.get('NanoCPUs', 0) / 1e9)}",
              f" Memory:\t\t{_mib(res.get('MemoryBytes', 0))}",
              f"Engine Version:\t\t{desc.get('Engine', {}).get('EngineVersion', '')}"]
    return "\n".join(lines) + "\n"


def _mib(n: int) -> str:
    from orchestrator.cli.table import bytes_size

    return bytes_size(n)


def cmd_inspect(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    found = [json.loads(stub.InspectNode(pb.ControlRef(ref=ref)).json) for ref in args.nodes]
    for d in found:
        d.pop("Self", None)
    if args.pretty and not args.format:
        sys.stdout.write("\n".join(_pretty(d) for d in found))
        return 0
    render_inspect(found, args.format)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    extra = filters_pb(args.filter)
    tasks: list[dict[str, Any]] = []
    for ref in args.nodes or ["self"]:
        filters = [pb.ControlFilter(key="node", value=ref), *extra]
        tasks.extend(docs(stub.ListTasks(pb.ListTasksRequest(filters=filters))))
    print_tasks(tasks, args)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from orchestrator.cli.cluster import membership

    membership("UpdateNode", {"ref": args.node, "availability": args.availability or "", "label_add": args.label_add,
                              "label_rm": args.label_rm, "role": args.role or ""})
    print(args.node)
    return 0


def _set_role(refs: list[str], role: str, verb: str) -> int:
    from orchestrator.cli.cluster import membership

    for ref in refs:
        membership("UpdateNode", {"ref": ref, "role": role}, timeout=60)
        print(f"Node {ref} {verb} {'to a manager' if role == 'manager' else 'to a worker'} in the cluster.")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    return _set_role(args.nodes, "manager", "promoted")


def cmd_demote(args: argparse.Namespace) -> int:
    return _set_role(args.nodes, "worker", "demoted")


def cmd_rm(args: argparse.Namespace) -> int:
    from orchestrator.cli.cluster import membership

    for ref in args.nodes:
        membership("RemoveNode", {"ref": ref, "force": args.force})
        print(ref)
    return 0
