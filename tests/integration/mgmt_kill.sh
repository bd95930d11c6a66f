#!/usr/bin/env bash
# kill -9 in the middle of a management session, through the real server
# (issue 11, "Tests"): commands queued with `dmsec cmd`, the agent
# (dmsec-client) running a slow Exec handler among them (the window: the
# handler writes a line when it starts and waits for a file), then
#  (A) dmsec-server killed -9 while the agent runs the handler, started again;
#  (B) the agent killed -9 while it runs the handler.
# After each, the next session delivers everything again (at least once) and
# the store records each command once: done, its Status and Results once
# (attempts 2, one row each in `dmsec results`, one status line in the log),
# and the agent's tree parses and holds the last values.
# usage: mgmt_kill.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs mgmt_kill "$CLIENT" jq sqlite3
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
LOG=$work/server.log
start_server_or_end mgmt_kill PORT "$LOG"
URL=http://127.0.0.1:$PORT/dm

id=IMEI:490154203239101
tree=$work/$id.tree
expect "enrol" enrol_client "$id" md5 "$URL"
expect "provision ./Ext" tree_append "$tree" "1 node Ext Add=$SID&Delete=$SID&Get=$SID&Replace=$SID&Exec=$SID" \
    "2 int Ord - 0"
# The slow handler: a line when it starts, then it waits for $work/go.
cat >"$work/slow.sh" <<EOF
#!/bin/sh
echo "started \$DMSEC_EXEC_CORRELATOR" >>"$work/slow.log"
while [ ! -e "$work/go" ]; do sleep 0.02; done
echo "finished \$DMSEC_EXEC_CORRELATOR" >>"$work/slow.log"
EOF
chmod +x "$work/slow.sh"
: >"$work/slow.log"
agent_session=("$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Slow=$work/slow.sh")
session() { # OUT: a session of the agent; 0 when both sides authenticated
    "${agent_session[@]}" >"$1" 2>&1 && both_ok "$1"
}
agent() { # OUT: a session of the agent in the background (its pid in agent_pid)
    "${agent_session[@]}" >"$1" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
}
kill9() { # PID: killed -9, and waited for
    {
        kill -9 "$1"
        wait "$1"
    } 2>/dev/null
}
q() { "$TOOL" cmd "$1" "$id" "$2" --db "$DB" "${@:3}"; }
leaf() { "$CLIENT" show --tree "$tree" | sed -n "s|^$1 \[[^]]*\]\( acl=\"[^\"]*\"\)\? = \"\(.*\)\"$|\2|p"; }
# rows ID...: "state|status|attempts" of each command, one line each
rows() { sqlite3 "$DB" "SELECT state || '|' || status || '|' || attempts FROM commands WHERE id IN ($(
    IFS=,
    echo "$*"
)) ORDER BY id"; }
# Each of the commands done 200 after at least N attempts, one row in
# `dmsec results` and one status line in the server's log:
# recorded_once NAME N ID...
recorded_once() {
    local name=$1 n=$2 c r bad_rows="" res
    shift 2
    res=$("$TOOL" results "$id" --db "$DB" --json)
    for c in "$@"; do
        r=$(rows "$c")
        [[ $r == 3\|200\|* && ${r##*|} -ge $n ]] || bad_rows+=" $c:$r"
        [ "$(jq --argjson c "$c" '[.[] | select(.id == $c)] | length' <<<"$res")" = 1 ] || bad_rows+=" $c:results"
        [ "$(grep -c "command $c device=$id session=[0-9A-F]* status=" "$LOG")" = 1 ] || bad_rows+=" $c:log"
    done
    [ -z "$bad_rows" ] && ok "$name: each done once ($n attempts or more)" || bad "$name:$bad_rows"
}
# round X V1 V2: queues Replace ./Ext/Ord V1, the slow Exec (correlator X),
# Replace V2 and a Get of ./Ext/Ord (their ids in ids), starts the agent
# ($work/X1.out) and waits until it runs the Exec.
round() {
    ids=("$(q replace ./Ext/Ord --data "$2" --format int)" "$(q exec ./Ext/Slow --correlator "$1")"
        "$(q replace ./Ext/Ord --data "$3" --format int)" "$(q get ./Ext/Ord)")
    agent "$work/${1}1.out"
    wait_line "started $1" "$work/slow.log" && ok "$1: the agent runs the Exec" ||
        bad "$1: no exec: $(cat "$work/${1}1.out")"
}
# after_kill X: after the kill, the four of the round sent with no Status, and the
# agent's tree parses.
after_kill() {
    [ "$(rows "${ids[@]}" | cut -d'|' -f1 | sort -u)" = 1 ] && ok "$1: the four recorded sent, no Status" ||
        bad "$1: rows $(rows "${ids[@]}" | tr '\n' ' ')"
    "$CLIENT" show --tree "$tree" >/dev/null 2>&1 && ok "$1: the tree parses" || bad "$1: tree unreadable"
}
# again X V2: after the next session, the round done once each, the Exec
# delivered again, the tree holding V2 and the Get reading it.
again() {
    recorded_once "$1" 2 "${ids[@]}"
    [ "$(grep -c "^started $1\$" "$work/slow.log")" = 2 ] && ok "$1: the Exec delivered again" ||
        bad "$1: exec runs: $(cat "$work/slow.log")"
    [ "$(leaf ./Ext/Ord)" = "$2" ] && ok "$1: the tree holds the last value" || bad "$1: Ord=$(leaf ./Ext/Ord)"
    [ "$("$TOOL" cmd show "${ids[3]}" --db "$DB" --json | jq -r .result)" = "$2" ] && ok "$1: the Get read it" ||
        bad "$1: get"
}

# ---- (A) the server killed -9 while the agent runs the Exec ----
round A 1 2
kill9 "$server_pid"
touch "$work/go"
if wait "$agent_pid"; then bad "A: the session survived its server: $(cat "$work/A1.out")"; else
    ok "A: the session failed with its server"
fi
after_kill A
expect "A: the server starts again" start_server PORT "$LOG"
session "$work/A2.out" && ok "A: the next session" || bad "A: next session: $(cat "$work/A2.out")"
# (3 attempts when the agent first challenges the server's Cred: the server
# nonce it stored in the cut session never reached the server; the commands
# of that message are answered 401, not run, and sent again)
again A 2

# ---- (B) the agent killed -9 while it runs the Exec ----
rm -f "$work/go"
round B 3 4
kill9 "$agent_pid"
touch "$work/go" # the handler (its own process group) ends
wait_line "finished B" "$work/slow.log" || bad "B: the handler did not end"
after_kill B
session "$work/B2.out" && ok "B: the next session (the server's cut one still open)" ||
    bad "B: next session: $(cat "$work/B2.out")"
again B 4

# nothing more to send, and an empty session records nothing again
session "$work/c.out" && ok "an empty session" || bad "empty session: $(cat "$work/c.out")"
[ "$("$TOOL" results "$id" --db "$DB" --json | jq length)" = 8 ] && ok "eight results in all" ||
    bad "results: $("$TOOL" results "$id" --db "$DB")"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE device_id = '$id' AND state <> 3")" = 0 ] &&
    ok "nothing left queued or sent" || bad "left: $("$TOOL" cmd list "$id" --db "$DB")"

echo "integration mgmt_kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
