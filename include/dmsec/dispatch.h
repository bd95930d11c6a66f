/*
 * dmsec/dispatch.h - sending notifications (package #0) to devices, and the
 * resynchronisation policy, over the store.
 *
 * A notification is package #0 wrapped as a connectionless WSP Push PDU
 * (content type 0x44, application id syncml.dm), as a WAP gateway would
 * deliver it, sent as one UDP datagram to the device's notification address
 * ("udp://HOST:PORT", port 2948 by default), so that an SMS transport can
 * later carry the same bytes.
 *
 * Order, for crash safety: the notification (session id, nonce kind,
 * expiry) is committed to the store before the datagram leaves.
 * Session ids: a re-trigger of a pending (unopened, unexpired) notification
 * reuses its id; a new trigger gets an id unused for that device.
 *
 * Ownership: the store handle is borrowed for the call.
 */
#ifndef DMSEC_DISPATCH_H
#define DMSEC_DISPATCH_H

#include <stdint.h>

#include "dmsec/notify.h"
#include "dmsec/random.h"
#include "dmsec/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMSEC_NOTIFY_PORT 2948

typedef struct dmsec_notify_opts {
    const char *server_id;  /* required */
    dmsec_ui_mode_t ui;     /* DMSEC_UI_BACKGROUND by default (0 means unspecified) */
    int resync;             /* sign on the default nonce and record an outstanding resync */
    int64_t now;            /* seconds since the epoch */
    int64_t ttl;            /* seconds until the notification expires, 0 = 3600 */
    const dmsec_rng_t *rng; /* NULL = dmsec_rng_os */
    const char *addr;       /* overrides the device's notify address, may be NULL */
} dmsec_notify_opts_t;

/* Sends a notification to device_id. *session_id gets the session id used.
 * Errors: DMSEC_ERR_STORE_* from the store, DMSEC_ERR_DISPATCH_ADDR (no or
 * bad address), DMSEC_ERR_DISPATCH_SEND (the datagram could not be sent). */
int dmsec_dispatch_notify(dmsec_store_t *st, const char *device_id, const dmsec_notify_opts_t *o,
                          uint16_t *session_id);

/* The resync policy: every notification sent more than `wait` seconds ago
 * (and not opened, not expired, not already a resync) is sent again on the
 * default nonce with the same session id, recorded as an outstanding
 * resync. *count gets how many were sent. */
int dmsec_dispatch_resync_overdue(dmsec_store_t *st, const dmsec_notify_opts_t *o, int64_t wait,
                                  int *count);

/* Parses "udp://HOST:PORT" (or "HOST:PORT", or "HOST" for port 2948).
 * HOST is a name or IPv4 address (letters, digits, '.', '-', '_') or an
 * IPv6 address in brackets, optionally with a zone ("[fe80::1%eth0]"); the
 * brackets are not copied to host. DMSEC_ERR_DISPATCH_ADDR for anything
 * else, a port outside 1..65535, or a host of host_cap bytes or more. */
int dmsec_dispatch_parse_addr(const char *addr, char *host, size_t host_cap, uint16_t *port);

/* A host buffer that holds any host of an address a device record holds. */
#define DMSEC_NOTIFY_HOST_MAX DMSEC_STORE_ADDR_MAX

/* The one rule for a notify address given to be stored (dmsec device add,
 * dmsec bootstrap-make): it parses and fits a device record's notify_addr
 * (DMSEC_STORE_ADDR_MAX). DMSEC_OK or DMSEC_ERR_DISPATCH_ADDR. */
int dmsec_dispatch_check_addr(const char *addr);

#ifdef __cplusplus
}
#endif
#endif
