#!/usr/bin/env bash
# The real services of the multi-node tests (tests/integration/lib/services.bash)
# do what they say: PostgreSQL 15 in a scratch folder run by an unprivileged
# user, answering the dmsec role over TCP with its password only, its data
# kept over a stop and a start; HAProxy in front of three dmsec-server
# nodes spreading requests over them, a killed node marked down and the
# requests going on through the others; everything stopped at the end.
# Each node has its own SQLite store for now (a device is known to one
# node only): only /healthz and /metrics go through the balancer.
# usage: services.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
# shellcheck source=lib/services.bash
. "$(dirname "$0")/lib/services.bash"
need_programs services "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql" "$PG_BIN/pg_isready" haproxy \
    socat curl setpriv
cd "$work" || exit 1
SID=srvA

# end: the summary, and the script ends failed.
end() {
    echo "integration services: $pass passed, $fail failed"
    exit 1
}
# alive PID: the process runs (a zombie counts as gone).
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# gone PID: the process has ended, or does within 5 s (pg_ctl stop -w
# returns once the pid file is gone, a moment before the postmaster exits).
gone() {
    for _ in $(seq 1 50); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# ---- PostgreSQL ----
start_postgres "$work/pg" 2>"$work/err" && ok "postgres starts (initdb in the scratch folder)" || {
    bad "postgres starts: $(tail -3 "$work/err")"
    end
}
want_uid=$(id -u)
[ "$want_uid" -eq 0 ] && want_uid=$(id -u "$TEST_USER")
got_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$PG_PID/status")
if [ "$got_uid" = "$want_uid" ] && [ "$got_uid" != 0 ]; then
    ok "the postmaster runs unprivileged (uid $got_uid)"
else
    bad "the postmaster's uid is $got_uid, want $want_uid (not root)"
fi
[ "$(stat -c %a "$PG_PASSWORD_FILE")" = 600 ] && ok "the role's password file is mode 600" ||
    bad "the password file is mode $(stat -c %a "$PG_PASSWORD_FILE")"
grep -q "password=" <<<"$PG_CONNINFO" && bad "the password is in the conninfo" ||
    ok "the conninfo names a passfile, not the password"
expect "fsync is on" test "$(pg_sql "$PG_ADMIN" "SHOW fsync")" = on
expect "dmsec answers over TCP with its password" test \
    "$(pg_sql "$PG_CONNINFO" "SELECT current_user || ' ' || inet_server_addr()")" = "dmsec 127.0.0.1/32"
refuse "a wrong password is refused" pg_sql \
    "host=127.0.0.1 port=$PG_PORT dbname=dmsec user=dmsec password=not-$(cat "$PG_PASSWORD_FILE")" \
    "SELECT 1"
refuse "the superuser gets no trust over TCP" pg_sql \
    "host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres passfile=/dev/null" "SELECT 1"
grep -q "password authentication failed" "$PG_DIR/log" && ok "the server logged the refusals" ||
    bad "no refusal in the server's log"
row=kept-$RANDOM$RANDOM
expect "a row is committed" pg_sql "$PG_CONNINFO" "CREATE TABLE t (v text); INSERT INTO t VALUES ('$row')"
old_pid=$PG_PID
expect "postgres stops (pg_ctl stop -m fast)" stop_postgres
gone "$old_pid" && ok "the postmaster is gone" || bad "the postmaster $old_pid still runs"
refuse "nothing answers on its port meanwhile" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
expect "postgres starts again on the same folder" pg_start_again
expect "the row is still there" test "$(pg_sql "$PG_CONNINFO" "SELECT v FROM t")" = "$row"

# ---- HAProxy in front of three nodes ----
NODE_PORTS=() NODE_PIDS=()
for i in 1 2 3; do
    DB=$work/node$i.db P=
    start_server P "$work/node$i.log" && ok "node $i starts" || {
        bad "node $i starts: $(tail -3 "$work/node$i.log")"
        end
    }
    NODE_PORTS+=("$P") NODE_PIDS+=("$server_pid")
done
LB=
if start_haproxy LB "127.0.0.1:${NODE_PORTS[0]}" "127.0.0.1:${NODE_PORTS[1]}" \
    "127.0.0.1:${NODE_PORTS[2]}" 2>"$work/err"; then
    ok "haproxy starts, the three nodes up"
else
    bad "haproxy starts: $(tail -q -n 3 "$work/err" "$work/haproxy.log")"
    end
fi
got_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$HAPROXY_PID/status")
[ "$got_uid" = "$want_uid" ] && ok "haproxy runs unprivileged (uid $got_uid)" ||
    bad "haproxy's uid is $got_uid, want $want_uid"

# requests N PATH: N GETs of PATH through the balancer, each on a new
# connection; prints how many answered 200.
requests() {
    local n=0 code
    for _ in $(seq 1 "$1"); do
        code=$(curl -s -o "$work/answer" -w '%{http_code}' "http://127.0.0.1:$LB$2")
        [ "$code" = 200 ] && n=$((n + 1))
    done
    echo "$n"
}
# counts: the requests HAProxy sent to n1, n2, n3 so far, space-separated.
counts() { echo "$(haproxy_stat n1 req_tot) $(haproxy_stat n2 req_tot) $(haproxy_stat n3 req_tot)"; }

read -r b1 b2 b3 <<<"$(counts)"
expect "30 /healthz through the balancer answer 200" test "$(requests 30 /healthz)" = 30
expect "30 /metrics through the balancer answer 200" test "$(requests 30 /metrics)" = 30
expect "a node's metrics came through" grep -q '^dmsec_' "$work/answer"
read -r a1 a2 a3 <<<"$(counts)"
d1=$((a1 - b1)) d2=$((a2 - b2)) d3=$((a3 - b3))
# Round robin over new connections: 20 each, give or take the checks' timing.
if [ $((d1 + d2 + d3)) -eq 60 ] && [ "$d1" -ge 10 ] && [ "$d2" -ge 10 ] && [ "$d3" -ge 10 ]; then
    ok "spread over the three nodes: $d1 $d2 $d3 requests"
else
    bad "spread over the nodes: $d1 $d2 $d3 requests (want 60 in all, each at least 10)"
fi

# ---- a node killed ----
kill -9 "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" 2>/dev/null # (bash reports the kill on stderr)
down=
for _ in $(seq 1 100); do
    case $(haproxy_stat n2 status) in DOWN*) down=1 && break ;; esac
    sleep 0.1
done
[ -n "$down" ] && ok "node 2 killed: haproxy marks it down" || bad "node 2 is $(haproxy_stat n2 status)"
expect "n1 and n3 still up" test "$(haproxy_up | tr '\n' ' ')" = "n1 n3 "
read -r b1 b2 b3 <<<"$(counts)"
expect "30 /healthz through the balancer still answer 200" test "$(requests 30 /healthz)" = 30
read -r a1 a2 a3 <<<"$(counts)"
d1=$((a1 - b1)) d2=$((a2 - b2)) d3=$((a3 - b3))
if [ "$d2" -eq 0 ] && [ $((d1 + d3)) -eq 30 ] && [ "$d1" -ge 10 ] && [ "$d3" -ge 10 ]; then
    ok "the others take them: $d1 $d3 requests, none to node 2"
else
    bad "after the kill: $d1 $d2 $d3 requests to n1 n2 n3 (want 0 to n2, 30 in all)"
fi
# Node 2 back on its port: the checks bring it up again.
DB=$work/node2.db P=${NODE_PORTS[1]}
expect "node 2 starts again" start_server P "$work/node2.log"
NODE_PIDS[1]=$server_pid
up=
for _ in $(seq 1 100); do
    [ "$(haproxy_up | wc -l)" -eq 3 ] && up=1 && break
    sleep 0.1
done
[ -n "$up" ] && ok "node 2 back: haproxy marks it up" || bad "node 2 is $(haproxy_stat n2 status)"

# ---- everything stopped ----
for p in "${NODE_PIDS[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
done
ha=$HAPROXY_PID pg=$PG_PID
stop_haproxy
stop_postgres
left=
for p in "${NODE_PIDS[@]}" "$ha" "$pg"; do gone "$p" || left+=" $p"; done
[ -z "$left" ] && ok "no node, haproxy or postgres left running" || bad "still running:$left"
pgrep -u "$want_uid" -f "$PG_DIR" >/dev/null && bad "a postgres process of $PG_DIR is left" ||
    ok "no process of the cluster's folder left"

echo "integration services: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
