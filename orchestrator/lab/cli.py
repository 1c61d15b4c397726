"""`orch lab up|ls|exec|kill|start|down` (see :mod:`orchestrator.lab`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

LAB_COLUMNS = [("NAME", "Name"), ("ADDRESS", "Address"), ("ROLE", "Role"), ("STATE", "State"),
               ("MANAGER STATUS", "ManagerStatus")]


def add_arguments(sub: Any) -> None:
    from orchestrator.cli.main import Parser, _lazy

    m = "orchestrator.lab.cli"
    lab = sub.add_parser("lab", help="A multi-host cluster on this machine, made of network namespaces")
    lsub = lab.add_subparsers(dest="lab_cmd", required=True, parser_class=Parser)

    def named(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", default=os.environ.get("ORCH_LAB", "lab"), help="the lab (default: lab)")

    p = lsub.add_parser("up", help="Build a lab and form its cluster")
    named(p)
    p.add_argument("--managers", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_lazy(m, "cmd_up"))
    p = lsub.add_parser("ls", help="List a lab's hosts")
    named(p)
    p.add_argument("--format")
    p.set_defaults(func=_lazy(m, "cmd_ls"))
    p = lsub.add_parser("exec", help="Run a command inside a host, with the CLI pointed at its daemon")
    named(p)
    p.add_argument("node")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_lazy(m, "cmd_exec"))
    p = lsub.add_parser("kill", help="SIGKILL one host's daemon (its containers keep running)")
    named(p)
    p.add_argument("node")
    p.set_defaults(func=_lazy(m, "cmd_kill"))
    p = lsub.add_parser("start", help="Start the daemon of one host (or of every stopped host)")
    named(p)
    p.add_argument("node", nargs="?")
    p.set_defaults(func=_lazy(m, "cmd_start"))
    p = lsub.add_parser("down", help="Remove a lab and everything it made")
    named(p)
    p.set_defaults(func=_lazy(m, "cmd_down"))


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from orchestrator.cli.errors import CliError
        from orchestrator.lab.lab import LabError
        from orchestrator.lab.plumbing import PlumbingError

        if os.geteuid() != 0:
            raise CliError("orch lab needs root (network namespaces, cgroups, mounts)")
        try:
            return int(fn(args) or 0)
        except (LabError, PlumbingError) as err:
            raise CliError(str(err)) from None

    return run


@_guard
def cmd_up(args: argparse.Namespace) -> int:
    from orchestrator.lab.lab import Lab

    lab = Lab.up(args.name, args.managers, args.workers, progress=lambda s: print(s, file=sys.stderr))
    print(f"lab {lab.name} is up: {args.managers} managers, {args.workers} workers "
          f"(try `orch lab exec --name {lab.name} m1 -- orch node ls`)")
    return 0


@_guard
def cmd_ls(args: argparse.Namespace) -> int:
    from orchestrator.cli.output import render
    from orchestrator.lab.lab import Lab

    render(Lab.load(args.name).rows(), args.format, LAB_COLUMNS)
    return 0


@_guard
def cmd_exec(args: argparse.Namespace) -> int:
    from orchestrator.lab.lab import Lab

    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    cmd, env = Lab.load(args.name).exec_argv(args.node, argv)
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, env)
    return 127


@_guard
def cmd_kill(args: argparse.Namespace) -> int:
    from orchestrator.lab.lab import Lab

    Lab.load(args.name).kill(args.node)
    print(args.node)
    return 0


@_guard
def cmd_start(args: argparse.Namespace) -> int:
    from orchestrator.lab.lab import Lab

    for name in Lab.load(args.name).start(args.node):
        print(name)
    return 0


@_guard
def cmd_down(args: argparse.Namespace) -> int:
    from orchestrator.lab.lab import Lab

    Lab.load(args.name).down()
    print(f"lab {args.name} removed")
    return 0
