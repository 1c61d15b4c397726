"""`orch image ...` through the daemon: import, save/load round trip, tag, history, rm, prune."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from .conftest import Orchd, eventually

pytestmark = pytest.mark.root


def test_save_load_round_trip_and_skopeo(orchd: Orchd, tmp_path: Path) -> None:
    ref = f"{orchd.tag}-img:v1"
    orchd.ok("tag", "busybox:latest", ref)
    out = tmp_path / "img.tar"
    orchd.ok("save", "-o", str(out), ref)
    with tarfile.open(out) as tf:
        names = tf.getnames()
    assert "oci-layout" in names and "index.json" in names and "manifest.json" in names
    if shutil.which("skopeo"):
        r = subprocess.run(["skopeo", "inspect", f"oci-archive:{out}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    image_id = json.loads(orchd.ok("image", "inspect", ref))[0]["Id"]
    orchd.ok("rmi", ref)
    assert orchd.orch("image", "inspect", ref).returncode == 1
    assert f"Loaded image: {ref}" in orchd.ok("load", "-i", str(out))
    assert json.loads(orchd.ok("image", "inspect", ref))[0]["Id"] == image_id
    assert orchd.ok("run", "--rm", ref, "echo", "from-loaded").strip() == "from-loaded"
    orchd.ok("rmi", ref)


def test_import_with_changes_history_and_rm(orchd: Orchd, tmp_path: Path) -> None:
    ref = f"{orchd.tag}-imp:latest"
    src = tmp_path / "bb.tar"
    from .conftest import busybox_tar

    shutil.copy(busybox_tar(tmp_path), src)
    iid = orchd.ok("image", "import", "-c", "CMD [\"echo\", \"imported-cmd\"]", "-c", "ENV GREETING=hi",
                   str(src), ref).strip()
    assert iid.startswith("sha256:")
    assert orchd.ok("run", "--rm", ref).strip() == "imported-cmd"
    assert orchd.ok("run", "--rm", ref, "sh", "-c", "echo $GREETING").strip() == "hi"
    hist = orchd.ok("image", "history", ref)
    assert "IMAGE" in hist.splitlines()[0]
    assert ref.split(":")[0] in orchd.ok("images", "--format", "{{.Repository}}").split()
    name = orchd.name("user")
    orchd.ok("create", "--name", name, ref)
    r = orchd.orch("rmi", ref)
    assert r.returncode == 1 and "container" in r.stderr
    orchd.ok("rm", name)
    assert "Untagged" in orchd.ok("rmi", ref)


def test_bad_image_inputs(orchd: Orchd, tmp_path: Path) -> None:
    r = orchd.orch("image", "import", str(tmp_path / "missing.tar"), "x:y")
    assert r.returncode == 1 and "no such file" in r.stderr
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar at all")
    r = orchd.orch("load", "-i", str(bad))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_cli_starts_a_daemon_when_none_runs(tmp_path: Path) -> None:
    from .conftest import ORCH, ROOT
    from .conftest import Orchd as D

    d = D(tmp_path / "auto")
    del d.env["ORCH_HOST"]  # the default socket (under ORCH_RUN_DIR): eligible for auto-start
    d.netns.create()  # the auto-started daemon inherits the CLI's (test) network namespace
    try:
        r = subprocess.run(d.netns.cmd(*ORCH, "version"), env=d.env, capture_output=True, text=True,
                           timeout=60, cwd=str(ROOT))
        assert r.returncode == 0, r.stderr + (d.state / "daemon.log").read_text()
        assert "Server:" in r.stdout
        assert (d.state / "daemon.log").exists()
        assert (d.sock.stat().st_mode & 0o777) == 0o600
    finally:
        import os
        import signal

        pidf = d.run_dir / "orchd.pid"
        if pidf.exists():
            os.kill(int(pidf.read_text()), signal.SIGTERM)
            eventually(lambda: not d.sock.exists(), timeout=15)
        d.teardown()
