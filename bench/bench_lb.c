/*
 * The load balancer's ceiling: the parts bench/bench_lb.sh runs to measure
 * requests per second of the fixed-body backend (bench_fixed.h, the
 * HTTP ceiling of bench_server) directly and through HAProxy to one and to
 * three such backends, in the same run, with bench_server's keep-alive
 * clients (bench_client.h).
 *
 * usage: bench_lb serve PORT...
 *          the fixed-body backend on 127.0.0.1:PORT, each; prints "ready"
 *          and runs until SIGTERM or SIGINT.
 *        bench_lb drive URL SECONDS CLIENTS [PID...]
 *          CLIENTS keep-alive clients POST to URL for SECONDS; prints one
 *          line: requests_per_s=R errors=E clients_us=C pid_PID_us=U...
 *          (CPU microseconds per request of the clients and of each PID
 *          over the run).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Only bench_client.h's HTTP, clock and CPU parts are used here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "bench_client.h"
#pragma GCC diagnostic pop
#include "bench_fixed.h"

#define MAX_CLIENTS 256
#define MAX_PIDS 8

static int serve(int nports, char **ports)
{
    /* The signals wait here, not in the daemons' threads. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d[16];
    if (nports > 16) {
        fprintf(stderr, "bench_lb: at most 16 ports\n");
        return 2;
    }
    for (int i = 0; i < nports; i++) {
        long p = strtol(ports[i], NULL, 10);
        d[i] = p > 0 && p < 65536 ? bench_fixed_start((uint16_t)p, NULL) : NULL;
        if (!d[i]) {
            fprintf(stderr, "bench_lb: cannot listen on 127.0.0.1:%s\n", ports[i]);
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    for (int i = 0; i < nports; i++)
        MHD_stop_daemon(d[i]);
    return 0;
}

struct client {
    pthread_t thread;
    const char *url;
    double until;
    long done;
    long errors;
};

static void *run_client(void *arg)
{
    struct client *cl = arg;
    CURL *c = curl_easy_init();
    if (!c) {
        cl->errors++;
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    static const uint8_t probe[] = "<SyncML/>";
    while (bench_now() < cl->until) {
        struct bench_buf b = {0};
        if (bench_post(c, cl->url, "application/vnd.syncml.dm+xml", probe, sizeof probe - 1, &b) ==
                200 &&
            b.n == sizeof bench_fixed_body)
            cl->done++;
        else
            cl->errors++;
        free(b.p);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int drive(const char *url, double seconds, int n, int npids, char **pidv)
{
    static struct client cls[MAX_CLIENTS];
    pid_t pids[MAX_PIDS];
    double cpu0[MAX_PIDS];
    if (n < 1 || n > MAX_CLIENTS || seconds <= 0 || npids > MAX_PIDS) {
        fprintf(stderr, "bench_lb: 1 to %d clients, SECONDS > 0, at most %d pids\n", MAX_CLIENTS,
                MAX_PIDS);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < npids; i++) {
        pids[i] = (pid_t)strtol(pidv[i], NULL, 10);
        cpu0[i] = bench_cpu_seconds(pids[i]);
    }
    double self0 = bench_cpu_seconds(getpid());
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
        cls[i] = (struct client){.url = url, .until = t0 + seconds};
        pthread_create(&cls[i].thread, NULL, run_client, &cls[i]);
    }
    long done = 0;
    long errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(cls[i].thread, NULL);
        done += cls[i].done;
        errors += cls[i].errors;
    }
    double wall = bench_now() - t0;
    double self = bench_cpu_seconds(getpid()) - self0;
    double per = done > 0 ? 1e6 / (double)done : 0;
    printf("requests_per_s=%.0f errors=%ld clients_us=%.1f", (double)done / wall, errors,
           self * per);
    for (int i = 0; i < npids; i++)
        printf(" pid_%d_us=%.1f", (int)pids[i], (bench_cpu_seconds(pids[i]) - cpu0[i]) * per);
    printf("\n");
    curl_global_cleanup();
    return errors || !done ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    if (argc >= 5 && !strcmp(argv[1], "drive"))
        return drive(argv[2], strtod(argv[3], NULL), (int)strtol(argv[4], NULL, 10), argc - 5,
                     argv + 5);
    fprintf(stderr, "usage: bench_lb serve PORT...\n"
                    "       bench_lb drive URL SECONDS CLIENTS [PID...]\n");
    return 2;
}
