"""`shoal manager --dns HOST:PORT`: the cluster zone for admins (`dig @manager web.shoal`),
fed from the manager's own view of etcd."""
from __future__ import annotations

from protos import endpoints
from protos.dns.zone import Zone


class ZoneSink:
    """Receives endpoint records from ClusterState.apply."""

    def __init__(self, zone: Zone):
        self.zone = zone

    def apply(self, key: str, value: bytes | None) -> None:
        ep = endpoints.decode(key, value) if value is not None else None
        if ep is None:
            self.zone.remove(key)
        else:
            self.zone.put(ep)

    def reset(self) -> None:
        self.zone.replace_all(())
