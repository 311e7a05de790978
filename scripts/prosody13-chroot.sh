#!/usr/bin/env bash
# Prosody 13 (Debian 13's own package) in a chroot, so that the tests run against it beside the
# packaged Prosody 0.12 of a Debian 12 host. Built once, then only (re)mounted. Needs root.
#
#   scripts/prosody13-chroot.sh ensure       build it when missing or broken, then mount (setup.sh)
#   scripts/prosody13-chroot.sh mount [DIR…] make /dev, /proc, /tmp, this checkout (and each DIR)
#                                            visible inside at the same paths; idempotent
#   scripts/prosody13-chroot.sh status       exit 0 when built and not broken
#
# The cache directory is $CLOUD_NOTIFYD_PROSODY13_DIR (default /var/cache/cloud-notifyd/prosody13),
# outside the checkout on purpose: a chroot with the checkout and /tmp bind-mounted into it must not
# sit inside a tree that `git clean -x`, `rm -rf` or `grep -r` walk. Inside it: root/ (the chroot),
# ready (the marker, written only after a full build and a smoke check), build.log, lock.
# The Debian mirror is the host's own (read from /etc/apt/sources.list*), or $CLOUD_NOTIFYD_DEBIAN_MIRROR.
# A failure prints one line: "setup: cannot prepare the Prosody 13 chroot: <cause>".
set -euo pipefail

CHECKOUT=$(cd "$(dirname "$0")/.." && pwd -P)
CACHE=${CLOUD_NOTIFYD_PROSODY13_DIR:-/var/cache/cloud-notifyd/prosody13}
ROOT="$CACHE/root"
MARKER="$CACHE/ready"
LOG="$CACHE/build.log"
SUITE=trixie
CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin

die() {
  echo "setup: cannot prepare the Prosody 13 chroot: $*" >&2
  exit 1
}

in_root() { (cd / && env -i PWD=/ PATH="$CLEAN_PATH" DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 chroot "$ROOT" "$@"); }

# The host's Debian archive: the first apt source (one-line or deb822) serving the host's own
# release (its codename exactly, not -security or -updates).
host_mirror() {
  if [ -n "${CLOUD_NOTIFYD_DEBIAN_MIRROR:-}" ]; then echo "$CLOUD_NOTIFYD_DEBIAN_MIRROR"; return; fi
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    case "$f" in
      *.sources) awk -v want="$codename" -v RS= '
          { uris = ""; suites = ""; n = split($0, line, "\n")
            for (k = 1; k <= n; k++) {
              if (line[k] ~ /^[Uu][Rr][Ii][Ss]:/) { uris = line[k]; sub(/^[^:]*:[ \t]*/, "", uris) }
              if (line[k] ~ /^[Ss]uites:/) { suites = " " line[k] " "; sub(/^ [^:]*:/, " ", suites) }
            }
            if (uris != "" && suites ~ ("[ \t]" want "[ \t]")) { split(uris, u, /[ \t]+/); print u[1]; exit 0 } }
          END {}' "$f" ;;
      *) awk -v want="$codename" '
          $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == want) { print $i; exit 0 } }' "$f" ;;
    esac
  done | head -1 | grep .
}

# Field 5 of /proc/self/mountinfo is the mount point, with space, tab, newline and backslash octal-escaped.
mount_points() { awk '{ print $5 }' /proc/self/mountinfo | sed -e 's/\\040/ /g' -e 's/\\011/\t/g' -e 's/\\134/\\/g'; }
is_mount_point() { mount_points | grep -qxF -- "$1"; }
# True when PATH is the same directory inside the chroot (bind-mounted, or reached through a parent's bind).
visible_inside() { [ -e "$ROOT$1" ] && [ "$(stat -c %d:%i -- "$1")" = "$(stat -c %d:%i -- "$ROOT$1")" ]; }

do_mount() {
  [ -d "$ROOT/usr" ] || die "no chroot at $ROOT (run ./scripts/setup.sh)"
  # Binds of directories deleted since (e.g. an old CI clone) would pin their space: drop them.
  local stale
  while IFS= read -r stale; do umount -l -- "$stale" 2>/dev/null || true; done < <(
    awk -v root="$ROOT/" 'index($5, root) == 1 && $4 ~ /\/\/deleted$/ { print $5 }' /proc/self/mountinfo | sed -e 's/\\040/ /g')
  if ! is_mount_point "$ROOT/proc"; then
    mount -t proc proc "$ROOT/proc" || die "cannot mount /proc in $ROOT"
  fi
  local dir
  for dir in /dev /tmp "$CHECKOUT" "$@"; do
    dir=$(cd "$dir" && pwd -P) || die "no directory $dir to mount"
    visible_inside "$dir" && continue
    mkdir -p -- "$ROOT$dir"
    mount --bind -- "$dir" "$ROOT$dir" || die "cannot bind-mount $dir into $ROOT"
    visible_inside "$dir" || die "$dir is still not visible in $ROOT after mounting it"
  done
}

# Unmounts everything below the chroot (deepest first) and refuses to go on if anything stays:
# removing a chroot with /tmp or the checkout still bound into it would remove those.
unmount_all() {
  local p
  while IFS= read -r p; do
    umount -- "$p" 2>/dev/null || umount -l -- "$p" || true
  done < <(mount_points | grep -F -- "$ROOT/" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
  if mount_points | grep -qF -- "$ROOT/"; then die "cannot unmount what is mounted below $ROOT"; fi
}

# Built (the marker), and its Prosody 13 and Lua still there and runnable (that part only as root).
healthy() {
  [ -f "$MARKER" ] && [ -x "$ROOT/usr/bin/prosody" ] && [ -x "$ROOT/usr/bin/lua5.4" ] &&
    grep -q '^13\.' "$ROOT/usr/lib/prosody/prosody.version" 2>/dev/null &&
    { [ "$(id -u)" -ne 0 ] || in_root /usr/bin/lua5.4 -e 'os.exit(0)' >/dev/null 2>&1; }
}

build() {
  local mirror
  mirror=$(host_mirror) || die "no Debian mirror found in /etc/apt/sources.list* (set CLOUD_NOTIFYD_DEBIAN_MIRROR)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed"
  rm -f "$MARKER"
  if [ -e "$ROOT" ]; then
    unmount_all
    rm -rf --one-file-system -- "$ROOT" || die "cannot remove the partial chroot $ROOT"
  fi
  mkdir -p "$ROOT"
  echo "setup: building the Prosody 13 chroot in $ROOT (once; about 2 minutes; log: $LOG)" >&2
  : >"$LOG"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >>"$LOG" 2>&1 ||
    die "debootstrap $SUITE from $mirror failed (log: $LOG)"
  # No service may start inside the chroot while packages are installed.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  in_root apt-get install -y -q prosody lua5.4 >>"$LOG" 2>&1 ||
    die "apt-get install prosody lua5.4 inside the chroot failed (log: $LOG)"
  in_root apt-get clean >>"$LOG" 2>&1 || true
  local about
  about=$(in_root prosodyctl about 2>>"$LOG" | head -1) || true
  [[ "$about" =~ ^Prosody\ 13\. ]] || die "smoke check failed: prosodyctl about says '${about:-nothing}' (log: $LOG)"
  echo "$about" >"$MARKER"
  echo "setup: $about ready in $ROOT" >&2
}

cmd=${1:-ensure}
[ $# -gt 0 ] && shift
[ "$cmd" = status ] || [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount)"
case "$cmd" in
  status) healthy ;;
  mount)
    healthy || die "the chroot at $ROOT is missing or broken (run ./scripts/setup.sh)"
    do_mount "$@"
    ;;
  ensure)
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock 9
    healthy || build
    do_mount "$@"
    ;;
  *) echo "usage: $0 ensure|mount [DIR…]|status" >&2; exit 2 ;;
esac
