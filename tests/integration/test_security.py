"""Mutual TLS, join tokens, revocation and etcd identities, on the real dev cluster."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from concurrent import futures
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from shoal.pki import ca as ca_mod
from shoal.pki import files
from shoal.pki.files import Credentials
from shoal.pki.grpc_tls import channel_credentials, expect_name, server_credentials
from shoal.protos import etcd_keys
from shoal.etcd.client import EtcdClient, EtcdPermissionDenied, TlsConfig
from shoal.protos.limits import GRPC_OPTIONS
from shoal.protos.shoal.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    manager_pb2,
    manager_pb2_grpc,
    types_pb2,
)
from tests.integration.conftest import ROOT, SECRET_ENV_VALUE, Shoal
from tests.polling import poll
from tests.integration.ports import free_port, free_port_pair

pytestmark = pytest.mark.integration
IMAGE = "shoal/busybox:latest"


def authority(cluster) -> ca_mod.Authority:
    m = cluster.manager_dir
    return ca_mod.Authority.load((m / "ca.pem").read_bytes(), (m / "ca.key").read_bytes())


def issue(auth: ca_mod.Authority, cn: str, role: str, lifetime: timedelta = timedelta(hours=1)) -> Credentials:
    key = ca_mod.new_key()
    cert = ca_mod.issue_for_role(auth, key.public_key(), cn, role, lifetime)
    return Credentials(auth.pem, ca_mod.cert_pem(cert), ca_mod.key_pem(key))


def cli_with(cluster, tmp_path: Path, trust: bytes, creds: Credentials, name: str) -> Shoal:
    """The real CLI, trusting `trust` and presenting `creds`."""
    d = tmp_path / name
    files.save(d, "admin", Credentials(trust, creds.cert, creds.key))
    return Shoal(cluster.manager_address, str(d))


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def node_creds(cluster, host) -> Credentials:
    creds = files.load(host.dir / "agent", "node")
    assert creds is not None
    return creds


def test_admin_api_refuses_every_wrong_certificate(shoal, cluster, tmp_path):
    auth = authority(cluster)
    other = ca_mod.Authority.create("attacker")
    assert shoal.json("node", "ls")   # the right certificate works

    # A certificate from another CA: the manager ends the handshake.
    err = one_line_error(cli_with(cluster, tmp_path, auth.pem, issue(other, "admin", "admin"), "foreign")(
        "node", "ls", check=False))
    assert err.startswith("shoal: TLS: the manager closed the connection during the handshake"), err

    # The manager of another cluster: our CLI refuses its certificate.
    err = one_line_error(cli_with(cluster, tmp_path, other.pem, issue(other, "admin", "admin"), "wrongca")(
        "node", "ls", check=False))
    assert "TLS: the manager's certificate does not verify" in err, err

    # Expired: the manager refuses it (raw gRPC below) and the CLI says why.
    expired = issue(auth, "admin", "admin", lifetime=timedelta(seconds=-1))
    err = one_line_error(cli_with(cluster, tmp_path, auth.pem, expired, "expired")("node", "ls", check=False))
    assert "the admin certificate expired at" in err, err
    assert raw_call(cluster.manager_address, auth.pem, expired) == grpc.StatusCode.UNAVAILABLE

    # No certificate at all.
    assert raw_call(cluster.manager_address, auth.pem, None) == grpc.StatusCode.UNAVAILABLE

    # An agent's certificate on the admin API.
    agent = node_creds(cluster, cluster.hosts[0])
    err = one_line_error(cli_with(cluster, tmp_path, auth.pem, agent, "agent")("node", "ls", check=False))
    assert err == "shoal: ListNodes: an agent certificate may not call this (needs admin or manager)", err

    # Revoked: refused on the next call, with the serial named.
    revoked = issue(auth, "admin", "admin")
    cli = cli_with(cluster, tmp_path, auth.pem, revoked, "revoked")
    assert cli.json("node", "ls")
    asyncio.run(etcd_put(cluster, etcd_keys.revoked(revoked.identity.serial), json.dumps({"common_name": "admin"})))
    err = poll(lambda: (r := cli("node", "ls", check=False)).returncode == 1 and r.stderr.strip(), 10,
               what="the revoked certificate refused")
    assert f"certificate {revoked.identity.serial} of admin:admin has been revoked" in err


def raw_call(address: str, trust: bytes, creds: Credentials | None) -> grpc.StatusCode | None:
    channel = grpc.secure_channel(address, channel_credentials(trust, creds),
                                  options=[*GRPC_OPTIONS, *expect_name(ca_mod.MANAGER_NAME)])
    try:
        manager_pb2_grpc.ManagerStub(channel).ListNodes(manager_pb2.ListNodesRequest(), timeout=5)
        return None
    except grpc.RpcError as exc:
        return exc.code()
    finally:
        channel.close()


async def etcd_put(cluster, key: str, value: str) -> None:
    m = files.load(cluster.manager_dir, "manager")
    async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
        await etcd.put(key, value)


def test_agents_serve_managers_only(shoal, cluster):
    auth = authority(cluster)
    h = cluster.hosts[0]
    node_id = node_creds(cluster, h).identity.node_id

    def describe(creds: Credentials | None, name: str):
        channel = grpc.secure_channel(h.agent_address, channel_credentials(auth.pem, creds),
                                      options=[*GRPC_OPTIONS, *expect_name(name)])
        try:
            agent_pb2_grpc.AgentStub(channel).DescribeNode(agent_pb2.DescribeNodeRequest(), timeout=5)
            return None
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
        finally:
            channel.close()

    manager = files.load(cluster.manager_dir, "manager")
    assert describe(manager, ca_mod.node_name(node_id)) is None
    code, details = describe(issue(auth, "admin", "admin"), ca_mod.node_name(node_id))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "an admin certificate may not call this" in details
    # Another node's certificate is not a manager's either.
    code, _ = describe(node_creds(cluster, cluster.hosts[1]), ca_mod.node_name(node_id))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert describe(None, ca_mod.node_name(node_id))[0] == grpc.StatusCode.UNAVAILABLE
    # The manager checks which node answers: expecting another node's name fails the handshake.
    assert describe(manager, ca_mod.node_name("0" * 20))[0] == grpc.StatusCode.UNAVAILABLE


def test_an_agents_etcd_identity_writes_only_its_own_keys(shoal, cluster):
    h1, h2 = cluster.hosts[0], cluster.hosts[1]
    creds = node_creds(cluster, h1)
    me, other = creds.identity.node_id, node_creds(cluster, h2).identity.node_id

    async def attempt():
        results = {}
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(creds.ca, creds.cert, creds.key), timeout=5) as etcd:
            own = etcd_keys.node_prefix(me) + "security-probe"
            await etcd.put(own, "mine")
            await etcd.delete(own)
            for name, call in (
                ("other node", lambda: etcd.put(etcd_keys.node_info(other), "{}")),
                ("delete other", lambda: etcd.delete(etcd_keys.node_prefix(other), prefix=True)),
                ("service", lambda: etcd.put(etcd_keys.service("evil"), "{}")),
                ("leader", lambda: etcd.put(etcd_keys.LEADER, "{}")),
                ("revocations", lambda: etcd.delete(etcd_keys.REVOKED, prefix=True)),
                ("read tokens", lambda: etcd.get(etcd_keys.join_token("agent"))),
                ("read specs", lambda: etcd.get_prefix(etcd_keys.SERVICES)),
            ):
                try:
                    await call()
                    results[name] = "allowed"
                except EtcdPermissionDenied:
                    results[name] = "denied"
        return results

    results = asyncio.run(attempt())
    assert set(results.values()) == {"denied"}, results
    assert h2.name in shoal.nodes()   # nothing of the other node was touched


def test_a_token_pinned_to_another_ca_does_not_join(shoal, cluster, tmp_path):
    """A stand-in manager with its own CA on loopback: the agent refuses it before sending anything."""
    impostor = ca_mod.Authority.create("impostor")
    creds = issue(impostor, "mgr-impostor", "manager")
    joins = []

    class Impostor(manager_pb2_grpc.ManagerServicer):
        def Join(self, request, context):
            joins.append(request.token)
            return manager_pb2.JoinReply()

    port = free_port_pair()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    manager_pb2_grpc.add_ManagerServicer_to_server(Impostor(), server)
    server.add_secure_port(f"127.0.0.1:{port + 1}", server_credentials(lambda: creds, require_client_auth=False))
    server.start()
    try:
        token = cluster.join_token("agent")
        env = dict(os.environ, SHOAL_JOIN_TOKEN=token)
        r = subprocess.run([sys.executable, "-m", "shoal", "agent", "--etcd", "https://127.0.0.1:1",
                            "--advertise", f"127.0.0.1:{free_port()}", "--manager", f"127.0.0.1:{port}",
                            "--state-dir", str(tmp_path / "agent")],
                           capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    finally:
        server.stop(None)
    assert r.returncode == 1, r
    assert "refusing to join" in r.stderr and "presents a CA with digest" in r.stderr, r.stderr
    assert joins == []
    assert not (tmp_path / "agent" / "node.pem").exists()
    assert token not in r.stderr


def test_a_wrong_or_rotated_token_is_refused_and_joined_nodes_keep_working(shoal, cluster, tmp_path):
    old = cluster.join_token("agent")
    rotated = shoal("cluster", "join-token", "agent", "--rotate", "-q").stdout.strip()
    assert rotated != old and rotated.startswith("SHOAL-1-")
    (cluster.manager_dir / "agent-join.token").unlink(missing_ok=True)   # the dev cluster's cached copy
    assert shoal("cluster", "join-token", "agent", "-q").stdout.strip() == rotated
    # The old token no longer joins ...
    from shoal.pki.join import JoinRefused, join, join_address
    with pytest.raises(JoinRefused, match="token: not a valid agent join token"):
        asyncio.run(join(join_address(cluster.manager_address), old, "agent", "abcdef0123456789"))
    # ... and the joined nodes still run work.
    shoal("run", "-d", "--name", "after-rotation", IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["name"] == "after-rotation" and c["state"] == "running"], 30,
         what="a container after the rotation")


def test_a_secret_env_value_shows_in_no_inspect_and_is_searched_for_in_the_logs(shoal):
    """A container and a service get a secret env value: no inspect or ps shows it. The logs
    their start produced are searched for it (and for the join tokens and keys) after the last
    test, by conftest's ``no_secrets_in_logs``."""
    cid = shoal("run", "-d", "--name", "secretive", "--secret-env", f"DB_PASSWORD={SECRET_ENV_VALUE}",
                "-e", "PLAIN=visible", IMAGE, "sleep", "300").stdout.strip()
    poll(lambda: [c for c in shoal.json("ps") if c["id"] == cid and c["state"] == "running"], 30,
         what="the container with a secret")
    shown = shoal("inspect", "secretive").stdout
    assert SECRET_ENV_VALUE not in shown and "visible" in shown
    assert json.loads(shown)  # still a whole document
    shoal("service", "create", "--name", "secretsvc", "--secret-env", f"API_KEY={SECRET_ENV_VALUE}",
          IMAGE, "sleep", "300")
    poll(lambda: [c for c in shoal.json("ps") if c["service"] == "secretsvc" and c["state"] == "running"], 30,
         what="the service's task with a secret")
    assert SECRET_ENV_VALUE not in shoal("service", "inspect", "secretsvc").stdout
    assert SECRET_ENV_VALUE not in shoal("service", "ps", "secretsvc", "--format", "json").stdout


def test_node_rm_revokes_the_certificate_and_etcd_identity(shoal, cluster):
    h = cluster.hosts[2]
    creds = node_creds(cluster, h)
    node_id = creds.identity.node_id
    r = shoal("node", "rm", h.name, check=False)
    assert r.returncode == 1 and "it is up" in r.stderr, r
    cluster.kill_agent(h)
    assert shoal("node", "rm", "--force", h.name).stdout.strip() == node_id
    assert h.name not in shoal.nodes()

    from shoal.pki.join import JoinRefused, remote_renewer
    renew = remote_renewer([cluster.manager_address], lambda: creds)
    with pytest.raises(JoinRefused, match=f"certificate {creds.identity.serial} of {creds.identity} has been revoked"):
        asyncio.run(renew(ca_mod.make_csr(ca_mod.new_key(), node_id)))

    async def etcd_write():
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(creds.ca, creds.cert, creds.key), timeout=5) as etcd:
            await etcd.put(etcd_keys.node_info(node_id), "{}")
    with pytest.raises(EtcdPermissionDenied):
        asyncio.run(etcd_write())

    # The host comes back as a new node: a new id, a new certificate from the (cached) token.
    for name in ("node.pem", "node.key", "node-id"):
        (h.dir / "agent" / name).unlink()
    cluster.start_agent(h)
    poll(lambda: shoal.nodes().get(h.name, {}).get("state") == "ready", 30, what="the host back as a new node")
    assert shoal.nodes()[h.name]["id"] != node_id


def etcd_access(cluster, creds: Credentials) -> dict[str, str]:
    """What a node's certificate may still do on etcd: read the nodes, write under its own keys."""
    node_id = creds.identity.node_id

    async def attempt():
        out = {}
        async with EtcdClient([cluster.etcd_url], tls=TlsConfig(creds.ca, creds.cert, creds.key), timeout=5) as etcd:
            for what, call in (("read", lambda: etcd.get_prefix(etcd_keys.NODES)),
                               ("write", lambda: etcd.put(etcd_keys.node_prefix(node_id) + "probe", "x"))):
                try:
                    await call()
                    out[what] = "allowed"
                except EtcdPermissionDenied:
                    out[what] = "denied"
        return out
    return asyncio.run(attempt())


ALLOWED = {"read": "allowed", "write": "allowed"}
DENIED = {"read": "denied", "write": "denied"}


def test_a_revoked_certificate_gets_no_etcd_access_back_when_its_node_id_rejoins(shoal, cluster):
    """Issue 14, finding 6: etcd maps a certificate to its user by CN. A CN carries a generation
    new at every join, so neither `node rm` + rejoin nor a takeover join of a down node under the
    same node id brings an old certificate's etcd user back."""
    from shoal.pki.join import join, join_address
    node_id = secrets.token_hex(10)
    token = cluster.join_token("agent")

    def joined() -> Credentials:
        creds, _ = asyncio.run(join(join_address(cluster.manager_address), token, "agent", node_id))
        assert creds.identity.node_id == node_id
        return creds

    first = joined()
    try:
        assert etcd_access(cluster, first) == ALLOWED
        assert shoal("node", "rm", node_id).stdout.strip() == node_id     # down: known by its certificates
        assert etcd_access(cluster, first) == DENIED

        second = joined()
        assert second.identity.common_name != first.identity.common_name
        assert etcd_access(cluster, second) == ALLOWED
        assert etcd_access(cluster, first) == DENIED

        # The node comes up under the second certificate and goes down; a takeover join retires it.
        async def up_then_down():
            async with EtcdClient([cluster.etcd_url], tls=TlsConfig(second.ca, second.cert, second.key),
                                  timeout=5) as etcd:
                lease = await etcd.lease_grant(60)
                node = types_pb2.Node(id=node_id, name=f"taken-over-{node_id[:6]}", address=f"127.0.0.1:{free_port()}")
                await etcd.put(etcd_keys.node_info(node_id), json_format.MessageToJson(node), lease=lease)
                return lease
        lease = asyncio.run(up_then_down())
        poll(lambda: node_id in {n["id"] for n in shoal.json("node", "ls")}, 15, what="the node up")
        asyncio.run(_revoke_lease(cluster, lease))
        poll(lambda: node_id not in {n["id"] for n in shoal.json("node", "ls")}, 15, what="the node down")
        third = joined()
        assert len({c.identity.common_name for c in (first, second, third)}) == 3
        assert etcd_access(cluster, third) == ALLOWED
        assert etcd_access(cluster, second) == DENIED
        assert etcd_access(cluster, first) == DENIED
        revoked = asyncio.run(_revoked_serials(cluster))
        assert {first.identity.serial, second.identity.serial} <= revoked and third.identity.serial not in revoked
    finally:
        shoal("node", "rm", "--force", node_id, check=False)


async def _revoke_lease(cluster, lease: int) -> None:
    m = files.load(cluster.manager_dir, "manager")
    async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
        await etcd.lease_revoke(lease)


async def _revoked_serials(cluster) -> set[str]:
    m = files.load(cluster.manager_dir, "manager")
    async with EtcdClient([cluster.etcd_url], tls=TlsConfig(m.ca, m.cert, m.key)) as etcd:
        kvs, _ = await etcd.get_prefix(etcd_keys.REVOKED)
    return {kv.key[len(etcd_keys.REVOKED):] for kv in kvs}


@pytest.fixture
def short_lived(tmp_path_factory):
    """A one-host cluster whose manager issues 15-second certificates (renewed every 10 s)."""
    from shoal.cli.dev import wait_for_nodes
    from shoal.devcluster import DevCluster

    c = DevCluster(tmp_path_factory.mktemp("renewal"), name="shoalr", hosts=1, subnet="10.213.10.0/24",
                   docker_bip_base="10.214.40.0", etcd_port=free_port_pair(), manager_port=free_port_pair(),
                   agent_port=7072, host_memory=256 * 2**20, lease_ttl=5, cert_lifetime="15s")
    try:
        c.up()
        wait_for_nodes(c.manager_address, c.admin_credentials(), 1)
        yield c
    finally:
        c.down(keep_logs=bool(os.environ.get("SHOAL_TEST_KEEP_LOGS")))


def test_an_agent_keeps_working_across_two_renewals(short_lived):
    c = short_lived
    cli = Shoal(c.manager_address, str(c.admin_dir))
    h = c.hosts[0]
    first = node_creds(c, h).identity
    assert (first.not_after - ca_mod.load_cert(node_creds(c, h).cert).not_valid_before_utc) <= timedelta(seconds=316)

    def serials():
        return node_creds(c, h).identity.serial

    seen = {first.serial}
    for round_ in (1, 2):
        # Renewed at two thirds of 15 s; each certificate is a new serial, saved on the host.
        poll(lambda: serials() not in seen, 40, interval=0.5, what=f"renewal {round_}")
        seen.add(serials())
        name = f"renewed-{round_}"
        cli("run", "-d", "--name", name, IMAGE, "sleep", "300")
        poll(lambda name=name: [x for x in cli.json("ps") if x["name"] == name and x["state"] == "running"], 30,
             what=f"a container after renewal {round_}")
        assert cli.nodes()[h.name]["state"] == "ready"
    assert first.not_after < node_creds(c, h).identity.not_after
    assert c.agent_log(h).read_text().count("certificate renewed") >= 2
    # The manager renews its own certificate the same way, and the CLI and the agent keep talking to it.
    poll(lambda: "certificate renewed" in c.manager_log().read_text(), 30, what="the manager's own renewal")
    cli("run", "-d", "--name", "after-manager-renewal", IMAGE, "sleep", "300")
    poll(lambda: [x for x in cli.json("ps") if x["name"] == "after-manager-renewal" and x["state"] == "running"], 30,
         what="a container after the manager's renewal")
