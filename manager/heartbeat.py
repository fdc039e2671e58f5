"""When a follower may depose the leader: the leader's heartbeat stood still for longer than the TTL.

The lease under /shoal/leader is not proof that the leader lives: any etcd client that learns the
lease id (etcd < 3.4.26 lists a lease's keys to anyone, CVE-2023-32082) can keep it alive for ever.
Only managers can write /shoal/heartbeat, so a heartbeat that stopped advancing is. Pure: election.py
reads the two keys and passes their revisions and the times of its own monotonic clock; the times
written in the heartbeat's value are never trusted (another host's clock).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeartbeatMonitor:
    """Follows one follower's view of (leader term, heartbeat mod revision) over time."""

    ttl: float
    _seen: tuple[int, int] | None = None
    _since: float = 0.0           # when we first saw _seen: after the read that returned it

    def observe(self, term: int, heartbeat_revision: int, sent: float, received: float) -> bool:
        """One read of both keys, sent and answered at these monotonic times. True when the leader of
        `term` is to be deposed: the pair has not changed since a read answered more than `ttl` before
        this one was sent, so the heartbeat certainly stood still on etcd for longer than the TTL,
        however slow either read was. A revision only grows: equal at both ends means unchanged
        in between, whatever happened while we were not looking."""
        pair = (term, heartbeat_revision)
        if pair != self._seen:
            self._seen, self._since = pair, received
            return False
        return sent - self._since > self.ttl

    def still_for(self, now: float) -> float:
        """How long the pair has stood still as seen from here (for the log line)."""
        return now - self._since if self._seen is not None else 0.0
