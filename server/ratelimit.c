/* Failed authentications per key ("d:" device id, "a:" client address):
 * more than max failures within a window blocks the key for a while. A
 * hash table with chaining under one mutex; the policy thread prunes
 * entries whose window and block are over. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define N_BUCKETS 1024
#define MAX_ENTRIES 100000 /* beyond this, new keys are not tracked */
#define KEY_MAX 160

struct rl_entry {
    char key[KEY_MAX];
    time_t window_start;
    long failures;
    time_t blocked_until;
    struct rl_entry *next;
};

struct ratelimit {
    pthread_mutex_t mu;
    long max_failures;
    long window;
    long block;
    size_t n;
    time_t last_block_end[256]; /* per key prefix: when the last block ends */
    struct rl_entry *bucket[N_BUCKETS];
};

static size_t hash(const char *s)
{
    size_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % N_BUCKETS;
}

struct ratelimit *ratelimit_new(long max_failures, long window, long block)
{
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    if (pthread_mutex_init(&rl->mu, NULL)) {
        free(rl);
        return NULL;
    }
    rl->max_failures = max_failures;
    rl->window = window;
    rl->block = block;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        struct rl_entry *e = rl->bucket[i];
        while (e) {
            struct rl_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static struct rl_entry *find(struct ratelimit *rl, const char *key)
{
    for (struct rl_entry *e = rl->bucket[hash(key)]; e; e = e->next) {
        if (!strcmp(e->key, key))
            return e;
    }
    return NULL;
}

long ratelimit_blocked(struct ratelimit *rl, const char *key, time_t now)
{
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = find(rl, key);
    long left = e && e->blocked_until > now ? (long)(e->blocked_until - now) : 0;
    pthread_mutex_unlock(&rl->mu);
    return left;
}

int ratelimit_fail(struct ratelimit *rl, const char *key, time_t now)
{
    if (strlen(key) >= KEY_MAX)
        return 0;
    int started = 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = find(rl, key);
    if (!e && rl->n < MAX_ENTRIES && (e = calloc(1, sizeof *e))) {
        memcpy(e->key, key, strlen(key) + 1);
        size_t h = hash(key);
        e->next = rl->bucket[h];
        rl->bucket[h] = e;
        rl->n++;
    }
    if (e) {
        if (now - e->window_start >= rl->window) {
            e->window_start = now;
            e->failures = 0;
        }
        e->failures++;
        if (e->failures > rl->max_failures && e->blocked_until <= now) {
            e->blocked_until = now + rl->block;
            rl->last_block_end[(unsigned char)key[0]] = e->blocked_until;
            started = 1;
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return started;
}

int ratelimit_any_blocked(struct ratelimit *rl, char prefix, time_t now)
{
    pthread_mutex_lock(&rl->mu);
    int any = rl->last_block_end[(unsigned char)prefix] > now;
    pthread_mutex_unlock(&rl->mu);
    return any;
}

void ratelimit_prune(struct ratelimit *rl, time_t now)
{
    pthread_mutex_lock(&rl->mu);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        struct rl_entry **pp = &rl->bucket[i];
        while (*pp) {
            struct rl_entry *e = *pp;
            if (e->blocked_until <= now && now - e->window_start >= rl->window) {
                *pp = e->next;
                free(e);
                rl->n--;
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&rl->mu);
}
