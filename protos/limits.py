"""Transport limits shared by every Shoal gRPC server and channel.

Kept in one place so that no link is left without bounded messages or keepalive.
"""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

GRPC_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Dead peers (a host that vanished) are noticed within ~30 s even on idle links.
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)

SERVER_OPTIONS = GRPC_OPTIONS + (
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_connection_idle_ms", 600_000),
)

# Deadlines (seconds) for calls that must not hang.
UNARY_TIMEOUT = 15.0
CREATE_TIMEOUT = 120.0   # may include an image pull on the host
STOP_GRACE_DEFAULT = 10
LOG_CHUNK_BYTES = 64 * 1024
# Interactive sessions (exec, attach): a terminal's bytes, small so a keystroke is not held back.
STREAM_CHUNK_BYTES = 32 * 1024
# Tar streams (cp, image load): big enough for throughput, far under MAX_MESSAGE_BYTES.
ARCHIVE_CHUNK_BYTES = 512 * 1024
# etcd's default --max-txn-ops: compares, and operations per branch, in one transaction.
ETCD_TXN_OPS = 128

# A service record lists at most this many unplaced tasks (its pending_total counts them all), so
# 10,000 replicas that fit nowhere stay a small record.
MAX_PENDING_LISTED = 50
