"""Rendering list rows and inspect documents, with Docker's `--format` semantics.

Rows are dicts keyed by Docker's field names; keys starting with `_` are private to the CLI
(filters) and never shown. Templates are evaluated by `template.py` (a Go text/template subset).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from orchestrator.cli.errors import CliError


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def render(rows: list[dict[str, Any]], fmt: str | None, columns: list[tuple[str, str]]) -> None:
    from orchestrator.cli import template

    headers = {key: header for header, key in columns}
    try:
        text = template.format_output([_public(r) for r in rows], fmt, [k for _, k in columns], headers)
    except template.TemplateError as e:
        raise CliError(str(e)) from None
    sys.stdout.write(text)


def render_inspect(docs: list[Any], fmt: str | None) -> None:
    if not fmt:
        print(json.dumps(docs, indent=4))
        return
    from orchestrator.cli import template

    try:
        _, body = template.prepare_format(fmt)
        t = template.Template(body)
        for d in docs:
            sys.stdout.write(t.execute(d) + "\n")
    except template.TemplateError as e:
        raise CliError(str(e)) from None
