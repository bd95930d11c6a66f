/* Package #0 and WSP push: parse, rebuild the fields, compare, verify. */
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pkg0(const uint8_t *data, size_t size)
{
    dmsec_pkg0_t pkg;
    if (dmsec_pkg0_parse(data, size, &pkg) != DMSEC_OK)
        return;
    if (pkg.trigger_len + 16 != size || pkg.server_id + pkg.server_id_len != pkg.vendor ||
        pkg.vendor + pkg.vendor_len != data + size || pkg.ui > 3 || pkg.session_id == 0)
        abort();
    char text[5];
    if (dmsec_pkg0_session_id_text(pkg.session_id, text) != DMSEC_OK)
        abort();
    /* Rebuilding the fields gives the same trigger whenever the future-use
     * bits are zero and the server id has no NUL. */
    char sid[256];
    if (pkg.future == 0 && pkg.server_id_len > 0 && !memchr(pkg.server_id, 0, pkg.server_id_len)) {
        memcpy(sid, pkg.server_id, pkg.server_id_len);
        sid[pkg.server_id_len] = '\0';
        dmsec_pkg0_params_t p = {pkg.version, pkg.ui,     pkg.initiator, pkg.session_id,
                                 sid,         pkg.vendor, pkg.vendor_len};
        uint8_t *out = malloc(size);
        size_t n = 0;
        if (!out || dmsec_pkg0_build(&p, data, 4, data, 4, out, size, &n) != DMSEC_OK ||
            n != size || memcmp(out + 16, data + 16, size - 16) != 0)
            abort();
        free(out);
    }
    static const uint8_t prehash[16];
    dmsec_nonce_used_t used;
    int rc = dmsec_pkg0_verify(&pkg, prehash, data, size < 16 ? size : 16,
                               DMSEC_PKG0_TRY_SESSION_ID | DMSEC_PKG0_TRY_FIELD_READINGS, &used);
    if (rc != DMSEC_OK && rc != DMSEC_ERR_PKG0_DIGEST)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_pkg0(data, size);
    const uint8_t *body = NULL;
    size_t body_len = 0;
    if (dmsec_wsp_push_unwrap(data, size, &body, &body_len) == DMSEC_OK) {
        if (body < data || body + body_len != data + size)
            abort();
        check_pkg0(body, body_len);
    }
    return 0;
}
