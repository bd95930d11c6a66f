/*
 * devdetail.c - ./DevInfo and ./DevDetail (OMA DM StdObj): filled in at
 * init and before every session. A leaf given by an option (--dev-type,
 * --oem, --fw-version, --sw-version, --hw-version) is set to it; a missing
 * leaf gets its default (uname: FwV the kernel release, HwV the machine);
 * others are left as they are. Both nodes are readable by every server
 * (ACL Get=*), permanent, and no server may change them.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "client.h"
#include "dmsec/errors.h"

/* Sets uri to v (format f) when forced or when the leaf is missing. */
static int leaf(dmsec_tree_t *t, const char *uri, dmsec_tree_format_t f, const char *forced,
                const char *dflt)
{
    dmsec_tree_info_t info;
    if (!forced && dmsec_tree_get_local(t, uri, &info) == DMSEC_OK)
        return DMSEC_OK;
    const char *v = forced ? forced : dflt;
    return dmsec_tree_set_local(t, uri, f, NULL, v, strlen(v));
}

static int interior(dmsec_tree_t *t, const char *uri)
{
    dmsec_tree_info_t info;
    int rc = dmsec_tree_set_local(t, uri, DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = dmsec_tree_get_local(t, uri, &info);
    if (!rc && !info.acl[0])
        rc = dmsec_tree_set_acl_local(t, uri, "Get=*");
    if (!rc)
        rc = dmsec_tree_set_flags_local(t, uri, DMSEC_TREE_PERMANENT);
    return rc;
}

int cli_devdetail_fill(dmsec_tree_t *t)
{
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    char max_depth[16];
    char max_tot[16];
    char max_seg[16];
    snprintf(max_depth, sizeof max_depth, "%d", DMSEC_TREE_MAX_DEPTH);
    snprintf(max_tot, sizeof max_tot, "%d", DMSEC_TREE_MAX_URI);
    snprintf(max_seg, sizeof max_seg, "%d", DMSEC_TREE_MAX_SEGMENT);
    const char *fwv = u.release[0] ? u.release : "unknown";
    const char *hwv = u.machine[0] ? u.machine : "unknown";
    const char *dev_id = u.nodename[0] ? u.nodename : "dmsec-device";
    int rc = interior(t, "./DevInfo");
    if (!rc)
        rc = leaf(t, "./DevInfo/DevId", DMSEC_TREE_CHR, NULL, dev_id);
    if (!rc)
        rc = leaf(t, "./DevInfo/Man", DMSEC_TREE_CHR, NULL, "dmsec");
    if (!rc)
        rc = leaf(t, "./DevInfo/Mod", DMSEC_TREE_CHR, NULL, "dmsec-client");
    if (!rc)
        rc = leaf(t, "./DevInfo/DmV", DMSEC_TREE_CHR, NULL, "1.2");
    if (!rc)
        rc = leaf(t, "./DevInfo/Lang", DMSEC_TREE_CHR, NULL, "en-US");
    if (!rc)
        rc = interior(t, "./DevDetail");
    if (!rc)
        rc = leaf(t, "./DevDetail/DevTyp", DMSEC_TREE_CHR, cli_mgmt.dev_type, "device");
    if (!rc)
        rc = leaf(t, "./DevDetail/OEM", DMSEC_TREE_CHR, cli_mgmt.oem, "dmsec");
    if (!rc)
        rc = leaf(t, "./DevDetail/FwV", DMSEC_TREE_CHR, cli_mgmt.fwv, fwv);
    if (!rc)
        rc = leaf(t, "./DevDetail/SwV", DMSEC_TREE_CHR, cli_mgmt.swv, "dmsec-client 0.1");
    if (!rc)
        rc = leaf(t, "./DevDetail/HwV", DMSEC_TREE_CHR, cli_mgmt.hwv, hwv);
    if (!rc)
        rc = leaf(t, "./DevDetail/LrgObj", DMSEC_TREE_BOOL, NULL, "true");
    if (!rc)
        rc = leaf(t, "./DevDetail/URI/MaxDepth", DMSEC_TREE_CHR, NULL, max_depth);
    if (!rc)
        rc = leaf(t, "./DevDetail/URI/MaxTotLen", DMSEC_TREE_CHR, NULL, max_tot);
    if (!rc)
        rc = leaf(t, "./DevDetail/URI/MaxSegLen", DMSEC_TREE_CHR, NULL, max_seg);
    if (rc)
        cli_err("cannot fill DevInfo/DevDetail: %s", dmsec_errname(rc));
    return rc ? -1 : 0;
}
