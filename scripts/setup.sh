#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test Logbook (Debian packages, PyPI test peers).
# Idempotent; safe to run again.
set -euo pipefail
# postgresql: the server the PostgreSQL tests start privately (scripts/postgres.sh); never started as a service.
# chromium, chromium-driver: the headless browser the web page's test drives (WebPageTests, through selenium).
packages=(liblmdb-dev libzstd-dev libssl-dev libcurl4-openssl-dev lmdb-utils pkg-config postgresql chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # The tests start a private PostgreSQL cluster of their own: the package need not create and start a system one
    # (confold keeps this setting when the package brings its own).
    if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q "install ok installed"; then
        $SUDO mkdir -p /etc/postgresql-common
        [ -e /etc/postgresql-common/createcluster.conf ] \
            || echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi

# Test peers from PyPI: a real MCP server (stdio), PyJWT (mints the tokens the engine's tests verify), the official
# OpenAI client, schemathesis (fuzzes the server against /openapi.json), selenium (drives Chromium through the web
# page) and opentelemetry-proto (the test collector decodes OTLP with it). Pinned, so a new release cannot change the
# tests under us: `mcp` 2.x also takes twice the CPU to import (~8 s against ~4.5 s here), which every MCP server a
# test starts pays.
peers=('mcp==1.27.0' 'mcp-server-time==2026.1.26' 'pyjwt[crypto]' openai 'schemathesis==4.32.5' 'selenium==4.27.1'
    'opentelemetry-proto==1.45.2')
installed() {
    python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, importlib.util as u, sys
pins = {"mcp": "1.27.0", "mcp-server-time": "2026.1.26", "schemathesis": "4.32.5", "selenium": "4.27.1",
        "opentelemetry-proto": "1.45.2"}
ok = all(m.version(name) == version for name, version in pins.items())
ok = ok and all(u.find_spec(module) for module in ("jwt", "cryptography", "openai"))
sys.exit(0 if ok else 1)
PY
}
if ! installed || ! command -v schemathesis >/dev/null; then
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
