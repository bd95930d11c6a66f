/*
 * tools/import_parse.h - the CSV of `dmsec device import`, read and
 * checked without side effects: no store, no output, no randomness. The
 * tool (cmd_import.c) and the fuzz harness (tests/fuzz/fuzz_import_csv.c)
 * link it; messages are the caller's to print.
 *
 * The header row names the columns (any order; device_id required):
 * device_id, client_name (default: the device id), scheme (default: the
 * caller's), server_scheme, client_secret, server_secret, notify,
 * cert_subject, srvcred_path, client_nonce_hex, server_nonce_hex. Fields
 * may be quoted ("a,b"; "" for a quote; line breaks inside quotes); lines
 * end in LF or CRLF; blank lines are skipped; a UTF-8 byte order mark at
 * the start is skipped. A row is checked by the rules of device add
 * (tool_device_fields) plus the nonces (1 to DMSEC_NONCE_MAX bytes as hex)
 * and the secrets given (1 to DMSEC_SECRET_MAX bytes).
 */
#ifndef DMSEC_TOOL_IMPORT_PARSE_H
#define DMSEC_TOOL_IMPORT_PARSE_H

#include "tool.h"

#define IMPORT_MAX_FIELDS 32

enum import_col {
    IMPORT_DEVICE_ID,
    IMPORT_CLIENT_NAME,
    IMPORT_SCHEME,
    IMPORT_SERVER_SCHEME,
    IMPORT_CLIENT_SECRET,
    IMPORT_SERVER_SECRET,
    IMPORT_NOTIFY,
    IMPORT_CERT_SUBJECT,
    IMPORT_SRVCRED_PATH,
    IMPORT_CLIENT_NONCE,
    IMPORT_SERVER_NONCE,
    IMPORT_COL_COUNT
};

/* What is wrong: the line it starts on (0: the file as a whole), the
 * column (NULL: the row or the file), and why, in words. */
typedef struct import_err {
    int line;
    const char *column;
    char why[256];
} import_err_t;

/* A row checked. Every pointer borrows from the text given to
 * import_csv_start; NULL where the column is absent or empty (a secret
 * NULL: to be generated). */
typedef struct import_row {
    int line;
    tool_device_in_t in; /* in.scheme: the row's, or the default */
    const char *client_nonce_hex;
    const char *server_nonce_hex;
    const char *client_secret;
    const char *server_secret;
} import_row_t;

/* The reader's state; fill it with import_csv_start. */
typedef struct import_csv {
    const char *scheme;        /* the default scheme, or NULL */
    int can_generate;          /* empty secrets allowed (they will be generated) */
    int col[IMPORT_COL_COUNT]; /* the field of each column, -1 when absent */
    int ncols;
    char *p; /* the text not read yet */
    int line;
} import_csv_t;

/* import_csv_next's answers besides 1 (a row) and 0 (the end). */
#define IMPORT_BAD (-1)  /* a bad row: *e says why; the next call goes on */
#define IMPORT_STOP (-2) /* the rest cannot be read as CSV: *e says why */

/* Starts reading text: NUL-terminated and mutable (fields are unescaped
 * in place; the rows borrow from it). Reads the header row. 0, or
 * TOOL_EXIT_FAIL (no header, a bad header) or TOOL_EXIT_USAGE (a secret
 * column missing while !can_generate) with *e filled. scheme is borrowed. */
int import_csv_start(import_csv_t *c, char *text, const char *scheme, int can_generate,
                     import_err_t *e);

/* The next row into *row: 1, 0 at the end, IMPORT_BAD or IMPORT_STOP. */
int import_csv_next(import_csv_t *c, import_row_t *row, import_err_t *e);

/* The device of a checked row, its secrets aside (fields, schemes,
 * nonces), into *d: 0, or -1 with e->column and e->why set. d holds no
 * secret; the caller still wipes it once keys are added. */
struct dmsec_device;
int import_row_device(const import_row_t *row, struct dmsec_device *d, import_err_t *e);

#endif
