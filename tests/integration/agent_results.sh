#!/usr/bin/env bash
# dmsec-client's summary line and exit status tell success from failure,
# and each failure says why in words: a good session, a closed port, HTTP
# errors (a listener answering 400, dmsec-server answering 405), a server
# closing without an answer, one never answering, an HTTPS server whose
# certificate the agent's CA does not know, a device the server does not
# know. Real processes on loopback.
# usage: agent_results.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
#   (dmsec-client and pkgserver sit beside DMSEC_SERVER and TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
PKG=$(dirname "$3")/pkgserver
need_programs agent_results "$CLIENT" "$PKG" jq openssl python3
cd "$work" || exit 1

DB=$work/dm.db SID=dmsec
PORT=
expect "server starts" start_server PORT "$work/server.log"
URL=http://127.0.0.1:$PORT/dm
D=IMEI:490154203239001
expect "device enrolled" enrol_client "$D" md5 "$URL"

# Points the device's account at URL $1.
point_at() {
    "$CLIENT" set --tree "$work/$D.tree" --uri ./DMAcc/dmsec/AppAddr/1/Addr --value "$1" >/dev/null
}
# Runs a session (options $@), its summary line in $line and exit status in $rc.
run_session() {
    "$CLIENT" session --tree "$work/$D.tree" --server "$SID" "$@" >"$work/sess.out" 2>"$work/sess.err"
    rc=$?
    line=$(grep '^session=' "$work/sess.out" | tail -1)
}
# The session failed with result $2 and a why= holding the text $3 (fixed
# string): check NAME RESULT WHY.
failed_with() {
    local got_why
    got_why=$(sed -n 's/.* why="\([^"]*\)"$/\1/p' <<<"$line")
    if [ "$rc" = 0 ]; then
        bad "$1: exit status 0 for a failed session: $line"
    elif ! grep -q " result=$2 " <<<"$line"; then
        bad "$1: want result=$2: $line"
    elif ! grep -qF -- "$3" <<<"$got_why"; then
        bad "$1: want why containing '$3': $line"
    else
        ok "$1: exit $rc, result=$2, why=\"$got_why\""
    fi
}

# ---- success: result=DMSEC_OK, no why, exit 0 ----
run_session
if [ "$rc" = 0 ] && grep -q " result=DMSEC_OK server_authenticated=1 device_authenticated=1 messages=2$" <<<"$line"; then
    ok "a good session: exit 0, result=DMSEC_OK, no why"
else
    bad "a good session: exit $rc: $line $(cat "$work/sess.err")"
fi
"$CLIENT" session --tree "$work/$D.tree" --server "$SID" --json >"$work/sess.json" 2>"$work/sess.err"
rc=$?
if [ "$rc" = 0 ] && jq -e '.event == "session" and .ok and .result == "DMSEC_OK" and .why == null
        and .server_authenticated and .device_authenticated and .http == 200
        and (.session | test("^[0-9A-F]+$"))' "$work/sess.json" >/dev/null; then
    ok "a good session --json: ok, DMSEC_OK, why null"
else
    bad "a good session --json: exit $rc: $(cat "$work/sess.json" "$work/sess.err")"
fi

# ---- a closed port ----
CLOSED=$(free_port)
point_at "http://127.0.0.1:$CLOSED/dm"
run_session
failed_with "closed port" DMSEC_ERR_TRANSPORT_CONNECT "connection refused by http://127.0.0.1:$CLOSED/dm"
grep -qF "connection refused by http://127.0.0.1:$CLOSED/dm" "$work/sess.err" &&
    ok "closed port: the reason on stderr too" || bad "closed port: stderr: $(cat "$work/sess.err")"
# --json: the same result as one JSON object, parsed by jq.
"$CLIENT" session --tree "$work/$D.tree" --server "$SID" --json >"$work/sess.json" 2>/dev/null
rc=$?
if [ "$rc" = 1 ] && [ "$(wc -l <"$work/sess.json")" = 1 ] &&
    jq -e --arg why "connection refused by http://127.0.0.1:$CLOSED/dm" \
        '.event == "session" and .ok == false and .result == "DMSEC_ERR_TRANSPORT_CONNECT"
         and .server == "dmsec" and .device_authenticated == false and (.why | contains($why))' \
        "$work/sess.json" >/dev/null; then
    ok "closed port --json: ok false, the result and why"
else bad "closed port --json: exit $rc: $(cat "$work/sess.json")"; fi
# get --json: the leaf just set, its value as text.
"$CLIENT" get --tree "$work/$D.tree" --server "$SID" --uri ./DMAcc/dmsec/AppAddr/1/Addr --json >"$work/get.json"
jq -e --arg v "http://127.0.0.1:$CLOSED/dm" '.status == 200 and .format == "chr" and .value == $v
    and .value_encoding == "text" and .length == ($v | length)' "$work/get.json" >/dev/null &&
    ok "get --json: status, format, value" || bad "get --json: $(cat "$work/get.json")"
"$CLIENT" get --tree "$work/$D.tree" --server "$SID" --uri ./DMAcc/dmsec/AppAddr/1/Addr >"$work/get.out"
grep -qxF "status=200 format=chr type=- value=http://127.0.0.1:$CLOSED/dm" "$work/get.out" &&
    ok "get: status, format and value as text" || bad "get: $(cat "$work/get.out")"
"$CLIENT" get --tree "$work/$D.tree" --server "$SID" --uri ./DMAcc/dmsec/AppAuth/CLCRED/AAuthSecret --json >"$work/get.json"
[ $? = 1 ] && jq -e '.status == 405 and (has("value") | not)' "$work/get.json" >/dev/null &&
    ok "get --json of a secret: 405, no value" || bad "get --json of a secret: $(cat "$work/get.json")"

# ---- HTTP errors: a listener answering 400, dmsec-server answering 405 ----
# A tiny HTTP listener on a free port (its port in LPORT): mode 400 reads
# the request and answers 400; mode stall reads it and never answers.
start_listener() { # MODE
    python3 -c '
import socket, sys, time
mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("port=%d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = c.recv(4096)
        if not chunk:
            break
        body += chunk
    if mode == "400":
        msg = b"not a request this server takes\n"
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (len(msg), msg))
        c.close()
    else:
        time.sleep(60)
' "$1" >"$work/listener-$1.out" 2>>"$work/listener.log" &
    pids+=($!)
    wait_line '^port=' "$work/listener-$1.out" && LPORT=$(sed -n 's/^port=//p' "$work/listener-$1.out")
}
if start_listener 400; then
    point_at "http://127.0.0.1:$LPORT/dm"
    run_session
    failed_with "a server answering 400" DMSEC_ERR_TRANSPORT_HTTP \
        "HTTP 400 from http://127.0.0.1:$LPORT/dm: not a request this server takes"
    grep -q " http=400 " <<<"$line" && ok "400: http=400 in the line" || bad "400: $line"
else bad "the 400 listener did not start"; fi
point_at "http://127.0.0.1:$PORT/metrics"
run_session
failed_with "dmsec-server answering 405 (POST /metrics)" DMSEC_ERR_TRANSPORT_HTTP \
    "HTTP 405 from http://127.0.0.1:$PORT/metrics: use GET"

# ---- a server that closes the connection without answering (pkgserver
# drops a POST with a body) ----
head -c 4096 /dev/zero >"$work/body.bin"
"$PKG" --file "$work/body.bin" --mode ok --port 0 >"$work/pkg.out" 2>>"$work/pkg.log" &
pids+=($!)
if wait_line '^port=' "$work/pkg.out"; then
    PKG_PORT=$(sed -n 's/^port=//p' "$work/pkg.out")
    point_at "http://127.0.0.1:$PKG_PORT/dm"
    run_session
    failed_with "a server closing without an answer" DMSEC_ERR_TRANSPORT_IO \
        "http://127.0.0.1:$PKG_PORT/dm closed the connection without an answer"
else bad "pkgserver did not start"; fi

# ---- a server that never answers ----
if start_listener stall; then
    point_at "http://127.0.0.1:$LPORT/dm"
    t0=$(date +%s)
    run_session --timeout 2
    t1=$(date +%s)
    failed_with "a server that never answers, --timeout 2" DMSEC_ERR_TRANSPORT_TIMEOUT \
        "timed out after 2 s waiting for http://127.0.0.1:$LPORT/dm"
    [ $((t1 - t0)) -ge 2 ] && [ $((t1 - t0)) -lt 15 ] && ok "timeout: gave up after $((t1 - t0)) s" ||
        bad "timeout took $((t1 - t0)) s"
else bad "the stalling listener did not start"; fi
refuse "--timeout 0 refused" "$CLIENT" session --tree "$work/$D.tree" --server "$SID" --timeout 0

# ---- HTTPS: the server's certificate from a CA the agent does not know ----
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=dmsec-results-ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.pem -days 2 -subj /CN=dmsec-results-other-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext 2>/dev/null
TPORT=
if [ -s srv.pem ] && [ -s ca2.pem ] && start_server TPORT "$work/tls.log" --tls-cert srv.pem --tls-key srv.key; then
    point_at "https://127.0.0.1:$TPORT/dm"
    run_session --ca ca2.pem
    failed_with "HTTPS, certificate from an unknown CA" DMSEC_ERR_TRANSPORT_TLS \
        "TLS: the server's certificate did not verify"
    run_session --ca ca.pem
    [ "$rc" = 0 ] && grep -q " result=DMSEC_OK " <<<"$line" &&
        ok "HTTPS with the right CA: exit 0, DMSEC_OK" || bad "HTTPS with the right CA: $line $(cat "$work/sess.err")"
else bad "HTTPS server did not start"; fi

# ---- a device the server does not know ----
point_at "$URL"
expect "device removed from the server's store" "$TOOL" device remove --db "$DB" --device-id "$D"
run_session
failed_with "unknown device" DMSEC_ERR_SESSION_PEER_REFUSED "the server does not know this device"

# ---- no secret in any output ----
leak=0
for f in "$work/$D.cs" "$work/$D.ss"; do
    s=$(cat "$f") && [ -n "$s" ] || leak=1
    grep -rqF -- "$s" "$work/sess.out" "$work/sess.err" "$work/sess.json" "$work/get.json" "$work/server.log" && leak=1
done
[ "$leak" = 0 ] && ok "no secret in the agent's output" || bad "a secret leaked into output"

echo "integration agent_results: $pass passed, $fail failed"
[ "$fail" = 0 ]
