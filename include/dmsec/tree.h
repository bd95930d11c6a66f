/*
 * dmsec/tree.h - the device's DM tree: nodes, ACLs (OMA DM TND 1.2 sec 7.7.1),
 * server commands run against it on behalf of a ServerID, and a checksummed
 * serialisation. Sans-I/O: the agent stores the serialised bytes itself.
 *
 * URIs: "./A/B", "A/B" or "." for the root. Segments are 1..DMSEC_TREE_MAX_SEGMENT
 * printable ASCII bytes without '/', '?' or space, and never "." or "..". At
 * most DMSEC_TREE_MAX_DEPTH segments and DMSEC_TREE_MAX_URI bytes. Server
 * commands also take "?prop=ACL|Format|Type|Name|Size" (Get; Replace takes ACL
 * only); the local calls take no query.
 *
 * ACL rules (a node's ACL is its own value, or when empty its nearest
 * ancestor's; the root always has one):
 * - Get, Replace, Delete, Exec on node N need the command in N's effective
 *   ACL. Delete also needs Delete in every descendant's own ACL, and nothing
 *   in the subtree may be permanent (405), so no server removes data it could
 *   not delete node by node.
 * - Add of N needs Add in the effective ACL of the nearest existing
 *   ancestor, which must be interior; missing interior parents are created.
 *   When the effective ACL the new node would inherit does not give the
 *   creator both Get and Replace, the topmost new node gets
 *   "Add=<sid>&Delete=<sid>&Get=<sid>&Replace=<sid>", so it stays the
 *   creator's.
 * - Replace of ?prop=ACL (TND 7.7.1.3): an interior node's ACL needs Replace
 *   in its own effective ACL or in its parent's; a leaf's ACL needs Replace
 *   in its parent's (a leaf's own ACL never covers the ACL itself); the
 *   root's needs Replace on the root, and the root ACL never becomes empty.
 *   Whoever may change a parent's ACL can thus take over the subtree: the
 *   agent must not give servers Replace on the root or on ./DMAcc.
 * - Get of an interior node lists only the children the server may Get, so
 *   Get on ./DMAcc shows a server its own accounts only.
 * - A node that does not exist answers 404 only to a server that may Get its
 *   nearest existing ancestor (it could list it); others get 425, so no server
 *   probes another's account.
 * - Secret nodes (flag DMSEC_TREE_SECRET, and every node named AAuthSecret)
 *   are write-only for servers: Get of the value answers 405 (the DMAcc
 *   AccessType of AAuthSecret has no Get); dmsec_tree_dump prints "***".
 *
 * Ownership: a dmsec_tree_t owns all its nodes and copies every string and
 * buffer it is given. Borrowed pointers handed out (dmsec_tree_info_t) stay
 * valid until the next change to the tree. dmsec_tree_result_t.data, the
 * serialised bytes and the dump are malloc'd for the caller: free the result
 * data with free(), the serialised bytes (they hold secrets) with
 * dmsec_tree_wipe_free(). dmsec_tree_free wipes every value.
 *
 * Limits: DMSEC_TREE_MAX_NODES nodes (root included), DMSEC_TREE_MAX_VALUE
 * bytes per value and DMSEC_TREE_MAX_TOTAL in all values, type and ACL
 * lengths below; every operation is linear in what it touches.
 *
 * Errors (each maps to the SyncML status via dmsec_err_status):
 * DMSEC_ERR_TREE_NOT_FOUND 404, _EXISTS 418, _PERMISSION 425, _NOT_ALLOWED 405,
 * _FORMAT 400, _PATH 400, _URI_LONG 414, _TOO_DEEP 413, _TOO_MANY 413,
 * _UNSUPPORTED 406, _PARSE 500, DMSEC_ERR_TOO_LARGE 413.
 */
#ifndef DMSEC_TREE_H
#define DMSEC_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"
#include "dmsec/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMSEC_TREE_MAX_DEPTH 32
#define DMSEC_TREE_MAX_NODES 10000
#define DMSEC_TREE_MAX_URI 1024
#define DMSEC_TREE_MAX_SEGMENT 255
#define DMSEC_TREE_MAX_VALUE 1048576u  /* 1 MiB */
#define DMSEC_TREE_MAX_TOTAL 16777216u /* 16 MiB */
#define DMSEC_TREE_MAX_TYPE 63         /* fits dmsec_tree_result_t.type */
#define DMSEC_TREE_MAX_ACL 4096

/* The default root ACL of dmsec_tree_new(NULL). */
#define DMSEC_TREE_ROOT_ACL "Get=*"

typedef struct dmsec_tree dmsec_tree_t;

/* Node Format (TND 7.7.2). Values are checked: int is a decimal 32-bit
 * integer, bool "true" or "false", null and node empty, b64 base64 text;
 * the others take any bytes. */
typedef enum dmsec_tree_format {
    DMSEC_TREE_CHR,
    DMSEC_TREE_INT,
    DMSEC_TREE_BOOL,
    DMSEC_TREE_B64,
    DMSEC_TREE_BIN,
    DMSEC_TREE_NODE,
    DMSEC_TREE_NULL,
    DMSEC_TREE_FLOAT,
    DMSEC_TREE_DATE,
    DMSEC_TREE_TIME,
    DMSEC_TREE_FORMAT_COUNT_
} dmsec_tree_format_t;

/* Node flags, set by the agent only. */
#define DMSEC_TREE_PERMANENT 1u /* servers may not delete it (405) */
#define DMSEC_TREE_SECRET 2u    /* servers may not Get its value (405); dump hides it */

/* The DM command an ACL entry names. */
typedef enum dmsec_tree_op {
    DMSEC_TREE_OP_ADD,
    DMSEC_TREE_OP_DELETE,
    DMSEC_TREE_OP_EXEC,
    DMSEC_TREE_OP_GET,
    DMSEC_TREE_OP_REPLACE,
} dmsec_tree_op_t;

/* Exec handler: return 0 (status 200), a negative DMSEC_ERR_* (its status),
 * or a SyncML status code 200..599 of its own (202: accepted, the outcome
 * comes later; 4xx/5xx: how it failed). Borrowed arguments. */
typedef int (*dmsec_tree_exec_fn)(void *ctx, const char *server_id, const char *uri,
                                  const uint8_t *data, size_t len, const char *correlator);

/* A borrowed view of one node, valid until the tree next changes. */
typedef struct dmsec_tree_info {
    dmsec_tree_format_t format;
    const uint8_t *value; /* followed by a NUL not counted in value_len */
    size_t value_len;
    const char *type; /* "" when none */
    const char *acl;  /* the node's own ACL, "" when it inherits */
    unsigned flags;
    size_t children;
} dmsec_tree_info_t;

/* Server identity and credentials of one DM account. Strings may be NULL
 * (leaf left empty) except server_id. All borrowed for the call. */
typedef struct dmsec_tree_cred {
    const char *type; /* AAuthType: "BASIC", "DIGEST", "HMAC", ... */
    const char *name; /* AAuthName */
    const uint8_t *secret;
    size_t secret_len;
    const uint8_t *data; /* AAuthData: the nonce, stored as format bin */
    size_t data_len;
} dmsec_tree_cred_t;

typedef struct dmsec_tree_account {
    const char *server_id;
    const char *name;
    const char *addr;
    const char *addr_type;
    const char *aauth_pref;
    dmsec_tree_cred_t clcred;  /* AppAuth/CLCRED */
    dmsec_tree_cred_t srvcred; /* AppAuth/SRVCRED */
} dmsec_tree_account_t;

/* ---- life cycle ---- */

/* A tree holding only the root, whose ACL is root_acl (copied; NULL for
 * DMSEC_TREE_ROOT_ACL). NULL on a bad ACL or no memory. */
dmsec_tree_t *dmsec_tree_new(const char *root_acl);
/* Wipes every value and frees the tree. NULL is accepted. */
void dmsec_tree_free(dmsec_tree_t *t);
/* Number of nodes, root included. */
size_t dmsec_tree_count(const dmsec_tree_t *t);
/* Sets (or clears with fn NULL) the Exec handler; ctx is borrowed. */
void dmsec_tree_set_exec(dmsec_tree_t *t, dmsec_tree_exec_fn fn, void *ctx);

/* ---- names ---- */

/* "chr", "int", ...; NULL for an unknown value. Static. */
const char *dmsec_tree_format_name(dmsec_tree_format_t f);
/* Case-sensitive, as in Meta Format. DMSEC_ERR_TREE_FORMAT when unknown. */
int dmsec_tree_format_parse(const char *name, dmsec_tree_format_t *out);

/* ---- ACL strings ---- */

/* 0 when acl follows the TND grammar ("" included): '&'-separated
 * Command=id+id entries, commands Add, Delete, Exec, Get, Replace, ids '*'
 * or printable ASCII without '=', '&', '*', '+' and space.
 * DMSEC_ERR_TREE_FORMAT otherwise. */
int dmsec_tree_acl_check(const char *acl);
/* 1 when acl (valid, non-empty) lists server_id or '*' for op, else 0. */
int dmsec_tree_acl_allows(const char *acl, dmsec_tree_op_t op, const char *server_id);
/* 1 when server_id may do op on the node at uri (its effective ACL), else 0
 * (also for a missing node or a bad URI). */
int dmsec_tree_may(const dmsec_tree_t *t, const char *uri, dmsec_tree_op_t op,
                   const char *server_id);

/* ---- the agent's own access (no ACL) ---- */

/* Borrowed view of the node at uri. */
int dmsec_tree_get_local(const dmsec_tree_t *t, const char *uri, dmsec_tree_info_t *out);
/* Calls fn for every node, parents before children in canonical order,
 * with its URI and a borrowed view (both valid for the call only). A
 * secret (DMSEC_TREE_SECRET, or any AAuthSecret) comes with secret set and
 * its value given; whoever prints it must not. fn returning non-zero stops
 * the walk and is returned. fn must not change the tree. */
typedef int (*dmsec_tree_walk_fn)(void *ctx, const char *uri, const dmsec_tree_info_t *node,
                                  int secret);
int dmsec_tree_walk(const dmsec_tree_t *t, dmsec_tree_walk_fn fn, void *ctx);
/* Creates or updates the node at uri, creating missing parents as interior
 * nodes with no ACL. format DMSEC_TREE_NODE makes an interior node (value
 * must be empty; an existing interior node is left as is); otherwise a leaf.
 * A leaf never becomes interior or the other way round
 * (DMSEC_ERR_TREE_NOT_ALLOWED). type may be NULL. value and type are copied. */
int dmsec_tree_set_local(dmsec_tree_t *t, const char *uri, dmsec_tree_format_t format,
                         const char *type, const void *value, size_t len);
/* Sets the node's own ACL ("" or NULL: inherit; the root needs one). */
int dmsec_tree_set_acl_local(dmsec_tree_t *t, const char *uri, const char *acl);
/* Sets the node's DMSEC_TREE_* flags. */
int dmsec_tree_set_flags_local(dmsec_tree_t *t, const char *uri, unsigned flags);
/* Deletes the node and its subtree, whatever the ACLs and flags; not the root. */
int dmsec_tree_delete_local(dmsec_tree_t *t, const char *uri);

/* Creates ./DMAcc (interior, ACL "Get=*", permanent) when missing and
 * ./DMAcc/<acc_name> with ServerID, Name, AppAddr/1/{Addr,AddrType},
 * AAuthPref and AppAuth/{CLCRED,SRVCRED}/{AAuthLevel, AAuthType, AAuthName,
 * AAuthSecret, AAuthData}, the account node's ACL being
 * "Add=<sid>&Delete=<sid>&Get=<sid>&Replace=<sid>". DMSEC_ERR_TREE_EXISTS when
 * the account or another account with this ServerID exists. All or nothing. */
int dmsec_tree_add_account(dmsec_tree_t *t, const char *acc_name, const dmsec_tree_account_t *acc);
/* Copies into out (cap bytes) the name of the account whose ServerID leaf is
 * server_id. DMSEC_ERR_TREE_NOT_FOUND, DMSEC_ERR_BUFFER_TOO_SMALL. */
int dmsec_tree_find_account(const dmsec_tree_t *t, const char *server_id, char *out, size_t cap);

/* ---- commands on behalf of a server (the ACL rules above) ---- */

/* Get: res->data is the value (or the '/'-joined child names, format
 * "node"), malloc'd and NUL-terminated, for the caller to free(); format and
 * type filled. res->status is always set (200 on success). */
int dmsec_tree_get(const dmsec_tree_t *t, const char *server_id, const char *uri,
                   dmsec_tree_result_t *res);
/* Add a leaf or (format DMSEC_TREE_NODE, empty value) an interior node.
 * type may be NULL. */
int dmsec_tree_add(dmsec_tree_t *t, const char *server_id, const char *uri,
                   dmsec_tree_format_t format, const char *type, const void *value, size_t len);
/* Replace a leaf's value, format and type; with "?prop=ACL" the node's ACL
 * (value is the ACL text). */
int dmsec_tree_replace(dmsec_tree_t *t, const char *server_id, const char *uri,
                       dmsec_tree_format_t format, const char *type, const void *value, size_t len);
/* Delete a node and its subtree. */
int dmsec_tree_delete(dmsec_tree_t *t, const char *server_id, const char *uri);
/* Exec: the permission check, then the handler (DMSEC_ERR_TREE_NOT_ALLOWED
 * when none is set). correlator may be NULL. Returns 0, a negative
 * DMSEC_ERR_*, or the handler's own status code (200..599, never 200). */
int dmsec_tree_exec_node(dmsec_tree_t *t, const char *server_id, const char *uri, const void *data,
                         size_t len, const char *correlator);
/* Copy a leaf (Get on the source, then Add on the target, or Replace when
 * it exists). Interior sources answer DMSEC_ERR_TREE_NOT_ALLOWED. */
int dmsec_tree_copy(dmsec_tree_t *t, const char *server_id, const char *src_uri,
                    const char *dst_uri);

/* One SyncML command Item: Get/Add/Replace/Delete/Exec/Copy on Target (Copy:
 * Source to Target), Meta Format/Type from the Item or else the command
 * (Format default "chr"; Add of format "node" makes an interior node). The
 * signature of dmsec_session_cb_t.tree_exec with the tree as ctx. Fills res
 * (status always; Get: data, format, type) and returns 0 or the error whose
 * status res->status holds; an Exec handler's own status goes to res->status
 * as is (0 returned for 2xx, DMSEC_ERR_INVALID_ARG for others). Atomic,
 * Sequence and other non-tree commands answer 405: the engine runs groups. */
int dmsec_tree_exec(dmsec_tree_t *t, const char *server_id, const dmsec_cmd_t *cmd,
                    const dmsec_item_t *item, dmsec_tree_result_t *res);
/* dmsec_tree_exec with the tree as a void *, ready for
 * dmsec_session_cb_t.tree_exec when cb_ctx is the tree. */
int dmsec_tree_exec_cb(void *tree, const char *server_id, const dmsec_cmd_t *cmd,
                       const dmsec_item_t *item, dmsec_tree_result_t *res);

/* ---- serialisation ---- */

/* Atomic (the DM command): a copy of the tree to go back to. snapshot
 * makes it (*out, freed by dmsec_tree_restore or dmsec_tree_free);
 * restore puts t's nodes back as they were in snap (the exec handler of t
 * stays) and frees snap. */
int dmsec_tree_snapshot(const dmsec_tree_t *t, dmsec_tree_t **out);
void dmsec_tree_restore(dmsec_tree_t *t, dmsec_tree_t *snap);

/* Serialises the whole tree into a malloc'd buffer (*out, *out_len); free it
 * with dmsec_tree_wipe_free(). Format (canonical: the same tree always gives
 * the same bytes):
 *   "DMSECTREE 1\n" "<node count>\n"
 *   one record per node, depth-first, children in byte order of names:
 *   "<depth> <format> <flags> <len>:<name> <len>:<type> <len>:<acl> <len>:<value>\n"
 *   (depth 0 is the root, named ""; lengths decimal, no leading zeros)
 *   "SHA256 <64 lower-case hex digits>\n" over every byte before that line. */
int dmsec_tree_serialize(const dmsec_tree_t *t, uint8_t **out, size_t *out_len);
/* Parses bytes from dmsec_tree_serialize into a new tree (*out), checking
 * the digest first, then every record, value and limit; anything not in
 * canonical form fails. DMSEC_ERR_TREE_PARSE (DMSEC_ERR_NO_MEMORY when
 * memory runs out) and *out NULL on error: never half loaded. buf is
 * borrowed for the call. */
int dmsec_tree_parse(const uint8_t *buf, size_t len, dmsec_tree_t **out);
/* 1 when a and b hold the same nodes (names, formats, flags, types, ACLs,
 * values), else 0. */
int dmsec_tree_equal(const dmsec_tree_t *a, const dmsec_tree_t *b);
/* Wipes len bytes at p and frees p. NULL is accepted. */
void dmsec_tree_wipe_free(void *p, size_t len);

/* A text listing for people, one line per node: URI, format, ACL and value
 * (bin values as hex:..., others quoted, printable bytes as is and others
 * as \xNN; secret values as ***). Malloc'd
 * NUL-terminated string in *out for the caller to free(). */
int dmsec_tree_dump(const dmsec_tree_t *t, char **out);

#ifdef __cplusplus
}
#endif
#endif
