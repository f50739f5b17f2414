# Shared by deploy/test, deploy/run and deploy/bench-*: install what is missing and run a
# project-local PostgreSQL cluster on 127.0.0.1. Source it; it defines functions only.
#
# PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres`
# user (created by the postgresql package).

ledger_log() { printf '[deploy] %s\n' "$*" >&2; }

# Installs the Debian packages the build and the tests need, if any is missing (extra names
# may be given: `ledger_ensure_packages wrk nginx`).
ledger_ensure_packages() {
    ledger_install_missing postgresql postgresql-contrib libpq-dev libcurl4-openssl-dev pkg-config openssl curl "$@"
}

# What building and running against an existing PostgreSQL needs (no server).
ledger_ensure_packages_for_build() {
    ledger_install_missing libpq-dev libcurl4-openssl-dev pkg-config postgresql-client curl
}

# ledger_install_missing PACKAGE...: apt-get installs those not installed yet.
ledger_install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    ledger_log "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The newest installed PostgreSQL server's bin directory.
ledger_pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { ledger_log "no PostgreSQL server found under /usr/lib/postgresql"; return 1; }
    printf '%s\n' "$dir"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
ledger_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A free TCP port on 127.0.0.1.
ledger_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ledger_start_cluster DATADIR PORT: initdb on first use, then start on 127.0.0.1:PORT.
# Durable settings (fsync, synchronous_commit) stay at their defaults: benchmarks measure the
# real thing. Sizing is what a ledger host should have: shared_buffers large enough for the
# hot part of the event table and its indexes (with the 128 MB default, or even 512 MB, a
# million-event import ends up with every backend writing out dirty pages, and flushing WAL
# for them, before it can insert: three times slower), a background writer that keeps clean
# buffers ready, and room for WAL between checkpoints.
ledger_start_cluster() {
    local data=$1 port=$2 bin
    bin=$(ledger_pg_bin)
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data" && chmod 700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        ledger_log "initdb $data"
        ledger_as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
    ledger_as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$data' -c max_connections=300 -c shared_buffers=${LEDGER_TEST_PG_SHARED_BUFFERS:-2GB} -c bgwriter_lru_maxpages=1000 -c bgwriter_delay=10ms -c max_wal_size=4GB" \
        start >/dev/null || { cat "$data/server.log" >&2; return 1; }
    ledger_log "PostgreSQL running on 127.0.0.1:$port (data $data)"
}

# Whether the cluster in DATA is running (a postmaster.pid left by a crash or a reboot is not).
ledger_cluster_running() {
    local data=$1 bin
    [ -f "$data/postmaster.pid" ] || return 1
    bin=$(ledger_pg_bin) || return 1
    ledger_as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

ledger_stop_cluster() {
    local data=$1 bin
    bin=$(ledger_pg_bin) || return 0
    [ -f "$data/postmaster.pid" ] && ledger_as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# Builds the executable and applies db/ migrations to the database at URL.
ledger_migrate() {
    local url=$1 config=${2:-debug}
    swift build -c "$config" --product error-ledger >&2
    "$(swift build -c "$config" --show-bin-path)/error-ledger" migrate --database-url "$url" --migrations-dir db
}
