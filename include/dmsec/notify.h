/*
 * dmsec/notify.h - package #0, the General Notification Initiated Session
 * Alert (application/vnd.syncml.notification), and its WAP Push wrapping.
 *
 *   bytes 0-15   digest = MD5(B64(MD5(server-id ":" password)) ":" nonce ":"
 *                             B64(MD5(trigger)))
 *   bytes 16-23  version 10 bits | ui-mode 2 | initiator 1 | future 27 |
 *                session-id 16 | server-id length 8      (big-endian)
 *   bytes 24..   server-id, then vendor-specific bytes to the end
 *   trigger      = everything after the digest
 *
 * A parsed dmsec_pkg0_t borrows pointers into the message it was parsed
 * from: keep the message alive while using it. Nothing is allocated.
 */
#ifndef DMSEC_NOTIFY_H
#define DMSEC_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dmsec_ui_mode {
    DMSEC_UI_UNSPECIFIED = 0,
    DMSEC_UI_BACKGROUND = 1,
    DMSEC_UI_INFORMATIVE = 2,
    DMSEC_UI_INTERACTIVE = 3,
} dmsec_ui_mode_t;

typedef enum dmsec_initiator {
    DMSEC_INITIATOR_USER = 0,
    DMSEC_INITIATOR_SERVER = 1,
} dmsec_initiator_t;

#define DMSEC_PKG0_VERSION 11    /* emitted: DM notification 1.1 x 10 */
#define DMSEC_PKG0_HEADER_LEN 24 /* digest + fixed fields */
#define DMSEC_PKG0_DIGEST_LEN 16

/* What to put in a package #0. */
typedef struct dmsec_pkg0_params {
    unsigned version; /* 0 means DMSEC_PKG0_VERSION; at most 1023 */
    dmsec_ui_mode_t ui;
    dmsec_initiator_t initiator;
    uint16_t session_id;   /* 1..0xFFFF */
    const char *server_id; /* 1..255 bytes */
    const uint8_t *vendor; /* optional vendor-specific bytes */
    size_t vendor_len;
} dmsec_pkg0_params_t;

/* A parsed package #0 (pointers borrow from the parsed message). */
typedef struct dmsec_pkg0 {
    uint8_t digest[DMSEC_PKG0_DIGEST_LEN];
    unsigned version;
    dmsec_ui_mode_t ui;
    dmsec_initiator_t initiator;
    uint32_t future; /* the 27 future-use bits; non-zero is reported, not fatal */
    uint16_t session_id;
    const uint8_t *server_id;
    size_t server_id_len;
    const uint8_t *vendor;
    size_t vendor_len;
    const uint8_t *trigger;
    size_t trigger_len;
} dmsec_pkg0_t;

/* Size of the package #0 that params produce. */
size_t dmsec_pkg0_size(const dmsec_pkg0_params_t *params);

/* Builds a package #0 signed with the SRVCRED secret and the server nonce
 * (raw bytes). Errors: DMSEC_ERR_PKG0_FIELD for an out-of-range field,
 * DMSEC_ERR_PKG0_SESSION_ID for session id 0, DMSEC_ERR_BUFFER_TOO_SMALL. */
int dmsec_pkg0_build(const dmsec_pkg0_params_t *params, const uint8_t *secret, size_t secret_len,
                     const uint8_t *nonce, size_t nonce_len, uint8_t *out, size_t cap,
                     size_t *out_len);

/* The same from the MD5 pre-hash of server-id ":" password, as a server
 * that stores pre-hashes rather than secrets builds it. */
int dmsec_pkg0_build_prehashed(const dmsec_pkg0_params_t *params, const uint8_t md5_prehash[16],
                               const uint8_t *nonce, size_t nonce_len, uint8_t *out, size_t cap,
                               size_t *out_len);

/* Parses msg[0..len) (untrusted). Versions 11 and 12 are accepted.
 * Errors: DMSEC_ERR_PKG0_TRUNCATED, DMSEC_ERR_PKG0_VERSION,
 * DMSEC_ERR_PKG0_SERVERID_OVERRUN, DMSEC_ERR_PKG0_SESSION_ID (id 0). */
int dmsec_pkg0_parse(const uint8_t *msg, size_t len, dmsec_pkg0_t *out);

/* The SessionID text of a package #0 session id: uppercase hex without
 * leading zeros (0x00A1 -> "A1"). out holds at least 5 bytes. */
int dmsec_pkg0_session_id_text(uint16_t session_id, char out[5]);

/* Which nonce made the digest verify. */
typedef enum dmsec_nonce_used {
    DMSEC_NONCE_NONE = 0,
    DMSEC_NONCE_STORED,     /* the stored server nonce */
    DMSEC_NONCE_DEFAULT,    /* the default nonce, four zero bytes (resync) */
    DMSEC_NONCE_SESSION_ID, /* the SessionID text (seed 002 reading) */
    DMSEC_NONCE_FIELD_B64,  /* field reading: the text "AAAAAA==" used raw */
    DMSEC_NONCE_FIELD_TEXT, /* field reading: the ASCII text "0x00000000" */
} dmsec_nonce_used_t;

/* Options of dmsec_pkg0_verify: readings tried after the stored and the
 * default nonce, only when enabled. */
#define DMSEC_PKG0_TRY_SESSION_ID 1u
#define DMSEC_PKG0_TRY_FIELD_READINGS 2u

/* Verifies the digest with the MD5 pre-hash of server-id ":" password
 * (see dmsec_prehash_compute): first the stored nonce (skipped when
 * nonce is NULL), then the default nonce, then the enabled readings.
 * *used tells which passed; a stored nonce equal to the default nonce is
 * reported as DMSEC_NONCE_DEFAULT. 0 or DMSEC_ERR_PKG0_DIGEST (then *used is
 * DMSEC_NONCE_NONE). Comparisons are constant-time. */
int dmsec_pkg0_verify(const dmsec_pkg0_t *pkg, const uint8_t md5_prehash[16], const uint8_t *nonce,
                      size_t nonce_len, unsigned options, dmsec_nonce_used_t *used);

/* The name of a dmsec_nonce_used_t ("stored", "default", ...); static. */
const char *dmsec_nonce_used_name(dmsec_nonce_used_t used);

/* The default nonce of resynchronisation: four zero bytes. */
extern const uint8_t dmsec_default_nonce[4];

/* ---- WAP Push (connectionless WSP) ----
 * TID | 0x06 | HeadersLen (uintvar) | ContentType | headers | body.
 * Built as: TID 06 03 C4 AF 87 <package #0>
 * (content type 0x44 application/vnd.syncml.notification, X-Wap-Application-Id
 * 0x07 x-wap-application:syncml.dm). */

#define DMSEC_WSP_PUSH_OVERHEAD 6

int dmsec_wsp_push_wrap(uint8_t tid, const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                        size_t *out_len);

/* Unwraps a Push PDU carrying a SyncML notification. Accepts the content
 * type as the code 0x44 or as text, the application id as code or text,
 * and extra headers. *body borrows from pdu. Errors: DMSEC_ERR_WSP_*. */
int dmsec_wsp_push_unwrap(const uint8_t *pdu, size_t len, const uint8_t **body, size_t *body_len);

#ifdef __cplusplus
}
#endif
#endif
