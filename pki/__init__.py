"""The cluster's public-key infrastructure: the CA, certificates, join tokens, TLS for gRPC.

Shared by the manager, the agent and the CLI; imports nothing of this project but protos (limits, the manager API for joining).
"""
