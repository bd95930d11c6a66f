/*
 * The device agent's costs, each next to a floor or anchor measured or
 * stated in the same run:
 *
 *  1. peak memory (ru_maxrss from wait4) of real `dmsec-client session`
 *     processes running a full authenticated session against a forked
 *     dmsec-server on loopback, and of bench_agent_min (the smallest agent on
 *     libdmsec: no libcurl, no tree file); next to the same exec of
 *     /bin/true and of `dmsec-client --help` (the binary and its shared
 *     libraries loaded, no session);
 *  2. the text of libdmsec a full device session needs: the archive
 *     members of libdmsec.a that the linker pulled into bench_agent_min
 *     (read from its link map, bench_agent_min.map), summed as `size` counts
 *     text (code and read-only data); next to the anchor, a known C client
 *     library at about 107 KB of text, and libdmsec.a's whole text. OpenSSL
 *     and expat are shared libraries and not counted;
 *  3. sessions per second of many agents against one server (SQLite store):
 *     N processes in a loop each spawning `dmsec-client session` (process
 *     start-up, tree file load and fsync'd saves included) and the same with
 *     bench_agent_min, next to the spawn ceiling (`dmsec-client --help` in the
 *     same loop); and N threads running the engine over libcurl keep-alive in
 *     one process (what the server sees from many devices), next to the
 *     HTTP ceiling of the same server (GET /healthz, two requests per session).
 *
 * usage: bench_agent DMSEC_SERVER DMSEC_CLIENT DMSEC_TOOL [SECONDS] [AGENTS]
 *   bench_agent_min, its link map and libdmsec.a are found beside bench_agent.
 */
#define _DEFAULT_SOURCE

#include <curl/curl.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

#include "bench_client.h"

#ifndef DMSEC_BENCH_BUILD_TYPE
#define DMSEC_BENCH_BUILD_TYPE "unknown"
#endif

extern char **environ;

#define SERVER_ID "bench"
#define MAX_AGENTS 64
#define ANCHOR_TEXT_KB 107.0

static const char *server_bin;
static const char *client_bin;
static const char *tool_bin;
static char self_dir[512];
static char tmp_dir[] = "/tmp/dmsec-bench-agent-XXXXXX";
static int port;
static char url[128];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- processes ---- */

/* Spawns argv with stdin/stdout/stderr on /dev/null (stdout to out_fd when
 * >= 0). The pid, or -1. */
static pid_t spawn(char *const argv[], int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? -1 : pid;
}

/* Runs argv to the end: its exit status (-1 when it did not exit), its peak
 * RSS in KB in *maxrss_kb when not NULL. A child's peak counts what it
 * holds before exec too: posix_spawn's child runs in this process's memory,
 * a forked one holds only copies of its anonymous pages, so the memory
 * figures fork (and the /bin/true floor shows what is left). */
static int run(char *const argv[], long *maxrss_kb)
{
    pid_t pid;
    if (maxrss_kb) {
        pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
            }
            execv(argv[0], argv);
            _exit(127);
        }
    } else
        pid = spawn(argv, -1);
    if (pid < 0)
        return -1;
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (wait4(pid, &st, 0, &ru) != pid)
        return -1;
    if (maxrss_kb)
        *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs argv and returns its stdout (malloc'd, NUL-terminated) when it
 * exits 0. */
static char *capture(char *const argv[])
{
    int p[2];
    if (pipe(p))
        return NULL;
    pid_t pid = spawn(argv, p[1]);
    close(p[1]);
    size_t cap = 4096;
    size_t n = 0;
    char *out = malloc(cap);
    ssize_t r;
    while (out && (r = read(p[0], out + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (n + 1 == cap) {
            char *q = realloc(out, cap *= 2);
            if (!q) {
                free(out);
                out = NULL;
            }
            out = q;
        }
    }
    close(p[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(out);
        return NULL;
    }
    if (out)
        out[n] = '\0';
    return out;
}

/* The string value of "key" in a flat JSON object. */
static int json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

/* ---- devices ---- */

struct device {
    char id[64];
    char tree[256]; /* dmsec-client's tree, or bench_agent_min's state file */
    char client_secret[64];
    char server_secret[64];
    char client_nonce[64];
    char server_nonce[64];
};

/* Registers a device with `dmsec device add` and, when tree, gives it a
 * dmsec-client tree file with the account. */
static int enrol(struct device *d, const char *id, int tree)
{
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->client_secret, sizeof d->client_secret, "cs-%s-%ld", id, (long)getpid());
    char db[300];
    snprintf(db, sizeof db, "%s/bench.db", tmp_dir);
    char *add[] = {(char *)tool_bin, "device",   "add",           "--db",        db,
                   "--device-id",    d->id,      "--client-name", d->id,         "--client-secret",
                   d->client_secret, "--scheme", "md5",           "--server-id", SERVER_ID,
                   "--json",         NULL};
    char *json = capture(add);
    int bad = !json || json_str(json, "server_secret", d->server_secret, sizeof d->server_secret) ||
              json_str(json, "client_nonce_b64", d->client_nonce, sizeof d->client_nonce) ||
              json_str(json, "server_nonce_b64", d->server_nonce, sizeof d->server_nonce);
    free(json);
    if (bad)
        return -1;
    if (!tree) {
        /* bench_agent_min's state file */
        snprintf(d->tree, sizeof d->tree, "%s/%s.state", tmp_dir, id);
        FILE *f = fopen(d->tree, "w");
        if (!f)
            return -1;
        fprintf(f,
                "url=%s\ndevice=%s\nserver=%s\nclient_secret=%s\nserver_secret=%s\n"
                "client_nonce=%s\nserver_nonce=%s\n",
                url, d->id, SERVER_ID, d->client_secret, d->server_secret, d->client_nonce,
                d->server_nonce);
        return fclose(f) ? -1 : 0;
    }
    snprintf(d->tree, sizeof d->tree, "%s/%s.tree", tmp_dir, id);
    char *init[] = {(char *)client_bin, "init", "--tree", d->tree, "--device-id", d->id, NULL};
    char *acc[] = {(char *)client_bin,
                   "add-account",
                   "--tree",
                   d->tree,
                   "--account",
                   "dmsec",
                   "--server-id",
                   SERVER_ID,
                   "--url",
                   url,
                   "--client-name",
                   d->id,
                   "--client-secret",
                   d->client_secret,
                   "--client-scheme",
                   "md5",
                   "--server-secret",
                   d->server_secret,
                   "--server-scheme",
                   "md5",
                   "--client-nonce-b64",
                   d->client_nonce,
                   "--server-nonce-b64",
                   d->server_nonce,
                   NULL};
    return run(init, NULL) == 0 && run(acc, NULL) == 0 ? 0 : -1;
}

static char agent_min[600];

static void session_argv(const struct device *d, int minimal, char *argv[10])
{
    if (minimal) {
        char *v[] = {agent_min, (char *)d->tree, NULL};
        memcpy(argv, v, sizeof v);
    } else {
        char *v[] = {(char *)client_bin, "session", "--tree", (char *)d->tree,
                     "--server",         SERVER_ID, NULL};
        memcpy(argv, v, sizeof v);
    }
}

/* ---- the server ---- */

static int healthz_up(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t start_server(void)
{
    char listen[64];
    char db[300];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(db, sizeof db, "%s/bench.db", tmp_dir);
    char *argv[] = {(char *)server_bin, "--listen", listen, "--db", db,
                    "--server-id",      SERVER_ID,  NULL};
    pid_t pid = spawn(argv, -1);
    for (int i = 0; pid > 0 && i < 100; i++) {
        if (healthz_up())
            return pid;
        usleep(50000);
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

/* ---- 1: peak memory ---- */

static long peak(char *const argv[], int times, int *failures)
{
    long best = 0;
    for (int i = 0; i < times; i++) {
        long kb = 0;
        if (run(argv, &kb) != 0 && failures)
            (*failures)++;
        if (kb > best)
            best = kb;
    }
    return best;
}

/* ---- 2: text size ---- */

struct member {
    char name[128];
    long text;
    int pulled;
};

static int text_size(long *pulled_text, long *all_text, int *pulled_n, int *all_n, long *exe_text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/bench_agent_min.map", self_dir);
    FILE *map = fopen(path, "r");
    if (!map) {
        fprintf(stderr, "bench_agent: no link map %s\n", path);
        return -1;
    }
    /* `size` on the archive: one line per member, "... NAME (ex ARCHIVE)". */
    char lib[600];
    snprintf(lib, sizeof lib, "%s/libdmsec.a", self_dir);
    char *size_argv[] = {"/usr/bin/size", lib, NULL};
    char *listing = capture(size_argv);
    if (!listing) {
        fclose(map);
        fprintf(stderr, "bench_agent: size %s failed\n", lib);
        return -1;
    }
    static struct member m[256];
    int n = 0;
    *all_text = 0;
    for (char *line = strtok(listing, "\n"); line; line = strtok(NULL, "\n")) {
        long text;
        char name[128];
        if (n < 256 && sscanf(line, "%ld %*d %*d %*d %*x %127s (ex", &text, name) == 2) {
            snprintf(m[n].name, sizeof m[n].name, "%s", name);
            m[n].text = text;
            m[n].pulled = 0;
            *all_text += text;
            n++;
        }
    }
    free(listing);
    /* The map names every archive member the linker pulled in as
     * ".../libdmsec.a(NAME)". */
    char line[1024];
    while (fgets(line, sizeof line, map)) {
        for (char *p = strstr(line, "libdmsec.a("); p; p = strstr(p + 1, "libdmsec.a(")) {
            char *open = p + strlen("libdmsec.a(");
            char *close = strchr(open, ')');
            if (!close)
                break;
            for (int i = 0; i < n; i++)
                if (strlen(m[i].name) == (size_t)(close - open) &&
                    !strncmp(m[i].name, open, (size_t)(close - open)))
                    m[i].pulled = 1;
        }
    }
    fclose(map);
    *pulled_text = 0;
    *pulled_n = 0;
    *all_n = n;
    printf("  libdmsec members in the session:");
    for (int i = 0; i < n; i++)
        if (m[i].pulled) {
            *pulled_text += m[i].text;
            (*pulled_n)++;
            printf(" %s", m[i].name);
        }
    printf("\n");
    char *exe_argv[] = {"/usr/bin/size", agent_min, NULL};
    char *exe = capture(exe_argv);
    *exe_text = 0;
    char *l2 = exe ? strchr(exe, '\n') : NULL;
    if (l2)
        sscanf(l2 + 1, "%ld", exe_text);
    free(exe);
    return n > 0 && *pulled_n > 0 ? 0 : -1;
}

/* ---- 3: sessions per second ---- */

struct worker {
    pthread_t thread;
    int mode; /* 0: spawn argv; 1: engine + libcurl; 2: the HTTP ceiling with libcurl */
    char *argv[10];
    struct device *dev;
    dmsec_account_t acc;
    CURL *curl;
    double until;
    long done;
    long errors;
};

static int engine_session(struct worker *w)
{
    return bench_session(w->curl, url, SERVER_ID, w->dev->id, DMSEC_CODEC_XML, &w->acc);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    /* The ceiling's request: a body of a package #1's size that the server
     * refuses for its content type (415) before the engine or the store. */
    static const uint8_t probe[1024];
    while (now() < w->until) {
        int ok;
        if (w->mode == 0) {
            ok = run(w->argv, NULL) == 0;
        } else if (w->mode == 1) {
            ok = engine_session(w) == 0;
        } else {
            struct bench_buf b = {0};
            ok = bench_post(w->curl, url, "text/plain", probe, sizeof probe, &b) == 415;
            free(b.p);
        }
        if (ok)
            w->done++;
        else
            w->errors++;
    }
    return NULL;
}

/* Runs n workers for seconds: completed items per second; failures added
 * to *errors. */
static double drive(struct worker *w, int n, double seconds, long *errors)
{
    double t0 = now();
    for (int i = 0; i < n; i++) {
        w[i].until = t0 + seconds;
        w[i].done = w[i].errors = 0;
        pthread_create(&w[i].thread, NULL, work, &w[i]);
    }
    long total = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].done;
        *errors += w[i].errors;
    }
    return (double)total / (now() - t0);
}

static int account_of(const struct device *d, dmsec_account_t *a)
{
    memset(a, 0, sizeof *a);
    a->out_scheme = a->in_scheme = DMSEC_AUTH_MD5;
    memcpy(a->out_name, d->id, sizeof d->id); /* 64 bytes, NUL-terminated, < DMSEC_NAME_MAX */
    memcpy(a->in_name, SERVER_ID, sizeof SERVER_ID);
    int rc = dmsec_prehash_compute(d->id, (const uint8_t *)d->client_secret,
                                   strlen(d->client_secret), &a->out_prehash);
    if (!rc)
        rc = dmsec_prehash_compute(SERVER_ID, (const uint8_t *)d->server_secret,
                                   strlen(d->server_secret), &a->in_prehash);
    if (!rc)
        rc = dmsec_b64_decode(d->client_nonce, strlen(d->client_nonce), a->out_nonce,
                              sizeof a->out_nonce, &a->out_nonce_len);
    if (!rc)
        rc = dmsec_b64_decode(d->server_nonce, strlen(d->server_nonce), a->in_nonce,
                              sizeof a->in_nonce, &a->in_nonce_len);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: bench_agent DMSEC_SERVER DMSEC_CLIENT DMSEC_TOOL [SECONDS] [AGENTS]\n");
        return 2;
    }
    server_bin = argv[1];
    client_bin = argv[2];
    tool_bin = argv[3];
    double seconds = argc > 4 ? strtod(argv[4], NULL) : 2.0;
    int n = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 16;
    if (n < 1 || n > MAX_AGENTS)
        n = 16;
    if (seconds <= 0)
        seconds = 2.0;
    char exe[512];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0)
        return 1;
    exe[el] = '\0';
    snprintf(self_dir, sizeof self_dir, "%s", dirname(exe));
    snprintf(agent_min, sizeof agent_min, "%s/bench_agent_min", self_dir);
    if (access(agent_min, X_OK) || access(server_bin, X_OK) || access(client_bin, X_OK) ||
        access(tool_bin, X_OK)) {
        fprintf(stderr, "bench_agent: needs %s and the three binaries given\n", agent_min);
        return 2;
    }
    if (!mkdtemp(tmp_dir))
        return 1;
    port = 20000 + (int)(getpid() % 20000);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/dm", port);
    int failed = 0;

    /* Devices: one for the memory figures (dmsec-client and the minimal
     * agent), then n for each throughput variant. */
    static struct device mem_dev;
    static struct device mem_min;
    static struct device proc_dev[MAX_AGENTS];
    static struct device min_dev[MAX_AGENTS];
    static struct device thr_dev[MAX_AGENTS];
    char id[64];
    int bad =
        enrol(&mem_dev, "IMEI:350000000000001", 1) || enrol(&mem_min, "IMEI:350000000000002", 0);
    for (int i = 0; !bad && i < n; i++) {
        snprintf(id, sizeof id, "IMEI:3510000000%05d", i);
        bad |= enrol(&proc_dev[i], id, 1);
        snprintf(id, sizeof id, "IMEI:3520000000%05d", i);
        bad |= enrol(&min_dev[i], id, 0);
        snprintf(id, sizeof id, "IMEI:3530000000%05d", i);
        bad |= enrol(&thr_dev[i], id, 0);
    }
    pid_t srv = bad ? -1 : start_server();
    if (srv < 0) {
        fprintf(stderr, "bench_agent: cannot set up the devices or start %s\n", server_bin);
        return 1;
    }

    /* 1: peak memory, before this process loads or starts anything (a
     * child's peak includes what it inherits until exec; the /bin/true
     * floor shows that share). */
    char *true_argv[] = {"/bin/true", NULL};
    char *help_argv[] = {(char *)client_bin, "--help", NULL};
    char *sess_argv[10];
    char *min_argv[10];
    session_argv(&mem_dev, 0, sess_argv);
    session_argv(&mem_min, 1, min_argv);
    int mem_fail = 0;
    long rss_true = peak(true_argv, 3, NULL);
    long rss_help = peak(help_argv, 3, NULL);
    long rss_sess = peak(sess_argv, 5, &mem_fail);
    long rss_min = peak(min_argv, 5, &mem_fail);
    printf("agent peak memory (ru_maxrss, max of runs; full MD5 session against dmsec-server "
           "on loopback)\n");
    printf("  floor: /bin/true                        %6ld KB\n", rss_true);
    printf("  floor: dmsec-client --help (no session) %6ld KB\n", rss_help);
    printf("  dmsec-client session                    %6ld KB   +%ld KB over --help%s\n", rss_sess,
           rss_sess - rss_help, mem_fail ? "  (some sessions FAILED)" : "");
    printf("  bench_agent_min session (no curl/tree)  %6ld KB\n", rss_min);
    failed |= mem_fail;

    /* 2: text */
    long pulled = 0;
    long all = 0;
    long exe_text = 0;
    int pulled_n = 0;
    int all_n = 0;
    printf("\nlibdmsec text for a full device session (%s build; `size` text = code + read-only "
           "data)\n",
           DMSEC_BENCH_BUILD_TYPE);
    if (text_size(&pulled, &all, &pulled_n, &all_n, &exe_text) == 0) {
        printf("  libdmsec objects a session pulls in   %7.1f KB (%d of %d objects)   anchor: a "
               "known C client library ~%.0f KB  ratio %.2f\n",
               (double)pulled / 1024, pulled_n, all_n, ANCHOR_TEXT_KB,
               (double)pulled / 1024 / ANCHOR_TEXT_KB);
        printf("  libdmsec.a whole                      %7.1f KB\n", (double)all / 1024);
        printf("  bench_agent_min executable            %7.1f KB (its own HTTP, crt and libc "
               "stubs included)\n",
               (double)exe_text / 1024);
        printf("  not counted: OpenSSL (libcrypto) and expat, shared libraries\n");
    } else {
        printf("  (link map or size unavailable)\n");
        failed = 1;
    }

    /* 3: sessions per second */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static struct worker w[MAX_AGENTS];
    long e_spawn = 0;
    long e_true = 0;
    long e_proc = 0;
    long e_min = 0;
    long e_thr = 0;
    long e_health = 0;
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].mode = 0;
        memcpy(w[i].argv, true_argv, sizeof true_argv);
    }
    double r_true = drive(w, n, seconds, &e_true);
    for (int i = 0; i < n; i++)
        memcpy(w[i].argv, help_argv, sizeof help_argv);
    double r_spawn = drive(w, n, seconds, &e_spawn);
    for (int i = 0; i < n; i++)
        session_argv(&proc_dev[i], 0, w[i].argv);
    double r_proc = drive(w, n, seconds, &e_proc);
    for (int i = 0; i < n; i++)
        session_argv(&min_dev[i], 1, w[i].argv);
    double r_min = drive(w, n, seconds, &e_min);
    for (int i = 0; i < n; i++) {
        w[i].mode = 2;
        w[i].curl = curl_easy_init();
        curl_easy_setopt(w[i].curl, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(w[i].curl, CURLOPT_NOSIGNAL, 1L);
    }
    double r_health = drive(w, n, seconds, &e_health);
    for (int i = 0; i < n; i++) {
        w[i].mode = 1;
        w[i].dev = &thr_dev[i];
        if (account_of(&thr_dev[i], &w[i].acc))
            failed = 1;
    }
    double r_thr = drive(w, n, seconds, &e_thr);
    for (int i = 0; i < n; i++) {
        curl_easy_cleanup(w[i].curl);
        dmsec_account_wipe(&w[i].acc);
    }
    curl_global_cleanup();

    printf("\nsessions/s of %d agents against one dmsec-server (SQLite store, loopback, %.1f s "
           "each)\n",
           n, seconds);
    printf("  processes: ceiling /bin/true                    %8.0f runs/s\n", r_true);
    printf("  processes: ceiling dmsec-client --help          %8.0f runs/s\n", r_spawn);
    printf("  processes: dmsec-client session                 %8.0f sessions/s  %.2f of its "
           "--help ceiling (tree load, fsync'd saves, HTTP)%s\n",
           r_proc, r_proc / r_spawn, e_proc ? "  (some FAILED)" : "");
    printf("  processes: bench_agent_min session              %8.0f sessions/s  %.2f of the "
           "/bin/true ceiling%s\n",
           r_min, r_min / r_true, e_min ? "  (some FAILED)" : "");
    printf("  threads: HTTP ceiling (1 KB POST refused 415)   %8.0f requests/s = %.0f "
           "two-exchange sessions/s\n",
           r_health, r_health / 2);
    printf("  threads: engine + libcurl sessions (MD5)        %8.0f sessions/s  %.2f of the "
           "ceiling%s\n",
           r_thr, r_thr / (r_health / 2), e_thr ? "  (some FAILED)" : "");
    printf("  the server's throughput is the thread figure; the process figures add what "
           "each device pays to start an agent\n");
    failed |= e_proc || e_min || e_thr || e_health || e_true || e_spawn;

    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd) != 0)
        failed = 1;
    return failed ? 1 : 0;
}
