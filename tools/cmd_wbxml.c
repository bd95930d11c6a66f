/* dmsec wbxml encode|decode FILE: SyncML XML <-> WBXML through the codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/codec.h"
#include "tool.h"

int cmd_wbxml(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0)) {
        tool_error("usage: dmsec wbxml encode FILE.xml | dmsec wbxml decode FILE.wbxml"
                   " (\"-\" for stdin)");
        return TOOL_EXIT_USAGE;
    }
    int encode = !strcmp(argv[1], "encode");
    size_t len = 0;
    uint8_t *in = read_file(argv[2], &len);
    if (!in)
        return TOOL_EXIT_FAIL;
    dmsec_msg_t *msg = NULL;
    int rc =
        encode ? dmsec_xml_decode(in, len, NULL, &msg) : dmsec_wbxml_decode(in, len, NULL, &msg);
    free(in);
    if (rc)
        return tool_fail(encode ? "cannot read the XML document" : "cannot read the WBXML document",
                         rc);
    uint8_t *out = NULL;
    size_t out_len = 0;
    rc = encode ? dmsec_wbxml_encode(msg, &out, &out_len) : dmsec_xml_encode(msg, &out, &out_len);
    dmsec_msg_free(msg);
    if (rc)
        return tool_fail(encode ? "cannot write WBXML" : "cannot write XML", rc);
    /* Everything was built before the first byte goes out, so a failure
     * never leaves partial output on stdout. */
    size_t put = fwrite(out, 1, out_len, stdout);
    free(out);
    if (put != out_len || fflush(stdout) != 0) {
        tool_error("cannot write to stdout");
        return TOOL_EXIT_FAIL;
    }
    return 0;
}
