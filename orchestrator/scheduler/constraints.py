"""Placement constraints: ``node.labels.zone==east``, ``node.role!=manager``, ...

Parsed once at service create time (:func:`parse_constraints` raises ``InvalidArgument`` with the
offending expression, so ``service create --constraint 'foo'`` fails with one line), and matched by
the scheduler's constraint filter and the global orchestrator. Values compare case-insensitively,
as Docker does. A missing label never equals anything, so ``node.labels.x!=y`` matches a node
without the label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.errors import InvalidArgument
from orchestrator.model import Node

_EXPR = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(==|!=)\s*(\S.*?)\s*$")
_PLAIN_KEYS = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")
_LABEL_PREFIXES = ("node.labels.", "engine.labels.")


@dataclass(frozen=True)
class Constraint:
    key: str
    op: str
    value: str

    def matches(self, node: Node) -> bool:
        actual = node_attribute(node, self.key)
        equal = actual is not None and actual.casefold() == self.value.casefold()
        return equal if self.op == "==" else not equal

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"


def node_attribute(node: Node, key: str) -> str | None:
    """The node's value for a constraint or spread key, ``None`` when it has none."""
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return node.hostname
    if key == "node.role":
        return str(node.role)
    if key == "node.platform.os":
        return node.platform.os
    if key == "node.platform.arch":
        return node.platform.architecture
    if key.startswith("node.labels."):
        return node.labels.get(key[len("node.labels.") :])
    if key.startswith("engine.labels."):
        return node.engine_labels.get(key[len("engine.labels.") :])
    return None


def valid_key(key: str) -> bool:
    if key in _PLAIN_KEYS:
        return True
    return any(key.startswith(p) and len(key) > len(p) for p in _LABEL_PREFIXES)


def parse_constraint(expr: str) -> Constraint:
    match = _EXPR.match(expr)
    if match is None:
        raise InvalidArgument(f"invalid constraint {expr!r}: expected KEY==VALUE or KEY!=VALUE")
    key, op, value = match.groups()
    if not valid_key(key):
        raise InvalidArgument(
            f"invalid constraint {expr!r}: unknown key {key!r} (use node.id, node.hostname, node.role, "
            "node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>)"
        )
    return Constraint(key, op, value)


def parse_constraints(exprs: list[str]) -> list[Constraint]:
    """Parse every expression; the first bad one raises ``InvalidArgument``."""
    return [parse_constraint(e) for e in exprs]


def parse_spread(descriptor: str) -> str:
    """Validate a ``spread=`` placement preference target (``node.labels.zone``)."""
    if not valid_key(descriptor):
        raise InvalidArgument(
            f"invalid placement preference spread={descriptor!r}: use node.labels.<name> or engine.labels.<name>"
        )
    return descriptor


def matches_all(constraints: list[Constraint], node: Node) -> bool:
    return all(c.matches(node) for c in constraints)


def safe_constraints(exprs: list[str]) -> list[Constraint] | None:
    """Parsed constraints, or ``None`` if the stored spec is invalid (it then matches no node)."""
    try:
        return parse_constraints(exprs)
    except InvalidArgument:
        return None
