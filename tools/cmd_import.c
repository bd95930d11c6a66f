/* dmsec device import --csv F: many devices in one transaction.
 *
 * The CSV's header row names its columns (any order; device_id required):
 * device_id, client_name (default: the device id), scheme (default:
 * --scheme), server_scheme, client_secret, server_secret, notify,
 * cert_subject, srvcred_path, client_nonce_hex, server_nonce_hex (for
 * devices provisioned in advance; fresh ones when empty). Fields may be
 * quoted ("a,b", "" for a quote). Each device is built by the rules of
 * device add (tool_device_fields, tool_device_keys); a secret left empty
 * is generated and written with its device id to --secrets-out FILE, a new
 * file of mode 0600, made durable before the store commits, so that no
 * device is stored with a secret nobody has.
 *
 * Every row is checked before the store is opened; a bad row is named by
 * its line and column and nothing is imported, unless --skip-bad (then
 * bad rows are listed on stderr and the rest imported). A device id
 * already in the store is a bad row. One transaction for all; each row in
 * its own savepoint. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "tool.h"

enum col {
    C_DEVICE_ID,
    C_CLIENT_NAME,
    C_SCHEME,
    C_SERVER_SCHEME,
    C_CLIENT_SECRET,
    C_SERVER_SECRET,
    C_NOTIFY,
    C_CERT_SUBJECT,
    C_SRVCRED_PATH,
    C_CLIENT_NONCE,
    C_SERVER_NONCE,
    C_COUNT
};

static const char *const col_names[C_COUNT] = {
    "device_id",     "client_name",      "scheme",          "server_scheme",
    "client_secret", "server_secret",    "notify",          "cert_subject",
    "srvcred_path",  "client_nonce_hex", "server_nonce_hex"};

#define MAX_FIELDS 32

/* One record of the CSV: its fields point into the (unescaped in place)
 * file buffer. */
struct record {
    int line; /* where the record starts */
    int n;
    char *f[MAX_FIELDS];
};

/* The next record from *p (NUL-terminated mutable text): 1 with r
 * filled, 0 at the end, -1 after writing why (an open quote, too many
 * fields). Blank lines are skipped; *line counts physical lines. */
static int next_record(char **p, int *line, struct record *r, char *why, size_t cap)
{
    char *s = *p;
    while (*s == '\n' || *s == '\r') {
        if (*s == '\n')
            (*line)++;
        s++;
    }
    if (!*s) {
        *p = s;
        return 0;
    }
    r->line = *line;
    r->n = 0;
    for (;;) {
        if (r->n == MAX_FIELDS) {
            snprintf(why, cap, "more than %d fields", MAX_FIELDS);
            return -1;
        }
        char *out = s;
        r->f[r->n++] = out;
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) {
                    snprintf(why, cap, "a quoted field is not closed");
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
                snprintf(why, cap, "text after a closing quote in field %d", r->n);
                return -1;
            }
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r') {
                if (*s == '"') {
                    snprintf(why, cap, "a quote inside unquoted field %d (quote the field)", r->n);
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

/* A row checked: its text (pointing into the file's buffer), from which
 * its device is built again when it is imported (a device record is some
 * kilobytes; a row's text a few dozen bytes). */
struct row {
    int line;
    tool_device_in_t in;
    const char *client_nonce_hex;
    const char *server_nonce_hex;
    const char *client_secret; /* NULL: to generate */
    const char *server_secret;
};

struct import {
    const char *csv;
    const char *scheme; /* --scheme, the default */
    int skip_bad;
    int col[C_COUNT]; /* the field of each column, -1 when absent */
    int ncols;
    struct row *rows;
    size_t n;
    size_t bad;
};

static void bad_row(struct import *im, int line, const char *column, const char *why)
{
    im->bad++;
    if (column)
        tool_error("%s line %d, column %s: %s", im->csv, line, column, why);
    else
        tool_error("%s line %d: %s", im->csv, line, why);
}

static int read_header(struct import *im, const struct record *r)
{
    for (int c = 0; c < C_COUNT; c++)
        im->col[c] = -1;
    im->ncols = r->n;
    for (int i = 0; i < r->n; i++) {
        int found = -1;
        for (int c = 0; c < C_COUNT; c++) {
            if (!strcmp(r->f[i], col_names[c]))
                found = c;
        }
        if (found < 0) {
            tool_error("%s line %d: unknown column '%s' (known: device_id, client_name, scheme, "
                       "server_scheme, client_secret, server_secret, notify, cert_subject, "
                       "srvcred_path, client_nonce_hex, server_nonce_hex)",
                       im->csv, r->line, r->f[i]);
            return TOOL_EXIT_FAIL;
        }
        if (im->col[found] >= 0) {
            tool_error("%s line %d: column %s twice", im->csv, r->line, r->f[i]);
            return TOOL_EXIT_FAIL;
        }
        im->col[found] = i;
    }
    if (im->col[C_DEVICE_ID] < 0) {
        tool_error("%s line %d: no device_id column in the header", im->csv, r->line);
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* The value of column c in r, NULL when the column is absent or empty. */
static const char *field(const struct import *im, const struct record *r, int c)
{
    int i = im->col[c];
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

/* The device of a row, secrets aside: 0, or -1 with *bad the column and
 * why what is wrong with it. */
static int row_device(const struct row *row, dmsec_device_t *d, const char **bad, char *why,
                      size_t cap)
{
    memset(d, 0, sizeof *d);
    if (!row->in.scheme) {
        *bad = "scheme";
        snprintf(why, cap, "empty, and no --scheme to take instead");
        return -1;
    }
    if (tool_device_fields(&row->in, d, bad, why, cap))
        return -1;
    *bad = "client_nonce_hex";
    if (nonce_of(row->client_nonce_hex, d->client_nonce, &d->client_nonce_len)) {
        snprintf(why, cap, "takes 1 to %d bytes as hex digits", DMSEC_NONCE_MAX);
        return -1;
    }
    *bad = "server_nonce_hex";
    if (nonce_of(row->server_nonce_hex, d->server_nonce, &d->server_nonce_len)) {
        snprintf(why, cap, "takes 1 to %d bytes as hex digits", DMSEC_NONCE_MAX);
        return -1;
    }
    return 0;
}

/* Checks one record into row: 0, or -1 after reporting it as bad. */
static int build_row(struct import *im, const struct record *r, int can_generate, struct row *row)
{
    char why[160];
    memset(row, 0, sizeof *row);
    row->line = r->line;
    if (r->n != im->ncols) {
        snprintf(why, sizeof why, "%d fields, the header has %d", r->n, im->ncols);
        bad_row(im, r->line, NULL, why);
        return -1;
    }
    const char *id = field(im, r, C_DEVICE_ID);
    const char *name = field(im, r, C_CLIENT_NAME);
    const char *scheme = field(im, r, C_SCHEME);
    const tool_device_in_t in = {id,
                                 name ? name : id,
                                 scheme ? scheme : im->scheme,
                                 field(im, r, C_SERVER_SCHEME),
                                 field(im, r, C_NOTIFY),
                                 field(im, r, C_CERT_SUBJECT),
                                 field(im, r, C_SRVCRED_PATH)};
    row->in = in;
    row->client_nonce_hex = field(im, r, C_CLIENT_NONCE);
    row->server_nonce_hex = field(im, r, C_SERVER_NONCE);
    row->client_secret = field(im, r, C_CLIENT_SECRET);
    row->server_secret = field(im, r, C_SERVER_SECRET);
    const char *bad = NULL;
    dmsec_device_t d;
    int rc = row_device(row, &d, &bad, why, sizeof why);
    memset(&d, 0, sizeof d);
    if (rc) {
        bad_row(im, r->line, bad, why);
        return -1;
    }
    if ((!row->client_secret || !row->server_secret) && !can_generate) {
        bad_row(im, r->line, row->client_secret ? "server_secret" : "client_secret",
                "empty: give --secrets-out FILE to have it generated");
        return -1;
    }
    /* The given ones checked now; generated ones are always good. */
    if (tool_secret_check(row->client_secret ? row->client_secret : "x",
                          row->server_secret ? row->server_secret : "x", &bad)) {
        snprintf(why, sizeof why, "takes 1 to %d bytes", DMSEC_SECRET_MAX);
        bad_row(im, r->line, bad, why);
        return -1;
    }
    return 0;
}

/* Every record of the CSV (text, mutable) checked into im->rows. 0, or
 * TOOL_EXIT_FAIL when the file cannot be read as CSV or (without
 * --skip-bad) a row is bad. */
static int read_rows(struct import *im, char *text, int can_generate)
{
    char why[96];
    char *p = text;
    if (!strncmp(p, "\xEF\xBB\xBF", 3))
        p += 3; /* a UTF-8 byte order mark, as spreadsheets write */
    int line = 1;
    struct record r;
    int got = next_record(&p, &line, &r, why, sizeof why);
    if (got <= 0) {
        if (got < 0)
            tool_error("%s line %d: %s", im->csv, r.line, why);
        else
            tool_error("%s: empty, no header row", im->csv);
        return TOOL_EXIT_FAIL;
    }
    if (read_header(im, &r))
        return TOOL_EXIT_FAIL;
    if (!can_generate && (im->col[C_CLIENT_SECRET] < 0 || im->col[C_SERVER_SECRET] < 0)) {
        tool_error("%s has no %s column: give --secrets-out FILE to have the secrets generated",
                   im->csv, im->col[C_CLIENT_SECRET] < 0 ? "client_secret" : "server_secret");
        return TOOL_EXIT_USAGE;
    }
    size_t cap = 0;
    for (;;) {
        got = next_record(&p, &line, &r, why, sizeof why);
        if (got == 0)
            break;
        if (got < 0) {
            /* The rest of the file cannot be read reliably. */
            bad_row(im, r.line, NULL, why);
            return TOOL_EXIT_FAIL;
        }
        if (im->n == cap) {
            cap = cap ? 2 * cap : 1024;
            struct row *grown = realloc(im->rows, cap * sizeof *grown);
            if (!grown) {
                tool_error("out of memory");
                return TOOL_EXIT_FAIL;
            }
            im->rows = grown;
        }
        if (build_row(im, &r, can_generate, &im->rows[im->n]) == 0)
            im->n++;
        else if (!im->skip_bad)
            return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* --secrets-out: a new file (never an existing one), mode 0600. */
static FILE *secrets_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            tool_error("%s exists: --secrets-out takes a new file", path);
        else
            tool_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        tool_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    fputs("device_id,client_name,client_secret,server_secret\n", f);
    return f;
}

/* Written, flushed and on disk: 0, or TOOL_EXIT_FAIL after saying why. */
static int secrets_close(FILE *f, const char *path)
{
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad) {
        tool_error("%s: could not write the secrets", path);
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* Why the store refused a device that exists already. */
static void exists_why(dmsec_store_t *st, const dmsec_device_t *d, char *why, size_t cap)
{
    dmsec_device_t other;
    if (dmsec_store_device_get_any(st, d->device_id, &other, NULL) == 0)
        snprintf(why, cap, "device '%s' is already in %s", d->device_id, tool_store_name());
    else
        snprintf(why, cap, "another device in %s has that certificate subject", tool_store_name());
    memset(&other, 0, sizeof other);
}

/* One row into the open transaction, in its own savepoint: 0, 1 when the
 * store refused it as a bad row (reported), 2 when no randomness (said),
 * or a negative store error. */
static int import_row(struct import *im, dmsec_store_t *st, struct row *row, const char *server_id,
                      FILE *secrets)
{
    char cs[TOOL_SECRET_LEN + 1] = "";
    char ss[TOOL_SECRET_LEN + 1] = "";
    dmsec_device_t d;
    const char *bad = NULL;
    char why[200];
    int err = row_device(row, &d, &bad, why, sizeof why) ? 2 : 0; /* checked already */
    if (!err && ((!row->client_secret && tool_secret_new(cs)) ||
                 (!row->server_secret && tool_secret_new(ss))))
        err = 2;
    if (!err && tool_device_keys(&d, row->client_secret ? row->client_secret : cs,
                                 row->server_secret ? row->server_secret : ss, server_id))
        err = 2;
    if (!err)
        err = dmsec_store_begin(st); /* a savepoint */
    if (!err) {
        err = dmsec_store_device_add(st, &d);
        if (!err) {
            char detail[160];
            snprintf(detail, sizeof detail, "scheme %s, imported from %s", row->in.scheme, im->csv);
            err = tool_audit_change(st, d.device_id, "device_added", detail);
        }
        if (err)
            dmsec_store_rollback(st);
        else
            err = dmsec_store_commit(st);
    }
    if (err == DMSEC_ERR_STORE_EXISTS) {
        exists_why(st, &d, why, sizeof why);
        bad_row(im, row->line, "device_id", why);
        err = 1;
    }
    if (!err && secrets && (cs[0] || ss[0])) {
        csv_field(secrets, d.device_id);
        fputc(',', secrets);
        csv_field(secrets, d.client_name);
        fputc(',', secrets);
        csv_field(secrets, cs);
        fputc(',', secrets);
        csv_field(secrets, ss);
        fputc('\n', secrets);
    }
    memset(cs, 0, sizeof cs);
    memset(ss, 0, sizeof ss);
    memset(&d, 0, sizeof d);
    return err;
}

/* Every row in one transaction. 0 or a TOOL_EXIT_* code (said). */
static int import_all(struct import *im, dmsec_store_t *st, const char *server_id, FILE *secrets,
                      size_t *imported)
{
    int err = dmsec_store_begin(st);
    if (err)
        return tool_fail("device import", err);
    struct tool_progress p;
    tool_progress_start(&p, "import", im->n);
    int rc = 0;
    for (size_t i = 0; i < im->n && !rc; i++) {
        err = import_row(im, st, &im->rows[i], server_id, secrets);
        if (err == 0)
            (*imported)++;
        else if (err < 0)
            rc = tool_fail("device import", err);
        else if (err == 2 || !im->skip_bad) /* no randomness; a bad row */
            rc = TOOL_EXIT_FAIL;
        tool_progress_step(&p);
    }
    if (p.tty && p.done != p.total)
        fputc('\n', stderr);
    if (rc) {
        dmsec_store_rollback(st);
        return rc;
    }
    return 0;
}

int cmd_device_import(int argc, char **argv)
{
    static const char *const known[] = {"db", "csv", "secrets-out", "scheme", "server-id", NULL};
    static const char *const flags[] = {"skip-bad", "json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    struct import im;
    memset(&im, 0, sizeof im);
    im.csv = opt_need(&o, "csv");
    if (!im.csv || !opt_need(&o, "db"))
        return TOOL_EXIT_USAGE;
    im.scheme = opt_get(&o, "scheme");
    im.skip_bad = opt_flag(&o, "skip-bad");
    const char *secrets_path = opt_get(&o, "secrets-out");
    if (secrets_path && access(secrets_path, F_OK) == 0) {
        tool_error("%s exists: --secrets-out takes a new file", secrets_path);
        return TOOL_EXIT_FAIL;
    }
    size_t len = 0;
    uint8_t *buf = read_file(im.csv, &len);
    if (!buf)
        return TOOL_EXIT_FAIL;
    char *text = malloc(len + 1);
    if (!text) {
        free(buf);
        tool_error("out of memory");
        return TOOL_EXIT_FAIL;
    }
    memcpy(text, buf, len);
    text[len] = '\0';
    memset(buf, 0, len);
    free(buf);
    int rc = memchr(text, '\0', len)
                 ? (tool_error("%s: not text (a NUL byte)", im.csv), TOOL_EXIT_FAIL)
                 : read_rows(&im, text, secrets_path != NULL);
    /* Nothing touched yet: a bad file leaves no store and no secrets file. */
    dmsec_store_t *st = NULL;
    char server_id[DMSEC_NAME_MAX] = "";
    if (!rc) {
        st = tool_store_open(&o);
        rc = st ? tool_server_id(st, opt_get(&o, "server-id"), server_id, sizeof server_id)
                : TOOL_EXIT_FAIL;
    }
    FILE *secrets = NULL;
    if (!rc && secrets_path) {
        secrets = secrets_create(secrets_path);
        if (!secrets)
            rc = TOOL_EXIT_FAIL;
    }
    size_t imported = 0;
    if (!rc)
        rc = import_all(&im, st, server_id, secrets, &imported);
    /* The secrets on disk before the devices are committed: a device is
     * never stored with a secret nobody has. */
    if (secrets && secrets_close(secrets, secrets_path) && !rc) {
        dmsec_store_rollback(st);
        rc = TOOL_EXIT_FAIL;
    }
    if (!rc) {
        int err = dmsec_store_commit(st);
        if (!err)
            err = dmsec_store_sync(st);
        if (err)
            rc = tool_fail("device import: commit", err);
    }
    if (rc && secrets)
        unlink(secrets_path);
    dmsec_store_close(st);
    if (!rc) {
        size_t skipped = im.bad;
        if (opt_flag(&o, "json")) {
            printf("{\"imported\":%zu,\"skipped\":%zu,\"server_id\":", imported, skipped);
            json_str(server_id);
            printf(",\"secrets_out\":");
            if (secrets_path)
                json_str(secrets_path);
            else
                printf("null");
            printf("}\n");
        } else {
            printf("imported %zu, skipped %zu\n", imported, skipped);
        }
    } else if (im.n || im.bad) {
        tool_error("nothing imported");
    }
    free(im.rows);
    memset(text, 0, len);
    free(text);
    return rc;
}
