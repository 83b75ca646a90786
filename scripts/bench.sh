#!/usr/bin/env bash
# Runs the C reference benchmark (../shared/bench/limits) and then one of Logbook's benchmarks on the same machine,
# with the same number of events, and prints Logbook's figures with their ratios to the C ones.
# usage: scripts/bench.sh store|projections|postgres [EVENTS] [WORKDIR]   (defaults: 1000000, a new directory under /tmp)
# `postgres` starts a private PostgreSQL cluster (scripts/postgres.sh), runs `bench store --store` on it next to
# pgbench on the same database, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in store|projections|postgres) ;; *) echo "usage: scripts/bench.sh store|projections|postgres [EVENTS] [WORKDIR]" >&2; exit 2 ;; esac
events=${2:-1000000}
work=${3:-$(mktemp -d /tmp/logbook-bench.XXXXXX)}
mkdir -p "$work"
limits=../shared/bench/limits
[ -x "$limits/run.sh" ] || { echo "bench: $limits/run.sh not found (../shared must sit beside the checkout)" >&2; exit 1; }
./scripts/setup.sh
swift build -c release --product logbook
bin=$(swift build -c release --show-bin-path)/logbook
echo "bench: C reference, $events events (this takes a few minutes)..." >&2
"$limits/run.sh" "$work" "$events" > "$work/limits.md"
echo "bench: logbook $kind, $events events..." >&2
if [ "$kind" = postgres ]; then
    source scripts/postgres.sh
    postgres_start
    trap postgres_stop EXIT
    "$bin" bench store --data "$work/log" --events "$events" --reference "$work/limits.md" --store "$LOGBOOK_TEST_POSTGRES"
    "$bin" verify --store "$LOGBOOK_TEST_POSTGRES"
else
    "$bin" bench "$kind" --data "$work/log" --events "$events" --reference "$work/limits.md"
    "$bin" verify --data "$work/log"
fi
echo "bench: C output in $work/limits.md; the log is in $work/log" >&2
