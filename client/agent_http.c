/* The device agent's HTTP(S) transport over libcurl (agent_http.h). */
#define _DEFAULT_SOURCE

#include "agent_http.h"

#include <curl/curl.h>
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

long cli_http_post(const cli_http_t *h, const char *url, const char *ct, const char *hmac,
                   const uint8_t *body, size_t len, cli_http_resp_t *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, cap, "cannot start libcurl");
        return 0;
    }
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
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
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
    else
        snprintf(err, cap, "%s", out->too_big ? "response too large" : curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}
