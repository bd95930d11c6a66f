/* The device agent's HTTP(S) transport over libcurl (agent_http.h). */
#define _DEFAULT_SOURCE

#include "agent_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    cli_http_resp_t *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > CLI_HTTP_MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    uint8_t *q = realloc(b->p, b->n + n + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static void header_value(const char *line, size_t skip, char *out, size_t cap)
{
    line += skip;
    line += strspn(line, " \t");
    snprintf(out, cap, "%s", line);
}

void cli_http_header_line(cli_http_resp_t *b, const char *p, size_t n)
{
    char line[600];
    size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, p, k);
    line[k] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (!strncmp(line, "HTTP/", 5)) {
        /* A new response (after an interim 1xx): only its headers count. */
        b->hmac[0] = '\0';
        b->ct[0] = '\0';
    } else if (!strncasecmp(line, "x-syncml-hmac:", 14))
        header_value(line, 14, b->hmac, sizeof b->hmac);
    else if (!strncasecmp(line, "content-type:", 13))
        header_value(line, 13, b->ct, sizeof b->ct);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    cli_http_header_line(ud, p, n);
    return n;
}

void cli_http_url_shown(const char *url, char *out, size_t cap)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        snprintf(out, cap, "%.*s%s", (int)(host - url), url, at + 1);
    else
        snprintf(out, cap, "%s", url);
}

/* Words for a failed exchange: err gets the reason (cap bytes), the
 * CLI_HTTP_FAIL_* is returned. detail is libcurl's own message. */
static int failure_words(CURLcode rc, long os_errno, int too_big, long timeout, const char *url,
                         const char *detail, char *err, size_t cap)
{
    char u[512];
    cli_http_url_shown(url, u, sizeof u);
    int kind = CLI_HTTP_FAIL_IO;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        kind = CLI_HTTP_FAIL_CONNECT;
        if (os_errno == ECONNREFUSED)
            snprintf(err, cap, "connection refused by %s", u);
        else
            snprintf(err, cap, "cannot connect to %s (%s)", u,
                     os_errno ? strerror((int)os_errno) : detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        kind = CLI_HTTP_FAIL_CONNECT;
        snprintf(err, cap, "cannot resolve the host of %s", u);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        kind = CLI_HTTP_FAIL_CONNECT;
        snprintf(err, cap, "cannot use the address %s (%s)", u, detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        kind = CLI_HTTP_FAIL_TIMEOUT;
        snprintf(err, cap, "timed out after %ld s waiting for %s", timeout, u);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        kind = CLI_HTTP_FAIL_TLS;
        snprintf(err, cap, "TLS: the server's certificate did not verify (%s)", detail);
        break;
    case CURLE_SSL_CONNECT_ERROR:
        kind = CLI_HTTP_FAIL_TLS;
        snprintf(err, cap, "TLS: the handshake with %s failed (%s)", u, detail);
        break;
    case CURLE_SSL_CACERT_BADFILE:
        kind = CLI_HTTP_FAIL_TLS;
        snprintf(err, cap, "TLS: cannot use the CA file (%s)", detail);
        break;
    case CURLE_SSL_CERTPROBLEM:
        kind = CLI_HTTP_FAIL_TLS;
        snprintf(err, cap, "TLS: cannot use the client certificate or key (%s)", detail);
        break;
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        kind = CLI_HTTP_FAIL_TLS;
        snprintf(err, cap, "TLS: %s", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(err, cap, "%s closed the connection without an answer", u);
        break;
    default:
        if (too_big)
            snprintf(err, cap, "the answer from %s is larger than %zu bytes", u, CLI_HTTP_MAX_BODY);
        else
            snprintf(err, cap, "the exchange with %s broke off (%s)", u, detail);
        break;
    }
    /* The words go inside a quoted field of the summary line. */
    for (char *p = err; *p; p++) {
        if (*p == '"' || *p == '\\')
            *p = '\'';
        else if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    }
    return kind;
}

long cli_http_post(const cli_http_t *h, const char *url, const char *ct, const char *hmac,
                   const uint8_t *body, size_t len, cli_http_resp_t *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, cap, "cannot start libcurl");
        out->fail = CLI_HTTP_FAIL_IO;
        return 0;
    }
    long timeout = h && h->timeout_s > 0 ? h->timeout_s : CLI_HTTP_TIMEOUT;
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char line[700];
    snprintf(line, sizeof line, "Content-Type: %s", ct);
    hdrs = curl_slist_append(hdrs, line);
    if (hmac && hmac[0]) {
        snprintf(line, sizeof line, "x-syncml-hmac: %s", hmac);
        struct curl_slist *h2 = curl_slist_append(hdrs, line);
        if (h2)
            hdrs = h2;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 10 ? timeout : 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h && h->ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
    if (h && h->cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert);
    if (h && h->key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->key);
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else {
        long os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        out->fail = failure_words(rc, os_errno, out->too_big, timeout, url,
                                  detail[0] ? detail : curl_easy_strerror(rc), err, cap);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}
