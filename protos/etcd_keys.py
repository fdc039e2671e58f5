"""The etcd key layout: a contract between the manager's store and the agent's registration.

Values are JSON (protobuf JSON mapping of the named message) so `etcdctl get`
stays readable -- except the two records written for every container at every change
(containers/ and nodes/<id>/containers/): binary protobuf, see protos/records.py and
docs/DECISIONS.md. See docs/ARCHITECTURE.md for who writes what.
"""
ROOT = "/shoal/"

# Written by each agent under its own lease: they vanish when the host dies.
NODES = ROOT + "nodes/"                        # nodes/<node-id>/info        -> shoal.v1.Node (no admin fields)
                                               # nodes/<node-id>/containers/<container-id> -> shoal.v1.AgentContainer (binary)
                                               # nodes/<node-id>/endpoints/<container-id>  -> DNS endpoint JSON
                                               #   {"name", "service", "ip", "ports": [{"port", "protocol", "name"}], "node"}

# Written by the manager, never leased.
NODE_CONF = ROOT + "nodeconf/"                 # nodeconf/<node-id>          -> {"labels": {...}, "availability": "..."}
NODE_IDENT = ROOT + "nodeident/"               # nodeident/<node-id>         -> {"name", "hostname", "address", "container_subnet"}:
                                               #   bound by the leader once (protos/node_identity.py); agents read it
NODE_NAMES = ROOT + "nodenames/"               # nodenames/<name>            -> <node-id> (one node per name)
CONTAINERS = ROOT + "containers/"              # containers/<container-id>   -> shoal.v1.Container, binary (desired state + placement)
NAMES = ROOT + "names/"                        # names/<name>                -> <container-id> (uniqueness guard)
ALLOC = ROOT + "alloc/"                        # alloc/<node-id>             -> id of the last placement (a version to compare)
SERVICES = ROOT + "services/"                  # services/<name>             -> shoal.v1.Service (spec, version, update status)
NETWORKS = ROOT + "networks/"                  # networks/<name>             -> shoal.v1.Network (subnet, VXLAN id)
VOLUMES = ROOT + "volumes/"                    # volumes/<name>              -> shoal.v1.Volume (its node): managers only
IPAM = ROOT + "ipam/"                          # ipam/<network>/<ip>         -> <container-id> (one owner per address)
PLACED = ROOT + "placed/"                      # placed/<container-id>       -> {"node", "name", "service"}: what DNS
                                               #   answers may name (agents read it; they cannot read containers/)

# The cluster's PKI, written by the managers. Agents may read only revoked/ (etcd roles).
PKI = ROOT + "pki/"
PKI_CA = PKI + "ca"                            # ca                          -> PEM of the cluster CA certificate (never its key)
JOIN_TOKENS = PKI + "tokens/"                  # tokens/<agent|manager>      -> the join token (managers only can read it)
ISSUED = PKI + "issued/"                       # issued/<common name>/<serial> -> {"role", "not_after"}
REVOKED = PKI + "revoked/"                     # revoked/<serial>            -> {"common_name", "role", "not_after", "revoked_at"}

# Written by the managers' election, under the leader's lease.
LEADER = ROOT + "leader"                       # leader                      -> {"id": ..., "address": ...}
HEARTBEAT = ROOT + "heartbeat"                 # heartbeat                   -> {"id", "term", "at"}: advanced by the leader every TTL/3, not leased (manager/heartbeat.py)


def node_prefix(node_id: str) -> str:
    return f"{NODES}{node_id}/"


def node_info(node_id: str) -> str:
    return f"{NODES}{node_id}/info"


def node_container(node_id: str, container_id: str) -> str:
    return f"{NODES}{node_id}/containers/{container_id}"


def node_endpoint(node_id: str, container_id: str) -> str:
    return f"{NODES}{node_id}/endpoints/{container_id}"


def node_conf(node_id: str) -> str:
    return NODE_CONF + node_id


def node_ident(node_id: str) -> str:
    return NODE_IDENT + node_id


def node_name(name: str) -> str:
    return NODE_NAMES + name


def container(container_id: str) -> str:
    return CONTAINERS + container_id


def name(container_name: str) -> str:
    return NAMES + container_name


def alloc(node_id: str) -> str:
    return ALLOC + node_id


def service(service_name: str) -> str:
    return SERVICES + service_name


def network(name: str) -> str:
    return NETWORKS + name


def placed(container_id: str) -> str:
    return PLACED + container_id


def ipam(network_name: str, ip: str) -> str:
    return f"{IPAM}{network_name}/{ip}"


def parse_node_key(key: str) -> tuple[str, str, str] | None:
    """nodes/<id>/info -> (id, "info", ""); nodes/<id>/containers/<cid> -> (id, "container", cid);
    nodes/<id>/endpoints/<cid> -> (id, "endpoint", cid)."""
    if not key.startswith(NODES):
        return None
    parts = key[len(NODES):].split("/")
    if len(parts) == 2 and parts[1] == "info":
        return parts[0], "info", ""
    if len(parts) == 3 and parts[1] == "containers":
        return parts[0], "container", parts[2]
    if len(parts) == 3 and parts[1] == "endpoints":
        return parts[0], "endpoint", parts[2]
    return None


def join_token(role: str) -> str:
    return JOIN_TOKENS + role


def issued(common_name: str, serial: str) -> str:
    return f"{ISSUED}{common_name}/{serial}"


def revoked(serial: str) -> str:
    return REVOKED + serial


def volume(name: str) -> str:
    return VOLUMES + name
