"""List commands: Docker's --format field names and --filter keys (ps, images, volume ls, image history)."""

from __future__ import annotations

import json

import pytest

from .conftest import Orchd

pytestmark = pytest.mark.root


def test_ps_format_and_filters(orchd: Orchd) -> None:
    a, b = orchd.name("lfa"), orchd.name("lfb")
    vol = orchd.name("lfv")
    orchd.ok("run", "-d", "--name", a, "-l", "tier=front", "-v", f"{vol}:/data", "busybox", "sleep", "300")
    assert orchd.orch("run", "--name", b, "busybox", "sh", "-c", "exit 3").returncode == 3
    try:
        out = orchd.ok("ps", "-a", "--filter", f"name={orchd.tag}-lf", "--format", "{{.Names}}|{{.State}}")
        assert set(out.split()) == {f"{a}|running", f"{b}|exited"}
        row = json.loads(orchd.ok("ps", "--filter", f"name={a}", "--format", "{{json .}}"))
        for key in ("ID", "Names", "Image", "Command", "Status", "State", "Labels", "Mounts", "Networks",
                    "Ports", "CreatedAt", "RunningFor"):
            assert key in row
        assert not any(k.startswith("_") for k in row)
        table = orchd.ok("ps", "--filter", f"name={a}", "--format", "table {{.ID}}\t{{.Names}}").splitlines()
        assert table[0].split() == ["CONTAINER", "ID", "NAMES"] and a in table[1]

        def names(*flt: str) -> set[str]:
            args = [x for f in flt for x in ("--filter", f)]
            return set(orchd.ok("ps", "-a", "--filter", f"name={orchd.tag}-lf", *args,
                                "--format", "{{.Names}}").split())

        assert names("label=tier=front") == {a}
        assert names("exited=3") == {b}
        assert names("status=exited") == {b}
        assert names("ancestor=busybox") == {a, b}
        assert names("ancestor=busybox:latest") == {a, b}
        assert names(f"volume={vol}") == {a}
        assert names(f"before={b}") == {a}
        assert names(f"since={a}") == {b}
        assert names("health=none") == {a, b}
        assert names("is-task=false") == {a, b}
        assert names("is-task=true") == set()
        bad = orchd.orch("ps", "--filter", "bogus=1")
        assert bad.returncode != 0 and "invalid filter 'bogus'" in bad.stderr
        bad = orchd.orch("ps", "--filter", "status=sleepy")
        assert bad.returncode != 0 and "invalid filter 'status=sleepy'" in bad.stderr
    finally:
        orchd.orch("rm", "-f", a, b)
        orchd.orch("volume", "rm", vol)


def test_images_format_and_filters(orchd: Orchd) -> None:
    tag = f"{orchd.tag}-lfimg:v1"
    orchd.ok("tag", "busybox:latest", tag)
    try:
        out = orchd.ok("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={orchd.tag}-lf*")
        assert out.split() == [tag]
        row = json.loads(orchd.ok("images", "--format", "{{json .}}", "--filter", f"reference={tag}"))
        for key in ("ID", "Repository", "Tag", "CreatedAt", "CreatedSince", "Size", "Containers", "Digest"):
            assert key in row
        assert orchd.ok("images", "-q", "--filter", "dangling=false", "--filter", f"reference={tag}").strip()
        assert not orchd.ok("images", "-q", "--filter", "dangling=true", "--filter", f"reference={tag}").strip()
        assert not orchd.ok("images", "-q", "--filter", "label=nope", "--filter", f"reference={tag}").strip()
        bad = orchd.orch("images", "--filter", "bogus=1")
        assert bad.returncode != 0 and "invalid filter 'bogus'" in bad.stderr
        hist = orchd.ok("image", "history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", tag)
        assert hist.strip() and all(line.count("|") == 2 for line in hist.splitlines())
    finally:
        orchd.orch("rmi", tag)


def test_volume_ls_format_and_filters(orchd: Orchd) -> None:
    used, free = orchd.name("lvused"), orchd.name("lvfree")
    orchd.ok("volume", "create", "--label", "keep=yes", free)
    c = orchd.name("lfvc")
    orchd.ok("run", "-d", "--name", c, "-v", f"{used}:/data", "busybox", "sleep", "300")
    try:
        def vols(*flt: str) -> set[str]:
            args = [x for f in flt for x in ("--filter", f)]
            return set(orchd.ok("volume", "ls", "--filter", f"name={orchd.tag}-lv", *args,
                                "--format", "{{.Name}}").split())

        assert vols() == {used, free}
        assert vols("dangling=true") == {free}
        assert vols("dangling=false") == {used}
        assert vols("label=keep=yes") == {free}
        assert vols("driver=local") == {used, free}
        row = json.loads(orchd.ok("volume", "ls", "--filter", f"name={free}", "--format", "{{json .}}"))
        for key in ("Driver", "Name", "Mountpoint", "Scope", "Labels", "Links", "Size"):
            assert key in row
        bad = orchd.orch("volume", "ls", "--filter", "bogus=1")
        assert bad.returncode != 0 and "invalid filter 'bogus'" in bad.stderr
    finally:
        orchd.orch("rm", "-f", c)
        orchd.orch("volume", "rm", used, free)
