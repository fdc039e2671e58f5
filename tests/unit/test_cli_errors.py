"""The CLI's error contract: one line naming the field, exit 2 for usage, 1 for runtime errors."""
import subprocess
import sys

import pytest


def shoal(*args, env=None):
    import os
    e = dict(os.environ)
    e.pop("SHOAL_MANAGER", None)
    e["SHOAL_CONFIG_DIR"] = "/nonexistent-shoal-config"
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, env=e, timeout=60)


@pytest.mark.parametrize("args,message", [
    (["run", "--memory", "12x", "img"], 'shoal: --memory: "12x" is not a size (examples: 64M, 1g, 512m)'),
    (["run", "-p", "99999", "img"], 'shoal: --publish: "99999": ports must be in 1-65535'),
    (["run", "--cpus", "zero", "img"], 'shoal: --cpus: "zero" is not a number of CPUs (examples: 0.5, 2)'),
    (["run", "-e", "NOVALUE", "img"], 'shoal: --env: "NOVALUE" is not KEY=VALUE'),
    (["run", "--strategy", "best", "img"], "shoal: --strategy:"),
    (["logs", "--tail", "x", "c"], 'shoal: --tail: "x" is not a number of lines or "all"'),
    (["node", "update", "n1"], "shoal: nothing to update"),
    (["run"], "IMAGE"),
    (["frobnicate"], "No such command"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    r = shoal(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("shoal: ")
    assert message in lines[0]


def test_no_manager_is_a_runtime_error():
    r = shoal("ps")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "shoal: --manager: no manager address (give --manager HOST:PORT, set SHOAL_MANAGER, or run `shoal dev up`)"
    ]


def test_unreachable_manager_is_a_runtime_error():
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    r = shoal("--insecure", "--manager", "127.0.0.1:1", "ps")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "manager unreachable" in r.stderr


def test_no_client_certificate_is_a_one_line_error():
    r = shoal("--manager", "127.0.0.1:1", "ps")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no admin certificate" in r.stderr and "--insecure" in r.stderr


def test_manager_without_credentials_or_insecure_refuses_to_start(tmp_path):
    r = shoal("manager", "--etcd", "http://127.0.0.1:1", "--state-dir", str(tmp_path / "m"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "shoal cluster init" in r.stderr and "--state-dir" in r.stderr


def test_agent_without_certificate_or_token_refuses_to_start(tmp_path):
    r = shoal("agent", "--etcd", "http://127.0.0.1:1", "--advertise", "127.0.0.1:7999",
              "--manager", "127.0.0.1:1", "--state-dir", str(tmp_path / "a"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "--join-token" in r.stderr


@pytest.mark.parametrize("args", [["run", "--secret-env", "NOVALUE", "img"],
                                  ["service", "create", "--name", "web", "--secret-env", "=x", "img"]])
def test_secret_env_needs_key_value(args):
    r = shoal(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: --secret-env: "), r.stderr


def test_a_bad_stack_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "stack.yml"
    bad.write_text("services:\n  web:\n    image: [not, a, string]\n")
    r = shoal("stack", "deploy", "-c", str(bad), "s")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: ") and "services.web.image" in lines[0], r.stderr


class RefusingManager:
    """A real gRPC server on loopback whose Run answers as the manager's validation does."""

    def __init__(self, code, details):
        import grpc
        from concurrent import futures

        from shoal.protos.shoal.v1 import manager_pb2_grpc

        class Servicer(manager_pb2_grpc.ManagerServicer):
            def Run(self, request, context):
                context.abort(code, details)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        manager_pb2_grpc.add_ManagerServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()


@pytest.mark.parametrize("code_name,exit_code", [("INVALID_ARGUMENT", 2), ("ALREADY_EXISTS", 1),
                                                 ("FAILED_PRECONDITION", 1), ("RESOURCE_EXHAUSTED", 1)])
def test_a_refusal_by_the_managers_validation_is_a_usage_error(code_name, exit_code):
    import grpc
    details = '--name: "bad/name" is not a valid name'
    manager = RefusingManager(getattr(grpc.StatusCode, code_name), details)
    try:
        r = shoal("--insecure", "--manager", f"127.0.0.1:{manager.port}", "run", "-d", "--name", "bad/name", "img",
                  env={"SHOAL_SESSION": "off"})
    finally:
        manager.server.stop(None)
    assert r.returncode == exit_code, r.stderr
    assert r.stderr.strip().splitlines() == [f"shoal: {details}"]
