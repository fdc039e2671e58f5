"""The names certificates carry, without the X.509 machinery (the CLI's start-up imports this)."""

# The DNS name every manager certificate carries: clients verify the manager by role,
# whichever address they dialled.
MANAGER_NAME = "manager.shoal"


def node_name(node_id: str) -> str:
    """The DNS name in an agent's certificate; the manager dials the agent expecting it."""
    return f"{node_id}.node.shoal"


def agent_common_name(node_id: str, generation: str) -> str:
    """An agent certificate's CN, which etcd takes as the etcd user's name: a new generation at
    every join, so that a certificate retired by a join or by `node rm` never names a user again,
    even when its node id rejoins (etcd itself knows nothing of revocation)."""
    return f"{node_id}.{generation}"


def node_of(common_name: str) -> str:
    """The node id an agent certificate's CN names (a CN from before generations is the id itself)."""
    return common_name.partition(".")[0]
