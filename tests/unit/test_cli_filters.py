"""Tests of `--filter` semantics: OR within a key, AND across keys, Docker's label/name/id rules."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.cli.filters import FilterError, Filters
from orchestrator.cli.parse import FlagError

CONTAINERS: list[dict[str, Any]] = [
    {"id": "4f66ad9a0b2e", "name": ["web-1", "web"], "status": "running",
     "label": {"tier": "front", "app": "shop"}, "image": "nginx"},
    {"id": "9c1d77aa0000", "name": ["db-1"], "status": "exited",
     "label": {"tier": "back", "app": "shop"}, "image": "postgres"},
    {"id": "4f00000000ff", "name": ["cache"], "status": "running", "label": {}, "image": "redis"},
]


def names(filters: Filters, **kwargs: Any) -> list[str]:
    return [c["name"][0] for c in CONTAINERS if filters.matches(c, **kwargs)]


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], ["web-1", "db-1", "cache"]),
        (["status=running"], ["web-1", "cache"]),
        (["status=running", "status=exited"], ["web-1", "db-1", "cache"]),  # same key: OR
        (["status=running", "name=web"], ["web-1"]),  # different keys: AND
        (["name=web"], ["web-1"]),  # substring of any name
        (["name=^db"], ["db-1"]),  # names are regular expressions
        (["name=b"], ["web-1", "db-1"]),
        (["name=[unclosed"], []),  # an invalid regex is matched as text
        (["id=4f"], ["web-1", "cache"]),  # prefix
        (["id=ad9a"], []),  # not a substring match
        (["id=4f66ad9a0b2e"], ["web-1"]),
        (["label=tier"], ["web-1", "db-1"]),  # key exists
        (["label=tier=front"], ["web-1"]),  # key has value
        (["label=tier", "label=app=shop"], ["web-1", "db-1"]),  # labels: AND
        (["label=tier=front", "label=tier=back"], []),  # labels: AND even for the same key
        (["label=tier="], []),  # empty value is a value
        (["image=redis"], ["cache"]),  # other keys: exact
        (["image=red"], []),
    ],
)
def test_matches(flags: list[str], expected: list[str]) -> None:
    assert names(Filters.parse(flags)) == expected


def test_predicates_handle_keys_only_the_command_knows() -> None:
    ancestors = {"nginx": {"nginx", "nginx:1.25"}, "postgres": {"postgres"}, "redis": {"redis"}}
    filters = Filters.parse(["ancestor=nginx:1.25", "ancestor=redis", "status=running"])
    got = [
        c["name"][0]
        for c in CONTAINERS
        if filters.matches(c, {"ancestor": lambda value, c=c: value in ancestors[c["image"]]})
    ]
    assert got == ["web-1", "cache"]


def test_apply_with_item_predicates() -> None:
    filters = Filters.parse(["before=cache"])
    order = {c["name"][0]: i for i, c in enumerate(CONTAINERS)}
    kept = filters.apply(CONTAINERS, lambda c: c, {"before": lambda c, v: order[c["name"][0]] < order[v]})
    assert [c["name"][0] for c in kept] == ["web-1", "db-1"]


def test_key_without_field_or_predicate_matches_nothing() -> None:
    assert names(Filters.parse(["network=front"])) == []


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("status", "running", True),
        ("status", "paused", False),
        ("name", ["x", "web-2"], True),
        ("id", "4f66ffff", True),
        ("label", {"tier": "front"}, True),
        ("label", None, False),
        ("other", "anything", True),  # keys not filtered on always match
    ],
)
def test_match_single_key(key: str, value: Any, expected: bool) -> None:
    filters = Filters({"status": ["running"], "name": ["web"], "id": ["4f66"], "label": ["tier=front"]})
    assert filters.match(key, value) is expected


def test_validate_rejects_unknown_keys() -> None:
    filters = Filters.parse(["name=a", "foo=b"])
    filters.validate(["foo", "name"])
    with pytest.raises(FilterError) as info:
        filters.validate(["name", "label"])
    assert str(info.value) == "invalid filter 'foo'"


def test_validate_values() -> None:
    Filters.parse(["status=running"]).validate_values("status", ["running", "exited"])
    with pytest.raises(FilterError) as info:
        Filters.parse(["status=bogus"]).validate_values("status", ["running", "exited"])
    assert str(info.value) == "invalid filter 'status=bogus'"


@pytest.mark.parametrize(
    "flags, expected",
    [([], None), (["dangling=true"], True), (["dangling=1"], True), (["dangling=false"], False),
     (["dangling=TRUE", "dangling=1"], True)],
)
def test_get_bool(flags: list[str], expected: bool | None) -> None:
    assert Filters.parse(flags).get_bool("dangling", None) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flags, message",
    [(["dangling=maybe"], "invalid filter 'dangling=maybe'"),
     (["dangling=true", "dangling=false"], "invalid filter 'dangling': conflicting values")],
)
def test_get_bool_errors(flags: list[str], message: str) -> None:
    with pytest.raises(FilterError) as info:
        Filters.parse(flags).get_bool("dangling", False)
    assert str(info.value) == message


def test_parse_errors_and_accessors() -> None:
    with pytest.raises(FlagError) as info:
        Filters.parse(["oops"])
    assert str(info.value) == 'invalid argument "oops" for "-f, --filter" flag: bad format of filter (expected name=value)'
    filters = Filters.parse(["Name=a", "name=b"])
    assert bool(filters) and "name" in filters and filters.keys() == ["name"]
    assert filters.get("name") == ["a", "b"] and filters.get("none") == []
    assert not Filters()
