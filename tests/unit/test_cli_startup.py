"""The CLI imports only what the command run needs: `shoal run` pays for gRPC and the protos,
not for X.509, YAML, SSH or the daemons (docs/PERFORMANCE.md, benchmark 3)."""
import subprocess
import sys

import click

from shoal.cli import main

HEAVY = ("cryptography", "yaml", "paramiko", "docker", "etcd3", "dnslib", "google.protobuf.json_format",
         "shoal.manager", "shoal.agent", "shoal.provisioner", "shoal.etcd", "shoal.dns",
         "shoal.stackfile", "shoal.devcluster", "shoal.devdaemons", "shoal.devcleanup", "shoal.devprobes",
         "shoal.devprocs")


def _loaded_after(*argv: str) -> set[str]:
    code = ("import sys\n"
            "from shoal.cli.main import cli\n"
            f"try:\n    cli.main(args={list(argv)!r}, prog_name='shoal', standalone_mode=False)\n"
            "except BaseException:\n    pass\n"
            "print('\\n'.join(sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "SHOAL_CONFIG_DIR": "/nonexistent-shoal-config"})
    return set(r.stdout.split())


def test_run_loads_no_heavy_module():
    # Nothing listens on port 1 of loopback: the call is made and fails at once.
    loaded = _loaded_after("--manager", "127.0.0.1:1", "--insecure", "run", "-d", "img")
    assert "grpc" in loaded and "shoal.protos.shoal.v1.manager_pb2_grpc" in loaded
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, heavy
    assert "shoal.cli.machine" not in loaded and "shoal.cli.stack" not in loaded


def test_every_command_resolves_to_itself():
    group = main.cli
    ctx = click.Context(group)
    assert group.list_commands(ctx) == list(main.COMMANDS)
    for name in main.COMMANDS:
        command = group.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert group.get_command(ctx, "frobnicate") is None
