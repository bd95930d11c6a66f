# Shared by the integration scripts (sourced, not run): a scratch directory,
# background processes cleaned up at exit, pass/fail counting and free ports.
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
free_port() { # a loopback TCP port nobody listens on
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo 0
}
