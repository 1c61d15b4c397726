"""Resolve `--user` against the image's own /etc/passwd and /etc/group, as Docker does.

`name`, `uid`, `name:group`, `uid:gid` are accepted. A numeric uid absent from passwd is allowed
(gid 0); a name absent from passwd is an error. Supplementary groups are every group in
/etc/group that lists the user by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class UserError(ValueError):
    pass


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    groups: list[int] = field(default_factory=list)
    home: str = "/"
    name: str = ""


def _read(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [ln.rstrip("\n").split(":") for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError:
        return []


def resolve_user(rootfs: str, spec: str) -> ExecUser:
    passwd = [r for r in _read(os.path.join(rootfs, "etc/passwd")) if len(r) >= 7]
    groups = [r for r in _read(os.path.join(rootfs, "etc/group")) if len(r) >= 3]
    user_part, _, group_part = (spec or "0").partition(":")
    entry = None
    for r in passwd:
        if r[0] == user_part or (user_part.isdigit() and r[2] == user_part):
            entry = r
            break
    if entry is None:
        if not user_part.isdigit():
            raise UserError(f"unable to find user {user_part}: no matching entries in passwd file")
        uid, gid, home, name = int(user_part), 0, "/", ""
    else:
        uid, gid, home, name = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
    if group_part:
        match = [g for g in groups if g[0] == group_part or (group_part.isdigit() and g[2] == group_part)]
        if match:
            gid = int(match[0][2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise UserError(f"unable to find group {group_part}: no matching entries in group file")
    extra = sorted({int(g[2]) for g in groups if name and len(g) >= 4 and name in g[3].split(",")} - {gid})
    return ExecUser(uid=uid, gid=gid, groups=[gid, *extra] if not group_part or extra else [gid],
                    home=home, name=name)
