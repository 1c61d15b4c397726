"""`orch cluster init|inspect` (Docker's `swarm init|inspect`).

The embedded daemon already initializes a cluster of one on first start, so on such a node `init`
reports that it is already part of a cluster, as Docker does on a node that is in a swarm.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from orchestrator.cli.output import render_inspect
from orchestrator.cli.swarm import control


def add_arguments(sub: Any) -> None:
    from orchestrator.cli.main import Parser, _lazy

    m = "orchestrator.cli.cluster"
    cl = sub.add_parser("cluster", help="Manage the cluster")
    csub = cl.add_subparsers(dest="cluster_cmd", required=True, parser_class=Parser)
    p = csub.add_parser("init", help="Initialize a cluster")
    p.add_argument("--advertise-addr", default="")
    p.add_argument("--listen-addr", default="")
    p.add_argument("--force-new-cluster", action="store_true")
    p.set_defaults(func=_lazy(m, "cmd_init"))
    p = csub.add_parser("join-token", help="Manage join tokens")
    p.add_argument("role", choices=["worker", "manager"])
    p.add_argument("-q", "--quiet", action="store_true", help="only display the token")
    p.add_argument("--rotate", action="store_true", help="rotate the join token")
    p.set_defaults(func=_lazy(m, "cmd_join_token"))
    p = csub.add_parser("join", help="Join a cluster as a node and/or manager")
    p.add_argument("--token", required=True)
    p.add_argument("remote", metavar="HOST:PORT")
    p.set_defaults(func=_lazy(m, "cmd_join"))
    p = csub.add_parser("leave", help="Leave the cluster")
    p.add_argument("-f", "--force", action="store_true", help="force this node to leave (a manager needs it)")
    p.set_defaults(func=_lazy(m, "cmd_leave"))
    p = csub.add_parser("inspect", help="Display detailed information on the cluster")
    p.add_argument("-f", "--format")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))


def cmd_init(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    reply = control().InitCluster(pb.InitClusterRequest(advertise_addr=args.advertise_addr, listen_addr=args.listen_addr,
                                                        force_new_cluster=args.force_new_cluster))
    print(f"Cluster initialized: current node ({reply.node_id}) is now a manager.")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from proto.orch.v1 import control_pb2 as pb

    render_inspect([json.loads(control().InspectCluster(pb.ControlEmpty()).json)], args.format)
    return 0


def membership(method: str, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Call the local daemon's ``orch.v1.Membership``; domain errors become one-line CLI errors."""
    from orchestrator.cli import client
    from orchestrator.cli.errors import CliError
    from orchestrator.errors import OrchError
    from orchestrator.membership import rpc

    try:
        return rpc.call(client.channel(), method, request, timeout=timeout)
    except OrchError as err:
        raise CliError(str(err)) from None


def cmd_join_token(args: argparse.Namespace) -> int:
    reply = membership("JoinToken", {"role": args.role, "rotate": args.rotate})
    if args.quiet:
        print(reply["token"])
        return 0
    if args.rotate:
        print(f"Successfully rotated {args.role} join token.\n")
    print(f"To add a {args.role} to this cluster, run the following command:\n")
    print(f"    orch cluster join --token {reply['token']} {reply.get('addr') or '<this manager>:2377'}\n")
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    reply = membership("JoinCluster", {"token": args.token, "remote": args.remote}, timeout=60)
    print("This node joined a cluster as a manager." if reply["role"] == "manager"
          else "This node joined a cluster as a worker.")
    return 0


def cmd_leave(args: argparse.Namespace) -> int:
    membership("Leave", {"force": args.force}, timeout=60)
    print("Node left the cluster.")
    return 0
