"""Named volume operations: the record of which node holds each volume (managers only: agents
cannot read or write it), and its removal on that node's engine."""
from __future__ import annotations

import grpc

from shoal.manager import errors, volume_placement
from shoal.manager.agents import AgentPool
from shoal.manager.nodes import NodeOps
from shoal.manager.state import ClusterState
from shoal.manager.store import Conflict, Store
from shoal.manager.clock import now, stamp
from shoal.manager.validation import check_create_volume, check_volume_name
from shoal.protos import task_states
from shoal.protos.limits import UNARY_TIMEOUT
from shoal.protos.shoal.v1 import agent_pb2, manager_pb2, types_pb2


class VolumeOps:
    def __init__(self, state: ClusterState, store: Store, pool: AgentPool, nodes: NodeOps):
        self.state = state
        self.store = store
        self.pool = pool
        self.nodes = nodes

    def users(self, name: str) -> list[types_pb2.Container]:
        """The container and task records that mount the volume (a task's slot volume by its own name)."""
        out = []
        for c, _ in self.state.containers.values():
            if any(m.type == "volume" and m.source == name for m in c.spec.mounts):
                out.append(c)
        return out

    def _view(self, volume: types_pb2.Volume) -> types_pb2.Volume:
        view = types_pb2.Volume()
        view.CopyFrom(volume)
        del view.used_by[:]
        view.used_by.extend(sorted(c.name for c in self.users(volume.name)))
        return view

    def _get(self, name: str) -> tuple[types_pb2.Volume, int]:
        errors.checked(check_volume_name, name, "VOLUME")
        entry = self.state.volumes.get(name)
        if entry is None:
            raise errors.NotFound(f'volume "{name}": no such volume')
        return entry

    async def create(self, req: manager_pb2.CreateVolumeRequest) -> types_pb2.Volume:
        errors.checked(check_create_volume, req)
        if req.name in self.state.volumes:
            raise errors.AlreadyExists(f'NAME: volume "{req.name}" already exists')
        volume = types_pb2.Volume(name=req.name, driver=req.driver or volume_placement.DEFAULT_DRIVER,
                                  labels=dict(req.labels), options=dict(req.options), created_at=stamp(now()))
        if req.node:
            node_id = self.nodes.resolve(req.node)
            volume.node_id, volume.node_name = node_id, self.state.nodes[node_id][0].name
        try:
            await self.store.put_volume(volume)
        except Conflict as exc:
            raise errors.AlreadyExists(f"NAME: {exc}") from exc
        return self._view(volume)

    def list(self) -> list[types_pb2.Volume]:
        return sorted((self._view(v) for v, _ in self.state.volumes.values()), key=lambda v: v.name)

    def inspect(self, name: str) -> types_pb2.Volume:
        return self._view(self._get(name)[0])

    async def remove(self, req: manager_pb2.RemoveVolumeRequest) -> str:
        volume, rev = self._get(req.name)
        users = self.users(volume.name)
        # As the agents see them now (the stored status lags an exit until the record is rewritten).
        running = sorted(c.name for c in users if _running(self.state.container_view(c.id)))
        if running:
            raise errors.FailedPrecondition(f"volume {volume.name} is in use by {', '.join(running[:5])}: "
                                            f"remove them first")
        if users and not req.force:
            raise errors.FailedPrecondition(
                f"volume {volume.name} is named by stopped containers ({', '.join(sorted(c.name for c in users)[:5])}): "
                f"remove them first, or use -f")
        if volume.node_id:
            await self._remove_on_engine(volume)
        try:
            await self.store.delete_volume(volume.name, rev)
        except Conflict as exc:
            raise errors.FailedPrecondition(f"{exc}; retry") from exc
        return volume.name

    async def _remove_on_engine(self, volume: types_pb2.Volume) -> None:
        entry = self.state.nodes.get(volume.node_id)
        if entry is None:
            # Its data is on a node that is not here to delete it: refusing keeps the record true.
            raise errors.Unavailable(f"volume {volume.name}: its node {volume.node_name} is down; "
                                     f"remove it when the node is back")
        try:
            await self.pool.stub(entry[0].address).RemoveVolume(agent_pb2.AgentVolumeRef(name=volume.name),
                                                               timeout=UNARY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise errors.FailedPrecondition(f"volume {volume.name} on node {volume.node_name}: {exc.details()}") from exc


def _running(c: types_pb2.Container) -> bool:
    """Running, or about to (placed and not yet seen ending): what -f must not pull a volume from."""
    return task_states.is_live(c) and c.status.state not in ("exited", "dead", "missing")
