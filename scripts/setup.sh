#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks: Prosody 0.12 (+ community modules, for the
# reference comparison and the import test), slixmpp (the real XMPP client used by the e2e tests),
# a Prosody 13 chroot (scripts/prosody13-chroot.sh; built once, then only mounted) and the npm
# packages (Bun itself comes from npm, pinned in package-lock.json). A second run is a fast no-op.
# CLOUD_NOTIFYD_TEST_PROSODY=0.12 skips the Prosody 13 chroot (see test/helpers/prosody-versions.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
apt_pkgs=(prosody prosody-modules python3-slixmpp lua5.4 debootstrap chromium)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# A packaged Prosody may have been started by its postinst; our tests run their own instances.
if command -v systemctl >/dev/null && systemctl is-active --quiet prosody 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"; $sudo systemctl stop prosody || true
fi
if [ "${CLOUD_NOTIFYD_TEST_PROSODY:-all}" != "0.12" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env ${CLOUD_NOTIFYD_PROSODY13_DIR:+CLOUD_NOTIFYD_PROSODY13_DIR="$CLOUD_NOTIFYD_PROSODY13_DIR"} \
    ${CLOUD_NOTIFYD_DEBIAN_MIRROR:+CLOUD_NOTIFYD_DEBIAN_MIRROR="$CLOUD_NOTIFYD_DEBIAN_MIRROR"} ./scripts/prosody13-chroot.sh ensure
fi
[ -x node_modules/.bin/bun ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
