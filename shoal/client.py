"""The CLI's connection to the manager: address resolution and the one channel factory."""
from __future__ import annotations

import json
import os
from pathlib import Path

from datetime import datetime, timezone

import grpc

from shoal.pki import files
from shoal.pki.files import Credentials
from shoal.pki.grpc_tls import channel_credentials, expect_name
from shoal.pki.names import MANAGER_NAME
from shoal.protos.limits import GRPC_OPTIONS
from shoal.protos.shoal.v1 import manager_pb2_grpc



def config_dir() -> Path:
    """$SHOAL_CONFIG_DIR, else ~/.shoal; read at each call, not at import: a CLI session's command
    runs in the environment of the shell that typed it, not the session's."""
    return Path(os.environ.get("SHOAL_CONFIG_DIR") or Path.home() / ".shoal")


def context_path() -> Path:
    return config_dir() / "context.json"


class NoManager(Exception):
    pass


def read_context(path: Path | None = None) -> dict:
    path = path or context_path()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NoManager(f"{path}: unreadable context ({exc})") from exc


def write_context(doc: dict, path: Path | None = None) -> None:
    path = path or context_path()
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


def resolve_credentials(tls_dir: str | None, insecure: bool) -> Credentials | None:
    """--tls-dir (or $SHOAL_TLS_DIR: ca.pem, admin.pem, admin.key), else the context's files.
    None only with --insecure, for a manager started with --insecure."""
    if insecure:
        return None
    tls_dir = tls_dir or os.environ.get("SHOAL_TLS_DIR")
    if tls_dir:
        creds = files.load(Path(tls_dir), "admin")
        where = f"--tls-dir {tls_dir}"
    else:
        ctx = read_context()
        where = str(context_path())
        try:
            creds = Credentials(Path(ctx["ca"]).read_bytes(), Path(ctx["cert"]).read_bytes(),
                                Path(ctx["key"]).read_bytes()) if ctx.get("cert") else None
        except OSError as exc:
            raise NoManager(f"{where}: cannot read the admin certificate ({exc})") from exc
    if creds is None:
        raise NoManager(f"{where}: no admin certificate (run `shoal cluster init` or `shoal dev up`, "
                        "or give --tls-dir; --insecure only for a manager started with --insecure)")
    return creds


def certificate_problem(creds: Credentials) -> str | None:
    """Why the manager would refuse this certificate, if we can tell: asked after a refused
    handshake rather than before every call (parsing X.509 costs the CLI ~50 ms of imports)."""
    try:
        who = creds.identity
    except ValueError as exc:
        return f"the admin certificate is unreadable ({exc})"
    if who.not_after <= datetime.now(timezone.utc):
        return f"the admin certificate expired at {who.not_after.isoformat(timespec='seconds')}"
    return None


CONNECT_TIMEOUT = 3.0

# A channel opened ahead of the command by the CLI session's spare process (prepare()); handed
# to the command's connect() only for the same address and credentials, and only if connected.
_prepared: tuple[str, Credentials | None, grpc.Channel, manager_pb2_grpc.ManagerStub] | None = None


def prepare(address: str, creds: Credentials | None) -> None:
    """Starts connecting the channel that connect(address, creds) would return."""
    global _prepared
    if "," in address:
        return   # connect() probes several managers: nothing to gain ahead
    channel, stub = _channel(address, creds)
    _connectivity(channel, try_to_connect=True)
    _prepared = (address, creds, channel, stub)


def _connectivity(channel: grpc.Channel, try_to_connect: bool):
    """The channel's state, asking it to connect if `try_to_connect`; None if this gRPC cannot
    tell. Not channel.subscribe(): its watcher thread, in a forked process, held each call
    until its next 0.2 s poll (measured)."""
    check = getattr(getattr(channel, "_channel", None), "check_connectivity_state", None)
    if check is None:
        return None
    code = check(try_to_connect)
    return next((state for state in grpc.ChannelConnectivity if state.value[0] == code), None)


def _take_prepared(address: str, creds: Credentials | None):
    global _prepared
    if _prepared is None:
        return None
    ready_for, ready_creds, channel, stub = _prepared
    _prepared = None
    # Still connecting is fine (the call waits for it, as on a new channel); a failed connection
    # is not: a new channel tries again at once where this one would fail the call.
    if (ready_for, ready_creds) == (address, creds) and _connectivity(channel, False) not in (
            grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
        return channel, stub
    channel.close()
    return None


def connect(address: str, creds: Credentials | None) -> tuple[grpc.Channel, manager_pb2_grpc.ManagerStub]:
    """address may list several managers (comma-separated): the first that answers is used;
    any manager serves reads and forwards writes to the leader."""
    prepared = _take_prepared(address, creds)
    if prepared is not None:
        return prepared
    addresses = [a.strip() for a in address.split(",") if a.strip()]
    if len(addresses) == 1:
        return _channel(addresses[0], creds)
    for candidate in addresses:
        channel, stub = _channel(candidate, creds)
        try:
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
            return channel, stub
        except grpc.FutureTimeoutError:
            channel.close()
    raise NoManager(f"--manager: none of {', '.join(addresses)} answered within {CONNECT_TIMEOUT:.0f} s")


def _channel(address: str, creds: Credentials | None) -> tuple[grpc.Channel, manager_pb2_grpc.ManagerStub]:
    if creds is None:
        channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
    else:
        # Any manager of the cluster will do: the name checked is the role's, not the address.
        channel = grpc.secure_channel(address, channel_credentials(creds.ca, creds),
                                      options=[*GRPC_OPTIONS, *expect_name(MANAGER_NAME)])
    return channel, manager_pb2_grpc.ManagerStub(channel)
