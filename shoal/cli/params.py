"""Click callbacks shared by the commands: a parser's ValueError becomes a usage error naming the option."""
from __future__ import annotations

import sys
from typing import Callable, Iterable

import click
import grpc

from shoal.cli.context import rpc_error_message


def converter(parser: Callable):
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return [parser(v) for v in value] if isinstance(value, tuple) else parser(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return callback


def for_each(items: Iterable, call: Callable, done: Callable[[object], str]) -> None:
    """Like docker: act on every argument, report each failure on one line, exit 1 if any failed."""
    failed = False
    for item in items:
        try:
            call(item)
            click.echo(done(item))
        except grpc.RpcError as exc:
            failed = True
            click.echo(f"shoal: {rpc_error_message(exc)}", err=True)
    if failed:
        sys.exit(1)
