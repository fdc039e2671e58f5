"""Node operations: list, inspect, update admin labels and availability."""
from __future__ import annotations

from shoal.manager import errors
from shoal.manager.state import ClusterState, NodeConf, UnknownRef
from shoal.manager.store import Conflict, Store
from shoal.manager.validation import MAX_LABELS, InvalidField, check_ref, check_update_node, show
from shoal.protos.shoal.v1 import manager_pb2, types_pb2


class NodeOps:
    def __init__(self, state: ClusterState, store: Store):
        self.state = state
        self.store = store

    def resolve(self, ref: str) -> str:
        try:
            check_ref(ref, "NODE")
        except InvalidField as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        try:
            return self.state.resolve_node(ref)
        except UnknownRef as exc:
            raise errors.NotFound(str(exc)) from exc

    def list(self) -> list[types_pb2.Node]:
        return self.state.node_views()

    def inspect(self, ref: str) -> types_pb2.Node:
        return self.state.node_view(self.resolve(ref))

    async def update(self, req: manager_pb2.UpdateNodeRequest) -> types_pb2.Node:
        try:
            check_update_node(req)
        except InvalidField as exc:
            raise errors.InvalidArgument(str(exc)) from exc
        node_id = self.resolve(req.ref)
        for _ in range(5):
            entry = self.state.node_conf.get(node_id)
            conf = NodeConf(labels=dict(entry[0].labels), availability=entry[0].availability) if entry else NodeConf()
            for key in req.label_rm:
                if key not in conf.labels and key not in req.label_add:
                    raise errors.InvalidArgument(f'--label-rm: node has no label "{show(key)}"')
                conf.labels.pop(key, None)
            conf.labels.update(req.label_add)
            if len(conf.labels) > MAX_LABELS:
                raise errors.InvalidArgument(f"--label-add: a node has at most {MAX_LABELS} labels")
            if req.availability:
                conf.availability = req.availability
            try:
                await self.store.put_node_conf(node_id, conf, entry[1] if entry else 0)
                break
            except Conflict:
                continue
        else:
            raise errors.Unavailable("node update: concurrent updates kept conflicting; try again")
        return self.state.node_view(node_id)
