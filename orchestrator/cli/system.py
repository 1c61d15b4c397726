"""System commands: version, info."""

from __future__ import annotations

import argparse
import json
import platform

from orchestrator.cli import client, output
from proto.orch.v1 import engine_pb2 as pb


def cmd_version(args: argparse.Namespace) -> int:
    from agent.api import API_VERSION, VERSION

    v = client.engine().Version(pb.Empty())
    doc = {"Client": {"Version": VERSION, "ApiVersion": API_VERSION, "Python": platform.python_version()},
           "Server": {"Version": v.version, "ApiVersion": v.api_version, "Python": v.python, "Os": v.os,
                      "Arch": v.arch, "KernelVersion": v.kernel}}
    if args.format:
        output.render_inspect([doc], args.format)
        return 0
    print("Client:")
    print(f" Version:           {VERSION}")
    print(f" API version:       {API_VERSION}")
    print(f" Python version:    {platform.python_version()}")
    print()
    print("Server:")
    print(f" Version:           {v.version}")
    print(f" API version:       {v.api_version}")
    print(f" Python version:    {v.python}")
    print(f" OS/Arch:           {v.os}/{v.arch}")
    print(f" Kernel Version:    {v.kernel}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    doc = json.loads(client.engine().Info(pb.Empty()).json)
    if args.format:
        output.render_inspect([doc], args.format)
        return 0
    print(f"Containers: {doc['Containers']}")
    print(f" Running: {doc['ContainersRunning']}")
    print(f" Paused: {doc['ContainersPaused']}")
    print(f" Stopped: {doc['ContainersStopped']}")
    print(f"Images: {doc['Images']}")
    print(f"Volumes: {doc['Volumes']}")
    print(f"Server Version: {doc['ServerVersion']}")
    print(f"Storage Driver: {doc['Driver']}")
    print(f"Logging Driver: {doc['LoggingDriver']}")
    print(f"Cgroup Driver: {doc['CgroupDriver']}")
    print(f"Cgroup Version: {doc['CgroupVersion']}")
    print(f"Runtime: {doc['Runtime']} (pid {doc['SpawnerPid']})")
    print(f"Kernel Version: {doc['KernelVersion']}")
    print(f"Operating System: {doc['OperatingSystem']}")
    print(f"CPUs: {doc['NCPU']}")
    print(f"Total Memory: {doc['MemTotal'] / (1 << 30):.2f}GiB")
    print(f"Name: {doc['Name']}")
    print(f"Orch Root Dir: {doc['DockerRootDir']}")
    return 0
