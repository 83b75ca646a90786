#!/usr/bin/env bash
# A private PostgreSQL for tests and benchmarks: its own cluster in a temporary directory, listening on a free port of
# 127.0.0.1 and on a socket in that directory, trusted for its own user only. Source this file, then:
#   postgres_start      # starts it; exports LOGBOOK_TEST_POSTGRES=postgres://logbook@127.0.0.1:PORT/postgres
#   postgres_stop       # stops it and deletes the cluster (test.sh does this on exit, also when a test fails)
#   postgres_pause / postgres_resume   # stops and starts it again, keeping its data (the outage tests)
# Needs Debian's `postgresql` (setup.sh installs it). As root, the server runs as the `postgres` user (initdb refuses
# root).

postgres_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

postgres_start() {
    local bin; bin="$(postgres_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "postgres: Debian's postgresql is not installed (./scripts/setup.sh installs it)" >&2
        return 1
    fi
    POSTGRES_DIR="$(mktemp -d /tmp/logbook-postgres.XXXXXX)"
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    [ "$(id -u)" -eq 0 ] && chown postgres "$POSTGRES_DIR"
    postgres_as_owner "$bin/initdb" -D "$POSTGRES_DIR/data" -U logbook --auth=trust -E UTF8 --no-locale >"$POSTGRES_DIR/initdb.log" 2>&1 \
        || { cat "$POSTGRES_DIR/initdb.log" >&2; return 1; }
    # In its configuration, so that a plain `pg_ctl start` starts it the same way again. Durable commits (fsync and
    # synchronous_commit stay on); enough connections for several servers and benchmarks.
    cat >>"$POSTGRES_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$POSTGRES_DIR'
max_connections = 300
CONF
    export POSTGRES_DIR POSTGRES_PORT="$port" POSTGRES_BIN="$bin"
    postgres_resume || return 1
    export LOGBOOK_TEST_POSTGRES="postgres://logbook@127.0.0.1:$port/postgres?sslmode=disable"
    echo "postgres: a private cluster on 127.0.0.1:$port ($POSTGRES_DIR)" >&2
}

postgres_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_resume() {
    postgres_as_owner "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DIR/data" -l "$POSTGRES_DIR/server.log" -w -t 60 start \
        >/dev/null || { cat "$POSTGRES_DIR/server.log" >&2; return 1; }
}

postgres_pause() {
    postgres_as_owner "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DIR/data" -m fast -w stop >/dev/null
}

postgres_stop() {
    [ -n "${POSTGRES_DIR:-}" ] && [ -d "$POSTGRES_DIR/data" ] || return 0
    postgres_as_owner "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$POSTGRES_DIR"
    unset POSTGRES_DIR
}
