"""The Go text/template subset that Docker users write in `--format` and `inspect -f`.

People keep scripts like `docker ps --format '{{.ID}}\t{{.Names}}'` or
`docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}'`; `orch` accepts the same strings and prints the
same bytes. This is a small hand-written lexer, parser and tree-walking evaluator (no eval()) covering:

    text and {{actions}} with {{- / -}} trim markers and {{/* comments */}}
    fields .A.B, the dot, $ and $variables ($x := …, $x = …), parenthesised pipelines, a | b | c
    {{if}} {{else if}} {{else}} {{end}}, {{with}}, {{range}} (one or two variables, {{break}}, {{continue}})
    Go's builtins (and or not len index slice eq ne lt le gt ge print printf println) and Docker's
    (json split join title lower upper pad truncate)

Data is dicts keyed by Docker's field names, or objects (attributes, or methods called with arguments
like `{{.Label "k"}}`). Values print as Go prints them: `true`, `<nil>`, `[a b]`, `map[k:v]`, and
`<no value>` for a key missing from a map. Errors read like Go's, as a single line:
`template parsing error: template: :1: unclosed action`.

`format_output` is the whole `--format` flag: default table, `table …`, `json`, or a template per row.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.cli.table import render_table, tabwrite

__all__ = [
    "MISSING",
    "Template",
    "TemplateError",
    "format_output",
    "go_sprintf",
    "go_str",
    "render",
    "render_table",
    "to_json",
]


class TemplateError(ValueError):
    """A template that does not parse or fails while executing; `str()` is one line for the user."""


class _Missing:
    """A key absent from a map: Go's invalid reflect.Value, which prints as `<no value>`."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


# =========================================================================== Go value formatting


def _go_float(value: float) -> str:
    """fmt's %v for float64 (strconv 'g', shortest): exponent form when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    digits, exp = _shortest_digits(value)
    x = exp + len(digits) - 1  # decimal exponent of the first digit
    sign = "-" if value < 0 else ""
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    point = len(digits) + exp
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """repr() gives the shortest round-tripping digits; return them without trailing zeros and the exponent."""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    exp = int(exp_text) if exp_text else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exp -= len(frac)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return stripped or "0", exp


def go_str(value: Any) -> str:
    """How Go's fmt prints a value with %v."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return go_str(value.value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        items = _map_items(value)
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v)}" for k, v in items) + "]"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def _map_items(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Go visits map keys in sorted order (fmt and range both do)."""
    try:
        return sorted(value.items(), key=lambda kv: kv[0])
    except TypeError:
        return list(value.items())


def go_type_name(value: Any) -> str:
    """The Go type name used in messages like %!d(string=x)."""
    if value is None or value is MISSING:
        return "<nil>"
    names = {bool: "bool", int: "int", float: "float64", str: "string"}
    for typ, name in names.items():
        if type(value) is typ:
            return name
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def _truth(value: Any) -> bool:
    """Go template truthiness: zero values and empty containers are false; structs are always true."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, bytes, Mapping, list, tuple, set, frozenset)):
        return bool(value)
    return True


def _jsonable(value: Any) -> Any:
    """Convert data to what encoding/json would emit: objects as their fields, datetimes as RFC 3339."""
    if value is MISSING or value is None or isinstance(value, (bool, str)):
        return None if value is MISSING else value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, _dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _jsonable(dump(mode="json", by_alias=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "_asdict"):
        return _jsonable(value._asdict())
    if hasattr(value, "__dict__"):
        return {k: _jsonable(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def to_json(value: Any) -> str:
    """Docker's `json` template function: compact, no HTML escaping, no trailing newline."""
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """The common part of Go's fmt.Sprintf: %v %s %q %d %t %f %e %g %x %X %o %b %c %% with flags/width."""
    out: list[str] = []
    pos = 0
    next_arg = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if next_arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[next_arg]
        next_arg += 1
        prec = None if precision is None else int(precision or "0")
        text, numeric = _format_one(verb, arg, flags, prec)
        if width and len(text) < int(width):
            pad = int(width) - len(text)
            if "-" in flags:
                text += " " * pad
            elif "0" in flags and numeric:
                sign = text[0] if text[:1] in ("-", "+") else ""
                text = sign + "0" * pad + text[len(sign) :]
            else:
                text = " " * pad + text
        out.append(text)
    out.append(fmt[pos:])
    if next_arg < len(args):
        extra = ", ".join(f"{go_type_name(a)}={go_str(a)}" for a in args[next_arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, arg: Any, flags: str, prec: int | None) -> tuple[str, bool]:
    """One verb applied to one argument; returns the text and whether zero-padding applies."""
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    is_num = is_int or isinstance(arg, float)
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    if verb in "vs":
        text = go_str(arg)
        if prec is not None and (verb == "s" or isinstance(arg, str)):
            text = text[:prec]
        return text, is_num
    if verb == "q":
        if isinstance(arg, str):
            return _go_quote(arg), False
        if is_int:
            return "'" + chr(arg) + "'", False
    if verb == "t" and isinstance(arg, bool):
        return ("true" if arg else "false"), False
    if verb in "dboxXc" and is_int:
        if verb == "c":
            return chr(arg), False
        spec = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        prefix = "#" if "#" in flags and verb in "oxX" else ""
        return format(arg, f"{sign}{prefix}{spec}"), True
    if verb in "xX" and isinstance(arg, str):
        text = arg.encode().hex()
        return (text.upper() if verb == "X" else text), False
    if verb in "feEgG" and is_num:
        if verb in "gG" and prec is None:
            text = _go_float(float(arg))
            if sign and not text.startswith("-"):
                text = sign + text
            return (text.upper() if verb == "G" else text), True
        return format(float(arg), f"{sign}.{6 if prec is None else prec}{verb}"), True
    return f"%!{verb}({go_type_name(arg)}={go_str(arg)})", False


# =========================================================================== functions


class _Fn:
    """A template function with Go's arity check (`wrong number of args for join: want 2 got 1`)."""

    def __init__(self, impl: Callable[..., Any], min_args: int, max_args: int | None = None) -> None:
        self.impl = impl
        self.min_args = min_args
        self.max_args = min_args if max_args is None else max_args


def _fn_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (Mapping, list, tuple, set, frozenset, bytes)):
        return len(value)
    raise ValueError(f"len of type {go_type_name(value)}")


def _fn_index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if item is None or item is MISSING:
            raise ValueError("index of untyped nil")
        if isinstance(item, Mapping):
            if key in item:
                item = item[key]
            else:
                # map[string]string yields "" for a missing key, map[string]interface{} yields nil.
                all_text = all(isinstance(v, str) for v in item.values())
                item = "" if all_text else None
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"cannot index slice/array with type {go_type_name(key)}")
            if not 0 <= key < len(item):
                raise ValueError(f"index out of range: {key}")
            item = item[key]
        else:
            raise ValueError(f"can't index item of type {go_type_name(item)}")
    return item


def _fn_slice(item: Any, *bounds: Any) -> Any:
    if not isinstance(item, (str, list, tuple)):
        raise ValueError(f"can't slice item of type {go_type_name(item)}")
    if len(bounds) > 2:
        raise ValueError("too many slice indexes")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise ValueError(f"index out of range: {end if end > len(item) else start}")
    return item[start:end]


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b) or a is None or b is None


def _fn_eq(first: Any, *others: Any) -> bool:
    if not others:
        raise ValueError("missing argument for comparison")
    for other in others:
        if not _comparable(first, other):
            raise ValueError("incompatible types for comparison")
        if first == other:
            return True
    return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if not _comparable(a, b) or not isinstance(a, (int, float, str)) or isinstance(a, bool):
            raise ValueError("incompatible types for comparison")
        return op(a, b)

    return compare


def _fn_print(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(arg))
    return "".join(out)


def _fn_title(text: str) -> str:
    out: list[str] = []
    previous = " "
    for ch in str(text):
        out.append(ch.upper() if not (previous.isalnum() or previous == "_") else ch)
        previous = ch
    return "".join(out)


def _fn_split(text: Any, sep: Any) -> list[str]:
    text, sep = go_str(text), go_str(sep)
    return list(text) if sep == "" else text.split(sep)


def _fn_join(items: Any, sep: Any) -> str:
    if isinstance(items, str):
        return items
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"wrong type for value; expected []string; got {go_type_name(items)}")
    return go_str(sep).join(go_str(i) for i in items)


def _fn_truncate(text: Any, length: int) -> str:
    text = go_str(text)
    return text if len(text) < length else text[:length]


FUNCTIONS: dict[str, _Fn] = {
    "and": _Fn(lambda *a: a[-1], 1, 99),  # evaluated lazily by the executor
    "or": _Fn(lambda *a: a[-1], 1, 99),
    "not": _Fn(lambda v: not _truth(v), 1),
    "len": _Fn(_fn_len, 1),
    "index": _Fn(_fn_index, 1, 99),
    "slice": _Fn(_fn_slice, 1, 3),
    "eq": _Fn(_fn_eq, 1, 99),
    "ne": _Fn(lambda a, b: not _fn_eq(a, b), 2),
    "lt": _Fn(_ordered(lambda a, b: a < b), 2),
    "le": _Fn(_ordered(lambda a, b: a <= b), 2),
    "gt": _Fn(_ordered(lambda a, b: a > b), 2),
    "ge": _Fn(_ordered(lambda a, b: a >= b), 2),
    "print": _Fn(_fn_print, 0, 99),
    "println": _Fn(lambda *a: " ".join(go_str(x) for x in a) + "\n", 0, 99),
    "printf": _Fn(lambda f, *a: go_sprintf(go_str(f), a), 1, 99),
    "json": _Fn(to_json, 1),
    "split": _Fn(_fn_split, 2),
    "join": _Fn(_fn_join, 2),
    "title": _Fn(_fn_title, 1),
    "lower": _Fn(lambda s: go_str(s).lower(), 1),
    "upper": _Fn(lambda s: go_str(s).upper(), 1),
    "pad": _Fn(lambda s, pre, post: " " * pre + go_str(s) + " " * post, 3),
    "truncate": _Fn(_fn_truncate, 2),
}

# While rendering a table header Docker runs the same template over the header names, with its own
# functions replaced by ones that hand the header through unchanged.
_HEADER_PASSTHROUGH = frozenset({"json", "split", "join", "title", "lower", "upper", "pad", "truncate", "index"})


# =========================================================================== lexer

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)")
_SPACE = " \t\r\n"
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'"}


@dataclass
class _Tok:
    kind: str  # text left right field var dot ident keyword string number bool nil ( ) | := = ,
    value: Any
    pos: int
    space_before: bool = False
    end: int = 0


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[_Tok] = []

    def error(self, pos: int, message: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateError(f"template parsing error: template: :{line}: {message}")

    def run(self) -> list[_Tok]:
        text, i, trim_next = self.text, 0, False
        while i <= len(text):
            start = text.find("{{", i)
            chunk = text[i:] if start < 0 else text[i:start]
            if trim_next:
                chunk = chunk.lstrip(_SPACE)
            trim_left = start >= 0 and text[start + 2 : start + 3] == "-" and text[start + 3 : start + 4] in tuple(_SPACE)
            if trim_left:
                chunk = chunk.rstrip(_SPACE)
            if chunk:
                self.toks.append(_Tok("text", chunk, i))
            if start < 0:
                break
            i, trim_next = self._action(start, start + (4 if trim_left else 2))
        self.toks.append(_Tok("eof", None, len(text)))
        return self.toks

    def _close(self, i: int) -> tuple[int, bool] | None:
        """If a right delimiter starts at i (after optional space and -), return (end, trims)."""
        text = self.text
        if text.startswith("}}", i):
            return i + 2, False
        if text[i : i + 1] in tuple(_SPACE) and text.startswith("-}}", i + 1):
            return i + 4, True
        return None

    def _action(self, start: int, i: int) -> tuple[int, bool]:
        text = self.text
        j = i
        while j < len(text) and text[j] in _SPACE:
            j += 1
        if text.startswith("/*", j):
            end = text.find("*/", j + 2)
            if end < 0:
                raise self.error(start, "unclosed comment")
            k = end + 2
            closing = self._close(k) or (self._close(k + 1) if text[k : k + 1] in tuple(_SPACE) else None)
            if closing is None:
                raise self.error(start, "comment ends before closing delimiter")
            return closing
        self.toks.append(_Tok("left", None, start))
        depth = 0
        space = False
        while True:
            closing = self._close(i)
            if closing is not None:
                if depth > 0:
                    raise self.error(start, "unclosed left paren")
                self.toks.append(_Tok("right", None, i))
                return closing
            if i >= len(text):
                raise self.error(start, "unclosed action")
            ch = text[i]
            if ch in _SPACE:
                i += 1
                space = True
                continue
            tok, i = self._token(i, start)
            tok.space_before = space
            tok.end = i
            space = False
            if tok.kind == "(":
                depth += 1
            elif tok.kind == ")":
                depth -= 1
                if depth < 0:
                    raise self.error(tok.pos, f"unexpected right paren {text[tok.pos]!r}")
            self.toks.append(tok)

    def _token(self, i: int, start: int) -> tuple[_Tok, int]:
        text, ch = self.text, self.text[i]
        if ch == '"':
            return self._quoted(i, start)
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise self.error(start, "unterminated raw quoted string")
            return _Tok("string", text[i + 1 : end], i), end + 1
        if ch == "'":
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            if m is None:
                raise self.error(start, "unterminated character constant")
            body = m.group(1)
            return _Tok("number", ord(_ESCAPES.get(body[1], body[1]) if len(body) == 2 else body), i), i + m.end()
        if text.startswith(":=", i):
            return _Tok(":=", None, i), i + 2
        if ch in "=|(),":
            return _Tok(ch, None, i), i + 1
        if ch == "$":
            m = _IDENT.match(text, i + 1)
            name = "$" + (m.group(0) if m else "")
            j = m.end() if m else i + 1
            path, j = self._field_path(j)
            return _Tok("var", (name, path), i), j
        if ch == "." and not text[i + 1 : i + 2].isdigit():
            path, j = self._field_path(i)
            return (_Tok("field", path, i), j) if path else (_Tok("dot", None, i), i + 1)
        if ch.isdigit() or (ch in "+-." and i + 1 < len(text) and (text[i + 1].isdigit() or text[i + 1] == ".")):
            m = _NUMBER.match(text, i)
            if m is None:
                raise self.error(start, f"bad number syntax: {text[i:i + 2]!r}")
            return _Tok("number", _number(m.group(0), self, start), i), m.end()
        m = _IDENT.match(text, i)
        if m is not None:
            word = m.group(0)
            if word in ("true", "false"):
                return _Tok("bool", word == "true", i), m.end()
            if word == "nil":
                return _Tok("nil", None, i), m.end()
            return _Tok("keyword" if word in _KEYWORDS else "ident", word, i), m.end()
        raise self.error(start, f"unrecognized character in action: U+{ord(ch):04X} {ch!r}")

    def _field_path(self, i: int) -> tuple[list[str], int]:
        path: list[str] = []
        while self.text.startswith(".", i):
            m = _IDENT.match(self.text, i + 1)
            if m is None:
                break
            path.append(m.group(0))
            i = m.end()
        return path, i

    def _quoted(self, i: int, start: int) -> tuple[_Tok, int]:
        text = self.text
        out: list[str] = []
        j = i + 1
        while True:
            if j >= len(text) or text[j] == "\n":
                raise self.error(start, "unterminated quoted string")
            ch = text[j]
            if ch == '"':
                return _Tok("string", "".join(out), i), j + 1
            if ch != "\\":
                out.append(ch)
                j += 1
                continue
            esc = text[j + 1 : j + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                j += 2
            elif esc in ("x", "u", "U"):
                size = {"x": 2, "u": 4, "U": 8}[esc]
                digits = text[j + 2 : j + 2 + size]
                if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise self.error(start, "invalid syntax")
                out.append(chr(int(digits, 16)))
                j += 2 + size
            elif esc in tuple("01234567") and re.fullmatch(r"[0-7]{3}", text[j + 1 : j + 4]):
                out.append(chr(int(text[j + 1 : j + 4], 8)))
                j += 4
            else:
                raise self.error(start, "invalid syntax")


def _number(text: str, lexer: _Lexer, start: int) -> int | float:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", clean):
            return int(clean, 0) if clean.lstrip("+-").startswith(("0x", "0X")) else int(clean)
        return float(clean)
    except ValueError:
        raise lexer.error(start, f"bad number syntax: {text!r}") from None


# =========================================================================== parser

@dataclass
class _Node:
    pos: int
    src: str = ""


@dataclass
class _Field(_Node):
    path: list[str] = field(default_factory=list)


@dataclass
class _Var(_Node):
    name: str = "$"
    path: list[str] = field(default_factory=list)


@dataclass
class _Dot(_Node):
    pass


@dataclass
class _Literal(_Node):
    value: Any = None


@dataclass
class _Ident(_Node):
    name: str = ""


@dataclass
class _Chain(_Node):
    node: _Node | None = None
    path: list[str] = field(default_factory=list)


@dataclass
class _Command(_Node):
    args: list[_Node] = field(default_factory=list)


@dataclass
class _Pipe(_Node):
    decl: list[str] = field(default_factory=list)
    assign: bool = False
    cmds: list[_Command] = field(default_factory=list)


@dataclass
class _Text(_Node):
    text: str = ""


@dataclass
class _Action(_Node):
    pipe: _Pipe | None = None


@dataclass
class _Branch(_Node):
    kind: str = "if"  # if | with | range
    pipe: _Pipe | None = None
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


@dataclass
class _Loop(_Node):
    kind: str = "break"  # break | continue


class _Parser:
    def __init__(self, text: str, functions: Mapping[str, _Fn]) -> None:
        self.text = text
        self.lexer = _Lexer(text)
        self.toks = self.lexer.run()
        self.i = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    def error(self, tok: _Tok, message: str) -> TemplateError:
        return self.lexer.error(tok.pos, message)

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> list[_Node]:
        nodes, stop = self.parse_list()
        if stop is not None:
            raise self.error(stop, f"unexpected {{{{{stop.value}}}}}")
        return nodes

    def parse_list(self) -> tuple[list[_Node], _Tok | None]:
        """Parse until EOF or an {{end}}/{{else}}; return the nodes and the stopping keyword token."""
        nodes: list[_Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                return nodes, None
            if tok.kind == "text":
                nodes.append(_Text(tok.pos, text=tok.value))
                continue
            # tok is "left"
            head = self.peek()
            if head.kind == "keyword":
                if head.value in ("end", "else"):
                    self.next()
                    return nodes, head
                nodes.append(self.parse_keyword())
            else:
                pipe = self.parse_pipe(tok, "command", allow_decl=True)
                nodes.append(_Action(tok.pos, src=pipe.src, pipe=pipe))

    def expect_right(self, context: str) -> None:
        tok = self.next()
        if tok.kind != "right":
            raise self.error(tok, f"unexpected {self.describe(tok)} in {context}")

    def describe(self, tok: _Tok) -> str:
        """Go's item.String(): EOF, <keyword>, or the token's text quoted."""
        if tok.kind == "eof":
            return "EOF"
        if tok.kind == "keyword":
            return f"<{tok.value}>"
        text = "}}" if tok.kind == "right" else self.text[tok.pos : tok.end]
        return json.dumps(text) if len(text) <= 10 else json.dumps(text[:10]) + "..."

    def parse_keyword(self) -> _Node:
        tok = self.next()
        word = tok.value
        if word in ("break", "continue"):
            if self.range_depth == 0:
                raise self.error(tok, f"{{{{{word}}}}} outside {{{{range}}}}")
            self.expect_right(word)
            return _Loop(tok.pos, kind=word)
        if word in ("if", "with", "range"):
            return self.parse_branch(word, tok)
        raise self.error(tok, f'"{word}" is not supported in orch templates')

    def parse_branch(self, kind: str, tok: _Tok) -> _Branch:
        mark = len(self.vars)
        pipe = self.parse_pipe(tok, kind, allow_decl=True, range_vars=kind == "range")
        pipe_mark = len(self.vars)  # the pipeline's variables stay visible in the else branch
        if kind == "range":
            self.range_depth += 1
        body, stop = self.parse_list()
        if kind == "range":
            self.range_depth -= 1
        orelse: list[_Node] = []
        if stop is None:
            raise self.error(self.peek(-1), "unexpected EOF")
        if stop.value == "else":
            nxt = self.peek()
            if nxt.kind == "keyword" and nxt.value in ("if", "with") and kind != "range":
                # {{else if …}} is an {{if}} nested in the else branch that shares our {{end}}.
                self.next()
                del self.vars[pipe_mark:]
                orelse = [self.parse_branch(nxt.value, nxt)]
            else:
                self.expect_right("else")
                del self.vars[pipe_mark:]
                orelse, stop = self.parse_list()
                if stop is None:
                    raise self.error(self.peek(-1), "unexpected EOF")
                if stop.value != "end":
                    raise self.error(stop, "expected end; found {{else}}")
                self.expect_right("end")
        else:
            self.expect_right("end")
        del self.vars[mark:]
        return _Branch(tok.pos, src=pipe.src, kind=kind, pipe=pipe, body=body, orelse=orelse)

    def parse_pipe(self, left: _Tok, context: str, allow_decl: bool, range_vars: bool = False) -> _Pipe:
        start = self.peek().pos
        decl: list[str] = []
        assign = False
        if allow_decl and self.peek().kind == "var" and not self.peek().value[1]:
            # look ahead for `$x :=`, `$x =`, or `$k, $v :=`
            names = [self.peek().value[0]]
            j = 1
            if range_vars and self.peek(1).kind == "," and self.peek(2).kind == "var":
                names.append(self.peek(2).value[0])
                j = 3
            op = self.peek(j)
            if op.kind in (":=", "=") and (len(names) == 1 or op.kind == ":="):
                self.i += j + 1
                decl, assign = names, op.kind == "="
                if assign and names[0] not in self.vars:
                    raise self.error(op, f'undefined variable "{names[0]}"')
        cmds: list[_Command] = []
        while True:
            cmd = self.parse_command(context)
            cmds.append(cmd)
            tok = self.peek()
            if tok.kind == "|":
                self.next()
                continue
            if tok.kind in ("right", ")"):
                break
            raise self.error(tok, f"unexpected {self.describe(tok)} in {context}")
        end = self.peek().pos
        for k, cmd in enumerate(cmds[1:], start=2):
            if not isinstance(cmd.args[0], (_Ident, _Field, _Var, _Chain)) or (
                isinstance(cmd.args[0], _Var) and not cmd.args[0].path
            ):
                raise self.error(left, f"non executable command in pipeline stage {k}")
        if context != "(":
            self.expect_right(context)
        if not assign:
            self.vars.extend(decl)
        return _Pipe(start, src=self.text[start:end].strip(), decl=decl, assign=assign, cmds=cmds)

    def parse_command(self, context: str) -> _Command:
        start = self.peek().pos
        args: list[_Node] = []
        while True:
            tok = self.peek()
            if tok.kind in ("right", "|", ")", "eof"):
                break
            if args and not tok.space_before:
                raise self.error(tok, f"unexpected {self.describe(tok)} in operand")
            args.append(self.parse_operand())
        if not args:
            missing = "command" if context in ("command", "(") else context
            raise self.error(self.peek(), f"missing value for {missing}")
        end = self.peek().pos
        return _Command(start, src=self.text[start:end].strip(), args=args)

    def parse_operand(self) -> _Node:
        tok = self.next()
        end = self.peek().pos
        src = self.text[tok.pos:end].strip()
        node: _Node
        if tok.kind == "field":
            node = _Field(tok.pos, src=src, path=tok.value)
        elif tok.kind == "var":
            name, path = tok.value
            if name not in self.vars:
                raise self.error(tok, f'undefined variable "{name}"')
            node = _Var(tok.pos, src=src, name=name, path=path)
        elif tok.kind == "dot":
            node = _Dot(tok.pos, src=".")
        elif tok.kind in ("string", "number", "bool", "nil"):
            node = _Literal(tok.pos, src=src, value=tok.value)
        elif tok.kind == "ident":
            if tok.value not in self.functions:
                raise self.error(tok, f'function "{tok.value}" not defined')
            node = _Ident(tok.pos, src=tok.value, name=tok.value)
        elif tok.kind == "(":
            inner = self.parse_pipe(tok, "(", allow_decl=True)
            close = self.next()
            if close.kind != ")":
                raise self.error(close, "unclosed left paren")
            node = inner
            node.src = self.text[tok.pos : close.pos + 1]
        else:
            raise self.error(tok, f"unexpected {self.describe(tok)} in operand")
        nxt = self.peek()
        if nxt.kind == "field" and not nxt.space_before:
            if isinstance(node, (_Literal, _Ident)) or (isinstance(node, _Literal) and node.value is None):
                raise self.error(nxt, f"unexpected . after term {src!r}")
            self.next()
            node = _Chain(tok.pos, src=self.text[tok.pos : self.peek().pos].strip(), node=node, path=nxt.value)
        return node


# =========================================================================== executor


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _HeaderNames:
    """The data a table header is rendered from: any field names the column's header."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def header(self, name: str) -> str:
        return self.headers.get(name) or default_header(name)

    def __str__(self) -> str:  # `{{.}}` or `{{json .}}` in a table header names no column
        return ""


def default_header(field_name: str) -> str:
    """Docker's header convention for fields without an explicit header: `RunningFor` → `RUNNING FOR`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field_name).upper()


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class _Exec:
    def __init__(self, template: Template, data: Any, header: bool) -> None:
        self.template = template
        self.header = header
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []

    def error(self, node: _Node, message: str) -> TemplateError:
        text = self.template.text
        line = text.count("\n", 0, node.pos) + 1
        col = node.pos - (text.rfind("\n", 0, node.pos) + 1)
        return TemplateError(f'template: :{line}:{col}: executing "" at <{node.src}>: {message}')

    # ---- walking

    def walk(self, nodes: list[_Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                assert node.pipe is not None
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(go_str(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot)
            elif isinstance(node, _Loop):
                raise _Break() if node.kind == "break" else _Continue()

    def branch(self, node: _Branch, dot: Any) -> None:
        mark = len(self.vars)
        assert node.pipe is not None
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot, declare=node.kind != "range")
            if self.header or _truth(value):
                self.walk(node.body, value if node.kind == "with" else dot)
            else:
                self.walk(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Branch, dot: Any) -> None:
        assert node.pipe is not None
        value = self.pipe(node.pipe, dot, declare=False)
        items: Iterator[tuple[Any, Any]]
        if self.header or value is None or value is MISSING:
            items = iter([(0, value)] if self.header else [])
        elif isinstance(value, Mapping):
            items = iter(_map_items(value))
        elif isinstance(value, (list, tuple)):
            items = iter(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = iter((i, i) for i in range(value))
        else:
            raise self.error(node.pipe, f"range can't iterate over {go_str(value)}")
        mark = len(self.vars)
        ran = False
        for key, element in items:
            ran = True
            del self.vars[mark:]
            decl = node.pipe.decl
            if len(decl) == 1:
                self.vars.append((decl[0], element))
            elif len(decl) == 2:
                self.vars.extend([(decl[0], key), (decl[1], element)])
            try:
                self.walk(node.body, element)
            except _Continue:
                continue
            except _Break:
                break
        del self.vars[mark:]
        if not ran:
            self.walk(node.orelse, dot)

    # ---- pipelines

    def pipe(self, pipe: _Pipe, dot: Any, declare: bool = True) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        if pipe.assign:
            name = pipe.decl[0]
            for i in range(len(self.vars) - 1, -1, -1):
                if self.vars[i][0] == name:
                    self.vars[i] = (name, value)
                    break
        elif declare and pipe.decl:
            self.vars.append((pipe.decl[0], value))
        return value

    def command(self, cmd: _Command, dot: Any, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Ident):
            return self.call(first, cmd.args[1:], dot, final, cmd)
        if isinstance(first, _Field):
            return self.field_chain(dot, first.path, cmd.args[1:], dot, final, first)
        if isinstance(first, _Chain):
            assert first.node is not None
            receiver = self.arg(first.node, dot)
            return self.field_chain(receiver, first.path, cmd.args[1:], dot, final, first)
        if isinstance(first, _Var) and first.path:
            return self.field_chain(self.lookup(first.name), first.path, cmd.args[1:], dot, final, first)
        if len(cmd.args) > 1 or final is not _NO_FINAL:
            raise self.error(first, f"can't give argument to non-function {first.src}")
        return self.arg(first, dot)

    def arg(self, node: _Node, dot: Any) -> Any:
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return self.field_chain(dot, node.path, [], dot, _NO_FINAL, node)
        if isinstance(node, _Var):
            value = self.lookup(node.name)
            return self.field_chain(value, node.path, [], dot, _NO_FINAL, node) if node.path else value
        if isinstance(node, _Chain):
            assert node.node is not None
            return self.field_chain(self.arg(node.node, dot), node.path, [], dot, _NO_FINAL, node)
        if isinstance(node, _Pipe):
            return self.pipe(node, dot)
        if isinstance(node, _Ident):
            return self.call(node, [], dot, _NO_FINAL, node)
        raise self.error(node, "can't evaluate node")  # pragma: no cover - parser makes no other nodes

    def lookup(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        return MISSING  # pragma: no cover - the parser rejects undefined variables

    def call(self, ident: _Ident, arg_nodes: list[_Node], dot: Any, final: Any, where: _Node) -> Any:
        fn = FUNCTIONS[ident.name]
        count = len(arg_nodes) + (final is not _NO_FINAL)
        if count < fn.min_args or count > fn.max_args:
            want = str(fn.min_args) if fn.min_args == fn.max_args else f"at least {fn.min_args}"
            raise self.error(where, f"wrong number of args for {ident.name}: want {want} got {count}")
        if ident.name in ("and", "or"):
            value: Any = None
            for node in arg_nodes:
                value = self.arg(node, dot)
                if _truth(value) != (ident.name == "and"):
                    return value
            return final if final is not _NO_FINAL else value
        args = [self.arg(n, dot) for n in arg_nodes]
        if final is not _NO_FINAL:
            args.append(final)
        if self.header and ident.name in _HEADER_PASSTHROUGH:
            return args[0]
        try:
            return fn.impl(*args)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise self.error(where, f"error calling {ident.name}: {exc}") from None

    def field_chain(
        self, receiver: Any, path: list[str], arg_nodes: list[_Node], dot: Any, final: Any, where: _Node
    ) -> Any:
        if isinstance(receiver, _HeaderNames):
            return receiver.header(path[0])
        if self.header:  # a field of a header string (inside with/range): name its column anyway
            return default_header(path[-1])
        for name in path[:-1]:
            receiver = self.field(receiver, name, [], where)
        args = [self.arg(n, dot) for n in arg_nodes]
        if final is not _NO_FINAL:
            args.append(final)
        return self.field(receiver, path[-1], args, where)

    def field(self, receiver: Any, name: str, args: list[Any], where: _Node) -> Any:
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.error(where, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            if name in receiver:
                value = receiver[name]
            else:
                # Methods count only when a Mapping subclass defines them (not dict.items and friends).
                method = getattr(type(receiver), name, None)
                if method is None or name.startswith("_") or hasattr(dict, name) or hasattr(Mapping, name):
                    if args:
                        raise self.error(where, f"{name} is not a method but has arguments")
                    return MISSING
                value = getattr(receiver, name)
        elif name.startswith("_") or isinstance(receiver, (str, int, float, bytes, list, tuple, set)):
            raise self.error(where, f"can't evaluate field {name} in type {go_type_name(receiver)}")
        else:
            value = getattr(receiver, name, MISSING)
            if value is MISSING:
                value = getattr(receiver, _snake(name), MISSING)
            if value is MISSING:
                raise self.error(where, f"can't evaluate field {name} in type {go_type_name(receiver)}")
        if callable(value) and not isinstance(value, type):
            try:
                return value(*args)
            except TemplateError:
                raise
            except Exception as exc:  # a method of the data failed: report it like Go's call error
                raise self.error(where, f"error calling {name}: {exc}") from None
        if args:
            raise self.error(where, f"{name} is not a method but has arguments")
        return value


_NO_FINAL: Any = object()


# =========================================================================== public API


class Template:
    """A parsed template; `execute(data)` renders it, `header(names)` renders its table header row."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = _Parser(text, FUNCTIONS).parse()

    def execute(self, data: Any) -> str:
        run = _Exec(self, data, header=False)
        try:
            run.walk(self.nodes, data)
        except (_Break, _Continue):  # pragma: no cover - the parser only allows them inside range
            pass
        except RecursionError:
            raise TemplateError("template: :1: exceeded maximum template depth") from None
        return "".join(run.out)

    def header(self, headers: Mapping[str, str]) -> str:
        names = _HeaderNames(headers)
        run = _Exec(self, names, header=True)
        run.walk(self.nodes, names)
        return "".join(run.out)


def render(text: str, data: Any) -> str:
    """Parse and execute in one go (`inspect -f`)."""
    return Template(text).execute(data)


def prepare_format(fmt: str) -> tuple[bool, str]:
    """Docker's preFormat: strip a `table` prefix, trim spaces, turn literal `\\t`/`\\n` into tab/newline."""
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, body


def format_output(
    rows: Sequence[Any],
    fmt: str | None,
    default_columns: Sequence[str],
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render `rows` the way `docker <cmd> ls --format FMT` does; the result ends with a newline per row.

    fmt None/""/"table" → the default columns as a table; "table TEMPLATE" → header + aligned rows;
    "json" → one compact JSON object per row; anything else → the template once per row.
    """
    headers = headers or {}
    if fmt is None or fmt.strip() in ("", "table"):
        columns = [(headers.get(key) or default_header(key), key) for key in default_columns]
        return render_table([_row_mapping(r) for r in rows], columns)
    if fmt.strip() == "json":
        return "".join(to_json(row) + "\n" for row in rows)
    is_table, body = prepare_format(fmt)
    template = Template(body)
    lines = [template.execute(row) + "\n" for row in rows]
    if not is_table:
        return "".join(lines)
    return tabwrite(template.header(headers) + "\n" + "".join(lines))


def _row_mapping(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    return _RowView(row)


class _RowView(Mapping[str, Any]):
    """Lets render_table read attribute-style rows by their Docker field names."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getitem__(self, key: str) -> Any:
        for name in (key, _snake(key)):
            if hasattr(self.obj, name):
                value = getattr(self.obj, name)
                return value() if callable(value) else value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(k for k in dir(self.obj) if not k.startswith("_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)
