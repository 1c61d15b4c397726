"""`orch stats`: CPU, memory and PIDs of containers, read from their cgroups by the daemon.

Rows carry Docker's `--format` fields: Container (the name or id as the user gave it; the short id when
listing every container), Name, ID, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from orchestrator.cli import output
from proto.orch.v1 import engine_pb2 as pb

COLUMNS = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
           ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]


def _bin(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}B"


def _dec(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}B"


def _row(cur: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
    if not cur.get("running"):
        return {"ID": cur["id"][:12], "Name": cur["name"], "CPUPerc": "0.00%", "MemUsage": "0B / 0B",
                "MemPerc": "0.00%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B", "PIDs": "0"}
    cpu = 0.0
    if prev and prev.get("running"):
        dc = cur["cpu_usage_ns"] - prev["cpu_usage_ns"]
        ds = cur["system_cpu_ns"] - prev["system_cpu_ns"]
        if dc > 0 and ds > 0:
            cpu = dc / ds * cur.get("online_cpus", 1) * 100
    usage = cur["memory_usage"] - cur.get("memory_inactive_file", 0)
    limit = cur["memory_limit"] or 1
    return {"ID": cur["id"][:12], "Name": cur["name"], "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{_bin(usage)} / {_bin(limit)}", "MemPerc": f"{usage / limit * 100:.2f}%",
            "NetIO": f"{_dec(cur.get('net_rx_bytes', 0))} / {_dec(cur.get('net_tx_bytes', 0))}", "BlockIO": f"{_dec(cur.get('blkio_read_bytes', 0))} / "
            f"{_dec(cur.get('blkio_write_bytes', 0))}", "PIDs": str(cur.get("pids_current", 0))}


def run_stats(stub: Any, args: argparse.Namespace) -> int:
    ids = args.containers
    if not ids:
        ids = [c.id[:12] for c in stub.ContainerList(pb.ContainerListRequest(all=args.all)).containers]
    prev: dict[str, dict[str, Any]] = {}

    def sample() -> dict[str, dict[str, Any]]:
        return {i: json.loads(next(iter(stub.ContainerStats(pb.StatsRequest(id=i, stream=False)))).json) for i in ids}

    prev = sample()
    time.sleep(0.5)
    while True:
        cur = sample()
        rows = [{"Container": i, **_row(cur[i], prev.get(i))} for i in ids]
        if not args.no_stream and sys.stdout.isatty():
            sys.stdout.write("\x1b[2J\x1b[H")
        output.render(rows, args.format, COLUMNS)
        sys.stdout.flush()
        if args.no_stream:
            return 0
        prev = cur
        time.sleep(1.0)
