"""A container's /etc/hosts, as Docker writes it.

Order: the loopback and IPv6 boilerplate, ``--add-host`` entries, ``--link`` entries of the default
bridge (user-defined networks resolve links through the embedded DNS instead), then the container's own
addresses with its hostname, so ``hostname -i`` and tools reading /etc/hosts find themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

BOILERPLATE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
HOST_GATEWAY = "host-gateway"


def split_extra_host(item: str) -> tuple[str, str]:
    """``name:ip`` (the ip may be IPv6 and contain colons) -> (name, ip)."""
    name, sep, ip = item.partition(":")
    if not sep or not name or not ip:
        raise ValueError(f"invalid argument {item!r} for --add-host: expected name:ip")
    return name, ip


def render_hosts(
    hostname: str,
    own_ips: Iterable[str],
    extra_hosts: Iterable[str] = (),
    links: Iterable[tuple[str, list[str]]] = (),
    host_gateway: str | None = None,
) -> str:
    """``links``: (address, [alias, short id, name]) of linked containers on the default bridge."""
    lines = [BOILERPLATE]
    for item in extra_hosts:
        name, ip = split_extra_host(item)
        if ip == HOST_GATEWAY:
            if host_gateway is None:
                continue
            ip = host_gateway
        lines.append(f"{ip}\t{name}\n")
    for ip, names in links:
        lines.append(f"{ip}\t{' '.join(names)}\n")
    for ip in own_ips:
        lines.append(f"{ip}\t{hostname}\n")
    return "".join(lines)
