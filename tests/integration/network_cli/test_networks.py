"""Issue 3 end to end through the CLI: networks, name resolution, published ports, restart, bad input.

The daemon lives in its own network namespace (conftest.py); "outside" is a namespace behind its uplink.
Containers are busybox; UDP servers are Python sockets the test binds inside a container's namespace.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest

from .conftest import Orchd, eventually
from .hostns import HOST_IP, OUTSIDE_IP, HostNetns, in_netns

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/var/www"]
# busybox wget: `-T` crashes this build, and `timeout` cannot stop a PID 1; so always `sh -c "timeout N
# wget ...; exit $?"` (the trailing command keeps sh from exec'ing timeout as PID 1).
PAGE = b"hello from orch"


def tcp_get(netns: str, ip: str, port: int, timeout: float = 1.0) -> bytes:
    def go() -> bytes:
        try:
            with socket.create_connection((ip, port), timeout=timeout) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
                return out
        except OSError:
            return b""

    return in_netns(netns, go)  # type: ignore[return-value]


def udp_ask(netns: str, ip: str, port: int, payload: bytes, timeout: float = 0.5) -> bytes:
    def go() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(payload, (ip, port))
                return s.recv(4096)
            except OSError:
                return b""

    return in_netns(netns, go)  # type: ignore[return-value]


def inspect(orchd: Orchd, ref: str) -> dict:
    return json.loads(orchd.ok("inspect", ref))[0]


def pid_of(orchd: Orchd, ref: str) -> int:
    return int(inspect(orchd, ref)["State"]["Pid"])


def ip_on(orchd: Orchd, ref: str, network: str) -> str:
    return inspect(orchd, ref)["NetworkSettings"]["Networks"][network]["IPAddress"]


def links(ns: HostNetns) -> list[str]:
    out = ns.run("ip", "-o", "link", "show").stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines()]


def nft_table(ns: HostNetns) -> str:
    return ns.run("nft", "list", "table", "ip", "orch").stdout


@pytest.fixture
def net(orchd: Orchd) -> Iterator[str]:
    name = orchd.name("net")
    orchd.ok("network", "create", name)
    yield name
    orchd.orch("network", "rm", name)


def run_httpd(orchd: Orchd, name: str, *flags: str) -> str:
    orchd.ok("run", "-d", "--name", name, *flags, "busybox", *HTTPD)
    return name


def sh_in(orchd: Orchd, container: str, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return orchd.orch("exec", container, "sh", "-c", script, timeout=timeout)


# ------------------------------------------------------------------ networks and names


def test_builtin_networks_and_inspect(orchd: Orchd) -> None:
    out = orchd.ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert {"bridge bridge local", "host host local", "none null local"} <= set(out.splitlines())
    doc = json.loads(orchd.ok("network", "inspect", "bridge"))[0]
    assert doc["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert "orch0" in links(orchd.netns)


def test_user_network_names_resolve_and_answer(orchd: Orchd, net: str) -> None:
    web = run_httpd(orchd, orchd.name("web"), "--network", net, "--network-alias", "site")
    client = orchd.name("client")
    orchd.ok("run", "-d", "--name", client, "--network", net, "busybox", "sleep", "300")
    try:
        r = sh_in(orchd, client, f"timeout 3 wget -q -O - http://{web}/ && timeout 3 wget -q -O - http://site/")
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(PAGE.decode()) == 2
        r = sh_in(orchd, client, f"echo -e 'GET / HTTP/1.0\\r\\n' | nc -w 3 {web} 80")
        assert PAGE.decode() in r.stdout
        # names from outside the network's namespace go to the test's upstream, not the host's resolver
        r = sh_in(orchd, client, "nslookup www.example.test")
        assert "10.231.0.80" in r.stdout, r.stdout + r.stderr
        resolv = sh_in(orchd, client, "cat /etc/resolv.conf").stdout
        gw = json.loads(orchd.ok("network", "inspect", net))[0]["IPAM"]["Config"][0]["Gateway"]
        assert f"nameserver {gw}" in resolv
        hosts = sh_in(orchd, web, "cat /etc/hosts").stdout
        assert ip_on(orchd, web, net) in hosts
        doc = json.loads(orchd.ok("network", "inspect", net))[0]
        assert {c["Name"] for c in doc["Containers"].values()} == {web, client}
    finally:
        orchd.ok("rm", "-f", web, client)


def test_alias_round_robin(orchd: Orchd, net: str) -> None:
    a, b, client = orchd.name("rr"), orchd.name("rr"), orchd.name("c")
    for n in (a, b):
        orchd.ok("run", "-d", "--name", n, "--network", net, "--network-alias", "pool", "busybox", "sleep", "300")
    orchd.ok("run", "-d", "--name", client, "--network", net, "busybox", "sleep", "300")
    try:
        ips = {ip_on(orchd, a, net), ip_on(orchd, b, net)}
        firsts = set()
        for _ in range(4):
            out = sh_in(orchd, client, "nslookup pool").stdout
            answers = [line.split()[-1] for line in out.splitlines() if line.startswith("Address") and
                       line.split()[-1] in ips]
            assert set(answers) == ips, out
            firsts.add(answers[0])
        assert firsts == ips  # the order rotates
    finally:
        orchd.ok("rm", "-f", a, b, client)


def test_different_networks_are_isolated(orchd: Orchd, net: str) -> None:
    other = orchd.name("net")
    orchd.ok("network", "create", other)
    web = run_httpd(orchd, orchd.name("web"), "--network", net)
    try:
        ip = ip_on(orchd, web, net)
        r = orchd.orch("run", "--rm", "--network", other, "busybox", "sh", "-c",
                       f"timeout 2 wget -q -O - http://{ip}/; exit $?")
        assert r.returncode != 0 and PAGE.decode() not in r.stdout
        r = orchd.orch("run", "--rm", "--network", other, "busybox", "nslookup", web)
        assert ip not in r.stdout
    finally:
        orchd.ok("rm", "-f", web)
        orchd.ok("network", "rm", other)


def test_connect_and_disconnect_running_container(orchd: Orchd, net: str) -> None:
    other = orchd.name("net")
    orchd.ok("network", "create", "--subnet", "10.77.0.0/24", other)
    c = orchd.name("c")
    orchd.ok("run", "-d", "--name", c, "--network", net, "busybox", "sleep", "300")
    try:
        orchd.ok("network", "connect", "--ip", "10.77.0.50", "--alias", "second", other, c)
        assert "10.77.0.50" in sh_in(orchd, c, "ip -o addr show eth1").stdout
        r = orchd.orch("run", "--rm", "--network", other, "busybox", "nslookup", "second")
        assert "10.77.0.50" in r.stdout
        assert orchd.fails("network", "connect", other, c).endswith(f"already exists in network {other}")
        orchd.ok("network", "disconnect", other, c)
        assert sh_in(orchd, c, "ip link show eth1").returncode != 0
        assert other not in inspect(orchd, c)["NetworkSettings"]["Networks"]
    finally:
        orchd.ok("rm", "-f", c)
        orchd.ok("network", "rm", other)


# ------------------------------------------------------------------ published ports


def test_published_port_everywhere(orchd: Orchd) -> None:
    web = run_httpd(orchd, orchd.name("pub"), "-p", "8080:80")
    try:
        host, outside = orchd.netns.host_path, orchd.netns.outside_path
        eventually(lambda: PAGE in tcp_get(host, "127.0.0.1", 8080), timeout=5)
        assert PAGE in tcp_get(host, HOST_IP, 8080)
        assert PAGE in tcp_get(outside, HOST_IP, 8080)
        assert orchd.ok("port", web).strip() == "80/tcp -> 0.0.0.0:8080"
        assert orchd.ok("port", web, "80").strip() == "0.0.0.0:8080"
        assert "0.0.0.0:8080->80/tcp" in orchd.ok("ps", "--filter", f"name={web}", "--format", "{{.Ports}}")
        # hairpin: the container reaches its own published port through the host's address
        r = sh_in(orchd, web, f"timeout 3 wget -q -O - http://{HOST_IP}:8080/")
        assert PAGE.decode() in r.stdout, r.stderr
        assert inspect(orchd, web)["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    finally:
        orchd.ok("rm", "-f", web)
    assert "8080" not in nft_table(orchd.netns)


def test_ephemeral_and_publish_all(orchd: Orchd) -> None:
    web = run_httpd(orchd, orchd.name("eph"), "-p", "80", "--expose", "81", "-P")
    try:
        lines = orchd.ok("port", web).splitlines()
        ports = {line.split(" -> ")[0]: int(line.rsplit(":", 1)[1]) for line in lines}
        assert set(ports) == {"80/tcp", "81/tcp"}
        assert all(32768 <= p <= 60999 for p in ports.values())
        assert PAGE in eventually(lambda: tcp_get(orchd.netns.outside_path, HOST_IP, ports["80/tcp"]), timeout=5)
    finally:
        orchd.ok("rm", "-f", web)


def test_udp_publish(orchd: Orchd) -> None:
    c = orchd.name("udp")
    orchd.ok("run", "-d", "--name", c, "-p", "5300:5300/udp", "busybox", "sleep", "300")
    netns = f"/proc/{pid_of(orchd, c)}/ns/net"
    sock: socket.socket = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))  # type: ignore[assignment]
    sock.bind(("0.0.0.0", 5300))
    sock.settimeout(0.2)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
                sock.sendto(b"pong:" + data, peer)
            except OSError:
                continue

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    try:
        assert udp_ask(orchd.netns.outside_path, HOST_IP, 5300, b"hi") == b"pong:hi"
        assert udp_ask(orchd.netns.host_path, "127.0.0.1", 5300, b"lo") == b"pong:lo"
    finally:
        stop.set()
        t.join(2)
        sock.close()
        orchd.ok("rm", "-f", c)


def test_egress_is_masqueraded_and_internal_has_no_route(orchd: Orchd) -> None:
    listener: socket.socket = in_netns(orchd.netns.outside_path, lambda: socket.socket())  # type: ignore[assignment]
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((OUTSIDE_IP, 9099))
    listener.listen(8)
    seen: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, peer = listener.accept()
            except OSError:
                return
            seen.append(peer[0])
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\noutside\n")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    internal = orchd.name("int")
    orchd.ok("network", "create", "--internal", internal)
    try:
        r = orchd.orch("run", "--rm", "busybox", "sh", "-c", f"timeout 3 wget -q -O - http://{OUTSIDE_IP}:9099/; exit $?")
        assert "outside" in r.stdout, r.stderr
        assert seen == [HOST_IP]
        r = orchd.orch("run", "--rm", "--network", internal, "busybox", "sh", "-c",
                       f"ip route; timeout 2 wget -q -O - http://{OUTSIDE_IP}:9099/; exit $?")
        assert r.returncode != 0
        assert "default" not in r.stdout
        assert seen == [HOST_IP]
    finally:
        listener.close()
        orchd.ok("network", "rm", internal)


# ------------------------------------------------------------------ restart, bad input, cleanup


@pytest.mark.slow
def test_daemon_restart_keeps_ports_and_dns(orchd: Orchd, net: str) -> None:
    web = run_httpd(orchd, orchd.name("keep"), "--network", net, "-p", "8181:80")
    client = orchd.name("c")
    orchd.ok("run", "-d", "--name", client, "--network", net, "busybox", "sleep", "300")
    try:
        eventually(lambda: PAGE in tcp_get(orchd.netns.outside_path, HOST_IP, 8181), timeout=5)
        orchd.kill()
        orchd.start()
        assert PAGE in tcp_get(orchd.netns.outside_path, HOST_IP, 8181)
        assert PAGE in tcp_get(orchd.netns.host_path, "127.0.0.1", 8181)
        r = sh_in(orchd, client, f"timeout 3 wget -q -O - http://{web}/")
        assert PAGE.decode() in r.stdout, r.stderr
        assert orchd.ok("port", web).strip() == "80/tcp -> 0.0.0.0:8181"
    finally:
        orchd.ok("rm", "-f", web, client)


def test_bad_input_is_one_line_and_creates_nothing(orchd: Orchd) -> None:
    before_nets = orchd.ok("network", "ls", "-q")
    before_links = links(orchd.netns)
    a, b = orchd.name("a"), orchd.name("b")
    orchd.ok("network", "create", "--subnet", "10.88.0.0/16", a)
    try:
        assert "Pool overlaps" in orchd.fails("network", "create", "--subnet", "10.88.1.0/24", b)
        assert "no matching subnet for gateway" in orchd.fails(
            "network", "create", "--subnet", "10.89.0.0/24", "--gateway", "10.90.0.1", b)
        assert "Invalid subnet" in orchd.fails("network", "create", "--subnet", "10.89.0.0/33", b)
        assert "already exists" in orchd.fails("network", "create", a)
        assert orchd.fails("network", "rm", "nosuchnet") == "Error response from daemon: network nosuchnet not found"
        assert "network nosuchnet not found" in orchd.fails("run", "--rm", "--network", "nosuchnet", "busybox", "true")
        assert "pre-defined network" in orchd.fails("network", "rm", "bridge")
        web = run_httpd(orchd, orchd.name("p1"), "--network", a, "-p", "8282:80")
        try:
            assert "has active endpoints" in orchd.fails("network", "rm", a)
            second = orchd.name("p2")
            err = orchd.fails("run", "-d", "--name", second, "-p", "8282:80", "busybox", *HTTPD)
            assert "Bind for 0.0.0.0:8282 failed: port is already allocated" in err
            orchd.ok("rm", "-f", second)
            assert "Address already in use" in orchd.fails(
                "run", "--rm", "--network", a, "--ip", ip_on(orchd, web, a), "busybox", "true")
            assert PAGE in tcp_get(orchd.netns.host_path, "127.0.0.1", 8282)  # the first one is untouched
        finally:
            orchd.ok("rm", "-f", web)
    finally:
        orchd.ok("network", "rm", a)
    assert orchd.ok("network", "ls", "-q") == before_nets
    assert sorted(links(orchd.netns)) == sorted(before_links)


def test_nothing_left_after_removal(orchd: Orchd) -> None:
    n = orchd.name("gone")
    netid = orchd.ok("network", "create", "--subnet", "10.99.0.0/24", n).strip()
    c = run_httpd(orchd, orchd.name("gone"), "--network", n, "-p", "8383:80")
    assert any(name.startswith("vorch") for name in links(orchd.netns))
    orchd.ok("rm", "-f", c)
    orchd.ok("network", "rm", n)
    assert not [name for name in links(orchd.netns) if name.startswith("vorch") or name == f"orch-{netid[:10]}"]
    assert "10.99.0." not in orchd.netns.run("ip", "-o", "addr").stdout
    table = nft_table(orchd.netns)
    assert "8383" not in table and "10.99.0." not in table
