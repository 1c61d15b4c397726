"""On-disk durability around PySyncObj: the snapshot file format and the journal flusher.

PySyncObj keeps its Raft log in an mmap'ed journal file and never fsyncs it; it writes the full dump
(our snapshot) through a serializer callback. This module supplies both missing halves:

- :func:`write_snapshot` / :func:`read_snapshot`: the snapshot is JSON (our store dump plus the two
  log entries and the member list PySyncObj needs to resume), written to the temp path PySyncObj
  gives us and fsynced before PySyncObj renames it into place. JSON, not pickle, so a snapshot never
  depends on Python class paths.
- :class:`JournalFlusher`: a background thread that fsyncs the journal (and its directory) shortly
  after it changes. It runs off PySyncObj's tick thread on purpose: an fsync there would stall Raft.
  A killed process loses nothing (the pages are in the page cache); a power cut loses at most one
  flush period of entries.

Layout of ``data_dir``: ``raft.journal`` (+ ``.meta``, term and vote), ``raft.snapshot``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj.node import TCPNode

SNAPSHOT_FORMAT = 1
JOURNAL_NAME = "raft.journal"
SNAPSHOT_NAME = "raft.snapshot"

LogEntry = tuple[bytes, int, int]


def _entry_to_json(entry: LogEntry) -> list[Any]:
    command, idx, term = entry
    return [base64.b64encode(bytes(command)).decode(), int(idx), int(term)]


def _entry_from_json(data: list[Any]) -> LogEntry:
    return (base64.b64decode(data[0]), int(data[1]), int(data[2]))


def write_snapshot(path: str, store_dump: dict[str, Any], internal: tuple[Any, ...]) -> None:
    """Write one snapshot to ``path`` (PySyncObj's temp file) and fsync it."""
    last, prev, cluster = internal
    doc = {
        "format": SNAPSHOT_FORMAT,
        "store": store_dump,
        "raft": {
            "last": _entry_to_json(last),
            "prev": _entry_to_json(prev),
            "members": sorted(str(n.id if hasattr(n, "id") else n) for n in cluster),
        },
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())


def read_snapshot(path: str) -> tuple[dict[str, Any], tuple[LogEntry, LogEntry, set[TCPNode]]]:
    """Read a snapshot: our store dump, and the tuple PySyncObj's loader expects back."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unsupported snapshot format {doc.get('format')!r} in {path}")
    raft = doc["raft"]
    members = {TCPNode(addr) for addr in raft["members"]}
    return doc["store"], (_entry_from_json(raft["last"]), _entry_from_json(raft["prev"]), members)


class JournalFlusher:
    """Fsyncs the journal file and the data directory whenever ``changed()`` reports progress."""

    def __init__(self, data_dir: Path, changed: Callable[[], object], period: float = 0.05) -> None:
        self._dir = data_dir
        self._changed = changed
        self._period = period
        self._stop = threading.Event()
        self._last: object = None
        self._thread = threading.Thread(target=self._run, name="orch-journal-fsync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

    def flush(self) -> None:
        for name in (JOURNAL_NAME, JOURNAL_NAME + ".meta", SNAPSHOT_NAME):
            _fsync_path(self._dir / name)
        _fsync_path(self._dir)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                marker = self._changed()
            except Exception:  # the Raft object is being torn down
                continue
            if marker != self._last:
                self._last = marker
                self.flush()


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
