/* The bootstrap Content-Type: the seed's positional form, the WAP Push
 * parameter form (SEC=, MAC=) and its binary WSP encoding. The input is
 * untrusted: every read is bounded by the given length. */
#include "dmsec/bootstrap.h"

#include "dmsec/errors.h"

#include <string.h>

static const char media_type[] = DMSEC_BOOT_MEDIA_TYPE;

struct keyname {
    dmsec_boot_keytype_t type;
    const char *seed;
    const char *sec;
    int wsp; /* SEC value as an integer, -1 when it has none */
};

/* The first three are the seed form's Keytype names; all are SEC values. */
static const struct keyname keynames[] = {
    {DMSEC_BOOT_KEY_NETWORKID, "NETWORKID", "NETWPIN", 0},
    {DMSEC_BOOT_KEY_USERPIN, "USERPIN", "USERPIN", 1},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, "USERPIN_NETWORKID", "USERNETWPIN", 2},
    {DMSEC_BOOT_KEY_USERPINMAC, "USERPINMAC", "USERPINMAC", 3},
    {DMSEC_BOOT_KEY_GBA, "3GPP_GBA", "3GPP_GBA", -1},
};
#define N_KEYNAMES (sizeof keynames / sizeof keynames[0])
#define N_SEED_KEYNAMES 3

/* Longest parameter value kept; longer ones cannot be a SEC or a MAC. */
#define VALUE_MAX 64

static const struct keyname *keyname_of(dmsec_boot_keytype_t type)
{
    for (size_t i = 0; i < N_KEYNAMES; i++) {
        if (keynames[i].type == type)
            return &keynames[i];
    }
    return NULL;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* ASCII case-insensitive equality of s[0..n) and the literal lit. */
static int ieq(const void *s, size_t n, const char *lit)
{
    const unsigned char *p = s;
    size_t m = strlen(lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (lower(p[i]) != lower((unsigned char)lit[i]))
            return 0;
    }
    return 1;
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t';
}

static int is_vchar(int c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* RFC 7230 tchar. */
static int is_tchar(int c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

const char *dmsec_boot_keytype_name(dmsec_boot_keytype_t type)
{
    const struct keyname *k = keyname_of(type);
    return k ? k->seed : NULL;
}

const char *dmsec_boot_keytype_sec_name(dmsec_boot_keytype_t type)
{
    const struct keyname *k = keyname_of(type);
    return k ? k->sec : NULL;
}

int dmsec_boot_keytype_from_name(const char *name, size_t len, dmsec_boot_keytype_t *type)
{
    if ((!name && len) || !type)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < N_KEYNAMES; i++) {
        if (ieq(name, len, keynames[i].seed) || ieq(name, len, keynames[i].sec)) {
            *type = keynames[i].type;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_BOOT_KEYTYPE;
}

static int seed_keytype(const void *s, size_t n, dmsec_boot_keytype_t *type)
{
    for (size_t i = 0; i < N_SEED_KEYNAMES; i++) {
        if (ieq(s, n, keynames[i].seed)) {
            *type = keynames[i].type;
            return 1;
        }
    }
    return 0;
}

static int sec_keytype(const void *s, size_t n, dmsec_boot_keytype_t *type)
{
    for (size_t i = 0; i < N_KEYNAMES; i++) {
        if (ieq(s, n, keynames[i].sec)) {
            *type = keynames[i].type;
            return 1;
        }
    }
    return 0;
}

/* Keeps the first semantic error; syntax errors are returned at once. */
static void note(int *sem, int err)
{
    if (*sem == 0)
        *sem = err;
}

/* ---- text ---------------------------------------------------------------- */

struct cur {
    const unsigned char *s;
    size_t n;
    size_t i;
};

static void skip_ws(struct cur *c)
{
    while (c->i < c->n && is_ws(c->s[c->i]))
        c->i++;
}

static size_t take_token(struct cur *c)
{
    size_t start = c->i;
    while (c->i < c->n && is_tchar(c->s[c->i]))
        c->i++;
    return c->i - start;
}

/* Keytype ";" Digest, after the media type's ';'. */
static int parse_seed(struct cur *c, dmsec_boot_ct_t *ct, int sem)
{
    size_t b[2] = {0, 0};
    size_t e[2] = {0, 0};
    int nf = 0;
    for (;;) {
        size_t j = c->i;
        while (j < c->n && c->s[j] != ';')
            j++;
        size_t fb = c->i;
        size_t fe = j;
        while (fb < fe && is_ws(c->s[fb]))
            fb++;
        while (fe > fb && is_ws(c->s[fe - 1]))
            fe--;
        for (size_t k = fb; k < fe; k++) {
            if (!is_vchar(c->s[k]))
                return DMSEC_ERR_BOOT_CT_SYNTAX;
        }
        if (nf == 2)
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        b[nf] = fb;
        e[nf] = fe;
        nf++;
        if (j == c->n)
            break;
        c->i = j + 1;
    }
    if (sem)
        return sem;
    if (nf < 1 || b[0] == e[0] || nf < 2 || b[1] == e[1])
        return DMSEC_ERR_BOOT_CT_MISSING;
    const unsigned char *kt = c->s + b[0];
    size_t kt_len = e[0] - b[0];
    if (!seed_keytype(kt, kt_len, &ct->keytype)) {
        if (kt_len > DMSEC_BOOT_OTHER_MAX)
            return DMSEC_ERR_BOOT_KEYTYPE;
        ct->keytype = DMSEC_BOOT_KEY_OTHER;
        memcpy(ct->other, kt, kt_len);
        ct->other[kt_len] = '\0';
        ct->other_len = kt_len;
    }
    int rc = dmsec_boot_mac_from_hex((const char *)c->s + b[1], e[1] - b[1], ct->mac);
    if (rc)
        return rc;
    ct->has_mac = 1;
    ct->form = DMSEC_BOOT_CT_SEED;
    return DMSEC_OK;
}

/* A parameter value, token or quoted-string, into val (truncated: *too_long). */
static int take_value(struct cur *c, char *val, size_t *vlen, int *too_long)
{
    *vlen = 0;
    *too_long = 0;
    if (c->i < c->n && c->s[c->i] == '"') {
        c->i++;
        for (;;) {
            if (c->i >= c->n)
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            int ch = c->s[c->i++];
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (c->i >= c->n)
                    return DMSEC_ERR_BOOT_CT_SYNTAX;
                ch = c->s[c->i++];
            }
            if (ch != '\t' && ch != ' ' && !is_vchar(ch))
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            if (*vlen < VALUE_MAX)
                val[(*vlen)++] = (char)ch;
            else
                *too_long = 1;
        }
        return DMSEC_OK;
    }
    size_t start = c->i;
    size_t n = take_token(c);
    if (n == 0)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    *vlen = n < VALUE_MAX ? n : VALUE_MAX;
    *too_long = n > VALUE_MAX;
    memcpy(val, c->s + start, *vlen);
    return DMSEC_OK;
}

/* Applies one SEC value; unknown ones are a key type error. */
static void set_sec(dmsec_boot_ct_t *ct, const char *val, size_t vlen, int too_long, int *sem)
{
    if (too_long || !sec_keytype(val, vlen, &ct->keytype))
        note(sem, DMSEC_ERR_BOOT_KEYTYPE);
}

static void set_mac(dmsec_boot_ct_t *ct, const char *val, size_t vlen, int too_long, int *sem)
{
    if (too_long || dmsec_boot_mac_from_hex(val, vlen, ct->mac) != DMSEC_OK)
        note(sem, DMSEC_ERR_BOOT_MAC_FORMAT);
}

/* What both parameter forms check once every parameter is read. */
static int finish_sec_form(dmsec_boot_ct_t *ct, int seen_sec, int seen_mac, int sem)
{
    if (sem)
        return sem;
    if (!seen_sec)
        return DMSEC_ERR_BOOT_CT_MISSING;
    if (ct->keytype == DMSEC_BOOT_KEY_GBA) {
        if (seen_mac)
            return DMSEC_ERR_BOOT_CT_SYNTAX;
    } else if (!seen_mac) {
        return DMSEC_ERR_BOOT_CT_MISSING;
    }
    ct->has_mac = seen_mac;
    ct->form = DMSEC_BOOT_CT_SEC;
    return DMSEC_OK;
}

/* *(name "=" value) separated by ';', after the media type's ';'. */
static int parse_params(struct cur *c, dmsec_boot_ct_t *ct, int sem)
{
    int seen_sec = 0;
    int seen_mac = 0;
    char val[VALUE_MAX];
    for (;;) {
        skip_ws(c);
        size_t name = c->i;
        size_t name_len = take_token(c);
        if (name_len == 0)
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        skip_ws(c);
        if (c->i >= c->n || c->s[c->i] != '=')
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        c->i++;
        skip_ws(c);
        size_t vlen = 0;
        int too_long = 0;
        int rc = take_value(c, val, &vlen, &too_long);
        if (rc)
            return rc;
        skip_ws(c);
        if (ieq(c->s + name, name_len, "SEC")) {
            if (seen_sec++)
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            set_sec(ct, val, vlen, too_long, &sem);
        } else if (ieq(c->s + name, name_len, "MAC")) {
            if (seen_mac++)
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            set_mac(ct, val, vlen, too_long, &sem);
        }
        if (c->i == c->n)
            break;
        if (c->s[c->i] != ';')
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        c->i++;
    }
    return finish_sec_form(ct, seen_sec, seen_mac, sem);
}

static int parse_text(struct cur *c, dmsec_boot_ct_t *ct)
{
    skip_ws(c);
    size_t m0 = c->i;
    if (take_token(c) == 0 || c->i >= c->n || c->s[c->i] != '/')
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    c->i++;
    if (take_token(c) == 0)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    int sem = ieq(c->s + m0, c->i - m0, media_type) ? 0 : DMSEC_ERR_BOOT_CT_MEDIA;
    skip_ws(c);
    if (c->i == c->n)
        return sem ? sem : DMSEC_ERR_BOOT_CT_MISSING;
    if (c->s[c->i] != ';')
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    c->i++;
    /* The form shows in the first field: a '=' before any ';' makes it a
     * parameter, since a Keytype never holds '='. */
    size_t j = c->i;
    while (j < c->n && c->s[j] != ';' && c->s[j] != '=')
        j++;
    if (j < c->n && c->s[j] == '=')
        return parse_params(c, ct, sem);
    return parse_seed(c, ct, sem);
}

int dmsec_boot_ct_parse(const char *text, size_t len, dmsec_boot_ct_t *ct)
{
    if ((!text && len) || !ct)
        return DMSEC_ERR_INVALID_ARG;
    memset(ct, 0, sizeof *ct);
    struct cur c = {(const unsigned char *)text, len, 0};
    int rc = parse_text(&c, ct);
    if (rc)
        memset(ct, 0, sizeof *ct);
    return rc;
}

/* ---- binary WSP ---------------------------------------------------------- */

/* Reads a uintvar (at most 5 octets, value within 32 bits). */
static int wsp_uintvar(struct cur *c, size_t *v)
{
    uint32_t x = 0;
    for (int k = 0; k < 5; k++) {
        if (c->i >= c->n)
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        uint8_t b = c->s[c->i++];
        if (x > (UINT32_MAX >> 7))
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        x = x << 7 | (b & 0x7f);
        if (!(b & 0x80)) {
            *v = x;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_BOOT_CT_SYNTAX;
}

/* A NUL-terminated text: *start and *len exclude the NUL and, when
 * skip_quote, a leading Quote (0x7F) or '"'. */
static int wsp_text(struct cur *c, int skip_quote, size_t *start, size_t *len)
{
    if (skip_quote && c->i < c->n && (c->s[c->i] == 0x7f || c->s[c->i] == '"'))
        c->i++;
    const unsigned char *nul = memchr(c->s + c->i, 0, c->n - c->i);
    if (!nul)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    *start = c->i;
    *len = (size_t)(nul - (c->s + c->i));
    c->i += *len + 1;
    return DMSEC_OK;
}

/* Integer-value: Short-integer or Long-integer (up to 30 octets). *fits is
 * 0 when the value exceeds 32 bits, so it can match no code. */
static int wsp_integer(struct cur *c, uint32_t *v, int *fits)
{
    *v = 0;
    *fits = 1;
    if (c->i >= c->n)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    uint8_t b = c->s[c->i];
    if (b & 0x80) {
        c->i++;
        *v = b & 0x7f;
        return DMSEC_OK;
    }
    if (b == 0 || b > 30 || c->n - c->i - 1 < b)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    c->i++;
    for (uint8_t k = 0; k < b; k++) {
        if (*v > (UINT32_MAX >> 8))
            *fits = 0;
        *v = *v << 8 | c->s[c->i++];
    }
    return DMSEC_OK;
}

/* Skips any parameter value: short integer, length-prefixed, or text. */
static int wsp_skip_value(struct cur *c)
{
    if (c->i >= c->n)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    uint8_t b = c->s[c->i];
    size_t skip;
    if (b & 0x80) {
        c->i++;
        return DMSEC_OK;
    }
    if (b <= 30) {
        c->i++;
        skip = b;
    } else if (b == 31) {
        c->i++;
        int rc = wsp_uintvar(c, &skip);
        if (rc)
            return rc;
    } else {
        size_t s0;
        size_t l0;
        return wsp_text(c, 1, &s0, &l0);
    }
    if (c->n - c->i < skip)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    c->i += skip;
    return DMSEC_OK;
}

static int wsp_sec_value(struct cur *c, dmsec_boot_ct_t *ct, int *sem)
{
    if (c->i >= c->n)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    uint8_t b = c->s[c->i];
    if (b == 0) { /* No-value */
        c->i++;
        note(sem, DMSEC_ERR_BOOT_KEYTYPE);
        return DMSEC_OK;
    }
    if (b == 31)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    if (b & 0x80 || b <= 30) {
        uint32_t v;
        int fits;
        int rc = wsp_integer(c, &v, &fits);
        if (rc)
            return rc;
        for (size_t i = 0; i < N_KEYNAMES; i++) {
            if (fits && keynames[i].wsp >= 0 && (uint32_t)keynames[i].wsp == v) {
                ct->keytype = keynames[i].type;
                return DMSEC_OK;
            }
        }
        note(sem, DMSEC_ERR_BOOT_KEYTYPE);
        return DMSEC_OK;
    }
    size_t s0;
    size_t l0;
    int rc = wsp_text(c, 1, &s0, &l0);
    if (rc)
        return rc;
    if (!sec_keytype(c->s + s0, l0, &ct->keytype))
        note(sem, DMSEC_ERR_BOOT_KEYTYPE);
    return DMSEC_OK;
}

static int wsp_mac_value(struct cur *c, dmsec_boot_ct_t *ct, int *sem)
{
    if (c->i >= c->n)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    uint8_t b = c->s[c->i];
    if (b & 0x80 || b < 32) { /* an integer or No-value: not a hex MAC */
        note(sem, DMSEC_ERR_BOOT_MAC_FORMAT);
        return wsp_skip_value(c);
    }
    size_t s0;
    size_t l0;
    int rc = wsp_text(c, 1, &s0, &l0);
    if (rc)
        return rc;
    if (dmsec_boot_mac_from_hex((const char *)c->s + s0, l0, ct->mac) != DMSEC_OK)
        note(sem, DMSEC_ERR_BOOT_MAC_FORMAT);
    return DMSEC_OK;
}

/* Media-type and parameters within c (bounded by the Value-length). */
static int wsp_general(struct cur *c, dmsec_boot_ct_t *ct)
{
    int sem = 0;
    if (c->i >= c->n)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    uint8_t b = c->s[c->i];
    if (b == 31)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    if (b & 0x80 || b <= 30) {
        uint32_t v;
        int fits;
        int rc = wsp_integer(c, &v, &fits);
        if (rc)
            return rc;
        if (!fits || v != (DMSEC_BOOT_WSP_MEDIA & 0x7f))
            sem = DMSEC_ERR_BOOT_CT_MEDIA;
    } else {
        size_t s0;
        size_t l0;
        int rc = wsp_text(c, 0, &s0, &l0);
        if (rc)
            return rc;
        if (!ieq(c->s + s0, l0, media_type))
            sem = DMSEC_ERR_BOOT_CT_MEDIA;
    }
    int seen_sec = 0;
    int seen_mac = 0;
    while (c->i < c->n) {
        b = c->s[c->i];
        int is_sec;
        int is_mac;
        if (b == 31)
            return DMSEC_ERR_BOOT_CT_SYNTAX;
        if (b & 0x80 || b <= 30) {
            uint32_t code;
            int fits;
            int rc = wsp_integer(c, &code, &fits);
            if (rc)
                return rc;
            is_sec = fits && code == (DMSEC_BOOT_WSP_PARAM_SEC & 0x7f);
            is_mac = fits && code == (DMSEC_BOOT_WSP_PARAM_MAC & 0x7f);
        } else {
            size_t s0;
            size_t l0;
            int rc = wsp_text(c, 0, &s0, &l0);
            if (rc)
                return rc;
            is_sec = ieq(c->s + s0, l0, "SEC");
            is_mac = ieq(c->s + s0, l0, "MAC");
        }
        int rc;
        if (is_sec) {
            if (seen_sec++)
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            rc = wsp_sec_value(c, ct, &sem);
        } else if (is_mac) {
            if (seen_mac++)
                return DMSEC_ERR_BOOT_CT_SYNTAX;
            rc = wsp_mac_value(c, ct, &sem);
        } else {
            rc = wsp_skip_value(c);
        }
        if (rc)
            return rc;
    }
    return finish_sec_form(ct, seen_sec, seen_mac, sem);
}

static int parse_wsp(const uint8_t *buf, size_t len, dmsec_boot_ct_t *ct, size_t *used)
{
    if (len == 0)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    struct cur c = {buf, len, 0};
    uint8_t b = buf[0];
    if (b & 0x80) { /* Constrained-media, well-known: no parameters */
        *used = 1;
        return b == DMSEC_BOOT_WSP_MEDIA ? DMSEC_ERR_BOOT_CT_MISSING : DMSEC_ERR_BOOT_CT_MEDIA;
    }
    if (b >= 32) { /* Constrained-media, extension text */
        size_t s0;
        size_t l0;
        int rc = wsp_text(&c, 0, &s0, &l0);
        if (rc)
            return rc;
        *used = c.i;
        return ieq(buf + s0, l0, media_type) ? DMSEC_ERR_BOOT_CT_MISSING : DMSEC_ERR_BOOT_CT_MEDIA;
    }
    size_t vlen;
    if (b <= 30) {
        c.i = 1;
        vlen = b;
    } else {
        c.i = 1;
        int rc = wsp_uintvar(&c, &vlen);
        if (rc)
            return rc;
    }
    if (len - c.i < vlen)
        return DMSEC_ERR_BOOT_CT_SYNTAX;
    /* Everything after the Value-length's end belongs to the next header. */
    c.n = c.i + vlen;
    *used = c.n;
    return wsp_general(&c, ct);
}

int dmsec_boot_ct_parse_wsp(const uint8_t *buf, size_t len, dmsec_boot_ct_t *ct, size_t *used)
{
    if ((!buf && len) || !ct)
        return DMSEC_ERR_INVALID_ARG;
    memset(ct, 0, sizeof *ct);
    size_t n = 0;
    int rc = parse_wsp(buf, len, ct, &n);
    if (rc)
        memset(ct, 0, sizeof *ct);
    if (used)
        *used = rc ? 0 : n;
    return rc;
}

/* ---- formatting ---------------------------------------------------------- */

struct sink {
    uint8_t *p;
    size_t cap;
    size_t n;
};

static void put(struct sink *o, const void *s, size_t n)
{
    if (o->n <= o->cap && o->cap - o->n >= n)
        memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void put_str(struct sink *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putb(struct sink *o, uint8_t b)
{
    put(o, &b, 1);
}

/* A name the seed form can carry back as the same Other_Key. */
static int valid_other(const dmsec_boot_ct_t *ct)
{
    if (ct->other_len == 0 || ct->other_len > DMSEC_BOOT_OTHER_MAX)
        return 0;
    for (size_t i = 0; i < ct->other_len; i++) {
        int ch = (unsigned char)ct->other[i];
        if (!is_vchar(ch) || ch == ';' || ch == '=')
            return 0;
    }
    dmsec_boot_keytype_t t;
    return !seed_keytype(ct->other, ct->other_len, &t);
}

/* Checks that the key type and MAC fit a parameter (SEC) form. */
static int check_sec_form(const dmsec_boot_ct_t *ct)
{
    const struct keyname *k = keyname_of(ct->keytype);
    if (!k)
        return DMSEC_ERR_BOOT_KEYTYPE;
    if (ct->keytype == DMSEC_BOOT_KEY_GBA)
        return ct->has_mac ? DMSEC_ERR_BOOT_CT_SYNTAX : DMSEC_OK;
    return ct->has_mac ? DMSEC_OK : DMSEC_ERR_BOOT_CT_MISSING;
}

static void put_mac_hex(struct sink *o, const uint8_t mac[DMSEC_BOOT_MAC_LEN])
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < DMSEC_BOOT_MAC_LEN; i++) {
        putb(o, (uint8_t)digits[mac[i] >> 4]);
        putb(o, (uint8_t)digits[mac[i] & 15]);
    }
}

int dmsec_boot_ct_format(const dmsec_boot_ct_t *ct, char *out, size_t cap, size_t *out_len)
{
    if (!ct || !out)
        return DMSEC_ERR_INVALID_ARG;
    struct sink o = {(uint8_t *)out, cap, 0};
    put_str(&o, media_type);
    if (ct->form == DMSEC_BOOT_CT_SEED) {
        if (ct->keytype == DMSEC_BOOT_KEY_OTHER) {
            if (!valid_other(ct))
                return DMSEC_ERR_BOOT_KEYTYPE;
        } else if (ct->keytype != DMSEC_BOOT_KEY_NETWORKID &&
                   ct->keytype != DMSEC_BOOT_KEY_USERPIN &&
                   ct->keytype != DMSEC_BOOT_KEY_USERPIN_NETWORKID) {
            return DMSEC_ERR_BOOT_KEYTYPE;
        }
        if (!ct->has_mac)
            return DMSEC_ERR_BOOT_CT_MISSING;
        putb(&o, ';');
        if (ct->keytype == DMSEC_BOOT_KEY_OTHER)
            put(&o, ct->other, ct->other_len);
        else
            put_str(&o, dmsec_boot_keytype_name(ct->keytype));
        putb(&o, ';');
        put_mac_hex(&o, ct->mac);
    } else if (ct->form == DMSEC_BOOT_CT_SEC) {
        int rc = check_sec_form(ct);
        if (rc)
            return rc;
        put_str(&o, "; SEC=");
        put_str(&o, dmsec_boot_keytype_sec_name(ct->keytype));
        if (ct->has_mac) {
            put_str(&o, "; MAC=");
            put_mac_hex(&o, ct->mac);
        }
    } else {
        return DMSEC_ERR_INVALID_ARG;
    }
    if (o.n >= cap)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    out[o.n] = '\0';
    if (out_len)
        *out_len = o.n;
    return DMSEC_OK;
}

int dmsec_boot_ct_format_wsp(const dmsec_boot_ct_t *ct, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!ct || !out)
        return DMSEC_ERR_INVALID_ARG;
    int rc = check_sec_form(ct);
    if (rc)
        return rc;
    const struct keyname *k = keyname_of(ct->keytype);
    uint8_t body[DMSEC_BOOT_CT_WSP_MAX];
    struct sink o = {body, sizeof body, 0};
    putb(&o, DMSEC_BOOT_WSP_MEDIA);
    putb(&o, DMSEC_BOOT_WSP_PARAM_SEC);
    if (k->wsp >= 0) {
        putb(&o, (uint8_t)(0x80 | k->wsp));
    } else {
        put_str(&o, k->sec);
        putb(&o, 0);
    }
    if (ct->has_mac) {
        putb(&o, DMSEC_BOOT_WSP_PARAM_MAC);
        put_mac_hex(&o, ct->mac);
        putb(&o, 0);
    }
    /* The body is under 128 octets: a one-octet uintvar when over 30. */
    size_t hdr = o.n <= 30 ? 1 : 2;
    if (cap < hdr + o.n)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    if (hdr == 1) {
        out[0] = (uint8_t)o.n;
    } else {
        out[0] = 31;
        out[1] = (uint8_t)o.n;
    }
    memcpy(out + hdr, body, o.n);
    if (out_len)
        *out_len = hdr + o.n;
    return DMSEC_OK;
}
