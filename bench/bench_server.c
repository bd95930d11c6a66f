/*
 * Authenticated sessions per second against dmsec-server on loopback, from
 * many concurrent keep-alive clients, with the SQLite store; next to the
 * HTTP ceiling measured in the same run: the same HTTP stack
 * (libmicrohttpd, same threading) answering a fixed body, driven by the
 * same clients.
 *
 * A session is what the issue names: package #1 with an MD5 Cred, the
 * server's 212 with a Chal (and its Cred), then the closing exchange - two
 * HTTP round trips. The ceiling is therefore reported both as requests per
 * second and as "sessions" per second (requests / 2), and the ratio is
 * sessions/s over that ceiling (target 0.4).
 *
 * Four measures, three rounds each, interleaved:
 *   ceiling  the fixed body;
 *   floor    the fixed body sent after one nonce write made durable through
 *            the store's group commit: what any server that keeps the
 *            issue's rule (a nonce is committed before the message that
 *            carries it leaves) must pay per answer, with nothing else;
 *   engine   sessions with dmsec-server, devices running the session engine;
 *   lean     the same sessions from template-driven devices (XML only),
 *            which spend less of the shared CPU than the engine does.
 *
 * usage: bench_server DMSEC_SERVER [SECONDS] [CLIENTS] [STORE_HANDLES|-] [xml|wbxml]
 * DMSEC_BENCH_DIR: where the stores live (default /tmp).
 * DMSEC_BENCH_ONLY=ceiling|floor|engine|lean: run that measure alone.
 * DMSEC_BENCH_SESSIONS=N: instead of SECONDS, each round of each measure
 *   runs N sessions (requests for ceiling and floor) in all, split over the
 *   clients: a fixed amount of work, to count the server's instructions
 *   (e.g. DMSEC_SERVER a script that execs dmsec-server under valgrind
 *   --tool=callgrind; see docs/PERFORMANCE.md).
 * The server's CPU per session is printed per round; the ratios are to the
 * HTTP ceiling and to the durable floor.
 */
#define _GNU_SOURCE /* memmem */

#include <curl/curl.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"

#include "bench_client.h"
#include "bench_fixed.h"

#define SERVER_ID "bench"
#define MAX_CLIENTS 64

/* ---- the ceiling: a fixed body over the same HTTP stack ----
 *
 * ---- the durable floor: the same, after one durable write per request ----
 *
 * What no conforming server can skip: each of the two answers of a session
 * needs a nonce committed and fsynced before it leaves (the 212 carries the
 * device's next nonce; the closing answer acknowledges the nonce the device
 * chose for the server). The floor server does only that: the device's
 * nonce row is updated through a group commit (dmsec_store_durable, as
 * dmsec-server does), then the fixed body is sent. No XML, no crypto, no
 * session. */

static const char *floor_db;
static pthread_key_t floor_key; /* a store handle per connection thread */

static void floor_close(void *st)
{
    dmsec_store_close(st);
}

struct floor_job {
    char device[64];
    uint8_t nonce[16]; /* a counter: the write, not the randomness, is measured */
};

static int floor_write(dmsec_store_t *st, void *ctx)
{
    struct floor_job *j = ctx;
    return dmsec_store_set_client_nonce(st, j->device, j->nonce, sizeof j->nonce);
}

/* The floor's write for the device the client names in the URL,
 * /floor/INDEX. 0 when durable. */
static int floor_commit(const char *url)
{
    dmsec_store_t *st = pthread_getspecific(floor_key);
    if (!st) {
        if (dmsec_store_open(floor_db, &st))
            return -1;
        pthread_setspecific(floor_key, st);
    }
    static unsigned counter;
    struct floor_job j;
    snprintf(j.device, sizeof j.device, "IMEI:35000000000%04d", atoi(url + 7));
    unsigned v = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    memset(j.nonce, 0, sizeof j.nonce);
    memcpy(j.nonce, &v, sizeof v);
    return dmsec_store_durable(st, floor_write, &j) ? -1 : 0;
}

static const struct bench_fixed_hook floor_hook = {floor_commit};

/* ---- the lean device: a load generator, not an agent ----
 *
 * The engine costs a device about as much CPU per session as the server
 * spends, and here both share two cores: the figure would then measure
 * the client library as much as the server. This device writes the same
 * two packages from templates and reads the answers by scanning them, as
 * a load generator does. It still authenticates both ways: its Cred is the
 * real MD5 digest over the nonce the server gave it, it checks the
 * server's Cred against the nonce it gave the server, and it counts a
 * session only when the server answered 212 to package #1 and 200 to
 * package #3. Its nonces carry on from session to session, so a nonce the
 * server failed to keep would fail the next session. XML only. */

#define LEAN_HDR                                                                                   \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>"       \
    "<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>%04X</SessionID><MsgID>%d</MsgID>"  \
    "<Target><LocURI>%s</LocURI></Target><Source><LocURI>%s</LocURI><LocName>%s</LocName>"         \
    "</Source>"
#define LEAN_META_MD5                                                                              \
    "<Meta><Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type>"                                   \
    "<Format xmlns=\"syncml:metinf\">b64</Format>"

/* The text of the first <tag>...</tag> in [p, end), NUL-terminated into
 * out; 0 when found and it fits. */
static int lean_text(const char *p, const char *end, const char *tag, char *out, size_t cap)
{
    char open_tag[32];
    char close_tag[32];
    snprintf(open_tag, sizeof open_tag, "<%s", tag);
    snprintf(close_tag, sizeof close_tag, "</%s>", tag);
    const char *a = memmem(p, (size_t)(end - p), open_tag, strlen(open_tag));
    if (!a)
        return -1;
    a = memchr(a, '>', (size_t)(end - a));
    if (!a)
        return -1;
    a++;
    const char *b = memmem(a, (size_t)(end - a), close_tag, strlen(close_tag));
    if (!b || (size_t)(b - a) >= cap)
        return -1;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return 0;
}

/* The Status answering the SyncHdr: [*from, *to) of body. */
static int lean_hdr_status(const struct bench_buf *b, const char **from, const char **to)
{
    const char *p = (const char *)b->p;
    const char *end = p + b->n;
    const char *cmd = memmem(p, b->n, "<Cmd>SyncHdr</Cmd>", 18);
    if (!cmd)
        return -1;
    const char *close = memmem(cmd, (size_t)(end - cmd), "</Status>", 9);
    if (!close)
        return -1;
    *from = cmd;
    *to = close;
    return 0;
}

static unsigned lean_sid;

static int lean_session(CURL *c, const char *url, const char *device, dmsec_account_t *acc)
{
    const char *type = dmsec_codec_content_type(DMSEC_CODEC_XML);
    unsigned sid = __atomic_add_fetch(&lean_sid, 1, __ATOMIC_RELAXED) & 0xffffu;
    char cred[64];
    size_t cred_len = 0;
    if (dmsec_cred_build_prehashed(DMSEC_AUTH_MD5, &acc->out_prehash, acc->out_nonce,
                                   acc->out_nonce_len, cred, sizeof cred, &cred_len))
        return -1;
    char msg[2048];
    int n = snprintf(msg, sizeof msg,
                     LEAN_HDR "<Cred>" LEAN_META_MD5 "</Meta><Data>%s</Data></Cred></SyncHdr>"
                              "<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert>"
                              "<Final/></SyncBody></SyncML>",
                     sid, 1, url, device, device, cred);
    struct bench_buf b = {0};
    if (bench_post(c, url, type, (const uint8_t *)msg, (size_t)n, &b) != 200)
        goto fail;
    /* The answer: 212 with the device's next nonce, the server's Cred
     * over the nonce this device gave it, and where to go on. */
    const char *p = (const char *)b.p;
    const char *hdr_end = memmem(p, b.n, "</SyncHdr>", 10);
    const char *st, *st_end;
    char text[160];
    char resp_uri[160];
    if (!hdr_end || lean_hdr_status(&b, &st, &st_end) || lean_text(st, st_end, "Data", text, 8) ||
        strcmp(text, "212") || lean_text(p, hdr_end, "RespURI", resp_uri, sizeof resp_uri) ||
        strchr(resp_uri, '&'))
        goto fail;
    const char *hcred = memmem(p, (size_t)(hdr_end - p), "<Cred>", 6);
    if (!hcred || lean_text(hcred, hdr_end, "Data", text, sizeof text) ||
        dmsec_cred_verify(DMSEC_AUTH_MD5, SERVER_ID, &acc->in_prehash, acc->in_nonce,
                          acc->in_nonce_len, text, strlen(text)))
        goto fail;
    uint8_t next[DMSEC_NONCE_MAX];
    size_t next_len = 0;
    if (lean_text(st, st_end, "NextNonce", text, sizeof text) ||
        dmsec_b64_decode(text, strlen(text), next, sizeof next, &next_len))
        goto fail;
    memcpy(acc->out_nonce, next, next_len);
    acc->out_nonce_len = next_len;
    free(b.p);
    b.p = NULL;
    b.n = 0;

    /* Package #3: the SyncHdr's status, 212 with a fresh nonce for the
     * server's next Cred. */
    uint8_t mine[16];
    char mine_b64[32];
    size_t mine_len = 0;
    if (RAND_bytes(mine, sizeof mine) != 1 ||
        dmsec_b64_encode(mine, sizeof mine, mine_b64, sizeof mine_b64, &mine_len))
        return -1;
    n = snprintf(msg, sizeof msg,
                 LEAN_HDR "</SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef>"
                          "<CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><TargetRef>%s</TargetRef>"
                          "<SourceRef>%s</SourceRef><Chal>" LEAN_META_MD5
                          "<NextNonce xmlns=\"syncml:metinf\">%s</NextNonce></Meta></Chal>"
                          "<Data>212</Data></Status><Final/></SyncBody></SyncML>",
                 sid, 2, resp_uri, device, device, device, url, mine_b64);
    if (bench_post(c, resp_uri, type, (const uint8_t *)msg, (size_t)n, &b) != 200 ||
        lean_hdr_status(&b, &st, &st_end) || lean_text(st, st_end, "Data", text, 8) ||
        strcmp(text, "200"))
        goto fail;
    free(b.p);
    memcpy(acc->in_nonce, mine, sizeof mine);
    acc->in_nonce_len = sizeof mine;
    return 0;
fail:
    free(b.p);
    return -1;
}

/* ---- clients ---- */

enum mode {
    M_CEILING, /* the fixed-body server */
    M_FLOOR,   /* the fixed-body server after a durable write */
    M_ENGINE,  /* dmsec-server, devices on the session engine */
    M_LEAN,    /* dmsec-server, the lean devices */
    M_COUNT
};
static const char *const mode_name[M_COUNT] = {"ceiling", "floor", "engine", "lean"};

struct client {
    pthread_t thread;
    int index;
    int port;
    enum mode mode;
    double until;
    long quota; /* > 0: stop after this many successes */
    long done;
    long errors;
    CURL *curl;
    dmsec_account_t acc;
};

static dmsec_codec_t bench_codec = DMSEC_CODEC_XML;

static void *run_client(void *arg)
{
    struct client *cl = arg;
    char url[128];
    char device[64];
    snprintf(device, sizeof device, "IMEI:35000000000%04d", cl->index);
    if (cl->mode == M_FLOOR)
        snprintf(url, sizeof url, "http://127.0.0.1:%d/floor/%d", cl->port, cl->index);
    else
        snprintf(url, sizeof url, "http://127.0.0.1:%d/dm", cl->port);
    static const uint8_t probe[] = "<SyncML/>";
    while (cl->quota > 0 ? cl->done < cl->quota : bench_now() < cl->until) {
        int ok;
        if (cl->mode == M_CEILING || cl->mode == M_FLOOR) {
            struct bench_buf b = {0};
            ok = bench_post(cl->curl, url, dmsec_codec_content_type(bench_codec), probe,
                            sizeof probe - 1, &b) == 200;
            free(b.p);
        } else if (cl->mode == M_LEAN) {
            ok = lean_session(cl->curl, url, device, &cl->acc) == 0;
        } else {
            ok = bench_session(cl->curl, url, SERVER_ID, device, bench_codec, &cl->acc) == 0;
        }
        if (ok)
            cl->done++;
        else
            cl->errors++;
    }
    return NULL;
}

static long fixed_count; /* DMSEC_BENCH_SESSIONS */

static double drive(int port, enum mode mode, int n, double seconds, struct client *cls,
                    long *errors)
{
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
        cls[i].port = port;
        cls[i].mode = mode;
        cls[i].until = t0 + seconds;
        cls[i].quota = fixed_count > 0 ? fixed_count / n + (i < fixed_count % n) : 0;
        cls[i].done = cls[i].errors = 0;
        pthread_create(&cls[i].thread, NULL, run_client, &cls[i]);
    }
    long total = 0;
    *errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(cls[i].thread, NULL);
        total += cls[i].done;
        *errors += cls[i].errors;
    }
    return (double)total / (bench_now() - t0);
}

static int setup_devices(const char *db, struct client *cls, int n)
{
    dmsec_store_t *st = NULL;
    if (dmsec_store_open(db, &st))
        return -1;
    for (int i = 0; i < n; i++) {
        dmsec_device_t d;
        char id[64];
        snprintf(id, sizeof id, "IMEI:35000000000%04d", i);
        bench_device_make(&d, &cls[i].acc, id, SERVER_ID);
        if (dmsec_store_device_add(st, &d)) {
            dmsec_store_close(st);
            return -1;
        }
        cls[i].index = i;
    }
    dmsec_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(
            stderr,
            "usage: bench_server DMSEC_SERVER [SECONDS] [CLIENTS] [STORE_HANDLES] [xml|wbxml]\n");
        return 2;
    }
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
    int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 16;
    if (n < 1 || n > MAX_CLIENTS)
        n = 16;
    const char *handles = argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL; /* "-": default */
    if (argc > 5 && !strcmp(argv[5], "wbxml"))
        bench_codec = DMSEC_CODEC_WBXML;
    static struct client cls[MAX_CLIENTS];
    /* The disk's fsync latency is part of the figures. */
    const char *base = getenv("DMSEC_BENCH_DIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/dmsec-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    char db[300];
    snprintf(db, sizeof db, "%s/bench.db", dir);
    static char fdb[300];
    snprintf(fdb, sizeof fdb, "%s/floor.db", dir);
    floor_db = fdb;
    pthread_key_create(&floor_key, floor_close);
    if (setup_devices(fdb, cls, n) || setup_devices(db, cls, n)) {
        fprintf(stderr, "bench_server: cannot set up the store\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < n; i++) {
        cls[i].curl = curl_easy_init();
        curl_easy_setopt(cls[i].curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(cls[i].curl, CURLOPT_NOSIGNAL, 1L); /* no sigaction per request */
    }

    int port = 20000 + (int)(getpid() % 20000);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        /* Its one log line per session would flood the terminal. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
        /* Every bench client comes from 127.0.0.1: lift the per-address
         * connection limit (32 by default). */
        if (handles)
            execl(argv[1], argv[1], "--listen", listen, "--db", db, "--server-id", SERVER_ID,
                  "--per-ip-connections", "100000", "--store-handles", handles, (char *)NULL);
        else
            execl(argv[1], argv[1], "--listen", listen, "--db", db, "--server-id", SERVER_ID,
                  "--per-ip-connections", "100000", (char *)NULL);
        _exit(127);
    }
    /* Ready when its port answers (slow under valgrind). */
    int ready = 0;
    for (int tries = 0; tries < 600 && !ready; tries++) {
        CURL *probe = curl_easy_init();
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        curl_easy_setopt(probe, CURLOPT_URL, url);
        curl_easy_setopt(probe, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(probe, CURLOPT_NOSIGNAL, 1L);
        CURLcode cc = curl_easy_perform(probe);
        curl_easy_cleanup(probe);
        ready = cc == CURLE_OK;
        if (!ready && waitpid(pid, NULL, WNOHANG) == pid)
            break; /* it exited: its port taken, or a bad argument */
        if (!ready)
            usleep(100000);
    }
    if (!ready) {
        fprintf(stderr, "bench_server: %s did not answer on %s\n", argv[1], listen);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_server: cannot remove %s\n", dir);
        return 1;
    }

    /* The ceiling: the same stack, thread per connection as the server. */
    struct MHD_Daemon *d = bench_fixed_start((uint16_t)(port + 1), NULL);
    struct MHD_Daemon *fd = bench_fixed_start((uint16_t)(port + 2), &floor_hook);
    if (!d || !fd) {
        fprintf(stderr, "bench_server: cannot start the ceiling server\n");
        kill(pid, SIGTERM);
        return 1;
    }
    /* Three rounds of each measure, interleaved so that a slower spell of
     * the machine hits all of them; the best round of each counts.
     * DMSEC_BENCH_ONLY=ceiling|floor|engine|lean: that one alone (to
     * profile it). */
    const char *only = getenv("DMSEC_BENCH_ONLY");
    const char *count = getenv("DMSEC_BENCH_SESSIONS");
    fixed_count = count && *count ? strtol(count, NULL, 10) : 0;
    double best[M_COUNT] = {0};
    long errors[M_COUNT] = {0};
    const int ports[M_COUNT] = {port + 1, port + 2, port, port};
    for (int round = 0; round < 3; round++) {
        for (int m = 0; m < M_COUNT; m++) {
            if ((only && *only && strcmp(only, mode_name[m])) ||
                (m == M_LEAN && bench_codec != DMSEC_CODEC_XML))
                continue;
            double srv0 = bench_cpu_seconds(pid);
            double self0 = bench_cpu_seconds(getpid());
            double t0 = bench_now();
            long err = 0;
            double r = drive(ports[m], (enum mode)m, n, seconds / 3, cls, &err);
            double wall = bench_now() - t0;
            double srv = bench_cpu_seconds(pid) - srv0;
            double self = bench_cpu_seconds(getpid()) - self0;
            errors[m] += err;
            if (r > best[m])
                best[m] = r;
            if (r <= 0)
                continue;
            if (m == M_CEILING || m == M_FLOOR)
                fprintf(stderr,
                        "round %d: %-7s %6.0f requests/s; CPU per request, server and clients "
                        "together: %.0f us (%.2f cores)\n",
                        round + 1, mode_name[m], r, self / (r * wall) * 1e6, self / wall);
            else
                fprintf(stderr,
                        "round %d: %-7s %6.0f sessions/s; CPU per session: server %.0f us "
                        "(%.2f cores), clients %.0f us (%.2f cores)\n",
                        round + 1, mode_name[m], r, srv / (r * wall) * 1e6, srv / wall,
                        self / (r * wall) * 1e6, self / wall);
        }
    }
    MHD_stop_daemon(d);
    MHD_stop_daemon(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    double ceiling = best[M_CEILING] / 2;
    printf("clients: %d keep-alive, loopback, SQLite store, SyncML as %s\n", n,
           bench_codec == DMSEC_CODEC_WBXML ? "WBXML" : "XML");
    if (ceiling > 0)
        printf("HTTP ceiling (fixed body)          %8.0f requests/s = %6.0f two-exchange "
               "sessions/s\n",
               best[M_CEILING], ceiling);
    else
        ceiling = NAN; /* DMSEC_BENCH_ONLY without the ceiling: no ratios */
    if (best[M_FLOOR] > 0)
        printf("durable floor (+1 nonce commit)    %8.0f requests/s = %6.0f two-exchange "
               "sessions/s  ratio %.2f\n",
               best[M_FLOOR], best[M_FLOOR] / 2, best[M_FLOOR] / 2 / ceiling);
    static const char *const label[M_COUNT] = {NULL, NULL, "sessions, devices on the engine",
                                               "sessions, lean devices"};
    for (int m = M_ENGINE; m < M_COUNT; m++)
        if (best[m] > 0 || errors[m])
            printf("%-34s %8.0f sessions/s%30s  ratio %.2f (target >= 0.40), to the floor %.2f "
                   "(target >= 0.80)%s\n",
                   label[m], best[m], "", best[m] / ceiling,
                   best[M_FLOOR] > 0 ? best[m] / (best[M_FLOOR] / 2) : NAN,
                   errors[m] ? "  (some failed)" : "");
    int failed = errors[M_FLOOR] || errors[M_ENGINE] || errors[M_LEAN];
    for (int i = 0; i < n; i++)
        curl_easy_cleanup(cls[i].curl);
    curl_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 && !failed ? 0 : 1;
}
