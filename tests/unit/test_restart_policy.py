"""The reconciler's restart decision: managed ends restart at once, failures back off and give up."""
import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from shoal.manager.reconciler import Reconciler
from shoal.manager.state import ClusterState
from shoal.manager.tasks import TaskDriver
from shoal.protos.shoal.v1 import types_pb2

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class NoUpdater:
    def owned(self, service_id):
        return set()


def reconciler():
    state = ClusterState()
    driver = TaskDriver(state, store=None, pool=None, place_lock=asyncio.Lock(), strategy="spread")
    driver.spawn = lambda coro: coro.close()  # the give-up note is written elsewhere; not under test here
    return Reconciler(state, store=None, driver=driver, updater=NoUpdater(), is_leader=lambda: True)


def service(condition="any", max_attempts=0, delay_s=1, window_s=0):
    return types_pb2.Service(spec=types_pb2.ServiceSpec(restart=types_pb2.RestartPolicy(
        condition=condition, max_attempts=max_attempts, delay_ns=int(delay_s * 1e9), window_ns=int(window_s * 1e9))))


def ended(note, restarts=0, ran_s=1.0):
    return types_pb2.Container(note=note, restarts=restarts, desired_state="shutdown", status=types_pb2.ContainerStatus(
        started_at=T0.isoformat(), finished_at=(T0 + timedelta(seconds=ran_s)).isoformat()))


@pytest.mark.parametrize("note", ["node down", "node drained", "scaled down", "updated", "duplicate", "rebalanced",
                                  "no longer eligible", "update failed: task x unhealthy"])
def test_managed_ends_are_replaced_at_once_without_counting(note):
    assert reconciler()._restart_decision(service(), ended(note, restarts=2)) == (2, None)


def test_a_new_slot_starts_at_once():
    assert reconciler()._restart_decision(service(), None) == (0, None)


@pytest.mark.parametrize("restarts,delay", [(0, 1), (1, 2), (2, 4), (3, 8)])
def test_failures_back_off_exponentially_from_the_failure(restarts, delay):
    got = reconciler()._restart_decision(service(delay_s=1), ended("failed: exit code 1", restarts=restarts))
    assert got == (restarts + 1, T0 + timedelta(seconds=1 + delay))


def test_back_off_is_capped_at_five_minutes():
    _, due = reconciler()._restart_decision(service(delay_s=10), ended("failed: exit code 1", restarts=20))
    assert due == T0 + timedelta(seconds=1 + 300)


def test_a_stable_run_resets_the_count():
    got = reconciler()._restart_decision(service(window_s=5), ended("failed: exit code 1", restarts=3, ran_s=6))
    assert got == (1, T0 + timedelta(seconds=6 + 1))


@pytest.mark.parametrize("condition,note,restart", [
    ("none", "failed: exit code 1", False), ("none", "completed", False),
    ("on-failure", "completed", False), ("on-failure", "failed: exit code 2", True),
    ("on-failure", "failed: unhealthy", True), ("any", "completed", True),
])
def test_conditions(condition, note, restart):
    got = reconciler()._restart_decision(service(condition=condition), ended(note))
    assert (got is not None) == restart


def test_max_attempts_gives_up():
    r = reconciler()
    assert r._restart_decision(service("on-failure", max_attempts=3), ended("failed: exit code 1", restarts=2))[0] == 3
    assert r._restart_decision(service("on-failure", max_attempts=3), ended("failed: exit code 1", restarts=3)) is None
