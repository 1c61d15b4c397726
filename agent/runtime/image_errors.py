"""Errors raised by the image store.

The daemon maps these to API status codes at its edge, so each one carries a message that can be
shown to a user as is (docker's wording where docker has one)::

    ImageError                      base of everything below
    ├── ImageNotFound(LookupError)  a reference, id or digest names no image  -> NotFound
    ├── AmbiguousReference          a short id matches several images          -> InvalidArgument
    ├── InvalidReference(ValueError) not a valid name[:tag][@digest]           -> InvalidArgument
    ├── InvalidChange(ValueError)   a bad `changes` entry for import/commit     -> InvalidArgument
    ├── InvalidArchive(ValueError)  a tar/layer/manifest is malformed, unsafe
    │                               or fails digest verification               -> InvalidArgument
    └── ImageConflict               removal refused (in use, several tags)     -> FailedPrecondition
"""

from __future__ import annotations


class ImageError(Exception):
    """Base class of every error the image store raises on purpose."""


class ImageNotFound(ImageError, LookupError):
    """No image matches a reference."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")
        self.ref = ref


class AmbiguousReference(ImageError, LookupError):
    """A short id is a prefix of more than one image id."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"multiple IDs found with provided prefix: {ref}")
        self.ref = ref


class InvalidReference(ImageError, ValueError):
    """A string that cannot be an image reference."""


class InvalidChange(ImageError, ValueError):
    """A `changes` mapping (Cmd, Env, ...) that cannot apply to an image config."""


class InvalidArchive(ImageError, ValueError):
    """An archive or layer that is malformed, unsafe to unpack, or fails verification."""


class ImageConflict(ImageError):
    """An operation that would break a container or drop several names at once."""
