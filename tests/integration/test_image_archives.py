"""Image archives against real tools and the real kernel: skopeo reads what `save` writes, a layout
skopeo writes loads back, and unpacked layers stack correctly under a real overlayfs mount."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.runtime import busybox_rootfs
from agent.runtime.images import ImageStore

pytestmark = pytest.mark.root

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="SKIPPED LOUDLY: skopeo is not installed")


def _tar(*files: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture
def image(store: ImageStore) -> str:
    """A busybox image when the host has busybox, else a two-file rootfs."""
    if any(os.path.isfile(p) for p in busybox_rootfs.BUSYBOX_PATHS):
        buf = io.BytesIO()
        busybox_rootfs.write_rootfs(buf)
        data = buf.getvalue()
    else:
        data = _tar(("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), ("bin/sh", b"#!"))
    store.import_rootfs(io.BytesIO(data), "example.com/orch/base:v1", {"Cmd": ["sh"]})
    return "example.com/orch/base:v1"


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    return subprocess.run([SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=120)


@needs_skopeo
def test_skopeo_inspects_a_saved_archive(store: ImageStore, image: str, tmp_path: Path) -> None:
    archive = tmp_path / "saved.tar"
    store.save([image], archive)
    result = _skopeo("inspect", f"oci-archive:{archive}")
    assert result.returncode == 0, result.stderr
    assert store.resolve(image).layers[0] in result.stdout


@needs_skopeo
def test_skopeo_copied_layout_loads_back(store: ImageStore, image: str, tmp_path: Path) -> None:
    archive = tmp_path / "saved.tar"
    store.save([image], archive)
    layout = tmp_path / "layout"
    result = _skopeo("copy", f"oci-archive:{archive}", f"oci:{layout}:registry.test/copied:v2")
    assert result.returncode == 0, result.stderr
    tarred = tmp_path / "layout.tar"
    with tarfile.open(tarred, "w") as tar:
        for child in sorted(layout.iterdir()):
            tar.add(child, arcname=child.name)
    fresh = ImageStore(tmp_path / "fresh")
    assert fresh.load(tarred) == ["registry.test/copied:v2"]
    original, copied = store.resolve(image), fresh.resolve("registry.test/copied:v2")
    assert copied.id == original.id  # same config; skopeo recompressed the layer (gzip)
    assert copied.manifest_digest != original.manifest_digest
    dirs = fresh.layer_dirs(copied)
    assert sorted(os.listdir(dirs[0])) == sorted(os.listdir(store.layer_dirs(original)[0]))


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / f"t{uuid.uuid4().hex[:8]}"
    target.mkdir()
    yield target
    if os.path.ismount(target):
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_unpacked_layers_stack_under_overlayfs(store: ImageStore, tmp_path: Path, mountpoint: Path) -> None:
    base = store.import_rootfs(io.BytesIO(_tar(("etc/passwd", b"p"), ("etc/keep", b"k"), ("var/a", b"a"))), "b")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "var").mkdir()
    os.mknod(upper / "etc/passwd", 0o020600, os.makedev(0, 0))  # an overlay whiteout
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    (upper / "var/b").write_bytes(b"b")
    child = store.commit("b", upper, "child", {}, "", "")
    lower = ":".join(str(p) for p in reversed(store.layer_dirs(child)))
    work, rw = tmp_path / "work", tmp_path / "rw"
    work.mkdir()
    rw.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={rw},workdir={work}", str(mountpoint)], check=True)
    try:
        assert not (mountpoint / "etc/passwd").exists()
        assert (mountpoint / "etc/keep").read_bytes() == b"k"
        assert sorted(os.listdir(mountpoint / "var")) == ["b"]
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)
    assert store.layer_dirs(base)[0] == store.layer_dirs(child)[0]
