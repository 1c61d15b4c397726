"""`orch compose run|restart|pause|unpause|kill|rm|top|images|port|events` and `down --rmi`.

These act on the containers of a project (found by the ``com.docker.compose.project`` label) through
the Engine API, as docker compose acts on its containers. `run` is the exception: it creates a
one-off container from a service's configuration - the same ServiceSpec ``plan.service_doc`` builds
for `up`, turned into an engine ContainerSpec - on the project's network, labelled
``com.docker.compose.oneoff=True`` so `ps`, `down` and the deployer can tell it from task containers.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from typing import Any

import grpc

from orchestrator.cli import client
from orchestrator.cli.compose_cmds import (
    GrpcCluster,
    _compose_error,
    _load,
    _prefix,
    _project_name,
    mesh_ports,
)
from orchestrator.cli.errors import CliError

LABEL_ONEOFF = "com.docker.compose.oneoff"
NS = 1_000_000_000


def _epb() -> Any:
    from proto.orch.v1 import engine_pb2

    return engine_pb2


def is_oneoff(c: Any) -> bool:
    return bool(c.labels.get(LABEL_ONEOFF) == "True")


def project_containers(cluster: GrpcCluster, project: str, services: list[str], *, all: bool = True,
                       oneoff: bool = False) -> list[Any]:
    """The project's containers, sorted by name; only ``services`` when given; one-off ones with ``oneoff``."""
    from orchestrator.compose.plan import LABEL_SERVICE

    known = set(cluster.services(project)) if services else set()
    for s in services:
        if f"{project}_{s}" not in known:
            raise CliError(f"no such service: {s}")
    out = [c for c in cluster.containers(project, all=all, oneoff=oneoff)
           if (not services or c.labels.get(LABEL_SERVICE) in services)]
    return sorted(out, key=lambda c: c.name)


def _each(containers: list[Any], verb: str, fn: Any) -> int:
    """Apply ``fn`` to every container, compose-style progress on stderr; 1 when any failed."""
    failed = 0
    for c in containers:
        print(f" ⠿ Container {c.name:<40} {verb}ing", file=sys.stderr, flush=True)
        try:
            fn(c)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            failed = 1
            continue
        print(f" ✔ Container {c.name:<40} {verb.capitalize()}ed", file=sys.stderr, flush=True)
    return failed


# ------------------------------------------------------------------ run
def container_spec(doc: dict[str, Any], *, name: str, command: list[str] | None, env: list[str],
                   entrypoint: list[str] | None, user: str, workdir: str, tty: bool, stdin: bool,
                   auto_remove: bool, labels: dict[str, str]) -> Any:
    """An engine ContainerSpec for a one-off container of the service described by ServiceSpec ``doc``."""
    epb = _epb()
    tmpl = doc["TaskTemplate"]
    c = tmpl["ContainerSpec"]
    spec = epb.ContainerSpec(name=name, image=c["Image"], labels={**c.get("Labels", {}), **labels},
                             tty=tty, open_stdin=stdin, auto_remove=auto_remove, stop_timeout=-1)
    ep = entrypoint if entrypoint is not None else c.get("Command")
    if ep is not None:
        spec.entrypoint.extend(ep)
        spec.entrypoint_set = True
    args = command if command else c.get("Args")
    if args:
        spec.cmd.extend(args)
    spec.env.extend([*c.get("Env", []), *env])
    spec.workdir = workdir or c.get("Dir", "")
    spec.user = user or c.get("User", "")
    spec.read_only = bool(c.get("ReadOnly"))
    spec.init = bool(c.get("Init"))
    for m in c.get("Mounts", ()):
        spec.mounts.append(epb.Mount(type=m["Type"], source=m.get("Source", ""), target=m["Target"],
                                     read_only=bool(m.get("ReadOnly"))))
    limits = tmpl.get("Resources", {}).get("Limits", {})
    spec.resources.CopyFrom(epb.Resources(memory=int(limits.get("MemoryBytes", 0)),
                                          nano_cpus=int(limits.get("NanoCPUs", 0))))
    nets = tmpl.get("Networks") or []
    spec.network_mode = nets[0]["Target"] if nets else "none"
    return spec


def _ensure_networks_and_volumes(cluster: GrpcCluster, desired: Any, doc: dict[str, Any]) -> None:
    """Create the service's networks and volumes when `up` has not (compose's `run` does the same)."""
    have_nets = cluster.networks()
    for n in doc["TaskTemplate"].get("Networks") or ():
        if n["Target"] not in have_nets and n["Target"] in desired.networks:
            cfg = desired.networks[n["Target"]]
            cluster.create_network(n["Target"], cfg["labels"], cfg["internal"], driver=cfg["driver"],
                                   attachable=cfg["attachable"])
    have_vols = cluster.volumes()
    for m in doc["TaskTemplate"]["ContainerSpec"].get("Mounts", ()):
        src = m.get("Source", "")
        if m["Type"] == "volume" and src and src not in have_vols and src in desired.volumes:
            cluster.create_volume(src, desired.volumes[src]["labels"])


@_compose_error
def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.cli.stream import run_attached
    from orchestrator.compose.plan import desired_state

    project = _load(args)
    if args.service not in project.services:
        raise CliError(f"no such service: {args.service}")
    desired = desired_state(project, {}, [args.service])
    want = desired.services[args.service]
    cluster = GrpcCluster()
    _ensure_networks_and_volumes(cluster, desired, want.doc)
    name = args.name or f"{project.name}_{args.service}_run_{secrets.token_hex(6)}"
    tty = not args.no_tty and sys.stdin.isatty() and not args.detach
    stdin = not args.detach and (tty or not sys.stdin.isatty())
    entrypoint = None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [])
    spec = container_spec(want.doc, name=name, command=list(args.command), env=list(args.env),
                          entrypoint=entrypoint, user=args.user, workdir=args.workdir, tty=tty, stdin=stdin,
                          auto_remove=args.rm, labels={LABEL_ONEOFF: "True", "com.docker.compose.slug": name})
    for label in args.label:
        k, _, v = label.partition("=")
        spec.labels[k] = v
    epb = _epb()
    stub = cluster.engine
    cid = stub.ContainerCreate(spec).id
    if args.detach:
        stub.ContainerStart(epb.ContainerRef(id=cid))
        print(name)
        return 0
    try:
        return int(run_attached(stub, cid, start=True, stdin=stdin, tty=tty))
    finally:
        if args.rm:
            try:
                stub.ContainerRemove(epb.RemoveRequest(id=cid, force=True))
            except grpc.RpcError:
                pass  # auto-remove got there first


# ------------------------------------------------------------------ restart, pause, unpause, kill
@_compose_error
def cmd_restart(args: argparse.Namespace) -> int:
    epb = _epb()
    cluster = GrpcCluster()
    found = project_containers(cluster, _project_name(args), list(args.services), all=False)
    has_t = args.timeout is not None
    return _each(found, "Restart", lambda c: cluster.engine.ContainerRestart(
        epb.StopRequest(id=c.id, timeout=args.timeout or 0, has_timeout=has_t)))


@_compose_error
def cmd_pause(args: argparse.Namespace) -> int:
    epb = _epb()
    cluster = GrpcCluster()
    found = [c for c in project_containers(cluster, _project_name(args), list(args.services), all=False)
             if c.state == "running"]
    return _each(found, "Paus", lambda c: cluster.engine.ContainerPause(epb.ContainerRef(id=c.id)))


@_compose_error
def cmd_unpause(args: argparse.Namespace) -> int:
    epb = _epb()
    cluster = GrpcCluster()
    found = [c for c in project_containers(cluster, _project_name(args), list(args.services), all=False)
             if c.state == "paused"]
    return _each(found, "Unpaus", lambda c: cluster.engine.ContainerUnpause(epb.ContainerRef(id=c.id)))


@_compose_error
def cmd_kill(args: argparse.Namespace) -> int:
    epb = _epb()
    cluster = GrpcCluster()
    found = [c for c in project_containers(cluster, _project_name(args), list(args.services), all=False,
                                           oneoff=args.remove_orphans) if c.state in ("running", "paused")]
    return _each(found, "Kill", lambda c: cluster.engine.ContainerKill(epb.KillRequest(id=c.id, signal=args.signal)))


# ------------------------------------------------------------------ rm
@_compose_error
def cmd_rm(args: argparse.Namespace) -> int:
    """Remove stopped containers of the project (one-off ones too); `-s` stops the services first."""
    from orchestrator.compose.deploy import stop

    epb = _epb()
    name = _project_name(args)
    cluster = GrpcCluster()
    if args.stop:
        stop(name, cluster, services=list(args.services))
    found = [c for c in project_containers(cluster, name, list(args.services), oneoff=True)
             if c.state not in ("running", "paused", "restarting")]
    if not found:
        print("No stopped containers", file=sys.stderr)
        return 0
    print("Going to remove " + ", ".join(c.name for c in found), file=sys.stderr)
    if not args.force and sys.stdin.isatty():
        answer = input("? Are you sure you want to remove the containers? (y/N) ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    return _each(found, "Remov", lambda c: cluster.engine.ContainerRemove(
        epb.RemoveRequest(id=c.id, force=True, volumes=args.volumes)))


# ------------------------------------------------------------------ top, images, port
@_compose_error
def cmd_top(args: argparse.Namespace) -> int:
    from orchestrator.cli.table import tabwrite

    epb = _epb()
    cluster = GrpcCluster()
    first = True
    for c in project_containers(cluster, _project_name(args), list(args.services), all=False):
        if c.state != "running":
            continue
        try:
            top = cluster.engine.ContainerTop(epb.TopRequest(id=c.id))
        except grpc.RpcError:
            continue  # gone between the listing and now
        if not first:
            print()
        first = False
        print(c.name)
        lines = ["\t".join(top.titles), *("\t".join(r.fields) for r in top.processes)]
        sys.stdout.write(tabwrite("\n".join(lines) + "\n"))
    return 0


def _split_ref(ref: str) -> tuple[str, str]:
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


@_compose_error
def cmd_images(args: argparse.Namespace) -> int:
    from orchestrator.cli.table import human_size, render_table

    epb = _epb()
    cluster = GrpcCluster()
    images: dict[str, Any] = {}
    for img in cluster.engine.ImageList(epb.ImageListRequest()).images:
        for tag in img.repo_tags:
            images[tag] = img
            images.setdefault(img.id, img)
    rows: list[dict[str, Any]] = []
    for c in project_containers(cluster, _project_name(args), list(args.services)):
        ref = c.image if ":" in c.image.rpartition("/")[2] or c.image.startswith("sha256:") else f"{c.image}:latest"
        img = images.get(ref) or images.get(c.image)
        repo, tag = _split_ref(ref)
        rows.append({"ContainerName": c.name, "Repository": repo, "Tag": tag,
                     "ID": (img.id if img else "").removeprefix("sha256:"), "Size": img.size if img else 0})
    if args.quiet:
        for r in dict.fromkeys(r["ID"] for r in rows):
            print(r)
        return 0
    if args.format == "json":
        print(json.dumps(rows))
        return 0
    table = [{**r, "ShortID": r["ID"][:12], "HumanSize": human_size(r["Size"])} for r in rows]
    sys.stdout.write(render_table(table, [("CONTAINER", "ContainerName"), ("REPOSITORY", "Repository"),
                                          ("TAG", "Tag"), ("IMAGE ID", "ShortID"), ("SIZE", "HumanSize")]))
    return 0


@_compose_error
def cmd_port(args: argparse.Namespace) -> int:
    from proto.orch.v1 import network_pb2 as npb
    from proto.orch.v1 import network_pb2_grpc

    cluster = GrpcCluster()
    name = _project_name(args)
    found = [c for c in project_containers(cluster, name, [args.service], all=False)]
    match = [c for c in found if _prefix(c)[1] == f"{args.service}-{args.index}"] or (found if args.index == 1 else [])
    if not match:
        raise CliError(f"service {args.service!r} is not running" if not found
                       else f"service {args.service!r} has no container with index {args.index}")
    port, _, proto = args.private_port.partition("/")
    proto = proto or args.protocol
    if not port.isdigit():
        raise CliError(f"invalid private port {args.private_port!r}")
    reply = network_pb2_grpc.NetworksStub(client.channel()).Port(npb.PortRequest(container=match[0].id))
    for p in reply.ports:
        if p.container_port == int(port) and (p.protocol or "tcp") == proto and p.host_port:
            print(f"{p.host_ip or '0.0.0.0'}:{p.host_port}")
            return 0
    for item in mesh_ports(cluster, name).get(args.service, "").split(", "):  # routing-mesh ports
        published, _, target = item.partition("->")
        if target == f"{port}/{proto}":
            print(published)
            return 0
    raise CliError(f"no port {port}/{proto} for container {match[0].name}")


# ------------------------------------------------------------------ events
class ProjectContainers:
    """Which container ids belong to the project (and to which service), refreshed on unknown ids."""

    def __init__(self, cluster: GrpcCluster, project: str) -> None:
        self.cluster, self.project = cluster, project
        self.known: dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> None:
        for c in self.cluster.containers(self.project, oneoff=True):
            self.known[c.id] = c

    def get(self, cid: str) -> Any:
        if cid not in self.known:
            self.refresh()
        return self.known.get(cid)


def compose_event(doc: dict[str, Any], c: Any, project: str) -> dict[str, Any]:
    """docker compose's `events --json` object for an engine event of one of the project's containers."""
    from orchestrator.compose.plan import LABEL_SERVICE

    attrs = dict(doc.get("Actor", {}).get("Attributes", {}))
    t = doc.get("timeNano", 0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / NS)) + f".{t % NS:09d}Z"
    return {"time": stamp, "type": "container", "action": doc.get("Action", ""), "id": doc.get("id", ""),
            "service": c.labels.get(LABEL_SERVICE, ""), "attributes": {**attrs, "project": project}}


@_compose_error
def cmd_events(args: argparse.Namespace) -> int:
    epb = _epb()
    name = _project_name(args)
    cluster = GrpcCluster()
    members = ProjectContainers(cluster, name)
    services = set(args.services)
    try:
        for msg in cluster.engine.Events(epb.EventsRequest()):
            doc = json.loads(msg.json)
            if doc.get("Type") != "container":
                continue
            c = members.get(doc.get("id", ""))
            if c is None:
                continue
            ev = compose_event(doc, c, name)
            if services and ev["service"] not in services:
                continue
            if args.json:
                line = json.dumps(ev)
            else:
                attrs = ", ".join(f"{k}={v}" for k, v in sorted(ev["attributes"].items()))
                line = f"{ev['time']} container {ev['action']} {ev['id']} ({attrs})"
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


# ------------------------------------------------------------------ down helpers
def remove_oneoffs(cluster: GrpcCluster, project: str) -> None:
    """`down` removes the project's one-off (`run`) containers too, as compose does."""
    epb = _epb()
    for c in cluster.containers(project, oneoff=True):
        if is_oneoff(c):
            try:
                cluster.engine.ContainerRemove(epb.RemoveRequest(id=c.id, force=True))
                print(f" ✔ Container {c.name:<40} Removed", file=sys.stderr, flush=True)
            except grpc.RpcError:
                pass


def remove_images(cluster: GrpcCluster, project: Any, which: str) -> None:
    """`down --rmi all|local`: all = every service's image; local = only images without an `image:`
    name (built ones, `<project>-<service>`); images another container still uses stay, with a warning."""
    if which not in ("all", "local"):
        raise CliError(f"invalid --rmi {which!r}: expected local or all")
    epb = _epb()
    refs: list[str] = []
    for svc_name, svc in sorted(project.services.items()):
        if which == "all" and svc.image:
            refs.append(svc.image)
        elif which == "local" and not svc.image:
            refs.append(f"{project.name}-{svc_name}")
    for ref in dict.fromkeys(refs):
        try:
            cluster.engine.ImageRemove(epb.ImageRemoveRequest(refs=[ref]))
            print(f" ✔ Image {ref:<44} Removed", file=sys.stderr, flush=True)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                print(f"WARN[0000] image {ref}: {client.rpc_error_message(e)}", file=sys.stderr)


# ------------------------------------------------------------------ registration
def add_commands(csub: Any, lazy: Any) -> None:
    m = "orchestrator.cli.compose_more"

    p = csub.add_parser("run", help="Run a one-off command on a service")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VAL")
    p.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VAL")
    p.add_argument("--name", default="")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true", default=True)
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=lazy(m, "cmd_run"))

    p = csub.add_parser("restart", help="Restart service containers")
    p.add_argument("-t", "--timeout", type=int, default=None)
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_restart"))
    for name, text in (("pause", "Pause services"), ("unpause", "Unpause services")):
        p = csub.add_parser(name, help=text)
        p.add_argument("services", nargs="*", metavar="SERVICE")
        p.set_defaults(func=lazy(m, f"cmd_{name}"))
    p = csub.add_parser("kill", help="Force stop service containers")
    p.add_argument("-s", "--signal", default="SIGKILL")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_kill"))
    p = csub.add_parser("rm", help="Remove stopped service containers")
    p.add_argument("-f", "--force", action="store_true", help="don't ask to confirm removal")
    p.add_argument("-s", "--stop", action="store_true", help="stop the containers first if needed")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_rm"))
    p = csub.add_parser("top", help="Display the running processes")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_top"))
    p = csub.add_parser("images", help="List images used by the created containers")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default=None)
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_images"))
    p = csub.add_parser("port", help="Print the public port for a port binding")
    p.add_argument("--index", type=int, default=1)
    p.add_argument("--protocol", default="tcp", choices=("tcp", "udp"))
    p.add_argument("service")
    p.add_argument("private_port", metavar="PRIVATE_PORT")
    p.set_defaults(func=lazy(m, "cmd_port"))
    p = csub.add_parser("events", help="Receive real time events from containers")
    p.add_argument("--json", action="store_true", help="output events as a stream of json objects")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.set_defaults(func=lazy(m, "cmd_events"))
