# Shared by the integration scripts (sourced, not run): a scratch directory,
# background processes cleaned up at exit (after exit_hooks), pass/fail
# counting; free ports and UDP sends come from scripts/net.bash.
work=$(mktemp -d)
pids=()
exit_hooks=() # commands run first at exit (stop_postgres of lib/services.bash)
cleanup() {
    local h
    for h in "${exit_hooks[@]}"; do "$h"; done
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
expect() { # name command... : passes when the command exits 0
    local name=$1
    shift
    if "$@" >"$work/out" 2>"$work/err"; then ok "$name"; else
        bad "$name: $(tail -n 3 "$work/out" "$work/err" | tr '\n' ' ')"
    fi
}
refuse() { # name command... : passes when the command exits non-zero
    local name=$1
    shift
    if "$@" >"$work/out" 2>"$work/err"; then bad "$name: accepted: $(cat "$work/out")"; else ok "$name"; fi
}
# shellcheck source=../../scripts/net.bash
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/net.bash" # free_port, send_udp
# Registers device $1 (scheme $2, notified on loopback port $3 if given)
# in store $4 (default $DB) as server $SID with `dmsec device add`. Sets
# reg_secret (its client secret), reg_json (the tool's answer) and
# reg_cscheme / reg_integ (the Cred scheme and integrity its agent uses).
register_device() { # ID SCHEME [NOTIFY_PORT] [DB]
    local id=$1 scheme=$2 port=${3:-} db=${4:-$DB}
    reg_secret="cs-$RANDOM-$RANDOM-$RANDOM"
    local args=(device add --db "$db" --device-id "$id" --client-name "$id" --client-secret "$reg_secret"
        --scheme "$scheme" --server-id "$SID" --json)
    [ -n "$port" ] && args+=(--notify "udp://127.0.0.1:$port")
    reg_json=$("$TOOL" "${args[@]}") || return 1
    reg_cscheme=$scheme reg_integ=none
    case $scheme in
    hmac-md5) reg_cscheme=md5 reg_integ=hmac-md5 ;;
    hmac-sha256) reg_cscheme=sha256 reg_integ=hmac-sha256 ;;
    esac
}
# Registers device $1 (scheme $2, as register_device) and writes the state
# file of the scripted test device for it to $3 (server id $SID).
device_state() { # ID SCHEME FILE [NOTIFY_PORT] [DB]
    local id=$1
    register_device "$id" "$2" "${4:-}" "${5:-}" || return 1
    cat >"$3" <<EOF
device_id=$id
server_id=$SID
client_name=$id
client_secret=$reg_secret
server_secret=$(jq -r .server_secret <<<"$reg_json")
client_scheme=$reg_cscheme
server_scheme=$reg_cscheme
integrity=$reg_integ
client_nonce=$(jq -r .client_nonce_b64 <<<"$reg_json")
server_nonce=$(jq -r .server_nonce_b64 <<<"$reg_json")
EOF
}
# Waits (up to 5 s) until URL answers: wait_up URL [curl options...].
wait_up() {
    for _ in $(seq 1 50); do
        curl -s "${@:2}" "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
# Waits (up to 5 s) until a line of FILE matches PATTERN: wait_line PATTERN FILE.
wait_line() {
    for _ in $(seq 1 100); do
        grep -q "$1" "$2" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# Starts $SERVER on 127.0.0.1, its output appended to LOG, and waits until
# its /healthz answers (HTTPS when --tls-cert is given): start_server
# PORT_VAR LOG [OPTION...]. The port is the one in the variable named
# PORT_VAR; when that is empty a free one is chosen and stored there. The
# server uses store $DB as server $SID with --resync-after 3600; the
# OPTIONs come after these, so they may override them. Its pid goes to
# pids and to server_pid. Non-zero when it does not answer.
start_server() {
    local var=$1 log=$2 port=${!1:-} url o
    [ -n "$port" ] || port=$(free_port)
    printf -v "$var" %s "$port"
    url=http://127.0.0.1:$port/healthz
    for o in "${@:3}"; do [ "$o" = --tls-cert ] && url=https://127.0.0.1:$port/healthz; done
    "$SERVER" --listen "127.0.0.1:$port" --db "$DB" --server-id "$SID" --resync-after 3600 "${@:3}" \
        >>"$log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    wait_up "$url" -k
}
# start_server, or the script ends as failed (with the last lines of LOG)
# when the server does not answer: start_server_or_end SCRIPT_NAME PORT_VAR
# LOG [OPTION...].
start_server_or_end() {
    start_server "${@:2}" || {
        bad "server starts: $(tail -5 "$3")"
        echo "integration $1: $pass passed, $fail failed"
        exit 1
    }
}
# Starts an HTTP proxy (mitm, attacker relay) in front of the server on
# $PORT on a free port, stored in the variable named PORT_VAR, and waits
# until the server's /healthz answers through it: start_proxy PORT_VAR LOG
# PROGRAM [ARGUMENT...] runs PROGRAM ARGUMENT... --listen P --to 127.0.0.1:$PORT.
start_proxy() {
    local port
    port=$(free_port)
    printf -v "$1" %s "$port"
    "${@:3}" --listen "$port" --to "127.0.0.1:$PORT" >>"$2" 2>&1 &
    pids+=($!)
    wait_up "http://127.0.0.1:$port/healthz"
}
# Ends the script as failed unless every program given is there: a path
# must be executable, a bare name found in PATH (sqlite3, openssl).
# need_programs SCRIPT_NAME PROGRAM...
need_programs() {
    local name=$1 b
    for b in "${@:2}"; do
        command -v "$b" >/dev/null || {
            echo "FAIL no $b"
            echo "integration $name: 0 passed, 1 failed"
            exit 1
        }
    done
}
api_token() { # FILE [BYTES]: a fresh management API token ("tok-" and BYTES random
    # bytes in hex, 24 unless given) written to FILE (mode 600), and printed
    local t
    t=tok-$(head -c "${2:-24}" /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$t" >"$1" && chmod 600 "$1" && printf '%s\n' "$t"
}
# field NAME FILE: the value of NAME in the first line of FILE that has a
# NAME=VALUE word (the summary lines of attacker, loadpeer, testdevice).
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | head -1; }
# The session of the first summary line (testdevice, dmsec-client
# session: "session=SID ...") in FILE.
session_of() { sed -n 's/^session=\([0-9A-F]*\) .*/\1/p' "$1" | head -1; }
# 0 when FILE (or files) holds a session in which both sides authenticated.
both_ok() { grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$@"; }
# The exchanges of session SID that mitm --record wrote to DIR, in order:
# the numbers NNN of DIR/req-NNN (package #1 first): exchanges DIR SID.
exchanges() {
    local m
    for m in "$1"/req-*.meta; do
        grep -q "^path /dm" "$m" && grep -q "<SessionID>$2</SessionID>" "${m%.meta}.body" &&
            basename "$m" .meta | sed 's/^req-//'
    done
}
# Audit rows of device $1 whose event is $2 and whose detail contains $3,
# in store $4 (default $DB).
audit_count() {
    "$TOOL" audit --db "${4:-$DB}" --json |
        jq --arg d "$1" --arg e "$2" --arg s "$3" '[.[] | select(.device_id == $d and .event == $e and (.detail | contains($s)))] | length'
}
# Registers device $1 (scheme $2, as register_device) for the agent
# dmsec-client ($CLIENT): its tree $work/$1.tree with one account of server
# $SID at URL $3, its secrets in $work/$1.cs and $work/$1.ss.
# usage: enrol_client ID SCHEME URL [NOTIFY_PORT] [DB]
enrol_client() {
    local id=$1 url=$3
    register_device "$id" "$2" "${4:-}" "${5:-$DB}" || return 1
    local json=$reg_json cscheme=$reg_cscheme integ=$reg_integ
    echo "$reg_secret" >"$work/$id.cs"
    jq -r .server_secret <<<"$json" >"$work/$id.ss"
    # Long DevInfo values: text runs in package #1 (e2e.sh flips bits in them).
    "$CLIENT" init --tree "$work/$id.tree" --device-id "$id" --man "manufacturer-of-the-e2e-test-device" \
        --mod "model-name-of-the-e2e-test-device-0123" >/dev/null || return 1
    "$CLIENT" add-account --tree "$work/$id.tree" --account dmsec --server-id "$SID" --url "$url" \
        --client-name "$id" --client-secret-file "$work/$id.cs" --client-scheme "$cscheme" \
        --server-secret-file "$work/$id.ss" --server-scheme "$cscheme" --integrity "$integ" \
        --client-nonce-b64 "$(jq -r .client_nonce_b64 <<<"$json")" \
        --server-nonce-b64 "$(jq -r .server_nonce_b64 <<<"$json")" >/dev/null
}
# Appends nodes to the agent's tree file TREE (a maintenance edit, as an
# operator's provisioning would do; the SHA-256 trailer is recomputed):
# tree_append TREE "DEPTH FORMAT NAME ACL [VALUE]"... Each node goes after
# the last one, so DEPTH 1 is a child of the root and DEPTH 2 a child of the
# depth-1 node before it; names must sort after their siblings (the file is
# canonical); ACL "-" for none (inherited). Values without blanks.
tree_append() {
    local tree=$1 n line d f name acl val
    head -c -72 "$tree" >"$tree.body" || return 1
    n=$(sed -n 2p "$tree.body")
    for line in "${@:2}"; do
        read -r d f name acl val <<<"$line"
        [ "$acl" = - ] && acl=
        printf '%s %s 0 %d:%s 0: %d:%s %d:%s\n' "$d" "$f" ${#name} "$name" ${#acl} "$acl" ${#val} "$val" \
            >>"$tree.body"
        n=$((n + 1))
    done
    sed -i "2s/.*/$n/" "$tree.body"
    { cat "$tree.body" && printf 'SHA256 %s\n' "$(sha256sum <"$tree.body" | cut -d' ' -f1)"; } >"$tree.new" &&
        mv "$tree.new" "$tree" && rm -f "$tree.body"
}
# The start of the FUMO tests (fumo_agent.sh, fumo_e2e.sh): CLIENT
# (dmsec-client beside the server) and PKG (pkgserver beside the test
# device), the server started on store $DB = $work/srv.db as server $SID =
# srvA at URL, the package $work/pkg.bin (300 kB of random bytes, its
# SHA-256 in HEX and its size in SIZE) and $work/hook-fail.sh, a FUMO hook
# that fails (exit 3). Runs in $work; ends the script as failed when a
# program is missing.
# usage: fumo_setup SCRIPT_NAME DMSEC_SERVER TESTDEVICE
fumo_setup() {
    CLIENT=$(dirname "$2")/dmsec-client
    PKG=$(dirname "$3")/pkgserver
    need_programs "$1" "$CLIENT" "$PKG" jq sha256sum
    cd "$work" || exit 1
    export DB=$work/srv.db SID=srvA
    PORT=
    expect "server starts" start_server PORT "$work/server.log"
    URL=http://127.0.0.1:$PORT/dm
    head -c 300000 /dev/urandom >"$work/pkg.bin"
    HEX=$(sha256sum "$work/pkg.bin" | cut -d' ' -f1)
    SIZE=$(stat -c %s "$work/pkg.bin")
    printf '#!/bin/sh\nexit 3\n' >"$work/hook-fail.sh"
    chmod +x "$work/hook-fail.sh"
}
