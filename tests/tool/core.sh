#!/usr/bin/env bash
# The dmsec tool against independent computations with the openssl command:
# credentials, x-syncml-hmac values, package #0, on random inputs; then the
# error exits. usage: core.sh PATH_TO_dmsec
set -uo pipefail
DMSEC=$1
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

rand_text() { head -c "$1" /dev/urandom | base64 | tr -d '=/+\n' | head -c "$1"; }
rand_hex() { head -c "$1" /dev/urandom | xxd -p | tr -d '\n'; }
hexbytes() { printf '%s' "$1" | xxd -r -p; }
b64() { base64 -w0; }
h() { openssl dgst "-$1" -binary; }

for i in $(seq 1 15); do
    user="IMEI:$(rand_text 10)"
    secret="$(rand_text $((i + 4))) x!\"'\$"
    nonce=$(rand_hex $((i % 20)))
    [ -n "$nonce" ] || nonce=00
    # syncml:auth-md5 and auth-sha256
    for alg in md5 sha256; do
        pre=$(printf '%s:%s' "$user" "$secret" | h $alg | b64)
        want=$({ printf '%s:' "$pre"; hexbytes "$nonce"; } | h $alg | b64)
        got=$("$DMSEC" cred --scheme $alg --user "$user" --secret "$secret" --nonce-hex "$nonce")
        check "cred $alg" "$got" "$want"
        nb64=$(hexbytes "$nonce" | b64)
        got=$("$DMSEC" cred --scheme $alg --user "$user" --secret "$secret" --nonce-b64 "$nb64")
        check "cred $alg b64 nonce" "$got" "$want"
    done
    want=$(printf '%s:%s' "$user" "$secret" | b64)
    got=$("$DMSEC" cred --scheme basic --user "$user" --secret "$secret")
    check "cred basic" "$got" "$want"
    printf '%s\n' "$secret" > "$work/secret"
    got=$("$DMSEC" cred --scheme basic --user "$user" --secret-file "$work/secret")
    check "cred basic secret-file" "$got" "$want"

    # x-syncml-hmac, DM 1.2 and DM 1.3
    head -c $((i * 37)) /dev/urandom > "$work/body"
    pre=$(printf '%s:%s' "$user" "$secret" | h md5 | b64)
    bodyh=$(h md5 < "$work/body" | b64)
    want=$({ printf '%s:' "$pre"; hexbytes "$nonce"; printf ':%s' "$bodyh"; } | h md5 | b64)
    got=$("$DMSEC" hmac12 --user "$user" --secret "$secret" --nonce-hex "$nonce" --body "$work/body")
    check "hmac12" "$got" "$want"
    ts="2026-11-$(printf %02d $((i + 1)))T06:50:11Z"
    key=$(printf '%s' "$secret" | xxd -p | tr -d '\n')
    want=$({ printf '%s:' "$ts"; cat "$work/body"; } |
        openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -binary | b64)
    got=$("$DMSEC" hmac13 --secret "$secret" --timestamp "$ts" --body "$work/body")
    check "hmac13" "$got" "$want"

    # package #0: header bits by shell arithmetic, digest by openssl
    sid=$(( (RANDOM % 65535) + 1 ))
    ui=$((i % 4))
    init=$((i % 2))
    server="dm.$(rand_text 8).example"
    vendor=$(rand_hex $((i % 5)))
    uis=(unspecified background informative interactive)
    inits=(user server)
    hdr=$(printf '%016x' $(( (11 << 54) | (ui << 52) | (init << 51) | (sid << 8) | ${#server} )))
    trigger="$hdr$(printf '%s' "$server" | xxd -p | tr -d '\n')$vendor"
    pre=$(printf '%s:%s' "$server" "$secret" | h md5 | b64)
    th=$(hexbytes "$trigger" | h md5 | b64)
    digest=$({ printf '%s:' "$pre"; hexbytes "$nonce"; printf ':%s' "$th"; } | h md5 | xxd -p | tr -d '\n')
    args=(--server-id "$server" --secret "$secret" --nonce-hex "$nonce" --session-id "$(printf '%X' "$sid")"
        --ui "${uis[$ui]}" --initiator "${inits[$init]}")
    [ -n "$vendor" ] && args+=(--vendor-hex "$vendor")
    got=$("$DMSEC" pkg0 build "${args[@]}")
    check "pkg0 build" "$got" "$digest$trigger"
    json=$("$DMSEC" pkg0 decode --hex "$got" --secret "$secret" --nonce-hex "$nonce")
    check "pkg0 decode session" "$(jq -r .session_id <<<"$json")" "$sid"
    check "pkg0 decode session text" "$(jq -r .session_id_text <<<"$json")" "$(printf '%X' "$sid")"
    check "pkg0 decode ui" "$(jq -r .ui <<<"$json")" "${uis[$ui]}"
    check "pkg0 decode initiator" "$(jq -r .initiator <<<"$json")" "${inits[$init]}"
    check "pkg0 decode server" "$(jq -r .server_id <<<"$json")" "$server"
    check "pkg0 decode vendor" "$(jq -r .vendor_hex <<<"$json")" "$vendor"
    check "pkg0 decode version" "$(jq -r .version <<<"$json")" "11"
    check "pkg0 digest ok" "$(jq -r '[.digest_ok, .nonce_used] | join(",")' <<<"$json")" "true,stored"
    json=$("$DMSEC" pkg0 decode --hex "$got" --secret "$secret.")
    check "pkg0 wrong secret" "$(jq -c '[.digest_ok, .nonce_used]' <<<"$json")" "[false,null]"
done

# --json: the same values, one JSON object each, parsed by jq (the loop's
# last user, secret, nonce, body, timestamp and package).
want=$({ printf '%s:' "$(printf '%s:%s' "$user" "$secret" | h md5 | b64)"; hexbytes "$nonce"; } | h md5 | b64)
json=$("$DMSEC" cred --scheme md5 --user "$user" --secret "$secret" --nonce-hex "$nonce" --json)
check "cred --json" "$(jq -r '[.scheme, .user, .data] | join(" ")' <<<"$json")" "md5 $user $want"
check "cred --json one line" "$(wc -l <<<"$json")" "1"
want=$("$DMSEC" hmac12 --user "$user" --secret "$secret" --nonce-hex "$nonce" --body "$work/body")
json=$("$DMSEC" hmac12 --user "$user" --secret "$secret" --nonce-hex "$nonce" --body "$work/body" --json)
check "hmac12 --json" "$(jq -r '[.algorithm, .user, .mac] | join(" ")' <<<"$json")" "MD5 $user $want"
want=$("$DMSEC" hmac13 --secret "$secret" --timestamp "$ts" --body "$work/body")
json=$("$DMSEC" hmac13 --secret "$secret" --timestamp "$ts" --body "$work/body" --json)
check "hmac13 --json" "$(jq -r '[.algorithm, .timestamp, .mac] | join(" ")' <<<"$json")" \
    "HMAC-SHA256 $ts $want"
msg=$("$DMSEC" pkg0 build "${args[@]}")
json=$("$DMSEC" pkg0 build "${args[@]}" --json)
check "pkg0 build --json hex" "$(jq -r .hex <<<"$json")" "$msg"
check "pkg0 build --json base64" "$(jq -r .base64 <<<"$json" | base64 -d | xxd -p | tr -d '\n')" "$msg"
check "pkg0 build --json fields" "$(jq -r '[.length, .session_id, .session_id_text, .server_id] | join(" ")' <<<"$json")" \
    "$((${#msg} / 2)) $sid $(printf '%X' "$sid") $server"
json=$("$DMSEC" pkg0 decode --hex "$msg" --json)
check "pkg0 decode --json server_id_hex" "$(jq -r .server_id_hex <<<"$json")" \
    "$(printf '%s' "$server" | xxd -p | tr -d '\n')"
# A server id that is not text: the string escapes it, server_id_hex has it whole.
odd=$("$DMSEC" pkg0 build --server-id "$(printf 'a\tb\001')" --secret s --nonce-hex 00 --session-id 1)
json=$("$DMSEC" pkg0 decode --hex "$odd" --json)
check "pkg0 decode odd server id" "$(jq -r '[.server_id_hex, (.server_id | length)] | join(" ")' <<<"$json")" \
    "61096201 4"
# UTF-8 passes through as text; other bytes are escaped, whole in server_id_hex.
odd=$("$DMSEC" pkg0 build --server-id "dm.é.example" --secret s --nonce-hex 00 --session-id 1)
check "pkg0 decode UTF-8 server id" "$("$DMSEC" pkg0 decode --hex "$odd" | jq -r .server_id)" "dm.é.example"
odd=$("$DMSEC" pkg0 build --server-id "$(printf 'a\351b')" --secret s --nonce-hex 00 --session-id 1)
json=$("$DMSEC" pkg0 decode --hex "$odd")
check "pkg0 decode Latin-1 server id" "$(jq -r '[.server_id_hex, (.server_id | length)] | join(" ")' <<<"$json")" \
    "61e962 3"

# The default nonce: a package signed on 00000000 verifies with any stored nonce.
msg=$("$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex 00000000 --session-id 0xA1)
json=$("$DMSEC" pkg0 decode --hex "$msg" --secret s --nonce-hex 0102030405060708)
check "pkg0 default nonce" "$(jq -c '[.digest_ok, .nonce_used, .session_id_text]' <<<"$json")" \
    '[true,"default","A1"]'
json=$("$DMSEC" pkg0 decode --hex "$msg")
check "pkg0 decode without secret" "$(jq -c 'has("digest_ok")' <<<"$json")" "false"
# The SessionID reading only when asked for.
# --session-id is hex, as notify prints it: "10" is 16; not hex, or 0, exit 2.
check "pkg0 build --session-id in hex" \
    "$("$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex 00 --session-id 10 --json | jq -r .session_id)" 16
"$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex 00 --session-id G1 >/dev/null 2>&1
check "pkg0 build --session-id G1 refused" $? 2
"$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex 00 --session-id 0 >/dev/null 2>&1
check "pkg0 build --session-id 0 refused" $? 2
msg=$("$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex "$(printf A1 | xxd -p)" --session-id A1)
json=$("$DMSEC" pkg0 decode --hex "$msg" --secret s --nonce-hex 01)
check "pkg0 session-id reading off" "$(jq -c .digest_ok <<<"$json")" "false"
json=$("$DMSEC" pkg0 decode --hex "$msg" --secret s --nonce-hex 01 --try-session-id)
check "pkg0 session-id reading on" "$(jq -r .nonce_used <<<"$json")" "session_id"
# Version 12 is accepted; future bits are reported.
msg=$("$DMSEC" pkg0 build --server-id srv --secret s --nonce-hex 00 --session-id 1 --version 12)
check "pkg0 version 12" "$("$DMSEC" pkg0 decode --hex "$msg" | jq .version)" "12"
fut="${msg:0:34}$(printf '%x' $(( 0x${msg:34:2} | 4 )))${msg:36}"
check "pkg0 future bits" "$("$DMSEC" pkg0 decode --hex "$fut" 2>/dev/null | jq .future_bits)" "67108864"

# Errors: exit status, a message on stderr, nothing on stdout.
expect_error "no command" 2 "$DMSEC"
expect_error "unknown command" 2 "$DMSEC" frobnicate
expect_error "unknown scheme" 2 "$DMSEC" cred --scheme sha1 --user u --secret s --nonce-hex 00
expect_error "missing user" 2 "$DMSEC" cred --scheme md5 --secret s --nonce-hex 00
expect_error "missing nonce" 2 "$DMSEC" cred --scheme md5 --user u --secret s
expect_error "bad nonce hex" 1 "$DMSEC" cred --scheme md5 --user u --secret s --nonce-hex 0g
expect_error "odd nonce hex" 1 "$DMSEC" cred --scheme md5 --user u --secret s --nonce-hex 000
expect_error "bad nonce b64" 1 "$DMSEC" cred --scheme md5 --user u --secret s --nonce-b64 'AAB='
expect_error "two nonces" 1 "$DMSEC" cred --scheme md5 --user u --secret s --nonce-hex 00 --nonce-b64 AA==
expect_error "two secrets" 2 "$DMSEC" cred --scheme basic --user u --secret s --secret-file "$work/secret"
expect_error "missing secret file" 2 "$DMSEC" cred --scheme basic --user u --secret-file "$work/nope"
expect_error "option twice" 2 "$DMSEC" cred --scheme md5 --scheme md5 --user u --secret s --nonce-hex 00
expect_error "dangling option" 2 "$DMSEC" cred --scheme
expect_error "missing body" 1 "$DMSEC" hmac12 --user u --secret s --nonce-hex 00 --body "$work/nope"
expect_error "hmac13 missing ts" 2 "$DMSEC" hmac13 --secret s --body "$work/body"
expect_error "session id 0" 2 "$DMSEC" pkg0 build --server-id a --secret s --nonce-hex 00 --session-id 0
expect_error "session id big" 2 "$DMSEC" pkg0 build --server-id a --secret s --nonce-hex 00 --session-id 0x10000
expect_error "session id junk" 2 "$DMSEC" pkg0 build --server-id a --secret s --nonce-hex 00 --session-id 12z
expect_error "bad ui" 2 "$DMSEC" pkg0 build --server-id a --secret s --nonce-hex 00 --session-id 1 --ui loud
expect_error "empty server id" 1 "$DMSEC" pkg0 build --server-id "" --secret s --nonce-hex 00 --session-id 1
expect_error "decode truncated" 1 "$DMSEC" pkg0 decode --hex "${msg:0:40}"
expect_error "decode bad hex" 1 "$DMSEC" pkg0 decode --hex zz
expect_error "decode version 10" 1 "$DMSEC" pkg0 decode --hex "${msg:0:32}02980000000001037372 76"
expect_error "decode overrun" 1 "$DMSEC" pkg0 decode --hex "${msg:0:46}ff${msg:48}"
expect_error "pkg0 no verb" 2 "$DMSEC" pkg0
expect_error "--json on a failure" 1 "$DMSEC" cred --scheme md5 --user u --secret s --nonce-hex zz --json
expect_error "--json takes no value" 2 "$DMSEC" hmac13 --secret s --timestamp 1 --body "$work/body" --json yes
# A secret never appears in an error message.
"$DMSEC" cred --scheme md5 --user u --secret TopSecret99 --nonce-hex zz 2>"$work/err" >/dev/null
if grep -q TopSecret99 "$work/err"; then
    fail=$((fail + 1))
    echo "FAIL secret leaked to stderr" >&2
else
    pass=$((pass + 1))
fi

echo "tool core: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
