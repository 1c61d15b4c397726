"""Join tokens: Swarm's shape, one cluster secret for both roles, rotation, constant-time checks."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidArgument
from orchestrator.membership import tokens
from orchestrator.membership.state import Membership, split_addr


def _tokens() -> dict[str, str]:
    secret = tokens.new_cluster_secret()
    return {"worker": tokens.new_token("worker", secret), "manager": tokens.new_token("manager", secret)}


def test_shape_and_shared_cluster_secret() -> None:
    t = _tokens()
    for role, token in t.items():
        parts = token.split("-")
        assert parts[:2] == ["SWMTKN", "1"] and len(parts) == 4
        assert parts[3].startswith(role[0])
    assert tokens.cluster_secret(t["worker"]) == tokens.cluster_secret(t["manager"])
    assert t["worker"] != t["manager"]


def test_check_gives_the_role() -> None:
    t = _tokens()
    assert tokens.check(t["worker"], t) == "worker"
    assert tokens.check(t["manager"], t) == "manager"


@pytest.mark.parametrize("bad", ["", "nonsense", "SWMTKN-2-abc-wdef", "SWMTKN-1--w1", "SWMTKN-1-abc-"])
def test_malformed_tokens_are_one_line_errors(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        tokens.check(bad, _tokens())
    assert "\n" not in str(err.value) and "join token" in str(err.value)


def test_wrong_cluster_or_stale_token_is_refused() -> None:
    mine, other = _tokens(), _tokens()
    with pytest.raises(InvalidArgument, match="does not match"):
        tokens.check(other["worker"], mine)
    rotated = dict(mine, worker=tokens.rotate(mine, "worker"))
    with pytest.raises(InvalidArgument, match="does not match"):
        tokens.check(mine["worker"], rotated)
    assert tokens.check(rotated["worker"], rotated) == "worker"
    assert tokens.check(mine["manager"], rotated) == "manager"  # rotating one role keeps the other
    assert tokens.cluster_secret(rotated["worker"]) == tokens.cluster_secret(mine["manager"])


def test_unknown_role() -> None:
    with pytest.raises(InvalidArgument):
        tokens.new_token("admin", tokens.new_cluster_secret())


def test_membership_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "node.json"
    assert Membership.load(path) is None
    m = Membership(node_id="n1", raft_addr="10.0.0.1:2378", role="worker", joined=True, managers=["10.0.0.2:2377"])
    m.save(path)
    assert Membership.load(path) == m


def test_split_addr() -> None:
    assert split_addr("10.0.0.1") == ("10.0.0.1", 2377)
    assert split_addr("10.0.0.1:4000") == ("10.0.0.1", 4000)
    with pytest.raises(InvalidArgument):
        split_addr("host:port")
