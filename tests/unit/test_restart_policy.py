"""The restart policy (lifecycle.refill): managed ends refill at once, failures back off and give
up. Every case is checked on a record as this version writes it (enums) and as older versions
wrote it (the note only), which a mixed-version cluster still holds."""
from datetime import datetime, timedelta, timezone

import pytest

from shoal.manager import lifecycle
from shoal.protos import task_states
from shoal.protos.shoal.v1 import types_pb2 as pb

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
LATER = T0 + timedelta(hours=1)     # "now": well after every end below


def policy(condition="any", max_attempts=0, delay_s=1, window_s=0):
    return pb.RestartPolicy(condition=condition, max_attempts=max_attempts, delay_ns=int(delay_s * 1e9),
                            window_ns=int(window_s * 1e9))


NOTES = {pb.END_REASON_NODE_DOWN: "node down", pb.END_REASON_NODE_DRAINED: "node drained",
         pb.END_REASON_SCALED_DOWN: "scaled down", pb.END_REASON_UPDATED: "updated",
         pb.END_REASON_DUPLICATE: "duplicate", pb.END_REASON_REBALANCED: "rebalanced",
         pb.END_REASON_NOT_ELIGIBLE: "no longer eligible",
         pb.END_REASON_UPDATE_FAILED: "update failed: task x unhealthy",
         pb.END_REASON_SERVICE_REMOVED: "service removed",
         pb.END_REASON_COMPLETED: "completed", pb.END_REASON_EXITED: "failed: exit code 1",
         pb.END_REASON_UNHEALTHY: "failed: unhealthy", pb.END_REASON_DISAPPEARED: "failed: container disappeared",
         pb.END_REASON_REJECTED: "rejected: no such image"}


@pytest.fixture(params=["enum", "old note"])
def form(request):
    return request.param


def ended(form, reason, restarts=0, ran_s=1.0, gave_up=False):
    c = pb.Container(id="t1", restarts=restarts, status=pb.ContainerStatus(
        started_at=T0.isoformat(), finished_at=(T0 + timedelta(seconds=ran_s)).isoformat()))
    if form == "enum":
        task_states.set_ended(c, reason, "words for people only")
        c.gave_up = gave_up
    else:
        c.desired_state = "shutdown"
        c.note = NOTES[reason] + ("; restart limit reached (3 attempts)" if gave_up else "")
    return c


@pytest.mark.parametrize("reason", sorted(task_states.MANAGED_ENDS - {pb.END_REASON_STOPPED}))
def test_managed_ends_are_refilled_at_once_without_counting(form, reason):
    assert lifecycle.refill(policy(), ended(form, reason, restarts=2), LATER) == lifecycle.Refill(2, None)


def test_a_new_slot_starts_at_once():
    assert lifecycle.refill(policy(), None, LATER) == lifecycle.Refill(0, None)


@pytest.mark.parametrize("restarts,delay", [(0, 1), (1, 2), (2, 4), (3, 8)])
def test_failures_back_off_exponentially_from_the_failure(form, restarts, delay):
    got = lifecycle.refill(policy(delay_s=1), ended(form, pb.END_REASON_EXITED, restarts=restarts), LATER)
    assert got == lifecycle.Refill(restarts + 1, T0 + timedelta(seconds=1 + delay))


def test_back_off_is_capped_at_five_minutes(form):
    got = lifecycle.refill(policy(delay_s=10), ended(form, pb.END_REASON_EXITED, restarts=20), LATER)
    assert got.not_before == T0 + timedelta(seconds=1 + 300)


def test_a_stable_run_resets_the_count(form):
    got = lifecycle.refill(policy(window_s=5), ended(form, pb.END_REASON_EXITED, restarts=3, ran_s=6), LATER)
    assert got == lifecycle.Refill(1, T0 + timedelta(seconds=6 + 1))


def test_without_a_window_ten_seconds_is_a_stable_run(form):
    assert lifecycle.refill(policy(), ended(form, pb.END_REASON_EXITED, restarts=3, ran_s=10), LATER).restarts == 1
    assert lifecycle.refill(policy(), ended(form, pb.END_REASON_EXITED, restarts=3, ran_s=9), LATER).restarts == 4


@pytest.mark.parametrize("condition,reason,restart", [
    ("none", pb.END_REASON_EXITED, False), ("none", pb.END_REASON_COMPLETED, False),
    ("on-failure", pb.END_REASON_COMPLETED, False), ("on-failure", pb.END_REASON_EXITED, True),
    ("on-failure", pb.END_REASON_UNHEALTHY, True), ("on-failure", pb.END_REASON_DISAPPEARED, True),
    ("on-failure", pb.END_REASON_REJECTED, True), ("any", pb.END_REASON_COMPLETED, True),
    ("", pb.END_REASON_COMPLETED, True),
])
def test_conditions(form, condition, reason, restart):
    got = lifecycle.refill(policy(condition=condition), ended(form, reason), LATER)
    assert isinstance(got, lifecycle.Refill) == restart
    assert got is None or restart


def test_max_attempts_gives_up_once(form):
    p = policy("on-failure", max_attempts=3)
    assert lifecycle.refill(p, ended(form, pb.END_REASON_EXITED, restarts=2), LATER).restarts == 3
    assert lifecycle.refill(p, ended(form, pb.END_REASON_EXITED, restarts=3), LATER) == lifecycle.GiveUp("t1", 3)
    # Marked: the slot stays empty, and is not marked again.
    assert lifecycle.refill(p, ended(form, pb.END_REASON_EXITED, restarts=3, gave_up=True), LATER) is None


def test_an_unfinished_failure_backs_off_from_now():
    c = ended("enum", pb.END_REASON_EXITED)
    c.status.finished_at = ""
    assert lifecycle.refill(policy(delay_s=2), c, LATER).not_before == LATER + timedelta(seconds=2)


def test_a_note_that_reads_like_a_managed_end_decides_nothing_once_end_is_set():
    c = ended("enum", pb.END_REASON_EXITED, restarts=1)
    c.note = "node down"      # words only: the enum says it failed
    assert lifecycle.refill(policy(), c, LATER).restarts == 2
