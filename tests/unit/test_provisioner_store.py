"""provisioner.store: ~/.shoal/machines/NAME/config.json in tmp dirs (modes, atomicity, errors)."""
from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from shoal.provisioner import store
from shoal.provisioner.errors import CorruptMachineRecord, InvalidMachineName, MachineNotFound, StoreError
from shoal.provisioner.store import Machine, MachineError


def machine(name: str = "web-1", **kw) -> Machine:
    return Machine(name=name, ip="10.0.0.5", **kw)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_save_and_load_round_trip_with_private_modes(tmp_path):
    m = machine(ssh_port=2222, ssh_user="deploy", ssh_key="/home/me/.ssh/id_ed25519",
                host_key="SHA256:p4NaSB4LgsUniOXwJ47lO63gmCANQ5e3/9x8DCorDUg", labels={"zone": "a", "disk": "ssd"},
                manager="10.0.0.1:7070")
    saved = store.save(m, tmp_path, now="2024-05-01T12:00:00.000000Z")
    assert saved.created_at == saved.updated_at == "2024-05-01T12:00:00.000000Z"
    assert store.load("web-1", tmp_path) == saved
    path = tmp_path / "machines" / "web-1" / "config.json"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["state"] == "creating" and doc["error"] is None


def test_updates_keep_created_at(tmp_path):
    first = store.save(machine(), tmp_path, now="2024-05-01T12:00:00.000000Z")
    second = store.save(first.ready(node_id="n-1", agent_version="0.1.0"), tmp_path, now="2024-05-01T12:05:00.000000Z")
    loaded = store.load("web-1", tmp_path)
    assert loaded == second
    assert (loaded.created_at, loaded.updated_at) == ("2024-05-01T12:00:00.000000Z", "2024-05-01T12:05:00.000000Z")
    assert (loaded.state, loaded.node_id, loaded.agent_version) == ("ready", "n-1", "0.1.0")


def test_a_failure_with_its_step_leaves_a_loadable_record(tmp_path):
    creating = store.save(machine(), tmp_path)
    failed = creating.failed("install docker", "`apt-get install -y docker.io` exited 100:\nE: Unable to locate package")
    store.save(failed, tmp_path)
    loaded = store.load("web-1", tmp_path)
    assert loaded.state == "error"
    assert loaded.error == MachineError("install docker",
                                        "`apt-get install -y docker.io` exited 100: E: Unable to locate package")
    # and a retry that succeeds clears it
    store.save(loaded.ready(), tmp_path)
    assert store.load("web-1", tmp_path).error is None


def test_base_dir_from_parameter_then_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    store.save(machine("a"), None)
    assert (tmp_path / "from-env" / "machines" / "a" / "config.json").is_file()
    store.save(machine("b"), tmp_path / "explicit")
    assert (tmp_path / "explicit" / "machines" / "b" / "config.json").is_file()
    monkeypatch.delenv("SHOAL_CONFIG_DIR")
    store.save(machine("c"))
    assert (tmp_path / "home" / ".shoal" / "machines" / "c" / "config.json").is_file()


@pytest.mark.parametrize("name", ["a", "web-1", "Web_1.prod", "0", "a" * 63])
def test_valid_names(name, tmp_path):
    store.save(machine(name), tmp_path)
    assert store.exists(name, tmp_path)


@pytest.mark.parametrize("name", ["", "-a", ".a", "_a", "..", "a/b", "../x", "a b", "a" * 64, "wéb", "a\n"])
def test_invalid_names(name, tmp_path):
    with pytest.raises(InvalidMachineName, match="invalid machine name"):
        store.load(name, tmp_path)
    with pytest.raises(InvalidMachineName):
        machine(name)
    assert not (tmp_path / "machines").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        ("", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[1, 2]", "the record is not a JSON object"),
        ('{"name": "web-1"}', "missing field 'ip'"),
        ('{"name": "web-1", "ip": 5}', "field 'ip' must be a string"),
        ('{"name": "web-1", "ip": "x", "ssh_port": "22"}', "ssh_port must be in 1-65535, not '22'"),
        ('{"name": "web-1", "ip": "x", "labels": {"a": 1}}', "field 'labels' must map strings to strings"),
        ('{"name": "web-1", "ip": "x", "state": "error"}',
         "a machine has an error (step, reason) exactly when its state is 'error'"),
        ('{"name": "web-1", "ip": "x", "state": "error", "error": "boom"}',
         'field \'error\' must be {"step": str, "reason": str}'),
        ('{"name": "web-1", "ip": "x", "state": "exploded"}',
         "machine state must be one of creating, ready, error, not 'exploded'"),
        ('{"name": "other", "ip": "x"}', "it names machine 'other'"),
        ('{"name": "web-1", "ip": "x", "version": 99}', "unknown record version 99"),
    ],
)
def test_corrupt_record_names_the_path_on_one_line(tmp_path, content, reason):
    store.save(machine(), tmp_path)
    path = tmp_path / "machines" / "web-1" / "config.json"
    path.write_text(content)
    with pytest.raises(CorruptMachineRecord) as info:
        store.load("web-1", tmp_path)
    assert str(info.value) == f"{path}: corrupt machine record ({reason})"
    assert "\n" not in str(info.value)


def test_fields_of_a_newer_version_are_ignored(tmp_path):
    store.save(machine(), tmp_path)
    path = tmp_path / "machines" / "web-1" / "config.json"
    doc = json.loads(path.read_text())
    doc["future_field"] = {"x": 1}
    path.write_text(json.dumps(doc))
    assert store.load("web-1", tmp_path).ip == "10.0.0.5"


@pytest.mark.parametrize("failing", ["fsync", "replace", "write"])
def test_a_failed_write_leaves_the_old_record(tmp_path, monkeypatch, failing):
    store.save(machine(labels={"v": "old"}), tmp_path)
    directory = tmp_path / "machines" / "web-1"
    before = (directory / "config.json").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, failing, disk_full)
    with pytest.raises(StoreError) as info:
        store.save(machine(labels={"v": "new"}), tmp_path)
    monkeypatch.undo()
    assert str(info.value) == (f"{directory / 'config.json'}: cannot save machine 'web-1' (No space left on device)")
    assert (directory / "config.json").read_bytes() == before
    assert os.listdir(directory) == ["config.json"]  # no temporary file left behind
    assert store.load("web-1", tmp_path).labels == {"v": "old"}


def test_list_remove_exists(tmp_path):
    assert store.names(tmp_path) == [] and store.list_machines(tmp_path) == []
    for name in ["web-2", "db", "Web-1", "web-10"]:
        store.save(machine(name), tmp_path)
    (tmp_path / "machines" / "stray-dir").mkdir()  # no record inside
    (tmp_path / "machines" / ".hidden").mkdir()
    assert store.names(tmp_path) == ["Web-1", "db", "web-10", "web-2"]
    assert [m.name for m in store.list_machines(tmp_path)] == ["Web-1", "db", "web-10", "web-2"]
    assert store.exists("db", tmp_path) and not store.exists("nope", tmp_path)

    store.remove("db", tmp_path)
    assert not store.exists("db", tmp_path) and not (tmp_path / "machines" / "db").exists()
    with pytest.raises(MachineNotFound, match=r"^machine 'db' not found \(no .*/machines/db/config.json\)$"):
        store.remove("db", tmp_path)
    with pytest.raises(MachineNotFound, match="machine 'db' not found"):
        store.load("db", tmp_path)


def test_a_loose_machine_dir_is_tightened(tmp_path):
    directory = tmp_path / "machines" / "web-1"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    store.save(machine(), tmp_path)
    assert mode(directory) == 0o700


def test_machine_invariants():
    with pytest.raises(ValueError):
        Machine(name="a", ip="x", state="error")
    with pytest.raises(ValueError):
        Machine(name="a", ip="x", state="ready", error=MachineError("s", "r"))
    with pytest.raises(ValueError):
        Machine(name="a", ip="x", ssh_port=0)
    assert machine().failed("connect", "boom").ready().state == "ready"
