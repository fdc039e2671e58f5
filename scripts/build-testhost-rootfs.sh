#!/usr/bin/env bash
# Build (once) the Debian root filesystem and the offline apt repository of the SSH test hosts
# (tests/integration/sshhosts.py, docs/TESTHOSTS.md).
#
#   scripts/build-testhost-rootfs.sh              build if the cache is not current, print its directory last
#   scripts/build-testhost-rootfs.sh --print-dir  print the current cache directory; exit 1 if it is not built
#
# Cache: ${SHOAL_TESTHOST_CACHE:-/var/cache/shoal/testhost}/<key>/{rootfs,repo,recipe.txt}
# where <key> is a hash of this file: the recipe is this script, so any edit to it rebuilds,
# and an unchanged script reuses the cache (exits in milliseconds).  Other keys' directories are
# removed after a successful build unless something still mounts them.
#
# rootfs/  debootstrap --variant=minbase bookworm with $INCLUDE, no docker.io, no SSH host keys,
#          systemd installed (a host made with systemd=True boots it as pid 1; the others never
#          run it: their pid 1 is a reaper, and `systemctl is-system-running` says "offline"),
#          users `deploy` (passwordless sudo) and `nosudo`, apt pointed ONLY at the local repo:
#          "deb [trusted=yes] file:/srv/shoal-repo ./" (each test host bind-mounts repo/ there, read-only).
# repo/    every .deb that `apt-get install -y docker.io` needs inside rootfs/ (recommends included),
#          with a Packages index (dpkg-scanpackages) and a Release file, so that install works offline.
#
# Needs root, debootstrap and dpkg-dev, and deb.debian.org (only here, at set-up; never from a test host).
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# systemd, systemd-sysv, dbus, libpam-systemd: what a systemd host boots (docker.io's recommends
# would install them anyway); no udev: nothing in a test host manages devices
INCLUDE=openssh-server,openssh-sftp-server,python3,python3-venv,sudo,iproute2,procps,ca-certificates,netbase,systemd,systemd-sysv,dbus,libpam-systemd
REPO_PACKAGES=(docker.io)
REPO_IN_HOST=/srv/shoal-repo
CACHE_ROOT=${SHOAL_TESTHOST_CACHE:-/var/cache/shoal/testhost}

SELF=$(readlink -f "${BASH_SOURCE[0]}")
KEY=$(sha256sum "$SELF" | cut -c1-16)
DIR=$CACHE_ROOT/$KEY

say() { echo "testhost: $*"; }

if [ "${1:-}" = "--print-dir" ]; then
  if [ -d "$DIR/rootfs" ] && [ -d "$DIR/repo" ]; then echo "$DIR"; exit 0; fi
  echo "testhost: no current cache at $DIR (run scripts/build-testhost-rootfs.sh as root)" >&2
  exit 1
fi
if [ $# -gt 0 ]; then echo "usage: $0 [--print-dir]" >&2; exit 2; fi

if [ -d "$DIR/rootfs" ] && [ -d "$DIR/repo" ]; then
  say "cache current: $DIR"
  echo "$DIR"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then echo "testhost: need root to build $DIR" >&2; exit 1; fi
for tool in debootstrap dpkg-scanpackages chroot; do
  command -v "$tool" >/dev/null || { echo "testhost: $tool missing (apt-get install debootstrap dpkg-dev)" >&2; exit 1; }
done

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
say "taking the build lock $CACHE_ROOT/.lock"
flock 9
if [ -d "$DIR/rootfs" ] && [ -d "$DIR/repo" ]; then  # another build finished meanwhile
  say "cache current: $DIR"
  echo "$DIR"
  exit 0
fi

# is anything (an overlay lower dir, a bind mount) still using this path?
in_use() { grep -qF -- "$1" /proc/self/mountinfo; }

# Remove a directory only when nothing is mounted below it; never follow into another filesystem.
remove_dir() {
  local d=$1 m
  [ -e "$d" ] || return 0
  # deepest first; lazily, as debootstrap's or apt's mounts may be busy
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v p="$d/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  if awk -v p="$d/" 'index($5, p) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
    echo "testhost: mounts remain under $d; not removing it" >&2
    return 1
  fi
  rm -rf --one-file-system -- "$d"
}

# stale half-builds of an earlier, interrupted run (we hold the lock: nobody else is building)
for old in "$CACHE_ROOT"/.build-*; do
  [ -e "$old" ] || continue
  say "removing the interrupted build $old"
  remove_dir "$old"
done

BUILD=$CACHE_ROOT/.build-$KEY-$$
STAGE=$BUILD/rootfs
trap 'remove_dir "$BUILD" || true' EXIT
mkdir -p "$BUILD"
start=$(date +%s)

say "debootstrap --variant=minbase --include=$INCLUDE $SUITE $STAGE $MIRROR"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$STAGE" "$MIRROR" > "$BUILD/debootstrap.log" 2>&1 || {
  tail -n 30 "$BUILD/debootstrap.log" >&2; echo "testhost: debootstrap failed" >&2; exit 1; }
say "debootstrap done ($(( $(date +%s) - start )) s, $(du -sm "$STAGE" | cut -f1) MB)"

in_chroot() { LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$STAGE" "$@"; }

# -- the offline repository: download what `apt-get install -y docker.io` needs in this rootfs
say "downloading ${REPO_PACKAGES[*]} and their dependencies (with recommends) in the chroot"
echo "deb $MIRROR $SUITE main" > "$STAGE/etc/apt/sources.list"
rm -f "$STAGE"/etc/apt/sources.list.d/*
in_chroot apt-get update -qq
in_chroot apt-get clean
in_chroot apt-get install -y -qq --download-only "${REPO_PACKAGES[@]}" > "$BUILD/download.log" 2>&1 || {
  tail -n 30 "$BUILD/download.log" >&2; echo "testhost: download failed" >&2; exit 1; }
REPO=$STAGE$REPO_IN_HOST  # built inside the rootfs first, so apt in the chroot can check it
mkdir -p "$REPO"
mv "$STAGE"/var/cache/apt/archives/*.deb "$REPO/"
ndebs=$(find "$REPO" -maxdepth 1 -name '*.deb' | wc -l)
say "indexing $ndebs packages ($(du -sm "$REPO" | cut -f1) MB) with dpkg-scanpackages"
(
  cd "$REPO"
  dpkg-scanpackages --multiversion . /dev/null > Packages 2> "$BUILD/scan.log"
  gzip -9nk Packages
  {
    echo "Origin: shoal-testhost"
    echo "Label: shoal-testhost"
    echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
    echo "SHA256:"
    for f in Packages Packages.gz; do printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"; done
  } > Release
)

# -- apt of the rootfs points only at the local repo; check that it resolves docker.io from it alone
echo "deb [trusted=yes] file:$REPO_IN_HOST ./" > "$STAGE/etc/apt/sources.list"
rm -rf "$STAGE"/var/lib/apt/lists/*
mkdir -p "$STAGE/var/lib/apt/lists/partial"
in_chroot apt-get update -qq
in_chroot apt-get install -y -qq --simulate "${REPO_PACKAGES[@]}" > "$BUILD/simulate.log" 2>&1 || {
  tail -n 30 "$BUILD/simulate.log" >&2; echo "testhost: the local repo does not satisfy ${REPO_PACKAGES[*]}" >&2; exit 1; }
say "checked: apt-get install ${REPO_PACKAGES[*]} resolves from file:$REPO_IN_HOST alone ($(grep -c '^Inst ' "$BUILD/simulate.log") packages)"
mv "$REPO" "$BUILD/repo"
mkdir -p "$STAGE$REPO_IN_HOST"  # the mount point
in_chroot apt-get clean
rm -rf "$STAGE"/var/lib/apt/lists/*
mkdir -p "$STAGE/var/lib/apt/lists/partial"

# -- users, sudo, sshd, and what each host makes its own
say "users deploy (passwordless sudo) and nosudo; no SSH host keys; dpkg unsafe-io"
in_chroot useradd --create-home --shell /bin/bash deploy
in_chroot useradd --create-home --shell /bin/bash nosudo
in_chroot usermod -p '*' deploy   # no password, not locked: key login only
in_chroot usermod -p '*' nosudo
printf 'deploy ALL=(ALL:ALL) NOPASSWD: ALL\n' > "$STAGE/etc/sudoers.d/deploy"
chmod 0440 "$STAGE/etc/sudoers.d/deploy"
in_chroot visudo -c -q
rm -f "$STAGE"/etc/ssh/ssh_host_*           # each host generates its own
# apt/dpkg inside a test host skip fsync (throw-away hosts; saves seconds per install)
echo force-unsafe-io > "$STAGE/etc/dpkg/dpkg.cfg.d/shoal-testhost-unsafe-io"
# per host at start-up: hostname, hosts, resolv.conf (no resolver: hosts are offline)
printf '# test host: no resolver (offline)\n' > "$STAGE/etc/resolv.conf"
: > "$STAGE/etc/machine-id"
mkdir -p "$STAGE/var/lib/docker"            # mount point of each host's real /var/lib/docker

docker_version=$(sed -n 's/^Inst docker\.io (\([^ ]*\) .*/\1/p' "$BUILD/simulate.log" | head -n1)
{
  echo "key: $KEY"
  echo "built: $(date -u +%FT%TZ)"
  echo "suite: $SUITE ($MIRROR)"
  echo "include: $INCLUDE"
  echo "repo: ${REPO_PACKAGES[*]} ($ndebs .debs; docker.io $docker_version)"
  echo "build_seconds: $(( $(date +%s) - start ))"
} > "$BUILD/recipe.txt"
rm -f "$BUILD"/*.log

mv -T "$BUILD" "$DIR"
trap - EXIT
say "built $DIR in $(( $(date +%s) - start )) s: rootfs $(du -sm "$DIR/rootfs" | cut -f1) MB, repo $(du -sm "$DIR/repo" | cut -f1) MB, docker.io $docker_version"

# older recipes' caches, unless a test host still has them mounted
for old in "$CACHE_ROOT"/*; do
  [ -d "$old" ] && [ "$old" != "$DIR" ] || continue
  if in_use "$old"; then say "keeping $old (in use)"; continue; fi
  say "removing the outdated cache $old"
  remove_dir "$old" || true
done
echo "$DIR"
