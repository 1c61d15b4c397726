"""Node status helpers for the dispatcher: mark a node down or ready.

Marking a node down is all the dispatcher does when heartbeats stop; the consequences follow from
the loops: the restart supervisor replaces the node's replicated tasks (old ones retired, new ones
take their slots elsewhere), the global orchestrator stops creating tasks for it, and the scheduler
stops placing tasks on it. When the agent comes back it stops what is no longer assigned.
"""

from __future__ import annotations

from orchestrator.errors import NotFound
from orchestrator.model import Node, NodeState, NodeStatus
from orchestrator.store import MemoryStore, Tx


def set_node_state(
    store: MemoryStore, node_id: str, state: NodeState, message: str, now: float, addr: str | None = None
) -> Node:
    """Write the node's observed status (no-op when already in that state with that message)."""

    def write(tx: Tx) -> Node:
        node = tx.get("node", node_id)
        if node is None:
            raise NotFound.object("node", node_id)
        if node.status.state == state and node.status.message == message and (addr is None or node.status.addr == addr):
            return node
        status = NodeStatus(state=state, message=message, addr=node.status.addr if addr is None else addr, timestamp=now)
        return tx.update(node.evolve(status=status))

    return store.update(write)


def mark_node_down(store: MemoryStore, node_id: str, now: float, message: str = "heartbeat failure") -> Node:
    return set_node_state(store, node_id, NodeState.DOWN, message, now)


def mark_node_ready(store: MemoryStore, node_id: str, now: float, addr: str | None = None) -> Node:
    return set_node_state(store, node_id, NodeState.READY, "", now, addr)
