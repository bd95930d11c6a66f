/* Counters and the request-duration histogram, as lock-free atomics, and
 * their rendering in the Prometheus text format 0.0.4. What the store
 * records (notifications, resyncs, secret rotations, devices, pending
 * notifications, queued commands) is read from it at scrape time, so that
 * what other processes did (`dmsec notify`) counts too. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "server.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static atomic_ulong sessions_ok;
static atomic_ulong sessions_failed;
static atomic_ulong auth[AUTH_LABELS_][2];
static atomic_ulong commands[2]; /* answered: ok (2xx), failed */
static atomic_ulong rate_limited;
static atomic_ulong sessions_evicted;
static atomic_ulong connections[4]; /* by enum conn_event */
static atomic_ulong bucket_count[N_BUCKETS];
static atomic_ulong duration_count;
static atomic_ulong duration_sum_us; /* microseconds: integers add atomically */

void metrics_session(int ok)
{
    atomic_fetch_add(ok ? &sessions_ok : &sessions_failed, 1);
}

void metrics_auth(enum auth_label label, int ok)
{
    if (label < AUTH_LABELS_)
        atomic_fetch_add(&auth[label][ok ? 0 : 1], 1);
}

void metrics_command(int status)
{
    atomic_fetch_add(&commands[status >= 200 && status < 300 ? 0 : 1], 1);
}

void metrics_rate_limited(void)
{
    atomic_fetch_add(&rate_limited, 1);
}

void metrics_session_evicted(void)
{
    atomic_fetch_add(&sessions_evicted, 1);
}

void metrics_connection(enum conn_event ev)
{
    if ((unsigned)ev < 4)
        atomic_fetch_add(&connections[ev], 1);
}

void metrics_request(double seconds)
{
    if (seconds < 0)
        seconds = 0;
    /* Non-cumulative here; summed when rendered. */
    size_t i = 0;
    while (i < N_BUCKETS && seconds > buckets[i])
        i++;
    if (i < N_BUCKETS)
        atomic_fetch_add(&bucket_count[i], 1);
    atomic_fetch_add(&duration_count, 1);
    atomic_fetch_add(&duration_sum_us, (unsigned long)(seconds * 1e6 + 0.5));
}

/* The audit events counted, and their counter names and labels. */
enum { T_NOTIFY, T_RESYNC_NOTIFY, T_RESYNC, T_SECRET_ROTATED, T_N_ };
static const char *const tally_events[T_N_] = {"notify", "resync_notify", "resync",
                                               "secret_rotated"};

/* The audit trail read so far (its last row id) and its counts: each row
 * is read once by this process, so a scrape reads only the new ones. */
static pthread_mutex_t tally_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t tally_after;
static uint64_t tally[T_N_];

struct store_figures {
    int ok; /* 0: the store could not be read; its figures are left out */
    uint64_t counts[T_N_];
    dmsec_store_stats_t stats;
};

static void read_store(dmsec_store_t *st, struct store_figures *f)
{
    if (!st)
        return;
    pthread_mutex_lock(&tally_mu);
    int rc = dmsec_store_audit_tally(st, &tally_after, tally_events, T_N_, tally);
    for (size_t i = 0; i < T_N_; i++)
        f->counts[i] = tally[i];
    pthread_mutex_unlock(&tally_mu);
    if (!rc)
        rc = dmsec_store_stats(st, (int64_t)time(NULL), &f->stats);
    f->ok = rc == 0;
}

struct out {
    char *p;
    size_t n;
    size_t cap;
    int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= o->cap - o->n) {
        /* Grown to fit, then written again. */
        size_t cap = o->cap * 2 + (size_t)n + 1;
        char *q = realloc(o->p, cap);
        if (!q) {
            o->failed = 1;
            return;
        }
        o->p = q;
        o->cap = cap;
        va_list aq;
        va_start(aq, fmt);
        n = vsnprintf(o->p + o->n, o->cap - o->n, fmt, aq);
        va_end(aq);
    }
    if (n < 0 || (size_t)n >= o->cap - o->n) {
        o->failed = 1;
        return;
    }
    o->n += (size_t)n;
}

char *metrics_render(dmsec_store_t *st, size_t *len)
{
    struct store_figures f = {0};
    read_store(st, &f);
    size_t open_total = 0;
    size_t open_unauth = 0;
    sessions_open(&open_total, &open_unauth);
    static const char *const labels[AUTH_LABELS_] = {"basic",    "md5",         "sha256",
                                                     "hmac-md5", "hmac-sha256", "tls"};
    struct out o = {malloc(4096), 0, 4096, 0};
    if (!o.p)
        return NULL;
    put(&o, "# HELP dmsec_sessions_total DM sessions ended, by result.\n"
            "# TYPE dmsec_sessions_total counter\n");
    put(&o, "dmsec_sessions_total{result=\"ok\"} %lu\n", atomic_load(&sessions_ok));
    put(&o, "dmsec_sessions_total{result=\"failed\"} %lu\n", atomic_load(&sessions_failed));
    put(&o, "# HELP dmsec_auth_results_total Client authentications, by scheme and result.\n"
            "# TYPE dmsec_auth_results_total counter\n");
    for (size_t i = 0; i < AUTH_LABELS_; i++) {
        put(&o, "dmsec_auth_results_total{scheme=\"%s\",result=\"ok\"} %lu\n", labels[i],
            atomic_load(&auth[i][0]));
        put(&o, "dmsec_auth_results_total{scheme=\"%s\",result=\"failed\"} %lu\n", labels[i],
            atomic_load(&auth[i][1]));
    }
    put(&o,
        "# HELP dmsec_store_up 1 when this scrape could read the store's figures.\n"
        "# TYPE dmsec_store_up gauge\n"
        "dmsec_store_up %d\n",
        f.ok);
    if (f.ok) {
        put(&o,
            "# HELP dmsec_notifications_sent_total Notifications sent (server, API, policy and "
            "dmsec notify), by kind, from the store's audit trail.\n"
            "# TYPE dmsec_notifications_sent_total counter\n"
            "dmsec_notifications_sent_total{kind=\"normal\"} %llu\n"
            "dmsec_notifications_sent_total{kind=\"resync\"} %llu\n",
            (unsigned long long)f.counts[T_NOTIFY], (unsigned long long)f.counts[T_RESYNC_NOTIFY]);
        put(&o,
            "# HELP dmsec_resyncs_total Nonce resynchronisations completed.\n"
            "# TYPE dmsec_resyncs_total counter\n"
            "dmsec_resyncs_total %llu\n",
            (unsigned long long)f.counts[T_RESYNC]);
        put(&o,
            "# HELP dmsec_secret_rotations_total Server secrets replaced on devices (confirmed).\n"
            "# TYPE dmsec_secret_rotations_total counter\n"
            "dmsec_secret_rotations_total %llu\n",
            (unsigned long long)f.counts[T_SECRET_ROTATED]);
        put(&o,
            "# HELP dmsec_devices Devices registered in the store.\n"
            "# TYPE dmsec_devices gauge\n"
            "dmsec_devices %llu\n"
            "# HELP dmsec_notifications_pending Notifications sent, not opened, not expired.\n"
            "# TYPE dmsec_notifications_pending gauge\n"
            "dmsec_notifications_pending %llu\n"
            "# HELP dmsec_commands_queued Management commands queued, not sent yet.\n"
            "# TYPE dmsec_commands_queued gauge\n"
            "dmsec_commands_queued %llu\n",
            (unsigned long long)f.stats.devices, (unsigned long long)f.stats.notifications_pending,
            (unsigned long long)f.stats.commands_queued);
    }
    put(&o,
        "# HELP dmsec_sessions_open DM sessions open now, by state.\n"
        "# TYPE dmsec_sessions_open gauge\n"
        "dmsec_sessions_open{state=\"authenticated\"} %zu\n"
        "dmsec_sessions_open{state=\"unauthenticated\"} %zu\n",
        open_total - open_unauth, open_unauth);
    put(&o,
        "# HELP dmsec_commands_total Management commands answered by devices, by result.\n"
        "# TYPE dmsec_commands_total counter\n"
        "dmsec_commands_total{result=\"ok\"} %lu\n"
        "dmsec_commands_total{result=\"failed\"} %lu\n",
        atomic_load(&commands[0]), atomic_load(&commands[1]));
    put(&o,
        "# HELP dmsec_rate_limited_total Requests refused by the failure rate limit.\n"
        "# TYPE dmsec_rate_limited_total counter\n"
        "dmsec_rate_limited_total %lu\n",
        atomic_load(&rate_limited));
    put(&o,
        "# HELP dmsec_sessions_evicted_total Unauthenticated sessions taken out to make room.\n"
        "# TYPE dmsec_sessions_evicted_total counter\n"
        "dmsec_sessions_evicted_total %lu\n",
        atomic_load(&sessions_evicted));
    put(&o,
        "# HELP dmsec_connections_refused_total Connections refused at accept, by limit.\n"
        "# TYPE dmsec_connections_refused_total counter\n"
        "dmsec_connections_refused_total{reason=\"per-address\"} %lu\n"
        "dmsec_connections_refused_total{reason=\"max-connections\"} %lu\n",
        atomic_load(&connections[CONN_REFUSED_ADDR]),
        atomic_load(&connections[CONN_REFUSED_LIMIT]));
    put(&o,
        "# HELP dmsec_connections_closed_total Connections closed while a request was arriving.\n"
        "# TYPE dmsec_connections_closed_total counter\n"
        "dmsec_connections_closed_total{reason=\"request-timeout\"} %lu\n"
        "dmsec_connections_closed_total{reason=\"min-rate\"} %lu\n",
        atomic_load(&connections[CONN_CLOSED_DEADLINE]),
        atomic_load(&connections[CONN_CLOSED_RATE]));
    put(&o, "# HELP dmsec_request_duration_seconds Time to answer a SyncML request.\n"
            "# TYPE dmsec_request_duration_seconds histogram\n");
    unsigned long cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += atomic_load(&bucket_count[i]);
        put(&o, "dmsec_request_duration_seconds_bucket{le=\"%g\"} %lu\n", buckets[i], cum);
    }
    unsigned long count = atomic_load(&duration_count);
    if (count < cum)
        count = cum; /* a request counted between the two reads */
    put(&o, "dmsec_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", count);
    put(&o, "dmsec_request_duration_seconds_sum %.6f\n",
        (double)atomic_load(&duration_sum_us) / 1e6);
    put(&o, "dmsec_request_duration_seconds_count %lu\n", count);
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    *len = o.n;
    return o.p;
}
