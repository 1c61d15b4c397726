"""Container logs in Docker's json-file format: one JSON object per line, rotated by size.

``{"log":"hello\\n","stream":"stdout","time":"2026-11-23T12:00:00.123456789Z"}``

The spawner owns the writers (it holds every container's stdout/stderr, so logging survives a
daemon restart); the daemon only reads. Rotation follows Docker: when the current file would pass
``max_size`` it becomes ``<name>.1``, older ones shift up to ``max_file - 1`` and the oldest is
dropped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

# Docker splits lines longer than its 16 KiB read buffer into partial messages.
MAX_LINE = 16 * 1024


def rfc3339nano(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    sec = int(ts)
    nanos = int(round((ts - sec) * 1e9))
    if nanos >= 1_000_000_000:
        sec, nanos = sec + 1, nanos - 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{nanos:09d}Z"


def parse_rfc3339(s: str) -> float:
    """Parse the timestamps we write (and plain second-resolution ones) back to epoch seconds."""
    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    t = time.mktime(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return t + (float("0." + frac) if frac else 0.0)


class JsonLogWriter:
    """Appends stream chunks as json-lines, splitting at newlines, rotating by size."""

    def __init__(self, path: str, max_size: int = 0, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial.pop(stream, b"") + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        out = [ln + b"\n" for ln in lines]
        while len(rest) >= MAX_LINE:
            out.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            self._partial[stream] = rest
        for chunk in out:
            self._emit(stream, chunk)

    def flush(self) -> None:
        """Write out partial lines (at EOF of a stream)."""
        for stream, rest in list(self._partial.items()):
            self._emit(stream, rest)
        self._partial.clear()

    def _emit(self, stream: str, chunk: bytes) -> None:
        rec = {"log": chunk.decode("utf-8", "replace"), "stream": stream, "time": rfc3339nano()}
        line = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
        if self.max_size and self._size + len(line) > self.max_size and self._size > 0:
            self._rotate()
        os.write(self._fd, line)
        self._size += len(line)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file <= 1:
            os.truncate(self.path, 0)
        else:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = 0

    def close(self) -> None:
        self.flush()
        try:
            os.close(self._fd)
        except OSError:
            pass


@dataclass(frozen=True)
class LogEntry:
    stream: str
    time: str
    data: bytes


def log_files(path: str) -> list[str]:
    """The current file and its rotated predecessors, oldest first."""
    files = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        files.append(f"{path}.{i}")
        i += 1
    files.reverse()
    if os.path.exists(path):
        files.append(path)
    return files


def _parse(line: bytes) -> LogEntry | None:
    try:
        rec = json.loads(line)
        return LogEntry(rec.get("stream", "stdout"), rec.get("time", ""), rec.get("log", "").encode())
    except (ValueError, AttributeError):
        return None


def read_entries(path: str, tail: int = -1, since: float | None = None,
                 until: float | None = None) -> tuple[list[LogEntry], tuple[str, int]]:
    """Read the existing entries; returns them and a (file, offset) cursor for following."""
    entries: list[LogEntry] = []
    cursor = (path, 0)
    for fname in log_files(path):
        with open(fname, "rb") as f:
            data = f.read()
        if fname == path:
            end = data.rfind(b"\n") + 1
            cursor = (path, end)
            data = data[:end]
        for line in data.splitlines():
            e = _parse(line)
            if e is None:
                continue
            if since is not None or until is not None:
                t = parse_rfc3339(e.time) if e.time else 0.0
                if since is not None and t < since:
                    continue
                if until is not None and t > until:
                    continue
            entries.append(e)
    if tail >= 0:
        entries = entries[-tail:] if tail else []
    return entries, cursor


def follow(path: str, cursor: tuple[str, int], stop: "callable[[], bool]",  # type: ignore[valid-type]
           poll: float = 0.05) -> Iterator[LogEntry]:
    """Yield entries appended after ``cursor`` until ``stop()`` is true and the file is drained."""
    _, offset = cursor
    ino = os.stat(path).st_ino if os.path.exists(path) else None
    buf = b""
    while True:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and ino is not None and st.st_ino != ino:
            # Rotated: finish the old file (now .1), then start the new one from 0.
            old = f"{path}.1"
            if os.path.exists(old):
                with open(old, "rb") as f:
                    f.seek(offset)
                    buf += f.read()
            offset, ino = 0, st.st_ino
        got = b""
        if st is not None:
            with open(path, "rb") as f:
                f.seek(offset)
                got = f.read()
            offset += len(got)
            ino = st.st_ino
        buf += got
        *lines, buf = buf.split(b"\n")
        for line in lines:
            e = _parse(line)
            if e is not None:
                yield e
        if not got:
            if stop():
                return
            time.sleep(poll)
