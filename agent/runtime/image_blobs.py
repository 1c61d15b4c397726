"""Content-addressed blob storage (`blobs/sha256/<hex>`) and atomic file writes.

A blob is written to `tmp/` while its sha256 is computed, fsynced, then renamed to its digest:
a reader never sees a partial blob, and a crash leaves only a temp file that the next start
sweeps away. The blob store has no notion of images; which blobs are alive is the image store's
business (it passes the live set to `sweep`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from agent.runtime.image_errors import InvalidArchive

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}\Z")
CHUNK = 1 << 20


def check_digest(digest: str) -> str:
    """Return `digest` if it is a well-formed sha256 digest; digests become file names."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArchive(f"unsupported or malformed digest: {digest!r}")
    return digest


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old or the new content, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


class StagedBlob:
    """A blob being written: hashes what passes through, becomes a real blob on `BlobStore.commit`."""

    def __init__(self, tmp_dir: Path) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def copy_from(self, src: BinaryIO) -> None:
        while chunk := src.read(CHUNK):
            self.write(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def discard(self) -> None:
        self._file.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class BlobStore:
    """`blobs/sha256/<hex>` under a root, plus the `tmp/` directory used for staging."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self.tmp = root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.dir / check_digest(digest).split(":", 1)[1]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise InvalidArchive(f"blob {digest} is missing from the store") from None

    def open(self, digest: str) -> BinaryIO:
        return self.path(digest).open("rb")

    def stage(self) -> StagedBlob:
        return StagedBlob(self.tmp)

    def commit(self, staged: StagedBlob) -> str:
        """Move a staged blob into place under its digest (a no-op if that blob already exists)."""
        staged.close()
        digest = staged.digest
        target = self.path(digest)
        if target.exists():
            staged.discard()
        else:
            os.chmod(staged.path, 0o644)
            os.replace(staged.path, target)
            fsync_dir(self.dir)
        return digest

    def put(self, data: bytes) -> str:
        staged = self.stage()
        staged.write(data)
        return self.commit(staged)

    def digests(self) -> Iterator[str]:
        for entry in os.scandir(self.dir):
            if _DIGEST.match("sha256:" + entry.name):
                yield "sha256:" + entry.name

    def delete(self, digest: str) -> int:
        """Remove a blob, returning the bytes freed (0 if it was already gone)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size


class HashingReader:
    """Hashes everything read through it: the diff id of a layer is the digest of its tar."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        return data

    def drain(self) -> str:
        """Read to the end (tar padding counts too) and return the digest of everything read."""
        while self.read(CHUNK):
            pass
        return "sha256:" + self._hash.hexdigest()


def open_decompressed(raw: BinaryIO) -> BinaryIO:
    """A tar stream from a plain or gzip source (decided by the magic bytes, not the name)."""
    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered  # type: ignore[no-any-return]


@contextmanager
def open_source(src: BinaryIO | Path | str) -> Iterator[BinaryIO]:
    """A readable stream for a path or an already open file (which the caller keeps owning)."""
    if not isinstance(src, str | Path):
        yield src
        return
    try:
        f = open(src, "rb")
    except FileNotFoundError:
        raise InvalidArchive(f"no such file: {src}") from None
    with f:
        yield f


def tree_size(path: Path) -> int:
    """Disk usage of a directory tree (what deleting it reclaims)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total
