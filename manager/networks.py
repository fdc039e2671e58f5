"""Overlay network operations: a subnet and a VXLAN id per network, addresses from etcd."""
from __future__ import annotations

import ipaddress
import secrets

from shoal.manager import errors
from shoal.manager.state import ClusterState
from shoal.manager.store import Conflict, Store
from shoal.manager.clock import now, stamp
from shoal.manager.validation import (
    check_create_network, check_network_names, check_ref, show,
)
from shoal.protos.address_pools import OVERLAY_POOL
from shoal.protos import task_states
from shoal.protos.shoal.v1 import manager_pb2, types_pb2

POOL = OVERLAY_POOL
FIRST_VNI = 4096


def check_networks(state: ClusterState, names, field: str = "--network") -> None:
    errors.checked(check_network_names, names, field)
    for name in names:
        if name not in state.networks:
            raise errors.InvalidArgument(f'{field}: network "{show(name)}" does not exist (shoal network create {show(name)})')


class NetworkOps:
    def __init__(self, state: ClusterState, store: Store):
        self.state = state
        self.store = store

    def _view(self, net: types_pb2.Network) -> types_pb2.Network:
        view = types_pb2.Network()
        view.CopyFrom(net)
        view.containers = len(self.state.ipam.get(net.name, {}))
        return view

    def _resolve(self, ref: str) -> types_pb2.Network:
        errors.checked(check_ref, ref, "NETWORK")
        if ref in self.state.networks:
            return self.state.networks[ref][0]
        hits = [n for n, _ in self.state.networks.values() if ref and n.id.startswith(ref)]
        if len(hits) != 1:
            raise errors.NotFound(f'network "{ref[:80]}": no such network' if not hits
                                  else f'network "{ref[:80]}": id prefix is ambiguous')
        return hits[0]

    def _free_subnet(self) -> str:
        taken = [ipaddress.ip_network(n.subnet) for n, _ in self.state.networks.values()]
        for candidate in POOL.subnets(new_prefix=24):
            if not any(candidate.overlaps(t) for t in taken):
                return str(candidate)
        raise errors.ResourceExhausted(f"--subnet: the pool {POOL} is used up; give one")

    async def create(self, req: manager_pb2.CreateNetworkRequest, stack: str = "") -> types_pb2.Network:
        subnet = errors.checked(check_create_network, req)
        if req.name in self.state.networks:
            raise errors.AlreadyExists(f'NAME: network "{req.name}" already exists')
        if subnet is not None:
            for other, _ in self.state.networks.values():
                if subnet.overlaps(ipaddress.ip_network(other.subnet)):
                    raise errors.InvalidArgument(f"--subnet: {subnet} overlaps network {other.name} ({other.subnet})")
            text = str(subnet)
        else:
            text = self._free_subnet()
        used = {n.vni for n, _ in self.state.networks.values()}
        vni = next(v for v in range(FIRST_VNI, FIRST_VNI + 1_000_000) if v not in used)
        net = types_pb2.Network(id=secrets.token_hex(12), name=req.name, driver="overlay", subnet=text, vni=vni,
                                created_at=stamp(now()), stack=stack)
        try:
            await self.store.put_network(net)
        except Conflict as exc:
            raise errors.AlreadyExists(f"NAME: {exc}") from exc
        return self._view(net)

    def list(self) -> list[types_pb2.Network]:
        return sorted((self._view(n) for n, _ in self.state.networks.values()), key=lambda n: n.name)

    def inspect(self, ref: str) -> types_pb2.Network:
        return self._view(self._resolve(ref))

    async def remove(self, ref: str) -> str:
        net = self._resolve(ref)
        users = {c.spec.image and c.name for c, _ in self.state.containers.values()
                 if net.name in c.spec.networks and task_states.holds_attachments(c)}
        users |= {svc.spec.name for svc, _ in self.state.services.values() if net.name in svc.spec.task.networks}
        if users or self.state.ipam.get(net.name):
            raise errors.FailedPrecondition(
                f"network {net.name} is in use by {', '.join(sorted(users)[:5]) or 'containers'}: remove them first")
        await self.store.delete_network(net.name)
        return net.id
