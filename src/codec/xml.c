/*
 * SyncML XML: decoding with libexpat (namespace-aware, no DTD loading, no
 * entity declarations) and a compact writer of our own.
 *
 * Namespaces accepted: the root is SYNCML:SYNCML1.2, SYNCML:SYNCML1.1
 * (compared case-insensitively, as clients vary the case) or no namespace
 * at all (old clients that rely on the DOCTYPE). Every other SyncML element
 * is in the root's namespace. MetInf elements inside Meta are in
 * syncml:metinf, or - tolerated, as some clients send them - in the root's
 * namespace or none. Any other namespace is DMSEC_ERR_CODEC_NAMESPACE.
 */
#include <expat.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "codec_int.h"
#include "dmsec/errors.h"

#define NS_SEP '\x01'
#define NS_SYNCML12 "SYNCML:SYNCML1.2"
#define NS_SYNCML11 "SYNCML:SYNCML1.1"
#define NS_METINF "syncml:metinf"

enum root_ns { NS_UNSET, NS_NONE, NS_12, NS_11 };

struct xdec {
    XML_Parser p;
    struct builder *b;
    int err;
    enum root_ns root;
    int in_cdata;
};

static void fail(struct xdec *x, int err)
{
    if (!x->err) {
        x->err = err;
        XML_StopParser(x->p, XML_FALSE);
    }
}

static enum root_ns ns_of(const char *uri, size_t n)
{
    if (!uri)
        return NS_NONE;
    if (n == strlen(NS_SYNCML12) && !strncasecmp(uri, NS_SYNCML12, n))
        return NS_12;
    if (n == strlen(NS_SYNCML11) && !strncasecmp(uri, NS_SYNCML11, n))
        return NS_11;
    return NS_UNSET;
}

static int is_metinf_ns(const char *uri, size_t n)
{
    return uri && n == strlen(NS_METINF) && !strncasecmp(uri, NS_METINF, n);
}

/* The element id for an expat name "uri\1local" or "local". */
static int resolve(struct xdec *x, const char *name)
{
    const char *sep = strchr(name, NS_SEP);
    const char *uri = sep ? name : NULL;
    size_t urilen = sep ? (size_t)(sep - name) : 0;
    const char *local = sep ? sep + 1 : name;
    int parent = builder_parent(x->b);
    int in_meta = parent == EL_META || EL_PAGE(parent) == 1;
    enum root_ns ns = ns_of(uri, urilen);

    if (parent == EL_NONE && !x->root) {
        if (ns == NS_UNSET)
            return DMSEC_ERR_CODEC_NAMESPACE;
        x->root = ns;
    }
    int page;
    if (is_metinf_ns(uri, urilen))
        page = 1; /* outside Meta the builder refuses it */
    else if (ns != x->root && !(in_meta && ns == NS_NONE))
        return DMSEC_ERR_CODEC_NAMESPACE;
    else
        page = in_meta ? 1 : 0;
    int el = el_by_name(page, local);
    return el == EL_NONE ? DMSEC_ERR_CODEC_UNKNOWN_ELEMENT : el;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xdec *x = ud;
    if (x->err)
        return;
    if (atts && atts[0]) {
        fail(x, DMSEC_ERR_CODEC_ATTRIBUTE);
        return;
    }
    int el = resolve(x, name);
    if (el < 0) {
        fail(x, el);
        return;
    }
    int rc = builder_start(x->b, el);
    if (rc)
        fail(x, rc);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xdec *x = ud;
    (void)name;
    if (x->err)
        return;
    int rc = builder_end(x->b);
    if (rc)
        fail(x, rc);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xdec *x = ud;
    if (x->err || len < 0)
        return;
    int rc = builder_text(x->b, s, (size_t)len, x->in_cdata);
    if (rc)
        fail(x, rc);
}

static void XMLCALL on_cdata_start(void *ud)
{
    struct xdec *x = ud;
    if (x->err)
        return;
    x->in_cdata = 1;
    /* marks the Data opaque even when the section is empty */
    int rc = builder_text(x->b, "", 0, 1);
    if (rc)
        fail(x, rc);
}

static void XMLCALL on_cdata_end(void *ud)
{
    ((struct xdec *)ud)->in_cdata = 0;
}

static void XMLCALL on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
                               int standalone)
{
    (void)version;
    (void)standalone;
    if (encoding && strcasecmp(encoding, "UTF-8") != 0)
        fail(ud, DMSEC_ERR_CODEC_CHARSET);
}

/* A DOCTYPE naming SyncML is tolerated; it is never loaded (no external
 * entity handler is set and parameter entity parsing is off), and an
 * internal subset - where entities would be declared - is refused. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)sysid;
    (void)pubid;
    if (has_internal_subset || !name || strcmp(name, "SyncML") != 0)
        fail(ud, DMSEC_ERR_CODEC_DTD);
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                              int value_len, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    fail(ud, DMSEC_ERR_CODEC_DTD);
}

static int map_expat_error(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_NO_MEMORY:
        return DMSEC_ERR_NO_MEMORY;
    case XML_ERROR_NO_ELEMENTS:
    case XML_ERROR_UNCLOSED_TOKEN:
    case XML_ERROR_PARTIAL_CHAR:
    case XML_ERROR_UNCLOSED_CDATA_SECTION:
        return DMSEC_ERR_CODEC_TRUNCATED;
    case XML_ERROR_UNBOUND_PREFIX:
        return DMSEC_ERR_CODEC_NAMESPACE;
    case XML_ERROR_INCORRECT_ENCODING:
    case XML_ERROR_UNKNOWN_ENCODING:
        return DMSEC_ERR_CODEC_CHARSET;
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_PARAM_ENTITY_REF:
        return DMSEC_ERR_CODEC_DTD;
    default:
        return DMSEC_ERR_CODEC_XML_SYNTAX;
    }
}

int dmsec_xml_decode(const uint8_t *buf, size_t len, const dmsec_codec_limits_t *limits,
                     dmsec_msg_t **out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!buf && len)
        return DMSEC_ERR_INVALID_ARG;
    struct xdec x = {0};
    x.b = builder_new(limits);
    if (!x.b)
        return DMSEC_ERR_NO_MEMORY;
    int rc = 0;
    if (len > builder_limits(x.b)->max_size || len > INT_MAX)
        rc = DMSEC_ERR_CODEC_OVERSIZE;
    else if (len == 0)
        rc = DMSEC_ERR_CODEC_TRUNCATED;
    else
        rc = utf8_check(buf, len, 0) ? DMSEC_ERR_CODEC_UTF8 : 0;
    if (!rc) {
        /* The encoding argument makes expat read UTF-8 whatever the
         * declaration says; on_xmldecl refuses any other declaration. */
        x.p = XML_ParserCreateNS("UTF-8", NS_SEP);
        if (!x.p)
            rc = DMSEC_ERR_NO_MEMORY;
    }
    if (!rc) {
        XML_SetUserData(x.p, &x);
        XML_SetElementHandler(x.p, on_start, on_end);
        XML_SetCharacterDataHandler(x.p, on_text);
        XML_SetCdataSectionHandler(x.p, on_cdata_start, on_cdata_end);
        XML_SetXmlDeclHandler(x.p, on_xmldecl);
        XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
        XML_SetEntityDeclHandler(x.p, on_entity);
        XML_SetParamEntityParsing(x.p, XML_PARAM_ENTITY_PARSING_NEVER);
        if (XML_Parse(x.p, (const char *)buf, (int)len, XML_TRUE) != XML_STATUS_OK)
            rc = x.err ? x.err : map_expat_error(XML_GetErrorCode(x.p));
        else if (x.err)
            rc = x.err;
        else
            rc = builder_finish(x.b, out);
    }
    if (x.p)
        XML_ParserFree(x.p);
    builder_free(x.b);
    return rc;
}

/* ---- writer ---- */

struct xenc {
    struct obuf o;
    const char *ns;
    int open;     /* a start tag awaits its '>' */
    int mi_depth; /* MetInf elements open */
};

static void close_tag(struct xenc *x)
{
    if (x->open) {
        ob_byte(&x->o, '>');
        x->open = 0;
    }
}

static int x_start(void *ctx, int el)
{
    struct xenc *x = ctx;
    const char *name = el_name(el);
    if (!name)
        return DMSEC_ERR_INVALID_ARG;
    close_tag(x);
    ob_byte(&x->o, '<');
    ob_str(&x->o, name);
    if (el == EL_SYNCML) {
        ob_str(&x->o, " xmlns=\"");
        ob_str(&x->o, x->ns);
        ob_byte(&x->o, '"');
    }
    if (EL_PAGE(el) == 1 && x->mi_depth++ == 0)
        ob_str(&x->o, " xmlns=\"" NS_METINF "\"");
    x->open = 1;
    return x->o.err;
}

static void escaped(struct obuf *o, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r': /* a raw CR would be read back as LF */
            rep = "&#13;";
            break;
        default:
            continue;
        }
        ob_put(o, s + run, i - run);
        ob_str(o, rep);
        run = i + 1;
    }
    ob_put(o, s + run, n - run);
}

/* Opaque data as CDATA, split around "]]>" and CR (which a CDATA section
 * cannot carry through line-end normalisation). */
static void cdata(struct obuf *o, const char *s, size_t n)
{
    ob_str(o, "<![CDATA[");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            ob_put(o, s + run, i - run);
            ob_str(o, "]]>&#13;<![CDATA[");
            run = i + 1;
        } else if (s[i] == ']' && n - i >= 3 && s[i + 1] == ']' && s[i + 2] == '>') {
            ob_put(o, s + run, i + 2 - run);
            ob_str(o, "]]><![CDATA[");
            run = i + 2;
        }
    }
    ob_put(o, s + run, n - run);
    ob_str(o, "]]>");
}

/* Bytes written as they are in text: tab, LF and printable ASCII but the
 * five that escaped() replaces. A bit per byte below 0x80. */
#define BIT(c) (1ull << (c))
static const uint64_t plain_lo = (BIT(0x09) | BIT(0x0A) | 0xFFFFFFFF00000000ull) &
                                 ~(BIT('"') | BIT('&') | BIT('\'') | BIT('<') | BIT('>'));
static const uint64_t plain_hi = 0x7FFFFFFFFFFFFFFFull; /* 0x40..0x7E */
#undef BIT

static int is_plain(unsigned char c)
{
    return c < 0x80 && (((c < 0x40 ? plain_lo : plain_hi) >> (c & 63)) & 1);
}

static int x_text(void *ctx, const char *bytes, size_t len, int opaque)
{
    struct xenc *x = ctx;
    if (!opaque) {
        /* Most values (ids, URIs, codes, base64) are plain: copied in one
         * go; anything else takes the checks and escaping below. */
        size_t i = 0;
        while (i < len && is_plain((unsigned char)bytes[i]))
            i++;
        if (i == len) {
            close_tag(x);
            ob_put(&x->o, bytes, len);
            return x->o.err;
        }
    }
    /* XML can only carry XML characters, whatever the flag says. */
    if (memchr(bytes, 0, len) || utf8_check((const uint8_t *)bytes, len, 1))
        return DMSEC_ERR_CODEC_BINARY;
    close_tag(x);
    if (opaque)
        cdata(&x->o, bytes, len);
    else
        escaped(&x->o, bytes, len);
    return x->o.err;
}

static int x_end(void *ctx, int el)
{
    struct xenc *x = ctx;
    if (EL_PAGE(el) == 1)
        x->mi_depth--;
    if (x->open) {
        ob_str(&x->o, "/>");
        x->open = 0;
    } else {
        ob_str(&x->o, "</");
        ob_str(&x->o, el_name(el));
        ob_byte(&x->o, '>');
    }
    return x->o.err;
}

int dmsec_xml_encode(const dmsec_msg_t *msg, uint8_t **out, size_t *out_len)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    *out = NULL;
    if (!msg)
        return DMSEC_ERR_INVALID_ARG;
    struct xenc x = {0};
    x.ns = msg->hdr.ver_dtd && !strcmp(msg->hdr.ver_dtd, "1.1") ? NS_SYNCML11 : NS_SYNCML12;
    struct emitter em = {&x, x_start, x_text, x_end};
    ob_str(&x.o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    int rc = walk_msg(msg, &em);
    if (rc && !x.o.err)
        x.o.err = rc;
    return ob_finish(&x.o, out, out_len);
}
