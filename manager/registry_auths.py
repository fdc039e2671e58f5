"""Registry credentials of services (--with-registry-auth), held in the leader's memory only.

As swarm mode does, a service's credentials go with each placement of its tasks so the agent
can pull; unlike swarm (which keeps them in its raft store) they are never written to etcd, so
no etcd user, backup or `etcdctl get` ever sees them. The cost: a new leader has none. Its later
pulls of a private image on a node that lacks it fail with the registry's error (in `service ps`)
until the admin sends them again with `service update --with-registry-auth` (docs/DECISIONS.md)."""
from __future__ import annotations

from typing import Iterable

from shoal.image_refs import auth_key, registry_of
from shoal.protos.shoal.v1 import types_pb2


class RegistryAuths:
    def __init__(self) -> None:
        self._by_service: dict[str, tuple[types_pb2.RegistryAuth, ...]] = {}

    def remember(self, service_id: str, image: str, auths: Iterable[types_pb2.RegistryAuth]) -> None:
        """Keeps the credentials for the registry the service's image names (the others are
        dropped: a service's tasks pull one image). None given: the earlier ones stay, as with
        `docker service update` without --with-registry-auth."""
        wanted = auth_key(registry_of(image))
        mine = tuple(a for a in auths if auth_key(a.server) == wanted)
        if mine:
            self._by_service[service_id] = mine

    def forget(self, service_id: str) -> None:
        self._by_service.pop(service_id, None)

    def of(self, service_id: str) -> tuple[types_pb2.RegistryAuth, ...]:
        return self._by_service.get(service_id, ())

    def __repr__(self) -> str:   # never the secrets
        return f"RegistryAuths({len(self._by_service)} services)"
