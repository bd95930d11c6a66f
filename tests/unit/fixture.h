/*
 * fixture.h - reading the captured messages the codec tests share: a file
 * named relative to the directory an environment variable gives (set by
 * ctest), and the body of an HTTP capture. Header-only: each test is a
 * program of its own.
 */
#ifndef DMSEC_TEST_FIXTURE_H
#define DMSEC_TEST_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The file rel under $env, up to 1 MiB, in a malloc'd buffer (NULL, with a
 * line on stderr, when it cannot be read). */
static inline uint8_t *load(const char *env, const char *rel, size_t *len)
{
    const char *dir = getenv(env);
    char path[1024];
    if (!dir) {
        fprintf(stderr, "%s not set\n", env);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    uint8_t *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

/* The body of an HTTP capture: after the first empty line ("\n\n" or
 * "\r\n\r\n"; the WBXML capture uses bare LF in its head). */
static inline const uint8_t *http_body(const uint8_t *buf, size_t len, size_t *blen)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n') {
            *blen = len - i - 2;
            return buf + i + 2;
        }
        if (i + 3 < len && !memcmp(buf + i, "\r\n\r\n", 4)) {
            *blen = len - i - 4;
            return buf + i + 4;
        }
    }
    return NULL;
}

#endif
