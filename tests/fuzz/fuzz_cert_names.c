/* The names the server reads of a client certificate (tls_cert_names: the
 * DER import and the reading tls_peer_cert does): subject DN, CN and the
 * DNS, URI, e-mail and IP SANs. Every name read must be whole: the DN and
 * CN are what GnuTLS reads of the certificate with room to spare, or
 * empty; every SAN is one of the certificate's SANs, complete (for an IP,
 * its text form). A name cut short, at the buffer or at an embedded NUL,
 * could match a shorter device id. */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BIG 8192

static void terminated(const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        abort();
}

/* got is empty or exactly the whole value (n bytes) GnuTLS gives. */
static void whole_or_empty(const char *got, int rc, const char *full, size_t n)
{
    if (!got[0])
        return;
    if (rc != GNUTLS_E_SUCCESS || strlen(got) != n || memcmp(got, full, n) != 0)
        abort();
}

/* Is name one of the certificate's SANs, whole? */
static int is_san(gnutls_x509_crt_t crt, const char *name, char *buf)
{
    for (unsigned seq = 0; seq < 64; seq++) {
        size_t n = BIG - 1;
        unsigned critical = 0;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &n, &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return 0;
        if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_URI || type == GNUTLS_SAN_RFC822NAME) {
            if (strlen(name) == n && memcmp(name, buf, n) == 0)
                return 1;
        } else if (type == GNUTLS_SAN_IPADDRESS && (n == 4 || n == 16)) {
            char text[INET6_ADDRSTRLEN];
            if (inet_ntop(n == 4 ? AF_INET : AF_INET6, buf, text, sizeof text) &&
                !strcmp(text, name))
                return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_cert pc;
    memset(&pc, 0, sizeof pc);
    int rc = tls_cert_names(data, size, &pc);
    if (rc == -2)
        return 0;
    if (rc == -1) {
        struct peer_cert zero;
        memset(&zero, 0, sizeof zero);
        if (memcmp(&pc, &zero, sizeof pc) != 0)
            abort();
        return 0;
    }
    if (rc != 0)
        abort();
    terminated(pc.dn, sizeof pc.dn);
    terminated(pc.cn, sizeof pc.cn);
    if (pc.n_san > PEER_SAN_MAX || pc.present || pc.verified)
        abort();
    for (size_t i = 0; i < pc.n_san; i++) {
        terminated(pc.san[i], sizeof pc.san[i]);
        if (!pc.san[i][0])
            abort();
    }

    /* Read again, independently, with room to spare. */
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return 0;
    const gnutls_datum_t d = {(unsigned char *)data, (unsigned)size};
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS)
        abort(); /* it parsed a moment ago */
    char *buf = malloc(BIG);
    if (!buf) {
        gnutls_x509_crt_deinit(crt);
        return 0;
    }
    size_t n = BIG;
    int r = gnutls_x509_crt_get_dn(crt, buf, &n);
    whole_or_empty(pc.dn, r, buf, n);
    n = BIG;
    r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &n);
    whole_or_empty(pc.cn, r, buf, n);
    for (size_t i = 0; i < pc.n_san; i++) {
        if (!is_san(crt, pc.san[i], buf))
            abort();
    }
    free(buf);
    gnutls_x509_crt_deinit(crt);
    return 0;
}
