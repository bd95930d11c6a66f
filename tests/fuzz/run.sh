#!/usr/bin/env bash
# Fuzzes one libFuzzer harness for a few seconds, starting from its seed
# corpus (copied, so the source tree is not written to).
# usage: run.sh HARNESS CORPUS_DIR SECONDS
set -euo pipefail
harness=$1 corpus=$2 seconds=${3:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/ 2>/dev/null || true
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$PWD/$(basename "$harness")-" "$work" 2>&1 | tail -n 12
status=${PIPESTATUS[0]}
name=$(basename "$harness")
if ls "$name"-crash-* "$name"-leak-* "$name"-timeout-* >/dev/null 2>&1; then
    echo "fuzz: $name found a failing input, kept in $PWD" >&2
    exit 1
fi
exit "$status"
