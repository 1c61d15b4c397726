"""Build a minimal busybox root filesystem tar: the image every test and demo can import offline.

`python -m agent.runtime.busybox_rootfs OUT.tar` packs the host's static busybox (Debian package
busybox-static) as `bin/busybox`, a relative symlink for each applet (`busybox --list-full`), the
account files of a small distribution (root, nobody, and `app` 1000:1000 with a supplementary
group `extra` 1001, which the user/groups tests need), empty `/etc/hosts`, `/etc/hostname`,
`/etc/resolv.conf` for the runtime to bind over, and `/var/www/index.html` for web demos.

Everything is sorted, root-owned unless stated, and stamped with one fixed mtime, so that the
same busybox binary always yields the same tar, hence the same layer digest and image id.
"""

from __future__ import annotations

import argparse
import io
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO

MTIME = 1_700_000_000  # fixed: a stable layer digest
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = """root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
"""
GROUP = """root:x:0:
nogroup:x:65534:
app:x:1000:
extra:x:1001:app
"""
INDEX_HTML = "<!doctype html>\n<html><body><h1>hello from orch</h1></body></html>\n"

# (path, mode, uid, gid)
DIRS = [
    ("bin", 0o755, 0, 0), ("dev", 0o755, 0, 0), ("etc", 0o755, 0, 0), ("home", 0o755, 0, 0),
    ("home/app", 0o755, 1000, 1000), ("proc", 0o555, 0, 0), ("root", 0o700, 0, 0), ("sbin", 0o755, 0, 0),
    ("sys", 0o555, 0, 0), ("tmp", 0o1777, 0, 0), ("usr", 0o755, 0, 0), ("usr/bin", 0o755, 0, 0),
    ("usr/sbin", 0o755, 0, 0), ("var", 0o755, 0, 0), ("var/www", 0o755, 0, 0),
]
FILES = [
    ("etc/passwd", 0o644, PASSWD), ("etc/group", 0o644, GROUP), ("etc/hosts", 0o644, ""),
    ("etc/hostname", 0o644, ""), ("etc/resolv.conf", 0o644, ""), ("var/www/index.html", 0o644, INDEX_HTML),
]


def find_busybox() -> Path:
    """The host's busybox binary (it must be static: it will run inside an empty rootfs)."""
    for candidate in BUSYBOX_PATHS:
        if os.path.isfile(candidate):
            return Path(candidate)
    found = shutil.which("busybox")
    if found:
        return Path(found)
    raise FileNotFoundError("busybox not found: install the busybox-static package")


def applets(busybox: Path) -> list[str]:
    """Applet paths relative to the root (`bin/ls`, `usr/bin/awk`, ...), without busybox itself."""
    out = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True).stdout
    paths = {line.strip().lstrip("/") for line in out.splitlines() if line.strip()}
    return sorted(p for p in paths if p != "bin/busybox" and "/" in p)


def _info(name: str, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, MTIME
    info.uname = info.gname = ""
    return info


def write_rootfs(out: BinaryIO, busybox: Path | None = None) -> None:
    """Write the rootfs tar to `out`."""
    busybox = busybox or find_busybox()
    links = applets(busybox)
    dirs = {d[0]: d for d in DIRS}
    for link in links:  # applets may live in directories the table does not list
        parent = posixpath.dirname(link)
        while parent and parent not in dirs:
            dirs[parent] = (parent, 0o755, 0, 0)
            parent = posixpath.dirname(parent)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, uid, gid in sorted(dirs.values()):
            info = _info(name, mode, uid, gid)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        data = busybox.read_bytes()
        info = _info("bin/busybox", 0o755)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for link in links:
            info = _info(link, 0o777)
            info.type = tarfile.SYMTYPE
            info.linkname = posixpath.relpath("bin/busybox", posixpath.dirname(link))
            tar.addfile(info)
        for name, mode, text in FILES:
            payload = text.encode()
            info = _info(name, mode)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a minimal busybox rootfs tar.")
    parser.add_argument("out", help="the tar file to write ('-' for stdout)")
    parser.add_argument("--busybox", type=Path, help="busybox binary (default: the host's)")
    args = parser.parse_args(argv)
    try:
        if args.out == "-":
            write_rootfs(sys.stdout.buffer, args.busybox)
        else:
            tmp = Path(args.out + ".tmp")
            with open(tmp, "wb") as f:
                write_rootfs(f, args.busybox)
            os.replace(tmp, args.out)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"busybox_rootfs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
