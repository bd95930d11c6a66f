/* The tree's serialised form (see dmsec_tree_serialize), comparison and the
 * display dump. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "tree/tree_int.h"

#define MAGIC "DMSECTREE 1\n"
#define TRAILER_TAG "SHA256 "
#define HEX_LEN ((size_t)2 * DM_SHA256_LEN)
#define TRAILER_LEN (sizeof TRAILER_TAG - 1 + HEX_LEN + 1)

/* ---- writing ---- */

/* Sizing pass (buf NULL) and writing pass share one routine, so the exact
 * size is known before any secret is copied: no realloc leaves copies. */
struct writer {
    uint8_t *buf;
    size_t at;
};

static void put(struct writer *w, const void *p, size_t n)
{
    if (w->buf && n)
        memcpy(w->buf + w->at, p, n);
    w->at += n;
}

static void put_num(struct writer *w, size_t v)
{
    char num[24];
    int k = snprintf(num, sizeof num, "%zu", v);
    put(w, num, (size_t)k);
}

static void put_field(struct writer *w, const void *p, size_t n)
{
    put(w, " ", 1);
    put_num(w, n);
    put(w, ":", 1);
    put(w, p, n);
}

static int write_node(void *ctx, const tnode_t *n)
{
    struct writer *w = ctx;
    const char *f = dmsec_tree_format_name(n->format);
    put_num(w, n->depth);
    put(w, " ", 1);
    put(w, f, strlen(f));
    put(w, " ", 1);
    put_num(w, n->flags);
    put_field(w, n->name, n->name_len);
    put_field(w, n->type ? n->type : "", n->type ? strlen(n->type) : 0);
    put_field(w, n->acl ? n->acl : "", n->acl ? strlen(n->acl) : 0);
    put_field(w, n->value, n->len);
    put(w, "\n", 1);
    return 0;
}

static void write_body(const dmsec_tree_t *t, struct writer *w)
{
    put(w, MAGIC, sizeof MAGIC - 1);
    put_num(w, t->count);
    put(w, "\n", 1);
    tnode_visit(t->root, write_node, w);
}

static int digest_hex(const uint8_t *body, size_t len, char hex[HEX_LEN + 1])
{
    uint8_t md[DM_SHA256_LEN];
    dm_part_t part = {body, len};
    if (dm_digest(DM_SHA256, &part, 1, md) != 0)
        return DMSEC_ERR_CRYPTO;
    return dmsec_hex_encode(md, sizeof md, hex, HEX_LEN + 1);
}

int dmsec_tree_serialize(const dmsec_tree_t *t, uint8_t **out, size_t *out_len)
{
    if (!out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    *out_len = 0;
    if (!t)
        return DMSEC_ERR_INVALID_ARG;
    struct writer w = {NULL, 0};
    write_body(t, &w);
    size_t body = w.at;
    w.buf = malloc(body + TRAILER_LEN);
    if (!w.buf)
        return DMSEC_ERR_NO_MEMORY;
    w.at = 0;
    write_body(t, &w);
    char hex[HEX_LEN + 1];
    int rc = digest_hex(w.buf, body, hex);
    if (rc) {
        dmsec_tree_wipe_free(w.buf, body);
        return rc;
    }
    put(&w, TRAILER_TAG, sizeof TRAILER_TAG - 1);
    put(&w, hex, HEX_LEN);
    put(&w, "\n", 1);
    *out = w.buf;
    *out_len = w.at;
    return DMSEC_OK;
}

/* ---- reading ---- */

struct reader {
    const uint8_t *p;
    const uint8_t *end;
};

static int take(struct reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return 0;
    r->p += n;
    return 1;
}

/* A canonical decimal (no leading zeros) of at most 8 digits. */
static int take_num(struct reader *r, size_t *v)
{
    size_t digits = 0;
    *v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        if (digits == 8 || (digits == 1 && *v == 0))
            return 0;
        *v = *v * 10 + (size_t)(*r->p - '0');
        r->p++;
        digits++;
    }
    return digits > 0;
}

/* " <len>:<bytes>", borrowed from the input. */
static int take_field(struct reader *r, const uint8_t **p, size_t *n)
{
    if (!take(r, " ") || !take_num(r, n) || !take(r, ":") || (size_t)(r->end - r->p) < *n)
        return 0;
    *p = r->p;
    r->p += *n;
    return 1;
}

/* Copies a field into a NUL-terminated string; no NUL inside. */
static int field_str(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n >= cap || memchr(p, 0, n))
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

struct record {
    size_t depth;
    dmsec_tree_format_t format;
    size_t flags;
    const uint8_t *name;
    size_t name_len;
    char type[DMSEC_TREE_MAX_TYPE + 1];
    char acl[DMSEC_TREE_MAX_ACL + 1];
    const uint8_t *value;
    size_t len;
};

static int take_record(struct reader *r, struct record *rec)
{
    char fname[8];
    const uint8_t *tp;
    const uint8_t *ap;
    size_t tn;
    size_t an;
    if (!take_num(r, &rec->depth))
        return 0;
    if (!take(r, " "))
        return 0;
    const uint8_t *f = r->p;
    while (r->p < r->end && ((*r->p >= 'a' && *r->p <= 'z') || (*r->p >= '0' && *r->p <= '9')))
        r->p++; /* format names are lower case letters and digits ("b64") */
    if (!field_str(f, (size_t)(r->p - f), fname, sizeof fname) ||
        dmsec_tree_format_parse(fname, &rec->format) != DMSEC_OK)
        return 0;
    if (!take(r, " ") || !take_num(r, &rec->flags) ||
        rec->flags > (DMSEC_TREE_PERMANENT | DMSEC_TREE_SECRET))
        return 0;
    return take_field(r, &rec->name, &rec->name_len) && take_field(r, &tp, &tn) &&
           field_str(tp, tn, rec->type, sizeof rec->type) && take_field(r, &ap, &an) &&
           field_str(ap, an, rec->acl, sizeof rec->acl) && take_field(r, &rec->value, &rec->len) &&
           take(r, "\n");
}

/* Loads the records after the header into t. The parser's own stack of the
 * current path gives each record's parent. */
static int load(dmsec_tree_t *t, struct reader *r, size_t count)
{
    tnode_t *path[DMSEC_TREE_MAX_DEPTH + 1];
    struct record *rec = malloc(sizeof *rec);
    if (!rec)
        return DMSEC_ERR_NO_MEMORY;
    size_t seen = 0;
    size_t cur = 0;
    int rc = DMSEC_OK;
    while (!rc && r->p < r->end) {
        if (!take_record(r, rec)) {
            rc = DMSEC_ERR_TREE_PARSE;
            break;
        }
        tnode_t *n;
        if (seen == 0) {
            if (rec->depth != 0 || rec->name_len != 0 || rec->format != DMSEC_TREE_NODE ||
                rec->len != 0) {
                rc = DMSEC_ERR_TREE_PARSE;
                break;
            }
            n = t->root;
        } else {
            if (rec->depth == 0 || rec->depth > cur + 1 || rec->depth > DMSEC_TREE_MAX_DEPTH) {
                rc = DMSEC_ERR_TREE_PARSE;
                break;
            }
            tnode_t *parent = path[rec->depth - 1];
            /* Children must come in strictly increasing order: canonical,
             * no duplicates, and each insertion is an append. */
            if (parent->nkids) {
                const tnode_t *last = parent->kids[parent->nkids - 1];
                size_t m = last->name_len < rec->name_len ? last->name_len : rec->name_len;
                int c = memcmp(last->name, rec->name, m);
                if (c > 0 || (c == 0 && last->name_len >= rec->name_len)) {
                    rc = DMSEC_ERR_TREE_PARSE;
                    break;
                }
            }
            rc = tnode_add(t, parent, (const char *)rec->name, rec->name_len, &n);
            if (rc)
                break;
        }
        if (rec->format == DMSEC_TREE_NODE && rec->len != 0) {
            rc = DMSEC_ERR_TREE_PARSE;
            break;
        }
        if (rec->format != DMSEC_TREE_NODE || rec->type[0])
            rc = tnode_set(t, n, rec->format, rec->type, rec->value, rec->len);
        if (!rc)
            rc = tnode_set_acl(n, rec->acl);
        n->flags = (unsigned)rec->flags;
        path[rec->depth] = n;
        cur = rec->depth;
        seen++;
    }
    free(rec);
    if (!rc && seen != count)
        rc = DMSEC_ERR_TREE_PARSE;
    return rc;
}

int dmsec_tree_parse(const uint8_t *buf, size_t len, dmsec_tree_t **out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!buf)
        return DMSEC_ERR_INVALID_ARG;
    if (len < sizeof MAGIC - 1 + TRAILER_LEN)
        return DMSEC_ERR_TREE_PARSE;
    size_t body = len - TRAILER_LEN;
    char hex[HEX_LEN + 1];
    int rc = digest_hex(buf, body, hex);
    if (rc)
        return rc;
    const uint8_t *tr = buf + body;
    if (memcmp(tr, TRAILER_TAG, sizeof TRAILER_TAG - 1) != 0 ||
        !dm_ct_equal(tr + sizeof TRAILER_TAG - 1, hex, HEX_LEN) || buf[len - 1] != '\n')
        return DMSEC_ERR_TREE_PARSE;
    struct reader r = {buf, buf + body};
    size_t count;
    if (!take(&r, MAGIC) || !take_num(&r, &count) || !take(&r, "\n") || count == 0 ||
        count > DMSEC_TREE_MAX_NODES)
        return DMSEC_ERR_TREE_PARSE;
    dmsec_tree_t *t = dmsec_tree_new(NULL);
    if (!t)
        return DMSEC_ERR_NO_MEMORY;
    rc = load(t, &r, count);
    if (rc) {
        dmsec_tree_free(t);
        return rc == DMSEC_ERR_NO_MEMORY ? rc : DMSEC_ERR_TREE_PARSE;
    }
    *out = t;
    return DMSEC_OK;
}

/* ---- comparison ---- */

static int str_eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static int node_eq(const tnode_t *a, const tnode_t *b)
{
    return a->name_len == b->name_len && !memcmp(a->name, b->name, a->name_len) &&
           a->format == b->format && a->flags == b->flags && a->nkids == b->nkids &&
           a->len == b->len && (a->len == 0 || !memcmp(a->value, b->value, a->len)) &&
           str_eq(a->type, b->type) && str_eq(a->acl, b->acl);
}

int dmsec_tree_equal(const dmsec_tree_t *a, const dmsec_tree_t *b)
{
    if (!a || !b)
        return a == b;
    if (a->count != b->count || !node_eq(a->root, b->root))
        return 0;
    /* Walk both in step; equal child counts keep the walks aligned. */
    const tnode_t *sa[DMSEC_TREE_MAX_DEPTH + 1];
    const tnode_t *sb[DMSEC_TREE_MAX_DEPTH + 1];
    size_t next[DMSEC_TREE_MAX_DEPTH + 1];
    size_t sp = 0;
    sa[0] = a->root;
    sb[0] = b->root;
    next[0] = 0;
    for (;;) {
        if (next[sp] < sa[sp]->nkids) {
            const tnode_t *ka = sa[sp]->kids[next[sp]];
            const tnode_t *kb = sb[sp]->kids[next[sp]];
            next[sp]++;
            if (!node_eq(ka, kb))
                return 0;
            if (ka->nkids && sp < DMSEC_TREE_MAX_DEPTH) {
                sp++;
                sa[sp] = ka;
                sb[sp] = kb;
                next[sp] = 0;
            }
        } else if (sp == 0) {
            return 1;
        } else {
            sp--;
        }
    }
}

/* ---- dump ---- */

struct text {
    char *buf;
    size_t len;
    size_t cap;
    int failed;
};

static void text_put(struct text *x, const char *s, size_t n)
{
    if (x->failed)
        return;
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 256;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b) {
            x->failed = 1;
            return;
        }
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, s, n);
    x->len += n;
    x->buf[x->len] = '\0';
}

static void text_str(struct text *x, const char *s)
{
    text_put(x, s, strlen(s));
}

static void text_escaped(struct text *x, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char e[8];
        if (p[i] == '\\' || p[i] == '"') {
            e[0] = '\\';
            e[1] = (char)p[i];
            text_put(x, e, 2);
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            text_put(x, (const char *)p + i, 1);
        } else {
            snprintf(e, sizeof e, "\\x%02x", p[i]);
            text_put(x, e, 4);
        }
    }
}

static void text_hex(struct text *x, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char e[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        text_put(x, e, 2);
    }
}

static int dump_node(void *ctx, const char *uri, const dmsec_tree_info_t *n, int secret)
{
    struct text *x = ctx;
    text_str(x, uri);
    text_str(x, " [");
    text_str(x, dmsec_tree_format_name(n->format));
    if (n->type[0]) {
        text_str(x, " ");
        text_str(x, n->type);
    }
    text_str(x, "]");
    if (n->acl[0]) {
        text_str(x, " acl=\"");
        text_escaped(x, (const uint8_t *)n->acl, strlen(n->acl));
        text_str(x, "\"");
    }
    if (n->format != DMSEC_TREE_NODE) {
        if (secret) {
            text_str(x, " = ***");
        } else if (n->format == DMSEC_TREE_BIN) {
            text_str(x, " = hex:");
            text_hex(x, n->value, n->value_len);
        } else {
            text_str(x, " = \"");
            text_escaped(x, n->value, n->value_len);
            text_str(x, "\"");
        }
    }
    text_str(x, "\n");
    return 0;
}

int dmsec_tree_dump(const dmsec_tree_t *t, char **out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!t)
        return DMSEC_ERR_INVALID_ARG;
    struct text x = {NULL, 0, 0, 0};
    dmsec_tree_walk(t, dump_node, &x);
    if (x.failed || !x.buf) {
        free(x.buf);
        return DMSEC_ERR_NO_MEMORY;
    }
    *out = x.buf;
    return DMSEC_OK;
}

int dmsec_tree_snapshot(const dmsec_tree_t *t, dmsec_tree_t **out)
{
    if (!t || !out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dmsec_tree_serialize(t, &buf, &len);
    if (!rc)
        rc = dmsec_tree_parse(buf, len, out);
    dmsec_tree_wipe_free(buf, len);
    return rc;
}

void dmsec_tree_restore(dmsec_tree_t *t, dmsec_tree_t *snap)
{
    if (!t || !snap)
        return;
    tnode_t *root = t->root;
    size_t count = t->count, bytes = t->value_bytes;
    t->root = snap->root;
    t->count = snap->count;
    t->value_bytes = snap->value_bytes;
    snap->root = root;
    snap->count = count;
    snap->value_bytes = bytes;
    dmsec_tree_free(snap);
}
