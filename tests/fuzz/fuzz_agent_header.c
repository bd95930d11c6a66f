/* The agent's reading of HTTP response headers (cli_http_header_line, as
 * libcurl's header callback runs it): the input is a header block, handed
 * over line by line. hmac and ct stay terminated, hold no CR or LF, and,
 * for lines short enough not to be cut, equal the value of the last
 * x-syncml-hmac or Content-Type line since the last status line, found
 * here independently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the last header named `name` said, or "" (a status line resets). */
struct model {
    char value[600];
    int exact; /* the line was short and plain: value is what must be read */
};

static int has_name(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n >= k && strncasecmp(line, name, k) == 0;
}

static void model_line(struct model *m, const char *name, const char *line, size_t n)
{
    if (n >= 5 && !memcmp(line, "HTTP/", 5)) {
        m->value[0] = '\0';
        m->exact = 1;
        return;
    }
    if (!has_name(line, n, name))
        return;
    size_t k = strlen(name);
    /* Short lines with no NUL are read whole. */
    m->exact = n < 500 && !memchr(line, '\0', n);
    if (!m->exact)
        return;
    size_t i = k;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = i;
    while (j < n && line[j] != '\r' && line[j] != '\n')
        j++;
    memcpy(m->value, line + i, j - i);
    m->value[j - i] = '\0';
}

static void check(const char *got, size_t cap, const struct model *m)
{
    size_t n = strnlen(got, cap);
    if (n == cap || strpbrk(got, "\r\n"))
        abort();
    if (m->exact && strncmp(got, m->value, cap - 1) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_http_resp_t r;
    memset(&r, 0, sizeof r);
    struct model mh = {"", 1};
    struct model mc = {"", 1};
    const char *p = (const char *)data;
    size_t left = size;
    while (left) {
        const char *nl = memchr(p, '\n', left);
        size_t n = nl ? (size_t)(nl - p) + 1 : left;
        /* An exact-size copy, as libcurl's buffer would end there. */
        char *line = malloc(n);
        if (!line)
            return 0;
        memcpy(line, p, n);
        cli_http_header_line(&r, line, n);
        model_line(&mh, "x-syncml-hmac:", line, n);
        model_line(&mc, "content-type:", line, n);
        free(line);
        check(r.hmac, sizeof r.hmac, &mh);
        check(r.ct, sizeof r.ct, &mc);
        p += n;
        left -= n;
    }
    return 0;
}
