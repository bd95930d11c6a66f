/* Fuzzes the WBXML decoder: every accepted document must re-encode and
 * decode again to an equal model, byte-stable after one pass; when its data
 * is XML text it must also survive the XML writer and reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/codec.h"
#include "dmsec/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmsec_msg_t *m = NULL;
    if (dmsec_wbxml_decode(data, size, NULL, &m) != 0) {
        if (m)
            abort();
        return 0;
    }
    uint8_t *w1 = NULL, *w2 = NULL;
    size_t n1 = 0, n2 = 0;
    dmsec_msg_t *back = NULL;
    if (dmsec_wbxml_encode(m, &w1, &n1) != 0)
        abort();
    if (dmsec_wbxml_decode(w1, n1, NULL, &back) != 0)
        abort();
    if (!dmsec_msg_equal(m, back, DMSEC_EQ_OPAQUE))
        abort();
    if (dmsec_wbxml_encode(back, &w2, &n2) != 0 || n1 != n2 || memcmp(w1, w2, n1) != 0)
        abort();
    dmsec_msg_free(back);
    back = NULL;

    /* opaque bytes that are not XML text are the only thing XML refuses */
    uint8_t *x = NULL;
    size_t xn = 0;
    int rc = dmsec_xml_encode(m, &x, &xn);
    if (rc == 0) {
        if (dmsec_xml_decode(x, xn, NULL, &back) != 0)
            abort();
        if (!dmsec_msg_equal(m, back, DMSEC_EQ_OPAQUE))
            abort();
    } else if (rc != DMSEC_ERR_CODEC_BINARY) {
        abort();
    }
    free(x);
    free(w1);
    free(w2);
    dmsec_msg_free(back);
    dmsec_msg_free(m);
    return 0;
}
