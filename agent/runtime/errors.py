"""The agent's error vocabulary; the gRPC layer maps each class to one status code.

    EngineError
     ├── NotFound            no such container / image / volume        → NOT_FOUND
     ├── AlreadyExists       a name already in use                      → ALREADY_EXISTS
     ├── InvalidArgument     a spec the engine cannot run               → INVALID_ARGUMENT
     ├── Conflict            the object is in the wrong state (in use)  → FAILED_PRECONDITION
     ├── Unavailable         the spawner or kernel facility is missing  → UNAVAILABLE
     └── CommandFailed       the container's command could not start    → UNKNOWN + exit-code 126/127

``str()`` of each is the one line the user sees.
"""

from __future__ import annotations


class EngineError(Exception):
    exit_code = 125


class NotFound(EngineError, LookupError):
    pass


class AlreadyExists(EngineError):
    pass


class InvalidArgument(EngineError, ValueError):
    pass


class Conflict(EngineError):
    pass


class Unavailable(EngineError):
    pass


class CommandFailed(EngineError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
