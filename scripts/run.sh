#!/usr/bin/env bash
# Sets up a fresh machine, builds logbook (release) and runs the store benchmark on the embedded LMDB log in
# ./data/bench, then shows the log's statistics and verifies it. Pass --events N to change the size (default 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product logbook
bin=$(swift build -c release --show-bin-path)/logbook
rm -rf ./data/bench
"$bin" bench store --data ./data/bench --events 200000 "$@"
"$bin" stats --data ./data/bench
"$bin" verify --data ./data/bench
