#!/usr/bin/env bash
# Sets up a fresh machine, builds logbook (release) and runs the server on the embedded LMDB store in ./data
# (http://127.0.0.1:8080). Without LOGBOOK_JWT_SECRET or --jwks it starts in development mode and prints a
# token to call it with. Extra arguments go to `logbook serve` (e.g. --port 9090).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product logbook
exec "$(swift build -c release --show-bin-path)/logbook" serve --data ./data "$@"
