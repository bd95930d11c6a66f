# Shared by the integration scripts (sourced, not run): a scratch directory,
# background processes cleaned up at exit, pass/fail counting; free ports and
# UDP sends come from scripts/net.bash.
work=$(mktemp -d)
pids=()
cleanup() {
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
# Ends the script as failed unless every program given is executable:
# need_programs SCRIPT_NAME PROGRAM...
need_programs() {
    local name=$1 b
    for b in "${@:2}"; do
        [ -x "$b" ] || {
            echo "FAIL no $b"
            echo "integration $name: 0 passed, 1 failed"
            exit 1
        }
    done
}
