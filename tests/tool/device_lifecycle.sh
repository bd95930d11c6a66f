#!/usr/bin/env bash
# The device lifecycle in the dmsec tool: commands that only read never
# create or change a store (a missing or foreign file is an error naming
# it); messages name the device and the store; device update (without new
# secrets), disable, enable, remove, each with an audit row naming who;
# list and show with headers, hex nonces, last seen and sync state.
# usage: device_lifecycle.sh PATH_TO_dmsec
set -uo pipefail
DMSEC=$1
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
# shellcheck source=../../scripts/net.bash
. "$(dirname "$0")/../../scripts/net.bash" # free_port
mkdir "$work/d" && cd "$work/d" || exit 1
export USER=lifecycle-op

files() { find . -mindepth 1 | sort | tr '\n' ' '; }

# ---- read-only commands on a missing, foreign, empty store ----
reads=(
    "device list" "device show IMEI:1" "sessions" "audit" "cmd list --all" "cmd show 1"
    "results IMEI:1" "inventory IMEI:1" "events IMEI:1"
)
printf '# not a store\n' >README.md
sum=$(sha256sum README.md)
: >empty.db
mkdir adir
before=$(files)
for r in "${reads[@]}"; do
    read -ra words <<<"$r"
    expect_error "$r: missing store" 1 "$DMSEC" "${words[@]}" --db typo.db
    grep -q "^dmsec: no database at 'typo.db'$" "$work/err" || bad "$r: message: $(cat "$work/err")"
    expect_error "$r: foreign file" 1 "$DMSEC" "${words[@]}" --db README.md
    grep -q "^dmsec: 'README.md' is not a dmsec store$" "$work/err" || bad "$r: message: $(cat "$work/err")"
    expect_error "$r: empty file" 1 "$DMSEC" "${words[@]}" --db empty.db
    expect_error "$r: a directory" 1 "$DMSEC" "${words[@]}" --db adir
done
check "nothing created" "$(files)" "$before"
check "README.md unchanged" "$(sha256sum README.md)" "$sum"
check "empty.db still empty" "$(stat -c %s empty.db)" 0
# Writing commands do not create a store either (only device add does).
expect_error "notify: missing store" 1 "$DMSEC" notify IMEI:1 --db typo.db
expect_error "disable: missing store" 1 "$DMSEC" device disable IMEI:1 --db typo.db
expect_error "update: missing store" 1 "$DMSEC" device update IMEI:1 --db typo.db --no-notify
check "still nothing created" "$(files)" "$before"
expect_error "add: missing directory" 1 "$DMSEC" device add --db nodir/x.db --device-id IMEI:1 \
    --client-name a --client-secret s --scheme md5
grep -q "no directory 'nodir'" "$work/err" || bad "missing directory message: $(cat "$work/err")"

# ---- a store ----
DB=dmsec.db
NPORT=$(free_port)
add=$("$DMSEC" device add --db $DB --device-id IMEI:1 --client-name one --client-secret pw1 \
    --scheme md5 --notify "udp://127.0.0.1:$NPORT" --json 2>/dev/null)
check "add" "$?" 0
"$DMSEC" device add --db $DB --device-id IMEI:2 --client-name two --client-secret pw2 \
    --scheme hmac-sha256 >/dev/null 2>&1
check "add hmac-sha256" "$?" 0
check "audit: added, by whom" "$("$DMSEC" audit --db $DB --json | jq -r '[.[] | select(.event == "device_added")][-1].detail')" \
    "by cli:lifecycle-op: scheme md5"

# A read leaves the store as it was, byte for byte.
sync_files() { sha256sum $DB; ls; }
snap=$(sync_files)
for r in "device list" "device list --json" "device show IMEI:1" "sessions" "audit" "cmd list --all" "results IMEI:1" "inventory IMEI:1" "events IMEI:1"; do
    read -ra words <<<"$r"
    "$DMSEC" "${words[@]}" --db $DB >/dev/null 2>&1 || bad "$r on a store: exit $?"
done
check "reads changed nothing" "$(sync_files)" "$snap"

# ---- messages that name the thing ----
for c in "device show" "device remove" "device disable" "device enable" "notify" "results" "inventory" "events" "cmd list"; do
    read -ra words <<<"$c"
    expect_error "$c: unknown device" 1 "$DMSEC" "${words[@]}" IMEI:none --db $DB
    grep -q "^dmsec: no device 'IMEI:none' in $DB$" "$work/err" || bad "$c: message: $(cat "$work/err")"
done
expect_error "update: unknown device" 1 "$DMSEC" device update IMEI:none --db $DB --no-notify
grep -q "^dmsec: no device 'IMEI:none' in $DB$" "$work/err" || bad "update: message: $(cat "$work/err")"
expect_error "cmd get: unknown device" 1 "$DMSEC" cmd get IMEI:none ./DevInfo/Man --db $DB
grep -q "^dmsec: no device 'IMEI:none' in $DB$" "$work/err" || bad "cmd get: message: $(cat "$work/err")"

# ---- list and show ----
list=$("$DMSEC" device list --db $DB)
check "list: a header" "$(head -1 <<<"$list" | tr -s ' ')" "DEVICE CLIENT NAME SCHEME SRV SCHEME NOTIFY STATE LAST SEEN SYNC"
check "list: rows" "$(wc -l <<<"$list")" 3
check "list: never seen, in sync" "$(grep '^IMEI:1 ' <<<"$list" | grep -c 'never .*in sync$')" 1
show=$("$DMSEC" device show IMEI:1 --db $DB)
cn_hex=$(jq -r .client_nonce_b64 <<<"$add" | base64 -d | od -An -tx1 | tr -d ' \n')
check "show: client nonce as hex" "$(sed -n 's/^client nonce *\([0-9a-f]*\) (hex)$/\1/p' <<<"$show")" "$cn_hex"
check "show --json: nonces as hex" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r .device.nonces.client)" "$cn_hex"
check "show --json: last seen never" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r .device.last_seen)" null
if grep -q -E "pw1|pw2" <<<"$show$list$("$DMSEC" device show IMEI:2 --db $DB --json)"; then bad "a secret shown"; else ok; fi

# ---- sync state: an outstanding resync ----
check "out of sync: none" "$("$DMSEC" device list --db $DB --out-of-sync --json | jq length)" 0
"$DMSEC" notify IMEI:1 --db $DB --resync >/dev/null
check "notify --resync" "$?" 0
check "resync pending" "$("$DMSEC" device list --db $DB --json | jq -r '.[] | select(.device_id == "IMEI:1") | .sync')" "resync pending"
check "--out-of-sync lists it alone" "$("$DMSEC" device list --db $DB --out-of-sync --json | jq -c 'map(.device_id)')" '["IMEI:1"]'
check "--out-of-sync text" "$("$DMSEC" device list --db $DB --out-of-sync | tail -n +2 | awk '{print $1}')" "IMEI:1"

# ---- update ----
out=$("$DMSEC" device update IMEI:1 --db $DB --notify udp://127.0.0.1:4000 --cert-subject CN=one)
check "update: notify, cert" "$?" 0
check "update: says what" "$out" "updated IMEI:1: notify, cert_subject"
j=$("$DMSEC" device show IMEI:1 --db $DB --json)
check "update: notify stored" "$(jq -r .device.notify <<<"$j")" udp://127.0.0.1:4000
check "update: cert stored" "$(jq -r .device.cert_subject <<<"$j")" CN=one
check "update: nonces kept" "$(jq -r .device.nonces.client <<<"$j")" "$cn_hex"
expect_error "update: --notify and --no-notify" 2 "$DMSEC" device update IMEI:1 --db $DB --notify udp://127.0.0.1:1 --no-notify
expect_error "update: a bad address" 2 "$DMSEC" device update IMEI:1 --db $DB --notify http://x
expect_error "update: nothing to change" 2 "$DMSEC" device update IMEI:1 --db $DB
"$DMSEC" device update IMEI:1 --db $DB --no-notify >/dev/null
check "update: --no-notify" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r .device.notify)" ""
expect_error "notify without an address" 1 "$DMSEC" notify IMEI:1 --db $DB
"$DMSEC" device update IMEI:1 --db $DB --scheme sha256 --server-scheme sha256 >/dev/null
check "update: md5 -> sha256" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r '.device.scheme + " " + .device.server_scheme')" "sha256 sha256"
expect_error "update: to hmac-sha256 without the secrets" 1 "$DMSEC" device update IMEI:1 --db $DB --scheme hmac-sha256
grep -q "needs the device's client secret" "$work/err" || bad "hmac-sha256 message: $(cat "$work/err")"
expect_error "update: to hmac-sha256 without the server's plaintext" 1 "$DMSEC" device update IMEI:1 --db $DB \
    --scheme hmac-sha256 --client-secret pw1
grep -q "needs the server's secret" "$work/err" || bad "server plaintext message: $(cat "$work/err")"
expect_error "update: basic server scheme without the plaintext" 1 "$DMSEC" device update IMEI:1 --db $DB --server-scheme basic
expect_error "update: a new client name without the secret" 1 "$DMSEC" device update IMEI:1 --db $DB --client-name uno
"$DMSEC" device update IMEI:1 --db $DB --client-name uno --client-secret pw1 >/dev/null
check "update: a new client name with the device's secret" "$?" 0
# hmac-sha256 keeps both plaintexts: its name changes without a secret given.
"$DMSEC" device update IMEI:2 --db $DB --client-name deux --scheme md5 >/dev/null
check "update: hmac-sha256 device renamed, to md5" "$?" 0
check "update: refused changes changed nothing" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r '.device.scheme + " " + .device.client_name')" "sha256 uno"
check "audit: updates, by whom" "$("$DMSEC" audit --db $DB --json | jq '[.[] | select(.event == "device_updated" and (.detail | startswith("by cli:lifecycle-op")))] | length')" 5
"$DMSEC" device add --db $DB --device-id IMEI:3 --client-name three --client-secret pw3 --scheme md5 \
    --cert-subject CN=three >/dev/null 2>&1
expect_error "update: a certificate another device has" 1 "$DMSEC" device update IMEI:1 --db $DB --cert-subject CN=three

# ---- disable, enable, remove ----
check "disable" "$("$DMSEC" device disable IMEI:1 --db $DB)" "disabled IMEI:1"
check "list: disabled" "$("$DMSEC" device list --db $DB | grep -c '^IMEI:1 .* disabled ')" 1
expect_error "notify: a disabled device" 1 "$DMSEC" notify IMEI:1 --db $DB --addr "udp://127.0.0.1:$NPORT"
check "enable" "$("$DMSEC" device enable IMEI:1 --db $DB --json | jq -r .enabled)" true
check "show: enabled" "$("$DMSEC" device show IMEI:1 --db $DB --json | jq -r .device.disabled)" false
check "remove" "$("$DMSEC" device remove IMEI:1 --db $DB)" "removed IMEI:1"
expect_error "removed twice" 1 "$DMSEC" device remove IMEI:1 --db $DB
check "audit: every change of IMEI:1" "$("$DMSEC" audit --db $DB --json | jq -r '[.[] | select(.device_id == "IMEI:1" and (.event | startswith("device_"))) | .event] | reverse | unique | join(",")')" \
    "device_added,device_disabled,device_enabled,device_removed,device_updated"
expect_error "give the device once" 2 "$DMSEC" device show IMEI:2 --device-id IMEI:2 --db $DB

# ---- the server id, set once ----
check "the store's server id" "$("$DMSEC" device add --db $DB --device-id IMEI:4 --client-name f --client-secret x --scheme md5 --json 2>/dev/null | jq -r .server_id)" dmsec
expect_error "another server id" 1 "$DMSEC" device add --db $DB --device-id IMEI:5 --client-name f --client-secret x --scheme md5 --server-id funambol
grep -q "belongs to server 'dmsec', not 'funambol'" "$work/err" || bad "server id message: $(cat "$work/err")"
expect_error "notify as another server id" 1 "$DMSEC" notify IMEI:4 --db $DB --server-id funambol

# ---- an older store is read without being migrated ----
if command -v sqlite3 >/dev/null; then
    cp $DB old.db
    rm -f old.db-wal old.db-shm
    sqlite3 old.db "PRAGMA user_version = 3" 2>/dev/null
    old=$(sha256sum old.db)
    expect_error "older schema: read refused" 1 "$DMSEC" device list --db old.db
    grep -q "older schema" "$work/err" || bad "older schema message: $(cat "$work/err")"
    check "older store unchanged" "$(sha256sum old.db)" "$old"
fi

echo "tool device_lifecycle: $pass passed, $fail failed"
[ $fail -eq 0 ]
