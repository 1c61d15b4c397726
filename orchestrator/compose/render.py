"""Render a project as `docker compose config` prints it (YAML or JSON).

The document is built from the models in their field order with Go's
`omitempty` rules (see models.py), then written by a small emitter that
imitates go-yaml v3 as compose configures it: two-space indent, sequences
indented under their key, strings that would read back as another type in
double quotes (`published: "8080"`), other strings needing quotes in single
quotes, multi-line strings as literal blocks.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel

from .models import Project, ServiceConfig, Ulimit
from .units import ByteSize, Duration, FileMode

Format = Literal["yaml", "json"]


def _value(value: Any, fmt: Format) -> Any:
    if isinstance(value, BaseModel):
        return model_document(value, fmt)
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, (ByteSize, FileMode)):
        return str(value)
    if isinstance(value, dict):
        return {k: _value(value[k], fmt) for k in sorted(value)}
    if isinstance(value, list):
        return [_value(v, fmt) for v in value]
    return value


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, BaseModel):
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    return False


def model_document(model: BaseModel, fmt: Format = "yaml") -> Any:
    """A model as plain data in compose's field order, omitting empty values."""
    if isinstance(model, Ulimit):
        if model.single:
            return model.single
        return {"soft": model.soft or 0, "hard": model.hard or 0}
    keep = getattr(model, "KEEP_ZERO", frozenset())
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if info.exclude:
            continue
        value = getattr(model, name)
        if value is None:
            if fmt == "json" and isinstance(model, ServiceConfig) and name in ("command", "entrypoint"):
                out[name] = None
            continue
        if name not in keep and _is_empty(value):
            continue
        out[name] = _value(value, fmt)
    if fmt == "yaml":
        for key in sorted(model.extensions):
            out[key] = model.extensions[key]
    return out


def project_document(project: Project, fmt: Format = "yaml") -> dict[str, Any]:
    """The whole project as `docker compose config` structures it."""
    doc: dict[str, Any] = {"name": project.name}
    doc["services"] = {name: model_document(project.services[name], fmt) for name in sorted(project.services)}
    for section in ("networks", "volumes", "secrets", "configs", "models"):
        items = getattr(project, section)
        if items:
            doc[section] = {name: model_document(items[name], fmt) for name in sorted(items)}
    if fmt == "yaml":
        for key in sorted(project.extensions):
            doc[key] = project.extensions[key]
    return doc


def render(project: Project, fmt: Format = "yaml") -> str:
    """The `orch config` output."""
    doc = project_document(project, fmt)
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return dump_yaml(doc)


# -- a go-yaml-like emitter ---------------------------------------------------------

_OLD_BOOLS = frozenset(
    "y Y yes Yes YES n N no No NO on On ON off Off OFF true True TRUE false False FALSE".split()
)
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_NUMBER_RE = re.compile(
    r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?0[xob][0-9a-fA-F_]+$"
    r"|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"
)
_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _needs_double(text: str) -> bool:
    """Strings that a YAML reader would take for another type are double-quoted."""
    return text in _NULLS or text in _OLD_BOOLS or bool(_NUMBER_RE.match(text)) or bool(_BASE60_RE.match(text))


def _plain_ok(text: str) -> bool:
    if text[0] in " \t" or text[-1] in " \t:":
        return False
    first = text[0]
    if first in _INDICATORS:
        if first in "-?:" and len(text) > 1 and text[1] not in " \t":
            pass
        else:
            return False
    if ": " in text or " #" in text or text.startswith(("---", "...")):
        return False
    return "\t" not in text and text.isprintable()


def _double(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    text = str(value)
    if _needs_double(text):
        return _double(text)
    if "\n" in text:
        return _double(text)
    if _plain_ok(text):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return _double(text)


def _literal_block(text: str, indent: int) -> list[str] | None:
    """Multi-line strings as `|-` blocks when that round-trips exactly."""
    if "\n" not in text or text.startswith((" ", "\n")) or any(
        not (c.isprintable() or c == "\n") for c in text
    ):
        return None
    body = text[:-1] if text.endswith("\n") else text
    if body.endswith("\n") or any(line.endswith(" ") for line in body.split("\n")):
        return None
    head = "|" if text.endswith("\n") else "|-"
    pad = " " * indent
    return [head] + [pad + line if line else "" for line in body.split("\n")]


@functools.lru_cache(maxsize=1024)
def _key(key: str) -> str:
    """Keys repeat in every service (``image``, ``environment``...): quote each spelling once."""
    return _scalar(key)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_entry(pad + _key(str(key)) + ":", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            _emit_item(item, indent, out)


def _emit_entry(prefix: str, item: Any, indent: int, out: list[str]) -> None:
    if isinstance(item, dict):
        if not item:
            out.append(prefix + " {}")
        else:
            out.append(prefix)
            _emit(item, indent + 2, out)
    elif isinstance(item, list):
        if not item:
            out.append(prefix + " []")
        else:
            out.append(prefix)
            _emit(item, indent + 2, out)
    else:
        block = _literal_block(item, indent + 2) if isinstance(item, str) else None
        if block:
            out.append(prefix + " " + block[0])
            out.extend(block[1:])
        else:
            out.append(prefix + " " + _scalar(item))


def _emit_item(item: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(item, dict) and item:
        first = True
        for key, value in item.items():
            prefix = (pad + "- " if first else pad + "  ") + _key(str(key)) + ":"
            _emit_entry(prefix, value, indent + 2, out)
            first = False
    elif isinstance(item, list) and item:
        out.append(pad + "-")
        _emit(item, indent + 2, out)
    else:
        _emit_entry(pad + "-", item, indent, out)


def dump_yaml(doc: Any) -> str:
    """Serialize plain data (dicts, lists, scalars) as compose prints YAML."""
    out: list[str] = []
    _emit(doc, 0, out)
    return "\n".join(out) + "\n"
