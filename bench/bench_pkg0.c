/*
 * Package #0 build + verify per second on one core, next to its floor
 * measured in the same run: the three MD5 calls the digest needs
 * (MD5(server-id:password), MD5(trigger), the outer MD5), alone, on a
 * reused context with the algorithm fetched once (OpenSSL's fastest path).
 *
 * One operation is what a server and a device do for one notification:
 * the server builds it from its stored pre-hash, the device verifies it
 * with its stored pre-hash and nonce. The plaintext-secret build is
 * measured too. Prints the figures and the ratio (target >= 0.5).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/notify.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char server_id[] = "com.example.dm.server";
static const char secret[] = "k3Xq9vTzR2mWb7LpN4sYc8Hd";
static const uint8_t nonce[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
static volatile unsigned sink;

/* The floor: three MD5 calls over inputs of the real lengths. */
static long floor_round(EVP_MD_CTX *ctx, const EVP_MD *md, long n)
{
    uint8_t trigger[8 + sizeof server_id - 1];
    memset(trigger, 0x5a, sizeof trigger);
    char pre[64];
    snprintf(pre, sizeof pre, "%s:%s", server_id, secret);
    uint8_t outer[24 + 1 + 16 + 1 + 24];
    memset(outer, 'A', sizeof outer);
    uint8_t d[16];
    unsigned int len;
    for (long i = 0; i < n; i++) {
        trigger[0] = (uint8_t)i;
        EVP_DigestInit_ex2(ctx, md, NULL);
        EVP_DigestUpdate(ctx, pre, strlen(pre));
        EVP_DigestFinal_ex(ctx, d, &len);
        EVP_DigestInit_ex2(ctx, md, NULL);
        EVP_DigestUpdate(ctx, trigger, sizeof trigger);
        EVP_DigestFinal_ex(ctx, d, &len);
        outer[0] = d[0];
        EVP_DigestInit_ex2(ctx, md, NULL);
        EVP_DigestUpdate(ctx, outer, sizeof outer);
        EVP_DigestFinal_ex(ctx, d, &len);
        sink += d[0];
    }
    return n;
}

static long pkg0_round(const uint8_t prehash[16], long n, int plaintext)
{
    dmsec_pkg0_params_t p = {
        .ui = DMSEC_UI_BACKGROUND, .initiator = DMSEC_INITIATOR_SERVER, .server_id = server_id};
    uint8_t msg[64];
    size_t len = 0;
    for (long i = 0; i < n; i++) {
        p.session_id = (uint16_t)(i % 0xFFFF + 1);
        int rc = plaintext ? dmsec_pkg0_build(&p, (const uint8_t *)secret, strlen(secret), nonce,
                                              sizeof nonce, msg, sizeof msg, &len)
                           : dmsec_pkg0_build_prehashed(&p, prehash, nonce, sizeof nonce, msg,
                                                        sizeof msg, &len);
        dmsec_pkg0_t pkg;
        dmsec_nonce_used_t used;
        if (rc || dmsec_pkg0_parse(msg, len, &pkg) ||
            dmsec_pkg0_verify(&pkg, prehash, nonce, sizeof nonce, 0, &used) ||
            used != DMSEC_NONCE_STORED) {
            fprintf(stderr, "bench_pkg0: build/verify failed\n");
            exit(1);
        }
        sink += msg[0];
    }
    return n;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    EVP_MD *md = EVP_MD_fetch(NULL, "MD5", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    dmsec_prehash_t ph;
    if (!md || !ctx ||
        dmsec_prehash_compute(server_id, (const uint8_t *)secret, strlen(secret), &ph)) {
        fprintf(stderr, "bench_pkg0: setup failed\n");
        return 1;
    }
    /* Best of five interleaved rounds each, so that noise from the other
     * core hits all three alike. */
    double best[3] = {0, 0, 0};
    const long batch = 20000;
    for (int round = 0; round < 5; round++) {
        for (int which = 0; which < 3; which++) {
            long ops = 0;
            double t0 = now();
            double t;
            do {
                ops += which == 0   ? floor_round(ctx, md, batch)
                       : which == 1 ? pkg0_round(ph.md5, batch, 0)
                                    : pkg0_round(ph.md5, batch, 1);
                t = now() - t0;
            } while (t < seconds / 5);
            double rate = (double)ops / t;
            if (rate > best[which])
                best[which] = rate;
        }
    }
    printf("floor: 3 x MD5 alone             %12.0f /s\n", best[0]);
    printf("pkg0 build+verify (pre-hashed)   %12.0f /s   ratio %.2f (target >= 0.50)\n", best[1],
           best[1] / best[0]);
    printf("pkg0 build+verify (plain secret) %12.0f /s   ratio %.2f\n", best[2], best[2] / best[0]);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return 0;
}
