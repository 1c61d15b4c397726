"""OCI bundles for crun and runc on the same busybox rootfs that orch imports, and the host quirks.

The rootfs is the very tar orch imports (``agent.runtime.busybox_rootfs``: static busybox with
relative applet links, since runc rejects nothing then and absolute host paths would break inside
the container). Each bundle is ``runc spec`` with ``terminal: false``, a read-only root (so many
containers can share one rootfs directory) and the given command; runc wants the rootfs path
free of symlinks, which the extracted directory is.

crun 1.8 refuses to run in cgroup "hybrid" mode while the cgroup2 mount at
/sys/fs/cgroup/unified owns a controller (here ``hugetlb``): "cgroups in hybrid mode not
supported, drop all controllers from cgroupv2". ``HybridCgroupFix`` mounts such controllers as
v1 hierarchies for the duration and unmounts them afterwards (after removing empty children),
which gives them back to cgroup2.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tarfile
from pathlib import Path

from bench.common import BenchError, have, log, run

UNIFIED = Path("/sys/fs/cgroup/unified/cgroup.controllers")


class HybridCgroupFix:
    """Temporarily bind the controllers cgroup2 owns to v1 hierarchies (only if needed)."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def __enter__(self) -> HybridCgroupFix:
        try:
            owned = UNIFIED.read_text().split()
        except OSError:
            return self
        for ctrl in owned:
            d = Path("/sys/fs/cgroup") / ctrl
            if d.exists():
                continue
            d.mkdir()
            if subprocess.run(["mount", "-t", "cgroup", "-o", ctrl, "cgroup", str(d)]).returncode == 0:
                self.mounted.append(d)
                log(f"mounted cgroup v1 {ctrl} for the run (crun refuses hybrid mode otherwise)")
            else:
                d.rmdir()
        return self

    def __exit__(self, *exc: object) -> None:
        for d in self.mounted:
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(str(p)), reverse=True):
                try:
                    sub.rmdir()
                except OSError:
                    pass
            subprocess.run(["umount", str(d)], capture_output=True)
            try:
                d.rmdir()
            except OSError:
                pass
        self.mounted.clear()


class Bundles:
    """``true`` and ``sleep`` bundles in ``root``; ``ids`` remembers containers to delete."""

    def __init__(self, root: Path, busybox_tar: Path) -> None:
        self.root = root
        self.rootfs = root / "rootfs"
        self.tag = secrets.token_hex(3)
        self.true = root / "true"
        self.sleep = root / "sleep"
        self.started: list[tuple[str, str]] = []  # (runtime, id) not yet deleted
        self.rootfs.mkdir(parents=True)
        with tarfile.open(busybox_tar) as tf:
            tf.extractall(self.rootfs, filter="tar")  # type: ignore[call-arg]
        for bundle, args in ((self.true, ["/bin/true"]), (self.sleep, ["/bin/sleep", "3600"])):
            self._write_spec(bundle, args)

    def _write_spec(self, bundle: Path, args: list[str]) -> None:
        if not have("runc"):
            raise BenchError("runc is not installed (needed for `runc spec`): apt-get install runc")
        bundle.mkdir()
        run(["runc", "spec", "--bundle", str(bundle)])
        cfg_path = bundle / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args
        cfg["root"] = {"path": str(self.rootfs), "readonly": True}
        cfg_path.write_text(json.dumps(cfg, indent=1))

    def new_id(self, runtime: str) -> str:
        cid = f"ob-{runtime}-{self.tag}-{len(self.started)}"
        self.started.append((runtime, cid))
        return cid

    def delete(self, runtime: str, cid: str) -> None:
        subprocess.run([runtime, "delete", "--force", cid], capture_output=True)
        try:
            self.started.remove((runtime, cid))
        except ValueError:
            pass

    def cleanup(self) -> None:
        """Delete every container a benchmark left behind (e.g. after a failure)."""
        for runtime, cid in list(self.started):
            subprocess.run([runtime, "delete", "--force", cid], capture_output=True)
        self.started.clear()
        for runtime in ("crun", "runc"):
            if not have(runtime):
                continue
            p = subprocess.run([runtime, "list", "-q"], capture_output=True, text=True)
            for cid in p.stdout.split():
                if cid.startswith(f"ob-{runtime}-{self.tag}-") or cid.startswith(f"hf-{self.tag}-"):
                    subprocess.run([runtime, "delete", "--force", cid], capture_output=True)
