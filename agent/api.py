"""The Engine gRPC service: a thin adapter from proto messages to the in-process engine.

Every method converts the request, calls the engine/image/volume store, converts back. Domain
errors map to gRPC status codes in one place (``_errors``); a failure of the container's own
command also sends its Docker exit status (125/126/127) as trailing metadata ``exit-code``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from agent.runtime import inspect as views
from agent.runtime.engine import Engine
from agent.runtime.errors import (
    AlreadyExists,
    CommandFailed,
    Conflict,
    EngineError,
    InvalidArgument,
    NotFound,
)
from agent.runtime.images import ImageStore
from agent.runtime.logs import follow
from agent.runtime.spawner import F_EXIT, F_STDERR, F_STDOUT
from agent.runtime.volumes import VolumeRecord, VolumeStore
from proto.orch.v1 import engine_pb2 as pb
from proto.orch.v1 import engine_pb2_grpc as rpc

log = logging.getLogger("orch.api")
VERSION = "0.1.0"
API_VERSION = "1.0"


def _code_for(e: BaseException) -> grpc.StatusCode:
    if type(e).__name__ == "ImageConflict":
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(e, NotFound) or (isinstance(e, LookupError) and not isinstance(e, EngineError)):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(e, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(e, Conflict):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(e, (InvalidArgument, ValueError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(e, CommandFailed):
        return grpc.StatusCode.UNKNOWN
    if isinstance(e, EngineError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def _message(e: BaseException) -> str:
    msg = str(e)
    if isinstance(e, KeyError) and len(e.args) == 1:
        msg = str(e.args[0])
    return msg.strip() or type(e).__name__


def _abort(context: grpc.ServicerContext, e: BaseException) -> None:
    code = _code_for(e)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("internal error")
    exit_code = getattr(e, "exit_code", 125)
    context.set_trailing_metadata((("exit-code", str(exit_code)),))
    context.abort(code, _message(e))


def _errors(fn: Any) -> Any:
    """Map domain exceptions to status codes for unary methods."""

    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as e:  # noqa: BLE001
            if isinstance(e, grpc.RpcError) or type(e).__name__ == "_AbortionError":
                raise
            _abort(context, e)

    wrapper.__name__ = fn.__name__
    return wrapper


def _stream_errors(fn: Any) -> Any:
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from fn(self, request, context)
        except Exception as e:  # noqa: BLE001
            if type(e).__name__ == "_AbortionError":
                raise
            _abort(context, e)

    wrapper.__name__ = fn.__name__
    return wrapper


def _spec_dict(req: pb.ContainerSpec) -> dict[str, Any]:
    d = MessageToDict(req, preserving_proto_field_name=True)
    d["entrypoint_set"] = req.entrypoint_set
    d["stop_timeout"] = req.stop_timeout  # the CLI sends -1 for "not set"
    if "resources" in d:
        d["resources"] = {k: (int(v) if k not in ("cpuset_cpus", "cpuset_mems") else v)
                          for k, v in d["resources"].items()}
    d["ulimits"] = [{"name": u.name, "soft": u.soft, "hard": u.hard} for u in req.ulimits]
    d["mounts"] = [{"type": m.type, "source": m.source, "target": m.target, "read_only": m.read_only,
                    "tmpfs_options": m.tmpfs_options} for m in req.mounts]
    return d


def _volume_pb(v: VolumeRecord) -> pb.Volume:
    return pb.Volume(name=v.name, driver=v.driver, mountpoint=v.mountpoint, labels=v.labels, options=v.options,
                     created_at=v.created_at, scope="local")


class EngineService(rpc.EngineServicer):
    def __init__(self, engine: Engine, images: ImageStore, volumes: VolumeStore, info: dict[str, Any]) -> None:
        self.engine = engine
        self.images = images
        self.volumes = volumes
        self.info = info

    # --- system ------------------------------------------------------------------------------
    def Version(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.VersionReply:  # noqa: N802
        u = os.uname()
        return pb.VersionReply(version=VERSION, api_version=API_VERSION, python=platform.python_version(),
                               os="linux", arch=u.machine, kernel=u.release)

    @_errors
    def Info(self, request: pb.Empty, context: grpc.ServicerContext) -> pb.JsonReply:  # noqa: N802
        cs = self.engine.list()
        doc = dict(self.info)
        doc.update({
            "Containers": len(cs),
            "ContainersRunning": sum(1 for c in cs if c.state.status == "running"),
            "ContainersPaused": sum(1 for c in cs if c.state.status == "paused"),
            "ContainersStopped": sum(1 for c in cs if c.state.status not in ("running", "paused")),
            "Images": len(self.images.list()),
            "Volumes": len(self.volumes.list()),
            "KernelVersion": os.uname().release,
            "CgroupVersion": str(self.engine.cgroups.version),
            "CgroupDriver": "cgroupfs",
            "ServerVersion": VERSION,
        })
        return pb.JsonReply(json=json.dumps(doc))

    # --- images ------------------------------------------------------------------------------
    def _spool(self, request_iterator: Iterator[pb.ImageUpload]) -> tuple[pb.ImageUpload | None, Any]:
        first = None
        tmp = tempfile.TemporaryFile(dir=str(self.engine.state_dir / "tmp"))
        for msg in request_iterator:
            if first is None:
                first = msg
            if msg.data:
                tmp.write(msg.data)
        tmp.seek(0)
        return first, tmp

    @_errors
    def ImageImport(self, request_iterator: Iterator[pb.ImageUpload], context: grpc.ServicerContext) -> pb.ImageRefs:  # noqa: N802
        first, tmp = self._spool(request_iterator)
        with tmp:
            changes = {k: json.loads(v) for k, v in (first.changes if first else {}).items()}
            rec = self.images.import_rootfs(tmp, first.ref if first and first.ref else None,  # type: ignore[arg-type]
                                            changes=changes or None, message=first.message if first else "")
        return pb.ImageRefs(refs=[rec.id])

    @_errors
    def ImageLoad(self, request_iterator: Iterator[pb.ImageUpload], context: grpc.ServicerContext) -> pb.ImageRefs:  # noqa: N802
        _, tmp = self._spool(request_iterator)
        with tmp:
            refs = self.images.load(tmp)
        return pb.ImageRefs(refs=refs)

    @_stream_errors
    def ImageSave(self, request: pb.ImageRefs, context: grpc.ServicerContext) -> Iterator[pb.DataChunk]:  # noqa: N802
        for r in request.refs:
            self.images.resolve(r)
        with tempfile.TemporaryFile(dir=str(self.engine.state_dir / "tmp")) as tmp:
            self.images.save(list(request.refs), tmp)
            tmp.seek(0)
            while chunk := tmp.read(1 << 20):
                yield pb.DataChunk(data=chunk)

    @_errors
    def ImageList(self, request: pb.ImageListRequest, context: grpc.ServicerContext) -> pb.ImageListReply:  # noqa: N802
        out = []
        for rec in self.images.list():
            used = sum(1 for c in self.engine.list() if c.image_id == rec.id)
            out.append(pb.ImageSummary(id=rec.id, repo_tags=list(rec.repo_tags), created=int(_epoch(rec.created)),
                                       size=int(rec.size), containers=used))
        return pb.ImageListReply(images=out)

    @_errors
    def ImageInspect(self, request: pb.RefRequest, context: grpc.ServicerContext) -> pb.JsonReply:  # noqa: N802
        return pb.JsonReply(json=json.dumps(self.images.inspect(request.ref)))

    @_errors
    def ImageHistory(self, request: pb.RefRequest, context: grpc.ServicerContext) -> pb.JsonReply:  # noqa: N802
        return pb.JsonReply(json=json.dumps(self.images.history(request.ref)))

    @_errors
    def ImageTag(self, request: pb.ImageTagRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.images.tag(request.source, request.target)
        return pb.Empty()

    @_errors
    def ImageRemove(self, request: pb.ImageRemoveRequest, context: grpc.ServicerContext) -> pb.ImageRemoveReply:  # noqa: N802
        reply = pb.ImageRemoveReply()
        for ref in request.refs:
            for kind, value in self.images.remove(ref, force=request.force, in_use=self.engine.image_in_use):
                (reply.untagged if kind == "Untagged" else reply.deleted).append(value)
        return reply

    @_errors
    def ImagePrune(self, request: pb.PruneRequest, context: grpc.ServicerContext) -> pb.PruneReply:  # noqa: N802
        deleted, reclaimed = self.images.prune(request.all, self.engine.image_in_use)
        return pb.PruneReply(deleted=[d if isinstance(d, str) else d[1] for d in deleted], reclaimed=reclaimed)

    # --- containers --------------------------------------------------------------------------
    @_errors
    def ContainerCreate(self, request: pb.ContainerSpec, context: grpc.ServicerContext) -> pb.CreateReply:  # noqa: N802
        c = self.engine.create(_spec_dict(request))
        return pb.CreateReply(id=c.id)

    @_errors
    def ContainerStart(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.start(request.id)
        return pb.Empty()

    @_errors
    def ContainerList(self, request: pb.ContainerListRequest, context: grpc.ServicerContext) -> pb.ContainerListReply:  # noqa: N802
        out = []
        for c in self.engine.list():
            if not request.all and c.state.status not in ("running", "paused", "restarting"):
                continue
            net = self._network_view(c)
            hm = self.engine.healthchecks
            health = hm.status(c.id) if hm is not None else None
            out.append(pb.ContainerSummary(
                id=c.id, name=c.name, image=c.image, command=views.command_text(c), created=int(c.created),
                state=c.state.status, status=views.status_text(c, health),
                labels=c.config.get("labels") or {}, health=health or "none",
                exit_code=c.state.exit_code,
                mounts=",".join(m.name or m.source for m in c.mounts if m.type != "tmpfs"),
                networks=net["_networks"] if net else c.host_config.get("network_mode", ""),
                ports=net["_ports"] if net else "",
            ))
        return pb.ContainerListReply(containers=out)

    @_errors
    def ContainerInspect(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.JsonReply:  # noqa: N802
        c = self.engine.get(request.id)
        hm = self.engine.healthchecks
        doc = views.container_json(c, self.engine.log_path(c), hm.doc(c.id) if hm is not None else None)
        net = self._network_view(c)
        if net:
            doc["NetworkSettings"] = net["NetworkSettings"]
        return pb.JsonReply(json=json.dumps(doc))

    def _network_view(self, c: Any) -> dict[str, Any] | None:
        """NetworkSettings and ps texts from the network manager (agent/network/manager.py), if wired."""
        view = getattr(self.engine.network, "container_view", None)
        return view(c) if view is not None else None

    @_stream_errors
    def ContainerLogs(self, request: pb.LogsRequest, context: grpc.ServicerContext) -> Iterator[pb.LogEntry]:  # noqa: N802
        # tail: -1 = everything (what every client sends for "all"), 0 = no old lines, N = the last N.
        c, (entries, cursor) = self.engine.logs(request.id, request.tail, request.since or None,
                                                request.until or None)
        want = {s for s, on in (("stdout", request.stdout), ("stderr", request.stderr)) if on} or {"stdout", "stderr"}
        for e in entries:
            if e.stream in want:
                yield pb.LogEntry(stream=e.stream, data=e.data, time=e.time)
        if not request.follow:
            return

        def stop() -> bool:
            return not context.is_active() or self.engine.containers.get(c.id) is not c or \
                c.state.status not in ("running", "paused", "restarting")

        for e in follow(self.engine.log_path(c), cursor, stop):
            if e.stream in want:
                yield pb.LogEntry(stream=e.stream, data=e.data, time=e.time)

    @_errors
    def ContainerStop(self, request: pb.StopRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.stop(request.id, request.timeout if request.has_timeout else None, request.signal or None)
        return pb.Empty()

    @_errors
    def ContainerRestart(self, request: pb.StopRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.restart(request.id, request.timeout if request.has_timeout else None)
        return pb.Empty()

    @_errors
    def ContainerKill(self, request: pb.KillRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.kill(request.id, request.signal or "SIGKILL")
        return pb.Empty()

    @_errors
    def ContainerRemove(self, request: pb.RemoveRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.remove(request.id, force=request.force, volumes=request.volumes)
        return pb.Empty()

    @_errors
    def ContainerWait(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.WaitReply:  # noqa: N802
        c = self.engine.get(request.id)
        code = self.engine.wait(c.id)
        return pb.WaitReply(exit_code=code, error=c.state.error)

    @_stream_errors
    def ContainerStats(self, request: pb.StatsRequest, context: grpc.ServicerContext) -> Iterator[pb.JsonReply]:  # noqa: N802
        while True:
            yield pb.JsonReply(json=json.dumps(self.engine.stats(request.id)))
            if not request.stream or not context.is_active():
                return
            time.sleep(1.0)

    def _pump(self, stream: Any, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[pb.AttachOutput]:
        """Relay input messages to a spawner stream and output frames back until exit."""

        def feed() -> None:
            try:
                for msg in request_iterator:
                    if msg.data:
                        stream.write_stdin(msg.data)
                    if msg.rows and msg.cols:
                        stream.resize(msg.rows, msg.cols)
                    if msg.close_stdin:
                        stream.close_stdin()
            except Exception:  # noqa: BLE001 - the client went away
                pass

        threading.Thread(target=feed, daemon=True).start()
        context.add_callback(stream.close)
        for ftype, payload in stream:
            if ftype in (F_STDOUT, F_STDERR):
                yield pb.AttachOutput(stream=ftype, data=payload)
            elif ftype == F_EXIT:
                code = int(json.loads(payload)["exit_code"])
                yield pb.AttachOutput(exited=True, exit_code=code)
                return
        yield pb.AttachOutput(exited=False, error="detached")

    @_stream_errors
    def ContainerAttach(self, request_iterator: Iterator[pb.AttachInput], context: grpc.ServicerContext) -> Iterator[pb.AttachOutput]:  # noqa: N802
        first = next(request_iterator)
        c = self.engine.get(first.id)
        if first.start:
            stream = self.engine.start(c.id, attach=True, stdin=first.stdin)
        else:
            stream = self.engine.attach(c.id, first.stdin)
        if first.rows and first.cols and stream is not None:
            stream.resize(first.rows, first.cols)
        exited = None
        for out in self._pump(stream, request_iterator, context):
            if out.exited:
                exited = out
                break
            yield out
        if exited is not None:
            # Let the engine record the exit (and auto-remove) before the client learns the code,
            # so `run --rm` returns only once the container is gone.
            with contextlib.suppress(Exception):
                cond = "removed" if c.host_config.get("auto_remove") else "not-running"
                self.engine.wait(c.id, timeout=10, condition=cond)
            code = c.state.exit_code if c.state.status == "exited" or c.state.status == "removing" else exited.exit_code
            yield pb.AttachOutput(exited=True, exit_code=code)

    def ContainerAttachOutput(self, request: pb.AttachInput, context: grpc.ServicerContext) -> Iterator[pb.AttachOutput]:  # noqa: N802
        return self.ContainerAttach(iter([request]), context)

    @_stream_errors
    def Exec(self, request_iterator: Iterator[pb.ExecInput], context: grpc.ServicerContext) -> Iterator[pb.AttachOutput]:  # noqa: N802
        first = next(request_iterator)
        stream = self.engine.exec(first.id, list(first.cmd), list(first.env), first.workdir, first.user,
                                  first.tty, first.stdin, first.privileged,
                                  (first.rows, first.cols) if first.rows and first.cols else None)
        if first.detach:
            stream.close()
            yield pb.AttachOutput(exited=True, exit_code=0)
            return
        yield from self._pump(stream, request_iterator, context)

    # --- container extras: cp, diff, export, commit, pause, top, rename, update, prune, events ---
    def _tmp(self) -> Any:
        return tempfile.TemporaryFile(dir=str(self.engine.state_dir / "tmp"))

    @_stream_errors
    def ContainerArchiveGet(self, request: pb.ArchiveRequest, context: grpc.ServicerContext) -> Iterator[pb.DataChunk]:  # noqa: N802
        from agent.runtime import fsops

        c = self.engine.get(request.id)
        with self._tmp() as tmp:
            fsops.archive_get(self.engine, c, request.path, tmp)
            tmp.seek(0)
            while chunk := tmp.read(1 << 20):
                yield pb.DataChunk(data=chunk)

    @_errors
    def ContainerArchivePut(self, request_iterator: Iterator[pb.ArchiveUpload], context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        from agent.runtime import fsops

        first = None
        with self._tmp() as tmp:
            for msg in request_iterator:
                first = first or msg
                if msg.data:
                    tmp.write(msg.data)
            if first is None:
                raise InvalidArgument("empty upload")
            tmp.seek(0)
            c = self.engine.get(first.id)
            fsops.archive_put(self.engine, c, first.path, tmp, raw=first.raw, keep_owner=first.archive)
        return pb.Empty()

    @_errors
    def ContainerChanges(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.JsonReply:  # noqa: N802
        from agent.runtime import fsops

        return pb.JsonReply(json=json.dumps(fsops.changes(self.engine, self.engine.get(request.id))))

    @_stream_errors
    def ContainerExport(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> Iterator[pb.DataChunk]:  # noqa: N802
        from agent.runtime import fsops

        c = self.engine.get(request.id)
        with self._tmp() as tmp:
            fsops.export(self.engine, c, tmp)
            tmp.seek(0)
            while chunk := tmp.read(1 << 20):
                yield pb.DataChunk(data=chunk)
        self.engine.events.emit("container", "export", c.id, name=c.name, image=c.image)

    @_errors
    def ContainerCommit(self, request: pb.CommitRequest, context: grpc.ServicerContext) -> pb.ImageRefs:  # noqa: N802
        from agent.runtime import fsops

        c = self.engine.get(request.id)
        changes = {k: json.loads(v) for k, v in request.changes.items()}
        image_id = fsops.commit(self.engine, c, request.ref or None, changes, request.comment, request.author,
                                request.pause)
        self.engine.events.emit("container", "commit", c.id, name=c.name, image=c.image, comment=request.comment)
        return pb.ImageRefs(refs=[image_id])

    @_errors
    def ContainerPause(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.pause(request.id)
        return pb.Empty()

    @_errors
    def ContainerUnpause(self, request: pb.ContainerRef, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.unpause(request.id)
        return pb.Empty()

    @_errors
    def ContainerTop(self, request: pb.TopRequest, context: grpc.ServicerContext) -> pb.TopReply:  # noqa: N802
        from agent.runtime import top

        c = self.engine.get(request.id)
        if c.state.status not in ("running", "paused"):
            raise Conflict(f"Container {c.id} is not running")
        pids = self.engine.cgroups.open(f"{self.engine.cgroup_parent}/{c.id}").pids()
        titles, rows = top.top(pids, list(request.ps_args))
        return pb.TopReply(titles=titles, processes=[pb.TopRow(fields=r) for r in rows])

    @_errors
    def ContainerRename(self, request: pb.RenameRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        self.engine.rename(request.id, request.name)
        return pb.Empty()

    @_errors
    def ContainerUpdate(self, request: pb.UpdateRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        res = MessageToDict(request.resources, preserving_proto_field_name=True)
        self.engine.update(request.id, {k: (v if k in ("cpuset_cpus", "cpuset_mems") else int(v))
                                        for k, v in res.items()})
        return pb.Empty()

    @_errors
    def ContainerPrune(self, request: pb.PruneRequest, context: grpc.ServicerContext) -> pb.PruneReply:  # noqa: N802
        deleted = []
        for c in self.engine.list():
            if c.state.status in ("created", "exited", "dead"):
                try:
                    self.engine.remove(c.id)
                except Exception:  # noqa: BLE001 - it started meanwhile, or is already gone
                    continue
                deleted.append(c.id)
        return pb.PruneReply(deleted=deleted)

    @_stream_errors
    def Events(self, request: pb.EventsRequest, context: grpc.ServicerContext) -> Iterator[pb.JsonReply]:  # noqa: N802
        for ev in self.engine.events.stream(request.since or None, request.until or None, context.is_active):
            yield pb.JsonReply(json=json.dumps(ev.doc()))

    # --- volumes -----------------------------------------------------------------------------
    @_errors
    def VolumeCreate(self, request: pb.VolumeCreateRequest, context: grpc.ServicerContext) -> pb.Volume:  # noqa: N802
        import secrets

        name = request.name or secrets.token_hex(32)
        return _volume_pb(self.volumes.create(name, request.driver or "local", dict(request.labels),
                                              dict(request.options)))

    @_errors
    def VolumeList(self, request: pb.VolumeListRequest, context: grpc.ServicerContext) -> pb.VolumeListReply:  # noqa: N802
        return pb.VolumeListReply(volumes=[_volume_pb(v) for v in self.volumes.list()])

    @_errors
    def VolumeInspect(self, request: pb.RefRequest, context: grpc.ServicerContext) -> pb.Volume:  # noqa: N802
        return _volume_pb(self.volumes.get(request.ref))

    @_errors
    def VolumeRemove(self, request: pb.VolumeRemoveRequest, context: grpc.ServicerContext) -> pb.NameList:  # noqa: N802
        removed = []
        for name in request.names:
            self.volumes.remove(name, in_use=self.engine.volume_in_use(name), force=request.force)
            removed.append(name)
        return pb.NameList(names=removed)

    @_errors
    def VolumePrune(self, request: pb.PruneRequest, context: grpc.ServicerContext) -> pb.PruneReply:  # noqa: N802
        deleted = []
        for v in self.volumes.list():
            if (request.all or v.anonymous) and not self.engine.volume_in_use(v.name):
                self.volumes.remove(v.name, in_use=False)
                deleted.append(v.name)
        return pb.PruneReply(deleted=deleted)


def _epoch(created: Any) -> float:
    if isinstance(created, (int, float)):
        return float(created)
    try:
        from agent.runtime.logs import parse_rfc3339

        return parse_rfc3339(str(created).replace("+00:00", "Z"))
    except (ValueError, OverflowError):
        return 0.0

