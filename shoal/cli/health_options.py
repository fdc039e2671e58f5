"""The health check flags of `docker run` and `docker service create`, one definition for
`shoal run` and `shoal service create/update`. On update, a flag left out (None) leaves the spec alone."""
from __future__ import annotations

import click

from shoal.cli.params import converter
from shoal.durations import parse_duration
from shoal.protos.shoal.v1 import types_pb2


def _dur(text: str) -> int:
    return parse_duration(text)


OPTIONS = [
    click.option("--health-cmd", metavar="CMD", help="Health check command (run with sh -c in the container)."),
    click.option("--health-interval", metavar="DURATION", callback=converter(_dur), help="Between health checks."),
    click.option("--health-timeout", metavar="DURATION", callback=converter(_dur), help="One health check's time limit."),
    click.option("--health-retries", type=click.IntRange(0, 100), help="Failures before unhealthy."),
    click.option("--health-start-period", metavar="DURATION", callback=converter(_dur), help="Grace time after start."),
    click.option("--no-healthcheck", is_flag=True, default=None, help="Disable any health check, the image's HEALTHCHECK included."),
]

NAMES = ("health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period", "no_healthcheck")
_TIMES = (("health_interval", "interval_ns"), ("health_timeout", "timeout_ns"), ("health_retries", "retries"),
          ("health_start_period", "start_period_ns"))


def health_options(fn):
    for decorator in reversed(OPTIONS):
        fn = decorator(fn)
    return fn


def pop(options: dict) -> dict:
    return {name: options.pop(name, None) for name in NAMES}


def apply(spec: types_pb2.ContainerSpec, o: dict) -> None:
    """--no-healthcheck is test ["NONE"], as docker sends it; with a --health-* flag it is refused,
    as docker refuses it."""
    h = spec.health
    if o.get("no_healthcheck"):
        given = [name for name in NAMES[:-1] if o.get(name) is not None]
        if given:
            raise click.UsageError(f"--no-healthcheck conflicts with --{given[0].replace('_', '-')}")
        spec.ClearField("health")
        spec.health.test.append("NONE")
        return
    if o.get("health_cmd") is not None:
        del h.test[:]
        if o["health_cmd"]:
            h.test.extend(["CMD-SHELL", o["health_cmd"]])
    for key, field in _TIMES:
        if o.get(key) is not None:
            setattr(h, field, o[key])
