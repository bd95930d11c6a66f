/*
 * session_int.h - the session engine's private state, shared by session.c
 * (authentication, the session's life) and mgmt.c (the commands a session
 * carries: the queue, messages sized to the peer, Large Objects, Statuses
 * and Results matched to their commands).
 */
#ifndef DMSEC_SESSION_INT_H
#define DMSEC_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"
#include "dmsec/hmac.h"
#include "dmsec/session.h"

#define MAX_CMDS_IN 256
#define RECENT_MACS 16
#define SECRET_LEN 32
#define DEFAULT_MAX_MSG 65536u
#define DEFAULT_MAX_OBJ 4194304u
#define MIN_MAX_MSG 1024u /* a peer's MaxMsgSize below this is taken as this */
#define LO_URI_MAX 1024
#define SECRET_SRV 1    /* qcmd.is_secret: our SRVCRED secret */
#define SECRET_CLIENT 2 /* qcmd.is_secret: the device's CLCRED secret */

/* One command of ours waiting to go, in flight or answered: the server's
 * management commands, and the client's Alerts and Results. A group
 * (Atomic, Sequence) is followed in the queue by its n_members members.
 * The owned buffers never change after the entry is made; the fields
 * below "mutable" change as the session goes and are put back with the
 * rest of a failed call's state (the queue array is snapshotted). */
struct qcmd {
    int64_t tag;
    dmsec_cmd_type_t type;
    char *target;
    char *source;
    char *format;
    char *mime;
    char *correlator;
    uint8_t *data;
    size_t data_len;
    int has_data;
    int alert_code;
    size_t n_members; /* a group: the entries after it that belong to it */
    int member;       /* inside the group before it */
    int is_secret;    /* a Replace of an AAuthSecret: SECRET_SRV or SECRET_CLIENT */
    int internal;     /* ours (the answer Gets): no CMD events */
    /* Results (client): the Get they answer */
    char msg_ref[16];
    char cmd_ref[16];
    /* mutable */
    int sent;        /* wholly sent */
    int removed;     /* answered: freed once the call succeeded */
    size_t lo_off;   /* Large Object: bytes of data sent so far */
    char cmd_id[16]; /* of the last sending */
    char msg_id[16];
    int done_status; /* a Status came, its Results (Large Object) not yet whole */
};

/* The verdict on the peer's credentials for one inbound message, turned into
 * the Status we answer its SyncHdr with. */
struct hdr_verdict {
    int code;      /* 200, 212, 401, 407 */
    int chal;      /* attach a Chal */
    int new_nonce; /* the Chal carries a fresh NextNonce (in_nonce) */
};

/* Everything a call may change, in one flat block: dmsec_session_feed
 * snapshots it and puts it back when the call fails, so that a failed call
 * leaves the session as it was (the header's promise). */
struct mstate {
    dmsec_codec_t codec;
    char session_id[64];
    int resync; /* client: from the config; server: alerted on the default nonce */
    dmsec_account_t acc;
    int have_acc;
    int phantom; /* server: an unknown device, answered as a known one that failed */
    char peer_id[DMSEC_NAME_MAX];
    char peer_uri[256];
    char peer_msg_id[16];
    char peer_resp_uri[DMSEC_RESP_URI_MAX]; /* client: where the server wants the next message */

    /* The nonce our Cred / MAC is built on in this session, and the one
     * the peer's is checked against (the nonce of our last challenge, then
     * the nonce it authenticated on). NextNonce from a 212 is for the next
     * session and goes to acc only. */
    uint8_t cur_out_nonce[DMSEC_NONCE_MAX];
    size_t cur_out_nonce_len;
    uint8_t cur_in_nonce[DMSEC_NONCE_MAX];
    size_t cur_in_nonce_len;

    int started;
    int ended;
    int result;
    int peer_authed;
    int self_authed;
    int peer_fail;     /* failed credentials of the peer */
    int peer_missing;  /* messages without credentials */
    int self_refusals; /* our credentials refused */
    int challenged;    /* we sent the peer a Chal */
    dmsec_auth_scheme_t chal_scheme;
    int resend_pkg1; /* client: the server refused us: send package #1 again */
    int resync_consumed;
    unsigned in_count;
    unsigned out_msg_id;
    long last_in_msg_id;

    size_t n_q; /* entries of the queue (the array itself is outside) */
    uint8_t pending_secret[SECRET_LEN + 1];
    int have_pending_secret;
    uint8_t pending_client_secret[SECRET_LEN + 1]; /* server: the device's new CLCRED secret */
    int have_pending_client;
    int out_pending_tried; /* server: our Cred now on acc.out_secret_pending */

    /* The peer's limits (its SyncHdr Meta), 0 until announced. */
    size_t peer_max_msg;
    size_t peer_max_obj;
    int asked_answer; /* server: the answer Gets went out */
    int peer_more;    /* server: the client's package goes on (we asked for more) */
    int out_final;    /* the message being built ends our package */

    /* A Large Object coming in (one at a time): its bytes so far in the
     * session's lo_buf, the Size announced, and what it belongs to. */
    int lo_in;
    size_t lo_len;
    size_t lo_size;
    int64_t lo_tag; /* server: the command whose Results it is (index + 1) */
    char lo_uri[LO_URI_MAX];
    char lo_format[32];
    char lo_mime[64];

    char recent_macs[RECENT_MACS][DMSEC_HMAC_MAC_MAX];
    size_t n_recent;
};

struct dmsec_session {
    dmsec_role_t role;
    char *server_id;
    char *server_uri;
    char *device_id;
    int server_initiated;
    unsigned hmac_window;
    unsigned max_messages;
    size_t max_msg_size;
    size_t max_obj_size;
    char **devinfo;
    char **answer_gets;
    dmsec_rng_t rng;
    dmsec_session_cb_t cb;
    void *cb_ctx;
    char *resp_uri; /* server: the RespURI we give */
    int transport_authed;
    int transport_secure;
    dmsec_resync_mode_t resync_mode;
    int resync_session_id_nonce;
    int strict_cred;
    int require_protected;

    struct mstate m;

    struct qcmd *q; /* m.n_q entries */
    size_t cap_q;
    uint8_t *lo_buf; /* the incoming Large Object (m.lo_len bytes) */
    size_t lo_cap;
    dmsec_msg_t *last_in; /* the last message fed: event pointers point into it */

    dmsec_event_t *events;
    size_t n_events;
    size_t cap_events;
    int events_lost; /* an event could not be recorded: the call fails */

    uint8_t *out_buf;
};

/* ---- session.c ---- */
void dmsec_sess_copy_str(char *dst, size_t cap, const char *src);
dmsec_event_t *dmsec_sess_event(dmsec_session_t *s, dmsec_event_type_t type, int err,
                                const uint8_t *bytes, size_t len);
void dmsec_sess_end(dmsec_session_t *s, int err);
/* A Status for the peer's command c (MsgRef, CmdRef, Cmd, TargetRef and
 * SourceRef of its Items). */
dmsec_cmd_t *dmsec_sess_status_for(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c,
                                   int code);

/* ---- mgmt.c ---- */
void dmsec_sess_q_free_entry(struct qcmd *q);
void dmsec_sess_q_free_all(dmsec_session_t *s);
/* Frees entries removed by the call that just succeeded. */
void dmsec_sess_q_sweep(dmsec_session_t *s);
/* Makes room for one more entry; NULL without memory. */
struct qcmd *dmsec_sess_q_push(dmsec_session_t *s);
/* The peer's limits from its SyncHdr Meta. */
void dmsec_sess_read_limits(dmsec_session_t *s, const dmsec_msg_t *m);
/* Our limits into our SyncHdr Meta. */
int dmsec_sess_write_limits(dmsec_session_t *s, dmsec_msg_t *r);
/* Server: the authenticated client's message: Statuses and Results on our
 * commands, its Alerts, inventory and its own commands (answered). */
int dmsec_sess_server_take(dmsec_session_t *s, const dmsec_msg_t *m, dmsec_msg_t *r);
/* Server: our next commands into r; *sent counts the commands added. */
int dmsec_sess_server_send(dmsec_session_t *s, dmsec_msg_t *r, int *sent);
/* Client: the server's commands run on the tree (Large Objects
 * reassembled), Statuses and Results into r (Results through the queue). */
int dmsec_sess_client_run(dmsec_session_t *s, const dmsec_msg_t *m, dmsec_msg_t *r);
/* Client: the Statuses of the server on our Alerts and Results. */
int dmsec_sess_client_take(dmsec_session_t *s, const dmsec_msg_t *m);
/* Either role: queued entries that fit into r (Results, Alerts,
 * commands); sets m.out_final. *sent counts them. */
int dmsec_sess_fill(dmsec_session_t *s, dmsec_msg_t *r, int *sent);
/* Entries not yet wholly sent. */
int dmsec_sess_q_unsent(const dmsec_session_t *s);

#endif
