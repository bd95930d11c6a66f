/*
 * A full authenticated exchange in memory per second: client and server
 * engines, syncml:auth-md5 both ways, the four packages of a session
 * (package #1 with Cred, 212 with Chal and the server's Cred, the client's
 * 212 with Chal, the closing message), in XML and in WBXML. Next to it, the
 * floor measured in the same run: the crypto calls such a session needs,
 * alone (four MD5 digests over "B64(H(user:pw)):nonce" and two 16-byte
 * nonces from the CSPRNG). Prints the figures and the ratio.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmsec/errors.h"
#include "dmsec/session.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DEVICE "IMEI:493005100592800"
#define SERVER "dm.example.org"

static dmsec_account_t dev_acc;
static dmsec_account_t srv_acc;
static volatile unsigned sink;

static void setup(dmsec_account_t *a, const char *out_name, const char *out_secret,
                  const char *in_name, const char *in_secret)
{
    memset(a, 0, sizeof *a);
    a->out_scheme = a->in_scheme = DMSEC_AUTH_MD5;
    strcpy(a->out_name, out_name);
    strcpy(a->in_name, in_name);
    dmsec_prehash_compute(out_name, (const uint8_t *)out_secret, strlen(out_secret),
                          &a->out_prehash);
    dmsec_prehash_compute(in_name, (const uint8_t *)in_secret, strlen(in_secret), &a->in_prehash);
    a->out_nonce_len = a->in_nonce_len = 16;
}

static int get_dev(void *ctx, const char *peer, dmsec_account_t *out)
{
    (void)ctx;
    (void)peer;
    *out = dev_acc;
    return 0;
}

static int get_srv(void *ctx, const char *peer, dmsec_account_t *out)
{
    (void)ctx;
    (void)peer;
    *out = srv_acc;
    return 0;
}

/* Stores what a session issued, as a caller persists events: the
 * session-state contract in memory. */
static void persist(dmsec_session_t *s, dmsec_account_t *a)
{
    dmsec_state_mem_t mem = {.acc = *a, .known = 1};
    if (dmsec_session_persist(s, &dmsec_state_mem_ops, &mem))
        abort();
    *a = mem.acc;
}

static void one_session(dmsec_codec_t codec)
{
    dmsec_session_config_t cc = {.role = DMSEC_ROLE_CLIENT,
                                 .codec = codec,
                                 .server_id = SERVER,
                                 .server_uri = "https://dm.example.org/dm",
                                 .device_id = DEVICE,
                                 .cb = {.get_account = get_dev}};
    dmsec_session_config_t sc = {.role = DMSEC_ROLE_SERVER,
                                 .codec = codec,
                                 .server_id = SERVER,
                                 .server_uri = "https://dm.example.org/dm",
                                 .cb = {.get_account = get_srv}};
    dmsec_session_t *c = dmsec_session_new(&cc);
    dmsec_session_t *s = dmsec_session_new(&sc);
    dmsec_session_out_t out;
    int rc = dmsec_session_start(c, 0, &out);
    int messages = 1;
    for (int turn = 0; !rc && out.has_message && turn < 8; turn++) {
        dmsec_session_t *dst = turn % 2 == 0 ? s : c;
        rc = dmsec_session_feed(dst, out.body, out.len, out.content_type, NULL, 0, &out);
        persist(dst, dst == s ? &srv_acc : &dev_acc);
        messages += out.has_message;
    }
    if (rc || messages != 4 || dmsec_session_result(c) || dmsec_session_result(s) ||
        !dmsec_session_peer_authenticated(c) || !dmsec_session_peer_authenticated(s)) {
        fprintf(stderr, "bench_session: session failed (%s, %d messages)\n", dmsec_errname(rc),
                messages);
        exit(1);
    }
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* The floor: the crypto one session needs, alone. */
static void crypto_floor(EVP_MD_CTX *ctx, const EVP_MD *md)
{
    uint8_t nonce[16];
    uint8_t d[16];
    unsigned int len;
    static const char input[] = "PtEdr8lBQ45IbT1bZIkrOQ==:";
    for (int i = 0; i < 4; i++) {
        EVP_DigestInit_ex2(ctx, md, NULL);
        EVP_DigestUpdate(ctx, input, sizeof input - 1);
        EVP_DigestUpdate(ctx, nonce, sizeof nonce);
        EVP_DigestFinal_ex(ctx, d, &len);
        sink += d[0];
        if (i % 2 == 0 && RAND_priv_bytes(nonce, sizeof nonce) != 1)
            exit(1);
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    setup(&dev_acc, DEVICE, "client-secret", SERVER, "server-secret");
    setup(&srv_acc, SERVER, "server-secret", DEVICE, "client-secret");
    EVP_MD *md = EVP_MD_fetch(NULL, "MD5", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!md || !ctx)
        return 1;
    double best[3] = {0, 0, 0};
    for (int round = 0; round < 5; round++) {
        for (int which = 0; which < 3; which++) {
            long n = 0;
            double t0 = now();
            double t;
            do {
                for (int k = 0; k < 50; k++) {
                    if (which == 0)
                        crypto_floor(ctx, md);
                    else
                        one_session(which == 1 ? DMSEC_CODEC_XML : DMSEC_CODEC_WBXML);
                }
                n += 50;
                t = now() - t0;
            } while (t < seconds / 15);
            if ((double)n / t > best[which])
                best[which] = (double)n / t;
        }
    }
    printf("floor: crypto of one session alone   %10.0f /s\n", best[0]);
    printf("authenticated session, XML           %10.0f /s   ratio %.3f of floor\n", best[1],
           best[1] / best[0]);
    printf("authenticated session, WBXML         %10.0f /s   ratio %.3f of floor\n", best[2],
           best[2] / best[0]);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return 0;
}
