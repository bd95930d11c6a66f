/* bootacc.c - a verified bootstrap message to its DMAcc account
 * (bootacc.h): the message's Add items read into one account, then the
 * account made by the agent's own add-account path
 * (dmsec_tree_add_account, so the ACLs are the same). */
#include "bootacc.h"

#include <stdio.h>
#include <string.h>

#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

static const char *const leaf_names[CLI_BOOT_LEAVES] = {
    "AppID",
    "ServerID",
    "Name",
    "AppAddr/1/Addr",
    "AppAddr/1/AddrType",
    "AAuthPref",
    "AppAuth/CLCRED/AAuthLevel",
    "AppAuth/CLCRED/AAuthType",
    "AppAuth/CLCRED/AAuthName",
    "AppAuth/CLCRED/AAuthSecret",
    "AppAuth/CLCRED/AAuthData",
    "AppAuth/SRVCRED/AAuthLevel",
    "AppAuth/SRVCRED/AAuthType",
    "AppAuth/SRVCRED/AAuthName",
    "AppAuth/SRVCRED/AAuthSecret",
    "AppAuth/SRVCRED/AAuthData",
};

static const char *const interior_names[] = {"AppAddr",        "AppAddr/1",       "AppAuth",
                                             "AppAuth/CLCRED", "AppAuth/SRVCRED", NULL};

const char *cli_boot_leaf_name(int i)
{
    return i >= 0 && i < CLI_BOOT_LEAVES ? leaf_names[i] : NULL;
}

void cli_boot_acc_wipe(cli_boot_acc_t *a)
{
    volatile uint8_t *p = (volatile uint8_t *)a;
    for (size_t i = 0; i < sizeof *a; i++)
        p[i] = 0;
}

/* One Add item into a: "./DMAcc/<acc>[/<rel>]". 0 or an error message. */
static const char *take_item(const dmsec_item_t *it, cli_boot_acc_t *a)
{
    static const char prefix[] = "./DMAcc/";
    const char *uri = it->target ? it->target->uri : NULL;
    if (!uri || strncmp(uri, prefix, sizeof prefix - 1) != 0)
        return "an item outside ./DMAcc";
    const char *acc = uri + sizeof prefix - 1;
    const char *slash = strchr(acc, '/');
    size_t alen = slash ? (size_t)(slash - acc) : strlen(acc);
    if (alen == 0 || alen >= sizeof a->name)
        return "a bad account name";
    if (!a->name[0])
        memcpy(a->name, acc, alen);
    else if (strlen(a->name) != alen || memcmp(a->name, acc, alen) != 0)
        return "items for more than one account";
    const char *fmt = dmsec_meta_str(it->meta, DMSEC_MI_FORMAT);
    if (!slash || !slash[1]) {
        if (!fmt || strcmp(fmt, "node") != 0)
            return "the account node is not of format node";
        return NULL;
    }
    const char *rel = slash + 1;
    for (size_t i = 0; interior_names[i]; i++) {
        if (!strcmp(rel, interior_names[i]))
            return fmt && !strcmp(fmt, "node") ? NULL : "an interior node not of format node";
    }
    int k = -1;
    for (int i = 0; i < CLI_BOOT_LEAVES; i++) {
        if (!strcmp(rel, leaf_names[i]))
            k = i;
    }
    if (k < 0)
        return "an unsupported DMAcc node";
    if (a->seen[k])
        return "a node given twice";
    if (!it->data)
        return "a leaf without Data";
    size_t n = 0;
    if (fmt && !strcmp(fmt, "b64")) {
        if (dmsec_b64_decode(it->data->bytes, it->data->len, a->val[k], CLI_BOOT_VAL_MAX, &n) != 0)
            return "bad base64 data";
    } else {
        if (it->data->len > CLI_BOOT_VAL_MAX)
            return "a value too long";
        memcpy(a->val[k], it->data->bytes, it->data->len);
        n = it->data->len;
    }
    a->val[k][n] = 0;
    a->len[k] = n;
    a->seen[k] = 1;
    return NULL;
}

const char *cli_boot_take(const dmsec_msg_t *msg, cli_boot_acc_t *a)
{
    int adds = 0;
    for (const dmsec_cmd_t *c = msg->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_ADD)
            return "a command other than Add";
        adds++;
        for (const dmsec_item_t *it = c->items; it; it = it->next) {
            const char *why = take_item(it, a);
            if (why)
                return why;
        }
    }
    if (!adds || !a->name[0])
        return "no DMAcc in the message";
    static const int required[] = {CLI_BOOT_SERVERID, CLI_BOOT_ADDR,      CLI_BOOT_CL_TYPE,
                                   CLI_BOOT_CL_NAME,  CLI_BOOT_CL_SECRET, CLI_BOOT_SRV_TYPE,
                                   CLI_BOOT_SRV_NAME, CLI_BOOT_SRV_SECRET};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!a->seen[required[i]] || a->len[required[i]] == 0)
            return "a required DMAcc leaf is missing";
    }
    if ((a->seen[CLI_BOOT_CL_LEVEL] && strcmp((char *)a->val[CLI_BOOT_CL_LEVEL], "CLCRED") != 0) ||
        (a->seen[CLI_BOOT_SRV_LEVEL] && strcmp((char *)a->val[CLI_BOOT_SRV_LEVEL], "SRVCRED") != 0))
        return "AAuthLevel does not match its credential";
    if (a->seen[CLI_BOOT_APPID] && strcmp((char *)a->val[CLI_BOOT_APPID], "w7") != 0)
        return "AppID is not w7";
    if (a->len[CLI_BOOT_CL_SECRET] > DMSEC_SECRET_MAX ||
        a->len[CLI_BOOT_SRV_SECRET] > DMSEC_SECRET_MAX)
        return "a secret over the limit";
    for (int i = 0; i < CLI_BOOT_LEAVES; i++) {
        if (i != CLI_BOOT_CL_SECRET && i != CLI_BOOT_SRV_SECRET && i != CLI_BOOT_CL_DATA &&
            i != CLI_BOOT_SRV_DATA && strlen((char *)a->val[i]) != a->len[i])
            return "a NUL in a text value";
    }
    return NULL;
}

static const char *opt_str(const cli_boot_acc_t *a, int k)
{
    return a->seen[k] ? (const char *)a->val[k] : NULL;
}

int cli_boot_apply(dmsec_tree_t *t, const dmsec_msg_t *msg, const cli_boot_acc_t *a)
{
    dmsec_tree_info_t info;
    const char *target = msg->hdr.target ? msg->hdr.target->uri : NULL;
    if (dmsec_tree_get_local(t, "./DevInfo/DevId", &info) != 0 || !target ||
        strcmp((const char *)info.value, target) != 0)
        return 1;
    const char *sid = opt_str(a, CLI_BOOT_SERVERID);
    dmsec_tree_account_t acc = {
        .server_id = sid,
        .name = a->seen[CLI_BOOT_NAME] ? opt_str(a, CLI_BOOT_NAME) : sid,
        .addr = opt_str(a, CLI_BOOT_ADDR),
        .addr_type = a->seen[CLI_BOOT_ADDRTYPE] ? opt_str(a, CLI_BOOT_ADDRTYPE) : "URI",
        .aauth_pref =
            a->seen[CLI_BOOT_PREF] ? opt_str(a, CLI_BOOT_PREF) : opt_str(a, CLI_BOOT_CL_TYPE),
        .clcred = {.type = opt_str(a, CLI_BOOT_CL_TYPE),
                   .name = opt_str(a, CLI_BOOT_CL_NAME),
                   .secret = a->val[CLI_BOOT_CL_SECRET],
                   .secret_len = a->len[CLI_BOOT_CL_SECRET],
                   .data = a->val[CLI_BOOT_CL_DATA],
                   .data_len = a->len[CLI_BOOT_CL_DATA]},
        .srvcred = {.type = opt_str(a, CLI_BOOT_SRV_TYPE),
                    .name = opt_str(a, CLI_BOOT_SRV_NAME),
                    .secret = a->val[CLI_BOOT_SRV_SECRET],
                    .secret_len = a->len[CLI_BOOT_SRV_SECRET],
                    .data = a->val[CLI_BOOT_SRV_DATA],
                    .data_len = a->len[CLI_BOOT_SRV_DATA]},
    };
    int rc = dmsec_tree_add_account(t, a->name, &acc);
    if (!rc && a->seen[CLI_BOOT_APPID]) {
        char uri[128];
        snprintf(uri, sizeof uri, "./DMAcc/%s/AppID", a->name);
        rc = dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, "w7", 2);
    }
    return rc;
}
