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
 * usage: bench_server DMSEC_SERVER [SECONDS] [CLIENTS] [STORE_HANDLES] [xml|wbxml]
 */
#define _DEFAULT_SOURCE

#include <curl/curl.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"

#include "bench_client.h"

#define SERVER_ID "bench"
#define MAX_CLIENTS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU seconds of a process so far (Linux /proc). */
static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the ceiling: a fixed body over the same HTTP stack ---- */

static char fixed_body[1024];

static enum MHD_Result fixed(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        *con_cls = c; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* the request body is read and dropped */
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof fixed_body, fixed_body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/vnd.syncml.dm+xml");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- clients ---- */

struct client {
    pthread_t thread;
    int index;
    int port;
    int fixed; /* hit the fixed-body server instead */
    double until;
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
    snprintf(url, sizeof url, "http://127.0.0.1:%d/dm", cl->port);
    static const uint8_t probe[] = "<SyncML/>";
    while (now() < cl->until) {
        int ok;
        if (cl->fixed) {
            struct bench_buf b = {0};
            ok = bench_post(cl->curl, url, dmsec_codec_content_type(bench_codec), probe,
                            sizeof probe - 1, &b) == 200;
            free(b.p);
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

static double drive(int port, int fixed_mode, int n, double seconds, struct client *cls,
                    long *errors)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        cls[i].port = port;
        cls[i].fixed = fixed_mode;
        cls[i].until = t0 + seconds;
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
    return (double)total / (now() - t0);
}

static int setup_devices(const char *db, struct client *cls, int n)
{
    dmsec_store_t *st = NULL;
    if (dmsec_store_open(db, &st))
        return -1;
    for (int i = 0; i < n; i++) {
        dmsec_device_t d;
        memset(&d, 0, sizeof d);
        snprintf(d.device_id, sizeof d.device_id, "IMEI:35000000000%04d", i);
        snprintf(d.client_name, sizeof d.client_name, "%s", d.device_id);
        d.client_scheme = d.server_scheme = DMSEC_AUTH_MD5;
        dmsec_prehash_compute(d.device_id, (const uint8_t *)"client-pw", 9, &d.client_prehash);
        dmsec_prehash_compute(SERVER_ID, (const uint8_t *)"server-pw", 9, &d.server_prehash);
        memset(d.client_nonce, 1, 16);
        memset(d.server_nonce, 2, 16);
        d.client_nonce_len = d.server_nonce_len = 16;
        if (dmsec_store_device_add(st, &d)) {
            dmsec_store_close(st);
            return -1;
        }
        dmsec_account_t *a = &cls[i].acc;
        memset(a, 0, sizeof *a);
        a->out_scheme = a->in_scheme = DMSEC_AUTH_MD5;
        snprintf(a->out_name, sizeof a->out_name, "%s", d.device_id);
        snprintf(a->in_name, sizeof a->in_name, "%s", SERVER_ID);
        a->out_prehash = d.client_prehash;
        a->in_prehash = d.server_prehash;
        memcpy(a->out_nonce, d.client_nonce, 16);
        memcpy(a->in_nonce, d.server_nonce, 16);
        a->out_nonce_len = a->in_nonce_len = 16;
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
    /* DMSEC_BENCH_DIR: where the store lives (default /tmp; its disk's
     * fsync latency is part of the figure). */
    const char *base = getenv("DMSEC_BENCH_DIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/dmsec-bench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    char db[300];
    snprintf(db, sizeof db, "%s/bench.db", dir);
    if (setup_devices(db, cls, n)) {
        fprintf(stderr, "bench_server: cannot set up the store\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < n; i++) {
        cls[i].curl = curl_easy_init();
        curl_easy_setopt(cls[i].curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(cls[i].curl, CURLOPT_NOSIGNAL, 1L); /* no sigaction per request */
    }
    memset(fixed_body, 'x', sizeof fixed_body);

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
        if (handles)
            execl(argv[1], argv[1], "--listen", listen, "--db", db, "--server-id", SERVER_ID,
                  "--store-handles", handles, (char *)NULL);
        else
            execl(argv[1], argv[1], "--listen", listen, "--db", db, "--server-id", SERVER_ID,
                  (char *)NULL);
        _exit(127);
    }
    usleep(500000);

    /* The ceiling: the same stack, thread per connection as the server. */
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         (uint16_t)(port + 1), NULL, NULL, fixed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_server: cannot start the ceiling server\n");
        kill(pid, SIGTERM);
        return 1;
    }
    long err_ceiling = 0;
    long err_sessions = 0;
    double best_ceiling = 0;
    double best_sessions = 0;
    /* DMSEC_BENCH_SESSIONS_ONLY=1: sessions only, for profiling the server. */
    const char *only = getenv("DMSEC_BENCH_SESSIONS_ONLY");
    int sessions_only = only && *only == '1';
    for (int round = 0; round < 3; round++) {
        double c_self0 = cpu_seconds(getpid());
        double c_t0 = now();
        double c = sessions_only ? 1 : drive(port + 1, 1, n, seconds / 3, cls, &err_ceiling);
        if (!sessions_only)
            fprintf(stderr,
                    "round %d: ceiling %.0f requests/s; CPU per request, server and clients "
                    "together: %.0f us (%.2f cores)\n",
                    round + 1, c, (cpu_seconds(getpid()) - c_self0) / (c * (now() - c_t0)) * 1e6,
                    (cpu_seconds(getpid()) - c_self0) / (now() - c_t0));
        double cpu0 = cpu_seconds(pid);
        double self0 = cpu_seconds(getpid());
        double t0 = now();
        double s = drive(port, 0, n, seconds / 3, cls, &err_sessions);
        double wall = now() - t0;
        double cpu = cpu_seconds(pid) - cpu0;
        double self = cpu_seconds(getpid()) - self0;
        if (s > 0)
            fprintf(stderr,
                    "round %d: %.0f sessions/s; CPU per session: server %.0f us (%.2f cores), "
                    "clients %.0f us (%.2f cores)\n",
                    round + 1, s, cpu / (s * wall) * 1e6, cpu / wall, self / (s * wall) * 1e6,
                    self / wall);
        if (c > best_ceiling)
            best_ceiling = c;
        if (s > best_sessions)
            best_sessions = s;
    }
    MHD_stop_daemon(d);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    printf("clients: %d keep-alive, loopback, SQLite store, SyncML as %s\n", n,
           bench_codec == DMSEC_CODEC_WBXML ? "WBXML" : "XML");
    printf("HTTP ceiling (fixed body)       %10.0f requests/s = %8.0f two-exchange sessions/s\n",
           best_ceiling, best_ceiling / 2);
    printf("authenticated sessions (MD5)    %10.0f sessions/s  ratio %.2f (target >= 0.40)%s\n",
           best_sessions, best_sessions / (best_ceiling / 2),
           err_sessions ? "  (some sessions failed)" : "");
    for (int i = 0; i < n; i++)
        curl_easy_cleanup(cls[i].curl);
    curl_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 && err_sessions == 0 ? 0 : 1;
}
