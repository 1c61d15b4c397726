"""A container's root filesystem: overlayfs over the image's unpacked layers.

Layout of a container dir (`<state>/containers/<id>/`)::

    diff/    the overlay upper dir: everything the container wrote (used by diff/commit)
    work/    overlay's work dir
    merged/  the mount point; mounted in the host's namespace while the container exists,
             so cp, export and diff can read it without entering the container

Mounting is one syscall; the daemon may call it from any thread (it changes no namespace).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agent.runtime import linux


def is_mounted(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def mount_overlay(cdir: Path, lower: list[Path]) -> Path:
    """Mount (idempotently) the overlay; ``lower`` is lowest layer first."""
    merged, upper, work = cdir / "merged", cdir / "diff", cdir / "work"
    for d in (merged, upper, work):
        d.mkdir(exist_ok=True)
    if is_mounted(merged):
        return merged
    lowerdir = ":".join(str(p) for p in reversed(lower))
    opts = f"lowerdir={lowerdir},upperdir={upper},workdir={work}"
    if len(opts) > 4000:
        raise OSError(errno.E2BIG, "too many image layers for one overlay mount")
    linux.mount("overlay", str(merged), "overlay", 0, opts)
    return merged


def unmount(cdir: Path) -> None:
    merged = cdir / "merged"
    try:
        linux.umount(str(merged), linux.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
