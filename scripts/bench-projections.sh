#!/usr/bin/env bash
# Runs the C reference benchmark (for its scan + decompress figure) and `logbook bench projections` on the same
# machine, one after the other, and prints Logbook's figures with the ratio to the C scan.
# usage: scripts/bench-projections.sh [EVENTS] [WORKDIR]     (defaults: 1000000, a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
work=${2:-$(mktemp -d /tmp/logbook-bench.XXXXXX)}
limits=../shared/bench/limits
[ -x "$limits/run.sh" ] || { echo "bench-projections: $limits/run.sh not found (../shared must sit beside the checkout)" >&2; exit 1; }
./scripts/setup.sh
swift build -c release --product logbook
bin=$(swift build -c release --show-bin-path)/logbook
echo "bench-projections: C reference, $events events (this takes a few minutes)..." >&2
"$limits/run.sh" "$work" "$events" > "$work/limits.md"
echo "bench-projections: logbook, $events events..." >&2
"$bin" bench projections --data "$work/projections" --events "$events" --reference "$work/limits.md"
echo "bench-projections: C output in $work/limits.md; the log is in $work/projections" >&2
