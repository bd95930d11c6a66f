#!/usr/bin/env bash
# Issue 10, item 4: TLS 1.2 and 1.3 only, forward-secret AEAD suites by
# default (--tls-priorities, a GnuTLS priority string, checked at start-up).
# openssl s_client plays the clients; TLS 1.0/1.1 are offered at security
# level 0 so that it is the server that says no.
# usage: tls_versions.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$(realpath "$1") TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
need_programs tls_versions "$SERVER" openssl

cd "$work" || exit 1
DB=$work/dmsec.db
SID=dmsec
openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.pem -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.pem \
    -days 2 -subj /CN=127.0.0.1 2>/dev/null
[ -s srv.pem ] && [ -s ec.pem ] && ok "throwaway certificates" || bad "certificates"

start() { # port-variable cert key [options]
    start_server "$1" "$work/server.log" --tls-cert "$2" --tls-key "$3" "${@:4}"
}
hs() { # port s_client options...: 0 when the handshake completes
    echo | timeout 10 openssl s_client -connect 127.0.0.1:"$1" "${@:2}" >"$work/hs.out" 2>&1
}

P=
expect "server starts (RSA certificate, default priorities)" start P srv.pem srv.key
refuse "TLS 1.0 refused" hs "$P" -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
refuse "TLS 1.1 refused" hs "$P" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
refuse "TLS 1.2 static RSA AES128-GCM-SHA256 refused" hs "$P" -tls1_2 -cipher AES128-GCM-SHA256
refuse "TLS 1.2 static RSA AES256-SHA256 refused" hs "$P" -tls1_2 -cipher AES256-SHA256
refuse "TLS 1.2 ECDHE with CBC (ECDHE-RSA-AES128-SHA) refused" hs "$P" -tls1_2 \
    -cipher 'ECDHE-RSA-AES128-SHA:@SECLEVEL=0'
refuse "TLS 1.2 DHE-RSA-AES128-GCM-SHA256 refused" hs "$P" -tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256
expect "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 accepted" hs "$P" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
expect "TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384 accepted" hs "$P" -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
expect "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305 accepted" hs "$P" -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305
expect "TLS 1.3 accepted" hs "$P" -tls1_3
grep -q 'TLSv1.3' "$work/hs.out" && ok "TLS 1.3 negotiated" || bad "no TLSv1.3 in s_client's answer"
code=$(curl -s -o /dev/null -w '%{http_code}' -k "https://127.0.0.1:$P/healthz")
[ "$code" = 200 ] && ok "curl over HTTPS: /healthz 200" || bad "curl over HTTPS: HTTP $code"

P2=
expect "server starts (ECDSA certificate)" start P2 ec.pem ec.key
expect "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 accepted" hs "$P2" -tls1_2 \
    -cipher ECDHE-ECDSA-AES128-GCM-SHA256
refuse "TLS 1.2 ECDHE-ECDSA-AES128-SHA refused" hs "$P2" -tls1_2 \
    -cipher 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0'

P3=
expect "server starts with --tls-priorities for TLS 1.3 only" start P3 srv.pem srv.key \
    --tls-priorities 'SECURE:-VERS-ALL:+VERS-TLS1.3'
refuse "TLS 1.2 refused by that server" hs "$P3" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
expect "TLS 1.3 accepted by that server" hs "$P3" -tls1_3

"$SERVER" --listen 127.0.0.1:0 --db "$work/dmsec.db" --tls-cert srv.pem --tls-key srv.key \
    --tls-priorities 'SECURE:+NO-SUCH-THING' >"$work/bad.out" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q 'tls-priorities.*NO-SUCH-THING' "$work/bad.out" &&
    ok "a bad priority string stops the start with a clear message" ||
    bad "bad priority string: exit $rc, $(cat "$work/bad.out")"

echo "integration tls_versions: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
