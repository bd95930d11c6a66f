/*
 * listen.c - package #0 over UDP: unwrap (WAP Push or bare), find the
 * account by server id, verify (stored server nonce, then the default
 * nonce), honour ui-mode through a hook, and open one session per session id.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "client.h"
#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"

#define SEEN_MAX 256

struct seen {
    char key[DMSEC_NAME_MAX + 8]; /* server id '\n' session id */
};

static struct seen seen_ids[SEEN_MAX];
static size_t n_seen;

static int seen_before(const char *server_id, const char *sid)
{
    char key[sizeof seen_ids[0].key];
    snprintf(key, sizeof key, "%s\n%s", server_id, sid);
    for (size_t i = 0; i < n_seen && i < SEEN_MAX; i++) {
        if (!strcmp(seen_ids[i].key, key))
            return 1;
    }
    snprintf(seen_ids[n_seen % SEEN_MAX].key, sizeof key, "%s", key);
    n_seen++;
    return 0;
}

static const char *ui_name(dmsec_ui_mode_t ui)
{
    switch (ui) {
    case DMSEC_UI_BACKGROUND:
        return "background";
    case DMSEC_UI_INFORMATIVE:
        return "informative";
    case DMSEC_UI_INTERACTIVE:
        return "interactive";
    default:
        return "unspecified";
    }
}

/* Runs the hook with /bin/sh; its exit status, or -1. */
static int run_hook(const char *cmd, const char *ui, const char *server_id, const char *sid)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (setenv("DMSEC_UI", ui, 1) || setenv("DMSEC_SERVER", server_id, 1) ||
            setenv("DMSEC_SESSION", sid, 1))
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Printable copy of an untrusted server id for messages. */
static void printable(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++, k++) {
        if (p[i] >= 0x21 && p[i] < 0x7f)
            memcpy(&out[k], &p[i], 1);
        else
            out[k] = '?';
    }
    out[k] = '\0';
}

struct listen_cfg {
    const char *tree_path;
    const char *hook;
    int resync_accept_default;
    cli_http_t http;
    dmsec_codec_t codec;
};

/* --json: a notification's fate as one JSON object; the fields that are
 * NULL are left out. */
static void notice(const char *state, const char *server, const char *sid, const char *reason,
                   const char *nonce, const char *ui)
{
    json_t *j = json_object();
    json_object_set_new(j, "event", json_string("notification"));
    json_object_set_new(j, "notification", json_string(state));
    if (server)
        json_object_set_new(j, "server", cli_json_text(server));
    if (sid)
        json_object_set_new(j, "session", cli_json_text(sid));
    if (nonce)
        json_object_set_new(j, "nonce", json_string(nonce));
    if (ui)
        json_object_set_new(j, "ui", json_string(ui));
    if (reason)
        json_object_set_new(j, "reason", cli_json_text(reason));
    cli_json_line(j);
}

/* Handles one datagram. -1 when it was ignored, else the session's result
 * (0 or 1), or 2 when declined or a repeat. */
static int handle(const struct listen_cfg *lc, const uint8_t *pdu, size_t len)
{
    const uint8_t *body = NULL;
    size_t body_len = 0;
    dmsec_pkg0_t pkg;
    if (dmsec_wsp_push_unwrap(pdu, len, &body, &body_len) != 0) {
        body = pdu; /* a bare package #0 */
        body_len = len;
    }
    int rc = dmsec_pkg0_parse(body, body_len, &pkg);
    if (rc) {
        if (cli_json)
            notice("ignored", NULL, NULL, dmsec_errname(rc), NULL, NULL);
        else
            printf("notification=ignored reason=%s\n", dmsec_errname(rc));
        return -1;
    }
    char server_id[DMSEC_NAME_MAX];
    char shown[DMSEC_NAME_MAX];
    printable(pkg.server_id, pkg.server_id_len, shown, sizeof shown);
    if (pkg.server_id_len == 0 || pkg.server_id_len >= sizeof server_id ||
        memchr(pkg.server_id, 0, pkg.server_id_len)) {
        if (cli_json)
            notice("ignored", shown, NULL, "bad-server-id", NULL, NULL);
        else
            printf("notification=ignored server=%s reason=bad-server-id\n", shown);
        return -1;
    }
    memcpy(server_id, pkg.server_id, pkg.server_id_len);
    server_id[pkg.server_id_len] = '\0';
    char sid[5];
    dmsec_pkg0_session_id_text(pkg.session_id, sid);

    /* The tree as it is now on disk: sessions in between changed it. */
    dmsec_tree_t *t = NULL;
    if (treefile_load(lc->tree_path, &t))
        return -1;
    char acc[DMSEC_TREE_MAX_SEGMENT + 1];
    if (dmsec_tree_find_account(t, server_id, acc, sizeof acc) != 0) {
        if (cli_json)
            notice("ignored", shown, sid, "unknown-server", NULL, NULL);
        else
            printf("notification=ignored server=%s reason=unknown-server\n", shown);
        dmsec_tree_free(t);
        return -1;
    }
    /* The DMAcc read as a session reads it: the server's secret, the nonce
     * stored for it and the pending one. */
    dmsec_account_t a;
    dmsec_prehash_t ph = {0};
    dmsec_nonce_used_t used = DMSEC_NONCE_NONE;
    rc = cli_account_load(t, acc, &a);
    if (rc == DMSEC_ERR_SESSION_UNKNOWN_PEER)
        rc = DMSEC_ERR_TREE_NOT_FOUND;
    if (!rc) /* the digest's key is H(server-identifier ":" password) */
        rc = dmsec_prehash_compute(server_id, a.in_secret, a.in_secret_len, &ph);
    if (!rc)
        rc = dmsec_pkg0_verify(&pkg, ph.md5, a.in_nonce_len ? a.in_nonce : NULL, a.in_nonce_len, 0,
                               &used);
    /* A server that authenticated on the nonce of our challenge builds its
     * digest on it before we confirmed it as the stored one. */
    if (rc == DMSEC_ERR_PKG0_DIGEST && a.in_nonce_pending_len &&
        dmsec_pkg0_verify(&pkg, ph.md5, a.in_nonce_pending, a.in_nonce_pending_len, 0, &used) ==
            DMSEC_OK)
        rc = DMSEC_OK;
    dmsec_account_wipe(&a);
    dmsec_prehash_wipe(&ph);
    if (rc) {
        const char *reason = rc == DMSEC_ERR_PKG0_DIGEST
                                 ? "digest-mismatch(stored-and-default-nonce)"
                                 : dmsec_errname(rc);
        if (cli_json)
            notice("ignored", shown, sid, reason, NULL, NULL);
        else
            printf("notification=ignored server=%s session=%s reason=%s\n", shown, sid, reason);
        dmsec_tree_free(t);
        return -1;
    }
    const char *ui = ui_name(pkg.ui);
    if (cli_json)
        notice("verified", server_id, sid, NULL, dmsec_nonce_used_name(used), ui);
    else
        printf("notification=verified server=%s session=%s nonce=%s ui=%s\n", server_id, sid,
               dmsec_nonce_used_name(used), ui);
    if (seen_before(server_id, sid)) {
        if (cli_json)
            notice("repeat", server_id, sid, "already started", NULL, NULL);
        else
            printf("notification=repeat server=%s session=%s (already started)\n", server_id, sid);
        dmsec_tree_free(t);
        return 2;
    }
    if (pkg.ui == DMSEC_UI_INFORMATIVE || pkg.ui == DMSEC_UI_INTERACTIVE) {
        int hs = lc->hook ? run_hook(lc->hook, ui, server_id, sid) : -1;
        if (pkg.ui == DMSEC_UI_INTERACTIVE && hs != 0) {
            const char *why = lc->hook ? "the hook said no" : "interactive needs --hook";
            if (cli_json)
                notice("declined", server_id, sid, why, NULL, ui);
            else
                printf("notification=declined server=%s session=%s (%s)\n", server_id, sid, why);
            dmsec_tree_free(t);
            return 2;
        }
    }
    cli_session_req_t req = {.tree_path = lc->tree_path,
                             .server_id = server_id,
                             .session_id = sid,
                             .resync = used == DMSEC_NONCE_DEFAULT,
                             .resync_accept_default = lc->resync_accept_default,
                             .codec = lc->codec,
                             .http = lc->http};
    fflush(stdout);
    int res = cli_session_run(t, &req);
    dmsec_tree_free(t);
    return res;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cli_listen(const cli_opts_t *o)
{
    struct listen_cfg lc = {
        .tree_path = cli_opt(o, "tree"),
        .hook = cli_opt(o, "hook"),
        .resync_accept_default = cli_flag(o, "resync-accept-default"),
        .http = {.ca = cli_opt(o, "ca"), .cert = cli_opt(o, "cert"), .key = cli_opt(o, "key")},
        .codec = DMSEC_CODEC_XML};
    const char *codec = cli_opt(o, "codec");
    if (codec && !strcmp(codec, "wbxml"))
        lc.codec = DMSEC_CODEC_WBXML;
    else if (codec && strcmp(codec, "xml") != 0) {
        cli_err("--codec must be xml or wbxml");
        return CLI_EXIT_USAGE;
    }
    long port = 0;
    long wait_s = -1;
    const char *ps = cli_opt(o, "port");
    const char *ws = cli_opt(o, "wait");
    const char *bind_addr = cli_opt(o, "bind") ? cli_opt(o, "bind") : "127.0.0.1";
    if (!lc.tree_path || !ps || parse_int(ps, 1, 65535, &port) ||
        (ws && parse_int(ws, 0, 86400, &wait_s))) {
        cli_err("listen needs --tree FILE --port 1..65535 [--wait SECONDS] [--once]");
        return CLI_EXIT_USAGE;
    }
    int once = cli_flag(o, "once");
    dmsec_tree_t *t = NULL;
    if (treefile_load(lc.tree_path, &t))
        return CLI_EXIT_FAIL;
    dmsec_tree_free(t);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &a.sin_addr) != 1) {
        cli_err("--bind must be an IPv4 address");
        return CLI_EXIT_USAGE;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        cli_err("cannot bind UDP %s:%ld: %s", bind_addr, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_FAIL;
    }
    if (cli_json)
        cli_json_line(json_pack("{s:s,s:I}", "event", "listening", "port", (json_int_t)port));
    else
        printf("listening port=%ld\n", port);
    fflush(stdout);
    int result = 0;
    time_t deadline = wait_s >= 0 ? time(NULL) + wait_s : 0;
    for (;;) {
        int timeout = -1;
        if (wait_s >= 0) {
            time_t left = deadline - time(NULL);
            timeout = left > 0 ? (int)left * 1000 : 0;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, timeout);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            if (cli_json)
                cli_json_line(json_pack("{s:s,s:s,s:I}", "event", "notification", "notification",
                                        "none", "waited", (json_int_t)wait_s));
            else
                printf("notification=none (waited %lds)\n", wait_s);
            result = once ? 1 : 0;
            break;
        }
        uint8_t pdu[2048];
        ssize_t n = recv(fd, pdu, sizeof pdu, 0);
        if (n <= 0)
            continue;
        int r = handle(&lc, pdu, (size_t)n);
        fflush(stdout);
        if (once && r >= 0 && r != 2) {
            result = r;
            break;
        }
    }
    close(fd);
    fflush(stdout);
    return result;
}
