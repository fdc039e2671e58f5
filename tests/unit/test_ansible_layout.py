"""The Ansible role (ansible/roles/shoal_agent) and `shoal machine create` (provisioner/layout.py)
install the same files: the role's templates, rendered as Ansible's template module renders them,
are byte-identical to layout.py's text for the same inputs, and the role's fixed paths and shell
commands are layout.py's. So the two installers cannot drift apart, and either one finds a host the
other installed already up to date. (tests/integration/test_ansible.py compares the files a real
playbook run wrote as well.)"""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml

from shoal.provisioner import facts, layout

ROLE = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "shoal_agent"
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


_FILTERS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def ansible_filters(tmp_path_factory):
    """Ansible's own filters (ansible-core is in the dev extras). Importing ansible makes its local
    temp dir: under pytest's tmp, not ~/.ansible."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path_factory.mktemp("ansible-local")))
        mp.setenv("ANSIBLE_HOME", str(tmp_path_factory.mktemp("ansible-home")))
        from ansible.plugins.filter.core import FilterModule
        _FILTERS.update(FilterModule().filters())
    yield


def render(template: str, **variables) -> str:
    """As ansible.builtin.template does: trim_blocks on, lstrip_blocks off, the template's trailing
    newlines kept, Ansible's own filters (`quote` is ansible.builtin.quote), undefined is an error."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), trim_blocks=True,
                             lstrip_blocks=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)
    assert "quote" in _FILTERS
    env.filters.update(_FILTERS)
    return env.get_template(template).render({**ROLE_VARS, **variables})


def role_inputs(s: layout.AgentSettings) -> dict:
    return {"shoal_agent_node_name": s.name, "shoal_agent_advertise_ip": s.ip, "shoal_agent_manager": s.manager, "shoal_agent_etcd": s.etcd,
            "shoal_agent_labels": dict(s.labels), "shoal_agent_extra_args": list(s.extra_args)}


SETTINGS = [
    layout.AgentSettings(name="node-1", ip="10.0.0.11", manager="10.0.0.1:7000", etcd="https://10.0.0.1:2379"),
    layout.AgentSettings(name="edge-7", ip="192.0.2.7", manager="mgr.example:7000",
                         etcd="https://10.0.0.1:2379,https://10.0.0.2:2379",
                         labels={"zone": "edge", "Rack": "b 12", "ssd": "true", "a": "x'y\"z$HOME"},
                         extra_args=("--dns-upstream", "none", "--memory=1g", "--label", "odd value;rm -rf /")),
    layout.AgentSettings(name="n", ip="fd00::5", manager="[fd00::1]:7000", etcd="https://[fd00::1]:2379",
                         labels={"b": "", "B": "2"}, extra_args=("--dns-upstream=none",)),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.name)
def test_agent_script_is_layouts(settings):
    assert render("shoal-agent.j2", **role_inputs(settings)) == layout.agent_script(settings)


@pytest.mark.parametrize("token", ["SWMTKN-1-abc.def", "tok with spaces & 'quotes' $(x)", ""])
def test_env_file_is_layouts(token):
    assert render("agent.env.j2", shoal_agent_join_token=token) == layout.env_file(token)


def test_systemd_unit_is_layouts():
    assert render("shoal-agent.service.j2") == layout.systemd_unit()


@pytest.mark.parametrize("program, pidfile, log", [
    (layout.AGENT_SCRIPT, layout.SUPERVISOR_PID, f"{layout.LOG_DIR}/agent.log"),
    ("dockerd", layout.DOCKERD_PID, f"{layout.LOG_DIR}/dockerd.log"),
])
def test_supervisors_are_layouts(program, pidfile, log):
    text = render("supervisor.j2", shoal_agent_supervised_program=program, shoal_agent_supervised_pidfile=pidfile,
                  shoal_agent_supervised_log=log)
    assert text == layout.supervisor(program, pidfile, log)


def _tasks(items):
    for task in items or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def template_tasks() -> list[tuple[str, str, str, dict]]:
    """(src, dest, mode, vars) of every template task of the role, Jinja in them resolved."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    out = []
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            args = task.get("ansible.builtin.template")
            if args is None:
                assert "template" not in task, f"{path.name}: use ansible.builtin.template"
                continue
            local = {k: env.from_string(str(v)).render(ROLE_VARS) for k, v in (task.get("vars") or {}).items()}
            out.append((args["src"], env.from_string(args["dest"]).render(ROLE_VARS), args["mode"], local))
    return out


def test_each_template_goes_where_machine_create_puts_it_with_its_mode():
    got = sorted((src, dest, mode, tuple(sorted(v.items()))) for src, dest, mode, v in template_tasks())
    agent_log, dockerd_log = f"{layout.LOG_DIR}/agent.log", f"{layout.LOG_DIR}/dockerd.log"
    assert got == sorted([
        ("shoal-agent.j2", layout.AGENT_SCRIPT, "0755", ()),
        ("agent.env.j2", layout.ENV_FILE, "0600", ()),
        ("shoal-agent.service.j2", layout.UNIT, "0644", ()),
        ("supervisor.j2", layout.SUPERVISOR, "0755", (("shoal_agent_supervised_log", agent_log),
                                                      ("shoal_agent_supervised_pidfile", layout.SUPERVISOR_PID),
                                                      ("shoal_agent_supervised_program", layout.AGENT_SCRIPT))),
        ("supervisor.j2", layout.DOCKERD_SUPERVISOR, "0755", (("shoal_agent_supervised_log", dockerd_log),
                                                              ("shoal_agent_supervised_pidfile", layout.DOCKERD_PID),
                                                              ("shoal_agent_supervised_program", "dockerd"))),
    ])


def test_every_task_that_sees_the_token_has_no_log():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            if "block" in task:
                continue
            text = yaml.safe_dump(task)
            uses_token = re.search(r"\{[{%][^}]*shoal_agent_join_token", text) or "agent.env.j2" in text
            assert not uses_token or task.get("no_log") is True, f"{path.name}: {task.get('name')}"


def test_fixed_paths_are_layouts():
    assert {k: ROLE_VARS[k] for k in (
        "shoal_agent_opt", "shoal_agent_venv", "shoal_agent_wheels", "shoal_agent_bundle_mark", "shoal_agent_bin", "shoal_agent_script",
        "shoal_agent_supervisor", "shoal_agent_dockerd_supervisor", "shoal_agent_etc", "shoal_agent_env_file", "shoal_agent_state_dir",
        "shoal_agent_log_dir", "shoal_agent_run_dir", "shoal_agent_supervisor_pid", "shoal_agent_dockerd_pid", "shoal_agent_unit",
        "shoal_agent_port")} == {
        "shoal_agent_opt": layout.OPT, "shoal_agent_venv": layout.VENV, "shoal_agent_wheels": layout.WHEELS,
        "shoal_agent_bundle_mark": layout.BUNDLE_MARK, "shoal_agent_bin": layout.BIN, "shoal_agent_script": layout.AGENT_SCRIPT,
        "shoal_agent_supervisor": layout.SUPERVISOR, "shoal_agent_dockerd_supervisor": layout.DOCKERD_SUPERVISOR,
        "shoal_agent_etc": layout.ETC, "shoal_agent_env_file": layout.ENV_FILE, "shoal_agent_state_dir": layout.STATE,
        "shoal_agent_log_dir": layout.LOG_DIR, "shoal_agent_run_dir": layout.RUN_DIR,
        "shoal_agent_supervisor_pid": layout.SUPERVISOR_PID, "shoal_agent_dockerd_pid": layout.DOCKERD_PID,
        "shoal_agent_unit": layout.UNIT, "shoal_agent_port": layout.AGENT_PORT}


def test_supervisor_commands_are_layouts():
    assert ROLE_VARS["shoal_agent_running_check"] == layout.running_check(layout.SUPERVISOR_PID, layout.SUPERVISOR)
    assert ROLE_VARS["shoal_agent_start_supervised"] == layout.start_supervised(layout.SUPERVISOR_PID,
                                                                                layout.SUPERVISOR)
    assert ROLE_VARS["shoal_agent_dockerd_start_supervised"] == layout.start_supervised(layout.DOCKERD_PID,
                                                                                  layout.DOCKERD_SUPERVISOR)


def test_docker_counts_as_installed_as_machine_create_decides():
    # Any of the packages facts.docker_facts() accepts, or a docker binary on the PATH.
    check = ROLE_VARS["shoal_agent_docker_installed_check"]
    assert check.startswith("command -v docker >/dev/null || ")
    assert f"dpkg -s {' '.join(facts.DOCKER_PACKAGES)} " in check


def test_every_documented_variable_has_a_default():
    assert set(DEFAULTS) >= {"shoal_agent_manager", "shoal_agent_etcd", "shoal_agent_join_token", "shoal_agent_bundle_dir",
                             "shoal_agent_node_name", "shoal_agent_advertise_ip", "shoal_agent_labels", "shoal_agent_extra_args"}
    assert not set(DEFAULTS) & set(ROLE_VARS)      # the layout cannot be overridden by mistake
