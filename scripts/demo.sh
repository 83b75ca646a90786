#!/usr/bin/env bash
# Sets up a fresh machine, builds logbook (release), and runs the store and projection benchmarks end to end on the
# embedded LMDB store:
# the event store benchmark on ./data/bench (then its statistics and a full verify), and the projections benchmark on
# a log of simulated agent conversations in ./data/projections (rebuild, checkpoint, start-up, audit queries).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product logbook
bin=$(swift build -c release --show-bin-path)/logbook
rm -rf ./data/bench ./data/projections
"$bin" bench store --data ./data/bench --events 200000
"$bin" stats --data ./data/bench
"$bin" verify --data ./data/bench
"$bin" bench projections --data ./data/projections --events 200000
"$bin" events --data ./data/projections --from 100 --limit 5
