/* x-syncml-hmac parser: parse, format, parse again, compare. */
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/hmac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmsec_hmac_header_t h;
    if (dmsec_hmac_header_parse((const char *)data, size, &h) != DMSEC_OK)
        return 0;
    char text[4096];
    size_t n = 0;
    int rc = dmsec_hmac_header_format(&h, text, sizeof text, &n);
    if (rc == DMSEC_ERR_INVALID_ARG)
        return 0; /* a value holding a control character cannot be written */
    if (rc)
        abort();
    dmsec_hmac_header_t again;
    if (dmsec_hmac_header_parse(text, n, &again) != DMSEC_OK)
        abort();
    /* Each form writes only its own parameters. */
    if (again.alg != h.alg || strcmp(again.mac, h.mac))
        abort();
    if (h.alg == DMSEC_HMAC_MD5 && strcmp(again.username, h.username))
        abort();
    if (h.alg == DMSEC_HMAC_SHA256 &&
        (strcmp(again.server_id, h.server_id) || strcmp(again.timestamp, h.timestamp)))
        abort();
    /* Verification of whatever parsed never fails other than cleanly. */
    static const uint8_t prehash[16];
    rc = h.alg == DMSEC_HMAC_MD5 ? dmsec_hmac12_verify(&h, "user", prehash, data, size, data, size)
                                 : dmsec_hmac13_verify(&h, data, size, data, size);
    if (rc != DMSEC_ERR_HMAC_MISMATCH && rc != DMSEC_OK)
        abort();
    return 0;
}
