"""Column layout and the human-readable values shown in `orch` tables.

Output must line up byte for byte with Docker's so that scripts which cut columns keep working. Docker
writes every table through Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: cells end at tabs, a column
is as wide as its widest cell plus 3 (at least 10), and the text after a line's last tab is never padded.
`tabwrite` is that algorithm, including its "column blocks" (a line with fewer cells ends the block).

The human helpers are go-units' HumanDuration/HumanSize/BytesSize and Docker's container status line.
Nothing here knows about commands or the API; callers hand in rows and times.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.runtime.humanize import human_duration

MIN_WIDTH = 10
PADDING = 3


def tabwrite(text: str, minwidth: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align tab-separated cells exactly like Go's text/tabwriter with padchar ' ' and no flags."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if i + 1 < len(lines):
                out.append("\n")

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    return "".join(out)


def _plain_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_plain_cell(v) for v in value)
    return str(value)


def render_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    to_text: Callable[[Any], str] = _plain_cell,
) -> str:
    """Docker's default table: a header row, then one row per item; `columns` are (header, key) pairs.

    Missing keys and None render empty, lists join with ",". Every line ends with a newline.
    """
    lines = ["\t".join(header for header, _ in columns)]
    for row in rows:
        lines.append("\t".join(to_text(row.get(key)) for _, key in columns))
    return tabwrite("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- sizes


def _scaled(size: float, base: float, units: Sequence[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(value: float, precision: int) -> str:
    """Go's %.Ng: Python's %g picks the same notation, drops the same zeros and pads exponents alike."""
    return "%.*g" % (precision, value)


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision (decimal): 1234567 → "1.23MB"; Docker's `ps -s`/`images` use 3."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_ABBRS)
    return _go_g(value, precision) + unit


def bytes_size(size: float) -> str:
    """go-units BytesSize (binary, 4 significant digits): 1572864 → "1.5MiB", as in `docker stats`."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_ABBRS)
    return _go_g(value, 4) + unit


# --------------------------------------------------------------------------- durations and status


Timestamp = float | _dt.datetime | None


def _epoch(when: Timestamp) -> float | None:
    """Accept epoch seconds or datetimes (naive = UTC); 0 and None mean "never", like Go's zero time."""
    if when is None:
        return None
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        when = when.timestamp()
    return when if when > 0 else None


def _since(when: float, now: float | None) -> float:
    return max(0.0, (time.time() if now is None else now) - when)


def time_ago(when: Timestamp, now: float | None = None) -> str:
    """Docker's CREATED column: "2 minutes ago"; an unknown time renders empty."""
    epoch = _epoch(when)
    if epoch is None:
        return ""
    return human_duration(_since(epoch, now)) + " ago"


_HEALTH_TEXT = {"starting": "health: starting", "healthy": "healthy", "unhealthy": "unhealthy"}


def status_string(
    state: str,
    exit_code: int | None = 0,
    started: Timestamp = None,
    finished: Timestamp = None,
    *,
    health: str | None = None,
    now: float | None = None,
) -> str:
    """Docker's STATUS column from a container state: "Up 3 seconds (healthy)", "Exited (0) 2 minutes ago".

    state is one of created, running, paused, restarting, removing, exited, dead.
    """
    started_at, finished_at = _epoch(started), _epoch(finished)
    code = exit_code or 0
    if state in ("running", "paused", "restarting"):
        up = human_duration(_since(started_at, now)) if started_at is not None else "Less than a second"
        if state == "paused":
            return f"Up {up} (Paused)"
        if state == "restarting":
            ago = human_duration(_since(finished_at, now)) if finished_at is not None else "Less than a second"
            return f"Restarting ({code}) {ago} ago"
        if health in _HEALTH_TEXT:
            return f"Up {up} ({_HEALTH_TEXT[health]})"
        return f"Up {up}"
    if state == "removing":
        return "Removal In Progress"
    if state == "dead":
        return "Dead"
    if started_at is None:
        return "Created"
    if finished_at is None:
        return ""
    return f"Exited ({code}) {human_duration(_since(finished_at, now))} ago"
