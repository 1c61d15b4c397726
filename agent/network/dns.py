"""The embedded DNS server: container names and aliases per network, everything else forwarded.

How containers reach it (the choice, and why)
---------------------------------------------
The server runs in the daemon, in the host namespace, and listens on UDP and TCP port 53 of every
user-defined bridge's *gateway address*; a container on such a network gets ``nameserver <gateway>`` in
its resolv.conf. Docker instead puts 127.0.0.11 in each container and DNATs it to a socket inside that
container's namespace, which needs per-container nft rules and a socket per namespace. The gateway design
needs neither: the gateway is already every container's next hop, it works for ``--internal`` networks
(the query goes to the host, not through the forward chain), containers with ``--network container:X``
share X's namespace and resolv.conf, and upstreams on the host's loopback (systemd-resolved) stay usable
because forwarding happens from the host namespace. The cost is that port 53 of the gateway addresses
must be free on the host (a dnsmasq bound to 0.0.0.0:53 would conflict).
Modes without embedded DNS, as in Docker: the default ``bridge`` network and ``--network host`` get the
host's resolvers copied into resolv.conf (``container_resolv_conf``); ``none`` gets no nameserver.

Views
-----
Subnets of our networks never overlap, so a query's source address identifies the client. The client's
view is the set of networks it is attached to (``set_client``), or by default the networks whose subnet
holds the source address. A name resolves only if one of the view's networks has it; several addresses
for one name (a shared alias) come back in an order rotated on every query (round robin). Unknown
single-label names get NXDOMAIN without leaving the host; other names are forwarded to the upstreams
(the client's ``--dns`` servers, else the server's), except for clients only on internal networks,
which get SERVFAIL (no way out, not even through DNS).

Threads: one selector thread answers local names inline (well under a millisecond); forwarding and TCP
connections run on a small pool. With ``netns`` set (tests), every socket and pool thread lives in that
namespace (see ``netlink.run_in_netns``).
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSRecord

from agent.network.netlink import enter_netns_for_thread, run_in_netns

log = logging.getLogger(__name__)

TTL = 600
FORWARD_TIMEOUT = 2.0
Upstream = tuple[str, int]


@dataclass(frozen=True)
class _Network:
    subnet: ipaddress.IPv4Network | None
    internal: bool
    names: dict[str, tuple[str, ...]]  # lower-case name -> addresses
    reverse: dict[str, str]  # address -> first name


@dataclass(frozen=True)
class _Client:
    networks: tuple[str, ...]
    upstreams: tuple[Upstream, ...] = ()


@dataclass
class _Listener:
    addr: str
    udp: socket.socket
    tcp: socket.socket
    port: int = field(default=0)


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


class DnsServer:
    """Answers container names per client view and forwards the rest; see the module docstring."""

    def __init__(
        self,
        bind_addrs: Iterable[str] = (),
        port: int = 53,
        upstreams: Sequence[Upstream] | None = None,
        *,
        netns: str | None = None,
        workers: int = 8,
    ) -> None:
        self.port = port
        self.upstreams: tuple[Upstream, ...] = tuple(upstreams if upstreams is not None else host_upstreams())
        self.netns = netns
        self._networks: dict[str, _Network] = {}
        self._clients: dict[str, _Client] = {}
        self._rr_state: dict[str, int] = {}
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        self._ops: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        init = (lambda: enter_netns_for_thread(netns)) if netns else None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dns", initializer=init)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="dns-server", daemon=True)
        self._thread.start()
        for addr in bind_addrs:
            self.listen(addr)

    # ------------------------------------------------------------ records

    def set_records(
        self,
        network_id: str,
        records: dict[str, Sequence[str]],
        *,
        subnet: str | None = None,
        internal: bool = False,
    ) -> None:
        """Replace the names of one network: ``{name or alias: [addresses]}``."""
        names: dict[str, tuple[str, ...]] = {}
        reverse: dict[str, str] = {}
        for name, ips in sorted(records.items()):
            key = _norm(name)
            merged = list(names.get(key, ()))
            merged += [ip for ip in ips if ip not in merged]
            names[key] = tuple(merged)
            for ip in ips:
                reverse.setdefault(ip, key)
        net = ipaddress.IPv4Network(subnet) if subnet else None
        with self._lock:
            self._networks = {**self._networks, network_id: _Network(net, internal, names, reverse)}

    def remove_network(self, network_id: str) -> None:
        with self._lock:
            self._networks = {k: v for k, v in self._networks.items() if k != network_id}

    def set_client(self, ip: str, network_ids: Sequence[str], upstreams: Sequence[Upstream] = ()) -> None:
        """Declare the networks (and ``--dns`` upstreams) of the container that owns address ``ip``."""
        with self._lock:
            self._clients = {**self._clients, ip: _Client(tuple(network_ids), tuple(upstreams))}

    def remove_client(self, ip: str) -> None:
        with self._lock:
            self._clients = {k: v for k, v in self._clients.items() if k != ip}

    # ------------------------------------------------------------ listeners

    def listen(self, addr: str) -> int:
        """Serve UDP and TCP on ``addr`` (idempotent); returns the bound port."""
        with self._lock:
            if addr in self._listeners:
                return self._listeners[addr].port
            udp, tcp, port = run_in_netns(self.netns, _bind_pair, addr, self.port)
            lst = _Listener(addr, udp, tcp, port)
            self._listeners[addr] = lst
        self._call_in_loop(lambda: self._register(lst))
        return port

    def unlisten(self, addr: str) -> None:
        """Stop serving ``addr`` (idempotent), e.g. before its bridge is deleted."""
        with self._lock:
            lst = self._listeners.pop(addr, None)
        if lst is not None:
            self._call_in_loop(lambda: self._unregister(lst))

    def listening(self) -> dict[str, int]:
        with self._lock:
            return {a: lst.port for a, lst in self._listeners.items()}

    def stop(self) -> None:
        """Close every socket and stop the threads."""
        if self._stopping:
            return
        for addr in list(self.listening()):
            self.unlisten(addr)  # runs on the loop thread, so the loop must still be running
        self._stopping = True
        self._wake()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ loop

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _call_in_loop(self, op: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                op()
            finally:
                done.set()

        self._ops.put(run)
        self._wake()
        done.wait(timeout=5)

    def _register(self, lst: _Listener) -> None:
        self._sel.register(lst.udp, selectors.EVENT_READ, ("udp", lst))
        self._sel.register(lst.tcp, selectors.EVENT_READ, ("tcp", lst))

    def _unregister(self, lst: _Listener) -> None:
        for sock in (lst.udp, lst.tcp):
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()

    def _serve(self) -> None:
        while not self._stopping:
            for key, _ in self._sel.select(timeout=1.0):
                kind, lst = key.data
                try:
                    if kind == "wake":
                        self._wake_r.recv(4096)
                    elif kind == "udp":
                        self._on_udp(lst)
                    else:
                        conn, peer = lst.tcp.accept()
                        self._pool.submit(self._serve_tcp, conn, peer[0])
                except OSError as err:
                    log.debug("dns: %s", err)
            while True:
                try:
                    op = self._ops.get_nowait()
                except queue.Empty:
                    break
                op()

    def _on_udp(self, lst: _Listener) -> None:
        data, peer = lst.udp.recvfrom(4096)
        reply = self._answer_local(data, peer[0])
        if reply is not None:
            if reply:
                lst.udp.sendto(reply, peer)
            return
        self._pool.submit(self._forward_udp, lst.udp, data, peer)

    def _forward_udp(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        reply = self._forward(data, peer[0], tcp=False)
        try:
            sock.sendto(reply, peer)
        except OSError as err:  # listener closed meanwhile
            log.debug("dns: reply to %s: %s", peer, err)

    def _serve_tcp(self, conn: socket.socket, client: str) -> None:
        with conn:
            conn.settimeout(FORWARD_TIMEOUT * 2)
            try:
                while True:
                    data = _recv_tcp_message(conn)
                    if data is None:
                        return
                    reply = self._answer_local(data, client)
                    if reply is None:
                        reply = self._forward(data, client, tcp=True)
                    if not reply:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError as err:
                log.debug("dns tcp %s: %s", client, err)

    # ------------------------------------------------------------ answers

    def _view(self, client: str) -> tuple[list[_Network], tuple[Upstream, ...]]:
        nets = self._networks
        declared = self._clients.get(client)
        if declared is not None:
            return [nets[n] for n in declared.networks if n in nets], declared.upstreams
        try:
            addr = ipaddress.IPv4Address(client)
        except ValueError:
            return [], ()
        return [n for n in nets.values() if n.subnet is not None and addr in n.subnet], ()

    def _answer_local(self, data: bytes, client: str) -> bytes | None:
        """The reply for a local name (or a refusal), or None when the query must be forwarded."""
        try:
            request = DNSRecord.parse(data)
        except Exception:  # dnslib raises several types on garbage; drop the packet like a resolver
            return b""
        if not request.questions:
            return b""
        q = request.questions[0]
        name = _norm(str(q.qname))
        view, _ = self._view(client)
        reply = request.reply()
        if q.qtype == QTYPE.PTR:
            ip = _ptr_to_ip(name)
            for net in view:
                if ip is not None and ip in net.reverse:
                    reply.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(net.reverse[ip] + "."), ttl=TTL))
                    return reply.pack()
        else:
            found: list[str] = []
            for net in view:
                found += [ip for ip in net.names.get(name, ()) if ip not in found]
            if found:
                if q.qtype in (QTYPE.A, QTYPE.ANY):
                    for ip in self._rotate(client + "|" + name, found):
                        reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
                return reply.pack()  # NOERROR, and no AAAA/MX/... for a container name
            if "." not in name:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply.pack()
        if view and all(net.internal for net in view):
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        return None

    def _rotate(self, key: str, ips: list[str]) -> list[str]:
        if len(ips) < 2:
            return ips
        if len(self._rr_state) > 10000:  # bounded memory; losing rotation state is harmless
            self._rr_state.clear()
        n = self._rr_state.get(key, -1) + 1
        self._rr_state[key] = n
        k = n % len(ips)
        return ips[k:] + ips[:k]

    def _forward(self, data: bytes, client: str, *, tcp: bool) -> bytes:
        _, own = self._view(client)
        for upstream in own or self.upstreams:
            try:
                return _ask_tcp(upstream, data) if tcp else _ask_udp(upstream, data)
            except (OSError, ValueError) as err:
                log.debug("dns: upstream %s: %s", upstream, err)
        reply = DNSRecord.parse(data).reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply.pack()


def _bind_pair(addr: str, port: int) -> tuple[socket.socket, socket.socket, int]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((addr, port))
        bound = udp.getsockname()[1]
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((addr, bound))
        tcp.listen(64)
        udp.setblocking(False)
        tcp.setblocking(False)
    except OSError as err:
        udp.close()
        tcp.close()
        raise OSError(err.errno, f"dns: cannot listen on {addr}:{port}: {err.strerror}") from None
    return udp, tcp, bound


def _ptr_to_ip(name: str) -> str | None:
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4:
        return None
    return ".".join(reversed(parts))


def _ask_udp(upstream: Upstream, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(FORWARD_TIMEOUT)
        s.connect(upstream)
        s.send(data)
        while True:
            reply = s.recv(65535)
            if reply[:2] == data[:2]:  # same transaction id
                return reply


def _ask_tcp(upstream: Upstream, data: bytes) -> bytes:
    with socket.create_connection(upstream, timeout=FORWARD_TIMEOUT) as s:
        s.sendall(struct.pack("!H", len(data)) + data)
        reply = _recv_tcp_message(s)
        if reply is None:
            raise ValueError("upstream closed the connection")
        return reply


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv_tcp_message(sock: socket.socket) -> bytes | None:
    head = _recv_exact(sock, 2)
    if head is None:
        return None
    return _recv_exact(sock, struct.unpack("!H", head)[0])


# ---------------------------------------------------------------- resolv.conf


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            search = fields[1:]
        elif fields[0] == "options":
            options += fields[1:]
    return servers, search, options


def host_upstreams(path: str = "/etc/resolv.conf") -> list[Upstream]:
    """The host's IPv4 resolvers, used as the default upstreams of the embedded server."""
    try:
        with open(path) as f:
            servers, _, _ = parse_resolv_conf(f.read())
    except OSError:
        return []
    return [(s, 53) for s in servers if _is_ipv4(s)]


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


FALLBACK_RESOLVERS = ("8.8.8.8", "8.8.4.4")


def container_resolv_conf(
    *,
    embedded: str | None,
    host_resolv_conf: str,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] | None = None,
    dns_options: Sequence[str] = (),
) -> str:
    """The resolv.conf of a container.

    ``embedded``: the gateway address of the container's first user-defined network (the embedded
    server), or None for the default bridge (host resolvers copied, loopback ones dropped because they
    are unreachable from the container, Google's as a last resort like Docker). With ``embedded``,
    ``--dns`` servers become the upstreams of the embedded server (``DnsServer.set_client``) rather than
    resolv.conf entries.
    """
    host_servers, host_search, host_options = parse_resolv_conf(host_resolv_conf)
    if embedded is not None:
        servers = [embedded]
        options = ["ndots:0", *dns_options]
    else:
        servers = list(dns) or [s for s in host_servers if not _is_loopback(s)]
        servers = servers or list(FALLBACK_RESOLVERS)
        options = list(dns_options) or host_options
    search = host_search if dns_search is None else list(dns_search)
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
