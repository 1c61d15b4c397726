"""Networks, secrets and configs: named objects that services reference."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from orchestrator.model.base import Model, Stored


class NetworkSpec(Model):
    """What the user asked for; ``labels`` are theirs (``network create --label``, compose's
    ``com.docker.compose.*`` labels that ``down`` finds the project's networks by)."""

    name: str
    driver: Literal["overlay", "bridge", "host", "none"] = "overlay"
    subnet: str = ""
    gateway: str = ""
    attachable: bool = False
    internal: bool = False
    ingress: bool = False
    options: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class Network(Stored):
    kind = "network"

    spec: NetworkSpec
    vni: int = 0
    # node id -> the node's own address on this overlay network (Docker's per-node "lb" endpoint): the
    # source of traffic the node balances to a VIP or mesh port, so replies come back through it.
    lb_addresses: dict[str, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


class Secret(Stored):
    """``data`` is base64 of the (encrypted at rest, in a later issue) payload."""

    kind = "secret"

    name: str
    data: str = ""


class Config(Stored):
    kind = "config"

    name: str
    data: str = ""
