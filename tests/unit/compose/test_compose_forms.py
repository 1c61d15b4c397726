"""Short and long forms of every structured service key, as canonical output."""

from __future__ import annotations

import pytest

from orchestrator.compose import ComposeError
from orchestrator.compose.shortsyntax import parse_port, parse_volume
from orchestrator.compose.units import format_duration, parse_bytes, parse_duration

from .composetest import load, service


def _port(target, published=None, protocol="tcp", host_ip=None):
    out = {"mode": "ingress"}
    if host_ip:
        out["host_ip"] = host_ip
    out["target"] = target
    if published is not None:
        out["published"] = published
    out["protocol"] = protocol
    return out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [_port(80)]),
        ("8080:80", [_port(80, "8080")]),
        ("8080:80/udp", [_port(80, "8080", "udp")]),
        ("8080:80/UDP", [_port(80, "8080", "udp")]),
        ("127.0.0.1:8080:80", [_port(80, "8080", host_ip="127.0.0.1")]),
        ("127.0.0.1::80", [_port(80, host_ip="127.0.0.1")]),
        ("[::1]:8080:80", [_port(80, "8080", host_ip="::1")]),
        ("3000-3001:4000-4001", [_port(4000, "3000"), _port(4001, "3001")]),
        ("9090-9091:80", [_port(80, "9090-9091")]),
        ("5000-5001", [_port(5000), _port(5001)]),
    ],
)
def test_short_ports(spec, expected) -> None:
    assert parse_port(spec, ()) == expected


@pytest.mark.parametrize("spec", ["80:80:80", "abc", "70000", "1-3:1-2", "80/xyz", ""])
def test_invalid_ports(spec) -> None:
    with pytest.raises(ComposeError, match="invalid port"):
        parse_port(spec, ())


def test_invalid_port_error_names_file_line_and_path(tmp_path) -> None:
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": """
            services:
              web:
                image: x
                ports:
                  - "80:80"
                  - "80:80:80"
            """})
    assert str(err.value).startswith('compose.yml:6: services.web.ports[1]: invalid port "80:80:80"')


def test_ports_long_form_and_duplicates(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          s:
            image: x
            ports:
              - target: 80
                published: 8080
                host_ip: 0.0.0.0
                protocol: udp
                mode: host
                name: web
                app_protocol: http
              - 22
              - "22"
        """})
    assert service(p, "s")["ports"] == [
        {"name": "web", "mode": "host", "host_ip": "0.0.0.0", "target": 80, "published": "8080",
         "protocol": "udp", "app_protocol": "http"},
        _port(22),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("/data", {"type": "volume", "target": "/data", "volume": {}}),
        ("db:/var/lib/db", {"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}}),
        ("db:/x:ro,nocopy", {"type": "volume", "source": "db", "target": "/x", "read_only": True,
                             "volume": {"nocopy": True}}),
        ("./src:/app/", {"type": "bind", "source": "./src", "target": "/app", "bind": {"create_host_path": True}}),
        ("/host:/c:ro,z,rshared", {"type": "bind", "source": "/host", "target": "/c", "read_only": True,
                                   "bind": {"selinux": "z", "propagation": "rshared", "create_host_path": True}}),
    ],
)
def test_short_volumes(spec, expected) -> None:
    assert parse_volume(spec, ()) == expected


def test_volumes_in_config(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          s:
            image: x
            volumes:
              - ./rel:/rel
              - ~/home:/home
              - data:/data:ro
              - type: bind
                source: ./long
                target: /long
                bind: {propagation: rprivate}
              - type: tmpfs
                target: /tmp
                tmpfs: {size: 64m}
        volumes:
          data:
            external: true
          unused: {}
        """}, environ={"HOME": "/home/u"})
    assert service(p, "s")["volumes"] == [
        {"type": "bind", "source": str(tmp_path / "rel"), "target": "/rel", "bind": {"create_host_path": True}},
        {"type": "bind", "source": "/home/u/home", "target": "/home", "bind": {"create_host_path": True}},
        {"type": "volume", "source": "data", "target": "/data", "read_only": True, "volume": {}},
        {"type": "bind", "source": str(tmp_path / "long"), "target": "/long",
         "bind": {"propagation": "rprivate", "create_host_path": True}},
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "67108864"}},
    ]
    doc_volumes = {k: v.model_dump(exclude_none=True) for k, v in p.volumes.items()}
    assert doc_volumes == {"data": {"name": "data", "external": True}}  # external keeps its name; unused pruned


def test_undefined_volume(tmp_path) -> None:
    with pytest.raises(ComposeError, match='service "s" refers to undefined volume nope: invalid compose project'):
        load(tmp_path, {"compose.yml": "services:\n  s:\n    image: x\n    volumes: ['nope:/x']\n"})


def test_depends_on_forms(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          db: {image: x}
          cache: {image: x}
          jobs: {image: x}
          short:
            image: x
            depends_on: [db]
          long:
            image: x
            depends_on:
              db:
                condition: service_healthy
                restart: true
              cache:
                required: false
              jobs:
                condition: service_completed_successfully
          implicit:
            image: x
            links: ["db:database"]
            volumes_from: ["cache:ro", "container:other"]
            ipc: "service:jobs"
        """})
    started = {"condition": "service_started", "required": True}
    assert service(p, "short")["depends_on"] == {"db": started}
    assert service(p, "long")["depends_on"] == {
        "cache": {"condition": "service_started", "required": False},
        "db": {"condition": "service_healthy", "restart": True, "required": True},
        "jobs": {"condition": "service_completed_successfully", "required": True},
    }
    assert service(p, "implicit")["depends_on"] == {
        "cache": started,
        "db": {"condition": "service_started", "restart": True, "required": True},
        "jobs": {"condition": "service_started", "restart": True, "required": True},
    }


def test_unknown_depends_on_service(tmp_path) -> None:
    with pytest.raises(ComposeError) as err:
        load(tmp_path, {"compose.yml": "services:\n  web:\n    image: x\n    depends_on: [db]\n"})
    assert str(err.value) == (
        'compose.yml:4: services.web.depends_on.db: service "web" depends on undefined service "db": '
        "invalid compose project"
    )


def test_secrets_and_configs(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          s:
            image: x
            secrets:
              - token
              - source: cert
                target: /etc/cert.pem
                uid: 100
                mode: 0440
            configs:
              - app
              - source: app
                target: /etc/app.conf
                mode: 0o644
        secrets:
          token: {file: ./token.txt}
          cert: {environment: CERT}
        configs:
          app: {content: "hello"}
        """})
    s = service(p, "s")
    assert s["secrets"] == [
        {"source": "token"},
        {"source": "cert", "target": "/etc/cert.pem", "uid": "100", "mode": "0440"},
    ]
    assert s["configs"] == [{"source": "app"}, {"source": "app", "target": "/etc/app.conf", "mode": "0644"}]
    assert p.secrets["token"].file == str(tmp_path / "token.txt")
    assert p.secrets["token"].name == f"{p.name}_token"
    assert p.configs["app"].content == "hello"


def test_networks(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          plain: {image: x}
          listed: {image: x, networks: [front, back]}
          mapped:
            image: x
            networks:
              front:
                aliases: [api]
                ipv4_address: 10.5.0.5
              default:
          host: {image: x, network_mode: host}
        networks:
          front: {}
          back:
            external: true
          unused: {}
        """})
    assert service(p, "plain")["networks"] == {"default": None}
    assert service(p, "listed")["networks"] == {"back": None, "front": None}
    assert service(p, "mapped")["networks"] == {"default": None, "front": {"aliases": ["api"], "ipv4_address": "10.5.0.5"}}
    assert "networks" not in service(p, "host")
    assert {k: v.name for k, v in p.networks.items()} == {
        "back": "back",
        "default": f"{p.name}_default",
        "front": f"{p.name}_front",
    }


def test_network_mode_and_networks_are_exclusive(tmp_path) -> None:
    with pytest.raises(ComposeError, match="mutually exclusive"):
        load(tmp_path, {"compose.yml": "services:\n  s: {image: x, network_mode: host, networks: [n]}\nnetworks:\n  n: {}\n"})


def test_healthcheck_forms(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          shell:
            image: x
            healthcheck:
              test: curl -f http://localhost || exit 1
              interval: 1m30s
              timeout: 10s
              retries: 3
              start_period: 40s
              start_interval: 5s
          exec:
            image: x
            healthcheck:
              test: ["CMD", "pg_isready"]
          off:
            image: x
            healthcheck:
              disable: true
        """})
    assert service(p, "shell")["healthcheck"] == {
        "test": ["CMD-SHELL", "curl -f http://localhost || exit 1"],
        "timeout": "10s",
        "interval": "1m30s",
        "retries": 3,
        "start_period": "40s",
        "start_interval": "5s",
    }
    assert service(p, "exec")["healthcheck"] == {"test": ["CMD", "pg_isready"]}
    assert service(p, "off")["healthcheck"] == {"disable": True}


def test_bad_healthcheck_test(tmp_path) -> None:
    with pytest.raises(ComposeError, match='healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"'):
        load(tmp_path, {"compose.yml": "services:\n  s:\n    image: x\n    healthcheck: {test: [curl]}\n"})


def test_labels_command_entrypoint_ulimits_misc(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          s:
            image: x
            labels: ["com.example.a=1", "flag"]
            command: sh -c 'echo "hello world"'
            entrypoint: ["/bin/tini", "--"]
            ulimits:
              nproc: 65535
              nofile: {soft: 20000, hard: 40000}
            stop_grace_period: 90s
            mem_limit: 1g
            shm_size: 64M
            cpus: "0.5"
            dns: 8.8.8.8
            tmpfs: /run
            extra_hosts: ["somehost:162.242.195.82", "other=10.0.0.1", "v6:[::1]"]
            expose: [3000, "4000-4005"]
            sysctls: ["net.core.somaxconn=1024"]
            devices: ["/dev/fuse", "/dev/sda:/dev/xvda:r"]
            group_add: [42, mail]
            init: false
            scale: 2
        """})
    s = service(p, "s")
    assert s["labels"] == {"com.example.a": "1", "flag": ""}
    assert s["command"] == ["sh", "-c", 'echo "hello world"']
    assert s["entrypoint"] == ["/bin/tini", "--"]
    assert s["ulimits"] == {"nofile": {"soft": 20000, "hard": 40000}, "nproc": 65535}
    assert s["stop_grace_period"] == "1m30s"
    assert s["mem_limit"] == "1073741824"
    assert s["shm_size"] == "67108864"
    assert s["cpus"] == 0.5
    assert s["dns"] == ["8.8.8.8"]
    assert s["tmpfs"] == ["/run"]
    assert s["extra_hosts"] == ["other=10.0.0.1", "somehost=162.242.195.82", "v6=::1"]
    assert s["expose"] == ["3000", "4000-4005"]
    assert s["sysctls"] == {"net.core.somaxconn": "1024"}
    assert s["devices"] == [
        {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"},
        {"source": "/dev/sda", "target": "/dev/xvda", "permissions": "r"},
    ]
    assert s["group_add"] == ["42", "mail"]
    assert s["init"] is False  # a pointer in compose: an explicit false is printed
    assert s["scale"] == 2
    assert p.services["s"].replicas() == 2


def test_build_and_deploy(tmp_path) -> None:
    p = load(tmp_path, {"compose.yml": """
        services:
          short:
            build: ./app
          long:
            image: me/long
            build:
              context: ./app
              dockerfile: Containerfile
              args: ["VERSION=1", "FROM_ENV"]
              target: prod
          remote:
            build: https://github.com/example/repo.git#main
          svc:
            image: x
            deploy:
              mode: replicated
              replicas: 5
              labels: ["tier=web"]
              endpoint_mode: vip
              resources:
                limits: {cpus: '0.50', memory: 50M, pids: 100}
                reservations: {cpus: 0.25, memory: 20M}
              restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
              update_config: {parallelism: 2, delay: 10s, order: start-first, failure_action: rollback}
              rollback_config: {parallelism: 0}
              placement:
                constraints: ["node.role == manager"]
                preferences: [{spread: node.labels.zone}]
                max_replicas_per_node: 2
        """}, environ={"FROM_ENV": "e"})
    assert service(p, "short")["build"] == {"context": str(tmp_path / "app"), "dockerfile": "Dockerfile"}
    assert service(p, "long")["build"] == {
        "context": str(tmp_path / "app"),
        "dockerfile": "Containerfile",
        "args": {"FROM_ENV": "e", "VERSION": "1"},
        "target": "prod",
    }
    assert service(p, "remote")["build"]["context"] == "https://github.com/example/repo.git#main"
    assert service(p, "svc")["deploy"] == {
        "mode": "replicated",
        "replicas": 5,
        "labels": {"tier": "web"},
        "update_config": {"parallelism": 2, "delay": "10s", "failure_action": "rollback", "order": "start-first"},
        "rollback_config": {"parallelism": 0},
        "resources": {
            "limits": {"cpus": 0.5, "memory": "52428800", "pids": 100},
            "reservations": {"cpus": 0.25, "memory": "20971520"},
        },
        "restart_policy": {"condition": "on-failure", "delay": "5s", "max_attempts": 3, "window": "2m0s"},
        "placement": {
            "constraints": ["node.role == manager"],
            "preferences": [{"spread": "node.labels.zone"}],
            "max_replicas_per_node": 2,
        },
        "endpoint_mode": "vip",
    }
    assert p.services["svc"].replicas() == 5


def test_service_without_image_or_build(tmp_path) -> None:
    with pytest.raises(ComposeError, match='service "s" has neither an image nor a build context specified'):
        load(tmp_path, {"compose.yml": "services:\n  s:\n    command: echo\n"})


@pytest.mark.parametrize(
    ("text", "printed"),
    [("1m30s", "1m30s"), ("90s", "1m30s"), ("1h", "1h0m0s"), ("500ms", "500ms"), ("1.5s", "1.5s"),
     ("2h45m10s", "2h45m10s"), ("1d", "24h0m0s"), ("10us", "10µs"), ("0", "0s")],
)
def test_durations(text, printed) -> None:
    assert format_duration(parse_duration(text)) == printed


def test_bad_duration_and_size() -> None:
    with pytest.raises(ValueError):
        parse_duration("10")
    with pytest.raises(ValueError):
        parse_duration("1x")
    with pytest.raises(ValueError):
        parse_bytes("lots")
    assert parse_bytes("512m") == 512 << 20
    assert parse_bytes("1.5g") == int(1.5 * (1 << 30))
    assert parse_bytes("64MiB") == 64 << 20
