#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/notify.h"

#define WSP_PDU_PUSH 0x06
#define WSP_CT_SYNCML_NOTIFICATION 0x44
#define WSP_HDR_APPLICATION_ID 0x2F
#define WSP_APPID_SYNCML_DM 0x07

static const char notification_text[] = "application/vnd.syncml.notification";

int dmsec_wsp_push_wrap(uint8_t tid, const uint8_t *body, size_t body_len, uint8_t *out, size_t cap,
                        size_t *out_len)
{
    if ((!body && body_len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (body_len > cap || cap - body_len < DMSEC_WSP_PUSH_OVERHEAD)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    out[0] = tid;
    out[1] = WSP_PDU_PUSH;
    out[2] = 3; /* content type + one two-byte header */
    out[3] = 0x80 | WSP_CT_SYNCML_NOTIFICATION;
    out[4] = 0x80 | WSP_HDR_APPLICATION_ID;
    out[5] = 0x80 | WSP_APPID_SYNCML_DM;
    if (body_len)
        memcpy(out + DMSEC_WSP_PUSH_OVERHEAD, body, body_len);
    if (out_len)
        *out_len = DMSEC_WSP_PUSH_OVERHEAD + body_len;
    return DMSEC_OK;
}

/* Reads a uintvar (at most five octets, 32 bits) at p[*i..end). */
static int read_uintvar(const uint8_t *p, size_t end, size_t *i, uint32_t *out)
{
    uint64_t v = 0;
    for (int n = 0; n < 5; n++) {
        if (*i >= end)
            return DMSEC_ERR_WSP_TRUNCATED;
        uint8_t b = p[(*i)++];
        v = v << 7 | (b & 0x7f);
        if (!(b & 0x80)) {
            if (v > UINT32_MAX)
                return DMSEC_ERR_WSP_UINTVAR;
            *out = (uint32_t)v;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_WSP_UINTVAR;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* A media type at p[*i..end): a short-integer code or a NUL-terminated text. */
static int media_is_notification(const uint8_t *p, size_t end, size_t *i)
{
    if (*i >= end)
        return DMSEC_ERR_WSP_TRUNCATED;
    uint8_t b = p[*i];
    if (b & 0x80) {
        (*i)++;
        return (b & 0x7f) == WSP_CT_SYNCML_NOTIFICATION ? DMSEC_OK : DMSEC_ERR_WSP_CONTENT_TYPE;
    }
    if (b < 0x20)
        return DMSEC_ERR_WSP_CONTENT_TYPE; /* long integer media codes are not ours */
    size_t start = *i;
    while (*i < end && p[*i] != 0)
        (*i)++;
    if (*i >= end)
        return DMSEC_ERR_WSP_TRUNCATED;
    size_t n = *i - start;
    (*i)++;
    if (n != sizeof notification_text - 1)
        return DMSEC_ERR_WSP_CONTENT_TYPE;
    for (size_t k = 0; k < n; k++) {
        if (lower(p[start + k]) != notification_text[k])
            return DMSEC_ERR_WSP_CONTENT_TYPE;
    }
    return DMSEC_OK;
}

int dmsec_wsp_push_unwrap(const uint8_t *pdu, size_t len, const uint8_t **body, size_t *body_len)
{
    if ((!pdu && len) || !body || !body_len)
        return DMSEC_ERR_INVALID_ARG;
    if (len < 3)
        return DMSEC_ERR_WSP_TRUNCATED;
    if (pdu[1] != WSP_PDU_PUSH)
        return DMSEC_ERR_WSP_PDU_TYPE;
    size_t i = 2;
    uint32_t headers_len = 0;
    int rc = read_uintvar(pdu, len, &i, &headers_len);
    if (rc)
        return rc;
    if (headers_len == 0)
        return DMSEC_ERR_WSP_CONTENT_TYPE;
    if (headers_len > len - i)
        return DMSEC_ERR_WSP_TRUNCATED;
    size_t hdr_end = i + headers_len;
    if (pdu[i] < 0x20) {
        /* General form: Value-length, then the media type and parameters,
         * which are skipped. */
        uint32_t vlen = pdu[i++];
        if (vlen == 31 && (rc = read_uintvar(pdu, hdr_end, &i, &vlen)))
            return rc;
        if (vlen > hdr_end - i)
            return DMSEC_ERR_WSP_TRUNCATED;
        size_t value_end = i + vlen;
        if ((rc = media_is_notification(pdu, value_end, &i)))
            return rc;
    } else if ((rc = media_is_notification(pdu, hdr_end, &i))) {
        return rc;
    }
    /* The remaining headers (X-Wap-Application-Id and others) are not
     * needed to find the body; the digest authenticates what follows. */
    *body = pdu + hdr_end;
    *body_len = len - hdr_end;
    return DMSEC_OK;
}
