"""Common ground of every stored object: ids, ``meta`` and the frozen pydantic base.

Stored objects are frozen: a view hands out the same instances to every reader, so nobody may
mutate them in place. Writers derive a new object with :meth:`Stored.evolve` and pass it to a store
transaction; the store stamps ``meta`` (version, times) when the write is applied.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Frozen, strict-by-default base of every spec and object."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Meta(Model):
    """Bookkeeping the store owns: ``version`` rises on every write (it is the store index of the
    write that produced this object), times are the manager's clock at propose time."""

    version: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0


class Stored(Model):
    """An object that lives in a store table; ``kind`` names the table."""

    kind: ClassVar[str] = ""

    id: str
    meta: Meta = Field(default_factory=Meta)
    labels: dict[str, str] = Field(default_factory=dict)

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated (frozen models cannot be edited in place)."""
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)


def new_id() -> str:
    """A 25-character lowercase id, like swarmkit's: random enough for a cluster, short in tables."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(25))
