#!/usr/bin/env bash
# Runs the integration tests several times in a row (5 by default) while a
# CPU hog keeps every core busy (stress-ng when installed, otherwise one busy
# loop per core), and stops at the first failure. It checks that the suite
# waits on readiness and never on timing.
# usage: scripts/stress.sh [BUILD_DIR (build/gcc)] [RUNS (5)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/gcc}
runs=${2:-5}
cores=$(nproc)
[ -f "$build/CTestTestfile.cmake" ] || {
    echo "stress: no build in $build (build it first, see README.md)" >&2
    exit 2
}

hog=()
stop_hog() { [ ${#hog[@]} -eq 0 ] || kill "${hog[@]}" 2>/dev/null || true; }
trap stop_hog EXIT
if command -v stress-ng >/dev/null; then
    stress-ng --cpu "$cores" --cpu-method all --quiet &
    hog+=($!)
    what="stress-ng --cpu $cores"
else
    for _ in $(seq "$cores"); do
        bash -c 'while :; do :; done' &
        hog+=($!)
    done
    what="$cores busy loops"
fi

echo "stress: $runs runs of the integration tests, every core busy ($what)"
for i in $(seq "$runs"); do
    start=$(date +%s)
    if ! ctest --test-dir "$build" -R '^integration\.' -j "$cores" --output-on-failure >"$build/stress-$i.log" 2>&1; then
        grep -E 'tests passed|\*\*\*|Failed' "$build/stress-$i.log" >&2 || true
        echo "stress: run $i FAILED (log: $build/stress-$i.log)" >&2
        exit 1
    fi
    echo "stress: run $i passed: $(grep -E 'tests passed' "$build/stress-$i.log") in $(($(date +%s) - start)) s"
done
echo "stress: $runs of $runs runs passed under load"
