/* The notify address parser (udp://HOST:PORT) and the stored-address rule
 * built on it. Whatever parses has a host of the allowed characters and a
 * port in 1..65535, is written back as udp://HOST:PORT (brackets around an
 * IPv6 host) and parses again to the same host and port; a smaller host
 * buffer is refused exactly when the host does not fit it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/dispatch.h"
#include "dmsec/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

static void check_host(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n >= DMSEC_NOTIFY_HOST_MAX)
        abort();
    if (!strchr(host, ':')) {
        if (strspn(host, NAME_CHARS) != n)
            abort();
        return;
    }
    /* IPv6: hex digits, ':' and '.', then maybe "%zone". */
    size_t a = strspn(host, "0123456789abcdefABCDEF:.");
    if (a < n && (host[a] != '%' || a + 1 == n || strspn(host + a + 1, NAME_CHARS) != n - a - 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* An exact-size NUL-terminated copy: the parser reads C strings. */
    char *addr = malloc(size + 1);
    if (!addr)
        return 0;
    memcpy(addr, data, size);
    addr[size] = '\0';

    char host[DMSEC_NOTIFY_HOST_MAX];
    uint16_t port = 0;
    int rc = dmsec_dispatch_parse_addr(addr, host, sizeof host, &port);
    if (rc != DMSEC_OK && rc != DMSEC_ERR_DISPATCH_ADDR)
        abort();
    /* The stored-address rule: parses and fits a device record. */
    int ok_stored = rc == DMSEC_OK && strlen(addr) < DMSEC_STORE_ADDR_MAX;
    if ((dmsec_dispatch_check_addr(addr) == DMSEC_OK) != ok_stored)
        abort();
    if (rc == DMSEC_OK) {
        check_host(host);
        if (port == 0 || !strstr(addr, host))
            abort();
        /* Written back and parsed again. */
        char again[DMSEC_NOTIFY_HOST_MAX + 16];
        int bracket = strchr(host, ':') != NULL;
        snprintf(again, sizeof again, "udp://%s%s%s:%u", bracket ? "[" : "", host,
                 bracket ? "]" : "", (unsigned)port);
        char host2[DMSEC_NOTIFY_HOST_MAX];
        uint16_t port2 = 0;
        if (dmsec_dispatch_parse_addr(again, host2, sizeof host2, &port2) != DMSEC_OK ||
            strcmp(host, host2) != 0 || port != port2)
            abort();
        /* A small host buffer: refused exactly when the host does not fit. */
        size_t small = 1 + (size % 16);
        char tiny[16];
        uint16_t port3 = 0;
        int rc3 = dmsec_dispatch_parse_addr(addr, tiny, small, &port3);
        if ((rc3 == DMSEC_OK) != (strlen(host) < small))
            abort();
        if (rc3 == DMSEC_OK && (strcmp(tiny, host) != 0 || port3 != port))
            abort();
    }
    free(addr);
    return 0;
}
