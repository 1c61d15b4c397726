"""Store commands: the versioned wire format of a write, and the deterministic apply.

A command is what the Raft log holds and what every manager applies, so it must not depend on Python
class paths or PySyncObj method numbering. It is JSON::

    {"v": 1, "id": "<random hex, for retry de-duplication>", "ts": <proposer's wall clock>,
     "groups": [[op, ...], ...]}

    op = {"op": "create", "kind": K, "obj": {...}}
       | {"op": "update", "kind": K, "id": I, "version": N, "set": {field: value, ...}}
       | {"op": "delete", "kind": K, "id": I, "version": N}

A *group* is all-or-nothing (one ``store.update`` call, or one ``batch.update`` callback); groups of
one command succeed or fail independently. ``apply`` is pure with respect to the state it is given:
no clock, no randomness, no I/O. Times come from ``ts``; versions from the store version, which rises
by one per command. Two rules are enforced here, centrally:

- optimistic concurrency: update/delete carry the version they read; a mismatch fails the group
  with ``SequenceConflict``;
- monotone tasks: a backward move of ``status.state`` or ``desired_state`` is silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    OrchError,
    SequenceConflict,
)
from orchestrator.model import KINDS, Stored
from orchestrator.store.state import StateWriter, StoreState
from orchestrator.store.watch import Change

COMMAND_VERSION = 1

_ERROR_CODES: dict[type[OrchError], str] = {
    NotFound: "not_found",
    AlreadyExists: "already_exists",
    SequenceConflict: "sequence_conflict",
    Conflict: "conflict",
    InvalidArgument: "invalid_argument",
}
_ERRORS_BY_CODE = {code: cls for cls, code in _ERROR_CODES.items()}


@dataclass
class ApplyResult:
    """Outcome of one command: the store version it produced and the failed groups."""

    version: int
    failed: dict[int, OrchError] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "failed": [[g, _code(e), str(e)] for g, e in sorted(self.failed.items())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApplyResult:
        failed = {int(g): _ERRORS_BY_CODE.get(code, Conflict)(msg) for g, code, msg in data["failed"]}
        return cls(version=int(data["version"]), failed=failed)


def _code(err: OrchError) -> str:
    for cls in type(err).__mro__:
        if cls in _ERROR_CODES:
            return _ERROR_CODES[cls]
    return "conflict"


def encode(cmd: dict[str, Any]) -> bytes:
    return json.dumps(cmd, separators=(",", ":"), sort_keys=True).encode()


def decode(raw: bytes) -> dict[str, Any]:
    cmd = json.loads(raw)
    if not isinstance(cmd, dict) or cmd.get("v") != COMMAND_VERSION:
        raise InvalidArgument(f"unsupported store command version {cmd.get('v') if isinstance(cmd, dict) else '?'}")
    return cmd


def apply(state: StoreState, cmd: dict[str, Any]) -> tuple[StoreState, list[Change], ApplyResult]:
    """Apply one command to ``state``; returns the new state, its change events and the result."""
    version = state.version + 1
    ts = float(cmd.get("ts", 0.0))
    writer = StateWriter(state)
    changes: list[Change] = []
    result = ApplyResult(version=version)
    for number, group in enumerate(cmd.get("groups", [])):
        savepoint = writer.savepoint()
        group_changes: list[Change] = []
        try:
            for op in group:
                group_changes.append(_apply_op(writer, op, version, ts))
        except OrchError as err:
            writer.rollback(savepoint)
            result.failed[number] = err
            continue
        changes.extend(group_changes)
    return writer.finish(version), changes, result


def _apply_op(writer: StateWriter, op: dict[str, Any], version: int, ts: float) -> Change:
    kind = op.get("kind", "")
    model = KINDS.get(kind)
    if model is None:
        raise InvalidArgument(f"unknown object kind {kind!r}")
    action = op.get("op")
    if action == "create":
        data = dict(op["obj"])
        data["meta"] = {"version": version, "created_at": ts, "updated_at": ts}
        obj = _validate(model, data)
        if writer.get(kind, obj.id) is not None:
            raise AlreadyExists.object(kind, obj.id)
        writer.check_unique(obj)
        writer.put(obj)
        return Change(kind, "create", None, obj, version)
    obj_id = op.get("id", "")
    old = writer.get(kind, obj_id)
    if old is None:
        raise NotFound.object(kind, obj_id)
    expected = int(op.get("version", -1))
    if old.meta.version != expected:
        raise SequenceConflict.object(kind, obj_id, expected, old.meta.version)
    if action == "delete":
        writer.remove(kind, obj_id)
        return Change(kind, "delete", old, None, version)
    if action != "update":
        raise InvalidArgument(f"unknown store operation {action!r}")
    data = old.model_dump(mode="json")
    data.update(op.get("set", {}))
    data["id"] = obj_id
    data["meta"] = {"version": version, "created_at": old.meta.created_at, "updated_at": ts}
    if kind == "task":
        _keep_monotone(old, data)
    new = _validate(model, data)
    writer.check_unique(new)
    writer.put(new)
    return Change(kind, "update", old, new, version)


def _keep_monotone(old: Stored, data: dict[str, Any]) -> None:
    """Drop backward task state moves (pitfall 3: no time travel), keeping the rest of the write."""
    if int(data["status"]["state"]) < int(old.status.state):  # type: ignore[attr-defined]
        data["status"] = old.status.model_dump(mode="json")  # type: ignore[attr-defined]
    if int(data["desired_state"]) < int(old.desired_state):  # type: ignore[attr-defined]
        data["desired_state"] = int(old.desired_state)  # type: ignore[attr-defined]


def _validate(model: type[Stored], data: dict[str, Any]) -> Stored:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidArgument(f"invalid {model.kind}: {where}: {first.get('msg', 'invalid value')}") from None
