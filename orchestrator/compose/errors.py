"""The one error type of the compose loader.

Every failure a user can cause (broken YAML, a bad value, an unknown key, a
missing variable or file, an inconsistent project) is a `ComposeError` whose
`str()` is a single line that names where the problem is: the file, the line
(and column for YAML syntax errors) when known, and the key path inside the
document, e.g. ``compose.yml:12: services.web.ports[1]: invalid port "80:80:80"``.
"""

from __future__ import annotations

from collections.abc import Sequence

KeyPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path the way users read it: ``services.web.ports[1]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + part)
    return "".join(out)


class ComposeError(Exception):
    """A compose file or project problem, reported to the user as one line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: Sequence[str | int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path: KeyPath | None = tuple(path) if path is not None else None

    def located(self, file: str | None, line: int | None) -> ComposeError:
        """Fill in the file and line if they are not known yet (returns self)."""
        if self.file is None:
            self.file = file
            if self.line is None:
                self.line = line
        return self

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.path:
            parts.append(format_path(self.path))
        parts.append(self.message)
        return ": ".join(parts)
