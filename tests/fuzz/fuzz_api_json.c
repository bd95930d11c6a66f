/* The management API's request bodies (server/api_parse.c), read as
 * op_cmd_queue and op_fumo read them: JSON through jansson (duplicates
 * refused, an object), then the commands to queue and the FUMO request.
 * Whatever comes in, an accepted queueing holds well-formed commands (a
 * known kind, a DM URI target, members only under a group, data within
 * the store's bound, every string terminated) and a refusal names why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void terminated(const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        abort();
}

static int is_group(dmsec_cmd_type_t k)
{
    return k == DMSEC_CMD_ATOMIC || k == DMSEC_CMD_SEQUENCE;
}

static void check_cmd(const dmsec_store_cmd_t *c, int member)
{
    char err[128];
    terminated(c->device_id, sizeof c->device_id);
    terminated(c->target, sizeof c->target);
    terminated(c->source, sizeof c->source);
    terminated(c->format, sizeof c->format);
    terminated(c->mime, sizeof c->mime);
    terminated(c->correlator, sizeof c->correlator);
    terminated(c->queued_by, sizeof c->queued_by);
    if (strcmp(c->device_id, "IMEI:1") || strcmp(c->queued_by, "api"))
        abort();
    if (!dmsec_cmd_kind_name(c->kind))
        abort();
    if (is_group(c->kind)) {
        if (member || c->target[0] || c->has_data)
            abort();
    } else if (api_check_uri(c->target, "target", err, sizeof err)) {
        abort();
    }
    if ((c->kind == DMSEC_CMD_COPY) != (c->source[0] != 0))
        abort();
    if (c->has_data && (!c->data || c->data_len > DMSEC_STORE_VALUE_MAX))
        abort();
    if (!c->has_data && (c->data || c->data_len))
        abort();
    if (c->expires < 0 || c->expires > 86400LL * 3650)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (!req)
        return 0;
    if (!json_is_object(req)) {
        json_decref(req);
        return 0;
    }
    dmsec_store_cmd_t *cmds = NULL;
    size_t n = 0;
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = api_cmds_from_json(req, "IMEI:1", &cmds, &n, err, sizeof err);
    terminated(err, sizeof err);
    if (rc == 0) {
        if (!cmds || n < 1 || n > API_GROUP_MAX + 1 || err[0])
            abort();
        check_cmd(&cmds[0], 0);
        if (is_group(cmds[0].kind) != (n > 1))
            abort();
        for (size_t i = 1; i < n; i++)
            check_cmd(&cmds[i], 1);
    } else {
        /* a refusal says why (only running out of memory says nothing) */
        if ((rc != -1 && rc != -2) || cmds || n || !err[0])
            abort();
    }
    api_cmds_free(cmds, n);

    struct api_fumo f;
    if (api_fumo_from_json(req, &f) == 0) {
        if (!f.url || !f.sha256 || f.size < 0 || f.expires < 0 || (f.notify != 0 && f.notify != 1))
            abort();
        char uerr[128];
        if (f.node && api_check_uri(f.node, "node", uerr, sizeof uerr))
            abort();
    }
    json_decref(req);
    return 0;
}
