#!/usr/bin/env bash
# Interop of `dmsec wbxml` with libwbxml2's tools (Debian libwbxml2-utils).
# usage: wbxml.sh PATH_TO_dmsec
#
# What libwbxml 0.11.8's tools do (checked by hand, relied on below):
# - xml2wbxml writes WBXML 1.3 and a string table by default; `-v 1.2`
#   selects WBXML 1.2 and `-n` turns the string table off. With both, its
#   output is byte-identical to `dmsec wbxml encode` for documents without
#   Item/Data, and to the libdmclient WBXML capture (the client used it).
# - It needs no DOCTYPE: it recognises SyncML by the root element and writes
#   public id 0x1201 for SYNCML:SYNCML1.2 and 0x0FD3 for SYNCML:SYNCML1.1.
# - Without -k it drops whitespace-only text and trims leading and trailing
#   whitespace of text, so the documents here have none.
# - It always writes Item/Data as OPAQUE; wbxml2xml always writes Item/Data
#   as a CDATA section and an empty OPAQUE as <Data/>. dmsec keeps
#   "opaque" as a flag (OPAQUE <-> CDATA), so documents are compared in a
#   canonical form that ignores it: `dmsec wbxml encode | dmsec wbxml decode`
#   (compact, DTD order, one escaping), then CDATA sections unwrapped into
#   escaped text and <X></X> written <X/>.
# - wbxml2xml -m 0 writes compact XML with a DOCTYPE (public and system id,
#   no internal subset), which dmsec tolerates.
set -u
dmsec=${1:?usage: wbxml.sh PATH_TO_dmsec}
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data/codec
fixtures=${DMSEC_FIXTURES:-$here/../../../shared/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0

ok() {
    pass=$((pass + 1))
}
ko() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
}

for tool in xml2wbxml wbxml2xml perl; do
    if ! command -v "$tool" >/dev/null; then
        echo "wbxml.sh: $tool not installed (apt-get install libwbxml2-utils perl)" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
done

# CDATA unwrapped into escaped text, empty elements as <X/>.
norm() {
    perl -0777 -pe '
        sub esc { my $s = shift; $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
                  $s =~ s/"/&quot;/g; $s =~ s/\x27/&apos;/g; $s =~ s/\r/&#13;/g; return $s; }
        s/<!\[CDATA\[(.*?)\]\]>/esc($1)/gse;
        s/<([A-Za-z]+)( xmlns="[^"]*")?><\/\1>/<$1$2\/>/g;'
}

# canon FILE.xml: the document in canonical form (empty on failure).
canon() {
    "$dmsec" wbxml encode "$1" >"$work/c.wbxml" 2>/dev/null &&
        "$dmsec" wbxml decode "$work/c.wbxml" 2>/dev/null | norm
}

# The HTTP bodies of the captures (the WBXML head ends in a bare "\n\n").
body_of() {
    perl -0777 -ne 'print $1 if /\r?\n\r?\n(.*)\z/s' "$1"
}

docs=()
for f in "$data"/*.xml; do
    docs+=("$f")
done
if [ -f "$fixtures/libdmclient/pkg1_xml.http" ]; then
    body_of "$fixtures/libdmclient/pkg1_xml.http" >"$work/pkg1.xml"
    body_of "$fixtures/libdmclient/pkg1_wbxml.http" >"$work/pkg1.wbxml"
    docs+=("$work/pkg1.xml")
else
    ko "fixtures not found in $fixtures"
fi

# Documents whose `xml2wbxml -n -v 1.2` bytes equal ours: no Item/Data.
byte_exact=" server_chal.xml pretty.xml syncml11.xml "

for doc in "${docs[@]}"; do
    name=$(basename "$doc")
    want=$(canon "$doc")
    if [ -z "$want" ]; then
        ko "$name: dmsec cannot round-trip it"
        continue
    fi

    # (a) ours -> wbxml2xml
    if "$dmsec" wbxml encode "$doc" >"$work/ours.wbxml" &&
        wbxml2xml -m 0 -o "$work/theirs.xml" "$work/ours.wbxml" >/dev/null 2>&1 &&
        [ "$(canon "$work/theirs.xml")" = "$want" ]; then
        ok
    else
        ko "$name: wbxml2xml does not read back what dmsec wbxml encode wrote"
    fi

    # (b) xml2wbxml -n -v 1.2 -> ours
    rm -f "$work/lib12.wbxml"
    if xml2wbxml -n -v 1.2 -o "$work/lib12.wbxml" "$doc" >/dev/null 2>&1 &&
        [ -s "$work/lib12.wbxml" ] &&
        [ "$("$dmsec" wbxml decode "$work/lib12.wbxml" | norm)" = "$want" ]; then
        ok
    else
        ko "$name: dmsec wbxml decode differs on xml2wbxml -n -v 1.2 output"
    fi

    # (c) xml2wbxml defaults (WBXML 1.3, string table) -> ours
    rm -f "$work/lib13.wbxml"
    if xml2wbxml -o "$work/lib13.wbxml" "$doc" >/dev/null 2>&1 && [ -s "$work/lib13.wbxml" ] &&
        [ "$("$dmsec" wbxml decode "$work/lib13.wbxml" | norm)" = "$want" ]; then
        ok
    else
        ko "$name: dmsec wbxml decode differs on xml2wbxml (string table) output"
    fi

    # (d) byte-exact against xml2wbxml where libwbxml's layout is ours
    case "$byte_exact" in
    *" $name "*)
        if cmp -s "$work/ours.wbxml" "$work/lib12.wbxml"; then
            ok
        else
            ko "$name: dmsec wbxml encode bytes differ from xml2wbxml -n -v 1.2"
        fi
        ;;
    esac
done

# The WBXML capture decodes to the XML capture, and re-encodes to itself.
if [ -f "$work/pkg1.wbxml" ]; then
    if [ "$("$dmsec" wbxml decode "$work/pkg1.wbxml" | norm)" = "$(canon "$work/pkg1.xml")" ]; then
        ok
    else
        ko "pkg1: WBXML and XML captures decode differently"
    fi
    if "$dmsec" wbxml decode "$work/pkg1.wbxml" | "$dmsec" wbxml encode - | cmp -s - "$work/pkg1.wbxml"; then
        ok
    else
        ko "pkg1: decode + encode of the WBXML capture is not byte-exact"
    fi
fi

# Bad input: message on stderr, exit 1, nothing on stdout.
bad() {
    local what=$1 mode=$2 file=$3
    "$dmsec" wbxml "$mode" "$file" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq 1 ] && [ ! -s "$work/out" ] && grep -q '^dmsec: ' "$work/err"; then
        ok
    else
        ko "$what: rc=$rc, stdout $(wc -c <"$work/out") bytes"
    fi
}
printf '\x02\xa4\x01\x6a\x00\x6d\x6c' >"$work/trunc.wbxml"
bad "truncated WBXML" decode "$work/trunc.wbxml"
printf '\x02\x01\x6a\x00\x6d\x01' >"$work/pid.wbxml"
bad "wrong public id" decode "$work/pid.wbxml"
printf '<SyncML xmlns="urn:other"/>' >"$work/ns.xml"
bad "wrong namespace" encode "$work/ns.xml"
printf '<!DOCTYPE SyncML [<!ENTITY a "aaaa">]><SyncML xmlns="SYNCML:SYNCML1.2">&a;</SyncML>' >"$work/ent.xml"
bad "entity declaration" encode "$work/ent.xml"
bad "missing file" decode "$work/does-not-exist"
# a valid XML document handed to decode, and WBXML handed to encode
bad "XML given to decode" decode "$data/server_chal.xml"
if [ -f "$work/pkg1.wbxml" ]; then
    bad "WBXML given to encode" encode "$work/pkg1.wbxml"
fi
# opaque binary Data cannot become XML
printf '\x02\xa4\x01\x6a\x00\x6d\x6c\x71\x031.2\x00\x01\x72\x03DM/1.2\x00\x01\x65\x031\x00\x01\x5b\x031\x00\x01\x6e\x57\x03a\x00\x01\x01\x67\x57\x03b\x00\x01\x01\x01\x6b\x60\x4b\x031\x00\x01\x54\x4f\xc3\x02\x00\xff\x01\x01\x01\x01\x01' >"$work/bin.wbxml"
bad "binary opaque to XML" decode "$work/bin.wbxml"

# Usage errors exit 2.
"$dmsec" wbxml frobnicate x >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else ko "usage error does not exit 2"; fi

# stdin works both ways.
if "$dmsec" wbxml encode - <"$data/server_chal.xml" | "$dmsec" wbxml decode - |
    cmp -s - <("$dmsec" wbxml encode "$data/server_chal.xml" | "$dmsec" wbxml decode -); then
    ok
else
    ko "stdin round trip"
fi

# --json: encode gives the WBXML as hex and base64, decode the XML as a
# string; each the same bytes as without --json, parsed by jq.
"$dmsec" wbxml encode "$data/server_chal.xml" >"$work/j.wbxml"
json=$("$dmsec" wbxml encode "$data/server_chal.xml" --json)
if [ "$(jq -r .hex <<<"$json")" = "$(od -An -v -tx1 "$work/j.wbxml" | tr -d ' \n')" ] &&
    jq -r .base64 <<<"$json" | base64 -d | cmp -s - "$work/j.wbxml" &&
    [ "$(jq -r '[.format, .length] | join(" ")' <<<"$json")" = "wbxml $(wc -c <"$work/j.wbxml")" ]; then
    ok
else
    ko "encode --json: $json"
fi
json=$("$dmsec" wbxml decode "$work/j.wbxml" --json)
if jq -j .xml <<<"$json" | cmp -s - <("$dmsec" wbxml decode "$work/j.wbxml") &&
    [ "$(jq -r .format <<<"$json")" = xml ] && [ "$(wc -l <<<"$json")" = 1 ]; then
    ok
else
    ko "decode --json: $json"
fi
# --json before FILE is the same; two files, or none, are a usage error
if [ "$("$dmsec" wbxml decode --json "$work/j.wbxml")" = "$json" ]; then ok; else ko "decode --json FILE differs"; fi
"$dmsec" wbxml decode "$work/j.wbxml" "$work/j.wbxml" >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else ko "two files do not exit 2"; fi
"$dmsec" wbxml decode --json >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else ko "no file does not exit 2"; fi
"$dmsec" wbxml decode "$work/j.wbxml" --json --json >/dev/null 2>&1
if [ $? -eq 2 ]; then ok; else ko "--json twice does not exit 2"; fi
out=$("$dmsec" wbxml decode "$work/bin.wbxml" --json 2>/dev/null)
if [ $? -eq 1 ] && [ -z "$out" ]; then ok; else ko "decode --json of a bad document: '$out'"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
