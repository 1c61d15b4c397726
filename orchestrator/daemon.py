"""orchd: the composition root of the per-host daemon.

Order matters: the spawner (the parent of every container) is started or re-joined before any
gRPC thread exists; then the stores and the engine are built, running containers re-adopted, and
only then is the socket opened. Nothing here forks after threads start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/orch"
DEFAULT_RUN_DIR = "/run/orch"


def default_socket() -> str:
    return os.path.join(DEFAULT_RUN_DIR, "orch.sock")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--state-dir", default=os.environ.get("ORCH_STATE_DIR", DEFAULT_STATE_DIR))
    ap.add_argument("--socket", default=None, help="unix socket to serve (default: <run dir>/orch.sock)")
    ap.add_argument("--run-dir", default=os.environ.get("ORCH_RUN_DIR", DEFAULT_RUN_DIR))
    ap.add_argument("--cgroup-parent", default=os.environ.get("ORCH_CGROUP_PARENT", "orch"))
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--advertise-addr", default=os.environ.get("ORCH_ADVERTISE_ADDR", ""),
                    help="IP[:PORT] other nodes reach this one at (Raft uses PORT+1; default port 2377)")
    ap.add_argument("--listen-addr", default=os.environ.get("ORCH_LISTEN_ADDR", ""),
                    help="IP:PORT to serve the cluster API on over TCP (default: with --advertise-addr, 0.0.0.0:PORT)")
    ap.add_argument("--hostname", default=os.environ.get("ORCH_HOSTNAME", ""), help="the node's name in the cluster")


def run(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    run_dir = Path(args.run_dir)
    sock = args.socket or str(run_dir / "orch.sock")
    for d in (state_dir, run_dir, state_dir / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o700)
    # Request threads hand the GIL back quickly: a start waits on the spawner, not on idle loops.
    sys.setswitchinterval(0.0005)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log = logging.getLogger("orchd")

    # 1. The spawner, before any thread.
    from agent.runtime.spawn_client import SpawnerClient

    spawner = SpawnerClient(str(run_dir / "spawner.sock"), str(state_dir / "spawner.log"))
    spawner_pid = spawner.ensure_running()
    log.info("spawner pid %d", spawner_pid)

    # 2. Stores and the engine; re-adopt what runs.
    from agent.api import EngineService
    from agent.runtime.engine import Engine
    from agent.runtime.images import ImageStore
    from agent.runtime.volumes import VolumeStore

    images = ImageStore(state_dir / "images")
    volumes = VolumeStore(state_dir / "volumes")
    engine = Engine(state_dir, run_dir, images, volumes, spawner, cgroup_parent=args.cgroup_parent)
    from agent.network.manager import NetworkManager, engine_binding

    network = NetworkManager(state_dir / "network")
    network.bind(*engine_binding(engine))
    network.boot()  # bridges, nft rules and DNS of what still runs, before containers are re-adopted
    engine.network = network
    engine.boot()
    from agent.health import HealthMonitor

    engine.healthchecks = HealthMonitor(engine)  # healthchecks of what runs, then of every start
    engine.healthchecks.start()
    network.adopt(engine.list())

    # 3. The API.
    import grpc

    from proto.orch.v1 import engine_pb2_grpc

    info = {"DockerRootDir": str(state_dir), "Driver": "overlay", "LoggingDriver": "json-file",
            "OperatingSystem": _os_name(), "NCPU": os.cpu_count(), "MemTotal": _mem_total(),
            "Name": os.uname().nodename, "Runtime": "orch-spawner", "SpawnerPid": spawner_pid}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="rpc"),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    engine_pb2_grpc.add_EngineServicer_to_server(EngineService(engine, images, volumes, info), server)
    from agent.network_api import NetworkService
    from proto.orch.v1 import network_pb2_grpc

    network_pb2_grpc.add_NetworksServicer_to_server(NetworkService(network, engine), server)
    from orchestrator.manager import Manager

    manager = Manager(state_dir, engine, server, sock, advertise_addr=args.advertise_addr, hostname=args.hostname)
    manager.start()  # a cluster of one, or this node's role in the cluster it joined
    listen = _listen_addr(args.listen_addr, args.advertise_addr)
    if listen:  # plain TCP for now; mTLS credentials go here (a later issue)
        server.add_insecure_port(listen)
        log.info("serving the cluster API on tcp://%s", listen)
    try:
        os.unlink(sock)
    except FileNotFoundError:
        pass
    old = os.umask(0o177)  # the socket is created 0600: root only
    try:
        server.add_insecure_port(f"unix://{sock}")
        server.start()
    finally:
        os.umask(old)
    os.chmod(sock, 0o600)
    (run_dir / "orchd.pid").write_text(str(os.getpid()))
    log.info("serving on unix://%s", sock)

    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    log.info("shutting down (containers keep running)")
    manager.stop()
    engine.healthchecks.stop()
    engine.shutdown()
    server.stop(grace=1).wait()
    network.close()
    try:
        os.unlink(sock)
    except OSError:
        pass
    return 0


def _listen_addr(listen: str, advertise: str) -> str:
    from orchestrator.membership.state import DEFAULT_PORT, split_addr

    if listen:
        host, port = split_addr(listen, DEFAULT_PORT)
        return f"{host or '0.0.0.0'}:{port}"
    if advertise:
        return f"0.0.0.0:{split_addr(advertise, DEFAULT_PORT)[1]}"
    return ""


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="orchd")
    add_arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
