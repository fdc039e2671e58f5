"""etcd v3 authentication through shoal.etcd.client, against a real etcd 3.4 serving
TLS with ``--client-cert-auth``: the user of a request is its client certificate's CN.

Every test gets its own etcd, bootstrapped the way the product does it: the first
manager (CN "mgr-test"), before auth is on, adds "root" and itself, both with the
role "root", then enables auth; each node gets a user named after its id whose role
allows readwrite on its own ``/shoal/nodes/<id>/`` and read on ``/shoal/nodes/``
(the agent watches nothing else).

What etcd 3.4.23 does, found here and asserted below:

* Leases need no permission at all: LeaseGrant, LeaseKeepAlive and LeaseTimeToLive
  (without keys) succeed for any client whose certificate the server trusts, even
  one whose CN is no etcd user, and KeepAlive works on *any* lease id, also another
  principal's (etcd does not track who granted a lease). LeaseRevoke is the only
  lease call that is checked: it needs write permission on every key attached to the
  lease (a lease without keys can be revoked by anyone). So agents can keep their own
  leases with the role above, and a node can prolong but not revoke another's lease.
* A deleted user's next KV request (put, get, a new watch) gets PERMISSION_DENIED
  "etcdserver: permission denied" (-> EtcdPermissionDenied), at once. But a watch it
  opened before keeps delivering events (the permission is only checked when a watch
  is created), and it can still keep its lease alive, so its leased keys stay.
* A client certificate from another CA fails the TLS handshake (etcd logs "failed to
  verify client certificate"); gRPC reports "failed to connect to all addresses ...
  Unwrap failed (TSI_DATA_CORRUPTED)", which the client retries (nothing was sent)
  until its timeout and then raises EtcdUnavailable; a watch yields WatchInterrupted.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.pki.ca import Authority, cert_pem, key_pem, new_key
from shoal.etcd.client import (
    EtcdAlreadyExists,
    EtcdClient,
    EtcdError,
    EtcdNotFound,
    EtcdPermissionDenied,
    EtcdUnavailable,
    Event,
    KeyPermission,
    LeaseNotFound,
    Op,
    TlsConfig,
    WatchBatch,
    WatchInterrupted,
)
from tests.integration.etcd_server import EtcdServer, ServerTls
from tests.polling import apoll

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd binary not installed"),
]

MANAGER = "mgr-test"
NODE = "abc123node"
OTHER_NODE = "def456node"
NODES = "/shoal/nodes/"
TIMEOUT = 2.0


def node_prefix(node_id: str) -> str:
    return f"{NODES}{node_id}/"


# --------------------------------------------------------------------------- cluster


@dataclass
class AuthEtcd:
    """A TLS etcd trusting ``authority``, and the clients a test made (closed at the end)."""

    server: EtcdServer
    authority: Authority
    directory: Path
    clients: list[EtcdClient] = field(default_factory=list)

    def tls(self, common_name: str, authority: Authority | None = None) -> TlsConfig:
        key = new_key()
        cert = (authority or self.authority).issue(key.public_key(), common_name, "manager")
        return TlsConfig(ca=self.authority.pem, cert=cert_pem(cert), key=key_pem(key))

    def client(self, common_name: str, *, authority: Authority | None = None,
               timeout: float = TIMEOUT) -> EtcdClient:
        c = EtcdClient([self.server.endpoint], timeout=timeout, tls=self.tls(common_name, authority))
        self.clients.append(c)
        return c


def start_tls_etcd(directory: Path) -> AuthEtcd:
    authority = Authority.create()
    directory.mkdir(parents=True, exist_ok=True)

    def write(label: str, common_name: str, **kw) -> None:
        key = new_key()
        cert = authority.issue(key.public_key(), common_name, "manager", **kw)
        (directory / f"{label}.crt").write_bytes(cert_pem(cert))
        (directory / f"{label}.key").write_bytes(key_pem(key))

    (directory / "ca.crt").write_bytes(authority.pem)
    write("server", "etcd-server", ip_addresses=("127.0.0.1",))
    write("probe", MANAGER)  # the health probe's client certificate (used before auth is on)
    server = EtcdServer(directory / "etcd", tls=ServerTls(
        ca_file=directory / "ca.crt",
        cert_file=directory / "server.crt",
        key_file=directory / "server.key",
        client_cert_file=directory / "probe.crt",
        client_key_file=directory / "probe.key",
    ))
    server.start()
    return AuthEtcd(server, authority, directory)


async def bootstrap(manager: EtcdClient) -> None:
    """What the first manager does, before auth is enabled."""
    await manager.user_add("root")
    await manager.user_grant_role("root", "root")
    await manager.user_add(MANAGER)
    await manager.user_grant_role(MANAGER, "root")
    await manager.auth_enable()


async def add_node(manager: EtcdClient, node_id: str) -> None:
    """What the manager does when a node joins: its user and its role."""
    role = f"node-{node_id}"
    await manager.role_add(role)
    await manager.role_grant_permission(role, node_prefix(node_id), prefix=True, perm="readwrite")
    await manager.role_grant_permission(role, NODES, prefix=True, perm="read")
    await manager.user_add(node_id)
    await manager.user_grant_role(node_id, role)


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[AuthEtcd]:
    cluster = start_tls_etcd(tmp_path)
    try:
        await bootstrap(cluster.client(MANAGER))
        yield cluster
    finally:
        for c in cluster.clients:
            await c.close()
        cluster.server.kill()  # throw-away data dir: no need for a graceful stop


@pytest.fixture
def manager(etcd: AuthEtcd) -> EtcdClient:
    return etcd.clients[0]  # the one that bootstrapped


@pytest.fixture
async def node(etcd: AuthEtcd, manager: EtcdClient) -> EtcdClient:
    await add_node(manager, NODE)
    return etcd.client(NODE)


# --------------------------------------------------------------------------- helpers


async def next_event(gen: AsyncIterator, key: str, timeout: float = 10.0) -> Event:
    """Read the watch until an event on ``key`` arrives; anything but events fails."""

    async def on_key() -> Event | None:
        item = await gen.__anext__()
        assert isinstance(item, WatchBatch), f"expected events, got {item!r}"
        return next((event for event in item.events if event.kv.key == key), None)

    return await apoll(on_key, timeout, interval=0, what=f"an event on {key}")


async def snapshot(manager: EtcdClient) -> tuple[dict[str, bytes], int]:
    kvs, revision = await manager.get_prefix("/")
    return {kv.key: kv.value for kv in kvs}, revision


# --------------------------------------------------------------------------- bootstrap


async def test_bootstrap_enables_auth_with_root_users_and_node_role(
    etcd: AuthEtcd, manager: EtcdClient, node: EtcdClient
) -> None:
    assert sorted(await manager.user_list()) == sorted(["root", MANAGER, NODE])
    assert await manager.user_get("root") == ["root"]
    assert await manager.user_get(MANAGER) == ["root"]
    assert await manager.user_get(NODE) == [f"node-{NODE}"]
    assert f"node-{NODE}" in await manager.role_list()
    perms = await manager.role_get(f"node-{NODE}")
    assert sorted(perms, key=lambda p: p.key) == [
        KeyPermission("read", NODES, "/shoal/nodes0"),
        KeyPermission("readwrite", node_prefix(NODE), f"/shoal/nodes/{NODE}0"),
    ]
    assert all(p.prefix for p in perms)
    with pytest.raises(EtcdNotFound):
        await manager.user_get("nobody")

    # Auth really is on: a certificate from the trusted CA whose CN is no etcd user
    # may neither write nor read, while the manager (root) may do both.
    stranger = etcd.client("stranger")
    with pytest.raises(EtcdPermissionDenied) as info:
        await stranger.put(node_prefix("stranger") + "info", "x")
    assert "permission denied" in str(info.value)
    with pytest.raises(EtcdPermissionDenied):
        await stranger.get(NODES)
    rev = await manager.put("/shoal/services/web", "spec")
    assert (await manager.get("/shoal/services/web")).mod_revision == rev


# --------------------------------------------------------------------------- what a node may do


async def test_node_writes_its_prefix_keeps_its_lease_and_watches_all_nodes(
    etcd: AuthEtcd, manager: EtcdClient, node: EtcdClient
) -> None:
    own = node_prefix(NODE)
    rev = await node.put(own + "info", '{"id": "abc123node"}')
    assert (await manager.get(own + "info")).value == b'{"id": "abc123node"}'

    # Its own lease: grant, attach, keep alive for twice the TTL.
    lease = await node.lease_grant(2)
    await node.put(own + "containers/c1", "running", lease=lease)
    assert (await manager.get(own + "containers/c1")).lease == lease
    keep_until = time.monotonic() + 4.0  # the length of this part of the test, not a wait
    while time.monotonic() < keep_until:
        assert await node.lease_keepalive_once(lease) == 2
        assert await manager.get(own + "containers/c1") is not None, "expired despite keep-alives"
        await asyncio.sleep(0.5)  # keep-alive cadence (TTL/4), not a wait for a condition
    assert 0 < await node.lease_ttl(lease) <= 2

    # It reads and watches every node's records, and sees another node's put.
    gen = node.watch_prefix(NODES, rev + 1)
    try:
        await add_node(manager, OTHER_NODE)
        other = etcd.client(OTHER_NODE)
        other_rev = await other.put(node_prefix(OTHER_NODE) + "info", "other")
        event = await next_event(gen, node_prefix(OTHER_NODE) + "info")
        assert (event.type, event.kv.value, event.kv.mod_revision) == ("put", b"other", other_rev)
    finally:
        await gen.aclose()
    assert (await node.get(node_prefix(OTHER_NODE) + "info")).value == b"other"

    # Revoking its own lease (write permission on the attached keys) removes its keys.
    await node.lease_revoke(lease)
    assert await manager.get(own + "containers/c1") is None


async def test_node_is_refused_everything_outside_its_prefix(
    manager: EtcdClient, node: EtcdClient
) -> None:
    other_info = node_prefix("othernode") + "info"
    await manager.put(other_info, "orig")
    manager_lease = await manager.lease_grant(30)
    await manager.put("/shoal/leader", "mgr", lease=manager_lease)
    before, rev_before = await snapshot(manager)
    own = node_prefix(NODE)

    attempts = {
        "put another node's key": lambda: node.put(other_info, "forged"),
        "put a service": lambda: node.put("/shoal/services/x", "forged"),
        "delete another node's key": lambda: node.delete(other_info),
        "delete all nodes": lambda: node.delete(NODES, prefix=True),
        "txn own + service": lambda: node.txn(
            [], [Op.put(own + "txn", "1"), Op.put("/shoal/services/x", "1")]
        ),
        "txn own + other node, in the failure branch": lambda: node.txn(
            [], [Op.put(own + "txn", "1")], [Op.delete(other_info)]
        ),
        "revoke the manager's lease": lambda: node.lease_revoke(manager_lease),
    }
    for what, attempt in attempts.items():
        with pytest.raises(EtcdPermissionDenied) as info:
            await attempt()
        assert info.value.code is not None and info.value.code.name == "PERMISSION_DENIED", what

    # Reads outside /shoal/nodes/ are refused too (the role is the minimum an agent needs).
    with pytest.raises(EtcdPermissionDenied):
        await node.get("/shoal/leader")
    with pytest.raises(EtcdPermissionDenied):
        await node.get_prefix("/shoal/")
    with pytest.raises(EtcdPermissionDenied) as info:
        await node.watch_prefix("/shoal/", 1).__anext__()
    assert "permission denied" in str(info.value)

    # Nothing it tried was written: no new revision, every key as it was.
    after, rev_after = await snapshot(manager)
    assert (after, rev_after) == (before, rev_before)
    assert after[other_info] == b"orig" and "/shoal/services/x" not in after
    assert await manager.lease_ttl(manager_lease) > 0


async def test_leases_need_no_permission_and_keepalive_works_on_any_lease(
    etcd: AuthEtcd, manager: EtcdClient, node: EtcdClient
) -> None:
    # The product relies on agents keeping their own leases: etcd 3.4 checks no
    # permission for LeaseGrant / LeaseKeepAlive / LeaseTimeToLive, not even that the
    # CN is an etcd user; only LeaseRevoke is checked (write on the attached keys).
    stranger = etcd.client("stranger")
    stranger_lease = await stranger.lease_grant(30)
    assert await stranger.lease_keepalive_once(stranger_lease) == 30

    # ... and it does not check whose lease it is: a node can prolong the manager's
    # lease (but not revoke it, see above), and revoke a lease that has no keys.
    manager_lease = await manager.lease_grant(30)
    await manager.put("/shoal/leader", "mgr", lease=manager_lease)
    assert await node.lease_keepalive_once(manager_lease) == 30
    assert await node.lease_ttl(manager_lease) > 0
    with pytest.raises(EtcdPermissionDenied):
        await node.lease_revoke(manager_lease)
    await node.lease_revoke(stranger_lease)  # no keys attached: allowed
    assert await manager.lease_ttl(stranger_lease) == -1


# --------------------------------------------------------------------------- removing a node


async def test_deleted_user_is_refused_at_once(
    etcd: AuthEtcd, manager: EtcdClient, node: EtcdClient
) -> None:
    own = node_prefix(NODE)
    rev = await node.put(own + "info", "v1")
    lease = await node.lease_grant(30)
    await node.put(own + "containers/c1", "running", lease=lease)
    watch = node.watch_prefix(NODES, rev)
    try:
        assert (await next_event(watch, own + "info")).kv.value == b"v1"

        await manager.user_delete(NODE)
        with pytest.raises(EtcdNotFound):
            await manager.user_get(NODE)
        assert NODE not in await manager.user_list()

        # etcd answers PERMISSION_DENIED "etcdserver: permission denied" (the CN is
        # no longer a user), not UNAUTHENTICATED, and from the very next request on.
        with pytest.raises(EtcdPermissionDenied) as info:
            await node.put(own + "info", "v2")
        assert str(info.value) == "etcdserver: permission denied"
        with pytest.raises(EtcdPermissionDenied):
            await node.get(own + "info")
        with pytest.raises(EtcdPermissionDenied):
            await node.watch_prefix(NODES, rev).__anext__()
        assert (await manager.get(own + "info")).value == b"v1"

        # What the manager must clean up itself: a watch opened before the deletion
        # keeps delivering (etcd checks watch permission only at creation), and the
        # lease is still kept alive, so the node's leased keys stay...
        await manager.put(node_prefix(OTHER_NODE) + "info", "after the deletion")
        event = await next_event(watch, node_prefix(OTHER_NODE) + "info")
        assert event.kv.value == b"after the deletion"
        assert await node.lease_keepalive_once(lease) == 30
        assert await manager.get(own + "containers/c1") is not None
        # ... until the manager (root) revokes its leases.
        await manager.lease_revoke(lease)
        assert await manager.get(own + "containers/c1") is None
        with pytest.raises(LeaseNotFound):
            await node.lease_keepalive_once(lease)
    finally:
        await watch.aclose()

    await manager.role_delete(f"node-{NODE}")
    assert f"node-{NODE}" not in await manager.role_list()
    with pytest.raises(EtcdNotFound):
        await manager.role_get(f"node-{NODE}")


async def test_revoking_role_or_permission_takes_effect(
    manager: EtcdClient, node: EtcdClient
) -> None:
    own = node_prefix(NODE)
    role = f"node-{NODE}"
    await node.put(own + "info", "v1")

    await manager.role_revoke_permission(role, own, prefix=True)
    assert await manager.role_get(role) == [KeyPermission("read", NODES, "/shoal/nodes0")]
    with pytest.raises(EtcdPermissionDenied):
        await node.put(own + "info", "v2")
    assert (await node.get(own + "info")).value == b"v1"  # read on /shoal/nodes/ is left

    await manager.role_grant_permission(role, own, prefix=True, perm="write")
    await node.put(own + "info", "v3")
    assert (await manager.get(own + "info")).value == b"v3"

    await manager.user_revoke_role(NODE, role)
    assert await manager.user_get(NODE) == []
    with pytest.raises(EtcdPermissionDenied):
        await node.get(own + "info")
    with pytest.raises(EtcdError) as info:
        await manager.user_revoke_role(NODE, role)  # not granted any more
    assert "not granted" in str(info.value)


def authenticate_over_gateway(etcd: AuthEtcd, name: str, password: str) -> tuple[int, dict]:
    """etcd's password login (Auth.Authenticate, not in our trimmed protos) through its
    JSON gateway. etcd 3.4 refuses gateway requests whose client certificate has a CN,
    so this presents a CN-less one signed by the trusted CA. Returns (HTTP status, body)."""
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shoal")]))
        .issuer_name(etcd.authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(timezone.utc) - timedelta(minutes=5))
        .not_valid_after(datetime.now(timezone.utc) + timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(etcd.authority.key, hashes.SHA256())
    )
    (etcd.directory / "gw.crt").write_bytes(cert_pem(cert))
    (etcd.directory / "gw.key").write_bytes(key_pem(key))
    context = ssl.create_default_context(cafile=str(etcd.directory / "ca.crt"))
    context.load_cert_chain(str(etcd.directory / "gw.crt"), str(etcd.directory / "gw.key"))
    request = urllib.request.Request(
        f"{etcd.server.endpoint}/v3/auth/authenticate",
        data=json.dumps({"name": name, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5.0, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


async def test_users_have_no_password_to_log_in_with(etcd: AuthEtcd, node: EtcdClient) -> None:
    # user_add sets options.no_password: etcd 3.4 would otherwise store the hash of an
    # empty password, and anyone with a trusted certificate could log in as "root"
    # with password "" and use its token instead of the certificate's CN.
    for name in ("root", MANAGER, NODE):
        status, body = await asyncio.to_thread(authenticate_over_gateway, etcd, name, "")
        assert status != 200 and "token" not in body, (name, status, body)
        assert "authentication failed" in json.dumps(body), (name, body)
    # An unknown user is refused with the same error. (With options.no_password left
    # out, the empty-password login above returns a token: that is what this catches.)
    status, body = await asyncio.to_thread(authenticate_over_gateway, etcd, "nobody", "x")
    assert status != 200 and "authentication failed" in json.dumps(body), (status, body)


# --------------------------------------------------------------------------- strangers


async def test_client_certificate_from_another_ca_cannot_connect(
    etcd: AuthEtcd, manager: EtcdClient
) -> None:
    await add_node(manager, NODE)
    # Same CN as a real user, signed by a CA the server does not trust.
    foreign = etcd.client(NODE, authority=Authority.create(), timeout=1.0)
    for what, call in {
        "get": lambda: foreign.get(node_prefix(NODE) + "info"),
        "put": lambda: foreign.put(node_prefix(NODE) + "info", "forged"),
        "lease grant": lambda: foreign.lease_grant(30),
    }.items():
        t0 = time.monotonic()
        with pytest.raises(EtcdUnavailable) as info:
            await call()
        assert time.monotonic() - t0 < 3.0, what
        assert "failed to connect" in str(info.value), (what, str(info.value))

    watch = foreign.watch_prefix(NODES, 1)
    try:
        item = await asyncio.wait_for(watch.__anext__(), 5.0)
        assert isinstance(item, WatchInterrupted), item
    finally:
        await watch.aclose()

    # The server refused the handshake because of the client certificate...
    assert "failed to verify client certificate" in etcd.server.log_path.read_text(errors="replace")
    # ... and nothing was written.
    assert await manager.get(node_prefix(NODE) + "info") is None


# --------------------------------------------------------------------------- idempotence


async def test_adding_twice_raises_already_exists_and_grants_are_idempotent(
    manager: EtcdClient, node: EtcdClient
) -> None:
    role = f"node-{NODE}"
    with pytest.raises(EtcdAlreadyExists) as info:
        await manager.user_add(NODE)
    assert "already exists" in str(info.value)
    with pytest.raises(EtcdAlreadyExists):
        await manager.user_add("root")
    with pytest.raises(EtcdAlreadyExists):
        await manager.role_add(role)

    perms = await manager.role_get(role)
    await manager.user_grant_role(NODE, role)
    await manager.role_grant_permission(role, NODES, prefix=True, perm="read")
    assert await manager.user_get(NODE) == [role]
    assert await manager.role_get(role) == perms
    # Granting the same range with another type replaces the type (no duplicate).
    await manager.role_grant_permission(role, NODES, prefix=True, perm="readwrite")
    assert sorted(p.perm for p in await manager.role_get(role)) == ["readwrite", "readwrite"]
    await manager.role_grant_permission(role, NODES, prefix=True, perm="read")
    assert await manager.role_get(role) == perms
    await manager.auth_enable()  # already on: a no-op

    with pytest.raises(EtcdNotFound):
        await manager.user_delete("nobody")
    with pytest.raises(EtcdNotFound):
        await manager.role_delete("nobody")
    with pytest.raises(EtcdNotFound):
        await manager.user_grant_role(NODE, "no-such-role")
    with pytest.raises(ValueError):
        await manager.role_grant_permission(role, NODES, prefix=True, perm="admin")
    with pytest.raises(ValueError):
        await manager.user_add("")


async def test_auth_management_needs_root(
    etcd: AuthEtcd, manager: EtcdClient, node: EtcdClient
) -> None:
    # A user without the root role gets PERMISSION_DENIED for auth management...
    with pytest.raises(EtcdPermissionDenied):
        await node.auth_disable()
    with pytest.raises(EtcdPermissionDenied):
        await node.user_add("intruder")
    with pytest.raises(EtcdPermissionDenied):
        await node.user_grant_role(NODE, "root")
    # ... but a CN that is no etcd user gets "user name not found" (etcd's admin check
    # looks the *caller* up first), i.e. EtcdNotFound about itself, not the target.
    stranger = etcd.client("stranger")
    with pytest.raises(EtcdNotFound) as info:
        await stranger.user_delete(NODE)
    assert str(info.value) == "etcdserver: user name not found"
    assert await manager.user_get(NODE) == [f"node-{NODE}"]
    assert "intruder" not in await manager.user_list()

    # Once auth is off, any certificate the server trusts may write again.
    with pytest.raises(EtcdPermissionDenied):
        await stranger.put("/shoal/services/x", "1")
    await manager.auth_disable()
    await stranger.put("/shoal/services/x", "1")
    assert (await manager.get("/shoal/services/x")).value == b"1"
    await manager.auth_enable()
    with pytest.raises(EtcdPermissionDenied):
        await stranger.put("/shoal/services/x", "2")


def test_tls_config_repr_hides_the_private_key() -> None:
    tls = TlsConfig(ca=b"CA", cert=b"CERT", key=b"-----BEGIN PRIVATE KEY----- secret")
    assert "secret" not in repr(tls) and "PRIVATE" not in repr(tls)
    assert tls.key == b"-----BEGIN PRIVATE KEY----- secret"
