#!/usr/bin/env bash
# Installs the real parts that `make test` drives: Debian's gammu and
# python3-gammu (an independent AT client and PDU codec), minisign (the
# auditor's signature checker), lintian and debootstrap (package checks),
# qemu-user-static and the cross toolchains (the Pi's architectures),
# systemd (systemd-analyze), udev (udevadm test of the modem rule), zstd
# (the package test's cached Debian root) and chromium (the web UI's browser
# tests, e2e/browser*_test.go); then axe-core from the npm registry (the
# browser tests' accessibility checker) into a cache directory outside the
# repository. Debian's packages only when missing and only as root; otherwise
# it says what is missing and the tests that need it skip with that reason.
set -euo pipefail

want=(gammu python3-gammu minisign lintian debootstrap qemu-user-static
      crossbuild-essential-arm64 crossbuild-essential-armhf systemd fakeroot
      udev zstd chromium)
# npm for axe-core below: Debian's, unless the machine has its own Node.js
# with npm (nodesource's nodejs package carries npm itself).
command -v npm >/dev/null || want+=(npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test-deps: missing Debian packages: ${missing[*]}" >&2
    echo "test-deps: install them with: sudo apt-get install ${missing[*]} (tests that need them will skip)" >&2
  else
    echo "test-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# axe-core, pinned, for the browser tests (they read axe.min.js from here;
# SMSD_AXE names another copy). Installed only when missing; it needs no
# root, so every developer gets it.
AXE_VERSION=4.10.3
axe_dir="${XDG_CACHE_HOME:-$HOME/.cache}/smsd-test"
axe_js="$axe_dir/node_modules/axe-core/axe.min.js"
have=""
[ -f "$axe_dir/node_modules/axe-core/package.json" ] &&
  have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$axe_dir/node_modules/axe-core/package.json" | head -n1)
if [ ! -f "$axe_js" ] || [ "$have" != "$AXE_VERSION" ]; then
  if ! command -v npm >/dev/null; then
    echo "test-deps: npm not found: cannot install axe-core@$AXE_VERSION (the browser tests will skip)" >&2
    exit 0
  fi
  echo "test-deps: installing axe-core@$AXE_VERSION into $axe_dir" >&2
  mkdir -p "$axe_dir"
  npm install --prefix "$axe_dir" --no-audit --no-fund --no-save --loglevel=error "axe-core@$AXE_VERSION" >&2
fi
