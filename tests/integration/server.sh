#!/usr/bin/env bash
# dmsec-server end to end, with real processes, real sockets, a real SQLite
# file and real certificates: a scripted device (testdevice, built on the
# session engine) drives the server over HTTP and HTTPS.
# usage: server.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

DB=$work/dmsec.db
SID=dmsec-test
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT/dm
TLS_URL=https://127.0.0.1:$TLS_PORT/dm

# ---- certificates: a CA, the server's, a device's, and a stranger's ----
cd "$work" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=dmsec-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout dev.key -out dev.csr -subj /CN=IMEI:490154203237518 2>/dev/null
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out dev.pem -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout evil.key -out evil.pem -days 2 -subj /CN=IMEI:490154203237518 2>/dev/null
[ -s srv.pem ] && [ -s dev.pem ] && ok "certificates made" || bad "certificates"

start_http_server() { start_server HTTP_PORT "$work/server.log" && http_pid=$server_pid; }
start_tls_server() {
    start_server TLS_PORT "$work/server-tls.log" --tls-cert srv.pem --tls-key srv.key --client-ca ca.pem &&
        tls_pid=$server_pid
}
expect "server starts (HTTP)" start_http_server
expect "server starts (HTTPS, client certificates)" start_tls_server

# Registers a device with the tool and writes the device's own state file
# (what a bootstrap would have put in its DMAcc).
add_device() { device_state "$1" "$2" "$work/$1.state" "${3:-}"; } # id scheme [port]
session() { "$DEVICE" session --state "$work/$1.state" --url "$URL" "${@:2}"; }

# ---- every scheme, twice (the second on the nonces the first issued) ----
for scheme in basic md5 sha256 hmac-md5 hmac-sha256; do
    id="IMEI:35$RANDOM$RANDOM"
    expect "device add ($scheme)" add_device "$id" $scheme
    expect "session $scheme" session "$id"
    expect "session $scheme, WBXML, fresh nonces" session "$id" --codec wbxml
done
if "$TOOL" device list --db "$DB" --json | jq -e 'length == 5 and all(.[]; has("server_secret") | not)' >/dev/null; then
    ok "device list shows no secrets"
else bad "device list"; fi

# ---- stale nonce, wrong password ----
D=IMEI:490154203237511
add_device $D md5
sed -i 's/^client_nonce=.*/client_nonce=c3RhbGUtbm9uY2UtMTIzNA==/' "$work/$D.state"
expect "stale nonce: challenged, then accepted" session $D
cp "$work/$D.state" "$work/wrong.state"
sed -i 's/^client_secret=.*/client_secret=wrong-password/' "$work/wrong.state"
refuse "wrong password twice: refused" "$DEVICE" session --state "$work/wrong.state" --url "$URL"
if "$TOOL" audit --db "$DB" --json | jq -e "any(.[]; .device_id == \"$D\" and .event == \"auth_failed\")" >/dev/null; then
    ok "audit records the failures"
else bad "audit has no auth_failed for $D"; fi
expect "the real device still works" session $D

# ---- notifications over UDP ----
listen() { # id port
    "$DEVICE" listen --state "$work/$1.state" --url "$URL" --port "$2" --wait 10 >"$work/listen.out" 2>&1 &
    listen_pid=$!
    wait_line listening "$work/listen.out"
}
N=IMEI:490154203237512
NPORT=$(free_port)
add_device $N md5 "$NPORT"
expect "first session of $N" session $N
listen $N "$NPORT"
expect "notify sends package #0" "$TOOL" notify $N --db "$DB" --server-id $SID
if wait $listen_pid && grep -q "notification=verified.*nonce=stored" "$work/listen.out"; then
    ok "notification received over UDP, verified, session opened"
else bad "notification: $(cat "$work/listen.out")"; fi

# ---- seed 001 case 1: the device lost its nonces ----
"$DEVICE" lose-nonces --state "$work/$N.state"
listen $N "$NPORT"
"$TOOL" notify $N --db "$DB" --server-id $SID >/dev/null
wait_line "notification=" "$work/listen.out" # its verdict on the notification, whichever
kill $listen_pid 2>/dev/null
wait $listen_pid 2>/dev/null
grep -q "notification=ignored" "$work/listen.out" && ok "lost nonces: ordinary notification ignored" ||
    bad "lost nonces: $(cat "$work/listen.out")"
listen $N "$NPORT"
expect "resync notification sent" "$TOOL" notify $N --db "$DB" --server-id $SID --resync
if wait $listen_pid && grep -q "nonce=default" "$work/listen.out"; then
    ok "lost nonces: resync session on the default nonce"
else bad "resync: $(cat "$work/listen.out")"; fi
listen $N "$NPORT"
"$TOOL" notify $N --db "$DB" --server-id $SID >/dev/null
if wait $listen_pid && grep -q "nonce=stored" "$work/listen.out"; then
    ok "after resync, ordinary notifications work again"
else bad "after resync: $(cat "$work/listen.out")"; fi

# ---- seed 001 case 2: the server's database restored from an older copy ----
# One server after the other: the last to close its store checkpoints the
# WAL into the file (two closing at once may each leave it to the other).
stop_servers() {
    kill -TERM $tls_pid
    wait $tls_pid 2>/dev/null
    kill -TERM $http_pid
    wait $http_pid 2>/dev/null
}
stop_servers
cp "$DB" "$work/backup.db"
start_http_server && start_tls_server
# An eavesdropper records package #1 of a session held after the backup.
expect "session before the restore (package #1 recorded)" session $N --capture "$work/after-backup"
stop_servers
cp "$work/backup.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# The restored store holds the nonce that recorded Cred was built on again:
# replayed now it would authenticate; `dmsec store restored` replaces every
# device's client nonce, and the replay is refused.
expect "store restored: client nonces replaced" "$TOOL" store restored --db "$DB"
grep -qE "^[0-9]+ devices: client nonces replaced" "$work/out" && ok "store restored: counted its devices" ||
    bad "store restored said: $(cat "$work/out")"
start_http_server && start_tls_server
expect "a Cred recorded after the backup is refused after the restore" \
    "$DEVICE" replay --url "$URL" --capture "$work/after-backup"
listen $N "$NPORT"
expect "resync after restore" "$TOOL" notify $N --db "$DB" --server-id $SID --resync
if wait $listen_pid && grep -q "session=.*result=DMSEC_OK" "$work/listen.out" 2>/dev/null ||
    grep -q "server_authenticated=1 device_authenticated=1" "$work/listen.out"; then
    ok "restored database: resync brings the device back"
else bad "restored database: $(cat "$work/listen.out")"; fi
expect "restored database: ordinary session afterwards" session $N

# ---- seed 003: a captured nonce-0 package #1 replayed in a new session ----
R=IMEI:490154203237513
RPORT=$(free_port)
add_device $R md5 "$RPORT"
"$DEVICE" lose-nonces --state "$work/$R.state"
rsid=$("$TOOL" notify $R --db "$DB" --server-id $SID --resync --addr "udp://127.0.0.1:9")
expect "resync session with package #1 captured" session $R --session-id "$rsid" --resync --capture "$work/captured"
expect "replay of the captured package #1: refused" "$DEVICE" replay --url "$URL" --capture "$work/captured"
expect "the real device still authenticates" session $R

# ---- two racing replays of one nonce-0 package #1: no winner (no Cred on
# the default nonce is accepted; each gets a challenge it cannot answer) ----
# race CAPTURE: replays the captured package #1 twice at once; sets
# race_exits to the two exit codes (0: refused) and race_out to the answers.
race() {
    "$DEVICE" replay --url "$URL" --capture "$1" >"$1.r1" 2>&1 &
    local p1=$!
    "$DEVICE" replay --url "$URL" --capture "$1" >"$1.r2" 2>&1 &
    local p2=$! s1 s2
    wait $p1
    s1=$?
    wait $p2
    s2=$?
    race_exits="$s1 $s2"
    race_out=$(cat "$1.r1" "$1.r2")
}
W=IMEI:490154203237514
add_device $W md5
"$DEVICE" lose-nonces --state "$work/$W.state"
wsid=$("$TOOL" notify $W --db "$DB" --server-id $SID --resync --addr "udp://127.0.0.1:9")
"$DEVICE" make-pkg1 --state "$work/$W.state" --url "$URL" --session-id "$wsid" --resync --capture "$work/race"
race "$work/race"
if [ "$race_exits" = "0 0" ] && [ "$(grep -c "synchdr_status=401" <<<"$race_out")" -eq 2 ]; then
    ok "racing replays: both refused (401 + Chal)"
else bad "racing replays: exits $race_exits: $race_out"; fi

# ---- two racing replays of one ordinary package #1 (never sent by the
# device): exactly one authenticates; the nonce is used once, even when
# the second arrives before the first session's new nonce is stored ----
V=IMEI:490154203237515
add_device $V md5
"$DEVICE" make-pkg1 --state "$work/$V.state" --url "$URL" --session-id 3C4D --capture "$work/race-v"
race "$work/race-v"
case $race_exits in
"0 1" | "1 0") ok "racing sessions on one nonce: exactly one authenticated" ;;
*) bad "racing sessions on one nonce: exits $race_exits: $race_out" ;;
esac

# ---- TLS with client certificates ----
T=IMEI:490154203237518
add_device $T md5
"$TOOL" device remove --db "$DB" --device-id $T >/dev/null
"$TOOL" device add --db "$DB" --device-id $T --client-name $T --client-secret unused-$RANDOM \
    --scheme md5 --server-id $SID --cert-subject $T --json >"$work/t.json"
sed -i "s/^server_secret=.*/server_secret=$(jq -r .server_secret "$work/t.json")/; s/^client_nonce=.*/client_nonce=$(jq -r .client_nonce_b64 "$work/t.json" | sed 's/[\/&]/\\&/g')/; s/^server_nonce=.*/server_nonce=$(jq -r .server_nonce_b64 "$work/t.json" | sed 's/[\/&]/\\&/g')/" "$work/$T.state"
expect "HTTPS session with a client certificate (no application credential needed)" \
    "$DEVICE" session --state "$work/$T.state" --url "$TLS_URL" --ca ca.pem --cert dev.pem --key dev.key
refuse "a certificate from another CA is refused" \
    "$DEVICE" session --state "$work/$T.state" --url "$TLS_URL" --ca ca.pem --cert evil.pem --key evil.key
refuse "without a certificate, the wrong application secret is refused" \
    "$DEVICE" session --state "$work/$T.state" --url "$TLS_URL" --ca ca.pem
HS=IMEI:490154203237519
add_device $HS sha256
expect "HTTPS session without certificate, application-layer auth" \
    "$DEVICE" session --state "$work/$HS.state" --url "$TLS_URL" --ca ca.pem

# ---- malformed bodies: an error status, and the server keeps serving ----
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/vnd.syncml.dm+xml' \
    --data-binary '<SyncML><SyncHdr>' "$URL")
[ "$code" = 400 ] && ok "truncated XML: HTTP 400" || bad "truncated XML: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/vnd.syncml.dm+wbxml' \
    --data-binary $'\x02\xa4\x01\x6a\x00\x6d\xff\xff' "$URL")
[ "$code" = 400 ] && ok "bad WBXML: HTTP 400" || bad "bad WBXML: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data-binary 'hello' "$URL")
[ "$code" = 415 ] && ok "wrong content type: HTTP 415" || bad "wrong content type: HTTP $code"
head -c 400000 /dev/zero >"$work/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/vnd.syncml.dm+xml' \
    --data-binary @"$work/big" "$URL")
[ "$code" = 413 ] && ok "oversized body: HTTP 413" || bad "oversized body: HTTP $code"
expect "the server still serves" session $D

# ---- health and metrics ----
[ "$(curl -s "http://127.0.0.1:$HTTP_PORT/healthz")" = ok ] && ok "/healthz" || bad "/healthz"
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$work/metrics"
for m in dmsec_sessions_total dmsec_auth_results_total dmsec_notifications_sent_total \
    dmsec_resyncs_total dmsec_request_duration_seconds_bucket; do
    grep -q "^$m" "$work/metrics" && ok "metric $m" || bad "metric $m missing"
done
if grep -q -E "cs-[0-9]+-|$(grep '^server_secret=' "$work/$D.state" | cut -d= -f2)" "$work/server.log"; then
    bad "a secret reached the log"
else ok "no secret in the log"; fi

# ---- kill -9 in the middle of sessions, restart, nobody locked out ----
ids=()
for i in 1 2 3 4 5 6; do
    id="IMEI:4901542032376$i$i"
    add_device "$id" md5 && ids+=("$id")
done
for round in 1 2 3; do
    spids=()
    for id in "${ids[@]}"; do
        session "$id" >/dev/null 2>&1 &
        spids+=($!)
    done
    sleep 0.0$((RANDOM % 9 + 1))
    kill -9 $http_pid
    wait $http_pid 2>/dev/null
    wait "${spids[@]}" 2>/dev/null
    start_http_server || bad "restart after kill -9"
done
locked=0
for id in "${ids[@]}"; do
    # At most one challenge round: the engine's retry covers a nonce that was
    # stored but never delivered.
    session "$id" >/dev/null 2>&1 || session "$id" >/dev/null 2>&1 || locked=$((locked + 1))
done
[ $locked -eq 0 ] && ok "kill -9 three times mid-session: no device locked out" || bad "$locked devices locked out"
sqlite3_ok=$("$TOOL" sessions --db "$DB" --json | jq 'length')
[ "${sqlite3_ok:-0}" -gt 0 ] && ok "sessions recorded ($sqlite3_ok)" || bad "no sessions recorded"

kill -TERM $http_pid $tls_pid
wait $http_pid 2>/dev/null
st=$?
[ $st -eq 0 ] && ok "clean shutdown on SIGTERM" || bad "SIGTERM exit status $st"

echo "integration server: $pass passed, $fail failed"
[ $fail -eq 0 ]
