"""The agent's Docker runtime on a real dockerd (a dev cluster host's): creating is idempotent per
Shoal id, and an image that cannot be had leaves nothing behind."""
from __future__ import annotations

import secrets

import pytest

from shoal.agent.runtime.base import RuntimeFailure, Spec
from shoal.agent.runtime.docker import DockerRuntime
from shoal.agent.runtime.base import LABEL_ID, LABEL_NODE

IMAGE = "shoal/busybox:latest"
# A registry on the host's own loopback where nothing listens: the pull fails at once, and no
# traffic leaves the test host.
UNREACHABLE_IMAGE = "127.0.0.1:1/nothing/here:latest"


@pytest.fixture
def runtime(cluster, shoal):
    host = cluster.hosts[0]
    node_id = "runtime-test-" + secrets.token_hex(4)
    engine = cluster.docker(host)
    yield DockerRuntime(f"unix://{host.docker_socket}", node_id=node_id), engine
    # No agent owns these (another node id): they go here, or the next test finds them.
    for c in engine.containers.list(all=True, filters={"label": f"{LABEL_NODE}={node_id}"}):
        c.remove(force=True)


async def test_create_twice_is_one_container_started_once(runtime):
    rt, engine = runtime
    shoal_id = secrets.token_hex(16)
    first = await rt.create_and_start(shoal_id, "twice", Spec(image=IMAGE, command=("sleep", "600")))
    assert first.state == "running" and first.started_at
    again = await rt.create_and_start(shoal_id, "twice", Spec(image=IMAGE, command=("sleep", "600")))
    assert (again.runtime_id, again.started_at, again.state) == (first.runtime_id, first.started_at, "running")
    assert len(engine.containers.list(all=True, filters={"label": f"{LABEL_ID}={shoal_id}"})) == 1


async def test_create_after_the_container_exited_reports_it_without_restarting(runtime):
    rt, engine = runtime
    shoal_id = secrets.token_hex(16)
    first = await rt.create_and_start(shoal_id, "done", Spec(image=IMAGE, command=("true",)))
    engine.containers.get(first.runtime_id).wait(timeout=30)
    again = await rt.create_and_start(shoal_id, "done", Spec(image=IMAGE, command=("true",)))
    assert (again.state, again.exit_code, again.started_at) == ("exited", 0, first.started_at)


async def test_an_image_that_cannot_be_pulled_fails_and_leaves_nothing(runtime):
    rt, engine = runtime
    shoal_id = secrets.token_hex(16)
    with pytest.raises(RuntimeFailure):
        await rt.create_and_start(shoal_id, "nopull", Spec(image=UNREACHABLE_IMAGE))
    assert engine.containers.list(all=True, filters={"label": f"{LABEL_ID}={shoal_id}"}) == []
