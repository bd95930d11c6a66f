/*
 * exec.c - the agent's management configuration and its Exec handlers.
 *
 * An Exec on a node with a configured handler (--exec-handler URI=PROGRAM)
 * runs PROGRAM with fork/exec, no shell, argv {PROGRAM, URI}, stdin
 * /dev/null, its stdout sent to stderr, and in its environment
 * DMSEC_EXEC_URI, DMSEC_EXEC_SERVER, DMSEC_EXEC_CORRELATOR (empty when none)
 * and DMSEC_EXEC_DATA (the Item Data; data with a NUL byte answers 415,
 * more than 64 KiB 413). Its exit code is the Status: 0 -> 200, 1 -> 500,
 * 2 -> 400, 3 -> 406, 4 -> 405, 5 -> 202 (accepted, it goes on by itself),
 * any other -> 500; killed or past --exec-timeout (default 30 s) -> 500.
 * An Exec on a node without a handler answers 405. The Exec of
 * ./FUMO/dmsec/DownloadAndUpdate goes to fumo.c.
 */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "dmsec/errors.h"

#define EXEC_DATA_MAX 65536

cli_mgmt_t cli_mgmt = {.exec_timeout = 30, .fumo_timeout = 600, .fumo_max = 268435456ull};

const char *const cli_mgmt_opts[] = {
    "exec-handler", "exec-timeout", "fumo-hook",  "fumo-timeout", "fumo-max-size", "dev-type",
    "oem",          "fw-version",   "sw-version", "hw-version",   "max-obj-size",  NULL};

static int parse_num(const char *name, const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || end == s || s[0] == '-' || v < lo || v > hi) {
        cli_err("--%s must be a number in %llu..%llu", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* The URI without a leading "./" (servers send either form). */
static const char *bare(const char *uri)
{
    return !strncmp(uri, "./", 2) ? uri + 2 : uri;
}

int cli_mgmt_configure(const cli_opts_t *o)
{
    cli_mgmt.n_exec = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->name[i], "exec-handler") != 0 || !o->value[i])
            continue;
        const char *v = o->value[i];
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1] || cli_mgmt.n_exec >= CLI_MAX_EXEC) {
            cli_err("--exec-handler wants URI=PROGRAM (at most %d)", CLI_MAX_EXEC);
            return -1;
        }
        size_t ul = (size_t)(eq - v);
        char *uri = malloc(ul + 1);
        if (!uri) {
            cli_err("out of memory");
            return -1;
        }
        memcpy(uri, v, ul);
        uri[ul] = '\0';
        if (strncmp(uri, "./", 2) != 0 || strchr(uri, '?')) {
            cli_err("--exec-handler: the URI must start with ./ (%s)", uri);
            free(uri);
            return -1;
        }
        cli_mgmt.exec_uri[cli_mgmt.n_exec] = uri; /* lives as long as the process */
        cli_mgmt.exec_cmd[cli_mgmt.n_exec++] = eq + 1;
    }
    unsigned long long n;
    const char *v = cli_opt(o, "exec-timeout");
    if (v) {
        if (parse_num("exec-timeout", v, 1, 86400, &n))
            return -1;
        cli_mgmt.exec_timeout = (long)n;
    }
    if ((v = cli_opt(o, "fumo-timeout"))) {
        if (parse_num("fumo-timeout", v, 1, 86400, &n))
            return -1;
        cli_mgmt.fumo_timeout = (long)n;
    }
    if ((v = cli_opt(o, "fumo-max-size"))) {
        if (parse_num("fumo-max-size", v, 1, 1ull << 40, &n))
            return -1;
        cli_mgmt.fumo_max = n;
    }
    if ((v = cli_opt(o, "max-obj-size"))) {
        if (parse_num("max-obj-size", v, 1, 1ull << 30, &n))
            return -1;
        cli_mgmt.max_obj_size = (size_t)n;
    }
    cli_mgmt.fumo_hook = cli_opt(o, "fumo-hook");
    cli_mgmt.ca = cli_opt(o, "ca");
    cli_mgmt.dev_type = cli_opt(o, "dev-type");
    cli_mgmt.oem = cli_opt(o, "oem");
    cli_mgmt.fwv = cli_opt(o, "fw-version");
    cli_mgmt.swv = cli_opt(o, "sw-version");
    cli_mgmt.hwv = cli_opt(o, "hw-version");
    return 0;
}

int cli_run_program(const char *const *argv, const char *const *env, long timeout_s, int *exit_code)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        cli_err("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        dup2(2, 1);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "dmsec-client: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            cli_err("waitpid: %s", strerror(errno));
            return -1;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s) {
            cli_err("%s ran past %ld s: killed", argv[0], timeout_s);
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        struct timespec d = {0, 10000000}; /* polls the child every 10 ms */
        nanosleep(&d, NULL);
    }
    if (!WIFEXITED(st)) {
        cli_err("%s was killed by signal %d", argv[0], WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return -1;
    }
    *exit_code = WEXITSTATUS(st);
    return WEXITSTATUS(st) == 127 ? -1 : 0;
}

/* Exit code -> SyncML status. */
static int exit_status(int code)
{
    static const int map[] = {200, 500, 400, 406, 405, 202};
    return code >= 0 && (size_t)code < sizeof map / sizeof map[0] ? map[code] : 500;
}

static int run_handler(const char *cmd, const char *sid, const char *uri, const uint8_t *data,
                       size_t len, const char *correlator)
{
    if (len > EXEC_DATA_MAX)
        return 413;
    if (len && memchr(data, 0, len))
        return 415;
    size_t cap = len + 32;
    char *d = malloc(cap);
    char *u = malloc(strlen(uri) + 32);
    char *s = malloc(strlen(sid) + 32);
    char *c = malloc((correlator ? strlen(correlator) : 0) + 32);
    int status = 500;
    if (d && u && s && c) {
        snprintf(d, cap, "DMSEC_EXEC_DATA=%.*s", (int)len, len ? (const char *)data : "");
        sprintf(u, "DMSEC_EXEC_URI=%s", uri);
        sprintf(s, "DMSEC_EXEC_SERVER=%s", sid);
        sprintf(c, "DMSEC_EXEC_CORRELATOR=%s", correlator ? correlator : "");
        const char *env[] = {d, u, s, c, NULL};
        const char *argv[] = {cmd, uri, NULL};
        int code = 0;
        if (cli_run_program(argv, env, cli_mgmt.exec_timeout, &code) == 0)
            status = exit_status(code);
        fprintf(stderr, "dmsec-client: exec %s by %s: status %d\n", uri, sid, status);
    }
    free(d);
    free(u);
    free(s);
    free(c);
    return status;
}

/* The tree's Exec handler. */
static int dispatch(void *ctx, const char *server_id, const char *uri, const uint8_t *data,
                    size_t len, const char *correlator)
{
    dmsec_tree_t *t = ctx;
    if (!strcmp(bare(uri), bare(CLI_FUMO_NODE "/DownloadAndUpdate")))
        return cli_fumo_exec(t, server_id, correlator);
    for (size_t i = 0; i < cli_mgmt.n_exec; i++) {
        if (!strcmp(bare(uri), bare(cli_mgmt.exec_uri[i])))
            return run_handler(cli_mgmt.exec_cmd[i], server_id, uri, data, len, correlator);
    }
    return DMSEC_ERR_TREE_NOT_ALLOWED;
}

int cli_acl_grant(dmsec_tree_t *t, const char *uri, const char *const *ops, const char *sid)
{
    static const char *const names[] = {"Add", "Delete", "Exec", "Get", "Replace"};
    dmsec_tree_info_t info;
    int rc = dmsec_tree_get_local(t, uri, &info);
    if (rc)
        return rc;
    char acl[DMSEC_TREE_MAX_ACL + 1];
    snprintf(acl, sizeof acl, "%s", info.acl);
    for (size_t k = 0; ops[k]; k++) {
        dmsec_tree_op_t op = DMSEC_TREE_OP_GET;
        for (size_t j = 0; j < 5; j++) {
            if (!strcmp(names[j], ops[k]))
                op = (dmsec_tree_op_t)j;
        }
        if (acl[0] && dmsec_tree_acl_allows(acl, op, sid))
            continue;
        char entry[64];
        snprintf(entry, sizeof entry, "%s=", ops[k]);
        char out[DMSEC_TREE_MAX_ACL + 1];
        char *at = NULL;
        for (char *p = strstr(acl, entry); p; p = strstr(p + 1, entry)) {
            if (p == acl || p[-1] == '&') {
                at = p;
                break;
            }
        }
        int n;
        if (at) {
            size_t end = (size_t)(at - acl) + strcspn(at, "&");
            n = snprintf(out, sizeof out, "%.*s+%s%s", (int)end, acl, sid, acl + end);
        } else {
            n = snprintf(out, sizeof out, "%s%s%s=%s", acl, acl[0] ? "&" : "", ops[k], sid);
        }
        if (n < 0 || (size_t)n >= sizeof out)
            return DMSEC_ERR_TREE_FORMAT;
        memcpy(acl, out, (size_t)n + 1);
    }
    return strcmp(acl, info.acl) ? dmsec_tree_set_acl_local(t, uri, acl) : DMSEC_OK;
}

int cli_mgmt_prepare(dmsec_tree_t *t, const char *server_id)
{
    char acc[DMSEC_TREE_MAX_SEGMENT + 1];
    /* Only a server with an account here is granted management rights. */
    if (server_id && dmsec_tree_find_account(t, server_id, acc, sizeof acc) != DMSEC_OK)
        server_id = NULL;
    int rc = cli_devdetail_fill(t);
    if (!rc && server_id)
        rc = cli_fumo_prepare(t, server_id);
    static const char *const exec_ops[] = {"Exec", "Get", NULL};
    for (size_t i = 0; !rc && server_id && i < cli_mgmt.n_exec; i++) {
        dmsec_tree_info_t info;
        const char *uri = cli_mgmt.exec_uri[i];
        if (dmsec_tree_get_local(t, uri, &info) != DMSEC_OK)
            rc = dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, "", 0);
        if (!rc)
            rc = cli_acl_grant(t, uri, exec_ops, server_id);
    }
    if (rc) {
        cli_err("cannot prepare the management nodes: %s", dmsec_errname(rc));
        return -1;
    }
    dmsec_tree_set_exec(t, dispatch, t);
    return 0;
}
