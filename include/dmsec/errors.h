/*
 * dmsec/errors.h - the one error space of libdmsec.
 *
 * Every function returns 0 on success or a negative DMSEC_ERR_* value.
 * Codes are grouped by module (hundreds). Errors that answer a peer map to
 * the SyncML status the engine sends (dmsec_err_status).
 * Strings returned here are static; the caller never frees them.
 */
#ifndef DMSEC_ERRORS_H
#define DMSEC_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DMSEC_OK = 0,

    /* general */
    DMSEC_ERR_INVALID_ARG = -1,
    DMSEC_ERR_NO_MEMORY = -2,
    DMSEC_ERR_BUFFER_TOO_SMALL = -3,
    DMSEC_ERR_CRYPTO = -4,
    DMSEC_ERR_RANDOM = -5,
    DMSEC_ERR_TOO_LARGE = -6,

    /* encoding: base64, hex */
    DMSEC_ERR_B64_CHAR = -100,
    DMSEC_ERR_B64_PADDING = -101,
    DMSEC_ERR_B64_LENGTH = -102,
    DMSEC_ERR_HEX_CHAR = -103,
    DMSEC_ERR_HEX_LENGTH = -104,

    /* auth: Cred / Chal */
    DMSEC_ERR_AUTH_SCHEME = -200,
    DMSEC_ERR_AUTH_FAILED = -201,
    DMSEC_ERR_AUTH_MISSING = -202,
    DMSEC_ERR_AUTH_FORMAT = -203,
    DMSEC_ERR_AUTH_NO_PREHASH = -204,
    DMSEC_ERR_AUTH_NEEDS_SECRET = -205,

    /* hmac: x-syncml-hmac */
    DMSEC_ERR_HMAC_SYNTAX = -300,
    DMSEC_ERR_HMAC_ALGORITHM = -301,
    DMSEC_ERR_HMAC_NO_USERNAME = -302,
    DMSEC_ERR_HMAC_NO_MAC = -303,
    DMSEC_ERR_HMAC_NO_SERVERID = -304,
    DMSEC_ERR_HMAC_NO_TIMESTAMP = -305,
    DMSEC_ERR_HMAC_DUPLICATE = -306,
    DMSEC_ERR_HMAC_MISMATCH = -307,
    DMSEC_ERR_HMAC_TIMESTAMP = -308,
    DMSEC_ERR_HMAC_STALE = -309,
    DMSEC_ERR_HMAC_FIELD_LONG = -310,

    /* notify: package #0 and its WSP push wrapping */
    DMSEC_ERR_PKG0_TRUNCATED = -400,
    DMSEC_ERR_PKG0_VERSION = -401,
    DMSEC_ERR_PKG0_SERVERID_OVERRUN = -402,
    DMSEC_ERR_PKG0_SESSION_ID = -403,
    DMSEC_ERR_PKG0_DIGEST = -404,
    DMSEC_ERR_PKG0_FIELD = -405,
    DMSEC_ERR_WSP_TRUNCATED = -406,
    DMSEC_ERR_WSP_PDU_TYPE = -407,
    DMSEC_ERR_WSP_CONTENT_TYPE = -408,
    DMSEC_ERR_WSP_UINTVAR = -409,

    /* bootstrap: HMAC-SHA1 MAC, Content-Type, GBA */
    DMSEC_ERR_BOOT_CT_SYNTAX = -500,
    DMSEC_ERR_BOOT_CT_MEDIA = -501,
    DMSEC_ERR_BOOT_KEYTYPE = -502,
    DMSEC_ERR_BOOT_MAC_FORMAT = -503,
    DMSEC_ERR_BOOT_MAC_MISMATCH = -504,
    DMSEC_ERR_BOOT_NETWORK_ID = -505,
    DMSEC_ERR_BOOT_PIN = -506,
    DMSEC_ERR_GBA_TRUNCATED = -507,
    DMSEC_ERR_GBA_MAC_MISMATCH = -508,
    DMSEC_ERR_GBA_PADDING = -509,
    DMSEC_ERR_BOOT_CT_MISSING = -510,
    /* codec: SyncML XML and WBXML */
    DMSEC_ERR_CODEC_TRUNCATED = -600,
    DMSEC_ERR_CODEC_UNKNOWN_TOKEN = -601,
    DMSEC_ERR_CODEC_CODE_PAGE = -602,
    DMSEC_ERR_CODEC_NAMESPACE = -603,
    DMSEC_ERR_CODEC_PUBLIC_ID = -604,
    DMSEC_ERR_CODEC_VERSION = -605,
    DMSEC_ERR_CODEC_CHARSET = -606,
    DMSEC_ERR_CODEC_STRTBL = -607,
    DMSEC_ERR_CODEC_MB_UINT = -608,
    DMSEC_ERR_CODEC_ATTRIBUTE = -609,
    DMSEC_ERR_CODEC_OVERSIZE = -610,
    DMSEC_ERR_CODEC_TOO_DEEP = -611,
    DMSEC_ERR_CODEC_TOO_MANY = -612,
    DMSEC_ERR_CODEC_TEXT_LONG = -613,
    DMSEC_ERR_CODEC_UTF8 = -614,
    DMSEC_ERR_CODEC_BAD_CHAR = -615,
    DMSEC_ERR_CODEC_XML_SYNTAX = -616,
    DMSEC_ERR_CODEC_DTD = -617,
    DMSEC_ERR_CODEC_MISSING = -618,
    DMSEC_ERR_CODEC_UNKNOWN_ELEMENT = -619,
    DMSEC_ERR_CODEC_UNEXPECTED = -620,
    DMSEC_ERR_CODEC_DUPLICATE = -621,
    DMSEC_ERR_CODEC_TRAILING = -622,
    DMSEC_ERR_CODEC_OPAQUE = -623,
    DMSEC_ERR_CODEC_BINARY = -624,
    DMSEC_ERR_CODEC_CONTENT_TYPE = -625,

    /* session engine */
    DMSEC_ERR_SESSION_STATE = -700,
    DMSEC_ERR_SESSION_ID = -701,
    DMSEC_ERR_SESSION_MSGID = -702,
    DMSEC_ERR_SESSION_UNKNOWN_PEER = -703,
    DMSEC_ERR_SESSION_ENDED = -704,
    DMSEC_ERR_SESSION_HMAC_MISSING = -705,
    DMSEC_ERR_SESSION_REPLAY = -706,
    DMSEC_ERR_SESSION_SCHEME = -707,
    DMSEC_ERR_SESSION_PROTOCOL = -708,
    DMSEC_ERR_SESSION_PEER_REFUSED = -709,
    DMSEC_ERR_SESSION_UNAUTHENTICATED = -710,
    DMSEC_ERR_SESSION_LIMIT = -711,
    DMSEC_ERR_SESSION_DEFAULT_NONCE = -712,
    DMSEC_ERR_SESSION_INSECURE = -713,

    /* store */
    DMSEC_ERR_STORE_IO = -900,
    DMSEC_ERR_STORE_NOT_FOUND = -901,
    DMSEC_ERR_STORE_EXISTS = -902,
    DMSEC_ERR_STORE_CORRUPT = -903,
    DMSEC_ERR_STORE_URI = -904,
    DMSEC_ERR_STORE_BUSY = -905,
    DMSEC_ERR_STORE_FULL = -906,  /* a bound of the store reached (commands per device) */
    DMSEC_ERR_STORE_STATE = -907, /* the record is not in a state that allows this */

    /* dispatch: notifications over the network */
    DMSEC_ERR_DISPATCH_ADDR = -950,
    DMSEC_ERR_DISPATCH_SEND = -951,

    /* transport: an agent's HTTP(S) exchange with its server */
    DMSEC_ERR_TRANSPORT_CONNECT = -960, /* no connection (refused, unreachable, no such host) */
    DMSEC_ERR_TRANSPORT_TLS = -961,     /* TLS failed (the certificate did not verify, ...) */
    DMSEC_ERR_TRANSPORT_TIMEOUT = -962, /* no complete answer in time */
    DMSEC_ERR_TRANSPORT_HTTP = -963,    /* an HTTP status other than 200 */
    DMSEC_ERR_TRANSPORT_IO = -964,      /* the exchange broke off, or its answer is unusable */

    /* tree: the DM tree and its ACLs */
    DMSEC_ERR_TREE_NOT_FOUND = -800,
    DMSEC_ERR_TREE_EXISTS = -801,
    DMSEC_ERR_TREE_PERMISSION = -802,
    DMSEC_ERR_TREE_NOT_ALLOWED = -803,
    DMSEC_ERR_TREE_FORMAT = -804,
    DMSEC_ERR_TREE_TOO_DEEP = -805,
    DMSEC_ERR_TREE_TOO_MANY = -806,
    DMSEC_ERR_TREE_PARSE = -807,
    DMSEC_ERR_TREE_PATH = -808,
    DMSEC_ERR_TREE_URI_LONG = -809,
    DMSEC_ERR_TREE_UNSUPPORTED = -810,
};

/* A static English description of err; "unknown error" for unknown codes. */
const char *dmsec_strerror(int err);

/* The symbolic name of err, e.g. "DMSEC_ERR_B64_CHAR". Static. */
const char *dmsec_errname(int err);

/* The SyncML status code an engine answers a peer with for err
 * (401 for a failed credential, 407 for a missing one, 400 for malformed
 * input, 500 otherwise), or 200 for DMSEC_OK. */
int dmsec_err_status(int err);

#ifdef __cplusplus
}
#endif
#endif
