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
        endpoints.apply(self.zone, key, value)

    def reset(self) -> None:
        self.zone.replace_all(())
