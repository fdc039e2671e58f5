"""The CLI's connection to the manager: address resolution and the one channel factory."""
from __future__ import annotations

import json
import os
from pathlib import Path

import grpc

from protos.limits import GRPC_OPTIONS
from protos.shoal.v1 import manager_pb2_grpc

DEFAULT_CONTEXT = Path(os.environ.get("SHOAL_CONFIG_DIR", Path.home() / ".shoal")) / "context.json"


class NoManager(Exception):
    pass


def read_context(path: Path = DEFAULT_CONTEXT) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NoManager(f"{path}: unreadable context ({exc})") from exc


def write_context(doc: dict, path: Path = DEFAULT_CONTEXT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def resolve_manager(flag: str | None) -> str:
    """--manager, else $SHOAL_MANAGER, else the context that `shoal dev up` wrote."""
    if flag:
        return flag
    env = os.environ.get("SHOAL_MANAGER")
    if env:
        return env
    ctx = read_context()
    if ctx.get("manager"):
        return ctx["manager"]
    raise NoManager("--manager: no manager address (give --manager HOST:PORT, set SHOAL_MANAGER, or run `shoal dev up`)")


CONNECT_TIMEOUT = 3.0


def connect(address: str) -> tuple[grpc.Channel, manager_pb2_grpc.ManagerStub]:
    """address may list several managers (comma-separated): the first that answers is used;
    any manager serves reads and forwards writes to the leader."""
    addresses = [a.strip() for a in address.split(",") if a.strip()]
    if len(addresses) == 1:
        return _channel(addresses[0])
    for candidate in addresses:
        channel, stub = _channel(candidate)
        try:
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
            return channel, stub
        except grpc.FutureTimeoutError:
            channel.close()
    raise NoManager(f"--manager: none of {', '.join(addresses)} answered within {CONNECT_TIMEOUT:.0f} s")


def _channel(address: str) -> tuple[grpc.Channel, manager_pb2_grpc.ManagerStub]:
    # TLS arrives with the cluster CA; until then the manager itself only runs with --insecure.
    channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
    return channel, manager_pb2_grpc.ManagerStub(channel)
