#!/usr/bin/env bash
# Runs the C reference benchmark (../shared/bench/limits) and `logbook bench store` on the same machine, one after the
# other, with the same number of events, and prints Logbook's figures with their ratios to the C ones.
# usage: scripts/bench-store.sh [EVENTS] [WORKDIR]     (defaults: 1000000, a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
work=${2:-$(mktemp -d /tmp/logbook-bench.XXXXXX)}
limits=../shared/bench/limits
[ -x "$limits/run.sh" ] || { echo "bench-store: $limits/run.sh not found (../shared must sit beside the checkout)" >&2; exit 1; }
./scripts/setup.sh
swift build -c release --product logbook
bin=$(swift build -c release --show-bin-path)/logbook
echo "bench-store: C reference, $events events (this takes a few minutes)..." >&2
"$limits/run.sh" "$work" "$events" > "$work/limits.md"
echo "bench-store: logbook, $events events..." >&2
"$bin" bench store --data "$work/log" --events "$events" --reference "$work/limits.md"
"$bin" verify --data "$work/log"
echo "bench-store: C output in $work/limits.md; the log is in $work/log" >&2
