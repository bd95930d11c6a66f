/* The table of open sessions, keyed by the RespURI token. One mutex guards
 * the table; an engine is used by one request at a time (the busy mark),
 * so feeding it and the store calls run outside the lock.
 *
 * Sessions whose device has not authenticated (a challenge outstanding, or
 * a stranger) also sit on a list, oldest first, and have a budget of their
 * own: when it or the table is full, the oldest idle one makes room. So a
 * flood of packages #1 from strangers can never fill the table against the
 * devices that authenticate. */
#include <pthread.h>
#include <string.h>

#include "server.h"

#define N_BUCKETS 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sess *bucket[N_BUCKETS];
static size_t count;
static size_t cap = 10000;
static long idle = 120;
static struct sess *unauth_head; /* oldest first */
static struct sess *unauth_tail;
static size_t unauth_count;
static size_t unauth_cap = 5000;

static size_t hash(const char *token)
{
    /* The token is random hex: its first characters spread well. */
    size_t h = 0;
    for (size_t i = 0; i < 6 && token[i]; i++)
        h = h * 16 + (size_t)(token[i] <= '9' ? token[i] - '0' : token[i] - 'a' + 10);
    return h % N_BUCKETS;
}

void sessions_init(long max_sessions, long max_unauthenticated, long idle_seconds)
{
    cap = (size_t)max_sessions;
    unauth_cap = (size_t)max_unauthenticated;
    if (unauth_cap > cap)
        unauth_cap = cap;
    idle = idle_seconds;
}

static void unauth_unlink_locked(struct sess *s)
{
    if (!s->on_unauth)
        return;
    if (s->uprev)
        s->uprev->unext = s->unext;
    else
        unauth_head = s->unext;
    if (s->unext)
        s->unext->uprev = s->uprev;
    else
        unauth_tail = s->uprev;
    s->uprev = s->unext = NULL;
    s->on_unauth = 0;
    unauth_count--;
}

static void unlink_locked(struct sess *s)
{
    struct sess **pp = &bucket[hash(s->token)];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = s->next;
        s->next = NULL;
        count--;
    }
    unauth_unlink_locked(s);
}

/* The oldest idle unauthenticated session, out of the table; NULL when
 * every one is in use. */
static struct sess *evict_locked(void)
{
    struct sess *v = unauth_head;
    while (v && v->busy)
        v = v->unext;
    if (v)
        unlink_locked(v);
    return v;
}

int sessions_insert(struct sess *s, int authenticated, struct sess **evicted)
{
    *evicted = NULL;
    pthread_mutex_lock(&mu);
    if (count >= cap || (!authenticated && unauth_count >= unauth_cap))
        *evicted = evict_locked();
    if (count >= cap || (!authenticated && unauth_count >= unauth_cap)) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    size_t h = hash(s->token);
    s->busy = 1;
    s->next = bucket[h];
    bucket[h] = s;
    count++;
    s->on_unauth = 0;
    if (!authenticated) {
        s->uprev = unauth_tail;
        s->unext = NULL;
        if (unauth_tail)
            unauth_tail->unext = s;
        else
            unauth_head = s;
        unauth_tail = s;
        s->on_unauth = 1;
        unauth_count++;
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

void sessions_authenticated(struct sess *s)
{
    pthread_mutex_lock(&mu);
    unauth_unlink_locked(s);
    pthread_mutex_unlock(&mu);
}

int sessions_room(void)
{
    pthread_mutex_lock(&mu);
    int room = count < cap || unauth_count > 0;
    pthread_mutex_unlock(&mu);
    return room;
}

void sessions_open(size_t *total, size_t *unauthenticated)
{
    pthread_mutex_lock(&mu);
    *total = count;
    *unauthenticated = unauth_count;
    pthread_mutex_unlock(&mu);
}

struct sess *sessions_acquire(const char *token, int *busy)
{
    *busy = 0;
    if (strlen(token) != SESSION_TOKEN_LEN ||
        strspn(token, "0123456789abcdef") != SESSION_TOKEN_LEN)
        return NULL;
    pthread_mutex_lock(&mu);
    struct sess *s = bucket[hash(token)];
    while (s && strcmp(s->token, token) != 0)
        s = s->next;
    if (s && s->busy) {
        *busy = 1;
        s = NULL;
    } else if (s) {
        s->busy = 1;
    }
    pthread_mutex_unlock(&mu);
    return s;
}

void sessions_release(struct sess *s, int remove, time_t now)
{
    pthread_mutex_lock(&mu);
    if (remove)
        unlink_locked(s);
    s->busy = 0;
    s->last_used = now;
    pthread_mutex_unlock(&mu);
}

struct sess *sessions_take_expired(time_t now, int all)
{
    struct sess *out = NULL;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        struct sess **pp = &bucket[i];
        while (*pp) {
            struct sess *s = *pp;
            if (!s->busy && (all || now - s->last_used >= idle)) {
                *pp = s->next;
                count--;
                unauth_unlink_locked(s);
                s->next = out;
                out = s;
            } else {
                pp = &s->next;
            }
        }
    }
    pthread_mutex_unlock(&mu);
    return out;
}
