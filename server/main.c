/*
 * dmsec-server: the OMA DM server daemon. libmicrohttpd serves HTTP(S);
 * each SyncML request runs the sans-I/O session engine with the store
 * behind it (http.c). A policy thread re-sends overdue notifications on the
 * default nonce and reaps idle sessions; the main thread waits for
 * SIGTERM/SIGINT and shuts down cleanly.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/dispatch.h"
#include "dmsec/errors.h"
#include "server.h"

#define DRAIN_SECONDS 10

static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static int stopping;

/* "A.B.C.D:PORT", "[V6]:PORT" or "localhost:PORT". */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *ss_len, int *v6,
                        char *host, size_t host_cap, unsigned *port)
{
    char buf[128];
    if (strlen(text) >= sizeof buf)
        return -1;
    memcpy(buf, text, strlen(text) + 1);
    char *h;
    char *p;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return -1;
        *close = '\0';
        h = buf + 1;
        p = close + 2;
        *v6 = 1;
    } else {
        char *colon = strrchr(buf, ':');
        if (!colon)
            return -1;
        *colon = '\0';
        h = buf;
        p = colon + 1;
        *v6 = 0;
    }
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
        return -1;
    unsigned long pv = strtoul(p, NULL, 10);
    if (pv > 65535)
        return -1;
    *port = (unsigned)pv;
    if (!strcmp(h, "localhost"))
        h = "127.0.0.1";
    memset(ss, 0, sizeof *ss);
    if (*v6) {
        struct sockaddr_in6 a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)pv);
        if (inet_pton(AF_INET6, h, &a.sin6_addr) != 1)
            return -1;
        memcpy(ss, &a, sizeof a);
        *ss_len = sizeof a;
        snprintf(host, host_cap, "[%s]", h);
    } else {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)pv);
        if (inet_pton(AF_INET, h, &a.sin_addr) != 1)
            return -1;
        memcpy(ss, &a, sizeof a);
        *ss_len = sizeof a;
        snprintf(host, host_cap, "%s", h);
    }
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    /* Refused connections are counted (one summary line per interval),
     * and a flood of other messages is cut short. */
    if (conns_mhd_message(msg))
        log_msg(LOG_WARN, "http: %s", msg);
}

/* ---- the policy thread ---- */

static void policy_round(struct server *srv, dmsec_store_t **st)
{
    time_t now = time(NULL);
    if (!*st) {
        int rc = dmsec_store_open(srv->cfg.db, st);
        if (rc) {
            log_msg(LOG_ERROR, "resync-policy: cannot open the store: %s", dmsec_errname(rc));
            *st = NULL;
        }
    }
    if (*st) {
        dmsec_notify_opts_t o = {
            .server_id = srv->cfg.server_id, .ui = DMSEC_UI_BACKGROUND, .now = (int64_t)now};
        int count = 0;
        int rc = dmsec_dispatch_resync_overdue(*st, &o, srv->cfg.resync_after, &count);
        if (count > 0) {
            log_msg(LOG_INFO,
                    "resync-policy: %d overdue notification(s) re-sent on the default "
                    "nonce",
                    count);
        }
        if (rc)
            log_msg(LOG_WARN, "resync-policy: %s", dmsec_errname(rc));
    }
    struct sess *idle = sessions_take_expired(now, 0);
    while (idle) {
        struct sess *next = idle->next;
        http_close_session(*st, idle, DMSEC_ERR_SESSION_STATE, "idle timeout");
        idle = next;
    }
    ratelimit_prune(srv->rl, now);
}

static void *policy_main(void *arg)
{
    struct server *srv = arg;
    dmsec_store_t *st = NULL; /* its own handle: a handle serves one thread */
    pthread_mutex_lock(&stop_mu);
    while (!stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += srv->cfg.policy_interval;
        while (!stopping && pthread_cond_timedwait(&stop_cv, &stop_mu, &until) == 0)
            ;
        if (stopping)
            break;
        pthread_mutex_unlock(&stop_mu);
        policy_round(srv, &st);
        pthread_mutex_lock(&stop_mu);
    }
    pthread_mutex_unlock(&stop_mu);
    dmsec_store_close(st);
    return NULL;
}

/* ---- start and stop ---- */

static struct MHD_Daemon *start_http(struct server *srv, const struct sockaddr_storage *ss, int v6,
                                     const char *cert, const char *key, const char *ca)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* A request may wait on the store (an fsync): with a thread per
     * connection that stalls only its own client. */
    flags |= srv->cfg.threads == 0 ? MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL : MHD_USE_AUTO;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (cert)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem extra[8];
    size_t n = 0;
    if (cert) {
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert};
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key};
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                             (void *)srv->cfg.tls_priorities};
    }
    if (ca)
        extra[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)ca};
    if (srv->cfg.threads > 0)
        extra[n++] =
            (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)srv->cfg.threads, NULL};
    extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* The logger first, so that libmicrohttpd reports every option
     * problem through it. */
    /* The per-address limit is the guard's (conns.c: IPv6 per /64), and
     * so are the request deadline and the minimum rate; the timeout here
     * is the idle one. */
    return MHD_start_daemon(flags, (uint16_t)srv->port, conns_accept, srv, conns_access, srv,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *)ss, MHD_OPTION_NOTIFY_COMPLETED,
                            conns_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, conns_notify, srv,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.connection_timeout,
                            MHD_OPTION_ARRAY, extra, MHD_OPTION_END);
}

static void free_pem(char *p)
{
    if (p) {
        srv_wipe(p, strlen(p));
        free(p);
    }
}

/* Start-up failed once the store pool is open: stops what was started
 * (each stop is a no-op for what was not) and wipes the PEM files read;
 * the exit status. */
static int start_failed(struct server *srv, char *cert, char *key, char *ca)
{
    free_pem(cert);
    free_pem(key);
    free_pem(ca);
    conns_stop();
    api_stop();
    ratelimit_free(srv->rl);
    srv->rl = NULL;
    storepool_close_all();
    return 1;
}

int main(int argc, char **argv)
{
    static struct server srv;
    /* Keep freed heap instead of handing it back after every request:
     * with glibc's adaptive thresholds each request's short-lived buffers
     * (SQLite's temporary tables among them) were trimmed and faulted in
     * again, one madvise per request (docs/PERFORMANCE.md). */
    (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
    (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
    int rc = config_load(argc, argv, &srv.cfg);
    if (rc)
        return rc > 0 ? 0 : 2;
    log_set_debug(srv.cfg.debug);
    struct sockaddr_storage ss;
    socklen_t ss_len = 0;
    int v6 = 0;
    if (parse_listen(srv.cfg.listen, &ss, &ss_len, &v6, srv.listen_host, sizeof srv.listen_host,
                     &srv.port)) {
        fprintf(stderr, "dmsec-server: --listen: want ADDR:PORT or [V6ADDR]:PORT, got '%s'\n",
                srv.cfg.listen);
        return 2;
    }

    /* Signals are taken by sigwait in main only; every thread started
     * from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = storepool_init(srv.cfg.db, srv.cfg.store_handles);
    if (rc) {
        log_msg(LOG_ERROR, "cannot open the store %s: %s", srv.cfg.db, dmsec_errname(rc));
        return 1;
    }
    /* The store belongs to one server id, set once: the devices' SRVCRED
     * pre-hashes were computed for it. Checked here; a store without one
     * takes this server's once the rest of the start-up has succeeded. */
    dmsec_store_t *idst = NULL;
    char owner[DMSEC_NAME_MAX] = "";
    rc = dmsec_store_open(srv.cfg.db, &idst);
    if (!rc)
        rc = dmsec_store_server_id(idst, NULL, owner, sizeof owner);
    dmsec_store_close(idst);
    idst = NULL;
    int claim_id = rc == DMSEC_ERR_STORE_NOT_FOUND;
    if (claim_id)
        rc = DMSEC_OK;
    else if (!rc && strcmp(owner, srv.cfg.server_id) != 0)
        rc = DMSEC_ERR_STORE_STATE;
    if (rc) {
        if (rc == DMSEC_ERR_STORE_STATE)
            log_msg(LOG_ERROR, "this store (%s) belongs to server '%s', not '%s' (--server-id)",
                    srv.cfg.db, owner, srv.cfg.server_id);
        else
            log_msg(LOG_ERROR, "cannot read the server id of the store %s: %s", srv.cfg.db,
                    dmsec_errname(rc));
        return start_failed(&srv, NULL, NULL, NULL);
    }
    /* The management API (api.c), when a token file is given. */
    if (srv.cfg.api_token_file[0] && api_start(&srv.cfg))
        return start_failed(&srv, NULL, NULL, NULL);
    char *cert = NULL;
    char *key = NULL;
    char *ca = NULL;
    if (srv.cfg.tls_cert[0]) {
        cert = tls_read_file(srv.cfg.tls_cert, NULL);
        key = tls_read_file(srv.cfg.tls_key, NULL);
        if (srv.cfg.client_ca[0])
            ca = tls_read_file(srv.cfg.client_ca, NULL);
        if (!cert || !key || (srv.cfg.client_ca[0] && !ca))
            return start_failed(&srv, cert, key, ca);
        srv.tls = 1;
        srv.client_certs = ca != NULL;
    }
    if (claim_id) {
        rc = dmsec_store_open(srv.cfg.db, &idst);
        if (!rc)
            rc = dmsec_store_server_id(idst, srv.cfg.server_id, owner, sizeof owner);
        if (rc == DMSEC_ERR_STORE_STATE) {
            log_msg(LOG_ERROR, "this store (%s) was just given to server '%s', not '%s'",
                    srv.cfg.db, owner, srv.cfg.server_id);
            dmsec_store_close(idst);
            return start_failed(&srv, cert, key, ca);
        }
        if (rc)
            log_msg(LOG_WARN, "cannot record the server id in the store %s: %s", srv.cfg.db,
                    dmsec_errname(rc));
    }
    dmsec_store_close(idst);
    idst = NULL;
    srv.rl = ratelimit_new(srv.cfg.max_auth_failures, srv.cfg.failure_window, srv.cfg.block_seconds,
                           RATELIMIT_CAPACITY);
    sessions_init(srv.cfg.max_sessions, srv.cfg.max_unauth_sessions, srv.cfg.session_idle);
    struct MHD_Daemon *d =
        srv.rl && !conns_start(&srv) ? start_http(&srv, &ss, v6, cert, key, ca) : NULL;
    if (!d) {
        log_msg(LOG_ERROR, "cannot listen on %s%s", srv.cfg.listen,
                cert ? " (check the certificate and key)" : "");
        return start_failed(&srv, cert, key, ca);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port)
        srv.port = info->port;
    printf("dmsec-server: listening on %s:%u, TLS %s%s, store %s, server id %s\n", srv.listen_host,
           srv.port, srv.tls ? "on" : "off",
           srv.client_certs ? " (client certificates requested)" : "", srv.cfg.db,
           srv.cfg.server_id);
    fflush(stdout);

    pthread_t policy;
    int have_policy = pthread_create(&policy, NULL, policy_main, &srv) == 0;
    if (!have_policy)
        log_msg(LOG_ERROR, "cannot start the resync policy thread");

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    log_msg(LOG_INFO, "shutting down on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");

    /* Stop accepting, let the requests being served finish, then stop. */
    MHD_socket lsock = MHD_quiesce_daemon(d);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    for (int i = 0; i < DRAIN_SECONDS * 100 && atomic_load(&srv.in_flight) > 0; i++) {
        struct timespec t = {0, 10L * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    MHD_stop_daemon(d);
    conns_stop();
    api_stop();

    pthread_mutex_lock(&stop_mu);
    stopping = 1;
    pthread_cond_broadcast(&stop_cv);
    pthread_mutex_unlock(&stop_mu);
    if (have_policy)
        pthread_join(policy, NULL);

    /* Sessions still open are recorded as ended. */
    dmsec_store_t *st = storepool_get();
    struct sess *left = sessions_take_expired(time(NULL), 1);
    while (left) {
        struct sess *next = left->next;
        http_close_session(st, left, DMSEC_ERR_SESSION_STATE, "shutdown");
        left = next;
    }
    storepool_put(st);
    storepool_close_all();
    ratelimit_free(srv.rl);
    nonces_free();
    free_pem(cert);
    free_pem(key);
    free_pem(ca);
    log_msg(LOG_INFO, "stopped");
    return 0;
}
