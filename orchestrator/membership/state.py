"""What a daemon remembers about its cluster membership (``<state dir>/node.json``).

A restarted daemon reads it to come back as the same node in the same cluster: its node id, its
role, its Raft address and the peers to start Raft with, and the managers its agent dials.
``joined`` is False while the node runs the cluster of one it initialized by itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_PORT = 2377


@dataclass
class Membership:
    node_id: str
    raft_addr: str
    role: str = "manager"
    joined: bool = False
    api_addr: str = ""
    peers: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Membership | None:
        try:
            data = json.loads(path.read_text())
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def split_addr(addr: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``ip``, ``ip:port`` or ``:port`` -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    try:
        return host, int(port)
    except ValueError:
        from orchestrator.errors import InvalidArgument

        raise InvalidArgument(f"invalid address {addr!r}: expected HOST[:PORT]") from None
