#!/usr/bin/env bash
# scripts/demo.sh runs with the built binaries (no build), tells every step
# and ends with its success line and exit 0; and it fails, exit non-zero,
# when a step does not behave as told (an agent whose nonce reset is a
# no-op, an agent that cannot start).
# usage: demo.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client sits beside DMSEC_SERVER, mitm beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
DEMO=$(cd "$(dirname "$0")/../.." && pwd)/scripts/demo.sh
CLIENT=$(realpath "$(dirname "$1")/dmsec-client")
MITM=$(realpath "$(dirname "$3")/mitm")
need_programs demo "$CLIENT" "$MITM"
demo() { # client: runs the demo with that agent, output in $work/demo.out
    DMSEC_SERVER=$SERVER DMSEC_TOOL=$TOOL DMSEC_CLIENT=$1 DMSEC_MITM=$MITM \
        timeout 60 bash "$DEMO" >"$work/demo.out" 2>&1
}

start=$SECONDS
demo "$CLIENT"
rc=$?
secs=$((SECONDS - start))
if [ $rc -eq 0 ] && grep -q "^demo: success - bootstrap, sessions, notification, lost-nonce resync, refused replay all behaved as told" "$work/demo.out"; then
    ok "demo: exit 0 and its success line (${secs} s)"
else bad "demo: exit $rc: $(tail -n 8 "$work/demo.out" | tr '\n' ' ')"; fi
[ $secs -le 40 ] && ok "demo: under 40 s (30 s without sanitizers)" || bad "demo took $secs s"
if grep -q "^building\|demo: building" "$work/demo.out"; then bad "demo built although binaries were given"; else ok "demo: no build with given binaries"; fi
# The evidence each step shows.
check() { # name pattern
    if grep -qE -- "$2" "$work/demo.out"; then ok "$1"; else bad "$1: /$2/ not in the output"; fi
}
check "step: tampered bootstrap refused" "tampered copy .*MAC does not verify \(exit 1\)"
check "step: genuine bootstrap applied" "genuine copy: bootstrap applied: account dmsec .*\(exit 0\)"
check "step: client session, both authenticated" "^ +\| session=[0-9A-F]+ .*result=DMSEC_OK server_authenticated=1 device_authenticated=1 messages=2$"
check "step: forged package #0 ignored" "notification=ignored session=BAD1 reason=digest-mismatch"
check "step: notification verified on the stored nonce" "notification=verified server=dmsec session=[0-9A-F]+ nonce=stored"
check "step: lost nonces, ordinary notification ignored" "notification=ignored session=[0-9A-F]+ reason=digest-mismatch"
check "step: the policy's re-send verified on the default nonce" "notification=verified server=dmsec session=[0-9A-F]+ nonce=default"
check "step: resync in the server log" "resync device=IMEI:[0-9]+ session=[0-9A-F]+ peer=127.0.0.1 completed"
check "step: replay refused by the server" "replay http=200 synchdr_status=40[137]"
check "step: the replay is a challenged default-nonce credential in the audit trail" "resync_challenged +scheme=md5 reason=DMSEC_ERR_SESSION_DEFAULT_NONCE"
steps=$(grep -cE '^(.\[1m)?[0-9]\. ' "$work/demo.out")
[ "$steps" -eq 7 ] && ok "demo: 7 steps told" || bad "demo: $steps steps told, 7 expected"
if grep -q "demo: FAILED" "$work/demo.out"; then bad "a FAILED line in a successful run"; else ok "no FAILED line"; fi

# An agent whose nonce reset does nothing: the ordinary notification still
# verifies, so the lost-nonce step must fail, and the demo with it.
cat >"$work/stuck-client" <<EOF
#!/bin/sh
[ "\$1" = set ] && exit 0
exec "$CLIENT" "\$@"
EOF
chmod +x "$work/stuck-client"
demo "$work/stuck-client"
rc=$?
if [ $rc -ne 0 ] && grep -q "demo: FAILED at step 5: the ordinary notification was not ignored" "$work/demo.out" &&
    ! grep -q "demo: success" "$work/demo.out"; then
    ok "a lost-nonce step that does not happen: demo fails at step 5 (exit $rc)"
else bad "stuck agent: exit $rc: $(tail -n 4 "$work/demo.out" | tr '\n' ' ')"; fi
demo /bin/false
rc=$?
if [ $rc -ne 0 ] && grep -q "demo: FAILED at step 2" "$work/demo.out"; then
    ok "an agent that cannot run: demo fails at step 2 (exit $rc)"
else bad "broken agent: exit $rc: $(tail -n 4 "$work/demo.out" | tr '\n' ' ')"; fi

echo "integration demo: $pass passed, $fail failed"
[ $fail -eq 0 ]
