/*
 * fumo.c - firmware update (OMA FUMO 1.0) on the node ./FUMO/dmsec.
 *
 *   ./FUMO/dmsec            ACL Get, Replace, Exec for the managing servers
 *     PkgName, PkgVersion
 *     DownloadAndUpdate/PkgURL
 *     State                 own ACL Get only (the agent keeps it)
 *     Ext/dmsec/SHA256      hex digest the package must have (required)
 *     Ext/dmsec/Size        its size in bytes (optional)
 *     Ext/dmsec/Job/...     the accepted job (Server, Correlator, URL, SHA256, Size)
 *     Ext/dmsec/Report/...  the outcome waiting for delivery (Server,
 *                           Correlator, Result, Tag)
 *
 * The Exec of DownloadAndUpdate answers 202 and copies the URL, digest and
 * size into Job (405 while a job or a report is pending). After the session
 * cli_fumo_run downloads the package with libcurl next to the tree file
 * (TREE.fumo.part, then TREE.fumo.pkg), checks its size and SHA-256, runs
 * --fumo-hook PROGRAM PKG_PATH, and writes the Report; State goes 30
 * (downloading), 20 (download failed), 40 (downloaded), 60 (updating), 100
 * or 80 (update failed), the tree being saved at every step. The Report is
 * sent as a Generic Alert (1226) in the next session with the job's server
 * and cleared once the server's Status for it comes back.
 *
 * Result codes: 200 success; 402 corrupted package (digest or size
 * mismatch, or no valid digest given); 411 bad URL (not http/https);
 * 501 HTTP error or the package over --fumo-max-size; 503 network failure;
 * 410 update failed (hook non-zero, killed, or none configured).
 *
 * After a crash (kill -9) the next run finds the job by its State: 10, 20
 * or 30 restart the download from scratch; 40 checks the downloaded file
 * again and updates; 60 (the hook was running) reports 410 with State 80,
 * since an interrupted install is not known to be safe to repeat.
 */
#define _DEFAULT_SOURCE

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "client.h"
#include "dmsec/errors.h"

#define N CLI_FUMO_NODE
#define JOB N "/Ext/dmsec/Job"
#define REPORT N "/Ext/dmsec/Report"
#define ALERT_TYPE "org.openmobilealliance.dm.firmwareupdate.downloadandupdate"
#define STR_MAX 2048

static void get_str(const dmsec_tree_t *t, const char *uri, char *out, size_t cap)
{
    dmsec_tree_info_t info;
    out[0] = '\0';
    if (dmsec_tree_get_local(t, uri, &info) == DMSEC_OK && info.format != DMSEC_TREE_NODE &&
        info.value_len < cap) {
        memcpy(out, info.value, info.value_len);
        out[info.value_len] = '\0';
    }
}

static int set_str(dmsec_tree_t *t, const char *uri, const char *v)
{
    return dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, v, strlen(v));
}

static int set_state(dmsec_tree_t *t, int state)
{
    char v[16];
    snprintf(v, sizeof v, "%d", state);
    return dmsec_tree_set_local(t, N "/State", DMSEC_TREE_INT, NULL, v, strlen(v));
}

static int missing(const dmsec_tree_t *t, const char *uri)
{
    dmsec_tree_info_t info;
    return dmsec_tree_get_local(t, uri, &info) != DMSEC_OK;
}

int cli_fumo_prepare(dmsec_tree_t *t, const char *server_id)
{
    static const char *const leaves[] = {
        N "/PkgName",          N "/PkgVersion",     N "/DownloadAndUpdate/PkgURL",
        N "/Ext/dmsec/SHA256", N "/Ext/dmsec/Size", JOB "/Server",
        JOB "/Correlator",     JOB "/URL",          JOB "/SHA256",
        JOB "/Size",           REPORT "/Server",    REPORT "/Correlator",
        REPORT "/Result",      REPORT "/Tag"};
    static const char *const mgr[] = {"Get", "Replace", "Exec", NULL};
    static const char *const ro[] = {"Get", NULL};
    int rc = DMSEC_OK;
    if (missing(t, "./FUMO")) {
        rc = dmsec_tree_set_local(t, "./FUMO", DMSEC_TREE_NODE, NULL, NULL, 0);
        if (!rc)
            rc = dmsec_tree_set_acl_local(t, "./FUMO", "Get=*");
        if (!rc)
            rc = dmsec_tree_set_flags_local(t, "./FUMO", DMSEC_TREE_PERMANENT);
    }
    if (!rc && missing(t, N)) {
        rc = dmsec_tree_set_local(t, N, DMSEC_TREE_NODE, NULL, NULL, 0);
        if (!rc)
            rc = dmsec_tree_set_flags_local(t, N, DMSEC_TREE_PERMANENT);
    }
    for (size_t i = 0; !rc && i < sizeof leaves / sizeof leaves[0]; i++) {
        if (missing(t, leaves[i]))
            rc = set_str(t, leaves[i], "");
    }
    if (!rc && missing(t, N "/State"))
        rc = set_state(t, 10);
    if (!rc)
        rc = cli_acl_grant(t, N, mgr, server_id);
    if (!rc)
        rc = cli_acl_grant(t, N "/State", ro, server_id);
    if (!rc)
        rc = cli_acl_grant(t, JOB, ro, server_id);
    if (!rc)
        rc = cli_acl_grant(t, REPORT, ro, server_id);
    return rc;
}

int cli_fumo_exec(dmsec_tree_t *t, const char *server_id, const char *correlator)
{
    char v[STR_MAX];
    char r[STR_MAX];
    get_str(t, JOB "/Server", v, sizeof v);
    get_str(t, REPORT "/Server", r, sizeof r);
    if (v[0] || r[0]) {
        fprintf(stderr, "dmsec-client: fumo: a job is %s; Exec refused\n",
                v[0] ? "pending" : "waiting to report");
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    }
    static const char *const from[] = {N "/DownloadAndUpdate/PkgURL", N "/Ext/dmsec/SHA256",
                                       N "/Ext/dmsec/Size"};
    static const char *const to[] = {JOB "/URL", JOB "/SHA256", JOB "/Size"};
    int rc = DMSEC_OK;
    for (size_t i = 0; !rc && i < 3; i++) {
        get_str(t, from[i], v, sizeof v);
        rc = set_str(t, to[i], v);
    }
    if (!rc)
        rc = set_str(t, JOB "/Correlator", correlator ? correlator : "");
    if (!rc)
        rc = set_str(t, JOB "/Server", server_id);
    if (!rc)
        rc = set_state(t, 10);
    if (rc)
        return rc;
    fprintf(stderr, "dmsec-client: fumo: job accepted from %s (correlator %s)\n", server_id,
            correlator ? correlator : "-");
    return 202;
}

/* ---- the job ---- */

struct dl {
    FILE *f;
    EVP_MD_CTX *md;
    unsigned long long n, max;
    int over;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct dl *d = ud;
    size_t len = size * nmemb;
    if (d->n + len > d->max) {
        d->over = 1;
        return 0;
    }
    if (fwrite(p, 1, len, d->f) != len || EVP_DigestUpdate(d->md, p, len) != 1)
        return 0;
    d->n += len;
    return len;
}

static int url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    }
    return strlen(u) > 8;
}

static int hex_digest(const char *hex, uint8_t out[32])
{
    if (strlen(hex) != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        char *end = NULL;
        unsigned long v = strtoul(two, &end, 16);
        if (end != two + 2)
            return -1;
        out[i] = (uint8_t)v;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!strchr("0123456789abcdefABCDEF", hex[i]))
            return -1;
    }
    return 0;
}

/* Downloads url into path; the FUMO result code (0 when complete). */
static int download(const char *url, const char *path, unsigned long long max, uint8_t digest[32],
                    unsigned long long *got)
{
    struct dl d = {.max = max};
    d.f = fopen(path, "wb");
    d.md = EVP_MD_CTX_new();
    CURL *h = curl_easy_init();
    if (!d.f || !d.md || !h || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1) {
        cli_err("fumo: cannot start the download to %s", path);
        if (d.f)
            fclose(d.f);
        EVP_MD_CTX_free(d.md);
        curl_easy_cleanup(h);
        return 501;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, cli_mgmt.fumo_timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d);
    if (cli_mgmt.ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, cli_mgmt.ca);
    CURLcode cc = curl_easy_perform(h);
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
    unsigned int dl = 0;
    int ok = EVP_DigestFinal_ex(d.md, digest, &dl) == 1;
    int closed = fflush(d.f) == 0 && fsync(fileno(d.f)) == 0;
    closed = fclose(d.f) == 0 && closed;
    EVP_MD_CTX_free(d.md);
    curl_easy_cleanup(h);
    *got = d.n;
    int result = 0;
    if (d.over)
        result = 424; /* told apart by the caller */
    else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
        result = 411;
    else if (cc == CURLE_HTTP_RETURNED_ERROR || (cc == CURLE_OK && (!ok || !closed)))
        result = 501; /* the server answered, but not with the package */
    else if (cc != CURLE_OK)
        result = 503;
    fprintf(stderr, "dmsec-client: fumo: download: %s http=%ld bytes=%llu\n",
            cc == CURLE_OK ? "complete" : curl_easy_strerror(cc), http, d.n);
    return result;
}

static int hash_file(const char *path, uint8_t digest[32], unsigned long long *size)
{
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;
    *size = 0;
    if (f && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        uint8_t buf[65536];
        size_t n;
        rc = 0;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            if (EVP_DigestUpdate(md, buf, n) != 1)
                rc = -1;
            *size += n;
        }
        unsigned int dl = 0;
        if (ferror(f) || EVP_DigestFinal_ex(md, digest, &dl) != 1)
            rc = -1;
    }
    if (f)
        fclose(f);
    EVP_MD_CTX_free(md);
    return rc;
}

static int save_state(dmsec_tree_t *t, const char *tree_path, int state)
{
    if (set_state(t, state) != DMSEC_OK || treefile_save(tree_path, t) != 0) {
        cli_err("fumo: cannot save State %d", state);
        return -1;
    }
    fprintf(stderr, "dmsec-client: fumo: State %d\n", state);
    return 0;
}

/* Writes the report and clears the job, in one save. */
static int finish(dmsec_tree_t *t, const char *tree_path, int state, int result)
{
    char sid[STR_MAX];
    char corr[STR_MAX];
    char v[32];
    get_str(t, JOB "/Server", sid, sizeof sid);
    get_str(t, JOB "/Correlator", corr, sizeof corr);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long tag = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int rc = set_str(t, REPORT "/Server", sid);
    if (!rc)
        rc = set_str(t, REPORT "/Correlator", corr);
    snprintf(v, sizeof v, "%d", result);
    if (!rc)
        rc = set_str(t, REPORT "/Result", v);
    snprintf(v, sizeof v, "%lld", tag);
    if (!rc)
        rc = set_str(t, REPORT "/Tag", v);
    static const char *const job[] = {JOB "/Server", JOB "/Correlator", JOB "/URL", JOB "/SHA256",
                                      JOB "/Size"};
    for (size_t i = 0; !rc && i < sizeof job / sizeof job[0]; i++)
        rc = set_str(t, job[i], "");
    if (rc) {
        cli_err("fumo: cannot record the report: %s", dmsec_errname(rc));
        return -1;
    }
    if (cli_json) {
        json_t *j = json_pack("{s:s,s:s,s:i,s:i}", "event", "fumo", "fumo", "done", "state", state,
                              "result", result);
        json_object_set_new(j, "server", cli_json_text(sid));
        json_object_set_new(j, "correlator", corr[0] ? cli_json_text(corr) : json_null());
        cli_json_line(j);
    } else {
        printf("fumo=done state=%d result=%d server=%s correlator=%s\n", state, result, sid,
               corr[0] ? corr : "-");
    }
    fflush(stdout);
    return save_state(t, tree_path, state);
}

static int run_hook(const char *pkg)
{
    if (!cli_mgmt.fumo_hook) {
        cli_err("fumo: no --fumo-hook: cannot install the package");
        return 410;
    }
    char *env_pkg = malloc(strlen(pkg) + 32);
    if (!env_pkg)
        return 410;
    sprintf(env_pkg, "DMSEC_FUMO_PACKAGE=%s", pkg);
    const char *env[] = {env_pkg, NULL};
    const char *argv[] = {cli_mgmt.fumo_hook, pkg, NULL};
    int code = -1;
    int rc = cli_run_program(argv, env, cli_mgmt.fumo_timeout, &code);
    free(env_pkg);
    fprintf(stderr, "dmsec-client: fumo: hook exit %d\n", rc ? -1 : code);
    return rc == 0 && code == 0 ? 200 : 410;
}

int cli_fumo_run(dmsec_tree_t *t, const char *tree_path)
{
    char sid[STR_MAX];
    char url[STR_MAX];
    char hex[STR_MAX];
    char size_s[STR_MAX];
    char state_s[16];
    get_str(t, JOB "/Server", sid, sizeof sid);
    if (!sid[0])
        return 0;
    get_str(t, JOB "/URL", url, sizeof url);
    get_str(t, JOB "/SHA256", hex, sizeof hex);
    get_str(t, JOB "/Size", size_s, sizeof size_s);
    get_str(t, N "/State", state_s, sizeof state_s);
    int state = (int)strtol(state_s, NULL, 10);
    size_t pl = strlen(tree_path) + 16;
    char *part = malloc(pl);
    char *pkg = malloc(pl);
    if (!part || !pkg) {
        free(part);
        free(pkg);
        return -1;
    }
    snprintf(part, pl, "%s.fumo.part", tree_path);
    snprintf(pkg, pl, "%s.fumo.pkg", tree_path);
    int ret = 1;
    uint8_t want[32];
    uint8_t got[32];
    unsigned long long size = 0;
    int has_size = size_s[0] != '\0';
    if (has_size) {
        char *end = NULL;
        errno = 0;
        size = strtoull(size_s, &end, 10);
        if (errno || !end || *end || size_s[0] == '-')
            has_size = -1;
    }
    if (state == 60) {
        cli_err("fumo: the update was interrupted: reporting it failed");
        unlink(pkg);
        ret = finish(t, tree_path, 80, 410) ? -1 : 1;
        goto out;
    }
    if (!url_ok(url)) {
        ret = finish(t, tree_path, 20, 411) ? -1 : 1;
        goto out;
    }
    if (hex_digest(hex, want) != 0 || has_size < 0) {
        cli_err("fumo: the job has no valid SHA256%s", has_size < 0 ? " or Size" : "");
        ret = finish(t, tree_path, 20, 402) ? -1 : 1;
        goto out;
    }
    unsigned long long n = 0;
    if (state != 40) {
        if (save_state(t, tree_path, 30)) {
            ret = -1;
            goto out;
        }
        unsigned long long max =
            has_size && size < cli_mgmt.fumo_max ? size + 1 : cli_mgmt.fumo_max;
        int r = download(url, part, max, got, &n);
        if (r == 424)
            r = has_size && size < cli_mgmt.fumo_max ? 402 : 501;
        else if (!r && ((has_size && n != size) || memcmp(got, want, 32) != 0))
            r = 402;
        if (r) {
            unlink(part);
            ret = finish(t, tree_path, 20, r) ? -1 : 1;
            goto out;
        }
        if (rename(part, pkg) != 0 || save_state(t, tree_path, 40)) {
            cli_err("fumo: cannot keep the package %s: %s", pkg, strerror(errno));
            unlink(part);
            ret = finish(t, tree_path, 20, 501) ? -1 : 1;
            goto out;
        }
    } else if (hash_file(pkg, got, &n) != 0 || memcmp(got, want, 32) != 0 ||
               (has_size && n != size)) {
        unlink(pkg);
        ret = finish(t, tree_path, 20, 402) ? -1 : 1;
        goto out;
    }
    if (save_state(t, tree_path, 60)) {
        ret = -1;
        goto out;
    }
    int result = run_hook(pkg);
    unlink(pkg);
    ret = finish(t, tree_path, result == 200 ? 100 : 80, result) ? -1 : 1;
out:
    free(part);
    free(pkg);
    return ret;
}

/* ---- the report ---- */

int cli_fumo_report_pending(const dmsec_tree_t *t, char *server_id, size_t cap)
{
    char sid[STR_MAX];
    get_str(t, REPORT "/Server", sid, sizeof sid);
    if (!sid[0] || strlen(sid) >= cap)
        return 0;
    memcpy(server_id, sid, strlen(sid) + 1);
    return 1;
}

int cli_fumo_queue_alert(const dmsec_tree_t *t, dmsec_session_t *s, const char *server_id)
{
    char sid[STR_MAX];
    char corr[STR_MAX];
    char result[32];
    char tag[32];
    get_str(t, REPORT "/Server", sid, sizeof sid);
    if (!sid[0] || strcmp(sid, server_id) != 0)
        return 0;
    get_str(t, REPORT "/Correlator", corr, sizeof corr);
    get_str(t, REPORT "/Result", result, sizeof result);
    get_str(t, REPORT "/Tag", tag, sizeof tag);
    dmsec_mgmt_cmd_t a = {
        .tag = strtoll(tag, NULL, 10),
        .type = DMSEC_CMD_ALERT,
        .source = N "/DownloadAndUpdate",
        .data = (const uint8_t *)result,
        .data_len = strlen(result),
        .has_data = 1,
        .format = "int",
        .mime = ALERT_TYPE,
        .correlator = corr[0] ? corr : NULL,
        .alert_code = 1226,
    };
    int rc = dmsec_session_client_alert(s, &a);
    if (rc) {
        cli_err("fumo: cannot queue the report: %s", dmsec_errname(rc));
        return -1;
    }
    fprintf(stderr, "dmsec-client: fumo: report %s queued for %s\n", result, sid);
    return 0;
}

int cli_fumo_alert_done(dmsec_tree_t *t, int64_t tag, int status)
{
    char v[32];
    get_str(t, REPORT "/Tag", v, sizeof v);
    if (!v[0] || strtoll(v, NULL, 10) != tag)
        return DMSEC_OK;
    static const char *const rep[] = {REPORT "/Server", REPORT "/Correlator", REPORT "/Result",
                                      REPORT "/Tag"};
    int rc = DMSEC_OK;
    for (size_t i = 0; !rc && i < sizeof rep / sizeof rep[0]; i++)
        rc = set_str(t, rep[i], "");
    if (cli_json)
        cli_json_line(
            json_pack("{s:s,s:s,s:i}", "event", "fumo", "fumo", "reported", "status", status));
    else
        printf("fumo=reported status=%d\n", status);
    fflush(stdout);
    return rc;
}
