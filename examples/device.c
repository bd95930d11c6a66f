/*
 * device.c - a device program built on the installed libdmsec only
 * (docs/LIBRARY.md walks through it).
 *
 * It runs one client-initiated OMA DM session: the device's engine (client
 * role) builds package #1, and its answers go to a DM server engine in the
 * same process (server role), which authenticates the device, asks for
 * ./DevInfo/Mod with a Get, and ends the session. A real device sends each
 * message over HTTP(S) instead of handing it to the server engine; nothing
 * else changes. Each side stores what its engine's events change (nonces,
 * secrets) before its next message leaves: dmsec_session_persist through a
 * dmsec_state_ops_t.
 *
 *   device [--scheme md5|sha256] [--wrong-secret]
 *
 * Prints what happens, then one result line; exit 0 when both sides
 * authenticated each other and the Get came back, 1 otherwise.
 *
 * Build: cc device.c $(pkg-config --cflags --libs dmsec) -o device
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmsec/auth.h>
#include <dmsec/errors.h>
#include <dmsec/random.h>
#include <dmsec/session.h>
#include <dmsec/version.h>

#define DEVICE_ID "IMEI:490154203237518"
#define SERVER_ID "dmsec"
#define SERVER_URI "http://dm.example.com/dm"
#define MODEL "X1"

/* ---- the device: its DM account (DMAcc) and a two-leaf DevInfo ---- */

struct device {
    dmsec_account_t acc; /* what a real device keeps in its DM tree, on flash */
    int writes;          /* state writes done (each before a message leaves) */
};

/* get_account: the account of the server the session is with. */
static int device_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    struct device *d = ctx;
    if (strcmp(peer_id, SERVER_ID) != 0)
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    *out = d->acc; /* the engine keeps its own copy */
    return 0;
}

/* tree_exec: one server command on the device's tree. Only Get of two
 * DevInfo leaves here; a real device walks its tree and its ACLs. */
static int device_tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                            const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    (void)ctx;
    (void)server_id;
    const char *uri = item->target ? item->target->uri : NULL;
    if (cmd->type != DMSEC_CMD_GET) {
        res->status = 405; /* command not allowed */
        return 0;
    }
    const char *value = NULL;
    if (uri && !strcmp(uri, "./DevInfo/Mod"))
        value = MODEL;
    else if (uri && !strcmp(uri, "./DevInfo/DevId"))
        value = DEVICE_ID;
    if (!value) {
        res->status = 404;
        return 0;
    }
    /* The engine frees data (malloc'd) once it has sent it. */
    size_t len = strlen(value);
    res->data = malloc(len + 1);
    if (!res->data)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(res->data, value, len + 1);
    res->data_len = len;
    snprintf(res->format, sizeof res->format, "chr");
    res->status = 200;
    return 0;
}

/* The device's state writes. A real device writes its tree to flash here
 * (and fsyncs) before returning: the message goes out only afterwards. */
static int device_set_out_nonce(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len)
{
    struct device *d = ctx;
    if (len > sizeof d->acc.out_nonce)
        return DMSEC_ERR_INVALID_ARG;
    memcpy(d->acc.out_nonce, nonce, len); /* CLCRED AAuthData: our next Cred */
    d->acc.out_nonce_len = len;
    d->writes++;
    printf("device: stored the nonce %s gave for our next Cred (%zu bytes)\n", peer_id, len);
    return 0;
}

static int device_set_in_nonce(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len)
{
    struct device *d = ctx;
    if (len > sizeof d->acc.in_nonce)
        return DMSEC_ERR_INVALID_ARG;
    memcpy(d->acc.in_nonce, nonce, len); /* SRVCRED AAuthData */
    d->acc.in_nonce_len = len;
    d->acc.in_nonce_pending_len = 0;
    d->writes++;
    printf("device: stored the nonce we issued %s (%zu bytes)\n", peer_id, len);
    return 0;
}

static int device_set_in_nonce_pending(void *ctx, const char *peer_id, const uint8_t *nonce,
                                       size_t len)
{
    struct device *d = ctx;
    (void)peer_id;
    if (len > sizeof d->acc.in_nonce_pending)
        return DMSEC_ERR_INVALID_ARG;
    memcpy(d->acc.in_nonce_pending, nonce, len);
    d->acc.in_nonce_pending_len = len;
    d->writes++;
    return 0;
}

static int device_secret_rotated(void *ctx, const char *peer_id, const uint8_t *secret, size_t len)
{
    struct device *d = ctx;
    if (len > sizeof d->acc.in_secret)
        return DMSEC_ERR_INVALID_ARG;
    /* The server's new secret (SRVCRED AAuthSecret): never printed. */
    memcpy(d->acc.in_secret, secret, len);
    d->acc.in_secret_len = len;
    int rc = dmsec_prehash_compute(d->acc.in_name, secret, len, &d->acc.in_prehash);
    d->writes++;
    printf("device: %s replaced its secret\n", peer_id);
    return rc;
}

static const dmsec_state_ops_t device_ops = {
    .set_in_nonce = device_set_in_nonce,
    .set_in_nonce_pending = device_set_in_nonce_pending,
    .set_out_nonce = device_set_out_nonce,
    .secret_rotated = device_secret_rotated,
};

/* ---- provisioning: both sides' view of one relationship ---- */

static int set_side(dmsec_account_t *a, dmsec_auth_scheme_t scheme, const char *out_name,
                    const char *out_secret, const char *in_name, const char *in_secret)
{
    memset(a, 0, sizeof *a);
    a->out_scheme = a->in_scheme = scheme;
    snprintf(a->out_name, sizeof a->out_name, "%s", out_name);
    snprintf(a->in_name, sizeof a->in_name, "%s", in_name);
    a->out_secret_len = strlen(out_secret);
    memcpy(a->out_secret, out_secret, a->out_secret_len);
    a->in_secret_len = strlen(in_secret);
    memcpy(a->in_secret, in_secret, a->in_secret_len);
    snprintf(a->srvcred_path, sizeof a->srvcred_path, "./DMAcc/dmsec/AppAuth/SRVCRED");
    int rc = dmsec_prehash_compute(out_name, a->out_secret, a->out_secret_len, &a->out_prehash);
    if (!rc)
        rc = dmsec_prehash_compute(in_name, a->in_secret, a->in_secret_len, &a->in_prehash);
    return rc;
}

static int provision(struct device *dev, dmsec_state_mem_t *srv, dmsec_auth_scheme_t scheme,
                     int wrong_secret)
{
    char client_secret[33], server_secret[33];
    uint8_t n1[DMSEC_NONCE_LEN], n2[DMSEC_NONCE_LEN];
    int rc = dmsec_secret_generate(NULL, client_secret, 32);
    if (!rc)
        rc = dmsec_secret_generate(NULL, server_secret, 32);
    if (!rc)
        rc = dmsec_nonce_generate(NULL, n1);
    if (!rc)
        rc = dmsec_nonce_generate(NULL, n2);
    if (!rc)
        rc = set_side(&dev->acc, scheme, DEVICE_ID,
                      wrong_secret ? "not-the-registered-secret" : client_secret, SERVER_ID,
                      server_secret);
    if (!rc)
        rc = set_side(&srv->acc, scheme, SERVER_ID, server_secret, DEVICE_ID, client_secret);
    if (rc)
        return rc;
    /* n1: the server's nonce for the device's Cred; n2: the other way. */
    memcpy(dev->acc.out_nonce, n1, sizeof n1);
    memcpy(srv->acc.in_nonce, n1, sizeof n1);
    memcpy(dev->acc.in_nonce, n2, sizeof n2);
    memcpy(srv->acc.out_nonce, n2, sizeof n2);
    dev->acc.out_nonce_len = srv->acc.in_nonce_len = sizeof n1;
    dev->acc.in_nonce_len = srv->acc.out_nonce_len = sizeof n2;
    srv->known = 1;
    srv->is_server = 1;
    memset(client_secret, 0, sizeof client_secret);
    memset(server_secret, 0, sizeof server_secret);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: device [--scheme md5|sha256] [--wrong-secret]\n");
    return 2;
}

int main(int argc, char **argv)
{
    dmsec_auth_scheme_t scheme = DMSEC_AUTH_MD5;
    int wrong_secret = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--wrong-secret")) {
            wrong_secret = 1;
        } else if (!strcmp(argv[i], "--scheme") && i + 1 < argc) {
            const char *name = argv[++i];
            char uri[64];
            snprintf(uri, sizeof uri, "syncml:auth-%s", name);
            if (dmsec_auth_scheme_parse(uri, strlen(uri), &scheme) || scheme == DMSEC_AUTH_BASIC)
                return usage();
        } else {
            return usage();
        }
    }
    printf("libdmsec %s, scheme %s\n", DMSEC_VERSION_STRING, dmsec_auth_scheme_name(scheme));

    static struct device dev;        /* static: accounts hold secrets, keep them */
    static dmsec_state_mem_t server; /* off the stack; wiped at the end */
    int rc = provision(&dev, &server, scheme, wrong_secret);
    if (rc) {
        fprintf(stderr, "device: provisioning: %s\n", dmsec_strerror(rc));
        return 1;
    }

    /* One engine per session and per side; nothing is shared between
     * engines, so sessions may run on as many threads as you like. */
    dmsec_session_config_t ccfg = {
        .role = DMSEC_ROLE_CLIENT,
        .codec = DMSEC_CODEC_XML,
        .server_id = SERVER_ID,
        .server_uri = SERVER_URI,
        .device_id = DEVICE_ID,
        .cb = {.get_account = device_account, .tree_exec = device_tree_exec},
        .cb_ctx = &dev,
    };
    dmsec_session_config_t scfg = {
        .role = DMSEC_ROLE_SERVER,
        .server_id = SERVER_ID,
        .server_uri = SERVER_URI,
        .resp_uri = SERVER_URI "/s/0123456789abcdef",
        .cb = {.get_account = dmsec_state_mem_get_account},
        .cb_ctx = &server,
    };
    dmsec_session_t *c = dmsec_session_new(&ccfg);
    dmsec_session_t *s = dmsec_session_new(&scfg);
    if (!c || !s) {
        fprintf(stderr, "device: cannot make the engines (bad config or no memory)\n");
        dmsec_session_free(c);
        dmsec_session_free(s);
        return 1;
    }
    /* The server asks for the device's model once it has authenticated. */
    dmsec_mgmt_cmd_t get = {.tag = 1, .type = DMSEC_CMD_GET, .target = "./DevInfo/Mod"};
    rc = dmsec_session_queue_cmd(s, &get);

    char model[64] = "";
    int get_status = 0;
    dmsec_session_out_t out;
    if (!rc)
        rc = dmsec_session_start(c, time(NULL), &out);
    if (!rc)
        rc = dmsec_session_persist(c, &device_ops, &dev);
    for (int n = 0; !rc && out.has_message && n < 32; n++) {
        int to_server = n % 2 == 0;
        dmsec_session_t *dst = to_server ? s : c;
        printf("%s -> %s: message %d, %zu bytes (%s)\n", to_server ? "device" : "server",
               to_server ? "server" : "device", n + 1, out.len, out.content_type);
        /* A real device POSTs out.body with Content-Type out.content_type
         * (and x-syncml-hmac: out.hmac_header when not empty) to the
         * server URL (later: dmsec_session_resp_uri), and feeds the HTTP
         * answer body back. The body is the engine's until its next call. */
        rc = dmsec_session_feed(dst, out.body, out.len, out.content_type,
                                out.hmac_header[0] ? out.hmac_header : NULL, time(NULL), &out);
        if (rc)
            break;
        for (size_t i = 0; i < dmsec_session_events(dst); i++) {
            const dmsec_event_t *e = dmsec_session_event(dst, i);
            if (to_server && e->type == DMSEC_EV_CMD_DONE && e->tag == 1) {
                get_status = e->status;
                if (e->has_data)
                    snprintf(model, sizeof model, "%.*s", (int)e->data_len, (const char *)e->data);
            }
            if (e->type == DMSEC_EV_AUTH_FAILED)
                printf("%s: authentication failed: %s\n", to_server ? "server" : "device",
                       dmsec_strerror(e->err));
        }
        /* Persistence before sending: the events of this call are stored
         * before the answer leaves. A failed write means: do not send. */
        rc = to_server ? dmsec_session_persist(s, &dmsec_state_mem_ops, &server)
                       : dmsec_session_persist(c, &device_ops, &dev);
    }

    int dev_result = dmsec_session_result(c);
    int srv_result = dmsec_session_result(s);
    int ok = !rc && dev_result == DMSEC_OK && srv_result == DMSEC_OK &&
             dmsec_session_peer_authenticated(c) && dmsec_session_peer_authenticated(s) &&
             get_status == 200 && !strcmp(model, MODEL);
    if (rc)
        printf("error: %s (%s)\n", dmsec_strerror(rc), dmsec_errname(rc));
    if (get_status)
        printf("server: Get ./DevInfo/Mod -> %d '%s'\n", get_status, model);
    printf("session=%s device_result=%s server_result=%s server_authenticated=%d "
           "device_authenticated=%d device_writes=%d server_writes=%d %s\n",
           dmsec_session_id(c) ? dmsec_session_id(c) : "-", dmsec_errname(dev_result),
           dmsec_errname(srv_result), dmsec_session_peer_authenticated(c),
           dmsec_session_peer_authenticated(s), dev.writes, server.writes, ok ? "ok" : "FAILED");
    dmsec_session_free(c);
    dmsec_session_free(s);
    dmsec_account_wipe(&dev.acc);
    dmsec_account_wipe(&server.acc);
    return ok ? 0 : 1;
}
