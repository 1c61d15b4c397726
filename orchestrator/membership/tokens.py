"""Join tokens in Swarm's shape: ``SWMTKN-1-<cluster secret>-<role secret>``.

The cluster secret is shared by both roles (it says *which* cluster); the role secret says what the
holder may join as. Rotating one role's token keeps the cluster secret, so the other role's token
stays valid. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
import secrets

from orchestrator.errors import InvalidArgument

PREFIX = "SWMTKN"
VERSION = "1"
ROLES = ("worker", "manager")


def new_cluster_secret() -> str:
    return secrets.token_hex(25)


def new_token(role: str, cluster_secret: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"invalid role {role!r}: use worker or manager")
    return f"{PREFIX}-{VERSION}-{cluster_secret}-{role[0]}{secrets.token_hex(12)}"


def cluster_secret(token: str) -> str:
    """The cluster part of a well-formed token; InvalidArgument for anything else."""
    parts = token.split("-")
    if len(parts) != 4 or parts[0] != PREFIX or parts[1] != VERSION or not parts[2] or not parts[3]:
        raise InvalidArgument("invalid join token: expected SWMTKN-1-<cluster secret>-<role secret>")
    return parts[2]


def rotate(tokens: dict[str, str], role: str) -> str:
    """A new token for ``role`` that keeps the cluster secret of the existing ones."""
    current = tokens.get("manager") or tokens.get("worker") or ""
    secret = cluster_secret(current) if current else new_cluster_secret()
    return new_token(role, secret)


def check(token: str, tokens: dict[str, str]) -> str:
    """The role ``token`` admits its holder as, or InvalidArgument (wrong cluster or stale token)."""
    cluster_secret(token)
    for role in ROLES:
        expected = tokens.get(role, "")
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return role
    raise InvalidArgument("invalid join token: it does not match this cluster's current worker or manager token")
