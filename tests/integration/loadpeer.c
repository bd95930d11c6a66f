/*
 * loadpeer: the many-address peers of the abuse tests (ratelimit.sh,
 * slowloris.sh). Plain HTTP/1.1 over sockets bound to chosen loopback
 * source addresses (127.0.0.0/8 is all local on Linux).
 *
 *   loadpeer post  --port P --from ADDR --capture FILE --count N
 *       POSTs a captured package (testdevice make-pkg1: content type,
 *       HMAC header and body) N times from ADDR, one connection each;
 *       prints "codes=C1,C2,..." and "first429=I" (1-based, 0: none).
 *   loadpeer flood --port P --capture FILE --addrs N [--threads T] [--seconds S]
 *       POSTs the package once from each of N distinct source addresses
 *       (127.10.0.0 upwards) with T threads, for at most S seconds (120);
 *       prints "flood addrs=N answered=A 200=.. 400=.. 429=.. other=.. errors=E seconds=S".
 *   loadpeer slow  --port P --base A.B.C.D --addrs N --sockets S --seconds T
 *       slowloris: S sockets from N addresses (A.B.C.D upwards), each sending
 *       one byte of a never-ending header a second; a socket the server
 *       closes is reopened the next second. Prints "slow started" after the
 *       first round, and at the end "slow sockets=S connects=C closed_by_server=K
 *       open_at_end=O".
 *
 * Exit 0 when it ran (the scripts judge the figures), 2 on usage errors.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "peer_util.h"

static int port;
static struct peer_capture cap;

static void usage(void)
{
    fprintf(stderr, "usage: see the comment at the top of loadpeer.c\n");
    exit(2);
}

static long num(const char *v)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end)
        usage();
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void load_capture(const char *path)
{
    if (peer_capture_load(path, &cap)) {
        fprintf(stderr, "loadpeer: %s: cannot be read, or not a capture\n", path);
        exit(2);
    }
    if (!cap.len) {
        fprintf(stderr, "loadpeer: %s: empty body\n", path);
        exit(2);
    }
}

/* A TCP socket bound to from (port chosen at connect), connecting to
 * 127.0.0.1:port; nonblock: the connect may be in progress. -1 on error. */
static int open_from(const char *from, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, from, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) && !(nonblock && errno == EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One POST from `from`; the HTTP status, 0 on a transport error. */
static int post_once(const char *from)
{
    int fd = open_from(from, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {10, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "POST /dm HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\n%s%s%s"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     port, cap.ct, cap.hmac[0] ? "x-syncml-hmac: " : "", cap.hmac,
                     cap.hmac[0] ? "\r\n" : "", cap.len);
    int status = 0;
    if (n > 0 && (size_t)n < sizeof head && send(fd, head, (size_t)n, MSG_NOSIGNAL) == n &&
        send(fd, cap.body, cap.len, MSG_NOSIGNAL) == (ssize_t)cap.len) {
        char buf[4096];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0) {
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n"))
                break;
        }
        buf[got] = '\0';
        if (!strncmp(buf, "HTTP/1.", 7) && got >= 12)
            status = (int)strtol(buf + 9, NULL, 10);
    }
    close(fd);
    return status;
}

/* ---- post ---- */

static int run_post(const char *from, int count)
{
    int first429 = 0;
    printf("codes=");
    for (int i = 1; i <= count; i++) {
        int st = post_once(from);
        printf("%s%d", i > 1 ? "," : "", st);
        if (st == 429 && !first429)
            first429 = i;
    }
    printf("\nfirst429=%d\n", first429);
    return 0;
}

/* ---- flood ---- */

static atomic_long next_addr;
static atomic_long n_200, n_400, n_429, n_other, n_err;
static long flood_addrs;
static double flood_until;

static void *flood_main(void *arg)
{
    (void)arg;
    for (;;) {
        long i = atomic_fetch_add(&next_addr, 1);
        if (i >= flood_addrs || now_s() > flood_until)
            return NULL;
        char from[32];
        snprintf(from, sizeof from, "127.%ld.%ld.%ld", 10 + (i >> 16), (i >> 8) & 255, i & 255);
        int st = post_once(from);
        atomic_fetch_add(st == 200   ? &n_200
                         : st == 400 ? &n_400
                         : st == 429 ? &n_429
                         : st == 0   ? &n_err
                                     : &n_other,
                         1);
    }
}

static int run_flood(long addrs, int threads, double seconds)
{
    flood_addrs = addrs;
    double t0 = now_s();
    flood_until = t0 + seconds;
    pthread_t th[64];
    if (threads < 1 || threads > 64)
        usage();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, flood_main, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    long done = atomic_load(&next_addr);
    if (done > addrs)
        done = addrs;
    long ans =
        atomic_load(&n_200) + atomic_load(&n_400) + atomic_load(&n_429) + atomic_load(&n_other);
    printf("flood addrs=%ld answered=%ld 200=%ld 400=%ld 429=%ld other=%ld errors=%ld "
           "seconds=%.1f\n",
           done, ans, atomic_load(&n_200), atomic_load(&n_400), atomic_load(&n_429),
           atomic_load(&n_other), atomic_load(&n_err), now_s() - t0);
    return 0;
}

/* ---- slow ---- */

struct slow {
    int fd;
    size_t sent;
};

static const char slow_head[] = "POST /dm HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/vnd.syncml.dm+xml\r\nX-Slow: ";

static int run_slow(const char *base, int addrs, int sockets, int seconds)
{
    struct in_addr b;
    if (inet_pton(AF_INET, base, &b) != 1 || addrs < 1 || sockets < 1)
        usage();
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)sockets + 64) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct slow *s = calloc((size_t)sockets, sizeof *s);
    if (!s)
        return 1;
    for (int i = 0; i < sockets; i++)
        s[i].fd = -1;
    long connects = 0;
    long closed = 0;
    double t0 = now_s();
    for (int round = 0; now_s() - t0 < seconds; round++) {
        double start = now_s();
        for (int i = 0; i < sockets; i++) {
            if (s[i].fd >= 0) {
                /* Closed by the server (or refused at accept)? */
                char c;
                ssize_t r = recv(s[i].fd, &c, 1, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                               errno != ENOTCONN && errno != EINPROGRESS)) {
                    close(s[i].fd);
                    s[i].fd = -1;
                    closed++;
                    continue; /* reopened next round */
                }
            }
            if (s[i].fd < 0) {
                struct in_addr a = {htonl(ntohl(b.s_addr) + (uint32_t)(i % addrs))};
                char from[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &a, from, sizeof from);
                s[i].fd = open_from(from, 1);
                s[i].sent = 0;
                if (s[i].fd >= 0)
                    connects++;
                continue;
            }
            const char *c = s[i].sent < sizeof slow_head - 1 ? &slow_head[s[i].sent] : "a";
            ssize_t w = send(s[i].fd, c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w == 1) {
                s[i].sent++;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
                close(s[i].fd);
                s[i].fd = -1;
                closed++;
            }
        }
        if (round == 0) {
            printf("slow started\n");
            fflush(stdout);
        }
        double left = 1.0 - (now_s() - start);
        if (left > 0) {
            struct timespec ts = {0, (long)(left * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    int open_now = 0;
    for (int i = 0; i < sockets; i++) {
        if (s[i].fd >= 0) {
            open_now++;
            close(s[i].fd);
        }
    }
    free(s);
    printf("slow sockets=%d addrs=%d connects=%ld closed_by_server=%ld open_at_end=%d\n", sockets,
           addrs, connects, closed, open_now);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    const char *from = NULL;
    const char *capture = NULL;
    const char *base = NULL;
    long count = 1;
    long addrs = 1;
    long threads = 4;
    long sockets = 1;
    long seconds = 120;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i];
        const char *v = argv[i + 1];
        if (!strcmp(k, "--port"))
            port = (int)num(v);
        else if (!strcmp(k, "--from"))
            from = v;
        else if (!strcmp(k, "--capture"))
            capture = v;
        else if (!strcmp(k, "--base"))
            base = v;
        else if (!strcmp(k, "--count"))
            count = num(v);
        else if (!strcmp(k, "--addrs"))
            addrs = num(v);
        else if (!strcmp(k, "--threads"))
            threads = num(v);
        else if (!strcmp(k, "--sockets"))
            sockets = num(v);
        else if (!strcmp(k, "--seconds"))
            seconds = num(v);
        else
            usage();
    }
    if (port <= 0 || port > 65535)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "post") && from && capture) {
        load_capture(capture);
        return run_post(from, (int)count);
    }
    if (!strcmp(mode, "flood") && capture) {
        load_capture(capture);
        return run_flood(addrs, (int)threads, (double)seconds);
    }
    if (!strcmp(mode, "slow") && base)
        return run_slow(base, (int)addrs, (int)sockets, (int)seconds);
    usage();
    return 2;
}
