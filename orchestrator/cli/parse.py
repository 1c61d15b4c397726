"""Docker-compatible parsing of CLI flag values into typed values.

Scripts written for `docker run`/`docker service create` should work against `orch` unchanged, so every
function here follows the Docker CLI's grammar for one kind of flag value and, when the value is wrong,
raises `FlagError` carrying Docker's one-line wording. The CLI prints `orch: <error>` and exits 125.

What this module does not do: it does not look at the daemon, the store or the filesystem (except reading
an env/label file that the user named); semantic checks that need cluster state happen in the API.

Two shapes of error exist because Docker has two: values checked while flags are parsed read
`invalid argument "VALUE" for "FLAG" flag: REASON`; values checked afterwards (ports, volumes, restart
policy, env files, scale arguments) read just `REASON`. `FlagError.bare` selects the second shape.
"""

from __future__ import annotations

import math
import os
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from ipaddress import ip_address
from typing import NamedTuple


class FlagError(ValueError):
    """A flag value the user gave is malformed; `str()` is the one line to print."""

    def __init__(self, flag: str, value: str, reason: str, *, bare: bool = False) -> None:
        super().__init__(reason)
        self.flag = flag
        self.value = value
        self.reason = reason
        self.bare = bare

    def __str__(self) -> str:
        if self.bare or not self.flag:
            return self.reason
        return f'invalid argument "{self.value}" for "{self.flag}" flag: {self.reason}'


# --------------------------------------------------------------------------- sizes, cpus, durations

_BINARY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL_UNITS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
# Go's strconv.ParseFloat for the decimal forms people type ("1", "1.5", ".5", "1e3").
_GO_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT64_MAX = (1 << 63) - 1


def _parse_size(value: str, units: Mapping[str, int]) -> int:
    """go-units parseSize: a number, an optional space, then b | <unit>[b|ib], case-insensitive."""
    sep = max(value.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{value}'")
    if value[sep] == " ":
        num, suffix = value[:sep], value[sep + 1 :]
    else:
        num, suffix = value[: sep + 1], value[sep + 1 :]
    if not _GO_FLOAT.fullmatch(num):
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax')
    size = float(num)
    if size < 0:
        raise ValueError(f"invalid size: '{value}'")
    if suffix:
        sfx = suffix.lower()
        bad = ValueError(f"invalid suffix: '{suffix}'")
        if len(sfx) > 3:
            raise bad
        if sfx[0] == "b":
            if len(sfx) > 1:
                raise bad
        elif sfx[0] in units:
            if (len(sfx) == 2 and sfx[1] != "b") or (len(sfx) == 3 and sfx[1:] != "ib"):
                raise bad
            size *= units[sfx[0]]
        else:
            raise bad
    if not math.isfinite(size) or size > _INT64_MAX:
        raise ValueError(f"invalid size: '{value}'")
    return int(size)


def parse_bytes(value: str, flag: str = "-m, --memory") -> int:
    """Docker's RAMInBytes: binary units (k = 1024), "512m", "1.5g", "100KiB", "1024"."""
    try:
        return _parse_size(value, _BINARY_UNITS)
    except ValueError as exc:
        raise FlagError(flag, value, str(exc)) from None


def parse_human_size(value: str, flag: str) -> int:
    """Docker's FromHumanSize: decimal units (k = 1000); what json-file's `max-size` uses."""
    try:
        return _parse_size(value, _DECIMAL_UNITS)
    except ValueError as exc:
        raise FlagError(flag, value, str(exc)) from None


def parse_cpus(value: str, flag: str = "--cpus") -> int:
    """`--cpus 1.5` → nano-CPUs (1_500_000_000), exact like Docker's big.Rat arithmetic."""
    try:
        cpus = Fraction(value.strip())
    except (ValueError, ZeroDivisionError):
        raise FlagError(flag, value, f"failed to parse {value} as a rational number") from None
    if cpus < 0:
        raise FlagError(flag, value, "cpus must not be negative")
    nano = cpus * 1_000_000_000
    if nano.denominator != 1:
        raise FlagError(flag, value, "value is too precise")
    return int(nano)


_DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def _go_duration_ns(value: str) -> int:
    """Go's time.ParseDuration, returning nanoseconds; errors carry Go's wording."""
    invalid = ValueError(f'time: invalid duration "{value}"')
    s = value
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = Fraction(0)
    while s:
        m = re.match(r"(\d*)(?:\.(\d*))?", s)
        assert m is not None
        whole, frac = m.group(1), m.group(2)
        if not whole and not frac:
            raise invalid
        s = s[m.end() :]
        unit_match = re.match(r"[^0-9.]+", s)
        if unit_match is None:
            raise ValueError(f'time: missing unit in duration "{value}"')
        unit = unit_match.group(0)
        s = s[unit_match.end() :]
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{value}"')
        number = Fraction(int(whole or "0"))
        if frac:
            number += Fraction(int(frac), 10 ** len(frac))
        total += number * _DURATION_UNITS[unit]
    if total > _INT64_MAX:
        raise invalid
    ns = int(total)
    return -ns if negative else ns


def parse_duration(value: str, flag: str = "--health-interval", *, allow_negative: bool = False) -> float:
    """Go duration ("1m30s", "1.5h", "500ms") → seconds; negative durations only where they mean something."""
    try:
        ns = _go_duration_ns(value)
    except ValueError as exc:
        raise FlagError(flag, value, str(exc)) from None
    if ns < 0 and not allow_negative:
        raise FlagError(flag, value, "duration must not be negative")
    return ns / 1_000_000_000


_RT_SIGNAL = re.compile(r"RTM(IN|AX)([+-]\d+)?")


def _signal_by_name(name: str) -> int | None:
    member = signal.Signals.__members__.get("SIG" + name)
    if member is not None:
        return int(member)
    m = _RT_SIGNAL.fullmatch(name)
    if m is None:
        return None
    base = int(signal.SIGRTMIN if m.group(1) == "IN" else signal.SIGRTMAX)
    number = base + int(m.group(2) or "0")
    return number if signal.SIGRTMIN <= number <= signal.SIGRTMAX else None


def parse_signal(value: str, flag: str = "--stop-signal") -> int:
    """"SIGTERM", "term", "15", "RTMIN+3" → signal number, like moby's signal.ParseSignal."""
    number: int | None
    if re.fullmatch(r"[+-]?\d+", value):
        number = int(value)
        if not 1 <= number <= int(signal.SIGRTMAX):
            number = None
    else:
        name = value.upper()
        name = name[3:] if name.startswith("SIG") else name
        number = _signal_by_name(name)
    if number is None:
        raise FlagError(flag, value, f"invalid signal: {value}")
    return number


# --------------------------------------------------------------------------- ulimits, restart, user

ULIMIT_NAMES = frozenset(
    "core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack".split()
)


class Ulimit(NamedTuple):
    name: str
    soft: int
    hard: int


def _go_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text)


def parse_ulimit(value: str, flag: str = "--ulimit") -> Ulimit:
    """"nofile=1024:2048" → Ulimit("nofile", 1024, 2048); a single number sets both; -1 is unlimited."""
    name, sep, limits = value.partition("=")
    if not sep:
        raise FlagError(flag, value, f"invalid ulimit argument: {value}")
    if name not in ULIMIT_NAMES:
        raise FlagError(flag, value, f"invalid ulimit type: {name}")
    soft_text, colon, hard_text = limits.partition(":")
    try:
        soft = _go_int(soft_text)
        hard = _go_int(hard_text) if colon else soft
    except ValueError as exc:
        raise FlagError(flag, value, str(exc)) from None
    if soft < -1 or hard < -1:
        raise FlagError(flag, value, "ulimit values must be >= -1 (-1 means unlimited)")
    if hard != -1 and (soft == -1 or soft > hard):
        raise FlagError(flag, value, f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return Ulimit(name, soft, hard)


RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


class RestartPolicy(NamedTuple):
    name: str
    max_retries: int = 0


def parse_restart(value: str, flag: str = "--restart") -> RestartPolicy:
    """`--restart on-failure:3`; the retry count is only meaningful (and only allowed) with on-failure."""

    def fail(reason: str) -> FlagError:
        return FlagError(flag, value, reason, bare=True)

    name, colon, count = value.partition(":")
    if colon and not name:
        raise fail("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        if not re.fullmatch(r"[+-]?\d+", count):
            raise fail("invalid restart policy format: maximum retry count must be an integer")
        retries = int(count)
    if name == "":
        name = "no"
    if name not in RESTART_POLICIES:
        raise fail(
            f"invalid restart policy: unknown policy '{name}'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if count and name != "on-failure":
        raise fail("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if retries < 0:
        raise fail("invalid restart policy: maximum retry count cannot be negative")
    return RestartPolicy(name, retries)


class User(NamedTuple):
    """`--user`: numeric ids stay ints so the runtime knows no /etc/passwd lookup is needed."""

    user: int | str
    group: int | str | None = None


_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?")


def parse_user(value: str, flag: str = "-u, --user") -> User:
    """"1000", "1000:1000", "nobody", "app:staff"."""
    name, colon, group = value.partition(":")

    def part(text: str, what: str) -> int | str:
        if text.isdigit():
            return int(text)
        if _USER_NAME.fullmatch(text):
            return text
        raise FlagError(flag, value, f"invalid {what} {text!r}: expected a name or a numeric id")

    if not name:
        raise FlagError(flag, value, "invalid user format: expected uid[:gid] or name[:group]")
    if colon and not group:
        raise FlagError(flag, value, "invalid user format: empty group after ':'")
    return User(part(name, "user"), part(group, "group") if colon else None)


# --------------------------------------------------------------------------- environment and labels

_WHITESPACE = " \t"


def parse_env(values: Iterable[str], flag: str = "-e, --env", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`-e K=V` as given; `-e K` takes K from our own environment, or is dropped when unset (like docker)."""
    env = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not key:
            raise FlagError(flag, item, f"invalid environment variable: {item}")
        if sep:
            result[key] = val
        elif key in env:
            result[key] = env[key]
    return result


def _read_kv_file(path: str, flag: str) -> list[tuple[str, str | None]]:
    """Docker's env-file format: K=V lines taken verbatim, `#` comments, no quoting (this is not dotenv)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FlagError(flag, path, f"open {path}: no such file or directory", bare=True) from None
    except IsADirectoryError:
        raise FlagError(flag, path, f"read {path}: is a directory", bare=True) from None
    except PermissionError:
        raise FlagError(flag, path, f"open {path}: permission denied", bare=True) from None
    entries: list[tuple[str, str | None]] = []
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        line_bytes = line_bytes.removesuffix(b"\r")
        if number == 1:
            line_bytes = line_bytes.removeprefix(b"\xef\xbb\xbf")
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise FlagError(
                flag, path, f"env file {path} contains invalid utf8 bytes at line {number}", bare=True
            ) from None
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, val = line.partition("=")
        key = key.lstrip(_WHITESPACE)
        if any(c in key for c in _WHITESPACE):
            raise FlagError(
                flag, path, f"poorly formatted environment: variable '{key}' contains whitespaces", bare=True
            )
        if not key:
            raise FlagError(flag, path, f"poorly formatted environment: no variable name on line '{line}'", bare=True)
        entries.append((key, val if sep else None))
    return entries


def parse_env_file(path: str, flag: str = "--env-file", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read one `--env-file`; a bare `K` line takes K from our environment or is dropped when unset."""
    env = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for key, val in _read_kv_file(path, flag):
        if val is not None:
            result[key] = val
        elif key in env:
            result[key] = env[key]
    return result


def parse_labels(values: Iterable[str], flag: str = "-l, --label") -> dict[str, str]:
    """`--label k=v`; a bare `k` is a label with an empty value, like docker."""
    result: dict[str, str] = {}
    for item in values:
        key, _, val = item.partition("=")
        key = key.strip()
        if not key:
            raise FlagError(flag, item, f"invalid label '{item}': empty name")
        if any(c in key for c in _WHITESPACE):
            raise FlagError(flag, item, f"label '{item}' contains whitespaces")
        result[key] = val
    return result


def parse_label_file(path: str, flag: str = "--label-file") -> dict[str, str]:
    """Same line format as env files; Docker drops bare keys here (nothing to take their value from)."""
    return {key: val for key, val in _read_kv_file(path, flag) if val is not None}


def parse_key_value(values: Iterable[str], flag: str) -> dict[str, str]:
    """Generic `--opt k=v` lists (sysctls, driver options); every item must have a `=` and a key."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise FlagError(flag, item, f"invalid key=value format: '{item}'")
        result[key] = val
    return result


@dataclass(frozen=True)
class LogOptions:
    """`--log-opt` for the json-file driver; sizes in bytes, `options` keeps every pair as given."""

    max_size: int | None = None
    max_file: int | None = None
    options: dict[str, str] = field(default_factory=dict)


LOG_OPT_KEYS = frozenset({"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"})


def parse_log_opts(values: Iterable[str], flag: str = "--log-opt") -> LogOptions:
    """Validates json-file options. `max-size` is decimal ("10m" = 10,000,000) as in Docker's json-file."""
    options: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise FlagError(flag, item, f"invalid key value pair format in logging opts: {item}")
        if key not in LOG_OPT_KEYS:
            raise FlagError(flag, item, f"unknown log opt '{key}' for json-file log driver")
        options[key] = val
    max_size = max_file = None
    if "max-size" in options:
        text = options["max-size"]
        if text != "-1":
            max_size = parse_human_size(text, flag)
            if max_size <= 0:
                raise FlagError(flag, f"max-size={text}", "max-size must be a positive number")
    if "max-file" in options:
        text = options["max-file"]
        if not re.fullmatch(r"[+-]?\d+", text):
            raise FlagError(flag, f"max-file={text}", f'strconv.Atoi: parsing "{text}": invalid syntax')
        max_file = int(text)
        if max_file < 1:
            raise FlagError(flag, f"max-file={text}", "max-file cannot be less than 1")
    if "compress" in options and options["compress"] not in _BOOL_TEXT:
        raise FlagError(flag, f"compress={options['compress']}", f"invalid value for compress: {options['compress']}")
    return LogOptions(max_size, max_file, options)


# --------------------------------------------------------------------------- filters and scale


def parse_filters(values: Iterable[str], flag: str = "-f, --filter") -> dict[str, list[str]]:
    """`--filter name=value` (repeatable) → {name: [values]}; names are lower-cased like docker."""
    result: dict[str, list[str]] = {}
    for item in values:
        if not item:
            continue
        name, sep, val = item.partition("=")
        if not sep:
            raise FlagError(flag, item, "bad format of filter (expected name=value)")
        result.setdefault(name.strip().lower(), []).append(val.strip())
    return result


def parse_scale_args(values: Iterable[str]) -> dict[str, int]:
    """`orch scale web=5 worker=2` → {"web": 5, "worker": 2}."""
    result: dict[str, int] = {}
    for item in values:
        name, sep, count = item.partition("=")
        if not sep or not name or not count:
            raise FlagError("", item, f"invalid scale specifier: {item}", bare=True)
        if not re.fullmatch(r"[+-]?\d+", count):
            raise FlagError("", item, f"invalid scale specifier: {item}", bare=True)
        replicas = int(count)
        if replicas < 0:
            raise FlagError("", item, f"invalid replicas value for {name}: {replicas}: replicas must be >= 0", bare=True)
        result[name] = replicas
    return result


# --------------------------------------------------------------------------- hosts, cpusets

HOST_GATEWAY = "host-gateway"


class ExtraHost(NamedTuple):
    name: str
    ip: str


def parse_add_host(value: str, flag: str = "--add-host") -> ExtraHost:
    """"name:ip", "name=ip", "name:[::1]" or "name:host-gateway"."""
    sep = "=" if "=" in value else ":"
    name, found, ip = value.partition(sep)
    if not found or not name:
        raise FlagError(flag, value, f'bad format for add-host: "{value}"')
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip != HOST_GATEWAY:
        try:
            ip_address(ip)
        except ValueError:
            raise FlagError(flag, value, f'invalid IP address in add-host: "{ip}"') from None
    return ExtraHost(name, ip)


def cpuset_members(value: str) -> list[int]:
    """Expand a cpuset list ("0-2,5") into sorted CPU numbers; raises ValueError when malformed."""
    members: set[int] = set()
    if value == "":
        return []
    for part in value.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise ValueError(part)
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        if end < start:
            raise ValueError(part)
        members.update(range(start, end + 1))
    return sorted(members)


def parse_cpuset(value: str, flag: str = "--cpuset-cpus") -> str:
    """Validate `--cpuset-cpus`/`--cpuset-mems` syntax and return the value as the kernel takes it."""
    try:
        cpuset_members(value)
    except ValueError:
        what = "cpuset mems" if "mems" in flag else "cpuset cpus"
        raise FlagError(flag, value, f"invalid value {value} for {what}") from None
    return value


# --------------------------------------------------------------------------- ports

PROTOCOLS = ("tcp", "udp", "sctp")


class PortBinding(NamedTuple):
    """One container port and how it is published.

    host_port None means "pick an ephemeral port"; with host_port_end set, the host port is chosen from
    host_port..host_port_end. mode is set only by the long `--publish mode=host,...` syntax.
    """

    host_ip: str
    host_port: int | None
    container_port: int
    protocol: str = "tcp"
    host_port_end: int | None = None
    mode: str | None = None


def _port_range(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m is None:
        raise ValueError(text)
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) is not None else start
    if start > 65535 or end > 65535 or end < start:
        raise ValueError(text)
    return start, end


def _split_proto(text: str) -> tuple[str, str]:
    """nat.SplitProtoPort: "80/udp" → ("80", "udp"); default tcp."""
    port, slash, proto = text.partition("/")
    return port, (proto if slash and proto else "tcp")


def parse_publish(value: str, flag: str = "-p, --publish") -> list[PortBinding]:
    """`-p [ip:][host[-end]:]container[-end][/proto]` or `published=8080,target=80,mode=host`."""
    if re.search(r"\w+=\w+", value):
        return [_parse_publish_long(value, flag)]

    def fail(reason: str) -> FlagError:
        return FlagError(flag, value, reason, bare=True)

    parts = value.split(":")
    container = parts[-1]
    host_ip, host = "", ""
    if len(parts) == 2:
        host = parts[0]
    elif len(parts) >= 3:
        host_ip, host = ":".join(parts[:-2]), parts[-2]
    container, proto = _split_proto(container)
    if host_ip.startswith("["):
        if not host_ip.endswith("]"):
            raise fail(f"invalid IP address {host_ip}: missing ']' in address")
        host_ip = host_ip[1:-1]
    if host_ip:
        try:
            ip_address(host_ip)
        except ValueError:
            raise fail(f"invalid IP address: {host_ip}") from None
    if not container:
        raise fail(f"no port specified: {value}<empty>")
    try:
        start, end = _port_range(container)
    except ValueError:
        raise fail(f"invalid containerPort: {container}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise fail(f"invalid hostPort: {host}") from None
        if end - start != host_end - host_start and end != start:
            raise fail(f"invalid ranges specified for container and host Ports: {container} and {host}")
    if proto.lower() not in PROTOCOLS:
        raise fail(f"invalid proto: {proto}")
    proto = proto.lower()
    if start == 0:
        raise fail(f"invalid containerPort: {container}")
    bindings = []
    for offset in range(end - start + 1):
        if not host or host_start == 0:
            bindings.append(PortBinding(host_ip, None, start + offset, proto))
        elif start == end and host_start != host_end:
            bindings.append(PortBinding(host_ip, host_start, start, proto, host_end))
        else:
            bindings.append(PortBinding(host_ip, host_start + offset, start + offset, proto))
    return bindings


def _parse_publish_long(value: str, flag: str) -> PortBinding:
    target: int | None = None
    published: int | None = None
    published_end: int | None = None
    proto, mode = "tcp", "ingress"
    for item in value.split(","):
        key, sep, val = item.lower().partition("=")
        if not sep or not key:
            raise FlagError(flag, value, f"invalid field: {item}")
        if key == "protocol":
            if val not in PROTOCOLS:
                raise FlagError(flag, value, f"invalid protocol value '{val}'")
            proto = val
        elif key == "mode":
            if val not in ("ingress", "host"):
                raise FlagError(flag, value, f"invalid publish mode value ({val}): must be either 'ingress' or 'host'")
            mode = val
        elif key in ("target", "published"):
            try:
                start, end = _port_range(val)
            except ValueError:
                raise FlagError(flag, value, f'strconv.ParseUint: parsing "{val}": invalid syntax') from None
            if key == "target":
                if start != end:
                    raise FlagError(flag, value, f"invalid target port: {val}")
                target = start
            else:
                published, published_end = start, (end if end != start else None)
        else:
            raise FlagError(flag, value, f"invalid field key: {key}")
    if not target:
        raise FlagError(flag, value, "missing mandatory field 'target'")
    return PortBinding("", published or None, target, proto, published_end, mode)


def parse_expose(value: str, flag: str = "--expose") -> list[tuple[int, str]]:
    """`--expose 80`, `--expose 8000-8010/udp` → [(port, proto), ...]."""
    if ":" in value:
        raise FlagError(flag, value, f"invalid port format for --expose: {value}", bare=True)
    port, proto = _split_proto(value)
    try:
        start, end = _port_range(port)
    except ValueError:
        raise FlagError(
            flag, value, f"invalid range format for --expose: {value}, error: invalid port range: {port}", bare=True
        ) from None
    if proto.lower() not in PROTOCOLS:
        raise FlagError(flag, value, f"invalid proto: {proto}", bare=True)
    return [(p, proto.lower()) for p in range(start, end + 1)]


# --------------------------------------------------------------------------- mounts

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
CONSISTENCIES = ("consistent", "cached", "delegated", "default")
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
              "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


@dataclass(frozen=True)
class Mount:
    """One filesystem mount of a container, from `-v`, `--mount` or `--tmpfs`.

    source is a host path for binds, a volume name for volumes (None = anonymous) and None for tmpfs.
    create_host_path is True for `-v` binds only: Docker creates a missing host directory for `-v` but
    refuses it for `--mount`.
    """

    type: str
    source: str | None
    target: str
    read_only: bool = False
    propagation: str | None = None
    selinux_label: str | None = None
    consistency: str | None = None
    nocopy: bool = False
    create_host_path: bool = False
    volume_driver: str | None = None
    volume_labels: dict[str, str] = field(default_factory=dict)
    volume_options: dict[str, str] = field(default_factory=dict)
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None


def _mount_config_error(kind: str, reason: str) -> str:
    return f'invalid mount config for type "{kind}": {reason}'


def _check_target(kind: str, target: str) -> str | None:
    if not target.startswith("/"):
        return _mount_config_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
    if os.path.normpath(target) == "/":
        return "invalid specification: destination can't be '/'"
    return None


def _is_bind_source(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..")


def _resolve_source(source: str, cwd: str | None) -> str:
    source = os.path.expanduser(source)
    if not os.path.isabs(source):
        source = os.path.join(cwd or os.getcwd(), source)
    return os.path.normpath(source)


def _parse_volume_mode(mode: str) -> dict[str, str] | None:
    """Split "ro,z,rshared,nocopy" into at most one of each kind; None when invalid."""
    found: dict[str, str] = {}
    if not mode:
        return found
    for option in mode.split(","):
        if option in ("rw", "ro"):
            kind = "rw"
        elif option in ("z", "Z"):
            kind = "label"
        elif option in PROPAGATIONS:
            kind = "propagation"
        elif option == "nocopy":
            kind = "copy"
        elif option in CONSISTENCIES:
            kind = "consistency"
        else:
            return None
        if kind in found:
            return None
        found[kind] = option
    return found


def parse_volume(value: str, flag: str = "-v, --volume", *, cwd: str | None = None) -> Mount:
    """`-v [source:]target[:mode]`: a source that looks like a path is a bind, else a named volume."""

    def fail(reason: str) -> FlagError:
        return FlagError(flag, value, reason, bare=True)

    parts = value.split(":")
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if _parse_volume_mode(parts[1]) not in (None, {}):
            raise fail(f"invalid volume specification: '{value}'")
        source, target = parts
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise fail(f"invalid volume specification: '{value}'")
    if not target:
        raise fail(f"invalid volume specification: '{value}'")
    modes = _parse_volume_mode(mode)
    if modes is None:
        raise fail(f"invalid mode: {mode}")
    kind = "bind" if source and _is_bind_source(source) else "volume"
    problem = _check_target(kind, target)
    if problem:
        raise fail(problem)
    if kind == "bind":
        source = _resolve_source(source, cwd)
        if "copy" in modes:
            raise fail(_mount_config_error(kind, "nocopy is not allowed for bind mounts"))
    else:
        if source and not _VOLUME_NAME.fullmatch(source):
            raise fail(
                f'create {source}: "{source}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
            )
        if "propagation" in modes:
            raise fail(_mount_config_error(kind, "propagation mode is only allowed for bind mounts"))
    return Mount(
        type=kind,
        source=source or None,
        target=os.path.normpath(target),
        read_only=modes.get("rw") == "ro",
        propagation=modes.get("propagation"),
        selinux_label=modes.get("label"),
        consistency=modes.get("consistency"),
        nocopy="copy" in modes,
        create_host_path=kind == "bind",
    )


def _split_csv(value: str) -> list[str]:
    """Docker reads `--mount` with a CSV reader: commas split fields unless inside double quotes."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise ValueError('extraneous or missing " in quoted-field')
    fields.append("".join(current))
    return fields


def parse_mount(value: str, flag: str = "--mount") -> Mount:
    """`--mount type=bind,source=/a,target=/b,readonly` (types bind, volume, tmpfs; default volume)."""

    def fail(reason: str) -> FlagError:
        return FlagError(flag, value, reason)

    try:
        fields = _split_csv(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    kind = "volume"
    source = target = ""
    read_only = nocopy = False
    propagation = consistency = driver = None
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    tmpfs_size = tmpfs_mode = None
    used: set[str] = set()  # option families, for "cannot mix" checks
    for item in fields:
        key, sep, val = item.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                read_only = True
            elif key == "volume-nocopy":
                nocopy = True
                used.add("volume")
            else:
                raise fail(f"invalid field '{item}' must be a key=value pair")
            continue
        if key == "type":
            kind = val.lower()
        elif key in ("source", "src"):
            source = val
        elif key in ("target", "dst", "destination"):
            target = val
        elif key in ("readonly", "ro", "volume-nocopy"):
            if val not in _BOOL_TEXT:
                raise fail(f"invalid value for {key}: {val}")
            if key == "volume-nocopy":
                nocopy = _BOOL_TEXT[val]
                used.add("volume")
            else:
                read_only = _BOOL_TEXT[val]
        elif key == "consistency":
            if val not in CONSISTENCIES:
                raise fail(f"invalid value for consistency: {val}")
            consistency = val
        elif key == "bind-propagation":
            if val not in PROPAGATIONS:
                raise fail(f"invalid value for bind-propagation: {val}")
            propagation = val
            used.add("bind")
        elif key == "volume-driver":
            driver = val
            used.add("volume")
        elif key in ("volume-label", "volume-opt"):
            k, has, v = val.partition("=")
            if not k or (key == "volume-opt" and not has):
                raise fail(f"invalid value for {key}: {val}")
            (labels if key == "volume-label" else options)[k] = v
            used.add("volume")
        elif key == "tmpfs-size":
            try:
                tmpfs_size = _parse_size(val, _BINARY_UNITS)
            except ValueError as exc:
                raise fail(f"invalid value for {key}: {val}: {exc}") from None
            used.add("tmpfs")
        elif key == "tmpfs-mode":
            if not re.fullmatch(r"[0-7]{1,4}", val):
                raise fail(f"invalid value for {key}: {val}")
            tmpfs_mode = int(val, 8)
            used.add("tmpfs")
        else:
            raise fail(f"unexpected key '{key}' in '{item}'")
    if kind not in ("bind", "volume", "tmpfs"):
        raise fail(_mount_config_error(kind, "mount type unknown"))
    if not target:
        raise fail("target is required")
    for family in sorted(used - {kind}):
        raise fail(f"cannot mix '{family}-*' options with mount type '{kind}'")
    problem = _check_target(kind, target)
    if problem:
        raise fail(problem)
    if kind == "bind":
        if not source:
            raise fail(_mount_config_error(kind, "field Source must not be empty"))
        if not source.startswith("/"):
            raise fail(_mount_config_error(kind, f"invalid mount path: '{source}' mount path must be absolute"))
    elif kind == "tmpfs" and source:
        raise fail(_mount_config_error(kind, "field Source must not be specified"))
    elif kind == "volume" and source and not _VOLUME_NAME.fullmatch(source):
        raise fail(_mount_config_error(kind, f"invalid volume name: '{source}'"))
    return Mount(
        type=kind,
        source=source or None,
        target=os.path.normpath(target),
        read_only=read_only,
        propagation=propagation,
        consistency=consistency,
        nocopy=nocopy,
        volume_driver=driver,
        volume_labels=labels,
        volume_options=options,
        tmpfs_size=tmpfs_size,
        tmpfs_mode=tmpfs_mode,
    )


_TMPFS_FLAGS = frozenset(
    "rw ro exec noexec suid nosuid dev nodev sync async dirsync atime noatime diratime nodiratime "
    "relatime norelatime strictatime nostrictatime".split()
)
_TMPFS_KEYS = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


def parse_tmpfs(value: str, flag: str = "--tmpfs") -> tuple[str, str]:
    """`--tmpfs /run:rw,size=64m,mode=1777` → ("/run", "rw,size=64m,mode=1777"), options validated."""
    target, _, options = value.partition(":")
    problem = _check_target("tmpfs", target)
    if problem:
        raise FlagError(flag, value, problem)
    for option in options.split(",") if options else []:
        key, sep, val = option.partition("=")
        if not sep:
            if key not in _TMPFS_FLAGS:
                raise FlagError(flag, value, f"invalid tmpfs option: {option}")
            continue
        if key not in _TMPFS_KEYS:
            raise FlagError(flag, value, f"invalid tmpfs option: {option}")
        if key == "size":
            try:
                _parse_size(val, _BINARY_UNITS)
            except ValueError as exc:
                raise FlagError(flag, value, f"invalid tmpfs size: {exc}") from None
        elif key == "mode" and not re.fullmatch(r"[0-7]{1,4}", val):
            raise FlagError(flag, value, f"invalid tmpfs mode: {val}")
        elif key in ("uid", "gid", "nr_inodes", "nr_blocks") and not re.fullmatch(r"\d+[kKmMgG]?", val):
            raise FlagError(flag, value, f"invalid tmpfs option: {option}")
    return os.path.normpath(target), options
