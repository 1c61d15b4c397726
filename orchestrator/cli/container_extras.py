"""More container commands: attach, pause, unpause, top, cp, diff, export, commit, rename,
update, events and `container prune`.

`add_commands` registers them (main.py calls it for the words in ``WORDS``); each `cmd_*` is
imported only when its command runs. `cp` decides the direction from which side names a
container (`CTR:PATH`); tars travel as gRPC chunks and are unpacked here with the same
symlink-safe extraction the daemon uses inside containers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WORDS = ("attach", "pause", "unpause", "top", "cp", "diff", "export", "commit", "rename", "update", "events",
         "container", "system", "port")
_M = "orchestrator.cli.container_extras"


def add_commands(sub: Any, lazy: Any, parser_class: Any) -> None:
    p = sub.add_parser("attach", help="Attach local standard input, output, and error streams to a running container")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q")
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("container")
    p.set_defaults(func=lazy(_M, "cmd_attach"))

    for name in ("pause", "unpause"):
        p = sub.add_parser(name, help=f"{name.capitalize()} all processes within one or more containers")
        p.add_argument("containers", nargs="+")
        p.set_defaults(func=lazy(_M, f"cmd_{name}"))

    p = sub.add_parser("top", help="Display the running processes of a container")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lazy(_M, "cmd_top"))

    p = sub.add_parser("cp", help="Copy files/folders between a container and the local filesystem")
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=lazy(_M, "cmd_cp"))

    p = sub.add_parser("port", help="List port mappings or a specific mapping for the container")
    p.add_argument("container")
    p.add_argument("private_port", nargs="?")
    p.set_defaults(func=lazy(_M, "cmd_port"))

    p = sub.add_parser("diff", help="Inspect changes to files or directories on a container's filesystem")
    p.add_argument("container")
    p.set_defaults(func=lazy(_M, "cmd_diff"))

    p = sub.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(func=lazy(_M, "cmd_export"))

    p = sub.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("-p", "--pause", default="true")
    p.add_argument("container")
    p.add_argument("reference", nargs="?")
    p.set_defaults(func=lazy(_M, "cmd_commit"))

    p = sub.add_parser("rename", help="Rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(func=lazy(_M, "cmd_rename"))

    p = sub.add_parser("update", help="Update configuration of one or more containers")
    p.add_argument("-m", "--memory")
    p.add_argument("--memory-swap")
    p.add_argument("--cpus")
    p.add_argument("--cpu-shares", type=int)
    p.add_argument("--cpuset-cpus")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("containers", nargs="+")
    p.set_defaults(func=lazy(_M, "cmd_update"))

    p = sub.add_parser("events", help="Get real time events from the server")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("--since")
    p.add_argument("--until")
    p.set_defaults(func=lazy(_M, "cmd_events"))

    ctr = sub.add_parser("container", help="Manage containers")
    csub = ctr.add_subparsers(dest="container_cmd", required=True, parser_class=parser_class)
    p = csub.add_parser("prune", help="Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=lazy(_M, "cmd_container_prune"))

    system = sub.add_parser("system", help="Manage orch")
    ssub = system.add_subparsers(dest="system_cmd", required=True, parser_class=parser_class)
    p = ssub.add_parser("prune", help="Remove unused data")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(func=lazy(_M, "cmd_system_prune"))
    p = ssub.add_parser("df", help="Show orch disk usage")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--format")
    p.set_defaults(func=lazy(_M, "cmd_system_df"))


def _stub() -> Any:
    from orchestrator.cli import client

    return client.engine()


def _pb() -> Any:
    from proto.orch.v1 import engine_pb2 as pb

    return pb


def _each(names: list[str], fn: Any) -> int:
    import grpc

    from orchestrator.cli import client

    rc = 0
    for n in names:
        try:
            fn(n)
            print(n)
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    return rc


# --- attach, pause, top, rename, update ----------------------------------------------------
def cmd_attach(args: argparse.Namespace) -> int:
    from orchestrator.cli.errors import CliError
    from orchestrator.cli.stream import parse_detach_keys, run_attached

    stub, pb = _stub(), _pb()
    info = json.loads(stub.ContainerInspect(pb.ContainerRef(id=args.container)).json)
    if not info["State"]["Running"]:
        raise CliError("You cannot attach to a stopped container, start it first")
    if info["State"].get("Paused"):
        raise CliError("You cannot attach to a paused container, unpause it first")
    keys = parse_detach_keys(args.detach_keys)
    return run_attached(stub, info["Id"], start=False, stdin=not args.no_stdin and info["Config"]["OpenStdin"],
                        tty=info["Config"]["Tty"], sig_proxy=str(args.sig_proxy).lower() != "false",
                        detach_keys=keys)


def cmd_pause(args: argparse.Namespace) -> int:
    stub, pb = _stub(), _pb()
    return _each(args.containers, lambda n: stub.ContainerPause(pb.ContainerRef(id=n)))


def cmd_unpause(args: argparse.Namespace) -> int:
    stub, pb = _stub(), _pb()
    return _each(args.containers, lambda n: stub.ContainerUnpause(pb.ContainerRef(id=n)))


def cmd_top(args: argparse.Namespace) -> int:
    reply = _stub().ContainerTop(_pb().TopRequest(id=args.container, ps_args=args.ps_args))
    rows = [list(r.fields) for r in reply.processes]
    sys.stdout.write(_plain_table([list(reply.titles), *rows]))
    return 0


def _plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(len(r) for r in rows))]
    out = []
    for r in rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.append("   ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def port_lines(ports: dict[str, Any] | None, private: str | None) -> list[str]:
    """`docker port` lines from inspect's NetworkSettings.Ports ({"80/tcp": [{"HostIp", "HostPort"}]})."""
    want = None
    if private:
        want = private if "/" in private else private + "/tcp"
    out = []
    for key in sorted(ports or {}, key=lambda k: (int(k.split("/")[0]), k)):
        if want is not None and key != want:
            continue
        for b in (ports or {}).get(key) or []:
            host = b.get("HostIp") or "0.0.0.0"
            addr = f"[{host}]:{b.get('HostPort')}" if ":" in host else f"{host}:{b.get('HostPort')}"
            out.append(addr if want is not None else f"{key} -> {addr}")
    return out


def cmd_port(args: argparse.Namespace) -> int:
    from orchestrator.cli.errors import CliError

    info = json.loads(_stub().ContainerInspect(_pb().ContainerRef(id=args.container)).json)
    lines = port_lines((info.get("NetworkSettings") or {}).get("Ports"), args.private_port)
    if args.private_port and not lines:
        proto = args.private_port if "/" in args.private_port else args.private_port + "/tcp"
        raise CliError(f"No public port '{proto}' published for {args.container}")
    for line in lines:
        print(line)
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    _stub().ContainerRename(_pb().RenameRequest(id=args.container, name=args.new_name))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from orchestrator.cli import parse
    from orchestrator.cli.errors import CliError

    pb = _pb()
    try:
        res = pb.Resources(
            memory=parse.parse_bytes(args.memory) if args.memory else 0,
            memory_swap=(-1 if args.memory_swap == "-1" else parse.parse_bytes(args.memory_swap))
            if args.memory_swap else 0,
            nano_cpus=int(float(args.cpus) * 1e9) if args.cpus else 0,
            cpu_shares=args.cpu_shares or 0, cpuset_cpus=args.cpuset_cpus or "",
            pids_limit=args.pids_limit or 0)
    except (ValueError, parse.FlagError) as e:
        raise CliError(str(e)) from None
    stub = _stub()
    return _each(args.containers, lambda n: stub.ContainerUpdate(pb.UpdateRequest(id=n, resources=res)))


def cmd_container_prune(args: argparse.Namespace) -> int:
    from orchestrator.cli.images import _human_size

    reply = _stub().ContainerPrune(_pb().PruneRequest())
    if reply.deleted:
        print("Deleted Containers:")
        for d in reply.deleted:
            print(d)
        print()
    print(f"Total reclaimed space: {_human_size(reply.reclaimed)}")
    return 0


def cmd_system_prune(args: argparse.Namespace) -> int:
    """Stopped containers, then unused volumes (with --volumes), then dangling (or, with -a,
    all unused) images: in that order, so what the pruned containers held becomes unused."""
    from orchestrator.cli.images import _human_size

    stub, pb = _stub(), _pb()
    total = 0
    sections = [("Deleted Containers:", stub.ContainerPrune(pb.PruneRequest()))]
    if args.volumes:
        sections.append(("Deleted Volumes:", stub.VolumePrune(pb.PruneRequest())))
    sections.append(("Deleted Images:", stub.ImagePrune(pb.PruneRequest(all=args.all))))
    for title, reply in sections:
        total += reply.reclaimed
        if reply.deleted:
            print(title)
            for d in reply.deleted:
                print(f"deleted: {d}" if title == "Deleted Images:" else d)
            print()
    print(f"Total reclaimed space: {_human_size(total)}")
    return 0


def cmd_system_df(args: argparse.Namespace) -> int:
    from orchestrator.cli import output
    from orchestrator.cli.images import _human_size

    stub, pb = _stub(), _pb()
    images = stub.ImageList(pb.ImageListRequest(all=True)).images
    containers = stub.ContainerList(pb.ContainerListRequest(all=True)).containers
    volumes = stub.VolumeList(pb.VolumeListRequest()).volumes
    used_images = {c.image for c in containers}
    used_vols = {m for c in containers for m in c.mounts.split(",") if m}
    img_size = sum(i.size for i in images)
    img_unused = sum(i.size for i in images if not i.containers)
    rows = [
        {"Type": "Images", "TotalCount": len(images), "Active": sum(1 for i in images if i.containers),
         "Size": _human_size(img_size),
         "Reclaimable": f"{_human_size(img_unused)} ({(img_unused / img_size * 100) if img_size else 0:.0f}%)"},
        {"Type": "Containers", "TotalCount": len(containers),
         "Active": sum(1 for c in containers if c.state in ("running", "paused")), "Size": "0B",
         "Reclaimable": "0B (0%)"},
        {"Type": "Local Volumes", "TotalCount": len(volumes),
         "Active": sum(1 for v in volumes if v.name in used_vols), "Size": "0B", "Reclaimable": "0B (0%)"},
    ]
    _ = used_images
    output.render(rows, args.format, [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"),
                                      ("SIZE", "Size"), ("RECLAIMABLE", "Reclaimable")])
    return 0


# --- diff, export, commit ------------------------------------------------------------------
def cmd_diff(args: argparse.Namespace) -> int:
    changes = json.loads(_stub().ContainerChanges(_pb().ContainerRef(id=args.container)).json)
    for ch in changes:
        print(f"{'CAD'[ch['Kind']]} {ch['Path']}")
    return 0


def _write_chunks(chunks: Iterator[Any], path: str | None) -> None:
    """Write a streamed tar to ``path`` (atomically: nothing is left behind on failure) or stdout."""
    from orchestrator.cli.errors import CliError

    if not path or path == "-":
        if sys.stdout.isatty():
            raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        for ch in chunks:
            sys.stdout.buffer.write(ch.data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise CliError(f"open {path}: no such file or directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent if str(target.parent) else "."))
    try:
        with os.fdopen(fd, "wb") as f:
            for ch in chunks:
                f.write(ch.data)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def cmd_export(args: argparse.Namespace) -> int:
    _write_chunks(_stub().ContainerExport(_pb().ContainerRef(id=args.container)), args.output)
    return 0


def cmd_commit(args: argparse.Namespace) -> int:
    from orchestrator.cli.container_args import changes_to_json
    from orchestrator.cli.errors import CliError

    try:
        changes = changes_to_json(args.change)
    except (ValueError, KeyError) as e:
        raise CliError(f"invalid change: {e}") from None
    reply = _stub().ContainerCommit(_pb().CommitRequest(
        id=args.container, ref=args.reference or "", changes=changes, comment=args.message, author=args.author,
        pause=str(args.pause).lower() != "false"))
    print(reply.refs[0])
    return 0


# --- cp ------------------------------------------------------------------------------------
def _split(arg: str) -> tuple[str | None, str]:
    """``CTR:PATH`` -> (CTR, PATH); a local path (absolute, ./relative, or without a colon) -> (None, it)."""
    if arg == "-" or arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ctr, _, path = arg.partition(":")
    return ctr, path or "/"


def cmd_cp(args: argparse.Namespace) -> int:
    from orchestrator.cli.errors import CliError

    src_ctr, src = _split(args.src)
    dst_ctr, dst = _split(args.dst)
    if src_ctr and dst_ctr:
        raise CliError("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise CliError("must specify at least one container source")
    if src_ctr:
        return _cp_from(src_ctr, src, dst, args.archive)
    return _cp_to(src, dst_ctr or "", dst, args.archive, args.follow_link)


def _cp_from(ctr: str, src: str, dst: str, archive: bool) -> int:
    from orchestrator.cli.errors import CliError

    chunks = _stub().ContainerArchiveGet(_pb().ArchiveRequest(id=ctr, path=src))
    if dst == "-":
        _write_chunks(chunks, None)
        return 0
    dst_path = Path(dst)
    if dst.endswith("/") and not dst_path.is_dir():
        raise CliError(f"destination directory {dst} must exist")
    into_dir = dst_path.is_dir()
    parent = dst_path if into_dir else (dst_path.parent if str(dst_path.parent) else Path("."))
    if not parent.is_dir():
        raise CliError(f"destination directory {parent} must exist")
    # Unpack next to the destination first, so a failed transfer leaves nothing half-written.
    stage = Path(tempfile.mkdtemp(prefix=".orch-cp-", dir=str(parent)))
    try:
        with tempfile.TemporaryFile() as tmp:
            for ch in chunks:
                tmp.write(ch.data)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp, mode="r|") as tar:
                _extract_local(tar, stage, archive)
        entries = list(stage.iterdir())
        if len(entries) == 1 and not src.rstrip("/").endswith("/."):
            item = entries[0]
            final = dst_path / item.name if into_dir else dst_path
            if final.is_dir() and item.is_dir() and not final.is_symlink():
                _merge_dir(item, final)
            else:
                if final.is_dir() and not final.is_symlink():
                    raise CliError(f"cannot overwrite directory {final} with non-directory")
                os.replace(item, final)
        else:  # `CTR:/dir/.`: the contents
            target = dst_path
            target.mkdir(exist_ok=True)
            for item in (entries[0].iterdir() if len(entries) == 1 and entries[0].name == "." else entries):
                _merge_dir(item, target / item.name) if item.is_dir() else os.replace(item, target / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return 0


def _merge_dir(src: Path, dst: Path) -> None:
    if not dst.exists():
        os.replace(src, dst)
        return
    for item in src.iterdir():
        if item.is_dir() and not item.is_symlink() and (dst / item.name).is_dir():
            _merge_dir(item, dst / item.name)
        else:
            os.replace(item, dst / item.name)
    st = src.stat()
    os.chmod(dst, st.st_mode & 0o7777)


def _extract_local(tar: tarfile.TarFile, dest: Path, archive: bool) -> None:
    from agent.runtime.fsops import extract_into

    owner = (os.getuid(), os.getgid())
    extract_into(tar, tar, dest, "/", None, keep_owner=archive, owner=owner)


def _cp_to(src: str, ctr: str, dst: str, archive: bool, follow: bool) -> int:
    from orchestrator.cli.errors import CliError

    pb = _pb()
    if src == "-":
        data: Iterator[bytes] = iter(lambda: sys.stdin.buffer.read(1 << 20), b"")
        raw = True
    else:
        sp = Path(src)
        if not os.path.lexists(sp):
            raise CliError(f"lstat {src}: no such file or directory")
        tmp = tempfile.TemporaryFile()
        name = "." if src.rstrip("/").endswith("/.") else sp.resolve().name if src.rstrip("/") in (".", "..") \
            else sp.name
        with tarfile.open(fileobj=tmp, mode="w|", format=tarfile.PAX_FORMAT, dereference=False) as tar:
            tar.add(str(sp.resolve() if follow else sp), arcname=name)
        tmp.seek(0)
        data = iter(lambda: tmp.read(1 << 20), b"")
        raw = name == "."

    def upload() -> Iterator[Any]:
        yield pb.ArchiveUpload(id=ctr, path=dst, raw=raw, archive=archive)
        for chunk in data:
            yield pb.ArchiveUpload(data=chunk)

    _stub().ContainerArchivePut(upload())
    return 0


# --- events --------------------------------------------------------------------------------
def _time_arg(value: str | None) -> float:
    if not value:
        return 0.0
    from orchestrator.cli.containers import _parse_since

    return _parse_since(value)


_EVENT_KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
               "secret", "service", "type", "volume")


class _EventView(dict):  # type: ignore[type-arg]
    """An event for `--format`: Docker's JSON keys, plus the Go field names templates use for them.

    Docker's events.Message serialises `status`, `id`, `from`, `scope`, `time`, `timeNano` in lower case but
    templates reach them as `.Status`, `.ID`, `.From`, `.Scope`, `.Time`, `.TimeNano`; `{{json .}}` must
    still print the JSON keys, so the aliases live only in lookups.
    """

    ALIASES = {"Status": "status", "ID": "id", "From": "from", "Scope": "scope", "Time": "time",
               "TimeNano": "timeNano"}

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (key in self.ALIASES and dict.__contains__(self, self.ALIASES[key]))

    def __getitem__(self, key: str) -> Any:
        if not dict.__contains__(self, key) and key in self.ALIASES:
            key = self.ALIASES[key]
        return dict.__getitem__(self, key)


def _event_matches(doc: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's event filters: values of one key OR'ed, keys AND'ed; objects match by id or name."""
    attrs = doc["Actor"]["Attributes"]
    for key, values in filters.items():
        if key == "container":
            ok = any(doc["Actor"]["ID"].startswith(v) or attrs.get("name") == v for v in values)
        elif key == "event":
            ok = any(doc["Action"] == v or doc["Action"].split(":")[0] == v for v in values)
        elif key == "type":
            ok = doc["Type"] in values
        elif key == "scope":
            ok = doc.get("scope", "local") in values
        elif key == "image":
            ok = any(attrs.get("image") == v or (doc["Type"] == "image" and (
                doc["Actor"]["ID"] == v or attrs.get("name") == v)) for v in values)
        elif key == "label":
            ok = all(attrs.get(v.partition("=")[0]) == v.partition("=")[2] if "=" in v else v in attrs
                     for v in values)
        else:
            ok = doc["Type"] == key and any(doc["Actor"]["ID"].startswith(v) or attrs.get("name") == v
                                            for v in values)
        if not ok:
            return False
    return True


def cmd_events(args: argparse.Namespace) -> int:
    from orchestrator.cli import parse
    from orchestrator.cli.errors import CliError

    try:
        filters = parse.parse_filters(args.filter)
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    for k in filters:
        if k not in _EVENT_KEYS:
            raise CliError(f"invalid filter '{k}'")
    since, until = _time_arg(args.since), _time_arg(args.until)
    from orchestrator.cli import template

    tmpl = None
    if args.format:
        try:
            body = args.format if args.format != "json" else "{{json .}}"
            tmpl = template.Template(template.prepare_format(body)[1])
        except template.TemplateError as e:
            raise CliError(str(e)) from None
    stream = _stub().Events(_pb().EventsRequest(since=since, until=until))
    for msg in stream:
        doc = json.loads(msg.json)
        if not _event_matches(doc, filters):
            continue
        if tmpl is not None:
            try:
                line = tmpl.execute(_EventView(doc))
            except template.TemplateError as e:
                raise CliError(str(e)) from None
        else:
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(doc["timeNano"] / 1e9))
            frac = f"{doc['timeNano'] % 10**9:09d}"
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(doc["Actor"]["Attributes"].items()))
            line = f"{ts}.{frac}{time.strftime('%z')} {doc['Type']} {doc['Action']} {doc['Actor']['ID']} ({attrs})"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0
