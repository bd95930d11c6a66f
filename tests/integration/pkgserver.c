/*
 * pkgserver - a tiny HTTP package server for the FUMO tests (libmicrohttpd).
 *
 *   pkgserver --file F [--mode ok|truncate|404|corrupt|slow] [--port P]
 *
 * Serves F at every path on 127.0.0.1. Modes: ok; truncate (announces the
 * whole length, sends half, then drops the connection); 404; corrupt (one
 * byte flipped in the middle); slow (1 KiB every 50 ms). Prints "port=P"
 * once listening (P chosen by the system when --port is 0 or absent), then
 * serves until killed. One log line per request on stderr.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { M_OK, M_TRUNCATE, M_404, M_CORRUPT, M_SLOW };

static unsigned char *body;
static size_t body_len;
static enum mode mode;

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    size_t limit = mode == M_TRUNCATE ? body_len / 2 : body_len;
    if (pos >= limit)
        return mode == M_TRUNCATE ? MHD_CONTENT_READER_END_WITH_ERROR
                                  : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = limit - (size_t)pos;
    if (n > max)
        n = max;
    if (mode == M_SLOW) {
        if (n > 1024)
            n = 1024;
        struct timespec d = {0, 50000000};
        nanosleep(&d, NULL);
    }
    memcpy(buf, body + pos, n);
    if (mode == M_CORRUPT && body_len && pos <= body_len / 2 && body_len / 2 < pos + n)
        buf[body_len / 2 - pos] ^= 0x5a;
    return (ssize_t)n;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_len;
    if (!*state) {
        *state = c; /* the first call only announces the request */
        return MHD_YES;
    }
    fprintf(stderr, "pkgserver: %s %s\n", method, url);
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    if (mode == M_404) {
        static const char nf[] = "not found\n";
        r = MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_NOT_FOUND;
    } else {
        r = MHD_create_response_from_callback(body_len, 65536, reader, NULL, NULL);
    }
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    const char *m = "ok";
    unsigned port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--file"))
            file = argv[i + 1];
        else if (!strcmp(argv[i], "--mode"))
            m = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = (unsigned)atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: pkgserver --file F [--mode M] [--port P]\n");
            return 2;
        }
    }
    static const char *const names[] = {"ok", "truncate", "404", "corrupt", "slow"};
    int found = 0;
    for (int k = 0; k < 5; k++) {
        if (!strcmp(m, names[k])) {
            mode = (enum mode)k;
            found = 1;
        }
    }
    FILE *f = file ? fopen(file, "rb") : NULL;
    if (!found || !f || port > 65535) {
        fprintf(stderr, "pkgserver: need --file F (readable) and a known --mode\n");
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    body = malloc(len > 0 ? (size_t)len : 1);
    if (!body || len < 0 || fread(body, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "pkgserver: cannot read %s\n", file);
        return 1;
    }
    body_len = (size_t)len;
    fclose(f);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)port, NULL, NULL,
        handle, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "pkgserver: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("port=%u\n", info ? (unsigned)info->port : port);
    fflush(stdout);
    for (;;)
        pause();
}
