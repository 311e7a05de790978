#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks: Prosody (+ community modules, for the reference
# comparison and the import test), slixmpp (the real XMPP client used by the e2e tests) and
# the npm packages (Bun itself comes from npm, pinned in package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
apt_pkgs=(prosody prosody-modules python3-slixmpp lua5.4)
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
[ -x node_modules/.bin/bun ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
