/* Fuzzes the XML decoder: every accepted document must re-encode (as XML
 * and as WBXML) and decode again to an equal model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_again(const dmsec_msg_t *m, dmsec_codec_t codec)
{
    uint8_t *out = NULL;
    size_t n = 0;
    if (dmsec_msg_encode(codec, m, &out, &n) != 0)
        abort(); /* what XML carried, both writers can write */
    dmsec_msg_t *back = NULL;
    if (dmsec_msg_decode(codec, out, n, NULL, &back) != 0)
        abort();
    if (!dmsec_msg_equal(m, back, DMSEC_EQ_OPAQUE))
        abort();
    /* the writer is a fixed point once the model is canonical */
    uint8_t *again = NULL;
    size_t n2 = 0;
    if (dmsec_msg_encode(codec, back, &again, &n2) != 0 || n2 != n ||
        (n && memcmp(out, again, n) != 0))
        abort();
    free(again);
    free(out);
    dmsec_msg_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmsec_msg_t *m = NULL;
    if (dmsec_xml_decode(data, size, NULL, &m) != 0) {
        if (m)
            abort(); /* no message on failure */
        return 0;
    }
    check_again(m, DMSEC_CODEC_XML);
    check_again(m, DMSEC_CODEC_WBXML);
    dmsec_msg_free(m);
    return 0;
}
