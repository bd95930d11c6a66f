/* The server's request path (request.h), as libmicrohttpd hands it over:
 * the input is a request head (request line, header lines), split here
 * into the URL and the header values the server reads.
 *   Content-Length: a number is digits only, and reads back as written;
 *   Host: a RespURI holds only host characters, '/' and the token, and is
 *     exactly scheme://HOST/dm/s/TOKEN with the Host header when that is
 *     accepted, the listening address otherwise; its path routes back to
 *     the same token;
 *   URL: a routed token is exactly 32 lowercase hex digits after /dm/s/;
 *   Content-Type: a codec found is found again from its canonical type,
 *     in upper case and with a parameter added. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmsec/codec.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELD_MAX 1024
#define URI_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]/"
#define TOKEN "0123456789abcdef0123456789abcdef"

struct head {
    char url[FIELD_MAX];
    char content_length[FIELD_MAX];
    char host[FIELD_MAX];
    char content_type[FIELD_MAX];
    int has_cl, has_host, has_ct;
};

static void copy_field(char *dst, const char *src, size_t n)
{
    if (n >= FIELD_MAX)
        n = FIELD_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* One header line: the first of each name counts, its value trimmed of
 * spaces and tabs (as libmicrohttpd does). */
static void header(struct head *h, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return;
    size_t name = (size_t)(colon - line);
    size_t i = name + 1;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = n;
    while (j > i && (line[j - 1] == ' ' || line[j - 1] == '\t'))
        j--;
    struct {
        const char *name;
        char *dst;
        int *seen;
    } known[] = {{"content-length", h->content_length, &h->has_cl},
                 {"host", h->host, &h->has_host},
                 {"content-type", h->content_type, &h->has_ct}};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        if (name == strlen(known[k].name) && !strncasecmp(line, known[k].name, name) &&
            !*known[k].seen) {
            copy_field(known[k].dst, line + i, j - i);
            *known[k].seen = 1;
        }
    }
}

static void split(struct head *h, const char *p, size_t size)
{
    int first = 1;
    while (size) {
        const char *nl = memchr(p, '\n', size);
        size_t n = nl ? (size_t)(nl - p) : size;
        size_t len = n && p[n - 1] == '\r' ? n - 1 : n;
        if (first) {
            /* METHOD SP URL SP VERSION; the query is not part of the URL. */
            const char *sp = memchr(p, ' ', len);
            if (sp) {
                const char *u = sp + 1;
                size_t rest = len - (size_t)(u - p);
                const char *end = memchr(u, ' ', rest);
                size_t ulen = end ? (size_t)(end - u) : rest;
                const char *q = memchr(u, '?', ulen);
                copy_field(h->url, u, q ? (size_t)(q - u) : ulen);
            }
            first = 0;
        } else {
            header(h, p, len);
        }
        p += n + (nl != NULL);
        size -= n + (nl != NULL);
    }
}

static void check_content_length(const char *v)
{
    unsigned long long n = 0;
    int rc = req_content_length(v, &n);
    size_t len = strlen(v);
    int digits = len > 0 && strspn(v, "0123456789") == len;
    if ((rc == 0) != digits)
        abort();
    if (rc)
        return;
    /* Read back: the number without its leading zeros, unless saturated. */
    const char *sig = v + strspn(v, "0");
    char back[32];
    snprintf(back, sizeof back, "%llu", n);
    if (n == ~0ULL) {
        if (strlen(sig) < 20 || (strlen(sig) == 20 && strcmp(sig, back) < 0))
            abort();
    } else if (strcmp(sig[0] ? sig : "0", back) != 0) {
        abort();
    }
}

static void check_route(const char *url, const char *want)
{
    char token[REQ_TOKEN_LEN + 1];
    int r = req_session_token(url, token);
    int prefixed = !strncmp(url, REQ_SESSION_PREFIX, strlen(REQ_SESSION_PREFIX));
    if (r != 0 && r != 1 && r != -1)
        abort();
    if ((r != 0) != prefixed)
        abort();
    if (r == 1) {
        if (strlen(token) != REQ_TOKEN_LEN || strspn(token, "0123456789abcdef") != REQ_TOKEN_LEN ||
            strcmp(url + strlen(REQ_SESSION_PREFIX), token) != 0)
            abort();
    }
    if (want && (r != 1 || strcmp(token, want) != 0))
        abort();
}

static void check_resp_uri(const char *host, int tls)
{
    char out[512];
    if (req_resp_uri(out, sizeof out, "", tls, host, "127.0.0.1", 8080, TOKEN) != 0)
        abort();
    if (strspn(out, URI_CHARS) != strlen(out))
        abort();
    char want[512];
    const char *scheme = tls ? "https" : "http";
    if (req_host_ok(host))
        snprintf(want, sizeof want, "%s://%s/dm/s/" TOKEN, scheme, host);
    else
        snprintf(want, sizeof want, "%s://127.0.0.1:8080/dm/s/" TOKEN, scheme);
    if (strcmp(out, want) != 0)
        abort();
    /* The authority is acceptable again; the path routes to the token. */
    const char *auth = out + strlen(scheme) + 3;
    const char *path = strchr(auth, '/');
    char a[256];
    copy_field(a, auth, (size_t)(path - auth));
    if (!req_host_ok(a))
        abort();
    check_route(path, TOKEN);
    /* With a public URL the Host header plays no part. */
    if (req_resp_uri(out, sizeof out, "https://dm.example.com//", tls, host, "x", 1, TOKEN) ||
        strcmp(out, "https://dm.example.com/dm/s/" TOKEN) != 0)
        abort();
    /* Too small a buffer: refused, empty. */
    if (req_resp_uri(out, 8, "", tls, host, "127.0.0.1", 8080, TOKEN) != -1 || out[0])
        abort();
}

static void check_content_type(const char *ct)
{
    dmsec_codec_t codec;
    if (dmsec_codec_from_content_type(ct, &codec) != 0)
        return;
    if (codec != DMSEC_CODEC_XML && codec != DMSEC_CODEC_WBXML)
        abort();
    dmsec_codec_t again;
    if (dmsec_codec_from_content_type(dmsec_codec_content_type(codec), &again) || again != codec)
        abort();
    char v[FIELD_MAX + 32];
    size_t n = strlen(ct);
    for (size_t i = 0; i <= n; i++)
        v[i] = (char)toupper((unsigned char)ct[i]);
    if (dmsec_codec_from_content_type(v, &again) || again != codec)
        abort();
    snprintf(v, sizeof v, "%s; charset=utf-8", ct);
    if (dmsec_codec_from_content_type(v, &again) || again != codec)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    struct head *h = calloc(1, sizeof *h);
    if (!h)
        return 0;
    split(h, (const char *)data, size);
    if (h->has_cl)
        check_content_length(h->content_length);
    check_resp_uri(h->has_host ? h->host : NULL, 0);
    if (h->has_host)
        check_resp_uri(h->host, 1);
    check_route(h->url, NULL);
    if (h->has_ct)
        check_content_type(h->content_type);
    free(h);
    return 0;
}
