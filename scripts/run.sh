#!/usr/bin/env bash
# Installs the dependencies, builds dmsec and runs its main job. Until the
# server lands this is a short demonstration of the dmsec tool.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DDMSEC_TESTS=OFF >/dev/null
cmake --build build/release -j "$(nproc)" >/dev/null
exec scripts/demo.sh build/release/dmsec
