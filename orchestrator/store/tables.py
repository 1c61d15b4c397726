"""The explicit table list: which kinds the store holds, their indexes and unique keys.

Indexes are declared here, per table, instead of growing finder methods on the store (the read API
stays ``get(kind, id)`` and ``find(kind, **by)``). An index is named by the field names a ``find``
call passes; its key function computes the value from an object (so ``state`` can index the nested
``status.state``). Unique indexes (service, network, secret and config names) are enforced when a
batch is applied, which is what makes names unique across racing writers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.model import KINDS, Config, Network, Node, Secret, Service, Stored, Task

KeyFn = Callable[[Any], Hashable]


@dataclass(frozen=True)
class Index:
    fields: tuple[str, ...]
    key: KeyFn
    unique: bool = False


@dataclass(frozen=True)
class Table:
    kind: str
    model: type[Stored]
    indexes: tuple[Index, ...] = field(default_factory=tuple)

    def index_for(self, names: frozenset[str]) -> Index | None:
        for index in self.indexes:
            if frozenset(index.fields) == names:
                return index
        return None

    def field_value(self, obj: Stored, name: str) -> Any:
        """Value of ``name`` for filtering: an index key if one is declared, else the attribute."""
        index = self.index_for(frozenset((name,)))
        return index.key(obj) if index is not None else getattr(obj, name)


def _task_indexes() -> tuple[Index, ...]:
    return (
        Index(("service_id",), lambda t: t.service_id),
        Index(("node_id",), lambda t: t.node_id),
        Index(("service_id", "slot"), lambda t: (t.service_id, t.slot)),
        Index(("service_id", "node_id"), lambda t: (t.service_id, t.node_id)),
        Index(("state",), lambda t: int(t.status.state)),
        Index(("desired_state",), lambda t: int(t.desired_state)),
    )


TABLES: dict[str, Table] = {
    "cluster": Table("cluster", KINDS["cluster"]),
    "node": Table(
        "node",
        Node,
        (Index(("hostname",), lambda n: n.hostname), Index(("role",), lambda n: str(n.role))),
    ),
    "service": Table("service", Service, (Index(("name",), lambda s: s.spec.name, unique=True),)),
    "task": Table("task", Task, _task_indexes()),
    "network": Table("network", Network, (Index(("name",), lambda n: n.spec.name, unique=True),)),
    "secret": Table("secret", Secret, (Index(("name",), lambda s: s.name, unique=True),)),
    "config": Table("config", Config, (Index(("name",), lambda c: c.name, unique=True),)),
}


def table(kind: str) -> Table:
    try:
        return TABLES[kind]
    except KeyError:
        raise KeyError(f"unknown object kind {kind!r}") from None
