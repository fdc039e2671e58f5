"""The `shoal` command: docker-like verbs against a Shoal manager.

Exit codes: 2 for usage errors, wherever they are caught (by the CLI's own parsing, or by the
manager's validation, which answers INVALID_ARGUMENT), 1 for runtime errors; every error is one line.
"""
from __future__ import annotations

import importlib
import os
import sys

# gRPC core prints refused TLS handshakes to stderr at INFO; the CLI's errors are one line of its own.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import click  # noqa: E402

# Each command's module is imported when that command runs: `shoal run` does not pay for the
# machine, stack or daemon commands' imports (YAML, SSH, X.509: ~0.2 s of a start-up).
COMMANDS = {
    "run": "shoal.cli.container:run", "ps": "shoal.cli.container:ps", "logs": "shoal.cli.container:logs",
    "stop": "shoal.cli.container:stop", "rm": "shoal.cli.container:rm", "inspect": "shoal.cli.container:inspect",
    "exec": "shoal.cli.exec_attach:exec_", "attach": "shoal.cli.exec_attach:attach",
    "node": "shoal.cli.node:node_group", "service": "shoal.cli.service:service_group",
    "stack": "shoal.cli.stack:stack_group", "cluster": "shoal.cli.cluster:cluster_group",
    "network": "shoal.cli.network:network_group", "volume": "shoal.cli.volume:volume_group", "machine": "shoal.cli.machine:machine_group",
    **{verb: f"shoal.cli.container_verbs:{verb}" for verb in (
        "start", "restart", "kill", "pause", "unpause", "wait", "port", "top", "stats", "cp", "rename")},
    "image": "shoal.cli.image:image_group", "login": "shoal.cli.image:login", "logout": "shoal.cli.image:logout",
    "agent": "shoal.cli.daemons:agent_cmd", "manager": "shoal.cli.daemons:manager_cmd", "dev": "shoal.cli.dev:dev_group",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--manager", envvar="SHOAL_MANAGER", metavar="HOST:PORT", help="Manager address (else $SHOAL_MANAGER, else the dev context).")
@click.option("--tls-dir", envvar="SHOAL_TLS_DIR", metavar="DIR", help="ca.pem, admin.pem, admin.key (else the context's).")
@click.option("--insecure", is_flag=True, help="Plaintext, for a manager started with --insecure.")
@click.version_option("0.1.0", prog_name="shoal")
@click.pass_context
def cli(click_ctx: click.Context, manager: str | None, tls_dir: str | None, insecure: bool):
    """Shoal: run containers across a cluster of Docker hosts."""
    from shoal.cli.context import Ctx
    click_ctx.obj = Ctx(manager_flag=manager, tls_dir=tls_dir, insecure=insecure)


def _usage_message(exc: click.UsageError) -> str:
    if isinstance(exc, click.BadParameter) and exc.param is not None and not isinstance(exc, click.MissingParameter):
        opts = getattr(exc.param, "opts", None) or [exc.param.name.upper()]
        name = max(opts, key=len) if opts[0].startswith("-") else exc.param.name.upper()
        return f"{name}: {exc.message}"
    if isinstance(exc, click.BadParameter) and exc.param_hint and not isinstance(exc, click.MissingParameter):
        return f"{exc.param_hint}: {exc.message}"
    return exc.format_message().replace("\n", " ")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="shoal", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"shoal: {_usage_message(exc)}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"shoal: {exc.format_message()}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # Only commands that talk to a manager import these: if they are not loaded, neither was raised.
        client, grpc = sys.modules.get("shoal.client"), sys.modules.get("grpc")
        if client is not None and isinstance(exc, client.NoManager):
            click.echo(f"shoal: {exc}", err=True)
            sys.exit(1)
        if grpc is not None and isinstance(exc, grpc.RpcError):
            from shoal.cli.context import rpc_error_message
            click.echo(f"shoal: {rpc_error_message(exc)}", err=True)
            sys.exit(2 if exc.code() == grpc.StatusCode.INVALID_ARGUMENT else 1)
        raise


if __name__ == "__main__":
    main()
