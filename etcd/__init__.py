"""Shoal's asyncio etcd v3 client (gRPC on etcd's own protos in :mod:`shoal.protos.etcdv3`).

:mod:`shoal.etcd.client` speaks KV, Lease, Watch, Auth, Maintenance and Cluster with deadlines,
bounded messages, failover between endpoints and watches resumed exactly once;
:mod:`shoal.etcd.follow` keeps a watch going across restarts and compactions;
:mod:`shoal.etcd.server_version` warns when etcd is older than Shoal's production minimum.
"""
