#!/usr/bin/env bash
# The operator commands of the dmsec tool over a real SQLite store:
# device add|list|show|remove, notify, sessions, audit, and their errors.
# usage: operator.sh PATH_TO_dmsec
set -uo pipefail
DMSEC=$1
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
DB=$work/s.db

for scheme in basic md5 sha256 hmac-md5 hmac-sha256; do
    json=$("$DMSEC" device add --db "$DB" --device-id "IMEI:$scheme" --client-name "u-$scheme" \
        --client-secret "pw-$scheme" --scheme $scheme --notify udp://127.0.0.1:2948 --json)
    check "add $scheme" "$?" 0
    check "server secret generated ($scheme)" "$(jq -r '.server_secret | length' <<<"$json")" 32
    check "nonces given ($scheme)" "$(jq -r '.client_nonce_b64 | length' <<<"$json")" 24
done
check "mode 0600" "$(stat -c %a "$DB")" 600
# two devices never share a server secret (DM-SEC-S-001)
a=$("$DMSEC" device add --db "$DB" --device-id IMEI:a --client-name a --client-secret x --scheme md5 --json | jq -r .server_secret)
b=$("$DMSEC" device add --db "$DB" --device-id IMEI:b --client-name b --client-secret x --scheme md5 --json | jq -r .server_secret)
[ "$a" != "$b" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL secrets shared" >&2; }
"$DMSEC" device add --db "$DB" --device-id IMEI:c --client-name c --client-secret x \
    --scheme md5 --server-secret given-secret --server-scheme basic >/dev/null 2>&1
check "given server secret" "$?" 0

list=$("$DMSEC" device list --db "$DB" --json)
check "list count" "$(jq length <<<"$list")" 8
check "list sorted" "$(jq -r '.[0].device_id' <<<"$list")" "IMEI:a"
check "hmac scheme shown" "$(jq -r '.[] | select(.device_id=="IMEI:hmac-sha256") | .scheme' <<<"$list")" hmac-sha256
check "basic server scheme" "$(jq -r '.[] | select(.device_id=="IMEI:c") | .server_scheme' <<<"$list")" basic
if grep -q -E "pw-|given-secret|$a" <<<"$list$("$DMSEC" device list --db "$DB")"; then
    fail=$((fail + 1))
    echo "FAIL a secret is listed" >&2
else pass=$((pass + 1)); fi
show=$("$DMSEC" device show --db "$DB" --device-id IMEI:md5 --json)
check "show" "$(jq -r .device.client_name <<<"$show")" u-md5
check "show notifications" "$(jq -r '.notifications | length' <<<"$show")" 0

# a notification to a local UDP port (nobody listens: the datagram is sent all the same)
sid=$("$DMSEC" notify IMEI:md5 --db "$DB" --addr udp://127.0.0.1:9)
check "notify prints a session id" "$(grep -c -E '^[0-9A-F]{1,4}$' <<<"$sid")" 1
again=$("$DMSEC" notify IMEI:md5 --db "$DB" --addr udp://127.0.0.1:9)
check "re-trigger reuses the pending session id" "$again" "$sid"
res=$("$DMSEC" notify IMEI:md5 --db "$DB" --addr udp://127.0.0.1:9 --resync --json)
check "resync keeps the session id" "$(jq -r .session_id <<<"$res")" "$sid"
show=$("$DMSEC" device show --db "$DB" --device-id IMEI:md5 --json)
check "notification recorded as resync" "$(jq -r '.notifications[0].default_nonce' <<<"$show")" true
check "audit" "$("$DMSEC" audit --db "$DB" --json | jq '[.[] | select(.event=="resync_notify")] | length')" 1
check "sessions empty" "$("$DMSEC" sessions --db "$DB" --json | jq length)" 0
# Text listings carry column headers.
check "sessions header" "$("$DMSEC" sessions --db "$DB" | head -n 1 | tr -s ' ')" "STARTED DEVICE SID PEER MESSAGES RESULT"
check "audit header" "$("$DMSEC" audit --db "$DB" | head -n 1 | tr -s ' ')" "AT DEVICE EVENT DETAIL"
check "audit rows under it" "$("$DMSEC" audit --db "$DB" --limit 1 | sed -n 2p | awk '{print $3}')" resync_notify

# errors: status, message on stderr, nothing on stdout
expect_error "duplicate device" 1 "$DMSEC" device add --db "$DB" --device-id IMEI:a --client-name a --client-secret x --scheme md5
expect_error "bad scheme" 2 "$DMSEC" device add --db "$DB" --device-id IMEI:z --client-name z --client-secret x --scheme sha1
expect_error "hmac server scheme" 2 "$DMSEC" device add --db "$DB" --device-id IMEI:z --client-name z --client-secret x --scheme md5 --server-scheme hmac-md5
expect_error "bad notify address" 2 "$DMSEC" device add --db "$DB" --device-id IMEI:z --client-name z --client-secret x --scheme md5 --notify sms://123
expect_error "missing device" 1 "$DMSEC" device show --db "$DB" --device-id IMEI:none
expect_error "notify unknown device" 1 "$DMSEC" notify IMEI:none --db "$DB"
expect_error "notify without address" 1 "$DMSEC" notify IMEI:a --db "$DB"
expect_error "notify bad ui" 2 "$DMSEC" notify IMEI:a --db "$DB" --ui loud
printf 'not a database, just bytes\n%.0s' $(seq 1 200) >"$work/junk.db"
expect_error "junk database" 1 "$DMSEC" device list --db "$work/junk.db"
expect_error "unknown store" 1 "$DMSEC" device list --db "postgres://nowhere/x"
expect_error "no verb" 2 "$DMSEC" device
check "remove" "$("$DMSEC" device remove --db "$DB" --device-id IMEI:c --json | jq .removed)" true
expect_error "removed is gone" 1 "$DMSEC" device show --db "$DB" --device-id IMEI:c
# store restored --json: every device's client nonce replaced, counted.
before=$("$DMSEC" device show --db "$DB" --device-id IMEI:md5 --json | jq -r .device.nonces.client)
json=$("$DMSEC" store restored --db "$DB" --json)
check "store restored --json" "$(jq -c . <<<"$json")" \
    "{\"client_nonces_replaced\":$("$DMSEC" device list --db "$DB" --json | jq length)}"
after=$("$DMSEC" device show --db "$DB" --device-id IMEI:md5 --json | jq -r .device.nonces.client)
[ -n "$before" ] && [ "$before" != null ] && [ "$before" != "$after" ] && ok || bad "nonce not replaced: '$before' '$after'"

echo "tool operator: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
