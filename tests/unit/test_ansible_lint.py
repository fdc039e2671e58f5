"""ansible-lint's production profile on the role, offline: what Ansible users run before they
trust a role. Its home and temp directories are the test's own, so it writes nothing elsewhere."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_role_passes_ansible_lint_production(tmp_path):
    lint = Path(sys.executable).parent / "ansible-lint"
    env = {"HOME": str(tmp_path), "ANSIBLE_HOME": str(tmp_path / "ansible"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "PATH": f"{lint.parent}:/usr/bin:/bin", "NO_COLOR": "1"}
    r = subprocess.run([str(lint), "--offline", "--profile", "production", "--format", "pep8", "ansible/"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Profile 'production' was required, and it passed" in r.stdout + r.stderr


def test_the_role_refuses_every_old_name_of_its_variables():
    import yaml
    role = ROOT / "ansible" / "roles" / "shoal_agent"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    main = yaml.safe_load((role / "tasks" / "main.yml").read_text())
    refusal = next(t for t in main if "before the shoal_agent_ prefix" in t["name"])
    refused = {cond.split()[0] for cond in refusal["ansible.builtin.assert"]["that"]}
    renamed = {"shoal_" + k[len("shoal_agent_"):] for k in defaults} - {"shoal_extra_args", "shoal_timeout"}
    assert all(k.startswith("shoal_agent_") for k in defaults)
    assert refused == renamed
