/*
 * api_parse.c - the management API's request bodies turned into what the
 * store takes (api.h), without I/O: commands to queue (one, or an Atomic or
 * Sequence with its members) and FUMO requests.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/encoding.h"

static const char *const formats[] = {"b64",  "bin", "bool", "chr",  "int",  "node",
                                      "null", "xml", "date", "time", "float"};

static int copy_field(char *dst, size_t cap, json_t *o, const char *key, char *err, size_t ecap)
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, ecap, "%s: want a string", key);
        return -1;
    }
    size_t n = json_string_length(v);
    if (n >= cap || memchr(json_string_value(v), '\0', n)) {
        snprintf(err, ecap, "%s: too long (at most %zu bytes) or holds a NUL", key, cap - 1);
        return -1;
    }
    memcpy(dst, json_string_value(v), n + 1);
    return 0;
}

int api_check_uri(const char *u, const char *key, char *err, size_t ecap)
{
    int bad = !*u || strstr(u, "//") != NULL;
    for (const unsigned char *p = (const unsigned char *)u; *p && !bad; p++)
        bad = *p < 0x21 || *p == 0x7f || *p == '?' || *p == '#';
    if (bad && err && ecap)
        snprintf(err, ecap, "%s: not a DM URI ('%.64s...'? no spaces, controls, '?', '#', '//')",
                 key, u);
    return bad ? -1 : 0;
}

/* Fills c from a JSON command (a top-level one or a member). -1 with err
 * on bad input (a 400); -2 when the data is over the bound (a 400 too). */
static int cmd_from_json(json_t *o, const char *device, int member, dmsec_store_cmd_t *c, char *err,
                         size_t ecap)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) {
        snprintf(err, ecap, "a command is a JSON object");
        return -1;
    }
    snprintf(c->device_id, sizeof c->device_id, "%s", device);
    snprintf(c->queued_by, sizeof c->queued_by, "api");
    json_t *kind = json_object_get(o, "kind");
    if (!json_is_string(kind) || dmsec_cmd_kind_parse(json_string_value(kind), &c->kind)) {
        snprintf(err, ecap, "kind: want get, replace, add, delete, exec, copy, atomic or sequence");
        return -1;
    }
    int group = c->kind == DMSEC_CMD_ATOMIC || c->kind == DMSEC_CMD_SEQUENCE;
    if (group && member) {
        snprintf(err, ecap, "commands: a member cannot be atomic or sequence");
        return -1;
    }
    if (copy_field(c->target, sizeof c->target, o, "target", err, ecap) ||
        copy_field(c->source, sizeof c->source, o, "source", err, ecap) ||
        copy_field(c->format, sizeof c->format, o, "format", err, ecap) ||
        copy_field(c->mime, sizeof c->mime, o, "type", err, ecap) ||
        copy_field(c->correlator, sizeof c->correlator, o, "correlator", err, ecap))
        return -1;
    if (!group && api_check_uri(c->target, "target", err, ecap))
        return -1;
    if (group && c->target[0]) {
        snprintf(err, ecap, "target: not for %s", json_string_value(kind));
        return -1;
    }
    if (c->kind == DMSEC_CMD_COPY) {
        if (api_check_uri(c->source, "source", err, ecap))
            return -1;
    } else if (c->source[0]) {
        snprintf(err, ecap, "source: only for copy");
        return -1;
    }
    if (c->format[0]) {
        int known = 0;
        for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
            known |= !strcmp(c->format, formats[i]);
        if (!known) {
            snprintf(err, ecap,
                     "format: want one of b64 bin bool chr int node null xml date "
                     "time float");
            return -1;
        }
    }
    json_t *exp = json_object_get(o, "expires");
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) < 0 ||
            json_integer_value(exp) > 86400LL * 3650) {
            snprintf(err, ecap, "expires: want seconds from now (0: never)");
            return -1;
        }
        c->expires = json_integer_value(exp);
    }
    json_t *data = json_object_get(o, "data");
    json_t *b64 = json_object_get(o, "data_b64");
    if (data && b64) {
        snprintf(err, ecap, "data and data_b64: one or the other");
        return -1;
    }
    if ((data || b64) && (group || c->kind == DMSEC_CMD_GET || c->kind == DMSEC_CMD_DELETE ||
                          c->kind == DMSEC_CMD_COPY)) {
        snprintf(err, ecap, "data: not for %s", json_string_value(kind));
        return -1;
    }
    if (data) {
        if (!json_is_string(data)) {
            snprintf(err, ecap, "data: want a string");
            return -1;
        }
        size_t n = json_string_length(data);
        if (n > DMSEC_STORE_VALUE_MAX) {
            snprintf(err, ecap, "data: over %u bytes", DMSEC_STORE_VALUE_MAX);
            return -2;
        }
        c->data = malloc(n ? n : 1);
        if (!c->data) {
            snprintf(err, ecap, "out of memory");
            return -1;
        }
        memcpy(c->data, json_string_value(data), n);
        c->data_len = n;
        c->has_data = 1;
    } else if (b64) {
        if (!json_is_string(b64)) {
            snprintf(err, ecap, "data_b64: want a string");
            return -1;
        }
        size_t n = json_string_length(b64);
        size_t max = DMSEC_B64_DECODED_MAX(n);
        if (max > DMSEC_STORE_VALUE_MAX + 3) {
            snprintf(err, ecap, "data_b64: over %u bytes decoded", DMSEC_STORE_VALUE_MAX);
            return -2;
        }
        c->data = malloc(max ? max : 1);
        if (!c->data) {
            snprintf(err, ecap, "out of memory");
            return -1;
        }
        if (dmsec_b64_decode(json_string_value(b64), n, c->data, max ? max : 1, &c->data_len)) {
            snprintf(err, ecap, "data_b64: not base64");
            return -1;
        }
        if (c->data_len > DMSEC_STORE_VALUE_MAX) {
            snprintf(err, ecap, "data_b64: over %u bytes decoded", DMSEC_STORE_VALUE_MAX);
            return -2;
        }
        c->has_data = 1;
    }
    return 0;
}

void api_cmds_free(dmsec_store_cmd_t *cmds, size_t n)
{
    for (size_t i = 0; cmds && i < n; i++)
        dmsec_store_cmd_clear(&cmds[i]);
    free(cmds);
}

int api_cmds_from_json(json_t *req, const char *device, dmsec_store_cmd_t **cmds, size_t *n,
                       char *err, size_t ecap)
{
    *cmds = NULL;
    *n = 0;
    if (ecap)
        err[0] = '\0';
    json_t *members = json_object_get(req, "commands");
    size_t nm = json_is_array(members) ? json_array_size(members) : 0;
    dmsec_store_cmd_t *c = calloc(nm + 1, sizeof *c);
    if (!c)
        return -1;
    size_t used = 1;
    int rc = cmd_from_json(req, device, 0, &c[0], err, ecap);
    if (!rc) {
        int group = c[0].kind == DMSEC_CMD_ATOMIC || c[0].kind == DMSEC_CMD_SEQUENCE;
        if (group && (!json_is_array(members) || nm == 0 || nm > API_GROUP_MAX)) {
            snprintf(err, ecap, "commands: want an array of 1 to %d commands", API_GROUP_MAX);
            rc = -1;
        } else if (!group && members) {
            snprintf(err, ecap, "commands: only for atomic and sequence");
            rc = -1;
        }
        for (size_t i = 0; !rc && group && i < nm; i++) {
            char merr[200] = "";
            rc = cmd_from_json(json_array_get(members, i), device, 1, &c[i + 1], merr, sizeof merr);
            used = i + 2;
            if (rc)
                snprintf(err, ecap, "commands[%zu]: %s", i, merr);
        }
    }
    if (rc) {
        api_cmds_free(c, used);
        return rc;
    }
    *cmds = c;
    *n = used;
    return 0;
}

int api_fumo_from_json(json_t *req, struct api_fumo *out)
{
    memset(out, 0, sizeof *out);
    json_t *url = json_object_get(req, "url");
    json_t *sha = json_object_get(req, "sha256");
    json_t *size = json_object_get(req, "size");
    json_t *node = json_object_get(req, "node");
    json_t *exp = json_object_get(req, "expires");
    json_t *nv = json_object_get(req, "notify");
    if (!json_is_string(url) || !json_is_string(sha) || (size && !json_is_integer(size)) ||
        (size && json_integer_value(size) < 0) || (node && !json_is_string(node)) ||
        (exp && (!json_is_integer(exp) || json_integer_value(exp) < 0)) ||
        (nv && !json_is_boolean(nv)) ||
        (node && api_check_uri(json_string_value(node), "node", NULL, 0)))
        return -1;
    out->url = json_string_value(url);
    out->sha256 = json_string_value(sha);
    out->node = node ? json_string_value(node) : NULL;
    out->size = size ? json_integer_value(size) : 0;
    out->expires = exp ? json_integer_value(exp) : 0;
    out->notify = json_is_true(nv);
    return 0;
}
