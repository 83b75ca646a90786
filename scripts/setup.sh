#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Logbook (Debian packages, PyPI test peers).
# Idempotent; safe to run again.
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

# Test peers from PyPI: a real MCP server (stdio), PyJWT (mints the tokens the engine's tests verify), the official
# OpenAI client, and schemathesis (fuzzes the server against /openapi.json; pinned, its command line changes).
peers=(mcp-server-time 'pyjwt[crypto]' openai 'schemathesis==4.32.5')
if ! python3 -c "import mcp_server_time, jwt, cryptography, openai, schemathesis" 2>/dev/null || ! command -v schemathesis >/dev/null; then
    echo "setup: installing ${peers[*]} from PyPI" >&2
    if ! python3 -m pip --version >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
    fi
    # Debian's own Python refuses system-wide pip installs (PEP 668) unless told otherwise.
    python3 -m pip install --quiet "${peers[@]}" 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages "${peers[@]}"
fi
