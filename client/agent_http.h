/*
 * agent_http.h - the device agent's HTTP(S) transport over libcurl: one
 * SyncML message POSTed, its answer and the two headers that matter
 * (Content-Type, x-syncml-hmac) read back. Used by dmsec-client and by the
 * scripted test device, so that both speak to the server the same way.
 *
 * Ownership: the caller owns out and frees out->p (NULL accepted); the
 * strings of h are read during the call.
 */
#ifndef DMSEC_AGENT_HTTP_H
#define DMSEC_AGENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* TLS settings; NULL members take libcurl's defaults. */
typedef struct cli_http {
    const char *ca;   /* CA file the server's certificate must chain to */
    const char *cert; /* client certificate (PEM) */
    const char *key;  /* its private key */
} cli_http_t;

/* Answers larger than this are refused (a device's answers are small). */
#define CLI_HTTP_MAX_BODY ((size_t)1 << 20)

typedef struct cli_http_resp {
    uint8_t *p; /* the body, NUL-terminated past n; malloc'd */
    size_t n;
    int too_big;    /* the body passed CLI_HTTP_MAX_BODY */
    char hmac[512]; /* x-syncml-hmac, "" when absent */
    char ct[128];   /* Content-Type, "" when absent */
} cli_http_resp_t;

/* POSTs body (content type ct, x-syncml-hmac hmac when non-empty) to url
 * and reads the answer into *out (zeroed first). Returns the HTTP status,
 * or 0 on a transport error, whose reason goes to err (cap bytes). */
long cli_http_post(const cli_http_t *h, const char *url, const char *ct, const char *hmac,
                   const uint8_t *body, size_t len, cli_http_resp_t *out, char *err, size_t cap);

/* Reads one response header line as libcurl hands it (CR LF included, n
 * bytes, not NUL-terminated) into out's hmac and ct. A status line
 * ("HTTP/...") starts a new response, as after an interim 100 Continue:
 * the headers read so far are dropped. Lines are read up to 599 bytes and
 * values cut to fit hmac and ct. */
void cli_http_header_line(cli_http_resp_t *out, const char *line, size_t n);

#endif
