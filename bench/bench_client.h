/*
 * bench_client.h - what the benchmarks' simulated devices share: an HTTP
 * POST over a libcurl easy handle (keep-alive), and one whole client
 * session on the engine, keeping the device's nonces between sessions as
 * a real device would; a device and its account made alike for the store
 * and the simulated device; the clock and a process's CPU time. Header-only
 * (static functions): each benchmark is a program of its own.
 */
#ifndef DMSEC_BENCH_CLIENT_H
#define DMSEC_BENCH_CLIENT_H

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"

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

/* Runs the started client session s (first message in out) at url to its
 * end: each message POSTed, each answer fed. The nonces the session issues
 * and accepts are written back to acc before anything more is sent, as a
 * real device keeps them in its tree. *messages (when not NULL) counts the
 * messages of both directions. 0, or the engine's error
 * (DMSEC_ERR_SESSION_PROTOCOL for an HTTP status other than 200). */
static int bench_session_run(CURL *c, const char *url, dmsec_session_t *s, dmsec_codec_t codec,
                             dmsec_account_t *acc, dmsec_session_out_t *out, int *messages)
{
    const char *type = dmsec_codec_content_type(codec);
    int rc = DMSEC_OK;
    while (!rc && out->has_message) {
        struct bench_buf b = {0};
        const char *to = dmsec_session_resp_uri(s) ? dmsec_session_resp_uri(s) : url;
        long st = bench_post(c, to, type, out->body, out->len, &b);
        if (messages)
            *messages += st == 200 && b.n ? 2 : 1;
        rc = st == 200 ? dmsec_session_feed(s, b.p, b.n, type, NULL, time(NULL), out)
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
    return rc;
}

/* One client-initiated session of device_id with server_id at url, in
 * codec, with the callbacks cb on cb_ctx (cb NULL: none but get_account,
 * answering acc). acc holds the device's account; the nonces the session
 * issues and accepts are written back to it. *messages as
 * bench_session_run. 0 when it ended well with both sides authenticated. */
static int bench_session_cb(CURL *c, const char *url, const char *server_id, const char *device_id,
                            dmsec_codec_t codec, dmsec_account_t *acc, const dmsec_session_cb_t *cb,
                            void *cb_ctx, int *messages)
{
    dmsec_session_config_t cfg = {.role = DMSEC_ROLE_CLIENT,
                                  .server_id = server_id,
                                  .server_uri = url,
                                  .device_id = device_id,
                                  .codec = codec,
                                  .cb = {.get_account = bench_get_account},
                                  .cb_ctx = acc};
    if (cb) {
        cfg.cb = *cb;
        cfg.cb_ctx = cb_ctx;
    }
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s)
        return -1;
    dmsec_session_out_t out;
    int rc = dmsec_session_start(s, time(NULL), &out);
    if (!rc)
        rc = bench_session_run(c, url, s, codec, acc, &out, messages);
    int ok = !rc && dmsec_session_done(s) && dmsec_session_result(s) == 0 &&
             dmsec_session_peer_authenticated(s) && dmsec_session_self_authenticated(s);
    dmsec_session_free(s);
    return ok ? 0 : -1;
}

/* bench_session_cb with acc the only callback. */
static int bench_session(CURL *c, const char *url, const char *server_id, const char *device_id,
                         dmsec_codec_t codec, dmsec_account_t *acc)
{
    return bench_session_cb(c, url, server_id, device_id, codec, acc, NULL, NULL, NULL);
}

/* A benchmark device as the store holds it (d) and as the simulated device
 * knows its account (a): MD5 both ways, passwords "client-pw" and
 * "server-pw", both nonces set. */
static inline void bench_device_make(dmsec_device_t *d, dmsec_account_t *a, const char *device_id,
                                     const char *server_id)
{
    memset(d, 0, sizeof *d);
    snprintf(d->device_id, sizeof d->device_id, "%s", device_id);
    snprintf(d->client_name, sizeof d->client_name, "%s", d->device_id);
    d->client_scheme = d->server_scheme = DMSEC_AUTH_MD5;
    dmsec_prehash_compute(d->device_id, (const uint8_t *)"client-pw", 9, &d->client_prehash);
    dmsec_prehash_compute(server_id, (const uint8_t *)"server-pw", 9, &d->server_prehash);
    memset(d->client_nonce, 1, 16);
    memset(d->server_nonce, 2, 16);
    d->client_nonce_len = d->server_nonce_len = 16;
    memset(a, 0, sizeof *a);
    a->out_scheme = a->in_scheme = DMSEC_AUTH_MD5;
    snprintf(a->out_name, sizeof a->out_name, "%s", d->device_id);
    snprintf(a->in_name, sizeof a->in_name, "%s", server_id);
    a->out_prehash = d->client_prehash;
    a->in_prehash = d->server_prehash;
    memcpy(a->out_nonce, d->client_nonce, 16);
    memcpy(a->in_nonce, d->server_nonce, 16);
    a->out_nonce_len = a->in_nonce_len = 16;
}

/* Monotonic seconds. */
static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds of a process so far (Linux /proc). */
static inline double bench_cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#endif
