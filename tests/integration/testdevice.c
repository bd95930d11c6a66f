/*
 * dmsec-testdevice: a scripted DM device for the integration tests, built
 * on the session engine (client role) with libcurl for HTTP(S) and a UDP
 * socket for notifications. Its stored state (the DMAcc values) lives in a
 * small key=value file, replaced atomically after every message.
 *
 *   dmsec-testdevice session --state F --url URL [TLS] [--session-id HEX] [--resync]
 *                            [--capture FILE] [--codec xml|wbxml]
 *   dmsec-testdevice listen  --state F --url URL [TLS] --port P [--wait SECONDS]
 *   dmsec-testdevice replay  --url URL --capture FILE [TLS]
 *   dmsec-testdevice make-pkg1 --state F --url URL --session-id HEX --capture FILE [--resync]
 *   dmsec-testdevice lose-nonces --state F
 *   TLS: [--ca FILE] [--cert FILE --key FILE]
 *
 * session and listen also take a deployed client's habits (plain Cred, no
 * HMAC): --cred-until-accepted leaves the SyncHdr Cred out of every message
 * once the server accepted it; --first-without-cred leaves it out of
 * package #1; --resend-refused-only answers a 401/407 on the SyncHdr by
 * sending again (with the new Cred) only the commands that got a 401/407
 * Status of their own, and gives up when none did (digest section 10).
 *
 * Exit 0 when the session ended with both sides authenticated (session,
 * listen), or when the server refused the replayed package (replay);
 * 1 otherwise; 2 for usage errors. One summary line on stdout.
 */
#define _DEFAULT_SOURCE

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"
#include "dmsec/session.h"

#include "agent_http.h"
#include "peer_util.h"

struct state {
    char device_id[128];
    char server_id[128];
    char client_name[128];
    char client_secret[129];
    char server_secret[129];
    char client_scheme[16];
    char server_scheme[16];
    char integrity[16];
    uint8_t client_nonce[64];
    size_t client_nonce_len;
    uint8_t server_nonce[64];
    size_t server_nonce_len;
};

static const char *state_path;
static struct state st;
static int cred_until_accepted, first_without_cred, resend_refused_only;

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "dmsec-testdevice: %s%s\n", what, arg);
    exit(2);
}

static void load_state(void)
{
    FILE *f = fopen(state_path, "r");
    if (!f)
        die("cannot open state ", state_path);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *k = line;
        const char *v = eq + 1;
        size_t n = 0;
#define STR(field)                                                                                 \
    if (!strcmp(k, #field))                                                                        \
    snprintf(st.field, sizeof st.field, "%s", v)
        STR(device_id);
        STR(server_id);
        STR(client_name);
        STR(client_secret);
        STR(server_secret);
        STR(client_scheme);
        STR(server_scheme);
        STR(integrity);
#undef STR
        if (!strcmp(k, "client_nonce") &&
            !dmsec_b64_decode(v, strlen(v), st.client_nonce, sizeof st.client_nonce, &n))
            st.client_nonce_len = n;
        if (!strcmp(k, "server_nonce") &&
            !dmsec_b64_decode(v, strlen(v), st.server_nonce, sizeof st.server_nonce, &n))
            st.server_nonce_len = n;
    }
    fclose(f);
}

/* Written to a temporary file, synced, then renamed over the old one. */
static void save_state(void)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", state_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die("cannot write ", tmp);
    char cn[100] = "";
    char sn[100] = "";
    dmsec_b64_encode(st.client_nonce, st.client_nonce_len, cn, sizeof cn, NULL);
    dmsec_b64_encode(st.server_nonce, st.server_nonce_len, sn, sizeof sn, NULL);
    fprintf(f,
            "device_id=%s\nserver_id=%s\nclient_name=%s\nclient_secret=%s\nserver_secret=%s\n"
            "client_scheme=%s\nserver_scheme=%s\nintegrity=%s\nclient_nonce=%s\nserver_nonce=%s\n",
            st.device_id, st.server_id, st.client_name, st.client_secret, st.server_secret,
            st.client_scheme, st.server_scheme, st.integrity, cn, sn);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    if (rename(tmp, state_path) != 0)
        die("cannot replace ", state_path);
}

static dmsec_auth_scheme_t scheme_of(const char *s)
{
    if (!strcmp(s, "basic"))
        return DMSEC_AUTH_BASIC;
    if (!strcmp(s, "sha256"))
        return DMSEC_AUTH_SHA256;
    return DMSEC_AUTH_MD5;
}

static int get_account(void *ctx, const char *peer_id, dmsec_account_t *a)
{
    (void)ctx;
    (void)peer_id;
    memset(a, 0, sizeof *a);
    a->out_scheme = scheme_of(st.client_scheme);
    a->in_scheme = scheme_of(st.server_scheme);
    snprintf(a->out_name, sizeof a->out_name, "%s", st.client_name);
    snprintf(a->in_name, sizeof a->in_name, "%s", st.server_id);
    a->out_secret_len = strlen(st.client_secret);
    memcpy(a->out_secret, st.client_secret, a->out_secret_len);
    a->in_secret_len = strlen(st.server_secret);
    memcpy(a->in_secret, st.server_secret, a->in_secret_len);
    dmsec_prehash_compute(a->out_name, a->out_secret, a->out_secret_len, &a->out_prehash);
    dmsec_prehash_compute(a->in_name, a->in_secret, a->in_secret_len, &a->in_prehash);
    memcpy(a->out_nonce, st.client_nonce, st.client_nonce_len);
    a->out_nonce_len = st.client_nonce_len;
    memcpy(a->in_nonce, st.server_nonce, st.server_nonce_len);
    a->in_nonce_len = st.server_nonce_len;
    a->integrity = !strcmp(st.integrity, "hmac-md5")      ? DMSEC_INTEGRITY_HMAC_MD5
                   : !strcmp(st.integrity, "hmac-sha256") ? DMSEC_INTEGRITY_HMAC_SHA256
                                                          : DMSEC_INTEGRITY_NONE;
    strcpy(a->srvcred_path, "./DMAcc/dmsec/AppAuth/SRVCRED");
    return 0;
}

static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    (void)ctx;
    (void)server_id;
    const char *uri = item->target ? item->target->uri : "";
    if (cmd->type == DMSEC_CMD_GET && !strcmp(uri, "./DevInfo/Mod")) {
        res->status = 200;
        res->data = strdup("dmsec-testdevice");
        res->data_len = strlen(res->data);
        strcpy(res->format, "chr");
    } else if (cmd->type == DMSEC_CMD_REPLACE &&
               !strcmp(uri, "./DMAcc/dmsec/AppAuth/SRVCRED/AAuthSecret")) {
        res->status = 200; /* the engine reports the new secret as an event */
    } else {
        res->status = 404;
    }
    return 0;
}

/* One message POSTed with the agent's own transport (client/agent_http.c);
 * the HTTP status, 0 on a transport error (said on stderr). */
static long post(const cli_http_t *h, const char *url, const uint8_t *body, size_t len,
                 const char *ct, const char *hmac, cli_http_resp_t *out)
{
    char err[256];
    long status = cli_http_post(h, url, ct, hmac, body, len, out, err, sizeof err);
    if (!status)
        fprintf(stderr, "dmsec-testdevice: %s\n", err);
    return status;
}

/* The session-state contract over the device's state file; the nonce of a
 * challenge to an unauthenticated server is not kept (no pending slot). */
static int td_nonce(uint8_t *dst, size_t *dst_len, const uint8_t *n, size_t len)
{
    if (len > DMSEC_NONCE_MAX)
        return DMSEC_ERR_TOO_LARGE;
    memcpy(dst, n, len);
    *dst_len = len;
    return DMSEC_OK;
}

static int td_set_in_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)ctx;
    (void)peer;
    return td_nonce(st.server_nonce, &st.server_nonce_len, n, len);
}

static int td_set_out_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)ctx;
    (void)peer;
    return td_nonce(st.client_nonce, &st.client_nonce_len, n, len);
}

static int td_secret_rotated(void *ctx, const char *peer, const uint8_t *secret, size_t len)
{
    (void)ctx;
    (void)peer;
    if (len >= sizeof st.server_secret)
        return DMSEC_ERR_TOO_LARGE;
    memcpy(st.server_secret, secret, len);
    st.server_secret[len] = '\0';
    return DMSEC_OK;
}

static const dmsec_state_ops_t td_state_ops = {
    .set_in_nonce = td_set_in_nonce,
    .set_out_nonce = td_set_out_nonce,
    .secret_rotated = td_secret_rotated,
};

static void persist(dmsec_session_t *s)
{
    int rc = dmsec_session_persist(s, &td_state_ops, NULL);
    if (rc)
        die("cannot keep a security event: ", dmsec_errname(rc));
    save_state();
}

static void write_capture(const char *path, const dmsec_session_out_t *o)
{
    if (peer_capture_save(path, o->content_type, o->hmac_header, o->body, o->len))
        die("cannot write ", path);
}

/* The message of o again, without its SyncHdr Cred (strip) and without the
 * commands other than Status whose name is not in keep (",Alert,Replace,";
 * NULL keeps them all). malloc'd, length in *len; NULL when it cannot be
 * decoded. */
static uint8_t *rewrite(const dmsec_session_out_t *o, int strip, const char *keep, size_t *len)
{
    dmsec_codec_t codec;
    dmsec_msg_t *m = NULL;
    if (dmsec_codec_from_content_type(o->content_type, &codec) ||
        dmsec_msg_decode(codec, o->body, o->len, NULL, &m))
        return NULL;
    if (strip)
        m->hdr.cred = NULL;
    for (dmsec_cmd_t **pp = &m->body.cmds; keep && *pp;) {
        char name[32];
        snprintf(name, sizeof name, ",%s,", dmsec_cmd_name((*pp)->type));
        if ((*pp)->type != DMSEC_CMD_STATUS && !strstr(keep, name))
            *pp = (*pp)->next;
        else
            pp = &(*pp)->next;
    }
    uint8_t *buf = NULL;
    if (dmsec_msg_encode(codec, m, &buf, len))
        buf = NULL;
    dmsec_msg_free(m);
    return buf;
}

/* The Status code the answer gives our SyncHdr (-1 when none); the names of
 * the commands it refused with 401/407 go to names as ",Alert,Replace,". */
static int hdr_verdict(const cli_http_resp_t *b, char *names, size_t cap)
{
    dmsec_codec_t codec;
    dmsec_msg_t *m = NULL;
    int code = -1;
    names[0] = '\0';
    if (dmsec_codec_from_content_type(b->ct, &codec) ||
        dmsec_msg_decode(codec, b->p, b->n, NULL, &m))
        return -1;
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS || !c->cmd || !c->cmd_ref)
            continue;
        int k = dmsec_status_code(c);
        size_t n = strlen(names);
        if (!strcmp(c->cmd_ref, "0") && !strcmp(c->cmd, "SyncHdr"))
            code = k;
        else if ((k == 401 || k == 407) && n + strlen(c->cmd) + 3 < cap)
            snprintf(names + n, cap - n, "%s%s,", n ? "" : ",", c->cmd);
    }
    dmsec_msg_free(m);
    return code;
}

static int run_session(const cli_http_t *h, const char *url, const char *sid, int resync,
                       const char *capture, dmsec_codec_t codec)
{
    static const char *const devinfo[] = {"./DevInfo/Mod", "dmsec-testdevice", NULL};
    dmsec_session_config_t cfg = {
        .role = DMSEC_ROLE_CLIENT,
        .codec = codec,
        .server_id = st.server_id,
        .server_uri = url,
        .device_id = st.device_id,
        .session_id = sid,
        .server_initiated = sid != NULL,
        .resync = resync,
        .devinfo = devinfo,
        .cb = {.get_account = get_account, .tree_exec = tree_exec},
    };
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s)
        die("bad session config", "");
    dmsec_session_out_t out;
    int rc = dmsec_session_start(s, time(NULL), &out);
    persist(s);
    if (!rc && capture)
        write_capture(capture, &out);
    long http = 200;
    int messages = 0;
    char refused[128] = ""; /* --resend-refused-only: what to send again */
    while (!rc && out.has_message && messages < 20) {
        const char *to = dmsec_session_resp_uri(s) ? dmsec_session_resp_uri(s) : url;
        cli_http_resp_t b;
        memset(&b, 0, sizeof b);
        int strip = (first_without_cred && messages == 0) ||
                    (cred_until_accepted && dmsec_session_self_authenticated(s));
        size_t own_len = 0;
        uint8_t *own = strip || refused[0]
                           ? rewrite(&out, strip, refused[0] ? refused : NULL, &own_len)
                           : NULL;
        http = post(h, to, own ? own : out.body, own ? own_len : out.len, out.content_type,
                    out.hmac_header, &b);
        free(own);
        messages++;
        if (http != 200) {
            free(b.p);
            break;
        }
        int verdict = resend_refused_only ? hdr_verdict(&b, refused, sizeof refused) : 0;
        if ((verdict == 401 || verdict == 407) && !refused[0]) {
            /* Such a client resends refused commands, never a package
             * refused on its SyncHdr alone. */
            fprintf(stderr, "dmsec-testdevice: SyncHdr %d and no command refused: giving up\n",
                    verdict);
            rc = DMSEC_ERR_SESSION_PEER_REFUSED;
            free(b.p);
            break;
        }
        if (verdict != 401 && verdict != 407)
            refused[0] = '\0';
        rc = dmsec_session_feed(s, b.p, b.n, b.ct[0] ? b.ct : NULL, b.hmac, time(NULL), &out);
        persist(s);
        free(b.p);
    }
    int ok = !rc && http == 200 && dmsec_session_done(s) && dmsec_session_result(s) == 0 &&
             dmsec_session_peer_authenticated(s) && dmsec_session_self_authenticated(s);
    printf("session=%s http=%ld result=%s server_authenticated=%d device_authenticated=%d "
           "messages=%d\n",
           dmsec_session_id(s) ? dmsec_session_id(s) : "-", http,
           rc ? dmsec_errname(rc) : dmsec_errname(dmsec_session_result(s)),
           dmsec_session_peer_authenticated(s), dmsec_session_self_authenticated(s), messages);
    dmsec_session_free(s);
    return ok ? 0 : 1;
}

/* Waits for one notification, verifies it and opens its session. */
static int listen_once(const cli_http_t *h, const char *url, int port, int wait)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("cannot bind the UDP port", "");
    /* Tell the test script we are listening. */
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, wait * 1000) <= 0) {
            printf("notification=none\n");
            close(fd);
            return 1;
        }
        uint8_t pdu[2048];
        ssize_t n = recv(fd, pdu, sizeof pdu, 0);
        if (n <= 0)
            continue;
        const uint8_t *body;
        size_t body_len;
        dmsec_pkg0_t pkg;
        dmsec_prehash_t ph;
        dmsec_nonce_used_t used = DMSEC_NONCE_NONE;
        int rc = dmsec_wsp_push_unwrap(pdu, (size_t)n, &body, &body_len);
        if (!rc)
            rc = dmsec_pkg0_parse(body, body_len, &pkg);
        if (!rc)
            rc = dmsec_prehash_compute(st.server_id, (const uint8_t *)st.server_secret,
                                       strlen(st.server_secret), &ph);
        if (!rc)
            rc = dmsec_pkg0_verify(&pkg, ph.md5, st.server_nonce, st.server_nonce_len, 0, &used);
        if (rc) {
            /* A notification that does not verify is ignored. */
            printf("notification=ignored reason=%s\n", dmsec_errname(rc));
            fflush(stdout);
            continue;
        }
        char sid[5];
        dmsec_pkg0_session_id_text(pkg.session_id, sid);
        printf("notification=verified session=%s nonce=%s\n", sid, dmsec_nonce_used_name(used));
        close(fd);
        return run_session(h, url, sid, used == DMSEC_NONCE_DEFAULT, NULL, DMSEC_CODEC_XML);
    }
}

/* Sends a captured package #1 as a new session; 0 when refused. */
static int replay(const cli_http_t *h, const char *url, const char *path)
{
    struct peer_capture cap;
    if (peer_capture_load(path, &cap))
        die("cannot open, or not a capture: ", path);
    cli_http_resp_t b;
    memset(&b, 0, sizeof b);
    long http = post(h, url, cap.body, cap.len, cap.ct, cap.hmac, &b);
    free(cap.body);
    int code = -1;
    dmsec_codec_t codec;
    dmsec_msg_t *m = NULL;
    if (http == 200 && !dmsec_codec_from_content_type(b.ct, &codec) &&
        !dmsec_msg_decode(codec, b.p, b.n, NULL, &m)) {
        const dmsec_cmd_t *hs = peer_synchdr_status(m);
        code = hs ? dmsec_status_code(hs) : -1;
    }
    dmsec_msg_free(m);
    free(b.p);
    printf("replay http=%ld synchdr_status=%d\n", http, code);
    return (http != 200 || code == 401 || code == 407) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: dmsec-testdevice session|listen|replay|lose-nonces ...", "");
    const char *mode = argv[1];
    const char *url = NULL;
    const char *sid = NULL;
    const char *capture = NULL;
    int resync = 0;
    int port = 0;
    int wait = 10;
    dmsec_codec_t codec = DMSEC_CODEC_XML;
    cli_http_t h = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resync")) {
            resync = 1;
            continue;
        }
        int *flag = !strcmp(a, "--cred-until-accepted")   ? &cred_until_accepted
                    : !strcmp(a, "--first-without-cred")  ? &first_without_cred
                    : !strcmp(a, "--resend-refused-only") ? &resend_refused_only
                                                          : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        if (!v)
            die("a value is needed after ", a);
        i++;
        if (!strcmp(a, "--state"))
            state_path = v;
        else if (!strcmp(a, "--url"))
            url = v;
        else if (!strcmp(a, "--session-id"))
            sid = v;
        else if (!strcmp(a, "--capture"))
            capture = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--wait"))
            wait = atoi(v);
        else if (!strcmp(a, "--ca"))
            h.ca = v;
        else if (!strcmp(a, "--cert"))
            h.cert = v;
        else if (!strcmp(a, "--key"))
            h.key = v;
        else if (!strcmp(a, "--codec"))
            codec = !strcmp(v, "wbxml") ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML;
        else
            die("unknown option ", a);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (!strcmp(mode, "replay")) {
        if (!url || !capture)
            die("replay needs --url and --capture", "");
        rc = replay(&h, url, capture);
    } else {
        if (!state_path)
            die("--state is required", "");
        load_state();
        if (!strcmp(mode, "lose-nonces")) {
            /* A firmware update lost the nonces: back to the default. */
            memcpy(st.client_nonce, dmsec_default_nonce, 4);
            st.client_nonce_len = 4;
            memcpy(st.server_nonce, dmsec_default_nonce, 4);
            st.server_nonce_len = 4;
            save_state();
            rc = 0;
        } else if (!url) {
            die("--url is required", "");
        } else if (!strcmp(mode, "make-pkg1")) {
            /* Package #1 built and recorded, never sent: what an attacker
             * who captured it in transit would hold. */
            static const char *const none[] = {NULL};
            dmsec_session_config_t cfg = {.role = DMSEC_ROLE_CLIENT,
                                          .server_id = st.server_id,
                                          .server_uri = url,
                                          .device_id = st.device_id,
                                          .session_id = sid,
                                          .server_initiated = 1,
                                          .resync = resync,
                                          .devinfo = none,
                                          .cb = {.get_account = get_account}};
            dmsec_session_t *s = dmsec_session_new(&cfg);
            dmsec_session_out_t out;
            if (!s || !capture || dmsec_session_start(s, time(NULL), &out))
                die("cannot build package #1", "");
            write_capture(capture, &out);
            dmsec_session_free(s);
            rc = 0;
        } else if (!strcmp(mode, "session")) {
            rc = run_session(&h, url, sid, resync, capture, codec);
        } else if (!strcmp(mode, "listen")) {
            if (port <= 0)
                die("listen needs --port", "");
            rc = listen_once(&h, url, port, wait);
        } else {
            die("unknown mode ", mode);
        }
    }
    curl_global_cleanup();
    return rc;
}
