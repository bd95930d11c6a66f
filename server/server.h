/*
 * server.h - the private pieces of dmsec-server: configuration, logging,
 * metrics, rate limiting, the store handle pool, the session table, TLS
 * peer certificates and the HTTP front end.
 *
 * Threads: libmicrohttpd runs one thread per connection (or a pool with
 * --threads N); a policy thread re-sends overdue notifications and reaps
 * idle sessions; the main thread waits for SIGTERM/SIGINT. Every module
 * below is safe to call from any of them.
 */
#ifndef DMSEC_SERVER_PRIV_H
#define DMSEC_SERVER_PRIV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "dmsec/session.h"
#include "dmsec/store.h"

/* ---- configuration (config.c) ---- */

enum rotate_policy { ROTATE_NEVER = 0, ROTATE_TLS, ROTATE_ALWAYS };

#define SRV_PATH_MAX 1024

struct srv_config {
    char listen[128];
    char db[SRV_PATH_MAX];
    char server_id[DMSEC_NAME_MAX];
    char tls_cert[SRV_PATH_MAX];
    char tls_key[SRV_PATH_MAX];
    char client_ca[SRV_PATH_MAX];
    char public_url[256]; /* base of RespURIs instead of the Host header */
    int require_cred;
    int strict_cred;
    int require_protected;
    int resync_accept_default;
    int resync_session_id_nonce;
    int debug;
    enum rotate_policy rotate;
    long resync_after;
    long max_auth_failures;
    long failure_window;
    long block_seconds;
    long max_body;
    long max_sessions;
    long max_unauth_sessions;
    long session_idle;
    long max_connections;
    long per_ip_connections;
    long connection_timeout;
    long request_timeout; /* whole request (headers and body), seconds */
    long min_rate;        /* bytes per second a request must keep up, 0: off */
    char tls_priorities[512];
    long threads; /* 0: one thread per connection */
    long policy_interval;
    long store_handles;
    /* The management API (api.c): on when api_token_file is set. */
    char api_listen[128];
    char api_token_file[SRV_PATH_MAX];
    long api_max_body;
};

/* Fills cfg from the defaults, --config F, then the command line (which
 * wins). Returns 0, 1 when --help was printed, or -1 after a message on
 * stderr. */
int config_load(int argc, char **argv, struct srv_config *cfg);
/* The defaults alone. */
void config_defaults(struct srv_config *cfg);
/* Applies config file text (len bytes, NUL not needed) over cfg: `key =
 * value` lines, '#' comments, keys the long option names. name names the
 * source in messages. 0, or -1 after a message on stderr (cfg then holds
 * the lines before the bad one). */
int config_parse(struct srv_config *cfg, const char *text, size_t len, const char *name);
/* Writes cfg as config text config_parse reads back to the same cfg: a
 * line per set option. 0, or -1 when cap bytes are not enough. */
int config_format(const struct srv_config *cfg, char *out, size_t cap, size_t *len);

/* ---- logging (log.c): one line per call on stderr, UTC timestamps ---- */

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_debug(int on);
int log_debug_enabled(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A printable copy of a peer-supplied string (device id, Host), so that a
 * log line stays one line. */
void log_clean(char *dst, size_t cap, const char *src);

/* ---- small helpers (util.c) ---- */

void srv_wipe(void *p, size_t n);
double srv_monotonic(void);
/* hex of n random bytes from the OS CSPRNG into out (2n+1 bytes). */
int srv_random_hex(char *out, size_t n);
/* SipHash-2-4 of s[0..len) under the key (k0, k1): a hash of peer-chosen
 * bytes that no peer can aim at one bucket. */
uint64_t srv_siphash(uint64_t k0, uint64_t k1, const void *s, size_t len);

/* ---- metrics (metrics.c) ---- */

enum auth_label {
    AUTH_BASIC = 0,
    AUTH_MD5,
    AUTH_SHA256,
    AUTH_HMAC_MD5,
    AUTH_HMAC_SHA256,
    AUTH_TLS,
    AUTH_LABELS_
};

void metrics_session(int ok);
void metrics_auth(enum auth_label label, int ok);
/* A management command answered with this SyncML status. */
void metrics_command(int status);
void metrics_rate_limited(void);
void metrics_session_evicted(void);
void metrics_request(double seconds);
enum conn_event {
    CONN_REFUSED_ADDR = 0,
    CONN_REFUSED_LIMIT,
    CONN_CLOSED_DEADLINE,
    CONN_CLOSED_RATE
};
void metrics_connection(enum conn_event ev);
/* The Prometheus text (format 0.0.4), malloc'd; NULL without memory. The
 * counters of what the store records (notifications by kind, resyncs,
 * secret rotations: its audit trail, whoever wrote it) and the gauges
 * (devices, pending notifications, queued commands) are read from st
 * (NULL: left out); open sessions from the session table. */
char *metrics_render(dmsec_store_t *st, size_t *len);

/* ---- rate limiting of failed authentications (ratelimit.c) ---- */

/* Failures are counted per client address (IPv4 /32, IPv6 /64) and per
 * device. More than max_failures of an address within window seconds
 * block it for block seconds. A device is never blocked: past the limit it
 * is guarded for block seconds (renewed by each failure), and each failure
 * for a guarded device blocks the failing address at once. At most
 * capacity keys are tracked; the least recently used gives way. */

struct ratelimit;

#define RATELIMIT_CAPACITY 100000

/* What ratelimit_fail started (bits). */
#define RL_ADDR_BLOCKED 1   /* a block of the address */
#define RL_DEVICE_GUARDED 2 /* the guard of the device */
#define RL_BY_GUARD 4       /* the address block is due to the guard */

struct ratelimit *ratelimit_new(long max_failures, long window, long block, size_t capacity);
void ratelimit_free(struct ratelimit *rl);
/* The key of a client address: "a:" and the address, or its /64. */
int ratelimit_addr_key(const char *addr, char *key, size_t cap);
/* Seconds left of a block on the client address, 0 when not blocked. */
long ratelimit_addr_blocked(struct ratelimit *rl, const char *addr, time_t now);
/* Counts one failure of addr (may be NULL) for device (NULL or "" when no
 * known device); the RL_ bits it started. */
int ratelimit_fail(struct ratelimit *rl, const char *addr, const char *device, time_t now);
int ratelimit_device_guarded(struct ratelimit *rl, const char *device, time_t now);
size_t ratelimit_size(struct ratelimit *rl);
void ratelimit_prune(struct ratelimit *rl, time_t now);

/* ---- client nonces used lately (nonces.c) ---- */

/* 1 when a Cred of device_id on this nonce authenticated a session in the
 * last minute or two (a second session racing on one nonce is a replay),
 * else remembers it and returns 0. Also 1 when it cannot remember. */
int nonces_used(const char *device_id, const uint8_t *nonce, size_t len, time_t now);
void nonces_free(void);

/* ---- store handles (storepool.c) ---- */

/* Opens the store once (creating and migrating it) to check it; at most
 * `handles` handles will be open at once. */
int storepool_init(const char *uri, long handles);
/* A handle for this thread until storepool_put (waiting while all are
 * lent); NULL when the store cannot be opened. */
dmsec_store_t *storepool_get(void);
void storepool_put(dmsec_store_t *st);
void storepool_close_all(void);

/* ---- the session table (sessions.c) ---- */

#define SESSION_TOKEN_LEN 32

/* What the engine's callbacks reach: the store handle of the request being
 * served, and what the callbacks saw. */
struct cb_ctx {
    dmsec_store_t *st;
    const struct srv_config *cfg;
    int store_err;             /* a store call failed (not "not found") */
    int resync_alerted;        /* the session id had an outstanding resync */
    int rotate;                /* the rotation policy asks for a new secret after a resync */
    unsigned rotate_requested; /* DMSEC_ROTATE_* an operator asked for (dmsec device rotate) */
    char device[DMSEC_STORE_ID_MAX];
};

struct sess {
    char token[SESSION_TOKEN_LEN + 1];
    dmsec_session_t *engine;
    struct cb_ctx ctx;
    char peer[64];
    int64_t rec_id; /* the store's session record, 0 before it exists */
    int messages;
    int tls;
    int transport_auth;
    int rotation_queued;
    int client_rotation_queued;
    int opened; /* notification_opened done */
    time_t started;
    time_t last_used;
    int busy;
    struct sess *next;
    /* the list of unauthenticated sessions (sessions.c) */
    int on_unauth;
    struct sess *uprev;
    struct sess *unext;
};

void sessions_init(long max_sessions, long max_unauthenticated, long idle_seconds);
/* 0, or -1 when the table is full. The entry is inserted busy. A session
 * whose device has not authenticated counts against its own budget too;
 * to make room the oldest idle unauthenticated session is taken out and
 * handed back in *evicted (or NULL) for the caller to close, whatever the
 * result. */
int sessions_insert(struct sess *s, int authenticated, struct sess **evicted);
/* The device of a session in the table authenticated: it leaves the
 * unauthenticated budget. */
void sessions_authenticated(struct sess *s);
/* 1 when a new session can be had (a free slot, or an unauthenticated
 * session to make room). */
int sessions_room(void);
/* The sessions open now, and how many of them are not authenticated yet. */
void sessions_open(size_t *total, size_t *unauthenticated);
/* The entry for token, marked busy; NULL with *busy 0 when unknown, or
 * with *busy 1 when another request holds it. */
struct sess *sessions_acquire(const char *token, int *busy);
/* Gives a busy entry back (remove: take it out of the table too). */
void sessions_release(struct sess *s, int remove, time_t now);
/* Detaches idle (or, with all, every idle-or-not non-busy) entries and
 * returns them as a list through ->next for the caller to close. */
struct sess *sessions_take_expired(time_t now, int all);

/* ---- TLS (tls.c) ---- */

#define PEER_SAN_MAX 8

struct peer_cert {
    int present;  /* the client sent a certificate */
    int verified; /* it chains to --client-ca and is valid now */
    char dn[DMSEC_NAME_MAX];
    char cn[DMSEC_NAME_MAX];
    char san[PEER_SAN_MAX][DMSEC_NAME_MAX];
    size_t n_san;
    char reason[96]; /* why it did not verify */
};

/* Reads a whole (PEM) file, NUL-terminated; NULL on failure. */
char *tls_read_file(const char *path, size_t *len);
/* Inspects the peer certificate of a GnuTLS session (as a void * from
 * libmicrohttpd). Returns 0, or -1 on an internal failure. */
int tls_peer_cert(void *gnutls_session, struct peer_cert *out);
/* Reads the names of a DER certificate (what tls_peer_cert reads of the
 * peer's) into out's dn, cn, san and n_san, which start zeroed. 0; -1 when
 * it does not parse; -2 without memory. */
int tls_cert_names(const unsigned char *der, size_t len, struct peer_cert *out);

/* ---- connection guard (conns.c) ----
 *
 * Tracks every connection (MHD_OPTION_NOTIFY_CONNECTION): at most
 * per_ip_connections per client address (IPv4 /32, IPv6 /64, checked by
 * the accept policy), and a reaper thread that shuts down a connection
 * whose request (headers and body) is not in within request_timeout of
 * its start (or of the previous answer), or whose bytes arrive slower
 * than min_rate. Refusals and closes are counted and summed up in one log
 * line per interval instead of one line each. */

struct server;

int conns_start(struct server *srv);
void conns_stop(void);
void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                  enum MHD_ConnectionNotificationCode toe);
enum MHD_Result conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* The request of c is in: its deadline stops. */
void conns_request_received(struct MHD_Connection *c);
/* The answer of c is out: the deadline of the next request starts. */
void conns_request_done(struct MHD_Connection *c);
/* http_access and http_completed, telling the guard when a request is in
 * and when its answer is out. */
enum MHD_Result conns_access(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls);
void conns_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                     enum MHD_RequestTerminationCode toe);
/* A libmicrohttpd message: 1 when it should be logged (counted, and at
 * most a few per interval, otherwise). */
int conns_mhd_message(const char *msg);

/* ---- TLS priorities (tls.c) ---- */

#define TLS_DEFAULT_PRIORITIES                                                                     \
    "SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"      \
    "+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD"

/* 0 when GnuTLS accepts the priority string; else -1 after a message on
 * stderr that points at the bad part. */
int tls_check_priorities(const char *prio);

/* ---- the management API (api.c) ---- */

/* Reads the bearer token from cfg->api_token_file (its first line; refused
 * when empty, unreadable or accessible by others, a warning when by the
 * group) and starts the API listener on cfg->api_listen. cfg must outlive
 * api_stop. 0, or -1 after a log line. */
int api_start(const struct srv_config *cfg);
/* Stops the listener (requests in flight finish first); no-op when not
 * started. */
void api_stop(void);

/* ---- the HTTP front end (http.c) ---- */

struct server {
    struct srv_config cfg;
    int tls;
    int client_certs;
    char listen_host[136]; /* numeric, with brackets for IPv6 */
    unsigned port;
    struct ratelimit *rl;
    atomic_long in_flight;
};

/* The libmicrohttpd access handler and completion callback; cls is the
 * struct server. */
enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload,
                            size_t *upload_size, void **con_cls);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe);
/* Ends a session that is out of the table: its store record, its log line
 * and metrics; frees it. st may be NULL (nothing recorded). */
void http_close_session(dmsec_store_t *st, struct sess *s, int result, const char *why);

#endif
