"""Image commands: ls, import, load, save, rm, tag, history, inspect, prune."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc

from orchestrator.cli import client, output
from orchestrator.cli.container_args import changes_to_json
from orchestrator.cli.errors import CliError
from proto.orch.v1 import engine_pb2 as pb

IMAGE_COLUMNS = [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"), ("CREATED", "CreatedSince"),
                 ("SIZE", "Size")]


def _human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"


def _short_id(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]


def _split_tag(ref: str) -> tuple[str, str]:
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def cmd_ls(args: argparse.Namespace) -> int:
    from agent.runtime.humanize import human_duration

    reply = client.engine().ImageList(pb.ImageListRequest(all=args.all))
    rows = []
    for im in reply.images:
        tags = list(im.repo_tags) or ["<none>:<none>"]
        for t in tags:
            repo, tag = _split_tag(t) if t != "<none>:<none>" else ("<none>", "<none>")
            if args.repository and repo != args.repository.split(":")[0]:
                continue
            rows.append({"Repository": repo, "Tag": tag, "ID": _short_id(im.id, args.no_trunc),
                         "CreatedSince": human_duration(time.time() - im.created) + " ago",
                         "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(im.created)),
                         "Size": _human_size(im.size), "Containers": str(im.containers), "Digest": "<none>",
                         "SharedSize": "N/A", "UniqueSize": "N/A", "VirtualSize": _human_size(im.size),
                         "_id": im.id, "_created": im.created})
    rows = _filter_images(rows, args.filter)
    if args.quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        print("\n".join(seen) if seen else "", end="\n" if seen else "")
        return 0
    output.render(rows, args.format, IMAGE_COLUMNS)
    return 0


IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference")


def _filter_images(rows: list[dict[str, Any]], values: list[str]) -> list[dict[str, Any]]:
    """Docker's `images --filter` keys: dangling, label, before, since, reference (a glob on repo[:tag])."""
    from fnmatch import fnmatchcase

    from orchestrator.cli.filters import FilterError, Filters
    from orchestrator.cli.parse import FlagError

    try:
        f = Filters.parse(values)
        f.validate(IMAGE_FILTERS)
        dangling = f.get_bool("dangling", False) if "dangling" in f else None
    except (FilterError, FlagError) as e:
        raise CliError(str(e)) from None

    def created_of(ref: str) -> int:
        try:
            doc = json.loads(client.engine().ImageInspect(pb.RefRequest(ref=ref)).json)
        except grpc.RpcError:
            raise CliError(f"No such image: {ref}") from None
        match = [r["_created"] for r in rows if r["_id"] == doc.get("Id")]
        return match[0] if match else 0

    labels: dict[str, dict[str, str]] = {}

    def labels_of(image_id: str) -> dict[str, str]:
        if image_id not in labels:
            doc = json.loads(client.engine().ImageInspect(pb.RefRequest(ref=image_id)).json)
            labels[image_id] = (doc.get("Config") or {}).get("Labels") or {}
        return labels[image_id]

    before = [created_of(v) for v in f.get("before")]
    since = [created_of(v) for v in f.get("since")]

    def reference(r: dict[str, Any], pattern: str) -> bool:
        if r["Repository"] == "<none>":
            return False
        return fnmatchcase(r["Repository"], pattern) or fnmatchcase(f"{r['Repository']}:{r['Tag']}", pattern)

    out = []
    for r in rows:
        if dangling is not None and (r["Repository"] == "<none>") != dangling:
            continue
        if before and not r["_created"] < min(before):
            continue
        if since and not r["_created"] > max(since):
            continue
        if "label" in f and not f.match_labels(labels_of(r["_id"])):
            continue
        if "reference" in f and not any(reference(r, v) for v in f.get("reference")):
            continue
        out.append(r)
    return out


def _upload(path: str, first: pb.ImageUpload) -> Iterator[pb.ImageUpload]:
    f = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    try:
        yield first
        while chunk := f.read(1 << 20):
            yield pb.ImageUpload(data=chunk)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _check_file(path: str) -> None:
    if path != "-" and not os.path.isfile(path):
        raise CliError(f"open {path}: no such file or directory")


def cmd_import(args: argparse.Namespace) -> int:
    _check_file(args.file)
    first = pb.ImageUpload(ref=args.reference or "", changes=changes_to_json(args.change), message=args.message)
    reply = client.engine().ImageImport(_upload(args.file, first))
    print(reply.refs[0])
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    path = args.input or "-"
    _check_file(path)
    if path == "-" and os.isatty(sys.stdin.fileno()):
        raise CliError("requested load from stdin, but stdin is empty")
    reply = client.engine().ImageLoad(_upload(path, pb.ImageUpload()))
    for ref in reply.refs:
        print(f"Loaded image ID: {ref}" if ref.startswith("sha256:") else f"Loaded image: {ref}")
    return 0


def cmd_save(args: argparse.Namespace) -> int:
    if not args.output and os.isatty(sys.stdout.fileno()):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    chunks = client.engine().ImageSave(pb.ImageRefs(refs=args.images))
    if args.output:
        tmp = args.output + ".orch-tmp"
        try:
            with open(tmp, "wb") as f:
                for c in chunks:
                    f.write(c.data)
            os.replace(tmp, args.output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        for c in chunks:
            sys.stdout.buffer.write(c.data)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    import grpc

    stub = client.engine()
    rc = 0
    for ref in args.images:
        try:
            reply = stub.ImageRemove(pb.ImageRemoveRequest(refs=[ref], force=args.force))
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
            continue
        for t in reply.untagged:
            print(f"Untagged: {t}")
        for d in reply.deleted:
            print(f"Deleted: {d}")
    return rc


def cmd_tag(args: argparse.Namespace) -> int:
    client.engine().ImageTag(pb.ImageTagRequest(source=args.source, target=args.target))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    rows_raw = json.loads(client.engine().ImageHistory(pb.RefRequest(ref=args.image)).json)
    from agent.runtime.humanize import human_duration
    from agent.runtime.logs import parse_rfc3339

    rows = []
    for h in rows_raw:
        created = h.get("Created", "")
        try:
            since = human_duration(time.time() - parse_rfc3339(created.replace("+00:00", "Z"))) + " ago"
        except (ValueError, OverflowError):
            since = created
        by = h.get("CreatedBy", "")
        if not args.no_trunc and len(by) > 45:
            by = by[:44] + "…"
        rows.append({"ID": _short_id(h.get("Id") or "<missing>", args.no_trunc) if h.get("Id") else "<missing>",
                     "CreatedSince": since, "CreatedAt": created, "CreatedBy": by,
                     "Size": _human_size(h.get("Size", 0)), "Comment": h.get("Comment", "")})
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    output.render(rows, args.format, [("IMAGE", "ID"), ("CREATED", "CreatedSince"), ("CREATED BY", "CreatedBy"),
                                      ("SIZE", "Size"), ("COMMENT", "Comment")])
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    import grpc

    stub = client.engine()
    docs: list[Any] = []
    rc = 0
    for ref in args.images:
        try:
            docs.append(json.loads(stub.ImageInspect(pb.RefRequest(ref=ref)).json))
        except grpc.RpcError as e:
            print(f"Error response from daemon: {client.rpc_error_message(e)}", file=sys.stderr)
            rc = 1
    output.render_inspect(docs, args.format)
    return rc


def cmd_prune(args: argparse.Namespace) -> int:
    reply = client.engine().ImagePrune(pb.PruneRequest(all=args.all))
    if reply.deleted:
        print("Deleted Images:")
        for d in reply.deleted:
            print(f"deleted: {d}")
        print()
    print(f"Total reclaimed space: {_human_size(reply.reclaimed)}")
    return 0
