"""Thin gRPC servicer for shoal.v1.Manager: requests to operations, errors to status codes.

Writes are served by the leader only; a follower forwards them to the leader, so the
CLI may talk to any manager. Reads are answered from the local view."""
from __future__ import annotations

import functools
import logging

import grpc

from shoal.manager.containers import ContainerOps
from shoal.manager.container_verbs import ContainerVerbs
from shoal.manager.election import Election
from shoal.manager import errors
from shoal.manager.errors import ApiError
from shoal.manager.images import ImageOps
from shoal.manager.membership import Membership
from shoal.manager.networks import NetworkOps
from shoal.manager.volumes import VolumeOps
from shoal.manager.nodes import NodeOps
from shoal.manager.peers import Peers
from shoal.manager.services import ServiceOps
from shoal.manager.sessions import relay
from shoal.manager.store import NotLeader
from shoal.pki.grpc_tls import caller
from shoal.etcd.client import EtcdError
from shoal.protos.shoal.v1 import manager_pb2, manager_pb2_grpc

log = logging.getLogger("shoal.manager.api")
FORWARDED = "x-shoal-forwarded"
FORWARD_TIMEOUT = 150.0


async def _guarded(context, call):
    try:
        return await call()
    except ApiError as exc:
        await context.abort(exc.code, str(exc))
    except NotLeader as exc:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"leadership changed during the request ({exc}); retry")
    except EtcdError as exc:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"etcd: {str(exc).splitlines()[0] if str(exc) else 'unavailable'}")


async def _streamed(context, events):
    try:
        async for event in events:
            yield event
    except ApiError as exc:
        await context.abort(exc.code, str(exc))


def read(method):
    @functools.wraps(method)
    async def wrapper(self, request, context):
        return await _guarded(context, lambda: method(self, request, context))
    return wrapper


def write(method):
    """Runs on the leader; on a follower, forwards the request to the leader."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        if self.election.is_leader:
            return await _guarded(context, lambda: method(self, request, context))
        if not self.containers.store.healthy.is_set():
            # Without etcd there is no leader either; say what is really wrong.
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "etcd: the manager has lost its connection to etcd; try again shortly")
        forwarded = any(k == FORWARDED for k, _ in (context.invocation_metadata() or ()))
        leader = self.election.leader_address
        if forwarded or not leader or self.election.leader_id == self.election.manager_id:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no leader elected yet; retry shortly")
        try:
            return await getattr(self.peers.stub(leader), method.__name__)(
                request, timeout=context.time_remaining() or FORWARD_TIMEOUT, metadata=((FORWARDED, "1"),)
            )
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or "the leader failed the request")
    return wrapper


class ManagerService(manager_pb2_grpc.ManagerServicer):
    def __init__(self, containers: ContainerOps, nodes: NodeOps, services: ServiceOps, networks: NetworkOps,
                 election: Election, peers: Peers, membership: Membership | None, volumes: VolumeOps,
                 images: ImageOps | None = None):
        self.images = images or ImageOps(containers.state, containers.pool)
        self.membership = membership
        self.volumes = volumes
        self.networks = networks
        self.containers = containers
        self.verbs = ContainerVerbs(containers)
        self.nodes = nodes
        self.services = services
        self.election = election
        self.peers = peers

    # ---- containers ------------------------------------------------------
    @write
    async def Run(self, request, context):
        return await self.containers.run(request)

    @read
    async def ListContainers(self, request, context):
        return manager_pb2.ContainerList(containers=self.containers.list(request.all))

    @read
    async def InspectContainer(self, request, context):
        return await self.containers.inspect(request.ref)

    @write
    async def StopContainer(self, request, context):
        return await self.containers.stop(request.ref, request.timeout_seconds)

    @write
    async def RemoveContainer(self, request, context):
        return manager_pb2.RemoveReply(id=await self.containers.remove(request.ref, request.force))

    async def Logs(self, request, context):
        try:
            async for chunk in self.containers.logs(request.ref, request.follow, request.tail):
                yield chunk
        except ApiError as exc:
            await context.abort(exc.code, str(exc))

    async def Stream(self, request_iterator, context):
        try:
            async for out in relay(self.containers, request_iterator):
                yield out
        except ApiError as exc:
            await context.abort(exc.code, str(exc))

    @read
    async def Wait(self, request, context):
        return await self.containers.wait(request.ref)

    # ---- the other container verbs (container_verbs.py) -------------------
    @write
    async def StartContainer(self, request, context):
        return await self.verbs.start(request.ref)

    @write
    async def RestartContainer(self, request, context):
        return await self.verbs.restart(request.ref, request.timeout_seconds)

    @write
    async def KillContainer(self, request, context):
        return await self.verbs.kill(request.ref, request.signal)

    @write
    async def PauseContainer(self, request, context):
        return await self.verbs.pause(request.ref, True)

    @write
    async def UnpauseContainer(self, request, context):
        return await self.verbs.pause(request.ref, False)

    @write
    async def RenameContainer(self, request, context):
        return await self.verbs.rename(request.ref, request.name)

    @read
    async def Top(self, request, context):
        return await self.verbs.top(request.ref, request.ps_args)

    async def Stats(self, request, context):
        try:
            async for row in self.verbs.stats(request):
                yield row
        except ApiError as exc:
            await context.abort(exc.code, str(exc))

    async def CopyFrom(self, request, context):
        try:
            async for msg in self.verbs.copy_from(request.ref, request.path):
                yield msg
        except ApiError as exc:
            await context.abort(exc.code, str(exc))

    async def CopyTo(self, request_iterator, context):
        return await _guarded(context, lambda: self.verbs.copy_to(request_iterator))

    # ---- nodes -----------------------------------------------------------
    @read
    async def ListNodes(self, request, context):
        return manager_pb2.NodeList(nodes=self.nodes.list())

    @read
    async def InspectNode(self, request, context):
        return self.nodes.inspect(request.ref)

    @write
    async def UpdateNode(self, request, context):
        return await self.nodes.update(request)

    # ---- services and stacks ----------------------------------------------
    @write
    async def CreateService(self, request, context):
        return await self.services.create(request.spec, request.registry_auth)

    @read
    async def ListServices(self, request, context):
        return manager_pb2.ServiceList(services=self.services.list(request.stack))

    @read
    async def InspectService(self, request, context):
        return self.services.inspect(request.ref)

    @read
    async def ServiceTasks(self, request, context):
        return manager_pb2.ContainerList(containers=self.services.tasks(request.ref, request.all))

    @write
    async def UpdateService(self, request, context):
        return await self.services.update(request)

    @write
    async def ScaleService(self, request, context):
        return await self.services.scale(request.ref, request.replicas)

    @write
    async def RollbackService(self, request, context):
        return await self.services.rollback(request.ref)

    @write
    async def RemoveService(self, request, context):
        return manager_pb2.RemoveReply(id=await self.services.remove(request.ref))

    @write
    async def DeployStack(self, request, context):
        return await self.services.deploy_stack(request)

    @read
    async def ListStacks(self, request, context):
        return manager_pb2.StackList(stacks=self.services.list_stacks())

    @write
    async def RemoveStack(self, request, context):
        return manager_pb2.RemoveStackReply(removed=await self.services.remove_stack(request.name))

    @read
    async def Status(self, request, context):
        e = self.election
        return manager_pb2.ManagerStatus(id=e.manager_id, address=e.address, leader=e.is_leader,
                                         leader_id=e.leader_id, leader_address=e.leader_address,
                                         term=e.leader_term)

    # ---- networks ----------------------------------------------------------
    @write
    async def CreateNetwork(self, request, context):
        return await self.networks.create(request)

    @read
    async def ListNetworks(self, request, context):
        return manager_pb2.NetworkList(networks=self.networks.list())

    @read
    async def InspectNetwork(self, request, context):
        return self.networks.inspect(request.ref)

    @write
    async def RemoveNetwork(self, request, context):
        return manager_pb2.RemoveReply(id=await self.networks.remove(request.ref))

    # ---- volumes -----------------------------------------------------------
    @write
    async def CreateVolume(self, request, context):
        return await self.volumes.create(request)

    @read
    async def ListVolumes(self, request, context):
        return manager_pb2.VolumeList(volumes=self.volumes.list())

    @read
    async def InspectVolume(self, request, context):
        return self.volumes.inspect(request.name)

    @write
    async def RemoveVolume(self, request, context):
        return manager_pb2.RemoveReply(id=await self.volumes.remove(request))

    # ---- images: served by any manager (they touch the agents, not etcd) ----------
    @read
    async def ListImages(self, request, context):
        return await self.images.list(request)

    async def PullImage(self, request, context):
        async for event in _streamed(context, self.images.pull(request)):
            yield event

    async def LoadImage(self, request_iterator, context):
        async for event in _streamed(context, self.images.load(request_iterator)):
            yield event

    @read
    async def RemoveImage(self, request, context):
        return await self.images.remove(request)

    @read
    async def PruneImages(self, request, context):
        return await self.images.prune(request)

    # ---- membership --------------------------------------------------------
    def _members(self) -> Membership:
        if self.membership is None:
            raise errors.FailedPrecondition("this manager runs with --insecure: it has no CA and issues no certificates")
        return self.membership

    @write
    async def RemoveNode(self, request, context):
        removed = await self._members().remove_node(request)
        return manager_pb2.RemoveReply(id=removed[0])

    @read
    async def Join(self, request, context):
        return await self._members().join(request)

    @read
    async def Renew(self, request, context):
        who = caller(context)
        if who is None:
            raise errors.Unauthenticated("Renew: a client certificate is required")
        return await self._members().renew(who, request)

    @write
    async def JoinToken(self, request, context):
        return await self._members().join_token(request)
