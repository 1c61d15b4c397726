"""Read compose YAML with YAML 1.2 semantics and remember where every key is.

PyYAML resolves plain scalars by YAML 1.1 rules: `22:22` becomes the base-60
integer 1342 and `on`/`yes` become booleans, which silently breaks ports and
environment values. compose-go reads with a YAML 1.2 library, so we turn
PyYAML's implicit resolvers off entirely (every plain scalar arrives as a
string) and resolve plain scalars ourselves with the 1.2 core-schema rules as
go-yaml applies them. Merge keys (`<<`), anchors, aliases and compose's
`!reset` / `!override` tags are handled here too.

Besides the data, `read_yaml` returns a line index: the 1-based line of every
mapping key and sequence item, keyed by its path, so later stages can name the
line of a bad value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ComposeError, KeyPath

try:  # the C parser is ~10x faster; fall back to pure Python when absent
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class _Loader12(_BaseLoader):  # type: ignore[misc, valid-type]
    """A loader that resolves nothing implicitly: we apply YAML 1.2 rules."""

    yaml_implicit_resolvers: dict[str, Any] = {}


@dataclass(frozen=True)
class Reset:
    """`!reset` in an override file: remove the value inherited so far."""


@dataclass(frozen=True)
class Override:
    """`!override` in an override file: replace instead of merging."""

    value: Any


LineIndex = dict[KeyPath, int]

_STR = "tag:yaml.org,2002:str"
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE_WORDS = frozenset({"true", "True", "TRUE"})
_FALSE_WORDS = frozenset({"false", "False", "FALSE"})
_INT_RE = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")
_PREFIXED_INT_RE = re.compile(r"[-+]?0(x[0-9a-fA-F]+|o[0-7]+|b[01]+|[0-7]+)\Z")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}


def resolve_plain(text: str) -> Any:
    """Type a plain (unquoted) scalar as go-yaml does for untyped targets."""
    if text in _NULL_WORDS:
        return None
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _INT_RE.match(text):
            return int(text)
        if _PREFIXED_INT_RE.match(text):
            sign = -1 if text[0] == "-" else 1
            body = text.lstrip("+-")
            if body[1] in "xob":
                return sign * int(body, 0)
            return sign * int(body, 8)  # Go's ParseInt(base 0): leading 0 is octal
        if _FLOAT_RE.match(text):
            return float(text)
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        return text
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    return text


class _Builder:
    """Turns a composed node graph into Python values plus a line index."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: LineIndex = {}

    def error(self, node: yaml.Node, message: str) -> ComposeError:
        mark = node.start_mark
        return ComposeError(message, file=self.filename, line=mark.line + 1, column=mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath, depth: int = 0) -> Any:
        if depth > 200:
            raise self.error(node, "yaml: document nests too deeply (recursive alias?)")
        tag = node.tag
        if tag == "!reset":
            return Reset()
        if tag == "!override":
            node.tag = _default_tag(node)
            try:
                return Override(self.build(node, path, depth + 1))
            finally:
                node.tag = "!override"
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            out: list[Any] = []
            for i, item in enumerate(node.value):
                sub = (*path, i)
                self.lines[sub] = item.start_mark.line + 1
                out.append(self.build(item, sub, depth + 1))
            return out
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        raise self.error(node, f"yaml: unsupported node {tag}")  # pragma: no cover

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return resolve_plain(value) if not node.style else value
        if tag == "tag:yaml.org,2002:int":
            try:
                return int(value, 0)
            except ValueError:
                raise self.error(node, f"yaml: cannot decode !!int {value!r}") from None
        if tag == "tag:yaml.org,2002:float":
            try:
                return float(value)
            except ValueError:
                raise self.error(node, f"yaml: cannot decode !!float {value!r}") from None
        if tag == "tag:yaml.org,2002:bool":
            return value in _TRUE_WORDS
        if tag == "tag:yaml.org,2002:null":
            return None
        raise self.error(node, f"yaml: unknown tag {tag}")

    def mapping(self, node: yaml.MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if (
                isinstance(key_node, yaml.ScalarNode)
                and key_node.value == "<<"
                and not key_node.style
            ):
                self.merge_into(merged, value_node, path, depth)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(key_node, "yaml: mapping keys must be scalars")
            key = self.scalar(key_node)
            key = _key_text(key)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.error(key_node, f'yaml: mapping key "{key}" already defined at line {seen[key]}')
            seen[key] = line
            sub = (*path, key)
            self.lines[sub] = line
            out[key] = self.build(value_node, sub, depth + 1)
        if merged:
            for key, value in merged.items():
                out.setdefault(key, value)
        return out

    def merge_into(self, merged: dict[str, Any], node: yaml.Node, path: KeyPath, depth: int) -> None:
        """`<<: *a` or `<<: [*a, *b]`: earlier sources win, explicit keys win."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.error(source, "yaml: map merge requires map or sequence of maps as the value")
            value = self.mapping(source, path, depth + 1)
            for key, item in value.items():
                merged.setdefault(key, item)


def _default_tag(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return _STR
    if isinstance(node, yaml.SequenceNode):
        return "tag:yaml.org,2002:seq"
    return "tag:yaml.org,2002:map"


def _key_text(key: Any) -> str:
    """Mapping keys are strings in compose; render typed keys as Go would."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def parse_yaml(text: str, filename: str) -> tuple[Any, LineIndex]:
    """Parse one YAML document; syntax errors name the file, line and column."""
    try:
        node = yaml.compose(text, Loader=_Loader12)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}, {exc.problem}"
        raise ComposeError(
            f"yaml: {problem}",
            file=filename,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"yaml: {exc}", file=filename) from None
    if node is None:
        return None, {}
    builder = _Builder(filename)
    return builder.build(node, ()), builder.lines


def read_yaml(path: Path, display: str) -> tuple[Any, LineIndex]:
    """Read and parse a compose file; `display` is how errors name it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError("no such file or directory", file=display) from None
    except OSError as exc:
        raise ComposeError(exc.strerror or str(exc), file=display) from None
    return parse_yaml(text, display)
