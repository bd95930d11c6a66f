/* Small helpers shared by the server's files. */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "server.h"

void srv_wipe(void *p, size_t n)
{
    /* OpenSSL's cleanse: a fast memset the compiler may not drop, though
     * the memory is about to be freed. */
    if (p && n)
        OPENSSL_cleanse(p, n);
}

double srv_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int srv_random_hex(char *out, size_t n)
{
    unsigned char buf[64];
    if (n > sizeof buf)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * n] = '\0';
    srv_wipe(buf, sizeof buf);
    return 0;
}
