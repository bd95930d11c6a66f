/* The pure string steps of the request path (request.h). */
#include "request.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
#define IPV6_CHARS "0123456789abcdefABCDEF:."
#define HOST_MAX 200

int req_content_length(const char *value, unsigned long long *out)
{
    if (!value || !value[0] || strspn(value, "0123456789") != strlen(value))
        return -1;
    unsigned long long v = 0;
    for (const char *p = value; *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (ULLONG_MAX - d) / 10) {
            v = ULLONG_MAX; /* beyond any limit */
            break;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ":PORT" or "": 1 when well-formed. */
static int port_ok(const char *p)
{
    if (!*p)
        return 1;
    if (*p != ':')
        return 0;
    p++;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return 0;
    unsigned long v = 0;
    for (; *p; p++)
        v = v * 10 + (unsigned long)(*p - '0');
    return v >= 1 && v <= 65535;
}

int req_host_ok(const char *host)
{
    if (!host)
        return 0;
    size_t n = strnlen(host, HOST_MAX);
    if (n == 0 || n >= HOST_MAX)
        return 0;
    if (host[0] == '[') {
        size_t a = strspn(host + 1, IPV6_CHARS);
        if (a == 0 || host[1 + a] != ']' || !memchr(host + 1, ':', a))
            return 0;
        return port_ok(host + 2 + a);
    }
    size_t a = strspn(host, NAME_CHARS);
    return a > 0 && port_ok(host + a);
}

int req_resp_uri(char *out, size_t cap, const char *public_url, int tls, const char *host,
                 const char *fallback_host, unsigned port, const char *token)
{
    if (!cap)
        return -1;
    int n;
    if (public_url && public_url[0]) {
        size_t len = strlen(public_url);
        while (len && public_url[len - 1] == '/')
            len--;
        n = snprintf(out, cap, "%.*s" REQ_SESSION_PREFIX "%s", (int)len, public_url, token);
    } else if (req_host_ok(host)) {
        n = snprintf(out, cap, "%s://%s" REQ_SESSION_PREFIX "%s", tls ? "https" : "http", host,
                     token);
    } else {
        n = snprintf(out, cap, "%s://%s:%u" REQ_SESSION_PREFIX "%s", tls ? "https" : "http",
                     fallback_host, port, token);
    }
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int req_session_token(const char *url, char *token)
{
    static const char prefix[] = REQ_SESSION_PREFIX;
    if (!url || strncmp(url, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *t = url + sizeof prefix - 1;
    if (strlen(t) != REQ_TOKEN_LEN || strspn(t, "0123456789abcdef") != REQ_TOKEN_LEN)
        return -1;
    memcpy(token, t, REQ_TOKEN_LEN + 1);
    return 1;
}
