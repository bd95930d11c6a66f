/* DM tree files: parse, serialise, parse again, compare. Inputs are tried
 * as they are and, so that the fuzzer reaches the record parser, once more
 * as a body with a valid SHA-256 trailer appended. A parsed tree must
 * serialise to exactly its input (the format is canonical), re-parse to an
 * equal tree, survive a few server commands and dump without secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dmsec/errors.h"
#include "dmsec/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(dmsec_tree_t *t)
{
    static const char *const uris[] = {".", "./DMAcc", "./DMAcc/A", "./DevInfo/DevId", "./a/b"};
    for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
        dmsec_tree_result_t res;
        int rc = dmsec_tree_get(t, "srv", uris[i], &res);
        if ((rc == DMSEC_OK) != (res.data != NULL) || res.status != dmsec_err_status(rc))
            abort();
        free(res.data);
        (void)dmsec_tree_add(t, "srv", "./a/b", DMSEC_TREE_CHR, NULL, "x", 1);
        (void)dmsec_tree_replace(t, "srv", uris[i], DMSEC_TREE_CHR, NULL, "y", 1);
    }
    char *text = NULL;
    if (dmsec_tree_dump(t, &text) != DMSEC_OK)
        abort();
    free(text);
    (void)dmsec_tree_delete(t, "srv", "./a");
}

static void check(const uint8_t *data, size_t size)
{
    dmsec_tree_t *t = NULL;
    int rc = dmsec_tree_parse(data, size, &t);
    if (rc != DMSEC_OK) {
        if (t || (rc != DMSEC_ERR_TREE_PARSE && rc != DMSEC_ERR_NO_MEMORY))
            abort();
        return;
    }
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (dmsec_tree_serialize(t, &out, &out_len) != DMSEC_OK)
        abort();
    if (out_len != size || memcmp(out, data, size) != 0)
        abort();
    dmsec_tree_t *again = NULL;
    if (dmsec_tree_parse(out, out_len, &again) != DMSEC_OK || !dmsec_tree_equal(t, again))
        abort();
    dmsec_tree_wipe_free(out, out_len);
    dmsec_tree_free(again);
    exercise(t);
    /* After the commands the tree still serialises to something it reads. */
    if (dmsec_tree_serialize(t, &out, &out_len) != DMSEC_OK ||
        dmsec_tree_parse(out, out_len, &again) != DMSEC_OK || !dmsec_tree_equal(t, again))
        abort();
    dmsec_tree_wipe_free(out, out_len);
    dmsec_tree_free(again);
    dmsec_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size > (1u << 20))
        return 0;
    unsigned char md[32];
    unsigned int md_len = 0;
    if (!EVP_Digest(data, size, md, &md_len, EVP_sha256(), NULL) || md_len != sizeof md)
        abort();
    uint8_t *buf = malloc(size + 72);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memcpy(buf + size, "SHA256 ", 7);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf((char *)buf + size + 7 + 2 * i, 3, "%02x", md[i]);
    buf[size + 71] = '\n';
    check(buf, size + 72);
    free(buf);
    return 0;
}
