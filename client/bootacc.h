/*
 * bootacc.h - the agent's step from a verified bootstrap message to its
 * account, with no I/O: the Add items of a decoded message read into one
 * DMAcc account (cli_boot_take), then that account added to a DM tree in
 * memory (cli_boot_apply). bootstrap.c checks the message's MAC or GBA
 * protection first, and loads and saves the tree file around these.
 */
#ifndef DMSEC_CLIENT_BOOTACC_H
#define DMSEC_CLIENT_BOOTACC_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"
#include "dmsec/tree.h"

/* The longest leaf value (after base64 decoding). */
#define CLI_BOOT_VAL_MAX 512
/* The leaves of an account a bootstrap may give (cli_boot_leaf_name). */
enum {
    CLI_BOOT_APPID,
    CLI_BOOT_SERVERID,
    CLI_BOOT_NAME,
    CLI_BOOT_ADDR,
    CLI_BOOT_ADDRTYPE,
    CLI_BOOT_PREF,
    CLI_BOOT_CL_LEVEL,
    CLI_BOOT_CL_TYPE,
    CLI_BOOT_CL_NAME,
    CLI_BOOT_CL_SECRET,
    CLI_BOOT_CL_DATA,
    CLI_BOOT_SRV_LEVEL,
    CLI_BOOT_SRV_TYPE,
    CLI_BOOT_SRV_NAME,
    CLI_BOOT_SRV_SECRET,
    CLI_BOOT_SRV_DATA,
    CLI_BOOT_LEAVES
};
/* The longest account node name. */
#define CLI_BOOT_NAME_MAX 64

/* One account, as the message gives it. Holds secrets: wipe it. */
typedef struct cli_boot_acc {
    char name[CLI_BOOT_NAME_MAX + 1];
    int seen[CLI_BOOT_LEAVES];
    uint8_t val[CLI_BOOT_LEAVES][CLI_BOOT_VAL_MAX + 1]; /* NUL-terminated */
    size_t len[CLI_BOOT_LEAVES];
} cli_boot_acc_t;

/* The relative URI of leaf i below ./DMAcc/<name>/ ("AppAuth/CLCRED/AAuthName"). */
const char *cli_boot_leaf_name(int i);

/* Reads the Add items of msg into *a, which must start zeroed. NULL when
 * they make one complete account, or why the message is refused. */
const char *cli_boot_take(const dmsec_msg_t *msg, cli_boot_acc_t *a);

/* Adds the account of a (cli_boot_take accepted it) to t, once the
 * message's Target/LocURI is t's ./DevInfo/DevId. 0; 1 when the message is
 * for another device (t untouched); or a DMSEC_ERR_* code from the tree
 * (DMSEC_ERR_TREE_EXISTS for an existing account or ServerID), after which
 * t is not to be saved. */
int cli_boot_apply(dmsec_tree_t *t, const dmsec_msg_t *msg, const cli_boot_acc_t *a);

void cli_boot_acc_wipe(cli_boot_acc_t *a);

#endif
