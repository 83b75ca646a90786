#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Logbook. Idempotent; safe to run again.
set -euo pipefail
packages=(liblmdb-dev libzstd-dev libssl-dev libcurl4-openssl-dev lmdb-utils pkg-config)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
