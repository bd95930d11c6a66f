/*
 * dmsec/session.h - the sans-I/O OMA DM session engine, one engine for
 * both roles (DM server and DM client).
 *
 * The engine is fed each received message (body bytes, content type, the
 * x-syncml-hmac header, the current time) and answers with the next message
 * to send (body, content type, header) plus events that change stored
 * security state. It never opens a socket, reads a clock or a file, or
 * picks randomness: time comes with each call, randomness through the rng
 * of the config, account data and the DM tree through callbacks.
 *
 * Persistence before sending: after each call, the caller takes the events
 * (dmsec_session_event) and persists them (a nonce issued, a nonce
 * accepted, a secret to rotate) BEFORE sending the message out.
 *
 * Authentication rules (digest, sections 3, 4 and 6):
 * - each side verifies the other's Cred from a stored pre-hash, or the
 *   x-syncml-hmac of every message in HMAC mode;
 * - a Cred is accepted only on a nonce its verifier issued: the stored
 *   one, the pending one (see below) or the one of this session's
 *   challenge; never on the default nonce unless an interop option says
 *   so (resync_mode); a nonce authenticates one session at most, as every
 *   success issues the next one;
 * - a failed credential gets one more challenge (401 + Chal with a fresh
 *   NextNonce), a second failure ends the session; missing credentials get
 *   407 + Chal; a challenge answered with another scheme ends the session;
 *   a 401 or 407 on the SyncHdr also gives each command of that message
 *   the same status (not executed), for clients that resend only those;
 * - input from a peer not yet authenticated changes no stored state: a
 *   nonce issued in a challenge to it is DMSEC_EV_NONCE_PENDING (kept
 *   beside the stored nonce, which stays valid), and a NextNonce it gives
 *   is used for the next Cred but not stored;
 * - without a transport that authenticates the session (transport_secure
 *   0) and without HMAC, our Cred goes in every message we send, on the
 *   session's nonce (DM Security 5.4); over TLS until the peer accepts it;
 *   a server withholds its Cred from a client that has not authenticated
 *   (it would hand a stranger the Cred the device takes from its server).
 *   A Cred the peer sends is always checked, and a wrong one in an
 *   authenticated session ends it; a message without one is served inside
 *   an authenticated session (deployed clients send Cred until accepted)
 *   unless strict_cred asks for one in every message;
 * - nonce resynchronisation (DMSEC_RESYNC_CHALLENGE, the default): a Cred
 *   on the default nonce is answered like a failed one, 401 + Chal with a
 *   fresh nonce, and the peer authenticates again on it (seed 003
 *   Solution 2); both seed 001 cases recover with one extra round trip
 *   each way. DMSEC_RESYNC_ACCEPT_DEFAULT is the interop option: a server
 *   takes a nonce-0 Cred when its callback consumes an outstanding resync
 *   notification for (device, session id) (Solution 1), a client after a
 *   package #0 verified only with the default nonce, in that session;
 * - server: an unknown device id is answered exactly as a known device
 *   whose credential failed (a challenge whose nonce leads nowhere), with
 *   DMSEC_EV_AUTH_FAILED carrying DMSEC_ERR_SESSION_UNKNOWN_PEER and no
 *   event that stores anything.
 *
 * Management (server): commands queued with dmsec_session_queue_cmd (or
 * through the pending_cmds callback) go out in order once the device is
 * authenticated, in messages no larger than min(the device's MaxMsgSize,
 * ours), a package over several messages (Final on the last, Alert 1222
 * asking for the next) and values larger than a message as Large Objects
 * (both ways); each answer comes back as DMSEC_EV_CMD_DONE with the
 * caller's tag. A server package without a command ends the session (the
 * client does not answer it); when the server still needs the device's
 * answer (its verdict on our Cred over a transport that does not
 * authenticate the session, after a resync) it asks with a Get of the
 * DevInfo/DevDetail leaves. Client: commands run through tree_exec (Atomic
 * through tree_atomic), Results and Generic Alerts are sized the same way.
 *
 * Ownership: the engine copies the config strings and the account it is
 * given; messages fed in are borrowed for the call; the output body is
 * owned by the engine until the next call or dmsec_session_free. Decoded
 * messages handed to callbacks are borrowed for the callback only.
 */
#ifndef DMSEC_SESSION_H
#define DMSEC_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dmsec/auth.h"
#include "dmsec/codec.h"
#include "dmsec/random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dmsec_session dmsec_session_t;

typedef enum dmsec_role { DMSEC_ROLE_CLIENT = 0, DMSEC_ROLE_SERVER = 1 } dmsec_role_t;

/* How messages are protected on top of (or instead of) Cred. */
typedef enum dmsec_integrity {
    DMSEC_INTEGRITY_NONE = 0,
    DMSEC_INTEGRITY_HMAC_MD5 = 1,    /* DM 1.2 syncml:auth-MAC */
    DMSEC_INTEGRITY_HMAC_SHA256 = 2, /* DM 1.3 syncml:auth-hmac-sha256 */
} dmsec_integrity_t;

#define DMSEC_NAME_MAX 128
#define DMSEC_SECRET_MAX 128
#define DMSEC_NONCE_MAX 64

/* One side's view of one relationship (a DMAcc): how we authenticate to
 * the peer ("out") and how the peer authenticates to us ("in"). */
typedef struct dmsec_account {
    /* Our credential towards the peer. */
    dmsec_auth_scheme_t out_scheme;
    char out_name[DMSEC_NAME_MAX];        /* AAuthName: the user id in our Cred / MAC */
    uint8_t out_secret[DMSEC_SECRET_MAX]; /* plaintext: needed for basic and HMAC-SHA256 */
    size_t out_secret_len;
    dmsec_prehash_t out_prehash;        /* enough for the digest schemes and HMAC-MD5 */
    uint8_t out_nonce[DMSEC_NONCE_MAX]; /* the nonce the peer issued us */
    size_t out_nonce_len;
    /* The peer's credential towards us. */
    dmsec_auth_scheme_t in_scheme;
    char in_name[DMSEC_NAME_MAX];
    dmsec_prehash_t in_prehash;
    uint8_t in_secret[DMSEC_SECRET_MAX]; /* only for HMAC-SHA256, whose key is the secret */
    size_t in_secret_len;
    uint8_t in_nonce[DMSEC_NONCE_MAX]; /* the nonce we issued the peer */
    size_t in_nonce_len;
    /* A nonce we issued in a challenge to a peer that had not (yet)
     * authenticated: accepted beside in_nonce, never overwriting it; it
     * becomes in_nonce only once the peer authenticates. */
    uint8_t in_nonce_pending[DMSEC_NONCE_MAX];
    size_t in_nonce_pending_len;
    dmsec_integrity_t integrity;
    /* Node of the SRVCRED AppAuth in the device's tree, for secret
     * rotation by the server, e.g. "./DMAcc/dmsec/AppAuth/SRVCRED". */
    char srvcred_path[DMSEC_NAME_MAX];
    /* Node of the CLCRED AppAuth (the device's own credential), for the
     * rotation of the device's secret by the server, e.g.
     * "./DMAcc/dmsec/AppAuth/CLCRED". Empty: no such rotation. */
    char clcred_path[DMSEC_NAME_MAX];
    /* Server: rotations sent to the device and not confirmed (its 200 may
     * have been lost after it applied the Replace). The device's pending
     * credential (in_pending set): its pre-hashes, and for HMAC-SHA256 its
     * secret; a Cred or MAC that fails on the current credential is
     * checked on it before the peer authenticated, and on success it is
     * the device's credential (DMSEC_EV_CLIENT_SECRET_ROTATED, status 0).
     * Our own pending secret (out_secret_pending_len > 0): when the device
     * refuses our Cred or MAC, we answer once more on it, and its
     * acceptance commits it (DMSEC_EV_SECRET_ROTATED, status 0). */
    int in_pending;
    dmsec_prehash_t in_prehash_pending;
    uint8_t in_secret_pending[DMSEC_SECRET_MAX];
    size_t in_secret_pending_len;
    uint8_t out_secret_pending[DMSEC_SECRET_MAX];
    size_t out_secret_pending_len;
} dmsec_account_t;

/* Wipes every secret of an account. */
void dmsec_account_wipe(dmsec_account_t *acc);

/* A command result returned by the client's tree callback. */
typedef struct dmsec_tree_result {
    int status; /* SyncML status for the command's Status */
    char *data; /* Get: the value (malloc'd; the engine frees it) */
    size_t data_len;
    char format[32]; /* Get: Meta Format ("chr", "node", "b64", ...) */
    char type[64];   /* Get: Meta Type, may be empty */
} dmsec_tree_result_t;

/* What the engine asks of its caller. Every callback may be NULL where the
 * role does not need it. Return 0 or a negative DMSEC_ERR_*. */
typedef struct dmsec_session_cb {
    /* Both roles: the account of peer_id (server: the device id from
     * Source/LocURI; client: the server id of the config).
     * DMSEC_ERR_SESSION_UNKNOWN_PEER when there is none. */
    int (*get_account)(void *ctx, const char *peer_id, dmsec_account_t *out);
    /* Server: 1 when (device, session id) has an outstanding notification
     * sent on the default nonce, else 0 (read only). */
    int (*resync_outstanding)(void *ctx, const char *device_id, const char *session_id);
    /* Server: atomically consumes that outstanding notification: 1 when
     * this call consumed it, 0 when there was none or it was already
     * consumed (the once-only rule of Solution 1). */
    int (*resync_consume)(void *ctx, const char *device_id, const char *session_id);
    /* DM 1.3 HMAC: 1 when this mac was seen before within the window (the
     * caller remembers it otherwise), 0 when new. NULL: the engine only
     * remembers the macs of its own session. */
    int (*mac_seen)(void *ctx, const char *mac, time_t timestamp);
    /* Server: 1 when a credential of this peer on this nonce already
     * authenticated a session (two sessions racing on one nonce, the
     * second a replay), else records it and returns 0. Makes "a nonce
     * authenticates one session at most" hold across concurrent sessions;
     * NULL: the engine's own rules only (the nonce is replaced once the
     * first session's events are stored). */
    int (*nonce_used)(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len);
    /* Client: executes one server command on the DM tree, as server_id,
     * for one Item (cmd->type tells which command). */
    int (*tree_exec)(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res);
    /* Client: Atomic on the tree. DMSEC_ATOMIC_BEGIN before its members
     * run, then _COMMIT when all succeeded or _ROLLBACK to undo them (the
     * members that had succeeded then answer 216, the Atomic 507; 516 when
     * the rollback failed). NULL: Atomic is refused with 406. */
    int (*tree_atomic)(void *ctx, int op);
    /* Server: every Status, Results, Alert or Replace the authenticated
     * client sends (for reporting and inventory). */
    void (*on_client_cmd)(void *ctx, const dmsec_cmd_t *cmd);
    /* Server: the device is authenticated and every command queued in the
     * engine went out: queue the device's next commands now
     * (dmsec_session_queue_cmd, dmsec_session_rotate_secret), or none.
     * Called at most once per message we build; the commands it queues
     * go in that message. A command already sent in this session must not
     * be queued again. */
    int (*pending_cmds)(void *ctx, dmsec_session_t *s);
} dmsec_session_cb_t;

enum { DMSEC_ATOMIC_BEGIN = 0, DMSEC_ATOMIC_COMMIT = 1, DMSEC_ATOMIC_ROLLBACK = 2 };

/* How a Cred built on the default (resynchronisation) nonce is taken. */
typedef enum dmsec_resync_mode {
    /* Answered with 401 + Chal and a fresh nonce (seed 003 Solution 2,
     * DM-SEC-S-008-M): no credential recorded earlier authenticates. */
    DMSEC_RESYNC_CHALLENGE = 0,
    /* Interop (seed 003 Solution 1): accepted by a server that consumes an
     * outstanding nonce-0 notification for (device, session id), and by a
     * client whose package #0 verified only with the default nonce. Allows
     * the replay of a recorded nonce-0 package #1 into the next outstanding
     * nonce-0 notification to that device (a nonce-0 Cred is bound to no
     * session): the attacker completes the resync and sets the device's
     * nonces, or receives a rotated secret. */
    DMSEC_RESYNC_ACCEPT_DEFAULT = 1,
} dmsec_resync_mode_t;

#define DMSEC_RESP_URI_MAX 1024

typedef struct dmsec_session_config {
    dmsec_role_t role;
    dmsec_codec_t codec;         /* the client's encoding; the server answers in the request's */
    const char *server_id;       /* both roles */
    const char *server_uri;      /* client: Target LocURI; server: Source LocURI */
    const char *device_id;       /* client: Source LocURI */
    const char *session_id;      /* client: SessionID text (from package #0), NULL for a new one */
    int server_initiated;        /* client: Alert 1200 instead of 1201 */
    int resync;                  /* client: package #0 verified only with the default nonce */
    const char *resp_uri;        /* server: RespURI for the rest of the session, or NULL */
    int transport_authenticated; /* server: the client proved itself in TLS (a client
                                    certificate); no Cred is then required of it */
    int transport_secure;        /* both: the transport authenticates the session (TLS):
                                    our Cred goes out until accepted, not in every message */
    int strict_cred;             /* a Cred in every message of the peer where the transport
                                    does not authenticate the session (strict 5.4) */
    int require_protected;       /* server: refuse a session that has neither a secure
                                    transport nor HMAC (DMSEC_ERR_SESSION_INSECURE) */
    dmsec_resync_mode_t resync_mode;
    int resync_session_id_nonce;    /* interop (seed 002): the resynchronisation nonce is the
                                       SessionID text, not four zero bytes (with
                                       DMSEC_RESYNC_ACCEPT_DEFAULT; a recording replays when
                                       the 16-bit session id comes round again) */
    unsigned hmac_window;           /* DM 1.3 timestamps: seconds either way, 0 = 300 */
    unsigned max_messages;          /* per session, 0 = 64 */
    size_t max_msg_size;            /* our MaxMsgSize (announced in our SyncHdr Meta): the
                                       largest message we take; 0 = 65536 */
    size_t max_obj_size;            /* our MaxObjSize: the largest Large Object we take;
                                       0 = 4 MiB */
    const char *const *answer_gets; /* server: the URIs of the Get it sends when it needs the
                                    device's answer and has no command queued (its verdict on
                                    our Cred and a new nonce, after a resync); NULL = the
                                    DevInfo and DevDetail leaves (dmsec_session_inventory_uris) */
    const char *const *devinfo;     /* client: pairs of (./DevInfo/... URI, value), NULL-ended */
    dmsec_rng_t rng;                /* .fill NULL = dmsec_rng_os */
    dmsec_session_cb_t cb;
    void *cb_ctx;
} dmsec_session_config_t;

typedef enum dmsec_event_type {
    /* We issued a nonce for the authenticated peer's next credential
     * (in_nonce): store it as the peer's nonce, clearing the pending one,
     * before sending. */
    DMSEC_EV_NONCE_ISSUED = 1,
    /* The authenticated peer gave us a nonce for our next credential
     * (out_nonce): store it. */
    DMSEC_EV_NONCE_ACCEPTED,
    /* The peer's credentials (or MAC) verified. */
    DMSEC_EV_PEER_AUTHENTICATED,
    /* The peer accepted our credentials. */
    DMSEC_EV_SELF_AUTHENTICATED,
    /* A credential or MAC of the peer failed (err tells why). */
    DMSEC_EV_AUTH_FAILED,
    /* A resynchronisation completed. Server: the device authenticated in
     * the session of an outstanding nonce-0 notification, now consumed
     * (or, under the interop option, on the default nonce through it).
     * Client: the server authenticated in a session whose package #0
     * verified only on the default nonce. */
    DMSEC_EV_RESYNC,
    /* Server: a new server secret is being sent (Replace AAuthSecret):
     * keep it as pending, beside the current one. */
    DMSEC_EV_SECRET_PENDING,
    /* Server: the client confirmed the Replace (status: its Status), or
     * accepted our Cred or MAC built on the pending secret after refusing
     * the current one (status 0: its 200 was lost): the pending secret is
     * the secret now. Client: the server replaced our SRVCRED secret. */
    DMSEC_EV_SECRET_ROTATED,
    /* The session is over; err is 0 for success or why it ended. */
    DMSEC_EV_SESSION_ENDED,
    /* We issued a nonce in a challenge to a peer not yet authenticated
     * (in_nonce_pending): store it beside the peer's nonce, never over it,
     * before sending. */
    DMSEC_EV_NONCE_PENDING,
    /* Server: a queued command (tag) goes out in this message: record it
     * as sent in this session before sending. */
    DMSEC_EV_CMD_SENT,
    /* Server: the device answered a queued command (tag): status, and for
     * a Get its Results (data, format, mime, uri; a Large Object whole).
     * Client: the server answered an alert it queued (tag, status). */
    DMSEC_EV_CMD_DONE,
    /* Server: the authenticated device sent an Alert (Generic Alert 1226,
     * client event 1224): status = the alert code, text = Meta Type,
     * format, uri = Source LocURI, correlator, data; one event per Item. */
    DMSEC_EV_ALERT,
    /* Server: an inventory value of the authenticated device: uri under
     * ./DevInfo or ./DevDetail, data its value (from package #1's DevInfo
     * or the Results of a Get). */
    DMSEC_EV_INVENTORY,
    /* Server: a new secret of the device (bytes) is being sent (Replace of
     * its CLCRED AAuthSecret): keep it as the device's pending credential,
     * beside the current one, before sending. */
    DMSEC_EV_CLIENT_SECRET_PENDING,
    /* Server: the device's pending credential is its credential now:
     * status is the device's Status on the Replace, or 0 when the device
     * authenticated on the pending credential (its Status was lost:
     * confirmed by use). The rest of this session is still checked on the
     * old credential, which the device keeps using until its next session.
     * Client: the server replaced our CLCRED secret with bytes, for our next
     * session (this one goes on with the old secret). */
    DMSEC_EV_CLIENT_SECRET_ROTATED,
} dmsec_event_type_t;

/* The pointers of an event are borrowed from the engine until its next
 * call (dmsec_session_feed, _start, _free); NULL or empty when unused. */
typedef struct dmsec_event {
    dmsec_event_type_t type;
    int err;
    dmsec_auth_scheme_t scheme;
    uint8_t bytes[DMSEC_SECRET_MAX]; /* the nonce or secret */
    size_t len;
    int64_t tag; /* CMD_SENT, CMD_DONE: the caller's tag of the command */
    int status;  /* CMD_DONE: the Status code; ALERT: the alert code */
    const char *uri;
    const char *format;
    const char *mime;
    const char *text; /* ALERT: Meta Type */
    const char *correlator;
    const uint8_t *data;
    size_t data_len;
    int has_data;
} dmsec_event_t;

/* The message to send. body is owned by the engine (valid until the next
 * call); has_message 0 means nothing is to be sent. */
typedef struct dmsec_session_out {
    int has_message;
    const uint8_t *body;
    size_t len;
    const char *content_type;
    char hmac_header[512]; /* empty when none */
} dmsec_session_out_t;

/* A new engine (NULL on a bad config or no memory). */
dmsec_session_t *dmsec_session_new(const dmsec_session_config_t *cfg);
/* Frees the engine and wipes its secrets. NULL is accepted. */
void dmsec_session_free(dmsec_session_t *s);

/* Client: builds package #1. */
int dmsec_session_start(dmsec_session_t *s, time_t now, dmsec_session_out_t *out);

/* Feeds one received message. Returns 0 with the answer in out (which may
 * hold no message when the session is over), or a negative DMSEC_ERR_*
 * for a message that could not be answered at all (undecodable, wrong
 * session, out-of-order MsgID, no memory): the state is then unchanged and
 * the call has no events (a nonce it drew is forgotten). */
int dmsec_session_feed(dmsec_session_t *s, const uint8_t *body, size_t len,
                       const char *content_type, const char *hmac_header, time_t now,
                       dmsec_session_out_t *out);

/* dmsec_session_feed for a caller that already decoded the message (to
 * read it before the engine does, as dmsec-server does to find the device
 * of a client certificate): one decode per message. msg must be what
 * dmsec_msg_decode returned for body[0..len) in the codec content_type
 * names (the engine's when NULL), with the default limits (NULL); body is
 * still read, for the HMAC over the raw bytes. Every check of
 * dmsec_session_feed is made, with the same results. The engine takes msg
 * on every return, error or not: the caller neither frees nor reads it
 * afterwards. msg NULL: DMSEC_ERR_INVALID_ARG. */
int dmsec_session_feed_msg(dmsec_session_t *s, dmsec_msg_t *msg, const uint8_t *body, size_t len,
                           const char *content_type, const char *hmac_header, time_t now,
                           dmsec_session_out_t *out);

/* Server: queues a command for the client, sent once it is authenticated.
 * data and format may be NULL. */
int dmsec_session_queue(dmsec_session_t *s, dmsec_cmd_type_t type, const char *target_uri,
                        const char *data, const char *format);

/* A management command. Server: Get, Replace, Add, Delete, Exec, Copy, or
 * Atomic / Sequence around children (one level; members may not be groups).
 * Client (dmsec_session_client_alert): an Alert with alert_code. */
typedef struct dmsec_mgmt_cmd {
    int64_t tag; /* the caller's id, given back in DMSEC_EV_CMD_SENT / _DONE */
    dmsec_cmd_type_t type;
    const char *target;  /* Item Target LocURI (Alert: may be NULL) */
    const char *source;  /* Copy: Item Source LocURI; Alert: the management object */
    const uint8_t *data; /* Item Data, data_len bytes, when has_data */
    size_t data_len;
    int has_data;
    const char *format;                    /* Meta Format, NULL = none (chr in the codec's eyes) */
    const char *mime;                      /* Meta Type, may be NULL */
    const char *correlator;                /* Exec, Alert: may be NULL */
    int alert_code;                        /* Alert: 1226, 1224 */
    const struct dmsec_mgmt_cmd *children; /* Atomic, Sequence: n_children members */
    size_t n_children;
} dmsec_mgmt_cmd_t;

/* Server: queues a management command (copied), sent in order once the
 * device is authenticated: as many per message as fit the device's
 * MaxMsgSize and ours; a package larger than one message goes in several
 * (Final on the last), and a value larger than a message as a Large
 * Object. DMSEC_ERR_TOO_LARGE for a value over the device's MaxObjSize
 * (when it announced one) is reported as a CMD_DONE with status 413
 * instead. DMSEC_ERR_INVALID_ARG for a malformed command,
 * DMSEC_ERR_SESSION_LIMIT past DMSEC_SESSION_MAX_QUEUE. */
#define DMSEC_SESSION_MAX_QUEUE 1024
int dmsec_session_queue_cmd(dmsec_session_t *s, const dmsec_mgmt_cmd_t *cmd);

/* Client: an Alert to send in package #1 (before dmsec_session_start), as
 * a Generic Alert (1226) reporting an outcome; its Status comes back as
 * DMSEC_EV_CMD_DONE with the tag. */
int dmsec_session_client_alert(dmsec_session_t *s, const dmsec_mgmt_cmd_t *alert);

/* The DevInfo and DevDetail leaves the server asks for (NULL-ended). */
extern const char *const dmsec_session_inventory_uris[];
/* Server: queues a Replace of the SRVCRED AAuthSecret with a fresh secret
 * from the rng (DMSEC_EV_SECRET_PENDING when sent, _ROTATED on 200).
 * DMSEC_ERR_SESSION_STATE also while an earlier rotation is unconfirmed
 * (out_secret_pending) and the device has not accepted our Cred yet
 * (which secret it holds is not known): ask again once
 * dmsec_session_self_authenticated. */
int dmsec_session_rotate_secret(dmsec_session_t *s);
/* Server: queues a Replace of the device's CLCRED AAuthSecret (under
 * clcred_path) with a fresh secret from the rng
 * (DMSEC_EV_CLIENT_SECRET_PENDING when sent, _ROTATED on 2xx). The device
 * keeps its old secret for the rest of the session. */
int dmsec_session_rotate_client_secret(dmsec_session_t *s);

/* Events of the last call, 0 <= i < dmsec_session_events(s). */
size_t dmsec_session_events(const dmsec_session_t *s);
const dmsec_event_t *dmsec_session_event(const dmsec_session_t *s, size_t i);

/* State. */
int dmsec_session_done(const dmsec_session_t *s);   /* 1 once ended */
int dmsec_session_result(const dmsec_session_t *s); /* 0 or why it ended */
int dmsec_session_peer_authenticated(const dmsec_session_t *s);
int dmsec_session_self_authenticated(const dmsec_session_t *s);
const char *dmsec_session_id(const dmsec_session_t *s); /* NULL before known */
const char *dmsec_session_peer_id(const dmsec_session_t *s);
/* Server: 0 when the device the session names is unknown (it is answered
 * as a known device whose credential failed), 1 otherwise. */
int dmsec_session_peer_known(const dmsec_session_t *s);
/* Client: the RespURI the server gave, where the next message goes (NULL
 * when none). */
const char *dmsec_session_resp_uri(const dmsec_session_t *s);
/* The account as updated by this session (nonces, rotated secret). */
const dmsec_account_t *dmsec_session_account(const dmsec_session_t *s);

/* ---- the stored state of sessions: one contract ----
 *
 * What the engine's events change in storage, applied in one place: each
 * side implements these writes over its storage (the server over its
 * store, the agent over its tree, tests over memory), and
 * dmsec_session_persist applies the events of the last call through them,
 * in order, before the caller sends the message. The rules (a pending
 * nonce never overwrites the stored one, a NONCE_ISSUED voids the pending
 * one, nothing stored for an unknown device) live in the engine and here,
 * not in each caller. Every write returns 0 or a negative DMSEC_ERR_*; the
 * first failure stops the walk and is returned: the message must then not
 * be sent. */
typedef struct dmsec_state_ops {
    /* DMSEC_EV_NONCE_ISSUED: the peer's nonce (in_nonce); it voids the
     * pending one. */
    int (*set_in_nonce)(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len);
    /* DMSEC_EV_NONCE_PENDING: beside the peer's nonce, never over it. */
    int (*set_in_nonce_pending)(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len);
    /* DMSEC_EV_NONCE_ACCEPTED: the nonce for our next Cred (out_nonce). */
    int (*set_out_nonce)(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len);
    /* Server, DMSEC_EV_SECRET_PENDING: our new secret, sent, kept beside
     * the current one until confirmed. */
    int (*secret_pending)(void *ctx, const char *peer_id, const uint8_t *secret, size_t len);
    /* DMSEC_EV_SECRET_ROTATED. Server: the pending secret is ours now.
     * Client: the server's secret (SRVCRED) is now `secret`. */
    int (*secret_rotated)(void *ctx, const char *peer_id, const uint8_t *secret, size_t len);
    /* Server, DMSEC_EV_CLIENT_SECRET_PENDING: the device's new secret,
     * sent: kept as its pending credential (pre-hashes; the secret itself
     * only where the scheme needs it, as for the current one). */
    int (*client_secret_pending)(void *ctx, const char *peer_id, const uint8_t *secret, size_t len);
    /* DMSEC_EV_CLIENT_SECRET_ROTATED. Server: the pending credential is the
     * device's now (e->status 0: confirmed by use). Client: our CLCRED
     * secret is e->bytes from the next session on. */
    int (*client_secret_rotated)(void *ctx, const char *peer_id, const dmsec_event_t *e);
    /* Server, management (each may be NULL):
     * DMSEC_EV_CMD_SENT: record the command (e->tag) sent in this session;
     * DMSEC_EV_CMD_DONE: record its answer (status, Results), once;
     * DMSEC_EV_ALERT: store the device's event;
     * DMSEC_EV_INVENTORY: keep the value. */
    int (*cmd_sent)(void *ctx, const char *peer_id, const dmsec_event_t *e);
    int (*cmd_done)(void *ctx, const char *peer_id, const dmsec_event_t *e);
    int (*alert)(void *ctx, const char *peer_id, const dmsec_event_t *e);
    int (*inventory)(void *ctx, const char *peer_id, const dmsec_event_t *e);
    /* Each event after its write (logs, audit, metrics); may be NULL. */
    int (*observe)(void *ctx, const dmsec_session_t *s, const dmsec_event_t *e);
} dmsec_state_ops_t;

/* Applies the events of the last call through ops (a NULL write skips
 * that kind of event). 0, or the first write's error. */
int dmsec_session_persist(const dmsec_session_t *s, const dmsec_state_ops_t *ops, void *ctx);

/* The contract in memory, for tests, benchmarks and fuzzing: one account
 * per party, written by dmsec_state_mem_ops, read by
 * dmsec_state_mem_get_account (a get_account callback). */
typedef struct dmsec_state_mem {
    dmsec_account_t acc;
    int known;     /* 0: get_account answers DMSEC_ERR_SESSION_UNKNOWN_PEER */
    int is_server; /* a rotated secret is ours (out), else the server's (in) */
    int writes;    /* writes applied so far */
} dmsec_state_mem_t;

extern const dmsec_state_ops_t dmsec_state_mem_ops;
int dmsec_state_mem_get_account(void *ctx, const char *peer_id, dmsec_account_t *out);

#ifdef __cplusplus
}
#endif
#endif
