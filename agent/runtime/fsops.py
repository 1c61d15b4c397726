"""A container's filesystem seen from the host: `cp` both ways, `diff`, `export`, `commit`.

Everything works on the overlay of the container (``<cdir>/diff`` is the upper dir, the image's
unpacked layers are the lower ones). A running container has its overlay mounted at
``<cdir>/merged`` in the host's namespace, so reads and writes go there. A stopped one gets a
temporary *read-only* overlay whose lowest-to-highest layers are the image and then the upper dir
(whiteouts in the upper dir work the same as a lower layer's); writes into a stopped container
mount the real overlay at ``merged`` for the duration of the copy, under the engine's lock so a
concurrent start cannot race the unmount.

Paths inside the container are resolved like a chroot would: symlinks are followed relative to
the container's root and never lead out of it, so `cp` cannot read or write host files.

What it does not do: bind mounts and volumes of a running container are not visible here (they
live in the container's mount namespace), as with `docker export`.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from agent.runtime import linux, rootfs
from agent.runtime.container import Container
from agent.runtime.errors import Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from agent.runtime.engine import Engine

_MAX_LINKS = 40
# Mount points and files the runtime itself puts into every container: not the user's changes.
_RUNTIME_PATHS = {"/dev", "/proc", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/console",
                  "/.orch-init", "/dev/shm", "/dev/pts", "/dev/mqueue"}


# --- path resolution ---------------------------------------------------------------------------
def resolve_in_root(root: Path, path: str, follow_last: bool = True) -> Path:
    """The host path of container path ``path`` under ``root``, following symlinks chroot-style."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, name)
        if (parts or follow_last) and candidate.is_symlink():
            links += 1
            if links > _MAX_LINKS:
                raise InvalidArgument(f"too many levels of symbolic links: {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(name)
    return root.joinpath(*done)


# --- rootfs views ------------------------------------------------------------------------------
@contextlib.contextmanager
def read_view(engine: Engine, c: Container) -> Iterator[Path]:
    """A path where the container's whole filesystem can be read."""
    cdir = engine.cdir_root / c.id
    merged = cdir / "merged"
    if rootfs.is_mounted(merged):
        yield merged
        return
    image = engine.images.resolve(c.image_id)
    layers = [*engine.images.layer_dirs(image), cdir / "diff"]
    (cdir / "diff").mkdir(exist_ok=True)
    mnt = Path(tempfile.mkdtemp(prefix="view-", dir=str(cdir)))
    try:
        lowerdir = ":".join(str(p) for p in reversed(layers))
        linux.mount("overlay", str(mnt), "overlay", linux.MS_RDONLY,
                    f"lowerdir={lowerdir}")
        try:
            yield mnt
        finally:
            linux.umount(str(mnt), linux.MNT_DETACH)
    finally:
        with contextlib.suppress(OSError):
            mnt.rmdir()


@contextlib.contextmanager
def write_view(engine: Engine, c: Container) -> Iterator[Path]:
    """A path where the container's filesystem can be changed (its real overlay)."""
    cdir = engine.cdir_root / c.id
    merged = cdir / "merged"
    if rootfs.is_mounted(merged):
        yield merged
        return
    with engine._lock:  # noqa: SLF001 - a start must not mount/unmount underneath the copy
        if c.running:
            yield merged
            return
        image = engine.images.resolve(c.image_id)
        rootfs.mount_overlay(cdir, list(engine.images.layer_dirs(image)))
        try:
            yield merged
        finally:
            rootfs.unmount(cdir)


# --- cp ----------------------------------------------------------------------------------------
def _missing(c: Container, path: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {c.name}")


def archive_get(engine: Engine, c: Container, path: str, out: IO[bytes]) -> dict[str, Any]:
    """Write ``path`` of the container as a tar to ``out``; the top entry is its base name
    (``.`` for a path ending in ``/.``: the directory's contents). Returns its stat."""
    with read_view(engine, c) as root:
        follow = path.endswith("/") or path.endswith("/.")
        host = resolve_in_root(root, path, follow_last=follow)
        if not os.path.lexists(host):
            raise _missing(c, path)
        st = os.lstat(host)
        base = "." if path.rstrip("/").endswith("/.") or path.strip("/") in ("", ".") else \
            posixpath.basename(path.rstrip("/"))
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(str(host), arcname=base, recursive=True)
        return {"name": base, "mode": st.st_mode, "size": st.st_size, "is_dir": stat.S_ISDIR(st.st_mode)}


def _safe_member(m: tarfile.TarInfo) -> str:
    name = posixpath.normpath(m.name.lstrip("/"))
    if name == ".." or name.startswith("../"):
        raise InvalidArgument(f"invalid tar entry {m.name!r}: outside the destination")
    return "" if name == "." else name


def extract_into(tar: tarfile.TarFile, members: Iterable[tarfile.TarInfo], root: Path, dest: str,
                 rename_top: str | None, keep_owner: bool, owner: tuple[int, int] = (0, 0)) -> None:
    """Extract every entry of ``tar`` below container dir ``dest`` (already existing).

    Every entry's parent is re-resolved inside ``root``, so a symlink in the container (or one
    the archive itself just created) cannot redirect a write to the host. ``rename_top`` replaces
    the first path component of every entry (how `cp SRC CTR:NEWNAME` renames).
    """
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    for m in members:
        rel = _safe_member(m)
        if rename_top is not None:
            first, _, rest = rel.partition("/")
            rel = rename_top + ("/" + rest if rest else "") if first else rename_top
        if not rel:
            continue
        parent_rel, _, base = rel.rpartition("/")
        parent = resolve_in_root(root, posixpath.join(dest, parent_rel))
        if not parent.is_dir():
            raise InvalidArgument(f"extracting {m.name}: {parent_rel or dest} is not a directory")
        target = parent / base
        if os.path.lexists(target) and not (m.isdir() and target.is_dir() and not target.is_symlink()):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        if m.islnk():
            link_src = resolve_in_root(root, posixpath.join(dest, _safe_member(tarfile.TarInfo(m.linkname))),
                                       follow_last=False)
            os.link(link_src, target)
        elif m.isdir():
            target.mkdir(exist_ok=True)
            dirs.append((target, m))
        elif m.issym():
            os.symlink(m.linkname, target)
        elif m.isreg():
            src = tar.extractfile(m)
            assert src is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(src, f)
        elif m.ischr() or m.isblk():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(target, kind | 0o600, os.makedev(m.devmajor, m.devminor))
        elif m.isfifo():
            os.mkfifo(target)
        else:
            continue
        uid, gid = (m.uid, m.gid) if keep_owner else owner
        os.chown(target, uid, gid, follow_symlinks=False)
        if not m.issym():
            os.chmod(target, m.mode & 0o7777)
            os.utime(target, (m.mtime, m.mtime))
    for d, m in reversed(dirs):  # after their contents, or writing those would touch the mtime
        os.chmod(d, m.mode & 0o7777)
        os.utime(d, (m.mtime, m.mtime))


def archive_put(engine: Engine, c: Container, dest: str, src: IO[bytes], *, raw: bool, keep_owner: bool) -> None:
    """Unpack the tar ``src`` into the container at ``dest``.

    ``raw`` (a tar stream from `cp - CTR:DIR`): ``dest`` must be a directory and the archive is
    unpacked into it as is. Otherwise the archive holds one top entry (the source's base name):
    into ``dest`` when it is an existing directory, else renamed to ``dest``'s base name in its
    parent directory (which must exist).
    """
    with write_view(engine, c) as root, tarfile.open(fileobj=src, mode="r|*") as tar:
        host = resolve_in_root(root, dest)
        if raw or host.is_dir():
            if not host.is_dir():
                raise _missing(c, dest) if not os.path.lexists(host) else \
                    InvalidArgument(f"extraction point is not a directory: {dest}")
            extract_into(tar, tar, root, dest, None, keep_owner)
            return
        parent = posixpath.dirname(dest.rstrip("/")) or "/"
        if dest.endswith("/"):
            raise _missing(c, dest)
        if not resolve_in_root(root, parent).is_dir():
            raise _missing(c, parent)
        first = tar.next()
        if first is None:
            return
        if first.isdir() and os.path.lexists(host):
            raise InvalidArgument(f"cannot overwrite non-directory {dest} with directory")

        def members() -> Iterator[tarfile.TarInfo]:
            yield first
            while (m := tar.next()) is not None:
                yield m

        extract_into(tar, members(), root, parent, posixpath.basename(dest.rstrip("/")), keep_owner)


# --- diff --------------------------------------------------------------------------------------
def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _in_lower(layers: list[Path], rel: str) -> bool:
    """Whether ``rel`` exists in the image (top layer first; a whiteout hides what is below)."""
    for layer in layers:
        p = layer / rel
        try:
            st = os.lstat(p)
        except OSError:
            continue
        return not _whiteout(st)
    return False


def changes(engine: Engine, c: Container) -> list[dict[str, Any]]:
    """`docker diff`: Kind 0 changed, 1 added, 2 deleted; paths sorted."""
    upper = engine.cdir_root / c.id / "diff"
    image = engine.images.resolve(c.image_id)
    layers = list(reversed(engine.images.layer_dirs(image)))
    out: list[dict[str, Any]] = []
    if not upper.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(upper))
            path = "/" + rel
            if path in _RUNTIME_PATHS:
                continue
            st = os.lstat(p)
            if _whiteout(st):
                kind = 2
            elif _in_lower(layers, rel):
                if stat.S_ISDIR(st.st_mode) and path.startswith(("/dev/", "/proc/", "/sys/")):
                    continue
                kind = 0
            else:
                kind = 1
            out.append({"Path": path, "Kind": kind})
    out.sort(key=lambda d: d["Path"])
    return out


# --- export ------------------------------------------------------------------------------------
def export(engine: Engine, c: Container, out: IO[bytes]) -> None:
    """`docker export`: the container's filesystem as one flat tar."""
    with read_view(engine, c) as root, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in [*sorted(dirnames), *sorted(filenames)]:
                p = os.path.join(dirpath, name)
                rel = os.path.relpath(p, root)
                info = tar.gettarinfo(p, arcname=rel)
                if info is None:
                    continue
                if info.isreg():
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


# --- commit ------------------------------------------------------------------------------------
def commit(engine: Engine, c: Container, ref: str | None, user_changes: dict[str, Any], comment: str,
           author: str, pause: bool = True) -> str:
    """`docker commit`: a new image from the container's image plus its upper dir; the
    container's own run config (Cmd, Entrypoint, Env, ...) becomes the new image's, then the
    `-c` instructions apply. Paused while the layer is written so it is consistent."""
    base: dict[str, Any] = {
        "Cmd": c.config.get("cmd") or None, "Entrypoint": c.config.get("entrypoint") or None,
        "Env": c.config.get("env") or [], "WorkingDir": c.config.get("workdir") or "",
        "User": c.config.get("user") or "", "Labels": c.config.get("labels") or {},
    }
    merged = {**base, **user_changes}
    if "Entrypoint" in user_changes and "Cmd" not in user_changes:
        merged["Cmd"] = None
    froze = False
    if pause and c.state.status == "running":
        engine.cgroups.open(f"{engine.cgroup_parent}/{c.id}").freeze()
        froze = True
    try:
        created_by = " ".join([c.path, *c.args])
        rec = engine.images.commit(c.image_id, engine.cdir_root / c.id / "diff", ref, changes=merged,
                                   comment=comment, author=author, created_by=created_by)
    except (KeyError, TypeError) as e:
        raise InvalidArgument(f"invalid change: {e}") from None
    finally:
        if froze:
            engine.cgroups.open(f"{engine.cgroup_parent}/{c.id}").thaw()
    return rec.id


def require_container_state(c: Container, *states: str) -> None:
    if c.state.status not in states:
        raise Conflict(f"Container {c.id} is {c.state.status}")
