/* The session engine as a server and as a client, fed arbitrary bytes:
 * whatever arrives is answered or refused with an error, never a crash.
 * The first byte picks the role and the encoding. */
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int get_account(void *ctx, const char *peer_id, dmsec_account_t *out)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    dmsec_session_config_t cfg = {
        .role = (mode & 1) ? DMSEC_ROLE_SERVER : DMSEC_ROLE_CLIENT,
        .codec = (mode & 2) ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML,
        .server_id = "srv",
        .server_uri = "http://srv/",
        .device_id = "IMEI:1",
        .resync = (mode & 4) != 0,
        .cb = {.get_account = get_account,
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
        if (rc > 0 || (rc == 0 && out.has_message && (!out.body || !out.len)))
            abort();
        for (size_t e = 0; e < dmsec_session_events(s); e++) {
            if (!dmsec_session_event(s, e))
                abort();
        }
    }
    dmsec_session_free(s);
    return 0;
}
