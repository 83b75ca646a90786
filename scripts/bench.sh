#!/usr/bin/env bash
# Runs the C reference benchmark (../shared/bench/limits) and then one of Logbook's benchmarks on the same machine,
# with the same number of events, and prints Logbook's figures with their ratios to the C ones.
# usage: scripts/bench.sh store|projections|postgres [EVENTS] [WORKDIR]   (defaults: 1000000, a new directory under /tmp)
#        scripts/bench.sh http [REQUESTS] [WORKDIR]                        (default 2000)
# `postgres` starts a private PostgreSQL cluster (scripts/postgres.sh), runs `bench store --store` on it next to
# pgbench on the same database, and stops it. `http` replays the shared conversation workload through LangGraph 1.2.22
# with its SqliteSaver (scripts/langgraph_reference.py, in a virtualenv under WORKDIR) and then through
# `logbook bench http`, which prints both side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in store|projections|postgres|http) ;; *) echo "usage: scripts/bench.sh store|projections|postgres|http [EVENTS] [WORKDIR]" >&2; exit 2 ;; esac
events=${2:-1000000}
work=${3:-$(mktemp -d /tmp/logbook-bench.XXXXXX)}
mkdir -p "$work"
if [ "$kind" = http ]; then
    ./scripts/setup.sh
    swift build -c release --product logbook
    bin=$(swift build -c release --show-bin-path)/logbook
    python3 ../shared/bench/workload/workload.py -T 200 -K 20 --seed 42 -o "$work/workload.json"
    if [ ! -x "$work/venv/bin/python" ] && ! python3 -m venv "$work/venv" 2>/dev/null; then
        SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$work/venv"
    fi
    "$work/venv/bin/pip" install --quiet langgraph==1.2.22 langgraph-checkpoint-sqlite==3.1.2
    echo "bench: LangGraph on the shared workload (a few minutes)..." >&2
    "$work/venv/bin/python" scripts/langgraph_reference.py "$work/workload.json" "$work/langgraph.json" >&2
    echo "bench: logbook bench http..." >&2
    "$bin" bench http --data "$work/log" --requests "${2:-2000}" --workload "$work/workload.json" \
        --reference "$work/langgraph.json"
    exit 0
fi
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
