#include "dmsec/hmac.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

enum { P_ALGORITHM, P_USERNAME, P_SERVERID, P_TIMESTAMP, P_MAC, P_COUNT };

static const char *const param_names[P_COUNT] = {"algorithm", "username", "serverid", "timestamp",
                                                 "mac"};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_sep(char c)
{
    return c == ',' || c == ';';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int name_is(const char *s, size_t n, const char *want)
{
    if (strlen(want) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (lower((unsigned char)s[i]) != want[i])
            return 0;
    }
    return 1;
}

static int token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Reads one value at text[*pos..len) into val (cap bytes). Quoted values
 * honour backslash escapes; the mac drops whitespace (the spec's own
 * example folds it across lines). */
static int read_value(const char *text, size_t len, size_t *pos, int is_mac, char *val, size_t cap)
{
    size_t i = *pos;
    size_t o = 0;
    if (i < len && text[i] == '"') {
        i++;
        for (;;) {
            if (i >= len)
                return DMSEC_ERR_HMAC_SYNTAX; /* unterminated */
            char c = text[i++];
            if (c == '"')
                break;
            if (c == '\\') {
                if (i >= len)
                    return DMSEC_ERR_HMAC_SYNTAX;
                c = text[i++];
            }
            if (is_mac && is_ws(c))
                continue;
            if ((unsigned char)c < 0x20 && c != '\t')
                return DMSEC_ERR_HMAC_SYNTAX;
            if ((unsigned char)c == 0x7f)
                return DMSEC_ERR_HMAC_SYNTAX;
            if (o + 1 >= cap)
                return DMSEC_ERR_HMAC_FIELD_LONG;
            val[o++] = c;
        }
    } else {
        while (i < len && !is_ws(text[i]) && !is_sep(text[i])) {
            char c = text[i++];
            if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f || c == '"')
                return DMSEC_ERR_HMAC_SYNTAX;
            if (o + 1 >= cap)
                return DMSEC_ERR_HMAC_FIELD_LONG;
            val[o++] = c;
        }
        if (o == 0)
            return DMSEC_ERR_HMAC_SYNTAX;
    }
    val[o] = '\0';
    *pos = i;
    return DMSEC_OK;
}

int dmsec_hmac_header_parse(const char *text, size_t len, dmsec_hmac_header_t *out)
{
    if ((!text && len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    int seen[P_COUNT] = {0};
    char algorithm[32] = "";
    size_t i = 0;
    for (;;) {
        while (i < len && (is_ws(text[i]) || is_sep(text[i])))
            i++;
        if (i >= len)
            break;
        size_t name_start = i;
        while (i < len && token_char(text[i]))
            i++;
        size_t name_len = i - name_start;
        if (name_len == 0)
            return DMSEC_ERR_HMAC_SYNTAX;
        while (i < len && is_ws(text[i]))
            i++;
        if (i >= len || text[i] != '=')
            return DMSEC_ERR_HMAC_SYNTAX;
        i++;
        while (i < len && is_ws(text[i]))
            i++;
        int p = -1;
        for (int k = 0; k < P_COUNT; k++) {
            if (name_is(text + name_start, name_len, param_names[k]))
                p = k;
        }
        char scratch[DMSEC_HMAC_FIELD_MAX];
        char *dst = scratch;
        size_t cap = sizeof scratch;
        switch (p) {
        case P_ALGORITHM:
            dst = algorithm;
            cap = sizeof algorithm;
            break;
        case P_USERNAME:
            dst = out->username;
            cap = sizeof out->username;
            break;
        case P_SERVERID:
            dst = out->server_id;
            cap = sizeof out->server_id;
            break;
        case P_TIMESTAMP:
            dst = out->timestamp;
            cap = sizeof out->timestamp;
            break;
        case P_MAC:
            dst = out->mac;
            cap = sizeof out->mac;
            break;
        default: /* unknown parameter: parsed, then ignored */
            break;
        }
        if (p >= 0 && seen[p]++)
            return DMSEC_ERR_HMAC_DUPLICATE;
        int rc = read_value(text, len, &i, p == P_MAC, dst, cap);
        if (rc == DMSEC_ERR_HMAC_FIELD_LONG && p < 0)
            rc = DMSEC_ERR_HMAC_SYNTAX;
        if (rc)
            return rc;
        size_t value_end = i;
        while (i < len && is_ws(text[i]))
            i++;
        /* Parameters are separated by ',' or ';'; one handset firmware
         * writes `mac=M algorithm="MD5"`, whitespace alone before the next
         * parameter (which must then be a name and '='). */
        if (i < len && !is_sep(text[i]) && i == value_end)
            return DMSEC_ERR_HMAC_SYNTAX;
    }
    if (!seen[P_ALGORITHM] || name_is(algorithm, strlen(algorithm), "md5"))
        out->alg = DMSEC_HMAC_MD5;
    else if (name_is(algorithm, strlen(algorithm), "hmac-sha256"))
        out->alg = DMSEC_HMAC_SHA256;
    else
        return DMSEC_ERR_HMAC_ALGORITHM;
    if (!seen[P_MAC] || out->mac[0] == '\0')
        return DMSEC_ERR_HMAC_NO_MAC;
    uint8_t raw[DMSEC_HMAC_MAC_MAX];
    size_t raw_len = 0;
    if (dmsec_b64_decode(out->mac, strlen(out->mac), raw, sizeof raw, &raw_len))
        return DMSEC_ERR_HMAC_SYNTAX;
    if (out->alg == DMSEC_HMAC_MD5) {
        if (!seen[P_USERNAME] || !out->username[0])
            return DMSEC_ERR_HMAC_NO_USERNAME;
    } else {
        if (!seen[P_SERVERID] || !out->server_id[0])
            return DMSEC_ERR_HMAC_NO_SERVERID;
        if (!seen[P_TIMESTAMP] || !out->timestamp[0])
            return DMSEC_ERR_HMAC_NO_TIMESTAMP;
    }
    return DMSEC_OK;
}

/* Appends a quoted-string to out[*o..cap). */
static int put_quoted(char *out, size_t cap, size_t *o, const char *v)
{
    if (*o + 1 >= cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    out[(*o)++] = '"';
    for (; *v; v++) {
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return DMSEC_ERR_INVALID_ARG;
        if (*v == '"' || *v == '\\') {
            if (*o + 1 >= cap)
                return DMSEC_ERR_BUFFER_TOO_SMALL;
            out[(*o)++] = '\\';
        }
        if (*o + 1 >= cap)
            return DMSEC_ERR_BUFFER_TOO_SMALL;
        out[(*o)++] = *v;
    }
    if (*o + 1 >= cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    out[(*o)++] = '"';
    out[*o] = '\0';
    return DMSEC_OK;
}

static int put_raw(char *out, size_t cap, size_t *o, const char *v)
{
    size_t n = strlen(v);
    if (*o + n + 1 > cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    memcpy(out + *o, v, n + 1);
    *o += n;
    return DMSEC_OK;
}

int dmsec_hmac_header_format(const dmsec_hmac_header_t *h, char *out, size_t cap, size_t *out_len)
{
    if (!h || !out || !cap)
        return DMSEC_ERR_INVALID_ARG;
    if (!h->mac[0])
        return DMSEC_ERR_HMAC_NO_MAC;
    size_t o = 0;
    int rc;
    out[0] = '\0';
    if (h->alg == DMSEC_HMAC_MD5) {
        if (!h->username[0])
            return DMSEC_ERR_HMAC_NO_USERNAME;
        /* The form real clients send and expect. */
        if ((rc = put_raw(out, cap, &o, "algorithm=MD5, username=")) ||
            (rc = put_quoted(out, cap, &o, h->username)) ||
            (rc = put_raw(out, cap, &o, ", mac=")) || (rc = put_raw(out, cap, &o, h->mac)))
            return rc;
    } else if (h->alg == DMSEC_HMAC_SHA256) {
        if (!h->server_id[0])
            return DMSEC_ERR_HMAC_NO_SERVERID;
        if (!h->timestamp[0])
            return DMSEC_ERR_HMAC_NO_TIMESTAMP;
        if ((rc = put_raw(out, cap, &o, "algorithm=\"HMAC-SHA256\", ServerId=")) ||
            (rc = put_quoted(out, cap, &o, h->server_id)) ||
            (rc = put_raw(out, cap, &o, ", Timestamp=")) ||
            (rc = put_quoted(out, cap, &o, h->timestamp)) ||
            (rc = put_raw(out, cap, &o, ", mac=")) || (rc = put_quoted(out, cap, &o, h->mac)))
            return rc;
    } else {
        return DMSEC_ERR_HMAC_ALGORITHM;
    }
    if (out_len)
        *out_len = o;
    return DMSEC_OK;
}

/* The raw 16-byte MD5 mac of DM 1.2. */
static int hmac12_raw(const uint8_t md5_prehash[16], const uint8_t *nonce, size_t nonce_len,
                      const uint8_t *body, size_t body_len, uint8_t mac[16])
{
    return dm_md5_chained(md5_prehash, nonce, nonce_len, body, body_len, mac);
}

int dmsec_hmac12_compute_prehashed(const uint8_t md5_prehash[16], const uint8_t *nonce,
                                   size_t nonce_len, const uint8_t *body, size_t body_len,
                                   char mac[DMSEC_HMAC12_MAC_LEN + 1])
{
    if (!md5_prehash || (!nonce && nonce_len) || (!body && body_len) || !mac)
        return DMSEC_ERR_INVALID_ARG;
    uint8_t raw[16];
    int rc = hmac12_raw(md5_prehash, nonce, nonce_len, body, body_len, raw);
    if (!rc)
        rc = dmsec_b64_encode(raw, 16, mac, DMSEC_HMAC12_MAC_LEN + 1, NULL);
    return rc;
}

int dmsec_hmac12_compute(const char *user, const uint8_t *secret, size_t secret_len,
                         const uint8_t *nonce, size_t nonce_len, const uint8_t *body,
                         size_t body_len, char mac[DMSEC_HMAC12_MAC_LEN + 1])
{
    dmsec_prehash_t ph;
    int rc = dmsec_prehash_compute(user, secret, secret_len, &ph);
    if (!rc)
        rc = dmsec_hmac12_compute_prehashed(ph.md5, nonce, nonce_len, body, body_len, mac);
    dmsec_prehash_wipe(&ph);
    return rc;
}

static int hmac13_raw(const uint8_t *key, size_t key_len, const char *timestamp,
                      const uint8_t *body, size_t body_len, uint8_t mac[32])
{
    dm_part_t parts[3] = {{timestamp, strlen(timestamp)}, {":", 1}, {body, body_len}};
    return dm_hmac(DM_SHA256, key, key_len, parts, 3, mac);
}

int dmsec_hmac13_compute(const uint8_t *key, size_t key_len, const char *timestamp,
                         const uint8_t *body, size_t body_len, char mac[DMSEC_HMAC13_MAC_LEN + 1])
{
    if ((!key && key_len) || !timestamp || (!body && body_len) || !mac)
        return DMSEC_ERR_INVALID_ARG;
    uint8_t raw[32];
    int rc = hmac13_raw(key, key_len, timestamp, body, body_len, raw);
    if (!rc)
        rc = dmsec_b64_encode(raw, 32, mac, DMSEC_HMAC13_MAC_LEN + 1, NULL);
    return rc;
}

/* Decodes the received mac and compares it in constant time. */
static int compare_mac(const char *mac_b64, const uint8_t *want, size_t want_len)
{
    uint8_t got[DMSEC_HMAC_MAC_MAX];
    size_t got_len = 0;
    if (dmsec_b64_decode(mac_b64, strlen(mac_b64), got, sizeof got, &got_len))
        return DMSEC_ERR_HMAC_SYNTAX;
    if (got_len != want_len)
        return DMSEC_ERR_HMAC_MISMATCH;
    return dm_ct_equal(got, want, want_len) ? DMSEC_OK : DMSEC_ERR_HMAC_MISMATCH;
}

int dmsec_hmac12_verify(const dmsec_hmac_header_t *h, const char *user,
                        const uint8_t md5_prehash[16], const uint8_t *nonce, size_t nonce_len,
                        const uint8_t *body, size_t body_len)
{
    if (!h || !user || !md5_prehash || (!nonce && nonce_len) || (!body && body_len))
        return DMSEC_ERR_INVALID_ARG;
    if (h->alg != DMSEC_HMAC_MD5)
        return DMSEC_ERR_HMAC_ALGORITHM;
    uint8_t want[16];
    int rc = hmac12_raw(md5_prehash, nonce, nonce_len, body, body_len, want);
    if (rc)
        return rc;
    rc = compare_mac(h->mac, want, sizeof want);
    if (!rc && strcmp(h->username, user) != 0)
        rc = DMSEC_ERR_HMAC_MISMATCH;
    return rc;
}

int dmsec_hmac13_verify(const dmsec_hmac_header_t *h, const uint8_t *key, size_t key_len,
                        const uint8_t *body, size_t body_len)
{
    if (!h || (!key && key_len) || (!body && body_len))
        return DMSEC_ERR_INVALID_ARG;
    if (h->alg != DMSEC_HMAC_SHA256)
        return DMSEC_ERR_HMAC_ALGORITHM;
    uint8_t want[32];
    int rc = hmac13_raw(key, key_len, h->timestamp, body, body_len, want);
    if (!rc)
        rc = compare_mac(h->mac, want, sizeof want);
    dm_wipe(want, sizeof want);
    return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153LL * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int dmsec_hmac13_timestamp_parse(const char *ts, time_t *out)
{
    if (!ts || !out)
        return DMSEC_ERR_INVALID_ARG;
    /* YYYY-MM-DDThh:mm:ssZ */
    if (strlen(ts) != 20 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' ||
        ts[16] != ':' || ts[19] != 'Z')
        return DMSEC_ERR_HMAC_TIMESTAMP;
    int y, mo, d, h, mi, s;
    if (digits(ts, 4, &y) || digits(ts + 5, 2, &mo) || digits(ts + 8, 2, &d) ||
        digits(ts + 11, 2, &h) || digits(ts + 14, 2, &mi) || digits(ts + 17, 2, &s))
        return DMSEC_ERR_HMAC_TIMESTAMP;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return DMSEC_ERR_HMAC_TIMESTAMP;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return DMSEC_ERR_HMAC_TIMESTAMP;
    *out =
        (time_t)(days_from_civil(y, mo, d) * 86400 + (long long)h * 3600 + (long long)mi * 60 + s);
    return DMSEC_OK;
}

int dmsec_hmac13_timestamp_format(time_t t, char out[21])
{
    if (!out || t < 0)
        return DMSEC_ERR_INVALID_ARG;
    long long days = (long long)t / 86400;
    long long rem = (long long)t % 86400;
    /* Inverse of days_from_civil. */
    long long z = days + 719468;
    long long era = z / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    if (y > 9999)
        return DMSEC_ERR_INVALID_ARG;
    int sec = (int)rem;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d, sec / 3600,
             sec / 60 % 60, sec % 60);
    memcpy(out, tmp, 21);
    return DMSEC_OK;
}

int dmsec_hmac13_check_fresh(const char *ts, time_t now, unsigned window)
{
    time_t t;
    int rc = dmsec_hmac13_timestamp_parse(ts, &t);
    if (rc)
        return rc;
    long long diff = (long long)t - (long long)now;
    if (diff < 0)
        diff = -diff;
    return diff <= (long long)window ? DMSEC_OK : DMSEC_ERR_HMAC_STALE;
}
