# Real services for the integration tests (sourced after common.bash, not
# run): a PostgreSQL 15 cluster of the test's own (initdb in a scratch
# folder, run by an unprivileged user, on a loopback port) and HAProxy in
# front of loopback HTTP servers. Both are stopped by common.bash's cleanup
# (exit_hooks), so a failing test leaves neither behind. The harness of the
# multi-node work (issue 13); docs/DEPLOYMENT.md.

# PostgreSQL's server programs (Debian's postgresql-15): initdb, pg_ctl,
# pg_isready, psql.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# The unprivileged user the services run as when the tests run as root.
TEST_USER=${TEST_USER:-dmsec-test}

# as_test_user COMMAND...: runs COMMAND as $TEST_USER when root (the user is
# created first, a system user without a home or a shell), as the caller
# otherwise (already unprivileged). TEST_AS is the prefix that does it
# (setpriv, which execs: a process started in the background with
# "${TEST_AS[@]}" COMMAND & has $! for its pid).
TEST_AS=()
if [ "$(id -u)" -eq 0 ]; then
    TEST_AS=(setpriv --reuid "$TEST_USER" --regid "$TEST_USER" --clear-groups --)
fi
as_test_user() {
    if [ "$(id -u)" -eq 0 ] && ! id -u "$TEST_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            "$TEST_USER" || return 1
    fi
    "${TEST_AS[@]}" "$@"
}

# test_user_owns PATH...: PATH (made if missing) owned by $TEST_USER and mode
# 700; the folders above it only traversable by others (not readable).
test_user_owns() {
    local p
    for p in "$@"; do
        mkdir -p "$p" || return 1
        chmod 700 "$p"
        [ "$(id -u)" -eq 0 ] || continue
        as_test_user true || return 1
        chown "$TEST_USER:$TEST_USER" "$p" || return 1
        chmod a+x "$(dirname "$p")"
    done
}

# start_postgres DIR: a new cluster in DIR/data (initdb), run as $TEST_USER
# with fsync on, listening on 127.0.0.1 on a free port and on a unix socket
# in DIR only (the admin's way in: trust, for the socket's owner; TCP needs
# a SCRAM password). Creates role and database "dmsec" (the role's password
# random, in DIR/../pg.password and in the libpq passfile DIR/../pgpass,
# both mode 600 and owned by the caller). Sets and exports:
#   PG_DIR, PG_PORT, PG_SOCKET_DIR, PG_PASSWORD_FILE,
#   PG_CONNINFO  the libpq conninfo of the dmsec role over TCP (its
#                password by passfile, never in the string),
#   PG_ADMIN     the conninfo of the superuser "postgres" over the socket.
# Non-zero (DIR/log's last lines on stderr) when it does not come up.
start_postgres() {
    local dir=$1 port pw
    PG_DIR=$dir PG_SOCKET_DIR=$dir/sock
    test_user_owns "$dir" || return 1
    as_test_user mkdir -m 700 "$dir/sock" || return 1
    as_test_user "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir.initdb.log" 2>&1 || {
        tail -5 "$dir.initdb.log" >&2
        return 1
    }
    port=$(free_port)
    # Durability is measured: fsync and synchronous commit stay on.
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
unix_socket_permissions = 0700
fsync = on
synchronous_commit = on
password_encryption = scram-sha-256
EOF
    PG_PORT=$port
    pg_start_again || return 1
    PG_ADMIN="host=$dir/sock port=$port dbname=postgres user=postgres"
    pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (umask 077 && printf '%s\n' "$pw" >"$(dirname "$dir")/pg.password" &&
        printf '127.0.0.1:%s:dmsec:dmsec:%s\n' "$port" "$pw" >"$(dirname "$dir")/pgpass") || return 1
    PG_PASSWORD_FILE=$(dirname "$dir")/pg.password
    # The password goes by stdin: not in any process's arguments.
    printf "CREATE ROLE dmsec LOGIN PASSWORD '%s';\nCREATE DATABASE dmsec OWNER dmsec;\n" "$pw" |
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN" >/dev/null || return 1
    PG_CONNINFO="host=127.0.0.1 port=$port dbname=dmsec user=dmsec passfile=$(dirname "$dir")/pgpass"
    export PG_DIR PG_PORT PG_SOCKET_DIR PG_PASSWORD_FILE PG_CONNINFO PG_ADMIN
}

# pg_start_again: starts the cluster start_postgres made (after
# stop_postgres: the same folder, its data kept) and waits until it accepts
# connections on its TCP port. Sets PG_PID (the postmaster).
pg_start_again() {
    [ -z "${pg_hooked:-}" ] && exit_hooks+=(stop_postgres) && pg_hooked=1
    as_test_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 start >/dev/null || {
        tail -5 "$PG_DIR/log" >&2
        return 1
    }
    for _ in $(seq 1 100); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.1
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || return 1
    PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
}

# stop_postgres: pg_ctl stop -m fast on the cluster, when it runs (the
# folder is kept: pg_start_again starts it again).
stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
    as_test_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

# pg_sql CONNINFO SQL: SQL's result as unaligned rows (psql -At), errors on
# stderr; non-zero when it fails.
pg_sql() {
    "$PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 "$1" -c "$2"
}

# start_haproxy PORT_VAR SERVER...: HAProxy (run as $TEST_USER, in the
# foreground with -db, its pid in pids and in HAPROXY_PID) on 127.0.0.1 on
# a free port, stored in the variable named PORT_VAR, balancing HTTP over
# the SERVERs (HOST:PORT, named n1, n2, ... in that order). Its config is
# $work/haproxy.cfg, its stats socket $work/haproxy/stats.sock (HAPROXY_SOCK;
# haproxy_cmd). Waits until a server answers /healthz through it and every
# SERVER is seen up by the health checks. HAPROXY_BALANCE (roundrobin by
# default) is the balance algorithm. Non-zero when it does not come up.
start_haproxy() {
    local var=$1 port i=0 s
    port=$(free_port)
    printf -v "$var" %s "$port"
    HAPROXY_SOCK=$work/haproxy/stats.sock
    test_user_owns "$work/haproxy" || return 1
    {
        cat <<EOF
global
    stats socket $HAPROXY_SOCK mode 600 level admin
    maxconn 4096

defaults
    mode http
    # A DM session is a few POSTs over one keep-alive connection: client
    # and server connections kept; a request that cannot connect (a node
    # gone before the checks noticed) is retried on another node.
    option http-keep-alive
    option prefer-last-server
    http-reuse safe
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    timeout queue 10s

frontend dm
    bind 127.0.0.1:$port
    default_backend nodes

backend nodes
    balance ${HAPROXY_BALANCE:-roundrobin}
    # dmsec-server answers GET /healthz with 200 while it serves HTTP.
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 300ms fall 2 rise 2
EOF
        for s in "${@:2}"; do
            i=$((i + 1))
            echo "    server n$i $s"
        done
    } >"$work/haproxy.cfg"
    haproxy -c -q -f "$work/haproxy.cfg" || return 1
    "${TEST_AS[@]}" haproxy -db -f "$work/haproxy.cfg" >>"$work/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    pids+=("$HAPROXY_PID")
    [ -z "${ha_hooked:-}" ] && exit_hooks+=(stop_haproxy) && ha_hooked=1
    wait_up "http://127.0.0.1:$port/healthz" || return 1
    for _ in $(seq 1 100); do
        [ "$(haproxy_up | wc -l)" -eq $(($# - 1)) ] && return 0
        sleep 0.1
    done
    return 1
}

# stop_haproxy: ends the HAProxy start_haproxy started and waits for it.
stop_haproxy() {
    [ -n "${HAPROXY_PID:-}" ] || return 0
    kill "$HAPROXY_PID" 2>/dev/null
    wait "$HAPROXY_PID" 2>/dev/null
    HAPROXY_PID=
}

# haproxy_cmd COMMAND: HAProxy's answer to COMMAND (show stat, ...) on its
# stats socket.
haproxy_cmd() {
    echo "$1" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_SOCK"
}

# haproxy_stat SERVER FIELD: the field (a column of "show stat": status,
# req_tot, stot, ...) of server SERVER (n1, n2, ...) of the backend.
haproxy_stat() {
    haproxy_cmd "show stat" | awk -F, -v s="$1" -v f="$2" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == "nodes" && $2 == s { print $col[f] }'
}

# haproxy_up: the servers of the backend the health checks see up, one a line.
haproxy_up() {
    haproxy_cmd "show stat" | awk -F, '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == "nodes" && $2 != "BACKEND" && $col["status"] ~ /^UP/ { print $2 }'
}
