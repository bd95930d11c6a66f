/*
 * attacker: what someone on the network path (or anyone who can reach the
 * server) does to a DM session over plain HTTP, for the attack_*.sh
 * integration scripts. It never knows a secret it was not given.
 *
 *   attacker pkg1 --device ID --url URL --session-id SID --out FILE
 *                 [--scheme md5|sha256|basic] [--user NAME]
 *                 (--secret S --nonce-b64 B | --wrong-cred | --no-cred)
 *       writes a package #1 (XML: Alert 1201, Replace ./DevInfo/Mod) naming
 *       device ID, with a Cred built on the given secret and nonce, a Cred
 *       of the right length that is wrong, or no Cred.
 *   attacker post --url URL --body FILE [--session-id SID] [--save FILE]
 *       POSTs a package (its SessionID rewritten when asked) and prints
 *       "http=S synchdr=C chal=0|1 nonce_len=N cred=0|1 cmd_status=A,B|-"
 *       for the answer (synchdr, chal, nonce_len: the Status of the SyncHdr;
 *       cred: the answer's SyncHdr carries a Cred; cmd_status: the codes of
 *       the other Statuses, in order). --save keeps the answer's body.
 *   attacker replay --url URL --body FILE --session-id SID [--messages N]
 *       seed 003: POSTs a recorded package #1 with its SessionID rewritten,
 *       then plays the device for up to N messages in all (default 3): each
 *       next message goes to the RespURI, repeats the recorded Cred (the
 *       attacker has no other), claims 212 for the server's SyncHdr and 200
 *       for every command. One line per message
 *       "msg=K http=S synchdr=C chal=0|1 nonce_len=N secret_replace=0|1",
 *       then "replay accepted=0|1 secret_replace=0|1 messages=K".
 *       Exit 0 when the server never accepted the Cred (no SyncHdr Status 200
 *       or 212) and never sent a Replace of an AAuthSecret; 1 otherwise.
 *   attacker inspect FILE [--ct CONTENT-TYPE]
 *       "synchdr=C chal=0|1 nonce_len=N cred=0|1 cmd_status=A,B|- session=SID
 *       msgid=N" for a recorded message, as for post (-1 where there is no
 *       such Status); XML unless the content type says WBXML.
 *   attacker shape FILE
 *       the element structure of an XML message with every text value
 *       masked as '#', one element per line (to compare two answers).
 *   attacker relay --listen PORT --to HOST:PORT [--wrong-cred-from N] [--log FILE]
 *       an HTTP relay (Content-Length bodies; Host kept, so RespURIs point
 *       back at it). From the N-th POST on it replaces the SyncHdr Cred Data
 *       of each request with a wrong value of the same length (or adds a
 *       wrong md5 Cred when there is none). Logs one line per request:
 *       "relay #K POST PATH cred=kept|corrupted|inserted|none -> http=S synchdr=C".
 *       Runs until killed.
 *   attacker mgmt --device ID --url URL --session-id SID [--scheme S] [--user NAME]
 *                 (--secret S --nonce-b64 B | --wrong-cred | --no-cred)
 *                 [--refs N] [--ids A,B,..] [--correlator C] [--alert-data D]
 *                 [--value V] [--messages K] [--source-after ID] [--save PREFIX]
 *       a session of forged management answers naming device ID. Every
 *       message carries: a Status 200 for each (MsgRef m, CmdRef c), m and c
 *       in 1..N (default 4), plus CmdRefs A,B,.. (queue ids) with each MsgRef
 *       and without one; Results for CmdRef 1..N (MsgRef 1) of ./DevInfo/Mod
 *       with value V; a Generic Alert 1226 (FUMO type, Correlator C, Data D,
 *       default 200); a Replace of ./DevInfo/FwV with value V. Package #1
 *       (with Alert 1201) has the Cred asked for; each next message goes to
 *       the RespURI while the server challenges or sends commands, up to K
 *       messages (default 3): after a challenge a Cred on its nonce with
 *       --secret, a wrong one otherwise (none once accepted), the Source
 *       --source-after when given, a 212/200 Status for the server's SyncHdr.
 *       One line per message "msg=K http=S synchdr=C chal=0|1 server_cmds=N
 *       cmd_status=..." (server_cmds: the answer's commands other than
 *       Status, Results and Alert), then "mgmt accepted=0|1 messages=K
 *       server_cmds=N". --save keeps each answer as PREFIX-K.
 */
#define _DEFAULT_SOURCE

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/random.h"

#include "peer_util.h"

#define XML_CT "application/vnd.syncml.dm+xml"

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "attacker: %s%s\n", what, arg ? arg : "");
    exit(2);
}

/* ---- files and buffers ---- */

struct buf {
    uint8_t *p;
    size_t n;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    uint8_t *q = realloc(b->p, b->n + n + 1);
    if (!q)
        die("no memory", NULL);
    memcpy(q + b->n, p, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = '\0';
}

static struct buf slurp(const char *path)
{
    struct buf b = {0};
    if (!(b.p = peer_read_file(path, &b.n)))
        die("cannot open ", path);
    return b;
}

static void spit(const char *path, const void *p, size_t n)
{
    if (peer_write_file(path, p, n))
        die("cannot write ", path);
}

/* ---- SyncML helpers ---- */

static dmsec_codec_t codec_of(const char *ct, const uint8_t *body, size_t n)
{
    dmsec_codec_t c;
    if (ct && ct[0] && !dmsec_codec_from_content_type(ct, &c))
        return c;
    return (n && body[0] == '<') ? DMSEC_CODEC_XML : DMSEC_CODEC_WBXML;
}

static dmsec_msg_t *decode(const char *ct, const uint8_t *body, size_t n)
{
    dmsec_msg_t *m = NULL;
    if (!n || dmsec_msg_decode(codec_of(ct, body, n), body, n, NULL, &m))
        return NULL;
    return m;
}

static struct buf encode(dmsec_codec_t codec, const dmsec_msg_t *m)
{
    struct buf b = {0};
    int rc = dmsec_msg_encode(codec, m, &b.p, &b.n);
    if (rc)
        die("cannot encode: ", dmsec_errname(rc));
    return b;
}

/* The decoded length of the NextNonce of a Status's Chal; -1 when none. */
static int chal_nonce_len(const dmsec_cmd_t *st)
{
    const char *b64 = st && st->chal ? dmsec_meta_str(st->chal->meta, DMSEC_MI_NEXTNONCE) : NULL;
    uint8_t raw[256];
    size_t n = 0;
    if (!b64 || dmsec_b64_decode(b64, strlen(b64), raw, sizeof raw, &n))
        return -1;
    return (int)n;
}

/* 1 when the message replaces an AAuthSecret (a secret rotation). */
static int replaces_secret(const dmsec_cmd_t *c)
{
    for (; c; c = c->next) {
        if (c->type == DMSEC_CMD_REPLACE) {
            for (const dmsec_item_t *it = c->items; it; it = it->next) {
                const char *u = it->target ? it->target->uri : NULL;
                size_t n = u ? strlen(u) : 0;
                if (n >= 12 && !strcmp(u + n - 12, "/AAuthSecret"))
                    return 1;
            }
        }
        if (replaces_secret(c->children))
            return 1;
    }
    return 0;
}

/* "synchdr=C chal=0|1 nonce_len=N cred=0|1 cmd_status=A,B" of a message. */
static void describe(const dmsec_msg_t *m, char *out, size_t cap)
{
    const dmsec_cmd_t *st = peer_synchdr_status(m);
    char codes[256] = "";
    size_t k = 0;
    for (const dmsec_cmd_t *c = m ? m->body.cmds : NULL; c; c = c->next) {
        if (c->type == DMSEC_CMD_STATUS && c != st && k + 8 < sizeof codes)
            k += (size_t)snprintf(codes + k, sizeof codes - k, "%s%d", k ? "," : "",
                                  dmsec_status_code(c));
    }
    snprintf(out, cap, "synchdr=%d chal=%d nonce_len=%d cred=%d cmd_status=%s",
             st ? dmsec_status_code(st) : -1, st && st->chal, chal_nonce_len(st), m && m->hdr.cred,
             k ? codes : "-");
}

/* ---- HTTP client (libcurl) ---- */

struct answer {
    long http;
    char ct[128];
    struct buf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    buf_add(ud, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = sz * n;
    if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
        const char *v = p + 13;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t k = strcspn(v, "\r\n");
        if (k >= sizeof a->ct)
            k = sizeof a->ct - 1;
        memcpy(a->ct, v, k);
        a->ct[k] = '\0';
    }
    return len;
}

/* POSTs body; a->http is 0 on a transport error (said on stderr). */
static void post(const char *url, const char *ct, const struct buf *body, struct answer *a)
{
    memset(a, 0, sizeof *a);
    CURL *c = curl_easy_init();
    if (!c)
        die("curl_easy_init failed", NULL);
    char hct[200];
    snprintf(hct, sizeof hct, "Content-Type: %s", ct);
    struct curl_slist *h = curl_slist_append(NULL, hct);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body->p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->n);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->http);
    else
        fprintf(stderr, "attacker: POST %s: %s\n", url, curl_easy_strerror(rc));
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* ---- options ---- */

struct opts {
    const char *device, *url, *sid, *out, *scheme, *user, *secret, *nonce_b64, *body, *save, *ct,
        *listen, *to, *log, *ids, *correlator, *alert_data, *value, *source_after;
    int wrong_cred, no_cred, messages, wrong_from, refs;
};

static void parse_opts(int argc, char **argv, int first, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->messages = 3;
    o->refs = 4;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--wrong-cred")) {
            o->wrong_cred = 1;
            continue;
        }
        if (!strcmp(a, "--no-cred")) {
            o->no_cred = 1;
            continue;
        }
        if (i + 1 >= argc)
            die("a value is needed after ", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--device"))
            o->device = v;
        else if (!strcmp(a, "--url"))
            o->url = v;
        else if (!strcmp(a, "--session-id"))
            o->sid = v;
        else if (!strcmp(a, "--out"))
            o->out = v;
        else if (!strcmp(a, "--scheme"))
            o->scheme = v;
        else if (!strcmp(a, "--user"))
            o->user = v;
        else if (!strcmp(a, "--secret"))
            o->secret = v;
        else if (!strcmp(a, "--nonce-b64"))
            o->nonce_b64 = v;
        else if (!strcmp(a, "--body"))
            o->body = v;
        else if (!strcmp(a, "--save"))
            o->save = v;
        else if (!strcmp(a, "--ct"))
            o->ct = v;
        else if (!strcmp(a, "--messages"))
            o->messages = atoi(v);
        else if (!strcmp(a, "--listen"))
            o->listen = v;
        else if (!strcmp(a, "--to"))
            o->to = v;
        else if (!strcmp(a, "--wrong-cred-from"))
            o->wrong_from = atoi(v);
        else if (!strcmp(a, "--log"))
            o->log = v;
        else if (!strcmp(a, "--refs"))
            o->refs = atoi(v);
        else if (!strcmp(a, "--ids"))
            o->ids = v;
        else if (!strcmp(a, "--correlator"))
            o->correlator = v;
        else if (!strcmp(a, "--alert-data"))
            o->alert_data = v;
        else if (!strcmp(a, "--value"))
            o->value = v;
        else if (!strcmp(a, "--source-after"))
            o->source_after = v;
        else
            die("unknown option ", a);
    }
}

/* ---- pkg1 ---- */

/* The scheme asked for with --scheme (md5 by default). */
static dmsec_auth_scheme_t scheme_of(const struct opts *o)
{
    dmsec_auth_scheme_t scheme = DMSEC_AUTH_MD5;
    if (o->scheme && dmsec_auth_scheme_parse(o->scheme, strlen(o->scheme), &scheme)) {
        char uri[64];
        snprintf(uri, sizeof uri, "syncml:auth-%s", o->scheme);
        if (dmsec_auth_scheme_parse(uri, strlen(uri), &scheme))
            die("unknown scheme ", o->scheme);
    }
    return scheme;
}

/* The Data of a Cred for user: wrong (right form and length, a wrong
 * value), or built on o->secret and the nonce. */
static void cred_data(const struct opts *o, dmsec_auth_scheme_t scheme, const char *user, int wrong,
                      const uint8_t *nonce, size_t nn, char *data, size_t cap)
{
    data[0] = '\0';
    if (wrong) {
        /* What a guesser sends: the right form and length, a wrong value. */
        uint8_t junk[32];
        size_t n = scheme == DMSEC_AUTH_SHA256 ? 32 : 16;
        if (scheme == DMSEC_AUTH_BASIC) {
            char up[300];
            snprintf(up, sizeof up, "%s:not-the-password", user);
            dmsec_b64_encode((const uint8_t *)up, strlen(up), data, cap, NULL);
        } else if (dmsec_rng_os_fill(NULL, junk, n) || dmsec_b64_encode(junk, n, data, cap, NULL)) {
            die("cannot make a random Cred", NULL);
        }
        return;
    }
    if (dmsec_cred_build(scheme, user, (const uint8_t *)o->secret, strlen(o->secret), nonce, nn,
                         data, cap, NULL))
        die("cannot build the Cred", NULL);
}

/* The Data of package #1's Cred as the options ask ("" for none). */
static void pkg1_cred(const struct opts *o, dmsec_auth_scheme_t scheme, const char *user,
                      char *data, size_t cap)
{
    data[0] = '\0';
    if (o->no_cred)
        return;
    if (o->wrong_cred) {
        cred_data(o, scheme, user, 1, NULL, 0, data, cap);
        return;
    }
    if (!o->secret || !o->nonce_b64)
        die("--secret and --nonce-b64 are needed (or --wrong-cred / --no-cred)", NULL);
    uint8_t nonce[128];
    size_t nn = 0;
    if (dmsec_b64_decode(o->nonce_b64, strlen(o->nonce_b64), nonce, sizeof nonce, &nn))
        die("bad --nonce-b64 ", o->nonce_b64);
    cred_data(o, scheme, user, 0, nonce, nn, data, cap);
}

static int cmd_pkg1(const struct opts *o)
{
    if (!o->device || !o->url || !o->sid || !o->out)
        die("pkg1 needs --device, --url, --session-id and --out", NULL);
    dmsec_auth_scheme_t scheme = scheme_of(o);
    const char *user = o->user ? o->user : o->device;
    dmsec_msg_t *m = dmsec_msg_new();
    if (!m || dmsec_msg_set_hdr(m, o->sid, "1", o->url, o->device, user))
        die("cannot build the header", NULL);
    char data[512];
    pkg1_cred(o, scheme, user, data, sizeof data);
    if (data[0] && !(m->hdr.cred = dmsec_msg_cred(m, dmsec_auth_scheme_uri(scheme), "b64", data)))
        die("no memory", NULL);
    dmsec_cmd_t *alert = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
    dmsec_cmd_t *rep = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_REPLACE);
    dmsec_item_t *it = rep ? dmsec_cmd_add_item(m, rep, NULL, "./DevInfo/Mod") : NULL;
    if (!alert || !(alert->data = dmsec_msg_data(m, "1201", 4, 0)) || !it ||
        !dmsec_meta_add(m, &it->meta, DMSEC_MI_FORMAT, "chr") ||
        !(it->data = dmsec_msg_data(m, "dmsec-attacker", 14, 0)))
        die("no memory", NULL);
    m->body.final = 1;
    struct buf b = encode(DMSEC_CODEC_XML, m);
    spit(o->out, b.p, b.n);
    free(b.p);
    dmsec_msg_free(m);
    return 0;
}

/* ---- post ---- */

/* The body of file path, its SessionID rewritten to sid when sid is set. */
static struct buf load_package(const char *path, const char *sid, dmsec_codec_t *codec)
{
    struct buf b = slurp(path);
    *codec = codec_of(NULL, b.p, b.n);
    if (!sid)
        return b;
    dmsec_msg_t *m = decode(NULL, b.p, b.n);
    if (!m)
        die("cannot decode ", path);
    m->hdr.session_id = dmsec_msg_strdup(m, sid);
    free(b.p);
    b = encode(*codec, m);
    dmsec_msg_free(m);
    return b;
}

static int cmd_post(const struct opts *o)
{
    if (!o->url || !o->body)
        die("post needs --url and --body", NULL);
    dmsec_codec_t codec;
    struct buf b = load_package(o->body, o->sid, &codec);
    struct answer a;
    post(o->url, dmsec_codec_content_type(codec), &b, &a);
    if (o->save)
        spit(o->save, a.body.p ? a.body.p : (uint8_t *)"", a.body.n);
    dmsec_msg_t *m = a.http == 200 ? decode(a.ct, a.body.p, a.body.n) : NULL;
    char d[400];
    describe(m, d, sizeof d);
    printf("http=%ld %s resp_uri=%d\n", a.http, d, m && m->hdr.resp_uri && m->hdr.resp_uri[0]);
    if (a.http != 200 && a.body.n)
        printf("body=%.*s\n", (int)strcspn((char *)a.body.p, "\r\n"), (char *)a.body.p);
    dmsec_msg_free(m);
    free(a.body.p);
    free(b.p);
    return a.http ? 0 : 1;
}

/* ---- replay (seed 003) ---- */

/* The attacker's next message in the session: the recorded Cred again, 212
 * for the server's SyncHdr, 200 for each of its commands. */
static dmsec_msg_t *next_message(const dmsec_msg_t *pkg1, const dmsec_msg_t *ans, const char *sid,
                                 int msg_no)
{
    dmsec_msg_t *m = dmsec_msg_new();
    char id[16];
    snprintf(id, sizeof id, "%d", msg_no);
    const char *target = ans->hdr.source ? ans->hdr.source->uri : pkg1->hdr.target->uri;
    if (!m || dmsec_msg_set_hdr(m, sid, id, target, pkg1->hdr.source->uri, pkg1->hdr.source->name))
        die("no memory", NULL);
    if (pkg1->hdr.cred) {
        const dmsec_meta_t *cm = pkg1->hdr.cred->meta;
        m->hdr.cred = dmsec_msg_cred(m, dmsec_meta_str(cm, DMSEC_MI_TYPE),
                                     dmsec_meta_str(cm, DMSEC_MI_FORMAT),
                                     pkg1->hdr.cred->data ? pkg1->hdr.cred->data->bytes : "");
    }
    dmsec_cmd_t *st =
        dmsec_msg_add_status(m, ans->hdr.msg_id, "0", "SyncHdr", ans->hdr.cred ? 212 : 200);
    if (!st || dmsec_cmd_add_target_ref(m, st, pkg1->hdr.source->uri) ||
        dmsec_cmd_add_source_ref(m, st, target))
        die("no memory", NULL);
    for (const dmsec_cmd_t *c = ans->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS &&
            !dmsec_msg_add_status(m, ans->hdr.msg_id, c->cmd_id ? c->cmd_id : "0",
                                  dmsec_cmd_name(c->type), 200))
            die("no memory", NULL);
    }
    m->body.final = 1;
    return m;
}

static int cmd_replay(const struct opts *o)
{
    if (!o->url || !o->body || !o->sid)
        die("replay needs --url, --body and --session-id", NULL);
    dmsec_codec_t codec;
    struct buf b = load_package(o->body, o->sid, &codec);
    dmsec_msg_t *pkg1 = decode(NULL, b.p, b.n);
    if (!pkg1 || !pkg1->hdr.source || !pkg1->hdr.target)
        die("cannot decode ", o->body);
    const char *url = o->url;
    char resp_uri[1024] = "";
    int accepted = 0, secret = 0, k;
    for (k = 1; k <= o->messages; k++) {
        struct answer a;
        post(url, dmsec_codec_content_type(codec), &b, &a);
        dmsec_msg_t *m = a.http == 200 ? decode(a.ct, a.body.p, a.body.n) : NULL;
        const dmsec_cmd_t *st = peer_synchdr_status(m);
        int code = st ? dmsec_status_code(st) : -1;
        int rep = m && replaces_secret(m->body.cmds);
        accepted |= code == 200 || code == 212;
        secret |= rep;
        printf("msg=%d http=%ld synchdr=%d chal=%d nonce_len=%d secret_replace=%d\n", k, a.http,
               code, st && st->chal, chal_nonce_len(st), rep);
        free(a.body.p);
        free(b.p);
        b.p = NULL;
        if (!m || !m->hdr.resp_uri || !m->hdr.resp_uri[0] || k == o->messages) {
            dmsec_msg_free(m);
            break;
        }
        snprintf(resp_uri, sizeof resp_uri, "%s", m->hdr.resp_uri);
        url = resp_uri;
        dmsec_msg_t *next = next_message(pkg1, m, o->sid, k + 1);
        b = encode(codec, next);
        dmsec_msg_free(next);
        dmsec_msg_free(m);
    }
    free(b.p);
    dmsec_msg_free(pkg1);
    printf("replay accepted=%d secret_replace=%d messages=%d\n", accepted, secret,
           k > o->messages ? o->messages : k);
    return accepted || secret;
}

/* ---- mgmt: forged management answers ---- */

#define FUMO_TYPE "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"

static void need(const void *p)
{
    if (!p)
        die("no memory", NULL);
}

static void add_status(dmsec_msg_t *m, const char *msg_ref, const char *cmd_ref, const char *cmd)
{
    need(dmsec_msg_add_status(m, msg_ref, cmd_ref, cmd, 200)); /* no MsgRef: CmdRef alone */
}

/* The forged answers every message of the session carries. */
static void add_payload(dmsec_msg_t *m, const struct opts *o)
{
    static const char *const kinds[] = {"Get", "Replace", "Add", "Exec", "Delete", "Copy"};
    const char *value = o->value ? o->value : "dmsec-attacker";
    char mr[16], cr[32];
    for (int i = 1; i <= o->refs; i++) {
        snprintf(mr, sizeof mr, "%d", i);
        for (int k = 1; k <= o->refs; k++) {
            snprintf(cr, sizeof cr, "%d", k);
            add_status(m, mr, cr, kinds[(k - 1) % 6]);
        }
        if (o->ids) {
            char list[512];
            snprintf(list, sizeof list, "%s", o->ids);
            for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                add_status(m, mr, t, "Exec");
        }
    }
    if (o->ids) {
        char list[512];
        snprintf(list, sizeof list, "%s", o->ids);
        for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
            add_status(m, NULL, t, "Exec");
    }
    for (int k = 1; k <= o->refs; k++) {
        snprintf(cr, sizeof cr, "%d", k);
        dmsec_cmd_t *res = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_RESULTS);
        need(res);
        res->msg_ref = dmsec_msg_strdup(m, "1");
        res->cmd_ref = dmsec_msg_strdup(m, cr);
        dmsec_item_t *it = dmsec_cmd_add_item(m, res, NULL, "./DevInfo/Mod");
        need(it);
        need(dmsec_meta_add(m, &it->meta, DMSEC_MI_FORMAT, "chr"));
        need(it->data = dmsec_msg_data(m, value, strlen(value), 0));
    }
    const char *ad = o->alert_data ? o->alert_data : "200";
    dmsec_cmd_t *ga = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
    need(ga);
    need(ga->data = dmsec_msg_data(m, "1226", 4, 0));
    if (o->correlator)
        need(ga->correlator = dmsec_msg_strdup(m, o->correlator));
    dmsec_item_t *gi = dmsec_cmd_add_item(m, ga, NULL, "./FUMO/dmsec/DownloadAndUpdate");
    need(gi);
    need(dmsec_meta_add(m, &gi->meta, DMSEC_MI_TYPE, FUMO_TYPE));
    need(dmsec_meta_add(m, &gi->meta, DMSEC_MI_FORMAT, "int"));
    need(gi->data = dmsec_msg_data(m, ad, strlen(ad), 0));
    dmsec_cmd_t *rep = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_REPLACE);
    need(rep);
    dmsec_item_t *it = dmsec_cmd_add_item(m, rep, NULL, "./DevInfo/FwV");
    need(it);
    need(dmsec_meta_add(m, &it->meta, DMSEC_MI_FORMAT, "chr"));
    need(it->data = dmsec_msg_data(m, value, strlen(value), 0));
}

/* The server's commands in an answer (not Status, Results or Alert). */
static int server_cmds(const dmsec_msg_t *m)
{
    int n = 0;
    for (const dmsec_cmd_t *c = m ? m->body.cmds : NULL; c; c = c->next)
        n += c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS &&
             c->type != DMSEC_CMD_ALERT;
    return n;
}

static int cmd_mgmt(const struct opts *o)
{
    if (!o->device || !o->url || !o->sid)
        die("mgmt needs --device, --url and --session-id", NULL);
    if (o->refs < 0 || o->refs > 12)
        die("--refs is 0..12", NULL);
    dmsec_auth_scheme_t scheme = scheme_of(o);
    const char *user = o->user ? o->user : o->device;
    char url[1024];
    snprintf(url, sizeof url, "%s", o->url);
    char data[512];
    pkg1_cred(o, scheme, user, data, sizeof data);
    int accepted = 0, total = 0, k;
    dmsec_msg_t *prev = NULL; /* the server's last answer */
    for (k = 1; k <= o->messages; k++) {
        char id[16];
        snprintf(id, sizeof id, "%d", k);
        const char *source = k > 1 && o->source_after ? o->source_after : o->device;
        const char *target = prev && prev->hdr.source ? prev->hdr.source->uri : o->url;
        dmsec_msg_t *m = dmsec_msg_new();
        if (!m || dmsec_msg_set_hdr(m, o->sid, id, target, source, user))
            die("cannot build the header", NULL);
        if (data[0])
            need(m->hdr.cred = dmsec_msg_cred(m, dmsec_auth_scheme_uri(scheme), "b64", data));
        if (prev) {
            need(dmsec_msg_add_status(m, prev->hdr.msg_id, "0", "SyncHdr",
                                      prev->hdr.cred ? 212 : 200));
        } else {
            dmsec_cmd_t *alert = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
            need(alert);
            need(alert->data = dmsec_msg_data(m, "1201", 4, 0));
        }
        add_payload(m, o);
        m->body.final = 1;
        struct buf b = encode(DMSEC_CODEC_XML, m);
        dmsec_msg_free(m);
        struct answer a;
        post(url, XML_CT, &b, &a);
        free(b.p);
        if (o->save) {
            char path[1024];
            snprintf(path, sizeof path, "%s-%d", o->save, k);
            spit(path, a.body.p ? a.body.p : (uint8_t *)"", a.body.n);
        }
        dmsec_msg_free(prev);
        prev = a.http == 200 ? decode(a.ct, a.body.p, a.body.n) : NULL;
        free(a.body.p);
        const dmsec_cmd_t *hs = peer_synchdr_status(prev);
        int code = hs ? dmsec_status_code(hs) : -1;
        int cmds = server_cmds(prev);
        accepted |= code == 200 || code == 212;
        total += cmds;
        char d[400];
        describe(prev, d, sizeof d);
        printf("msg=%d http=%ld %s server_cmds=%d\n", k, a.http, d, cmds);
        if (!a.http) {
            dmsec_msg_free(prev);
            return 1;
        }
        int challenged = (code == 401 || code == 407) && hs->chal;
        if (!prev || !prev->hdr.resp_uri || !prev->hdr.resp_uri[0] || (!challenged && !cmds))
            break;
        snprintf(url, sizeof url, "%s", prev->hdr.resp_uri);
        /* The next Cred: on the challenge's nonce with the secret, a wrong
         * one for a stranger, none once accepted. */
        const char *nb64 =
            challenged ? dmsec_meta_str(hs->chal ? hs->chal->meta : NULL, DMSEC_MI_NEXTNONCE)
                       : NULL;
        if (!challenged) {
            data[0] = '\0';
        } else if (o->secret && !o->wrong_cred && !o->no_cred && nb64) {
            uint8_t nonce[128];
            size_t nn = 0;
            if (dmsec_b64_decode(nb64, strlen(nb64), nonce, sizeof nonce, &nn))
                die("bad NextNonce from the server", NULL);
            cred_data(o, scheme, user, 0, nonce, nn, data, sizeof data);
        } else {
            cred_data(o, scheme, user, 1, NULL, 0, data, sizeof data);
        }
    }
    dmsec_msg_free(prev);
    printf("mgmt accepted=%d messages=%d server_cmds=%d\n", accepted,
           k > o->messages ? o->messages : k, total);
    return 0;
}

/* ---- inspect and shape ---- */

static int cmd_inspect(const char *path, const struct opts *o)
{
    struct buf b = slurp(path);
    dmsec_msg_t *m = decode(o->ct, b.p, b.n);
    free(b.p);
    if (!m) {
        printf("undecodable\n");
        return 1;
    }
    char d[400];
    describe(m, d, sizeof d);
    printf("%s session=%s msgid=%s\n", d, m->hdr.session_id, m->hdr.msg_id);
    dmsec_msg_free(m);
    return 0;
}

/* Element names (with their attributes) one per line, indented by depth;
 * text that is not only whitespace becomes '#'. */
static int cmd_shape(const char *path)
{
    struct buf b = slurp(path);
    const char *p = (const char *)b.p;
    const char *end = p + b.n;
    int depth = 0;
    while (p < end) {
        if (*p != '<') {
            const char *q = memchr(p, '<', (size_t)(end - p));
            if (!q)
                q = end;
            int text = 0;
            for (const char *t = p; t < q; t++)
                text |= !(*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n');
            if (text)
                printf("%*s#\n", 2 * depth, "");
            p = q;
            continue;
        }
        const char *q = strchr(p, '>');
        if (!q)
            break;
        if (!strncmp(p, "<![CDATA[", 9)) {
            const char *e = strstr(p, "]]>");
            printf("%*s#\n", 2 * depth, "");
            p = e ? e + 3 : end;
            continue;
        }
        if (p[1] == '/') {
            depth--;
        } else if (p[1] == '?' || p[1] == '!') {
            printf("%.*s\n", (int)(q - p + 1), p);
        } else {
            printf("%*s%.*s\n", 2 * depth, "", (int)(q - p + 1), p);
            if (q[-1] != '/')
                depth++;
        }
        p = q + 1;
    }
    free(b.p);
    return 0;
}

/* ---- relay ---- */

static const char *to_host, *to_port;
static int wrong_from;
static FILE *logf_;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int posts;

/* Reads a head (up to the empty line) and its Content-Length body (a
 * response without one: up to the end of the connection, to_eof). A request's
 * "Expect: 100-continue" is answered here. Bytes read past the body stay in
 * *pending. 1 read, 0 EOF first, -1 error. */
static int read_http(int fd, struct buf *pending, struct buf *head, struct buf *body, int to_eof)
{
    memset(head, 0, sizeof *head);
    memset(body, 0, sizeof *body);
    char chunk[8192];
    for (;;) {
        char *e = pending->p ? strstr((char *)pending->p, "\r\n\r\n") : NULL;
        if (e) {
            size_t hl = (size_t)(e + 4 - (char *)pending->p);
            buf_add(head, pending->p, hl);
            char v[64];
            long cl = !peer_header((char *)head->p, "Content-Length", v, sizeof v) ? atol(v) : -1;
            if (cl < 0 && !to_eof)
                cl = 0;
            if (!to_eof && !peer_header((char *)head->p, "Expect", v, sizeof v) &&
                pending->n - hl < (size_t)cl) {
                const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
                if (peer_send_all(fd, cont, strlen(cont)))
                    return -1;
            }
            while (cl < 0 || pending->n - hl < (size_t)cl) {
                ssize_t k = recv(fd, chunk, sizeof chunk, 0);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0) {
                    if (cl < 0)
                        break;
                    return -1;
                }
                buf_add(pending, chunk, (size_t)k);
            }
            size_t bl = cl < 0 ? pending->n - hl : (size_t)cl;
            buf_add(body, pending->p + hl, bl);
            size_t rest = pending->n - hl - bl;
            memmove(pending->p, pending->p + hl + bl, rest);
            pending->n = rest;
            pending->p[rest] = '\0';
            return 1;
        }
        ssize_t k = recv(fd, chunk, sizeof chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return pending->n ? -1 : 0;
        buf_add(pending, chunk, (size_t)k);
    }
}

/* Makes the SyncHdr Cred of a request wrong; what was done. */
static const char *corrupt(const char *ct, struct buf *body)
{
    dmsec_msg_t *m = decode(ct, body->p, body->n);
    if (!m)
        return "none";
    const char *what;
    if (m->hdr.cred && m->hdr.cred->data && m->hdr.cred->data->len) {
        /* Same length, same alphabet, another value. */
        dmsec_data_t *d = m->hdr.cred->data;
        char *s = dmsec_msg_strdup(m, d->bytes);
        s[0] = s[0] == 'A' ? 'B' : 'A';
        m->hdr.cred->data = dmsec_msg_data(m, s, d->len, 0);
        what = "corrupted";
    } else {
        m->hdr.cred = dmsec_msg_cred(m, "syncml:auth-md5", "b64", "AAAAAAAAAAAAAAAAAAAAAA==");
        what = "inserted";
    }
    free(body->p);
    *body = encode(codec_of(ct, NULL, 0), m);
    dmsec_msg_free(m);
    return what;
}

static void *relay_conn(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    struct timeval tv = {.tv_sec = 30};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct buf pending = {0}, head, body;
    while (read_http(cfd, &pending, &head, &body, 0) == 1) {
        char method[16] = "", path[1024] = "", ct[128] = "";
        sscanf((char *)head.p, "%15s %1023s", method, path);
        peer_header((char *)head.p, "Content-Type", ct, sizeof ct);
        int no = 0;
        const char *cred = "kept";
        if (!strcmp(method, "POST")) {
            pthread_mutex_lock(&lock);
            no = ++posts;
            pthread_mutex_unlock(&lock);
            if (wrong_from > 0 && no >= wrong_from)
                cred = corrupt(ct, &body);
        }
        /* The head again, without Content-Length, Expect and Connection. */
        struct buf out = {0};
        const char *h = (char *)head.p;
        const char *eol = strstr(h, "\r\n");
        buf_add(&out, h, (size_t)(eol + 2 - h));
        for (const char *p = eol + 2; *p && strncmp(p, "\r\n", 2); p = strstr(p, "\r\n") + 2) {
            size_t k = (size_t)(strstr(p, "\r\n") + 2 - p);
            if (strncasecmp(p, "Content-Length:", 15) && strncasecmp(p, "Expect:", 7) &&
                strncasecmp(p, "Connection:", 11))
                buf_add(&out, p, k);
        }
        char cl[80];
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body.n);
        buf_add(&out, cl, strlen(cl));
        if (body.n)
            buf_add(&out, body.p, body.n);
        int ufd = peer_dial(to_host, to_port);
        struct buf up = {0}, rhead, rbody;
        int ok = ufd >= 0 && !peer_send_all(ufd, out.p, out.n) &&
                 read_http(ufd, &up, &rhead, &rbody, 1) == 1;
        if (ufd >= 0)
            close(ufd);
        free(up.p);
        free(out.p);
        if (!ok) {
            const char *e =
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            peer_send_all(cfd, e, strlen(e));
            free(head.p);
            free(body.p);
            break;
        }
        int status = atoi((char *)rhead.p + 9);
        if (no) {
            char rct[128] = "";
            peer_header((char *)rhead.p, "Content-Type", rct, sizeof rct);
            dmsec_msg_t *m = status == 200 ? decode(rct, rbody.p, rbody.n) : NULL;
            const dmsec_cmd_t *st = peer_synchdr_status(m);
            pthread_mutex_lock(&lock);
            fprintf(logf_, "relay #%d %s %s cred=%s -> http=%d synchdr=%d\n", no, method, path,
                    cred, status, st ? dmsec_status_code(st) : -1);
            fflush(logf_);
            pthread_mutex_unlock(&lock);
            dmsec_msg_free(m);
        }
        /* The answer as it came, but with a length and closing the connection. */
        struct buf back = {0};
        const char *rh = (char *)rhead.p;
        for (const char *p = rh; *p && strncmp(p, "\r\n", 2); p = strstr(p, "\r\n") + 2) {
            size_t k = (size_t)(strstr(p, "\r\n") + 2 - p);
            if (strncasecmp(p, "Content-Length:", 15) && strncasecmp(p, "Connection:", 11) &&
                strncasecmp(p, "Transfer-Encoding:", 18))
                buf_add(&back, p, k);
        }
        snprintf(cl, sizeof cl, "Content-Length: %zu\r\nConnection: close\r\n\r\n", rbody.n);
        buf_add(&back, cl, strlen(cl));
        if (rbody.n)
            buf_add(&back, rbody.p, rbody.n);
        peer_send_all(cfd, back.p, back.n);
        free(back.p);
        free(rhead.p);
        free(rbody.p);
        free(head.p);
        free(body.p);
        break; /* one request per connection */
    }
    free(pending.p);
    close(cfd);
    return NULL;
}

static int cmd_relay(const struct opts *o)
{
    static char to[512];
    if (!o->listen || !o->to)
        die("relay needs --listen and --to", NULL);
    snprintf(to, sizeof to, "%s", o->to);
    if (peer_split_hostport(to, &to_host, &to_port))
        die("--to HOST:PORT, not ", o->to);
    wrong_from = o->wrong_from;
    logf_ = o->log ? fopen(o->log, "a") : stderr;
    if (!logf_)
        die("cannot open ", o->log);
    int lfd = peer_listen(o->listen);
    if (lfd < 0)
        die("cannot listen on port ", o->listen);
    signal(SIGPIPE, SIG_IGN);
    fprintf(logf_, "relay listening on 127.0.0.1:%s\n", o->listen);
    fflush(logf_);
    return peer_accept_loop(lfd, relay_conn);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: attacker pkg1|post|replay|inspect|shape|relay|mgmt ...", NULL);
    const char *cmd = argv[1];
    struct opts o;
    int file_arg = !strcmp(cmd, "inspect") || !strcmp(cmd, "shape");
    if (file_arg && argc < 3)
        die(cmd, " needs a file");
    parse_opts(argc, argv, file_arg ? 3 : 2, &o);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    if (!strcmp(cmd, "pkg1"))
        rc = cmd_pkg1(&o);
    else if (!strcmp(cmd, "post"))
        rc = cmd_post(&o);
    else if (!strcmp(cmd, "replay"))
        rc = cmd_replay(&o);
    else if (!strcmp(cmd, "inspect"))
        rc = cmd_inspect(argv[2], &o);
    else if (!strcmp(cmd, "shape"))
        rc = cmd_shape(argv[2]);
    else if (!strcmp(cmd, "relay"))
        rc = cmd_relay(&o);
    else if (!strcmp(cmd, "mgmt"))
        rc = cmd_mgmt(&o);
    else
        die("unknown command ", cmd);
    curl_global_cleanup();
    return rc;
}
