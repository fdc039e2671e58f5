"""Who belongs to the cluster: join tokens, certificates issued on join and renewal, node removal
with revocation. Any manager holding the CA key serves joins; token rotation and node removal are
writes (the leader's, fenced like every other)."""
from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta

from shoal.manager import errors
from shoal.manager.clock import now, stamp
from shoal.manager.state import ClusterState, UnknownRef
from shoal.manager.store import Store
from shoal.manager.validation import (check_join_request, check_join_token_request, check_remove_node,
                                check_renew_request)
from shoal.pki import ca as ca_mod
from shoal.pki import tokens
from shoal.pki.identity import Identity, of_cert
from shoal.pki.names import agent_common_name
from shoal.protos import etcd_keys
from shoal.etcd.client import LeaseNotFound, Op
from shoal.protos.shoal.v1 import manager_pb2

log = logging.getLogger("shoal.manager.membership")

# An X.509 CN holds at most 64 characters: "<node id>.<12 hex digits of generation>".
GENERATION_HEX = 12
MAX_AGENT_NODE_ID = 64 - 1 - GENERATION_HEX


class Membership:
    def __init__(self, state: ClusterState, store: Store, authority: ca_mod.Authority,
                 lifetime: timedelta = ca_mod.DEFAULT_LIFETIME, etcd_users=None):
        self.state = state
        self.store = store
        self.authority = authority
        self.lifetime = lifetime
        self.digest = ca_mod.digest(authority.pem)
        self.etcd_users = etcd_users     # grants each joined identity its etcd role; None: etcd has no auth

    # ---- joining ---------------------------------------------------------
    def _token_ok(self, role: str, text: str) -> bool:
        stored = self.state.join_tokens.get(role)
        if not stored:
            return False
        try:
            offered = tokens.parse(text)
        except ValueError:
            return False
        return offered.ca_digest == self.digest and tokens.same_secret(offered.secret, tokens.parse(stored).secret)

    async def join(self, req: manager_pb2.JoinRequest) -> manager_pb2.JoinReply:
        errors.checked(check_join_request, req)
        if not self._token_ok(req.role, req.token):
            # Which part was wrong is not said: a guesser learns nothing.
            log.warning("join refused: a wrong or rotated %s token was offered", req.role)
            raise errors.Unauthenticated(f"token: not a valid {req.role} join token for this cluster")
        if req.role == ca_mod.ROLE_AGENT:
            node_id = req.node_id
            if len(node_id) > MAX_AGENT_NODE_ID:
                raise errors.InvalidArgument(f"node_id: at most {MAX_AGENT_NODE_ID} characters (the certificate's "
                                             f"name adds a generation); remove the node-id file for a new id")
            if node_id in self.state.nodes:
                raise errors.FailedPrecondition(
                    f"node_id: node {node_id} is up with its own certificate; remove it first (shoal node rm)")
            if any(v.get("role") == ca_mod.ROLE_MANAGER for v in self.state.issued.get(node_id, {}).values()):
                raise errors.FailedPrecondition(f"node_id: {node_id} names a manager")
            # A new etcd user per join: the certificates this join retires keep no user to map to.
            common_name = agent_common_name(node_id, secrets.token_hex(GENERATION_HEX // 2))
        else:
            node_id = common_name = "mgr-" + secrets.token_hex(6)
        previous = dict(self.state.issued.get(node_id, {}))
        reply = await self._issue(req.csr, common_name, req.role)
        if previous:
            # A join (not a renewal) means the node's old key is gone or distrusted: retire its certificates,
            # their etcd users first (while the records that name them are still there to retry from).
            if self.etcd_users is not None:
                await self.etcd_users.remove_users(cn for cn in _common_names(node_id, previous) if cn != common_name)
            await self._revoke(node_id, previous)
        if req.role == ca_mod.ROLE_MANAGER:
            # A manager signs joins and renewals itself; the manager token is worth the CA key.
            reply.ca_key = ca_mod.key_pem(self.authority.key)
        return reply

    async def renew(self, who: Identity, req: manager_pb2.RenewRequest) -> manager_pb2.JoinReply:
        errors.checked(check_renew_request, req)
        return await self._issue(req.csr, who.common_name, who.role)

    async def _issue(self, csr: bytes, common_name: str, role: str) -> manager_pb2.JoinReply:
        try:
            public_key = ca_mod.csr_public_key(csr)
        except ca_mod.CsrError as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        cert = ca_mod.issue_for_role(self.authority, public_key, common_name, role, self.lifetime)
        who = of_cert(cert)
        if self.etcd_users is not None:
            await self.etcd_users.ensure(common_name, role)
        # Recorded so that `node rm` can revoke every certificate the node still holds, and delete
        # the etcd user of each.
        await self.store.etcd.put(etcd_keys.issued(who.node_id, who.serial),
                                  json.dumps({"role": role, "not_after": stamp(who.not_after),
                                              "common_name": common_name}))
        log.info("issued a %s certificate (serial %s, until %s) to %s", role, who.serial, stamp(who.not_after),
                 common_name)
        return manager_pb2.JoinReply(certificate=ca_mod.cert_pem(cert), ca=self.authority.pem,
                                     common_name=common_name)

    def _revocation_ops(self, holder: str, serials: dict[str, dict]) -> list[Op]:
        """holder: the node id (agents) or the CN (managers) the certificates are recorded under."""
        when = stamp(now())
        ops = []
        for serial, info in serials.items():
            ops.append(Op.put(etcd_keys.revoked(serial), json.dumps(
                {"common_name": info.get("common_name") or holder, "node": holder, "role": info.get("role", ""),
                 "not_after": info.get("not_after", ""), "revoked_at": when})))
            ops.append(Op.delete(etcd_keys.issued(holder, serial)))
        return ops

    async def _revoke(self, holder: str, serials: dict[str, dict]) -> None:
        await self.store.etcd.txn([], self._revocation_ops(holder, serials))
        log.info("revoked %d earlier certificate(s) of %s", len(serials), holder)

    # ---- tokens ------------------------------------------------------------
    async def join_token(self, req: manager_pb2.JoinTokenRequest) -> manager_pb2.JoinTokenReply:
        errors.checked(check_join_token_request, req)
        current = self.state.join_tokens.get(req.role)
        if req.rotate or not current:
            current = str(tokens.new(self.digest))
            key = etcd_keys.join_token(req.role)
            await self.store.txn([], [Op.put(key, current)])
            self.state.apply(key, current.encode(), self.state.revision)
            log.info("the %s join token was %s", req.role, "rotated" if req.rotate else "created")
        return manager_pb2.JoinTokenReply(role=req.role, token=current)

    # ---- leaving -------------------------------------------------------------
    def _resolve(self, ref: str) -> str:
        try:
            return self.state.resolve_node(ref)
        except UnknownRef:
            pass
        if ref in self.state.node_names:
            return self.state.node_names[ref]      # a node that is down, by the name bound to it
        # A node that is down is known only by the certificates it was issued.
        agents = sorted(cn for cn, certs in self.state.issued.items()
                        if any(v.get("role") == ca_mod.ROLE_AGENT for v in certs.values()))
        hits = [cn for cn in agents if cn == ref] or [cn for cn in agents if ref and cn.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise errors.NotFound(f'node "{ref[:80]}" not found')
        raise errors.InvalidArgument(f'NODE: "{ref[:80]}" matches {len(hits)} nodes; give more of the id')

    async def remove_node(self, req: manager_pb2.RemoveNodeRequest) -> list[str]:
        errors.checked(check_remove_node, req)
        node_id = self._resolve(req.ref)
        if node_id in self.state.nodes and not req.force:
            raise errors.FailedPrecondition(
                f"node {req.ref}: it is up; drain it and stop its agent first, or use --force")
        certs = dict(self.state.issued.get(node_id, {}))
        if self.etcd_users is not None:
            # First: should this fail, the records that name the users are still there for a retry.
            await self.etcd_users.remove_node(node_id, _common_names(node_id, certs))
        ops = self._revocation_ops(node_id, certs)
        ops += [Op.delete(etcd_keys.node_prefix(node_id), prefix=True), Op.delete(etcd_keys.node_conf(node_id)),
                Op.delete(etcd_keys.alloc(node_id)), Op.delete(etcd_keys.node_ident(node_id))]
        bound = self.state.identities.get(node_id)
        if bound is not None and self.state.node_names.get(bound[0].name) == node_id:
            # Its name is free again; a host refused it meanwhile is bound on the leader's next look.
            ops.append(Op.delete(etcd_keys.node_name(bound[0].name)))
        info = await self.store.etcd.get(etcd_keys.node_info(node_id))
        await self.store.txn([], ops)
        if info is not None and info.lease:
            # etcd lets any client keep any lease alive; revoking it ends a forced node's records for good.
            try:
                await self.store.etcd.lease_revoke(info.lease)
            except LeaseNotFound:
                pass
        log.info("node %s removed; %d certificate(s) revoked", node_id, len(certs))
        return [node_id]


def _common_names(holder: str, certs: dict[str, dict]) -> set[str]:
    """The CNs (etcd users) of a node's recorded certificates; records from before generations
    name none, their CN being the node id."""
    return {info.get("common_name") or holder for info in certs.values()}
