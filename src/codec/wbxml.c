/*
 * SyncML WBXML: our own decoder and byte-exact encoder.
 *
 * Accepted on input: WBXML 1.1, 1.2 and 1.3 (libwbxml writes 1.3 by
 * default), public id 0x1201 (SyncML 1.2) or 0x0FD3 (SyncML 1.1), either as
 * the number or as a string-table reference to its formal public id (which
 * may run to the end of the table without its NUL, as the SyncML Reference
 * Toolkit writes it),
 * charset 106 (UTF-8). Code pages 0 (SyncML) and 1 (MetInf). Strings may be
 * inline (STR_I), string-table references (STR_T) or character entities;
 * OPAQUE is kept as opaque bytes (a nested document in it stays opaque).
 * SyncML defines no attributes, so an attribute flag is refused rather than
 * skipped: skipping would mean guessing an attribute code space.
 * LITERAL, EXT and PI tokens are refused as unknown tokens.
 *
 * Written: WBXML 1.2, the public id of VerDTD's version, UTF-8, an empty
 * string table, STR_I for text, OPAQUE for opaque Data, SWITCH_PAGE only
 * before a tag on another page, and the content flag only when the element
 * has content - the layout libwbxml's xml2wbxml -n -v 1.2 produces.
 */
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"
#include "dmsec/errors.h"

enum {
    T_SWITCH_PAGE = 0x00,
    T_END = 0x01,
    T_ENTITY = 0x02,
    T_STR_I = 0x03,
    T_STR_T = 0x83,
    T_OPAQUE = 0xC3,
    TAG_CONTENT = 0x40,
    TAG_ATTRS = 0x80,
};

#define PID_SYNCML12 0x1201u
#define PID_SYNCML11 0x0FD3u
#define FPI_SYNCML12 "-//SYNCML//DTD SyncML 1.2//EN"
#define FPI_SYNCML11 "-//SYNCML//DTD SyncML 1.1//EN"
#define CHARSET_UTF8 106u

struct rd {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static int rd_byte(struct rd *r, uint8_t *c)
{
    if (r->pos >= r->len)
        return DMSEC_ERR_CODEC_TRUNCATED;
    *c = r->p[r->pos++];
    return 0;
}

/* mb_u_int32: big-endian groups of 7 bits, high bit set on all but the last
 * byte; at most 5 bytes and never more than 32 bits of value. */
static int rd_mbu32(struct rd *r, uint32_t *v)
{
    uint32_t acc = 0;
    for (int i = 0; i < 5; i++) {
        uint8_t c;
        int rc = rd_byte(r, &c);
        if (rc)
            return rc;
        if (acc > (UINT32_MAX >> 7))
            return DMSEC_ERR_CODEC_MB_UINT;
        acc = (acc << 7) | (c & 0x7Fu);
        if (!(c & 0x80)) {
            *v = acc;
            return 0;
        }
    }
    return DMSEC_ERR_CODEC_MB_UINT;
}

struct wdec {
    struct rd r;
    struct builder *b;
    const uint8_t *strtbl;
    size_t strtbl_len;
    size_t open;
};

/* The NUL-terminated string at offset off of the string table. With
 * to_end, a string without its NUL runs to the end of the table: the SyncML
 * Reference Toolkit writes the public id's FPI so (only that reference is
 * read this way). */
static int strtbl_at(const struct wdec *d, uint32_t off, int to_end, const uint8_t **s, size_t *n)
{
    if (off >= d->strtbl_len)
        return DMSEC_ERR_CODEC_STRTBL;
    const uint8_t *end = memchr(d->strtbl + off, 0, d->strtbl_len - off);
    if (!end && !to_end)
        return DMSEC_ERR_CODEC_STRTBL;
    *s = d->strtbl + off;
    *n = end ? (size_t)(end - *s) : d->strtbl_len - off;
    return 0;
}

static int header(struct wdec *d)
{
    uint8_t version;
    uint32_t pid, pid_ref = 0, charset, tlen;
    int rc = rd_byte(&d->r, &version);
    if (rc)
        return rc;
    if (version < 0x01 || version > 0x03)
        return DMSEC_ERR_CODEC_VERSION;
    if ((rc = rd_mbu32(&d->r, &pid)))
        return rc;
    if (pid == 0 && (rc = rd_mbu32(&d->r, &pid_ref)))
        return rc;
    if ((rc = rd_mbu32(&d->r, &charset)))
        return rc;
    if (charset != CHARSET_UTF8)
        return DMSEC_ERR_CODEC_CHARSET;
    if ((rc = rd_mbu32(&d->r, &tlen)))
        return rc;
    if (tlen > d->r.len - d->r.pos)
        return DMSEC_ERR_CODEC_TRUNCATED;
    d->strtbl = d->r.p + d->r.pos;
    d->strtbl_len = tlen;
    d->r.pos += tlen;
    if (pid != 0)
        return pid == PID_SYNCML12 || pid == PID_SYNCML11 ? 0 : DMSEC_ERR_CODEC_PUBLIC_ID;
    const uint8_t *s;
    size_t n;
    if ((rc = strtbl_at(d, pid_ref, 1, &s, &n)))
        return rc;
    if ((n == strlen(FPI_SYNCML12) && !memcmp(s, FPI_SYNCML12, n)) ||
        (n == strlen(FPI_SYNCML11) && !memcmp(s, FPI_SYNCML11, n)))
        return 0;
    return DMSEC_ERR_CODEC_PUBLIC_ID;
}

static int text(struct wdec *d, const uint8_t *s, size_t n, int opaque)
{
    if (d->open == 0)
        return DMSEC_ERR_CODEC_UNEXPECTED;
    if (!opaque) {
        int rc = utf8_check(s, n, 1);
        if (rc)
            return rc;
    }
    return builder_text(d->b, s, n, opaque);
}

static int entity(struct wdec *d)
{
    uint32_t cp;
    int rc = rd_mbu32(&d->r, &cp);
    if (rc)
        return rc;
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else if (cp <= 0x10FFFF) {
        u[0] = (uint8_t)(0xF0 | (cp >> 18));
        u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    } else {
        return DMSEC_ERR_CODEC_UTF8;
    }
    /* text() refuses NUL, controls and surrogates like any other text */
    if (cp == 0)
        return DMSEC_ERR_CODEC_BAD_CHAR;
    return text(d, u, n, 0);
}

static int body(struct wdec *d)
{
    int page = 0;
    int rc = 0;
    int started = 0;
    while (!rc && d->r.pos < d->r.len) {
        if (started && d->open == 0)
            return DMSEC_ERR_CODEC_TRAILING;
        uint8_t c = d->r.p[d->r.pos++];
        uint32_t v;
        switch (c) {
        case T_SWITCH_PAGE: {
            uint8_t pg;
            if ((rc = rd_byte(&d->r, &pg)))
                break;
            if (pg > 1)
                rc = DMSEC_ERR_CODEC_CODE_PAGE;
            page = pg;
            break;
        }
        case T_END:
            if (d->open == 0) {
                rc = DMSEC_ERR_CODEC_UNEXPECTED;
                break;
            }
            rc = builder_end(d->b);
            d->open--;
            break;
        case T_ENTITY:
            rc = entity(d);
            break;
        case T_STR_I: {
            const uint8_t *s = d->r.p + d->r.pos;
            const uint8_t *nul = memchr(s, 0, d->r.len - d->r.pos);
            if (!nul) {
                rc = DMSEC_ERR_CODEC_TRUNCATED;
                break;
            }
            d->r.pos += (size_t)(nul - s) + 1;
            rc = text(d, s, (size_t)(nul - s), 0);
            break;
        }
        case T_STR_T: {
            const uint8_t *s;
            size_t n;
            if (!(rc = rd_mbu32(&d->r, &v)) && !(rc = strtbl_at(d, v, 0, &s, &n)))
                rc = text(d, s, n, 0);
            break;
        }
        case T_OPAQUE:
            if ((rc = rd_mbu32(&d->r, &v)))
                break;
            if (v > d->r.len - d->r.pos) {
                rc = DMSEC_ERR_CODEC_TRUNCATED;
                break;
            }
            rc = text(d, d->r.p + d->r.pos, v, 1);
            d->r.pos += v;
            break;
        default: {
            int el = (page << 8) | (c & 0x3F);
            if ((c & 0x3F) < 0x05 || !el_known(el)) {
                /* LITERAL*, EXT*, PI, or a tag the code page lacks */
                rc = DMSEC_ERR_CODEC_UNKNOWN_TOKEN;
                break;
            }
            if (c & TAG_ATTRS) {
                rc = DMSEC_ERR_CODEC_ATTRIBUTE;
                break;
            }
            started = 1;
            if ((rc = builder_start(d->b, el)))
                break;
            if (c & TAG_CONTENT)
                d->open++;
            else
                rc = builder_end(d->b);
            break;
        }
        }
    }
    return rc;
}

int dmsec_wbxml_decode(const uint8_t *buf, size_t len, const dmsec_codec_limits_t *limits,
                       dmsec_msg_t **out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!buf && len)
        return DMSEC_ERR_INVALID_ARG;
    struct wdec d = {{buf, len, 0}, NULL, NULL, 0, 0};
    d.b = builder_new(limits);
    if (!d.b)
        return DMSEC_ERR_NO_MEMORY;
    int rc = len > builder_limits(d.b)->max_size ? DMSEC_ERR_CODEC_OVERSIZE : 0;
    if (!rc)
        rc = header(&d);
    if (!rc)
        rc = body(&d);
    if (!rc)
        rc = builder_finish(d.b, out);
    builder_free(d.b);
    return rc;
}

/* ---- encoder ---- */

struct wenc {
    struct obuf o;
    int page;
    size_t *tags; /* offset of each open element's tag byte */
    size_t depth;
    size_t cap;
};

static void wr_mbu32(struct obuf *o, uint32_t v)
{
    uint8_t b[5];
    int n = 0;
    do {
        b[4 - n] = (uint8_t)((v & 0x7F) | (n ? 0x80 : 0));
        v >>= 7;
        n++;
    } while (v);
    ob_put(o, b + 5 - n, (size_t)n);
}

static int w_start(void *ctx, int el)
{
    struct wenc *w = ctx;
    if (!el_known(el))
        return DMSEC_ERR_INVALID_ARG;
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        size_t *t = realloc(w->tags, cap * sizeof *t);
        if (!t)
            return DMSEC_ERR_NO_MEMORY;
        w->tags = t;
        w->cap = cap;
    }
    if (EL_PAGE(el) != w->page) {
        ob_byte(&w->o, T_SWITCH_PAGE);
        ob_byte(&w->o, (uint8_t)EL_PAGE(el));
        w->page = EL_PAGE(el);
    }
    w->tags[w->depth++] = w->o.len;
    ob_byte(&w->o, (uint8_t)(EL_TOKEN(el) | TAG_CONTENT));
    return w->o.err;
}

static int w_text(void *ctx, const char *bytes, size_t len, int opaque)
{
    struct wenc *w = ctx;
    if (opaque) {
        if (len > UINT32_MAX)
            return DMSEC_ERR_CODEC_BINARY;
        ob_byte(&w->o, T_OPAQUE);
        wr_mbu32(&w->o, (uint32_t)len);
        ob_put(&w->o, bytes, len);
        return w->o.err;
    }
    /* what the decoder would refuse must not be written */
    if (memchr(bytes, 0, len) || utf8_check((const uint8_t *)bytes, len, 1))
        return DMSEC_ERR_CODEC_BINARY;
    ob_byte(&w->o, T_STR_I);
    ob_put(&w->o, bytes, len);
    ob_byte(&w->o, 0);
    return w->o.err;
}

static int w_end(void *ctx, int el)
{
    struct wenc *w = ctx;
    (void)el;
    if (w->depth == 0)
        return DMSEC_ERR_INVALID_ARG;
    size_t at = w->tags[--w->depth];
    if (w->o.err)
        return w->o.err;
    if (w->o.len == at + 1)
        w->o.p[at] &= (uint8_t)~TAG_CONTENT; /* nothing inside: no content, no END */
    else
        ob_byte(&w->o, T_END);
    return w->o.err;
}

int dmsec_wbxml_encode(const dmsec_msg_t *msg, uint8_t **out, size_t *out_len)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!msg)
        return DMSEC_ERR_INVALID_ARG;
    struct wenc w = {0};
    int v11 = msg->hdr.ver_dtd && !strcmp(msg->hdr.ver_dtd, "1.1");
    ob_byte(&w.o, 0x02);
    wr_mbu32(&w.o, v11 ? PID_SYNCML11 : PID_SYNCML12);
    wr_mbu32(&w.o, CHARSET_UTF8);
    wr_mbu32(&w.o, 0);
    struct emitter em = {&w, w_start, w_text, w_end};
    int rc = walk_msg(msg, &em);
    if (rc && !w.o.err)
        w.o.err = rc;
    free(w.tags);
    return ob_finish(&w.o, out, out_len);
}
