"""The names certificates carry, without the X.509 machinery (the CLI's start-up imports this)."""

# The DNS name every manager certificate carries: clients verify the manager by role,
# whichever address they dialled.
MANAGER_NAME = "manager.shoal"


def node_name(node_id: str) -> str:
    """The DNS name in an agent's certificate; the manager dials the agent expecting it."""
    return f"{node_id}.node.shoal"
