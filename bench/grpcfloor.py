"""The floor of any Python gRPC CLI: start the interpreter, import grpc and orch's stubs, make one RPC.

Run as ``python bench/grpcfloor.py`` with ORCH_HOST set; hyperfine times it next to
``orch run``, so the difference is what the orch CLI itself adds (its own imports, argument
parsing, the create/attach/start/wait calls and the container).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from proto.orch.v1 import engine_pb2, engine_pb2_grpc  # noqa: E402

if __name__ == "__main__":
    channel = grpc.insecure_channel(os.environ["ORCH_HOST"])
    engine_pb2_grpc.EngineStub(channel).Version(engine_pb2.Empty(), timeout=10)
