/*
 * dmsec/store.h - the store contract of the DM server: devices and their
 * credentials, nonces both ways, notifications sent (with the outstanding
 * resynchronisations), sessions, an audit trail and the DM 1.3 MAC replay
 * cache.
 *
 * One contract, several back ends: "sqlite:PATH" (or a bare PATH) is the
 * embedded default, one file in WAL mode (synchronous NORMAL).
 *
 * Committed versus durable. Every write function returns with its write
 * committed (visible to every handle and process, and crash-safe against a
 * kill of the process) unless the caller opened a transaction with
 * dmsec_store_begin, in which case it commits with dmsec_store_commit. A
 * commit is NOT durable against power loss or an OS crash on return: only
 * dmsec_store_sync makes it so, for every commit of this process made
 * before the call (one fsync serves many callers: group commit). Hence the
 * rule for every caller that persists a fact and then announces it (a
 * nonce or secret in a message, a notification datagram, a secret printed
 * to the operator): write, commit, dmsec_store_sync, and only on success
 * send. No function of this contract syncs by itself, except that
 * dmsec_store_close of the last handle on a file checkpoints it durably.
 *
 * One-time facts are enforced by the database itself (a conditional
 * UPDATE, a unique key): two racing callers, in one process or in several,
 * cannot both consume one resync notification.
 *
 * Secrets: client credentials are kept as H(user:password) pre-hashes; a
 * plaintext is kept only where the protocol needs one (the client's secret
 * for DM 1.3 HMAC-SHA256, whose key it is; the server's own secret towards
 * the device for basic and for HMAC-SHA256). Nothing here logs a secret.
 *
 * Ownership: a dmsec_store_t is owned by its opener and closed with
 * dmsec_store_close (NULL accepted). Structs passed in are read during the
 * call; structs filled are caller-owned. Callbacks get pointers valid for
 * the callback only. A store handle is used by one thread at a time; open
 * one handle per thread (SQLite handles concurrency between them).
 */
#ifndef DMSEC_STORE_H
#define DMSEC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/auth.h"
#include "dmsec/session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dmsec_store dmsec_store_t;

/* Opens (creating when absent, and migrating the schema) the store named by
 * uri: "sqlite:PATH" or a PATH. Errors: DMSEC_ERR_STORE_IO,
 * DMSEC_ERR_STORE_CORRUPT, DMSEC_ERR_STORE_URI. */
int dmsec_store_open(const char *uri, dmsec_store_t **out);
/* dmsec_store_open with flags: DMSEC_STORE_OPEN_EXISTING refuses a missing
 * file (DMSEC_ERR_STORE_NOT_FOUND) and an empty or foreign one
 * (DMSEC_ERR_STORE_CORRUPT) instead of creating a store; READ_ONLY (which
 * implies EXISTING) opens without writing anything, migrating included:
 * a store of an older schema is DMSEC_ERR_STORE_STATE, and every write
 * through the handle fails. For the commands that only read. */
#define DMSEC_STORE_OPEN_EXISTING 0x1u
#define DMSEC_STORE_OPEN_READ_ONLY 0x2u
int dmsec_store_open_flags(const char *uri, unsigned flags, dmsec_store_t **out);
/* Closes a handle; a transaction still open is rolled back. */
void dmsec_store_close(dmsec_store_t *st);

/* Groups the writes of the handle into one transaction, atomic and one
 * commit: begin takes the write lock (DMSEC_ERR_STORE_BUSY after the busy
 * timeout), commit makes every write since begin visible at once, rollback
 * discards them. Nesting is allowed: an inner begin is a savepoint, its
 * commit keeps its writes for the outer commit and its rollback discards
 * only them. Inside a transaction the write functions do not commit on
 * their own. commit or rollback without a begin: DMSEC_ERR_INVALID_ARG. A
 * failed outermost commit has rolled everything back. */
int dmsec_store_begin(dmsec_store_t *st);
int dmsec_store_commit(dmsec_store_t *st);
int dmsec_store_rollback(dmsec_store_t *st);

/* Makes every write committed so far by this process to the store file
 * durable (fsync of the WAL, or of the database without one), waiting for
 * an fsync already under way when that one covers it instead of issuing
 * another. Thread-safe across handles of one file; each thread uses its
 * own handle. DMSEC_ERR_STORE_IO when the fsync failed (then nothing
 * announced may be sent); DMSEC_ERR_INVALID_ARG inside a transaction (its
 * writes are not committed yet). In-memory stores: DMSEC_OK. */
int dmsec_store_sync(dmsec_store_t *st);

/* A unit of writes for dmsec_store_durable. It writes through the handle
 * it is given, which may be another thread's (the job may run on another
 * thread), and nothing else; it must not call dmsec_store_sync. Returns 0
 * to keep its writes, or an error to have them discarded. */
typedef int (*dmsec_store_job_fn)(dmsec_store_t *st, void *ctx);

/* begin, job, commit and sync in one call, shared with other threads:
 * jobs submitted meanwhile on the same file (through any handle of this
 * process) run in one transaction, each in its own savepoint, with one
 * commit and one fsync for the whole group (group commit). On return the
 * job's writes are durable, or discarded: returns the job's own error (only
 * its writes are discarded), or the group's commit or fsync error (then
 * nothing of the job may be announced). st must not be in a transaction
 * (DMSEC_ERR_INVALID_ARG); the caller's thread waits, and its handle may
 * serve as the group's. In-memory stores run the job alone. */
int dmsec_store_durable(dmsec_store_t *st, dmsec_store_job_fn fn, void *ctx);

#define DMSEC_STORE_ID_MAX 128
#define DMSEC_STORE_ADDR_MAX 128

/* One managed device, as the server sees it. */
typedef struct dmsec_device {
    char device_id[DMSEC_STORE_ID_MAX]; /* Source/LocURI, e.g. IMEI:... */
    /* The device towards the server (CLCRED). */
    char client_name[DMSEC_NAME_MAX];
    dmsec_auth_scheme_t client_scheme;
    dmsec_prehash_t client_prehash;
    uint8_t client_secret[DMSEC_SECRET_MAX]; /* only with HMAC-SHA256 */
    size_t client_secret_len;
    uint8_t client_nonce[DMSEC_NONCE_MAX]; /* issued by the server */
    size_t client_nonce_len;
    /* Issued by the server in a challenge to a peer not yet authenticated:
     * accepted beside client_nonce, replacing it only once the peer
     * authenticates; empty when none. */
    uint8_t client_nonce_pending[DMSEC_NONCE_MAX];
    size_t client_nonce_pending_len;
    /* The server towards the device (SRVCRED); unique per device. */
    dmsec_auth_scheme_t server_scheme;
    dmsec_prehash_t server_prehash;          /* of server-id ":" secret */
    uint8_t server_secret[DMSEC_SECRET_MAX]; /* only where needed (see above) */
    size_t server_secret_len;
    uint8_t server_nonce[DMSEC_NONCE_MAX]; /* issued by the device */
    size_t server_nonce_len;
    /* A rotation in flight: sent to the device, not yet confirmed. */
    uint8_t pending_secret[DMSEC_SECRET_MAX];
    size_t pending_secret_len;
    dmsec_integrity_t integrity;
    char notify_addr[DMSEC_STORE_ADDR_MAX]; /* "udp://HOST:PORT", may be empty */
    char srvcred_path[DMSEC_NAME_MAX];      /* e.g. ./DMAcc/dmsec/AppAuth/SRVCRED */
    char cert_subject[DMSEC_NAME_MAX];      /* TLS client certificate name, may be empty */
    int64_t created;
} dmsec_device_t;

/* Adds a device (DMSEC_ERR_STORE_EXISTS when the id is taken). */
int dmsec_store_device_add(dmsec_store_t *st, const dmsec_device_t *dev);
/* Reads one device (DMSEC_ERR_STORE_NOT_FOUND). */
int dmsec_store_device_get(dmsec_store_t *st, const char *device_id, dmsec_device_t *out);
/* Calls fn for every device, ordered by id; fn returning non-zero stops. */
int dmsec_store_device_list(dmsec_store_t *st, int (*fn)(void *ctx, const dmsec_device_t *dev),
                            void *ctx);
int dmsec_store_device_remove(dmsec_store_t *st, const char *device_id);
/* Finds the device whose TLS client certificate names subject. */
int dmsec_store_device_by_cert(dmsec_store_t *st, const char *subject, dmsec_device_t *out);

/* The device lifecycle. A disabled device is answered by
 * dmsec_store_device_get and dmsec_store_device_by_cert (the server's
 * lookups) as an unknown one, DMSEC_ERR_STORE_NOT_FOUND; the listings
 * still show it. get_any reads a device disabled or not (*disabled, may be
 * NULL, tells which); set_disabled switches it (DMSEC_ERR_STORE_NOT_FOUND
 * for an unknown id). update replaces a device's names, schemes,
 * pre-hashes, kept secrets, notify address, SRVCRED path and certificate
 * subject, keeping its nonces, pending rotation and creation time
 * (DMSEC_ERR_STORE_NOT_FOUND, DMSEC_ERR_STORE_EXISTS for a certificate
 * subject another device has). */
int dmsec_store_device_get_any(dmsec_store_t *st, const char *device_id, dmsec_device_t *out,
                               int *disabled);
int dmsec_store_device_set_disabled(dmsec_store_t *st, const char *device_id, int disabled);
int dmsec_store_device_update(dmsec_store_t *st, const dmsec_device_t *dev);

/* The server id the store belongs to, set once. want NULL: reads it into
 * out (cap bytes), DMSEC_ERR_STORE_NOT_FOUND when none was set. want given:
 * sets it when none was set, then reads it; DMSEC_ERR_STORE_STATE when the
 * store belongs to another server id (out gets that one). out may be NULL. */
int dmsec_store_server_id(dmsec_store_t *st, const char *want, char *out, size_t cap);

/* The engine's view of a device: the account the server-role engine uses
 * (out = the server towards the device, in = the device). */
int dmsec_store_device_account(const dmsec_device_t *dev, const char *server_id,
                               dmsec_account_t *out);

/* Persisting engine events, each committed before returning (not durable:
 * dmsec_store_sync before sending the message that announces them). The
 * nonce and secret setters answer DMSEC_ERR_STORE_NOT_FOUND for an unknown
 * device. */
/* DMSEC_EV_NONCE_ISSUED: a nonce issued to an authenticated peer. It
 * becomes the current client nonce and clears the pending one, in one
 * statement. */
int dmsec_store_set_client_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len);
/* DMSEC_EV_NONCE_PENDING: a nonce issued in a challenge to a peer not yet
 * authenticated. It is stored as the pending client nonce (replacing an
 * earlier pending one) and never touches the current nonce. */
int dmsec_store_set_client_nonce_pending(dmsec_store_t *st, const char *device_id,
                                         const uint8_t *nonce, size_t len);
int dmsec_store_set_server_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len); /* DMSEC_EV_NONCE_ACCEPTED */
int dmsec_store_secret_pending(dmsec_store_t *st, const char *device_id, const char *server_id,
                               const uint8_t *secret, size_t len); /* DMSEC_EV_SECRET_PENDING */
/* DMSEC_EV_SECRET_ROTATED: also meets a request for DMSEC_ROTATE_SERVER. */
int dmsec_store_secret_commit(dmsec_store_t *st, const char *device_id, const char *server_id);

/* ---- secret rotation on an operator's request ----
 *
 * An operator asks for the device's secret (CLCRED, DMSEC_ROTATE_CLIENT)
 * or the server's (SRVCRED, DMSEC_ROTATE_SERVER) to be replaced: the
 * request stays until the rotation is confirmed, and the server delivers
 * it in each authenticated session of the device until then. A rotation
 * sent is pending: the server's new secret in pending_secret (above), the
 * device's new credential beside its current one (pre-hashes; the secret
 * itself only for HMAC-SHA256). Committing a side clears its pending
 * value and its request. */
#define DMSEC_ROTATE_CLIENT 0x1u
#define DMSEC_ROTATE_SERVER 0x2u

typedef struct dmsec_rotation {
    unsigned requested; /* DMSEC_ROTATE_* asked for and not confirmed yet */
    unsigned pending;   /* DMSEC_ROTATE_* sent and not confirmed yet */
    /* The device's pending credential (pending & DMSEC_ROTATE_CLIENT). */
    dmsec_prehash_t client_prehash;
    uint8_t client_secret[DMSEC_SECRET_MAX]; /* only with HMAC-SHA256 */
    size_t client_secret_len;
} dmsec_rotation_t;

/* Adds sides (DMSEC_ROTATE_* bits) to the device's request, disabled or
 * not (DMSEC_ERR_STORE_NOT_FOUND). The caller audits who asked. */
int dmsec_store_rotation_request(dmsec_store_t *st, const char *device_id, unsigned sides);
/* The device's requests and pending rotations, disabled or not; wipe
 * *out with dmsec_store_rotation_wipe. */
int dmsec_store_rotation_get(dmsec_store_t *st, const char *device_id, dmsec_rotation_t *out);
void dmsec_store_rotation_wipe(dmsec_rotation_t *r);
/* The device's pending credential into the engine's account (in_pending
 * and its pre-hashes and secret); nothing when none is pending. The
 * server's own pending secret comes with dmsec_store_device_account. */
void dmsec_store_rotation_account(const dmsec_rotation_t *r, dmsec_account_t *acc);
/* DMSEC_EV_CLIENT_SECRET_PENDING: the device's new secret, kept as its
 * pending credential: the pre-hashes of client_name ":" secret, and the
 * secret for HMAC-SHA256 (replacing an earlier pending one). */
int dmsec_store_client_secret_pending(dmsec_store_t *st, const char *device_id,
                                      const uint8_t *secret, size_t len);
/* DMSEC_EV_CLIENT_SECRET_ROTATED: the pending credential becomes the
 * device's, and its request is met. DMSEC_ERR_STORE_NOT_FOUND when none
 * is pending (or no such device). */
int dmsec_store_client_secret_commit(dmsec_store_t *st, const char *device_id);

/* ---- notifications ---- */

typedef struct dmsec_notification {
    char device_id[DMSEC_STORE_ID_MAX];
    uint16_t session_id;
    int default_nonce; /* sent on the default nonce: an outstanding resync */
    int64_t sent;
    int64_t expires;
    int opened;   /* the device opened the session */
    int consumed; /* the resync was used (nonce-0 credentials accepted) */
    int attempts;
} dmsec_notification_t;

/* Records a notification sent (or re-sent: same device and session id).
 * The caller commits and syncs it before sending the datagram. */
int dmsec_store_notification_put(dmsec_store_t *st, const dmsec_notification_t *n);
/* The pending (not opened, not expired) notification of a device, to reuse
 * its session id on a re-trigger. DMSEC_ERR_STORE_NOT_FOUND when none. */
int dmsec_store_notification_pending(dmsec_store_t *st, const char *device_id, int64_t now,
                                     dmsec_notification_t *out);
/* A new session id for a device: unused by its recorded notifications. */
int dmsec_store_new_session_id(dmsec_store_t *st, const char *device_id, const uint8_t rnd[2],
                               uint16_t *out);
/* Marks the notification of (device, session id) opened. */
int dmsec_store_notification_opened(dmsec_store_t *st, const char *device_id, uint16_t session_id);
/* Notifications sent before `before`, not opened and not expired: the ones
 * the resync policy re-sends on the default nonce. */
int dmsec_store_notification_overdue(dmsec_store_t *st, int64_t before, int64_t now,
                                     int (*fn)(void *ctx, const dmsec_notification_t *n),
                                     void *ctx);
int dmsec_store_notification_list(dmsec_store_t *st, const char *device_id,
                                  int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx);

/* Resynchronisation (Solution 1): 1 when (device, session id) has an
 * outstanding default-nonce notification, unexpired and not consumed, else
 * 0. consume marks it consumed with one conditional UPDATE and returns 1
 * only to the caller whose UPDATE changed the row. session_id is the
 * SessionID text (uppercase hex). */
int dmsec_store_resync_outstanding(dmsec_store_t *st, const char *device_id, const char *session_id,
                                   int64_t now);
int dmsec_store_resync_consume(dmsec_store_t *st, const char *device_id, const char *session_id,
                               int64_t now);

/* ---- sessions, audit, replay cache ---- */

typedef struct dmsec_session_rec {
    int64_t id;
    char device_id[DMSEC_STORE_ID_MAX];
    char session_id[64];
    char peer[DMSEC_STORE_ADDR_MAX];
    int64_t started;
    int64_t ended; /* 0 while open */
    int result;    /* 0 or the DMSEC_ERR_* it ended with */
    int messages;
} dmsec_session_rec_t;

int dmsec_store_session_begin(dmsec_store_t *st, const char *device_id, const char *session_id,
                              const char *peer, int64_t now, int64_t *rec_id);
int dmsec_store_session_end(dmsec_store_t *st, int64_t rec_id, int result, int messages,
                            int64_t now);
/* Sessions of one device (NULL: all), most recent first. */
int dmsec_store_session_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                    size_t limit,
                                    int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx);
/* Most recent first, at most limit (0: all). */
int dmsec_store_session_list(dmsec_store_t *st, size_t limit,
                             int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx);

typedef struct dmsec_audit_rec {
    int64_t id;
    int64_t at;
    char device_id[DMSEC_STORE_ID_MAX];
    char event[48];   /* "auth_failed", "resync", "replay_refused", ... */
    char detail[256]; /* never a secret */
} dmsec_audit_rec_t;

int dmsec_store_audit(dmsec_store_t *st, int64_t now, const char *device_id, const char *event,
                      const char *detail);
int dmsec_store_audit_list(dmsec_store_t *st, size_t limit,
                           int (*fn)(void *ctx, const dmsec_audit_rec_t *r), void *ctx);
/* The audit rows of one device (NULL: all), most recent first. */
int dmsec_store_audit_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                  size_t limit, int (*fn)(void *ctx, const dmsec_audit_rec_t *r),
                                  void *ctx);

/* DM 1.3 replay cache: 1 when mac was recorded before, else records it
 * (with its timestamp, pruned after `keep` seconds) and returns 0. */
int dmsec_store_mac_seen(dmsec_store_t *st, const char *mac, int64_t timestamp, int64_t now,
                         int64_t keep);

/* ---- management: the command queue, results, device events, inventory ----
 *
 * Per device, an ordered and durable queue of management commands. Each
 * command moves queued -> sent (in a session) -> done | failed, or to
 * expired / cancelled. Delivered at least once, recorded exactly once: a
 * command sent in a session that ended without its Status is sent again in
 * the device's next session (dmsec_store_cmd_pending lists it again), and
 * dmsec_store_cmd_done records an outcome only for a command still "sent"
 * (a second Status for it changes nothing). An Exec answered 202 is
 * "accepted": its outcome comes later by Generic Alert with its
 * correlator (dmsec_store_cmd_outcome).
 *
 * Atomic and Sequence: a command of that kind is a group; its members are
 * queued with parent_id set to the group's id, in the same transaction,
 * and are sent inside it. The group's own state follows its Status; each
 * member keeps its own.
 *
 * Bounds: DMSEC_STORE_CMD_MAX_PENDING commands not yet finished per device
 * (DMSEC_ERR_STORE_FULL past it); a value (data) of at most
 * DMSEC_STORE_VALUE_MAX bytes (DMSEC_ERR_TOO_LARGE); URIs of at most
 * DMSEC_STORE_URI_MAX - 1 bytes, and the other strings their field's size
 * less one (DMSEC_ERR_INVALID_ARG). */

#define DMSEC_STORE_URI_MAX 1024
#define DMSEC_STORE_VALUE_MAX 4194304u /* 4 MiB */
#define DMSEC_STORE_CMD_MAX_PENDING 1000

typedef enum dmsec_cmd_state {
    DMSEC_CMDST_QUEUED = 0,
    DMSEC_CMDST_SENT,      /* sent in session_id, no Status yet */
    DMSEC_CMDST_ACCEPTED,  /* Exec answered 202: the outcome comes by Generic Alert */
    DMSEC_CMDST_DONE,      /* a 2xx Status (and the Results of a Get) */
    DMSEC_CMDST_FAILED,    /* any other Status, or a failed outcome */
    DMSEC_CMDST_EXPIRED,   /* its expiry passed before it was sent */
    DMSEC_CMDST_CANCELLED, /* cancelled by an operator before it was answered */
} dmsec_cmd_state_t;

/* "queued", "sent", "accepted", "done", "failed", "expired", "cancelled";
 * NULL for another value. parse: 0 or DMSEC_ERR_INVALID_ARG. */
const char *dmsec_cmd_state_name(dmsec_cmd_state_t st);
int dmsec_cmd_state_parse(const char *name, dmsec_cmd_state_t *out);

typedef struct dmsec_store_cmd {
    int64_t id;        /* given by dmsec_store_cmd_queue */
    int64_t parent_id; /* 0, or the Atomic / Sequence this command belongs to */
    char device_id[DMSEC_STORE_ID_MAX];
    dmsec_cmd_type_t kind; /* GET REPLACE ADD DELETE EXEC COPY ATOMIC SEQUENCE */
    char target[DMSEC_STORE_URI_MAX];
    char source[DMSEC_STORE_URI_MAX]; /* Copy only, else empty */
    /* The value (Replace, Add, Exec data, Copy none). Owned by the struct:
     * malloc'd, released by dmsec_store_cmd_clear. has_data 0: no Data. */
    uint8_t *data;
    size_t data_len;
    int has_data;
    char format[16];     /* Meta Format: chr int bool b64 bin node xml ..., may be empty */
    char mime[128];      /* Meta Type, may be empty */
    char correlator[64]; /* Exec, may be empty */
    int64_t expires;     /* 0: never */
    char queued_by[64];  /* "cli:<user>", "api:<token name>", ... */
    int64_t queued_at;
    dmsec_cmd_state_t state;
    char session_id[64]; /* of the last sending */
    int64_t sent_at;
    int attempts; /* times sent */
    int status;   /* the device's Status code, 0 until answered */
    /* Results of a Get (owned like data), its Meta Format and Type. */
    uint8_t *result;
    size_t result_len;
    int has_result;
    char result_format[16];
    char result_mime[128];
    int outcome; /* Exec 202: the Generic Alert's result code, 0 until it came */
    int64_t done_at;
} dmsec_store_cmd_t;

/* Releases the buffers of a command (data, result) and zeroes it. */
void dmsec_store_cmd_clear(dmsec_store_cmd_t *c);

/* Queues cmd (device_id, kind, target, source, data, format, mime,
 * correlator, expires, queued_by, parent_id are read; the rest ignored)
 * for a known device (DMSEC_ERR_STORE_NOT_FOUND otherwise) at the end of
 * its queue, state queued, queued_at = now; its id in *id. Bounds above. */
int dmsec_store_cmd_queue(dmsec_store_t *st, const dmsec_store_cmd_t *cmd, int64_t now,
                          int64_t *id);

/* The commands to send to a device now, in queue order, each group
 * followed by its members: every command queued, and every command "sent"
 * in a session other than session_id (its session ended without its
 * Status: it goes again). Commands whose expiry has passed (and that were
 * never sent) become expired first. fn gets each; returning non-zero
 * stops. The command passed is borrowed for the call. */
int dmsec_store_cmd_pending(dmsec_store_t *st, const char *device_id, const char *session_id,
                            int64_t now, int (*fn)(void *ctx, const dmsec_store_cmd_t *c),
                            void *ctx);

/* Marks a command sent in session_id (attempts + 1). A command no longer
 * queued or sent (cancelled meanwhile): DMSEC_ERR_STORE_STATE. */
int dmsec_store_cmd_sent(dmsec_store_t *st, int64_t id, const char *session_id, int64_t now);

/* Records the device's answer to a sent command: status, and for a Get its
 * result (may be NULL). 2xx -> done (202 on an Exec -> accepted), other ->
 * failed. 1 when recorded, 0 when the command was not "sent" (answered
 * already, cancelled: nothing changes), or an error. */
int dmsec_store_cmd_done(dmsec_store_t *st, int64_t id, int status, const uint8_t *result,
                         size_t result_len, const char *result_format, const char *result_mime,
                         int64_t now);

/* The outcome of an accepted Exec, reported by Generic Alert with its
 * correlator: the device's command with that correlator in state accepted
 * (or sent) gets outcome = code and becomes done (200-299) or failed. 1
 * when a command was completed, 0 when none matched. */
int dmsec_store_cmd_outcome(dmsec_store_t *st, const char *device_id, const char *correlator,
                            int code, int64_t now);

/* One command (DMSEC_ERR_STORE_NOT_FOUND); the caller clears *out. */
int dmsec_store_cmd_get(dmsec_store_t *st, int64_t id, dmsec_store_cmd_t *out);

/* Cancels a command not yet answered (queued, sent or accepted), and the
 * members of a group with it. DMSEC_ERR_STORE_STATE when it is finished. */
int dmsec_store_cmd_cancel(dmsec_store_t *st, int64_t id, int64_t now);

/* A listing: device_id may be NULL (all devices); states is a bit set of
 * (1u << dmsec_cmd_state_t), 0 = all; newest first when newest_first, else
 * queue order; after skips that many rows (paging); limit 0 = no limit. */
typedef struct dmsec_cmd_filter {
    const char *device_id;
    unsigned states;
    int newest_first;
    size_t offset;
    size_t limit;
} dmsec_cmd_filter_t;
int dmsec_store_cmd_list(dmsec_store_t *st, const dmsec_cmd_filter_t *f,
                         int (*fn)(void *ctx, const dmsec_store_cmd_t *c), void *ctx);

/* The command kinds an operator names: "get" "replace" "add" "delete"
 * "exec" "copy" "atomic" "sequence" (parse: DMSEC_ERR_INVALID_ARG
 * otherwise); name: NULL for a kind that is none of them. */
int dmsec_cmd_kind_parse(const char *name, dmsec_cmd_type_t *out);
const char *dmsec_cmd_kind_name(dmsec_cmd_type_t kind);

/* Firmware update (OMA FUMO 1.0) of a device, as one Sequence in its
 * queue: Replace <node>/Ext/dmsec/SHA256 (chr, lowercase hex), Replace
 * <node>/Ext/dmsec/Size (int, when size > 0), Replace
 * <node>/DownloadAndUpdate/PkgURL (chr), Exec <node>/DownloadAndUpdate with
 * correlator "fumo-<id of the Sequence>". node NULL = "./FUMO/dmsec". The
 * device answers the Exec 202 and reports the outcome later by Generic
 * Alert with that correlator (dmsec_store_cmd_outcome). *exec_id gets the
 * Exec's id (its state and outcome are the update's). url must be http://
 * or https://, sha256 64 hex digits: DMSEC_ERR_INVALID_ARG otherwise. */
int dmsec_store_fumo_queue(dmsec_store_t *st, const char *device_id, const char *node,
                           const char *url, const char *sha256, int64_t size, const char *queued_by,
                           int64_t expires, int64_t now, int64_t *exec_id);

/* Events the device reported (Generic Alert 1226, client event 1224). */
typedef struct dmsec_device_event {
    int64_t id;
    char device_id[DMSEC_STORE_ID_MAX];
    int64_t at;
    int alert;       /* the Alert code: 1226, 1224 */
    char type[128];  /* Meta Type, e.g. org.openmobilealliance.dm.firmwareupdate.download */
    char format[16]; /* Meta Format */
    char source[DMSEC_STORE_URI_MAX]; /* Source LocURI (the management object) */
    char correlator[64];
    char data[1024]; /* the Data as text (truncated to fit) */
    char session_id[64];
} dmsec_device_event_t;

int dmsec_store_event_add(dmsec_store_t *st, const dmsec_device_event_t *e, int64_t *id);
/* Newest first; device_id NULL = all; limit 0 = all. */
int dmsec_store_event_list(dmsec_store_t *st, const char *device_id, size_t offset, size_t limit,
                           int (*fn)(void *ctx, const dmsec_device_event_t *e), void *ctx);

/* Inventory: the device's DevInfo and DevDetail values by URI
 * ("./DevInfo/Man", "./DevDetail/FwV", ...), the latest value of each. */
int dmsec_store_inventory_set(dmsec_store_t *st, const char *device_id, const char *uri,
                              const char *value, int64_t now);
int dmsec_store_inventory_list(dmsec_store_t *st, const char *device_id,
                               int (*fn)(void *ctx, const char *uri, const char *value,
                                         int64_t updated),
                               void *ctx);
/* A device was seen (an authenticated session): first_seen set once,
 * last_seen every time. */
int dmsec_store_device_seen(dmsec_store_t *st, const char *device_id, int64_t now);
/* Its first and last seen (0 when never). */
int dmsec_store_device_seen_get(dmsec_store_t *st, const char *device_id, int64_t *first,
                                int64_t *last);

/* Devices by id after `after` (NULL or "" from the start), whose id starts
 * with prefix (NULL = any), at most limit (0 = all): for paging listings. */
int dmsec_store_device_page(dmsec_store_t *st, const char *after, const char *prefix, size_t limit,
                            int (*fn)(void *ctx, const dmsec_device_t *dev), void *ctx);

/* ---- figures for metrics (stats.c): cheap reads at scrape time ---- */

typedef struct dmsec_store_stats {
    uint64_t devices;               /* registered devices */
    uint64_t notifications_pending; /* sent, not opened, not expired at now */
    uint64_t commands_queued;       /* management commands queued, not sent yet */
} dmsec_store_stats_t;

/* The gauges above, as of now. */
int dmsec_store_stats(dmsec_store_t *st, int64_t now, dmsec_store_stats_t *out);

/* Adds to counts[i] the audit rows with an id above *after_id whose event
 * is events[i] (n of them), and moves *after_id to the newest row read: a
 * caller keeping *after_id and counts reads each row once (counters of what
 * happened, as every writer of the store recorded it). At most 100000 rows
 * are read per call; the next call goes on. */
int dmsec_store_audit_tally(dmsec_store_t *st, int64_t *after_id, const char *const *events,
                            size_t n, uint64_t *counts);

#ifdef __cplusplus
}
#endif
#endif
