/*
 * client.h - private interfaces of dmsec-client, the device agent.
 *
 * The DM tree lives in one file (dmsec_tree_serialize format, checksummed),
 * replaced atomically after every change: FILE.tmp written, fsync'd, renamed
 * over FILE, then the directory fsync'd.
 */
#ifndef DMSEC_CLIENT_H
#define DMSEC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"
#include "dmsec/tree.h"

#include "agent_http.h"

/* Exit codes. */
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

/* Options of one command line: "--name value" pairs and flags. */
#define CLI_MAX_OPTS 32
typedef struct cli_opts {
    size_t n;
    const char *name[CLI_MAX_OPTS];
    const char *value[CLI_MAX_OPTS]; /* NULL for a flag */
} cli_opts_t;

/* NULL when absent. */
const char *cli_opt(const cli_opts_t *o, const char *name);
int cli_flag(const cli_opts_t *o, const char *name);
/* Prints "dmsec-client: <msg>" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the tree file (treefile.c) ---- */

/* Loads and verifies the tree file; prints why on failure. 0 or -1. */
int treefile_load(const char *path, dmsec_tree_t **out);
/* Writes the tree atomically; prints why on failure. 0 or -1. */
int treefile_save(const char *path, const dmsec_tree_t *t);

/* ---- sessions (session.c) ---- */

typedef struct cli_session_req {
    const char *tree_path;
    const char *server_id;
    const char *session_id; /* NULL: client-initiated */
    int resync;
    int resync_accept_default; /* interop: accept the server's Cred on the default nonce
                                  after a package #0 verified only on it (off) */
    dmsec_codec_t codec;
    cli_http_t http;
} cli_session_req_t;

/* One DM session with the account of req->server_id in the tree (which is
 * updated and saved after every message). 0 when it ended with both sides
 * authenticated, 1 otherwise. Prints one summary line. */
int cli_session_run(dmsec_tree_t *t, const cli_session_req_t *req);

/* The engine's account of the DMAcc node acc (out: CLCRED, the agent
 * towards the server; in: SRVCRED, with the pending server nonce): the one
 * reading of a DMAcc, for sessions and for package #0. 0, or
 * DMSEC_ERR_SESSION_UNKNOWN_PEER when a leaf is missing or its type is
 * unknown (the account is wiped). */
int cli_account_load(const dmsec_tree_t *t, const char *acc, dmsec_account_t *a);

/* The leaf (under ./DMAcc/<account>/) of a server nonce issued in a
 * challenge to a server that had not authenticated: accepted beside
 * SRVCRED/AAuthData, never written over it. */
#define CLI_SRV_NONCE_PENDING "Ext/dmsec/SrvNoncePending"

/* Reads the account node name of server_id into acc (cap bytes); 0 or -1. */
int cli_account_of(const dmsec_tree_t *t, const char *server_id, char *acc, size_t cap);
/* Reads a leaf below ./DMAcc/<acc>/ into out (at most cap bytes); its
 * length or -1. */
long cli_acc_leaf(const dmsec_tree_t *t, const char *acc, const char *leaf, uint8_t *out,
                  size_t cap);

/* ---- notifications (listen.c) ---- */

int cli_listen(const cli_opts_t *o);

/* ---- bootstrap (bootstrap.c) ---- */

extern const char *const cli_bootstrap_opts[];
int cli_bootstrap(const cli_opts_t *o);

#endif
