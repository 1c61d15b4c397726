"""Table-driven tests of Docker-compatible flag parsing, including the exact error lines users see."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.cli.parse import (
    ExtraHost,
    FlagError,
    Mount,
    PortBinding,
    RestartPolicy,
    Ulimit,
    User,
    cpuset_members,
    parse_add_host,
    parse_bytes,
    parse_cpus,
    parse_cpuset,
    parse_duration,
    parse_env,
    parse_env_file,
    parse_expose,
    parse_filters,
    parse_human_size,
    parse_key_value,
    parse_label_file,
    parse_labels,
    parse_log_opts,
    parse_mount,
    parse_publish,
    parse_restart,
    parse_scale_args,
    parse_signal,
    parse_tmpfs,
    parse_ulimit,
    parse_user,
    parse_volume,
)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(FlagError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1024", 1024),
        ("100k", 100 * 1024),
        ("512m", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5g", 1610612736),
        ("2t", 2 * 1024**4),
        ("1p", 1024**5),
        ("10b", 10),
        ("10KB", 10 * 1024),
        ("10KiB", 10 * 1024),
        ("10 mb", 10 * 1024**2),
        ("0", 0),
    ],
)
def test_parse_bytes(value: str, expected: int) -> None:
    assert parse_bytes(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("lots", "invalid size: 'lots'"),
        ("", "invalid size: ''"),
        ("12x", "invalid suffix: 'x'"),
        ("12kx", "invalid suffix: 'kx'"),
        ("12kibb", "invalid suffix: 'kibb'"),
        ("12bb", "invalid suffix: 'bb'"),
        ("-5", "invalid size: '-5'"),
        ("1.2.3", 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
    ],
)
def test_parse_bytes_errors(value: str, reason: str) -> None:
    assert error_of(parse_bytes, value) == f'invalid argument "{value}" for "-m, --memory" flag: {reason}'


def test_parse_bytes_names_the_flag() -> None:
    assert error_of(parse_bytes, "x", "--shm-size").startswith('invalid argument "x" for "--shm-size" flag')


def test_parse_human_size_is_decimal() -> None:
    assert parse_human_size("10m", "--log-opt") == 10_000_000
    assert parse_human_size("1k", "--log-opt") == 1000


@pytest.mark.parametrize(
    "value, expected", [("1.5", 1_500_000_000), ("0.01", 10_000_000), ("2", 2_000_000_000), ("1/2", 500_000_000)]
)
def test_parse_cpus(value: str, expected: int) -> None:
    assert parse_cpus(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("abc", "failed to parse abc as a rational number"),
        ("0.0000000001", "value is too precise"),
        ("-1", "cpus must not be negative"),
    ],
)
def test_parse_cpus_errors(value: str, reason: str) -> None:
    assert error_of(parse_cpus, value) == f'invalid argument "{value}" for "--cpus" flag: {reason}'


# ---------------------------------------------------------------- durations and signals


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("10s", 10.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("0", 0.0),
        ("1h2m3s4ms", 3723.004),
        ("100us", 0.0001),
        ("100\u00b5s", 0.0001),
        ("2ns", 2e-9),
        (".5s", 0.5),
        ("+3s", 3.0),
    ],
)
def test_parse_duration(value: str, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("", 'time: invalid duration ""'),
        ("abc", 'time: invalid duration "abc"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1m30", 'time: missing unit in duration "1m30"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("-1s", "duration must not be negative"),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_parse_duration_errors(value: str, reason: str) -> None:
    assert error_of(parse_duration, value, "--stop-timeout") == f'invalid argument "{value}" for "--stop-timeout" flag: {reason}'


def test_parse_duration_negative_when_allowed() -> None:
    assert parse_duration("-1s", "--since", allow_negative=True) == -1.0


@pytest.mark.parametrize(
    "value, number",
    [("SIGTERM", 15), ("TERM", 15), ("term", 15), ("15", 15), ("kill", 9), ("SIGKILL", 9), ("usr1", 10),
     ("SIGHUP", 1), ("RTMIN", 34), ("RTMIN+3", 37), ("SIGRTMAX-1", 63), ("64", 64)],
)
def test_parse_signal(value: str, number: int) -> None:
    assert parse_signal(value) == number


@pytest.mark.parametrize("value", ["0", "65", "-1", "FOO", "SIG", "RTMIN+99", ""])
def test_parse_signal_errors(value: str) -> None:
    assert error_of(parse_signal, value) == f'invalid argument "{value}" for "--stop-signal" flag: invalid signal: {value}'


# ---------------------------------------------------------------- ulimit, restart, user


@pytest.mark.parametrize(
    "value, expected",
    [
        ("nofile=1024:2048", Ulimit("nofile", 1024, 2048)),
        ("nproc=512", Ulimit("nproc", 512, 512)),
        ("core=-1", Ulimit("core", -1, -1)),
        ("memlock=64:-1", Ulimit("memlock", 64, -1)),
        ("rtprio=0:0", Ulimit("rtprio", 0, 0)),
    ],
)
def test_parse_ulimit(value: str, expected: Ulimit) -> None:
    assert parse_ulimit(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("foo=1", "invalid ulimit type: foo"),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("nofile=1:y", 'strconv.ParseInt: parsing "y": invalid syntax'),
        ("nofile=2048:1024", "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024"),
        ("nofile=-1:1024", "ulimit soft limit must be less than or equal to hard limit: -1 > 1024"),
        ("nofile=-2", "ulimit values must be >= -1 (-1 means unlimited)"),
    ],
)
def test_parse_ulimit_errors(value: str, reason: str) -> None:
    assert error_of(parse_ulimit, value) == f'invalid argument "{value}" for "--ulimit" flag: {reason}'


@pytest.mark.parametrize(
    "value, expected",
    [
        ("no", RestartPolicy("no", 0)),
        ("always", RestartPolicy("always", 0)),
        ("unless-stopped", RestartPolicy("unless-stopped", 0)),
        ("on-failure", RestartPolicy("on-failure", 0)),
        ("on-failure:3", RestartPolicy("on-failure", 3)),
        ("", RestartPolicy("no", 0)),
    ],
)
def test_parse_restart(value: str, expected: RestartPolicy) -> None:
    assert parse_restart(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (":3", "invalid restart policy format: no policy provided before colon"),
        ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
        ("always:3", "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        ("on-failure:-1", "invalid restart policy: maximum retry count cannot be negative"),
        (
            "sometimes",
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', "
            "or 'unless-stopped'",
        ),
    ],
)
def test_parse_restart_errors(value: str, message: str) -> None:
    assert error_of(parse_restart, value) == message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1000", User(1000)),
        ("1000:1000", User(1000, 1000)),
        ("nobody", User("nobody")),
        ("app:staff", User("app", "staff")),
        ("0:wheel", User(0, "wheel")),
    ],
)
def test_parse_user(value: str, expected: User) -> None:
    assert parse_user(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("", "invalid user format: expected uid[:gid] or name[:group]"),
        (":1", "invalid user format: expected uid[:gid] or name[:group]"),
        ("app:", "invalid user format: empty group after ':'"),
        ("a b", "invalid user 'a b': expected a name or a numeric id"),
        ("app:1:2", "invalid group '1:2': expected a name or a numeric id"),
    ],
)
def test_parse_user_errors(value: str, reason: str) -> None:
    assert error_of(parse_user, value) == f'invalid argument "{value}" for "-u, --user" flag: {reason}'


# ---------------------------------------------------------------- env and labels


def test_parse_env() -> None:
    environ = {"HOME": "/root", "EMPTY": ""}
    got = parse_env(["A=1", "B=x=y", "C=", "HOME", "EMPTY", "UNSET", "A=2"], environ=environ)
    assert got == {"A": "2", "B": "x=y", "C": "", "HOME": "/root", "EMPTY": ""}


def test_parse_env_uses_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEST_VAR", "from-env")
    monkeypatch.delenv("ORCH_TEST_UNSET", raising=False)
    assert parse_env(["ORCH_TEST_VAR", "ORCH_TEST_UNSET"]) == {"ORCH_TEST_VAR": "from-env"}


def test_parse_env_error() -> None:
    assert error_of(parse_env, ["=x"]) == 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'


def test_parse_env_file(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_bytes(
        b'\xef\xbb\xbfA=1\n# comment\n  B= spaced \nQUOTED="kept"\n\n  \nFROM_ENV\nUNSET\nEQ=a=b\r\nEMPTY=\n'
    )
    got = parse_env_file(str(path), environ={"FROM_ENV": "yes"})
    # values are verbatim: no quote removal, no trimming of the value (this is not dotenv)
    assert got == {"A": "1", "B": " spaced ", "QUOTED": '"kept"', "FROM_ENV": "yes", "EQ": "a=b", "EMPTY": ""}


def test_parse_env_file_key_with_trailing_space_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("GOOD=1\nBAD KEY=1\n")
    assert error_of(parse_env_file, str(path)) == "poorly formatted environment: variable 'BAD KEY' contains whitespaces"


@pytest.mark.parametrize(
    "content, message",
    [
        ("=value\n", "poorly formatted environment: no variable name on line '=value'"),
        ("A B=1\n", "poorly formatted environment: variable 'A B' contains whitespaces"),
    ],
)
def test_parse_env_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.env"
    path.write_text(content)
    assert error_of(parse_env_file, str(path)) == message


def test_parse_env_file_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.env")
    assert error_of(parse_env_file, missing) == f"open {missing}: no such file or directory"


def test_parse_env_file_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.env"
    path.write_bytes(b"A=1\nB=\xff\n")
    assert error_of(parse_env_file, str(path)) == f"env file {path} contains invalid utf8 bytes at line 2"


def test_parse_labels() -> None:
    assert parse_labels(["a=1", "b", "c=x=y", " d =2"]) == {"a": "1", "b": "", "c": "x=y", "d": "2"}


@pytest.mark.parametrize(
    "value, reason", [("=x", "invalid label '=x': empty name"), ("a b=1", "label 'a b=1' contains whitespaces")]
)
def test_parse_labels_errors(value: str, reason: str) -> None:
    assert error_of(parse_labels, [value]) == f'invalid argument "{value}" for "-l, --label" flag: {reason}'


def test_parse_label_file(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_text("# labels\ntier=front\nbare\nempty=\n")
    assert parse_label_file(str(path)) == {"tier": "front", "empty": ""}


def test_parse_key_value() -> None:
    assert parse_key_value(["net.core.somaxconn=1024", "a=b=c"], "--sysctl") == {
        "net.core.somaxconn": "1024",
        "a": "b=c",
    }
    assert error_of(parse_key_value, ["x"], "--sysctl") == (
        "invalid argument \"x\" for \"--sysctl\" flag: invalid key=value format: 'x'"
    )


# ---------------------------------------------------------------- log options, filters, scale


def test_parse_log_opts() -> None:
    opts = parse_log_opts(["max-size=10m", "max-file=3", "compress=true", "tag={{.Name}}"])
    assert opts.max_size == 10_000_000
    assert opts.max_file == 3
    assert opts.options["tag"] == "{{.Name}}"
    assert parse_log_opts([]).max_size is None
    assert parse_log_opts(["max-size=-1"]).max_size is None


@pytest.mark.parametrize(
    "value, reason",
    [
        ("max-size", "invalid key value pair format in logging opts: max-size"),
        ("bogus=1", "unknown log opt 'bogus' for json-file log driver"),
        ("max-size=lots", "invalid size: 'lots'"),
        ("max-size=0", "max-size must be a positive number"),
        ("max-file=0", "max-file cannot be less than 1"),
        ("max-file=x", 'strconv.Atoi: parsing "x": invalid syntax'),
        ("compress=maybe", "invalid value for compress: maybe"),
    ],
)
def test_parse_log_opts_errors(value: str, reason: str) -> None:
    assert error_of(parse_log_opts, [value]).endswith(f'for "--log-opt" flag: {reason}')


def test_parse_filters() -> None:
    assert parse_filters(["name=web", "Name=db", " label = a=b ", "status=running", ""]) == {
        "name": ["web", "db"],
        "label": ["a=b"],
        "status": ["running"],
    }
    assert error_of(parse_filters, ["foo"]) == (
        'invalid argument "foo" for "-f, --filter" flag: bad format of filter (expected name=value)'
    )


def test_parse_scale_args() -> None:
    assert parse_scale_args(["web=5", "worker=0"]) == {"web": 5, "worker": 0}


@pytest.mark.parametrize(
    "value, message",
    [
        ("web=abc", "invalid scale specifier: web=abc"),
        ("web", "invalid scale specifier: web"),
        ("=3", "invalid scale specifier: =3"),
        ("web=", "invalid scale specifier: web="),
        ("web=-1", "invalid replicas value for web: -1: replicas must be >= 0"),
    ],
)
def test_parse_scale_args_errors(value: str, message: str) -> None:
    assert error_of(parse_scale_args, [value]) == message


# ---------------------------------------------------------------- hosts, cpusets


@pytest.mark.parametrize(
    "value, expected",
    [
        ("db:10.0.0.1", ExtraHost("db", "10.0.0.1")),
        ("db=10.0.0.1", ExtraHost("db", "10.0.0.1")),
        ("db:::1", ExtraHost("db", "::1")),
        ("db=[::1]", ExtraHost("db", "::1")),
        ("host.docker.internal:host-gateway", ExtraHost("host.docker.internal", "host-gateway")),
    ],
)
def test_parse_add_host(value: str, expected: ExtraHost) -> None:
    assert parse_add_host(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("db", 'bad format for add-host: "db"'),
        (":1.2.3.4", 'bad format for add-host: ":1.2.3.4"'),
        ("db:foo", 'invalid IP address in add-host: "foo"'),
        ("db:300.1.1.1", 'invalid IP address in add-host: "300.1.1.1"'),
    ],
)
def test_parse_add_host_errors(value: str, reason: str) -> None:
    assert error_of(parse_add_host, value) == f'invalid argument "{value}" for "--add-host" flag: {reason}'


@pytest.mark.parametrize("value, members", [("0-1,3", [0, 1, 3]), ("2", [2]), ("", []), ("1,1,0", [0, 1])])
def test_parse_cpuset(value: str, members: list[int]) -> None:
    assert parse_cpuset(value) == value
    assert cpuset_members(value) == members


@pytest.mark.parametrize("value", ["0-", "a", "3-1", "1,,2", "-1", "1 2"])
def test_parse_cpuset_errors(value: str) -> None:
    assert error_of(parse_cpuset, value) == f'invalid argument "{value}" for "--cpuset-cpus" flag: invalid value {value} for cpuset cpus'
    assert error_of(parse_cpuset, value, "--cpuset-mems").endswith(f"invalid value {value} for cpuset mems")


# ---------------------------------------------------------------- ports


@pytest.mark.parametrize(
    "value, expected",
    [
        ("80", [PortBinding("", None, 80)]),
        ("8080:80", [PortBinding("", 8080, 80)]),
        ("8080:80/udp", [PortBinding("", 8080, 80, "udp")]),
        ("53:53/UDP", [PortBinding("", 53, 53, "udp")]),
        ("127.0.0.1:8080:80", [PortBinding("127.0.0.1", 8080, 80)]),
        ("127.0.0.1::80", [PortBinding("127.0.0.1", None, 80)]),
        ("[::1]:80:80", [PortBinding("::1", 80, 80)]),
        ("::1:80:80", [PortBinding("::1", 80, 80)]),
        ("80/sctp", [PortBinding("", None, 80, "sctp")]),
        ("8000-8001:80-81", [PortBinding("", 8000, 80), PortBinding("", 8001, 81)]),
        ("80-81", [PortBinding("", None, 80), PortBinding("", None, 81)]),
        ("8000-8010:80", [PortBinding("", 8000, 80, "tcp", 8010)]),
        ("published=8080,target=80,mode=host", [PortBinding("", 8080, 80, "tcp", None, "host")]),
        ("target=53,protocol=udp", [PortBinding("", None, 53, "udp", None, "ingress")]),
    ],
)
def test_parse_publish(value: str, expected: list[PortBinding]) -> None:
    assert parse_publish(value) == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "invalid containerPort: abc"),
        ("8080:", "no port specified: 8080:<empty>"),
        ("x:80", "invalid hostPort: x"),
        ("99999:80", "invalid hostPort: 99999"),
        ("1-2:1-3", "invalid ranges specified for container and host Ports: 1-3 and 1-2"),
        ("80/foo", "invalid proto: foo"),
        ("x.y:80:80", "invalid IP address: x.y"),
        ("[::1:80:80", "invalid IP address [::1: missing ']' in address"),
        ("0", "invalid containerPort: 0"),
    ],
)
def test_parse_publish_errors(value: str, message: str) -> None:
    assert error_of(parse_publish, value) == message


@pytest.mark.parametrize(
    "value, reason",
    [
        ("published=8080", "missing mandatory field 'target'"),
        ("target=80,mode=x", "invalid publish mode value (x): must be either 'ingress' or 'host'"),
        ("target=80,protocol=icmp", "invalid protocol value 'icmp'"),
        ("target=80,color=red", "invalid field key: color"),
    ],
)
def test_parse_publish_long_errors(value: str, reason: str) -> None:
    assert error_of(parse_publish, value) == f'invalid argument "{value}" for "-p, --publish" flag: {reason}'


def test_parse_expose() -> None:
    assert parse_expose("80") == [(80, "tcp")]
    assert parse_expose("8000-8002/udp") == [(8000, "udp"), (8001, "udp"), (8002, "udp")]
    assert error_of(parse_expose, "80:80") == "invalid port format for --expose: 80:80"
    assert error_of(parse_expose, "x") == "invalid range format for --expose: x, error: invalid port range: x"


# ---------------------------------------------------------------- volumes and mounts


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/data", Mount("volume", None, "/data")),
        ("vol:/data", Mount("volume", "vol", "/data")),
        ("vol:/data:ro", Mount("volume", "vol", "/data", read_only=True)),
        ("vol:/data:nocopy", Mount("volume", "vol", "/data", nocopy=True)),
        ("/host:/data", Mount("bind", "/host", "/data", create_host_path=True)),
        ("/host:/data:rw", Mount("bind", "/host", "/data", create_host_path=True)),
        ("/host/:/data/", Mount("bind", "/host", "/data", create_host_path=True)),
        (
            "/host:/data:ro,Z,rslave",
            Mount("bind", "/host", "/data", read_only=True, propagation="rslave", selinux_label="Z",
                  create_host_path=True),
        ),
        ("/host:/data:cached", Mount("bind", "/host", "/data", consistency="cached", create_host_path=True)),
    ],
)
def test_parse_volume(value: str, expected: Mount) -> None:
    assert parse_volume(value) == expected


def test_parse_volume_resolves_relative_and_home_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    assert parse_volume("./src:/app", cwd=str(tmp_path)).source == str(tmp_path / "src")
    assert parse_volume(".:/app", cwd=str(tmp_path)).source == str(tmp_path)
    assert parse_volume("../up:/app", cwd=str(tmp_path)).source == str(tmp_path.parent / "up")
    assert parse_volume("~/code:/app").source == "/home/me/code"
    monkeypatch.chdir(tmp_path)
    assert parse_volume("./x:/app").source == os.path.join(str(tmp_path), "x")


@pytest.mark.parametrize(
    "value, message",
    [
        ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ("/data:ro", "invalid volume specification: '/data:ro'"),
        ("vol:", "invalid volume specification: 'vol:'"),
        ("data", "invalid mount config for type \"volume\": invalid mount path: 'data' mount path must be absolute"),
        ("/a:b", "invalid mount config for type \"bind\": invalid mount path: 'b' mount path must be absolute"),
        ("/a:/", "invalid specification: destination can't be '/'"),
        ("/a:/b:xx", "invalid mode: xx"),
        ("/a:/b:ro,rw", "invalid mode: ro,rw"),
        ("/a:/b:nocopy", "invalid mount config for type \"bind\": nocopy is not allowed for bind mounts"),
        ("vol:/b:rshared", "invalid mount config for type \"volume\": propagation mode is only allowed for bind mounts"),
        (
            "my vol:/b",
            'create my vol: "my vol" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
        ),
    ],
)
def test_parse_volume_errors(value: str, message: str) -> None:
    assert error_of(parse_volume, value) == message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("type=bind,source=/a,target=/b,readonly", Mount("bind", "/a", "/b", read_only=True)),
        ("type=bind,src=/a,dst=/b,ro=false,bind-propagation=rshared", Mount("bind", "/a", "/b", propagation="rshared")),
        ("target=/data", Mount("volume", None, "/data")),
        ("source=vol,destination=/data,volume-nocopy", Mount("volume", "vol", "/data", nocopy=True)),
        (
            'type=volume,src=vol,dst=/d,volume-driver=local,volume-label=a=b,"volume-opt=o=size=1g,uid=1"',
            Mount("volume", "vol", "/d", volume_driver="local", volume_labels={"a": "b"},
                  volume_options={"o": "size=1g,uid=1"}),
        ),
        ("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777", Mount("tmpfs", None, "/t", tmpfs_size=64 << 20,
                                                                      tmpfs_mode=0o1777)),
        ("Type=BIND,Source=/a,Target=/b,consistency=delegated", Mount("bind", "/a", "/b", consistency="delegated")),
    ],
)
def test_parse_mount(value: str, expected: Mount) -> None:
    assert parse_mount(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("type=bind,src=/a", "target is required"),
        ("type=nfs,target=/a", 'invalid mount config for type "nfs": mount type unknown'),
        ("type=bind,target=/b", 'invalid mount config for type "bind": field Source must not be empty'),
        ("type=bind,src=rel,target=/b", "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        ("type=tmpfs,src=/a,target=/b", 'invalid mount config for type "tmpfs": field Source must not be specified'),
        ("type=bind,src=/a,target=b", "invalid mount config for type \"bind\": invalid mount path: 'b' mount path must be absolute"),
        ("target=/x,bind-propagation=rshared", "cannot mix 'bind-*' options with mount type 'volume'"),
        ("type=bind,src=/a,target=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"),
        ("type=tmpfs,target=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'tmpfs'"),
        ("foo=bar,target=/x", "unexpected key 'foo' in 'foo=bar'"),
        ("target=/x,bogus", "invalid field 'bogus' must be a key=value pair"),
        ("target=/x,readonly=maybe", "invalid value for readonly: maybe"),
        ("target=/x,bind-propagation=weird", "invalid value for bind-propagation: weird"),
        ("type=tmpfs,target=/x,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
        ("type=tmpfs,target=/x,tmpfs-size=lots", "invalid value for tmpfs-size: lots: invalid size: 'lots'"),
        ("target=/x,volume-opt=novalue", "invalid value for volume-opt: novalue"),
        ('target="/x', 'extraneous or missing " in quoted-field'),
    ],
)
def test_parse_mount_errors(value: str, reason: str) -> None:
    assert error_of(parse_mount, value) == f'invalid argument "{value}" for "--mount" flag: {reason}'


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/run", ("/run", "")),
        ("/run:rw,size=64m,mode=1777", ("/run", "rw,size=64m,mode=1777")),
        ("/tmp/:noexec,nosuid,uid=1000,gid=1000", ("/tmp", "noexec,nosuid,uid=1000,gid=1000")),
    ],
)
def test_parse_tmpfs(value: str, expected: tuple[str, str]) -> None:
    assert parse_tmpfs(value) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("run", "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must be absolute"),
        ("/run:bogus", "invalid tmpfs option: bogus"),
        ("/run:color=red", "invalid tmpfs option: color=red"),
        ("/run:size=lots", "invalid tmpfs size: invalid size: 'lots'"),
        ("/run:mode=abc", "invalid tmpfs mode: abc"),
        ("/:size=1m", "invalid specification: destination can't be '/'"),
    ],
)
def test_parse_tmpfs_errors(value: str, reason: str) -> None:
    assert error_of(parse_tmpfs, value) == f'invalid argument "{value}" for "--tmpfs" flag: {reason}'


def test_flag_error_attributes() -> None:
    err = FlagError("--cpus", "x", "bad", bare=False)
    assert (err.flag, err.value, err.reason) == ("--cpus", "x", "bad")
    assert str(FlagError("", "x", "only the reason")) == "only the reason"
    assert isinstance(err, ValueError)


def test_arbitrary_values_fail_only_with_flag_error() -> None:
    """Every parser turns garbage into a FlagError (one line for the user), never another exception."""
    import random

    parsers = [parse_bytes, parse_cpus, parse_duration, parse_signal, parse_ulimit, parse_restart, parse_user,
               parse_add_host, parse_cpuset, parse_publish, parse_expose, parse_volume, parse_mount, parse_tmpfs,
               lambda v: parse_env([v]), lambda v: parse_labels([v]), lambda v: parse_filters([v]),
               lambda v: parse_scale_args([v]), lambda v: parse_log_opts([v])]
    alphabet = list("0123456789:=,-./[]~\"' abcmkgKGtypesrcdnifoubhxz") + [
        "type=", "bind", "tmpfs", "target=", "source=", "max-size=", "1e308", "\u00b5s", "RTMIN+", "::1", "mode="]
    rng = random.Random(3)
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        try:
            rng.choice(parsers)(value)
        except FlagError:
            pass
