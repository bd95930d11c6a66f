#!/usr/bin/env bash
# A short walk through dmsec's security computations with the dmsec tool.
# usage: scripts/demo.sh PATH_TO_dmsec
set -euo pipefail
dmsec=${1:-build/release/dmsec}
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "1. Credentials: the published auth-md5 vector (Bruce2 / OhBehave / nonce 'Nonce')"
run "$dmsec" cred --scheme md5 --user Bruce2 --secret OhBehave --nonce-b64 Tm9uY2U=
say "   ... and the DM 1.3 SHA-256 digest on a fresh 16-byte nonce"
nonce=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
run "$dmsec" cred --scheme sha256 --user IMEI:493005100592800 --secret s3cr3t --nonce-hex "$nonce"

say "2. A server alerts the device: package #0, signed with its secret and the server nonce"
pkg=$("$dmsec" pkg0 build --server-id dm.example.org --secret srv-secret --nonce-hex "$nonce" \
    --session-id 0xA1 --ui informative)
echo "$pkg"
say "   The device decodes and verifies it with its stored server nonce"
run "$dmsec" pkg0 decode --hex "$pkg" --secret srv-secret --nonce-hex "$nonce"

say "3. The device lost its nonce: the server resynchronises on the default nonce 00000000"
pkg=$("$dmsec" pkg0 build --server-id dm.example.org --secret srv-secret --nonce-hex 00000000 \
    --session-id 0xA2)
run "$dmsec" pkg0 decode --hex "$pkg" --secret srv-secret --nonce-hex ffffffffffffffff
say "   A forged notification (one bit flipped) is ignored"
forged="${pkg:0:30}$(printf '%x' $(( 0x${pkg:30:1} ^ 1 )))${pkg:31}"
run "$dmsec" pkg0 decode --hex "$forged" --secret srv-secret --nonce-hex ffffffffffffffff

say "4. Message integrity: x-syncml-hmac for a body, DM 1.2 (MD5) and DM 1.3 (HMAC-SHA256)"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
printf '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr/><SyncBody><Final/></SyncBody></SyncML>' >"$body"
run "$dmsec" hmac12 --user IMEI:493005100592800 --secret s3cr3t --nonce-hex "$nonce" --body "$body"
run "$dmsec" hmac13 --secret srv-secret --timestamp "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --body "$body"
say "Done. 'dmsec --help' lists every command."
