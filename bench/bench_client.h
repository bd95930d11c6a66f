/*
 * bench_client.h - what the benchmarks' simulated devices share: an HTTP
 * POST over a libcurl easy handle (keep-alive), and one whole client
 * session on the engine, keeping the device's nonces between sessions as
 * a real device would. Header-only (static functions): each benchmark is a
 * program of its own.
 */
#ifndef DMSEC_BENCH_CLIENT_H
#define DMSEC_BENCH_CLIENT_H

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmsec/errors.h"
#include "dmsec/session.h"

struct bench_buf {
    uint8_t *p;
    size_t n;
};

static size_t bench_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct bench_buf *b = ud;
    size_t n = size * nmemb;
    uint8_t *q = realloc(b->p, b->n + n);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return n;
}

/* POSTs body as content_type to url; the answer's body is appended to out
 * (caller frees out->p). Returns the HTTP status, 0 when none came. */
static long bench_post(CURL *c, const char *url, const char *content_type, const uint8_t *body,
                       size_t len, struct bench_buf *out)
{
    char ct[96];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
    struct curl_slist *h = curl_slist_append(NULL, ct);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    return status;
}

static int bench_get_account(void *ctx, const char *peer, dmsec_account_t *out)
{
    (void)peer;
    *out = *(const dmsec_account_t *)ctx;
    return 0;
}

/* One client-initiated session of device_id with server_id at url, in
 * codec. acc holds the device's account; the nonces the session issues and
 * accepts are written back to it. 0 when both sides authenticated. */
static int bench_session(CURL *c, const char *url, const char *server_id, const char *device_id,
                         dmsec_codec_t codec, dmsec_account_t *acc)
{
    dmsec_session_config_t cfg = {.role = DMSEC_ROLE_CLIENT,
                                  .server_id = server_id,
                                  .server_uri = url,
                                  .device_id = device_id,
                                  .codec = codec,
                                  .cb = {.get_account = bench_get_account},
                                  .cb_ctx = acc};
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s)
        return -1;
    const char *type = dmsec_codec_content_type(codec);
    dmsec_session_out_t out;
    int rc = dmsec_session_start(s, time(NULL), &out);
    while (!rc && out.has_message) {
        struct bench_buf b = {0};
        const char *to = dmsec_session_resp_uri(s) ? dmsec_session_resp_uri(s) : url;
        long st = bench_post(c, to, type, out.body, out.len, &b);
        rc = st == 200 ? dmsec_session_feed(s, b.p, b.n, type, NULL, time(NULL), &out)
                       : DMSEC_ERR_SESSION_PROTOCOL;
        free(b.p);
        for (size_t i = 0; !rc && i < dmsec_session_events(s); i++) {
            const dmsec_event_t *e = dmsec_session_event(s, i);
            if (e->type == DMSEC_EV_NONCE_ACCEPTED && e->len <= DMSEC_NONCE_MAX) {
                memcpy(acc->out_nonce, e->bytes, e->len);
                acc->out_nonce_len = e->len;
            } else if (e->type == DMSEC_EV_NONCE_ISSUED && e->len <= DMSEC_NONCE_MAX) {
                memcpy(acc->in_nonce, e->bytes, e->len);
                acc->in_nonce_len = e->len;
            }
        }
    }
    int ok = !rc && dmsec_session_result(s) == 0 && dmsec_session_peer_authenticated(s) &&
             dmsec_session_self_authenticated(s);
    dmsec_session_free(s);
    return ok ? 0 : -1;
}

#endif
