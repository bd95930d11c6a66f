/*
 * api.h - the pure steps of the management API (server/api.c) apart from
 * libmicrohttpd and the store's I/O, so that they can be tested and fuzzed
 * alone (tests/fuzz/fuzz_api_json.c): the JSON bodies of a command queueing
 * and of a FUMO request turned into what the store takes.
 */
#ifndef DMSEC_SERVER_API_H
#define DMSEC_SERVER_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dmsec/store.h"

/* Members of one Atomic or Sequence, at most. */
#define API_GROUP_MAX 64

/* A DM URI as the API takes it: non-empty, no spaces, controls, '?', '#'
 * or "//". 0, or -1 with err (naming key; err NULL or ecap 0: no
 * message). */
int api_check_uri(const char *u, const char *key, char *err, size_t ecap);

/* The commands of a queueing body (an object: a command, or a group with
 * its "commands"), for device: (*cmds)[0] the command or group, then the
 * members, *n in all, each with device_id, queued_by "api" and expires in
 * seconds from now (0: never). 0; -1 with err on bad input (a 400
 * bad_request; err empty when out of memory); -2 with err when data is
 * over DMSEC_STORE_VALUE_MAX (a 400 too_large). On error *cmds is NULL
 * and *n 0. Release with api_cmds_free. "notify" is not checked here. */
int api_cmds_from_json(json_t *req, const char *device, dmsec_store_cmd_t **cmds, size_t *n,
                       char *err, size_t ecap);
void api_cmds_free(dmsec_store_cmd_t *cmds, size_t n);

/* A FUMO body: url and sha256 strings, size and expires non-negative
 * integers, node a DM URI, notify a boolean (each optional but url and
 * sha256). Strings point into req. 0, or -1 on bad input. */
struct api_fumo {
    const char *url;
    const char *sha256;
    const char *node; /* NULL: the store's default */
    int64_t size;     /* 0 when not given */
    int64_t expires;  /* seconds from now, 0: never */
    int notify;
};
int api_fumo_from_json(json_t *req, struct api_fumo *out);

#endif
