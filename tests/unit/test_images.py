"""Images and registries: docker's reference -> registry rule, the login file, what the CLI prints,
the agent's and manager's refusals, the services' memory-only credentials, the load fan-out."""
from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest

from shoal.agent import image_rpc
from shoal.agent.runtime.image_types import Credential, auth_config, image_of, progress_of
from shoal.cli import registry_login
from shoal.cli.image_text import ago, human_size, image_rows, progress_line
from shoal.image_refs import DOCKER_HUB, DOCKER_HUB_AUTH_KEY, auth_key, registry_of
from shoal.manager import errors
from shoal.manager.images import ImageOps, Target, check_image
from shoal.manager.registry_auths import RegistryAuths
from shoal.protos.shoal.v1 import manager_pb2, types_pb2

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("image,registry", [
    ("busybox", DOCKER_HUB), ("library/busybox:1.36", DOCKER_HUB), ("shoal/busybox:latest", DOCKER_HUB),
    ("reg.test:5000/a/b:1", "reg.test:5000"), ("10.0.0.1:5000/x", "10.0.0.1:5000"),
    ("localhost/x", "localhost"), ("localhost:5000/x@sha256:" + "a" * 64, "localhost:5000"),
    ("ghcr.io/o/r", "ghcr.io"), ("Registry/x", "Registry"), ("docker.io/library/busybox", "docker.io"),
    ("reg.test:5000", DOCKER_HUB),   # no "/": a repository name with a tag, not a registry
])
def test_registry_of_follows_dockers_rule(image, registry):
    assert registry_of(image) == registry


@pytest.mark.parametrize("server,key", [
    ("docker.io", DOCKER_HUB_AUTH_KEY), ("index.docker.io", DOCKER_HUB_AUTH_KEY),
    ("https://index.docker.io/v1/", DOCKER_HUB_AUTH_KEY), ("https://reg.test:5000/v2/", "reg.test:5000"),
    ("reg.test:5000", "reg.test:5000"),
])
def test_auth_key_files_credentials_as_docker_login(server, key):
    assert auth_key(server) == key


def test_login_file_round_trip_and_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG_DIR", str(tmp_path / "cfg"))
    assert registry_login.lookup("reg.test:5000") is None
    registry_login.store("https://reg.test:5000/", "alice", "s3:cr et")
    path = registry_login.path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3:cr et" not in path.read_text()   # base64, as docker's config.json
    assert registry_login.lookup("reg.test:5000") == ("alice", "s3:cr et")
    registry_login.store("docker.io", "bob", "pw")
    assert registry_login.lookup("index.docker.io") == ("bob", "pw")
    assert registry_login.forget("reg.test:5000") is True
    assert registry_login.forget("reg.test:5000") is False
    assert registry_login.lookup("reg.test:5000") is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_login_file_is_created_0600_even_with_a_lax_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG_DIR", str(tmp_path))
    old = os.umask(0)
    try:
        registry_login.store("reg.test:5000", "u", "p")
    finally:
        os.umask(old)
    assert stat.S_IMODE(registry_login.path().stat().st_mode) == 0o600


def test_a_damaged_login_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOAL_CONFIG_DIR", str(tmp_path))
    registry_login.path().write_text("[1]")
    with pytest.raises(ValueError, match="not a credentials file"):
        registry_login.lookup("reg.test:5000")


def _shoal(*args, env=None, stdin=""):
    return subprocess.run([sys.executable, "-m", "shoal.cli.main", *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=60)


def test_login_cli_never_prints_the_password(tmp_path):
    env = {"SHOAL_CONFIG_DIR": str(tmp_path)}
    r = _shoal("login", "-u", "alice", "--password-stdin", "reg.test:5000", env=env, stdin="hunter22\n")
    assert r.returncode == 0, r.stderr
    assert "hunter22" not in r.stdout + r.stderr and "reg.test:5000" in r.stdout
    both = _shoal("login", "-u", "a", "-p", "x", "--password-stdin", "reg.test:5000", env=env, stdin="y")
    assert both.returncode == 2 and "mutually exclusive" in both.stderr
    r = _shoal("logout", "reg.test:5000", env=env)
    assert r.returncode == 0 and "Removing login credentials" in r.stdout


def test_image_load_refuses_a_terminal_free_missing_file(tmp_path):
    r = _shoal("--manager", "127.0.0.1:1", "--insecure", "image", "load", "-i", str(tmp_path / "none.tar"))
    assert r.returncode == 2 and "-i" in r.stderr and "No such file" in r.stderr


def test_human_size_and_ago_match_docker():
    assert human_size(4_261_000) == "4.26MB"
    assert human_size(512) == "512B"
    assert human_size(1_200_000_000) == "1.2GB"
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    assert ago((now - timedelta(days=3)).isoformat(), now) == "3 days ago"
    assert ago((now - timedelta(minutes=70)).isoformat(), now) == "About an hour ago"
    assert ago("", now) == "N/A"


def test_image_rows_group_across_nodes():
    a = types_pb2.ImageOnNode(node_name="h2", id="sha256:" + "ab" * 32, repo_tags=["busybox:latest"], size_bytes=4_260_000)
    b = types_pb2.ImageOnNode(node_name="h1", id="sha256:" + "ab" * 32, repo_tags=["busybox:latest"], size_bytes=4_260_000)
    c = types_pb2.ImageOnNode(node_name="h1", id="sha256:" + "cd" * 32)
    rows = image_rows([a, b, c])
    assert rows[0][:3] == ["busybox", "latest", "abababababab"] and rows[0][-1] == "h1,h2"
    assert rows[1][:2] == ["<none>", "<none>"] and rows[1][-1] == "h1"
    assert image_rows([types_pb2.ImageOnNode(node_name="h1", id="x", repo_tags=["reg.test:5000/a/b:1"])])[0][:2] == \
        ["reg.test:5000/a/b", "1"]


def test_progress_lines_one_per_node():
    assert progress_line(types_pb2.ProgressEvent(node_name="h1", status="Downloading", current=5, total=9)) is None
    assert progress_line(types_pb2.ProgressEvent(node_name="h1", status="Pulled x", done=True)) == "h1: Pulled x"
    assert progress_line(types_pb2.ProgressEvent(node_name="h2", done=True, error="unauthorized")) == \
        "h2: error: unauthorized"
    assert progress_line(types_pb2.ProgressEvent(node_name="h3", status="Loaded image: a:b")) == "h3: Loaded image: a:b"


def test_engine_events_and_summaries():
    p = progress_of({"status": "Downloading", "id": "abc", "progressDetail": {"current": 3, "total": 10}})
    assert (p.status, p.layer, p.current, p.total, p.error) == ("Downloading", "abc", 3, 10, "")
    err = progress_of({"errorDetail": {"message": "unauthorized: authentication required\nmore"}, "error": "x"})
    assert err.error == "unauthorized: authentication required"
    assert progress_of({"stream": "Loaded image: a:b\n"}).status == "Loaded image: a:b"
    i = image_of({"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "RepoDigests": None, "Size": 5, "Created": 0})
    assert i.repo_tags == () and i.repo_digests == () and i.created == "" and i.containers == -1


def test_credentials_never_show_and_go_to_docker_py():
    c = Credential("reg.test:5000", "alice", "hunter22")
    assert "hunter22" not in repr(c) and "hunter22" not in str(c)
    assert auth_config((c,)) == {"username": "alice", "password": "hunter22", "serveraddress": "reg.test:5000"}
    assert auth_config(()) is None
    assert auth_config((Credential("r", identity_token="t"),)) == {"identitytoken": "t", "serveraddress": "r"}


def test_agent_refusals_name_the_field_without_the_secret():
    with pytest.raises(ValueError, match="^image: "):
        image_rpc.require_image("bad image\n")
    big = types_pb2.RegistryAuth(server="r", username="u", password="p" * 5000)
    with pytest.raises(ValueError, match="registry_auth") as exc:
        image_rpc.credentials([big])
    assert "ppp" not in str(exc.value)
    with pytest.raises(ValueError, match="at most"):
        image_rpc.credentials([types_pb2.RegistryAuth(server="r")] * 9)
    with pytest.raises(errors.InvalidArgument, match="^IMAGE: "):
        check_image("")


def test_service_credentials_are_kept_per_registry_and_replaced_only_when_sent():
    auths = RegistryAuths()
    mine = types_pb2.RegistryAuth(server="reg.test:5000", username="u", password="hunter22")
    other = types_pb2.RegistryAuth(server="ghcr.io", username="v", password="w")
    auths.remember("s1", "reg.test:5000/app:1", [other, mine])
    assert auths.of("s1") == (mine,)
    auths.remember("s1", "reg.test:5000/app:2", [])          # update without --with-registry-auth
    assert auths.of("s1") == (mine,)
    auths.remember("s2", "busybox", [mine])                  # a Hub image: the private one's are not sent
    assert auths.of("s2") == ()
    assert "hunter22" not in repr(auths)
    auths.forget("s1")
    assert auths.of("s1") == ()


class _FakeCall:
    """An agent's LoadImage as the manager sees it: reads the chunks, then answers."""
    def __init__(self, chunks, fail_after: int | None, seen: list):
        self.chunks, self.fail_after, self.seen = chunks, fail_after, seen

    def __aiter__(self):
        return self._run()

    async def _run(self):
        n = 0
        async for chunk in self.chunks:
            n += 1
            self.seen.append(chunk.data)
            if self.fail_after is not None and n >= self.fail_after:
                raise _RpcError("no space left on device")
        yield types_pb2.ProgressEvent(status="Loaded image: a:b")
        yield types_pb2.ProgressEvent(status="loaded", done=True)


class _RpcError(grpc.aio.AioRpcError):
    def __init__(self, details):
        super().__init__(grpc.StatusCode.INTERNAL, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_load_reads_the_tar_once_drops_a_failing_node_and_the_others_go_on():
    seen: dict[str, list] = {"a": [], "b": [], "c": []}
    ops = ImageOps.__new__(ImageOps)
    targets = [Target("a", "h1", "a", True), Target("b", "h2", "b", True), Target("c", "h3", "c", True),
               Target("d", "h4", "d", False)]
    ops.targets = lambda nodes, field="--node": targets   # type: ignore[method-assign]
    read = []

    class Pool:
        def stub(self, address):
            class Stub:
                def LoadImage(self, chunks, timeout):
                    return _FakeCall(chunks, 2 if address == "b" else None, seen[address])
            return Stub()
    ops.pool = Pool()   # type: ignore[assignment]

    async def upload():
        yield manager_pb2.LoadImageIn(to=manager_pb2.LoadTarget())
        for i in range(40):
            read.append(i)
            yield manager_pb2.LoadImageIn(chunk=types_pb2.ArchiveChunk(data=bytes([i])))

    async def go():
        return [e async for e in ops.load(upload())]
    events = asyncio.run(asyncio.wait_for(go(), 10))
    done = {e.node_name: e for e in events if e.done}
    assert set(done) == {"h1", "h2", "h3", "h4"}
    assert done["h2"].error == "no space left on device"
    assert done["h1"].error == done["h3"].error == "" and done["h4"].status == "skipped: node is down"
    assert read == list(range(40))                     # the upload was read once
    assert seen["a"] == seen["c"] == [bytes([i]) for i in range(40)]
    assert len(seen["b"]) == 2
