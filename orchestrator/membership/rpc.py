"""``orch.v1.Membership``: JSON request/reply methods on the daemon's gRPC server.

Served next to Control and Dispatcher on the unix socket and on the TCP listen address. Domain
errors travel as status codes with their one-line message (``orchestrator.api.status_code``) and
come back to the caller as the same error class, so a CLI prints exactly what the manager said.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import grpc

from orchestrator.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OrchError,
    Unavailable,
)

log = logging.getLogger(__name__)

SERVICE = "orch.v1.Membership"
Handler = Callable[[dict[str, Any]], dict[str, Any]]

_ERRORS: dict[grpc.StatusCode, type[OrchError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _decode(raw: bytes) -> dict[str, Any]:
    return json.loads(raw or b"{}")


def generic_handler(methods: dict[str, Handler]) -> grpc.GenericRpcHandler:
    """Wrap plain ``dict -> dict`` functions as unary gRPC methods of ``orch.v1.Membership``."""
    from orchestrator.api import status_code

    def wrap(name: str, fn: Handler) -> grpc.RpcMethodHandler:
        def call(request: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
            try:
                return fn(request)
            except OrchError as err:
                context.abort(status_code(err), str(err))
            except Exception as err:  # noqa: BLE001 - one line to the caller, the traceback to the log
                log.exception("membership %s failed", name)
                context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")
            raise AssertionError("unreachable")

        return grpc.unary_unary_rpc_method_handler(call, request_deserializer=_decode, response_serializer=_encode)

    return grpc.method_handlers_generic_handler(SERVICE, {n: wrap(n, f) for n, f in methods.items()})


def channel(target: str) -> grpc.Channel:
    """A channel to another daemon; the one place TLS credentials will be added (a later issue)."""
    if target.startswith("tcp://"):
        target = target[len("tcp://"):]
    return grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])


def call(target: str | grpc.Channel, method: str, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Call ``method`` on the daemon at ``target``; errors come back as :class:`OrchError` subclasses."""
    ch = channel(target) if isinstance(target, str) else target
    try:
        fn = ch.unary_unary(f"/{SERVICE}/{method}", request_serializer=_encode, response_deserializer=_decode)
        return fn(request, timeout=timeout, wait_for_ready=False)
    except grpc.RpcError as err:
        code = err.code() if hasattr(err, "code") else None  # type: ignore[attr-defined]
        details = err.details() if hasattr(err, "details") else str(err)  # type: ignore[attr-defined]
        if code == grpc.StatusCode.UNAVAILABLE and isinstance(target, str) and "connect" in (details or "").lower():
            raise Unavailable(f"cannot reach {target}: {details}") from None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Unavailable(f"{target if isinstance(target, str) else 'the daemon'} did not answer in {timeout:g}s") from None
        raise _ERRORS.get(code, OrchError)(details or str(code)) from None  # type: ignore[arg-type]
    finally:
        if isinstance(target, str):
            ch.close()
