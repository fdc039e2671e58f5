"""The joining side: fetch and pin the CA, send a CSR with the token, get a certificate back."""
from __future__ import annotations

import asyncio

import grpc

from shoal.pki import ca as ca_mod
from shoal.pki import tokens
from shoal.pki.fetch import fetch_ca
from shoal.pki.files import Credentials
from shoal.pki.grpc_tls import channel_credentials, expect_name
from shoal.protos.limits import GRPC_OPTIONS
from shoal.protos.shoal.v1 import manager_pb2, manager_pb2_grpc

JOIN_TIMEOUT = 15.0


class JoinRefused(Exception):
    pass


def join_address(manager: str) -> str:
    """Managers serve joins on the port after their API port (holders of no certificate yet
    cannot pass the API port's client-certificate check)."""
    host, _, port = manager.rpartition(":")
    return f"{host}:{int(port) + 1}"


async def join(address: str, token_text: str, role: str, node_id: str = "",
               timeout: float = JOIN_TIMEOUT) -> tuple[Credentials, bytes]:
    """Returns the new credentials and, for managers, the CA key."""
    token = tokens.parse(token_text)
    ca_pem = await asyncio.to_thread(fetch_ca, address, token.ca_digest, timeout)
    key = ca_mod.new_key()
    channel = grpc.aio.secure_channel(address, channel_credentials(ca_pem, None),
                                      options=[*GRPC_OPTIONS, *expect_name(ca_mod.MANAGER_NAME)])
    try:
        reply = await manager_pb2_grpc.ManagerStub(channel).Join(
            manager_pb2.JoinRequest(token=token_text.strip(), role=role, node_id=node_id,
                                    csr=ca_mod.make_csr(key, node_id or role)), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise JoinRefused(f"join at {address}: {exc.details() or exc.code().name}") from None
    finally:
        await channel.close()
    creds = Credentials(ca_pem, reply.certificate, ca_mod.key_pem(key))
    cert = ca_mod.load_cert(reply.certificate)
    try:
        theirs = ca_mod.ec_public_key(cert).public_numbers()
    except ValueError as exc:
        raise JoinRefused(f"join at {address}: {exc}") from None
    if theirs != key.public_key().public_numbers():
        raise JoinRefused(f"join at {address}: the certificate returned is not for our key")
    if creds.identity.role != role or (node_id and creds.identity.node_id != node_id):
        raise JoinRefused(f"join at {address}: got a certificate for {creds.identity}, asked for {role}:{node_id}")
    return creds, reply.ca_key


def remote_renewer(addresses: list[str], current):
    """renew(csr) over mTLS with the current certificate, trying each manager in turn."""
    async def renew(csr: bytes) -> bytes:
        creds: Credentials = current()
        last = "no manager address"
        for address in addresses:
            channel = grpc.aio.secure_channel(address, channel_credentials(creds.ca, creds),
                                              options=[*GRPC_OPTIONS, *expect_name(ca_mod.MANAGER_NAME)])
            try:
                reply = await manager_pb2_grpc.ManagerStub(channel).Renew(
                    manager_pb2.RenewRequest(csr=csr), timeout=JOIN_TIMEOUT)
                return reply.certificate
            except grpc.aio.AioRpcError as exc:
                last = f"{address}: {exc.details() or exc.code().name}"
            finally:
                await channel.close()
        raise JoinRefused(f"renewal refused or unreachable ({last})")
    return renew
