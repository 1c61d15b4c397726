"""The spawner: one long-lived, single-threaded process that is the parent of every container.

Why a separate process: only a parent can collect a child's exit status, and the daemon must be
free to stop, crash or be upgraded while containers keep running. The spawner forks containers
(cheap: no new interpreter, no threads, so fork is safe), reaps them, writes each exit to the
container's state dir, owns their stdout/stderr (json-file logs, attach fan-out) and keeps doing so
while the daemon is away. A restarted daemon reconnects and asks what is running. It costs one
process for all containers, not a shim per container.

Wire protocol on a unix socket (root only). Each request is one connection::

    client                                spawner
      {"op": "start", ...spec} \\n  ──▶     fork; child sets up and execs (see init.py)
                                ◀──     {"ok": true, "pid": 1234} \\n   or {"ok": false, "error", "code"}
      (attach/exec/"attach" ops only) the connection then carries frames:  !BI = type, length
          0 stdin  3 resize "rows cols"  5 close stdin         (client → spawner)
          1 stdout 2 stderr  4 exit {"exit_code": n}            (spawner → client)

    {"op": "events"}  ──▶  a stream of JSON lines: {"event": "exit", "id", "pid", "exit_code", ...}
    {"op": "list"}    ──▶  {"ok": true, "containers": [{"id", "pid"}...]}
    {"op": "ping"}    ──▶  {"ok": true, "pid": <spawner pid>}
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import pty
import selectors
import signal
import socket
import struct
import sys
import termios
import time
from dataclasses import dataclass, field
from typing import Any

from agent.runtime import init as cinit
from agent.runtime import linux
from agent.runtime.logs import JsonLogWriter, rfc3339nano

FRAME = struct.Struct("!BI")
F_STDIN, F_STDOUT, F_STDERR, F_RESIZE, F_EXIT, F_CLOSE_STDIN = 0, 1, 2, 3, 4, 5


def set_winsize(fd: int, rows: int, cols: int) -> None:
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:
        pass


@dataclass
class Client:
    """A connection in frame mode, attached to a process's stdio."""

    sock: socket.socket
    proc: Proc | None = None
    inbuf: bytes = b""
    outbuf: bytearray = field(default_factory=bytearray)
    stdin: bool = False


@dataclass
class Proc:
    """A supervised process: a container's PID 1 or an exec'd process."""

    key: str
    pid: int
    kind: str  # "container" | "exec"
    container_id: str
    out_fds: dict[int, str] = field(default_factory=dict)  # fd -> stream name
    stdin_fd: int | None = None
    pty_fd: int | None = None
    log: JsonLogWriter | None = None
    exit_file: str | None = None
    clients: list[Client] = field(default_factory=list)
    status: int | None = None
    reaped_at: float = 0.0
    started_at: str = ""


class Spawner:
    def __init__(self, sock_path: str) -> None:
        self.sock_path = sock_path
        self.sel = selectors.DefaultSelector()
        self.procs: dict[int, Proc] = {}  # pid -> proc
        self.by_key: dict[str, Proc] = {}
        self.unclaimed: dict[int, int] = {}  # exits of pids we have not registered yet
        self.event_clients: list[socket.socket] = []
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
        self.draining: list[Proc] = []

    # --- setup -------------------------------------------------------------------------------
    def serve(self) -> None:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        os.makedirs(os.path.dirname(self.sock_path), exist_ok=True)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            srv.bind(self.sock_path)
        finally:
            os.umask(old)
        srv.listen(128)
        srv.setblocking(False)
        self.sel.register(srv, selectors.EVENT_READ, ("listen", None))
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wfd)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: self._shutdown())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.sel.register(rfd, selectors.EVENT_READ, ("signal", None))
        while True:
            for key, mask in self.sel.select(timeout=1.0):
                kind, obj = key.data
                try:
                    self._dispatch(kind, obj, key, mask)
                except Exception as e:  # noqa: BLE001 - one bad client never stops the spawner
                    print(f"spawner: {kind}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            self._reap()
            self._finish_drained()

    def _shutdown(self) -> None:
        # Containers keep running; only the supervisor goes away.
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass
        os._exit(0)

    def _dispatch(self, kind: str, obj: Any, key: selectors.SelectorKey, mask: int) -> None:
        if kind == "listen":
            conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
            conn.setblocking(True)
            conn.settimeout(5.0)
            self._handle_request(conn)
        elif kind == "signal":
            try:
                os.read(key.fd, 4096)
            except BlockingIOError:
                pass
        elif kind == "output":
            self._on_output(obj, key.fd)
        elif kind == "client":
            self._on_client(obj, mask)
        elif kind == "event_client":
            try:
                data = obj.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(obj)
                self.event_clients.remove(obj)
                obj.close()

    # --- requests ----------------------------------------------------------------------------
    def _handle_request(self, conn: socket.socket) -> None:
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                conn.close()
                return
            buf += chunk
        req = json.loads(buf)
        op = req.get("op")
        if op == "ping":
            self._reply(conn, {"ok": True, "pid": os.getpid()})
            conn.close()
        elif op == "events":
            self._reply(conn, {"ok": True})
            conn.setblocking(False)
            self.event_clients.append(conn)
            self.sel.register(conn, selectors.EVENT_READ, ("event_client", conn))
        elif op == "list":
            items = [
                {"id": p.container_id, "pid": p.pid, "started_at": p.started_at}
                for p in self.procs.values() if p.kind == "container" and p.status is None
            ]
            self._reply(conn, {"ok": True, "containers": items})
            conn.close()
        elif op == "start":
            self._start(conn, req)
        elif op == "exec":
            self._exec(conn, req)
        elif op == "attach":
            self._attach(conn, req)
        else:
            self._reply(conn, {"ok": False, "error": f"unknown op {op!r}", "code": 125})
            conn.close()

    @staticmethod
    def _reply(conn: socket.socket, msg: dict[str, Any]) -> None:
        conn.sendall(json.dumps(msg).encode() + b"\n")

    def _stdio(self, req: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
        """Create the child's stdio; returns (child fds, parent fds)."""
        child: dict[str, int] = {}
        parent: dict[str, int] = {}
        if req.get("tty"):
            master, slave = pty.openpty()
            rows, cols = req.get("tty_size") or (24, 80)
            set_winsize(master, rows, cols)
            child["slave"] = slave
            child["slave_path"] = os.ttyname(slave)  # type: ignore[assignment]
            parent["pty"] = master
            return child, parent
        if req.get("stdin"):
            r, w = os.pipe()
            child["stdin"], parent["stdin"] = r, w
        else:
            child["stdin"] = os.open(os.devnull, os.O_RDONLY)
        r, w = os.pipe()
        child["stdout"], parent["stdout"] = w, r
        r, w = os.pipe()
        child["stderr"], parent["stderr"] = w, r
        return child, parent

    @staticmethod
    def _close_child_fds(child: dict[str, int]) -> None:
        for k, fd in child.items():
            if k != "slave_path":
                os.close(fd)

    def _wait_child_error(self, errr: int) -> dict[str, Any] | None:
        data = b""
        while True:
            chunk = os.read(errr, 65536)
            if not chunk:
                break
            data += chunk
        os.close(errr)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return {"error": data.decode(errors="replace"), "code": 125}

    def _start(self, conn: socket.socket, req: dict[str, Any]) -> None:
        cid = req["id"]
        old = self.by_key.get(cid)
        if old is not None and old.status is None:
            self._reply(conn, {"ok": True, "pid": old.pid, "already": True})
            conn.close()
            return
        child, parent = self._stdio(req)
        errr, errw = os.pipe()
        sync = None
        if req.get("sync"):
            a_r, a_w = os.pipe()  # child → parent: "R" ready
            b_r, b_w = os.pipe()  # parent → child: "G" go
            child["sync_w"], child["sync_r"] = a_w, b_r
            sync = (a_r, b_w)
        linux.unshare(linux.CLONE_NEWPID)
        try:
            pid = os.fork()
        except OSError:
            linux.setns(self.pidns_fd, linux.CLONE_NEWPID)
            raise
        if pid == 0:
            os.close(errr)
            cinit.container_main(req, child, errw)
        linux.setns(self.pidns_fd, linux.CLONE_NEWPID)
        os.close(errw)
        self._close_child_fds(child)
        proc = Proc(key=cid, pid=pid, kind="container", container_id=cid, exit_file=req.get("exit_file"),
                    started_at=rfc3339nano())
        self._register(proc, parent, req)
        if sync is not None:
            a_r, b_w = sync
            go = b""
            try:
                ready = os.read(a_r, 1)
                if ready == b"R":
                    # The daemon sets up the network now and answers "G" (go) or "X" on this socket.
                    self._reply(conn, {"ok": True, "pid": pid, "phase": "ready"})
                    conn.settimeout(60.0)
                    go = conn.recv(16)
            except OSError:
                go = b""
            finally:
                os.close(a_r)
                # Anything but "G" makes the child fail its network step and exit: never leave it waiting.
                try:
                    os.write(b_w, b"G" if go.startswith(b"G") else b"X")
                except OSError:
                    pass  # the child is already gone; its exit is reaped as usual
                os.close(b_w)
        err = self._wait_child_error(errr)
        if err is not None:
            self._reply(conn, {"ok": False, **err})
            conn.close()
            return
        self._reply(conn, {"ok": True, "pid": pid})
        if req.get("attach"):
            self._add_client(conn, proc, bool(req.get("stdin")))
        else:
            conn.close()

    def _register(self, proc: Proc, parent: dict[str, int], req: dict[str, Any]) -> None:
        log = req.get("log")
        if log:
            proc.log = JsonLogWriter(log["path"], int(log.get("max_size", 0)), int(log.get("max_file", 1)))
        if "pty" in parent:
            proc.pty_fd = parent["pty"]
            proc.out_fds[parent["pty"]] = "stdout"
            proc.stdin_fd = parent["pty"]
        else:
            proc.out_fds[parent["stdout"]] = "stdout"
            proc.out_fds[parent["stderr"]] = "stderr"
            proc.stdin_fd = parent.get("stdin")
        for fd in proc.out_fds:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, ("output", proc))
        self.procs[proc.pid] = proc
        self.by_key[proc.key] = proc
        if proc.pid in self.unclaimed:
            self._on_exit(proc, self.unclaimed.pop(proc.pid))

    def _exec(self, conn: socket.socket, req: dict[str, Any]) -> None:
        child, parent = self._stdio(req)
        errr, errw = os.pipe()
        pidr, pidw = os.pipe()
        mid = os.fork()
        if mid == 0:
            # Intermediate: enter the namespaces, fork the real process into the PID namespace, exit.
            try:
                os.close(errr)
                os.close(pidr)
                cinit.exec_enter(req)
                pid = os.fork()
                if pid == 0:
                    cinit.exec_main(req, child, errw)
                os.write(pidw, str(pid).encode())
                os._exit(0)
            except BaseException as e:  # noqa: BLE001
                cinit._fail(errw, cinit.StepError("enter container", str(e), 126))
        os.close(errw)
        os.close(pidw)
        self._close_child_fds(child)
        data = b""
        while chunk := os.read(pidr, 64):
            data += chunk
        os.close(pidr)
        self._reap()  # the intermediate has exited (or will shortly); it is not a tracked proc
        err = self._wait_child_error(errr)
        if not data or err is not None:
            for fd in parent.values():
                os.close(fd)
            self._reply(conn, {"ok": False, **(err or {"error": "exec failed", "code": 126})})
            conn.close()
            return
        pid = int(data)
        proc = Proc(key=req.get("exec_id", f"exec-{pid}"), pid=pid, kind="exec", container_id=req["id"])
        self._register(proc, parent, req)
        self._reply(conn, {"ok": True, "pid": pid})
        if proc.status is None or proc.out_fds:
            self._add_client(conn, proc, bool(req.get("stdin")))
        else:
            conn.close()

    def _attach(self, conn: socket.socket, req: dict[str, Any]) -> None:
        proc = self.by_key.get(req["id"])
        if proc is None or proc.status is not None:
            self._reply(conn, {"ok": False, "error": "container is not running", "code": 1})
            conn.close()
            return
        self._reply(conn, {"ok": True, "pid": proc.pid})
        self._add_client(conn, proc, bool(req.get("stdin")))

    # --- frame clients ------------------------------------------------------------------------
    def _add_client(self, conn: socket.socket, proc: Proc, stdin: bool) -> None:
        conn.setblocking(False)
        c = Client(sock=conn, proc=proc, stdin=stdin)
        proc.clients.append(c)
        self.sel.register(conn, selectors.EVENT_READ, ("client", c))

    def _send(self, c: Client, ftype: int, payload: bytes) -> None:
        c.outbuf += FRAME.pack(ftype, len(payload)) + payload
        self._flush(c)

    def _flush(self, c: Client) -> None:
        try:
            while c.outbuf:
                n = c.sock.send(c.outbuf)
                del c.outbuf[:n]
        except BlockingIOError:
            pass
        except OSError:
            c.outbuf.clear()
            self._drop_client(c)
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbuf else 0)
        try:
            self.sel.modify(c.sock, events, ("client", c))
        except (KeyError, ValueError):
            pass

    def _drop_client(self, c: Client) -> None:
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        if c.proc is not None and c in c.proc.clients:
            c.proc.clients.remove(c)

    def _on_client(self, c: Client, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(c)
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client(c)
            return
        c.inbuf += data
        while len(c.inbuf) >= FRAME.size:
            ftype, n = FRAME.unpack_from(c.inbuf)
            if len(c.inbuf) < FRAME.size + n:
                break
            payload = c.inbuf[FRAME.size : FRAME.size + n]
            c.inbuf = c.inbuf[FRAME.size + n :]
            self._on_frame(c, ftype, payload)

    def _on_frame(self, c: Client, ftype: int, payload: bytes) -> None:
        proc = c.proc
        if proc is None or proc.status is not None:
            return
        if ftype == F_STDIN and c.stdin and proc.stdin_fd is not None:
            try:
                os.set_blocking(proc.stdin_fd, True)
                os.write(proc.stdin_fd, payload)
            except OSError:
                pass
            finally:
                if proc.stdin_fd is not None and proc.pty_fd is not None:
                    os.set_blocking(proc.stdin_fd, False)
        elif ftype == F_RESIZE and proc.pty_fd is not None:
            rows, cols = (int(x) for x in payload.split())
            set_winsize(proc.pty_fd, rows, cols)
            try:
                os.kill(proc.pid, signal.SIGWINCH)
            except OSError:
                pass
        elif ftype == F_CLOSE_STDIN and c.stdin and proc.stdin_fd is not None and proc.pty_fd is None:
            os.close(proc.stdin_fd)
            proc.stdin_fd = None

    # --- output and exits ---------------------------------------------------------------------
    def _on_output(self, proc: Proc, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO = pty slave closed everywhere
                raise
            data = b""
        stream = proc.out_fds.get(fd, "stdout")
        if not data:
            self._close_output(proc, fd)
            return
        if proc.log is not None:
            proc.log.write(stream, data)
        ftype = F_STDOUT if stream == "stdout" else F_STDERR
        for c in list(proc.clients):
            self._send(c, ftype, data)

    def _close_output(self, proc: Proc, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        proc.out_fds.pop(fd, None)
        if fd != proc.stdin_fd:
            os.close(fd)
        elif proc.pty_fd == fd:
            os.close(fd)
            proc.stdin_fd = proc.pty_fd = None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code
            proc = self.procs.get(pid)
            if proc is None:
                self.unclaimed[pid] = code
                if len(self.unclaimed) > 1024:
                    self.unclaimed.pop(next(iter(self.unclaimed)))
                continue
            self._on_exit(proc, code)

    def _on_exit(self, proc: Proc, code: int) -> None:
        proc.status = code
        proc.reaped_at = time.monotonic()
        self.draining.append(proc)
        self._finish_drained()

    def _finish_drained(self) -> None:
        """Finalize exited processes once their output reached EOF (or after a short grace)."""
        now = time.monotonic()
        for proc in list(self.draining):
            if proc.out_fds and now - proc.reaped_at < 2.0:
                continue  # output still open: the loop's next reads drain it
            for fd in list(proc.out_fds):
                self._close_output(proc, fd)
            self.draining.remove(proc)
            self._finalize(proc)

    def _finalize(self, proc: Proc) -> None:
        code = proc.status if proc.status is not None else 255
        if proc.log is not None:
            proc.log.close()
        if proc.stdin_fd is not None:
            try:
                os.close(proc.stdin_fd)
            except OSError:
                pass
            proc.stdin_fd = None
        rec = {"exit_code": code, "finished_at": rfc3339nano(), "pid": proc.pid}
        if proc.exit_file:
            tmp = proc.exit_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(rec, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, proc.exit_file)
        payload = json.dumps(rec).encode()
        for c in list(proc.clients):
            self._send(c, F_EXIT, payload)
            try:
                c.sock.setblocking(True)
                c.sock.settimeout(1.0)
                if c.outbuf:
                    c.sock.sendall(c.outbuf)
            except OSError:
                pass
            self._drop_client(c)
        self.procs.pop(proc.pid, None)
        if self.by_key.get(proc.key) is proc:
            del self.by_key[proc.key]
        event = {"event": "exit", "kind": proc.kind, "id": proc.container_id, "key": proc.key, **rec}
        line = json.dumps(event).encode() + b"\n"
        for ec in list(self.event_clients):
            try:
                ec.setblocking(True)
                ec.settimeout(2.0)
                ec.sendall(line)
                ec.setblocking(False)
            except OSError:
                self.event_clients.remove(ec)
                try:
                    self.sel.unregister(ec)
                except (KeyError, ValueError):
                    pass
                ec.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="orch-spawner")
    ap.add_argument("--socket", required=True)
    args = ap.parse_args(argv)
    Spawner(args.socket).serve()


if __name__ == "__main__":
    main()
