"""The `shoal` command's session protocol and the rules for when a command may use a session."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shoal.cli import launch
from shoal.cli import session_wire as wire


def _request(**over) -> wire.Request:
    fields = dict(executable=b"/venv/bin/python3", path=[b"/usr/lib/python311.zip", b"/venv/site"], cwd=b"/home/a",
                  umask=0o022, context=b"net:[4026531840] gid:0:0", argv=[b"shoal", b"run", b"-d", b"", b"--name=x y"],
                  env={b"HOME": b"/home/a", b"EMPTY": b"", b"EQ": b"a=b"})
    fields.update(over)
    return wire.Request(**fields)


def _body(req: wire.Request) -> bytes:
    raw = wire.encode_request(req)
    assert int.from_bytes(raw[:4], "big") == len(raw) - 4
    return raw[4:]


def test_a_request_round_trips_with_empty_and_odd_fields():
    req = _request()
    got = wire.decode_request(_body(req))
    assert (got.executable, got.path, got.cwd, got.umask, got.context, got.argv, got.env) == \
        (req.executable, req.path, req.cwd, req.umask, req.context, req.argv, req.env)


def test_a_request_with_no_argv_and_no_environment_round_trips():
    got = wire.decode_request(_body(_request(argv=[], env={}, path=[])))
    assert (got.argv, got.env, got.path) == ([], {}, [])


@pytest.mark.parametrize("body, reason", [
    (b"other/1\0x", "magic"),
    (wire.MAGIC + b"\0/py\0" + b"9\0/a", "truncated"),
    (wire.MAGIC + b"\0/py\0x\0", "path count is not a number"),
    (wire.MAGIC + b"\0/py\0" + b"0\0/\0" + b"99999\0" + b"0", "umask"),
    (wire.MAGIC + b"\0/py\0" + b"0\0relative\0" + b"18\0ctx\0" + b"0", "not absolute"),
    (wire.MAGIC + b"\0/py\0" + b"0\0/\0" + b"18\0ctx\0" + b"0\0NOEQUALS", "no NAME="),
    (wire.MAGIC + b"\0/py\0" + b"0\0/\0" + b"18\0ctx\0" + b"-1", "argv count is not a number"),
])
def test_a_malformed_request_is_refused_with_its_reason(body, reason):
    with pytest.raises(ValueError, match=reason):
        wire.decode_request(body)


def test_a_request_over_the_bound_is_not_encoded():
    with pytest.raises(ValueError, match="at most"):
        wire.encode_request(_request(argv=[b"x" * (wire.MAX_REQUEST + 1)]))


def test_replies_carry_signed_values():
    assert wire.parse_reply(wire.reply(wire.EXITED, -9)) == (wire.EXITED, -9)
    assert wire.parse_reply(wire.reply(wire.STARTED, 4_000_000)) == (wire.STARTED, 4_000_000)
    assert len(wire.reply(wire.REFUSED)) == wire.REPLY_SIZE


@pytest.mark.parametrize("argv, verb", [
    (["ps"], "ps"),
    (["--manager", "h:1", "--tls-dir", "d", "run", "-d", "x"], "run"),
    (["--manager=h:1", "--insecure", "node", "ls"], "node"),
    (["--help"], None),
    ([], None),
    (["--manager", "agent", "ps"], "ps"),   # an option's value is not the verb
])
def test_the_verb_is_the_word_after_the_global_options(argv, verb):
    assert launch.verb(argv) == verb


def test_a_private_run_directory_gives_a_socket_path(tmp_path):
    path = launch.session_socket(["ps"], {"SHOAL_CONFIG_DIR": str(tmp_path)})
    assert path is not None and os.path.dirname(path) == str(tmp_path / "run")
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("argv, env", [
    (["ps"], {"SHOAL_SESSION": "off"}),
    (["ps"], {"SHOAL_SESSION": "0"}),
    (["agent", "--etcd", "x"], {}),
    (["--manager", "h:1", "manager"], {}),
    (["dev", "up"], {}),
    (["machine", "ls"], {}),
])
def test_no_session_when_turned_off_or_for_daemons_and_host_commands(tmp_path, argv, env):
    assert launch.session_socket(argv, {"SHOAL_CONFIG_DIR": str(tmp_path), **env}) is None


def test_no_session_when_the_run_directory_is_open_to_others(tmp_path):
    (tmp_path / "run").mkdir(mode=0o755)
    (tmp_path / "run").chmod(0o755)
    assert launch.session_socket(["ps"], {"SHOAL_CONFIG_DIR": str(tmp_path)}) is None


def test_no_session_when_the_socket_path_would_not_fit(tmp_path):
    deep = tmp_path / ("d" * 100)
    assert launch.session_socket(["ps"], {"SHOAL_CONFIG_DIR": str(deep)}) is None


def test_the_shoal_command_starts_on_builtins_only():
    """What `shoal` imports before it hands the command to a session: nothing from the CLI's
    dependencies (their imports are what the session saves)."""
    code = "import sys; before = set(sys.modules); import shoal.cli.launch; print(' '.join(sorted(set(sys.modules) - before)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(r.stdout.split())
    assert loaded <= {"shoal", "shoal.cli", "shoal.cli.launch", "shoal.cli.session_wire", "__future__"}, loaded


@pytest.mark.parametrize("argv, options", [
    (["ps"], (None, None, False)),
    (["--manager", "h:1", "--tls-dir", "certs", "run", "-d"], ("h:1", "certs", False)),
    (["--manager=h:2", "--insecure", "ps", "--manager", "not-global"], ("h:2", None, True)),
    (["--tls-dir"], (None, None, False)),
])
def test_the_global_options_are_read_before_the_command_word(argv, options):
    assert launch.global_options(argv) == options


def test_the_process_context_names_the_namespaces_and_groups():
    context = launch.process_context().decode()
    assert context.startswith("cgroup:[") and " net:[" in context and f" gid:{os.getegid()}:" in context
