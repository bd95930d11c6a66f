/*
 * peer_util.c - shared by the scripted peers of the integration tests
 * (peer_util.h).
 */
#define _DEFAULT_SOURCE

#include "peer_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

uint8_t *peer_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096;
    size_t n = 0;
    uint8_t *p = malloc(cap + 1);
    while (p) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *q = realloc(p, cap * 2 + 1);
        if (!q) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    if (p && ferror(f)) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p)
        p[n] = '\0';
    *len = n;
    return p;
}

int peer_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int bad = n && fwrite(p, 1, n, f) != n;
    return fclose(f) || bad ? -1 : 0;
}

int peer_capture_save(const char *path, const char *ct, const char *hmac, const uint8_t *body,
                      size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int bad = fprintf(f, "%s\n%s\n", ct, hmac) < 0 || (len && fwrite(body, 1, len, f) != len);
    return fclose(f) || bad ? -1 : 0;
}

/* Copies the line at *p (up to '\n') to out and moves *p past it; -1 when
 * there is no '\n' before end. */
static int take_line(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return -1;
    size_t k = (size_t)(nl - *p);
    if (k && nl[-1] == '\r')
        k--;
    if (k >= cap)
        k = cap - 1;
    memcpy(out, *p, k);
    out[k] = '\0';
    *p = nl + 1;
    return 0;
}

int peer_capture_load(const char *path, struct peer_capture *c)
{
    memset(c, 0, sizeof *c);
    size_t n = 0;
    uint8_t *all = peer_read_file(path, &n);
    if (!all)
        return -1;
    const uint8_t *p = all;
    if (take_line(&p, all + n, c->ct, sizeof c->ct) ||
        take_line(&p, all + n, c->hmac, sizeof c->hmac)) {
        free(all);
        return -1;
    }
    c->len = n - (size_t)(p - all);
    memmove(all, p, c->len + 1); /* with the NUL */
    c->body = all;
    return 0;
}

int peer_send_all(int fd, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t k = send(fd, q, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

int peer_dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai))
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

int peer_split_hostport(char *s, const char **host, const char **port)
{
    char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return -1;
    *colon = '\0';
    *host = s;
    *port = colon + 1;
    return 0;
}

int peer_listen(const char *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        return -1;
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 16)) {
        int e = errno;
        close(lfd);
        errno = e;
        return -1;
    }
    return lfd;
}

int peer_accept_loop(int lfd, void *(*fn)(void *))
{
    for (;;) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return 1;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, fn, (void *)(intptr_t)cfd)) {
            close(cfd);
            continue;
        }
        pthread_detach(t);
    }
}

int peer_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r' && p[2];
         p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            v += strspn(v, " \t");
            size_t k = strcspn(v, "\r\n");
            if (k >= cap)
                k = cap - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return 0;
        }
    }
    return -1;
}

const dmsec_cmd_t *peer_synchdr_status(const dmsec_msg_t *m)
{
    for (const dmsec_cmd_t *c = m ? m->body.cmds : NULL; c; c = c->next) {
        if (c->type == DMSEC_CMD_STATUS && c->cmd_ref && !strcmp(c->cmd_ref, "0") && c->cmd &&
            !strcmp(c->cmd, "SyncHdr"))
            return c;
    }
    return NULL;
}
