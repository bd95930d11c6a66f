/*
 * mitm: a man-in-the-middle HTTP/1.1 proxy for the end-to-end tests. It sits
 * between the agent and the server, forwards every request and response
 * (keep-alive, Content-Length or chunked bodies, any path; an Expect:
 * 100-continue is answered by the proxy itself), and can record the
 * requests or flip one bit of every body it forwards. Headers pass
 * unchanged: the Host header still names the proxy, so the server's RespURI
 * (built from Host) keeps the session going through it, and nothing inside a
 * body is rewritten (that would break x-syncml-hmac).
 *
 *   mitm --listen PORT --to HOST:PORT [--record DIR] [--flip-request N]
 *        [--flip-response N] [--count-file F]
 *   mitm replay --to HOST:PORT --dir DIR --req NNN
 *
 * --record DIR writes each request as DIR/req-NNN.body (the exact body bytes
 *   as received from the client, before any flip) and DIR/req-NNN.meta
 *   (lines "path P", "content-type CT", "x-syncml-hmac H" when present), NNN
 *   from 001; and each answer as DIR/resp-NNN.body / resp-NNN.meta ("status
 *   S", "content-type CT", "x-syncml-hmac H"), as received from the server.
 * --flip-request N / --flip-response N flip bit 0 of body byte N (modulo the
 *   body length) of every forwarded request / response; nothing is
 *   recomputed.
 * --count-file F holds the number of requests forwarded so far (rewritten
 *   after each exchange).
 * It runs until killed and prints one line per forwarded message on stderr.
 *
 * replay re-sends a recorded request (same path, Content-Type,
 * x-syncml-hmac and body) on a new connection, prints
 * "replay http=S synchdr_status=C chal=0|1" and decides on evidence:
 *   refused (exit 0): HTTP 401, 403, 407 or 429, or HTTP 200 whose SyncML
 *     answer (decoded with the codec) carries Status 401, 403 or 407 for the
 *     SyncHdr (CmdRef 0) - the server did not accept the Cred;
 *   accepted (exit 1): HTTP 200 with SyncHdr Status 200 or 212;
 *   anything else (no answer, an undecodable body, another status): exit 2.
 */
#define _DEFAULT_SOURCE

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
#include <sys/stat.h>
#include <unistd.h>

#include "dmsec/codec.h"

#include "peer_util.h"

#define MAX_HEAD 16384
#define MAX_BODY ((size_t)8 << 20)
#define IO_TIMEOUT_S 30

static const char *to_host;
static const char *to_port;
static const char *record_dir;
static const char *count_file;
static long flip_req = -1;
static long flip_resp = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_no = 1;
static unsigned forwarded;

/* ---- a buffered socket ---- */

struct conn {
    int fd;
    char buf[8192];
    size_t off;
    size_t len;
};

static void conn_init(struct conn *c, int fd)
{
    c->fd = fd;
    c->off = c->len = 0;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Refills the buffer when empty; 1 when bytes are there, 0 on EOF or error. */
static int fill(struct conn *c)
{
    if (c->off < c->len)
        return 1;
    ssize_t n;
    do
        n = recv(c->fd, c->buf, sizeof c->buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 0;
    c->off = 0;
    c->len = (size_t)n;
    return 1;
}

/* Reads the head (up to and including the empty line) into out; its length,
 * 0 on a clean EOF before any byte, -1 on error. */
static long read_head(struct conn *c, char *out, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!fill(c))
            return n == 0 ? 0 : -1;
        out[n++] = c->buf[c->off++];
        if (n >= 4 && !memcmp(out + n - 4, "\r\n\r\n", 4)) {
            out[n] = '\0';
            return (long)n;
        }
    }
    return -1;
}

static int read_exact(struct conn *c, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        if (!fill(c))
            return -1;
        size_t k = c->len - c->off;
        if (k > n - got)
            k = n - got;
        memcpy(out + got, c->buf + c->off, k);
        c->off += k;
        got += k;
    }
    return 0;
}

static int read_line(struct conn *c, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (!fill(c) || n + 1 >= cap)
            return -1;
        char ch = c->buf[c->off++];
        if (ch == '\n')
            break;
        if (ch != '\r')
            out[n++] = ch;
    }
    out[n] = '\0';
    return 0;
}

/* ---- HTTP messages ---- */

struct msg {
    char head[MAX_HEAD];
    size_t head_len;
    uint8_t *body;
    size_t len;
    int chunked;
    int close;
};

/* Removes header name from a head. */
static void drop_header(struct msg *m, const char *name)
{
    size_t nl = strlen(name);
    char *p = strstr(m->head, "\r\n");
    while (p && p[2] != '\r') {
        char *line = p + 2;
        char *end = strstr(line, "\r\n");
        if (!end)
            return;
        if (!strncasecmp(line, name, nl) && line[nl] == ':') {
            memmove(line, end + 2, strlen(end + 2) + 1);
            m->head_len = strlen(m->head);
            continue;
        }
        p = end;
    }
}

/* Reads a chunked body into m->body. */
static int read_chunked(struct conn *c, struct msg *m)
{
    char line[256];
    for (;;) {
        if (read_line(c, line, sizeof line))
            return -1;
        char *end = NULL;
        unsigned long n = strtoul(line, &end, 16);
        if (end == line || n > MAX_BODY - m->len)
            return -1;
        if (n == 0) {
            do /* trailers, up to the empty line */
                if (read_line(c, line, sizeof line))
                    return -1;
            while (line[0]);
            return 0;
        }
        uint8_t *p = realloc(m->body, m->len + n + 1);
        if (!p)
            return -1;
        m->body = p;
        if (read_exact(c, m->body + m->len, n) || read_line(c, line, sizeof line))
            return -1;
        m->len += n;
    }
}

/* Reads one message: a request, or the response to a request (no_body for
 * HEAD). 1 read, 0 clean EOF, -1 error. */
static int read_msg(struct conn *c, struct msg *m, int is_response, int no_body)
{
    free(m->body);
    memset(m, 0, sizeof *m);
    long h = read_head(c, m->head, sizeof m->head);
    if (h <= 0)
        return (int)h;
    m->head_len = (size_t)h;
    char v[128];
    int has_len = !peer_header(m->head, "Content-Length", v, sizeof v);
    unsigned long long cl = has_len ? strtoull(v, NULL, 10) : 0;
    m->chunked = !peer_header(m->head, "Transfer-Encoding", v, sizeof v) && strstr(v, "hunked");
    m->close = !peer_header(m->head, "Connection", v, sizeof v) && !strcasecmp(v, "close");
    if (!strncmp(m->head, "HTTP/1.0", 8) || strstr(m->head, " HTTP/1.0\r\n"))
        m->close = 1;
    int status = is_response ? atoi(m->head + 9) : 0;
    if (!is_response && !peer_header(m->head, "Expect", v, sizeof v) &&
        !strcasecmp(v, "100-continue")) {
        /* Answered here, and not passed on: the body is read whole first. */
        drop_header(m, "Expect");
        const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
        if (peer_send_all(c->fd, cont, strlen(cont)))
            return -1;
    }
    if (no_body || (is_response && (status / 100 == 1 || status == 204 || status == 304)))
        return 1;
    if (m->chunked)
        return read_chunked(c, m) ? -1 : 1;
    if (!has_len) {
        if (!is_response)
            return 1; /* a request without a body */
        /* The body runs to the end of the connection. */
        m->close = 1;
        for (;;) {
            if (!fill(c))
                return 1;
            size_t k = c->len - c->off;
            if (m->len + k > MAX_BODY)
                return -1;
            uint8_t *p = realloc(m->body, m->len + k + 1);
            if (!p)
                return -1;
            m->body = p;
            memcpy(m->body + m->len, c->buf + c->off, k);
            m->len += k;
            c->off = c->len;
        }
    }
    if (cl > MAX_BODY)
        return -1;
    m->body = malloc((size_t)cl + 1);
    if (!m->body || read_exact(c, m->body, (size_t)cl))
        return -1;
    m->len = (size_t)cl;
    return 1;
}

/* Writes a message: its head with a chunked encoding turned into a
 * Content-Length, then the body. */
static int write_msg(int fd, const struct msg *m)
{
    if (!m->chunked)
        return peer_send_all(fd, m->head, m->head_len) || peer_send_all(fd, m->body, m->len);
    char out[MAX_HEAD + 64];
    size_t n = 0;
    for (const char *p = m->head; *p;) {
        const char *e = strstr(p, "\r\n");
        size_t k = (size_t)(e - p) + 2;
        if (k == 2)
            n += (size_t)snprintf(out + n, sizeof out - n, "Content-Length: %zu\r\n", m->len);
        if (k == 2 || strncasecmp(p, "Transfer-Encoding:", 18)) {
            memcpy(out + n, p, k);
            n += k;
        }
        p += k;
    }
    return peer_send_all(fd, out, n) || peer_send_all(fd, m->body, m->len);
}

static void flip(struct msg *m, long at)
{
    if (at >= 0 && m->len)
        m->body[(size_t)at % m->len] ^= 0x01;
}

static void write_file(const char *path, const void *p, size_t n)
{
    if (peer_write_file(path, p, n))
        fprintf(stderr, "mitm: cannot write %s\n", path);
}

static void record(unsigned no, const char *kind, const struct msg *m, const char *first)
{
    char path[4096];
    char v[1024];
    snprintf(path, sizeof path, "%s/%s-%03u.body", record_dir, kind, no);
    write_file(path, m->body, m->len);
    char meta[4096];
    size_t n = (size_t)snprintf(meta, sizeof meta, "%s\n", first);
    if (!peer_header(m->head, "Content-Type", v, sizeof v))
        n += (size_t)snprintf(meta + n, sizeof meta - n, "content-type %s\n", v);
    if (!peer_header(m->head, "x-syncml-hmac", v, sizeof v))
        n += (size_t)snprintf(meta + n, sizeof meta - n, "x-syncml-hmac %s\n", v);
    snprintf(path, sizeof path, "%s/%s-%03u.meta", record_dir, kind, no);
    write_file(path, meta, n);
}

static int dial(const char *host, const char *port)
{
    int fd = peer_dial(host, port);
    if (fd >= 0)
        set_timeouts(fd);
    return fd;
}

/* ---- the proxy ---- */

static void *serve(void *arg)
{
    int cfd = (int)(intptr_t)arg;
    set_timeouts(cfd);
    struct conn cl;
    struct conn up;
    conn_init(&cl, cfd);
    conn_init(&up, -1);
    struct msg *rq = calloc(1, sizeof *rq);
    struct msg *rs = calloc(1, sizeof *rs);
    while (rq && rs && read_msg(&cl, rq, 0, 0) == 1) {
        char method[16] = "";
        char path[2048] = "";
        if (sscanf(rq->head, "%15s %2047s", method, path) != 2)
            break;
        pthread_mutex_lock(&lock);
        unsigned no = next_no++;
        pthread_mutex_unlock(&lock);
        if (record_dir) {
            char first[2100];
            snprintf(first, sizeof first, "path %s", path);
            record(no, "req", rq, first);
        }
        flip(rq, flip_req);
        if (up.fd < 0)
            conn_init(&up, dial(to_host, to_port));
        if (up.fd < 0) {
            fprintf(stderr, "mitm: cannot reach %s:%s\n", to_host, to_port);
            const char *e = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n";
            peer_send_all(cfd, e, strlen(e));
            break;
        }
        int r = write_msg(up.fd, rq) ? -1 : read_msg(&up, rs, 1, !strcmp(method, "HEAD"));
        while (r == 1 && rs->head[9] == '1') /* interim answers: the final one follows */
            r = read_msg(&up, rs, 1, !strcmp(method, "HEAD"));
        if (r != 1) {
            fprintf(stderr, "mitm: #%03u no answer from %s:%s\n", no, to_host, to_port);
            break;
        }
        int status = atoi(rs->head + 9);
        if (record_dir) {
            char first[32];
            snprintf(first, sizeof first, "status %d", status);
            record(no, "resp", rs, first);
        }
        flip(rs, flip_resp);
        fprintf(stderr, "mitm: #%03u %s %s %zu bytes%s -> %d %zu bytes%s\n", no, method, path,
                rq->len, flip_req >= 0 && rq->len ? " (flipped)" : "", status, rs->len,
                flip_resp >= 0 && rs->len ? " (flipped)" : "");
        if (write_msg(cfd, rs))
            break;
        pthread_mutex_lock(&lock);
        forwarded++;
        if (count_file) {
            char tmp[4096];
            char n[32];
            int k = snprintf(n, sizeof n, "%u\n", forwarded);
            snprintf(tmp, sizeof tmp, "%s.tmp", count_file);
            write_file(tmp, n, (size_t)k);
            rename(tmp, count_file);
        }
        pthread_mutex_unlock(&lock);
        if (rq->close)
            break;
        if (rs->close) {
            close(up.fd);
            up.fd = -1;
        }
    }
    if (rq)
        free(rq->body);
    if (rs)
        free(rs->body);
    free(rq);
    free(rs);
    if (up.fd >= 0)
        close(up.fd);
    close(cfd);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: mitm --listen PORT --to HOST:PORT [--record DIR] [--flip-request N]\n"
                    "            [--flip-response N] [--count-file F]\n"
                    "       mitm replay --to HOST:PORT --dir DIR --req NNN\n");
    return 2;
}

/* A byte index: a decimal number >= 0, or -1. */
static long byte_index(const char *v)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    return (end == v || *end || errno || n < 0) ? -1 : n;
}

static int proxy(int argc, char **argv)
{
    const char *listen_port = NULL;
    char to[512] = "";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(a, "--listen"))
            listen_port = v;
        else if (!strcmp(a, "--to"))
            snprintf(to, sizeof to, "%s", v);
        else if (!strcmp(a, "--record"))
            record_dir = v;
        else if (!strcmp(a, "--flip-request")) {
            if ((flip_req = byte_index(v)) < 0)
                return usage();
        } else if (!strcmp(a, "--flip-response")) {
            if ((flip_resp = byte_index(v)) < 0)
                return usage();
        } else if (!strcmp(a, "--count-file"))
            count_file = v;
        else
            return usage();
    }
    if (!listen_port || peer_split_hostport(to, &to_host, &to_port))
        return usage();
    if (record_dir && mkdir(record_dir, 0700) && errno != EEXIST) {
        fprintf(stderr, "mitm: cannot create %s\n", record_dir);
        return 1;
    }
    int lfd = peer_listen(listen_port);
    if (lfd < 0) {
        fprintf(stderr, "mitm: cannot listen on 127.0.0.1:%s: %s\n", listen_port, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "mitm: listening on 127.0.0.1:%s, forwarding to %s:%s\n", listen_port, to_host,
            to_port);
    return peer_accept_loop(lfd, serve);
}

/* ---- replay ---- */

static int replay(int argc, char **argv)
{
    char to[512] = "";
    const char *dir = NULL;
    const char *req = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--to"))
            snprintf(to, sizeof to, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--req"))
            req = argv[i + 1];
        else
            return usage();
    }
    const char *host;
    const char *port;
    char hostport[512];
    snprintf(hostport, sizeof hostport, "%s", to);
    if (!dir || !req || (argc % 2) != 0 || peer_split_hostport(to, &host, &port))
        return usage();
    char path[4096];
    size_t meta_len = 0;
    size_t body_len = 0;
    snprintf(path, sizeof path, "%s/req-%s.meta", dir, req);
    char *meta = (char *)peer_read_file(path, &meta_len);
    snprintf(path, sizeof path, "%s/req-%s.body", dir, req);
    uint8_t *body = peer_read_file(path, &body_len);
    if (!meta || !body) {
        fprintf(stderr, "mitm: no recorded request %s in %s\n", req, dir);
        return 2;
    }
    char upath[2048] = "/";
    char ct[512] = "";
    char hmac[1024] = "";
    for (char *line = strtok(meta, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "path ", 5))
            snprintf(upath, sizeof upath, "%s", line + 5);
        else if (!strncmp(line, "content-type ", 13))
            snprintf(ct, sizeof ct, "%s", line + 13);
        else if (!strncmp(line, "x-syncml-hmac ", 14))
            snprintf(hmac, sizeof hmac, "%s", line + 14);
    }
    free(meta);
    int fd = dial(host, port);
    if (fd < 0) {
        fprintf(stderr, "mitm: cannot reach %s\n", hostport);
        free(body);
        return 2;
    }
    char head[4096];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n%s%s%s"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      upath, hostport, ct, hmac[0] ? "x-syncml-hmac: " : "", hmac,
                      hmac[0] ? "\r\n" : "", body_len);
    struct conn c;
    conn_init(&c, fd);
    struct msg *rs = calloc(1, sizeof *rs);
    int r = -1;
    if (rs && hn > 0 && (size_t)hn < sizeof head && !peer_send_all(fd, head, (size_t)hn) &&
        !peer_send_all(fd, body, body_len))
        r = read_msg(&c, rs, 1, 0);
    close(fd);
    free(body);
    if (r != 1) {
        fprintf(stderr, "mitm: no answer from %s\n", hostport);
        if (rs)
            free(rs->body);
        free(rs);
        return 2;
    }
    int http = atoi(rs->head + 9);
    int code = -1;
    int chal = 0;
    char rct[256] = "";
    dmsec_codec_t codec;
    dmsec_msg_t *m = NULL;
    if (http == 200 && !peer_header(rs->head, "Content-Type", rct, sizeof rct) &&
        !dmsec_codec_from_content_type(rct, &codec) &&
        !dmsec_msg_decode(codec, rs->body, rs->len, NULL, &m)) {
        const dmsec_cmd_t *st = peer_synchdr_status(m);
        code = st ? dmsec_status_code(st) : -1;
        chal = st && st->chal;
    }
    dmsec_msg_free(m);
    free(rs->body);
    free(rs);
    printf("replay http=%d synchdr_status=%d chal=%d\n", http, code, chal);
    if (http == 401 || http == 403 || http == 407 || http == 429)
        return 0;
    if (http == 200 && (code == 401 || code == 403 || code == 407))
        return 0;
    if (http == 200 && (code == 200 || code == 212))
        return 1;
    fprintf(stderr, "mitm: inconclusive answer (http=%d synchdr_status=%d)\n", http, code);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "replay"))
        return replay(argc, argv);
    return proxy(argc, argv);
}
