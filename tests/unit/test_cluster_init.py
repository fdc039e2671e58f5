"""`shoal cluster init`: the CA and the first credentials on disk (no network)."""
import json
import os
import stat
import subprocess
import sys

from shoal.pki import ca as ca_mod
from shoal.pki import files


def init(tmp_path, *args):
    env = dict(os.environ, SHOAL_CONFIG_DIR=str(tmp_path / "cli"))
    return subprocess.run([sys.executable, "-m", "shoal", "cluster", "init", "--state-dir", str(tmp_path / "mgr"),
                           *args], capture_output=True, text=True, env=env, timeout=60)


def test_init_writes_the_ca_and_certificates_once(tmp_path):
    r = init(tmp_path, "--manager-address", "10.0.0.5:7000", "--etcd-server-ip", "10.0.0.5")
    assert r.returncode == 0, r.stderr
    assert "created: cluster CA, manager certificate, admin certificate" in r.stdout
    mgr, cli = tmp_path / "mgr", tmp_path / "cli"
    for private in (mgr / "ca.key", mgr / "manager.key", mgr / "etcd-server.key", cli / "admin.key"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    authority = ca_mod.Authority.load((mgr / "ca.pem").read_bytes(), (mgr / "ca.key").read_bytes())
    manager, admin = files.load(mgr, "manager"), files.load(cli, "admin")
    assert manager.identity.role == "manager" and admin.identity.role == "admin"
    assert authority.verify(ca_mod.load_cert(manager.cert)) and authority.verify(ca_mod.load_cert(admin.cert))
    context = json.loads((cli / "context.json").read_text())
    assert context["manager"] == "10.0.0.5:7000" and context["cert"] == str(cli / "admin.pem")
    assert ca_mod.digest(authority.pem) in r.stdout
    assert "PRIVATE" not in r.stdout + r.stderr

    before = {p: p.read_bytes() for p in mgr.iterdir()}
    again = init(tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert {p: p.read_bytes() for p in mgr.iterdir()} == before


def test_a_certificate_without_its_ca_key_is_refused(tmp_path):
    assert init(tmp_path).returncode == 0
    (tmp_path / "mgr" / "ca.key").unlink()
    r = init(tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"shoal: {tmp_path / 'mgr'}: holds a certificate but no CA key; refusing to make a second CA"]


def test_bad_etcd_ip_is_a_usage_error(tmp_path):
    r = init(tmp_path, "--etcd-server-ip", "10.0.0.300")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == 'shoal: --etcd-server-ip: "10.0.0.300" is not an IP address'
