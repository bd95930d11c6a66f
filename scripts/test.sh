#!/usr/bin/env bash
# Installs the dependencies, builds dmsec twice (gcc with warnings as
# errors; clang with AddressSanitizer, UBSan and the libFuzzer harnesses),
# checks formatting and clang-tidy, then runs every test: unit tests, tool
# tests, corpus replays and a short fuzz run of each harness; and builds the
# Debian packages, installs them into a fresh Debian 12 root and runs a
# session there (tests/install/deb.sh, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

jobs=$(nproc)
fuzz_seconds=${DMSEC_FUZZ_SECONDS:-10}

echo "== format (clang-format)"
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find include src tools tests bench -name '*.[ch]')
clang-format --dry-run -Werror $files

echo "== release build, as scripts/run.sh makes it (-O3 warns where the others do not)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DDMSEC_TESTS=OFF >/dev/null
cmake --build build/release -j "$jobs" >/dev/null || cmake --build build/release -j 1

echo "== gcc build, warnings as errors"
cmake -S . -B build/gcc -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/gcc -j "$jobs"
echo "== gcc: tests"
ctest --test-dir build/gcc -j "$jobs" --output-on-failure

# Once, not under the sanitizers: it builds its own copy of the source. It
# needs root (debootstrap, chroot, mount): through sudo when not run as root.
echo "== Debian packages: build, lintian, install into a debootstrap root, a session"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" tests/install/deb.sh build

echo "== clang build, AddressSanitizer + UBSan + libFuzzer"
cmake -S . -B build/asan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
    -DDMSEC_SANITIZE=ON -DDMSEC_FUZZ=ON -DDMSEC_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/asan -j "$jobs"

echo "== clang-tidy"
git ls-files --cached --others --exclude-standard 'src/*.c' 'store/*.c' 'dispatch/*.c' 'tools/*.c' 'server/*.c' \
    'client/*.c' |
    xargs -P "$jobs" -n 1 clang-tidy -p build/asan --quiet 2>&1 |
    { grep -v -E '^[0-9]+ warnings? generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter' || true; } |
    tee build/clang-tidy.log
if grep -q -E '(warning|error):' build/clang-tidy.log; then
    echo "clang-tidy: findings above" >&2
    exit 1
fi

echo "== sanitizers: every test, and ${fuzz_seconds}s of fuzzing per harness"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan -j "$jobs" --output-on-failure
