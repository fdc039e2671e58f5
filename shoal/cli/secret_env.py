"""--secret-env K | K=V, --secret-env-file FILE, --secret-env-stdin K: secret values that need not be
on the command line, where every local user can read them (`ps`, /proc/PID/cmdline).

No message here ever quotes a value or a line of a file: either may be the secret."""
from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import click

from shoal.cli.params import converter

MAX_FILE_BYTES = 1 << 20     # far above 256 variables of 4 KiB (the manager's bounds)
MAX_STDIN_BYTES = 64 << 10
_BOM = b"\xef\xbb\xbf"


def _from_environment(key: str, environ: Mapping[str, str], where: str) -> str:
    # `docker run -e K` drops an unset K; a secret silently missing is worse than a refusal.
    if key not in environ:
        raise ValueError(f"{key}{where} is not set in the environment (export it first)")
    return environ[key]


def from_argument(text: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """K=V as given, or K with its value from the environment."""
    key, sep, value = text.partition("=")
    if not key:
        raise ValueError("a variable name is needed (K or K=VALUE)")
    return (key, value) if sep else (key, _from_environment(key, environ, ""))


def parse_env_file(data: bytes, environ: Mapping[str, str] | None, *, unset: str = "refuse") -> list[tuple[str, str]]:
    """docker's --env-file rules (docker/cli pkg/kvfile): lines of K=V, taken as they are (no quotes,
    no expansion, trailing blanks kept); leading whitespace, blank lines and # comments skipped; a
    UTF-8 BOM and a CR before the newline dropped; a K alone takes its value from the environment.
    A K alone that the environment lacks is refused (unset="refuse", secrets), dropped as docker
    drops it ("skip", --env-file); environ None: a K alone is K="" (--label-file)."""
    pairs = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8").lstrip()
        except UnicodeDecodeError:
            raise ValueError(f"line {number} is not UTF-8") from None
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise ValueError(f"line {number} has no variable name")
        if " " in key or "\t" in key:
            raise ValueError(f"line {number}: the variable name has whitespace in it (K=VALUE expected)")
        if sep:
            pairs.append((key, value))
        elif environ is None:
            pairs.append((key, ""))
        elif unset == "skip":
            if key in environ:
                pairs.append((key, environ[key]))
        else:
            pairs.append((key, _from_environment(key, environ, f" (line {number})")))
    return pairs


def read_kv_file(path: str, *, labels: bool = False) -> list[tuple[str, str]]:
    """--env-file / --label-file FILE: the same reader as --secret-env-file's, without its mode warning."""
    data, _ = read_private_file(Path(path), MAX_FILE_BYTES)
    try:
        return parse_env_file(data, None if labels else os.environ, unset="skip")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def read_private_file(path: Path, limit: int) -> tuple[bytes, str | None]:
    """The file's bytes and, when group or others may read it, a warning that says so. A pipe will
    do (`--secret-env-file <(vault read ...)`: the value is then on no disk)."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    if len(data) > limit:
        raise ValueError(f"{path}: larger than {limit} bytes")
    warning = None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warning = (f"{path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
                   f"a secret belongs in a file only you can read (chmod 600 {path})")
    return data, warning


def read_stdin_value(stream: BinaryIO | None, is_terminal: bool) -> str:
    """One value, as `docker login --password-stdin`: all of stdin, less one trailing newline."""
    if stream is None:
        raise ValueError("stdin is closed")
    if is_terminal:
        # Typed at a terminal the secret would be echoed on the screen, and it would wait for ^D.
        raise ValueError("stdin is a terminal; pipe the value in (e.g. `printf %s \"$V\" | shoal ...`), "
                         "or use --secret-env K with K exported")
    data = stream.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise ValueError(f"more than {MAX_STDIN_BYTES} bytes on stdin")
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the value on stdin is not UTF-8") from None
    if not value:
        # Most likely a pipeline whose first command printed nothing (an unset variable, a failure).
        raise ValueError("stdin gave an empty value")
    return value


def _env_file(path: str) -> list[tuple[str, str]]:
    data, warning = read_private_file(Path(path), MAX_FILE_BYTES)
    if warning:
        click.echo(f"shoal: warning: --secret-env-file: {warning}", err=True)
    try:
        return parse_env_file(data, os.environ)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _stdin_key(ctx, param, keys):
    if not keys:
        return []
    if len(keys) > 1:
        raise click.BadParameter("stdin holds one value: give one K (--secret-env-file takes many)", ctx=ctx, param=param)
    key = keys[0]
    if not key or "=" in key:
        raise click.BadParameter("give the variable's name K; its value is read from stdin", ctx=ctx, param=param)
    stdin = sys.stdin
    try:
        value = read_stdin_value(stdin.buffer if stdin is not None else None, stdin is not None and stdin.isatty())
    except ValueError as exc:
        raise click.BadParameter(f"{key}: {exc}", ctx=ctx, param=param) from None
    return [(key, value)]


def secret_env_options(fn):
    """The three options; each gives the command a list of (K, V), in the order they are applied:
    the files', then --secret-env's, then stdin's (a later one wins, as -e wins over --env-file)."""
    for decorator in reversed([
        click.option("--secret-env", multiple=True, metavar="K|K=V",
                     callback=converter(lambda text: from_argument(text, os.environ)),
                     help="Environment variable whose value the cluster never shows (inspect, ps) or logs. "
                          "K alone takes the value of K in your environment; K=V puts V on the command line, "
                          "where every local user can read it (ps, /proc): prefer K, a file or stdin."),
        click.option("--secret-env-file", multiple=True, metavar="FILE", callback=converter(_env_file),
                     help="Secret variables, a K=V per line (as --env-file: # comments, no quotes; "
                          "a K alone is taken from your environment). Keep it mode 0600."),
        click.option("--secret-env-stdin", multiple=True, metavar="K", callback=_stdin_key,
                     help="Secret variable K with its value read from stdin (a pipe, not a terminal; "
                          "one trailing newline dropped)."),
    ]):
        fn = decorator(fn)
    return fn


def gathered(secret_env, secret_env_file, secret_env_stdin) -> list[tuple[str, str]]:
    """The values of the three options as one list of (K, V), files first (see secret_env_options)."""
    return [*(pair for pairs in secret_env_file or [] for pair in pairs), *(secret_env or []), *(secret_env_stdin or [])]
