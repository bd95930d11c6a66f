/*
 * The smallest device agent on libdmsec, for bench_agent: one full
 * client-initiated session (package #1 with an MD5 Cred, the server's
 * challenge and Cred, the closing exchange, both sides authenticated)
 * against a real dmsec-server, over plain HTTP/1.1 on a socket of its own
 * (no libcurl, no DM tree: the account and its nonces are
 * kept in a small key=value file). bench_agent measures its peak memory, and reads the
 * link map of this program (bench_agent_min.map) to tell how much of
 * libdmsec a device session pulls in.
 *
 * usage: bench_agent_min STATE_FILE
 *   STATE_FILE: key=value lines url (http://HOST:PORT/PATH), device, server,
 *   client_secret, server_secret, client_nonce, server_nonce (base64); the
 *   nonces the session hands over are written back (new file, fsync,
 *   rename), as an agent must. Exit 0 when the session ended with both
 *   sides authenticated; one summary line on stdout.
 */
#define _DEFAULT_SOURCE

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

#define MAX_ANSWER (256 * 1024)

static dmsec_account_t account;

static int get_account(void *ctx, const char *peer, dmsec_account_t *out)
{
    (void)ctx;
    (void)peer;
    *out = account;
    return 0;
}

/* Splits http://HOST:PORT/PATH; the parts point into buf. */
static int split_url(const char *url, char *buf, size_t cap, char **host, char **port, char **path)
{
    static char root[] = "/";
    if (strncmp(url, "http://", 7) || strlen(url + 7) >= cap)
        return -1;
    strcpy(buf, url + 7);
    char *slash = strchr(buf, '/');
    *path = root;
    if (slash) {
        /* The path keeps its slash: shifted one place right in buf. */
        size_t n = strlen(slash);
        if ((size_t)(slash - buf) + n + 2 > cap)
            return -1;
        memmove(slash + 1, slash, n + 1);
        *slash = '\0';
        *path = slash + 1;
    }
    char *colon = strrchr(buf, ':');
    *host = buf;
    *port = colon ? colon + 1 : (char *)"80";
    if (colon)
        *colon = '\0';
    return 0;
}

/* POSTs body to url; the answer's body (malloc'd) in *out. HTTP status or -1. */
static int post(const char *url, const uint8_t *body, size_t len, uint8_t **out, size_t *out_len)
{
    char buf[512];
    char *host;
    char *port;
    char *path;
    *out = NULL;
    *out_len = 0;
    if (split_url(url, buf, sizeof buf, &host, &port, &path))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai))
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    char head[1024];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
                      "Content-Type: application/vnd.syncml.dm+xml\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      path, host, port, len);
    int status = -1;
    uint8_t *ans = malloc(MAX_ANSWER + 1);
    size_t got = 0;
    if (!ans || hn < 0 || (size_t)hn >= sizeof head || write(fd, head, (size_t)hn) != hn ||
        write(fd, body, len) != (ssize_t)len)
        goto done;
    for (;;) {
        ssize_t r = read(fd, ans + got, MAX_ANSWER - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == MAX_ANSWER)
            goto done;
    }
    ans[got] = '\0';
    char *end = strstr((char *)ans, "\r\n\r\n");
    if (!end || sscanf((char *)ans, "HTTP/1.%*d %d", &status) != 1) {
        status = -1;
        goto done;
    }
    end += 4;
    *out_len = got - (size_t)(end - (char *)ans);
    *out = malloc(*out_len + 1);
    if (!*out) {
        status = -1;
        goto done;
    }
    memcpy(*out, end, *out_len);
done:
    free(ans);
    close(fd);
    return status;
}

struct state {
    char url[256];
    char device[DMSEC_NAME_MAX];
    char server[DMSEC_NAME_MAX];
    char client_secret[DMSEC_SECRET_MAX];
    char server_secret[DMSEC_SECRET_MAX];
    char client_nonce[DMSEC_NONCE_MAX * 2];
    char server_nonce[DMSEC_NONCE_MAX * 2];
};

static int load(const char *path, struct state *st)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        const struct {
            const char *key;
            char *dst;
            size_t cap;
        } keys[] = {
            {"url", st->url, sizeof st->url},
            {"device", st->device, sizeof st->device},
            {"server", st->server, sizeof st->server},
            {"client_secret", st->client_secret, sizeof st->client_secret},
            {"server_secret", st->server_secret, sizeof st->server_secret},
            {"client_nonce", st->client_nonce, sizeof st->client_nonce},
            {"server_nonce", st->server_nonce, sizeof st->server_nonce},
        };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!strcmp(line, keys[i].key) && strlen(v) < keys[i].cap) {
                strcpy(keys[i].dst, v);
                seen |= 1 << i;
            }
    }
    fclose(f);
    return seen == 0x7f ? 0 : -1;
}

static int save(const char *path, const struct state *st)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fprintf(f,
                      "url=%s\ndevice=%s\nserver=%s\nclient_secret=%s\nserver_secret=%s\n"
                      "client_nonce=%s\nserver_nonce=%s\n",
                      st->url, st->device, st->server, st->client_secret, st->server_secret,
                      st->client_nonce, st->server_nonce) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return -1;
    }
    return 0;
}

static int b64_in(const char *text, uint8_t *out, size_t *len)
{
    return dmsec_b64_decode(text, strlen(text), out, DMSEC_NONCE_MAX, len);
}

static int b64_out(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    return dmsec_b64_encode(p, n, out, cap, &len);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_agent_min STATE_FILE\n");
        return 2;
    }
    static struct state st;
    if (load(argv[1], &st)) {
        fprintf(stderr, "bench_agent_min: cannot read %s\n", argv[1]);
        return 2;
    }
    const char *url = st.url;
    const char *device = st.device;
    const char *server = st.server;
    dmsec_account_t *a = &account;
    a->out_scheme = a->in_scheme = DMSEC_AUTH_MD5;
    snprintf(a->out_name, sizeof a->out_name, "%s", device);
    snprintf(a->in_name, sizeof a->in_name, "%s", server);
    if (dmsec_prehash_compute(device, (const uint8_t *)st.client_secret, strlen(st.client_secret),
                              &a->out_prehash) ||
        dmsec_prehash_compute(server, (const uint8_t *)st.server_secret, strlen(st.server_secret),
                              &a->in_prehash) ||
        b64_in(st.client_nonce, a->out_nonce, &a->out_nonce_len) ||
        b64_in(st.server_nonce, a->in_nonce, &a->in_nonce_len)) {
        fprintf(stderr, "bench_agent_min: bad account values\n");
        return 2;
    }
    dmsec_session_config_t cfg = {.role = DMSEC_ROLE_CLIENT,
                                  .server_id = server,
                                  .server_uri = url,
                                  .device_id = device,
                                  .cb = {.get_account = get_account}};
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s)
        return 1;
    dmsec_session_out_t out;
    int http = 0;
    int messages = 0;
    int rc = dmsec_session_start(s, time(NULL), &out);
    while (!rc && out.has_message) {
        uint8_t *ans = NULL;
        size_t n = 0;
        const char *to = dmsec_session_resp_uri(s) ? dmsec_session_resp_uri(s) : url;
        http = post(to, out.body, out.len, &ans, &n);
        messages++;
        rc = http == 200 ? dmsec_session_feed(s, ans, n, "application/vnd.syncml.dm+xml", NULL,
                                              time(NULL), &out)
                         : DMSEC_ERR_SESSION_PROTOCOL;
        free(ans);
        /* The nonces handed over, kept for the next session (saved below):
         * the session-state contract, in memory. */
        if (!rc) {
            dmsec_state_mem_t mem = {.acc = *a, .known = 1};
            rc = dmsec_session_persist(s, &dmsec_state_mem_ops, &mem);
            *a = mem.acc;
            dmsec_account_wipe(&mem.acc);
        }
    }
    if (!rc)
        rc = dmsec_session_result(s);
    int both = !rc && dmsec_session_peer_authenticated(s) && dmsec_session_self_authenticated(s);
    printf("session=%s http=%d result=%s server_authenticated=%d device_authenticated=%d "
           "messages=%d\n",
           dmsec_session_id(s) ? dmsec_session_id(s) : "-", http, dmsec_errname(rc),
           dmsec_session_peer_authenticated(s), dmsec_session_self_authenticated(s), messages);
    dmsec_session_free(s);
    if (b64_out(a->out_nonce, a->out_nonce_len, st.client_nonce, sizeof st.client_nonce) ||
        b64_out(a->in_nonce, a->in_nonce_len, st.server_nonce, sizeof st.server_nonce) ||
        save(argv[1], &st)) {
        fprintf(stderr, "bench_agent_min: cannot save %s\n", argv[1]);
        both = 0;
    }
    dmsec_account_wipe(a);
    memset(&st, 0, sizeof st);
    return both ? 0 : 1;
}
