/* The CSV of dmsec device import: records, the header, rows checked
 * (import_parse.h). No store, no output: the fuzz harness links it. */
#include <stdio.h>
#include <string.h>

#include "dmsec/encoding.h"
#include "dmsec/store.h"
#include "import_parse.h"

static const char *const col_names[IMPORT_COL_COUNT] = {
    "device_id",     "client_name",      "scheme",          "server_scheme",
    "client_secret", "server_secret",    "notify",          "cert_subject",
    "srvcred_path",  "client_nonce_hex", "server_nonce_hex"};

/* One record of the CSV: its fields point into the (unescaped in place)
 * text. */
struct record {
    int line; /* where the record starts */
    int n;
    char *f[IMPORT_MAX_FIELDS];
};

#define WHY(e, ...) snprintf((e)->why, sizeof(e)->why, __VA_ARGS__)

/* The next record from *p (NUL-terminated mutable text): 1 with r
 * filled, 0 at the end, -1 with e set (an open quote, too many fields,
 * a stray quote). Blank lines are skipped; *line counts physical lines. */
static int next_record(char **p, int *line, struct record *r, import_err_t *e)
{
    char *s = *p;
    while (*s == '\n' || *s == '\r') {
        if (*s == '\n')
            (*line)++;
        s++;
    }
    r->line = *line;
    r->n = 0;
    e->line = *line;
    e->column = NULL;
    if (!*s) {
        *p = s;
        return 0;
    }
    for (;;) {
        if (r->n == IMPORT_MAX_FIELDS) {
            WHY(e, "more than %d fields", IMPORT_MAX_FIELDS);
            return -1;
        }
        char *out = s;
        r->f[r->n++] = out;
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) {
                    WHY(e, "a quoted field is not closed");
                    return -1;
                }
                if (*s == '"' && s[1] == '"') {
                    *out++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (*s == '\n')
                        (*line)++;
                    *out++ = *s++;
                }
            }
            if (*s && *s != ',' && *s != '\n' && *s != '\r') {
                WHY(e, "text after a closing quote in field %d", r->n);
                return -1;
            }
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r') {
                if (*s == '"') {
                    WHY(e, "a quote inside unquoted field %d (quote the field)", r->n);
                    return -1;
                }
                *out++ = *s++;
            }
        }
        char sep = *s;
        *out = '\0';
        if (sep == ',') {
            s++;
            continue;
        }
        /* *s may be the NUL just written: go by sep. */
        if (sep == '\r' && s[1] == '\n')
            s++;
        if (sep == '\r' || sep == '\n') {
            (*line)++;
            s++;
        }
        break;
    }
    *p = s;
    return 1;
}

static int read_header(import_csv_t *c, const struct record *r, import_err_t *e)
{
    for (int k = 0; k < IMPORT_COL_COUNT; k++)
        c->col[k] = -1;
    c->ncols = r->n;
    e->line = r->line;
    e->column = NULL;
    for (int i = 0; i < r->n; i++) {
        int found = -1;
        for (int k = 0; k < IMPORT_COL_COUNT; k++) {
            if (!strcmp(r->f[i], col_names[k]))
                found = k;
        }
        if (found < 0) {
            WHY(e,
                "unknown column '%.64s' (known: device_id, client_name, scheme, server_scheme, "
                "client_secret, server_secret, notify, cert_subject, srvcred_path, "
                "client_nonce_hex, server_nonce_hex)",
                r->f[i]);
            return TOOL_EXIT_FAIL;
        }
        if (c->col[found] >= 0) {
            WHY(e, "column %s twice", col_names[found]);
            return TOOL_EXIT_FAIL;
        }
        c->col[found] = i;
    }
    if (c->col[IMPORT_DEVICE_ID] < 0) {
        WHY(e, "no device_id column in the header");
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

int import_csv_start(import_csv_t *c, char *text, const char *scheme, int can_generate,
                     import_err_t *e)
{
    memset(c, 0, sizeof *c);
    memset(e, 0, sizeof *e);
    c->scheme = scheme;
    c->can_generate = can_generate;
    c->p = text;
    c->line = 1;
    if (!strncmp(c->p, "\xEF\xBB\xBF", 3))
        c->p += 3; /* a UTF-8 byte order mark, as spreadsheets write */
    struct record r;
    int got = next_record(&c->p, &c->line, &r, e);
    if (got <= 0) {
        if (got == 0) {
            e->line = 0;
            WHY(e, "empty, no header row");
        }
        return TOOL_EXIT_FAIL;
    }
    if (read_header(c, &r, e))
        return TOOL_EXIT_FAIL;
    if (!can_generate && (c->col[IMPORT_CLIENT_SECRET] < 0 || c->col[IMPORT_SERVER_SECRET] < 0)) {
        e->line = 0;
        WHY(e, "no %s column: give --secrets-out FILE to have the secrets generated",
            c->col[IMPORT_CLIENT_SECRET] < 0 ? "client_secret" : "server_secret");
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

/* The value of column k in r, NULL when the column is absent or empty. */
static const char *field(const import_csv_t *c, const struct record *r, int k)
{
    int i = c->col[k];
    return i >= 0 && r->f[i][0] ? r->f[i] : NULL;
}

static int nonce_of(const char *hex, uint8_t *out, size_t *len)
{
    if (!hex)
        return 0;
    size_t n = 0;
    if (dmsec_hex_decode(hex, strlen(hex), out, DMSEC_NONCE_MAX, &n) || n == 0)
        return -1;
    *len = n;
    return 0;
}

int import_row_device(const import_row_t *row, dmsec_device_t *d, import_err_t *e)
{
    memset(d, 0, sizeof *d);
    e->line = row->line;
    if (!row->in.scheme) {
        e->column = "scheme";
        WHY(e, "empty, and no --scheme to take instead");
        return -1;
    }
    if (tool_device_fields(&row->in, d, &e->column, e->why, sizeof e->why))
        return -1;
    e->column = "client_nonce_hex";
    if (nonce_of(row->client_nonce_hex, d->client_nonce, &d->client_nonce_len)) {
        WHY(e, "takes 1 to %d bytes as hex digits", DMSEC_NONCE_MAX);
        return -1;
    }
    e->column = "server_nonce_hex";
    if (nonce_of(row->server_nonce_hex, d->server_nonce, &d->server_nonce_len)) {
        WHY(e, "takes 1 to %d bytes as hex digits", DMSEC_NONCE_MAX);
        return -1;
    }
    e->column = NULL;
    return 0;
}

/* Checks one record into row: 1, or IMPORT_BAD with e set. */
static int build_row(const import_csv_t *c, const struct record *r, import_row_t *row,
                     import_err_t *e)
{
    memset(row, 0, sizeof *row);
    row->line = r->line;
    e->line = r->line;
    e->column = NULL;
    if (r->n != c->ncols) {
        WHY(e, "%d fields, the header has %d", r->n, c->ncols);
        return IMPORT_BAD;
    }
    const char *id = field(c, r, IMPORT_DEVICE_ID);
    const char *name = field(c, r, IMPORT_CLIENT_NAME);
    const char *scheme = field(c, r, IMPORT_SCHEME);
    const tool_device_in_t in = {id,
                                 name ? name : id,
                                 scheme ? scheme : c->scheme,
                                 field(c, r, IMPORT_SERVER_SCHEME),
                                 field(c, r, IMPORT_NOTIFY),
                                 field(c, r, IMPORT_CERT_SUBJECT),
                                 field(c, r, IMPORT_SRVCRED_PATH)};
    row->in = in;
    row->client_nonce_hex = field(c, r, IMPORT_CLIENT_NONCE);
    row->server_nonce_hex = field(c, r, IMPORT_SERVER_NONCE);
    row->client_secret = field(c, r, IMPORT_CLIENT_SECRET);
    row->server_secret = field(c, r, IMPORT_SERVER_SECRET);
    dmsec_device_t d;
    int rc = import_row_device(row, &d, e);
    memset(&d, 0, sizeof d);
    if (rc)
        return IMPORT_BAD;
    if ((!row->client_secret || !row->server_secret) && !c->can_generate) {
        e->column = row->client_secret ? "server_secret" : "client_secret";
        WHY(e, "empty: give --secrets-out FILE to have it generated");
        return IMPORT_BAD;
    }
    /* The given ones checked now; generated ones are always good. */
    if (tool_secret_check(row->client_secret ? row->client_secret : "x",
                          row->server_secret ? row->server_secret : "x", &e->column)) {
        WHY(e, "takes 1 to %d bytes", DMSEC_SECRET_MAX);
        return IMPORT_BAD;
    }
    return 1;
}

int import_csv_next(import_csv_t *c, import_row_t *row, import_err_t *e)
{
    struct record r;
    int got = next_record(&c->p, &c->line, &r, e);
    if (got < 0) {
        /* The rest of the file cannot be read reliably: stay there. */
        c->p += strlen(c->p);
        return IMPORT_STOP;
    }
    if (got == 0)
        return 0;
    return build_row(c, &r, row, e);
}
