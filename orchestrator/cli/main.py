"""The `orch` command: argument parsing and dispatch.

Each command group lives in its own module and registers its subcommands here; the modules are
imported only when their command runs, so `orch run` pays for gRPC and nothing else. Errors end
as one line on stderr and Docker's exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from orchestrator.cli.errors import CliError


class Parser(argparse.ArgumentParser):
    """argparse with Docker's conventions: one-line usage errors, exit status 125 for run/create."""

    error_exit_code = 125

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"orch: {message}. See '{self.prog} --help'.\n")
        sys.exit(self.error_exit_code)


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), func)(args) or 0)

    return run


def _add_container_commands(sub: Any) -> None:
    from orchestrator.cli import container_args

    m = "orchestrator.cli.containers"
    for name in ("run", "create"):
        p = sub.add_parser(name, help=f"{name.capitalize()} a new container", add_help=False)
        p.add_argument("--help", action="help", help="show this help message and exit")
        container_args.add_create_arguments(p, run=name == "run")
        p.set_defaults(func=_lazy(m, f"cmd_{name}"))

    p = sub.add_parser("ps", help="List containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-s", "--size", action="store_true")
    p.set_defaults(func=_lazy(m, "cmd_ps"))

    p = sub.add_parser("logs", help="Fetch the logs of a container")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--details", action="store_true")
    p.add_argument("container")
    p.set_defaults(func=_lazy(m, "cmd_logs"))

    p = sub.add_parser("exec", help="Execute a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-u", "--user", default="")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=_lazy(m, "cmd_exec"))

    for name, helptext in (("stop", "Stop one or more running containers"),
                           ("restart", "Restart one or more containers")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-t", "--time", "--timeout", dest="time", type=int, default=None)
        p.add_argument("-s", "--signal", default="")
        p.add_argument("containers", nargs="+")
        p.set_defaults(func=_lazy(m, f"cmd_{name}"))

    p = sub.add_parser("start", help="Start one or more stopped containers")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_start"))

    p = sub.add_parser("kill", help="Kill one or more running containers")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_kill"))

    p = sub.add_parser("rm", help="Remove one or more containers")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("-l", "--link", action="store_true")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_rm"))

    p = sub.add_parser("inspect", help="Return low-level information on objects")
    p.add_argument("-f", "--format")
    p.add_argument("--type", choices=["container", "image", "volume"])
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))

    p = sub.add_parser("wait", help="Block until containers stop, then print their exit codes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_wait"))

    p = sub.add_parser("stats", help="Display a live stream of container resource usage statistics")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format")
    p.add_argument("containers", nargs="*")
    p.set_defaults(func=_lazy(m, "cmd_stats"))


def _add_image_commands(sub: Any) -> None:
    m = "orchestrator.cli.images"
    img = sub.add_parser("image", help="Manage images")
    isub = img.add_subparsers(dest="image_cmd", required=True, parser_class=Parser)

    def add(parent: Any, name: str, aliases: tuple[str, ...] = ()) -> Any:
        return parent.add_parser(name, aliases=list(aliases))

    for parent, prefix in ((isub, ""), (sub, "top")):
        top = prefix == "top"
        p = add(parent, "images" if top else "ls", () if top else ("list",))
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("-f", "--filter", action="append", default=[])
        p.add_argument("--format")
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("--digests", action="store_true")
        p.add_argument("repository", nargs="?")
        p.set_defaults(func=_lazy(m, "cmd_ls"))

        p = add(parent, "import")
        p.add_argument("-c", "--change", action="append", default=[])
        p.add_argument("-m", "--message", default="")
        p.add_argument("--platform")
        p.add_argument("file")
        p.add_argument("reference", nargs="?")
        p.set_defaults(func=_lazy(m, "cmd_import"))

        p = add(parent, "load")
        p.add_argument("-i", "--input")
        p.add_argument("-q", "--quiet", action="store_true")
        p.set_defaults(func=_lazy(m, "cmd_load"))

        p = add(parent, "save")
        p.add_argument("-o", "--output")
        p.add_argument("images", nargs="+")
        p.set_defaults(func=_lazy(m, "cmd_save"))

        p = add(parent, "rmi" if top else "rm", () if top else ("remove",))
        p.add_argument("-f", "--force", action="store_true")
        p.add_argument("--no-prune", action="store_true")
        p.add_argument("images", nargs="+")
        p.set_defaults(func=_lazy(m, "cmd_rm"))

        p = add(parent, "tag")
        p.add_argument("source")
        p.add_argument("target")
        p.set_defaults(func=_lazy(m, "cmd_tag"))

        p = add(parent, "history")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("-H", "--human", default="true")
        p.add_argument("--format")
        p.add_argument("image")
        p.set_defaults(func=_lazy(m, "cmd_history"))

    p = isub.add_parser("inspect")
    p.add_argument("-f", "--format")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))

    p = isub.add_parser("prune")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=_lazy(m, "cmd_prune"))


def _add_volume_commands(sub: Any) -> None:
    m = "orchestrator.cli.volumes"
    vol = sub.add_parser("volume", help="Manage volumes")
    vsub = vol.add_subparsers(dest="volume_cmd", required=True, parser_class=Parser)
    p = vsub.add_parser("create")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=_lazy(m, "cmd_create"))
    p = vsub.add_parser("ls", aliases=["list"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.set_defaults(func=_lazy(m, "cmd_ls"))
    p = vsub.add_parser("inspect")
    p.add_argument("-f", "--format")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_inspect"))
    p = vsub.add_parser("rm", aliases=["remove"])
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=_lazy(m, "cmd_rm"))
    p = vsub.add_parser("prune")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=_lazy(m, "cmd_prune"))


def _add_network_commands(sub: Any) -> None:
    from orchestrator.cli import networks

    networks.add_commands(sub, Parser, _lazy)


def _add_system_commands(sub: Any) -> None:
    m = "orchestrator.cli.system"
    p = sub.add_parser("version", help="Show the orch version information")
    p.add_argument("-f", "--format")
    p.set_defaults(func=_lazy(m, "cmd_version"))
    p = sub.add_parser("info", help="Display system-wide information")
    p.add_argument("-f", "--format")
    p.set_defaults(func=_lazy(m, "cmd_info"))
    p = sub.add_parser("daemon", help="Run the orch daemon (orchd) in the foreground")
    from orchestrator import daemon

    daemon.add_arguments(p)
    p.set_defaults(func=_lazy("orchestrator.daemon", "run"))


def _add_compose_commands(sub: Any) -> None:
    """`orch compose <cmd>` as under `docker compose`; `config` also works at the top level."""
    from orchestrator.cli import compose_config

    comp = sub.add_parser("compose", help="Define and run multi-container applications")
    compose_config.add_project_arguments(comp)
    csub = comp.add_subparsers(dest="compose_cmd", required=True, parser_class=Parser)
    for parent in (csub, sub):
        p = parent.add_parser("config", help="Parse, resolve and render compose file in canonical format")
        if parent is sub:
            compose_config.add_project_arguments(p)
        compose_config.add_config_arguments(p)
        p.set_defaults(func=_lazy("orchestrator.cli.compose_config", "run_config"))
    if _WORD != "config":  # `orch config` talks to no daemon: skip the modules that import grpc
        from orchestrator.cli import compose_cmds

        compose_cmds.add_commands(csub, sub, _lazy, Parser)


def _add_cluster_commands(sub: Any) -> None:
    """`orch service`, `orch node`, `orch cluster`: each module registers its own subcommands."""
    from orchestrator.cli import cluster, nodes, services

    services.add_arguments(sub)
    nodes.add_arguments(sub)
    cluster.add_arguments(sub)


def _add_lab_commands(sub: Any) -> None:
    from orchestrator.lab import cli as lab_cli

    lab_cli.add_arguments(sub)


def _container_extras() -> Any:
    from orchestrator.cli import container_extras

    return container_extras


# Command groups and the top-level words they own. Only the group of the command being run is
# built (building the compose group imports pydantic models; `orch run` must not pay for that).
GROUPS: list[tuple[Callable[[Any], None], tuple[str, ...]]] = [
    (_add_container_commands, ("run", "create", "ps", "logs", "exec", "stop", "restart", "start", "kill", "rm",
                               "inspect", "wait", "stats")),
    (_add_image_commands, ("image", "images", "import", "load", "save", "rmi", "tag", "history")),
    (_add_volume_commands, ("volume",)),
    (_add_network_commands, ("network",)),
    (_add_system_commands, ("version", "info", "daemon")),
    (_add_compose_commands, ("compose", "config", "up", "down", "scale", "stack")),
    (_add_cluster_commands, ("service", "node", "cluster")),
    (_add_lab_commands, ("lab",)),
    (lambda sub: _container_extras().add_commands(sub, _lazy, Parser), ("attach", "pause", "unpause", "top", "cp",
     "diff", "export", "commit", "rename", "update", "events", "container", "system", "port")),
]


_WORD: str | None = None  # the command word being run (None: build every group, e.g. for --help)


def _selected(argv: list[str]) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
    return None


def build_parser(argv: list[str] | None = None) -> Parser:
    ap = Parser(prog="orch", description="A Compose/Swarm-style container orchestrator.")
    ap.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="subcommand", parser_class=Parser, metavar="COMMAND")
    global _WORD
    word = _WORD = _selected(argv) if argv is not None else None
    known = {w for _, words in GROUPS for w in words}
    for add, words in GROUPS:
        if word is None or word not in known or word in words:
            add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = build_parser(argv)
    args = ap.parse_args(argv)
    if args.version:
        from agent.api import VERSION

        print(f"orch version {VERSION}")
        return 0
    if not getattr(args, "func", None):
        ap.print_help()
        return 0
    # grpc is imported by the commands that talk to a daemon, not here: `orch config` needs none.
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"orch: {e}" if e.exit_code == 125 else f"Error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 141
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
        grpc = sys.modules.get("grpc")
        if grpc is not None and isinstance(e, grpc.RpcError):
            return _rpc_failure(e, args.subcommand)
        if os.environ.get("ORCH_DEBUG"):
            raise
        if isinstance(e, OSError):
            msg = f"{e.strerror or e}: {e.filename}" if e.filename else str(e)
        else:
            msg = f"{type(e).__name__}: {e}"
        print(f"orch: {msg}", file=sys.stderr)
        return 125 if args.subcommand in ("run", "create") else 1


def _rpc_failure(e: Exception, subcommand: str | None) -> int:
    from orchestrator.cli.client import rpc_error_message, rpc_exit_code

    code = 125 if subcommand in ("run", "create") else 1
    if subcommand in ("run", "create", "start", "exec"):
        code = rpc_exit_code(e, code)  # type: ignore[arg-type]
    prefix = "orch: " if subcommand in ("run", "create") else ""
    print(f"{prefix}Error response from daemon: {rpc_error_message(e)}", file=sys.stderr)  # type: ignore[arg-type]
    return code


if __name__ == "__main__":
    sys.exit(main())
