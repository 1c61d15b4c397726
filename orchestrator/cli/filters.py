"""`--filter` matching with Docker's semantics.

    --filter name=web --filter name=db --filter label=tier=front

Values given for the same key are OR'ed (name is web *or* db); different keys are AND'ed (… *and* has the
label). Labels are the exception Docker makes: every `label=` filter must hold (`label=k` means the label
exists, `label=k=v` means it has that value). `name=` is an unanchored regular expression (so a plain word
is a substring match), `id=` is a prefix match, every other key is an exact match unless the caller
supplies a predicate for it (`ancestor=`, `before=`, `network=` need data only the command has).

Each command declares the keys it accepts; anything else is `invalid filter 'foo'`, as with docker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from orchestrator.cli.parse import parse_filters

Predicate = Callable[[str], bool]


class FilterError(ValueError):
    """A filter key or value the command does not understand; `str()` is Docker's wording."""


_TRUE = ("true", "1")
_FALSE = ("false", "0")


class Filters:
    """The parsed `--filter` flags of one command invocation."""

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self.fields: dict[str, list[str]] = {k: list(v) for k, v in (fields or {}).items()}

    @classmethod
    def parse(cls, values: Iterable[str], flag: str = "-f, --filter") -> Filters:
        """From repeated `--filter key=value` flags; raises parse.FlagError on a value without `=`."""
        return cls(parse_filters(values, flag))

    def __bool__(self) -> bool:
        return bool(self.fields)

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def __repr__(self) -> str:
        return f"Filters({self.fields!r})"

    def keys(self) -> list[str]:
        return list(self.fields)

    def get(self, key: str) -> list[str]:
        return list(self.fields.get(key, []))

    # ---- validation

    def validate(self, allowed: Iterable[str]) -> None:
        """Reject keys the command does not support (in the order the user gave them)."""
        accepted = set(allowed)
        for key in self.fields:
            if key not in accepted:
                raise FilterError(f"invalid filter '{key}'")

    def validate_values(self, key: str, allowed: Iterable[str]) -> None:
        """Reject values outside a closed set, e.g. `status=bogus`."""
        accepted = set(allowed)
        for value in self.fields.get(key, []):
            if value not in accepted:
                raise FilterError(f"invalid filter '{key}={value}'")

    def get_bool(self, key: str, default: bool) -> bool:
        """Boolean filters like `dangling=true`; several values must agree."""
        values = self.fields.get(key)
        if not values:
            return default
        results = set()
        for value in values:
            lowered = value.lower()
            if lowered not in _TRUE + _FALSE:
                raise FilterError(f"invalid filter '{key}={value}'")
            results.add(lowered in _TRUE)
        if len(results) > 1:
            raise FilterError(f"invalid filter '{key}': conflicting values")
        return results.pop()

    # ---- matching one key

    def exact_match(self, key: str, value: str) -> bool:
        values = self.fields.get(key)
        return not values or value in values

    def regex_match(self, key: str, value: str) -> bool:
        """Docker's Match: each filter value is an unanchored regular expression (invalid ones as text)."""
        values = self.fields.get(key)
        if not values:
            return True
        for pattern in values:
            try:
                if re.search(pattern, value):
                    return True
            except re.error:
                if pattern in value:
                    return True
        return False

    def prefix_match(self, key: str, value: str) -> bool:
        """Docker's FuzzyMatch: exact or prefix, as for `id=` (abbreviated ids)."""
        values = self.fields.get(key)
        return not values or any(value.startswith(v) for v in values)

    def match_labels(self, labels: Mapping[str, str] | None, key: str = "label") -> bool:
        """Every `label=k` / `label=k=v` filter must hold (AND), as in Docker's MatchKVList."""
        wanted = self.fields.get(key)
        if not wanted:
            return True
        labels = labels or {}
        for item in wanted:
            name, has_value, expected = item.partition("=")
            if name not in labels or (has_value and labels[name] != expected):
                return False
        return True

    def match(self, key: str, value: Any) -> bool:
        """Does `value` (a string, a list of alternatives such as names, or labels) pass filter `key`?"""
        if key not in self.fields:
            return True
        if key == "label" or (isinstance(value, Mapping) and not isinstance(value, str)):
            return self.match_labels(value if isinstance(value, Mapping) else None, key)
        candidates = [value] if isinstance(value, str) or value is None else list(value)
        texts = ["" if v is None else str(v) for v in candidates]
        if key == "name":
            return any(self.regex_match(key, t) for t in texts)
        if key == "id":
            return any(self.prefix_match(key, t) for t in texts)
        return any(self.exact_match(key, t) for t in texts)

    def matches(self, fields: Mapping[str, Any], predicates: Mapping[str, Predicate] | None = None) -> bool:
        """All filter keys must pass: a predicate per value (OR'ed) where given, else `match` on fields[key].

        A key with neither a field nor a predicate does not match: a filter the command accepted but cannot
        evaluate must not silently show everything.
        """
        predicates = predicates or {}
        for key, values in self.fields.items():
            if key in predicates:
                if not any(predicates[key](v) for v in values):
                    return False
            elif key not in fields or not self.match(key, fields[key]):
                return False
        return True

    def apply(
        self,
        items: Iterable[Any],
        fields_of: Callable[[Any], Mapping[str, Any]],
        predicates: Mapping[str, Callable[[Any, str], bool]] | None = None,
    ) -> list[Any]:
        """Keep the items that match; `predicates` here also receive the item: `pred(item, value)`."""
        result = []
        for item in items:
            bound = {k: _bind(p, item) for k, p in (predicates or {}).items()}
            if self.matches(fields_of(item), bound):
                result.append(item)
        return result


def _bind(predicate: Callable[[Any, str], bool], item: Any) -> Predicate:
    return lambda value: predicate(item, value)
