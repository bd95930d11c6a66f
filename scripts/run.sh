#!/usr/bin/env bash
# Installs the dependencies, builds dmsec and runs its main job: the DM
# server on its embedded default (HTTP on 127.0.0.1:8080, an SQLite store
# in ./dmsec.db, server id "dmsec"). Stop it with Ctrl-C (SIGINT) or
# SIGTERM. Options after the command go to dmsec-server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
mkdir -p build
# Quiet when it works; the compiler's words when it does not.
if ! { cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DDMSEC_TESTS=OFF &&
    cmake --build build/release -j "$(nproc)"; } >build/release.log 2>&1; then
    tail -n 40 build/release.log >&2
    echo "dmsec: the build failed (whole log: build/release.log)" >&2
    exit 1
fi
echo "dmsec: register devices with build/release/dmsec device add --db dmsec.db ... (build/release/dmsec --help)"
echo "dmsec: the whole system on loopback, told step by step: scripts/demo.sh"
exec build/release/dmsec-server --listen 127.0.0.1:8080 --db dmsec.db --server-id dmsec "$@"
