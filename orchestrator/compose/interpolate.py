"""Variable interpolation in compose values, as the Compose Specification defines it.

Supported forms: `$$` (a literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`,
`${VAR+replacement}`; defaults and replacements may themselves contain
substitutions. Only values are interpolated, never keys. An unset variable
without a default becomes "" and produces a warning, as in compose-go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import ComposeError, KeyPath
from .yamlio import Override

_NAME_START = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")

Warn = Callable[[str], None]


class _Template:
    """One substitution pass over a string; `path` is for error messages."""

    def __init__(self, env: Mapping[str, str], path: KeyPath, warn: Warn) -> None:
        self.env = env
        self.path = path
        self.warn = warn

    def invalid(self, text: str) -> ComposeError:
        return ComposeError(
            f'invalid interpolation format "{text}": you may need to escape any $ with another $',
            path=self.path,
        )

    def substitute(self, text: str) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                break
            out.append(text[i:j])
            if j + 1 >= n:
                raise self.invalid(text)
            nxt = text[j + 1]
            if nxt == "$":
                out.append("$")
                i = j + 2
            elif nxt == "{":
                end = self.closing_brace(text, j + 2)
                if end < 0:
                    raise self.invalid(text)
                out.append(self.braced(text[j + 2 : end], text))
                i = end + 1
            elif nxt in _NAME_START:
                k = j + 2
                while k < n and text[k] in _NAME_CHARS:
                    k += 1
                out.append(self.lookup(text[j + 1 : k]))
                i = k
            else:
                raise self.invalid(text)
        return "".join(out)

    @staticmethod
    def closing_brace(text: str, start: int) -> int:
        """Index of the `}` closing a `${`, skipping nested `${...}`."""
        depth = 1
        i, n = start, len(text)
        while i < n:
            c = text[i]
            if c == "$" and i + 1 < n and text[i + 1] in "${":
                if text[i + 1] == "{":
                    depth += 1
                i += 2
                continue
            if c == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return -1

    def lookup(self, name: str) -> str:
        value = self.env.get(name)
        if value is None:
            self.warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
            return ""
        return value

    def braced(self, body: str, whole: str) -> str:
        k = 0
        if not body or body[0] not in _NAME_START:
            raise self.invalid(whole)
        while k < len(body) and body[k] in _NAME_CHARS:
            k += 1
        name, rest = body[:k], body[k:]
        if not rest:
            return self.lookup(name)
        op = next((o for o in _OPERATORS if rest.startswith(o)), None)
        if op is None:
            raise self.invalid(whole)
        arg = rest[len(op) :]
        value = self.env.get(name)
        is_set = value is not None
        non_empty = bool(value)
        if op == ":-":
            return value if non_empty else self.substitute(arg)  # type: ignore[return-value]
        if op == "-":
            return value if is_set else self.substitute(arg)  # type: ignore[return-value]
        if op == ":+":
            return self.substitute(arg) if non_empty else ""
        if op == "+":
            return self.substitute(arg) if is_set else ""
        # ":?" and "?": required variables
        if (op == ":?" and not non_empty) or (op == "?" and not is_set):
            message = self.substitute(arg)
            raise ComposeError(
                f"required variable {name} is missing a value" + (f": {message}" if message else ""),
                path=self.path,
            )
        return value  # type: ignore[return-value]


def substitute(text: str, env: Mapping[str, str], path: KeyPath = (), warn: Warn | None = None) -> str:
    """Interpolate one string."""
    return _Template(env, path, warn or (lambda _m: None)).substitute(text)


def interpolate(value: Any, env: Mapping[str, str], warn: Warn, path: KeyPath = ()) -> Any:
    """Interpolate every string value in a parsed document (keys are left alone)."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        return _Template(env, path, warn).substitute(value)
    if isinstance(value, dict):
        return {k: interpolate(v, env, warn, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, warn, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, Override):
        return Override(interpolate(value.value, env, warn, path))
    return value
