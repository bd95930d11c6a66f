/* The SyncML model and the XML codec: fixtures, round trips, the writer's
 * exact output, the builders, and every bad-input path. */
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

static dmsec_msg_t *decode_str(const char *doc, int *rc)
{
    dmsec_msg_t *m = NULL;
    *rc = dmsec_xml_decode((const uint8_t *)doc, strlen(doc), NULL, &m);
    return m;
}

/* ---- the fixture ---- */

static void test_fixture_xml(void **state)
{
    (void)state;
    size_t len = 0, blen = 0;
    uint8_t *buf = load("DMSEC_FIXTURES", "libdmclient/pkg1_xml.http", &len);
    assert_non_null(buf);
    const uint8_t *body = http_body(buf, len, &blen);
    assert_non_null(body);
    assert_int_equal(blen, 2894); /* the Content-Length of the capture */
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_xml_decode(body, blen, NULL, &m), 0);
    assert_string_equal(m->hdr.ver_dtd, "1.2");
    assert_string_equal(m->hdr.ver_proto, "DM/1.2");
    assert_string_equal(m->hdr.session_id, "1");
    assert_string_equal(m->hdr.msg_id, "1");
    assert_string_equal(m->hdr.target->uri, "http://127.0.0.1:8080/funambol/dm");
    assert_string_equal(m->hdr.source->uri, "DMCtest");
    assert_null(m->hdr.source->name);
    assert_non_null(m->hdr.cred);
    assert_string_equal(dmsec_meta_str(m->hdr.cred->meta, DMSEC_MI_TYPE), "syncml:auth-basic");
    assert_string_equal(dmsec_meta_str(m->hdr.cred->meta, DMSEC_MI_FORMAT), "b64");
    /* order as received: Format before Type */
    assert_int_equal(m->hdr.cred->meta->fields->kind, DMSEC_MI_FORMAT);
    assert_string_equal(m->hdr.cred->data->bytes, "ZnVuYW1ib2w6ZnVuYW1ib2w=");
    assert_string_equal(dmsec_meta_str(m->hdr.meta, DMSEC_MI_MAXMSGSIZE), "16384");
    const dmsec_cmd_t *alert = m->body.cmds;
    assert_int_equal(alert->type, DMSEC_CMD_ALERT);
    assert_string_equal(alert->cmd_id, "1");
    assert_string_equal(alert->data->bytes, "1201");
    const dmsec_cmd_t *rep = alert->next;
    assert_int_equal(rep->type, DMSEC_CMD_REPLACE);
    assert_null(rep->next);
    int n = 0;
    for (const dmsec_item_t *it = rep->items; it; it = it->next)
        n++;
    assert_int_equal(n, 13);
    assert_string_equal(rep->items->source->uri, "./DevInfo/Ext/other/test3");
    assert_string_equal(rep->items->data->bytes, "data of test3");
    assert_int_equal(rep->items->data->opaque, 0);
    assert_true(m->body.final);
    dmsec_msg_free(m);
    free(buf);
}

/* ---- round trips over the data documents and the fixture ---- */

static const char *const data_docs[] = {
    "codec/server_chal.xml", "codec/commands.xml", "codec/opaque.xml",
    "codec/escapes.xml",     "codec/pretty.xml",   "codec/syncml11.xml",
};

static void round_trip_one(const uint8_t *doc, size_t len)
{
    dmsec_msg_t *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    assert_int_equal(dmsec_xml_decode(doc, len, NULL, &a), 0);
    /* XML -> model -> XML -> model */
    uint8_t *x1 = NULL, *x2 = NULL, *w = NULL;
    size_t x1n, x2n, wn;
    assert_int_equal(dmsec_xml_encode(a, &x1, &x1n), 0);
    assert_int_equal(dmsec_xml_decode(x1, x1n, NULL, &b), 0);
    assert_true(dmsec_msg_equal(a, b, DMSEC_EQ_OPAQUE));
    /* the writer is a fixed point after one pass */
    assert_int_equal(dmsec_xml_encode(b, &x2, &x2n), 0);
    assert_int_equal(x1n, x2n);
    assert_memory_equal(x1, x2, x1n);
    /* XML -> WBXML -> XML */
    assert_int_equal(dmsec_wbxml_encode(a, &w, &wn), 0);
    assert_int_equal(dmsec_wbxml_decode(w, wn, NULL, &c), 0);
    assert_true(dmsec_msg_equal(a, c, DMSEC_EQ_OPAQUE));
    free(x2);
    assert_int_equal(dmsec_xml_encode(c, &x2, &x2n), 0);
    assert_int_equal(dmsec_xml_decode(x2, x2n, NULL, &d), 0);
    assert_true(dmsec_msg_equal(a, d, DMSEC_EQ_OPAQUE));
    assert_int_equal(x1n, x2n);
    assert_memory_equal(x1, x2, x1n);
    free(x1);
    free(x2);
    free(w);
    dmsec_msg_free(a);
    dmsec_msg_free(b);
    dmsec_msg_free(c);
    dmsec_msg_free(d);
}

static void test_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof data_docs / sizeof data_docs[0]; i++) {
        size_t len;
        uint8_t *buf = load("DMSEC_TEST_DATA", data_docs[i], &len);
        assert_non_null(buf);
        round_trip_one(buf, len);
        free(buf);
    }
    size_t len = 0, blen = 0;
    uint8_t *buf = load("DMSEC_FIXTURES", "libdmclient/pkg1_xml.http", &len);
    assert_non_null(buf);
    const uint8_t *body = http_body(buf, len, &blen);
    assert_non_null(body);
    round_trip_one(body, blen);
    free(buf);
}

/* ---- what the decoder reads, field by field ---- */

static void test_commands_doc(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load("DMSEC_TEST_DATA", "codec/commands.xml", &len);
    assert_non_null(buf);
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_xml_decode(buf, len, NULL, &m), 0);
    free(buf);
    static const dmsec_cmd_type_t want[] = {
        DMSEC_CMD_ALERT, DMSEC_CMD_GET,  DMSEC_CMD_REPLACE, DMSEC_CMD_ADD,      DMSEC_CMD_DELETE,
        DMSEC_CMD_EXEC,  DMSEC_CMD_COPY, DMSEC_CMD_RESULTS, DMSEC_CMD_SEQUENCE, DMSEC_CMD_ATOMIC,
    };
    const dmsec_cmd_t *c = m->body.cmds;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++, c = c->next) {
        assert_non_null(c);
        assert_int_equal(c->type, want[i]);
    }
    assert_null(c);
    assert_true(m->hdr.no_resp);
    c = m->body.cmds;
    assert_true(c->no_resp);
    assert_string_equal(c->correlator, "abc");
    c = c->next;
    assert_string_equal(c->lang, "en");
    assert_string_equal(c->items->next->target->uri, "./DevInfo?list=Struct");
    c = c->next;
    assert_true(c->items->more_data);
    assert_string_equal(dmsec_meta_str(c->items->meta, DMSEC_MI_SIZE), "8");
    c = c->next->next->next->next->next; /* Results */
    assert_string_equal(c->target_refs->s, "./DevInfo/Mod");
    assert_string_equal(c->source_refs->s, "./DevInfo/Mod");
    c = c->next; /* Sequence */
    assert_int_equal(c->children->type, DMSEC_CMD_GET);
    assert_int_equal(c->children->next->type, DMSEC_CMD_ATOMIC);
    assert_int_equal(c->children->next->children->next->type, DMSEC_CMD_DELETE);
    c = c->next; /* Atomic with a Mem and an Anchor */
    const dmsec_mi_t *mem = c->children->items->meta->fields;
    assert_int_equal(mem->kind, DMSEC_MI_MEM);
    assert_int_equal(mem->children->kind, DMSEC_MI_FREEMEM);
    assert_string_equal(mem->children->value.bytes, "100");
    assert_int_equal(mem->next->kind, DMSEC_MI_ANCHOR);
    assert_string_equal(mem->next->children->next->value.bytes, "2");
    dmsec_msg_free(m);
}

static void test_namespaces_and_forms(void **state)
{
    (void)state;
    static const char *const good[] = {
        /* no namespace at all, MetInf without namespace */
        "<SyncML><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>"
        "<MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source>"
        "<Meta><MaxMsgSize>1</MaxMsgSize></Meta></SyncHdr><SyncBody/></SyncML>",
        /* lowercase namespace, MetInf inheriting the SyncML default namespace */
        "<SyncML xmlns='syncml:syncml1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>"
        "<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t</LocURI></Target><Source>"
        "<LocURI>s</LocURI></Source><Meta><MaxMsgSize>1</MaxMsgSize></Meta></SyncHdr><SyncBody>"
        "</SyncBody></SyncML>",
        /* a prefixed MetInf namespace and explicit xmlns="" in Meta */
        "<SyncML xmlns='SYNCML:SYNCML1.2' xmlns:m='syncml:metinf'><SyncHdr><VerDTD>1.2</VerDTD>"
        "<VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>t"
        "</LocURI></Target><Source><LocURI>s</LocURI></Source><Meta><m:MaxMsgSize>1</m:MaxMsgSize>"
        "<MaxObjSize xmlns=''>2</MaxObjSize></Meta></SyncHdr><SyncBody/></SyncML>",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc;
        dmsec_msg_t *m = decode_str(good[i], &rc);
        assert_int_equal(rc, 0);
        assert_string_equal(dmsec_meta_str(m->hdr.meta, DMSEC_MI_MAXMSGSIZE), "1");
        dmsec_msg_free(m);
    }
}

static void test_text_and_cdata(void **state)
{
    (void)state;
    int rc;
    dmsec_msg_t *m = decode_str(
        "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2"
        "</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>a&amp;b&#13;&#x41;"
        "</LocURI></Target><Source><LocURI>s</LocURI><LocName/></Source></SyncHdr><SyncBody>"
        "<Alert><CmdID>1</CmdID><Data>x<![CDATA[<&]]>y</Data></Alert></SyncBody></SyncML>",
        &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(m->hdr.target->uri, "a&b\rA");
    assert_non_null(m->hdr.source->name);
    assert_string_equal(m->hdr.source->name, "");
    assert_string_equal(m->body.cmds->data->bytes, "x<&y");
    assert_int_equal(m->body.cmds->data->opaque, 1);
    assert_false(m->body.final);
    uint8_t *x;
    size_t n;
    assert_int_equal(dmsec_xml_encode(m, &x, &n), 0);
    const char *want = "<LocURI>a&amp;b&#13;A</LocURI>";
    assert_non_null(strstr((const char *)x, want) ? x : NULL);
    free(x);
    dmsec_msg_free(m);
}

/* ---- the writer's exact bytes for a message built with the helpers ---- */

static void test_build_and_write(void **state)
{
    (void)state;
    dmsec_msg_t *m = dmsec_msg_new();
    assert_non_null(m);
    assert_int_equal(dmsec_msg_set_hdr(m, "A1", "2", "IMEI:1", "srv", "name \"q\" & 'a'"), 0);
    dmsec_cmd_t *st = dmsec_msg_add_status(m, "1", "0", "SyncHdr", 401);
    assert_non_null(st);
    assert_int_equal(dmsec_status_set_chal(m, st, "syncml:auth-md5", "b64", "Tm9uY2U="), 0);
    assert_int_equal(dmsec_status_code(st), 401);
    dmsec_cmd_t *seq = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_SEQUENCE);
    dmsec_cmd_t *get = dmsec_msg_add_cmd(m, seq, DMSEC_CMD_GET);
    assert_non_null(get);
    assert_null(dmsec_msg_add_cmd(m, get, DMSEC_CMD_GET));    /* Get holds no commands */
    assert_null(dmsec_msg_add_cmd(m, seq, DMSEC_CMD_STATUS)); /* nor does a Sequence hold Status */
    dmsec_item_t *it = dmsec_cmd_add_item(m, get, "./DevInfo/Mod", NULL);
    assert_non_null(it);
    dmsec_cmd_t *res = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_RESULTS);
    res->msg_ref = dmsec_msg_strdup(m, "1");
    res->cmd_ref = dmsec_msg_strdup(m, "3");
    assert_non_null(dmsec_meta_add(m, &res->meta, DMSEC_MI_FORMAT, "chr"));
    assert_int_equal(dmsec_cmd_add_target_ref(m, res, "./a"), 0);
    assert_int_equal(dmsec_cmd_add_source_ref(m, res, "./b"), 0);
    it = dmsec_cmd_add_item(m, res, NULL, "./DevInfo/Mod");
    it->data = dmsec_msg_data(m, "a<b]]>\r", 7, 1);
    m->hdr.cred = dmsec_msg_cred(m, "syncml:auth-basic", "b64", "dTpw");
    m->body.final = 1;
    assert_int_equal(dmsec_msg_validate(m), 0);

    uint8_t *x;
    size_t n;
    assert_int_equal(dmsec_xml_encode(m, &x, &n), 0);
    const char *want =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>"
        "<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>A1</SessionID><MsgID>2</MsgID>"
        "<Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>srv</LocURI><LocName>name "
        "&quot;q&quot; &amp; &apos;a&apos;</LocName></Source><Cred><Meta><Type "
        "xmlns=\"syncml:metinf\">syncml:auth-basic</Type><Format xmlns=\"syncml:metinf\">b64"
        "</Format></Meta><Data>dTpw</Data></Cred></SyncHdr><SyncBody><Status><CmdID>1</CmdID>"
        "<MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><Type "
        "xmlns=\"syncml:metinf\">syncml:auth-md5</Type><Format xmlns=\"syncml:metinf\">b64"
        "</Format><NextNonce xmlns=\"syncml:metinf\">Tm9uY2U=</NextNonce></Meta></Chal><Data>401"
        "</Data></Status><Sequence><CmdID>2</CmdID><Get><CmdID>3</CmdID><Item><Target><LocURI>"
        "./DevInfo/Mod</LocURI></Target></Item></Get></Sequence><Results><CmdID>4</CmdID>"
        "<MsgRef>1</MsgRef><CmdRef>3</CmdRef><Meta><Format xmlns=\"syncml:metinf\">chr</Format>"
        "</Meta><TargetRef>./a</TargetRef><SourceRef>./b</SourceRef><Item><Source><LocURI>"
        "./DevInfo/Mod</LocURI></Source><Data><![CDATA[a<b]]]]><![CDATA[>]]>&#13;<![CDATA[]]>"
        "</Data></Item></Results><Final/></SyncBody></SyncML>";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(x, want, n);
    dmsec_msg_t *back = NULL;
    assert_int_equal(dmsec_xml_decode(x, n, NULL, &back), 0);
    assert_true(dmsec_msg_equal(m, back, DMSEC_EQ_OPAQUE));
    free(x);
    dmsec_msg_free(back);
    dmsec_msg_free(m);
}

/* ---- equality must see every difference ---- */

static void test_equal_detects_changes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = load("DMSEC_TEST_DATA", "codec/commands.xml", &len);
    assert_non_null(buf);
    dmsec_msg_t *a = NULL, *b = NULL;
    assert_int_equal(dmsec_xml_decode(buf, len, NULL, &a), 0);
    assert_true(dmsec_msg_equal(a, a, DMSEC_EQ_OPAQUE));
    assert_false(dmsec_msg_equal(a, NULL, 0));
    for (int change = 0; change < 8; change++) {
        assert_int_equal(dmsec_xml_decode(buf, len, NULL, &b), 0);
        assert_true(dmsec_msg_equal(a, b, DMSEC_EQ_OPAQUE));
        dmsec_cmd_t *seq = b->body.cmds->next->next->next->next->next->next->next->next;
        switch (change) {
        case 0:
            b->hdr.session_id = dmsec_msg_strdup(b, "1E");
            break;
        case 1:
            b->body.final = 0;
            break;
        case 2:
            seq->children->next->children->next->items->target->uri = dmsec_msg_strdup(b, "./X");
            break;
        case 3:
            b->body.cmds->items->meta->fields->next->value.len--;
            break;
        case 4:
            b->body.cmds->next->items->next = NULL;
            break;
        case 5:
            seq->next->children->items->meta->fields->children->next->value.bytes[0] = '6';
            break;
        case 6:
            b->body.cmds->next->next->items->more_data = 0;
            break;
        default:
            b->hdr.target->name = dmsec_msg_strdup(b, "");
            break;
        }
        assert_false(dmsec_msg_equal(a, b, 0));
        dmsec_msg_free(b);
    }
    /* the opaque flag counts only when asked */
    assert_int_equal(dmsec_xml_decode(buf, len, NULL, &b), 0);
    b->body.cmds->items->data->opaque = 1;
    assert_true(dmsec_msg_equal(a, b, 0));
    assert_false(dmsec_msg_equal(a, b, DMSEC_EQ_OPAQUE));
    dmsec_msg_free(b);
    dmsec_msg_free(a);
    free(buf);
}

/* ---- bad input: each kind has its own code ---- */

#define OPEN "<SyncML xmlns=\"SYNCML:SYNCML1.2\">"
#define HDR                                                                                        \
    "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1"     \
    "</MsgID><Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source></SyncHdr>"
#define DOC(body) OPEN HDR "<SyncBody>" body "</SyncBody></SyncML>"

struct bad {
    const char *name;
    const char *doc;
    size_t max_size, max_elements, max_text;
    int err;
};

static const struct bad bad_docs[] = {
    {"empty", "", 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"truncated", OPEN HDR "<SyncBody><Alert><CmdID>1</Cm", 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"unclosed root", OPEN HDR "<SyncBody></SyncBody>", 0, 0, 0, DMSEC_ERR_CODEC_TRUNCATED},
    {"wrong root namespace", "<SyncML xmlns='SYNCML:SYNCML1.3'/>", 0, 0, 0,
     DMSEC_ERR_CODEC_NAMESPACE},
    {"DS namespace", "<SyncML xmlns='syncml:devinf'/>", 0, 0, 0, DMSEC_ERR_CODEC_NAMESPACE},
    {"wrong child namespace", OPEN "<SyncHdr xmlns='urn:x'/></SyncML>", 0, 0, 0,
     DMSEC_ERR_CODEC_NAMESPACE},
    {"wrong MetInf namespace",
     DOC("<Get><CmdID>1</CmdID><Meta><Type xmlns='syncml:devinf'>x</Type></Meta><Item/></Get>"), 0,
     0, 0, DMSEC_ERR_CODEC_NAMESPACE},
    {"unbound prefix", OPEN "<x:SyncHdr/></SyncML>", 0, 0, 0, DMSEC_ERR_CODEC_NAMESPACE},
    {"oversize", DOC(""), 64, 0, 0, DMSEC_ERR_CODEC_OVERSIZE},
    {"too many elements", DOC("<Final/>"), 0, 10, 0, DMSEC_ERR_CODEC_TOO_MANY},
    {"text too long", DOC("<Alert><CmdID>12345</CmdID></Alert>"), 0, 0, 4,
     DMSEC_ERR_CODEC_TEXT_LONG},
    {"invalid UTF-8", DOC("<Alert><CmdID>\xC3\x28</CmdID></Alert>"), 0, 0, 0, DMSEC_ERR_CODEC_UTF8},
    {"overlong UTF-8", DOC("<Alert><CmdID>\xC0\xAF</CmdID></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UTF8},
    {"UTF-8 surrogate", DOC("<Alert><CmdID>\xED\xA0\x80</CmdID></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UTF8},
    {"control character", DOC("<Alert><CmdID>\x01</CmdID></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_XML_SYNTAX},
    {"other charset", "<?xml version='1.0' encoding='ISO-8859-1'?>" DOC(""), 0, 0, 0,
     DMSEC_ERR_CODEC_CHARSET},
    {"internal subset", "<!DOCTYPE SyncML [ ]>" DOC(""), 0, 0, 0, DMSEC_ERR_CODEC_DTD},
    {"billion laughs",
     "<?xml version='1.0'?><!DOCTYPE SyncML [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b "
     "'&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]>" OPEN HDR
     "<SyncBody><Alert><CmdID>&c;</CmdID></Alert></SyncBody></SyncML>",
     0, 0, 0, DMSEC_ERR_CODEC_DTD},
    {"external entity",
     "<!DOCTYPE SyncML [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" OPEN HDR
     "<SyncBody><Alert><CmdID>&x;</CmdID></Alert></SyncBody></SyncML>",
     0, 0, 0, DMSEC_ERR_CODEC_DTD},
    {"DOCTYPE of another document", "<!DOCTYPE html SYSTEM 'x.dtd'>" DOC(""), 0, 0, 0,
     DMSEC_ERR_CODEC_DTD},
    {"undefined entity", DOC("<Alert><CmdID>&x;</CmdID></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_XML_SYNTAX},
    {"mismatched tag", DOC("<Alert><CmdID>1</Data></Alert>"), 0, 0, 0, DMSEC_ERR_CODEC_XML_SYNTAX},
    {"junk after the root", DOC("") "<x/>", 0, 0, 0, DMSEC_ERR_CODEC_XML_SYNTAX},
    {"missing SyncHdr", OPEN "<SyncBody/></SyncML>", 0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"missing SyncBody", OPEN HDR "</SyncML>", 0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"missing VerDTD",
     OPEN "<SyncHdr><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target>"
          "<LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source></SyncHdr><SyncBody/>"
          "</SyncML>",
     0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"Target without LocURI",
     OPEN "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>"
          "<MsgID>1</MsgID><Target/><Source><LocURI>s</LocURI></Source></SyncHdr><SyncBody/>"
          "</SyncML>",
     0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"Status without Cmd",
     DOC("<Status><CmdID>1</CmdID><CmdRef>0</CmdRef><Data>200</Data></Status>"), 0, 0, 0,
     DMSEC_ERR_CODEC_MISSING},
    {"Status of a command without CmdRef",
     DOC("<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><Cmd>Alert</Cmd><Data>200</Data></Status>"), 0,
     0, 0, DMSEC_ERR_CODEC_MISSING},
    {"SyncHdr Status without CmdRef or MsgRef",
     DOC("<Status><CmdID>1</CmdID><Cmd>SyncHdr</Cmd><Data>212</Data></Status>"), 0, 0, 0,
     DMSEC_ERR_CODEC_MISSING},
    {"command without CmdID", DOC("<Alert><Data>1201</Data></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_MISSING},
    {"Get without Item", DOC("<Get><CmdID>1</CmdID></Get>"), 0, 0, 0, DMSEC_ERR_CODEC_MISSING},
    {"unknown element", DOC("<Frobnicate/>"), 0, 0, 0, DMSEC_ERR_CODEC_UNKNOWN_ELEMENT},
    {"unknown MetInf element", DOC("<Get><CmdID>1</CmdID><Meta><Colour>x</Colour></Meta></Get>"), 0,
     0, 0, DMSEC_ERR_CODEC_UNKNOWN_ELEMENT},
    {"wrong root", "<SyncBody xmlns='SYNCML:SYNCML1.2'/>", 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"element out of place", OPEN "<SyncHdr><LocURI>x</LocURI></SyncHdr></SyncML>", 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"text in a container", DOC("hello"), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"element inside Data", DOC("<Alert><CmdID>1</CmdID><Data><Final/></Data></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"Status inside Sequence",
     DOC("<Sequence><CmdID>1</CmdID><Status><CmdID>2</CmdID></Status></Sequence>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"Lang in Replace", DOC("<Replace><CmdID>1</CmdID><Lang>en</Lang></Replace>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"MetInf outside Meta",
     DOC("<Alert><CmdID>1</CmdID><Type xmlns='syncml:metinf'>x</Type></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_UNEXPECTED},
    {"Last outside Anchor",
     DOC("<Get><CmdID>1</CmdID><Meta><Mem xmlns='syncml:metinf'><Last>1"
         "</Last></Mem></Meta></Get>"),
     0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"DS command", DOC("<Sync><CmdID>1</CmdID></Sync>"), 0, 0, 0, DMSEC_ERR_CODEC_UNEXPECTED},
    {"duplicate SessionID",
     OPEN "<SyncHdr><VerDTD>1.2</VerDTD><SessionID>1</SessionID><SessionID>2</SessionID>"
          "</SyncHdr></SyncML>",
     0, 0, 0, DMSEC_ERR_CODEC_DUPLICATE},
    {"two Final", DOC("<Final/><Final/>"), 0, 0, 0, DMSEC_ERR_CODEC_DUPLICATE},
    {"CmdID twice in one command",
     DOC("<Alert><CmdID>1</CmdID><CmdID>2</CmdID><Data>1201</Data></Alert>"), 0, 0, 0,
     DMSEC_ERR_CODEC_DUPLICATE},
    {"attribute", "<SyncML xmlns='SYNCML:SYNCML1.2' version='1'/>", 0, 0, 0,
     DMSEC_ERR_CODEC_ATTRIBUTE},
};

static void test_bad_xml(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        const struct bad *t = &bad_docs[i];
        dmsec_codec_limits_t lim = {t->max_size, 0, t->max_elements, t->max_text};
        dmsec_msg_t *m = (dmsec_msg_t *)1;
        int rc = dmsec_xml_decode((const uint8_t *)t->doc, strlen(t->doc), &lim, &m);
        if (rc != t->err)
            fail_msg("%s: got %s, want %s", t->name, dmsec_errname(rc), dmsec_errname(t->err));
        assert_null(m);
        /* every code has a name, a text and a status */
        assert_string_not_equal(dmsec_errname(rc), "DMSEC_ERR_UNKNOWN");
        assert_true(dmsec_err_status(rc) >= 400);
    }
}

/* Nesting: Sequence inside Sequence, refused past the depth limit. */
static void test_deep_nesting(void **state)
{
    (void)state;
    static const struct {
        int levels;
        size_t max_depth;
        int err;
    } cases[] = {
        {20, 0, 0}, {40, 0, DMSEC_ERR_CODEC_TOO_DEEP},     {5, 6, DMSEC_ERR_CODEC_TOO_DEEP},
        {3, 6, 0},  {100000, 0, DMSEC_ERR_CODEC_TOO_DEEP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t cap = 400 + (size_t)cases[i].levels * 60;
        char *doc = malloc(cap);
        assert_non_null(doc);
        size_t n = (size_t)snprintf(doc, cap, "%s", OPEN HDR "<SyncBody>");
        for (int k = 0; k < cases[i].levels; k++)
            n += (size_t)snprintf(doc + n, cap - n, "<Sequence><CmdID>%d</CmdID>", k);
        for (int k = 0; k < cases[i].levels; k++)
            n += (size_t)snprintf(doc + n, cap - n, "</Sequence>");
        n += (size_t)snprintf(doc + n, cap - n, "</SyncBody></SyncML>");
        dmsec_codec_limits_t lim = {0, cases[i].max_depth, 0, 0};
        dmsec_msg_t *m = NULL;
        int rc = dmsec_xml_decode((const uint8_t *)doc, n, &lim, &m);
        assert_int_equal(rc, cases[i].err);
        dmsec_msg_free(m);
        free(doc);
    }
}

/* The writer refuses what XML cannot carry. */
static void test_writer_refuses_binary(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        int opaque;
        int err;
    } cases[] = {
        {"ok", 2, 0, 0},
        {"ok", 2, 1, 0},
        {"a\0b", 3, 1, DMSEC_ERR_CODEC_BINARY},
        {"\xff\xfe", 2, 1, DMSEC_ERR_CODEC_BINARY},
        {"\x01", 1, 1, DMSEC_ERR_CODEC_BINARY},
        {"a\0b", 3, 0, DMSEC_ERR_CODEC_BINARY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dmsec_msg_t *m = dmsec_msg_new();
        assert_int_equal(dmsec_msg_set_hdr(m, "1", "1", "t", "s", NULL), 0);
        dmsec_cmd_t *c = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_REPLACE);
        dmsec_item_t *it = dmsec_cmd_add_item(m, c, "./x", NULL);
        it->data = dmsec_msg_data(m, cases[i].bytes, cases[i].len, cases[i].opaque);
        uint8_t *x = (uint8_t *)1;
        size_t n;
        assert_int_equal(dmsec_xml_encode(m, &x, &n), cases[i].err);
        if (cases[i].err)
            assert_null(x);
        free(x);
        dmsec_msg_free(m);
    }
    /* a message lacking its header is not written */
    dmsec_msg_t *m = dmsec_msg_new();
    uint8_t *x = NULL;
    size_t n;
    assert_int_equal(dmsec_xml_encode(m, &x, &n), DMSEC_ERR_CODEC_MISSING);
    assert_null(x);
    dmsec_msg_free(m);
}

/* Validation: what a reader would refuse, no writer emits. */
static void test_validate(void **state)
{
    (void)state;
    for (int change = 0; change < 9; change++) {
        dmsec_msg_t *m = dmsec_msg_new();
        assert_int_equal(dmsec_msg_set_hdr(m, "1", "1", "t", "s", NULL), 0);
        dmsec_cmd_t *st = dmsec_msg_add_status(m, "1", "0", "SyncHdr", 200);
        dmsec_cmd_t *seq = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_SEQUENCE);
        dmsec_cmd_t *get = dmsec_msg_add_cmd(m, seq, DMSEC_CMD_GET);
        dmsec_cmd_add_item(m, get, "./a", NULL);
        int want = 0;
        switch (change) {
        case 0:
            break;
        case 1:
            st->lang = dmsec_msg_strdup(m, "en");
            want = DMSEC_ERR_CODEC_UNEXPECTED;
            break;
        case 2:
            get->children = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
            want = DMSEC_ERR_CODEC_UNEXPECTED;
            break;
        case 3:
            seq->children->next = st; /* a Status inside a Sequence */
            want = DMSEC_ERR_CODEC_UNEXPECTED;
            break;
        case 4:
            st->cmd = NULL;
            want = DMSEC_ERR_CODEC_MISSING;
            break;
        case 5:
            get->items = NULL;
            want = DMSEC_ERR_CODEC_MISSING;
            break;
        case 6:
            get->items->target->uri = NULL;
            want = DMSEC_ERR_CODEC_MISSING;
            break;
        case 7:
            m->hdr.msg_id = NULL;
            want = DMSEC_ERR_CODEC_MISSING;
            break;
        default:
            get->cmd_id = NULL;
            want = DMSEC_ERR_CODEC_MISSING;
            break;
        }
        assert_int_equal(dmsec_msg_validate(m), want);
        uint8_t *out = NULL;
        size_t n;
        assert_int_equal(dmsec_xml_encode(m, &out, &n), want);
        free(out);
        assert_int_equal(dmsec_wbxml_encode(m, &out, &n), want);
        free(out);
        dmsec_msg_free(m);
    }
}

/* The SyncHdr's Status as deployed clients write it: a MsgRef but no
 * CmdRef. Read (and written back as read); any other Status still needs
 * its CmdRef. */
static void test_hdr_status_without_cmdref(void **state)
{
    (void)state;
    const char *doc = DOC("<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><Cmd>SyncHdr</Cmd>"
                          "<Data>212</Data></Status><Final/>");
    int rc = 0;
    dmsec_msg_t *m = decode_str(doc, &rc);
    assert_int_equal(rc, DMSEC_OK);
    const dmsec_cmd_t *st = m->body.cmds;
    assert_int_equal(st->type, DMSEC_CMD_STATUS);
    assert_null(st->cmd_ref);
    assert_string_equal(st->msg_ref, "1");
    assert_string_equal(st->cmd, "SyncHdr");
    assert_int_equal(dmsec_status_code(st), 212);
    const dmsec_codec_t codecs[] = {DMSEC_CODEC_XML, DMSEC_CODEC_WBXML};
    for (size_t c = 0; c < 2; c++) {
        uint8_t *out = NULL;
        size_t n = 0;
        dmsec_msg_t *back = NULL;
        assert_int_equal(dmsec_msg_encode(codecs[c], m, &out, &n), DMSEC_OK);
        assert_int_equal(dmsec_msg_decode(codecs[c], out, n, NULL, &back), DMSEC_OK);
        assert_true(dmsec_msg_equal(m, back, DMSEC_EQ_OPAQUE));
        dmsec_msg_free(back);
        free(out);
    }
    dmsec_msg_free(m);
}

/* Commands of one message that share a CmdID are read, each as sent (the
 * session answers each); one command still has one CmdID. */
static void test_repeated_cmd_id(void **state)
{
    (void)state;
    const char *doc =
        DOC("<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Replace><CmdID>1</CmdID><Item>"
            "<Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>x</Data></Item></Replace>"
            "<Sequence><CmdID>1</CmdID><Get><CmdID>1</CmdID><Item><Target><LocURI>./a</LocURI>"
            "</Target></Item></Get></Sequence><Final/>");
    int rc = 0;
    dmsec_msg_t *m = decode_str(doc, &rc);
    assert_int_equal(rc, DMSEC_OK);
    int n = 0;
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next, n++)
        assert_string_equal(c->cmd_id, "1");
    assert_int_equal(n, 3);
    assert_string_equal(m->body.cmds->next->next->children->cmd_id, "1");
    dmsec_msg_free(m);
}

static void test_content_types(void **state)
{
    (void)state;
    static const struct {
        const char *ct;
        int rc;
        dmsec_codec_t codec;
    } cases[] = {
        {"application/vnd.syncml.dm+xml", 0, DMSEC_CODEC_XML},
        {"application/vnd.syncml.dm+wbxml", 0, DMSEC_CODEC_WBXML},
        {"Application/VND.SyncML.DM+XML; charset=UTF-8", 0, DMSEC_CODEC_XML},
        {"application/vnd.syncml+wbxml", 0, DMSEC_CODEC_WBXML},
        {" application/vnd.syncml+xml ", 0, DMSEC_CODEC_XML},
        {"application/vnd.syncml.notification", DMSEC_ERR_CODEC_CONTENT_TYPE, DMSEC_CODEC_XML},
        {"application/vnd.syncml.dm+xmlx", DMSEC_ERR_CODEC_CONTENT_TYPE, DMSEC_CODEC_XML},
        {"", DMSEC_ERR_CODEC_CONTENT_TYPE, DMSEC_CODEC_XML},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dmsec_codec_t c = (dmsec_codec_t)-1;
        assert_int_equal(dmsec_codec_from_content_type(cases[i].ct, &c), cases[i].rc);
        if (!cases[i].rc)
            assert_int_equal(c, cases[i].codec);
    }
    assert_string_equal(dmsec_codec_content_type(DMSEC_CODEC_WBXML),
                        "application/vnd.syncml.dm+wbxml");
    assert_string_equal(dmsec_cmd_name(DMSEC_CMD_STATUS), "Status");
    assert_string_equal(dmsec_metinf_name(DMSEC_MI_NEXTNONCE), "NextNonce");
    assert_string_equal(dmsec_metinf_name(DMSEC_MI_FIELDLEVEL), "FieldLevel");
}

/* dmsec_utf8_valid: the codecs' reading of UTF-8, for tools. */
static void test_utf8_valid(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        int valid;
    } cases[] = {
        {"", 1},
        {"plain ASCII, long enough for the 8-byte runs", 1},
        {"dm.\xc3\xa9.example", 1},           /* e acute */
        {"\xe2\x82\xac \xf0\x9f\x98\x80", 1}, /* euro sign, U+1F600 */
        {"a\x01"
         "b\x7f",
         1},                     /* controls are text here */
        {"\xc0\x80", 0},         /* overlong NUL */
        {"\xe0\x80\x80", 0},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0},     /* a surrogate */
        {"\xf4\x90\x80\x80", 0}, /* beyond U+10FFFF */
        {"\xc3", 0},             /* cut short */
        {"a\xe9"
         "b",
         0},         /* Latin-1 */
        {"\x80", 0}, /* a lone continuation byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(dmsec_utf8_valid((const uint8_t *)cases[i].bytes, strlen(cases[i].bytes)),
                         cases[i].valid);
    assert_int_equal(dmsec_utf8_valid(NULL, 0), 1);
    assert_int_equal(dmsec_utf8_valid(NULL, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_xml),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_commands_doc),
        cmocka_unit_test(test_namespaces_and_forms),
        cmocka_unit_test(test_text_and_cdata),
        cmocka_unit_test(test_build_and_write),
        cmocka_unit_test(test_equal_detects_changes),
        cmocka_unit_test(test_bad_xml),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_writer_refuses_binary),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_hdr_status_without_cmdref),
        cmocka_unit_test(test_repeated_cmd_id),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
