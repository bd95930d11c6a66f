#include "dmsec/encoding.h"

#include "dmsec/errors.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int dmsec_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    if ((!in && len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return DMSEC_ERR_TOO_LARGE;
    size_t need = DMSEC_B64_LEN(len);
    if (cap < need + 1)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return DMSEC_OK;
}

/* -1 for characters outside the alphabet (including '='). */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int dmsec_b64_decode(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if ((!text && len) || !out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out_len = 0;
    if (len % 4 != 0)
        return DMSEC_ERR_B64_LENGTH;
    size_t pad = 0;
    if (len >= 1 && text[len - 1] == '=')
        pad++;
    if (len >= 2 && text[len - 2] == '=')
        pad++;
    size_t body = len - pad;
    /* Any other '=' is misplaced padding; anything else unknown is a bad char. */
    for (size_t i = 0; i < body; i++) {
        if (b64_value(text[i]) < 0)
            return text[i] == '=' ? DMSEC_ERR_B64_PADDING : DMSEC_ERR_B64_CHAR;
    }
    size_t n = (len / 4) * 3 - pad;
    if (n > cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int a = b64_value(text[i]);
        int b = b64_value(text[i + 1]);
        int c = i + 2 < body ? b64_value(text[i + 2]) : 0;
        int d = i + 3 < body ? b64_value(text[i + 3]) : 0;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        if (i + 4 < len || pad == 0) {
            out[o++] = (uint8_t)(v >> 16);
            out[o++] = (uint8_t)(v >> 8);
            out[o++] = (uint8_t)v;
        } else if (pad == 1) {
            if (v & 0xFF) /* non-canonical: bits under the pad must be zero */
                return DMSEC_ERR_B64_PADDING;
            out[o++] = (uint8_t)(v >> 16);
            out[o++] = (uint8_t)(v >> 8);
        } else {
            if (v & 0xFFFF)
                return DMSEC_ERR_B64_PADDING;
            out[o++] = (uint8_t)(v >> 16);
        }
    }
    *out_len = o;
    return DMSEC_OK;
}

static int hex_encode(const uint8_t *in, size_t len, char *out, size_t cap, const char *digits)
{
    if ((!in && len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (len > (SIZE_MAX - 1) / 2 || cap < 2 * len + 1)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
    return DMSEC_OK;
}

int dmsec_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return hex_encode(in, len, out, cap, "0123456789abcdef");
}

int dmsec_hex_encode_upper(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return hex_encode(in, len, out, cap, "0123456789ABCDEF");
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int dmsec_hex_decode(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if ((!text && len) || !out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out_len = 0;
    for (size_t i = 0; i < len; i++) {
        if (hex_value(text[i]) < 0)
            return DMSEC_ERR_HEX_CHAR;
    }
    if (len % 2)
        return DMSEC_ERR_HEX_LENGTH;
    if (len / 2 > cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    for (size_t i = 0; i < len; i += 2)
        out[i / 2] = (uint8_t)(hex_value(text[i]) << 4 | hex_value(text[i + 1]));
    *out_len = len / 2;
    return DMSEC_OK;
}
