#!/usr/bin/env bash
# Model-checks tests/model/dmsec.pml with spin. usage:
#   tests/model/run.sh CONFIG [SCRATCH_DIR]
# CONFIG is one of
#   defaults      dmsec's defaults: every safety assertion and bounded recovery
#                 must hold (exhaustive search)
#   liveness      the LTL property 'recover' with weak fairness (pan -a -f)
#   solution1     Solution 1 on: spin must find the seed-003 replay (exit 0 only then)
#   rollback      server store rolled back while the attacker is active: spin
#                 must find the replay on the restored nonce (a known limit)
#   rollback_fix  the same with the fix RESTORE_SAFE: must pass
# Prints states stored/matched, transitions and time; for an expected attack
# it prints the trail (the MSC lines of spin -t).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=${1:?usage: $0 defaults|liveness|solution1|rollback|rollback_fix [scratch dir]}
work=${2:-$PWD/model-$config}

die() {
    echo "model.$config: FAIL: $*" >&2
    exit 1
}
command -v spin >/dev/null 2>&1 || die "spin not found (Debian package 'spin': apt-get install spin)"
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || die "C compiler '$cc' not found"

expect=pass
claim=safety
case "$config" in
defaults) defs=() ;;
liveness) defs=(-DNPRE=1) claim=ltl ;;
solution1) defs=(-DSOL1=1 -DMAXDROP=0) expect=attack ;;
rollback) defs=(-DRESTORE_ACTIVE=1) expect=attack ;;
rollback_fix) defs=(-DRESTORE_ACTIVE=1 -DRESTORE_SAFE=1) ;;
*) die "unknown config '$config'" ;;
esac

rm -rf "$work"
mkdir -p "$work"
cd "$work"
cp "$here/dmsec.pml" .
start=$(date +%s.%N)
spin "${defs[@]}" -a dmsec.pml >spin.log 2>&1 || {
    cat spin.log >&2
    die "spin -a failed"
}
if [ "$claim" = safety ]; then
    ccflags=(-DNOCLAIM -DSAFETY)
    panflags=(-m200000 -w24)
else
    ccflags=(-DNFAIR=3)
    panflags=(-a -f -N recover -m200000 -w22)
fi
"$cc" -O2 -w "${ccflags[@]}" -o pan pan.c || die "cc pan.c failed"
set +e
./pan "${panflags[@]}" >pan.out 2>&1
rc=$?
set -e
end=$(date +%s.%N)

echo "model.$config: spin ${defs[*]:-(defaults)}; pan ${panflags[*]}"
grep -E "^(pan:[0-9]|State-vector| +[0-9.e+]+ (states|transitions)|	(assertion|acceptance|cycle|invalid))" pan.out |
    grep -v "^pan: wrote" || true
grep -E "elapsed time" pan.out || true
printf 'model.%s: wall time %.1f s (spin + cc + pan)\n' "$config" "$(echo "$end - $start" | bc)"

[ $rc -eq 0 ] || die "pan exited with $rc"
grep -q "max search depth too small" pan.out && die "search depth too small: raise -m"
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | tail -1)
[ -n "$errors" ] || die "no result from pan (see $work/pan.out)"

if [ "$expect" = pass ]; then
    [ "$errors" -eq 0 ] || {
        spin "${defs[@]}" -t dmsec.pml 2>&1 | grep -E "MSC:|Error|assert" >&2 || true
        die "spin found a violation (trail above, $work/dmsec.pml.trail)"
    }
    echo "model.$config: PASS (no violation, exhaustive within the bounds)"
else
    [ "$errors" -gt 0 ] && grep -q "assertion violated" pan.out ||
        die "spin found no attack: the model lost its teeth"
    echo "model.$config: attack found, as expected. Trail:"
    spin "${defs[@]}" -t dmsec.pml 2>&1 | grep -E "MSC:|Error|text of failed" | sed 's/^ *//'
    echo "model.$config: PASS (the expected violation)"
fi
