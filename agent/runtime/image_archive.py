"""Image archives: reading `docker save` / OCI image-layout tarballs, writing the dual format.

Reading is one sequential pass over the tar (plain or compressed, so a pipe works): every file
is streamed into a staged blob while hashed, except small metadata files (`index.json`,
`manifest.json`, `*.json` configs of the legacy format) which are kept in memory. Then the
metadata is interpreted:

- OCI layout (`index.json`; docker >= 25 and skopeo write it): descriptors point at manifests or
  nested indexes (multi-platform: the host's platform is picked); names come from the
  `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name` when it is a
  full reference (a bare tag like `latest` names nothing), plus the `RepoTags` of docker's
  `manifest.json` when the archive carries one too.
- legacy `docker save` (`manifest.json` only): `Config` / `Layers` paths (layers may be
  symlinks to a duplicate); an OCI manifest is synthesised so that the store holds one format.

Every `blobs/sha256/<hex>` file must hash to its name, a legacy `<hex>.json` config to its hex,
an uncompressed legacy layer to its diff id (compressed layers are checked against their diff id
when unpacked). Writing produces an OCI layout that also carries docker's `manifest.json`, which
is what docker 25+ writes and what both `skopeo ... oci-archive:` and `docker load` accept.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from agent.runtime.image_blobs import BlobStore, StagedBlob, check_digest
from agent.runtime.image_config import host_platform
from agent.runtime.image_errors import ImageError, InvalidArchive, InvalidReference
from agent.runtime.image_refs import parse_reference

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEXES = (OCI_INDEX, DOCKER_LIST)
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
_METADATA_LIMIT = 16 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class Keeper:
    """Puts blobs into the store; the image store subclasses it to lease each digest first."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def keep(self, digest: str) -> None:
        """Called with each digest before its blob lands in the store."""

    def commit(self, staged: StagedBlob) -> str:
        staged.close()
        self.keep(staged.digest)
        return self.blobs.commit(staged)

    def put(self, data: bytes) -> str:
        staged = self.blobs.stage()
        staged.write(data)
        return self.commit(staged)


@dataclass
class LoadedImage:
    """One image found in an archive, its blobs already in the store."""

    manifest_digest: str
    config_digest: str
    names: list[str] = field(default_factory=list)  # full references


@dataclass
class SaveItem:
    """One image to write: its manifest and the full references to publish it under."""

    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    layer_digests: list[str]
    names: list[str]  # full references
    familiar_names: list[str]


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArchive(f"{what} is not valid JSON: {exc}") from None


def layer_media_type(blobs: BlobStore, digest: str) -> str:
    """Tell a gzip layer from a plain tar by its magic bytes."""
    with blobs.open(digest) as f:
        head = f.read(4)
    if head.startswith(_GZIP_MAGIC):
        return OCI_LAYER_GZIP
    if head == b"\x28\xb5\x2f\xfd":
        raise InvalidArchive(f"layer {digest}: zstd compression is not supported")
    return OCI_LAYER


class _Archive:
    """The files of an archive after the sequential pass."""

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper
        self.files: dict[str, bytes] = {}
        self.blob_files: dict[str, str] = {}  # archive path -> digest
        self.aliases: dict[str, str] = {}

    def read(self, src: BinaryIO) -> None:
        try:
            with tarfile.open(fileobj=src, mode="r|*") as tar:
                for member in tar:
                    self._take(tar, member)
        except tarfile.TarError as exc:
            raise InvalidArchive(f"not an image archive: {exc}") from None

    def _take(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = _clean(member.name)
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            self.aliases[name] = _clean(posixpath.join(base, member.linkname))
            return
        if not member.isreg():
            return
        src = tar.extractfile(member)
        assert src is not None
        in_blobs = name.startswith("blobs/")
        if not in_blobs and member.size <= _METADATA_LIMIT and _is_metadata(name):
            self.files[name] = src.read()
            return
        staged = self.keeper.blobs.stage()
        try:
            staged.copy_from(src)
        except BaseException:
            staged.discard()
            raise
        if name.startswith("blobs/sha256/") and staged.digest != "sha256:" + name.rsplit("/", 1)[-1]:
            staged.discard()
            raise InvalidArchive(f"blob {name} does not match its digest (got {staged.digest})")
        self.blob_files[name] = self.keeper.commit(staged)

    def digest_of(self, name: str) -> str:
        """The digest of the archive file `name` (following links), storing it if needed."""
        name = _clean(name)
        for _ in range(16):
            if name not in self.aliases:
                break
            name = self.aliases[name]
        if name in self.blob_files:
            return self.blob_files[name]
        if name in self.files:
            digest = self.keeper.put(self.files[name])
            self.blob_files[name] = digest
            return digest
        raise InvalidArchive(f"archive lacks {name}")

    def blob(self, digest: str, what: str, size: int | None = None) -> str:
        """Check that a descriptor's blob arrived (and has the announced size)."""
        check_digest(digest)
        blobs = self.keeper.blobs
        if digest not in self.blob_files.values() and not blobs.exists(digest):
            raise InvalidArchive(f"archive lacks the {what} blob {digest}")
        if size is not None and blobs.size(digest) != size:
            raise InvalidArchive(f"{what} blob {digest} has size {blobs.size(digest)}, expected {size}")
        return digest


def _clean(name: str) -> str:
    """Archive paths are only lookup keys (nothing is written under them): `./a/../b` -> `b`."""
    return posixpath.normpath("/" + name).lstrip("/")


def _is_metadata(name: str) -> bool:
    """Small files interpreted in memory rather than stored as blobs."""
    return name in ("index.json", "manifest.json", "oci-layout", "repositories") or name.endswith(
        (".json", "/json", "/VERSION"))


def _full_name(text: str) -> str | None:
    try:
        return parse_reference(text).full
    except InvalidReference:
        return None


def _names_from_annotations(annotations: dict[str, str] | None) -> list[str]:
    annotations = annotations or {}
    if NAME_ANNOTATION in annotations:
        name = _full_name(annotations[NAME_ANNOTATION])
        return [name] if name else []
    ref = annotations.get(REF_ANNOTATION, "")
    if (":" in ref or "/" in ref) and (name := _full_name(ref)):
        return [name]
    return []


def _pick_platform(index: dict[str, Any]) -> dict[str, Any]:
    arch, os_name = host_platform()
    candidates = [m for m in index.get("manifests") or [] if m.get("mediaType") not in INDEXES]
    for desc in candidates:
        platform = desc.get("platform") or {}
        if platform.get("os", os_name) == os_name and platform.get("architecture", arch) == arch:
            return desc
    raise InvalidArchive(f"no image for platform {os_name}/{arch} in the archive's index")


def _from_descriptor(archive: _Archive, desc: dict[str, Any], names: list[str]) -> LoadedImage:
    digest = archive.blob(str(desc.get("digest")), "manifest", desc.get("size"))
    doc = _json(archive.keeper.blobs.read(digest), f"manifest {digest}")
    if desc.get("mediaType") in INDEXES or doc.get("mediaType") in INDEXES:
        return _from_descriptor(archive, _pick_platform(doc), names)
    if not isinstance(doc.get("config"), dict) or not isinstance(doc.get("layers"), list):
        raise InvalidArchive(f"manifest {digest} has no config or layers")
    config = archive.blob(str(doc["config"].get("digest")), "config", doc["config"].get("size"))
    for layer in doc["layers"]:
        archive.blob(str(layer.get("digest")), "layer", layer.get("size"))
    return LoadedImage(manifest_digest=digest, config_digest=config, names=names)


def _docker_entries(archive: _Archive) -> list[dict[str, Any]]:
    if "manifest.json" not in archive.files:
        return []
    entries = _json(archive.files["manifest.json"], "manifest.json")
    if not isinstance(entries, list):
        raise InvalidArchive("manifest.json is not a list")
    return entries


def _from_docker_entry(archive: _Archive, entry: dict[str, Any]) -> LoadedImage:
    """Synthesise an OCI manifest for one legacy `docker save` entry."""
    config_path = str(entry.get("Config", ""))
    config_digest = archive.digest_of(config_path)
    stem = posixpath.basename(config_path).removesuffix(".json")
    if len(stem) == 64 and config_digest != "sha256:" + stem:
        raise InvalidArchive(f"config {config_path} does not match its digest (got {config_digest})")
    blobs = archive.keeper.blobs
    config = _json(blobs.read(config_digest), config_path)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    paths = entry.get("Layers") or []
    if len(diff_ids) != len(paths):
        raise InvalidArchive(f"{config_path} lists {len(diff_ids)} layers, manifest.json {len(paths)}")
    layers = []
    for path, diff_id in zip(paths, diff_ids, strict=True):
        digest = archive.digest_of(str(path))
        media_type = layer_media_type(blobs, digest)
        if media_type == OCI_LAYER and digest != diff_id:
            raise InvalidArchive(f"layer {path} does not match its diff id {diff_id} (got {digest})")
        layers.append({"mediaType": media_type, "digest": digest, "size": blobs.size(digest)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": blobs.size(config_digest)},
        "layers": layers,
    }
    names = [n for n in (_full_name(str(t)) for t in entry.get("RepoTags") or []) if n]
    return LoadedImage(archive.keeper.put(canonical_json(manifest)), config_digest, names)


def read_archive(src: BinaryIO, keeper: Keeper) -> list[LoadedImage]:
    """Store the blobs of an archive and return the images it holds (names not yet applied)."""
    archive = _Archive(keeper)
    archive.read(src)
    try:
        docker = _docker_entries(archive)
        if "index.json" in archive.files:
            index = _json(archive.files["index.json"], "index.json")
            images = [_from_descriptor(archive, d, _names_from_annotations(d.get("annotations")))
                      for d in index.get("manifests") or []]
            for entry in docker:  # the dual format: docker's RepoTags name the same configs
                config = archive.digest_of(str(entry.get("Config", "")))
                tags = [n for n in (_full_name(str(t)) for t in entry.get("RepoTags") or []) if n]
                for image in images:
                    if image.config_digest == config:
                        image.names += [t for t in tags if t not in image.names]
        elif docker:
            images = [_from_docker_entry(archive, e) for e in docker]
        else:
            raise InvalidArchive("not an image archive: neither index.json nor manifest.json found")
    except ImageError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidArchive(f"malformed image archive: {exc!r}") from None
    if not images:
        raise InvalidArchive("the archive holds no images")
    return images


def _entry(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info


def write_archive(dst: BinaryIO, items: list[SaveItem], blobs: BlobStore) -> None:
    """Write `items` as an OCI image layout tarball that also carries docker's manifest.json."""
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    docker: list[dict[str, Any]] = []
    digests: list[str] = []
    for item in items:
        for digest in [item.manifest_digest, item.config_digest, *item.layer_digests]:
            if digest not in digests:
                digests.append(digest)
        desc = {"mediaType": item.manifest_media_type, "digest": item.manifest_digest,
                "size": blobs.size(item.manifest_digest)}
        for name in item.names:
            ref = parse_reference(name)
            index["manifests"].append(
                {**desc, "annotations": {NAME_ANNOTATION: name, REF_ANNOTATION: ref.tag or "latest"}})
        if not item.names:
            index["manifests"].append(desc)
        docker.append({
            "Config": "blobs/sha256/" + item.config_digest.split(":", 1)[1],
            "RepoTags": item.familiar_names or None,
            "Layers": ["blobs/sha256/" + d.split(":", 1)[1] for d in item.layer_digests],
        })
    with tarfile.open(fileobj=dst, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_entry("blobs", directory=True))
        tar.addfile(_entry("blobs/sha256", directory=True))
        for digest in digests:
            with blobs.open(digest) as f:
                tar.addfile(_entry("blobs/sha256/" + digest.split(":", 1)[1], blobs.size(digest)), f)
        for name, data in (("index.json", canonical_json(index)),
                           ("manifest.json", canonical_json(docker)),
                           ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))):
            tar.addfile(_entry(name, len(data)), io.BytesIO(data))
