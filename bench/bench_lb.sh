#!/usr/bin/env bash
# The load balancer's ceiling, in one run: requests per second of the
# fixed-body backend (bench_server's HTTP ceiling: libmicrohttpd, a thread
# per connection, 1,024 bytes) directly, and through HAProxy to one and to
# three such backends, from the same keep-alive clients; then the ratios.
# HAProxy runs as the multi-node tests run it (tests/integration/lib/
# services.bash: the same config, health checks on /healthz). Three rounds,
# interleaved; the best round of each measure counts. Everything shares
# this machine's cores: the CPU per request of the clients, of HAProxy and
# of the backends is printed so that a many-core figure can be reasoned.
# usage: bench/bench_lb.sh BENCH_LB [SECONDS] [CLIENTS]   (build/gcc/bench_lb; 6 s, 16)
set -uo pipefail
BENCH=$(realpath "$1")
SECONDS_ALL=${2:-6}
CLIENTS=${3:-16}
here=$(dirname "$(realpath "$0")")
# shellcheck source=../tests/integration/common.bash
. "$here/../tests/integration/common.bash"
# shellcheck source=../tests/integration/lib/services.bash
. "$here/../tests/integration/lib/services.bash"
need_programs bench_lb "$BENCH" haproxy socat curl

P1=$(free_port) P2=$(free_port) P3=$(free_port)
"$BENCH" serve "$P1" "$P2" "$P3" >"$work/serve.log" 2>&1 &
backends=$!
pids+=("$backends")
wait_line ready "$work/serve.log" || {
    echo "bench_lb: the backends do not start: $(cat "$work/serve.log")" >&2
    exit 1
}
per=$(awk -v s="$SECONDS_ALL" 'BEGIN { printf "%.2f", s / 3 }')

# run NAME URL [PID...]: one round of a measure; its line goes to
# $work/NAME.N (N the round) and to stderr.
run() {
    local name=$1 url=$2 out=$work/$1.$round
    "$BENCH" drive "$url" "$per" "$CLIENTS" "${@:3}" >"$out" || echo "FAILED" >>"$out"
    echo "round $round: $name $(cat "$out")" >&2
}
for round in 1 2 3; do
    run direct "http://127.0.0.1:$P1/dm" "$backends"
    LB=
    start_haproxy LB "127.0.0.1:$P1" || {
        echo "bench_lb: haproxy does not start: $(tail -3 "$work/haproxy.log")" >&2
        exit 1
    }
    run lb1 "http://127.0.0.1:$LB/dm" "$HAPROXY_PID" "$backends"
    stop_haproxy
    LB=
    start_haproxy LB "127.0.0.1:$P1" "127.0.0.1:$P2" "127.0.0.1:$P3" || {
        echo "bench_lb: haproxy does not start: $(tail -3 "$work/haproxy.log")" >&2
        exit 1
    }
    run lb3 "http://127.0.0.1:$LB/dm" "$HAPROXY_PID" "$backends"
    stop_haproxy
done

# best NAME: the line of the best round of NAME (most requests/s).
best() {
    local f r top=-1 line=
    for f in "$work/$1".*; do
        r=$(field requests_per_s "$f")
        [ -n "$r" ] && [ "$r" -gt "$top" ] && top=$r line=$(cat "$f")
    done
    echo "$line"
}
direct=$(best direct) lb1=$(best lb1) lb3=$(best lb3)
echo "$direct" >"$work/d" && echo "$lb1" >"$work/l1" && echo "$lb3" >"$work/l3"
rd=$(field requests_per_s "$work/d") r1=$(field requests_per_s "$work/l1")
r3=$(field requests_per_s "$work/l3")
# CPU per request: the clients, HAProxy (the first pid given) and the
# backends (the last).
cpu() { # FILE: "clients C us, haproxy H us, backends B us"
    awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /_us=/) { split($i, kv, "="); v[++n] = kv[2] }
           if (n == 2) printf "clients %.0f us, backends %.0f us", v[1], v[2]
           else printf "clients %.0f us, haproxy %.0f us, backends %.0f us", v[1], v[2], v[3] }' "$1"
}
echo "clients: $CLIENTS keep-alive, loopback, $(nproc) cores; HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }')"
printf 'fixed-body backend, direct        %8d requests/s  CPU per request: %s\n' "$rd" "$(cpu "$work/d")"
printf 'through HAProxy, one backend      %8d requests/s  CPU per request: %s  ratio %.2f\n' \
    "$r1" "$(cpu "$work/l1")" "$(awk -v a="$r1" -v b="$rd" 'BEGIN { print a / b }')"
printf 'through HAProxy, three backends   %8d requests/s  CPU per request: %s  ratio %.2f\n' \
    "$r3" "$(cpu "$work/l3")" "$(awk -v a="$r3" -v b="$rd" 'BEGIN { print a / b }')"
grep -q FAILED "$work"/direct.* "$work"/lb1.* "$work"/lb3.* && {
    echo "some requests failed" >&2
    exit 1
}
exit 0
