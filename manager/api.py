"""Thin gRPC servicer for shoal.v1.Manager: requests to operations, ApiError to status codes."""
from __future__ import annotations

import functools
import logging

import grpc

from manager.containers import ContainerOps
from manager.errors import ApiError
from manager.nodes import NodeOps
from protos.etcdv3.client import EtcdError
from protos.shoal.v1 import manager_pb2, manager_pb2_grpc

log = logging.getLogger("shoal.manager.api")


def _unary(method):
    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ApiError as exc:
            await context.abort(exc.code, str(exc))
        except EtcdError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"etcd: {str(exc).splitlines()[0] if str(exc) else 'unavailable'}")
    return wrapper


class ManagerService(manager_pb2_grpc.ManagerServicer):
    def __init__(self, containers: ContainerOps, nodes: NodeOps):
        self.containers = containers
        self.nodes = nodes

    @_unary
    async def Run(self, request, context):
        return await self.containers.run(request)

    @_unary
    async def ListContainers(self, request, context):
        return manager_pb2.ContainerList(containers=self.containers.list(request.all))

    @_unary
    async def InspectContainer(self, request, context):
        return await self.containers.inspect(request.ref)

    @_unary
    async def StopContainer(self, request, context):
        return await self.containers.stop(request.ref, request.timeout_seconds)

    @_unary
    async def RemoveContainer(self, request, context):
        return manager_pb2.RemoveReply(id=await self.containers.remove(request.ref, request.force))

    async def Logs(self, request, context):
        try:
            async for chunk in self.containers.logs(request.ref, request.follow, request.tail):
                yield chunk
        except ApiError as exc:
            await context.abort(exc.code, str(exc))

    @_unary
    async def Wait(self, request, context):
        return await self.containers.wait(request.ref)

    @_unary
    async def ListNodes(self, request, context):
        return manager_pb2.NodeList(nodes=self.nodes.list())

    @_unary
    async def InspectNode(self, request, context):
        return self.nodes.inspect(request.ref)

    @_unary
    async def UpdateNode(self, request, context):
        return await self.nodes.update(request)
