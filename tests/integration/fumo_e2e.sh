#!/usr/bin/env bash
# Firmware update (OMA FUMO 1.0) end to end through the real server: `dmsec
# fumo` queues the flow (Replaces of SHA256, Size, PkgURL, Exec
# DownloadAndUpdate with a correlator); the agent (dmsec-client session)
# accepts the Exec with 202, downloads the package from pkgserver on
# loopback, checks it, runs its --fumo-hook and reports the FUMO result
# code by Generic Alert (1226) in a later session. The server records it as
# the Exec's outcome (`dmsec cmd show`) and as a device event (`dmsec
# events`): the happy path (done, 200, State 100) and each failure: wrong
# digest (402), truncated download (503), HTTP 404 (501), failing hook
# (410), each `failed` with State 20 or 80 as FUMO 1.0 defines.
# usage: fumo_e2e.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
fumo_setup fumo_e2e "$1" "$3"
TYPE=org.openmobilealliance.dm.firmwareupdate.downloadandupdate

head -c 40000 /dev/urandom >"$work/small.bin"
SHEX=$(sha256sum "$work/small.bin" | cut -d' ' -f1)
cat >"$work/hook-ok.sh" <<HOOK
#!/bin/sh
cmp -s "\$1" "$work/pkg.bin" || cmp -s "\$1" "$work/small.bin" || exit 9
echo installed >>"$work/installed"
HOOK
chmod +x "$work/hook-ok.sh"

# Package servers, one per mode, for the whole run.
declare -A pkg_port
for mode in ok truncate 404 slow; do
    file=$work/pkg.bin
    [ $mode = slow ] && file=$work/small.bin
    "$PKG" --file "$file" --mode $mode >"$work/pkg-$mode.out" 2>>"$work/pkg.log" &
    pids+=($!)
    if wait_line '^port=' "$work/pkg-$mode.out"; then
        pkg_port[$mode]=$(field port "$work/pkg-$mode.out")
    else bad "pkgserver $mode does not start"; fi
done

state_of() { "$CLIENT" show --tree "$1" | sed -n 's|^\./FUMO/dmsec/State .* = "\([0-9]*\)".*|\1|p'; }
show() { "$TOOL" cmd show "$1" --db "$DB" --json; }

# A new device with `dmsec fumo` queued for it: sets id, tree, exec (the
# Exec's command id). fumo_job MODE SHA256 [SIZE]
fumo_job() {
    id="IMEI:35$RANDOM$RANDOM"
    tree=$work/$id.tree
    enrol_client "$id" sha256 "$URL" || return 1
    local args=(fumo "$id" --db "$DB" --url "http://127.0.0.1:${pkg_port[$1]}/fw.bin" --sha256 "$2")
    [ -n "${3:-}" ] && args+=(--size "$3")
    exec=$("$TOOL" "${args[@]}") && [[ $exec =~ ^[0-9]+$ ]]
}
# The agent's sessions with its FUMO hook: the one that takes the job, then
# the download, the hook and the session that reports.
agent() { "$CLIENT" session --tree "$tree" --server "$SID" --fumo-hook "$1" >"$work/sess.out" 2>"$work/sess.err"; }
# The outcome as recorded: outcome NAME STATE RESULT AGENT_STATE
outcome() {
    local j got corr
    j=$(show "$exec")
    got=$(jq -r '.state + " " + (.status | tostring) + " " + (.outcome | tostring)' <<<"$j")
    [ "$got" = "$2 202 $3" ] && ok "$1: Exec $2, accepted 202, outcome $3" || bad "$1: Exec: got '$got' want '$2 202 $3'"
    corr=$(jq -r .correlator <<<"$j")
    local ev
    ev=$("$TOOL" events "$id" --db "$DB" --json)
    [ "$(jq --arg t "$TYPE" --arg c "$corr" --arg d "$3" \
        '[.[] | select(.alert == 1226 and .type == $t and .correlator == $c and .data == $d)] | length' <<<"$ev")" = 1 ] &&
        ok "$1: one 1226 event, FUMO type, correlator $corr, data $3" || bad "$1: events: $ev"
    [ "$(state_of "$tree")" = "$4" ] && ok "$1: the agent's State is $4" || bad "$1: State $(state_of "$tree") want $4"
    "$CLIENT" show --tree "$tree" | grep -q '^\./FUMO/dmsec/Ext/dmsec/Report/Server .*= ""' &&
        ok "$1: the report was delivered (cleared in the tree)" || bad "$1: report still pending"
}

# ---- happy path ----
expect "happy: dmsec fumo queues the flow" fumo_job ok "$HEX" "$SIZE"
seq=$(show "$exec" | jq -r .parent_id)
[ "$(show "$exec" | jq -r '.kind + " " + .target + " " + .correlator')" = "exec ./FUMO/dmsec/DownloadAndUpdate fumo-$seq" ] &&
    ok "happy: Exec DownloadAndUpdate, correlator fumo-$seq" || bad "happy: exec: $(show "$exec")"
expect "happy: agent sessions" agent "$work/hook-ok.sh"
both_ok "$work/sess.out" && [ "$(grep -c '^session=' "$work/sess.out")" = 2 ] &&
    ok "happy: two authenticated sessions (job, report)" || bad "happy: sessions: $(cat "$work/sess.out")"
outcome happy done 200 100
[ "$(grep -c installed "$work/installed" 2>/dev/null)" = 1 ] && ok "happy: the hook installed the package once" ||
    bad "happy: hook runs: $(cat "$work/installed" 2>/dev/null)"
[ "$("$TOOL" cmd list "$id" --db "$DB" --json | jq -r '[.[] | select(.state != "done")] | length')" = 0 ] &&
    ok "happy: the whole Sequence done" || bad "happy: $("$TOOL" cmd list "$id" --db "$DB")"
for u in ./FUMO/dmsec/DownloadAndUpdate/PkgURL ./FUMO/dmsec/Ext/dmsec/SHA256; do
    "$CLIENT" show --tree "$tree" | grep -q "^$u .*= \"\(http://127.0.0.1:${pkg_port[ok]}/fw.bin\|$HEX\)\"" &&
        ok "happy: $u set by the server" || bad "happy: $u: $("$CLIENT" show --tree "$tree" | grep "^$u ")"
done
# a second session changes nothing: the outcome is recorded once
"$CLIENT" session --tree "$tree" --server "$SID" >"$work/s2.out" 2>&1
both_ok "$work/s2.out" && [ "$("$TOOL" events "$id" --db "$DB" --json | jq length)" = 1 ] &&
    ok "happy: a later session adds no event" || bad "happy: later session: $(cat "$work/s2.out")"

# ---- the job seen while it runs (slow download) ----
expect "slow: dmsec fumo" fumo_job slow "$SHEX" 40000
agent "$work/hook-ok.sh" &
agent_pid=$!
running() {
    for _ in $(seq 1 100); do
        [ "$(state_of "$tree" 2>/dev/null)" = 30 ] && return 0
        sleep 0.05
    done
    return 1
}
if running; then
    ok "slow: the agent downloads (State 30)"
    [ "$(show "$exec" | jq -r '.state + " " + (.status | tostring)')" = "accepted 202" ] &&
        ok "slow: meanwhile the Exec is accepted (202)" || bad "slow: exec $(show "$exec" | jq -c '{state,status}')"
else bad "slow: no download seen"; fi
wait "$agent_pid"
outcome slow done 200 100

# ---- failures ----
expect "digest: dmsec fumo (wrong SHA-256)" fumo_job ok "$(echo x | sha256sum | cut -d' ' -f1)"
agent "$work/hook-ok.sh"
outcome "wrong digest" failed 402 20

expect "size: dmsec fumo (wrong size)" fumo_job ok "$HEX" $((SIZE - 1))
agent "$work/hook-ok.sh"
outcome "wrong size" failed 402 20

expect "truncate: dmsec fumo" fumo_job truncate "$HEX" "$SIZE"
agent "$work/hook-ok.sh"
outcome "truncated download" failed 503 20

expect "404: dmsec fumo" fumo_job 404 "$HEX" "$SIZE"
agent "$work/hook-ok.sh"
outcome "HTTP 404" failed 501 20

expect "hook: dmsec fumo" fumo_job ok "$HEX" "$SIZE"
agent "$work/hook-fail.sh"
outcome "failing hook" failed 410 80

[ "$(grep -c installed "$work/installed")" = 2 ] && ok "no failure installed anything" ||
    bad "installs: $(grep -c installed "$work/installed")"
# five failed updates in all, each its Exec, recorded once
failed=$("$TOOL" cmd list --all --db "$DB" --state failed --json)
[ "$(jq '[.[] | select(.kind == "exec")] | length' <<<"$failed")" = 5 ] &&
    ok "five failed Execs in the store" || bad "failed: $(jq -c '[.[] | {id, kind, target, status, outcome}]' <<<"$failed")"

echo "integration fumo_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
