"""Spec translation to and from the Docker Engine API (pure)."""
from shoal.agent.runtime.base import LABEL_ID, LABEL_MANAGED, LABEL_NAME, LABEL_NODE, Port, Spec
from shoal.agent.runtime.translate import create_kwargs, observed_from_inspect


def test_create_kwargs_carries_ownership_labels_that_users_cannot_forge():
    spec = Spec(image="img:1", command=("httpd", "-f"), env=(("A", "1"),),
                ports=(Port(8080, 80, "tcp"), Port(0, 53, "udp")), memory_bytes=64 << 20, nano_cpus=5 * 10**8,
                labels=((LABEL_ID, "forged"), ("team", "web")))
    kw = create_kwargs("cid1", "web", "node1", spec)
    assert kw["labels"] == {LABEL_MANAGED: "true", LABEL_ID: "cid1", LABEL_NAME: "web", LABEL_NODE: "node1", "team": "web"}
    assert kw["ports"] == {"80/tcp": 8080, "53/udp": None}
    assert kw["mem_limit"] == 64 << 20 and kw["nano_cpus"] == 5 * 10**8
    assert kw["command"] == ["httpd", "-f"] and kw["environment"] == ["A=1"]
    assert kw["name"] == "web.cid1" and kw["image"] == "img:1"


def test_create_kwargs_omits_what_was_not_asked():
    kw = create_kwargs("cid1", "web", "node1", Spec(image="img"))
    assert "command" not in kw and "ports" not in kw and "mem_limit" not in kw and "nano_cpus" not in kw


def test_observed_from_a_running_container():
    attrs = {
        "Id": "deadbeef", "Name": "/web",
        "Config": {"Image": "img", "Labels": {LABEL_ID: "cid1", LABEL_NAME: "web"}},
        "State": {"Status": "running", "Running": True, "ExitCode": 0,
                  "StartedAt": "2026-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                                  {"HostIp": "::", "HostPort": "8080"}]}},
    }
    o = observed_from_inspect(attrs)
    assert (o.id, o.name, o.state, o.runtime_id) == ("cid1", "web", "running", "deadbeef")
    assert o.ports == (Port(8080, 80, "tcp"),)
    assert o.finished_at == ""


def test_observed_from_an_exited_container_reports_the_asked_ports():
    attrs = {
        "Id": "x", "Config": {"Labels": {LABEL_ID: "c"}},
        "State": {"Status": "exited", "ExitCode": 3, "FinishedAt": "2026-01-01T00:00:01Z"},
        "NetworkSettings": {"Ports": {}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
    }
    o = observed_from_inspect(attrs)
    assert o.state == "exited" and o.exit_code == 3 and o.ports == (Port(8080, 80, "tcp"),)


def test_healthcheck_and_entrypoint_are_passed_and_health_is_read_back():
    from shoal.agent.runtime.base import Health
    spec = Spec(image="img", entrypoint=("/bin/sh", "-c"),
                health=Health(test=("CMD-SHELL", "true"), interval_ns=10**9, retries=2))
    kw = create_kwargs("c", "n", "node", spec)
    assert kw["entrypoint"] == ["/bin/sh", "-c"]
    assert kw["healthcheck"] == {"test": ["CMD-SHELL", "true"], "interval": 10**9, "retries": 2}
    attrs = {"Config": {"Labels": {LABEL_ID: "c"}}, "State": {"Status": "running", "Health": {"Status": "unhealthy"}}}
    assert observed_from_inspect(attrs).health == "unhealthy"


def test_bridge_gateway_of_a_stock_engine_is_the_first_address():
    from shoal.agent.runtime.translate import bridge_subnet
    assert bridge_subnet({"IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}) == ("172.17.0.0/16", "172.17.0.1")
    assert bridge_subnet({"IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254"}]}}) == \
        ("10.9.0.0/24", "10.9.0.254")
    assert bridge_subnet({"IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}) == ("", "")
