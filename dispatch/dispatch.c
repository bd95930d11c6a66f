/* Notifications to devices: package #0 in a WSP Push PDU over UDP, and the
 * resynchronisation policy. The store records each notification before the
 * datagram leaves. */
#define _DEFAULT_SOURCE /* getaddrinfo and struct addrinfo in glibc */

#include "dmsec/dispatch.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dmsec/errors.h"

/* A host is a name or an IPv4 address, or a bracketed IPv6 address
 * (with a zone after '%'): nothing else reaches getaddrinfo or the audit
 * trail. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"
#define IPV6_CHARS "0123456789abcdefABCDEF:."

static int host_chars_ok(const char *h, size_t n, int bracketed)
{
    if (!bracketed)
        return strspn(h, NAME_CHARS) >= n;
    size_t a = strspn(h, IPV6_CHARS);
    if (a == 0 || !memchr(h, ':', a))
        return 0;
    if (a >= n)
        return 1;
    /* a zone: "%eth0" */
    return h[a] == '%' && a + 1 < n && strspn(h + a + 1, NAME_CHARS) >= n - a - 1;
}

int dmsec_dispatch_parse_addr(const char *addr, char *host, size_t host_cap, uint16_t *port)
{
    if (!addr || !host || !host_cap || !port)
        return DMSEC_ERR_INVALID_ARG;
    if (!strncmp(addr, "udp://", 6))
        addr += 6;
    else if (strstr(addr, "://"))
        return DMSEC_ERR_DISPATCH_ADDR; /* another transport (sms://) is not ours */
    const char *host_start = addr;
    const char *host_end;
    const char *rest;
    if (addr[0] == '[') {
        host_start = addr + 1;
        host_end = strchr(host_start, ']');
        if (!host_end)
            return DMSEC_ERR_DISPATCH_ADDR;
        rest = host_end + 1;
    } else {
        host_end = strchr(addr, ':');
        if (host_end && strchr(host_end + 1, ':'))
            return DMSEC_ERR_DISPATCH_ADDR; /* a bare IPv6 address needs brackets */
        if (!host_end)
            host_end = addr + strlen(addr);
        rest = host_end;
    }
    size_t n = (size_t)(host_end - host_start);
    if (n == 0 || n >= host_cap || !host_chars_ok(host_start, n, host_start != addr))
        return DMSEC_ERR_DISPATCH_ADDR;
    memcpy(host, host_start, n);
    host[n] = '\0';
    *port = DMSEC_NOTIFY_PORT;
    if (*rest == '\0')
        return DMSEC_OK;
    if (*rest != ':' || !rest[1])
        return DMSEC_ERR_DISPATCH_ADDR;
    unsigned long v = 0;
    for (const char *p = rest + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return DMSEC_ERR_DISPATCH_ADDR;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return DMSEC_ERR_DISPATCH_ADDR;
    *port = (uint16_t)v;
    return DMSEC_OK;
}

int dmsec_dispatch_check_addr(const char *addr)
{
    char host[DMSEC_NOTIFY_HOST_MAX];
    uint16_t port = 0;
    if (!addr || strnlen(addr, DMSEC_STORE_ADDR_MAX) >= DMSEC_STORE_ADDR_MAX)
        return DMSEC_ERR_DISPATCH_ADDR;
    return dmsec_dispatch_parse_addr(addr, host, sizeof host, &port);
}

static int send_datagram(const char *host, uint16_t port, const uint8_t *buf, size_t len)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return DMSEC_ERR_DISPATCH_ADDR;
    int rc = DMSEC_ERR_DISPATCH_SEND;
    for (struct addrinfo *ai = res; ai && rc; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (sendto(fd, buf, len, 0, ai->ai_addr, ai->ai_addrlen) == (ssize_t)len)
            rc = DMSEC_OK;
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int fill(const dmsec_rng_t *rng, uint8_t *buf, size_t len)
{
    if (!rng)
        rng = &dmsec_rng_os;
    return rng->fill(rng->ctx, buf, len);
}

int dmsec_dispatch_notify(dmsec_store_t *st, const char *device_id, const dmsec_notify_opts_t *o,
                          uint16_t *session_id)
{
    if (!st || !device_id || !o || !o->server_id || !o->server_id[0])
        return DMSEC_ERR_INVALID_ARG;
    dmsec_device_t dev;
    int rc = dmsec_store_device_get(st, device_id, &dev);
    if (rc)
        return rc;
    int in_tx = 0;
    const char *addr = o->addr && o->addr[0] ? o->addr : dev.notify_addr;
    char host[DMSEC_NOTIFY_HOST_MAX];
    uint16_t port = 0;
    if (!addr[0])
        rc = DMSEC_ERR_DISPATCH_ADDR;
    else
        rc = dmsec_dispatch_parse_addr(addr, host, sizeof host, &port);
    if (rc)
        goto done;

    /* Re-triggering a pending session reuses its id; a new one differs
     * from every id this device was sent. The choice and the record are one
     * write transaction, so two notifiers racing (threads or processes)
     * agree on one id instead of both picking it. */
    dmsec_notification_t n;
    memset(&n, 0, sizeof n);
    int64_t ttl = o->ttl > 0 ? o->ttl : 3600;
    if ((rc = dmsec_store_begin(st)))
        goto done;
    in_tx = 1;
    if (dmsec_store_notification_pending(st, device_id, o->now, &n) == DMSEC_OK) {
        n.expires = o->now + ttl;
    } else {
        uint8_t rnd[2];
        if ((rc = fill(o->rng, rnd, sizeof rnd)) ||
            (rc = dmsec_store_new_session_id(st, device_id, rnd, &n.session_id)))
            goto done;
        snprintf(n.device_id, sizeof n.device_id, "%s", device_id);
        n.expires = o->now + ttl;
    }
    n.sent = o->now;
    n.default_nonce = o->resync != 0;

    dmsec_pkg0_params_t p = {
        .version = DMSEC_PKG0_VERSION,
        .ui = o->ui ? o->ui : DMSEC_UI_UNSPECIFIED,
        .initiator = DMSEC_INITIATOR_SERVER,
        .session_id = n.session_id,
        .server_id = o->server_id,
    };
    const uint8_t *nonce = o->resync ? dmsec_default_nonce : dev.server_nonce;
    size_t nonce_len = o->resync ? sizeof dmsec_default_nonce : dev.server_nonce_len;
    uint8_t pkg[DMSEC_PKG0_HEADER_LEN + 256];
    size_t pkg_len = 0;
    if ((rc = dmsec_pkg0_build_prehashed(&p, dev.server_prehash.md5, nonce, nonce_len, pkg,
                                         sizeof pkg, &pkg_len)))
        goto done;
    uint8_t pdu[sizeof pkg + DMSEC_WSP_PUSH_OVERHEAD];
    size_t pdu_len = 0;
    if ((rc = dmsec_wsp_push_wrap((uint8_t)n.session_id, pkg, pkg_len, pdu, sizeof pdu, &pdu_len)))
        goto done;
    /* Recorded and durable first: a crash or power loss after this leaves
     * a notification the policy can re-send, never one the device holds
     * and the store does not. */
    if ((rc = dmsec_store_notification_put(st, &n)))
        goto done;
    in_tx = 0;
    if ((rc = dmsec_store_commit(st)) || (rc = dmsec_store_sync(st)))
        goto done;
    if ((rc = send_datagram(host, port, pdu, pdu_len)))
        goto done;
    char detail[320];
    snprintf(detail, sizeof detail, "session %X to %s:%u", (unsigned)n.session_id, host,
             (unsigned)port);
    dmsec_store_audit(st, o->now, device_id, o->resync ? "resync_notify" : "notify", detail);
    if (session_id)
        *session_id = n.session_id;
done:
    if (in_tx)
        (void)dmsec_store_rollback(st);
    dmsec_prehash_wipe(&dev.server_prehash);
    dmsec_prehash_wipe(&dev.client_prehash);
    memset(dev.server_secret, 0, sizeof dev.server_secret);
    memset(dev.client_secret, 0, sizeof dev.client_secret);
    memset(dev.pending_secret, 0, sizeof dev.pending_secret);
    return rc;
}

struct overdue {
    char (*ids)[DMSEC_STORE_ID_MAX];
    size_t n;
    size_t cap;
};

static int collect(void *ctx, const dmsec_notification_t *n)
{
    struct overdue *o = ctx;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        void *p = realloc(o->ids, cap * sizeof *o->ids);
        if (!p)
            return DMSEC_ERR_NO_MEMORY; /* negative: the listing fails, not stops */
        o->ids = p;
        o->cap = cap;
    }
    snprintf(o->ids[o->n++], DMSEC_STORE_ID_MAX, "%s", n->device_id);
    return 0;
}

int dmsec_dispatch_resync_overdue(dmsec_store_t *st, const dmsec_notify_opts_t *o, int64_t wait,
                                  int *count)
{
    if (!st || !o || wait < 0)
        return DMSEC_ERR_INVALID_ARG;
    struct overdue list = {0};
    /* Collected first: sending writes to the store. */
    int rc = dmsec_store_notification_overdue(st, o->now - wait, o->now, collect, &list);
    int sent = 0;
    dmsec_notify_opts_t ro = *o;
    ro.resync = 1;
    for (size_t i = 0; !rc && i < list.n; i++) {
        /* The pending notification is found again and re-sent with its
         * session id, now on the default nonce. */
        if (dmsec_dispatch_notify(st, list.ids[i], &ro, NULL) == DMSEC_OK)
            sent++;
    }
    free(list.ids);
    if (count)
        *count = sent;
    return rc;
}
