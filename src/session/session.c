/*
 * The session engine: one state machine for the DM client and server roles.
 * Inbound: decode, check session id and MsgID order, authenticate the peer
 * (Cred or x-syncml-hmac), read the peer's verdict on our credentials, then
 * handle commands. Outbound: one message with our Cred (until accepted),
 * the Status for the peer's SyncHdr (with a Chal when due), the Status and
 * Results for the peer's commands, and our own commands.
 */
#include "dmsec/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/hmac.h"
#include "dmsec/notify.h"
#include "session_int.h"

static const char chal_mac_md5[] = "syncml:auth-MAC";
static const char chal_mac_sha256[] = "syncml:auth-hmac-sha256";

/* ---- small helpers ---- */

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

void dmsec_sess_copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    dmsec_sess_copy_str(dst, cap, src);
}

/* Records an event of the running call. The list grows as needed: an
 * event that cannot be recorded fails the whole call (persistence before
 * sending depends on every one of them). */
dmsec_event_t *dmsec_sess_event(dmsec_session_t *s, dmsec_event_type_t type, int err,
                                const uint8_t *bytes, size_t len)
{
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? 2 * s->cap_events : 4;
        dmsec_event_t *grown = calloc(cap, sizeof *grown);
        if (!grown) {
            s->events_lost = 1;
            return NULL;
        }
        if (s->n_events)
            memcpy(grown, s->events, s->n_events * sizeof *grown);
        if (s->events) {
            dm_wipe(s->events, s->cap_events * sizeof *s->events);
            free(s->events);
        }
        s->events = grown;
        s->cap_events = cap;
    }
    dmsec_event_t *e = &s->events[s->n_events++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->err = err;
    e->scheme = s->m.acc.in_scheme;
    if (bytes && len <= sizeof e->bytes) {
        memcpy(e->bytes, bytes, len);
        e->len = len;
    }
    return e;
}

static void event(dmsec_session_t *s, dmsec_event_type_t type, int err, const uint8_t *bytes,
                  size_t len)
{
    dmsec_sess_event(s, type, err, bytes, len);
}

void dmsec_sess_end(dmsec_session_t *s, int err)
{
    if (s->m.ended)
        return;
    s->m.ended = 1;
    s->m.result = err;
    event(s, DMSEC_EV_SESSION_ENDED, err, NULL, 0);
}

static int fill_random(dmsec_session_t *s, uint8_t *buf, size_t len)
{
    return s->rng.fill ? s->rng.fill(s->rng.ctx, buf, len) : dmsec_rng_os_fill(NULL, buf, len);
}

static int scheme_uses_nonce(dmsec_auth_scheme_t scheme)
{
    return scheme == DMSEC_AUTH_MD5 || scheme == DMSEC_AUTH_SHA256;
}

/* The scheme URI the peer is challenged with. */
static const char *chal_type(const dmsec_session_t *s)
{
    switch (s->m.acc.integrity) {
    case DMSEC_INTEGRITY_HMAC_MD5:
        return chal_mac_md5;
    case DMSEC_INTEGRITY_HMAC_SHA256:
        return chal_mac_sha256;
    case DMSEC_INTEGRITY_NONE:
        break;
    }
    return dmsec_auth_scheme_uri(s->m.acc.in_scheme);
}

/* Whether the peer's credential needs a nonce from us. */
static int peer_uses_nonce(const dmsec_session_t *s)
{
    if (s->m.acc.integrity == DMSEC_INTEGRITY_HMAC_MD5)
        return 1;
    if (s->m.acc.integrity == DMSEC_INTEGRITY_HMAC_SHA256)
        return 0;
    return scheme_uses_nonce(s->m.acc.in_scheme);
}

/* Issues a fresh nonce for the peer, and an event tells the caller to
 * persist it before the message leaves: to an authenticated peer it
 * becomes acc.in_nonce (the pending one is then void); to a peer that has
 * not authenticated it is only pending, beside the stored nonce, so that
 * a stranger's challenge never takes the real peer's nonce away. An
 * unknown device's nonce leads nowhere and is not stored. */
static int issue_nonce(dmsec_session_t *s, uint8_t nonce[DMSEC_NONCE_LEN])
{
    int rc = fill_random(s, nonce, DMSEC_NONCE_LEN);
    if (rc)
        return rc;
    if (s->m.phantom)
        return DMSEC_OK;
    if (s->m.peer_authed) {
        memcpy(s->m.acc.in_nonce, nonce, DMSEC_NONCE_LEN);
        s->m.acc.in_nonce_len = DMSEC_NONCE_LEN;
        s->m.acc.in_nonce_pending_len = 0;
        event(s, DMSEC_EV_NONCE_ISSUED, 0, nonce, DMSEC_NONCE_LEN);
    } else {
        memcpy(s->m.acc.in_nonce_pending, nonce, DMSEC_NONCE_LEN);
        s->m.acc.in_nonce_pending_len = DMSEC_NONCE_LEN;
        event(s, DMSEC_EV_NONCE_PENDING, 0, nonce, DMSEC_NONCE_LEN);
    }
    return DMSEC_OK;
}

/* The nonce a resynchronising peer builds its credential on: four zero
 * bytes, or (seed 002, an interop option) the SessionID text. */
static const uint8_t *resync_nonce(const dmsec_session_t *s, size_t *len)
{
    if (s->resync_session_id_nonce && s->m.session_id[0]) {
        *len = strlen(s->m.session_id);
        return (const uint8_t *)s->m.session_id;
    }
    *len = sizeof dmsec_default_nonce;
    return dmsec_default_nonce;
}

/* ---- lifecycle ---- */

void dmsec_account_wipe(dmsec_account_t *acc)
{
    if (acc)
        dm_wipe(acc, sizeof *acc);
}

dmsec_session_t *dmsec_session_new(const dmsec_session_config_t *cfg)
{
    if (!cfg || !cfg->server_id || !cfg->server_id[0] || !cfg->cb.get_account)
        return NULL;
    if (cfg->role == DMSEC_ROLE_CLIENT && (!cfg->device_id || !cfg->server_uri))
        return NULL;
    if (cfg->codec != DMSEC_CODEC_XML && cfg->codec != DMSEC_CODEC_WBXML)
        return NULL;
    dmsec_session_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->role = cfg->role;
    s->m.codec = cfg->codec;
    s->server_id = dup_str(cfg->server_id);
    s->server_uri = dup_str(cfg->server_uri ? cfg->server_uri : cfg->server_id);
    s->device_id = dup_str(cfg->device_id);
    s->server_initiated = cfg->server_initiated;
    s->m.resync = cfg->role == DMSEC_ROLE_CLIENT && cfg->resync;
    s->transport_secure = cfg->transport_secure || cfg->transport_authenticated;
    s->strict_cred = cfg->strict_cred;
    s->require_protected = cfg->require_protected;
    s->resync_mode = cfg->resync_mode;
    s->resync_session_id_nonce = cfg->resync_session_id_nonce;
    if (cfg->resync_mode != DMSEC_RESYNC_CHALLENGE &&
        cfg->resync_mode != DMSEC_RESYNC_ACCEPT_DEFAULT) {
        dmsec_session_free(s);
        return NULL;
    }
    s->hmac_window = cfg->hmac_window ? cfg->hmac_window : 300;
    s->resp_uri = cfg->role == DMSEC_ROLE_SERVER ? dup_str(cfg->resp_uri) : NULL;
    s->transport_authed = cfg->role == DMSEC_ROLE_SERVER && cfg->transport_authenticated;
    s->max_messages = cfg->max_messages ? cfg->max_messages : 64;
    s->max_msg_size = cfg->max_msg_size ? cfg->max_msg_size : DEFAULT_MAX_MSG;
    if (s->max_msg_size < MIN_MAX_MSG)
        s->max_msg_size = MIN_MAX_MSG;
    s->max_obj_size = cfg->max_obj_size ? cfg->max_obj_size : DEFAULT_MAX_OBJ;
    s->rng = cfg->rng;
    s->cb = cfg->cb;
    s->cb_ctx = cfg->cb_ctx;
    s->m.last_in_msg_id = 0;
    if (cfg->session_id)
        copy_str(s->m.session_id, sizeof s->m.session_id, cfg->session_id);
    int devinfo_ok = 1;
    const char *const *gets = cfg->answer_gets ? cfg->answer_gets : dmsec_session_inventory_uris;
    size_t n_gets = 0;
    while (gets[n_gets])
        n_gets++;
    s->answer_gets = calloc(n_gets + 1, sizeof *s->answer_gets);
    for (size_t i = 0; s->answer_gets && i < n_gets && devinfo_ok; i++)
        devinfo_ok = (s->answer_gets[i] = dup_str(gets[i])) != NULL;
    if (!s->answer_gets)
        devinfo_ok = 0;
    if (cfg->devinfo) {
        size_t n = 0;
        while (cfg->devinfo[n] && cfg->devinfo[n + 1])
            n += 2;
        s->devinfo = calloc(n + 1, sizeof *s->devinfo);
        /* Every string or none: a failed copy must not cut the list short. */
        for (size_t i = 0; s->devinfo && i < n && devinfo_ok; i++)
            devinfo_ok = (s->devinfo[i] = dup_str(cfg->devinfo[i])) != NULL;
    }
    if (!s->server_id || !s->server_uri || (cfg->device_id && !s->device_id) ||
        (s->role == DMSEC_ROLE_SERVER && cfg->resp_uri && !s->resp_uri) ||
        (cfg->devinfo && (!s->devinfo || !devinfo_ok))) {
        dmsec_session_free(s);
        return NULL;
    }
    return s;
}

void dmsec_session_free(dmsec_session_t *s)
{
    if (!s)
        return;
    free(s->server_id);
    free(s->server_uri);
    free(s->device_id);
    free(s->resp_uri);
    if (s->devinfo) {
        for (size_t i = 0; s->devinfo[i]; i++)
            free(s->devinfo[i]);
        free(s->devinfo);
    }
    if (s->answer_gets) {
        for (size_t i = 0; s->answer_gets[i]; i++)
            free(s->answer_gets[i]);
        free(s->answer_gets);
    }
    dmsec_sess_q_free_all(s);
    if (s->lo_buf) {
        dm_wipe(s->lo_buf, s->lo_cap);
        free(s->lo_buf);
    }
    dmsec_msg_free(s->last_in);
    free(s->out_buf);
    if (s->events) {
        dm_wipe(s->events, s->cap_events * sizeof *s->events);
        free(s->events);
    }
    dm_wipe(s, sizeof *s);
    free(s);
}

static int load_account(dmsec_session_t *s, const char *peer_id)
{
    dmsec_account_t acc;
    memset(&acc, 0, sizeof acc);
    int rc = s->cb.get_account(s->cb_ctx, peer_id, &acc);
    if (rc) {
        dm_wipe(&acc, sizeof acc);
        return rc < 0 ? rc : DMSEC_ERR_SESSION_UNKNOWN_PEER;
    }
    if (acc.out_nonce_len > DMSEC_NONCE_MAX || acc.in_nonce_len > DMSEC_NONCE_MAX ||
        acc.out_secret_len > DMSEC_SECRET_MAX || acc.in_secret_len > DMSEC_SECRET_MAX) {
        dm_wipe(&acc, sizeof acc);
        return DMSEC_ERR_INVALID_ARG;
    }
    if (acc.in_nonce_pending_len > DMSEC_NONCE_MAX ||
        acc.in_secret_pending_len > DMSEC_SECRET_MAX ||
        acc.out_secret_pending_len > DMSEC_SECRET_MAX) {
        dm_wipe(&acc, sizeof acc);
        return DMSEC_ERR_INVALID_ARG;
    }
    acc.out_name[DMSEC_NAME_MAX - 1] = '\0';
    acc.in_name[DMSEC_NAME_MAX - 1] = '\0';
    acc.srvcred_path[DMSEC_NAME_MAX - 1] = '\0';
    acc.clcred_path[DMSEC_NAME_MAX - 1] = '\0';
    acc.in_pending = acc.in_pending != 0;
    s->m.acc = acc;
    dm_wipe(&acc, sizeof acc);
    s->m.have_acc = 1;
    copy_str(s->m.peer_id, sizeof s->m.peer_id, peer_id);
    memcpy(s->m.cur_out_nonce, s->m.acc.out_nonce, s->m.acc.out_nonce_len);
    s->m.cur_out_nonce_len = s->m.acc.out_nonce_len;
    memcpy(s->m.cur_in_nonce, s->m.acc.in_nonce, s->m.acc.in_nonce_len);
    s->m.cur_in_nonce_len = s->m.acc.in_nonce_len;
    return DMSEC_OK;
}

/* Server: an unknown device gets the account of a device nobody can
 * authenticate as (random pre-hashes), so that its answer is the answer
 * to a known device whose credential failed: no one can tell registered
 * ids by the server's answers. Nothing of it is ever stored. */
static int load_phantom(dmsec_session_t *s, const char *peer_id)
{
    dmsec_account_t *a = &s->m.acc;
    memset(a, 0, sizeof *a);
    a->in_scheme = DMSEC_AUTH_MD5;
    a->out_scheme = DMSEC_AUTH_MD5;
    copy_str(a->in_name, sizeof a->in_name, peer_id);
    copy_str(a->out_name, sizeof a->out_name, s->server_id);
    a->in_prehash.flags = a->out_prehash.flags = DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256;
    int rc = fill_random(s, a->in_prehash.md5, sizeof a->in_prehash.md5);
    if (!rc)
        rc = fill_random(s, a->in_prehash.sha256, sizeof a->in_prehash.sha256);
    if (!rc)
        rc = fill_random(s, a->out_prehash.md5, sizeof a->out_prehash.md5);
    if (!rc)
        rc = fill_random(s, a->out_prehash.sha256, sizeof a->out_prehash.sha256);
    if (!rc)
        rc = fill_random(s, a->in_nonce, DMSEC_NONCE_LEN);
    if (!rc)
        rc = fill_random(s, a->out_nonce, DMSEC_NONCE_LEN);
    if (rc)
        return rc;
    a->in_nonce_len = a->out_nonce_len = DMSEC_NONCE_LEN;
    s->m.have_acc = 1;
    s->m.phantom = 1;
    copy_str(s->m.peer_id, sizeof s->m.peer_id, peer_id);
    memcpy(s->m.cur_out_nonce, a->out_nonce, a->out_nonce_len);
    s->m.cur_out_nonce_len = a->out_nonce_len;
    memcpy(s->m.cur_in_nonce, a->in_nonce, a->in_nonce_len);
    s->m.cur_in_nonce_len = a->in_nonce_len;
    return DMSEC_OK;
}

/* ---- outbound ---- */

/* Our Cred on the current nonce. */
static int add_cred(dmsec_session_t *s, dmsec_msg_t *m)
{
    char data[DMSEC_B64_LEN(DMSEC_NAME_MAX + 1 + DMSEC_SECRET_MAX) + 1];
    const uint8_t *nonce = s->m.cur_out_nonce;
    size_t nonce_len = s->m.cur_out_nonce_len;
    int rc;
    if (s->m.acc.out_scheme == DMSEC_AUTH_BASIC)
        rc = dmsec_cred_build(DMSEC_AUTH_BASIC, s->m.acc.out_name, s->m.acc.out_secret,
                              s->m.acc.out_secret_len, NULL, 0, data, sizeof data, NULL);
    else
        rc = dmsec_cred_build_prehashed(s->m.acc.out_scheme, &s->m.acc.out_prehash, nonce,
                                        nonce_len, data, sizeof data, NULL);
    if (rc)
        return rc;
    m->hdr.cred = dmsec_msg_cred(m, dmsec_auth_scheme_uri(s->m.acc.out_scheme), "b64", data);
    dm_wipe(data, sizeof data);
    return m->hdr.cred ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
}

static dmsec_msg_t *new_message(dmsec_session_t *s)
{
    dmsec_msg_t *m = dmsec_msg_new();
    if (!m)
        return NULL;
    char msg_id[16];
    snprintf(msg_id, sizeof msg_id, "%u", ++s->m.out_msg_id);
    int rc;
    if (s->role == DMSEC_ROLE_CLIENT)
        rc = dmsec_msg_set_hdr(m, s->m.session_id, msg_id, s->server_uri, s->device_id,
                               s->m.acc.out_name[0] ? s->m.acc.out_name : NULL);
    else
        rc = dmsec_msg_set_hdr(m, s->m.session_id, msg_id, s->m.peer_uri, s->server_uri,
                               s->m.acc.out_name[0] ? s->m.acc.out_name : NULL);
    if (rc) {
        dmsec_msg_free(m);
        return NULL;
    }
    if (s->role == DMSEC_ROLE_SERVER && s->resp_uri &&
        !(m->hdr.resp_uri = dmsec_msg_strdup(m, s->resp_uri))) {
        dmsec_msg_free(m);
        return NULL;
    }
    if (dmsec_sess_write_limits(s, m)) {
        dmsec_msg_free(m);
        return NULL;
    }
    s->m.out_final = 1;
    return m;
}

/* The Status for the peer's SyncHdr. */
static int add_hdr_status(dmsec_session_t *s, dmsec_msg_t *m, const struct hdr_verdict *v)
{
    dmsec_cmd_t *st = dmsec_msg_add_status(m, s->m.peer_msg_id, "0", "SyncHdr", v->code);
    if (!st)
        return DMSEC_ERR_NO_MEMORY;
    const char *our_uri = s->role == DMSEC_ROLE_SERVER ? s->server_uri : s->device_id;
    if (dmsec_cmd_add_target_ref(m, st, our_uri) || dmsec_cmd_add_source_ref(m, st, s->m.peer_uri))
        return DMSEC_ERR_NO_MEMORY;
    if (!v->chal)
        return DMSEC_OK;
    char b64[DMSEC_B64_LEN(DMSEC_NONCE_MAX) + 1] = "";
    if (v->new_nonce) {
        uint8_t nonce[DMSEC_NONCE_LEN];
        int rc = issue_nonce(s, nonce);
        if (rc)
            return rc;
        if (v->code == 401 || v->code == 407) {
            /* the retry is checked against this nonce; after a success it
             * is for the peer's next session */
            memcpy(s->m.cur_in_nonce, nonce, sizeof nonce);
            s->m.cur_in_nonce_len = sizeof nonce;
        }
        rc = dmsec_b64_encode(nonce, sizeof nonce, b64, sizeof b64, NULL);
        if (rc)
            return rc;
    }
    return dmsec_status_set_chal(m, st, chal_type(s), "b64", v->new_nonce ? b64 : NULL);
}

/* Encodes m into out, with the x-syncml-hmac header in HMAC mode. */
static int emit(dmsec_session_t *s, dmsec_msg_t *m, time_t now, dmsec_session_out_t *out)
{
    /* In HMAC mode the MAC on every message authenticates it. Otherwise
     * our Cred goes in every message where the transport does not
     * authenticate the session (DM Security 5.4), and over TLS until the
     * peer accepts it; built last, on the secret of this moment (a secret
     * the peer confirmed replacing in this very exchange included). */
    int cred =
        s->m.acc.integrity == DMSEC_INTEGRITY_NONE && (!s->m.self_authed || !s->transport_secure);
    /* A server answers a client that has not authenticated without its
     * own Cred: a Cred on the device's nonce for the server, handed to
     * whoever names the device, is the one credential the device would
     * take from a fake server. The refusal carries nothing to protect. */
    if (s->role == DMSEC_ROLE_SERVER && !s->m.peer_authed)
        cred = 0;
    int rc = cred ? add_cred(s, m) : DMSEC_OK;
    if (rc) {
        dmsec_msg_free(m);
        return rc;
    }
    m->body.final = s->m.out_final;
    free(s->out_buf);
    s->out_buf = NULL;
    size_t len = 0;
    rc = dmsec_msg_encode(s->m.codec, m, &s->out_buf, &len);
    dmsec_msg_free(m);
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    out->has_message = 1;
    out->body = s->out_buf;
    out->len = len;
    out->content_type = dmsec_codec_content_type(s->m.codec);
    if (s->m.acc.integrity == DMSEC_INTEGRITY_NONE)
        return DMSEC_OK;
    dmsec_hmac_header_t h;
    memset(&h, 0, sizeof h);
    if (s->m.acc.integrity == DMSEC_INTEGRITY_HMAC_MD5) {
        h.alg = DMSEC_HMAC_MD5;
        copy_str(h.username, sizeof h.username, s->m.acc.out_name);
        rc = dmsec_hmac12_compute_prehashed(s->m.acc.out_prehash.md5, s->m.cur_out_nonce,
                                            s->m.cur_out_nonce_len, s->out_buf, len, h.mac);
    } else {
        h.alg = DMSEC_HMAC_SHA256;
        copy_str(h.server_id, sizeof h.server_id, s->server_id);
        rc = dmsec_hmac13_timestamp_format(now, h.timestamp);
        if (!rc)
            rc = dmsec_hmac13_compute(s->m.acc.out_secret, s->m.acc.out_secret_len, h.timestamp,
                                      s->out_buf, len, h.mac);
    }
    if (!rc)
        rc = dmsec_hmac_header_format(&h, out->hmac_header, sizeof out->hmac_header, NULL);
    return rc;
}

/* ---- inbound: the peer's credentials ---- */

static int check_hmac(dmsec_session_t *s, const uint8_t *body, size_t len, const char *header,
                      time_t now)
{
    if (!header || !header[0])
        return DMSEC_ERR_SESSION_HMAC_MISSING;
    dmsec_hmac_header_t h;
    int rc = dmsec_hmac_header_parse(header, strlen(header), &h);
    if (rc)
        return rc;
    if (s->m.acc.integrity == DMSEC_INTEGRITY_HMAC_MD5) {
        if (h.alg != DMSEC_HMAC_MD5)
            return DMSEC_ERR_HMAC_ALGORITHM;
        if (!(s->m.acc.in_prehash.flags & DMSEC_PREHASH_MD5))
            return DMSEC_ERR_AUTH_NO_PREHASH;
        rc = dmsec_hmac12_verify(&h, s->m.acc.in_name, s->m.acc.in_prehash.md5, s->m.cur_in_nonce,
                                 s->m.cur_in_nonce_len, body, len);
        /* Before the peer authenticated: the nonce of a challenge it got
         * earlier (pending) is as good as the stored one. */
        if (rc == DMSEC_ERR_HMAC_MISMATCH && !s->m.peer_authed && s->m.acc.in_nonce_pending_len &&
            dmsec_hmac12_verify(&h, s->m.acc.in_name, s->m.acc.in_prehash.md5,
                                s->m.acc.in_nonce_pending, s->m.acc.in_nonce_pending_len, body,
                                len) == DMSEC_OK) {
            memcpy(s->m.cur_in_nonce, s->m.acc.in_nonce_pending, s->m.acc.in_nonce_pending_len);
            s->m.cur_in_nonce_len = s->m.acc.in_nonce_pending_len;
            rc = DMSEC_OK;
        }
        return rc;
    }
    if (h.alg != DMSEC_HMAC_SHA256)
        return DMSEC_ERR_HMAC_ALGORITHM;
    if (strcmp(h.server_id, s->server_id) != 0)
        return DMSEC_ERR_HMAC_MISMATCH;
    if ((rc = dmsec_hmac13_check_fresh(h.timestamp, now, s->hmac_window)))
        return rc;
    if ((rc = dmsec_hmac13_verify(&h, s->m.acc.in_secret, s->m.acc.in_secret_len, body, len)))
        return rc;
    /* A valid mac seen before is a replayed message. */
    for (size_t i = 0; i < s->m.n_recent && i < RECENT_MACS; i++) {
        if (!strcmp(s->m.recent_macs[i], h.mac))
            return DMSEC_ERR_SESSION_REPLAY;
    }
    time_t ts = 0;
    (void)dmsec_hmac13_timestamp_parse(h.timestamp, &ts);
    if (s->cb.mac_seen && s->cb.mac_seen(s->cb_ctx, h.mac, ts))
        return DMSEC_ERR_SESSION_REPLAY;
    copy_str(s->m.recent_macs[s->m.n_recent++ % RECENT_MACS], DMSEC_HMAC_MAC_MAX, h.mac);
    return DMSEC_OK;
}

static int is_default_nonce(const uint8_t *n, size_t len)
{
    return len == sizeof dmsec_default_nonce && !memcmp(n, dmsec_default_nonce, len);
}

/* Verifies a Cred on a nonce this side issued: the nonce of this
 * session (our last challenge, or the one the peer authenticated on),
 * the stored nonce, the pending one, and once the peer authenticated the
 * nonce issued to it since (some peers build later Creds on it). The
 * default nonce is never an ordinary nonce. A Cred that verifies only on
 * the resynchronisation nonce is DMSEC_ERR_SESSION_DEFAULT_NONCE (a fresh
 * challenge), or accepted where the interop option allows it. */
static int check_cred(dmsec_session_t *s, const dmsec_cred_t *cred, int *via_default)
{
    *via_default = 0;
    const char *type = cred->meta ? dmsec_meta_str(cred->meta, DMSEC_MI_TYPE) : NULL;
    dmsec_auth_scheme_t scheme = DMSEC_AUTH_BASIC; /* Type omitted: basic (SyncML default) */
    if (type && dmsec_auth_scheme_parse(type, strlen(type), &scheme))
        return DMSEC_ERR_AUTH_SCHEME;
    if (s->m.challenged && scheme != s->m.chal_scheme)
        return DMSEC_ERR_SESSION_SCHEME;
    if (scheme != s->m.acc.in_scheme)
        return DMSEC_ERR_AUTH_SCHEME;
    const char *format = cred->meta ? dmsec_meta_str(cred->meta, DMSEC_MI_FORMAT) : NULL;
    if (format && strcmp(format, "b64") != 0)
        return DMSEC_ERR_AUTH_FORMAT;
    const char *data = cred->data ? cred->data->bytes : "";
    size_t data_len = cred->data ? cred->data->len : 0;
    const char *user = s->m.acc.in_name;
    const dmsec_prehash_t *ph = &s->m.acc.in_prehash;
    if (!scheme_uses_nonce(scheme))
        return dmsec_cred_verify(scheme, user, ph, NULL, 0, data, data_len);

    const uint8_t *cand[3] = {s->m.cur_in_nonce, s->m.acc.in_nonce, s->m.acc.in_nonce_pending};
    size_t cand_len[3] = {s->m.cur_in_nonce_len, s->m.acc.in_nonce_len,
                          s->m.peer_authed ? 0 : s->m.acc.in_nonce_pending_len};
    int rc = DMSEC_ERR_AUTH_FAILED;
    for (size_t i = 0; i < 3 && rc == DMSEC_ERR_AUTH_FAILED; i++) {
        /* The default nonce is no ordinary nonce: before the peer
         * authenticated it is only the resynchronisation path below. */
        if (!cand_len[i] || (!s->m.peer_authed && is_default_nonce(cand[i], cand_len[i])))
            continue;
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= cand_len[j] == cand_len[i] && !memcmp(cand[j], cand[i], cand_len[i]);
        if (dup)
            continue;
        rc = dmsec_cred_verify(scheme, user, ph, cand[i], cand_len[i], data, data_len);
        if (rc == DMSEC_OK && i > 0 && !s->m.peer_authed) {
            /* the nonce this session's later Creds are checked on */
            memmove(s->m.cur_in_nonce, cand[i], cand_len[i]);
            s->m.cur_in_nonce_len = cand_len[i];
        }
    }
    if (rc != DMSEC_ERR_AUTH_FAILED || s->m.peer_authed)
        return rc;
    size_t rn_len = 0;
    const uint8_t *rn = resync_nonce(s, &rn_len);
    int on_rn = dmsec_cred_verify(scheme, user, ph, rn, rn_len, data, data_len) == DMSEC_OK;
    int on_zero = !on_rn && rn != dmsec_default_nonce &&
                  dmsec_cred_verify(scheme, user, ph, dmsec_default_nonce,
                                    sizeof dmsec_default_nonce, data, data_len) == DMSEC_OK;
    if (!on_rn && !on_zero)
        return rc;
    if (s->resync_mode != DMSEC_RESYNC_ACCEPT_DEFAULT || !on_rn)
        return DMSEC_ERR_SESSION_DEFAULT_NONCE;
    if (s->role == DMSEC_ROLE_CLIENT) {
        /* After a package #0 verified only on the default nonce, and in
         * that session only. */
        if (!s->m.resync)
            return DMSEC_ERR_SESSION_DEFAULT_NONCE;
    } else {
        /* Solution 1: only against an outstanding nonce-0 notification to
         * this device for this session id, consumed once. */
        if (s->m.phantom || !s->cb.resync_consume ||
            s->cb.resync_consume(s->cb_ctx, s->m.peer_id, s->m.session_id) != 1)
            return DMSEC_ERR_SESSION_DEFAULT_NONCE;
        s->m.resync_consumed = 1;
    }
    memcpy(s->m.cur_in_nonce, rn, rn_len);
    s->m.cur_in_nonce_len = rn_len;
    *via_default = 1;
    return DMSEC_OK;
}

static int is_hdr_status(const dmsec_cmd_t *c);

/* Whether the message's Status for our SyncHdr refuses us (401 or 407). */
static int refuses_us(const dmsec_msg_t *m)
{
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (is_hdr_status(c)) {
            int code = dmsec_status_code(c);
            return code == 401 || code == 407;
        }
    }
    return 0;
}

/* After a failure the peer gets one more challenge with a fresh nonce
 * (DM-SEC-S-008); the second failure of the same kind ends the session. */
static void challenge_once_more(dmsec_session_t *s, struct hdr_verdict *v, int *failures, int err)
{
    if (++*failures >= 2) {
        dmsec_sess_end(s, err);
        return;
    }
    v->chal = 1;
    v->new_nonce = peer_uses_nonce(s);
    s->m.challenged = 1;
    s->m.chal_scheme = s->m.acc.in_scheme;
}

/* Server: the device's current credential and its pending one change
 * places. */
static void swap_in_cred(dmsec_account_t *a)
{
    dmsec_prehash_t ph = a->in_prehash;
    a->in_prehash = a->in_prehash_pending;
    a->in_prehash_pending = ph;
    dmsec_prehash_wipe(&ph);
    uint8_t sec[DMSEC_SECRET_MAX];
    size_t n = a->in_secret_len;
    memcpy(sec, a->in_secret, sizeof sec);
    memcpy(a->in_secret, a->in_secret_pending, sizeof sec);
    a->in_secret_len = a->in_secret_pending_len;
    memcpy(a->in_secret_pending, sec, sizeof sec);
    a->in_secret_pending_len = n;
    dm_wipe(sec, sizeof sec);
}

/* Authenticates the peer on one message: the verdict for its SyncHdr
 * Status. *trusted tells whether the message's content may be acted on. */
static int authenticate_peer(dmsec_session_t *s, const dmsec_msg_t *m, const uint8_t *body,
                             size_t len, const char *header, time_t now, struct hdr_verdict *v,
                             int *trusted)
{
    memset(v, 0, sizeof *v);
    *trusted = 0;
    int rc;
    int via_default = 0;
    if (s->m.acc.integrity != DMSEC_INTEGRITY_NONE) {
        rc = check_hmac(s, body, len, header, now);
    } else if (!m->hdr.cred) {
        if (s->m.peer_authed && (!s->strict_cred || s->transport_secure)) {
            /* Deployed clients send their Cred until it is accepted: the
             * rest of the session is bound by its RespURI and MsgIDs. */
            v->code = 200;
            *trusted = 1;
            return DMSEC_OK;
        }
        if (s->role == DMSEC_ROLE_CLIENT && !s->m.peer_authed && refuses_us(m)) {
            /* A server withholds its Cred until we authenticate: no
             * failure of its own; the retry asks for its Cred, with a
             * fresh nonce (pending) to build it on. */
            v->code = 407;
            v->chal = 1;
            v->new_nonce = peer_uses_nonce(s);
            s->m.challenged = 1;
            s->m.chal_scheme = s->m.acc.in_scheme;
            return DMSEC_OK;
        }
        event(s, DMSEC_EV_AUTH_FAILED,
              s->m.phantom ? DMSEC_ERR_SESSION_UNKNOWN_PEER : DMSEC_ERR_AUTH_MISSING, NULL, 0);
        v->code = 407;
        if (s->m.peer_authed) {
            dmsec_sess_end(s, DMSEC_ERR_AUTH_MISSING); /* strict: every message */
            return DMSEC_OK;
        }
        challenge_once_more(s, v, &s->m.peer_missing, DMSEC_ERR_AUTH_MISSING);
        return DMSEC_OK;
    } else if (s->transport_authed && !s->m.phantom) {
        /* The TLS client certificate vouched for the device: its Cred adds
         * nothing (and may lag behind its certificate). */
        v->code = 200;
        *trusted = 1;
        return DMSEC_OK;
    } else {
        rc = check_cred(s, m->hdr.cred, &via_default);
    }

    /* A rotation of the device's secret sent earlier and not confirmed:
     * the device may have applied it and lost its Status; then it
     * authenticates on the new secret, which is its secret from now on. */
    int by_pending = 0;
    if ((rc == DMSEC_ERR_AUTH_FAILED || rc == DMSEC_ERR_HMAC_MISMATCH) &&
        s->role == DMSEC_ROLE_SERVER && !s->m.peer_authed && s->m.acc.in_pending) {
        swap_in_cred(&s->m.acc);
        int rc2 = s->m.acc.integrity != DMSEC_INTEGRITY_NONE
                      ? check_hmac(s, body, len, header, now)
                      : check_cred(s, m->hdr.cred, &via_default);
        if (rc2 == DMSEC_OK)
            by_pending = 1;
        else
            swap_in_cred(&s->m.acc);
        if (rc2 != DMSEC_ERR_AUTH_FAILED && rc2 != DMSEC_ERR_HMAC_MISMATCH)
            rc = rc2;
    }

    /* The first use of a nonce only: a second session on it is a replay.
     * (The default nonce, under the interop option, is the option's own
     * business: its notification is consumed once.) */
    if (rc == DMSEC_OK && !via_default && !s->m.peer_authed && s->role == DMSEC_ROLE_SERVER &&
        peer_uses_nonce(s) && s->cb.nonce_used &&
        s->cb.nonce_used(s->cb_ctx, s->m.peer_id, s->m.cur_in_nonce, s->m.cur_in_nonce_len) != 0)
        rc = DMSEC_ERR_SESSION_REPLAY;
    if (by_pending && rc != DMSEC_OK)
        swap_in_cred(&s->m.acc);
    if (by_pending && rc == DMSEC_OK) {
        /* confirmed by use; the old credential is gone */
        s->m.acc.in_pending = 0;
        dmsec_prehash_wipe(&s->m.acc.in_prehash_pending);
        dm_wipe(s->m.acc.in_secret_pending, sizeof s->m.acc.in_secret_pending);
        s->m.acc.in_secret_pending_len = 0;
        dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_CLIENT_SECRET_ROTATED, 0, NULL, 0);
        if (e)
            e->status = 0;
    }
    if (rc == DMSEC_OK) {
        int first = !s->m.peer_authed;
        s->m.peer_authed = 1;
        *trusted = 1;
        v->code = first ? 212 : 200;
        if (first) {
            event(s, DMSEC_EV_PEER_AUTHENTICATED, 0, NULL, 0);
            /* The notification of a resync is used up by the device that
             * authenticates in its session, whichever nonce it used. */
            int completed = via_default;
            if (s->role == DMSEC_ROLE_SERVER && s->m.resync && !s->m.resync_consumed &&
                s->cb.resync_consume &&
                s->cb.resync_consume(s->cb_ctx, s->m.peer_id, s->m.session_id) == 1) {
                s->m.resync_consumed = 1;
                completed = 1;
            }
            if (s->role == DMSEC_ROLE_CLIENT && s->m.resync)
                completed = 1;
            if (completed)
                event(s, DMSEC_EV_RESYNC, 0, NULL, 0);
            /* A fresh nonce every session, for the peer's next one. */
            v->chal = peer_uses_nonce(s);
            v->new_nonce = v->chal;
        }
        return DMSEC_OK;
    }
    if (rc == DMSEC_ERR_NO_MEMORY || rc == DMSEC_ERR_CRYPTO || rc == DMSEC_ERR_RANDOM ||
        rc == DMSEC_ERR_INVALID_ARG || rc == DMSEC_ERR_BUFFER_TOO_SMALL)
        return rc; /* a local failure, not the peer's */
    event(s, DMSEC_EV_AUTH_FAILED, s->m.phantom ? DMSEC_ERR_SESSION_UNKNOWN_PEER : rc, NULL, 0);
    v->code = rc == DMSEC_ERR_SESSION_HMAC_MISSING ? 407 : 401;
    if (rc == DMSEC_ERR_SESSION_SCHEME) {
        dmsec_sess_end(s, rc);
        return DMSEC_OK;
    }
    if (s->m.peer_authed) {
        /* A bad MAC mid-session: the message is rejected, the session
         * goes on. A wrong Cred in an authenticated session ends it. */
        if (s->m.acc.integrity == DMSEC_INTEGRITY_NONE)
            dmsec_sess_end(s, rc);
        return DMSEC_OK;
    }
    challenge_once_more(s, v, &s->m.peer_fail, rc);
    return DMSEC_OK;
}

/* ---- inbound: the peer's verdict on our credentials ---- */

static int can_use_scheme(const dmsec_session_t *s, dmsec_auth_scheme_t scheme)
{
    switch (scheme) {
    case DMSEC_AUTH_BASIC:
        return s->m.acc.out_secret_len > 0;
    case DMSEC_AUTH_MD5:
        return (s->m.acc.out_prehash.flags & DMSEC_PREHASH_MD5) != 0;
    case DMSEC_AUTH_SHA256:
        return (s->m.acc.out_prehash.flags & DMSEC_PREHASH_SHA256) != 0;
    }
    return 0;
}

/* The Status of our SyncHdr: CmdRef 0, or (as deployed clients write it)
 * no CmdRef but a MsgRef. */
static int is_hdr_status(const dmsec_cmd_t *c)
{
    return c->type == DMSEC_CMD_STATUS && c->cmd && !strcmp(c->cmd, "SyncHdr") &&
           (c->cmd_ref ? !strcmp(c->cmd_ref, "0") : c->msg_ref != NULL);
}

/* A nonce the peer gave us: for our retry in this session (challenge),
 * and stored for the next session only when the peer is authenticated. */
static void take_nonce(dmsec_session_t *s, const uint8_t *nonce, size_t len, int for_retry)
{
    if (for_retry) {
        memcpy(s->m.cur_out_nonce, nonce, len);
        s->m.cur_out_nonce_len = len;
    }
    if (s->m.peer_authed) {
        memcpy(s->m.acc.out_nonce, nonce, len);
        s->m.acc.out_nonce_len = len;
        event(s, DMSEC_EV_NONCE_ACCEPTED, 0, nonce, len);
    }
}

/* Read from every message: a challenge from a peer not yet authenticated
 * still gives the nonce for our next Cred (not stored); an acceptance
 * counts only from a trusted message. */
static int read_our_verdict(dmsec_session_t *s, const dmsec_msg_t *m, int trusted)
{
    const dmsec_cmd_t *st = NULL;
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (is_hdr_status(c)) {
            st = c;
            break;
        }
    }
    if (!st)
        return DMSEC_OK;
    int code = dmsec_status_code(st);
    const dmsec_meta_t *meta = st->chal ? st->chal->meta : NULL;
    const char *nonce_b64 = meta ? dmsec_meta_str(meta, DMSEC_MI_NEXTNONCE) : NULL;
    uint8_t nonce[DMSEC_NONCE_MAX];
    size_t nonce_len = 0;
    int have_nonce = 0;
    if (nonce_b64) {
        if (dmsec_b64_decode(nonce_b64, strlen(nonce_b64), nonce, sizeof nonce, &nonce_len))
            return DMSEC_ERR_SESSION_PROTOCOL;
        have_nonce = 1;
    }
    if (code == 200 || code == 212) {
        if (!trusted)
            return DMSEC_OK;
        if (!s->m.self_authed) {
            s->m.self_authed = 1;
            event(s, DMSEC_EV_SELF_AUTHENTICATED, 0, NULL, 0);
            if (s->m.out_pending_tried && s->m.acc.out_secret_pending_len) {
                /* the device holds the secret we rotated: committed by use */
                dmsec_event_t *e =
                    dmsec_sess_event(s, DMSEC_EV_SECRET_ROTATED, 0, s->m.acc.out_secret_pending,
                                     s->m.acc.out_secret_pending_len);
                if (e)
                    e->status = 0;
            }
            /* Either way the device's verdict settles which secret it holds. */
            dm_wipe(s->m.acc.out_secret_pending, sizeof s->m.acc.out_secret_pending);
            s->m.acc.out_secret_pending_len = 0;
        }
        if (have_nonce)
            take_nonce(s, nonce, nonce_len, 0);
        return DMSEC_OK;
    }
    if (code != 401 && code != 407)
        return DMSEC_OK;
    s->m.self_authed = 0;
    if (st->chal && s->role == DMSEC_ROLE_SERVER && s->m.acc.out_secret_pending_len &&
        !s->m.out_pending_tried && !s->m.have_pending_secret) {
        /* Our secret rotated in an earlier session may have reached the
         * device without its Status reaching us: once more, on it. */
        dmsec_prehash_t ph;
        size_t n = s->m.acc.out_secret_pending_len;
        if (dmsec_prehash_compute(s->m.acc.out_name, s->m.acc.out_secret_pending, n, &ph) ==
            DMSEC_OK) {
            memcpy(s->m.acc.out_secret, s->m.acc.out_secret_pending, n);
            s->m.acc.out_secret_len = n;
            s->m.acc.out_prehash = ph;
            s->m.out_pending_tried = 1;
            s->m.self_refusals = 0;
            s->m.asked_answer = 0; /* its verdict is wanted again */
        }
        dmsec_prehash_wipe(&ph);
    }
    if (!st->chal || ++s->m.self_refusals >= 2) {
        dmsec_sess_end(s, DMSEC_ERR_SESSION_PEER_REFUSED);
        return DMSEC_OK;
    }
    /* The recipient of a challenge answers with the requested scheme. */
    const char *type = meta ? dmsec_meta_str(meta, DMSEC_MI_TYPE) : NULL;
    if (type && s->m.acc.integrity == DMSEC_INTEGRITY_NONE) {
        dmsec_auth_scheme_t want;
        if (dmsec_auth_scheme_parse(type, strlen(type), &want) || !can_use_scheme(s, want)) {
            dmsec_sess_end(s, DMSEC_ERR_SESSION_SCHEME);
            return DMSEC_OK;
        }
        s->m.acc.out_scheme = want;
    } else if (type) {
        const char *mine =
            s->m.acc.integrity == DMSEC_INTEGRITY_HMAC_MD5 ? chal_mac_md5 : chal_mac_sha256;
        size_t i = 0;
        while (type[i] && mine[i] && (type[i] | 0x20) == (mine[i] | 0x20))
            i++;
        if (type[i] || mine[i]) {
            dmsec_sess_end(s, DMSEC_ERR_SESSION_SCHEME);
            return DMSEC_OK;
        }
    }
    if (have_nonce)
        take_nonce(s, nonce, nonce_len, 1);
    s->m.resend_pkg1 = s->role == DMSEC_ROLE_CLIENT;
    return DMSEC_OK;
}

/* ---- commands ---- */

static int has_commands(const dmsec_msg_t *m)
{
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS)
            return 1;
    }
    return 0;
}

static int count_cmds(const dmsec_cmd_t *c, int depth)
{
    int n = 0;
    for (; c; c = c->next) {
        n++;
        if (c->children && depth < 8)
            n += count_cmds(c->children, depth + 1);
    }
    return n;
}

dmsec_cmd_t *dmsec_sess_status_for(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c,
                                   int code)
{
    dmsec_cmd_t *st = dmsec_msg_add_status(r, s->m.peer_msg_id, c->cmd_id ? c->cmd_id : "0",
                                           dmsec_cmd_name(c->type), code);
    if (!st)
        return NULL;
    /* TargetRef and SourceRef echo what the peer's Items named. */
    for (const dmsec_item_t *it = c->items; it; it = it->next) {
        if (it->target && it->target->uri && dmsec_cmd_add_target_ref(r, st, it->target->uri))
            return NULL;
        if (it->source && it->source->uri && dmsec_cmd_add_source_ref(r, st, it->source->uri))
            return NULL;
    }
    return st;
}

static dmsec_cmd_t *status_for(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c, int code)
{
    return dmsec_sess_status_for(s, r, c, code);
}

/* ---- the public calls ---- */

static int build_pkg1(dmsec_session_t *s, const struct hdr_verdict *v, time_t now,
                      dmsec_session_out_t *out)
{
    dmsec_msg_t *m = new_message(s);
    if (!m)
        return DMSEC_ERR_NO_MEMORY;
    int rc = DMSEC_OK;
    if (v && (rc = add_hdr_status(s, m, v))) {
        dmsec_msg_free(m);
        return rc;
    }
    dmsec_cmd_t *alert = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
    const char *code = s->server_initiated ? "1200" : "1201";
    if (!alert || !(alert->data = dmsec_msg_data(m, code, 4, 0))) {
        dmsec_msg_free(m);
        return DMSEC_ERR_NO_MEMORY;
    }
    if (s->devinfo && s->devinfo[0]) {
        dmsec_cmd_t *rep = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_REPLACE);
        for (size_t i = 0; rep && s->devinfo[i] && s->devinfo[i + 1]; i += 2) {
            dmsec_item_t *it = dmsec_cmd_add_item(m, rep, NULL, s->devinfo[i]);
            if (!it || !dmsec_meta_add(m, &it->meta, DMSEC_MI_FORMAT, "chr") ||
                !(it->data = dmsec_msg_data(m, s->devinfo[i + 1], strlen(s->devinfo[i + 1]), 0)))
                rep = NULL;
        }
        if (!rep) {
            dmsec_msg_free(m);
            return DMSEC_ERR_NO_MEMORY;
        }
    }
    /* The Alerts we queue (Generic Alerts reporting outcomes). */
    int sent = 0;
    if ((rc = dmsec_sess_fill(s, m, &sent))) {
        dmsec_msg_free(m);
        return rc;
    }
    s->m.resend_pkg1 = 0;
    return emit(s, m, now, out);
}

int dmsec_session_start(dmsec_session_t *s, time_t now, dmsec_session_out_t *out)
{
    if (!s || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (s->role != DMSEC_ROLE_CLIENT || s->m.started)
        return DMSEC_ERR_SESSION_STATE;
    s->n_events = 0;
    int rc = load_account(s, s->server_id);
    if (rc)
        return rc;
    if (!s->m.session_id[0]) {
        uint8_t r[2];
        if ((rc = fill_random(s, r, sizeof r)))
            return rc;
        uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
        if ((rc = dmsec_pkg0_session_id_text(id ? id : 1, s->m.session_id)))
            return rc;
    }
    copy_str(s->m.peer_uri, sizeof s->m.peer_uri, s->server_uri);
    s->m.started = 1;
    return build_pkg1(s, NULL, now, out);
}

static int parse_msg_id(const char *text, long *out)
{
    if (!text || !text[0] || strlen(text) > 9)
        return DMSEC_ERR_SESSION_MSGID;
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return DMSEC_ERR_SESSION_MSGID;
        v = v * 10 + (*p - '0');
    }
    if (v < 1)
        return DMSEC_ERR_SESSION_MSGID;
    *out = v;
    return DMSEC_OK;
}

/* Server: the first message names the device and the session. */
static int open_server_session(dmsec_session_t *s, const dmsec_msg_t *m)
{
    const char *sid = m->hdr.session_id;
    const char *dev = m->hdr.source ? m->hdr.source->uri : NULL;
    if (!sid || !sid[0] || strlen(sid) >= sizeof s->m.session_id || !dev || !dev[0] ||
        strlen(dev) >= sizeof s->m.peer_uri || strlen(dev) >= DMSEC_NAME_MAX)
        return DMSEC_ERR_SESSION_PROTOCOL;
    int rc = load_account(s, dev);
    if (rc == DMSEC_ERR_SESSION_UNKNOWN_PEER)
        rc = load_phantom(s, dev);
    if (rc)
        return rc;
    if (s->require_protected && !s->transport_secure && s->m.acc.integrity == DMSEC_INTEGRITY_NONE)
        return DMSEC_ERR_SESSION_INSECURE;
    copy_str(s->m.session_id, sizeof s->m.session_id, sid);
    copy_str(s->m.peer_uri, sizeof s->m.peer_uri, dev);
    /* A session alerted on the default nonce: our Cred goes on it too, as
     * the device may hold no server nonce we know. */
    s->m.resync = !s->m.phantom && s->cb.resync_outstanding &&
                  s->cb.resync_outstanding(s->cb_ctx, s->m.peer_id, s->m.session_id) == 1;
    if (s->m.resync) {
        size_t rn_len = 0;
        const uint8_t *rn = resync_nonce(s, &rn_len);
        memcpy(s->m.cur_out_nonce, rn, rn_len);
        s->m.cur_out_nonce_len = rn_len;
    }
    if (s->transport_authed && !s->m.phantom) {
        /* The TLS client certificate authenticated the device. */
        s->m.peer_authed = 1;
        event(s, DMSEC_EV_PEER_AUTHENTICATED, 0, NULL, 0);
    }
    s->m.started = 1;
    return DMSEC_OK;
}

/* Whether two absolute URIs share scheme, host and port (compared without
 * regard to case, as both are case-insensitive). */
static int same_origin(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    const char *sa = strstr(a, "://");
    const char *sb = strstr(b, "://");
    if (!sa || !sb)
        return 0;
    size_t na = (size_t)(sa + 3 - a) + strcspn(sa + 3, "/?#");
    size_t nb = (size_t)(sb + 3 - b) + strcspn(sb + 3, "/?#");
    return na == nb && strncasecmp(a, b, na) == 0;
}

static int feed(dmsec_session_t *s, dmsec_msg_t *decoded, const uint8_t *body, size_t len,
                const char *content_type, const char *hmac_header, time_t now,
                dmsec_session_out_t *out);

/* Both entries: decoded NULL to decode body here; else it is taken (freed
 * on every path that does not keep it as last_in). */
static int feed_call(dmsec_session_t *s, dmsec_msg_t *decoded, const uint8_t *body, size_t len,
                     const char *content_type, const char *hmac_header, time_t now,
                     dmsec_session_out_t *out)
{
    if (!s || (!body && len) || !out) {
        dmsec_msg_free(decoded);
        return DMSEC_ERR_INVALID_ARG;
    }
    memset(out, 0, sizeof *out);
    s->n_events = 0;
    s->events_lost = 0;
    if (s->m.ended) {
        dmsec_msg_free(decoded);
        return DMSEC_ERR_SESSION_ENDED;
    }
    /* The message the last call's events pointed into is done with. */
    dmsec_msg_free(s->last_in);
    s->last_in = NULL;
    /* m and the queue entries before the call, only for its length:
     * sessions at rest keep one. */
    struct mstate *snap = malloc(sizeof *snap);
    size_t n_q = s->m.n_q;
    struct qcmd *qsnap = n_q ? malloc(n_q * sizeof *qsnap) : NULL;
    if (!snap || (n_q && !qsnap)) {
        free(snap);
        free(qsnap);
        dmsec_msg_free(decoded);
        return DMSEC_ERR_NO_MEMORY;
    }
    *snap = s->m;
    if (n_q)
        memcpy(qsnap, s->q, n_q * sizeof *qsnap);
    int rc = feed(s, decoded, body, len, content_type, hmac_header, now, out);
    if (!rc && s->events_lost)
        rc = DMSEC_ERR_NO_MEMORY;
    if (rc) {
        /* Nothing of a call that fails stays: not a nonce it drew, not a
         * counter it moved, not a command it queued or sent (the caller
         * persists and sends nothing). */
        for (size_t i = n_q; i < s->m.n_q; i++)
            dmsec_sess_q_free_entry(&s->q[i]);
        s->m = *snap;
        if (n_q)
            memcpy(s->q, qsnap, n_q * sizeof *qsnap);
        s->n_events = 0;
        memset(out, 0, sizeof *out);
    } else {
        dmsec_sess_q_sweep(s);
    }
    /* Its secrets (the queue's strings are pointed to, not copied) */
    dm_wipe(&snap->acc, sizeof snap->acc);
    dm_wipe(snap->pending_secret, sizeof snap->pending_secret);
    dm_wipe(snap->pending_client_secret, sizeof snap->pending_client_secret);
    free(snap);
    free(qsnap);
    return rc;
}

int dmsec_session_feed(dmsec_session_t *s, const uint8_t *body, size_t len,
                       const char *content_type, const char *hmac_header, time_t now,
                       dmsec_session_out_t *out)
{
    return feed_call(s, NULL, body, len, content_type, hmac_header, now, out);
}

int dmsec_session_feed_msg(dmsec_session_t *s, dmsec_msg_t *msg, const uint8_t *body, size_t len,
                           const char *content_type, const char *hmac_header, time_t now,
                           dmsec_session_out_t *out)
{
    if (!msg)
        return DMSEC_ERR_INVALID_ARG;
    return feed_call(s, msg, body, len, content_type, hmac_header, now, out);
}

static int feed(dmsec_session_t *s, dmsec_msg_t *decoded, const uint8_t *body, size_t len,
                const char *content_type, const char *hmac_header, time_t now,
                dmsec_session_out_t *out)
{
    dmsec_msg_t *m = decoded;
    int rc = DMSEC_OK;
    dmsec_codec_t codec = s->m.codec;
    if (s->role == DMSEC_ROLE_CLIENT && !s->m.started)
        rc = DMSEC_ERR_SESSION_STATE;
    else if (content_type)
        rc = dmsec_codec_from_content_type(content_type, &codec);
    if (!rc && !m)
        rc = dmsec_msg_decode(codec, body, len, NULL, &m);
    if (rc) {
        dmsec_msg_free(m);
        return rc;
    }
    long msg_id = 0;
    if ((rc = parse_msg_id(m->hdr.msg_id, &msg_id)))
        goto done;
    if (s->m.started && strcmp(m->hdr.session_id, s->m.session_id) != 0) {
        rc = DMSEC_ERR_SESSION_ID;
        goto done;
    }
    /* Each message once, in order: a replayed or stale message is refused
     * before it can change anything. */
    if (msg_id <= s->m.last_in_msg_id) {
        rc = DMSEC_ERR_SESSION_MSGID;
        goto done;
    }
    if (count_cmds(m->body.cmds, 0) > MAX_CMDS_IN) {
        rc = DMSEC_ERR_SESSION_LIMIT;
        goto done;
    }
    if (s->role == DMSEC_ROLE_SERVER && !s->m.started) {
        if ((rc = open_server_session(s, m)))
            goto done;
        s->m.codec = codec; /* answer in the request's encoding */
    }
    if (++s->m.in_count > s->max_messages) {
        dmsec_sess_end(s, DMSEC_ERR_SESSION_LIMIT);
        rc = DMSEC_ERR_SESSION_LIMIT;
        goto done;
    }
    s->m.last_in_msg_id = msg_id;
    dmsec_sess_read_limits(s, m);
    copy_str(s->m.peer_msg_id, sizeof s->m.peer_msg_id, m->hdr.msg_id);
    if (s->role == DMSEC_ROLE_CLIENT && m->hdr.source && m->hdr.source->uri)
        copy_str(s->m.peer_uri, sizeof s->m.peer_uri, m->hdr.source->uri);
    struct hdr_verdict v;
    int trusted = 0;
    if ((rc = authenticate_peer(s, m, body, len, hmac_header, now, &v, &trusted)))
        goto done;
    /* Where our next message goes. The RespURI of a message not (yet)
     * authenticated is followed, since the challenge exchange needs it,
     * but only on the server's own origin: a forged or tampered message
     * must not send our answer to another host. An authenticated server may
     * move the session anywhere. */
    if (s->role == DMSEC_ROLE_CLIENT && m->hdr.resp_uri && m->hdr.resp_uri[0] &&
        (trusted || same_origin(m->hdr.resp_uri, s->server_uri))) {
        if (strlen(m->hdr.resp_uri) >= sizeof s->m.peer_resp_uri) {
            rc = DMSEC_ERR_SESSION_PROTOCOL;
            goto done;
        }
        copy_str(s->m.peer_resp_uri, sizeof s->m.peer_resp_uri, m->hdr.resp_uri);
    }
    int ended_on_peer = s->m.ended; /* we refused the peer: it must hear so */
    if (!s->m.ended && (rc = read_our_verdict(s, m, trusted)))
        goto done;
    if (s->role == DMSEC_ROLE_CLIENT && s->m.ended && !ended_on_peer)
        goto done; /* the server refused us: nothing more to say */

    if (s->role == DMSEC_ROLE_CLIENT && !s->m.ended && s->m.resend_pkg1) {
        rc = build_pkg1(s, &v, now, out);
        goto done;
    }
    int peer_cmds = trusted && has_commands(m);
    if (s->role == DMSEC_ROLE_CLIENT && !s->m.ended && trusted &&
        (rc = dmsec_sess_client_take(s, m)))
        goto done;
    if (s->role == DMSEC_ROLE_CLIENT && !s->m.ended && !peer_cmds && m->body.final &&
        s->m.peer_authed && s->m.self_authed && !dmsec_sess_q_unsent(s)) {
        /* A server package without a command ends the session: we owe it
         * no answer (DM Protocol). Over a transport that does not
         * authenticate the session, the nonce its Cred used is spent all
         * the same (its Cred could be replayed into our next session): the
         * next one is ours to keep until it asks. Over TLS it stays. */
        if (v.new_nonce && !s->transport_secure) {
            uint8_t nonce[DMSEC_NONCE_LEN];
            if ((rc = issue_nonce(s, nonce)))
                goto done;
        }
        dmsec_sess_end(s, DMSEC_OK);
        goto done;
    }
    dmsec_msg_t *r = new_message(s);
    if (!r) {
        rc = DMSEC_ERR_NO_MEMORY;
        goto done;
    }
    if ((rc = add_hdr_status(s, r, &v)))
        goto reply_fail;
    s->m.out_final = 1;
    if (trusted && s->role == DMSEC_ROLE_CLIENT) {
        rc = dmsec_sess_client_run(s, m, r);
    } else if (!trusted) {
        /* Commands of a message that did not authenticate are not
         * executed, and each gets the SyncHdr's 401 or 407: deployed
         * clients resend only the commands refused so. */
        int code = v.code == 407 ? 407 : 401;
        for (const dmsec_cmd_t *c = m->body.cmds; c && !rc; c = c->next) {
            if (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS)
                rc = status_for(s, r, c, code) ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
        }
    } else if (!s->m.ended) {
        rc = dmsec_sess_server_take(s, m, r);
        int sent = 0;
        if (!rc && !s->m.ended && s->m.peer_authed)
            rc = dmsec_sess_server_send(s, r, &sent);
        /* A package of ours with no command ends the session, and the
         * client owes no answer (DM Protocol): a session in which we had
         * nothing to send is a success. */
        if (!rc && !s->m.ended && s->m.peer_authed && !sent)
            dmsec_sess_end(s, DMSEC_OK);
    }
    if (rc)
        goto reply_fail;
    rc = emit(s, r, now, out);
    goto done;
reply_fail:
    dmsec_msg_free(r);
done:
    if (rc)
        dmsec_msg_free(m);
    else
        s->last_in = m; /* the events of this call point into it */
    return rc;
}

size_t dmsec_session_events(const dmsec_session_t *s)
{
    return s ? s->n_events : 0;
}

const dmsec_event_t *dmsec_session_event(const dmsec_session_t *s, size_t i)
{
    return s && i < s->n_events ? &s->events[i] : NULL;
}

int dmsec_session_done(const dmsec_session_t *s)
{
    return s ? s->m.ended : 1;
}

int dmsec_session_result(const dmsec_session_t *s)
{
    return s ? s->m.result : DMSEC_ERR_INVALID_ARG;
}

int dmsec_session_peer_authenticated(const dmsec_session_t *s)
{
    return s ? s->m.peer_authed : 0;
}

int dmsec_session_self_authenticated(const dmsec_session_t *s)
{
    return s ? s->m.self_authed : 0;
}

const char *dmsec_session_id(const dmsec_session_t *s)
{
    return s && s->m.session_id[0] ? s->m.session_id : NULL;
}

const char *dmsec_session_peer_id(const dmsec_session_t *s)
{
    return s && s->m.peer_id[0] ? s->m.peer_id : NULL;
}

const dmsec_account_t *dmsec_session_account(const dmsec_session_t *s)
{
    return s && s->m.have_acc ? &s->m.acc : NULL;
}

int dmsec_session_peer_known(const dmsec_session_t *s)
{
    return s && !s->m.phantom;
}

const char *dmsec_session_resp_uri(const dmsec_session_t *s)
{
    return s && s->role == DMSEC_ROLE_CLIENT && s->m.peer_resp_uri[0] ? s->m.peer_resp_uri : NULL;
}
