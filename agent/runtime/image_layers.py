"""Layer tars <-> overlayfs directories.

`unpack_layer` turns one OCI layer (an uncompressed tar stream) into a directory that can be an
overlayfs lowerdir: OCI whiteouts `.wh.NAME` become overlay whiteouts (a 0/0 character device
named NAME) and `.wh..wh..opq` becomes the `trusted.overlay.opaque=y` xattr on its directory.
`write_layer_tar` does the reverse for an overlay upper dir (`orch commit`).

Why not `TarFile.extractall(filter=...)`: the stdlib filters resolve paths with the *host's*
`realpath` (an image's absolute symlink `lib -> /usr/lib` would be judged against the host), the
`data`/`tar` filters strip setuid bits and refuse device nodes (both legitimate in a rootfs), and
hardlinks are created with `os.link` following symlinks. So tarfile parses and `layer_filter`
(the same `(member, dest) -> member` shape as a tarfile filter) vets every entry, and this module
creates each entry itself with `O_NOFOLLOW` semantics:

- names are normalised (`./` stripped); absolute names and `..` components are refused;
- no entry is ever written through a symlink: a parent that is a symlink is refused;
- an existing entry is replaced (removed first) unless both are directories, as docker does;
- modes (including setuid), numeric uid/gid, mtimes, symlinks, hardlinks, devices, fifos and the
  `security.capability` / `user.*` xattrs are preserved; directory mtimes are set last.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from agent.runtime.image_errors import InvalidArchive

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_KEPT_XATTR_PREFIXES = ("security.capability", "user.")
_PAX_XATTR = "SCHILY.xattr."


def _normalise(name: str, what: str) -> str:
    """`./a//b/` -> `a/b`; '' is the layer root. Refuses absolute names and `..`."""
    if name.startswith("/"):
        raise InvalidArchive(f"unsafe layer entry {name!r}: absolute {what}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArchive(f"unsafe layer entry {name!r}: {what} leaves the layer")
    if "\0" in name:
        raise InvalidArchive(f"unsafe layer entry {name!r}: NUL in {what}")
    return "/".join(parts)


def layer_filter(member: tarfile.TarInfo, dest: str | os.PathLike[str] = "") -> tarfile.TarInfo:
    """Vet one tar entry; return it with normalised names (tarfile filter signature)."""
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()
            or member.ischr() or member.isblk() or member.isfifo()):
        raise InvalidArchive(f"unsupported layer entry {member.name!r} (tar type {member.type!r})")
    name = _normalise(member.name, "path")
    linkname = _normalise(member.linkname, "hardlink target") if member.islnk() else member.linkname
    if member.islnk() and not linkname:
        raise InvalidArchive(f"unsafe layer entry {member.name!r}: hardlink to the layer root")
    return member.replace(name=name, linkname=linkname, deep=False)


def _ensure_parent(root: Path, rel: str, entry: str, create: bool = True) -> Path:
    """Return the parent dir of `rel`, creating missing ones (0755) if asked; never via a symlink."""
    current = root
    for part in rel.split("/")[:-1] if rel else []:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                raise InvalidArchive(f"layer entry {entry!r}: {rel!r} does not exist") from None
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise InvalidArchive(f"unsafe layer entry {entry!r}: goes through symlink {part!r}")
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArchive(f"unsafe layer entry {entry!r}: parent {part!r} is not a directory")
    return current


def _remove(path: Path) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _kept_xattr(name: str) -> bool:
    """Xattrs carried through layers: file capabilities and user data, never overlay's own."""
    return name.startswith(_KEPT_XATTR_PREFIXES) and not name.startswith("user.overlay.")


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return int(float(member.mtime) * 1_000_000_000)


def _set_xattrs(path: Path, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith(_PAX_XATTR):
            continue
        attr = key[len(_PAX_XATTR) :]
        if _kept_xattr(attr):
            os.setxattr(path, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)


def _apply_whiteout(root: Path, parent: Path, rel: str, base: str) -> None:
    if base == OPAQUE_MARKER:
        os.setxattr(parent, "trusted.overlay.opaque", b"y")
        return
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        return  # aufs bookkeeping (.wh..wh.plnk, ...): meaningless to overlayfs
    hidden = base[len(WHITEOUT_PREFIX) :]
    if not hidden or hidden in (".", ".."):
        raise InvalidArchive(f"unsafe layer entry {rel!r}: malformed whiteout")
    target = parent / hidden
    if os.path.lexists(target):
        return  # content of the same layer wins over its own whiteout (OCI layer spec)
    os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.lchown(target, 0, 0)


def _create(tar: tarfile.TarFile, root: Path, member: tarfile.TarInfo, target: Path) -> None:
    mode = member.mode & 0o7777
    if member.isdir():
        if not target.is_dir() or target.is_symlink():
            os.mkdir(target, 0o700)
    elif member.isreg():
        src = tar.extractfile(member)
        assert src is not None
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        source = _ensure_parent(root, member.linkname, member.name, create=False)
        source = source / member.linkname.rsplit("/", 1)[-1]
        if not os.path.lexists(source):
            raise InvalidArchive(f"layer entry {member.name!r}: hardlink target {member.linkname!r} missing")
        os.link(source, target, follow_symlinks=False)
        return  # a hardlink shares the target's inode and attributes
    else:
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(target, kind | mode, os.makedev(member.devmajor, member.devminor))
    os.lchown(target, member.uid, member.gid)
    if not member.issym():
        os.chmod(target, mode)  # after chown, which clears setuid/setgid
    _set_xattrs(target, member)
    if not member.isdir():
        mtime = _mtime_ns(member)
        os.utime(target, ns=(mtime, mtime), follow_symlinks=False)


def unpack_layer(stream: BinaryIO, root: Path) -> None:
    """Unpack an uncompressed layer tar read sequentially from `stream` into the directory `root`."""
    dir_times: list[tuple[Path, int]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for raw in tar:
                member = layer_filter(raw, root)
                rel = member.name
                if not rel:  # the layer root itself: keep its attributes
                    if member.isdir():
                        os.lchown(root, member.uid, member.gid)
                        os.chmod(root, member.mode & 0o7777)
                        dir_times.append((root, _mtime_ns(member)))
                    continue
                parent = _ensure_parent(root, rel, raw.name)
                base = rel.rsplit("/", 1)[-1]
                if base.startswith(WHITEOUT_PREFIX):
                    _apply_whiteout(root, parent, rel, base)
                    continue
                target = parent / base
                if os.path.lexists(target) and not (member.isdir() and target.is_dir()
                                                    and not target.is_symlink()):
                    _remove(target)
                _create(tar, root, member, target)
                if member.isdir():
                    dir_times.append((target, _mtime_ns(member)))
    except tarfile.TarError as exc:
        raise InvalidArchive(f"layer is not a valid tar archive: {exc}") from None
    for path, mtime in reversed(dir_times):
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    for attr in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _walk_sorted(top: str) -> list[str]:
    """Every path under `top` (not `top` itself), parents before children, in a stable order."""
    found: list[str] = []
    with os.scandir(top) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        found.append(entry.path)
        if entry.is_dir(follow_symlinks=False):
            found.extend(_walk_sorted(entry.path))
    return found


def write_layer_tar(upper: Path, out: BinaryIO) -> None:
    """Write an overlay upper dir as an OCI layer tar, converting overlay whiteouts back to `.wh.`."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk_sorted(str(upper)):
            rel = os.path.relpath(path, upper)
            st = os.lstat(path)
            if _is_whiteout(st):
                head, _, name = rel.rpartition("/")
                info = tarfile.TarInfo((head + "/" if head else "") + WHITEOUT_PREFIX + name)
                info.mtime = int(st.st_mtime)
                info.mode = 0o600
                tar.addfile(info)
                continue
            info = tar.gettarinfo(path, arcname=rel)
            if info is None:
                continue  # sockets have no tar representation
            info.uname = info.gname = ""
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                for attr in _list_xattrs(path):
                    value = os.getxattr(path, attr, follow_symlinks=False)
                    info.pax_headers[_PAX_XATTR + attr] = value.decode("utf-8", "surrogateescape")
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if stat.S_ISDIR(st.st_mode) and _is_opaque(path):
                marker = tarfile.TarInfo(rel + "/" + OPAQUE_MARKER)
                marker.mtime = int(st.st_mtime)
                marker.mode = 0o600
                tar.addfile(marker)


def _list_xattrs(path: str) -> list[str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    return sorted(n for n in names if _kept_xattr(n))
