/* base64 and hex decoders: decode, re-encode, compare with the input. */
#include <stdlib.h>
#include <string.h>

#include "dmsec/encoding.h"
#include "dmsec/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *text = (const char *)data;
    uint8_t out[4096];
    size_t n = 0;
    int rc = dmsec_b64_decode(text, size, out, sizeof out, &n);
    if (rc == DMSEC_OK) {
        /* Strict decoding is canonical: encoding gives back the input. */
        char again[DMSEC_B64_LEN(4096) + 1];
        size_t m = 0;
        if (dmsec_b64_encode(out, n, again, sizeof again, &m) || m != size ||
            memcmp(again, text, size) != 0)
            abort();
    } else if (n != 0 || rc > 0) {
        abort(); /* a failed decode never hands out bytes */
    }
    rc = dmsec_hex_decode(text, size, out, sizeof out, &n);
    if (rc == DMSEC_OK) {
        char hex[8193];
        if (dmsec_hex_encode(out, n, hex, sizeof hex) || strlen(hex) != size)
            abort();
        for (size_t i = 0; i < size; i++) {
            char c = text[i];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            if (hex[i] != c)
                abort();
        }
    }
    return 0;
}
