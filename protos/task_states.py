"""Reading and writing a task's lifecycle fields (`desired`, `state`, `end`, `gave_up` of
shoal.v1.Container), whichever version wrote the record.

Records written before those fields carry the same facts as strings: `desired_state`,
`status.state` and the note. Those are read here, and only here, so that a cluster of mixed
versions keeps working; everything else asks these functions. Writers set both forms, so an
older manager still reads what a newer one wrote. The note is never read for a record that
has `end` set: from then on it is for people only.
"""
from __future__ import annotations

from typing import TypeAlias

from shoal.protos.shoal.v1 import types_pb2

State: TypeAlias = "types_pb2.TaskState"   # an int at run time
Reason: TypeAlias = "types_pb2.EndReason"

PENDING = types_pb2.TASK_STATE_PENDING
RUNNING = types_pb2.TASK_STATE_RUNNING
COMPLETE = types_pb2.TASK_STATE_COMPLETE
SHUTDOWN = types_pb2.TASK_STATE_SHUTDOWN
FAILED = types_pb2.TASK_STATE_FAILED
REJECTED = types_pb2.TASK_STATE_REJECTED

# The cluster's own doing: the slot is refilled at once and the restart policy does not count it.
MANAGED_ENDS: frozenset[Reason] = frozenset({
    types_pb2.END_REASON_NODE_DOWN, types_pb2.END_REASON_NODE_DRAINED, types_pb2.END_REASON_SCALED_DOWN,
    types_pb2.END_REASON_UPDATED, types_pb2.END_REASON_DUPLICATE, types_pb2.END_REASON_SERVICE_REMOVED,
    types_pb2.END_REASON_NOT_ELIGIBLE, types_pb2.END_REASON_REBALANCED, types_pb2.END_REASON_UPDATE_FAILED,
    types_pb2.END_REASON_STOPPED,
})

# The state a task ends in, by why it ended.
_ENDED_STATE: dict[Reason, State] = {
    types_pb2.END_REASON_COMPLETED: COMPLETE,
    types_pb2.END_REASON_EXITED: FAILED,
    types_pb2.END_REASON_UNHEALTHY: FAILED,
    types_pb2.END_REASON_DISAPPEARED: FAILED,
    types_pb2.END_REASON_REJECTED: REJECTED,
}

# What versions before the `end` field wrote as the note, by the reason it meant. An old note
# that matches none of these was, to those versions, a failure.
_OLD_NOTES: tuple[tuple[str, Reason], ...] = (
    ("node down", types_pb2.END_REASON_NODE_DOWN),
    ("node drained", types_pb2.END_REASON_NODE_DRAINED),
    ("scaled down", types_pb2.END_REASON_SCALED_DOWN),
    ("updated", types_pb2.END_REASON_UPDATED),
    ("duplicate", types_pb2.END_REASON_DUPLICATE),
    ("service removed", types_pb2.END_REASON_SERVICE_REMOVED),
    ("no longer eligible", types_pb2.END_REASON_NOT_ELIGIBLE),
    ("rebalanced", types_pb2.END_REASON_REBALANCED),
    ("update failed", types_pb2.END_REASON_UPDATE_FAILED),
    ("completed", types_pb2.END_REASON_COMPLETED),
    ("failed: unhealthy", types_pb2.END_REASON_UNHEALTHY),
    ("failed: container disappeared", types_pb2.END_REASON_DISAPPEARED),
    ("rejected", types_pb2.END_REASON_REJECTED),
)
_OLD_GAVE_UP = "restart limit reached"
_OLD_DESIRED: dict[str, State] = {"running": RUNNING, "shutdown": SHUTDOWN, "stopped": SHUTDOWN}
_DESIRED_TEXT: dict[State, str] = {RUNNING: "running", SHUTDOWN: "shutdown"}


def is_managed(reason: Reason) -> bool:
    return reason in MANAGED_ENDS


def ended_state(reason: Reason) -> State:
    """The state a task is in once it ended for `reason`."""
    return _ENDED_STATE.get(reason, SHUTDOWN)


def desired(c: types_pb2.Container) -> State:
    if c.desired:
        return c.desired
    # An unknown word is read as "to end": a task is never started on a guess.
    return _OLD_DESIRED.get(c.desired_state, SHUTDOWN)


def is_live(c: types_pb2.Container) -> bool:
    """Meant to run: its slot is taken by it."""
    return desired(c) == RUNNING


def end_reason(c: types_pb2.Container) -> Reason:
    if c.end or is_live(c):
        return c.end
    if c.desired_state == "stopped":
        return types_pb2.END_REASON_STOPPED
    for prefix, reason in _OLD_NOTES:
        if c.note.startswith(prefix):
            return reason
    return types_pb2.END_REASON_EXITED


def holds_attachments(c: types_pb2.Container) -> bool:
    """Still on its networks: live, or a plain container the admin stopped (it may start again)."""
    return is_live(c) or end_reason(c) == types_pb2.END_REASON_STOPPED


def gave_up(c: types_pb2.Container) -> bool:
    return c.gave_up or (not c.end and _OLD_GAVE_UP in c.note)


def recorded_state(c: types_pb2.Container) -> State:
    """The manager's last word on the task (not what its agent reports now)."""
    if c.state:
        return c.state
    if not is_live(c):
        return ended_state(end_reason(c))
    return PENDING if c.status.state in ("pending", "") else RUNNING


def set_desired(c: types_pb2.Container, state: State) -> None:
    c.desired = state
    c.desired_state = _DESIRED_TEXT[state]


def set_ended(c: types_pb2.Container, reason: Reason, note: str) -> None:
    """Marks the record ended, in both forms."""
    set_desired(c, SHUTDOWN)
    if reason == types_pb2.END_REASON_STOPPED:
        c.desired_state = "stopped"
    c.end = reason
    c.state = ended_state(reason)
    c.note = note


def set_gave_up(c: types_pb2.Container, attempts: int) -> None:
    c.gave_up = True
    if _OLD_GAVE_UP not in c.note:
        c.note = f"{c.note}; {_OLD_GAVE_UP} ({attempts} attempts)"
