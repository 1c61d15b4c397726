"""cp, diff, commit, export, pause/unpause, top, stats, events, prune through the real CLI and daemon."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import time
from pathlib import Path

import pytest

from .conftest import Orchd, eventually

pytestmark = pytest.mark.root


def _run_sleeper(orchd: Orchd, what: str, *extra: str) -> str:
    name = orchd.name(what)
    orchd.ok("run", "-d", "--name", name, *extra, "busybox", "sleep", "300")
    return name


def test_cp_round_trip_keeps_modes(orchd: Orchd, tmp_path: Path) -> None:
    name = _run_sleeper(orchd, "cp")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(src / "run.sh", 0o751)
    (src / "sub" / "secret").write_text("s3cret")
    os.chmod(src / "sub" / "secret", 0o600)
    os.chmod(src / "sub", 0o710)
    os.symlink("run.sh", src / "link")
    try:
        orchd.ok("cp", str(src), f"{name}:/tmp/")
        assert orchd.ok("exec", name, "sh", "/tmp/tree/run.sh") == "hi\n"
        assert orchd.ok("exec", name, "stat", "-c", "%a", "/tmp/tree/sub/secret").strip() == "600"
        back = tmp_path / "back"
        orchd.ok("cp", f"{name}:/tmp/tree", str(back))
        assert stat.S_IMODE((back / "run.sh").stat().st_mode) == 0o751
        assert stat.S_IMODE((back / "sub").stat().st_mode) == 0o710
        assert (back / "sub" / "secret").read_text() == "s3cret"
        assert os.readlink(back / "link") == "run.sh"
        # a single file, renamed on the way in; a tar stream on stdout
        orchd.ok("cp", str(src / "run.sh"), f"{name}:/renamed.sh")
        assert orchd.ok("exec", name, "cat", "/renamed.sh").startswith("#!/bin/sh")
        r = orchd.orch("cp", f"{name}:/renamed.sh", "-")
        with tarfile.open(fileobj=io.BytesIO(r.stdout.encode()), mode="r:") as tar:
            assert tar.getnames() == ["renamed.sh"]
        # a stopped container too
        orchd.ok("stop", "-t", "0", name)
        orchd.ok("cp", f"{name}:/tmp/tree/sub/secret", str(tmp_path / "s"))
        assert (tmp_path / "s").read_text() == "s3cret"
    finally:
        orchd.orch("rm", "-f", name)


def test_cp_errors_are_one_line_and_leave_nothing(orchd: Orchd, tmp_path: Path) -> None:
    name = _run_sleeper(orchd, "cperr")
    try:
        r = orchd.orch("cp", f"{name}:/no/such/file", str(tmp_path / "x"))
        assert r.returncode == 1 and "Could not find the file /no/such/file" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert list(tmp_path.iterdir()) == []
        r = orchd.orch("cp", str(tmp_path / "missing"), f"{name}:/tmp")
        assert r.returncode == 1 and "no such file or directory" in r.stderr
        r = orchd.orch("export", "-o", str(tmp_path / "nodir" / "fs.tar"), name)
        assert r.returncode == 1 and "no such file or directory" in r.stderr
        assert list(tmp_path.iterdir()) == []
        r = orchd.orch("unpause", name)
        assert r.returncode == 1 and "is not paused" in r.stderr
        r = orchd.orch("commit", orchd.name("nosuch"))
        assert r.returncode == 1 and "No such container" in r.stderr
        r = orchd.orch("events", "--format", "{{.Bad", "--until", "1")
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    finally:
        orchd.orch("rm", "-f", name)


def test_cp_cannot_escape_through_symlinks(orchd: Orchd, tmp_path: Path) -> None:
    name = _run_sleeper(orchd, "cpesc")
    victim = tmp_path / "victim"
    victim.mkdir()
    try:
        # the same absolute path exists in the container: the link must resolve to that one
        orchd.ok("exec", name, "sh", "-c", f"mkdir -p {victim} && ln -s {victim} /escape")
        f = tmp_path / "payload"
        f.write_text("x")
        orchd.ok("cp", str(f), f"{name}:/escape/")
        assert list(victim.iterdir()) == []
        assert orchd.ok("exec", name, "cat", f"{victim}/payload") == "x"
    finally:
        orchd.orch("rm", "-f", name)


def test_diff_commit_and_run_committed(orchd: Orchd) -> None:
    name = orchd.name("diff")
    image = f"{orchd.tag}-committed:v1"
    orchd.ok("run", "--name", name, "busybox", "sh", "-c",
             "echo new > /added.txt; echo changed >> /etc/passwd; rm /bin/true")
    try:
        diff = orchd.ok("diff", name).splitlines()
        assert "A /added.txt" in diff
        assert "C /etc/passwd" in diff
        assert "D /bin/true" in diff
        assert "C /etc" in diff
        image_id = orchd.ok("commit", "-m", "test commit", "-a", "me", "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/added.txt"]',
                            name, image).strip()
        assert image_id.startswith("sha256:")
        assert orchd.ok("run", "--rm", image) == "new\n"
        assert orchd.ok("run", "--rm", image, "sh", "-c", "echo $FOO; test -e /bin/true || echo gone") == "bar\ngone\n"
        doc = json.loads(orchd.ok("image", "inspect", image))[0]
        assert doc["Author"] == "me" and doc["Comment"] == "test commit"
    finally:
        orchd.orch("rm", "-f", name)
        orchd.orch("rmi", "-f", image)


def test_export_then_import(orchd: Orchd, tmp_path: Path) -> None:
    name = orchd.name("exp")
    image = f"{orchd.tag}-exported:latest"
    orchd.ok("run", "--name", name, "busybox", "sh", "-c", "echo exported > /marker")
    out = tmp_path / "fs.tar"
    try:
        orchd.ok("export", "-o", str(out), name)
        with tarfile.open(out) as tar:
            names = set(tar.getnames())
        assert "marker" in names and "bin/sh" in names
        orchd.ok("image", "import", str(out), image)
        assert orchd.ok("run", "--rm", image, "cat", "/marker") == "exported\n"
    finally:
        orchd.orch("rm", "-f", name)
        orchd.orch("rmi", "-f", image)


def test_pause_freezes_and_unpause_resumes(orchd: Orchd) -> None:
    name = orchd.name("pause")
    orchd.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
             "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done")

    try:
        eventually(lambda: _read_count(orchd, name) > 0)
        orchd.ok("pause", name)
        assert json.loads(orchd.ok("inspect", name))[0]["State"]["Status"] == "paused"
        frozen = _read_count(orchd, name)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert _read_count(orchd, name) == frozen
        orchd.ok("unpause", name)
        eventually(lambda: _read_count(orchd, name) > frozen + 2)
    finally:
        orchd.orch("rm", "-f", name)


def _read_count(orchd: Orchd, name: str) -> int:
    r = orchd.orch("cp", f"{name}:/count", "-")
    if r.returncode != 0:
        return 0
    with tarfile.open(fileobj=io.BytesIO(r.stdout.encode()), mode="r:") as tar:
        f = tar.extractfile("count")
        text = f.read().decode().strip() if f else ""
    return int(text or 0)


def test_top_lists_processes(orchd: Orchd) -> None:
    name = orchd.name("top")
    orchd.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 301 & sleep 302")
    try:
        def lines() -> list[str]:
            return orchd.ok("top", name).splitlines()

        out = eventually(lambda: (ls := lines()) and any("sleep 302" in x for x in ls) and ls)
        assert isinstance(out, list)
        assert out[0].split()[:2] == ["UID", "PID"] and "CPID" in out[0]
        assert any("sleep 301" in x for x in out)
        r = orchd.orch("top", name, "-o", "pid,comm")
        assert r.returncode == 0 and "sleep" in r.stdout
    finally:
        orchd.orch("rm", "-f", name)


def test_stats_reports_memory(orchd: Orchd) -> None:
    name = orchd.name("stats")
    # 64 MiB in the container's /dev/shm (a tmpfs): shared memory is charged to the writer's cgroup.
    orchd.ok("run", "-d", "--name", name, "-m", "256m", "busybox", "sh", "-c",
             "head -c 67108864 /dev/zero > /dev/shm/fill; echo ready; sleep 300")
    try:
        eventually(lambda: "ready" in orchd.ok("logs", name), timeout=60)
        out = orchd.ok("stats", "--no-stream", "--format", "{{.MemUsage}}", name).strip()
        usage = out.split(" / ")[0]
        mib = float(usage[:-3]) * (1024 if usage.endswith("GiB") else 1) if usage.endswith(("MiB", "GiB")) else 0
        assert 60 <= mib <= 256, out
        assert out.endswith("256MiB")
    finally:
        orchd.orch("rm", "-f", name)


def test_events_show_a_run_in_order(orchd: Orchd) -> None:
    since = str(time.time() - 0.01)
    name = orchd.name("ev")
    assert orchd.orch("run", "--name", name, "busybox", "sh", "-c", "exit 3").returncode == 3
    orchd.ok("rm", name)
    out = orchd.ok("events", "--since", since, "--until", str(time.time() + 0.5), "--filter", f"container={name}",
                   "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}")
    actions = [line.split()[0] for line in out.splitlines()]
    assert actions == ["create", "start", "die", "destroy"], out
    assert "die 3" in out


def test_container_prune_removes_only_stopped(orchd: Orchd) -> None:
    running = _run_sleeper(orchd, "keep")
    stopped = orchd.name("gone")
    orchd.ok("run", "--name", stopped, "busybox", "true")
    try:
        out = orchd.ok("container", "prune", "-f")
        assert "Deleted Containers:" in out
        names = orchd.ok("ps", "-a", "--format", "{{.Names}}").split()
        assert running in names and stopped not in names
    finally:
        orchd.orch("rm", "-f", running, stopped)


def test_rename_and_update(orchd: Orchd) -> None:
    name = _run_sleeper(orchd, "ren")
    new = orchd.name("renamed")
    try:
        orchd.ok("rename", name, new)
        assert json.loads(orchd.ok("inspect", new))[0]["Name"] == "/" + new
        orchd.ok("update", "--pids-limit", "50", "--memory", "300m", new)
        cid = json.loads(orchd.ok("inspect", new))[0]["Id"]
        pids_max = Path(f"/sys/fs/cgroup/pids/{orchd.cgroup_parent}/{cid}/pids.max")
        if pids_max.exists():
            assert pids_max.read_text().strip() == "50"
        mem_max = Path(f"/sys/fs/cgroup/memory/{orchd.cgroup_parent}/{cid}/memory.limit_in_bytes")
        if mem_max.exists():
            assert int(mem_max.read_text()) == 300 * 1024 * 1024
        r = orchd.orch("rename", new, new)
        assert r.returncode == 1
    finally:
        orchd.orch("rm", "-f", name, new)


def test_system_prune_removes_only_unused(orchd: Orchd) -> None:
    keep = _run_sleeper(orchd, "skeep")
    gone = orchd.name("sgone")
    orchd.ok("run", "--name", gone, "busybox", "sh", "-c", "echo x > /f")
    dangling = orchd.ok("commit", gone).strip()  # no tag: dangling
    vol = orchd.name("vol")
    orchd.ok("volume", "create", vol)
    try:
        out = orchd.ok("system", "prune", "-f", "--volumes")
        assert "Deleted Containers:" in out and dangling in out
        names = orchd.ok("ps", "-a", "--format", "{{.Names}}").split()
        assert keep in names and gone not in names
        assert "busybox:latest" in orchd.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
        assert orchd.orch("image", "inspect", dangling).returncode == 1
        df = orchd.ok("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
        assert "Images" in df and "Containers" in df
    finally:
        orchd.orch("rm", "-f", keep, gone)
        orchd.orch("volume", "rm", vol)
        orchd.orch("rmi", "-f", dangling)
