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
    long timeout_s;   /* seconds for one exchange; 0: CLI_HTTP_TIMEOUT */
} cli_http_t;

/* An exchange (connect, send, answer) takes at most this long by default. */
#define CLI_HTTP_TIMEOUT 30L

/* Answers larger than this are refused (a device's answers are small). */
#define CLI_HTTP_MAX_BODY ((size_t)1 << 20)

/* Why an exchange failed. */
typedef enum cli_http_fail {
    CLI_HTTP_FAIL_CONNECT = 1, /* refused, unreachable, no such host, unusable address */
    CLI_HTTP_FAIL_TLS,         /* the handshake, the server's certificate, our certificate */
    CLI_HTTP_FAIL_TIMEOUT,     /* no complete answer in time */
    CLI_HTTP_FAIL_IO,          /* broke off, closed without an answer, answer too large */
} cli_http_fail_t;

typedef struct cli_http_resp {
    uint8_t *p; /* the body, NUL-terminated past n; malloc'd */
    size_t n;
    int too_big;    /* the body passed CLI_HTTP_MAX_BODY */
    int fail;       /* 0, or the cli_http_fail_t of a failed exchange */
    char hmac[512]; /* x-syncml-hmac, "" when absent */
    char ct[128];   /* Content-Type, "" when absent */
} cli_http_resp_t;

/* POSTs body (content type ct, x-syncml-hmac hmac when non-empty) to url
 * and reads the answer into *out (zeroed first). Returns the HTTP status,
 * or 0 on a transport error: then out->fail says which kind and err (cap bytes) says why in words
 * that name the server ("connection refused by http://...", "TLS: the server's certificate did not
 * verify (...)", "timed out after 30 s waiting for
 * ..."); no double quote or control character in them. */
long cli_http_post(const cli_http_t *h, const char *url, const char *ct, const char *hmac,
                   const uint8_t *body, size_t len, cli_http_resp_t *out, char *err, size_t cap);

/* url as messages show it: without a user:password@ part (cap bytes). */
void cli_http_url_shown(const char *url, char *out, size_t cap);

/* Reads one response header line as libcurl hands it (CR LF included, n
 * bytes, not NUL-terminated) into out's hmac and ct. A status line
 * ("HTTP/...") starts a new response, as after an interim 100 Continue:
 * the headers read so far are dropped. Lines are read up to 599 bytes and
 * values cut to fit hmac and ct. */
void cli_http_header_line(cli_http_resp_t *out, const char *line, size_t n);

#endif
