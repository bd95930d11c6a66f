/* The WBXML codec: the libdmclient capture, exact bytes derived by hand
 * from the code pages, round trips, and every bad-input path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/codec.h"
#include "dmsec/errors.h"

#include "fixture.h"

/* ---- the captures: WBXML and XML give the same model ---- */

static void test_fixture_wbxml(void **state)
{
    (void)state;
    size_t wlen = 0, xlen = 0, wb = 0, xb = 0;
    uint8_t *wbuf = load("DMSEC_FIXTURES", "libdmclient/pkg1_wbxml.http", &wlen);
    uint8_t *xbuf = load("DMSEC_FIXTURES", "libdmclient/pkg1_xml.http", &xlen);
    assert_non_null(wbuf);
    assert_non_null(xbuf);
    const uint8_t *w = http_body(wbuf, wlen, &wb);
    const uint8_t *x = http_body(xbuf, xlen, &xb);
    assert_non_null(w);
    assert_non_null(x);
    assert_int_equal(wb, 1009); /* the Content-Length of the capture */

    dmsec_msg_t *mw = NULL, *mx = NULL;
    assert_int_equal(dmsec_wbxml_decode(w, wb, NULL, &mw), 0);
    assert_int_equal(dmsec_xml_decode(x, xb, NULL, &mx), 0);
    assert_true(dmsec_msg_equal(mw, mx, 0));
    /* the client wrote Item/Data as OPAQUE, its XML as text */
    assert_false(dmsec_msg_equal(mw, mx, DMSEC_EQ_OPAQUE));
    assert_int_equal(mw->body.cmds->next->items->data->opaque, 1);
    assert_int_equal(mw->hdr.cred->data->opaque, 0);
    assert_string_equal(mw->body.cmds->next->items->data->bytes, "data of test3");

    /* decoding and re-encoding gives the capture back, byte for byte */
    uint8_t *out = NULL;
    size_t n;
    assert_int_equal(dmsec_wbxml_encode(mw, &out, &n), 0);
    assert_int_equal(n, wb);
    assert_memory_equal(out, w, wb);
    free(out);

    /* every strict prefix is truncated, never anything else */
    for (size_t cut = 0; cut < wb; cut++) {
        dmsec_msg_t *m = NULL;
        int rc = dmsec_wbxml_decode(w, cut, NULL, &m);
        if (rc != DMSEC_ERR_CODEC_TRUNCATED)
            fail_msg("prefix %zu: %s", cut, dmsec_errname(rc));
        assert_null(m);
    }
    dmsec_msg_free(mw);
    dmsec_msg_free(mx);
    free(wbuf);
    free(xbuf);
}

/* ---- exact bytes of a small document, derived by hand ----
 * Code page 0: SyncML 2D, SyncHdr 2C, VerDTD 31, VerProto 32, SessionID 25,
 * MsgID 1B, Target 2E, Source 27, LocURI 17, SyncBody 2B, Status 29,
 * CmdID 0B, MsgRef 1C, CmdRef 0C, Cmd 0A, Chal 09, Meta 1A, Data 0F,
 * Final 12. Code page 1: Type 13, NextNonce 10. 0x40 = has content. */

static const char small_xml[] =
    "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>"
    "<SessionID>A1</SessionID><MsgID>2</MsgID><Target><LocURI>IMEI:1</LocURI></Target><Source>"
    "<LocURI>srv</LocURI></Source></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef>"
    "<CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><Type xmlns='syncml:metinf'>syncml:auth-md5"
    "</Type><NextNonce xmlns='syncml:metinf'>AAAA</NextNonce></Meta></Chal><Data>401</Data>"
    "</Status><Final/></SyncBody></SyncML>";

static const uint8_t small_wbxml[] = {
    0x02, 0xA4, 0x01, 0x6A, 0x00, /* WBXML 1.2, public id 0x1201, UTF-8, no string table */
    0x6D,                         /* <SyncML> */
    0x6C,                         /* <SyncHdr> */
    0x71, 0x03, '1',  '.',  '2',  0x00, 0x01,                   /* <VerDTD>1.2</VerDTD> */
    0x72, 0x03, 'D',  'M',  '/',  '1',  '.',  '2',  0x00, 0x01, /* <VerProto>DM/1.2</VerProto> */
    0x65, 0x03, 'A',  '1',  0x00, 0x01,                         /* <SessionID>A1</SessionID> */
    0x5B, 0x03, '2',  0x00, 0x01,                               /* <MsgID>2</MsgID> */
    0x6E, 0x57, 0x03, 'I',  'M',  'E',  'I',  ':',  '1',  0x00, 0x01, 0x01, /* Target/LocURI */
    0x67, 0x57, 0x03, 's',  'r',  'v',  0x00, 0x01, 0x01,                   /* Source/LocURI */
    0x01,                                                                   /* </SyncHdr> */
    0x6B,                                                                   /* <SyncBody> */
    0x69,                                                                   /* <Status> */
    0x4B, 0x03, '1',  0x00, 0x01,                                           /* <CmdID>1 */
    0x5C, 0x03, '1',  0x00, 0x01,                                           /* <MsgRef>1 */
    0x4C, 0x03, '0',  0x00, 0x01,                                           /* <CmdRef>0 */
    0x4A, 0x03, 'S',  'y',  'n',  'c',  'H',  'd',  'r',  0x00, 0x01,       /* <Cmd>SyncHdr */
    0x49,                                                                   /* <Chal> */
    0x5A,                                                                   /* <Meta> */
    0x00, 0x01,                                                             /* SWITCH_PAGE 1 */
    0x53, 0x03, 's',  'y',  'n',  'c',  'm',  'l',  ':',  'a',  'u',  't',
    'h',  '-',  'm',  'd',  '5',  0x00, 0x01,       /* <Type>syncml:auth-md5</Type> */
    0x50, 0x03, 'A',  'A',  'A',  'A',  0x00, 0x01, /* <NextNonce>AAAA</NextNonce> */
    0x01,                                           /* </Meta> */
    0x01,                                           /* </Chal> */
    0x00, 0x00,                                     /* SWITCH_PAGE 0 */
    0x4F, 0x03, '4',  '0',  '1',  0x00, 0x01,       /* <Data>401</Data> */
    0x01,                                           /* </Status> */
    0x12,                                           /* <Final/>: no content flag */
    0x01,                                           /* </SyncBody> */
    0x01,                                           /* </SyncML> */
};

static void test_exact_bytes(void **state)
{
    (void)state;
    dmsec_msg_t *mx = NULL, *mw = NULL;
    assert_int_equal(dmsec_xml_decode((const uint8_t *)small_xml, strlen(small_xml), NULL, &mx), 0);
    uint8_t *out = NULL;
    size_t n;
    assert_int_equal(dmsec_wbxml_encode(mx, &out, &n), 0);
    assert_int_equal(n, sizeof small_wbxml);
    assert_memory_equal(out, small_wbxml, n);
    assert_int_equal(dmsec_wbxml_decode(small_wbxml, sizeof small_wbxml, NULL, &mw), 0);
    assert_true(dmsec_msg_equal(mx, mw, DMSEC_EQ_OPAQUE));
    free(out);
    dmsec_msg_free(mx);
    dmsec_msg_free(mw);
}

/* ---- other encodings of the same document decode to the same model ---- */

#define HEAD12 0x02, 0xA4, 0x01, 0x6A
/* SyncHdr with VerDTD 1.2, VerProto DM/1.2, SessionID 1, MsgID 1, Target t, Source s */
#define SYNCHDR                                                                                    \
    0x6C, 0x71, 0x03, '1', '.', '2', 0x00, 0x01, 0x72, 0x03, 'D', 'M', '/', '1', '.', '2', 0x00,   \
        0x01, 0x65, 0x03, '1', 0x00, 0x01, 0x5B, 0x03, '1', 0x00, 0x01, 0x6E, 0x57, 0x03, 't',     \
        0x00, 0x01, 0x01, 0x67, 0x57, 0x03, 's', 0x00, 0x01, 0x01, 0x01

static const char same_xml[] =
    "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>"
    "<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s"
    "</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"
    "</SyncBody></SyncML>";

struct same {
    const char *name;
    const uint8_t *bytes;
    size_t len;
};

/* the same Alert written with inline strings */
static const uint8_t same_plain[] = {HEAD12, 0x00, 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0x03,
                                     '1',    0x00, 0x01, 0x4F,    0x03, '1',  '2',  '0',
                                     '1',    0x00, 0x01, 0x01,    0x01, 0x01};
/* ... with a string table: "1201" via STR_T, Data split STR_T + STR_I */
static const uint8_t same_strt[] = {HEAD12,  0x07, 'x',  0x00, '1',  0x00, '1',  '2',  0x00, 0x6D,
                                    SYNCHDR, 0x6B, 0x46, 0x4B, 0x83, 0x02, 0x01, 0x4F, 0x83, 0x04,
                                    0x03,    '0',  '1',  0x00, 0x01, 0x01, 0x01, 0x01};
/* ... with the public id as a string-table reference */
static const uint8_t same_fpi[] = {
    0x02, 0x00, 0x00, 0x6A, 0x1E, '-', '/',  '/',  'S',     'Y',  'N',  'C',  'M',  'L',
    '/',  '/',  'D',  'T',  'D',  ' ', 'S',  'y',  'n',     'c',  'M',  'L',  ' ',  '1',
    '.',  '2',  '/',  '/',  'E',  'N', 0x00, 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0x03, '1',
    0x00, 0x01, 0x4F, 0x03, '1',  '2', '0',  '1',  0x00,    0x01, 0x01, 0x01, 0x01};
/* ... with the FPI unterminated, running to the end of the string table
 * (as the SyncML Reference Toolkit writes it) */
static const uint8_t same_fpi_nonul[] = {
    0x02, 0x00, 0x00, 0x6A, 0x1D, '-', '/',  '/',     'S',  'Y',  'N',  'C',  'M', 'L',
    '/',  '/',  'D',  'T',  'D',  ' ', 'S',  'y',     'n',  'c',  'M',  'L',  ' ', '1',
    '.',  '2',  '/',  '/',  'E',  'N', 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0x03, '1', 0x00,
    0x01, 0x4F, 0x03, '1',  '2',  '0', '1',  0x00,    0x01, 0x01, 0x01, 0x01};
/* ... with ENTITY tokens for "1" and "2", WBXML 1.3, redundant SWITCH_PAGE */
static const uint8_t same_entity[] = {0x03, 0xA4, 0x01, 0x6A, 0x00, 0x00, 0x00, 0x6D, SYNCHDR, 0x6B,
                                      0x46, 0x4B, 0x02, 0x31, 0x01, 0x4F, 0x02, 0x31, 0x02,    0x32,
                                      0x03, '0',  '1',  0x00, 0x01, 0x01, 0x01, 0x01};
/* ... with the Data as OPAQUE (equal unless the opaque flag is compared) */
static const uint8_t same_opaque[] = {HEAD12, 0x00, 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0x03,
                                      '1',    0x00, 0x01, 0x4F,    0xC3, 0x04, '1',  '2',
                                      '0',    '1',  0x01, 0x01,    0x01, 0x01};
/* ... with the CmdID as OPAQUE: clean text is accepted as a string */
static const uint8_t same_opaque_id[] = {HEAD12, 0x00, 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0xC3,
                                         0x01,   '1',  0x01, 0x4F,    0x03, '1',  '2',  '0',
                                         '1',    0x00, 0x01, 0x01,    0x01, 0x01};

static void test_equivalent_encodings(void **state)
{
    (void)state;
    static const struct same cases[] = {
        {"inline", same_plain, sizeof same_plain},
        {"string table", same_strt, sizeof same_strt},
        {"public id string", same_fpi, sizeof same_fpi},
        {"public id string without NUL", same_fpi_nonul, sizeof same_fpi_nonul},
        {"entities", same_entity, sizeof same_entity},
        {"opaque Data", same_opaque, sizeof same_opaque},
        {"opaque CmdID", same_opaque_id, sizeof same_opaque_id},
    };
    dmsec_msg_t *want = NULL;
    assert_int_equal(dmsec_xml_decode((const uint8_t *)same_xml, strlen(same_xml), NULL, &want), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dmsec_msg_t *m = NULL;
        int rc = dmsec_wbxml_decode(cases[i].bytes, cases[i].len, NULL, &m);
        if (rc)
            fail_msg("%s: %s", cases[i].name, dmsec_errname(rc));
        if (!dmsec_msg_equal(m, want, 0))
            fail_msg("%s: model differs", cases[i].name);
        dmsec_msg_free(m);
    }
    /* and the canonical encoding of it is the inline form */
    uint8_t *out;
    size_t n;
    assert_int_equal(dmsec_wbxml_encode(want, &out, &n), 0);
    assert_int_equal(n, sizeof same_plain);
    assert_memory_equal(out, same_plain, n);
    free(out);
    dmsec_msg_free(want);
}

/* ---- round trips ---- */

static void test_round_trips(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "codec/server_chal.xml", "codec/commands.xml", "codec/opaque.xml",
        "codec/escapes.xml",     "codec/pretty.xml",   "codec/syncml11.xml",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t len;
        uint8_t *buf = load("DMSEC_TEST_DATA", docs[i], &len);
        assert_non_null(buf);
        dmsec_msg_t *a = NULL, *b = NULL;
        assert_int_equal(dmsec_xml_decode(buf, len, NULL, &a), 0);
        uint8_t *w1, *w2;
        size_t n1, n2;
        assert_int_equal(dmsec_wbxml_encode(a, &w1, &n1), 0);
        assert_int_equal(dmsec_wbxml_decode(w1, n1, NULL, &b), 0);
        assert_true(dmsec_msg_equal(a, b, DMSEC_EQ_OPAQUE));
        assert_int_equal(dmsec_wbxml_encode(b, &w2, &n2), 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(w1, w2, n1);
        /* SyncML 1.1 keeps its public id */
        if (strstr(docs[i], "11"))
            assert_memory_equal(w1, "\x02\x9F\x53\x6A", 4);
        else
            assert_memory_equal(w1, "\x02\xA4\x01\x6A", 4);
        free(w1);
        free(w2);
        free(buf);
        dmsec_msg_free(a);
        dmsec_msg_free(b);
    }
}

static int contains(const uint8_t *h, size_t hn, const uint8_t *nd, size_t nn)
{
    for (size_t i = 0; i + nn <= hn; i++) {
        if (!memcmp(h + i, nd, nn))
            return 1;
    }
    return 0;
}

/* Opaque bytes of every value survive WBXML; text Data with a NUL is refused. */
static void test_binary_opaque(void **state)
{
    (void)state;
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    dmsec_msg_t *m = dmsec_msg_new();
    assert_int_equal(dmsec_msg_set_hdr(m, "1", "1", "t", "s", NULL), 0);
    dmsec_cmd_t *c = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_REPLACE);
    dmsec_item_t *it = dmsec_cmd_add_item(m, c, "./bin", NULL);
    it->data = dmsec_msg_data(m, bin, sizeof bin, 1);
    uint8_t *w;
    size_t n;
    assert_int_equal(dmsec_wbxml_encode(m, &w, &n), 0);
    dmsec_msg_t *b = NULL;
    assert_int_equal(dmsec_wbxml_decode(w, n, NULL, &b), 0);
    assert_true(dmsec_msg_equal(m, b, DMSEC_EQ_OPAQUE));
    assert_int_equal(b->body.cmds->items->data->len, 256);
    /* a 256-byte OPAQUE length is the two-byte mb_u_int32 82 00 */
    assert_true(contains(w, n, (const uint8_t *)"\x4F\xC3\x82\x00\x00\x01", 6));
    free(w);
    uint8_t *x = NULL;
    assert_int_equal(dmsec_xml_encode(b, &x, &n), DMSEC_ERR_CODEC_BINARY);
    assert_null(x);
    it->data = dmsec_msg_data(m, "a\0b", 3, 0);
    assert_int_equal(dmsec_wbxml_encode(m, &w, &n), DMSEC_ERR_CODEC_BINARY);
    assert_null(w);
    dmsec_msg_free(b);
    dmsec_msg_free(m);
}

/* ---- bad input ---- */

struct bad {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    size_t max_size, max_elements, max_text;
    int err;
};

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
/* a document whose body is the given tokens after <SyncML><SyncHdr...><SyncBody> */
#define BODY(...) B(HEAD12, 0x00, 0x6D, SYNCHDR, 0x6B, __VA_ARGS__)

static const struct bad bad_docs[] = {
    {"empty", B(0x02), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"no body", B(HEAD12, 0x00), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"WBXML 1.0", B(0x00, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_VERSION},
    {"WBXML 1.4", B(0x04, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_VERSION},
    {"unknown public id", B(0x02, 0x01, 0x6A, 0x00, 0x6D, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_PUBLIC_ID},
    {"DevInf public id", B(0x02, 0xA4, 0x03, 0x6A, 0x00, 0x6D, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_PUBLIC_ID},
    {"public id string wrong", B(0x02, 0x00, 0x00, 0x6A, 0x02, 'x', 0x00, 0x6D, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_PUBLIC_ID},
    {"public id string without NUL, wrong", B(0x02, 0x00, 0x00, 0x6A, 0x01, 'x', 0x6D, 0x01), 0, 0,
     0, DMSEC_ERR_CODEC_PUBLIC_ID},
    {"public id string without NUL, FPI and more",
     B(0x02, 0x00, 0x00, 0x6A, 0x1E, '-', '/', '/', 'S', 'Y', 'N', 'C', 'M', 'L', '/', '/', 'D',
       'T', 'D', ' ', 'S', 'y', 'n', 'c', 'M', 'L', ' ', '1', '.', '2', '/', '/', 'E', 'N', 'x',
       0x6D, 0x01),
     0, 0, 0, DMSEC_ERR_CODEC_PUBLIC_ID},
    {"STR_T to the public id's unterminated FPI",
     B(0x02, 0x00, 0x00, 0x6A, 0x1D, '-', '/', '/', 'S', 'Y', 'N', 'C', 'M', 'L', '/', '/', 'D',
       'T', 'D', ' ', 'S', 'y', 'n', 'c', 'M', 'L', ' ', '1', '.', '2', '/', '/', 'E', 'N', 0x6D,
       0x6C, 0x71, 0x83, 0x00),
     0, 0, 0, DMSEC_ERR_CODEC_STRTBL},
    {"public id string out of range", B(0x02, 0x00, 0x05, 0x6A, 0x02, 'x', 0x00, 0x6D, 0x01), 0, 0,
     0, DMSEC_ERR_CODEC_STRTBL},
    {"charset ISO-8859-1", B(0x02, 0xA4, 0x01, 0x04, 0x00, 0x6D, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_CHARSET},
    {"string table past the end", B(HEAD12, 0x7F, 'a', 0x00), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"mb_u_int32 over 32 bits", B(0x02, 0x90, 0x80, 0x80, 0x80, 0x00), 0, 0, 0,
     DMSEC_ERR_CODEC_MB_UINT},
    {"mb_u_int32 of six bytes", B(0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_MB_UINT},
    {"mb_u_int32 cut", B(0x02, 0xA4), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"reserved token 0x30", B(HEAD12, 0x00, 0x6D, 0x70, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"token past the code page", B(HEAD12, 0x00, 0x6D, 0x7F, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"MetInf token past its page", B(HEAD12, 0x00, 0x00, 0x01, 0x57, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"LITERAL", B(HEAD12, 0x02, 'x', 0x00, 0x6D, 0x04, 0x00, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"EXT_I_0", BODY(0x40, 'x', 0x00), 0, 0, 0, DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"PI", BODY(0x43), 0, 0, 0, DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"EXT_0", BODY(0xC0), 0, 0, 0, DMSEC_ERR_CODEC_UNKNOWN_TOKEN},
    {"code page 2", B(HEAD12, 0x00, 0x00, 0x02, 0x6D, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_CODE_PAGE},
    {"attribute flag", B(HEAD12, 0x00, 0xED, 0x01, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_ATTRIBUTE},
    {"STR_T out of range", BODY(0x46, 0x4B, 0x83, 0x05, 0x01, 0x01, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_STRTBL},
    {"STR_T without NUL in table", B(HEAD12, 0x01, 'a', 0x6D, 0x6C, 0x71, 0x83, 0x00), 0, 0, 0,
     DMSEC_ERR_CODEC_STRTBL},
    {"STR_I without NUL", BODY(0x46, 0x4B, 0x03, '1'), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"OPAQUE past the end", BODY(0x46, 0x4F, 0xC3, 0x10, 'a'), 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"bytes after the root", BODY(0x01, 0x01, 0x00), 0, 0, 0, DMSEC_ERR_CODEC_TRAILING},
    {"END at top level", B(HEAD12, 0x00, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"text before the root", B(HEAD12, 0x00, 0x03, 'a', 0x00, 0x6D, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"invalid UTF-8", BODY(0x46, 0x4B, 0x03, 0xC3, 0x28, 0x00, 0x01, 0x01, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UTF8},
    {"invalid UTF-8 in the string table",
     B(HEAD12, 0x02, 0xFF, 0x00, 0x6D, SYNCHDR, 0x6B, 0x46, 0x4B, 0x83, 0x00, 0x01, 0x01, 0x01,
       0x01),
     0, 0, 0, DMSEC_ERR_CODEC_UTF8},
    {"control character", BODY(0x46, 0x4B, 0x03, 0x01, 0x00, 0x01, 0x01, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_BAD_CHAR},
    {"ENTITY NUL", BODY(0x46, 0x4B, 0x02, 0x00, 0x01, 0x01, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_BAD_CHAR},
    {"ENTITY surrogate", BODY(0x46, 0x4B, 0x02, 0x83, 0xB0, 0x00, 0x01, 0x01, 0x01, 0x01), 0, 0, 0,
     DMSEC_ERR_CODEC_UTF8},
    {"ENTITY beyond Unicode", BODY(0x46, 0x4B, 0x02, 0xC4, 0x80, 0x00, 0x01, 0x01, 0x01, 0x01), 0,
     0, 0, DMSEC_ERR_CODEC_UTF8},
    {"opaque LocURI with NUL",
     B(HEAD12, 0x00, 0x6D, 0x6C, 0x6E, 0x57, 0xC3, 0x02, 'a', 0x00, 0x01, 0x01, 0x01, 0x01), 0, 0,
     0, DMSEC_ERR_CODEC_OPAQUE},
    {"missing SyncHdr", B(HEAD12, 0x00, 0x6D, 0x2B, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"missing SyncBody", B(HEAD12, 0x00, 0x6D, SYNCHDR, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"Status without Data",
     BODY(0x69, 0x4B, 0x03, '1', 0x00, 0x01, 0x4C, 0x03, '0', 0x00, 0x01, 0x4A, 0x03, 'x', 0x00,
          0x01, 0x01, 0x01, 0x01),
     0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"MetInf element in SyncHdr", B(HEAD12, 0x00, 0x6D, 0x6C, 0x00, 0x01, 0x53, 0x01, 0x01), 0, 0,
     0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"text in SyncBody", BODY(0x03, 'x', 0x00, 0x01, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"opaque in SyncBody", BODY(0xC3, 0x01, ' ', 0x01, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"SyncML inside SyncBody", BODY(0x2D, 0x01, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"duplicate Final", BODY(0x12, 0x12, 0x01, 0x01), 0, 0, 0, DMSEC_ERR_CODEC_DUPLICATE},
    {"oversize", BODY(0x12, 0x01, 0x01), 40, 0, 0, DMSEC_ERR_CODEC_OVERSIZE},
    {"too many elements", BODY(0x12, 0x01, 0x01), 0, 10, 0, DMSEC_ERR_CODEC_TOO_MANY},
    {"text too long", BODY(0x46, 0x4B, 0x03, '1', '2', '3', '4', '5', 0x00, 0x01, 0x01, 0x01, 0x01),
     0, 0, 4, DMSEC_ERR_CODEC_TEXT_LONG},
    {"opaque too long",
     BODY(0x46, 0x4F, 0xC3, 0x05, '1', '2', '3', '4', '5', 0x01, 0x01, 0x01, 0x01), 0, 0, 4,
     DMSEC_ERR_CODEC_TEXT_LONG},
};

static void test_bad_wbxml(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        const struct bad *t = &bad_docs[i];
        dmsec_codec_limits_t lim = {t->max_size, 0, t->max_elements, t->max_text};
        dmsec_msg_t *m = (dmsec_msg_t *)1;
        int rc = dmsec_wbxml_decode(t->bytes, t->len, &lim, &m);
        if (rc != t->err)
            fail_msg("%s: got %s, want %s", t->name, dmsec_errname(rc), dmsec_errname(t->err));
        assert_null(m);
        assert_string_not_equal(dmsec_errname(rc), "DMSEC_ERR_UNKNOWN");
    }
}

/* Deep nesting: Sequence in Sequence, built as bytes. */
static void test_deep_nesting(void **state)
{
    (void)state;
    static const struct {
        size_t levels;
        int err;
    } cases[] = {
        {20, 0}, {29, 0}, {30, DMSEC_ERR_CODEC_TOO_DEEP}, {100000, DMSEC_ERR_CODEC_TOO_DEEP}};
    static const uint8_t head[] = {HEAD12, 0x00, 0x6D, SYNCHDR, 0x6B};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t lv = cases[i].levels;
        size_t cap = sizeof head + lv * 7 + lv + 3;
        uint8_t *d = malloc(cap);
        assert_non_null(d);
        size_t n = 0;
        memcpy(d, head, sizeof head);
        n = sizeof head;
        for (size_t k = 0; k < lv; k++) {
            const uint8_t seq[] = {0x64, 0x4B, 0x03, '1', 0x00, 0x01};
            memcpy(d + n, seq, sizeof seq);
            n += sizeof seq;
        }
        for (size_t k = 0; k < lv + 2; k++)
            d[n++] = 0x01;
        dmsec_msg_t *m = NULL;
        /* SyncML, SyncBody and 30 Sequences need depth 32 plus CmdID */
        assert_int_equal(dmsec_wbxml_decode(d, n, NULL, &m), cases[i].err);
        dmsec_msg_free(m);
        free(d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_wbxml),        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_equivalent_encodings), cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_binary_opaque),        cmocka_unit_test(test_bad_wbxml),
        cmocka_unit_test(test_deep_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
