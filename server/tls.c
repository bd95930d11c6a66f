/* TLS helpers: reading the PEM files, and the client certificate of a
 * connection: verified against the --client-ca list libmicrohttpd loaded
 * into the session's credentials, then its subject CN and SANs. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define PEM_MAX ((size_t)1024 * 1024)

char *tls_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_msg(LOG_ERROR, "tls: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n == 0 || n > PEM_MAX;
    fclose(f);
    if (bad) {
        log_msg(LOG_ERROR, "tls: cannot read %s (empty, unreadable or over 1 MiB)", path);
        if (buf)
            srv_wipe(buf, PEM_MAX + 1);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* A name is kept whole or not at all: one cut at the buffer's end or at
 * an embedded NUL would match a shorter name (another device's). 1 when
 * kept. */
static int copy_name(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap || memchr(src, '\0', n) != NULL)
        return 0;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 1;
}

static void read_names(gnutls_x509_crt_t crt, struct peer_cert *out)
{
    char buf[512];
    size_t size = sizeof buf;
    if (gnutls_x509_crt_get_dn(crt, buf, &size) == GNUTLS_E_SUCCESS)
        (void)copy_name(out->dn, sizeof out->dn, buf, size);
    size = sizeof buf;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) ==
        GNUTLS_E_SUCCESS)
        (void)copy_name(out->cn, sizeof out->cn, buf, size);
    for (unsigned seq = 0; out->n_san < PEER_SAN_MAX && seq < 64; seq++) {
        unsigned critical = 0;
        size = sizeof buf - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, &critical);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        char *dst = out->san[out->n_san];
        if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_URI || type == GNUTLS_SAN_RFC822NAME) {
            if (copy_name(dst, DMSEC_NAME_MAX, buf, size))
                out->n_san++;
        } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
            if (inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, dst, DMSEC_NAME_MAX))
                out->n_san++;
        }
    }
}

int tls_cert_names(const unsigned char *der, size_t len, struct peer_cert *out)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return -2;
    const gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
    int rc = -1;
    if (len <= UINT_MAX &&
        gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS) {
        read_names(crt, out);
        rc = 0;
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int tls_peer_cert(void *gnutls_session, struct peer_cert *out)
{
    memset(out, 0, sizeof *out);
    gnutls_session_t tls = (gnutls_session_t)gnutls_session;
    if (!tls)
        return -1;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(tls, &n);
    if (!chain || n == 0)
        return 0; /* no client certificate: application-layer auth */
    out->present = 1;
    /* The certificate must be meant for TLS clients (an EKU, when present,
     * has to allow it). */
    gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                     .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
                                     .size = 0};
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(tls, &purpose, 1, &status);
    if (rc < 0) {
        snprintf(out->reason, sizeof out->reason, "%s", gnutls_strerror(rc));
    } else if (status != 0) {
        gnutls_datum_t txt = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) ==
                GNUTLS_E_SUCCESS &&
            txt.data) {
            snprintf(out->reason, sizeof out->reason, "%s", (const char *)txt.data);
            gnutls_free(txt.data);
            size_t len = strlen(out->reason);
            while (len && out->reason[len - 1] == ' ')
                out->reason[--len] = '\0';
        } else {
            snprintf(out->reason, sizeof out->reason, "status 0x%x", status);
        }
    } else {
        out->verified = 1;
    }
    rc = tls_cert_names(chain[0].data, chain[0].size, out);
    if (rc == -2)
        return -1;
    if (rc && out->verified) {
        out->verified = 0;
        snprintf(out->reason, sizeof out->reason, "cannot parse the certificate");
    }
    return 0;
}

int tls_check_priorities(const char *prio)
{
    gnutls_priority_t p = NULL;
    const char *err_pos = NULL;
    int rc = gnutls_priority_init(&p, prio, &err_pos);
    if (rc != GNUTLS_E_SUCCESS) {
        fprintf(stderr, "dmsec-server: --tls-priorities: GnuTLS refuses '%s': %s", prio,
                gnutls_strerror(rc));
        if (err_pos && err_pos >= prio && err_pos < prio + strlen(prio))
            fprintf(stderr, " (at offset %ld: '%s')", (long)(err_pos - prio), err_pos);
        fprintf(stderr, "\n");
        return -1;
    }
    gnutls_priority_deinit(p);
    return 0;
}
