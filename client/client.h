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
#define CLI_MAX_OPTS 48
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

/* --json: every result line is one JSON object instead (a stream of them
 * for listen and for a session followed by its FUMO report); errors stay
 * on stderr as text. Set by main() before the command runs. */
extern int cli_json;
struct json_t;
/* Prints o (a JSON object; the reference is taken) compactly on one line
 * of stdout and flushes. NULL (a value jansson refused, not UTF-8): says
 * so on stderr. */
void cli_json_line(struct json_t *o);
/* A JSON string of s (NULL: null); bytes that are not UTF-8 become '?'
 * (names and messages from the network: never invalid JSON). New ref. */
struct json_t *cli_json_text(const char *s);

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

/* ---- device management (exec.c, devdetail.c, fumo.c) ---- */

/* What the agent does with management commands, from the command line
 * (cli_mgmt_configure), shared by session, listen and the diagnostics. */
#define CLI_MAX_EXEC 16
typedef struct cli_mgmt {
    size_t n_exec;
    const char *exec_uri[CLI_MAX_EXEC]; /* "./Ext/Reboot" */
    const char *exec_cmd[CLI_MAX_EXEC]; /* a program path, run without a shell */
    long exec_timeout;                  /* seconds */
    const char *fumo_hook;              /* the install program, given the package path */
    long fumo_timeout;                  /* seconds, download and hook each */
    unsigned long long fumo_max;        /* bytes of a package at most */
    const char *ca;                     /* CA file for HTTPS downloads */
    const char *dev_type, *oem, *fwv, *swv, *hwv;
    size_t max_obj_size; /* the engine's MaxObjSize (0: its default) */
} cli_mgmt_t;
extern cli_mgmt_t cli_mgmt;

/* The option names cli_mgmt_configure reads (NULL-ended). */
extern const char *const cli_mgmt_opts[];
/* Reads the options into cli_mgmt; prints why and returns -1 on bad input. */
int cli_mgmt_configure(const cli_opts_t *o);
/* Before a session with server_id (or a diagnostic as it): fills
 * DevInfo/DevDetail, creates the FUMO node and the Exec handler nodes with
 * ACLs granting server_id, and installs the Exec dispatcher. 0 or -1. */
int cli_mgmt_prepare(dmsec_tree_t *t, const char *server_id);
/* Runs argv (no shell) with extra environment env ("K=V", NULL-ended),
 * stdin /dev/null, stdout to stderr, killed after timeout_s. 0 with
 * *exit_code when it exited, -1 when it could not run, was killed or timed
 * out. */
int cli_run_program(const char *const *argv, const char *const *env, long timeout_s,
                    int *exit_code);
/* Adds sid to each command of ops ("Get", "Exec", ...) in the own ACL of the
 * node at uri, unless the ACL grants it already. */
int cli_acl_grant(dmsec_tree_t *t, const char *uri, const char *const *ops, const char *sid);
/* Fills the missing ./DevInfo and ./DevDetail leaves (options override). */
int cli_devdetail_fill(dmsec_tree_t *t);

/* FUMO (fumo.c), node ./FUMO/dmsec. */
#define CLI_FUMO_NODE "./FUMO/dmsec"
int cli_fumo_prepare(dmsec_tree_t *t, const char *server_id);
/* The Exec of DownloadAndUpdate: records the job; 202 or a DMSEC_ERR_*. */
int cli_fumo_exec(dmsec_tree_t *t, const char *server_id, const char *correlator);
/* Runs the pending job, if any, to its report, saving the tree at every
 * State. 1 when a job ran, 0 when none, -1 when the tree could not be saved. */
int cli_fumo_run(dmsec_tree_t *t, const char *tree_path);
/* 1 and the server id (cap bytes) when a report waits for delivery. */
int cli_fumo_report_pending(const dmsec_tree_t *t, char *server_id, size_t cap);
/* Queues the waiting report for server_id as a Generic Alert in the
 * session s (before dmsec_session_start). 0 (also when none), or -1. */
int cli_fumo_queue_alert(const dmsec_tree_t *t, dmsec_session_t *s, const char *server_id);
/* The server's Status for an alert: clears the report of that tag. */
int cli_fumo_alert_done(dmsec_tree_t *t, int64_t tag, int status);

/* ---- notifications (listen.c) ---- */

int cli_listen(const cli_opts_t *o);

/* ---- bootstrap (bootstrap.c) ---- */

extern const char *const cli_bootstrap_opts[];
int cli_bootstrap(const cli_opts_t *o);

#endif
