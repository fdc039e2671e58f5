"""The `shoal` command: docker-like verbs against a Shoal manager.

Exit codes: 2 for usage errors, 1 for runtime errors; every error is one line.
"""
from __future__ import annotations

import os
import sys

# gRPC core prints refused TLS handshakes to stderr at INFO; the CLI's errors are one line of its own.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import click  # noqa: E402
import grpc  # noqa: E402

from shoal.cli import cluster, container, machine, network, node, service, stack
from shoal.cli.context import Ctx, rpc_error_message
from shoal.cli.daemons import agent_cmd, manager_cmd
from shoal.cli.dev import dev_group
from shoal.client import NoManager


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--manager", envvar="SHOAL_MANAGER", metavar="HOST:PORT", help="Manager address (else $SHOAL_MANAGER, else the dev context).")
@click.option("--tls-dir", envvar="SHOAL_TLS_DIR", metavar="DIR", help="ca.pem, admin.pem, admin.key (else the context's).")
@click.option("--insecure", is_flag=True, help="Plaintext, for a manager started with --insecure.")
@click.version_option("0.1.0", prog_name="shoal")
@click.pass_context
def cli(click_ctx: click.Context, manager: str | None, tls_dir: str | None, insecure: bool):
    """Shoal: run containers across a cluster of Docker hosts."""
    click_ctx.obj = Ctx(manager_flag=manager, tls_dir=tls_dir, insecure=insecure)


for command in (container.run, container.ps, container.logs, container.stop, container.rm, container.inspect,
                node.node_group, service.service_group, stack.stack_group, cluster.cluster_group,
                network.network_group, machine.machine_group, agent_cmd, manager_cmd, dev_group):
    cli.add_command(command)


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
    except NoManager as exc:
        click.echo(f"shoal: {exc}", err=True)
        sys.exit(1)
    except grpc.RpcError as exc:
        click.echo(f"shoal: {rpc_error_message(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
