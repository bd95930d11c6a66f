/* The CSV of dmsec device import (tools/import_parse.c): records, quoting,
 * the header, each row checked into a device. Whatever the bytes, the
 * reader ends (every call moves on or stops), a row it accepts builds its
 * device again without error, names a device id that fits a record, and
 * borrows only from the text; a problem always comes with words. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/store.h"
#include "import_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const import_err_t *e)
{
    if (!e->why[0] || !memchr(e->why, '\0', sizeof e->why) || e->line < 0)
        abort();
}

static int inside(const char *p, const char *text, size_t len)
{
    return !p || (p >= text && p + strlen(p) <= text + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    /* The first byte picks the caller's options; the rest is the file, as
     * the tool reads it: NUL-terminated, refused when it holds a NUL. */
    int can_generate = data[0] & 1;
    const char *scheme = (data[0] & 2) ? "md5" : NULL;
    data++;
    size--;
    if (memchr(data, '\0', size))
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    import_csv_t c;
    import_err_t e;
    int rc = import_csv_start(&c, text, scheme, can_generate, &e);
    if (rc) {
        if (rc != TOOL_EXIT_FAIL && rc != TOOL_EXIT_USAGE)
            abort();
        check_err(&e);
        free(text);
        return 0;
    }
    int last_line = 0;
    for (size_t calls = 0;; calls++) {
        if (calls > size + 1)
            abort(); /* every call consumes at least one record */
        import_row_t row;
        int got = import_csv_next(&c, &row, &e);
        if (got == 0)
            break;
        if (got == IMPORT_STOP) {
            check_err(&e);
            if (import_csv_next(&c, &row, &e) != 0)
                abort(); /* stopped means stopped */
            break;
        }
        if (got == IMPORT_BAD) {
            check_err(&e);
            if (e.line < last_line)
                abort();
            last_line = e.line;
            continue;
        }
        if (got != 1 || row.line < last_line || !row.in.device_id || !row.in.scheme)
            abort();
        last_line = row.line;
        if (!inside(row.in.device_id, text, size) || !inside(row.client_secret, text, size) ||
            !inside(row.server_secret, text, size) || !inside(row.in.notify, text, size))
            abort();
        if (!can_generate && (!row.client_secret || !row.server_secret))
            abort();
        dmsec_device_t d;
        if (import_row_device(&row, &d, &e) != 0 || strcmp(d.device_id, row.in.device_id) != 0 ||
            d.client_nonce_len > DMSEC_NONCE_MAX || d.server_nonce_len > DMSEC_NONCE_MAX)
            abort();
    }
    free(text);
    return 0;
}
