/* The server's config file parser (config_parse, what --config F runs on
 * the file's bytes), over the defaults. Whatever it leaves in the config,
 * accepted or not, is written as config text (config_format), which must
 * parse without error to a config written the same way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX 65536

static void terminated(const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* An exact-size copy, not NUL-terminated: the parser takes a length. */
    char *text = malloc(size ? size : 1);
    char *out = malloc(OUT_MAX);
    char *again = malloc(OUT_MAX);
    struct srv_config *a = malloc(sizeof *a);
    struct srv_config *b = malloc(sizeof *b);
    if (!text || !out || !again || !a || !b)
        goto done;
    memcpy(text, data, size);
    config_defaults(a);
    int rc = config_parse(a, text, size, "fuzz.conf");
    if (rc != 0 && rc != -1)
        abort();
    terminated(a->listen, sizeof a->listen);
    terminated(a->db, sizeof a->db);
    terminated(a->server_id, sizeof a->server_id);
    terminated(a->public_url, sizeof a->public_url);
    if (a->rotate != ROTATE_NEVER && a->rotate != ROTATE_TLS && a->rotate != ROTATE_ALWAYS)
        abort();
    size_t n = 0;
    if (config_format(a, out, OUT_MAX, &n) || n >= OUT_MAX)
        abort();
    config_defaults(b);
    if (config_parse(b, out, n, "formatted") != 0)
        abort();
    size_t m = 0;
    if (config_format(b, again, OUT_MAX, &m) || m != n || memcmp(out, again, n) != 0)
        abort();
done:
    free(text);
    free(out);
    free(again);
    free(a);
    free(b);
    return 0;
}
