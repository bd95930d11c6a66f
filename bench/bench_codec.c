/*
 * Codec throughput on one core: decode + encode of a typical SyncML DM
 * package #1 (the device's first message: SyncHdr with basic Cred, an Alert
 * 1201 and a Replace carrying the DevInfo tree), in XML and in WBXML, next
 * to a floor measured in the same run on the same bytes.
 *
 * One operation is what a DM server does with one client message and its
 * reply: dmsec_xml_decode (or _wbxml_) into a message, dmsec_xml_encode
 * (or _wbxml_) of that message, then dmsec_msg_free and free().
 *
 * The floors:
 * - XML: libexpat parsing the same bytes the way the codec drives it - a
 *   fresh XML_ParserCreateNS("UTF-8", sep) per document, one XML_Parse,
 *   XML_ParserFree - with empty start, end and character-data handlers that
 *   only count events. Handlers are set on purpose: the codec needs every
 *   event, so delivering them belongs in the floor. It changes little -
 *   without handlers expat still tokenises everything and resolves the
 *   namespaces, and runs about 3% fewer instructions on this document -
 *   but it keeps the floor from being a parse nobody listens to. The floor
 *   is thus "expat handing the document's events to a consumer that does
 *   nothing".
 * - WBXML: a linear scan of the same WBXML bytes that walks the header and
 *   every token (tags, SWITCH_PAGE, END, STR_I up to its NUL, ENTITY, STR_T,
 *   OPAQUE by its length) and builds nothing. It is the least work any
 *   WBXML decoder has to do, so the ratio says how much the codec spends
 *   beyond tokenising (building, validating, allocating, writing); it is
 *   expected to be far lower than the XML ratio, whose floor already holds
 *   expat's much heavier tokeniser. The XML ratio is the one to watch:
 *   below about 0.3 the codec, not expat, is where the XML time goes.
 *
 * Input: `bench_codec [-s SECONDS] [FIXTURES_DIR]`. FIXTURES_DIR holds the
 * libdmclient HTTP captures pkg1_xml.http and pkg1_wbxml.http; the HTTP head
 * is stripped (the body starts after the first empty line, whether lines end
 * in CRLF or bare LF). Without it the same capture bodies are looked for in
 * the fuzz corpus of the source tree (found through __FILE__), and failing
 * that an embedded package #1 of about 3 KB is used, its WBXML form made by
 * the codec itself. SECONDS is the whole measuring time (default 2.5): best
 * of five interleaved rounds of the four figures, so that noise from other
 * processes hits them alike.
 */
#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmsec/codec.h"

#define ROUNDS 5
#define MAX_INPUT ((size_t)1 << 20)

/* A package #1 shaped like the libdmclient capture: 2989 bytes of XML. */
static const char embedded_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD>"
    "<VerProto>DM/1.2</VerProto><SessionID>4F2A</SessionID><MsgID>1</MsgID>"
    "<Target><LocURI>https://dm.example.net:8443/dm</LocURI></Target>"
    "<Source><LocURI>IMEI:490154203237518</LocURI><LocName>device01</LocName></Source>"
    "<Cred><Meta><Format xmlns='syncml:metinf'>b64</Format>"
    "<Type xmlns='syncml:metinf'>syncml:auth-basic</Type></Meta>"
    "<Data>ZGV2aWNlMDE6czNjcjN0LXBhc3N3b3Jk</Data></Cred>"
    "<Meta><MaxMsgSize xmlns='syncml:metinf'>16384</MaxMsgSize></Meta></SyncHdr>"
    "<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Replace><CmdID>2</CmdID>"
    "<Item><Source><LocURI>./DevInfo/DevId</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>IMEI:490154203237518</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Man</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>Example Devices Ltd</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Mod</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>EX-200</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/DmV</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>1.2</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Lang</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>en-GB</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Ext</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>node</Format></Meta>"
    "<Data>Radio/Battery</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Ext/Radio</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>LTE band 3</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Ext/Battery</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>int</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>87</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Bearer</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>node</Format></Meta>"
    "<Data>GSM</Data></Item>"
    "<Item><Source><LocURI>./DevInfo/Bearer/GSM</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>enabled</Data></Item>"
    "<Item><Source><LocURI>./DevDetail/FwV</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>4.1.7 &amp; patch 2</Data></Item>"
    "<Item><Source><LocURI>./DevDetail/SwV</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>2024.03</Data></Item>"
    "<Item><Source><LocURI>./DevDetail/HwV</LocURI></Source>"
    "<Meta><Format xmlns='syncml:metinf'>chr</Format>"
    "<Type xmlns='syncml:metinf'>text/plain</Type></Meta>"
    "<Data>rev B</Data></Item>"
    "</Replace><Final/></SyncBody></SyncML>";

/* One input document. */
struct doc {
    uint8_t *bytes;
    size_t len;
    size_t expect; /* what each operation on it must return (set up once) */
};

/* Defeats dead-code elimination: every operation's result lands here. */
static volatile size_t sink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_codec: %s\n", what);
    exit(1);
}

/* ---- input ---- */

/* Reads a whole file into a malloc'd buffer. 0 on success. */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096;
    size_t len = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    while (!rc) {
        if (len == cap) {
            uint8_t *p = cap < MAX_INPUT ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                rc = -1;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            rc = ferror(f) ? -1 : 1;
        }
    }
    fclose(f);
    if (rc < 0 || len == 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Drops an HTTP head: the body starts after the first empty line, lines
 * ending in "\r\n" or "\n" (the captures mix both). 0 on success. */
static int strip_http_head(struct doc *d)
{
    size_t pos = 0;
    while (pos < d->len) {
        const uint8_t *nl = memchr(d->bytes + pos, '\n', d->len - pos);
        if (!nl)
            return -1;
        size_t end = (size_t)(nl - d->bytes);
        size_t line = end - pos;
        pos = end + 1;
        if (line == 0 || (line == 1 && d->bytes[end - 1] == '\r')) {
            memmove(d->bytes, d->bytes + pos, d->len - pos);
            d->len -= pos;
            return d->len ? 0 : -1;
        }
    }
    return -1;
}

/* dir/name into a malloc'd doc; with http, the HTTP head is stripped. */
static int load(const char *dir, const char *name, int http, struct doc *d)
{
    char path[4096 + 64];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    if (read_file(path, &d->bytes, &d->len))
        return -1;
    if (http && strip_http_head(d)) {
        free(d->bytes);
        d->bytes = NULL;
        return -1;
    }
    return 0;
}

/* The source tree's root, from this file's path (bench/bench_codec.c), in
 * buf; 0 when __FILE__ has no such suffix. */
static int source_root(char *buf, size_t size)
{
    static const char self[] = "bench/bench_codec.c";
    const char *file = __FILE__;
    size_t n = strlen(file);
    size_t k = sizeof self - 1;
    if (n < k || strcmp(file + n - k, self) != 0 || n - k + 2 > size)
        return -1;
    if (n == k) {
        memcpy(buf, ".", 2);
        return 0;
    }
    memcpy(buf, file, n - k);
    buf[n - k] = '\0';
    return 0;
}

/* Fills xml and wbxml; returns a description of where they came from. */
static const char *load_inputs(const char *dir, struct doc *xml, struct doc *wbxml)
{
    if (dir) {
        if (load(dir, "pkg1_xml.http", 1, xml) || load(dir, "pkg1_wbxml.http", 1, wbxml))
            die("cannot read pkg1_xml.http and pkg1_wbxml.http in the fixtures directory");
        return "libdmclient capture (fixtures directory)";
    }
    char root[4096];
    if (!source_root(root, sizeof root)) {
        char sub[sizeof root + 32];
        struct doc x = {0};
        struct doc w = {0};
        snprintf(sub, sizeof sub, "%s/tests/fuzz/corpus/xml", root);
        int rc = load(sub, "libdmclient_pkg1.xml", 0, &x);
        snprintf(sub, sizeof sub, "%s/tests/fuzz/corpus/wbxml", root);
        if (!rc)
            rc = load(sub, "libdmclient_pkg1.wbxml", 0, &w);
        if (!rc) {
            *xml = x;
            *wbxml = w;
            return "libdmclient capture bodies (source tree fuzz corpus)";
        }
        free(x.bytes);
        free(w.bytes);
    }
    /* Embedded: the XML as written above, the WBXML made from it. */
    xml->len = sizeof embedded_xml - 1;
    xml->bytes = malloc(xml->len);
    if (!xml->bytes)
        die("out of memory");
    memcpy(xml->bytes, embedded_xml, xml->len);
    dmsec_msg_t *m = NULL;
    if (dmsec_xml_decode(xml->bytes, xml->len, NULL, &m) ||
        dmsec_wbxml_encode(m, &wbxml->bytes, &wbxml->len))
        die("embedded document does not decode/encode");
    dmsec_msg_free(m);
    return "embedded package #1 (WBXML encoded from it by the codec)";
}

/* ---- the floors ---- */

static void XMLCALL count_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)name;
    (void)atts;
    ++*(size_t *)ud;
}

static void XMLCALL count_end(void *ud, const XML_Char *name)
{
    (void)name;
    ++*(size_t *)ud;
}

static void XMLCALL count_text(void *ud, const XML_Char *s, int len)
{
    (void)s;
    (void)len;
    ++*(size_t *)ud;
}

/* Expat, set up as the codec sets it up, reporting events to handlers that
 * only count them. Returns the number of events. */
static size_t xml_floor(const struct doc *d)
{
    size_t events = 0;
    XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
    if (!p)
        die("XML_ParserCreateNS failed");
    XML_SetUserData(p, &events);
    XML_SetElementHandler(p, count_start, count_end);
    XML_SetCharacterDataHandler(p, count_text);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    if (XML_Parse(p, (const char *)d->bytes, (int)d->len, XML_TRUE) != XML_STATUS_OK)
        die("expat refused the XML document");
    XML_ParserFree(p);
    return events;
}

/* Reads a WBXML mb_u_int32 at *pos; -1 when truncated or too long. */
static int scan_mbu32(const uint8_t *p, size_t n, size_t *pos, uint32_t *v)
{
    uint32_t acc = 0;
    for (int i = 0; i < 5 && *pos < n; i++) {
        uint8_t c = p[(*pos)++];
        acc = (acc << 7) | (c & 0x7Fu);
        if (!(c & 0x80)) {
            *v = acc;
            return 0;
        }
    }
    return -1;
}

/* Walks the WBXML header and every token, building nothing. Returns the
 * number of tags and END tokens seen; a malformed document is fatal. */
static size_t wbxml_floor(const struct doc *d)
{
    const uint8_t *p = d->bytes;
    size_t n = d->len;
    size_t pos = 1; /* version */
    size_t tokens = 0;
    uint32_t v = 0;
    int bad = n < 1 || scan_mbu32(p, n, &pos, &v);
    if (!bad && v == 0) /* public id as a string table index */
        bad = scan_mbu32(p, n, &pos, &v);
    if (!bad) /* charset */
        bad = scan_mbu32(p, n, &pos, &v);
    if (!bad) /* string table: skipped */
        bad = scan_mbu32(p, n, &pos, &v) || v > n - pos;
    if (!bad)
        pos += v;
    while (!bad && pos < n) {
        uint8_t c = p[pos++];
        switch (c) {
        case 0x00: /* SWITCH_PAGE, page */
            bad = pos >= n;
            pos++;
            break;
        case 0x02: /* ENTITY */
        case 0x83: /* STR_T */
            bad = scan_mbu32(p, n, &pos, &v);
            break;
        case 0x03: { /* STR_I */
            const uint8_t *nul = memchr(p + pos, 0, n - pos);
            bad = !nul;
            if (nul)
                pos = (size_t)(nul - p) + 1;
            break;
        }
        case 0xC3: /* OPAQUE */
            bad = scan_mbu32(p, n, &pos, &v) || v > n - pos;
            if (!bad)
                pos += v;
            break;
        default: /* END, or a tag (SyncML has no attributes) */
            bad = (c & 0x80) != 0;
            tokens++;
            break;
        }
    }
    if (bad)
        die("the WBXML scan found a malformed document");
    return tokens;
}

/* ---- the figures ---- */

static size_t xml_roundtrip(const struct doc *d)
{
    dmsec_msg_t *m = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    if (dmsec_xml_decode(d->bytes, d->len, NULL, &m))
        die("dmsec_xml_decode failed");
    if (dmsec_xml_encode(m, &out, &len) || len == 0)
        die("dmsec_xml_encode failed");
    size_t r = len + out[len / 2];
    free(out);
    dmsec_msg_free(m);
    return r;
}

static size_t wbxml_roundtrip(const struct doc *d)
{
    dmsec_msg_t *m = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    if (dmsec_wbxml_decode(d->bytes, d->len, NULL, &m))
        die("dmsec_wbxml_decode failed");
    if (dmsec_wbxml_encode(m, &out, &len) || len == 0)
        die("dmsec_wbxml_encode failed");
    size_t r = len + out[len / 2];
    free(out);
    dmsec_msg_free(m);
    return r;
}

/* Once, before timing: the encoders' output decodes to the same message
 * (so the figures are of a working round trip), and both documents hold
 * the same package. */
static void check_roundtrips(const struct doc *xml, const struct doc *wbxml)
{
    dmsec_msg_t *a = NULL;
    dmsec_msg_t *b = NULL;
    dmsec_msg_t *c = NULL;
    dmsec_msg_t *e = NULL;
    uint8_t *x = NULL;
    uint8_t *w = NULL;
    size_t xl = 0;
    size_t wl = 0;
    if (dmsec_xml_decode(xml->bytes, xml->len, NULL, &a) ||
        dmsec_wbxml_decode(wbxml->bytes, wbxml->len, NULL, &b) || dmsec_xml_encode(a, &x, &xl) ||
        dmsec_wbxml_encode(b, &w, &wl) || dmsec_xml_decode(x, xl, NULL, &c) ||
        dmsec_wbxml_decode(w, wl, NULL, &e))
        die("setup round trip failed");
    if (!dmsec_msg_equal(a, c, DMSEC_EQ_OPAQUE) || !dmsec_msg_equal(b, e, DMSEC_EQ_OPAQUE))
        die("a round trip changed the message");
    if (!dmsec_msg_equal(a, b, 0))
        fprintf(stderr, "bench_codec: note: the XML and WBXML inputs differ in content\n");
    free(x);
    free(w);
    dmsec_msg_free(a);
    dmsec_msg_free(b);
    dmsec_msg_free(c);
    dmsec_msg_free(e);
}

struct figure {
    const char *label;
    size_t (*op)(const struct doc *d);
    struct doc *doc;
    double best; /* documents per second */
};

/* Runs op over doc for at least `seconds`; returns documents per second.
 * Every result is checked against the one the first call gave. */
static double measure(const struct figure *f, double seconds)
{
    const long batch = 16;
    long ops = 0;
    double t0 = now();
    double t;
    do {
        size_t acc = 0;
        for (long i = 0; i < batch; i++) {
            size_t r = f->op(f->doc);
            if (r != f->doc->expect)
                die("an operation returned a different result");
            acc += r;
        }
        sink += acc;
        ops += batch;
        t = now() - t0;
    } while (t < seconds);
    return (double)ops / t;
}

static double parse_seconds(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0.0 && v <= 3600.0)) {
        fprintf(stderr, "bench_codec: bad SECONDS '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    double seconds = 2.5;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            seconds = parse_seconds(argv[++i]);
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "usage: bench_codec [-s SECONDS] [FIXTURES_DIR]\n");
            return 2;
        } else {
            dir = argv[i];
        }
    }

    struct doc xml = {0};
    struct doc wbxml = {0};
    const char *source = load_inputs(dir, &xml, &wbxml);
    if (xml.len > (size_t)INT32_MAX)
        die("XML input too large");
    check_roundtrips(&xml, &wbxml);

    struct doc xml_rt = xml;
    struct doc wbxml_rt = wbxml;
    struct figure figs[] = {
        {"xml   floor (expat parse only)", xml_floor, &xml, 0},
        {"xml   decode+encode", xml_roundtrip, &xml_rt, 0},
        {"wbxml floor (token scan only)", wbxml_floor, &wbxml, 0},
        {"wbxml decode+encode", wbxml_roundtrip, &wbxml_rt, 0},
    };
    const size_t nfigs = sizeof figs / sizeof figs[0];
    /* The first call of each fixes the result every later call must give
     * (and warms the caches and the allocator). */
    for (size_t k = 0; k < nfigs; k++)
        figs[k].doc->expect = figs[k].op(figs[k].doc);

    const double slot = seconds / (double)(ROUNDS * nfigs);
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t k = 0; k < nfigs; k++) {
            double rate = measure(&figs[k], slot);
            if (rate > figs[k].best)
                figs[k].best = rate;
        }
    }

    printf("input: %s\n       xml %zu bytes, wbxml %zu bytes; best of %d rounds, %.1f s\n", source,
           xml.len, wbxml.len, ROUNDS, seconds);
    for (size_t k = 0; k < nfigs; k++) {
        const struct figure *f = &figs[k];
        double mbs = f->best * (double)f->doc->len / 1e6;
        printf("%-36s %10.0f docs/s %8.1f MB/s", f->label, f->best, mbs);
        if (k % 2 == 1)
            printf("   ratio %.2f of floor", f->best / figs[k - 1].best);
        printf("\n");
    }
    free(xml.bytes);
    free(wbxml.bytes);
    return 0;
}
