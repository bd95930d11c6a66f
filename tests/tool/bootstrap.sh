#!/usr/bin/env bash
# Checks `dmsec bootstrap` and `dmsec gba-kdf` against an independent
# computation with the openssl command line on random inputs, and checks
# that bad input exits non-zero with a message on stderr and nothing on
# stdout (and that the PIN never shows up in a message).
# usage: bash bootstrap.sh PATH_TO_dmsec
set -u
dmsec=${1:?usage: bootstrap.sh PATH_TO_dmsec}
rounds=${BOOT_ROUNDS:-6}
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
MT=application/vnd.syncml.dm+wbxml

# Hex of a string's bytes, lowercase, no separators.
hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# The IMSI's semi-octets, derived here from the rule: a 9 for an odd digit
# count or a 1 and an F filler for an even one, then each pair swapped.
imsi_key() {
    local d=$1 s out="" i
    if ((${#d} % 2)); then s="9$d"; else s="1${d}F"; fi
    for ((i = 0; i < ${#s}; i += 2)); do out+="${s:i+1:1}${s:i:1}"; done
    printf '%s' "$out"
}

hmac_sha1() { # hexkey file -> uppercase hex
    openssl dgst -sha1 -mac HMAC -macopt "hexkey:$1" "$2" | awk '{print toupper($NF)}'
}

random_digits() { # n
    od -An -v -tu1 -N "$1" /dev/urandom | tr -s ' ' '\n' | grep -v '^$' |
        while read -r b; do printf '%d' $((b % 10)); done
}

random_text() { # n
    LC_ALL=C tr -dc 'A-Za-z0-9!#%&*+,.:=@_' </dev/urandom | head -c "$1"
}

# expect_same WHAT WANT GOT
expect_same() {
    if [[ "$2" == "$3" && -n "$2" ]]; then ok; else bad "$1: want '$2', got '$3'"; fi
}

# expect_error WHAT CODE CMD...: exit CODE, stderr "dmsec: ...", stdout empty.

for ((r = 0; r < rounds; r++)); do
    n=$(((r * 7) % 400))
    head -c "$n" /dev/urandom >"$work/msg.wbxml"
    imsi=$(random_digits $((6 + r % 10)))
    pin=$(random_text $((4 + r % 9)))
    raw=$(random_text $((3 + r % 20)))
    ikey=$(imsi_key "$imsi")
    tag="round $r (imsi $imsi, ${n}-byte message)"

    want=$(hmac_sha1 "$ikey" "$work/msg.wbxml")
    got=$("$dmsec" bootstrap mac --keytype NETWORKID --imsi "$imsi" --wbxml "$work/msg.wbxml")
    expect_same "$tag NETWORKID/imsi" "$want" "$got"
    mac_nid=$want

    want=$(hmac_sha1 "$(hex_of "$raw")" "$work/msg.wbxml")
    got=$("$dmsec" bootstrap mac --keytype NETWORKID --network-id "$raw" --wbxml "$work/msg.wbxml")
    expect_same "$tag NETWORKID/raw" "$want" "$got"

    want=$(hmac_sha1 "$(hex_of "$pin")" "$work/msg.wbxml")
    got=$("$dmsec" bootstrap mac --keytype USERPIN --pin "$pin" --wbxml "$work/msg.wbxml")
    expect_same "$tag USERPIN" "$want" "$got"
    mac_pin=$want

    printf '%s\n' "$pin" >"$work/pin.txt"
    got=$("$dmsec" bootstrap mac --keytype USERPIN --pin-file "$work/pin.txt" \
        --wbxml "$work/msg.wbxml")
    expect_same "$tag USERPIN/pin-file" "$want" "$got"

    want=$(hmac_sha1 "$(hex_of "$pin:")$ikey" "$work/msg.wbxml")
    got=$("$dmsec" bootstrap mac --keytype USERPIN_NETWORKID --imsi "$imsi" --pin "$pin" \
        --wbxml "$work/msg.wbxml")
    expect_same "$tag USERPIN_NETWORKID/imsi" "$want" "$got"
    mac_upn=$want

    want=$(hmac_sha1 "$(hex_of "$pin:$raw")" "$work/msg.wbxml")
    got=$("$dmsec" bootstrap mac --keytype USERPIN_NETWORKID --network-id "$raw" --pin "$pin" \
        --wbxml "$work/msg.wbxml")
    expect_same "$tag USERPIN_NETWORKID/raw" "$want" "$got"

    # The Content-Type, written here by hand, in each form.
    got=$("$dmsec" bootstrap content-type --keytype NETWORKID --mac "$mac_nid")
    expect_same "$tag content-type seed" "$MT;NETWORKID;$mac_nid" "$got"
    low=$(printf '%s' "$mac_upn" | tr 'A-F' 'a-f')
    got=$("$dmsec" bootstrap content-type --keytype USERPIN_NETWORKID --mac "$low" --form sec)
    expect_same "$tag content-type sec" "$MT; SEC=USERNETWPIN; MAC=$mac_upn" "$got"
    got=$("$dmsec" bootstrap content-type --keytype USERPIN --mac "$mac_pin" --form wsp)
    expect_same "$tag content-type wsp" "1f2dc2918192$(hex_of "$mac_pin")00" "$got"

    # verify: every form and key type, MACs in either case.
    got=$("$dmsec" bootstrap verify --content-type "$MT;NETWORKID;$mac_nid" --imsi "$imsi" \
        --wbxml "$work/msg.wbxml")
    expect_same "$tag verify seed NETWORKID" ok "$got"
    got=$("$dmsec" bootstrap verify --content-type " $MT ; sec=userpin ; mac=\"$mac_pin\"" \
        --pin "$pin" --wbxml "$work/msg.wbxml")
    expect_same "$tag verify sec USERPIN" ok "$got"
    got=$("$dmsec" bootstrap verify --content-type "$MT;userpin_networkid;$low" --imsi "$imsi" \
        --pin "$pin" --wbxml "$work/msg.wbxml")
    expect_same "$tag verify seed USERPIN_NETWORKID" ok "$got"
    got=$("$dmsec" bootstrap verify --content-type-hex "1f2dc2918092$(hex_of "$mac_nid")00" \
        --imsi "$imsi" --wbxml "$work/msg.wbxml")
    expect_same "$tag verify wsp NETWORKID" ok "$got"

    # A changed message, a wrong PIN, a MAC of another key type: refused.
    { cat "$work/msg.wbxml"; printf 'x'; } >"$work/msg2.wbxml"
    expect_error "$tag verify changed message" 1 "$dmsec" bootstrap verify \
        --content-type "$MT;NETWORKID;$mac_nid" --imsi "$imsi" --wbxml "$work/msg2.wbxml"
    expect_error "$tag verify wrong PIN" 1 "$dmsec" bootstrap verify \
        --content-type "$MT;USERPIN;$mac_pin" --pin "${pin}0" --wbxml "$work/msg.wbxml"
    expect_error "$tag verify other key type's MAC" 1 "$dmsec" bootstrap verify \
        --content-type "$MT;USERPIN;$mac_nid" --imsi "$imsi" --pin "$pin" \
        --wbxml "$work/msg.wbxml"

    ks=$(openssl rand -hex 32)
    want=$(printf '\x01dm-bik\x00\x06' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$ks" |
        awk '{print $NF}')
    got=$("$dmsec" gba-kdf --ks-naf-hex "$ks" --key dmbik)
    expect_same "round $r gba-kdf dmbik" "$want" "$got"
    want=$(printf '\x01dm-bek\x00\x06' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$ks" |
        awk '{print $NF}')
    got=$("$dmsec" gba-kdf --ks-naf-hex "$ks" --key dmbek)
    expect_same "round $r gba-kdf dmbek" "$want" "$got"
done

# --json (the last round's values), parsed by jq.
json=$("$dmsec" bootstrap mac --keytype USERPIN --pin "$pin" --wbxml "$work/msg.wbxml" --json)
expect_same "mac --json" "USERPIN $mac_pin" "$(jq -r '[.keytype, .mac] | join(" ")' <<<"$json")"
json=$("$dmsec" bootstrap verify --content-type "$MT;NETWORKID;$mac_nid" --imsi "$imsi" \
    --wbxml "$work/msg.wbxml" --json)
expect_same "verify --json" "true NETWORKID" "$(jq -r '[.verified, .keytype] | join(" ")' <<<"$json")"
expect_error "verify --json refused" 1 "$dmsec" bootstrap verify --json \
    --content-type "$MT;NETWORKID;$mac_nid" --imsi "$imsi" --wbxml "$work/msg2.wbxml"
json=$("$dmsec" bootstrap content-type --keytype NETWORKID --mac "$mac_nid" --json)
expect_same "content-type --json" "seed $MT;NETWORKID;$mac_nid" \
    "$(jq -r '[.form, .content_type] | join(" ")' <<<"$json")"
json=$("$dmsec" bootstrap content-type --keytype USERPIN --mac "$mac_pin" --form wsp --json)
expect_same "content-type wsp --json hex" "1f2dc2918192$(hex_of "$mac_pin")00" "$(jq -r .hex <<<"$json")"
expect_same "content-type wsp --json base64" "1f2dc2918192$(hex_of "$mac_pin")00" \
    "$(jq -r .base64 <<<"$json" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
json=$("$dmsec" gba-kdf --ks-naf-hex "$ks" --key dmbek --json)
expect_same "gba-kdf --json" "DMBEK $want" "$(jq -r '[.key, .hex] | join(" ")' <<<"$json")"

# Error exits.
printf 'wbxml' >"$work/w"
mac=0123456789ABCDEF0123456789ABCDEF01234567
expect_error "bad keytype" 1 "$dmsec" bootstrap mac --keytype NETWPIN_X --imsi 234150999999999 \
    --wbxml "$work/w"
expect_error "keytype that has no MAC key" 1 "$dmsec" bootstrap mac --keytype 3GPP_GBA \
    --imsi 234150999999999 --wbxml "$work/w"
expect_error "IMSI with a letter" 1 "$dmsec" bootstrap mac --keytype NETWORKID \
    --imsi 23415099999999a --wbxml "$work/w"
expect_error "IMSI too short" 1 "$dmsec" bootstrap mac --keytype NETWORKID --imsi 12345 \
    --wbxml "$work/w"
expect_error "IMSI of 16 digits" 1 "$dmsec" bootstrap mac --keytype NETWORKID \
    --imsi 1234567890123456 --wbxml "$work/w"
expect_error "no network id" 1 "$dmsec" bootstrap mac --keytype NETWORKID --wbxml "$work/w"
expect_error "no PIN" 1 "$dmsec" bootstrap mac --keytype USERPIN --imsi 234150999999999 \
    --wbxml "$work/w"
expect_error "missing file" 1 "$dmsec" bootstrap mac --keytype NETWORKID --imsi 234150999999999 \
    --wbxml "$work/does-not-exist"
expect_error "missing --wbxml" 2 "$dmsec" bootstrap mac --keytype NETWORKID \
    --imsi 234150999999999
expect_error "IMSI and network id" 2 "$dmsec" bootstrap mac --keytype NETWORKID \
    --imsi 234150999999999 --network-id x --wbxml "$work/w"
expect_error "unknown subcommand" 2 "$dmsec" bootstrap sign
expect_error "unknown option" 2 "$dmsec" bootstrap mac --keytype NETWORKID --colour red
expect_error "verify, bad MAC digits" 1 "$dmsec" bootstrap verify \
    --content-type "$MT;NETWORKID;${mac}0" --imsi 234150999999999 --wbxml "$work/w"
expect_error "verify, other media type" 1 "$dmsec" bootstrap verify \
    --content-type "text/plain;NETWORKID;$mac" --imsi 234150999999999 --wbxml "$work/w"
expect_error "verify, MAC missing" 1 "$dmsec" bootstrap verify \
    --content-type "$MT; SEC=NETWPIN" --imsi 234150999999999 --wbxml "$work/w"
expect_error "verify, unknown SEC" 1 "$dmsec" bootstrap verify \
    --content-type "$MT; SEC=NOPE; MAC=$mac" --imsi 234150999999999 --wbxml "$work/w"
expect_error "verify, other key type" 1 "$dmsec" bootstrap verify \
    --content-type "$MT;ESN;$mac" --network-id 8C3A21F0 --wbxml "$work/w"
expect_error "verify, GBA" 1 "$dmsec" bootstrap verify \
    --content-type "$MT; SEC=3GPP_GBA" --imsi 234150999999999 --wbxml "$work/w"
expect_error "verify, truncated binary" 1 "$dmsec" bootstrap verify \
    --content-type-hex 1f2dc29180 --imsi 234150999999999 --wbxml "$work/w"
expect_error "content-type, bad MAC" 1 "$dmsec" bootstrap content-type --keytype USERPIN \
    --mac "${mac:0:39}"
expect_error "content-type, GBA in the seed form" 1 "$dmsec" bootstrap content-type \
    --keytype 3GPP_GBA
expect_error "gba-kdf, short Ks_NAF" 1 "$dmsec" gba-kdf --ks-naf-hex 0011 --key dmbik
expect_error "gba-kdf, not hex" 1 "$dmsec" gba-kdf --ks-naf-hex zz --key dmbik
expect_error "gba-kdf, unknown key" 2 "$dmsec" gba-kdf --ks-naf-hex "$(openssl rand -hex 32)" \
    --key dmbxk

# The PIN is a secret: no message may repeat it.
secret=S3cretPinXYZ
for args in "--keytype USERPIN_NETWORKID --imsi 2341x --wbxml $work/w" \
    "--keytype USERPIN --wbxml $work/none" \
    "--keytype BOGUS --imsi 234150999999999 --wbxml $work/w"; do
    # shellcheck disable=SC2086
    "$dmsec" bootstrap mac $args --pin "$secret" >/dev/null 2>"$work/err"
    if grep -q "$secret" "$work/err"; then bad "PIN shown on stderr ($args)"; else ok; fi
done
"$dmsec" bootstrap verify --content-type "$MT;USERPIN;$mac" --pin "$secret" \
    --wbxml "$work/w" >/dev/null 2>"$work/err"
if grep -q "$secret" "$work/err"; then bad "PIN shown on stderr (verify)"; else ok; fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
