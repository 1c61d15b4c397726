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
