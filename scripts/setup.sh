#!/usr/bin/env bash
# Idempotent machine set-up for Shoal on Debian: system packages, then the venv.
# Called by `make setup`, hence by `make demo` and `make test` (and CI).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io etcd-server etcd-client busybox-static iproute2 util-linux openssh-server python3-venv python3-dev debootstrap dpkg-dev dnsperf dnsmasq-base tmux
  docker-registry apache2-utils)  # the last two: the private-registry fixture (registry 2.8, htpasswd)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # No daemon may start at install time: Shoal runs its own dockerd and etcd per host.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$made_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
fi

PY=/usr/bin/python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.shoal-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  # compat: the checkout on the module path by a plain .pth line; the default editable mode's
  # import hook costs every Python process here ~20 ms of start-up (docs/DECISIONS.md). setuptools
  # calls compat deprecated: should a release drop it, the default mode still works, only slower.
  .venv/bin/pip install -q -e '.[dev]' --config-settings editable_mode=compat 2>/dev/null \
    || .venv/bin/pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi
# Bytecode, as a regular install would have it (an editable one does not): the `shoal` command's
# start-up is part of every command an admin types. Only what changed is compiled again.
.venv/bin/python -m compileall -q shoal protos pki manager agent provisioner etcd dns >/dev/null

# `shoal` on the PATH for the admin, pointing at this checkout's venv.
if [ "$(id -u)" -eq 0 ]; then
  target=$(pwd)/.venv/bin/shoal
  if [ ! -e /usr/local/bin/shoal ] || [ -L /usr/local/bin/shoal ]; then
    ln -sfn "$target" /usr/local/bin/shoal
  fi
fi
# The agent's dependency wheels for the SSH test hosts (Debian 12: CPython 3.11): `shoal machine`
# uploads them, so the hosts, which have no network, install offline.
SHOAL_WHEELHOUSE=/var/cache/shoal/wheels .venv/bin/python -m shoal.provisioner.wheelhouse 3.11 "$(uname -m)" >/dev/null
# The SSH test hosts' Debian rootfs + offline apt repo (cached; rebuilt only when its recipe changes).
if [ "$(id -u)" -eq 0 ]; then ./scripts/build-testhost-rootfs.sh; else echo "setup: not root: skipping the test host rootfs"; fi
echo "setup: ok"
