/*
 * tools/tool.h - shared plumbing of the dmsec command-line tool.
 *
 * Every command prints its result alone on stdout and exits 0; on error it
 * prints "dmsec: <what>" on stderr and exits non-zero (2 for usage errors,
 * 1 for bad input or failed verification). Secrets never reach stderr.
 */
#ifndef DMSEC_TOOL_H
#define DMSEC_TOOL_H

#include <stddef.h>
#include <stdint.h>

#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2

/* Command entry points: argv[0] is the command name. */
int cmd_cred(int argc, char **argv);
int cmd_hmac12(int argc, char **argv);
int cmd_hmac13(int argc, char **argv);
int cmd_pkg0(int argc, char **argv);
int cmd_bootstrap(int argc, char **argv);
int run_make(int argc, char **argv); /* bootstrap make */
int cmd_gba_kdf(int argc, char **argv);
int cmd_wbxml(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_device_import(int argc, char **argv); /* device import (cmd_import.c) */
int cmd_notify(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_store(int argc, char **argv);
/* Management (cmd_mgmt.c): the command queue, results, inventory, events, FUMO. */
int cmd_cmd(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_inventory(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_fumo(int argc, char **argv);

/* Options are "--name value" pairs, or "--flag" alone when listed in flags.
 * opts_parse fills up to 32 entries and returns 0, or prints the problem
 * and returns TOOL_EXIT_USAGE. Values point into argv. */
typedef struct tool_opts {
    int n;
    const char *name[32];
    const char *value[32];
    int used[32];
} tool_opts_t;

int opts_parse(tool_opts_t *o, int argc, char **argv, const char *const *known,
               const char *const *flags);
/* The value of --name, or NULL. */
const char *opt_get(tool_opts_t *o, const char *name);
/* 1 when the flag --name was given. */
int opt_flag(tool_opts_t *o, const char *name);
/* Like opt_get, but prints "missing --name" and returns NULL when absent. */
const char *opt_need(tool_opts_t *o, const char *name);

/* The secret from --secret S or --secret-file F (first line, without the
 * newline). Returns a malloc'd buffer the caller wipes and frees with
 * secret_free, or NULL after printing why. */
char *secret_from_opts(tool_opts_t *o, const char *opt_name, const char *file_opt_name);
void secret_free(char *s);

/* Bootstrap key material from --imsi / --network-id / --pin / --pin-file.
 * s borrows from the options; *pin_buf receives the malloc'd PIN (or NULL)
 * for the caller to release with secret_free. 0 or a TOOL_EXIT_* code. */
struct dmsec_boot_secret;
int boot_secret_from_opts(tool_opts_t *o, struct dmsec_boot_secret *s, char **pin_buf);

/* Reads a whole file ("-" is stdin) into a malloc'd buffer; NULL after
 * printing why. Files over 64 MiB are refused. */
uint8_t *read_file(const char *path, size_t *len);

/* Hex text to bytes into a malloc'd buffer (NULL after printing why). */
uint8_t *hex_arg(const char *what, const char *hex, size_t *len);

/* A JSON string on stdout: valid UTF-8 as is (control characters
 * escaped); bytes that are not UTF-8 each escaped as \u00XX (read as
 * Latin-1, so nothing is lost or invalid; where the bytes matter, give
 * them as hex too). */
void json_bytes(const uint8_t *p, size_t n);
void json_str(const char *s);

/* A --json result: one object on one line of stdout, written field by
 * field, so that every command emits JSON the same way (valid JSON, bytes
 * as "hex" and/or base64 strings, never raw):
 *   tool_json_begin(); tool_json_str("mac", mac); ...; return tool_json_end();
 * Names are written as given (plain ASCII); a NULL string is null.
 * tool_json_end closes the object and the line and returns 0, or
 * TOOL_EXIT_FAIL after saying stdout could not be written. */
void tool_json_begin(void);
void tool_json_str(const char *name, const char *value);
void tool_json_int(const char *name, long long value);
void tool_json_bool(const char *name, int value);
void tool_json_hex(const char *name, const uint8_t *p, size_t n);    /* lowercase hex */
void tool_json_base64(const char *name, const uint8_t *p, size_t n); /* RFC 4648 */
/* p[0..n) in base64, malloc'd for the caller to free (NULL when out of
 * memory). */
char *tool_b64_alloc(const uint8_t *p, size_t n);
/* "name": then the caller writes the value (an object or array of its own). */
void tool_json_key(const char *name);
int tool_json_end(void);

/* The store's server id into out: the one recorded, or (none yet) want or
 * "dmsec", recorded now. A want that differs from the recorded one is
 * refused with a message naming both. 0 or a TOOL_EXIT_* code. */
struct dmsec_store;
int tool_server_id(struct dmsec_store *st, const char *want, char *out, size_t cap);

/* The notification options (--server-id, --ui, --addr, --ttl, --resync)
 * into *no, now = the current time: 0, or TOOL_EXIT_USAGE after printing
 * why. Shared by notify and the management commands' --notify. */
struct dmsec_notify_opts;
int notify_opts_from(tool_opts_t *o, struct dmsec_notify_opts *no);

/* The store named by --db, opened; NULL after printing why (naming the
 * path: no database there, not a dmsec store, no such directory).
 * tool_store_open creates a missing store (device add); the modes:
 * TOOL_STORE_READ for the commands that only read (never creates or
 * changes the file, nor migrates it), TOOL_STORE_WRITE for those that
 * change an existing store (refuse a missing one). */
#define TOOL_STORE_CREATE 0
#define TOOL_STORE_WRITE 1
#define TOOL_STORE_READ 2
struct dmsec_store;
struct dmsec_store *tool_store_open(tool_opts_t *o);
struct dmsec_store *tool_store_open_mode(tool_opts_t *o, int mode);
/* The path of the store opened last, for messages. */
const char *tool_store_name(void);
/* Prints "no device 'ID' in PATH" and returns TOOL_EXIT_FAIL. */
int tool_no_device(const char *device_id);

/* A device record from text (device add's options, a CSV row of device
 * import); NULL or "" where not given (server_scheme: the scheme's;
 * srvcred_path: ./DMAcc/dmsec/AppAuth/SRVCRED). */
typedef struct tool_device_in {
    const char *device_id;
    const char *client_name;
    const char *scheme; /* basic|md5|sha256|hmac-md5|hmac-sha256 */
    const char *server_scheme;
    const char *notify; /* udp://HOST:PORT */
    const char *cert_subject;
    const char *srvcred_path;
} tool_device_in_t;
struct dmsec_device;
/* Checks in and fills d's names, schemes and addresses (no secrets): 0,
 * or TOOL_EXIT_USAGE with *field the bad one ("scheme", ...) and why
 * what is wrong with it ("must be basic, md5 or sha256"). */
int tool_device_fields(const tool_device_in_t *in, struct dmsec_device *d, const char **field,
                       char *why, size_t cap);
/* 0 when both secrets take 1 to DMSEC_SECRET_MAX bytes, else
 * TOOL_EXIT_USAGE with *field "client_secret" or "server_secret". */
int tool_secret_check(const char *client_secret, const char *server_secret, const char **field);
/* The secrets into d (fields set, secrets checked) for the store's server
 * id: pre-hashes, plaintexts only where the protocol needs them, created
 * now, fresh nonces where d has none. 0 or TOOL_EXIT_FAIL. */
int tool_device_keys(struct dmsec_device *d, const char *client_secret, const char *server_secret,
                     const char *server_id);
/* A new secret of TOOL_SECRET_LEN characters from the OS CSPRNG (the
 * server secret of device add, the generated secrets of device import):
 * 0, or TOOL_EXIT_FAIL after saying why. */
#define TOOL_SECRET_LEN 32
int tool_secret_new(char out[TOOL_SECRET_LEN + 1]);
/* Who runs this command, for audit rows and queued commands: "cli:" and
 * the login name ($USER, $LOGNAME, or the password entry of the uid), else
 * "cli:uid N"; worked out once per process. */
const char *tool_operator(void);
/* An audit row "by cli:USER[: detail]" for a change an operator made
 * (never a secret in detail). */
int tool_audit_change(struct dmsec_store *st, const char *device_id, const char *event,
                      const char *detail);

/* A progress bar on stderr for bulk work: a "\r" bar on a tty, else a
 * line per 10%. */
struct tool_progress {
    const char *label;
    size_t total;
    size_t done;
    int tty;
    int shown; /* percent drawn (tty) or tenths printed (lines) */
};
void tool_progress_start(struct tool_progress *p, const char *label, size_t total);
void tool_progress_step(struct tool_progress *p);

/* A time as "YYYY-MM-DDTHH:MM:SSZ" (UTC), or "-" when t <= 0 (never). */
void tool_iso_time(int64_t t, char out[32]);

/* Prints "dmsec: <fmt...>" on stderr. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "dmsec: <what>: <dmsec_strerror(err)> (<name>)" and returns TOOL_EXIT_FAIL. */
int tool_fail(const char *what, int err);

#endif
