#!/usr/bin/env bash
# End to end with the real agent (dmsec-client) against the real server
# (dmsec-server), real sockets, and a man-in-the-middle proxy (mitm):
#   5. seed 003: the proxy records the device's resync; its package #1
#      replayed in a new session is refused; the real device still works;
#   7. HMAC-MD5 and HMAC-SHA256 sessions; one flipped body bit is caught by
#      the server (requests) and by the agent (responses);
#   8. HTTPS with client certificates: the right ones, a wrong CA on either
#      side, and no certificate at all.
# usage: e2e.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client and mitm
# sit beside DMSEC_SERVER and TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
MITM=$(dirname "$3")/mitm
need_programs e2e "$CLIENT" "$MITM"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-e2e
PORT=$(free_port)

# Starts a proxy on port $1 in front of the HTTP server: mitm_pid. A port
# briefly held by another socket is tried again.
mitm_pid=
proxy_on() { # port [mitm options]
    if [ -n "$mitm_pid" ]; then
        kill "$mitm_pid" 2>/dev/null
        wait "$mitm_pid" 2>/dev/null
    fi
    for _ in $(seq 1 20); do
        "$MITM" --listen "$1" --to "127.0.0.1:$PORT" "${@:2}" >>"$work/mitm.log" 2>&1 &
        mitm_pid=$!
        pids+=("$mitm_pid")
        for _ in $(seq 1 50); do
            curl -s "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
            kill -0 "$mitm_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$mitm_pid" 2>/dev/null && return 1 # running but not answering
        sleep 0.2
    done
    tail -n 2 "$work/mitm.log"
    return 1
}
expect "server starts" start_server PORT "$work/server.log" --max-auth-failures 1000

session() { # id [options]: a client-initiated session, output in $work/sess.out
    "$CLIENT" session --tree "$work/$1.tree" --server $SID "${@:2}" >"$work/sess.out" 2>&1 && both_ok "$work/sess.out"
}
sess_id() { session_of "$work/sess.out"; }
listen() { # id port: background listener, waits until it is bound
    "$CLIENT" listen --tree "$work/$1.tree" --port "$2" --once --wait "${LWAIT:-10}" >"$work/listen.out" 2>&1 &
    listen_pid=$!
    wait_line listening "$work/listen.out"
}
# The offset of the middle of the first text run after $2 in file $1.
mid_of() {
    local off
    off=$(grep -abo -- "$2" "$1" | head -1 | cut -d: -f1)
    [ -n "$off" ] || return 1
    local rest len
    rest=$(tail -c +$((off + ${#2} + 1)) "$1" | cut -d'<' -f1)
    len=${#rest}
    echo $((off + ${#2} + len / 2))
}

# ================= 5. seed 003: record the resync, replay package #1 =================
MPORT=$(free_port)
expect "proxy starts (recording)" proxy_on "$MPORT" --record "$work/rec5" --count-file "$work/count5"
R=IMEI:490154203230501
RPORT=$(free_port)
expect "enrol $R (md5) behind the proxy" enrol_client $R md5 "http://127.0.0.1:$MPORT/dm" "$RPORT"
cp "$work/$R.tree" "$work/$R.factory"
expect "first session through the proxy" session $R
expect "second session (the nonces move on)" session $R
# The device loses its nonces, notify --resync drives the resync through the
# recording proxy, then the recorded package #1 is replayed in a new session.
# usage: resync_replay LABEL NONCE0 (NONCE0=1: package #1 must carry the
# nonce-0 Cred, the one seed 003 is about)
resync_replay() {
    local label=$1 nonce0=$2
    LWAIT=2 listen $R "$RPORT"
    "$TOOL" notify $R --db "$DB" --server-id $SID >/dev/null
    wait $listen_pid
    if grep -q "notification=ignored" "$work/listen.out" && ! grep -q "server_authenticated" "$work/listen.out"; then
        ok "$label: ordinary notification ignored"
    else bad "$label: $(cat "$work/listen.out")"; fi
    listen $R "$RPORT"
    rsid=$("$TOOL" notify $R --db "$DB" --server-id $SID --resync)
    if wait $listen_pid && grep -q "session=$rsid nonce=default" "$work/listen.out" && both_ok "$work/listen.out"; then
        ok "$label: resync session $rsid (default nonce) through the recording proxy"
    else bad "$label: resync: $(cat "$work/listen.out")"; fi
    # The recorded package #1 of the resync session.
    local pkg1
    pkg1=$(exchanges "$work/rec5" "$rsid" | head -1)
    [ -n "$pkg1" ] && ok "$label: package #1 of $rsid recorded (req-$pkg1)" || bad "$label: no package #1 for $rsid"
    pkg1=${pkg1:-000}
    local cred0
    cred0=$("$TOOL" cred --scheme md5 --user $R --secret "$(cat "$work/$R.cs")" --nonce-hex 00000000)
    if [ "$nonce0" = 1 ]; then
        # Evidence that it is the dangerous one: its Cred is valid on nonce 0.
        grep -q "<Cred>.*<Data>$cred0</Data></Cred>" "$work/rec5/req-$pkg1.body" &&
            ok "$label: the recorded package #1 carries the nonce-0 Cred" ||
            bad "$label: the recorded package #1 has no nonce-0 Cred"
    fi
    local before after st resyncs
    # A replay is refused as a failed Cred, or (nonce 0) as a default-nonce
    # Cred answered with a fresh challenge.
    refusals() { echo $(($(audit_count $R auth_failed "session=$rsid") + $(audit_count $R resync_challenged "session=$rsid"))); }
    before=$(refusals)
    "$MITM" replay --to "127.0.0.1:$PORT" --dir "$work/rec5" --req "$pkg1" >"$work/replay.out" 2>&1
    st=$?
    if [ $st -eq 0 ] && grep -q "synchdr_status=40[17]" "$work/replay.out"; then
        ok "$label: package #1 replayed in a new session: refused ($(cat "$work/replay.out"))"
    else bad "$label: replay (exit $st): $(cat "$work/replay.out")"; fi
    after=$(refusals)
    [ "$after" -gt "$before" ] && ok "$label: audit: refusal for $R in the replayed session $rsid" ||
        bad "$label: audit shows no refusal of the replay ($before -> $after)"
    resyncs=$(audit_count $R resync "session=$rsid")
    [ "$resyncs" -eq 1 ] && ok "$label: audit: $resyncs completed resync for session $rsid (the real one only)" ||
        bad "$label: audit: $resyncs resync rows for $rsid"
    "$MITM" replay --to "127.0.0.1:$PORT" --dir "$work/rec5" --req "$pkg1" >"$work/replay.out" 2>&1
    st=$?
    [ $st -eq 0 ] && ok "$label: second replay: refused too" || bad "$label: second replay (exit $st): $(cat "$work/replay.out")"
    expect "$label: the real device still authenticates (client-initiated session)" session $R
    listen $R "$RPORT"
    nsid=$("$TOOL" notify $R --db "$DB" --server-id $SID)
    if wait $listen_pid && grep -q "session=$nsid nonce=stored" "$work/listen.out" && both_ok "$work/listen.out"; then
        ok "$label: the real device still authenticates (ordinary notification, stored nonce)"
    else bad "$label: after the replay: $(cat "$work/listen.out")"; fi
}
# (a) the tree restored to its factory state: stale nonces. The agent's
# package #1 uses its stored (stale) client nonce, gets a challenge, retries.
cp "$work/$R.factory" "$work/$R.tree"
resync_replay "factory tree" 0
# (b) the nonces wiped to zero (as client.sh does): package #1 is built on
# nonce 0, exactly what the seed 003 attacker captures.
for cred in CLCRED SRVCRED; do
    "$CLIENT" set --tree "$work/$R.tree" --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA== >/dev/null
done
resync_replay "zeroed nonces" 1
# Control: the replay tool does report an accepted replay (basic has no nonce).
BA=IMEI:490154203230502
enrol_client $BA basic "http://127.0.0.1:$MPORT/dm"
expect "basic session through the recording proxy" session $BA
bsid=$(sess_id)
bpkg=$(grep -l "<SessionID>$bsid</SessionID>" "$work"/rec5/req-*.body | head -1)
bpkg=$(basename "${bpkg:-req-000}" .body)
"$MITM" replay --to "127.0.0.1:$PORT" --dir "$work/rec5" --req "${bpkg#req-}" >"$work/replay.out" 2>&1
st=$?
[ $st -eq 1 ] && ok "control: a replayed basic package #1 is reported accepted" ||
    bad "control replay (exit $st): $(cat "$work/replay.out")"

nrec=$(find "$work/rec5" -name 'req-*.meta' | wc -l)
[ "$(cat "$work/count5" 2>/dev/null)" = "$nrec" ] && ok "proxy: $nrec messages forwarded, each recorded once" ||
    bad "proxy count $(cat "$work/count5" 2>/dev/null) vs $nrec recorded"

# ================= 7. HMAC integrity against a bit-flipping proxy =================
leaf_line() { "$CLIENT" show --tree "$work/$1.tree" | grep "^./DMAcc/dmsec/AppAuth/$2 "; }
secrets_intact() { # id: both secrets still in the tree file, byte for byte
    local cs ss
    cs=$(cat "$work/$1.cs")
    ss=$(cat "$work/$1.ss")
    grep -aqF "11:AAuthSecret 0: 0: ${#cs}:$cs" "$work/$1.tree" && grep -aqF "11:AAuthSecret 0: 0: ${#ss}:$ss" "$work/$1.tree"
}
nth_post() { # dir n: the body file of the n-th POST the proxy recorded
    local m k=0
    for m in "$1"/req-*.meta; do
        grep -q "^path /dm" "$m" || continue
        k=$((k + 1))
        [ $k -eq "$2" ] && echo "${m%.meta}.body" && return
    done
    echo /nonexistent
}
# How the agent refused the tampered first answer (recorded in $1): its next
# message answers 401 to the server's SyncHdr, or it sent none and ended
# the session with an error (a tampered field it could not even read).
agent_refused() {
    local next
    next=$(nth_post "$1" 2)
    if [ -f "$next" ]; then
        sed 's|</Status>|</Status>\n|g' "$next" | grep -m1 '<CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>' |
            grep -q '<Data>401</Data></Status>' && how="answers 401 to its SyncHdr"
    else
        grep -q " messages=1\( \|$\)" "$work/sess.out" && ! grep -q "result=DMSEC_OK " "$work/sess.out" &&
            how="ends the session at once"
    fi
}
HPORT=$(free_port)
n=0
for scheme in hmac-md5 hmac-sha256; do
    n=$((n + 1))
    H="IMEI:49015420323070$n"
    alg=MD5
    [ $scheme = hmac-sha256 ] && alg='"HMAC-SHA256"'
    expect "$scheme: proxy starts (recording)" proxy_on "$HPORT" --record "$work/rec7-$n"
    expect "enrol $H ($scheme) behind the proxy" enrol_client "$H" $scheme "http://127.0.0.1:$HPORT/dm"
    expect "$scheme: clean session through the proxy" session "$H"
    # The first POST recorded (the proxy also saw the health checks).
    q=$(grep -lx "path /dm" "$work"/rec7-$n/req-*.meta | head -1)
    q=$(basename "${q:-req-000}" .meta)
    q=${q#req-}
    if grep -q "^x-syncml-hmac algorithm=$alg," "$work/rec7-$n/req-$q.meta" &&
        grep -q "^x-syncml-hmac algorithm=$alg," "$work/rec7-$n/resp-$q.meta" &&
        ! grep -q "<Cred>" "$work/rec7-$n/req-$q.body"; then
        ok "$scheme: both directions carry x-syncml-hmac ($alg), no Cred in the body"
    else bad "$scheme: no x-syncml-hmac: $(cat "$work/rec7-$n/req-$q.meta" "$work/rec7-$n/resp-$q.meta")"; fi
    # Bytes in text runs, so that the flipped message still parses and only
    # the MAC can tell (the session id's length may move them by 3 at most).
    req_pos=("$(mid_of "$work/rec7-$n/req-$q.body" "<Data>manufacturer")"
        "$(mid_of "$work/rec7-$n/req-$q.body" "<Data>model-name")")
    resp_pos=("$(mid_of "$work/rec7-$n/resp-$q.body" "<Target><LocURI>")")
    p=$(mid_of "$work/rec7-$n/resp-$q.body" '<NextNonce xmlns="syncml:metinf">') && resp_pos+=("$p")
    p=$(mid_of "$work/rec7-$n/resp-$q.body" '<RespURI>') && resp_pos+=("$p")
    for p in "${req_pos[@]}"; do
        proxy_on "$HPORT" --flip-request "$p"
        if session "$H"; then
            bad "$scheme: request with byte $p flipped: accepted"
        elif grep -q "device_authenticated=0" "$work/sess.out" &&
            [ "$(audit_count "$H" auth_failed "reason=DMSEC_ERR_HMAC_MISMATCH peer=127.0.0.1 session=$(sess_id)")" -ge 1 ]; then
            ok "$scheme: request byte $p flipped: the server refuses (audit auth_failed HMAC_MISMATCH; agent $(grep -o "http=[0-9]* result=[A-Z_0-9]*" "$work/sess.out"))"
        else bad "$scheme: request byte $p flipped: $(cat "$work/sess.out")"; fi
        proxy_on "$HPORT"
        expect "$scheme: clean session after the request flip at $p" session "$H"
    done
    for p in "${resp_pos[@]}"; do
        rm -rf "$work/recf"
        proxy_on "$HPORT" --flip-response "$p" --record "$work/recf"
        nonce_before=$(leaf_line "$H" CLCRED/AAuthData)
        if session "$H"; then
            bad "$scheme: response with byte $p flipped: accepted"
        elif grep -q "server_authenticated=0" "$work/sess.out" && how= && agent_refused "$work/recf" &&
            [ "$(leaf_line "$H" CLCRED/AAuthData)" = "$nonce_before" ] && secrets_intact "$H"; then
            ok "$scheme: response byte $p flipped: the agent $how ($(grep -o "result=[A-Z_0-9]*" "$work/sess.out")); nonce and secrets untouched"
        else bad "$scheme: response byte $p flipped: $(cat "$work/sess.out")"; fi
        proxy_on "$HPORT"
        expect "$scheme: clean session after the response flip at $p" session "$H"
    done
done
kill "$mitm_pid" 2>/dev/null

# ================= 8. HTTPS with client certificates =================
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=dmsec-e2e-ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.pem -days 2 -subj /CN=dmsec-e2e-other-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext 2>/dev/null
T=IMEI:490154203230801
openssl req -newkey rsa:2048 -nodes -keyout dev.key -out dev.csr -subj "/CN=$T" 2>/dev/null
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out dev.pem -days 2 2>/dev/null
openssl x509 -req -in dev.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out dev2.pem -days 2 2>/dev/null
[ -s srv.pem ] && [ -s dev.pem ] && [ -s dev2.pem ] && ok "certificates made (two CAs)" || bad "certificates"
TDB=$work/tls.db
TPORT=
expect "HTTPS server starts (client certificates from ca.pem)" start_server TPORT "$work/server.log" \
    --db "$TDB" --max-auth-failures 1000 --tls-cert srv.pem --tls-key srv.key --client-ca ca.pem
TURL=https://127.0.0.1:$TPORT/dm
# T: the certificate names it; the server holds another client secret than
# its tree, so only the certificate can authenticate it.
enrol_client $T md5 "$TURL" "" "$TDB"
"$TOOL" device remove --db "$TDB" --device-id $T >/dev/null
TNPORT=$(free_port)
json=$("$TOOL" device add --db "$TDB" --device-id $T --client-name $T --client-secret "not-the-tree-$RANDOM" \
    --scheme md5 --server-id $SID --server-secret "$(cat "$work/$T.ss")" --notify "udp://127.0.0.1:$TNPORT" --json)
for leaf in CLCRED SRVCRED; do
    key=client_nonce_b64
    [ $leaf = SRVCRED ] && key=server_nonce_b64
    "$CLIENT" set --tree "$work/$T.tree" --uri "./DMAcc/dmsec/AppAuth/$leaf/AAuthData" \
        --value-b64 "$(jq -r .$key <<<"$json")" >/dev/null
done
tls_ok() { curl -s --cacert ca.pem "https://127.0.0.1:$TPORT/metrics" | sed -n 's/^dmsec_auth_results_total{scheme="tls",result="ok"} //p'; }
tls0=$(tls_ok)
expect "mTLS: session with the device certificate succeeds" session $T --ca ca.pem --cert dev.pem --key dev.key
tls1=$(tls_ok)
[ "${tls1:-0}" -gt "${tls0:-0}" ] && ok "mTLS: the server counted a TLS authentication ($tls0 -> $tls1)" ||
    bad "mTLS: no TLS authentication counted ($tls0 -> $tls1)"
expect "mTLS: and again (fresh nonces)" session $T --ca ca.pem --cert dev.pem --key dev.key
"$CLIENT" listen --tree "$work/$T.tree" --port "$TNPORT" --once --wait 10 --ca ca.pem --cert dev.pem --key dev.key \
    >"$work/listen.out" 2>&1 &
listen_pid=$!
wait_line listening "$work/listen.out"
nsid=$("$TOOL" notify $T --db "$TDB" --server-id $SID)
if wait $listen_pid && grep -q "session=$nsid nonce=stored" "$work/listen.out" && both_ok "$work/listen.out"; then
    ok "mTLS: server-alerted session (notify -> UDP -> listen with the certificate)"
else bad "mTLS notification: $(cat "$work/listen.out")"; fi
if session $T --ca ca.pem; then bad "no certificate, wrong application secret: accepted"; elif
    grep -q "device_authenticated=0" "$work/sess.out" &&
    [ "$(audit_count $T auth_failed "session=$(sess_id)" "$TDB")" -ge 1 ]; then
    ok "without its certificate $T is refused (application secret wrong; audit auth_failed)"
else bad "no certificate: $(cat "$work/sess.out")"; fi
rows0=$("$TOOL" sessions --db "$TDB" --json | jq 'length')
if session $T --ca ca2.pem --cert dev.pem --key dev.key; then bad "agent trusting another CA: accepted"; elif
    grep -qi "certificate" "$work/sess.out" && grep -q "http=0 " "$work/sess.out"; then
    ok "the agent refuses a server certificate its --ca did not sign: $(grep -i certificate "$work/sess.out" | head -1)"
else bad "wrong --ca: $(cat "$work/sess.out")"; fi
if session $T --ca ca.pem --cert dev2.pem --key dev.key; then bad "device certificate from another CA: accepted"; elif
    grep -q "http=403 " "$work/sess.out" && grep -q "client certificate refused cn=$T" "$work/server.log"; then
    ok "a device certificate signed by another CA: the server answers 403 and logs the refusal"
else bad "other CA's device certificate: $(cat "$work/sess.out")"; fi
rows1=$("$TOOL" sessions --db "$TDB" --json | jq 'length')
[ "$rows0" = "$rows1" ] && ok "no session was opened for either refused certificate" ||
    bad "sessions rows $rows0 -> $rows1"
A=IMEI:490154203230802
enrol_client $A sha256 "$TURL" "" "$TDB"
expect "HTTPS without a certificate: application-layer auth (sha256) works" session $A --ca ca.pem
expect "HTTPS without a certificate: again" session $A --ca ca.pem
expect "mTLS device still works after the refusals" session $T --ca ca.pem --cert dev.pem --key dev.key

if grep -qF -f <(cat "$work"/*.cs "$work"/*.ss) "$work/server.log" "$work/mitm.log" "$work/listen.out" 2>/dev/null; then
    bad "a secret reached a log"
else ok "no secret in the logs"; fi

echo "integration e2e: $pass passed, $fail failed"
[ $fail -eq 0 ]
