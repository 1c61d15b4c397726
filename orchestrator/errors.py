"""The closed error vocabulary of the manager.

Every error that crosses a module boundary inside ``orchestrator/`` is one of these. The gRPC layer
maps them to status codes in one place and the CLI prints ``str(err)``, so each message is a single
line that tells the user what went wrong and, where it helps, what to do next. Foreign exceptions
(PySyncObj fail reasons, ``OSError``, pydantic ``ValidationError``) are translated at their one seam
and never leak past it.

::

    OrchError
    ├── NotFound               the named object does not exist          (grpc NOT_FOUND)
    ├── AlreadyExists          an object with that id or name exists    (grpc ALREADY_EXISTS)
    ├── Conflict               the write raced with another write       (grpc ABORTED)
    │   └── SequenceConflict   an update carried a stale meta.version
    ├── InvalidArgument        the request itself is malformed          (grpc INVALID_ARGUMENT)
    ├── FailedPrecondition     valid request, wrong cluster state       (grpc FAILED_PRECONDITION)
    └── Unavailable            no leader / no quorum / shutting down    (grpc UNAVAILABLE)
"""

from __future__ import annotations


class OrchError(Exception):
    """Base of every domain error; ``str()`` is the one-line user message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(OrchError):
    """The object the caller named does not exist (or no longer exists)."""

    @classmethod
    def object(cls, kind: str, ref: str) -> NotFound:
        return cls(f"{kind} {ref!r} not found")


class AlreadyExists(OrchError):
    """An object with the same id, or a name that must be unique, already exists."""

    @classmethod
    def object(cls, kind: str, ref: str) -> AlreadyExists:
        return cls(f"{kind} {ref!r} already exists")


class Conflict(OrchError):
    """The write lost a race with another write; re-read and retry."""


class SequenceConflict(Conflict):
    """An update or delete carried a version older than the stored one.

    This is the optimistic-concurrency check: two leaders (briefly possible with Raft) or two loops
    that read the same object cannot both win; the loser re-reads on its next tick.
    """

    @classmethod
    def object(cls, kind: str, ref: str, expected: int, actual: int) -> SequenceConflict:
        return cls(
            f"{kind} {ref!r} was changed concurrently (expected version {expected}, found {actual}); "
            "re-read it and retry"
        )


class InvalidArgument(OrchError):
    """The request is malformed (bad constraint syntax, negative replicas, ...)."""


class FailedPrecondition(OrchError):
    """The request is well formed but the cluster is not in a state that allows it."""


class Unavailable(OrchError):
    """The store cannot take writes right now (no leader, no quorum, shutting down)."""


__all__ = [
    "AlreadyExists",
    "Conflict",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OrchError",
    "SequenceConflict",
    "Unavailable",
]
