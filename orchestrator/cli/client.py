"""Connecting the CLI to a daemon, and starting the local one when there is none.

``ORCH_HOST`` picks the daemon (``unix:///path`` or ``tcp://host:port``); without it the CLI
uses ``/run/orch/orch.sock`` and, if nothing answers there, starts ``orch daemon`` in the
background (logging to the state dir) and waits for it, so a first command just works.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import grpc

from orchestrator.cli.errors import CliError

DEFAULT_SOCKET = "/run/orch/orch.sock"
DEFAULT_STATE_DIR = "/var/lib/orch"


def target() -> tuple[str, bool]:
    """The gRPC target and whether it is the default local socket (eligible for auto-start)."""
    host = os.environ.get("ORCH_HOST", "")
    if not host:
        run_dir = os.environ.get("ORCH_RUN_DIR")
        return f"unix://{os.path.join(run_dir, 'orch.sock') if run_dir else DEFAULT_SOCKET}", True
    if host.startswith("unix://"):
        return host, False
    if host.startswith("tcp://"):
        return host[len("tcp://") :], False
    if host.startswith("/"):
        return f"unix://{host}", False
    raise CliError(f"invalid ORCH_HOST {host!r}: expected unix:///path or tcp://host:port")


def _ready(channel: grpc.Channel, timeout: float) -> bool:
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False


def _start_local_daemon() -> None:
    state_dir = os.environ.get("ORCH_STATE_DIR", DEFAULT_STATE_DIR)
    os.makedirs(state_dir, exist_ok=True)
    logf = open(os.path.join(state_dir, "daemon.log"), "ab")
    subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "daemon"],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True, close_fds=True, cwd="/",
    )
    logf.close()


_channel: grpc.Channel | None = None


def _unix_alive(path: str) -> bool:
    """A raw connect is ~50 us; gRPC's own readiness check costs tens of milliseconds."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def channel() -> grpc.Channel:
    global _channel
    if _channel is not None:
        return _channel
    tgt, local = target()
    opts = [("grpc.max_receive_message_length", 64 << 20), ("grpc.enable_http_proxy", 0)]
    ch = grpc.insecure_channel(tgt, options=opts)
    sock = tgt[len("unix://") :] if tgt.startswith("unix://") else None
    if sock is not None:
        if not _unix_alive(sock):
            if not local:
                raise CliError(f"Cannot connect to the orch daemon at {tgt}. Is the daemon running?")
            _start_local_daemon()
            deadline = time.monotonic() + 30
            while not _unix_alive(sock):
                if time.monotonic() > deadline:
                    raise CliError(f"Cannot connect to the orch daemon at {tgt}: it did not start "
                                   f"(see {os.environ.get('ORCH_STATE_DIR', DEFAULT_STATE_DIR)}/daemon.log)")
                time.sleep(0.02)
    elif not _ready(ch, 5):
        raise CliError(f"Cannot connect to the orch daemon at {tgt}. Is the daemon running?")
    _channel = ch
    return ch


def engine() -> Any:
    from proto.orch.v1 import engine_pb2_grpc

    return engine_pb2_grpc.EngineStub(channel())


def rpc_error_message(e: grpc.RpcError) -> str:
    details = e.details() if hasattr(e, "details") else str(e)  # type: ignore[attr-defined]
    code = e.code() if hasattr(e, "code") else None  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE and (not details or "connect" in details.lower()):
        return "Cannot connect to the orch daemon. Is the daemon running?"
    return details or str(code)


def rpc_exit_code(e: grpc.RpcError, default: int = 1) -> int:
    try:
        for k, v in e.trailing_metadata() or ():  # type: ignore[attr-defined]
            if k == "exit-code":
                return int(v)
    except Exception:  # noqa: BLE001
        pass
    return default
