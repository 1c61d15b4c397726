"""Parse `.env` files the way compose's dotenv parser does.

Syntax: `KEY=value` or `KEY: value`, an optional `export ` prefix, `#` comment
lines, inline ` #` comments after unquoted values, single quotes literal,
double quotes with escapes (`\\n`, `\\t`, `\\"`, `\\\\`) and `${VAR}` expansion,
multi-line quoted values, and a bare `KEY` that inherits the value from the
lookup environment. Unquoted and double-quoted values may reference
variables defined earlier in the same file or in the lookup environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import ComposeError
from .interpolate import substitute

_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}

Lookup = Callable[[str], str | None]


class _ChainEnv(Mapping[str, str]):
    """Earlier keys of the file first, then the caller's lookup."""

    def __init__(self, own: dict[str, str], lookup: Lookup) -> None:
        self.own = own
        self.lookup = lookup

    def __getitem__(self, key: str) -> str:
        if key in self.own:
            return self.own[key]
        value = self.lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self):  # pragma: no cover - not needed by the interpolator
        return iter(self.own)

    def __len__(self) -> int:  # pragma: no cover
        return len(self.own)


def parse_dotenv(text: str, lookup: Lookup, filename: str = ".env") -> dict[str, str]:
    """Parse dotenv text into an ordered mapping."""
    env: dict[str, str] = {}
    chain = _ChainEnv(env, lookup)
    i, n, line = 0, len(text), 1
    while i < n:
        # skip blank space and comment lines
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        start_line = line
        if text.startswith("export ", i) or text.startswith("export\t", i):
            i += 7
            while i < n and text[i] in " \t":
                i += 1
        m = _KEY_RE.match(text, i)
        if not m:
            end = text.find("\n", i)
            bad = text[i : n if end < 0 else end].strip()
            raise ComposeError(f'unexpected character in variable name "{bad}"', file=filename, line=start_line)
        key = m.group(0)
        i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] in "\r\n#":
            # bare KEY: inherit from the environment
            inherited = lookup(key)
            if inherited is not None:
                env[key] = inherited
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text[i] not in "=:":
            raise ComposeError(f'unexpected character "{text[i]}" after variable name {key}', file=filename, line=start_line)
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        quote = text[i] if i < n else ""
        if quote in ("'", '"'):
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != quote:
                if quote == '"' and text[j] == "\\" and j + 1 < n:
                    esc = text[j + 1]
                    buf.append(_ESCAPES.get(esc, "\\" + esc))
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ComposeError(f"unterminated quoted value for {key}", file=filename, line=start_line)
            raw = "".join(buf)
            value = _expand(raw, chain) if quote == '"' else raw
            end = text.find("\n", j)
            i = n if end < 0 else end
        else:
            end = text.find("\n", i)
            end = n if end < 0 else end
            raw = text[i:end]
            hash_at = _inline_comment(raw)
            if hash_at >= 0:
                raw = raw[:hash_at]
            value = _expand(raw.strip(), chain)
            i = end
        env[key] = value
    return env


def _expand(raw: str, env: Mapping[str, str]) -> str:
    """Expand variables; a value that is not a valid template stays literal."""
    try:
        return substitute(raw, env)
    except ComposeError:
        return raw


def _inline_comment(raw: str) -> int:
    """Index of a ` #` comment in an unquoted value, or -1."""
    for k in range(1, len(raw)):
        if raw[k] == "#" and raw[k - 1] in " \t":
            return k
    return -1


def read_dotenv(path: Path, lookup: Lookup, display: str | None = None) -> dict[str, str]:
    """Read a dotenv file; a missing file is a ComposeError."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(f"env file {path} not found: stat {path}: no such file or directory") from None
    except IsADirectoryError:
        raise ComposeError(f"env file {path} is a directory") from None
    return parse_dotenv(text, lookup, name)
