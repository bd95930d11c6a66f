/* dmsec device import --csv F: many devices in one transaction.
 *
 * The CSV's header row names its columns (any order; device_id required):
 * device_id, client_name (default: the device id), scheme (default:
 * --scheme), server_scheme, client_secret, server_secret, notify,
 * cert_subject, srvcred_path, client_nonce_hex, server_nonce_hex (for
 * devices provisioned in advance; fresh ones when empty). Fields may be
 * quoted ("a,b", "" for a quote); the file is read and its rows checked
 * by import_parse.c (fuzzed on its own). Each device is built by the rules of
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
#include "import_parse.h"
#include "tool.h"

struct import {
    const char *csv;
    int skip_bad;
    import_row_t *rows;
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

/* Every record of the CSV (text, mutable) checked into im->rows. 0, or
 * TOOL_EXIT_FAIL / TOOL_EXIT_USAGE when the file cannot be read as CSV,
 * its header is bad or (without --skip-bad) a row is bad. */
static int read_rows(struct import *im, char *text, const char *scheme, int can_generate)
{
    import_csv_t c;
    import_err_t e;
    int rc = import_csv_start(&c, text, scheme, can_generate, &e);
    if (rc) {
        if (e.line)
            tool_error("%s line %d: %s", im->csv, e.line, e.why);
        else
            tool_error("%s: %s", im->csv, e.why);
        return rc;
    }
    size_t cap = 0;
    for (;;) {
        if (im->n == cap) {
            cap = cap ? 2 * cap : 1024;
            import_row_t *grown = realloc(im->rows, cap * sizeof *grown);
            if (!grown) {
                tool_error("out of memory");
                return TOOL_EXIT_FAIL;
            }
            im->rows = grown;
        }
        int got = import_csv_next(&c, &im->rows[im->n], &e);
        if (got == 0)
            break;
        if (got == 1) {
            im->n++;
            continue;
        }
        bad_row(im, e.line, e.column, e.why);
        /* After IMPORT_STOP the rest of the file cannot be read reliably. */
        if (got == IMPORT_STOP || !im->skip_bad)
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
static int import_row(struct import *im, dmsec_store_t *st, const import_row_t *row,
                      const char *server_id, FILE *secrets)
{
    char cs[TOOL_SECRET_LEN + 1] = "";
    char ss[TOOL_SECRET_LEN + 1] = "";
    dmsec_device_t d;
    import_err_t e;
    int err = import_row_device(row, &d, &e) ? 2 : 0; /* checked already */
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
        exists_why(st, &d, e.why, sizeof e.why);
        bad_row(im, row->line, "device_id", e.why);
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
                 : read_rows(&im, text, opt_get(&o, "scheme"), secrets_path != NULL);
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
