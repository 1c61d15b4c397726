"""`orch up|down|scale`, `orch compose up|down|ps|logs|ls|exec|scale` and `orch stack ...`.

A compose project is a stack in the cluster: ``orchestrator.compose.deploy`` turns it into services
through the ControlAPI (the same calls as `orch service create`), overlay networks through the
ControlAPI too, ``driver: bridge`` networks through the Networks API and volumes through the Engine API. This module parses flags, wires the gRPC clients into
:class:`GrpcCluster` and prints: compose-like progress lines (coloured with rich on a terminal) and
prefixed, coloured log lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

import grpc

from orchestrator.cli import client
from orchestrator.cli.errors import CliError

COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


# ------------------------------------------------------------------ the cluster, over gRPC
class GrpcCluster:
    """The deployer's view of the daemon (ControlAPI + Networks + Engine)."""

    def __init__(self) -> None:
        from orchestrator.cli.swarm import control
        from proto.orch.v1 import network_pb2_grpc

        self.control = control()
        self.engine = client.engine()
        self.nets = network_pb2_grpc.NetworksStub(client.channel())

    def all_services(self) -> list[dict[str, Any]]:
        from proto.orch.v1 import control_pb2 as cpb

        return [json.loads(j) for j in self.control.ListServices(cpb.ControlListRequest()).json]

    def services(self, project: str) -> dict[str, dict[str, Any]]:
        from orchestrator.compose.plan import LABEL_PROJECT

        return {d["Spec"]["Name"]: d for d in self.all_services()
                if (d["Spec"].get("Labels") or {}).get(LABEL_PROJECT) == project}

    def create_service(self, doc: dict[str, Any]) -> None:
        from proto.orch.v1 import control_pb2 as cpb

        self.control.CreateService(cpb.CreateServiceRequest(spec_json=json.dumps(doc)))

    def update_service(self, name: str, doc: dict[str, Any], force: bool = False) -> None:
        """UpdateService with the version just read (re-read on a race); ``force`` bumps ForceUpdate."""
        from proto.orch.v1 import control_pb2 as cpb

        for attempt in range(5):
            have = json.loads(self.control.InspectService(cpb.ControlRef(ref=name)).json)
            want = json.loads(json.dumps(doc))
            if force:
                bump = int((have["Spec"].get("TaskTemplate") or {}).get("ForceUpdate") or 0) + 1
                want["TaskTemplate"]["ForceUpdate"] = bump
            try:
                self.control.UpdateService(cpb.UpdateServiceRequest(ref=have["ID"], version=have["Version"]["Index"],
                                                                    spec_json=json.dumps(want)))
                return
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ABORTED or attempt == 4:  # type: ignore[attr-defined]
                    raise

    def image_exists(self, ref: str) -> bool:
        from proto.orch.v1 import engine_pb2 as epb

        try:
            self.engine.ImageInspect(epb.RefRequest(ref=ref))
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return False
            raise

    def remove_services(self, names: list[str]) -> None:
        from proto.orch.v1 import control_pb2 as cpb

        if names:
            self.control.RemoveServices(cpb.RemoveServicesRequest(refs=names))

    def scale(self, name: str, replicas: int) -> None:
        from proto.orch.v1 import control_pb2 as cpb

        self.control.ScaleService(cpb.ScaleServiceRequest(ref=name, replicas=replicas))

    def tasks(self, service: str) -> list[dict[str, Any]]:
        from proto.orch.v1 import control_pb2 as cpb

        req = cpb.ListTasksRequest(filters=[cpb.ControlFilter(key="service", value=service)])
        try:
            return [json.loads(j) for j in self.control.ListTasks(req).json]
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return []
            raise

    def containers(self, project: str, all: bool = True, oneoff: bool = False) -> list[Any]:
        """The project's containers; `run`'s one-off containers only with ``oneoff`` (the deployer's
        waits and `ps`/`logs` are about the services' task containers)."""
        from orchestrator.compose.plan import LABEL_PROJECT
        from proto.orch.v1 import engine_pb2 as epb

        found = self.engine.ContainerList(epb.ContainerListRequest(all=all)).containers
        return [c for c in found if c.labels.get(LABEL_PROJECT) == project
                and (oneoff or c.labels.get("com.docker.compose.oneoff") != "True")]

    def networks(self) -> dict[str, dict[str, str]]:
        """Cluster networks (ControlAPI) and this node's own ones, name -> labels. A node's records of
        overlay networks are left out: they only realise cluster networks (and linger while removed)."""
        from proto.orch.v1 import control_pb2 as cpb
        from proto.orch.v1 import network_pb2 as npb

        local = {n.name: dict(n.labels) for n in self.nets.List(npb.NetworkListRequest()).networks
                 if n.driver != "overlay"}
        docs = [json.loads(j) for j in self.control.ListNetworks(cpb.ControlListRequest()).json]
        return {**local, **{d["Name"]: dict(d.get("Labels") or {}) for d in docs}}

    def create_network(self, name: str, labels: dict[str, str], internal: bool, *, driver: str = "overlay",
                       attachable: bool = False) -> None:
        """Overlay networks are the cluster's (ControlAPI); ``bridge`` ones this node's (Networks API)."""
        if driver == "overlay":
            from proto.orch.v1 import control_pb2 as cpb

            self.control.CreateNetwork(cpb.CreateNetworkRequest(name=name, driver="overlay", labels=labels,
                                                                internal=internal, attachable=attachable))
            return
        from proto.orch.v1 import network_pb2 as npb

        self.nets.Create(npb.NetworkCreateRequest(name=name, driver=driver, labels=labels, internal=internal,
                                                  attachable=attachable))

    def remove_network(self, name: str, timeout: float = 60.0) -> None:
        """The cluster network ``name``, else the node's. A cluster network is refused while a removed
        service's task still stops on some node: that is waited for (polling until ``timeout``)."""
        import time

        from proto.orch.v1 import control_pb2 as cpb
        from proto.orch.v1 import network_pb2 as npb

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.control.RemoveNetwork(cpb.ControlRef(ref=name))
                return
            except grpc.RpcError as e:
                code = e.code()  # type: ignore[attr-defined]
                if code == grpc.StatusCode.NOT_FOUND:
                    break
                if (code != grpc.StatusCode.FAILED_PRECONDITION or "in use by task" not in (e.details() or "")  # type: ignore[attr-defined]
                        or time.monotonic() > deadline):
                    raise
            time.sleep(0.2)
        self.nets.Remove(npb.NetworkRef(ref=name))

    def volumes(self) -> dict[str, dict[str, str]]:
        from proto.orch.v1 import engine_pb2 as epb

        return {v.name: dict(v.labels) for v in self.engine.VolumeList(epb.VolumeListRequest()).volumes}

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        from proto.orch.v1 import engine_pb2 as epb

        self.engine.VolumeCreate(epb.VolumeCreateRequest(name=name, driver="local", labels=labels))

    def remove_volume(self, name: str) -> None:
        from proto.orch.v1 import engine_pb2 as epb

        self.engine.VolumeRemove(epb.VolumeRemoveRequest(names=[name]))


# ------------------------------------------------------------------ progress and logs
class ProgressPrinter:
    """Compose-style progress: a live rich table on a terminal, plain lines otherwise.

    Plain lines read like compose's (` ✔ Network p_default  Created`), so scripts and tests can grep them;
    on a TTY one row per network, volume and service is redrawn in place with a spinner until it is done.
    """

    DONE = ("Created", "Recreated", "Updated", "Removed", "Running", "Scaled", "Healthy", "Started", "Exited (0)", "Stopped")

    def __init__(self, stream: Any = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.rows: dict[tuple[str, str], str] = {}
        self.live: Any = None
        if live if live is not None else self.stream.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=self.stream), refresh_per_second=10, transient=False)

    def __enter__(self) -> ProgressPrinter:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self._table(), refresh=True)
            self.live.stop()

    def _table(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table

        t = Table.grid(padding=(0, 1))
        done = sum(1 for w in self.rows.values() if w in self.DONE)
        t.add_row("", f"[bold]{done}/{len(self.rows)}[/bold]", "")
        for (kind, name), what in self.rows.items():
            mark: Any = "[green]✔[/green]" if what in self.DONE else Spinner("dots", style="blue")
            style = "green" if what in self.DONE else "blue"
            t.add_row(mark, f"{kind} {name}", f"[{style}]{what}[/{style}]")
        return t

    def __call__(self, kind: str, name: str, what: str) -> None:
        self.rows[(kind, name)] = what
        if self.live is not None:
            self.live.update(self._table())
            return
        mark = "✔" if what in self.DONE else "⠿"
        print(f" {mark} {kind} {name:<30} {what}", file=self.stream, flush=True)


def _prefix(c: Any) -> tuple[str, str]:
    """(service, `service-N`) for a task container named `<project>_<service>.<slot>.<task id>`."""
    from orchestrator.compose.plan import LABEL_SERVICE

    svc = c.labels.get(LABEL_SERVICE, c.name)
    middle = c.name.split(".")[1] if c.name.count(".") >= 2 else ""
    slot = middle if middle.isdigit() else middle[:8]
    return svc, f"{svc}-{slot}" if slot else svc


class LogPrinter:
    """Follows the logs of a project's containers, one thread per container, lines prefixed and coloured."""

    def __init__(self, cluster: GrpcCluster, project: str, *, follow: bool, timestamps: bool, tail: int,
                 services: list[str], colour: bool) -> None:
        self.cluster, self.project = cluster, project
        self.follow, self.timestamps, self.tail = follow, timestamps, tail
        self.services = set(services)
        self.colour = colour
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        self.threads: list[threading.Thread] = []
        self.colours: dict[str, str] = {}
        self.width = 0

    def _write(self, prefix: str, svc: str, line: str) -> None:
        with self.lock:
            self.width = max(self.width, len(prefix))
            head = f"{prefix:<{self.width}} | "
            if self.colour:
                code = self.colours.setdefault(svc, COLOURS[len(self.colours) % len(COLOURS)])
                head = f"\x1b[{code}m{head}\x1b[0m"
            sys.stdout.write(head + line + "\n")
            sys.stdout.flush()

    def _pump(self, c: Any) -> None:
        from proto.orch.v1 import engine_pb2 as epb

        svc, prefix = _prefix(c)
        req = epb.LogsRequest(id=c.id, follow=self.follow, tail=self.tail, timestamps=self.timestamps,
                              stdout=True, stderr=True)
        buf = b""
        try:
            for entry in self.cluster.engine.ContainerLogs(req):
                buf += entry.data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode(errors="replace")
                    if self.timestamps and entry.time:
                        text = f"{entry.time} {text}"
                    self._write(prefix, svc, text)
        except grpc.RpcError:
            pass
        if buf:
            self._write(prefix, svc, buf.decode(errors="replace"))

    def scan(self) -> None:
        for c in sorted(self.cluster.containers(self.project), key=lambda c: c.name):
            svc, _ = _prefix(c)
            if c.id in self.seen or (self.services and svc not in self.services):
                continue
            self.seen.add(c.id)
            t = threading.Thread(target=self._pump, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def run(self, stop: threading.Event | None = None) -> None:
        self.scan()
        if not self.follow:
            for t in self.threads:
                t.join()
            return
        stop = stop or threading.Event()
        while not stop.wait(0.5):
            self.scan()


# ------------------------------------------------------------------ commands
def _load(args: argparse.Namespace, *, optional: bool = False) -> Any:
    """The project of `-f/-p`; with ``optional`` a bare `-p NAME` (no file) is enough."""
    from orchestrator.cli.compose_config import print_warnings, project_options
    from orchestrator.compose import ComposeError, load_project

    try:
        project = load_project(project_options(args))
    except ComposeError as e:
        if optional and getattr(args, "project_name", None) and not getattr(args, "files", None):
            return None
        raise CliError(str(e)) from None
    print_warnings(project, sys.stderr)
    return project


def _project_name(args: argparse.Namespace) -> str:
    project = _load(args, optional=True)
    if project is None:
        from orchestrator.compose import normalize_project_name

        return normalize_project_name(args.project_name)
    return str(project.name)


def _parse_scale(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        svc, sep, n = v.partition("=")
        if not sep or not n.isdigit():
            raise CliError(f"invalid --scale {v!r}: expected SERVICE=NUMBER")
        out[svc] = int(n)
    return out


def _compose_error(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        from orchestrator.compose import ComposeError

        try:
            return int(fn(args) or 0)
        except ComposeError as e:
            raise CliError(str(e)) from None

    return wrapped


@_compose_error
def cmd_up(args: argparse.Namespace) -> int:
    from orchestrator.compose.deploy import UpOptions, stop, up

    project = _load(args)
    cluster = GrpcCluster()
    opts = UpOptions(services=list(args.services), scale=_parse_scale(args.scale),
                     force_recreate=args.force_recreate, no_recreate=args.no_recreate,
                     remove_orphans=args.remove_orphans, wait=args.wait, timeout=float(args.wait_timeout),
                     build=getattr(args, "build", False))
    with ProgressPrinter() as progress:
        desired, plan = up(project, cluster, opts, progress)
    for warning in desired.warnings:
        print(f"WARN[0000] {warning}", file=sys.stderr)
    if plan.orphans:
        print(f"WARN[0000] Found orphan services ({', '.join(plan.orphans)}) for this project. If you removed or "
              "renamed this service in your compose file, you can run this command with the --remove-orphans "
              "flag to clean it up.", file=sys.stderr)
    if args.detach:
        return 0
    logs = LogPrinter(cluster, project.name, follow=True, timestamps=False, tail=-1,
                      services=list(args.services), colour=sys.stdout.isatty())
    print("Attaching to " + ", ".join(s.name for s in desired.services.values()), file=sys.stderr)
    try:
        logs.run()
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
        with ProgressPrinter() as progress:
            stop(project.name, cluster, progress=progress)
    return 0


@_compose_error
def cmd_down(args: argparse.Namespace) -> int:
    from orchestrator.compose.deploy import down

    project = _load(args, optional=True)
    name = project.name if project is not None else _project_name(args)
    services = set(project.services) | set(project.disabled_services) if project is not None else None
    from orchestrator.cli.compose_more import remove_images, remove_oneoffs

    if args.rmi and project is None:
        raise CliError("--rmi needs the compose file (-f) to know the project's images")
    cluster = GrpcCluster()
    remove_oneoffs(cluster, name)
    with ProgressPrinter() as progress:
        down(name, cluster, volumes=args.volumes, services=services, remove_orphans=args.remove_orphans,
             timeout=float(args.timeout or 10) + 60, progress=progress)
    if args.rmi:
        remove_images(cluster, project, args.rmi)
    return 0


@_compose_error
def cmd_ps(args: argparse.Namespace) -> int:
    from orchestrator.cli.output import render
    from orchestrator.compose.plan import LABEL_SERVICE

    project = _load(args, optional=True)
    name = project.name if project is not None else _project_name(args)
    cluster = GrpcCluster()
    if args.services_only:
        for svc in sorted(cluster.services(name)):
            print(svc.removeprefix(f"{name}_"))
        return 0
    statuses = _ps_statuses(args.filter, args.status)
    mesh = mesh_ports(cluster, name)
    rows = []
    for c in sorted(cluster.containers(name, all=args.all or bool(statuses)), key=lambda c: c.name):
        if c.labels.get("com.docker.compose.oneoff") == "True":
            continue  # `run` containers, as compose's ps leaves them out
        if args.service and c.labels.get(LABEL_SERVICE) not in args.service:
            continue
        if not _ps_status_ok(c.state, statuses):
            continue
        rows.append(_ps_row(c, name, mesh.get(c.labels.get(LABEL_SERVICE, ""), "")))
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    columns = [("NAME", "Name"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("SERVICE", "Service"),
               ("STATUS", "Status"), ("PORTS", "Ports")]
    if args.format == "json":  # one JSON array, as compose before 2.21 (scripts and tests parse it whole)
        print(json.dumps(rows))
        return 0
    render(rows, args.format, columns)
    return 0


PS_STATUSES = ("paused", "restarting", "removing", "running", "dead", "created", "exited")


def _ps_statuses(filters: list[str], statuses: list[str]) -> set[str]:
    """`compose ps --filter status=X` and `--status X`: the one filter key docker compose accepts."""
    from orchestrator.cli.filters import FilterError, Filters
    from orchestrator.cli.parse import FlagError

    try:
        f = Filters.parse(filters)
        f.validate(("status",))
        f = Filters({"status": [*f.get("status"), *statuses]})
        f.validate_values("status", PS_STATUSES)
    except (FilterError, FlagError) as e:
        raise CliError(str(e)) from None
    return set(f.get("status"))


def _ps_status_ok(state: str, statuses: set[str]) -> bool:
    return not statuses or state in statuses


def mesh_ports(cluster: GrpcCluster, project: str) -> dict[str, str]:
    """Compose service name -> its routing-mesh ports as `0.0.0.0:8080->80/tcp, ...`.

    Ingress-published ports belong to the service, not to a container (every node accepts them), so
    ``ps`` and ``port`` take them from the service's endpoint, where the cluster filled them in.
    """
    from orchestrator.compose.plan import LABEL_SERVICE

    out = {}
    for doc in cluster.services(project).values():
        ports = (doc.get("Endpoint") or {}).get("Ports") or []
        text = ", ".join(f"0.0.0.0:{p['PublishedPort']}->{p['TargetPort']}/{p.get('Protocol') or 'tcp'}"
                         for p in ports if p.get("PublishMode", "ingress") == "ingress" and p.get("PublishedPort"))
        if text:
            out[(doc["Spec"].get("Labels") or {}).get(LABEL_SERVICE, "")] = text
    return out


def _ps_row(c: Any, project: str, mesh: str = "") -> dict[str, Any]:
    """One `docker compose ps` row with its `--format` fields (ContainerSummary's names); ``mesh`` are the
    service's routing-mesh ports, shown as the container's as compose shows published ports."""
    from orchestrator.compose.plan import LABEL_SERVICE

    ports = ", ".join(p for p in (c.ports, mesh if c.state == "running" else "") if p)
    health = getattr(c, "health", "")
    return {"ID": c.id[:12], "Name": c.name, "Names": c.name, "Image": c.image, "Command": json.dumps(c.command),
            "Project": project, "Service": c.labels.get(LABEL_SERVICE, ""), "Created": int(c.created),
            "State": c.state, "Status": c.status, "Health": "" if health == "none" else health,
            "ExitCode": int(c.exit_code), "Publishers": _publishers(ports), "Ports": ports,
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(c.labels.items())), "Networks": c.networks,
            "Mounts": c.mounts}


def _publishers(ports: str) -> list[dict[str, Any]]:
    """`0.0.0.0:8080->80/tcp, 3000/tcp` as compose's Publishers: URL, TargetPort, PublishedPort, Protocol."""
    out = []
    for item in filter(None, (p.strip() for p in ports.split(","))):
        published, _, target = item.rpartition("->")
        port, _, proto = target.partition("/")
        url, _, pub = published.rpartition(":")
        try:
            out.append({"URL": url, "TargetPort": int(port.split("-")[0]),
                        "PublishedPort": int(pub.split("-")[0]) if pub else 0, "Protocol": proto or "tcp"})
        except ValueError:
            continue
    return out


@_compose_error
def cmd_logs(args: argparse.Namespace) -> int:
    tail = -1 if args.tail in ("all", None) else int(args.tail)
    name = _project_name(args)
    printer = LogPrinter(GrpcCluster(), name, follow=args.follow, timestamps=args.timestamps, tail=tail,
                         services=list(args.services), colour=sys.stdout.isatty() and not args.no_color)
    try:
        printer.run()
    except KeyboardInterrupt:
        pass
    return 0


@_compose_error
def cmd_ls(args: argparse.Namespace) -> int:
    from orchestrator.cli.output import render
    from orchestrator.compose.deploy import projects

    rows = []
    for name, p in sorted(projects(GrpcCluster()).items()):
        state = f"running({p['running']})" if p["running"] else "created"
        rows.append({"Name": name, "Status": state, "ConfigFiles": p["config_files"], "Services": len(p["services"])})
    if args.quiet:
        for r in rows:
            print(r["Name"])
        return 0
    if args.format == "json":
        print(json.dumps(rows))
        return 0
    render(rows, args.format, [("NAME", "Name"), ("STATUS", "Status"), ("CONFIG FILES", "ConfigFiles")])
    return 0


@_compose_error
def cmd_exec(args: argparse.Namespace) -> int:
    from orchestrator.cli.stream import run_exec
    from orchestrator.compose.plan import LABEL_SERVICE
    from proto.orch.v1 import engine_pb2 as epb

    if not args.command:
        raise CliError("exec requires a service and a command")
    name = _project_name(args)
    cluster = GrpcCluster()
    found = [c for c in cluster.containers(name, all=False) if c.labels.get(LABEL_SERVICE) == args.service]
    want = str(args.index)
    match = [c for c in found if _prefix(c)[1] == f"{args.service}-{want}"] or (found if args.index == 1 else [])
    if not match:
        raise CliError(f"service {args.service!r} is not running" if not found
                       else f"service {args.service!r} has no container with index {args.index}")
    c = sorted(match, key=lambda c: c.name)[0]
    tty = not args.no_tty and sys.stdin.isatty()
    env = list(args.env)
    first = epb.ExecInput(id=c.id, cmd=args.command, env=env, workdir=args.workdir, user=args.user, tty=tty,
                          stdin=tty or not sys.stdin.isatty() and args.interactive, privileged=args.privileged)
    return int(run_exec(cluster.engine, first, tty=tty, stdin=bool(first.stdin)))


@_compose_error
def cmd_stop(args: argparse.Namespace) -> int:
    from orchestrator.compose.deploy import stop

    with ProgressPrinter() as progress:
        stop(_project_name(args), GrpcCluster(), services=list(args.services), progress=progress)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Start what `stop` stopped: `up -d --no-recreate` of the same file (replicas come back by scaling)."""
    args.detach, args.wait, args.wait_timeout = True, False, 120
    args.force_recreate, args.no_recreate, args.remove_orphans, args.scale = False, True, False, []
    return int(cmd_up(args))


@_compose_error
def cmd_scale(args: argparse.Namespace) -> int:
    scale = _parse_scale(args.pairs)
    name = _project_name(args)
    cluster = GrpcCluster()
    existing = cluster.services(name)
    for svc, n in scale.items():
        full = f"{name}_{svc}"
        if full not in existing:
            raise CliError(f"no such service: {svc}")
        cluster.scale(full, n)
        print(f" ✔ Service {full:<30} Scaled to {n}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ stack (Swarm's names)
@_compose_error
def cmd_stack_deploy(args: argparse.Namespace) -> int:
    args.files = args.compose_files
    args.project_name = args.stack
    args.project_directory = None
    args.env_files = []
    args.profiles = []
    args.services, args.scale = [], []
    args.force_recreate = args.no_recreate = False
    args.remove_orphans = args.prune
    args.wait, args.wait_timeout = False, 120
    args.detach = True
    return int(cmd_up(args))


@_compose_error
def cmd_stack_ls(args: argparse.Namespace) -> int:
    from orchestrator.cli.output import render
    from orchestrator.compose.deploy import projects

    rows = [{"Name": n, "Services": len(p["services"])} for n, p in sorted(projects(GrpcCluster()).items())]
    render(rows, args.format, [("NAME", "Name"), ("SERVICES", "Services")])
    return 0


@_compose_error
def cmd_stack_services(args: argparse.Namespace) -> int:
    from orchestrator.cli import services

    args.filter = [*args.filter, f"label=com.docker.stack.namespace={args.stack}"]
    return int(services.cmd_ls(args))


@_compose_error
def cmd_stack_ps(args: argparse.Namespace) -> int:
    from orchestrator.cli.swarm import print_tasks

    cluster = GrpcCluster()
    tasks: list[dict[str, Any]] = []
    for name in sorted(cluster.services(args.stack)):
        tasks += cluster.tasks(name)
    print_tasks(tasks, args)
    return 0


@_compose_error
def cmd_stack_rm(args: argparse.Namespace) -> int:
    from orchestrator.compose.deploy import down

    for stack in args.stacks:
        print(f"Removing stack {stack}", file=sys.stderr)
        with ProgressPrinter() as progress:
            down(stack, GrpcCluster(), progress=progress)
    return 0


# ------------------------------------------------------------------ registration
def _up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("--wait", action="store_true", help="wait for services to be running and healthy")
    p.add_argument("--wait-timeout", default=120, type=float, help="seconds to wait (default 120)")
    p.add_argument("--force-recreate", action="store_true")
    p.add_argument("--build", action="store_true", help="build images first (not supported yet: an error)")
    p.add_argument("--no-recreate", action="store_true")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _down_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--volumes", action="store_true", help="remove named volumes")
    p.add_argument("--remove-orphans", action="store_true", help="also remove services not in the file")
    p.add_argument("-t", "--timeout", type=int, default=None)
    p.add_argument("--rmi", choices=("local", "all"), default=None,
                   help="remove images used by services: local (no custom tag) or all")


def add_commands(csub: Any, top: Any, lazy: Any, parser_class: Any) -> None:
    """`compose up|down|ps|logs|ls|exec|scale` on ``csub``; `up`, `down`, `scale` and `stack` on ``top``."""
    from orchestrator.cli.compose_config import add_project_arguments

    m = "orchestrator.cli.compose_cmds"
    for parent in (csub, top):
        own = parent is top
        p = parent.add_parser("up", help="Create and start a compose project")
        if own:
            add_project_arguments(p)
        _up_arguments(p)
        p.set_defaults(func=lazy(m, "cmd_up"))
        p = parent.add_parser("down", help="Stop and remove a compose project")
        if own:
            add_project_arguments(p)
        _down_arguments(p)
        p.set_defaults(func=lazy(m, "cmd_down"))
        p = parent.add_parser("scale", help="Scale services")
        if own:
            add_project_arguments(p)
        p.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS")
        p.set_defaults(func=lazy(m, "cmd_scale"))

    p = csub.add_parser("ps", help="List the project's containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", dest="services_only", action="store_true")
    p.add_argument("--format", default=None)
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--status", action="append", default=[])
    p.add_argument("service", nargs="*")
    p.set_defaults(func=lazy(m, "cmd_ps"))

    p = csub.add_parser("logs", help="View output from containers")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_logs"))

    p = csub.add_parser("stop", help="Stop services (replicated services are scaled to 0)")
    p.add_argument("-t", "--timeout", type=int, default=None)
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_stop"))
    p = csub.add_parser("start", help="Start services stopped by `stop`")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_start"))

    p = csub.add_parser("ls", help="List running compose projects")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default=None)
    p.set_defaults(func=lazy(m, "cmd_ls"))

    p = csub.add_parser("exec", help="Execute a command in a running service container")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true", default=True)
    p.add_argument("--index", type=int, default=1)
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-u", "--user", default="")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=lazy(m, "cmd_exec"))

    from orchestrator.cli import compose_more

    compose_more.add_commands(csub, lazy)

    stack = top.add_parser("stack", help="Manage stacks (Swarm's name for compose projects)")
    ssub = stack.add_subparsers(dest="stack_cmd", required=True, parser_class=parser_class)
    p = ssub.add_parser("deploy", aliases=["up"], help="Deploy a new stack or update an existing stack")
    p.add_argument("-c", "--compose-file", dest="compose_files", action="append", default=[], required=True)
    p.add_argument("--prune", action="store_true")
    p.add_argument("stack")
    p.set_defaults(func=lazy(m, "cmd_stack_deploy"))
    p = ssub.add_parser("ls", aliases=["list"], help="List stacks")
    p.add_argument("--format", default=None)
    p.set_defaults(func=lazy(m, "cmd_stack_ls"))
    p = ssub.add_parser("services", help="List the services in the stack")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default=None)
    p.add_argument("stack")
    p.set_defaults(func=lazy(m, "cmd_stack_services"))
    p = ssub.add_parser("ps", help="List the tasks in the stack")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default=None)
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("stack")
    p.set_defaults(func=lazy(m, "cmd_stack_ps"))
    p = ssub.add_parser("rm", aliases=["remove", "down"], help="Remove one or more stacks")
    p.add_argument("stacks", nargs="+")
    p.set_defaults(func=lazy(m, "cmd_stack_rm"))
