"""The image store: content-addressed OCI images on one host, shared unpacked layers.

Layout under the root (e.g. `/var/lib/orch/images`)::

    blobs/sha256/<hex>     OCI blobs: layer tars (plain or gzip), image configs, manifests
    layers/<diffid-hex>/   one unpacked layer, shared by every image that has it (an overlay lowerdir)
    index.json             {"images": {<image id>: {"manifest": <digest>, ...}},
                            "tags": {"docker.io/library/busybox:latest": <image id>}}
    tmp/                   staging: blobs being hashed, layers being unpacked (swept on start)

An image id is the digest of its config, as in docker. Blobs and layers appear atomically (staged
in `tmp/`, then renamed), so a crash never leaves a partial one. The index is the only mutable
file: it is rewritten whole (temp + fsync + rename) under one lock, and readers use the last
published copy without locking. Garbage collection (after `remove`/`prune`) deletes blobs and
unpacked layers that no image references; a *lease* protects the blobs of an import/load/commit
that is still in progress, since those are written before the image that references them.

This module does not know about containers: callers pass `in_use(image_id)` where it matters.
The kernel is touched only to unpack layers (`image_layers`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from agent.runtime import image_layers
from agent.runtime.image_archive import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Keeper,
    SaveItem,
    canonical_json,
    read_archive,
    write_archive,
)
from agent.runtime.image_blobs import (
    BlobStore,
    HashingReader,
    atomic_write,
    open_decompressed,
    open_source,
    tree_size,
)
from agent.runtime.image_config import history_rows, inspect_view, new_image_config, now_rfc3339
from agent.runtime.image_errors import (
    AmbiguousReference,
    ImageConflict,
    ImageError,
    ImageNotFound,
    InvalidArchive,
    InvalidChange,
    InvalidReference,
)
from agent.runtime.image_refs import familiar, id_hex, lookup, parse_reference, short_id

__all__ = ["ImageStore", "ImageRecord", "ImageError", "ImageNotFound", "AmbiguousReference",
           "ImageConflict", "InvalidArchive", "InvalidChange", "InvalidReference"]

InUse = Callable[[str], bool]


def _never_used(_image_id: str) -> bool:
    return False


@dataclass(frozen=True)
class ImageRecord:
    """One image as callers see it; `config` is the whole OCI image config document."""

    id: str  # sha256:<config digest hex>
    repo_tags: list[str]  # familiar form: busybox:latest
    repo_digests: list[str]  # busybox@sha256:<manifest digest>
    config: dict[str, Any]
    layers: list[str]  # diff ids, lowest first
    created: str
    size: int  # bytes of the layer blobs
    manifest_digest: str

    @property
    def run_config(self) -> dict[str, Any]:
        """The execution defaults (`Env`, `Cmd`, `Entrypoint`, `WorkingDir`, `User`, ...)."""
        return dict(self.config.get("config") or {})


class _Lease(Keeper):
    """Blobs written by one in-flight operation; garbage collection leaves them alone."""

    def __init__(self, blobs: BlobStore, lock: threading.RLock) -> None:
        super().__init__(blobs)
        self._lock = lock
        self.digests: set[str] = set()

    def keep(self, digest: str) -> None:
        with self._lock:
            self.digests.add(digest)


class ImageStore:
    """Images of one host; thread-safe; see the module docstring for the on-disk layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._blobs = BlobStore(self.root)
        self._layers = self.root / "layers"
        self._layers.mkdir(exist_ok=True)
        self._index_path = self.root / "index.json"
        self._lock = threading.RLock()
        self._leases: list[_Lease] = []
        self._layer_locks: dict[str, threading.Lock] = {}
        self._content: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        for leftover in self._blobs.tmp.iterdir():  # staging of an operation a crash interrupted
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        self._index: dict[str, Any] = self._read_index()

    # ---- index -------------------------------------------------------------------------------

    def _read_index(self) -> dict[str, Any]:
        try:
            doc = json.loads(self._index_path.read_bytes())
        except FileNotFoundError:
            return {"version": 1, "images": {}, "tags": {}}
        if doc.get("version") != 1:
            raise ImageError(f"{self._index_path}: unsupported image index version {doc.get('version')}")
        return doc

    def _publish(self, index: dict[str, Any]) -> None:
        """Write a new index (caller holds the lock) and make it the one readers see."""
        atomic_write(self._index_path, json.dumps(index, indent=1, sort_keys=True).encode())
        self._index = index

    def _copy_index(self) -> dict[str, Any]:
        return {"version": 1, "images": {k: dict(v) for k, v in self._index["images"].items()},
                "tags": dict(self._index["tags"])}

    @contextmanager
    def _lease(self) -> Iterator[_Lease]:
        lease = _Lease(self._blobs, self._lock)
        with self._lock:
            self._leases.append(lease)
        try:
            yield lease
        except BaseException:
            with self._lock:
                self._leases.remove(lease)
                self._collect()  # drop the blobs of the failed operation
            raise
        with self._lock:
            self._leases.remove(lease)

    # ---- reading -----------------------------------------------------------------------------

    def _docs(self, image_id: str, manifest_digest: str) -> tuple[dict[str, Any], dict[str, Any]]:
        key = (image_id, manifest_digest)
        if key not in self._content:
            manifest = json.loads(self._blobs.read(manifest_digest))
            config = json.loads(self._blobs.read(image_id))
            self._content[key] = (manifest, config)
        return self._content[key]

    def _record(self, image_id: str, index: dict[str, Any]) -> ImageRecord:
        manifest_digest = index["images"][image_id]["manifest"]
        manifest, config = self._docs(image_id, manifest_digest)
        tags = sorted(familiar(t) for t, i in index["tags"].items() if i == image_id)
        repos = sorted({t.rsplit(":", 1)[0] for t in tags})
        return ImageRecord(
            id=image_id,
            repo_tags=tags,
            repo_digests=[f"{r}@{manifest_digest}" for r in repos],
            config=config,
            layers=list(config["rootfs"]["diff_ids"]),
            created=config.get("created", ""),
            size=sum(int(layer.get("size", 0)) for layer in manifest["layers"]),
            manifest_digest=manifest_digest,
        )

    def _lookup(self, ref: str, index: dict[str, Any]) -> tuple[str, str | None]:
        """(image id, full tag the ref named, or None when it named an id or a digest)."""
        return lookup(ref, index["images"], index["tags"])

    def resolve(self, ref: str) -> ImageRecord:
        """The image `ref` names: name[:tag], a full registry name, name@digest, or a (short) id."""
        index = self._index
        return self._record(self._lookup(ref, index)[0], index)

    def list(self) -> list[ImageRecord]:
        index = self._index
        return sorted((self._record(i, index) for i in index["images"]), key=lambda r: r.created, reverse=True)

    def inspect(self, ref: str) -> dict[str, Any]:
        """What `docker image inspect` prints."""
        index = self._index
        record = self._record(self._lookup(ref, index)[0], index)
        return inspect_view(image_id=record.id, repo_tags=record.repo_tags, repo_digests=record.repo_digests,
                            config=record.config, size=record.size,
                            last_tag_time=index["images"][record.id].get("last_tag_time"))

    def history(self, ref: str) -> list[dict[str, Any]]:
        """What `docker image history` prints, newest first."""
        record = self.resolve(ref)
        manifest, _ = self._docs(record.id, record.manifest_digest)
        sizes = [int(layer.get("size", 0)) for layer in manifest["layers"]]
        return history_rows(record.id, record.config, sizes, record.repo_tags)

    # ---- layers ------------------------------------------------------------------------------

    def layer_dirs(self, image: ImageRecord) -> list[Path]:
        """Unpacked layer directories, lowest first (reverse them for overlayfs `lowerdir`)."""
        manifest, _ = self._docs(image.id, image.manifest_digest)
        return [self._ensure_layer(diff_id, layer["digest"])
                for diff_id, layer in zip(image.layers, manifest["layers"], strict=True)]

    def _ensure_layer(self, diff_id: str, blob_digest: str) -> Path:
        path = self._layers / id_hex(diff_id)
        if path.is_dir():
            return path
        with self._lock:
            lock = self._layer_locks.setdefault(diff_id, threading.Lock())
        with lock:
            if path.is_dir():
                return path
            staging = Path(tempfile.mkdtemp(dir=self._blobs.tmp, prefix="layer-"))
            try:
                os.chmod(staging, 0o755)
                with self._blobs.open(blob_digest) as raw:
                    reader = HashingReader(open_decompressed(raw))
                    image_layers.unpack_layer(reader, staging)  # type: ignore[arg-type]
                    got = reader.drain()
                if got != diff_id:
                    raise InvalidArchive(f"layer {blob_digest} does not match its diff id {diff_id} (got {got})")
                os.rename(staging, path)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return path

    # ---- writing -----------------------------------------------------------------------------

    def _add(self, lease: _Lease, config: dict[str, Any], layers: list[dict[str, Any]]) -> tuple[str, str]:
        """Store a config and a manifest over `layers`; returns (manifest digest, image id)."""
        config_bytes = canonical_json(config)
        image_id = lease.put(config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": image_id, "size": len(config_bytes)},
                    "layers": layers}
        return lease.put(canonical_json(manifest)), image_id

    def _register(self, images: list[tuple[str, str, list[str]]]) -> None:
        """Add (manifest digest, image id, full names) to the index; a name moves to its new image."""
        now = now_rfc3339()
        with self._lock:
            index = self._copy_index()
            for manifest_digest, image_id, names in images:
                entry = index["images"].setdefault(image_id, {"manifest": manifest_digest})
                for name in names:
                    index["tags"][name] = image_id
                    entry["last_tag_time"] = now
            self._publish(index)

    def _check_loaded(self, manifest_digest: str, image_id: str) -> None:
        try:
            manifest, config = self._docs(image_id, manifest_digest)
            diff_ids, layers = config["rootfs"]["diff_ids"], manifest["layers"]
            consistent = isinstance(diff_ids, list) and len(diff_ids) == len(layers)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArchive(f"image {short_id(image_id)}: malformed config or manifest: {exc!r}") from None
        if not consistent:
            raise InvalidArchive(f"image {short_id(image_id)}: config and manifest disagree on layers")

    def import_rootfs(self, src: BinaryIO | Path, ref: str | None, changes: Mapping[str, Any] | None = None,
                      message: str = "") -> ImageRecord:
        """`docker import`: one layer from a rootfs tar (plain or gzip); unpacked now to vet it."""
        name = parse_reference(ref).full if ref else None
        with self._lease() as lease, open_source(src) as raw:
            staged = self._blobs.stage()
            try:
                staged.copy_from(open_decompressed(raw))
            except (OSError, EOFError) as exc:
                staged.discard()
                raise InvalidArchive(f"cannot read the rootfs archive: {exc}") from None
            diff_id = lease.commit(staged)
            self._ensure_layer(diff_id, diff_id)
            layer = {"mediaType": OCI_LAYER, "digest": diff_id, "size": self._blobs.size(diff_id)}
            history = {"created": now_rfc3339(), "created_by": "orch import", "comment": message}
            config = new_image_config(None, diff_id, changes, history)
            manifest_digest, image_id = self._add(lease, config, [layer])
            self._register([(manifest_digest, image_id, [name] if name else [])])
        return self.resolve(image_id)

    def commit(self, parent_ref: str | None, layer_dir: Path, ref: str | None,
               changes: Mapping[str, Any] | None = None, comment: str = "", author: str = "",
               created_by: str = "") -> ImageRecord:
        """A new image: `parent_ref`'s layers and config plus `layer_dir` (an overlay upper dir)."""
        name = parse_reference(ref).full if ref else None
        parent = self.resolve(parent_ref) if parent_ref else None
        with self._lease() as lease:
            parent_layers = list(self._docs(parent.id, parent.manifest_digest)[0]["layers"]) if parent else []
            for digest in [*(layer["digest"] for layer in parent_layers),
                           *([parent.id, parent.manifest_digest] if parent else [])]:
                lease.keep(digest)  # the parent may be removed while this layer is written
            staged = self._blobs.stage()
            try:
                image_layers.write_layer_tar(Path(layer_dir), staged)  # type: ignore[arg-type]
            except BaseException:
                staged.discard()
                raise
            diff_id = lease.commit(staged)
            layer = {"mediaType": OCI_LAYER, "digest": diff_id, "size": self._blobs.size(diff_id)}
            history = {"created": now_rfc3339(), "created_by": created_by, "author": author, "comment": comment}
            config = new_image_config(parent.config if parent else None, diff_id, changes, history)
            manifest_digest, image_id = self._add(lease, config, [*parent_layers, layer])
            self._register([(manifest_digest, image_id, [name] if name else [])])
        return self.resolve(image_id)

    def load(self, src: BinaryIO | Path) -> list[str]:
        """`docker load`: a docker-save or OCI-layout tarball (plain or compressed).

        Returns the familiar names loaded, or the image id of each untagged image.
        """
        with self._lease() as lease, open_source(src) as raw:
            loaded = read_archive(raw, lease)
            for image in loaded:
                self._check_loaded(image.manifest_digest, image.config_digest)
            self._register([(i.manifest_digest, i.config_digest, i.names) for i in loaded])
        result: list[str] = []
        for image in loaded:
            for name in image.names or [image.config_digest]:
                shown = familiar(name) if image.names else name
                if shown not in result:
                    result.append(shown)
        return result

    def save(self, refs: list[str], dst: BinaryIO | Path) -> None:
        """`docker save`: an OCI image layout tarball that also carries docker's manifest.json."""
        with self._lease() as lease:
            with self._lock:  # pin the blobs before a concurrent `remove` can collect them
                items = self._save_items(refs, self._index)
                for item in items:
                    for digest in [item.manifest_digest, item.config_digest, *item.layer_digests]:
                        lease.keep(digest)
            if not isinstance(dst, str | Path):
                write_archive(dst, items, self._blobs)
                return
            partial = Path(f"{dst}.partial")
            with open(partial, "wb") as f:
                write_archive(f, items, self._blobs)
            os.replace(partial, dst)

    def _save_items(self, refs: list[str], index: dict[str, Any]) -> list[SaveItem]:
        """One item per distinct image; names only for refs that named a tag (not an id)."""
        chosen: dict[str, list[str]] = {}
        for ref in refs:
            image_id, tag = self._lookup(ref, index)
            names = chosen.setdefault(image_id, [])
            if tag and tag not in names:
                names.append(tag)
        items = []
        for image_id, names in chosen.items():
            manifest_digest = index["images"][image_id]["manifest"]
            manifest, _ = self._docs(image_id, manifest_digest)
            items.append(SaveItem(
                manifest_digest=manifest_digest,
                manifest_media_type=manifest.get("mediaType", OCI_MANIFEST),
                config_digest=image_id,
                layer_digests=[layer["digest"] for layer in manifest["layers"]],
                names=names,
                familiar_names=[familiar(n) for n in names]))
        return items

    def tag(self, src: str, dst: str) -> None:
        """Give the image `src` names the name `dst` (moving `dst` off any other image)."""
        target = parse_reference(dst)
        if target.digest:
            raise InvalidReference(f"refusing to create a tag with a digest reference: {dst}")
        with self._lock:
            image_id, _ = self._lookup(src, self._index)
            self._register([(self._index["images"][image_id]["manifest"], image_id, [target.full])])

    # ---- removal -----------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, in_use: InUse = _never_used) -> list[tuple[str, str]]:
        """`docker rmi`: untag, and delete the image once no name is left.

        An image a container uses is never deleted: without `force` that is an error; with it the
        names go and the image stays (dangling) until `prune` finds it unused.
        """
        with self._lock:
            index = self._copy_index()
            image_id, tag = self._lookup(ref, index)
            tags = sorted(t for t, i in index["tags"].items() if i == image_id)
            untag = [tag] if tag else tags
            if tag is None and len(tags) > 1 and not force:
                raise ImageConflict(f"conflict: unable to delete {short_id(image_id)} (must be forced) - "
                                    "image is referenced in multiple repositories")
            last = set(untag) >= set(tags)
            if last and not force and in_use(image_id):
                if tag:
                    raise ImageConflict(f'conflict: unable to remove repository reference "{ref}" (must force) '
                                        f"- a container is using its referenced image {short_id(image_id)}")
                raise ImageConflict(f"conflict: unable to delete {short_id(image_id)} (must be forced) - "
                                    "image is being used by a container")
            done = [("Untagged", familiar(t)) for t in untag]
            for t in untag:
                del index["tags"][t]
            if last and not in_use(image_id):
                del index["images"][image_id]
                done.append(("Deleted", image_id))
            self._publish(index)
            self._collect()
        return done

    def prune(self, all: bool = False, in_use: InUse = _never_used) -> tuple[list[tuple[str, str]], int]:
        """`docker image prune [-a]`: delete dangling (untagged) images, or with `all` every image
        no container uses; returns what was done and the bytes reclaimed on disk."""
        with self._lock:
            index = self._copy_index()
            tagged = set(index["tags"].values())
            done: list[tuple[str, str]] = []
            for image_id in list(index["images"]):
                if (all or image_id not in tagged) and not in_use(image_id):
                    for t in sorted(t for t, i in index["tags"].items() if i == image_id):
                        del index["tags"][t]
                        done.append(("Untagged", familiar(t)))
                    del index["images"][image_id]
                    done.append(("Deleted", image_id))
            if done:
                self._publish(index)
            return done, self._collect()

    def _collect(self) -> int:
        """Delete blobs and unpacked layers no image (or in-flight operation) references."""
        with self._lock:
            live: set[str] = set()
            diff_ids: set[str] = set()
            for image_id, entry in self._index["images"].items():
                manifest, config = self._docs(image_id, entry["manifest"])
                live.update([image_id, entry["manifest"], *(layer["digest"] for layer in manifest["layers"])])
                diff_ids.update(config["rootfs"]["diff_ids"])
            for lease in self._leases:
                live |= lease.digests
            reclaimed = sum(self._blobs.delete(d) for d in list(self._blobs.digests()) if d not in live)
            for entry in list(os.scandir(self._layers)):
                digest = "sha256:" + entry.name
                if digest not in diff_ids and digest not in live:
                    reclaimed += tree_size(Path(entry.path))
                    shutil.rmtree(entry.path)
            self._content = {k: v for k, v in self._content.items() if k[0] in self._index["images"]}
            return reclaimed
