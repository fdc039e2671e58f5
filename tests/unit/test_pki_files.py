"""Key files are never written through a planted symlink, and never into a directory others can write in."""
import os
import stat
import subprocess
import sys

import pytest

from shoal.pki import files
from shoal.pki.cluster_files import InitError, create_files

KEY = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def state(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def victim(tmp_path):
    """A file someone else owns, that a planted symlink points at."""
    f = tmp_path / "attacker-owned"
    f.write_bytes(b"untouched\n")
    return f


def test_a_symlink_at_the_old_temporary_name_is_never_written_through(state, victim):
    (state / "ca.key.tmp").symlink_to(victim)
    files.write_private(state / "ca.key", KEY)
    assert victim.read_bytes() == b"untouched\n"
    assert (state / "ca.key").read_bytes() == KEY and not (state / "ca.key").is_symlink()


def test_creating_the_temporary_refuses_a_planted_symlink_or_file(state, victim):
    tmp = state / ".ca.key.planted.tmp"
    tmp.symlink_to(victim)
    with pytest.raises(FileExistsError):
        files._write_new(tmp, KEY, 0o600)
    assert victim.read_bytes() == b"untouched\n" and tmp.is_symlink()
    dangling = state / ".manager.key.dangling.tmp"
    dangling.symlink_to(state / "nowhere")
    with pytest.raises(FileExistsError):
        files._write_new(dangling, KEY, 0o600)
    assert not (state / "nowhere").exists()


def test_a_symlink_at_the_final_name_is_replaced_not_followed(state, victim):
    (state / "ca.key").symlink_to(victim)
    files.write_private(state / "ca.key", KEY)
    assert victim.read_bytes() == b"untouched\n"
    assert not (state / "ca.key").is_symlink() and (state / "ca.key").read_bytes() == KEY
    assert stat.S_IMODE((state / "ca.key").stat().st_mode) == 0o600


def test_writes_leave_no_temporary_behind(state):
    files.write_public(state / "ca.pem", b"pem")
    files.write_public(state / "ca.pem", b"pem2")
    assert sorted(p.name for p in state.iterdir()) == ["ca.pem"]
    assert (state / "ca.pem").read_bytes() == b"pem2"


def test_a_private_dir_is_made_0700_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        files.ensure_private_dir(tmp_path / "new" / "dir")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new" / "dir").stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777])
def test_a_dir_writable_by_group_or_others_is_refused(state, mode):
    state.chmod(mode)
    with pytest.raises(files.StateDirError) as exc:
        files.ensure_private_dir(state)
    assert str(exc.value) == (f"{state}: mode {mode:04o} lets group or others write in it; "
                              f"refusing to keep keys in it (chmod go-w {state})")


def test_a_dir_of_another_user_is_refused(state):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    os.chown(state, 65534, 65534)
    with pytest.raises(files.StateDirError, match=rf"^{state}: owned by uid 65534\b.*not by this process's uid 0"):
        files.ensure_private_dir(state)


def test_a_missing_dir_is_left_missing_when_not_asked_to_create(tmp_path):
    files.ensure_private_dir(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


def test_a_file_where_the_dir_should_be_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(files.StateDirError, match="not a directory|cannot create"):
        files.ensure_private_dir(tmp_path / "f")


def test_cluster_files_refuse_an_unsafe_state_dir_and_write_nothing(state, tmp_path):
    state.chmod(0o775)
    with pytest.raises(InitError, match="lets group or others write"):
        create_files(state, tmp_path / "admin")
    assert list(state.iterdir()) == []


def _init(tmp_path, state_dir):
    env = dict(os.environ, SHOAL_CONFIG_DIR=str(tmp_path / "cli"))
    return subprocess.run([sys.executable, "-m", "shoal", "cluster", "init", "--state-dir", str(state_dir)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_cluster_init_refuses_a_group_writable_state_dir_in_one_line(state, tmp_path, victim):
    state.chmod(0o770)
    (state / "ca.key.tmp").symlink_to(victim)    # the planted link of the finding
    r = _init(tmp_path, state)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"shoal: {state}: mode 0770 lets group or others write in it; refusing to keep keys in it (chmod go-w {state})"]
    assert victim.read_bytes() == b"untouched\n" and not (state / "ca.key").exists()


def test_cluster_init_refuses_a_state_dir_of_another_user_in_one_line(state, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    os.chown(state, 65534, 65534)
    r = _init(tmp_path, state)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"shoal: {state}: owned by uid 65534"), r.stderr
    assert list(state.iterdir()) == []
