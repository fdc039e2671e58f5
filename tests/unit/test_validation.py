import asyncio
import json

import pytest

from shoal.manager import errors, redact
from shoal.manager.validation import (
    InvalidField, check_name, check_run,
    MAX_CSR_BYTES, MAX_STACK_SERVICES, MAX_TAIL, SECRET_PLACEHOLDER, check_container_ref, check_create_network,
    check_deploy_stack, check_join_request, check_join_token_request, check_list_services, check_logs,
    check_network_ref, check_node_ref, check_ref, check_remove, check_remove_node, check_renew_request, check_scale,
    check_service, check_service_ref, check_service_tasks, check_stack_ref, check_stop, check_update_node,
    check_update_service,
)
from shoal.protos.shoal.v1 import manager_pb2, types_pb2
from tests.unit.conftest import container, service_spec


def req(**spec_fields):
    name = spec_fields.pop("name", "")
    spec = types_pb2.ContainerSpec(image=spec_fields.pop("image", "shoal/busybox:latest"), **spec_fields)
    return manager_pb2.RunRequest(name=name, spec=spec)


def test_a_plain_request_passes_and_constraints_are_parsed():
    parsed = check_run(req(name="web", constraints=["node.labels.zone==eu"]))
    assert [c.key for c in parsed] == ["node.labels.zone"]


@pytest.mark.parametrize("name", ["a", "web-1", "web_1.x", "A" * 63, "0abc"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "a/b", "../x", "a b", "A" * 64, "é"])
def test_bad_names(name):
    with pytest.raises(InvalidField, match="name"):
        check_name(name)


@pytest.mark.parametrize("fields,field", [
    ({"name": "a/../b"}, "--name"),
    ({"image": ""}, "IMAGE"),
    ({"image": "bad image"}, "IMAGE"),
    ({"command": ["x"] * 300}, "CMD"),
    ({"env": {"1BAD": "x"}}, "--env"),
    ({"env": {"A": "x" * 5000}}, "--env"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="sctp")]}, "--publish"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=0, protocol="tcp")]}, "--publish"),
    ({"ports": [types_pb2.PortMapping(host_port=80, container_port=80, protocol="tcp"),
                types_pb2.PortMapping(host_port=80, container_port=81, protocol="tcp")]}, "--publish"),
    ({"memory_bytes": 1024}, "--memory"),
    ({"nano_cpus": -1}, "--cpus"),
    ({"labels": {"io.shoal.id": "forged"}}, "--label"),
    ({"labels": {"bad key": "v"}}, "--label"),
    ({"strategy": "best"}, "--strategy"),
    ({"constraints": ["node.labels.zone=eu"]}, "--constraint"),
    ({"constraints": ["node.labels.zone==/[/"]}, "--constraint"),
])
def test_each_bad_field_is_named(fields, field):
    with pytest.raises(InvalidField) as info:
        check_run(req(**fields))
    assert str(info.value).startswith(field + ": ")
    assert "\n" not in str(info.value)


# ---- every request type: refs, numbers, choices ---------------------------------------------------



def one_line_error(call, *args) -> InvalidField:
    with pytest.raises(InvalidField) as info:
        call(*args)
    text = str(info.value)
    assert len(text.splitlines()) == 1, text
    assert text.startswith(info.value.field + ": ")
    return info.value


@pytest.mark.parametrize("ref", ["web", "web.3", "0a1b2c", "st_web.shoal-h1", "a" * 255, "Web-1_x.y"])
def test_good_refs(ref):
    assert check_ref(ref, "CONTAINER") == ref


@pytest.mark.parametrize("ref", ["", "a/b", "/", "../x", "..", ".", "-a", "a b", "a\nb", "a\x00", "é", "a" * 256,
                                 "web\u2028x", "%2e%2e%2f"])
def test_bad_refs_name_the_field(ref):
    exc = one_line_error(check_ref, ref, "SERVICE")
    assert exc.field == "SERVICE"


@pytest.mark.parametrize("check,req,field", [
    (check_container_ref, manager_pb2.ContainerRef(ref="../../names/x"), "CONTAINER"),
    (check_stop, manager_pb2.StopRequest(ref="c", timeout_seconds=-1), "--time"),
    (check_stop, manager_pb2.StopRequest(ref="c", timeout_seconds=2**31 - 1), "--time"),
    (check_stop, manager_pb2.StopRequest(ref="c/d"), "CONTAINER"),
    (check_remove, manager_pb2.RemoveRequest(ref=""), "CONTAINER"),
    (check_logs, manager_pb2.LogsRequest(ref="c", tail=-2), "--tail"),
    (check_logs, manager_pb2.LogsRequest(ref="c", tail=-2**31), "--tail"),
    (check_logs, manager_pb2.LogsRequest(ref="c", tail=MAX_TAIL + 1), "--tail"),
    (check_node_ref, manager_pb2.NodeRef(ref="n/../../x"), "NODE"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", availability="off"), "--availability"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", availability="drain\n"), "--availability"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", label_add={"a": "x\ny"}), "--label-add"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", label_add={"io.shoal.id": "x"}), "--label-add"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", label_rm=["a b"]), "--label-rm"),
    (check_update_node, manager_pb2.UpdateNodeRequest(ref="n", label_rm=["k"] * 65), "--label-rm"),
    (check_remove_node, manager_pb2.RemoveNodeRequest(ref="a/b"), "ref"),
    (check_remove_node, manager_pb2.RemoveNodeRequest(ref=""), "ref"),
    (check_list_services, manager_pb2.ListServicesRequest(stack="../x"), "STACK"),
    (check_service_ref, manager_pb2.ServiceRef(ref="x" * 300), "SERVICE"),
    (check_service_tasks, manager_pb2.ServiceTasksRequest(ref="a\tb"), "SERVICE"),
    (check_update_service, manager_pb2.UpdateServiceRequest(ref="web", version=-1), "version"),
    (check_update_service, manager_pb2.UpdateServiceRequest(ref="web", version=-2**63), "version"),
    (check_scale, manager_pb2.ScaleServiceRequest(ref="web", replicas=-1), "REPLICAS"),
    (check_scale, manager_pb2.ScaleServiceRequest(ref="web", replicas=2**31 - 1), "REPLICAS"),
    (check_stack_ref, manager_pb2.StackRef(name="a/b"), "NAME"),
    (check_network_ref, manager_pb2.NetworkRef(ref="../net"), "NETWORK"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="a/b"), "NAME"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", driver="bridge"), "--driver"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", driver="o" * 10000), "--driver"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="10.0.0.0/8"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="8.8.8.0/24"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="10.0.0.1/24"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="10.0.0.0/24\n"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="999.0.0.0/24"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="fd00::/64"), "--subnet"),
    (check_create_network, manager_pb2.CreateNetworkRequest(name="n", subnet="1" * 5000), "--subnet"),
])
def test_each_request_type_names_its_bad_field(check, req, field):
    assert one_line_error(check, req).field == field


def test_good_requests_pass():
    check_stop(manager_pb2.StopRequest(ref="web", timeout_seconds=0))
    check_stop(manager_pb2.StopRequest(ref="web", timeout_seconds=3600))
    check_logs(manager_pb2.LogsRequest(ref="web", tail=-1))   # manager.proto: -1 is all
    check_logs(manager_pb2.LogsRequest(ref="web", tail=0))
    check_logs(manager_pb2.LogsRequest(ref="web", tail=MAX_TAIL))
    check_update_node(manager_pb2.UpdateNodeRequest(ref="n1", availability="drain", label_add={"zone": "eu"},
                                                    label_rm=["rack"]))
    check_scale(manager_pb2.ScaleServiceRequest(ref="web", replicas=0))
    check_update_service(manager_pb2.UpdateServiceRequest(ref="web", version=0))
    check_list_services(manager_pb2.ListServicesRequest())
    assert check_create_network(manager_pb2.CreateNetworkRequest(name="n")) is None
    assert str(check_create_network(manager_pb2.CreateNetworkRequest(name="n", subnet="10.241.0.0/24"))) == "10.241.0.0/24"


def test_the_cli_and_the_scheduler_name_the_same_strategies():
    from shoal.manager.scheduler import STRATEGIES
    from shoal.protos import spec_rules
    assert tuple(STRATEGIES) == spec_rules.STRATEGIES


# ---- membership requests -------------------------------------------------------------------------

def join(**fields):
    base = dict(token="SHOAL-1-abc-def", role="agent", node_id="0123456789abcdef", csr=b"-----BEGIN CSR-----")
    base.update(fields)
    return manager_pb2.JoinRequest(**base)


def test_good_membership_requests_pass():
    check_join_token_request(manager_pb2.JoinTokenRequest(role="agent"))
    check_join_token_request(manager_pb2.JoinTokenRequest(role="manager", rotate=True))
    check_join_request(join())
    check_join_request(join(role="manager", node_id=""))
    check_join_request(join(token="x" * 200, csr=b"c" * MAX_CSR_BYTES))
    check_renew_request(manager_pb2.RenewRequest(csr=b"c"))


@pytest.mark.parametrize("check,req,field", [
    (check_join_token_request, manager_pb2.JoinTokenRequest(role=""), "role"),
    (check_join_token_request, manager_pb2.JoinTokenRequest(role="admin"), "role"),
    (check_join_request, join(role="root"), "role"),
    (check_join_request, join(node_id=""), "node_id"),
    (check_join_request, join(node_id="short"), "node_id"),
    (check_join_request, join(node_id="ABCDEF0123"), "node_id"),
    (check_join_request, join(node_id="../../nodes/x"), "node_id"),
    (check_join_request, join(node_id="a" * 65), "node_id"),
    (check_join_request, join(role="manager", node_id="x/y"), "node_id"),
    (check_join_request, join(token=""), "token"),
    (check_join_request, join(token="x" * 201), "token"),
    (check_join_request, join(token="SHOAL-1\nx"), "token"),
    (check_join_request, join(csr=b""), "csr"),
    (check_join_request, join(csr=b"c" * (MAX_CSR_BYTES + 1)), "csr"),
    (check_renew_request, manager_pb2.RenewRequest(csr=b"c" * (MAX_CSR_BYTES + 1)), "csr"),
    (check_renew_request, manager_pb2.RenewRequest(), "csr"),
])
def test_bad_membership_requests_name_the_field(check, req, field):
    assert one_line_error(check, req).field == field


def test_a_join_token_is_never_quoted():
    token = "SHOAL-1-" + "s3cr3t" * 40
    assert token not in str(one_line_error(check_join_request, join(token=token)))


# ---- run specs: the fields check_run did not cover before ------------------------------------------

@pytest.mark.parametrize("fields,field", [
    ({"name": "x\ny"}, "--name"),
    ({"strategy": "spread\nbinpack"}, "--strategy"),
    ({"entrypoint": ["x" * 5000]}, "--entrypoint"),
    ({"entrypoint": ["a\x00"]}, "--entrypoint"),
    ({"health": types_pb2.HealthCheck(test=["sh", "-c", "true"])}, "--health-cmd"),
    ({"health": types_pb2.HealthCheck(test=["CMD"])}, "--health-cmd"),
    ({"health": types_pb2.HealthCheck(test=["CMD", "true"], interval_ns=-1)}, "--health-interval"),
    ({"health": types_pb2.HealthCheck(test=["CMD", "true"], timeout_ns=2**63 - 1)}, "--health-timeout"),
    ({"health": types_pb2.HealthCheck(test=["CMD", "true"], retries=-5)}, "--health-retries"),
    ({"networks": ["../../ipam/x"]}, "--network"),
    ({"networks": ["a", "a"]}, "--network"),
    ({"networks": ["a", "b", "c", "d", "e"]}, "--network"),
    ({"labels": {"k": "a\nb"}}, "--label"),
    ({"constraints": ["node.labels.zone==eu\n"]}, "--constraint"),
    ({"constraints": ["node.labels.zone==" + "e" * 600]}, "--constraint"),
    ({"memory_bytes": -2**63}, "--memory"),
    ({"memory_bytes": 2**63 - 1}, "--memory"),
    ({"nano_cpus": 2**63 - 1}, "--cpus"),
    ({"env": {"A": "1"}, "secret_env": ["B"]}, "--secret-env"),
    ({"env": {"A": "1"}, "secret_env": ["A", "A"]}, "--secret-env"),
    ({"env": {"A": "1"}, "secret_env": ["A=1"]}, "--secret-env"),
    ({"env": {"A": SECRET_PLACEHOLDER}, "secret_env": ["A"]}, "--secret-env"),
    ({"env": {f"K{i}": "v" for i in range(300)}, "secret_env": [f"K{i}" for i in range(300)]}, "--env"),
])
def test_more_bad_fields_are_named(fields, field):
    assert one_line_error(check_run, req(**fields)).field == field


def test_too_many_secret_keys_are_refused():
    spec = types_pb2.ContainerSpec(image="img", env={"A": "1"}, secret_env=["A"] * 257)
    assert one_line_error(check_run, manager_pb2.RunRequest(spec=spec)).field == "--secret-env"


def test_a_plain_value_may_look_like_the_placeholder():
    check_run(req(env={"A": SECRET_PLACEHOLDER}))   # not secret: it is just a value


def test_secret_env_passes():
    check_run(req(env={"A": "1", "PW": "x\ny"}, secret_env=["PW"]))


# ---- services and stacks -----------------------------------------------------------------------------

def svc_spec(**fields):
    return service_spec(**{"mode": "replicated", **fields})


@pytest.mark.parametrize("fields,field", [
    ({"name": "../../nodes/x"}, "--name"),
    ({"mode": "global\n"}, "--mode"),
    ({"replicas": -1}, "--replicas"),
    ({"stop_grace_ns": -2**63}, "--stop-grace-period"),
    ({"restart": types_pb2.RestartPolicy(delay_ns=2**63 - 1)}, "--restart-delay"),
    ({"restart": types_pb2.RestartPolicy(condition="always")}, "--restart-condition"),
    ({"restart": types_pb2.RestartPolicy(max_attempts=-2**31)}, "--restart-max-attempts"),
    ({"update": types_pb2.UpdateConfig(parallelism=-1)}, "--update-parallelism"),
    ({"update": types_pb2.UpdateConfig(failure_action="explode")}, "--update-failure-action"),
    ({"preferences": [types_pb2.PlacementPreference(spread="node.labels.a b")]}, "--placement-pref"),
    ({"preferences": [types_pb2.PlacementPreference(spread="node.labels.z")] * 9}, "--placement-pref"),
    ({"stack": "a/b"}, "stack"),
])
def test_bad_service_fields_are_named(fields, field):
    assert one_line_error(check_service, svc_spec(**fields)).field == field


def stack(name="shop", *specs, prune=False):
    return manager_pb2.DeployStackRequest(name=name, services=list(specs) or [svc_spec(name="web")], prune=prune)


def test_a_stack_gets_full_names_defaults_and_its_network():
    wanted = check_deploy_stack(stack("shop", svc_spec(name="web", mode=""), svc_spec(name="db")))
    assert sorted(wanted) == ["shop_db", "shop_web"]
    assert wanted["shop_web"].mode == "replicated" and wanted["shop_web"].stack == "shop"
    assert list(wanted["shop_web"].task.networks) == ["shop_default"]


@pytest.mark.parametrize("request_,field", [
    (stack("a/b"), "NAME"),
    (stack("s" * 60), "NAME"),   # its network s..._default would be longer than a name may be
    (manager_pb2.DeployStackRequest(name="shop"), "services"),
    (stack("shop", *[svc_spec(name=f"s{i}") for i in range(MAX_STACK_SERVICES + 1)]), "services"),
    (stack("shop", svc_spec(name="../x")), "services"),
    (stack("shop", svc_spec(name="web\nx")), "services"),
    (stack("shop", svc_spec(name="web"), svc_spec(name="web")), "services.web"),
    (stack("shop", svc_spec(name="web", task=types_pb2.ContainerSpec(image="bad image"))), "services.web.image"),
    (stack("shop", svc_spec(name="web", replicas=-3)), "services.web.deploy.replicas"),
    (stack("shop", svc_spec(name="w" * 60)), "services.wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww.name"),
])
def test_bad_stacks_name_the_path(request_, field):
    assert one_line_error(check_deploy_stack, request_).field == field


# ---- secret values: redaction and the update rule -----------------------------------------------------

def secret_container():
    spec = types_pb2.ContainerSpec(image="img", env={"A": "1", "PW": "hunter2"}, secret_env=["PW"])
    return container("c1", "web", node_id="", spec=spec)


def test_a_container_view_hides_secret_values_and_the_record_keeps_them():
    stored = secret_container()
    view = redact.container(stored)
    assert dict(view.spec.env) == {"A": "1", "PW": SECRET_PLACEHOLDER}
    assert "hunter2" not in str(view)
    assert stored.spec.env["PW"] == "hunter2"


def test_a_service_view_hides_both_specs():
    current = service_spec(task=types_pb2.ContainerSpec(image="img:2", env={"PW": "new"}, secret_env=["PW"]))
    previous = service_spec(task=types_pb2.ContainerSpec(
        image="img:1", env={"PW": "old", "T": "x"}, secret_env=["PW", "T"]))
    svc = types_pb2.Service(id="s", spec=current, previous_spec=previous)
    view = redact.service(svc)
    assert view.spec.task.env["PW"] == SECRET_PLACEHOLDER
    assert dict(view.previous_spec.task.env) == {"PW": SECRET_PLACEHOLDER, "T": SECRET_PLACEHOLDER}
    assert "new" not in str(view) and "old" not in str(view)
    assert svc.spec.task.env["PW"] == "new"


def test_engine_json_hides_secret_env_entries():
    doc = json.dumps({"Config": {"Env": ["A=1", "PW=hunter2", "PATH=/bin"], "Labels": {}}, "Id": "x"})
    out = json.loads(redact.engine_json(doc, ["PW"]))
    assert out["Config"]["Env"] == ["A=1", f"PW={SECRET_PLACEHOLDER}", "PATH=/bin"]
    assert redact.engine_json(doc, []) == doc
    assert redact.engine_json("{not json", ["PW"]) == ""


def test_restore_puts_stored_secrets_back_only_for_stored_secret_keys():
    stored = secret_container().spec
    sent = redact.container(secret_container()).spec
    sent.image = "img:2"
    redact.restore(sent, stored)
    assert sent.env["PW"] == "hunter2" and list(sent.secret_env) == ["PW"]

    dropped_marking = redact.container(secret_container()).spec
    del dropped_marking.secret_env[:]
    redact.restore(dropped_marking, stored)
    assert dropped_marking.env["PW"] == "hunter2" and list(dropped_marking.secret_env) == ["PW"]

    new_value = redact.container(secret_container()).spec
    new_value.env["PW"] = "changed"
    redact.restore(new_value, stored)
    assert new_value.env["PW"] == "changed"

    unknown = types_pb2.ContainerSpec(image="img", env={"OTHER": SECRET_PLACEHOLDER}, secret_env=["OTHER"])
    redact.restore(unknown, stored)
    assert unknown.env["OTHER"] == SECRET_PLACEHOLDER
    assert one_line_error(check_run, manager_pb2.RunRequest(spec=unknown)).field == "--secret-env"


class FakeStore:
    """Just enough of manager.store.Store for ServiceOps: writes land in the state at once."""

    def __init__(self, state):
        self.state = state
        self.rev = 10
        self.writes = 0

    async def put_service(self, svc, expected_rev):
        entry = self.state.services.get(svc.spec.name)
        if (entry[1] if entry else 0) != expected_rev:
            from shoal.manager.store import Conflict
            raise Conflict("changed meanwhile")
        self.rev += 1
        self.writes += 1
        copy = types_pb2.Service()
        copy.CopyFrom(svc)
        self.state.services[svc.spec.name] = (copy, self.rev)
        return self.rev


def service_ops():
    from shoal.manager.services import ServiceOps
    from shoal.manager.state import ClusterState
    state = ClusterState()
    store = FakeStore(state)
    return ServiceOps(state, store, networks=None), state, store


def test_service_update_from_a_redacted_spec_keeps_the_stored_secret():
    ops, state, store = service_ops()

    async def flow():
        spec = svc_spec(name="web", replicas=1, task=types_pb2.ContainerSpec(
            image="img:1", env={"A": "1", "PW": "hunter2"}, secret_env=["PW"]))
        created = await ops.create(spec)
        assert created.spec.task.env["PW"] == SECRET_PLACEHOLDER
        shown = ops.inspect("web")
        assert shown.spec.task.env["PW"] == SECRET_PLACEHOLDER

        # What `shoal service update` does: edit the inspected spec, send it all back.
        unchanged = await ops.update(manager_pb2.UpdateServiceRequest(ref="web", spec=shown.spec, version=shown.version))
        assert unchanged.version == 1 and store.writes == 1      # nothing changed, nothing written
        edited = types_pb2.ServiceSpec()
        edited.CopyFrom(shown.spec)
        edited.task.image = "img:2"
        edited.task.env["A"] = "2"
        updated = await ops.update(manager_pb2.UpdateServiceRequest(ref="web", spec=edited, version=1))
        assert updated.version == 2 and updated.spec.task.env["PW"] == SECRET_PLACEHOLDER
        stored = state.services["web"][0]
        assert stored.spec.task.env["PW"] == "hunter2" and stored.spec.task.env["A"] == "2"
        assert stored.previous_spec.task.env["PW"] == "hunter2"

        # A new value replaces it; the reply still hides it.
        edited.task.env["PW"] = "swordfish"
        again = await ops.update(manager_pb2.UpdateServiceRequest(ref="web", spec=edited))
        assert again.spec.task.env["PW"] == SECRET_PLACEHOLDER
        assert state.services["web"][0].spec.task.env["PW"] == "swordfish"

        # Rollback swaps stored specs: real values on both sides, redacted in the reply.
        rolled = await ops.rollback("web")
        assert rolled.spec.task.env["PW"] == SECRET_PLACEHOLDER
        assert state.services["web"][0].spec.task.env["PW"] == "hunter2"
        assert state.services["web"][0].previous_spec.task.env["PW"] == "swordfish"

        # A placeholder with nothing stored behind it is refused, and nothing is written.
        writes = store.writes
        bogus = types_pb2.ServiceSpec()
        bogus.CopyFrom(edited)
        bogus.task.env["NEW"] = SECRET_PLACEHOLDER
        bogus.task.secret_env.append("NEW")
        with pytest.raises(errors.InvalidArgument, match="^--secret-env: "):
            await ops.update(manager_pb2.UpdateServiceRequest(ref="web", spec=bogus))
        assert store.writes == writes
        assert state.services["web"][0].spec.task.env["PW"] == "hunter2"
        assert [s.spec.task.env["PW"] for s in ops.list()] == [SECRET_PLACEHOLDER]

    asyncio.run(flow())


def test_service_ops_refuse_bad_refs_and_counts_before_looking_anything_up():
    ops, _, store = service_ops()

    async def flow():
        for call in (lambda: ops.scale("web", -1), lambda: ops.scale("a/b", 1), lambda: ops.rollback("../x"),
                     lambda: ops.remove(""), lambda: ops.remove_stack("a/b"),
                     lambda: ops.update(manager_pb2.UpdateServiceRequest(ref="web", version=-1))):
            with pytest.raises(errors.InvalidArgument):
                await call()
        assert store.writes == 0

    asyncio.run(flow())


# ---- the agent's side ------------------------------------------------------------------------------

def test_the_agent_labels_secret_keys_and_redacts_its_engine_document():
    from shoal.agent.convert import LABEL_SECRET_ENV, redact_engine_json, spec_from_proto
    spec = spec_from_proto(types_pb2.ContainerSpec(image="img", env={"A": "1", "PW": "x", "T": "y"},
                                                   secret_env=["T", "PW"]))
    assert dict(spec.labels)[LABEL_SECRET_ENV] == "PW,T"
    assert ("PW", "x") in spec.env   # the engine still gets the value
    doc = json.dumps({"Config": {"Env": ["A=1", "PW=x", "T=y=z"], "Labels": {LABEL_SECRET_ENV: "PW,T"}}})
    assert json.loads(redact_engine_json(doc))["Config"]["Env"] == ["A=1", "PW=<secret>", "T=<secret>"]
    plain = json.dumps({"Config": {"Env": ["A=1"], "Labels": {}}})
    assert redact_engine_json(plain) == plain
    assert redact_engine_json("[1, 2") == ""
    assert LABEL_SECRET_ENV not in dict(spec_from_proto(types_pb2.ContainerSpec(image="img")).labels)


# ---- the CLI's --secret-env --------------------------------------------------------------------------

class FakeStub:
    def __init__(self, current: types_pb2.Service | None = None):
        self.current = current
        self.sent = []

    def Run(self, request, timeout=None):
        self.sent.append(request)
        return types_pb2.Container(id="c" * 32, name=request.name or "x")

    def CreateService(self, request, timeout=None):
        self.sent.append(request)
        return types_pb2.Service(id="s1", spec=request.spec)

    def InspectService(self, request, timeout=None):
        return redact.service(self.current)

    def UpdateService(self, request, timeout=None):
        self.sent.append(request)
        return types_pb2.Service(id="s1", spec=request.spec)


def cli(command, args, stub):
    from click.testing import CliRunner
    from shoal.cli.context import Ctx
    result = CliRunner().invoke(command, args, obj=Ctx(_stub=stub), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return stub.sent[-1]


def test_run_secret_env_adds_the_pair_and_marks_the_key():
    from shoal.cli.container import run
    sent = cli(run, ["-d", "-e", "A=1", "--secret-env", "PW=hunter2", "--secret-env", "T=a=b", "img"], FakeStub())
    assert dict(sent.spec.env) == {"A": "1", "PW": "hunter2", "T": "a=b"}
    assert list(sent.spec.secret_env) == ["PW", "T"]
    check_run(sent)


def test_service_create_and_update_keep_secrets_right():
    from shoal.cli.service import service_group
    sent = cli(service_group, ["create", "--name", "web", "--secret-env", "PW=hunter2", "img"], FakeStub())
    assert sent.spec.task.env["PW"] == "hunter2" and list(sent.spec.task.secret_env) == ["PW"]

    stored = types_pb2.Service(id="s1", version=3, spec=sent.spec)
    # An unrelated change sends the placeholder back: the manager restores the stored value.
    update = cli(service_group, ["update", "--image", "img:2", "web"], FakeStub(stored))
    assert update.spec.task.env["PW"] == SECRET_PLACEHOLDER and list(update.spec.task.secret_env) == ["PW"]
    restored = types_pb2.ContainerSpec()
    restored.CopyFrom(update.spec.task)
    redact.restore(restored, stored.spec.task)
    assert restored.env["PW"] == "hunter2"
    # A new secret value; and --env-rm drops the key from secret_env too, so the spec stays valid.
    update = cli(service_group, ["update", "--secret-env", "PW=new", "web"], FakeStub(stored))
    assert update.spec.task.env["PW"] == "new"
    update = cli(service_group, ["update", "--env-rm", "PW", "web"], FakeStub(stored))
    assert "PW" not in update.spec.task.env and list(update.spec.task.secret_env) == []
    check_service(update.spec)


def test_subnet_messages_keep_their_wording():
    # tests/integration/test_networks.py and users' scripts match these.
    assert str(one_line_error(check_create_network, manager_pb2.CreateNetworkRequest(
        name="x", subnet="nonsense"))).startswith('--subnet: "nonsense" is not a network')
    assert "must be a private IPv4 network" in str(one_line_error(check_create_network, manager_pb2.CreateNetworkRequest(
        name="x", subnet="8.8.8.0/24")))
