# Shared by the tool tests (sourced, not run): a scratch directory removed
# at exit, pass/fail counting, and the two kinds of check.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL $*" >&2
}
check() { # name got want
    if [ "$2" == "$3" ]; then ok; else bad "$1: got '$2' want '$3'"; fi
}
# An error exit: status want_status, a "dmsec: " message on stderr and
# nothing on stdout. usage: expect_error NAME WANT_STATUS COMMAND...
expect_error() {
    local name=$1 want=$2
    shift 2
    local out
    out=$("$@" 2>"$work/err")
    local st=$?
    if [ "$st" -eq "$want" ] && [ -z "$out" ] && grep -q '^dmsec: ' "$work/err"; then
        ok
    else
        bad "$name: status $st (want $want), stdout '$out', stderr '$(cat "$work/err")'"
    fi
}
