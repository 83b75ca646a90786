#!/usr/bin/env bash
# Sets up a fresh machine, builds everything and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The toolchain's formatter, with the checked-in .swift-format: a file it would change fails the run
# (`swift format -i -r Sources Tests` fixes it).
swift format lint --strict -r Sources Tests
swift build --build-tests
# The PostgreSQL tests' server: a private cluster, stopped when the tests end, also when one fails. Without it they
# would be skipped; LOGBOOK_REQUIRE_POSTGRES makes that a failure here.
source ./scripts/postgres.sh
postgres_start
trap postgres_stop EXIT
export LOGBOOK_REQUIRE_POSTGRES=1
# The web page's test needs Chromium (installed by setup.sh): here its absence is a failure, not a skip.
export LOGBOOK_REQUIRE_BROWSER=1
# At most four tests at a time: Swift Testing otherwise starts all ~150 at once on the cooperative pool (one thread
# per core), where a test waiting on a timer or a child process can get no thread for minutes behind the CPU-bound
# ones. Measured here: the same run in 4m18s and 5.9 CPU-minutes against 5m50s and 8.3 unbounded.
SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=4 swift test --skip-build
