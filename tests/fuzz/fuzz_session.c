/* The session engine as a server and as a client, fed arbitrary bytes:
 * whatever arrives is answered or refused with an error, never a crash.
 *
 * The first byte picks the harness:
 * - bit 7 clear: raw mode. Bits 0-3 pick the role, the encoding, the
 *   client's resync flag and an x-syncml-hmac header; the rest of the
 *   input is fed twice (the second is a replay or a later message).
 * - bit 7 set: conversation mode. A real client and a real server engine
 *   talk, over the contract in memory, and the input rewrites the messages
 *   in transit, so that the fuzzer reaches what it could never forge:
 *   authenticated sessions, HMAC (both forms) with mac_seen, a client
 *   certificate (transport authentication), resynchronisation refused or
 *   accepted, the unknown device, strict Cred, pending nonces. Bits 0-6
 *   and the second byte pick the configuration; then come edits, three
 *   bytes each (message number, offset, xor). Invariants: a client with a
 *   wrong secret never authenticates to the server (without a client
 *   certificate), nor an unknown device; untouched conversations end well.
 *   The accounts and the driver of the conversation are the session tests'
 *   (tests/unit/pair_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/hmac.h"
#include "dmsec/session.h"
#include "../unit/pair_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int raw_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    (void)ctx;
    (void)peer_id;
    memset(out, 0, sizeof *out);
    out->out_scheme = DMSEC_AUTH_MD5;
    out->in_scheme = DMSEC_AUTH_MD5;
    strcpy(out->out_name, "me");
    strcpy(out->in_name, "IMEI:1");
    dmsec_prehash_compute("me", (const uint8_t *)"a", 1, &out->out_prehash);
    dmsec_prehash_compute("IMEI:1", (const uint8_t *)"b", 1, &out->in_prehash);
    out->in_nonce_len = out->out_nonce_len = 4;
    strcpy(out->srvcred_path, "./DMAcc/x/AppAuth/SRVCRED");
    return 0;
}

static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    (void)ctx;
    (void)server_id;
    (void)cmd;
    (void)item;
    res->status = 200;
    return 0;
}

static int consume(void *ctx, const char *device_id, const char *session_id)
{
    (void)ctx;
    (void)device_id;
    (void)session_id;
    return 1;
}

static int raw_mode(const uint8_t *data, size_t size)
{
    uint8_t mode = data[0];
    dmsec_session_config_t cfg = {
        .role = (mode & 1) ? DMSEC_ROLE_SERVER : DMSEC_ROLE_CLIENT,
        .codec = (mode & 2) ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML,
        .server_id = "srv",
        .server_uri = "http://srv/",
        .device_id = "IMEI:1",
        .resync = (mode & 4) != 0,
        .cb = {.get_account = raw_account,
               .tree_exec = tree_exec,
               .resync_consume = consume,
               .resync_outstanding = consume},
    };
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s)
        abort();
    dmsec_session_out_t out;
    if (cfg.role == DMSEC_ROLE_CLIENT && dmsec_session_start(s, 0, &out) != DMSEC_OK)
        abort();
    const char *ct =
        (mode & 2) ? "application/vnd.syncml.dm+wbxml" : "application/vnd.syncml.dm+xml";
    const char *hmac =
        (mode & 8) ? "algorithm=MD5, username=\"IMEI:1\", mac=AAAAAAAAAAAAAAAAAAAAAA==" : NULL;
    /* The same bytes twice: the second is a replay or a later message. */
    for (int i = 0; i < 2; i++) {
        int rc = dmsec_session_feed(s, data + 1, size - 1, ct, hmac, 1000, &out);
        if (!pair_call_ok(s, rc, &out))
            abort();
    }
    dmsec_session_free(s);
    return 0;
}

/* ---- conversation mode ---- */

#define DEV "IMEI:359881030314356"
#define SRV "fuzz.example"

struct party {
    dmsec_state_mem_t mem;
    int resync_outstanding; /* server */
    int consumes;
    char macs[16][DMSEC_HMAC_MAC_MAX];
    int n_macs;
};

static int conv_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    return dmsec_state_mem_get_account(&((struct party *)ctx)->mem, peer_id, out);
}

static int conv_outstanding(void *ctx, const char *device_id, const char *session_id)
{
    (void)device_id;
    (void)session_id;
    return ((struct party *)ctx)->resync_outstanding;
}

static int conv_consume(void *ctx, const char *device_id, const char *session_id)
{
    struct party *p = ctx;
    if (!conv_outstanding(ctx, device_id, session_id))
        return 0;
    p->resync_outstanding = 0;
    p->consumes++;
    return 1;
}

static int conv_mac_seen(void *ctx, const char *mac, time_t ts)
{
    (void)ts;
    struct party *p = ctx;
    for (int i = 0; i < p->n_macs; i++) {
        if (!strcmp(p->macs[i], mac))
            return 1;
    }
    if (p->n_macs < 16)
        strcpy(p->macs[p->n_macs++], mac);
    return 0;
}

static int conv_nonce_used(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len)
{
    (void)peer_id;
    struct party *p = ctx;
    char key[DMSEC_HMAC_MAC_MAX];
    size_t n = len < sizeof key / 2 - 1 ? len : sizeof key / 2 - 1;
    for (size_t i = 0; i < n; i++)
        snprintf(key + 2 * i, 3, "%02x", nonce[i]);
    key[2 * n] = '\0';
    return conv_mac_seen(p, key, 0);
}

static void set_acc(dmsec_account_t *a, dmsec_auth_scheme_t out_s, const char *out_name,
                    const char *out_secret, dmsec_auth_scheme_t in_s, const char *in_name,
                    const char *in_secret, dmsec_integrity_t integ)
{
    if (account_set(a, out_s, out_name, out_secret, in_s, in_name, in_secret))
        abort();
    a->integrity = integ;
    strcpy(a->srvcred_path, "./DMAcc/fuzz/AppAuth/SRVCRED");
}

struct conv {
    const uint8_t *edits;
    size_t n_edits;
    int touched;
};

/* Applies the edits that name message m: a byte xor'ed. */
static void conv_before(void *arg, pair_msg_t *m)
{
    struct conv *cv = arg;
    for (size_t e = 0; e < cv->n_edits; e++) {
        const uint8_t *ed = cv->edits + 3 * e;
        if (ed[0] % 16 != m->n || !m->len)
            continue;
        size_t off = ((size_t)ed[1] * 131u + (size_t)ed[0]) % m->len;
        if (ed[2]) {
            m->body[off] ^= ed[2];
            cv->touched = 1;
        }
    }
}

/* Checks the engine's call and persists its events. */
static void conv_after(void *arg, const pair_call_t *call)
{
    (void)arg;
    struct party *p = call->party;
    if (!pair_call_ok(call->engine, call->rc, call->out))
        abort();
    if (!call->rc && dmsec_session_persist(call->engine, &dmsec_state_mem_ops, &p->mem))
        abort();
}

static const dmsec_auth_scheme_t schemes[4] = {DMSEC_AUTH_MD5, DMSEC_AUTH_SHA256, DMSEC_AUTH_BASIC,
                                               DMSEC_AUTH_MD5};

static int conversation(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t m0 = data[0], m1 = data[1];
    const uint8_t *edits = data + 2;
    size_t n_edits = (size - 2) / 3;
    dmsec_integrity_t integ = (m0 & 3) == 1   ? DMSEC_INTEGRITY_HMAC_MD5
                              : (m0 & 3) == 2 ? DMSEC_INTEGRITY_HMAC_SHA256
                                              : DMSEC_INTEGRITY_NONE;
    dmsec_auth_scheme_t c2s = schemes[(m0 >> 2) & 3];
    dmsec_auth_scheme_t s2c = schemes[(m1 >> 4) & 3];
    if (integ == DMSEC_INTEGRITY_HMAC_MD5)
        c2s = s2c = DMSEC_AUTH_MD5;
    if (integ == DMSEC_INTEGRITY_HMAC_SHA256)
        c2s = s2c = DMSEC_AUTH_SHA256;
    int wrong_secret = (m0 & 0x10) != 0;
    int lost_nonces = (m0 & 0x20) != 0;
    int resync_notified = (m0 & 0x40) != 0;
    int wbxml = (m1 & 1) != 0;
    int transport_auth = (m1 & 2) != 0;
    int unknown = (m1 & 4) != 0;
    int accept_default = (m1 & 8) != 0;
    int strict = (m1 & 0x40) != 0;
    int secure = (m1 & 0x80) != 0;

    static struct party dev, srv;
    memset(&dev, 0, sizeof dev);
    memset(&srv, 0, sizeof srv);
    set_acc(&dev.mem.acc, c2s, DEV, wrong_secret ? "not-the-secret" : "client-secret", s2c, SRV,
            "server-secret", integ);
    set_acc(&srv.mem.acc, s2c, SRV, "server-secret", c2s, DEV, "client-secret", integ);
    memset(dev.mem.acc.out_nonce, 0x31, 16);
    memset(srv.mem.acc.in_nonce, 0x31, 16);
    memset(dev.mem.acc.in_nonce, 0x32, 16);
    memset(srv.mem.acc.out_nonce, 0x32, 16);
    dev.mem.acc.out_nonce_len = srv.mem.acc.in_nonce_len = 16;
    dev.mem.acc.in_nonce_len = srv.mem.acc.out_nonce_len = 16;
    if (lost_nonces) {
        memset(dev.mem.acc.out_nonce, 0, 4);
        memset(dev.mem.acc.in_nonce, 0, 4);
        dev.mem.acc.out_nonce_len = dev.mem.acc.in_nonce_len = 4;
    }
    dev.mem.known = 1;
    srv.mem.known = !unknown;
    srv.mem.is_server = 1;
    srv.resync_outstanding = resync_notified;
    dmsec_resync_mode_t rm = accept_default ? DMSEC_RESYNC_ACCEPT_DEFAULT : DMSEC_RESYNC_CHALLENGE;
    dmsec_session_config_t ccfg = {
        .role = DMSEC_ROLE_CLIENT,
        .codec = wbxml ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML,
        .server_id = SRV,
        .server_uri = "http://fuzz.example/dm",
        .device_id = DEV,
        .session_id = resync_notified ? "1A2B" : NULL,
        .server_initiated = resync_notified,
        .resync = lost_nonces && resync_notified,
        .transport_secure = secure || transport_auth,
        .resync_mode = rm,
        .cb = {.get_account = conv_account, .tree_exec = tree_exec, .mac_seen = conv_mac_seen},
        .cb_ctx = &dev,
    };
    dmsec_session_config_t scfg = {
        .role = DMSEC_ROLE_SERVER,
        .server_id = SRV,
        .server_uri = "http://fuzz.example/dm",
        .resp_uri = "http://fuzz.example/dm/s/0123456789abcdef",
        .transport_authenticated = transport_auth,
        .transport_secure = secure || transport_auth,
        .strict_cred = strict,
        .resync_mode = rm,
        .cb = {.get_account = conv_account,
               .resync_outstanding = conv_outstanding,
               .resync_consume = conv_consume,
               .mac_seen = conv_mac_seen,
               .nonce_used = conv_nonce_used},
        .cb_ctx = &srv,
    };
    dmsec_session_t *c = dmsec_session_new(&ccfg);
    dmsec_session_t *s = dmsec_session_new(&scfg);
    if (!c || !s)
        abort();
    if (m1 & 0x20)
        dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL);
    struct conv cv = {edits, n_edits, 0};
    pair_drive_t d = {.client = c,
                      .server = s,
                      .dev = &dev,
                      .srv = &srv,
                      .codec = ccfg.codec,
                      .now = 1000,
                      .max = 16,
                      .before = conv_before,
                      .after = conv_after,
                      .arg = &cv};
    pair_run_t r;
    if (pair_drive(&d, &r))
        abort();
    /* Security invariants, whatever was rewritten. */
    if (dmsec_session_peer_authenticated(s) && !transport_auth && (wrong_secret || unknown))
        abort();
    if (unknown && dmsec_session_peer_authenticated(s))
        abort();
    if (!srv.mem.known && srv.mem.writes)
        abort(); /* nothing stored for an unknown device */
    /* A clean conversation of matching parties ends well on both sides. */
    if (!cv.touched && !wrong_secret && !unknown && !transport_auth && !lost_nonces &&
        !resync_notified &&
        (dmsec_session_result(s) != DMSEC_OK || dmsec_session_result(c) != DMSEC_OK))
        abort();
    dmsec_session_free(c);
    dmsec_session_free(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    return (data[0] & 0x80) ? conversation(data, size) : raw_mode(data, size);
}
