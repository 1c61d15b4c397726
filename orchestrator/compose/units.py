"""Durations and byte sizes as compose writes and prints them.

compose-go parses durations with str2duration (Go units plus `d` and `w`) and
prints them with Go's `time.Duration.String()` (`1m30s`, `1h0m0s`, `500ms`);
byte sizes accept docker's `RAMInBytes` suffixes (binary multiples) and print
as a decimal string. Both are int subclasses so callers can do arithmetic.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d|w)")


def parse_duration(value: Any) -> int:
    """Parse `1m30s`, `1.5h`, `10ms` (or a number of seconds as 0) into nanoseconds."""
    if isinstance(value, bool):
        raise ValueError(f'invalid duration "{value}"')
    if isinstance(value, int):
        if value == 0:
            return 0
        raise ValueError(f'invalid duration "{value}": missing unit')
    if isinstance(value, float):
        raise ValueError(f'invalid duration "{value}": missing unit')
    text = str(value).strip()
    if text in ("0", "+0", "-0"):
        return 0
    sign = 1
    body = text
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        raise ValueError(f'invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f'invalid duration "{text}"')
        total += float(m.group(1)) * _NS[m.group(2)]
        pos = m.end()
    return sign * int(round(total))


def _frac(value: int, unit: int) -> str:
    """Go's fixed-point printing: whole part plus trimmed fraction."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")


def format_duration(ns: int) -> str:
    """Print nanoseconds like Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_frac(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_frac(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _frac(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return f"{sign}{seconds}"


class Duration(int):
    """A duration in nanoseconds that prints as compose prints it (`1m30s`)."""

    @property
    def seconds(self) -> float:
        return int(self) / 1e9

    def __str__(self) -> str:
        return format_duration(int(self))

    def __repr__(self) -> str:
        return f"Duration({format_duration(int(self))!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Duration) else cls(parse_duration(v)),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


_BYTES_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BYTE_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(value: Any) -> int:
    """Parse `512m`, `1.5g`, `1024`, `64MiB` into bytes (binary multiples, like docker)."""
    if isinstance(value, bool):
        raise ValueError(f'invalid size "{value}"')
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    m = _BYTES_RE.match(text)
    if not m:
        raise ValueError(f'invalid size "{text}"')
    return int(float(m.group(1)) * _BYTE_MULT[(m.group(2) or "").lower()])


class ByteSize(int):
    """A size in bytes; prints as a decimal string, as compose does."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, ByteSize) else cls(parse_bytes(v)),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


class FileMode(int):
    """A file mode; prints in octal as a string (`"0440"`) like compose-go."""

    def __str__(self) -> str:
        return f"0{int(self):o}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _parse_mode, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


def _parse_mode(value: Any) -> FileMode:
    if isinstance(value, FileMode):
        return value
    if isinstance(value, bool):
        raise ValueError(f'invalid file mode "{value}"')
    if isinstance(value, int):
        return FileMode(value)
    try:
        return FileMode(int(str(value), 8))
    except ValueError:
        raise ValueError(f'invalid file mode "{value}"') from None
