"""Pure parts of the container extras: detach keys, chroot-style path resolution, cp arguments, events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.runtime.events import EventBus
from agent.runtime.fsops import resolve_in_root
from orchestrator.cli.container_extras import _event_matches, _split, port_lines
from orchestrator.cli.errors import CliError
from orchestrator.cli.stream import _DetachScanner, parse_detach_keys


def test_parse_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert parse_detach_keys("") == b""
    with pytest.raises(CliError):
        parse_detach_keys("ctrl-pp")


def test_detach_scanner_holds_partial_matches() -> None:
    s = _DetachScanner(b"\x10\x11")
    assert s.feed(b"ab\x10") == (b"ab", False)
    assert s.feed(b"c") == (b"\x10c", False)
    assert s.feed(b"\x10\x10") == (b"\x10", False)
    assert s.feed(b"\x11rest") == (b"", True)


def test_resolve_in_root_never_leaves_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "abs")
    os.symlink("../../../..", tmp_path / "etc" / "up")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    assert resolve_in_root(tmp_path, "/abs/passwd") == tmp_path / "etc" / "passwd"
    assert resolve_in_root(tmp_path, "/etc/up/etc") == tmp_path / "etc"
    assert resolve_in_root(tmp_path, "/../../x") == tmp_path / "x"
    assert resolve_in_root(tmp_path, "/abs", follow_last=False) == tmp_path / "abs"
    with pytest.raises(ValueError):
        resolve_in_root(tmp_path, "/loop1")


def test_cp_argument_split() -> None:
    assert _split("web:/etc") == ("web", "/etc")
    assert _split("web:") == ("web", "/")
    assert _split("./a:b") == (None, "./a:b")
    assert _split("/abs/p") == (None, "/abs/p")
    assert _split("-") == (None, "-")


def test_event_bus_replays_since_and_filters() -> None:
    bus = EventBus()
    bus.emit("container", "create", "abc123", name="web", image="busybox")
    bus.emit("container", "die", "abc123", name="web", exitCode="3")
    past, _q, unsubscribe = bus.subscribe(since=0)
    unsubscribe()
    docs = [e.doc() for e in past]
    assert [d["Action"] for d in docs] == ["create", "die"]
    assert _event_matches(docs[1], {"container": ["web"], "event": ["die"]})
    assert not _event_matches(docs[0], {"event": ["die"]})
    assert _event_matches(docs[0], {"container": ["abc"]})
    assert list(bus.stream(0, 1.0, lambda: True)) == []  # until in the past: nothing after it


def test_port_lines() -> None:
    ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
             "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}], "9/tcp": None}
    assert port_lines(ports, None) == ["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
    assert port_lines(ports, "80") == ["0.0.0.0:8080", "[::]:8080"]
    assert port_lines(ports, "53") == []
    assert port_lines(None, None) == []
