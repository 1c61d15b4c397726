"""The daemon's side of the spawner protocol (see spawner.py for the wire format).

Each request opens its own unix connection, so the threaded daemon needs no lock around the
spawner; a connection that turns into a stdio stream is handed to the caller as a ``Stream``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from agent.runtime.spawner import F_CLOSE_STDIN, F_RESIZE, F_STDIN, FRAME


class SpawnError(Exception):
    """The spawner refused or the container's setup failed; ``code`` is docker's exit status."""

    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.code = code


class Stream:
    """A process's stdio as frames: iterate for (type, payload); write stdin and resizes."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock = sock
        self.pid = pid
        self._wlock = threading.Lock()

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= FRAME.size:
                ftype, n = FRAME.unpack_from(buf)
                if len(buf) < FRAME.size + n:
                    break
                yield ftype, buf[FRAME.size : FRAME.size + n]
                buf = buf[FRAME.size + n :]

    def _frame(self, ftype: int, payload: bytes) -> None:
        with self._wlock:
            try:
                self.sock.sendall(FRAME.pack(ftype, len(payload)) + payload)
            except OSError:
                pass

    def write_stdin(self, data: bytes) -> None:
        self._frame(F_STDIN, data)

    def close_stdin(self) -> None:
        self._frame(F_CLOSE_STDIN, b"")

    def resize(self, rows: int, cols: int) -> None:
        self._frame(F_RESIZE, f"{rows} {cols}".encode())

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class SpawnerClient:
    def __init__(self, sock_path: str, log_path: str | None = None) -> None:
        self.sock_path = sock_path
        self.log_path = log_path

    # --- lifecycle ----------------------------------------------------------------------------
    def ensure_running(self, timeout: float = 10.0) -> int:
        """Connect to a live spawner or start a new one; returns its pid."""
        try:
            return int(self.request({"op": "ping"})["pid"])
        except (OSError, SpawnError):
            pass
        log = open(self.log_path or os.devnull, "ab")
        # start_new_session: the spawner must outlive the daemon and not share its signals.
        subprocess.Popen(
            [sys.executable, "-m", "agent.runtime.spawner", "--socket", self.sock_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            cwd="/",
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return int(self.request({"op": "ping"})["pid"])
            except (OSError, SpawnError):
                time.sleep(0.01)
        raise SpawnError(f"the spawner did not come up on {self.sock_path}")

    # --- requests -----------------------------------------------------------------------------
    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30.0)
        s.connect(self.sock_path)
        return s

    @staticmethod
    def _read_reply(s: socket.socket) -> dict[str, Any]:
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1)
            if not chunk:
                raise SpawnError("the spawner closed the connection")
            buf += chunk
        return json.loads(buf)

    def request(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self._connect() as s:
            s.sendall(json.dumps(msg).encode() + b"\n")
            reply = self._read_reply(s)
        if not reply.get("ok"):
            raise SpawnError(reply.get("error", "spawner error"), int(reply.get("code", 125)))
        return reply

    def _stream_request(self, msg: dict[str, Any],
                        on_ready: Callable[[int], None] | None = None) -> tuple[int, socket.socket]:
        s = self._connect()
        try:
            s.sendall(json.dumps(msg).encode() + b"\n")
            reply = self._read_reply(s)
            if reply.get("ok") and reply.get("phase") == "ready":
                ok = True
                try:
                    if on_ready is not None:
                        on_ready(int(reply["pid"]))
                except BaseException:
                    ok = False
                    raise
                finally:
                    s.sendall(b"G" if ok else b"X")
                reply = self._read_reply(s)
            if not reply.get("ok"):
                raise SpawnError(reply.get("error", "spawner error"), int(reply.get("code", 125)))
        except BaseException:
            s.close()
            raise
        s.settimeout(None)
        return int(reply["pid"]), s

    def start(self, spec: dict[str, Any], on_ready: Callable[[int], None] | None = None) -> int:
        """Start a container detached; returns the host pid of its PID 1."""
        spec = dict(spec, op="start", attach=False, sync=on_ready is not None)
        pid, s = self._stream_request(spec, on_ready)
        s.close()
        return pid

    def start_attached(self, spec: dict[str, Any], on_ready: Callable[[int], None] | None = None) -> Stream:
        spec = dict(spec, op="start", attach=True, sync=on_ready is not None)
        pid, s = self._stream_request(spec, on_ready)
        return Stream(s, pid)

    def attach(self, cid: str, stdin: bool) -> Stream:
        pid, s = self._stream_request({"op": "attach", "id": cid, "stdin": stdin})
        return Stream(s, pid)

    def exec(self, spec: dict[str, Any]) -> Stream:
        pid, s = self._stream_request(dict(spec, op="exec"))
        return Stream(s, pid)

    def list(self) -> list[dict[str, Any]]:
        return list(self.request({"op": "list"})["containers"])

    def events(self) -> Iterator[dict[str, Any]]:
        """Exit events, until the spawner goes away. Subscribed when this returns (not lazily)."""
        s = self._connect()
        s.sendall(b'{"op": "events"}\n')
        self._read_reply(s)
        s.settimeout(None)
        return self._event_lines(s)

    @staticmethod
    def _event_lines(s: socket.socket) -> Iterator[dict[str, Any]]:
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line:
                        yield json.loads(line)
        finally:
            s.close()
