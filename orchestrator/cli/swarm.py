"""What `orch service`, `orch node` and `orch cluster` share: the Control stub and task tables.

Task rows follow Docker's `service ps` / `node ps` (cli/command/task/print.go): tasks grouped by slot
(or node for global services), newest first, older ones indented with ` \\_ `; CURRENT STATE reads
"Running 5 seconds ago"; ERROR is quoted and cut to 30 characters unless `--no-trunc`.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Iterable
from typing import Any

from orchestrator.cli import client
from orchestrator.cli.errors import CliError
from orchestrator.cli.table import human_duration

MAX_ERR_LENGTH = 30
TASK_COLUMNS = [("ID", "ID"), ("NAME", "Name"), ("IMAGE", "Image"), ("NODE", "Node"),
                ("DESIRED STATE", "DesiredState"), ("CURRENT STATE", "CurrentState"), ("ERROR", "Error"),
                ("PORTS", "Ports")]


def control() -> Any:
    from proto.orch.v1 import control_pb2_grpc

    return control_pb2_grpc.ControlStub(client.channel())


def filters_pb(values: Iterable[str]) -> list[Any]:
    from orchestrator.cli.parse import FlagError, parse_filters
    from proto.orch.v1 import control_pb2 as pb

    try:
        parsed = parse_filters(values)
    except FlagError as e:
        raise CliError(str(e)) from None
    return [pb.ControlFilter(key=k, value=v) for k, vs in parsed.items() for v in vs]


def docs(reply: Any) -> list[dict[str, Any]]:
    return [json.loads(j) for j in reply.json]


def epoch(stamp: str) -> float:
    """Docker's RFC 3339 nanosecond time back to epoch seconds (0 for the zero time)."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    base, _, frac = stamp.rstrip("Z").partition(".")
    whole = _dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc).timestamp()
    return whole + (float("0." + frac) if frac else 0.0)


def pretty(word: str) -> str:
    return word[:1].upper() + word[1:]


def short_image(image: str) -> str:
    return image.split("@", 1)[0]


def task_rows(tasks: list[dict[str, Any]], no_trunc: bool = False, now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now

    def group(t: dict[str, Any]) -> tuple[str, int, str]:
        return (t.get("ServiceName", ""), int(t.get("Slot") or 0), t.get("NodeID", "") if not t.get("Slot") else "")

    ordered = sorted(tasks, key=lambda t: (group(t), -epoch(t.get("CreatedAt", ""))))
    rows = []
    prev: tuple[str, int, str] | None = None
    for t in ordered:
        g = group(t)
        name = f"{g[0]}.{g[1] if g[1] else t.get('NodeID', '')}"
        if no_trunc:
            name = f"{name}.{t['ID']}"
        shown = f" \\_ {name}" if g == prev else name
        prev = g
        status = t.get("Status") or {}
        err = status.get("Err", "")
        if err and not no_trunc and len(err) > MAX_ERR_LENGTH:
            err = err[: MAX_ERR_LENGTH - 1] + "…"
        since = max(0.0, now - epoch(status.get("Timestamp", "")))
        rows.append({
            "ID": t["ID"] if no_trunc else t["ID"][:12],
            "Name": shown,
            "Image": (t.get("Spec") or {}).get("ContainerSpec", {}).get("Image", "") if no_trunc
            else short_image((t.get("Spec") or {}).get("ContainerSpec", {}).get("Image", "")),
            "Node": t.get("NodeHostname", ""),
            "DesiredState": pretty(t.get("DesiredState", "")),
            "CurrentState": f"{pretty(status.get('State', ''))} {human_duration(since).lower()} ago",
            "Error": f'"{err}"' if err else "",
            "Ports": "",
        })
    return rows


def print_tasks(tasks: list[dict[str, Any]], args: Any) -> None:
    from orchestrator.cli.output import render

    rows = task_rows(tasks, no_trunc=getattr(args, "no_trunc", False))
    if getattr(args, "quiet", False):
        for r in rows:
            print(r["ID"])
        return
    render(rows, getattr(args, "format", None), TASK_COLUMNS)
