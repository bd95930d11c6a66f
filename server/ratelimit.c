/* Failed authentications, counted per client address ("a:" key: an IPv4
 * address, or the /64 of an IPv6 address) and per device ("d:" key).
 *
 * More than max failures of an address within a window block that address
 * for a while. A device is never blocked: more than max failures of a
 * device within a window make it "guarded", and while it is guarded every
 * failure for it blocks the failing address at once. The real device (with
 * a correct Cred, from its own address) is never refused; distributed
 * guessing gets one guess per address per block.
 *
 * A bounded table: a hash table (SipHash-2-4 under a random key, so that
 * an attacker cannot aim keys at one bucket) of at most `capacity` entries
 * on a least-recently-used list. When full, a new key takes the place of
 * the least recently used entry (preferring, among the last few, one with
 * no block or guard running): O(1), and the table never stops tracking. One
 * mutex; the policy thread prunes entries whose window and block are over. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "server.h"

#define KEY_MAX (DMSEC_STORE_ID_MAX + 8)
#define EVICT_LOOK 8 /* entries looked at from the LRU end for one not blocked */

struct rl_entry {
    struct rl_entry *hnext;
    struct rl_entry **hprev; /* the pointer that points here */
    struct rl_entry *newer;
    struct rl_entry *older;
    time_t window_start;
    long failures;
    time_t until; /* an address: blocked until; a device: guarded until */
    char key[KEY_MAX];
};

struct ratelimit {
    pthread_mutex_t mu;
    long max_failures;
    long window;
    long block;
    size_t capacity;
    size_t n;
    size_t mask; /* buckets - 1, a power of two */
    uint64_t k0, k1;
    struct rl_entry *newest;
    struct rl_entry *oldest;
    struct rl_entry **bucket;
};

/* ---- the table ---- */

struct ratelimit *ratelimit_new(long max_failures, long window, long block, size_t capacity)
{
    if (capacity < 4)
        capacity = 4;
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    size_t buckets = 16;
    while (buckets < capacity && buckets < ((size_t)1 << 30))
        buckets <<= 1;
    rl->bucket = calloc(buckets, sizeof(struct rl_entry *));
    if (!rl->bucket || pthread_mutex_init(&rl->mu, NULL)) {
        free(rl->bucket);
        free(rl);
        return NULL;
    }
    rl->mask = buckets - 1;
    rl->capacity = capacity;
    rl->max_failures = max_failures;
    rl->window = window;
    rl->block = block;
    uint64_t k[2] = {0, 0};
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* Still distinct per process: better than a fixed key. */
        k[0] = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)rl << 16);
        k[1] = (uint64_t)(uintptr_t)&k ^ 0x9e3779b97f4a7c15ULL;
    }
    rl->k0 = k[0];
    rl->k1 = k[1];
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    struct rl_entry *e = rl->newest;
    while (e) {
        struct rl_entry *n = e->older;
        free(e);
        e = n;
    }
    free(rl->bucket);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static void lru_unlink(struct ratelimit *rl, struct rl_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        rl->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        rl->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct ratelimit *rl, struct rl_entry *e)
{
    e->newer = NULL;
    e->older = rl->newest;
    if (rl->newest)
        rl->newest->newer = e;
    rl->newest = e;
    if (!rl->oldest)
        rl->oldest = e;
}

static void hash_unlink(struct rl_entry *e)
{
    *e->hprev = e->hnext;
    if (e->hnext)
        e->hnext->hprev = e->hprev;
    e->hnext = NULL;
    e->hprev = NULL;
}

static struct rl_entry **bucket_of(struct ratelimit *rl, const char *key)
{
    return &rl->bucket[srv_siphash(rl->k0, rl->k1, key, strlen(key)) & rl->mask];
}

/* The entry of key, made the most recently used; NULL when absent. */
static struct rl_entry *find(struct ratelimit *rl, const char *key)
{
    for (struct rl_entry *e = *bucket_of(rl, key); e; e = e->hnext) {
        if (!strcmp(e->key, key)) {
            lru_unlink(rl, e);
            lru_push(rl, e);
            return e;
        }
    }
    return NULL;
}

/* The entry of key, created (taking the place of an old one when the
 * table is full) when absent; NULL only without memory for a first one. */
static struct rl_entry *get(struct ratelimit *rl, const char *key, time_t now)
{
    struct rl_entry *e = find(rl, key);
    if (e)
        return e;
    if (rl->n < rl->capacity)
        e = malloc(sizeof *e);
    if (e) {
        rl->n++;
    } else {
        /* Reuse: the least recently used entry, unless it has a block or
         * guard running and one of the next few has none. */
        e = rl->oldest;
        struct rl_entry *c = e;
        for (int i = 0; c && i < EVICT_LOOK; i++, c = c->newer) {
            if (c->until <= now) {
                e = c;
                break;
            }
        }
        if (!e)
            return NULL;
        hash_unlink(e);
        lru_unlink(rl, e);
    }
    memset(e, 0, sizeof *e);
    memcpy(e->key, key, strlen(key) + 1);
    struct rl_entry **b = bucket_of(rl, key);
    e->hnext = *b;
    if (*b)
        (*b)->hprev = &e->hnext;
    e->hprev = b;
    *b = e;
    lru_push(rl, e);
    return e;
}

/* One failure in e's window; its count. */
static long count(struct ratelimit *rl, struct rl_entry *e, time_t now)
{
    if (now - e->window_start >= rl->window) {
        e->window_start = now;
        e->failures = 0;
    }
    return ++e->failures;
}

int ratelimit_addr_key(const char *addr, char *key, size_t cap)
{
    /* IPv4 (and anything else, "unknown" say): the address as it is. */
    const char *text = addr;
    const char *suffix = "";
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a6.s6_addr, mapped, sizeof mapped)) {
            struct in_addr a4;
            memcpy(&a4, a6.s6_addr + 12, 4);
            inet_ntop(AF_INET, &a4, buf, sizeof buf);
        } else {
            memset(a6.s6_addr + 8, 0, 8); /* the /64: one customer, one LAN */
            inet_ntop(AF_INET6, &a6, buf, sizeof buf);
            suffix = "/64";
        }
        text = buf;
    }
    int n = snprintf(key, cap, "a:%s%s", text, suffix);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

long ratelimit_addr_blocked(struct ratelimit *rl, const char *addr, time_t now)
{
    char key[KEY_MAX];
    if (ratelimit_addr_key(addr, key, sizeof key))
        return 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = find(rl, key);
    long left = e && e->until > now ? (long)(e->until - now) : 0;
    pthread_mutex_unlock(&rl->mu);
    return left;
}

int ratelimit_fail(struct ratelimit *rl, const char *addr, const char *device, time_t now)
{
    char akey[KEY_MAX];
    char dkey[KEY_MAX];
    int have_addr = addr && !ratelimit_addr_key(addr, akey, sizeof akey);
    int have_dev = 0;
    if (device && device[0]) {
        int n = snprintf(dkey, sizeof dkey, "d:%s", device);
        have_dev = n > 0 && (size_t)n < sizeof dkey;
    }
    int started = 0;
    int guarded = 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *d = have_dev ? get(rl, dkey, now) : NULL;
    if (d && count(rl, d, now) > rl->max_failures) {
        if (d->until <= now)
            started |= RL_DEVICE_GUARDED;
        d->until = now + rl->block; /* guarded while the guessing goes on */
        guarded = 1;
    }
    struct rl_entry *a = have_addr ? get(rl, akey, now) : NULL;
    if (a) {
        int over = count(rl, a, now) > rl->max_failures;
        if ((over || guarded) && a->until <= now) {
            a->until = now + rl->block;
            started |= RL_ADDR_BLOCKED | (over ? 0 : RL_BY_GUARD);
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return started;
}

int ratelimit_device_guarded(struct ratelimit *rl, const char *device, time_t now)
{
    char key[KEY_MAX];
    int n = snprintf(key, sizeof key, "d:%s", device);
    if (n < 0 || (size_t)n >= sizeof key)
        return 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = find(rl, key);
    int guarded = e && e->until > now;
    pthread_mutex_unlock(&rl->mu);
    return guarded;
}

size_t ratelimit_size(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->n;
    pthread_mutex_unlock(&rl->mu);
    return n;
}

void ratelimit_prune(struct ratelimit *rl, time_t now)
{
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = rl->oldest;
    while (e) {
        struct rl_entry *next = e->newer;
        if (e->until <= now && now - e->window_start >= rl->window) {
            hash_unlink(e);
            lru_unlink(rl, e);
            free(e);
            rl->n--;
        }
        e = next;
    }
    pthread_mutex_unlock(&rl->mu);
}
