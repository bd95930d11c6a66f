/* The agent's step from a verified bootstrap to its account: the input is
 * the WBXML message (as it is once its MAC or GBA protection checked),
 * decoded, read into one account (cli_boot_take) and added to a device's
 * tree (cli_boot_apply). An accepted account has a plain name and values
 * within their limits; once added, the tree finds it by its ServerID and
 * holds each leaf as the message gave it; adding it again is refused; the
 * tree survives its file format; a message for another device leaves the
 * tree as it was. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootacc.h"
#include "dmsec/codec.h"
#include "dmsec/errors.h"
#include "dmsec/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dmsec_tree_t *device_tree(const char *dev_id)
{
    dmsec_tree_t *t = dmsec_tree_new(NULL);
    if (!t)
        return NULL;
    int rc = dmsec_tree_set_local(t, "./DevInfo", DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = dmsec_tree_set_local(t, "./DevInfo/DevId", DMSEC_TREE_CHR, NULL, dev_id,
                                  strlen(dev_id));
    if (!rc)
        rc = dmsec_tree_set_local(t, "./DMAcc", DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = dmsec_tree_set_acl_local(t, "./DMAcc", "Get=*");
    if (rc) {
        dmsec_tree_free(t);
        return NULL;
    }
    return t;
}

static void check_account(const cli_boot_acc_t *a)
{
    size_t n = strnlen(a->name, sizeof a->name);
    if (n == 0 || n == sizeof a->name || strchr(a->name, '/'))
        abort();
    for (int i = 0; i < CLI_BOOT_LEAVES; i++) {
        if (a->len[i] > CLI_BOOT_VAL_MAX || a->val[i][a->len[i]] != 0 ||
            (!a->seen[i] && a->len[i] != 0))
            abort();
    }
}

/* Each leaf the message gave is in the tree as given. */
static void check_leaves(const dmsec_tree_t *t, const cli_boot_acc_t *a)
{
    char found[CLI_BOOT_NAME_MAX + 1];
    if (dmsec_tree_find_account(t, (const char *)a->val[CLI_BOOT_SERVERID], found, sizeof found) !=
            DMSEC_OK ||
        strcmp(found, a->name) != 0)
        abort();
    for (int i = 0; i < CLI_BOOT_LEAVES; i++) {
        if (!a->seen[i])
            continue;
        char uri[256];
        snprintf(uri, sizeof uri, "./DMAcc/%s/%s", a->name, cli_boot_leaf_name(i));
        dmsec_tree_info_t info;
        if (dmsec_tree_get_local(t, uri, &info) != DMSEC_OK)
            abort();
        /* An empty optional Data leaf may be stored as absent or empty. */
        if (info.value_len != a->len[i] || (a->len[i] && memcmp(info.value, a->val[i], a->len[i])))
            abort();
    }
}

static void round_trip(const dmsec_tree_t *t)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (dmsec_tree_serialize(t, &buf, &len) != DMSEC_OK)
        abort();
    dmsec_tree_t *back = NULL;
    if (dmsec_tree_parse(buf, len, &back) != DMSEC_OK || !dmsec_tree_equal(t, back))
        abort();
    dmsec_tree_free(back);
    dmsec_tree_wipe_free(buf, len);
}

static void apply_checked(const dmsec_msg_t *msg, const cli_boot_acc_t *a)
{
    const char *target = msg->hdr.target && msg->hdr.target->uri ? msg->hdr.target->uri : "";
    /* Another device's tree: refused, untouched. */
    dmsec_tree_t *other = device_tree("IMEI:000000000000000");
    if (!other)
        return;
    size_t before = dmsec_tree_count(other);
    int rc = cli_boot_apply(other, msg, a);
    if (strcmp(target, "IMEI:000000000000000") != 0 &&
        (rc != 1 || dmsec_tree_count(other) != before))
        abort();
    dmsec_tree_free(other);

    if (!target[0])
        return; /* no device to be */
    dmsec_tree_t *t = device_tree(target);
    if (!t)
        return; /* a target the tree cannot hold as DevId */
    rc = cli_boot_apply(t, msg, a);
    if (rc == 1)
        abort(); /* the message is for this device */
    if (rc == DMSEC_OK) {
        check_leaves(t, a);
        round_trip(t);
        size_t n = dmsec_tree_count(t);
        if (cli_boot_apply(t, msg, a) != DMSEC_ERR_TREE_EXISTS || dmsec_tree_count(t) != n)
            abort();
    }
    dmsec_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmsec_msg_t *msg = NULL;
    if (dmsec_wbxml_decode(data, size, NULL, &msg) != DMSEC_OK)
        return 0;
    cli_boot_acc_t *a = calloc(1, sizeof *a);
    if (!a) {
        dmsec_msg_free(msg);
        return 0;
    }
    if (cli_boot_take(msg, a) == NULL) {
        check_account(a);
        apply_checked(msg, a);
    }
    cli_boot_acc_wipe(a);
    free(a);
    dmsec_msg_free(msg);
    return 0;
}
