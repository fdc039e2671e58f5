"""The rule by which a CLI session serves a caller only when its confinement is the session's own
(shoal/cli/confinement.py): what is compared, and what counts as a difference."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from shoal.cli import confinement

STATUS = """\
Name:\tshoal
Umask:\t0022
State:\tS (sleeping)
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
Groups:\t24 27 1000 
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t0
Seccomp_filters:\t0
Speculation_Store_Bypass:\tthread vulnerable
"""


def _confinement(**over: str | None) -> confinement.Confinement:
    found: confinement.Confinement = dict(confinement.parse_status(STATUS))
    found.update({"ns:net": "net:[4026531840]", "root": "2049:2", "cgroup": "0::/user.slice/session-3.scope\n",
                  "lsm": ""})
    found.update(over)
    return found


def test_the_status_fields_are_those_a_fork_does_not_take_from_the_caller():
    fields = confinement.parse_status(STATUS)
    assert fields["Groups"] == "24 27 1000" and fields["Uid"] == "1000 1000 1000 1000"
    assert set(fields) == set(confinement.STATUS_FIELDS)   # not Name, State, Speculation_*...


def test_the_same_confinement_has_no_difference():
    assert confinement.differences(_confinement(), _confinement()) == []


@pytest.mark.parametrize("field, value", [
    ("CapBnd", "0000000000000000"),          # setpriv --bounding-set=-all
    ("CapEff", "000001ffffffffff"),          # more, not only fewer: the rule is sameness
    ("CapAmb", "0000000000001000"),
    ("NoNewPrivs", "1"),                      # setpriv --no-new-privs
    ("Seccomp", "2"),
    ("Seccomp_filters", "1"),                 # one more filter, same mode
    ("Groups", "1000"),
    ("Gid", "1000 1000 1000 100"),            # the file-system gid alone
    ("ns:net", "net:[4026532000]"),
    ("root", "2049:131"),                     # chroot
    ("cgroup", "0::/user.slice/session-5.scope\n"),   # any path: limits cannot be compared
    ("lsm", "unconfined_u:unconfined_r:unconfined_t:s0"),
])
def test_any_field_that_differs_is_named(field, value):
    assert confinement.differences(_confinement(), _confinement(**{field: value})) == [field]


def test_what_cannot_be_read_is_a_difference_even_on_both_sides():
    assert confinement.differences(_confinement(lsm=None), _confinement()) == ["lsm"]
    assert confinement.differences(_confinement(), _confinement(cgroup=None)) == ["cgroup"]
    assert confinement.differences(_confinement(lsm=None), _confinement(lsm=None)) == ["lsm"]
    assert confinement.differences(_confinement(), {}) == sorted(_confinement())   # a peer out of our pid namespace


def test_a_field_this_kernel_does_not_show_is_no_difference():
    without = STATUS.replace("Seccomp_filters:\t0\n", "")
    own = {**_confinement(), **confinement.parse_status(without), "Seccomp_filters": ""}
    assert confinement.differences(own, dict(own)) == []


def test_this_process_reads_whole():
    own = confinement.read("/proc/self")
    assert None not in own.values(), own
    assert own["Uid"].split()[1] == str(os.geteuid()) and own["cgroup"]
    assert confinement.differences(own, confinement.read(f"/proc/{os.getpid()}")) == []


def _setpriv_child(*options: str) -> subprocess.Popen:
    # Prints once setpriv has applied its options and exec'd, then waits for stdin to close.
    return subprocess.Popen([shutil.which("setpriv") or "setpriv", *options, sys.executable, "-c",
                             "import sys; print(flush=True); sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs util-linux setpriv")
def test_a_process_with_no_new_privs_differs_in_that_alone():
    child = _setpriv_child("--no-new-privs")
    try:
        child.stdout.readline()
        assert confinement.differences(confinement.read("/proc/self"), confinement.read(f"/proc/{child.pid}")) == \
            ["NoNewPrivs"]
    finally:
        child.stdin.close()
        child.wait()


@pytest.mark.skipif(not shutil.which("setpriv") or os.geteuid() != 0, reason="needs root and util-linux setpriv")
def test_root_with_its_capabilities_dropped_differs_in_them():
    child = _setpriv_child("--bounding-set=-all", "--inh-caps=-all")
    try:
        child.stdout.readline()
        peer = confinement.read(f"/proc/{child.pid}")
        assert peer["Uid"] == "0 0 0 0" and peer["CapEff"] == "0000000000000000"
        assert {"CapBnd", "CapEff", "CapPrm"} <= set(confinement.differences(confinement.read("/proc/self"), peer))
    finally:
        child.stdin.close()
        child.wait()


def test_the_peer_of_a_socket_is_read_from_the_kernel():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert confinement.differences(confinement.read("/proc/self"), confinement.peer(a)) == []


def test_a_peer_that_exited_is_all_unreadable(tmp_path):
    """Its pid could name another process by now: nothing read through it is believed."""
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(1)
        subprocess.run([sys.executable, "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
                        path], check=True)
        conn, _ = listener.accept()
        with conn:
            try:
                found = confinement.peer(conn)
            except OSError:   # before Linux 6.5 (no SO_PEERPIDFD): the pid is gone, and so is the peer
                return
            assert set(found.values()) == {None}
