/*
 * Management commands delivered and answered per second by dmsec-server on
 * loopback, next to authentication-only sessions of the same devices,
 * against the same server, in the same run.
 *
 * A forked dmsec-server (SQLite store) serves D devices (default 200);
 * C concurrent sessions (default 12) run over libcurl keep-alive, each
 * device a client session engine of its own whose tree answers Gets from a
 * small in-memory table. The run is made of rounds; each round has two
 * timed phases, every device opening exactly one session in each:
 *
 *   auth-only  nothing queued for the devices: the session is the security
 *              exchange (over plain HTTP the server still asks for the
 *              device's verdict on its Cred with one Get of the DevInfo and
 *              DevDetail leaves, which the device answers; see
 *              dmsec_session_inventory_uris);
 *   mgmt       G Gets (default 10) queued in the store for every device
 *              before the phase (dmsec_store_cmd_queue, untimed), of
 *              ./Vendor/Bench/V0 ... V<G-1>: the server loads them from the
 *              store, sends them, records each sent and then done with its
 *              Results, all durable before its answers leave.
 *
 * The phases alternate which goes first from round to round, so a slower
 * spell of the machine hits both. At the end every command queued must be
 * `done` with status 200 and exactly the value the device's table holds
 * for it (the value names the device, so crossed results are caught), and
 * nothing may be left queued or sent: otherwise the bench fails (exit 1)
 * and says what is missing.
 *
 * Printed: sessions/s of each phase, commands answered/s, messages per
 * session (both directions), the server's CPU per session and per command,
 * and the ratio commands/s / auth-only sessions/s.
 *
 * usage: bench_mgmt [--server PATH] [--devices N] [--concurrency N]
 *                   [--seconds S] [--rounds N] [--gets N] [--wbxml]
 *   --server   dmsec-server to run (default: the one beside bench_mgmt)
 *   --seconds  time budget of the timed phases: rounds go on until it is
 *              spent (default 20), at least --rounds of them (default 2)
 * DMSEC_BENCH_DIR: where the store lives (default /tmp); the disk's fsync
 * latency is part of the figures.
 */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"

#include "bench_client.h"

#define SERVER_ID "bench"
#define BENCH_NODE "./Vendor/Bench/V"
#define MAX_DEVICES 100000
#define MAX_CONCURRENCY 256
#define MAX_GETS 50

/* ---- the devices ---- */

struct device {
    char id[64];
    dmsec_account_t acc; /* its nonces carry on from session to session */
};

static struct device *devices;
static int n_devices = 200;
static int n_gets = 10;
static dmsec_codec_t codec = DMSEC_CODEC_XML;

/* The value a device's tree holds at ./Vendor/Bench/V<k>: it names the
 * device, so a Result recorded for the wrong device or command shows. */
static int bench_value(const char *device_id, int k, char *out, size_t cap)
{
    int n = snprintf(out, cap, "v%d-%s", k, device_id);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The DevInfo and DevDetail leaves the server asks for when it has nothing
 * queued (a deployed device's values). */
static const char *const fixed_leaves[][2] = {
    {"./DevInfo/Man", "dmsec"},   {"./DevInfo/Mod", "bench"},   {"./DevInfo/DmV", "1.2"},
    {"./DevInfo/Lang", "en-US"},  {"./DevDetail/FwV", "1.0.0"}, {"./DevDetail/SwV", "1.0.0"},
    {"./DevDetail/HwV", "rev-a"}, {"./DevDetail/OEM", "dmsec"}, {"./DevDetail/DevTyp", "bench"},
};

/* What one session's engine is given as cb_ctx. */
struct sess_ctx {
    struct device *dev;
    int bench_gets; /* items of ./Vendor/Bench/ answered */
    int other_gets; /* other items answered (the server's inventory Get) */
    int refused;    /* items answered with an error status */
};

static int cb_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    (void)peer_id;
    *out = ((const struct sess_ctx *)ctx)->dev->acc;
    return 0;
}

/* The device's tree: Gets of the bench leaves and of the DevInfo/DevDetail
 * leaves from the table above; 404 for another node, 405 for another
 * command. */
static int cb_tree(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                   const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    (void)server_id;
    struct sess_ctx *x = ctx;
    const char *uri = item->target && item->target->uri ? item->target->uri : "";
    char value[128];
    const char *v = NULL;
    int bench = 0;
    if (cmd->type != DMSEC_CMD_GET) {
        res->status = 405;
        x->refused++;
        return 0;
    }
    size_t plen = strlen(BENCH_NODE);
    if (!strncmp(uri, BENCH_NODE, plen) && uri[plen] >= '0' && uri[plen] <= '9') {
        char *end = NULL;
        long k = strtol(uri + plen, &end, 10);
        if (*end == '\0' && k < MAX_GETS && !bench_value(x->dev->id, (int)k, value, sizeof value)) {
            v = value;
            bench = 1;
        }
    } else if (!strcmp(uri, "./DevInfo/DevId")) {
        v = x->dev->id;
    } else {
        for (size_t i = 0; i < sizeof fixed_leaves / sizeof fixed_leaves[0]; i++)
            if (!strcmp(uri, fixed_leaves[i][0]))
                v = fixed_leaves[i][1];
    }
    if (!v) {
        res->status = 404;
        x->refused++;
        return 0;
    }
    res->data = strdup(v);
    if (!res->data)
        return DMSEC_ERR_NO_MEMORY;
    res->data_len = strlen(v);
    snprintf(res->format, sizeof res->format, "chr");
    res->status = 200;
    if (bench)
        x->bench_gets++;
    else
        x->other_gets++;
    return 0;
}

/* One client-initiated session of dev; *messages counts the messages of
 * both directions. 0 when both sides authenticated and it ended well. */
static int run_session(CURL *c, const char *url, struct device *dev, struct sess_ctx *x,
                       int *messages)
{
    memset(x, 0, sizeof *x);
    x->dev = dev;
    const dmsec_session_cb_t cb = {.get_account = cb_account, .tree_exec = cb_tree};
    return bench_session_cb(c, url, SERVER_ID, dev->id, codec, &dev->acc, &cb, x, messages);
}

/* ---- a timed phase: every device opens one session ---- */

enum phase_kind { P_AUTH, P_MGMT, P_COUNT };
static const char *const phase_name[P_COUNT] = {"auth-only", "mgmt"};

struct phase {
    enum phase_kind kind;
    const char *url;
    int next; /* the next device index to take (atomic) */
    pthread_mutex_t lock;
    long sessions; /* ended well, with the expected commands answered */
    long failed;
    long wrong;    /* ended well but not with the commands expected */
    long messages; /* of the sessions that ended well */
    long commands; /* bench Gets answered in those */
    char first_error[160];
};

struct worker {
    pthread_t thread;
    CURL *curl;
    struct phase *ph;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct phase *ph = w->ph;
    int expect = ph->kind == P_MGMT ? n_gets : 0;
    for (;;) {
        int i = __atomic_fetch_add(&ph->next, 1, __ATOMIC_RELAXED);
        if (i >= n_devices)
            break;
        struct sess_ctx x;
        int messages = 0;
        int rc = run_session(w->curl, ph->url, &devices[i], &x, &messages);
        pthread_mutex_lock(&ph->lock);
        if (rc) {
            ph->failed++;
            if (!ph->first_error[0])
                snprintf(ph->first_error, sizeof ph->first_error, "%s: session failed",
                         devices[i].id);
        } else if (x.bench_gets != expect || x.refused) {
            ph->wrong++;
            if (!ph->first_error[0])
                snprintf(ph->first_error, sizeof ph->first_error,
                         "%s: %d bench Gets reached the device (expected %d), %d refused",
                         devices[i].id, x.bench_gets, expect, x.refused);
        } else {
            ph->sessions++;
            ph->messages += messages;
            ph->commands += x.bench_gets;
        }
        pthread_mutex_unlock(&ph->lock);
    }
    return NULL;
}

struct totals {
    double seconds;
    double server_cpu;
    long sessions, failed, wrong, messages, commands;
};

static int run_phase(enum phase_kind kind, const char *url, struct worker *ws, int n_workers,
                     pid_t server, int round, struct totals *tot)
{
    struct phase ph;
    memset(&ph, 0, sizeof ph);
    ph.kind = kind;
    ph.url = url;
    pthread_mutex_init(&ph.lock, NULL);
    double cpu0 = bench_cpu_seconds(server);
    double t0 = bench_now();
    int started = 0;
    for (; started < n_workers; started++) {
        ws[started].ph = &ph;
        if (pthread_create(&ws[started].thread, NULL, run_worker, &ws[started]))
            break;
    }
    for (int i = 0; i < started; i++)
        pthread_join(ws[i].thread, NULL);
    double wall = bench_now() - t0;
    double cpu = bench_cpu_seconds(server) - cpu0;
    pthread_mutex_destroy(&ph.lock);
    if (started == 0) {
        fprintf(stderr, "bench_mgmt: cannot start a thread\n");
        return -1;
    }
    tot->seconds += wall;
    tot->server_cpu += cpu;
    tot->sessions += ph.sessions;
    tot->failed += ph.failed;
    tot->wrong += ph.wrong;
    tot->messages += ph.messages;
    tot->commands += ph.commands;
    fprintf(stderr,
            "round %d: %-9s %6.0f sessions/s (%ld in %.2f s), %.1f messages/session, server CPU "
            "%.0f us/session (%.2f cores)%s%s\n",
            round, phase_name[kind], (double)ph.sessions / wall, ph.sessions, wall,
            ph.sessions ? (double)ph.messages / (double)ph.sessions : 0.0,
            ph.sessions ? cpu / (double)ph.sessions * 1e6 : 0.0, cpu / wall,
            ph.first_error[0] ? "; FIRST ERROR: " : "", ph.first_error);
    return 0;
}

/* ---- the store: devices, queued commands, the final check ---- */

struct queued {
    int64_t id;
    int device;
    int k;
};
static struct queued *queued;
static size_t n_queued, cap_queued;

static int setup_devices(const char *db)
{
    dmsec_store_t *st = NULL;
    if (dmsec_store_open(db, &st))
        return -1;
    int rc = dmsec_store_begin(st);
    for (int i = 0; !rc && i < n_devices; i++) {
        struct device *dv = &devices[i];
        dmsec_device_t d;
        snprintf(dv->id, sizeof dv->id, "IMEI:3510000%08d", i);
        bench_device_make(&d, &dv->acc, dv->id, SERVER_ID);
        rc = dmsec_store_device_add(st, &d);
    }
    rc = rc ? (dmsec_store_rollback(st), rc) : dmsec_store_commit(st);
    dmsec_store_close(st);
    return rc;
}

/* Queues n_gets Gets for every device, as an operator would (one
 * transaction per device, as the CLI's bulk path groups them). */
static int queue_gets(dmsec_store_t *st)
{
    size_t need = n_queued + (size_t)n_devices * (size_t)n_gets;
    if (need > cap_queued) {
        size_t cap = cap_queued ? cap_queued * 2 : 4096;
        while (cap < need)
            cap *= 2;
        struct queued *q = realloc(queued, cap * sizeof *q);
        if (!q)
            return DMSEC_ERR_NO_MEMORY;
        queued = q;
        cap_queued = cap;
    }
    dmsec_store_cmd_t c;
    memset(&c, 0, sizeof c);
    c.kind = DMSEC_CMD_GET;
    snprintf(c.queued_by, sizeof c.queued_by, "bench:bench_mgmt");
    int rc = 0;
    for (int i = 0; !rc && i < n_devices; i++) {
        snprintf(c.device_id, sizeof c.device_id, "%s", devices[i].id);
        rc = dmsec_store_begin(st);
        for (int k = 0; !rc && k < n_gets; k++) {
            snprintf(c.target, sizeof c.target, BENCH_NODE "%d", k);
            int64_t id = 0;
            rc = dmsec_store_cmd_queue(st, &c, (int64_t)time(NULL), &id);
            queued[n_queued + (size_t)k] = (struct queued){.id = id, .device = i, .k = k};
        }
        if (rc) {
            dmsec_store_rollback(st);
            fprintf(stderr, "bench_mgmt: queueing for %s: %s\n", devices[i].id, dmsec_strerror(rc));
        } else if ((rc = dmsec_store_commit(st)) == 0) {
            n_queued += (size_t)n_gets;
        }
    }
    return rc;
}

static int count_open(void *ctx, const dmsec_store_cmd_t *c)
{
    (void)c;
    (*(long *)ctx)++;
    return 0;
}

/* Every command queued is done, 200, with the device's value; nothing is
 * left queued or sent. Prints what is wrong; 0 when all is well. */
static int verify(dmsec_store_t *st, size_t *ok_out)
{
    size_t ok = 0, shown = 0;
    for (size_t i = 0; i < n_queued; i++) {
        const struct queued *q = &queued[i];
        dmsec_store_cmd_t c;
        memset(&c, 0, sizeof c);
        char want[128];
        bench_value(devices[q->device].id, q->k, want, sizeof want);
        int rc = dmsec_store_cmd_get(st, q->id, &c);
        const char *why = NULL;
        if (rc)
            why = dmsec_strerror(rc);
        else if (c.state != DMSEC_CMDST_DONE)
            why = dmsec_cmd_state_name(c.state);
        else if (c.status != 200)
            why = "status not 200";
        else if (!c.has_result || c.result_len != strlen(want) ||
                 memcmp(c.result, want, c.result_len) != 0)
            why = "no result or a wrong value";
        else if (strcmp(c.device_id, devices[q->device].id) != 0)
            why = "another device's command";
        if (why) {
            if (shown++ < 10)
                fprintf(stderr, "MISSING command %lld (%s, %s%d): %s (status %d, state %s)\n",
                        (long long)q->id, devices[q->device].id, BENCH_NODE, q->k, why, c.status,
                        rc ? "?" : dmsec_cmd_state_name(c.state));
        } else {
            ok++;
        }
        dmsec_store_cmd_clear(&c);
    }
    long open = 0;
    dmsec_cmd_filter_t f = {
        .states = (1u << DMSEC_CMDST_QUEUED) | (1u << DMSEC_CMDST_SENT),
    };
    int rc = dmsec_store_cmd_list(st, &f, count_open, &open);
    if (rc || open) {
        fprintf(stderr, "MISSING: %ld command(s) still queued or sent%s\n", open,
                rc ? " (the listing failed)" : "");
        return -1;
    }
    *ok_out = ok;
    return ok == n_queued ? 0 : -1;
}

/* ---- the server ---- */

struct server {
    pid_t pid;
    int out; /* its stdout, drained once its port is read */
    pthread_t drain;
    int port;
};

static void *drain_main(void *arg)
{
    struct server *sv = arg;
    char buf[4096];
    while (read(sv->out, buf, sizeof buf) > 0)
        ;
    return NULL;
}

/* Starts dmsec-server on a port of its choosing and waits (up to 10 s)
 * for the line naming it. */
static int start_server(const char *path, const char *db, struct server *sv)
{
    int p[2];
    if (pipe(p))
        return -1;
    sv->pid = fork();
    if (sv->pid < 0)
        return -1;
    if (sv->pid == 0) {
        /* Its log line per session would flood the terminal. */
        int null = open("/dev/null", O_WRONLY);
        dup2(p[1], STDOUT_FILENO);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        close(p[0]);
        close(p[1]);
        /* Every bench device comes from 127.0.0.1: lift the per-address
         * connection limit. */
        execl(path, path, "--listen", "127.0.0.1:0", "--db", db, "--server-id", SERVER_ID,
              "--per-ip-connections", "100000", "--resync-after", "3600", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    sv->out = p[0];
    char line[1024];
    size_t n = 0;
    double until = bench_now() + 10;
    while (bench_now() < until && n < sizeof line - 1) {
        struct pollfd pfd = {.fd = sv->out, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(sv->out, line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
        const char *at = strstr(line, "listening on 127.0.0.1:");
        if (at && strchr(at, '\n')) {
            sv->port = atoi(at + strlen("listening on 127.0.0.1:"));
            break;
        }
    }
    if (sv->port <= 0 || pthread_create(&sv->drain, NULL, drain_main, sv)) {
        fprintf(stderr, "bench_mgmt: %s did not start (is it built? try --server PATH)\n", path);
        kill(sv->pid, SIGTERM);
        waitpid(sv->pid, NULL, 0);
        close(sv->out);
        return -1;
    }
    return 0;
}

static void stop_server(struct server *sv)
{
    kill(sv->pid, SIGTERM);
    waitpid(sv->pid, NULL, 0);
    pthread_join(sv->drain, NULL);
    close(sv->out);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_mgmt [--server PATH] [--devices N] [--concurrency N] "
                    "[--seconds S] [--rounds N] [--gets N] [--wbxml]\n");
}

/* An integer option in [lo, hi]; 0 when it parsed. */
static int int_opt(const char *name, const char *v, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || !end || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_mgmt: %s wants a number from %ld to %ld\n", name, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    (void)bench_session; /* the shared client header's plain session: not used here */
    char server_path[PATH_MAX];
    int concurrency = 12, min_rounds = 2;
    double seconds = 20;
    {
        /* Default: the dmsec-server beside this program. */
        char self[PATH_MAX - 16];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(server_path, sizeof server_path, "%s/dmsec-server", slash ? self : ".");
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--server") && v) {
            snprintf(server_path, sizeof server_path, "%s", v);
            i++;
        } else if (!strcmp(a, "--devices")) {
            bad = int_opt(a, v, 1, MAX_DEVICES, &n_devices);
            i++;
        } else if (!strcmp(a, "--concurrency")) {
            bad = int_opt(a, v, 1, MAX_CONCURRENCY, &concurrency);
            i++;
        } else if (!strcmp(a, "--rounds")) {
            bad = int_opt(a, v, 1, 10000, &min_rounds);
            i++;
        } else if (!strcmp(a, "--gets")) {
            bad = int_opt(a, v, 1, MAX_GETS, &n_gets);
            i++;
        } else if (!strcmp(a, "--seconds")) {
            char *end = NULL;
            seconds = v ? strtod(v, &end) : -1;
            bad = !v || !end || *end || !(seconds >= 0 && seconds <= 86400);
            if (bad)
                fprintf(stderr, "bench_mgmt: --seconds wants a number from 0 to 86400\n");
            i++;
        } else if (!strcmp(a, "--wbxml")) {
            codec = DMSEC_CODEC_WBXML;
        } else {
            bad = 1;
            if (strcmp(a, "--help") && strcmp(a, "-h"))
                fprintf(stderr, "bench_mgmt: unknown option or missing value: %s\n", a);
        }
        if (bad) {
            usage();
            return 2;
        }
    }
    if (concurrency > n_devices)
        concurrency = n_devices;

    devices = calloc((size_t)n_devices, sizeof *devices);
    if (!devices)
        return 1;
    const char *base = getenv("DMSEC_BENCH_DIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/dmsec-bench-mgmt-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_mgmt: mkdtemp");
        return 1;
    }
    char db[300];
    snprintf(db, sizeof db, "%s/bench.db", dir);
    int failed = 1;
    dmsec_store_t *st = NULL;
    struct server sv = {0};
    struct worker *ws = calloc((size_t)concurrency, sizeof *ws);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!ws || setup_devices(db) || dmsec_store_open(db, &st)) {
        fprintf(stderr, "bench_mgmt: cannot set up the store in %s\n", dir);
        goto out;
    }
    if (start_server(server_path, db, &sv))
        goto out;
    for (int i = 0; i < concurrency; i++) {
        ws[i].curl = curl_easy_init();
        curl_easy_setopt(ws[i].curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(ws[i].curl, CURLOPT_NOSIGNAL, 1L); /* no sigaction per request */
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/dm", sv.port);

    /* Rounds until the time budget of the timed phases is spent. The
     * phases alternate which goes first; the Gets are queued just before
     * the management phase, so the auth-only phase finds nothing. */
    struct totals tot[P_COUNT];
    memset(tot, 0, sizeof tot);
    double queue_s = 0;
    int rounds = 0;
    int broken = 0;
    while (!broken &&
           (rounds < min_rounds || tot[P_AUTH].seconds + tot[P_MGMT].seconds < seconds)) {
        rounds++;
        for (int step = 0; step < 2 && !broken; step++) {
            enum phase_kind k = (rounds + step) % 2 ? P_AUTH : P_MGMT;
            if (k == P_MGMT) {
                double q0 = bench_now();
                if (queue_gets(st)) {
                    broken = 1;
                    break;
                }
                queue_s += bench_now() - q0;
            }
            if (run_phase(k, url, ws, concurrency, sv.pid, rounds, &tot[k]))
                broken = 1;
        }
        /* A round where sessions failed would only spread the damage. */
        if (tot[P_AUTH].failed + tot[P_MGMT].failed + tot[P_AUTH].wrong + tot[P_MGMT].wrong)
            broken = 1;
    }
    stop_server(&sv);
    sv.pid = 0;

    size_t verified = 0;
    int bad_store = verify(st, &verified);
    long errors = tot[P_AUTH].failed + tot[P_MGMT].failed + tot[P_AUTH].wrong + tot[P_MGMT].wrong;

    double auth_rate = tot[P_AUTH].seconds > 0 ? tot[P_AUTH].sessions / tot[P_AUTH].seconds : 0;
    double mgmt_rate = tot[P_MGMT].seconds > 0 ? tot[P_MGMT].sessions / tot[P_MGMT].seconds : 0;
    double cmd_rate = tot[P_MGMT].seconds > 0 ? tot[P_MGMT].commands / tot[P_MGMT].seconds : 0;
    printf("devices: %d, %d concurrent sessions (libcurl keep-alive, loopback), %d rounds, "
           "SQLite store, SyncML as %s; %d Gets queued per device per round (%.2f s to queue "
           "%zu, untimed)\n",
           n_devices, concurrency, rounds, codec == DMSEC_CODEC_WBXML ? "WBXML" : "XML", n_gets,
           queue_s, n_queued);
    for (int k = 0; k < P_COUNT; k++) {
        const struct totals *t = &tot[k];
        printf("%-31s %7.0f sessions/s  %4.1f messages/session  server CPU %5.0f us/session"
               "  (%ld sessions in %.1f s)\n",
               k == P_AUTH ? "sessions, authentication only" : "sessions, with queued Gets",
               k == P_AUTH ? auth_rate : mgmt_rate,
               t->sessions ? (double)t->messages / (double)t->sessions : 0.0,
               t->sessions ? t->server_cpu / (double)t->sessions * 1e6 : 0.0, t->sessions,
               t->seconds);
    }
    /* The server's CPU per command: the management sessions' whole cost,
     * and what they cost beyond as many auth-only sessions. */
    double per_auth =
        tot[P_AUTH].sessions ? tot[P_AUTH].server_cpu / (double)tot[P_AUTH].sessions : 0.0;
    double ncmd = (double)tot[P_MGMT].commands;
    if (ncmd > 0)
        printf("%-31s %7.0f commands/s  server CPU %5.0f us/command, %.0f us beyond an auth-only "
               "session\n",
               "commands answered (Get+Results)", cmd_rate, tot[P_MGMT].server_cpu / ncmd * 1e6,
               (tot[P_MGMT].server_cpu - per_auth * (double)tot[P_MGMT].sessions) / ncmd * 1e6);
    else
        printf("%-31s %7.0f commands/s\n", "commands answered (Get+Results)", cmd_rate);
    printf("ratio commands/s / auth-only sessions/s: %.2f\n",
           auth_rate > 0 ? cmd_rate / auth_rate : 0.0);
    printf("store: %zu of %zu queued Gets done (200) with the device's value%s\n", verified,
           n_queued, bad_store ? "  FAILED" : "");
    if (errors)
        printf("FAILED: %ld auth-only and %ld management sessions failed or carried the wrong "
               "commands\n",
               tot[P_AUTH].failed + tot[P_AUTH].wrong, tot[P_MGMT].failed + tot[P_MGMT].wrong);
    failed = bad_store || errors || broken || n_queued == 0;
out:
    if (sv.pid > 0)
        stop_server(&sv);
    for (int i = 0; ws && i < concurrency; i++)
        if (ws[i].curl)
            curl_easy_cleanup(ws[i].curl);
    curl_global_cleanup();
    dmsec_store_close(st);
    free(ws);
    free(queued);
    free(devices);
    remove_dir(dir);
    return failed ? 1 : 0;
}
