"""The CLI's own error: a one-line message and an exit status (docker's: 1, or 125 for run/create)."""

from __future__ import annotations


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
