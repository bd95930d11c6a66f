/*
 * What real handsets, a Windows MDM client and a FOTA test server sent
 * (../shared/fixtures/real-devices/): every vector of every folder's
 * vector.json, so a vector added there that dmsec gets wrong fails here.
 *   cred:         the Cred Data built from user, secret and nonce equals
 *                 "expected", equals the Cred Data of the body's SyncHdr,
 *                 and verifies against the stored pre-hash.
 *   wbxml-decode: the WBXML body decodes, and its element tree (tags, text
 *                 trimmed, child order; namespaces ignored) equals the one
 *                 of the expected XML, both read by dmsec's codecs and
 *                 written back as XML; a Chal's NextNonce is the device's
 *                 base64 text (the Nokia's opaque 'NDA0MzQ=', nonce '40434').
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <expat.h>
#include <jansson.h>

#include "dmsec/auth.h"
#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

#include "fixture.h"

#define FOLDER "real-devices"

/* ---- vector.json ---- */

static const char *field(json_t *v, const char *id, const char *name)
{
    const char *s = json_string_value(json_object_get(v, name));
    if (!s)
        fail_msg("%s: no string \"%s\"", id, name);
    return s;
}

static uint8_t *load_in(const char *dir, const char *file, size_t *len)
{
    char rel[512];
    snprintf(rel, sizeof rel, FOLDER "/%s/%s", dir, file);
    uint8_t *buf = load("DMSEC_FIXTURES", rel, len);
    if (!buf)
        fail_msg("cannot read %s", rel);
    return buf;
}

static int decode_file(const char *dir, const char *file, dmsec_msg_t **m)
{
    size_t len = 0;
    uint8_t *buf = load_in(dir, file, &len);
    size_t n = strlen(file);
    dmsec_codec_t codec =
        n > 6 && !strcmp(file + n - 6, ".wbxml") ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML;
    int rc = dmsec_msg_decode(codec, buf, len, NULL, m);
    free(buf);
    return rc;
}

/* ---- kind "cred" ---- */

static void check_cred(const char *dir, json_t *v, const char *id)
{
    const char *scheme_name = field(v, id, "scheme");
    const char *user = field(v, id, "user");
    const char *secret = field(v, id, "secret");
    const char *nonce_hex = field(v, id, "nonce_hex");
    const char *expected = field(v, id, "expected");
    dmsec_auth_scheme_t scheme = DMSEC_AUTH_BASIC;
    if (!strcmp(scheme_name, "basic"))
        scheme = DMSEC_AUTH_BASIC;
    else if (!strcmp(scheme_name, "md5"))
        scheme = DMSEC_AUTH_MD5;
    else if (!strcmp(scheme_name, "sha256"))
        scheme = DMSEC_AUTH_SHA256;
    else
        fail_msg("%s: unknown scheme %s", id, scheme_name);
    uint8_t nonce[256];
    size_t nonce_len = 0;
    if (dmsec_hex_decode(nonce_hex, strlen(nonce_hex), nonce, sizeof nonce, &nonce_len))
        fail_msg("%s: bad nonce_hex", id);

    char data[128];
    size_t n = 0;
    int rc = dmsec_cred_build(scheme, user, (const uint8_t *)secret, strlen(secret), nonce,
                              nonce_len, data, sizeof data, &n);
    if (rc)
        fail_msg("%s: cred build: %s", id, dmsec_errname(rc));
    if (strcmp(data, expected) != 0)
        fail_msg("%s: computed %s, expected %s", id, data, expected);

    /* the Cred the body carries */
    dmsec_msg_t *m = NULL;
    const char *body = field(v, id, "body");
    if ((rc = decode_file(dir, body, &m)))
        fail_msg("%s: %s: %s", id, body, dmsec_errname(rc));
    const dmsec_cred_t *cred = m->hdr.cred;
    if (!cred || !cred->data)
        fail_msg("%s: no Cred in the SyncHdr of %s", id, body);
    if (cred->data->len != strlen(expected) || memcmp(cred->data->bytes, expected, cred->data->len))
        fail_msg("%s: the body's Cred is %.*s, expected %s", id, (int)cred->data->len,
                 (const char *)cred->data->bytes, expected);
    const char *type = dmsec_meta_str(cred->meta, DMSEC_MI_TYPE);
    dmsec_auth_scheme_t in_body;
    if (!type || dmsec_auth_scheme_parse(type, strlen(type), &in_body) || in_body != scheme)
        fail_msg("%s: the body's Cred type is %s, not %s", id, type ? type : "(none)", scheme_name);

    /* and it verifies as a server or device would check it */
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute(user, (const uint8_t *)secret, strlen(secret), &ph),
                     DMSEC_OK);
    rc = dmsec_cred_verify(scheme, user, &ph, nonce, nonce_len, (const char *)cred->data->bytes,
                           cred->data->len);
    if (rc)
        fail_msg("%s: verify: %s", id, dmsec_errname(rc));
    dmsec_prehash_wipe(&ph);
    dmsec_msg_free(m);
}

/* ---- kind "wbxml-decode" ---- */

/* The element tree of an XML text as one string: "<Tag>", "[text]" (text
 * trimmed, only when not empty) and "</Tag>"; attributes (the namespaces)
 * left out. */
struct tree {
    char *out;
    size_t len, cap;
    char text[1 << 16];
    size_t text_len;
    int overflow;
};

static void put(struct tree *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->out, cap);
        assert_non_null(p);
        t->out = p;
        t->cap = cap;
    }
    memcpy(t->out + t->len, s, n);
    t->len += n;
    t->out[t->len] = '\0';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void flush_text(struct tree *t)
{
    const char *s = t->text;
    size_t n = t->text_len;
    while (n && is_space(*s)) {
        s++;
        n--;
    }
    while (n && is_space(s[n - 1]))
        n--;
    if (n) {
        put(t, "[", 1);
        put(t, s, n);
        put(t, "]", 1);
    }
    t->text_len = 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    struct tree *t = ud;
    flush_text(t);
    put(t, "<", 1);
    put(t, name, strlen(name));
    put(t, ">", 1);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct tree *t = ud;
    flush_text(t);
    put(t, "</", 2);
    put(t, name, strlen(name));
    put(t, ">", 1);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct tree *t = ud;
    if (t->text_len + (size_t)len > sizeof t->text) {
        t->overflow = 1;
        return;
    }
    memcpy(t->text + t->text_len, s, (size_t)len);
    t->text_len += (size_t)len;
}

/* msg written as XML by dmsec, then read back as a tree string. */
static char *tree_of(const dmsec_msg_t *msg, const char *id)
{
    uint8_t *xml = NULL;
    size_t n = 0;
    int rc = dmsec_xml_encode(msg, &xml, &n);
    if (rc)
        fail_msg("%s: XML encode: %s", id, dmsec_errname(rc));
    struct tree *t = calloc(1, sizeof *t);
    assert_non_null(t);
    XML_Parser p = XML_ParserCreate("UTF-8");
    assert_non_null(p);
    XML_SetUserData(p, t);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    if (XML_Parse(p, (const char *)xml, (int)n, 1) != XML_STATUS_OK || t->overflow)
        fail_msg("%s: dmsec's XML does not read back", id);
    XML_ParserFree(p);
    free(xml);
    char *out = t->out;
    free(t);
    assert_non_null(out);
    return out;
}

static void check_nonces(const dmsec_msg_t *m, const char *id)
{
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS || !c->chal)
            continue;
        const dmsec_data_t *nn = dmsec_meta_get(c->chal->meta, DMSEC_MI_NEXTNONCE);
        if (!nn)
            continue;
        uint8_t nonce[256];
        size_t len = 0;
        if (dmsec_b64_decode((const char *)nn->bytes, nn->len, nonce, sizeof nonce, &len))
            fail_msg("%s: NextNonce %.*s is not base64", id, (int)nn->len, (const char *)nn->bytes);
    }
}

static void check_wbxml_decode(const char *dir, json_t *v, const char *id)
{
    const char *body = field(v, id, "body");
    const char *expected = field(v, id, "expected_xml");
    dmsec_msg_t *w = NULL, *x = NULL;
    int rc = decode_file(dir, body, &w);
    if (rc)
        fail_msg("%s: %s: %s", id, body, dmsec_errname(rc));
    if ((rc = decode_file(dir, expected, &x)))
        fail_msg("%s: %s: %s", id, expected, dmsec_errname(rc));
    char *tw = tree_of(w, id);
    char *tx = tree_of(x, id);
    if (strcmp(tw, tx) != 0) {
        size_t i = 0;
        while (tw[i] && tw[i] == tx[i])
            i++;
        size_t from = i > 60 ? i - 60 : 0;
        fail_msg("%s: trees differ at %zu:\n  wbxml: %.120s\n  xml:   %.120s", id, i, tw + from,
                 tx + from);
    }
    check_nonces(w, id);
    free(tw);
    free(tx);
    dmsec_msg_free(w);
    dmsec_msg_free(x);
}

/* ---- every folder, every vector ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void every_vector(void **state)
{
    (void)state;
    const char *root = getenv("DMSEC_FIXTURES");
    assert_non_null(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/" FOLDER, root);
    DIR *d = opendir(path);
    if (!d)
        fail_msg("cannot open %s", path);
    char *dirs[64];
    size_t n_dirs = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char vj[sizeof path + sizeof e->d_name + 16];
        snprintf(vj, sizeof vj, "%s/%s/vector.json", path, e->d_name);
        FILE *f = fopen(vj, "rb");
        if (!f)
            continue; /* README.md */
        fclose(f);
        assert_true(n_dirs < sizeof dirs / sizeof dirs[0]);
        dirs[n_dirs++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(dirs, n_dirs, sizeof dirs[0], by_name);

    int cred = 0, decode = 0;
    for (size_t i = 0; i < n_dirs; i++) {
        size_t len = 0;
        uint8_t *buf = load_in(dirs[i], "vector.json", &len);
        json_error_t err;
        json_t *doc = json_loadb((const char *)buf, len, 0, &err);
        free(buf);
        if (!doc)
            fail_msg("%s/vector.json: %s (line %d)", dirs[i], err.text, err.line);
        json_t *vectors = json_object_get(doc, "vectors");
        if (!json_is_array(vectors) || json_array_size(vectors) == 0)
            fail_msg("%s/vector.json: no vectors", dirs[i]);
        size_t k;
        json_t *v;
        json_array_foreach(vectors, k, v)
        {
            const char *id = field(v, dirs[i], "id");
            const char *kind = field(v, id, "kind");
            if (!strcmp(kind, "cred")) {
                check_cred(dirs[i], v, id);
                cred++;
            } else if (!strcmp(kind, "wbxml-decode")) {
                check_wbxml_decode(dirs[i], v, id);
                decode++;
            } else {
                fail_msg("%s: unknown kind %s", id, kind);
            }
            print_message("ok %s\n", id);
        }
        json_decref(doc);
        free(dirs[i]);
    }
    /* the folders as shipped: none of them went missing */
    assert_true(n_dirs >= 3);
    assert_true(cred >= 2);
    assert_true(decode >= 2);
}

/* The Nokia's opaque NextNonce is the device's base64 text: decoded, the
 * nonce a server answers with is '40434'. */
static void nokia_next_nonce(void **state)
{
    (void)state;
    dmsec_msg_t *m = NULL;
    assert_int_equal(decode_file("npower-otasdm-wbxml", "nokia_pkg2.wbxml", &m), DMSEC_OK);
    const dmsec_cmd_t *st = m->body.cmds;
    assert_int_equal(st->type, DMSEC_CMD_STATUS);
    assert_string_equal(st->cmd, "SyncHdr");
    assert_non_null(st->chal);
    const char *nn = dmsec_meta_str(st->chal->meta, DMSEC_MI_NEXTNONCE);
    assert_non_null(nn);
    assert_string_equal(nn, "NDA0MzQ=");
    uint8_t nonce[16];
    size_t len = 0;
    assert_int_equal(dmsec_b64_decode(nn, strlen(nn), nonce, sizeof nonce, &len), DMSEC_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(nonce, "40434", 5);
    dmsec_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_vector),
        cmocka_unit_test(nokia_next_nonce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
