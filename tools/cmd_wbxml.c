/* dmsec wbxml encode|decode FILE: SyncML XML <-> WBXML through the codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/codec.h"
#include "tool.h"

int cmd_wbxml(int argc, char **argv)
{
    static const char *const known[] = {NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    /* FILE is the one argument that is not an option ("-" is stdin), before
     * or after --json. */
    const char *file = NULL;
    char *rest[8];
    int nrest = 0, bad = argc < 3 || argc - 2 > (int)(sizeof rest / sizeof rest[0]);
    for (int i = 2; i < argc && !bad; i++) {
        if (!file && (strncmp(argv[i], "--", 2) != 0 || !strcmp(argv[i], "-")))
            file = argv[i];
        else
            rest[nrest++] = argv[i];
    }
    if (bad || !file || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0) ||
        opts_parse(&o, nrest, rest, known, flags)) {
        tool_error("usage: dmsec wbxml encode FILE.xml | dmsec wbxml decode FILE.wbxml"
                   " (\"-\" for stdin) [--json]");
        return TOOL_EXIT_USAGE;
    }
    int encode = !strcmp(argv[1], "encode");
    size_t len = 0;
    uint8_t *in = read_file(file, &len);
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
    if (opt_flag(&o, "json")) {
        /* The WBXML as hex and base64; the XML (text the codec wrote) as
         * a string. */
        tool_json_begin();
        tool_json_str("format", encode ? "wbxml" : "xml");
        tool_json_int("length", (long long)out_len);
        if (encode) {
            tool_json_hex("hex", out, out_len);
            tool_json_base64("base64", out, out_len);
        } else {
            tool_json_key("xml");
            json_bytes(out, out_len);
        }
        free(out);
        return tool_json_end();
    }
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
