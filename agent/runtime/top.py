"""`docker top`: the processes of a container as the host's `ps` shows them.

The host's `ps` runs with the user's options (default ``-ef``) and its rows are kept when their
PID is in the container's cgroup. A ``CPID`` column (the PID inside the container's own PID
namespace, from ``NSpid`` in /proc/PID/status) is inserted before the last column, which is
the command and may contain spaces.
"""

from __future__ import annotations

import subprocess

from agent.runtime.errors import InvalidArgument


def _ns_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return line.split()[-1]
    except OSError:
        pass
    return "-"


def top(pids: list[int], ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """Titles and rows for the processes ``pids`` (already known to be the container's)."""
    args = ps_args or ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        raise InvalidArgument("ps is not installed on this host") from None
    if out.returncode != 0:
        raise InvalidArgument(f"ps: {out.stderr.strip().splitlines()[0] if out.stderr.strip() else 'failed'}")
    lines = out.stdout.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument(f"Couldn't find PID field in ps output (ps {' '.join(args)})")
    pid_col = titles.index("PID")
    wanted = set(pids)
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= pid_col or not fields[pid_col].isdigit() or int(fields[pid_col]) not in wanted:
            continue
        fields.insert(len(fields) - 1, _ns_pid(int(fields[pid_col])))
        rows.append(fields)
    titles.insert(len(titles) - 1, "CPID")
    return titles, rows
