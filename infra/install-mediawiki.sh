#!/usr/bin/env bash
# Install what a throw-away MediaWiki on loopback needs (Debian 12 "bookworm": mediawiki 1:1.39),
# for the tests of the HTML path (wme_assets_tests/mediawiki_server.py) and for CI (.ci/run).
#
# Idempotent: when every package is already installed it only says so (no apt call at all), and
# `apt-get update` runs only when a package is missing. No web server is installed or started:
#   * mediawiki Depends `apache2 | httpd` -> micro-httpd (50 kB, never configured or started)
#   * php -> php8.2 Depends `libapache2-mod-php8.2 | php8.2-fpm | php8.2-cgi` -> php8.2-cgi
# Naming one alternative of each keeps apt from pulling apache2 (which would start on :80 on a
# machine with systemd). The tests serve the wiki with `php -S` on 127.0.0.1.
#
# `--force-unsafe-io` skips dpkg's fsync per file: mediawiki unpacks ~33k files, and that takes the
# first install from ~90 s to ~20 s. Safe on a CI machine (a crash mid-install means reinstall).
#
# Usage: infra/install-mediawiki.sh        (as root, or with sudo available)
# Env:   WME_MEDIAWIKI_PACKAGES  extra packages to add (e.g. "lua5.1" for Scribunto)
set -euo pipefail

PACKAGES=(mediawiki php-sqlite3 php-cli php-intl php-mbstring php-xml php8.2-cgi micro-httpd)
if [ -n "${WME_MEDIAWIKI_PACKAGES:-}" ]; then
  # shellcheck disable=SC2206  # word splitting intended: a space-separated list
  PACKAGES+=(${WME_MEDIAWIKI_PACKAGES})
fi

log() { echo "install-mediawiki: $*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "already installed: ${PACKAGES[*]}"
  exit 0
fi

command -v apt-get >/dev/null || fail "apt-get not found: this script supports Debian 12 (bookworm) only; install ${missing[*]} by hand"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "not root and no sudo: run as root to install ${missing[*]}"
  SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)

log "missing: ${missing[*]}"
log "running: apt-get update"
"${SUDO[@]}" apt-get update -qq \
  || fail "apt-get update failed (no network to the Debian mirror?); cannot install ${missing[*]}"

log "running: apt-get install --no-install-recommends -o Dpkg::Options::=--force-unsafe-io ${PACKAGES[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io "${PACKAGES[@]}" >/dev/null \
  || fail "apt-get install failed for: ${PACKAGES[*]} (see apt's messages above)"

for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || fail "apt-get reported success but $pkg is not installed"
done
[ -f /usr/share/mediawiki/maintenance/install.php ] || fail "mediawiki installed but /usr/share/mediawiki/maintenance/install.php is missing"
log "installed ${PACKAGES[*]} in $(( $(date +%s) - start )) s"
