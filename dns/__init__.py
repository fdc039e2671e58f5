"""Cluster DNS shared by the manager and the agents.

:mod:`shoal.dns.zone` holds the records and the answering logic (pure);
:mod:`shoal.dns.server` serves a zone over UDP and TCP and forwards other names
upstream (it needs ``dnslib``, so it is not imported here).
"""
from shoal.dns.zone import Answer, Endpoint, Port, Record, Zone

__all__ = ["Answer", "Endpoint", "Port", "Record", "Zone"]
