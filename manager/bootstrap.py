"""The cluster's PKI keys in etcd: the CA certificate and the join tokens, created once.
etcd that already holds another CA is an error (a manager of another cluster)."""
from __future__ import annotations

from shoal.pki import ca as ca_mod
from shoal.pki import tokens
from shoal.pki.cluster_files import InitError
from shoal.protos import etcd_keys
from shoal.etcd.client import Compare, EtcdClient, Op


async def init_etcd(etcd: EtcdClient, authority: ca_mod.Authority) -> dict[str, str]:
    """Stores the CA certificate and creates the join tokens, once. Returns the tokens."""
    digest = ca_mod.digest(authority.pem)
    fresh = {role: str(tokens.new(digest)) for role in ("agent", "manager")}
    result = await etcd.txn(
        [Compare.create_revision(etcd_keys.PKI_CA, "==", 0)],
        [Op.put(etcd_keys.PKI_CA, authority.pem)] + [Op.put(etcd_keys.join_token(r), t) for r, t in fresh.items()],
        [Op.get(etcd_keys.PKI_CA), Op.get(etcd_keys.JOIN_TOKENS, prefix=True)],
    )
    if result.succeeded:
        return fresh
    stored_ca, stored_tokens = result.responses
    if ca_mod.digest(stored_ca[0].value) != digest:
        raise InitError("etcd already holds the PKI of another cluster (a different CA); "
                        "use that cluster's state dir, or an empty etcd")
    return {kv.key[len(etcd_keys.JOIN_TOKENS):]: kv.value.decode() for kv in stored_tokens}

