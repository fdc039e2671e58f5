"""When a follower deposes the leader: only a heartbeat that stood still on etcd for longer than the TTL."""
from hypothesis import given
from hypothesis import strategies as st

from shoal.manager.heartbeat import HeartbeatMonitor

TTL = 5.0


def reads(monitor, pairs_at):
    """pairs_at: (term, heartbeat revision, sent, received) per read; the decision of each."""
    return [monitor.observe(term, rev, sent, received) for term, rev, sent, received in pairs_at]


def test_a_heartbeat_that_stands_still_for_longer_than_the_ttl_deposes():
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 10, 0.0, 0.1), (7, 10, 2.0, 2.1), (7, 10, 5.0, 5.05), (7, 10, 5.2, 5.3)]) == \
        [False, False, False, True]


def test_exactly_the_ttl_is_not_yet_longer():
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 10, 0.0, 1.0), (7, 10, 6.0, 6.1)]) == [False, False]


def test_an_advancing_heartbeat_is_never_deposed_however_long_the_term():
    m = HeartbeatMonitor(TTL)
    decisions = reads(m, [(7, 10 + i, i * 1.7, i * 1.7 + 0.1) for i in range(100)])
    assert not any(decisions)


def test_the_clock_starts_when_the_change_was_seen_not_at_the_first_look():
    m = HeartbeatMonitor(TTL)
    # The heartbeat advanced at 4 s (seen at 4.1 s): it has stood still for 4.9 s at 9 s, not 9 s.
    assert reads(m, [(7, 10, 0.0, 0.1), (7, 11, 4.0, 4.1), (7, 11, 9.0, 9.05), (7, 11, 9.2, 9.3)]) == \
        [False, False, False, True]


def test_a_new_term_restarts_the_clock_even_with_the_same_heartbeat_revision():
    # A new leader that has not beaten yet: the heartbeat is still the old leader's.
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 10, 0.0, 0.1), (7, 10, 5.0, 5.05), (20, 10, 5.5, 5.6), (20, 10, 9.0, 9.1)]) == \
        [False, False, False, False]


def test_a_slow_read_never_makes_a_live_leader_look_dead():
    # The first read took 4 s to answer: the pair may have been written just before it was served,
    # so the clock starts at the answer (4.0), not at the sending (0.0).
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 10, 0.0, 4.0), (7, 10, 8.5, 8.6), (7, 10, 9.1, 9.2)]) == [False, False, True]


def test_a_follower_that_did_not_look_for_a_while_deposes_at_its_next_read():
    # It was paused (or etcd did not answer it) between 0.1 s and 30 s: unchanged revisions at both
    # ends mean the heartbeat stood still all along (revisions only grow).
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 10, 0.0, 0.1), (7, 10, 30.0, 30.1)]) == [False, True]


def test_no_heartbeat_key_at_all_is_a_heartbeat_that_stands_still():
    m = HeartbeatMonitor(TTL)
    assert reads(m, [(7, 0, 0.0, 0.1), (7, 0, 5.2, 5.3)]) == [False, True]


def test_still_for_reports_from_the_change():
    m = HeartbeatMonitor(TTL)
    assert m.still_for(3.0) == 0.0
    m.observe(7, 10, 1.0, 1.5)
    assert m.still_for(7.0) == 5.5


@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=0.01, max_value=3.0),
                          st.floats(min_value=0.0, max_value=2.0)), min_size=1, max_size=60))
def test_deposes_exactly_after_a_standstill_of_more_than_the_ttl(steps):
    """Whatever the read timings: a depose means that the heartbeat had not changed since a read
    answered more than the TTL before this one was sent (so it stood still that long on etcd), and
    such a standstill is never missed."""
    m = HeartbeatMonitor(TTL)
    rev, now, seen_at = 1, 0.0, None
    for advanced, gap, rtt in steps:
        now += gap
        rev += advanced
        sent, received = now, now + rtt
        deposed = m.observe(3, rev, sent, received)
        if advanced or seen_at is None:
            assert not deposed
            seen_at = received
        else:
            assert deposed == (sent - seen_at > TTL)
        now = received
