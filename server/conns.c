/* The connection guard: what libmicrohttpd does not bound by itself.
 *
 * - Connections per client address (IPv4 /32, IPv6 /64: one customer),
 *   counted from MHD_OPTION_NOTIFY_CONNECTION and enforced by the accept
 *   policy; refused connections are counted, not logged one by one.
 * - A deadline per request: MHD_OPTION_CONNECTION_TIMEOUT is an idle
 *   timeout, which a client sending a byte a second never trips. Here the
 *   whole request (headers and body) must be in within request_timeout of
 *   the connection's start or of the previous answer, and once its bytes
 *   flow they must average min_rate bytes/s after a grace period (the
 *   kernel's count of bytes received, TCP_INFO). A reaper thread shuts down
 *   the socket of a connection past either; libmicrohttpd's own thread then
 *   sees the end of the stream and closes it. The socket cannot be another
 *   one by then: libmicrohttpd closes it only after the CLOSED notification,
 *   which takes the same mutex.
 * - One summary log line per interval for all of the above, and at most a
 *   few libmicrohttpd messages per interval. */
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "server.h"

#define TICK_NS (250L * 1000 * 1000)
#define GRACE_SECONDS 2.0    /* before the minimum rate applies */
#define SUMMARY_SECONDS 10.0 /* one summary line at most this often */
#define MHD_LINES_MAX 20     /* libmicrohttpd messages logged per interval */
#define N_PFX_BUCKETS 4096
#define PFX_LEN 17 /* family byte and 16 bytes of address (prefix) */

struct pfx_count {
    struct pfx_count *next;
    unsigned char key[PFX_LEN];
    long n;
};

struct conn {
    struct conn *prev;
    struct conn *next;
    int fd;
    unsigned char key[PFX_LEN];
    int receiving; /* a request is (or may be) on its way: the deadline runs */
    int first;     /* no request answered yet on this connection */
    int closing;   /* shut down by the reaper */
    double deadline;
    int64_t base;   /* bytes received when this request's phase began */
    double t_first; /* when bytes of this phase were first seen; 0: none yet */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct server *g_srv;
static struct conn *conns;
static struct pfx_count *pfx_bucket[N_PFX_BUCKETS];
static uint32_t pfx_seed;
static int stop;
static int running;
static pthread_t reaper;

/* counts of the current summary interval */
static unsigned long n_refused_addr;
static unsigned long n_refused_limit;
static unsigned long n_closed_deadline;
static unsigned long n_closed_rate;
static unsigned long n_mhd_logged;
static unsigned long n_mhd_suppressed;

/* ---- addresses ---- */

static void addr_key(const struct sockaddr *sa, unsigned char key[PFX_LEN])
{
    memset(key, 0, PFX_LEN);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        key[0] = 4;
        memcpy(key + 1, &in.sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        if (!memcmp(in6.sin6_addr.s6_addr, mapped, sizeof mapped)) {
            key[0] = 4;
            memcpy(key + 1, in6.sin6_addr.s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, in6.sin6_addr.s6_addr, 8); /* the /64 */
        }
    }
}

static size_t pfx_hash(const unsigned char key[PFX_LEN])
{
    uint32_t h = 2166136261u ^ pfx_seed;
    for (size_t i = 0; i < PFX_LEN; i++)
        h = (h ^ key[i]) * 16777619u;
    h ^= h >> 15;
    return h % N_PFX_BUCKETS;
}

/* Under mu. */
static long pfx_get(const unsigned char key[PFX_LEN])
{
    for (struct pfx_count *p = pfx_bucket[pfx_hash(key)]; p; p = p->next) {
        if (!memcmp(p->key, key, PFX_LEN))
            return p->n;
    }
    return 0;
}

/* Under mu: adds delta to the count of key (entries at 0 are freed). */
static void pfx_add(const unsigned char key[PFX_LEN], long delta)
{
    struct pfx_count **pp = &pfx_bucket[pfx_hash(key)];
    for (; *pp; pp = &(*pp)->next) {
        if (!memcmp((*pp)->key, key, PFX_LEN))
            break;
    }
    struct pfx_count *p = *pp;
    if (!p) {
        if (delta <= 0 || !(p = calloc(1, sizeof *p)))
            return;
        memcpy(p->key, key, PFX_LEN);
        p->next = pfx_bucket[pfx_hash(key)];
        pfx_bucket[pfx_hash(key)] = p;
        pp = &pfx_bucket[pfx_hash(key)];
    }
    p->n += delta;
    if (p->n <= 0) {
        *pp = p->next;
        free(p);
    }
}

/* Bytes the kernel has received on fd; -1 when it cannot tell. */
static int64_t bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return -1;
    return (int64_t)ti.tcpi_bytes_received;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* ---- libmicrohttpd callbacks ---- */

void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *x = calloc(1, sizeof *x);
        *socket_context = x;
        if (!x)
            return; /* not tracked: only its idle timeout applies */
        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        x->fd = fi ? fi->connect_fd : -1;
        addr_key(ai ? ai->client_addr : NULL, x->key);
        x->receiving = 1;
        x->first = 1;
        x->base = bytes_received(x->fd);
        pthread_mutex_lock(&mu);
        x->deadline = srv_monotonic() + (double)(g_srv ? g_srv->cfg.request_timeout : 10);
        x->next = conns;
        if (conns)
            conns->prev = x;
        conns = x;
        pfx_add(x->key, 1);
        pthread_mutex_unlock(&mu);
        return;
    }
    struct conn *x = *socket_context;
    if (!x)
        return;
    pthread_mutex_lock(&mu);
    if (x->prev)
        x->prev->next = x->next;
    else
        conns = x->next;
    if (x->next)
        x->next->prev = x->prev;
    pfx_add(x->key, -1);
    pthread_mutex_unlock(&mu);
    free(x);
    *socket_context = NULL;
}

enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)cls;
    (void)addrlen;
    unsigned char key[PFX_LEN];
    addr_key(addr, key);
    long limit = g_srv ? g_srv->cfg.per_ip_connections : 0;
    pthread_mutex_lock(&mu);
    int refuse = limit > 0 && pfx_get(key) >= limit;
    if (refuse)
        n_refused_addr++;
    pthread_mutex_unlock(&mu);
    if (refuse)
        metrics_connection(CONN_REFUSED_ADDR);
    return refuse ? MHD_NO : MHD_YES;
}

void conns_request_received(struct MHD_Connection *c)
{
    struct conn *x = conn_of(c);
    if (!x)
        return;
    pthread_mutex_lock(&mu);
    x->receiving = 0;
    pthread_mutex_unlock(&mu);
}

void conns_request_done(struct MHD_Connection *c)
{
    struct conn *x = conn_of(c);
    if (!x)
        return;
    int64_t b = bytes_received(x->fd);
    pthread_mutex_lock(&mu);
    x->receiving = 1;
    x->first = 0;
    x->base = b;
    x->t_first = 0;
    x->deadline = srv_monotonic() + (double)(g_srv ? g_srv->cfg.request_timeout : 10);
    pthread_mutex_unlock(&mu);
}

int conns_mhd_message(const char *msg)
{
    if (strstr(msg, "reached connection limit")) {
        pthread_mutex_lock(&mu);
        n_refused_limit++;
        pthread_mutex_unlock(&mu);
        metrics_connection(CONN_REFUSED_LIMIT);
        return 0;
    }
    pthread_mutex_lock(&mu);
    int log_it = n_mhd_logged < MHD_LINES_MAX;
    if (log_it)
        n_mhd_logged++;
    else
        n_mhd_suppressed++;
    pthread_mutex_unlock(&mu);
    return log_it;
}

/* ---- the reaper ---- */

/* Under mu: shuts down connections past their deadline or too slow. */
static void reap(double now, long min_rate)
{
    for (struct conn *x = conns; x; x = x->next) {
        if (!x->receiving || x->closing || x->fd < 0)
            continue;
        int64_t b = bytes_received(x->fd);
        int moved = b >= 0 && x->base >= 0 && b > x->base;
        enum conn_event why;
        if (now >= x->deadline) {
            if (!moved && !x->first) {
                /* An idle keep-alive connection: closed, not counted. */
                shutdown(x->fd, SHUT_RDWR);
                x->closing = 1;
                continue;
            }
            why = CONN_CLOSED_DEADLINE;
        } else if (min_rate > 0 && moved) {
            if (x->t_first == 0) {
                x->t_first = now;
                continue;
            }
            double t = now - x->t_first;
            if (t < GRACE_SECONDS || (double)(b - x->base) >= (double)min_rate * t)
                continue;
            why = CONN_CLOSED_RATE;
        } else {
            continue;
        }
        shutdown(x->fd, SHUT_RDWR);
        x->closing = 1;
        if (why == CONN_CLOSED_DEADLINE)
            n_closed_deadline++;
        else
            n_closed_rate++;
        metrics_connection(why);
    }
}

static void summary(double seconds)
{
    unsigned long ra = n_refused_addr;
    unsigned long rl = n_refused_limit;
    unsigned long cd = n_closed_deadline;
    unsigned long cr = n_closed_rate;
    unsigned long ms = n_mhd_suppressed;
    n_refused_addr = n_refused_limit = n_closed_deadline = n_closed_rate = 0;
    n_mhd_logged = n_mhd_suppressed = 0;
    if (ra + rl)
        log_msg(LOG_WARN,
                "http: %lu connections refused in the last %.0fs (%lu over --per-ip-connections "
                "%ld, %lu at --max-connections %ld)",
                ra + rl, seconds, ra, g_srv->cfg.per_ip_connections, rl,
                g_srv->cfg.max_connections);
    if (cd + cr)
        log_msg(LOG_WARN,
                "http: %lu connections closed in the last %.0fs (%lu past --request-timeout %lds, "
                "%lu below --min-rate %ld bytes/s)",
                cd + cr, seconds, cd, g_srv->cfg.request_timeout, cr, g_srv->cfg.min_rate);
    if (ms)
        log_msg(LOG_WARN, "http: %lu further libmicrohttpd messages not logged in the last %.0fs",
                ms, seconds);
}

static void *reaper_main(void *arg)
{
    (void)arg;
    double last_summary = srv_monotonic();
    pthread_mutex_lock(&mu);
    while (!stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += TICK_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&cv, &mu, &until);
        if (stop)
            break;
        double now = srv_monotonic();
        reap(now, g_srv->cfg.min_rate);
        if (now - last_summary >= SUMMARY_SECONDS) {
            summary(now - last_summary);
            last_summary = now;
        }
    }
    summary(srv_monotonic() - last_summary);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int conns_start(struct server *srv)
{
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint32_t)time(NULL);
    pthread_mutex_lock(&mu);
    g_srv = srv;
    pfx_seed = seed;
    stop = 0;
    pthread_mutex_unlock(&mu);
    if (pthread_create(&reaper, NULL, reaper_main, NULL))
        return -1;
    running = 1;
    return 0;
}

void conns_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(reaper, NULL);
    running = 0;
}

/* ---- the access handler and completion callback, wrapped ---- */

enum MHD_Result conns_access(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    /* The last call of a request (no more upload): it is all in. */
    if (*con_cls && !*upload_size)
        conns_request_received(c);
    return http_access(cls, c, url, method, version, upload, upload_size, con_cls);
}

void conns_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
    http_completed(cls, c, con_cls, toe);
    conns_request_done(c);
}
