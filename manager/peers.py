"""Channels from a follower manager to the leader, for forwarded writes."""
from __future__ import annotations

from shoal.manager.channels import Channels
from shoal.pki.ca import MANAGER_NAME
from shoal.pki.renewal import Holder
from shoal.protos.shoal.v1 import manager_pb2_grpc


class Peers(Channels[manager_pb2_grpc.ManagerStub]):
    def __init__(self, holder: Holder | None):
        super().__init__(manager_pb2_grpc.ManagerStub, holder, lambda address: MANAGER_NAME)
