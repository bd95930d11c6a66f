#include "dmsec/errors.h"

#include <stddef.h>

struct err_entry {
    int code;
    int status;
    const char *name;
    const char *text;
};

#define E(code, status, text)                                                                      \
    {                                                                                              \
        code, status, #code, text                                                                  \
    }

static const struct err_entry errs[] = {
    E(DMSEC_OK, 200, "success"),
    E(DMSEC_ERR_INVALID_ARG, 500, "invalid argument"),
    E(DMSEC_ERR_NO_MEMORY, 500, "out of memory"),
    E(DMSEC_ERR_BUFFER_TOO_SMALL, 500, "output buffer too small"),
    E(DMSEC_ERR_CRYPTO, 500, "cryptographic library failure"),
    E(DMSEC_ERR_RANDOM, 500, "random number generator failure"),
    E(DMSEC_ERR_TOO_LARGE, 413, "input larger than allowed"),
    E(DMSEC_ERR_B64_CHAR, 400, "base64: character outside the alphabet"),
    E(DMSEC_ERR_B64_PADDING, 400, "base64: bad padding"),
    E(DMSEC_ERR_B64_LENGTH, 400, "base64: length not a multiple of four"),
    E(DMSEC_ERR_HEX_CHAR, 400, "hex: character that is not a hex digit"),
    E(DMSEC_ERR_HEX_LENGTH, 400, "hex: odd number of digits"),
    E(DMSEC_ERR_AUTH_SCHEME, 401, "credential scheme unknown or not the one requested"),
    E(DMSEC_ERR_AUTH_FAILED, 401, "credentials do not match"),
    E(DMSEC_ERR_AUTH_MISSING, 407, "credentials missing"),
    E(DMSEC_ERR_AUTH_FORMAT, 401, "credential data malformed"),
    E(DMSEC_ERR_AUTH_NO_PREHASH, 401, "no stored pre-hash for this scheme"),
    E(DMSEC_ERR_AUTH_NEEDS_SECRET, 500, "scheme needs the plaintext secret"),
    E(DMSEC_ERR_HMAC_SYNTAX, 400, "x-syncml-hmac: syntax error"),
    E(DMSEC_ERR_HMAC_ALGORITHM, 400, "x-syncml-hmac: unsupported algorithm"),
    E(DMSEC_ERR_HMAC_NO_USERNAME, 400, "x-syncml-hmac: username missing"),
    E(DMSEC_ERR_HMAC_NO_MAC, 400, "x-syncml-hmac: mac missing"),
    E(DMSEC_ERR_HMAC_NO_SERVERID, 400, "x-syncml-hmac: ServerId missing"),
    E(DMSEC_ERR_HMAC_NO_TIMESTAMP, 400, "x-syncml-hmac: Timestamp missing"),
    E(DMSEC_ERR_HMAC_DUPLICATE, 400, "x-syncml-hmac: parameter given twice"),
    E(DMSEC_ERR_HMAC_MISMATCH, 401, "x-syncml-hmac: mac does not match the body"),
    E(DMSEC_ERR_HMAC_TIMESTAMP, 400, "x-syncml-hmac: Timestamp not in YYYY-MM-DDThh:mm:ssZ form"),
    E(DMSEC_ERR_HMAC_STALE, 401, "x-syncml-hmac: Timestamp outside the accepted window"),
    E(DMSEC_ERR_HMAC_FIELD_LONG, 400, "x-syncml-hmac: parameter value too long"),
    E(DMSEC_ERR_PKG0_TRUNCATED, 400, "package #0: message shorter than its header"),
    E(DMSEC_ERR_PKG0_VERSION, 400, "package #0: unsupported notification version"),
    E(DMSEC_ERR_PKG0_SERVERID_OVERRUN, 400, "package #0: server id runs past the end"),
    E(DMSEC_ERR_PKG0_SESSION_ID, 400, "package #0: session id 0 is not allowed"),
    E(DMSEC_ERR_PKG0_DIGEST, 401, "package #0: digest does not verify"),
    E(DMSEC_ERR_PKG0_FIELD, 400, "package #0: field value out of range"),
    E(DMSEC_ERR_WSP_TRUNCATED, 400, "WSP push: PDU truncated"),
    E(DMSEC_ERR_WSP_PDU_TYPE, 400, "WSP push: not a Push PDU"),
    E(DMSEC_ERR_WSP_CONTENT_TYPE, 415, "WSP push: content type is not a SyncML notification"),
    E(DMSEC_ERR_WSP_UINTVAR, 400, "WSP push: malformed uintvar"),
    E(DMSEC_ERR_BOOT_CT_SYNTAX, 400, "bootstrap: Content-Type syntax error"),
    E(DMSEC_ERR_BOOT_CT_MEDIA, 415, "bootstrap: media type is not application/vnd.syncml.dm+wbxml"),
    E(DMSEC_ERR_BOOT_KEYTYPE, 400, "bootstrap: unknown or unsupported key type"),
    E(DMSEC_ERR_BOOT_MAC_FORMAT, 400, "bootstrap: MAC is not 40 hex digits"),
    E(DMSEC_ERR_BOOT_MAC_MISMATCH, 401, "bootstrap: MAC does not verify"),
    E(DMSEC_ERR_BOOT_NETWORK_ID, 400, "bootstrap: network id (IMSI) malformed or missing"),
    E(DMSEC_ERR_BOOT_PIN, 400, "bootstrap: user PIN missing"),
    E(DMSEC_ERR_GBA_TRUNCATED, 400, "GBA: protected document too short"),
    E(DMSEC_ERR_GBA_MAC_MISMATCH, 401, "GBA: integrity check failed"),
    E(DMSEC_ERR_GBA_PADDING, 400, "GBA: bad padding after decryption"),
    E(DMSEC_ERR_BOOT_CT_MISSING, 400, "bootstrap: Content-Type lacks the MAC or key type"),
    E(DMSEC_ERR_CODEC_TRUNCATED, 400, "codec: document truncated"),
    E(DMSEC_ERR_CODEC_UNKNOWN_TOKEN, 400, "codec: unknown or unsupported WBXML token"),
    E(DMSEC_ERR_CODEC_CODE_PAGE, 400, "codec: unknown WBXML code page"),
    E(DMSEC_ERR_CODEC_NAMESPACE, 400, "codec: wrong XML namespace"),
    E(DMSEC_ERR_CODEC_PUBLIC_ID, 400, "codec: WBXML public id is not SyncML 1.2 or 1.1"),
    E(DMSEC_ERR_CODEC_VERSION, 400, "codec: unsupported WBXML version"),
    E(DMSEC_ERR_CODEC_CHARSET, 400, "codec: character set is not UTF-8"),
    E(DMSEC_ERR_CODEC_STRTBL, 400, "codec: WBXML string table reference out of range"),
    E(DMSEC_ERR_CODEC_MB_UINT, 400, "codec: WBXML multi-byte integer overflows 32 bits"),
    E(DMSEC_ERR_CODEC_ATTRIBUTE, 400, "codec: attributes are not allowed in SyncML"),
    E(DMSEC_ERR_CODEC_OVERSIZE, 413, "codec: document larger than allowed"),
    E(DMSEC_ERR_CODEC_TOO_DEEP, 413, "codec: elements nested too deep"),
    E(DMSEC_ERR_CODEC_TOO_MANY, 413, "codec: too many elements"),
    E(DMSEC_ERR_CODEC_TEXT_LONG, 413, "codec: element text longer than allowed"),
    E(DMSEC_ERR_CODEC_UTF8, 400, "codec: invalid UTF-8"),
    E(DMSEC_ERR_CODEC_BAD_CHAR, 400, "codec: character not allowed in XML text"),
    E(DMSEC_ERR_CODEC_XML_SYNTAX, 400, "codec: XML syntax error"),
    E(DMSEC_ERR_CODEC_DTD, 400, "codec: DTD internal subset or entity declaration refused"),
    E(DMSEC_ERR_CODEC_MISSING, 400, "codec: required element missing"),
    E(DMSEC_ERR_CODEC_UNKNOWN_ELEMENT, 400, "codec: unknown element name"),
    E(DMSEC_ERR_CODEC_UNEXPECTED, 400, "codec: element or text not allowed here"),
    E(DMSEC_ERR_CODEC_DUPLICATE, 400, "codec: element given more than once"),
    E(DMSEC_ERR_CODEC_TRAILING, 400, "codec: bytes after the end of the document"),
    E(DMSEC_ERR_CODEC_OPAQUE, 400, "codec: opaque data where text is required"),
    E(DMSEC_ERR_CODEC_BINARY, 500, "codec: data cannot be written in this encoding"),
    E(DMSEC_ERR_CODEC_CONTENT_TYPE, 415, "codec: content type is not SyncML XML or WBXML"),
    E(DMSEC_ERR_SESSION_STATE, 500, "session: call not allowed in this state"),
    E(DMSEC_ERR_SESSION_ID, 400, "session: SessionID does not match the session"),
    E(DMSEC_ERR_SESSION_MSGID, 400, "session: MsgID out of order (replayed or lost message)"),
    E(DMSEC_ERR_SESSION_UNKNOWN_PEER, 401, "session: no account for this peer"),
    E(DMSEC_ERR_SESSION_ENDED, 500, "session: the session has ended"),
    E(DMSEC_ERR_SESSION_HMAC_MISSING, 401, "session: x-syncml-hmac expected but missing"),
    E(DMSEC_ERR_SESSION_REPLAY, 401, "session: message mac seen before (replay)"),
    E(DMSEC_ERR_SESSION_SCHEME, 401, "session: challenge answered with another scheme"),
    E(DMSEC_ERR_SESSION_PROTOCOL, 400, "session: message breaks the protocol"),
    E(DMSEC_ERR_SESSION_PEER_REFUSED, 401, "session: the peer refused our credentials"),
    E(DMSEC_ERR_SESSION_UNAUTHENTICATED, 401, "session: command from an unauthenticated peer"),
    E(DMSEC_ERR_SESSION_LIMIT, 413, "session: too many commands or messages"),
    E(DMSEC_ERR_SESSION_DEFAULT_NONCE, 401,
      "session: credential on the default nonce (answered with a fresh challenge)"),
    E(DMSEC_ERR_SESSION_INSECURE, 403, "session: neither TLS nor HMAC protects this session"),
    E(DMSEC_ERR_STORE_IO, 500, "store: database error"),
    E(DMSEC_ERR_STORE_NOT_FOUND, 404, "store: no such record"),
    E(DMSEC_ERR_STORE_EXISTS, 409, "store: record already exists"),
    E(DMSEC_ERR_STORE_CORRUPT, 500, "store: database file is corrupt or not a dmsec store"),
    E(DMSEC_ERR_STORE_URI, 500,
      "store: unknown or unsupported store URI (this build supports sqlite: only)"),
    E(DMSEC_ERR_STORE_BUSY, 503, "store: database busy"),
    E(DMSEC_ERR_STORE_FULL, 429, "store: too many commands queued for this device"),
    E(DMSEC_ERR_STORE_STATE, 409, "store: the record's state does not allow this"),
    E(DMSEC_ERR_DISPATCH_ADDR, 500, "dispatch: no usable notification address"),
    E(DMSEC_ERR_DISPATCH_SEND, 500, "dispatch: the notification could not be sent"),
    E(DMSEC_ERR_TRANSPORT_CONNECT, 500, "transport: cannot connect to the server"),
    E(DMSEC_ERR_TRANSPORT_TLS, 500, "transport: TLS with the server failed"),
    E(DMSEC_ERR_TRANSPORT_TIMEOUT, 500, "transport: timed out"),
    E(DMSEC_ERR_TRANSPORT_HTTP, 500, "transport: the server answered with an HTTP error"),
    E(DMSEC_ERR_TRANSPORT_IO, 500, "transport: the exchange with the server broke off"),
    E(DMSEC_ERR_TREE_NOT_FOUND, 404, "tree: no such node"),
    E(DMSEC_ERR_TREE_EXISTS, 418, "tree: node already exists"),
    E(DMSEC_ERR_TREE_PERMISSION, 425, "tree: permission denied by the ACL"),
    E(DMSEC_ERR_TREE_NOT_ALLOWED, 405, "tree: command not allowed on this node"),
    E(DMSEC_ERR_TREE_FORMAT, 400, "tree: bad node value, format or ACL"),
    E(DMSEC_ERR_TREE_TOO_DEEP, 413, "tree: URI has too many segments"),
    E(DMSEC_ERR_TREE_TOO_MANY, 413, "tree: too many nodes or value bytes"),
    E(DMSEC_ERR_TREE_PARSE, 500, "tree: serialised tree malformed, truncated or corrupt"),
    E(DMSEC_ERR_TREE_PATH, 400, "tree: malformed URI"),
    E(DMSEC_ERR_TREE_URI_LONG, 414, "tree: URI too long"),
    E(DMSEC_ERR_TREE_UNSUPPORTED, 406, "tree: optional feature not supported"),
};

static const struct err_entry *find(int err)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        if (errs[i].code == err)
            return &errs[i];
    }
    return NULL;
}

const char *dmsec_strerror(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->text : "unknown error";
}

const char *dmsec_errname(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->name : "DMSEC_ERR_UNKNOWN";
}

int dmsec_err_status(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->status : 500;
}
