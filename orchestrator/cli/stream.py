"""Interactive streams: `run` (attached), `start -a`, `exec`, with a real terminal when `-t`.

With a TTY the local terminal goes raw, every keystroke (Ctrl-C included) goes to the
container's pty, and window size changes are forwarded. Without one, stdout and stderr stay
separate and Ctrl-C is proxied to the container as SIGINT (Docker's --sig-proxy).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import signal
import struct
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from typing import Any

from proto.orch.v1 import engine_pb2 as pb

_END = object()


def _winsize() -> tuple[int, int]:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return 24, 80


class _Input:
    """The request side of a bidi stream: a first message, then stdin and resizes."""

    def __init__(self, first: Any) -> None:
        self.q: queue.Queue[Any] = queue.Queue()
        self.q.put(first)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.q.get()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self.q.put(_END)


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p,ctrl-q


def parse_detach_keys(spec: str) -> bytes:
    """Docker's `--detach-keys`: comma-separated `ctrl-<x>` or single characters ("" disables)."""
    from orchestrator.cli.errors import CliError

    out = bytearray()
    for key in (k.strip() for k in spec.split(",") if k.strip()):
        low = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(low) == 6 and (low[5].isalpha() or low[5] in "@[\\]^_"):
            out.append(ord(low[5].upper()) & 0x1F)
        else:
            raise CliError(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class _DetachScanner:
    """Finds the detach sequence in typed input; bytes of a partial match are held back and
    released when the match fails, so the container still receives them."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        out = bytearray()
        for b in data:
            if self.keys and b == self.keys[self.held]:
                self.held += 1
                if self.held == len(self.keys):
                    return bytes(out), True
                continue
            if self.held:
                out += self.keys[: self.held]
                self.held = 0
                if b == self.keys[0]:
                    self.held = 1
                    continue
            out.append(b)
        return bytes(out), False


def _pump_stdin(inp: _Input, make: Any, close_msg: Any, detach: bytes = b"", on_detach: Any = None) -> None:
    fd = sys.stdin.fileno()
    scanner = _DetachScanner(detach) if detach and on_detach is not None else None
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            if close_msg is not None:
                inp.q.put(close_msg)
            return
        if scanner is not None:
            data, detached = scanner.feed(data)
            if data:
                inp.q.put(make(data))
            if detached:
                on_detach()
                return
            continue
        inp.q.put(make(data))


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    if not enabled or not os.isatty(sys.stdin.fileno()):
        yield
        return
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def _drain(outputs: Iterator[Any]) -> int:
    out, err = sys.stdout.buffer, sys.stderr.buffer
    code = 0
    for msg in outputs:
        if msg.exited:
            code = msg.exit_code
            break
        if msg.error:
            break
        if msg.data:
            w = out if msg.stream != 2 else err
            w.write(msg.data)
            w.flush()
    return code


def _session(call: Any, first: Any, make_input: Any, close_msg: Any, resize_msg: Any, tty_mode: bool,
             stdin: bool, on_sigint: Any = None, detach_keys: bytes = b"") -> int:
    inp = _Input(first)
    outputs = call(iter(inp))
    detached = threading.Event()

    def on_detach() -> None:
        # Leave the container running: only this client's stream ends.
        detached.set()
        inp.close()
        with contextlib.suppress(Exception):
            outputs.cancel()

    if stdin:
        keys = detach_keys if tty_mode else b""
        threading.Thread(target=_pump_stdin, args=(inp, make_input, close_msg, keys, on_detach),
                         daemon=True).start()
    old_winch = old_int = None
    if tty_mode and os.isatty(sys.stdout.fileno()):
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: inp.q.put(resize_msg(*_winsize())))
    if not tty_mode and on_sigint is not None:
        old_int = signal.signal(signal.SIGINT, lambda *_: on_sigint(signal.SIGINT))
    try:
        with _raw_terminal(tty_mode and stdin):
            try:
                return _drain(outputs)
            except Exception:
                if detached.is_set():
                    return 0
                raise
    finally:
        inp.close()
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)


def run_attached(stub: Any, cid: str, start: bool, stdin: bool, tty: bool, sig_proxy: bool = True,
                 detach_keys: bytes = DEFAULT_DETACH_KEYS) -> int:
    rows, cols = _winsize() if tty else (0, 0)
    first = pb.AttachInput(id=cid, stdin=stdin, start=start, rows=rows, cols=cols)

    def kill(sig: int) -> None:
        with contextlib.suppress(Exception):
            stub.ContainerKill(pb.KillRequest(id=cid, signal=str(int(sig))))

    if not stdin and not tty:
        # Output only: a server stream, no request iterator and no stdin thread.
        old_int = signal.signal(signal.SIGINT, lambda *_: kill(signal.SIGINT)) if sig_proxy else None
        try:
            return _drain(stub.ContainerAttachOutput(first))
        finally:
            if old_int is not None:
                signal.signal(signal.SIGINT, old_int)
    return _session(stub.ContainerAttach, first, lambda d: pb.AttachInput(data=d),
                    pb.AttachInput(close_stdin=True), lambda r, c: pb.AttachInput(rows=r, cols=c),
                    tty, stdin, kill if sig_proxy else None, detach_keys)


def run_exec(stub: Any, first: Any, tty: bool, stdin: bool) -> int:
    if tty:
        first.rows, first.cols = _winsize()
    return _session(stub.Exec, first, lambda d: pb.ExecInput(data=d), pb.ExecInput(close_stdin=True),
                    lambda r, c: pb.ExecInput(rows=r, cols=c), tty, stdin)
