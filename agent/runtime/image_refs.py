"""Image references: parsing and normalising `name[:tag][@digest]` the way docker does.

The index keys every tag by its *full* form (`docker.io/library/busybox:latest`) so that
`busybox`, `busybox:latest`, `library/busybox` and `docker.io/library/busybox:latest` all land on
the same entry; users are shown the *familiar* form (`busybox:latest`), as docker shows them.
Image ids (`sha256:<64 hex>`, or a unique prefix of the hex) are not references; `is_id_like`
tells the store when a string may be one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent.runtime.image_errors import AmbiguousReference, ImageNotFound, InvalidReference

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}\Z")
_HEX = re.compile(r"[a-f0-9]+\Z")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference (domain and path always filled in)."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """`docker.io/library/busybox`: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def full(self) -> str:
        """The index key: `docker.io/library/busybox:latest` (or `...@sha256:...`)."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or DEFAULT_TAG}"

    @property
    def familiar_repository(self) -> str:
        """`busybox` for official images, `user/app`, or `registry:5000/app` elsewhere."""
        return familiar_repository(self.repository)

    @property
    def familiar(self) -> str:
        """What users see: `busybox:latest`, `registry.local/app:v1`."""
        if self.digest:
            return f"{self.familiar_repository}@{self.digest}"
        return f"{self.familiar_repository}:{self.tag or DEFAULT_TAG}"


def familiar_repository(repository: str) -> str:
    """Strip the implied `docker.io/` and `library/` from a full repository name."""
    if repository.startswith(DEFAULT_DOMAIN + "/"):
        repository = repository[len(DEFAULT_DOMAIN) + 1 :]
        if repository.startswith(OFFICIAL_PREFIX) and repository.count("/") == 1:
            repository = repository[len(OFFICIAL_PREFIX) :]
    return repository


def familiar(full: str) -> str:
    """Familiar form of a full `repo:tag` index key."""
    return parse_reference(full).familiar


def parse_reference(text: str) -> Reference:
    """Parse `[domain/]path[:tag][@digest]`; the tag defaults to `latest` only when shown/keyed."""
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference format: {text!r}")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference(f"invalid reference format: bad digest in {text!r}")
    tag = None
    last = rest.rfind(":")
    if last > rest.rfind("/"):
        rest, tag = rest[:last], rest[last + 1 :]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid reference format: bad tag in {text!r}")
    parts = rest.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.match(first):
            raise InvalidReference(f"invalid reference format: bad registry in {text!r}")
        domain, parts = first, parts[1:]
    else:
        domain = DEFAULT_DOMAIN
    if not parts or not all(_COMPONENT.match(p) for p in parts):
        hint = " (repository names must be lowercase)" if rest != rest.lower() else ""
        raise InvalidReference(f"invalid reference format: {text!r}{hint}")
    path = "/".join(parts)
    if domain == DEFAULT_DOMAIN and len(parts) == 1:
        path = OFFICIAL_PREFIX + path
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def is_id_like(text: str) -> bool:
    """True when `text` could be an image id or a short id (`sha256:` optional, >= 4 hex)."""
    hexpart = text[len("sha256:") :] if text.startswith("sha256:") else text
    return 4 <= len(hexpart) <= 64 and bool(_HEX.match(hexpart))


def id_hex(text: str) -> str:
    """The hex part of an id-like string."""
    return text[len("sha256:") :] if text.startswith("sha256:") else text


def short_id(image_id: str) -> str:
    """The 12-hex short form docker prints."""
    return id_hex(image_id)[:12]


def lookup(ref: str, images: Mapping[str, dict[str, str]], tags: Mapping[str, str]) -> tuple[str, str | None]:
    """Find the image `ref` names in an index: (image id, the full tag it named or None).

    The order is docker's: a full id, then a name (`name:tag` or `name@<manifest digest>`),
    then a unique id prefix, so a repository that happens to look like hex still wins.
    """
    if is_id_like(ref) and len(id_hex(ref)) == 64 and "sha256:" + id_hex(ref) in images:
        return "sha256:" + id_hex(ref), None
    try:
        parsed: Reference | None = parse_reference(ref)
    except InvalidReference:
        if not is_id_like(ref):
            raise
        parsed = None
    if parsed and parsed.digest:
        for image_id, entry in images.items():
            if entry["manifest"] == parsed.digest:
                return image_id, None
    elif parsed and parsed.full in tags:
        return tags[parsed.full], parsed.full
    if is_id_like(ref):
        matches = [i for i in images if id_hex(i).startswith(id_hex(ref))]
        if len(matches) > 1:
            raise AmbiguousReference(ref)
        if matches:
            return matches[0], None
    raise ImageNotFound(ref)
