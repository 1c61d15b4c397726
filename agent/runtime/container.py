"""A container's persistent record: what was asked (config), what happens (state).

One JSON file per container (`<state>/containers/<id>/container.json`), rewritten atomically on
every state change, so a restarted daemon can re-adopt what runs. The spawner writes a separate
`exit.json` when the process ends; the record's ``pid`` tells whether that exit belongs to the
current run.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MountPoint:
    type: str  # bind | volume | tmpfs
    source: str  # host path (bind/volume data dir) or "" for tmpfs
    destination: str
    read_only: bool = False
    name: str = ""  # volume name
    anonymous: bool = False
    tmpfs_options: str = ""


@dataclass
class State:
    status: str = "created"  # created | running | paused | restarting | exited | dead | removing
    pid: int = 0
    pid_start: int = 0  # /proc/<pid>/stat starttime: guards against pid reuse
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    started_mono: float = 0.0


@dataclass
class Container:
    id: str
    name: str
    created: float
    image: str  # as the user wrote it
    image_id: str
    path: str  # argv[0] after entrypoint/cmd resolution
    args: list[str]
    config: dict[str, Any]  # env, cmd, entrypoint, workdir, user, hostname, labels, tty, open_stdin, ...
    host_config: dict[str, Any]  # resources, ulimits, restart_policy, network_mode, log_opts, ...
    mounts: list[MountPoint] = field(default_factory=list)
    state: State = field(default_factory=State)
    restart_count: int = 0
    restart_backoff: int = 0  # consecutive quick restarts: the delay doubles from 100 ms up to 1 min
    manually_stopped: bool = False
    has_been_started: bool = False

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state.status in ("running", "paused")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Container:
        d = dict(d)
        d["mounts"] = [MountPoint(**m) for m in d.get("mounts", [])]
        d["state"] = State(**d.get("state", {}))
        return cls(**d)


def save(cdir: Path, c: Container) -> None:
    tmp = cdir / "container.json.tmp"
    with open(tmp, "w") as f:
        f.write(c.to_json())
    os.replace(tmp, cdir / "container.json")


def load(cdir: Path) -> Container | None:
    try:
        return Container.from_dict(json.loads((cdir / "container.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def new_id() -> str:
    return secrets.token_hex(32)


_LEFT = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "blissful", "bold",
    "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "confident", "cool",
    "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic",
    "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused",
    "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore",
    "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly",
    "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "naughty",
    "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
    "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic", "sad", "serene",
    "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender",
    "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly",
    "wonderful", "xenodochial", "youthful", "zealous", "zen",
)
_RIGHT = (
    "agnesi", "albattani", "allen", "archimedes", "ardinghelli", "aryabhata", "babbage", "banach",
    "bardeen", "bartik", "bell", "benz", "bhabha", "blackwell", "bohr", "booth", "borg", "bose", "brahmagupta",
    "brattain", "brown", "carson", "cerf", "chandrasekhar", "chaum", "clarke", "colden", "cori", "curie",
    "darwin", "davinci", "diffie", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "einstein",
    "elbakyan", "elgamal", "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman",
    "franklin", "galileo", "gates", "goldberg", "goldstine", "goodall", "gould", "hamilton", "hawking",
    "heisenberg", "hellman", "hermann", "hodgkin", "hopper", "hypatia", "jackson", "jang", "jennings",
    "jepsen", "johnson", "joliot", "kalam", "keller", "kepler", "khorana", "kilby", "knuth", "lalande",
    "lamarr", "lamport", "leakey", "leavitt", "lederberg", "liskov", "lovelace", "lumiere", "mahavira",
    "margulis", "mayer", "mccarthy", "mcclintock", "meitner", "merkle", "mestorf", "mirzakhani", "moore",
    "morse", "napier", "nash", "neumann", "newton", "nobel", "noether", "noyce", "pare", "pascal",
    "pasteur", "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind",
    "sammet", "shannon", "shockley", "sinoussi", "snyder", "stonebraker", "swanson", "tesla", "thompson",
    "torvalds", "turing", "varahamihira", "visvesvaraya", "volhard", "wescoff", "wiles", "williams",
    "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def random_name() -> str:
    return f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"
