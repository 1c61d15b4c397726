"""More list commands against Docker's --format fields and --filter keys: network ls, events, stats, history."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import Orchd

pytestmark = pytest.mark.root


def test_network_ls_format_and_filters(orchd: Orchd) -> None:
    used, free = orchd.name("lnused"), orchd.name("lnfree")
    orchd.ok("network", "create", "--label", "tier=back", "--internal", free)
    orchd.ok("network", "create", used)
    c = orchd.name("lnc")
    orchd.ok("run", "-d", "--name", c, "--network", used, "busybox", "sleep", "300")
    try:
        def nets(*flt: str) -> set[str]:
            args = [x for f in flt for x in ("--filter", f)]
            return set(orchd.ok("network", "ls", "--filter", f"name={orchd.tag}-ln", *args,
                                "--format", "{{.Name}}").split())

        assert nets() == {used, free}
        assert nets("label=tier=back") == {free}
        assert nets("label=tier") == {free}
        assert nets("driver=bridge") == {used, free}
        assert nets("scope=local") == {used, free}
        assert nets("type=custom") == {used, free}
        assert nets("type=builtin") == set()
        assert nets("dangling=true") == {free}
        assert nets("dangling=false") == {used}
        # name is a regular expression, as in Docker (several name= filters are OR'ed)
        assert set(orchd.ok("network", "ls", "--filter", f"name=^{free}$", "--format", "{{.Name}}").split()) == {free}
        assert set(orchd.ok("network", "ls", "--filter", f"name={free[-4:]}$", "--filter", f"name={used[-4:]}$",
                            "--format", "{{.Name}}").split()) == {used, free}
        full_id = json.loads(orchd.ok("network", "inspect", free))[0]["Id"]
        assert nets(f"id={full_id[:8]}") == {free}
        builtin = set(orchd.ok("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}").split())
        assert "bridge" in builtin and not builtin & {used, free}

        row = json.loads(orchd.ok("network", "ls", "--filter", f"name={free}", "--format", "{{json .}}"))
        for key in ("ID", "Name", "Driver", "Scope", "IPv6", "Internal", "Labels", "CreatedAt"):
            assert key in row
        assert not any(k.startswith("_") for k in row)
        assert row["Internal"] == "true" and row["Labels"] == "tier=back" and full_id.startswith(row["ID"])
        table = orchd.ok("network", "ls", "--filter", f"name={free}",
                         "--format", "table {{.ID}}\t{{.Name}}\t{{.Internal}}").splitlines()
        assert table[0].split() == ["NETWORK", "ID", "NAME", "INTERNAL"] and free in table[1]

        for flt, message in (("bogus=1", "invalid filter 'bogus'"), ("type=odd", "invalid filter: 'type'='odd'"),
                             ("dangling=maybe", "invalid filter 'dangling=maybe'")):
            bad = orchd.orch("network", "ls", "--filter", flt)
            assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr
    finally:
        orchd.orch("rm", "-f", c)
        orchd.orch("network", "rm", used, free)


def test_events_format_fields_and_filters(orchd: Orchd) -> None:
    since = str(time.time() - 0.01)
    name = orchd.name("lev")
    orchd.ok("run", "--name", name, "busybox", "true")
    orchd.ok("rm", name)
    until = str(time.time() + 0.5)

    def events(*args: str) -> list[str]:
        return orchd.ok("events", "--since", since, "--until", until, *args).splitlines()

    lines = events("--filter", f"container={name}", "--format", "{{.Status}}|{{.ID}}|{{.From}}|{{.Type}}|{{.Scope}}")
    assert [line.split("|")[0] for line in lines] == ["create", "start", "die", "destroy"]
    status, ident, image, kind, scope = lines[0].split("|")
    assert len(ident) == 64 and image == "busybox" and kind == "container" and scope == "local"
    stamps = events("--filter", f"container={name}", "--format", "{{.Time}} {{.TimeNano}}")
    seconds, nanos = stamps[0].split()
    assert int(nanos) // 10**9 == int(seconds)

    doc = json.loads(events("--filter", f"container={name}", "--filter", "event=die", "--format", "{{json .}}")[0])
    for key in ("status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"):
        assert key in doc
    assert doc["Action"] == "die" and doc["Actor"]["Attributes"]["name"] == name
    assert events("--filter", f"container={name}", "--filter", "scope=swarm", "--format", "{{.Action}}") == []
    assert events("--filter", f"container={name}", "--filter", "type=network", "--format", "{{.Action}}") == []
    assert len(events("--filter", f"container={name}", "--filter", "image=busybox", "--format", "{{.Action}}")) == 4
    bad = orchd.orch("events", "--filter", "bogus=1", "--until", "1")
    assert bad.returncode != 0 and "invalid filter 'bogus'" in bad.stderr


def test_stats_format_fields(orchd: Orchd) -> None:
    name = orchd.name("lst")
    orchd.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    try:
        full_id = json.loads(orchd.ok("inspect", name))[0]["Id"]
        out = orchd.ok("stats", "--no-stream", "--format", "{{json .}}", name)
        row = json.loads(out)
        for key in ("Container", "Name", "ID", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"):
            assert key in row
        assert row["Container"] == name and row["Name"] == name and full_id.startswith(row["ID"])
        by_id = orchd.ok("stats", "--no-stream", "--format", "{{.Container}} {{.Name}}", full_id[:10]).split()
        assert by_id == [full_id[:10], name]  # .Container is the reference as given
        listed = orchd.ok("stats", "--no-stream", "--format", "{{.Container}}|{{.Name}}").splitlines()
        assert f"{full_id[:12]}|{name}" in listed
        table = orchd.ok("stats", "--no-stream", "--format", "table {{.Container}}\t{{.CPUPerc}}", name).splitlines()
        assert table[0].split() == ["CONTAINER", "CPU", "%"] and table[1].split()[0] == name
    finally:
        orchd.orch("rm", "-f", name)


def test_image_history_format_fields(orchd: Orchd) -> None:
    rows = [json.loads(line) for line in
            orchd.ok("image", "history", "--format", "{{json .}}", "busybox:latest").splitlines()]
    assert rows
    for row in rows:
        for key in ("ID", "CreatedSince", "CreatedAt", "CreatedBy", "Size", "Comment"):
            assert key in row
    table = orchd.ok("image", "history", "--format", "table {{.ID}}\t{{.Size}}", "busybox:latest").splitlines()
    assert table[0].split() == ["IMAGE", "SIZE"] and len(table) == len(rows) + 1
