"""Unit tests of the image store: a store in a temp dir, archives built here with tarfile."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.runtime import busybox_rootfs, image_layers
from agent.runtime.image_errors import AmbiguousReference, InvalidChange
from agent.runtime.image_refs import lookup, parse_reference
from agent.runtime.images import (
    ImageConflict,
    ImageNotFound,
    ImageStore,
    InvalidArchive,
    InvalidReference,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod and trusted.* xattrs need root")
MTIME = 1_600_000_000


def entry(name: str, kind: str = "file", data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0,
          link: str = "", dev: tuple[int, int] = (0, 0)) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, MTIME
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
    info.linkname = link
    info.devmajor, info.devminor = dev
    info.size = len(data)
    return info, data


def make_tar(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


BASE = make_tar(
    entry("bin", "dir", mode=0o755),
    entry("bin/sh", data=b"#!shell\n", mode=0o755),
    entry("etc", "dir", mode=0o755),
    entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
    entry("var", "dir", mode=0o755),
    entry("var/old", data=b"old"),
)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_import_builds_config_and_resolves_every_spelling(store: ImageStore) -> None:
    record = store.import_rootfs(io.BytesIO(BASE), "busybox", {"Cmd": ["sh"], "Env": ["A=1"]}, "first")
    assert record.layers == [sha(BASE)]
    assert record.repo_tags == ["busybox:latest"]
    assert record.run_config["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"]
    assert record.run_config["Cmd"] == ["sh"]
    assert record.id == sha(store._blobs.read(record.id))
    for ref in ["busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
                record.id, record.id[7:], record.id[7:11], record.id[:19],
                f"busybox@{record.manifest_digest}"]:
        assert store.resolve(ref).id == record.id, ref
    with pytest.raises(ImageNotFound, match="No such image: busybox:nope") as err:
        store.resolve("busybox:nope")
    assert isinstance(err.value, LookupError)
    with pytest.raises(InvalidReference):
        store.resolve("Not/Valid")
    history = store.history("busybox")
    assert [h["Comment"] for h in history] == ["first"] and history[0]["Size"] == len(BASE)
    doc = store.inspect("busybox")
    assert doc["Id"] == record.id and doc["RootFS"] == {"Type": "layers", "Layers": [sha(BASE)]}
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Os"] == "linux"


def test_import_gzip_and_index_survives_restart(store: ImageStore, tmp_path: Path) -> None:
    record = store.import_rootfs(io.BytesIO(gzip.compress(BASE)), "example.com/team/app:v1")
    assert record.layers == [sha(BASE)]  # the diff id is the digest of the uncompressed tar
    reopened = ImageStore(tmp_path / "images")
    assert reopened.resolve("example.com/team/app:v1").id == record.id
    assert reopened.resolve("example.com/team/app:v1").repo_tags == ["example.com/team/app:v1"]


def test_changes_are_validated(store: ImageStore) -> None:
    with pytest.raises(InvalidChange, match="unknown change 'Foo'"):
        store.import_rootfs(io.BytesIO(BASE), "x", {"Foo": 1})
    record = store.import_rootfs(io.BytesIO(BASE), "x", {"ExposedPorts": ["80", "53/udp"], "Volumes": ["/data"],
                                                          "Labels": {"a": "b"}, "Entrypoint": "echo hi"})
    assert record.run_config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert record.run_config["Volumes"] == {"/data": {}}
    assert record.run_config["Entrypoint"] == ["/bin/sh", "-c", "echo hi"]


@needs_root
def test_unpack_preserves_modes_owners_times_links_devices(store: ImageStore) -> None:
    tar = make_tar(
        entry("./", "dir", mode=0o755),
        entry("./usr/bin/su", data=b"su", mode=0o4755, uid=0, gid=0),
        entry("./home/app", "dir", mode=0o750, uid=1000, gid=1001),
        entry("./home/app/f", data=b"x", mode=0o600, uid=1000, gid=1001),
        entry("./home/app/hard", "hardlink", link="home/app/f"),
        entry("./home/app/abs", "symlink", link="/etc/passwd"),
        entry("./dev/null", "chr", mode=0o666, dev=(1, 3)),
        entry("./run/fifo", "fifo", mode=0o644),
    )
    record = store.import_rootfs(io.BytesIO(tar), "attrs")
    [root] = store.layer_dirs(record)
    su = os.lstat(root / "usr/bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_mtime == MTIME
    home = os.lstat(root / "home/app")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1001, 0o750)
    assert home.st_mtime == MTIME  # set after its children were created
    assert os.lstat(root / "home/app/hard").st_ino == os.lstat(root / "home/app/f").st_ino
    assert os.readlink(root / "home/app/abs") == "/etc/passwd"
    null = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_ISFIFO(os.lstat(root / "run/fifo").st_mode)


def test_layers_are_unpacked_once_and_shared(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = image_layers.unpack_layer

    def counting(stream: Any, root: Path) -> None:
        calls.append(root)
        real(stream, root)

    monkeypatch.setattr(image_layers, "unpack_layer", counting)
    one = store.import_rootfs(io.BytesIO(BASE), "one", {"Cmd": ["a"]})
    two = store.import_rootfs(io.BytesIO(BASE), "two", {"Cmd": ["b"]})
    assert one.id != two.id and one.layers == two.layers
    assert store.layer_dirs(one) == store.layer_dirs(two)
    assert len(calls) == 1
    assert [p.name for p in (store.root / "layers").iterdir()] == [sha(BASE)[7:]]


@needs_root
def test_whiteouts_become_overlay_whiteouts(store: ImageStore) -> None:
    upper = make_tar(
        entry("etc", "dir", mode=0o755),
        entry("etc/.wh.passwd"),
        entry("var", "dir", mode=0o755),
        entry("var/.wh..wh..opq"),
        entry("var/new", data=b"new"),
        entry("both", data=b"kept"),
        entry(".wh.both"),  # same-layer content wins over its own whiteout
    )
    record = load_docker_save(store, [BASE, upper], ["layered:1"])
    base_dir, top = store.layer_dirs(record)
    assert (base_dir / "etc/passwd").is_file()
    wh = os.lstat(top / "etc/passwd")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(top / "var", "trusted.overlay.opaque") == b"y"
    assert (top / "var/new").read_bytes() == b"new"
    assert (top / "both").read_bytes() == b"kept"
    assert not list(top.rglob(".wh.*"))


@needs_root
def test_commit_turns_overlay_whiteouts_back_into_wh_entries(store: ImageStore, tmp_path: Path) -> None:
    parent = store.import_rootfs(io.BytesIO(BASE), "base", {"Env": ["A=1"], "Cmd": ["sh"]})
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc/passwd", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (upper / "var").mkdir()
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    (upper / "var/fresh").write_bytes(b"fresh")
    os.link(upper / "var/fresh", upper / "var/fresh2")
    record = store.commit("base", upper, "base:committed", {"Env": ["B=2"]}, "a comment", "me")
    assert record.layers[:-1] == parent.layers and len(record.layers) == 2
    assert record.run_config["Env"][-2:] == ["A=1", "B=2"] and record.run_config["Cmd"] == ["sh"]
    assert record.config["author"] == "me"
    assert store.history("base:committed")[0]["Comment"] == "a comment"
    layer_blob = store._blobs.read(record.layers[-1])
    with tarfile.open(fileobj=io.BytesIO(layer_blob)) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert {"etc/.wh.passwd", "var/.wh..wh..opq", "var/fresh"} <= set(names)
    assert names["var/fresh2"].islnk()
    top = store.layer_dirs(record)[-1]
    assert os.lstat(top / "etc/passwd").st_rdev == 0 and stat.S_ISCHR(os.lstat(top / "etc/passwd").st_mode)
    assert os.getxattr(top / "var", "trusted.overlay.opaque") == b"y"


def docker_save_archive(layers: list[bytes], tags: list[str], *, dup_symlink: bool = False,
                        corrupt: bool = False) -> bytes:
    """A legacy `docker save` tarball: manifest.json, <id>.json, <layer>/layer.tar."""
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]},
              "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"step {i}"}
                          for i in range(len(layers))]}
    config_bytes = json.dumps(config).encode()
    config_name = sha(config_bytes)[7:] + ".json"
    files = [entry(config_name, data=config_bytes)]
    paths = []
    for i, layer in enumerate(layers):
        name = f"layer{i}/layer.tar"
        paths.append(name)
        files.append(entry(f"layer{i}", "dir", mode=0o755))
        if dup_symlink and i > 0 and layer == layers[0]:
            files.append(entry(name, "symlink", link="../layer0/layer.tar"))
        else:
            files.append(entry(name, data=layer + (b"x" if corrupt else b"")))
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": paths}]
    files.append(entry("manifest.json", data=json.dumps(manifest).encode()))
    return make_tar(*files)


def load_docker_save(store: ImageStore, layers: list[bytes], tags: list[str]) -> Any:
    loaded = store.load(io.BytesIO(docker_save_archive(layers, tags)))
    return store.resolve(loaded[0])


def test_docker_save_archive_loads(store: ImageStore) -> None:
    extra = make_tar(entry("etc", "dir", mode=0o755), entry("etc/motd", data=b"hi"))
    archive = docker_save_archive([BASE, extra], ["app:v1", "registry.local:5000/app:v1"])
    assert store.load(io.BytesIO(archive)) == ["app:v1", "registry.local:5000/app:v1"]
    record = store.resolve("registry.local:5000/app:v1")
    assert record.layers == [sha(BASE), sha(extra)]
    assert [h["CreatedBy"] for h in store.history("app:v1")] == ["step 1", "step 0"]
    base_dir, top = store.layer_dirs(record)
    assert (top / "etc/motd").read_bytes() == b"hi" and (base_dir / "bin/sh").is_file()
    # gzip-compressed archive, duplicate layer stored as a symlink (as docker save does)
    dup = docker_save_archive([BASE, BASE], ["dup:1"], dup_symlink=True)
    assert store.load(io.BytesIO(gzip.compress(dup))) == ["dup:1"]
    assert store.resolve("dup:1").layers == [sha(BASE), sha(BASE)]


def test_docker_save_layer_mismatch_is_refused(store: ImageStore) -> None:
    with pytest.raises(InvalidArchive, match="does not match its diff id"):
        store.load(io.BytesIO(docker_save_archive([BASE], ["bad:1"], corrupt=True)))
    with pytest.raises(InvalidArchive, match="not an image archive"):
        store.load(io.BytesIO(BASE))
    assert store.list() == []


def test_oci_archive_round_trip(store: ImageStore, tmp_path: Path) -> None:
    extra = make_tar(entry("etc", "dir", mode=0o755), entry("etc/motd", data=b"hi"))
    base = store.import_rootfs(io.BytesIO(BASE), "base:1")
    app = load_docker_save(store, [BASE, extra], ["app:v1"])
    store.tag("app:v1", "app:latest")
    out = tmp_path / "out.tar"
    store.save(["base:1", "app:v1", "app", app.id], out)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        docker_manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"oci-layout", "index.json", "manifest.json", f"blobs/sha256/{sha(BASE)[7:]}"} <= names
    assert len(index["manifests"]) == 3
    assert sorted(t for m in docker_manifest for t in m["RepoTags"]) == ["app:latest", "app:v1", "base:1"]
    fresh = ImageStore(tmp_path / "fresh")
    assert sorted(fresh.load(out)) == ["app:latest", "app:v1", "base:1"]
    assert fresh.resolve("app:v1").id == app.id and fresh.resolve("base:1").id == base.id
    assert fresh.resolve("app").layers == app.layers
    assert (fresh.layer_dirs(fresh.resolve("app"))[1] / "etc/motd").read_bytes() == b"hi"
    # untagged: saved by id, loaded back as its id; gzip archives are accepted too
    untagged = tmp_path / "untagged.tar.gz"
    buf = io.BytesIO()
    store.save([base.id], buf)
    untagged.write_bytes(gzip.compress(buf.getvalue()))
    assert ImageStore(tmp_path / "third").load(untagged) == [base.id]


def test_oci_blob_digest_is_verified(store: ImageStore, tmp_path: Path) -> None:
    store.import_rootfs(io.BytesIO(BASE), "base:1")
    buf = io.BytesIO()
    store.save(["base:1"], buf)
    bad = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as src, tarfile.open(fileobj=bad, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isreg() else b""  # type: ignore[union-attr]
            if member.name.endswith(sha(BASE)[7:]):
                data = data[:-1] + b"!"
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(InvalidArchive, match="does not match its digest"):
        ImageStore(tmp_path / "other").load(io.BytesIO(bad.getvalue()))


def test_tag_remove_and_garbage_collection(store: ImageStore) -> None:
    record = store.import_rootfs(io.BytesIO(BASE), "one:1")
    store.tag("one:1", "two")
    assert store.resolve("two:latest").repo_tags == ["one:1", "two:latest"]
    with pytest.raises(ImageConflict, match="referenced in multiple repositories"):
        store.remove(record.id)
    assert store.remove("two") == [("Untagged", "two:latest")]
    with pytest.raises(ImageConflict, match="must force"):
        store.remove("one:1", in_use=lambda i: i == record.id)
    assert store.remove("one:1", force=True, in_use=lambda i: True) == [("Untagged", "one:1")]
    assert store.resolve(record.id).repo_tags == []  # dangling, kept for its container
    assert store.prune(in_use=lambda i: True) == ([], 0)
    done, reclaimed = store.prune()
    assert done == [("Deleted", record.id)] and reclaimed >= len(BASE)
    assert list(store._blobs.digests()) == [] and list((store.root / "layers").iterdir()) == []
    with pytest.raises(ImageNotFound):
        store.resolve(record.id)


def test_remove_last_tag_deletes_but_keeps_shared_layers(store: ImageStore) -> None:
    one = store.import_rootfs(io.BytesIO(BASE), "one", {"Cmd": ["a"]})
    two = store.import_rootfs(io.BytesIO(BASE), "two", {"Cmd": ["b"]})
    assert store.remove("one") == [("Untagged", "one:latest"), ("Deleted", one.id)]
    assert store.layer_dirs(store.resolve("two"))[0].is_dir()
    assert not store._blobs.exists(one.id) and store._blobs.exists(two.layers[0])


def test_prune_all_keeps_images_in_use(store: ImageStore) -> None:
    used = store.import_rootfs(io.BytesIO(BASE), "used", {"Cmd": ["a"]})
    idle = store.import_rootfs(io.BytesIO(BASE), "idle", {"Cmd": ["b"]})
    assert store.prune(all=False)[0] == []
    done, _ = store.prune(all=True, in_use=lambda i: i == used.id)
    assert done == [("Untagged", "idle:latest"), ("Deleted", idle.id)]
    assert [r.id for r in store.list()] == [used.id]


@pytest.mark.parametrize("evil", [
    [entry("../escape", data=b"x")],
    [entry("/abs/path", data=b"x")],
    [entry("a/../../escape", data=b"x")],
    [entry("link", "symlink", link="/tmp"), entry("link/owned", data=b"x")],
    [entry("up", "symlink", link="../../.."), entry("up/owned", data=b"x")],
    [entry("hard", "hardlink", link="../../etc/passwd")],
])
def test_path_escapes_are_refused(store: ImageStore, tmp_path: Path, evil: list[Any]) -> None:
    with pytest.raises(InvalidArchive, match="unsafe layer entry"):
        store.import_rootfs(io.BytesIO(make_tar(*evil)), "evil")
    assert store.list() == []
    assert not (tmp_path / "escape").exists() and not Path("/tmp/owned").exists()
    assert list((store.root / "layers").iterdir()) == [] and list(store._blobs.tmp.iterdir()) == []
    assert list(store._blobs.digests()) == []


def test_reference_normalisation() -> None:
    assert parse_reference("busybox").full == "docker.io/library/busybox:latest"
    assert parse_reference("user/app:v2").familiar == "user/app:v2"
    assert parse_reference("localhost:5000/app").full == "localhost:5000/app:latest"
    assert parse_reference("docker.io/library/busybox:1").familiar == "busybox:1"
    for bad in ["", "UPPER", "a:b:c", "app@sha256:nothex", "-lead"]:
        with pytest.raises(InvalidReference):
            parse_reference(bad)


@pytest.mark.skipif(not any(os.path.isfile(p) for p in busybox_rootfs.BUSYBOX_PATHS), reason="no busybox")
def test_busybox_rootfs_is_deterministic_and_complete(tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    busybox_rootfs.write_rootfs(first)
    busybox_rootfs.write_rootfs(second)
    assert first.getvalue() == second.getvalue()
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        group = tar.extractfile("etc/group").read().decode()  # type: ignore[union-attr]
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["usr/bin/awk"].linkname == "../../bin/busybox"
    assert members["tmp"].mode == 0o1777 and members["home/app"].uid == 1000
    assert "extra:x:1001:app" in group and "var/www/index.html" in members
    store = ImageStore(tmp_path / "images")
    record = store.import_rootfs(io.BytesIO(first.getvalue()), "busybox")
    assert (store.layer_dirs(record)[0] / "bin/busybox").is_file()


def test_id_prefix_lookup_is_unique_or_refused() -> None:
    images = {"sha256:" + "ab12" + "0" * 60: {"manifest": "m1"}, "sha256:" + "ab13" + "0" * 60: {"manifest": "m2"}}
    tags = {"docker.io/library/ab12:latest": "sha256:" + "ab13" + "0" * 60}
    assert lookup("ab120", images, tags)[0].startswith("sha256:ab12")
    assert lookup("ab12", images, tags) == ("sha256:" + "ab13" + "0" * 60, "docker.io/library/ab12:latest")
    with pytest.raises(AmbiguousReference, match="multiple IDs"):
        lookup("sha256:0000", {"sha256:0000" + "1" * 60: {}, "sha256:0000" + "2" * 60: {}}, {})
    with pytest.raises(ImageNotFound):
        lookup("ab1", images, {})  # 3 hex digits: a name, never an id prefix


def test_concurrent_imports_share_one_unpack(store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = image_layers.unpack_layer
    monkeypatch.setattr(image_layers, "unpack_layer", lambda s, r: (calls.append(r), real(s, r))[1])
    with ThreadPoolExecutor(4) as pool:
        records = list(pool.map(lambda i: store.import_rootfs(io.BytesIO(BASE), f"c{i}", {"Cmd": [str(i)]}),
                                range(8)))
    assert len({r.id for r in records}) == 8 and len(calls) == 1
    assert sorted(t for r in store.list() for t in r.repo_tags) == sorted(f"c{i}:latest" for i in range(8))


def test_leftover_staging_is_swept_and_untagged_import(store: ImageStore, tmp_path: Path) -> None:
    (store._blobs.tmp / "layer-half").mkdir()
    (store._blobs.tmp / "layer-half/file").write_bytes(b"partial")
    record = store.import_rootfs(io.BytesIO(BASE), None)
    reopened = ImageStore(tmp_path / "images")
    assert list(reopened._blobs.tmp.iterdir()) == []
    assert reopened.resolve(record.id).repo_tags == []
    assert reopened.prune()[0] == [("Deleted", record.id)]
