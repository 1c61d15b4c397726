"""Named and anonymous volumes of the `local` driver: a directory per volume on this node.

`<state>/volumes/<name>/_data` holds the data, `<name>/volume.json` the metadata. Whether a
volume is in use is the container engine's knowledge, so removal takes an ``in_use`` callback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.runtime.errors import Conflict, InvalidArgument, NotFound

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclass
class VolumeRecord:
    name: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    anonymous: bool = False
    mountpoint: str = ""


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _meta(self, name: str) -> Path:
        return self.root / name / "volume.json"

    def create(self, name: str, driver: str = "local", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, anonymous: bool = False) -> VolumeRecord:
        if driver not in ("", "local"):
            raise InvalidArgument(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        if not _NAME.match(name):
            raise InvalidArgument(
                f'create {name}: "{name}" includes invalid characters for a local volume name, '
                'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed')
        with self._lock:
            if self._meta(name).exists():
                return self.get(name)
            data = self.root / name / "_data"
            data.mkdir(parents=True, exist_ok=True)
            rec = VolumeRecord(name=name, labels=labels or {}, options=options or {},
                               created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               anonymous=anonymous, mountpoint=str(data))
            tmp = self._meta(name).with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(rec)))
            os.replace(tmp, self._meta(name))
            return rec

    def get(self, name: str) -> VolumeRecord:
        try:
            rec = VolumeRecord(**json.loads(self._meta(name).read_text()))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"get {name}: no such volume") from None
        rec.mountpoint = str(self.root / name / "_data")
        return rec

    def list(self) -> list[VolumeRecord]:
        out = []
        for d in sorted(self.root.iterdir()):
            if (d / "volume.json").exists():
                out.append(self.get(d.name))
        return out

    def remove(self, name: str, in_use: bool, force: bool = False) -> None:
        self.get(name)
        if in_use:
            raise Conflict(f"remove {name}: volume is in use")
        with self._lock:
            shutil.rmtree(self.root / name, ignore_errors=True)
