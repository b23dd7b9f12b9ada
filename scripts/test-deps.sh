#!/usr/bin/env bash
# Installs the Debian packages that `make test` drives as real parts: gammu and
# python3-gammu (an independent AT client and PDU codec), minisign (the
# auditor's signature checker), lintian and debootstrap (package checks),
# qemu-user-static and the cross toolchains (the Pi's architectures),
# systemd (systemd-analyze), udev (udevadm test of the modem rule) and zstd
# (the package test's cached Debian root). Only Debian's own packages, only when missing,
# only as root; otherwise it says what is missing and the tests that need it
# skip with that reason.
set -euo pipefail

want=(gammu python3-gammu minisign lintian debootstrap qemu-user-static
      crossbuild-essential-arm64 crossbuild-essential-armhf systemd fakeroot
      udev zstd)
[ "${SMSD_WANT_CHROMIUM:-0}" = 1 ] && want+=(chromium)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "test-deps: missing Debian packages: ${missing[*]}" >&2
  echo "test-deps: install them with: sudo apt-get install ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
