"""Secrets that stay off the command line: --secret-env K, --secret-env-file, --secret-env-stdin and
--join-token-file; each refusal is one line that names the flag and never the value."""
import os
import stat
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from shoal.cli import secret_env
from shoal.cli.service import apply_options, service_create, service_update
from tests.unit.conftest import service_spec

VALUE = "s3cret-7f1e0c-value"
TOKEN = "SHOAL-1-" + "ab" * 32 + "-" + "x" * 32


def shoal(*args, env=None, stdin=subprocess.DEVNULL, cwd=None):
    e = dict(os.environ)
    e.pop("SHOAL_MANAGER", None)
    e.pop("SHOAL_JOIN_TOKEN", None)
    e["SHOAL_CONFIG_DIR"] = "/nonexistent-shoal-config"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, env=e, timeout=60,
                          check=False, stdin=stdin, cwd=cwd)


def one_line(r, code):
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert VALUE not in r.stderr + r.stdout
    return lines[0]


# --- the env file, as docker's --env-file reads it ---------------------------------------------

def test_env_file_lines_are_taken_as_docker_takes_them():
    data = ("\ufeff# a comment\n"
            "\n"
            "   \t\n"
            "  A=1\n"
            "B= spaced value  \n"
            "C=\"quoted\"\n"
            "D=x=y#not a comment\n"
            "E=\n"
            "  # indented comment\n"
            "F=crlf\r\n"
            "FROM_ENV\n").encode()
    assert secret_env.parse_env_file(data, {"FROM_ENV": VALUE}) == [
        ("A", "1"), ("B", " spaced value  "), ("C", '"quoted"'), ("D", "x=y#not a comment"), ("E", ""),
        ("F", "crlf"), ("FROM_ENV", VALUE)]


@pytest.mark.parametrize("data, reason", [
    (b"A=1\n=" + VALUE.encode() + b"\n", "line 2 has no variable name"),
    (b"PASSWORD " + VALUE.encode() + b"\n", "line 1: the variable name has whitespace in it"),
    (b"A\tB=" + VALUE.encode(), "line 1: the variable name has whitespace in it"),
    (b"A=1\nB=\xff" + VALUE.encode() + b"\n", "line 2 is not UTF-8"),
    (b"# only\nUNSET_ONE\n", "UNSET_ONE (line 2) is not set in the environment"),
])
def test_a_bad_env_file_line_is_named_by_number_never_quoted(data, reason):
    with pytest.raises(ValueError) as exc:
        secret_env.parse_env_file(data, {})
    assert reason in str(exc.value) and VALUE not in str(exc.value)


def test_a_file_others_can_read_gets_a_warning(tmp_path):
    f = tmp_path / "secrets.env"
    f.write_text(f"A={VALUE}\n")
    f.chmod(0o600)
    assert secret_env.read_private_file(f, 100) == (f"A={VALUE}\n".encode(), None)
    f.chmod(0o640)
    _, warning = secret_env.read_private_file(f, 100)
    assert warning and str(f) in warning and "0640" in warning and VALUE not in warning
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        secret_env.read_private_file(f, 10)
    with pytest.raises(ValueError, match=f"^{tmp_path}: Is a directory$"):
        secret_env.read_private_file(tmp_path, 100)


def test_a_pipe_will_do_as_the_file():
    r, w = os.pipe()
    os.write(w, f"A={VALUE}\n".encode())
    os.close(w)
    try:
        assert secret_env.read_private_file(f"/proc/self/fd/{r}", 100) == (f"A={VALUE}\n".encode(), None)
    finally:
        os.close(r)


# --- K alone and stdin ------------------------------------------------------------------------

def test_a_name_alone_takes_its_value_from_the_environment():
    assert secret_env.from_argument("K", {"K": VALUE}) == ("K", VALUE)
    assert secret_env.from_argument("K", {"K": ""}) == ("K", "")       # set but empty is a value
    assert secret_env.from_argument("K=a=b", {}) == ("K", "a=b")
    with pytest.raises(ValueError, match=r"^K is not set in the environment"):
        secret_env.from_argument("K", {})


def test_stdin_gives_one_value_less_one_trailing_newline():
    def through_pipe(data: bytes) -> str:
        r, w = os.pipe()

        def write():    # a thread: more than a pipe's buffer must not block the test
            with os.fdopen(w, "wb") as out:
                try:
                    out.write(data)
                except BrokenPipeError:   # the reader stopped at its bound
                    pass
        writer = threading.Thread(target=write)
        writer.start()
        try:
            with os.fdopen(r, "rb") as f:
                return secret_env.read_stdin_value(f, is_terminal=False)
        finally:
            writer.join()
    assert through_pipe(VALUE.encode() + b"\n") == VALUE
    assert through_pipe(VALUE.encode() + b"\r\n") == VALUE
    assert through_pipe(b"two\nlines\n\n") == "two\nlines\n"
    for bad, reason in ((b"", "empty"), (b"\n", "empty"), (b"\xff", "not UTF-8"),
                        (b"x" * (secret_env.MAX_STDIN_BYTES + 1), "more than")):
        with pytest.raises(ValueError, match=reason):
            through_pipe(bad)


# --- the options as the commands parse them ---------------------------------------------------

def parsed(command, args, stdin=b"", env=None):
    """The options as `shoal service create|update` parses them (stdin and environment as given)."""
    with CliRunner().isolation(input=stdin, env=env):
        return command.make_context(command.name, list(args)).params


def test_every_form_marks_its_variables_secret_and_later_forms_win(tmp_path):
    f = tmp_path / "s.env"
    f.write_text("FROM_FILE=f\nBOTH=file\n")
    f.chmod(0o600)
    params = parsed(service_create, ["--name", "web", "-e", "PLAIN=p", "--secret-env-file", str(f),
                                     "--secret-env", "BOTH", "--secret-env", "ARGV=a", "--secret-env-stdin", "PIPED",
                                     "img"], stdin=VALUE.encode() + b"\n", env={"BOTH": "environment"})
    spec = service_spec()
    apply_options(spec, params, creating=True)
    assert dict(spec.task.env) == {"PLAIN": "p", "FROM_FILE": "f", "BOTH": "environment", "ARGV": "a", "PIPED": VALUE}
    assert sorted(spec.task.secret_env) == ["ARGV", "BOTH", "FROM_FILE", "PIPED"]


def test_update_takes_the_same_forms(tmp_path):
    params = parsed(service_update, ["--secret-env", "TOKEN_VAR", "web"], env={"TOKEN_VAR": VALUE})
    spec = service_spec()
    apply_options(spec, params, creating=False)
    assert spec.task.env["TOKEN_VAR"] == VALUE and list(spec.task.secret_env) == ["TOKEN_VAR"]


@pytest.mark.parametrize("args, message", [
    (["run", "--secret-env", "UNSET_SECRET_VAR", "img"],
     "shoal: --secret-env: UNSET_SECRET_VAR is not set in the environment (export it first)"),
    (["service", "create", "--name", "w", "--secret-env-stdin", "A", "--secret-env-stdin", "B", "img"],
     "shoal: --secret-env-stdin: stdin holds one value"),
    (["service", "update", "--secret-env-stdin", "A=x", "web"], "shoal: --secret-env-stdin: give the variable's name K"),
    (["run", "--secret-env-stdin", "A", "img"], "shoal: --secret-env-stdin: A: stdin gave an empty value"),
    (["run", "--secret-env-file", "/nonexistent/s.env", "img"],
     "shoal: --secret-env-file: /nonexistent/s.env: No such file or directory"),
])
def test_refusals_are_one_line_exit_2(args, message):
    assert one_line(shoal(*args), 2).startswith(message)


def test_a_bad_file_line_is_one_line_that_does_not_show_it(tmp_path):
    f = tmp_path / "s.env"
    f.write_text(f"OK=1\nPASSWORD {VALUE}\n")
    f.chmod(0o600)
    line = one_line(shoal("run", "--secret-env-file", str(f), "img"), 2)
    assert line == f"shoal: --secret-env-file: {f}: line 2: the variable name has whitespace in it (K=VALUE expected)"


def test_a_readable_file_warns_then_the_command_goes_on(tmp_path):
    f = tmp_path / "s.env"
    f.write_text(f"A={VALUE}\n")
    f.chmod(0o644)
    r = shoal("--insecure", "--manager", "127.0.0.1:1", "run", "-d", "--secret-env-file", str(f), "img")
    lines = r.stderr.strip().splitlines()
    assert lines[0] == (f"shoal: warning: --secret-env-file: {f} is readable by group or others (mode 0644); "
                        f"a secret belongs in a file only you can read (chmod 600 {f})")
    assert "manager unreachable" in lines[1] and r.returncode == 1 and VALUE not in r.stderr


def test_stdin_from_a_terminal_is_refused():
    import pty
    controller, terminal = pty.openpty()
    try:
        line = one_line(shoal("run", "--secret-env-stdin", "A", "img", stdin=terminal), 2)
    finally:
        os.close(controller)
        os.close(terminal)
    assert line.startswith("shoal: --secret-env-stdin: A: stdin is a terminal; pipe the value in")


# --- the daemons' join token ------------------------------------------------------------------

def manager(tmp_path, *args, env=None):
    return shoal("manager", "--etcd", "http://127.0.0.1:1", "--state-dir", str(tmp_path / "m"),
                 "--join", "127.0.0.1:1", *args, env=env)


def test_a_join_token_on_the_command_line_is_warned_about_never_logged(tmp_path):
    r = manager(tmp_path, "--join-token", TOKEN)
    assert r.returncode == 1
    warning, error = r.stderr.strip().splitlines()
    assert "WARNING shoal.cli: --join-token was given on the command line, where every local user can read it" in warning
    assert error.startswith("shoal: ") and "Connection refused" in error   # it went on to join, and could not connect
    assert TOKEN.rsplit("-", 1)[1] not in r.stderr


def test_the_environment_gives_the_token_without_a_warning(tmp_path):
    r = manager(tmp_path, env={"SHOAL_JOIN_TOKEN": TOKEN})
    assert r.returncode == 1 and r.stderr.startswith("shoal: ") and "Connection refused" in r.stderr \
        and "WARNING" not in r.stderr


def test_a_token_file_is_read_and_stripped(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    f.chmod(0o600)
    r = manager(tmp_path, "--join-token-file", str(f))
    assert r.returncode == 1 and r.stderr.startswith("shoal: ") and "Connection refused" in r.stderr \
        and "WARNING" not in r.stderr   # parsed, then joined
    f.chmod(0o644)
    r = manager(tmp_path, "--join-token-file", str(f))
    assert f"WARNING shoal.cli: --join-token-file: {f} is readable by group or others (mode 0644)" in r.stderr
    assert TOKEN.rsplit("-", 1)[1] not in r.stderr


@pytest.mark.parametrize("content, given, message", [
    ("", {}, "shoal: --join-token-file: {f}: empty"),
    (TOKEN, {"SHOAL_JOIN_TOKEN": TOKEN}, "shoal: --join-token-file: give the token one way only"),
])
def test_a_token_file_refusal_is_one_line(tmp_path, content, given, message):
    f = tmp_path / "token"
    f.write_text(content)
    f.chmod(0o600)
    r = shoal("agent", "--etcd", "http://127.0.0.1:1", "--advertise", "127.0.0.1:7999", "--manager", "127.0.0.1:1",
              "--state-dir", str(tmp_path / "a"), "--join-token-file", str(f), env=given)
    assert one_line(r, 2).startswith(message.format(f=f))


# --- the daemons' state dir -------------------------------------------------------------------

@pytest.mark.parametrize("daemon", ["manager", "agent"])
def test_a_state_dir_others_can_write_is_refused_in_one_line(tmp_path, daemon):
    d = tmp_path / "state"
    d.mkdir()
    d.chmod(0o775)
    args = {"manager": ["manager", "--etcd", "http://127.0.0.1:1"],
            "agent": ["agent", "--etcd", "http://127.0.0.1:1", "--advertise", "127.0.0.1:7999",
                      "--manager", "127.0.0.1:1"]}[daemon]
    line = one_line(shoal(*args, "--state-dir", str(d)), 1)
    assert line == (f"shoal: --state-dir: {d}: mode 0775 lets group or others write in it; "
                    f"refusing to keep keys in it (chmod go-w {d})")
    assert list(d.iterdir()) == []


def test_the_agent_makes_a_missing_state_dir_0700(tmp_path):
    r = shoal("agent", "--etcd", "http://127.0.0.1:1", "--advertise", "127.0.0.1:7999", "--manager", "127.0.0.1:1",
              "--state-dir", str(tmp_path / "new" / "a"))
    assert "--join-token" in r.stderr     # it went as far as wanting a token
    assert stat.S_IMODE((tmp_path / "new" / "a").stat().st_mode) == 0o700
