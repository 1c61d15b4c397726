"""Where a CLI command's start-up time goes: ``python -X importtime`` summarised.

``profile(argv, env)`` runs ``python -X importtime -m orchestrator.cli.main <argv>`` and returns the
top-level imports (those the CLI itself triggers, with their cumulative time) plus the total, so
the report can say which modules to import lazily. importtime adds its own overhead, so the
numbers are upper bounds; their ranking is what matters.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class ImportCost:
    module: str
    cumulative_ms: float
    self_ms: float


def parse(stderr: str) -> list[tuple[int, ImportCost]]:
    """(depth, cost) per line of importtime output, in the order Python printed them."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = _split(line)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        out.append((depth, ImportCost(name.strip(), int(cum_us) / 1000, int(self_us) / 1000)))
    return out


def _split(line: str) -> tuple[str, str, str]:
    """``import time:  self | cumulative | <indent>name`` -> (self, cumulative, indented name)."""
    head, cum, name = line.split("|", 2)
    return head.split(":", 1)[1].strip(), cum.strip(), name.rstrip("\n")[1:]


def profile(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, list[tuple[int, ImportCost]]]:
    """(wall ms of the whole command under importtime, the parsed importtime rows)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "orchestrator.cli.main", *argv],
                       env=env, cwd=cwd, capture_output=True, text=True)
    wall = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"orch {' '.join(argv)} failed: {p.stderr.strip().splitlines()[-1:]}")
    return wall, parse(p.stderr)


def top_level(rows: list[tuple[int, ImportCost]]) -> list[ImportCost]:
    """The imports the program itself triggered, by cumulative time; their sum is the import total."""
    return sorted((c for d, c in rows if d == 0), key=lambda c: c.cumulative_ms, reverse=True)


def children(stderr_rows: list[tuple[int, ImportCost]], module: str) -> list[ImportCost]:
    """Direct children of a module in an importtime listing (children are printed before their parent)."""
    for i, (depth, cost) in enumerate(stderr_rows):
        if cost.module == module:
            kids = []
            j = i - 1
            while j >= 0 and stderr_rows[j][0] > depth:
                if stderr_rows[j][0] == depth + 1:
                    kids.append(stderr_rows[j][1])
                j -= 1
            return sorted(kids, key=lambda c: c.cumulative_ms, reverse=True)
    return []
