/* The client nonces that authenticated a session lately, in this process:
 * the engine's nonce_used callback, so that two sessions racing on one
 * nonce (a package #1 replayed before the first session's new nonce is
 * stored) cannot both authenticate. The race lasts one request at most
 * (verification, then the group commit of the new nonce, both before the
 * answer), so a nonce is remembered for one to two windows of
 * NONCE_WINDOW seconds: two generations of a hash set, the older dropped
 * whole when the newer is a window old. Keys are 64-bit SipHash values of
 * (device id, nonce); a collision makes a device answer one more
 * challenge, nothing worse. One mutex; memory grows with the sessions of
 * two windows (8 bytes each at most twice over). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server.h"

#define NONCE_WINDOW 60

struct gen {
    uint64_t *keys; /* 0: empty slot */
    size_t cap;     /* a power of two, or 0 */
    size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct gen gens[2]; /* [0] the newer */
static time_t started;     /* of gens[0] */
static uint64_t seed[2];
static int seeded;

static uint64_t key_of(const char *device_id, const uint8_t *nonce, size_t len)
{
    /* device id, a 0xff separator (ids hold none), the nonce */
    uint8_t buf[DMSEC_STORE_ID_MAX + 1 + DMSEC_NONCE_MAX];
    size_t n = strnlen(device_id, DMSEC_STORE_ID_MAX);
    if (len > DMSEC_NONCE_MAX)
        len = DMSEC_NONCE_MAX;
    memcpy(buf, device_id, n);
    buf[n] = 0xff;
    memcpy(buf + n + 1, nonce, len);
    uint64_t h = srv_siphash(seed[0], seed[1], buf, n + 1 + len);
    return h ? h : 1;
}

static int find(const struct gen *g, uint64_t k)
{
    if (!g->cap)
        return 0;
    for (size_t i = (size_t)k & (g->cap - 1);; i = (i + 1) & (g->cap - 1)) {
        if (g->keys[i] == k)
            return 1;
        if (!g->keys[i])
            return 0;
    }
}

static void put(uint64_t *keys, size_t cap, uint64_t k)
{
    size_t i = (size_t)k & (cap - 1);
    while (keys[i] && keys[i] != k)
        i = (i + 1) & (cap - 1);
    keys[i] = k;
}

/* Adds k to g, growing it at half load; -1 without memory. */
static int add(struct gen *g, uint64_t k)
{
    if (2 * (g->n + 1) > g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        uint64_t *keys = calloc(cap, sizeof *keys);
        if (!keys)
            return -1;
        for (size_t i = 0; i < g->cap; i++) {
            if (g->keys[i])
                put(keys, cap, g->keys[i]);
        }
        free(g->keys);
        g->keys = keys;
        g->cap = cap;
    }
    put(g->keys, g->cap, k);
    g->n++;
    return 0;
}

int nonces_used(const char *device_id, const uint8_t *nonce, size_t len, time_t now)
{
    pthread_mutex_lock(&mu);
    if (!seeded) {
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
            pthread_mutex_unlock(&mu);
            return 1; /* no key: refuse rather than risk a replay */
        }
        seeded = 1;
        started = now;
    }
    if (now - started >= NONCE_WINDOW || now < started) {
        free(gens[1].keys);
        gens[1] = gens[0];
        memset(&gens[0], 0, sizeof gens[0]);
        started = now;
    }
    uint64_t k = key_of(device_id, nonce, len);
    int used = find(&gens[0], k) || find(&gens[1], k);
    if (!used && add(&gens[0], k))
        used = 1; /* cannot remember it: refuse rather than risk a replay */
    pthread_mutex_unlock(&mu);
    return used;
}

void nonces_free(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < 2; i++) {
        free(gens[i].keys);
        memset(&gens[i], 0, sizeof gens[i]);
    }
    pthread_mutex_unlock(&mu);
}
