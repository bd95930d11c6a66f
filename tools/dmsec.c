/* dmsec: the command-line face of libdmsec, for scripts and operators. */
#include <stdio.h>
#include <string.h>

#include "dmsec/version.h"
#include "tool.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"cred", cmd_cred,
     "cred --scheme basic|md5|sha256 --user U (--secret S | --secret-file F)\n"
     "         [--nonce-hex H | --nonce-b64 B] [--json]   Cred Data value (base64)"},
    {"hmac12", cmd_hmac12,
     "hmac12 --user U (--secret S | --secret-file F) --nonce-hex H --body FILE\n"
     "         [--json]   DM 1.2 x-syncml-hmac mac (base64)"},
    {"hmac13", cmd_hmac13,
     "hmac13 (--secret S | --secret-file F) --timestamp T --body FILE\n"
     "         [--json]   DM 1.3 HMAC-SHA256 x-syncml-hmac mac (base64)"},
    {"pkg0", cmd_pkg0,
     "pkg0 build --server-id ID (--secret S | --secret-file F) --nonce-hex H --session-id HEX\n"
     "         [--ui unspecified|background|informative|interactive] [--initiator server|user]\n"
     "         [--version V] [--vendor-hex X] [--json]   package #0 in hex\n"
     "         (--json: hex, base64, length, session id); HEX as notify prints it (0x optional)\n"
     "       pkg0 decode --hex X [(--secret S | --secret-file F) --nonce-hex H]\n"
     "         [--try-session-id] [--try-field-readings] [--json]   JSON description"},
    {"bootstrap", cmd_bootstrap,
     "bootstrap mac --keytype NETWORKID|USERPIN|USERPIN_NETWORKID\n"
     "         [--imsi DIGITS | --network-id RAW] [--pin P | --pin-file F] --wbxml FILE\n"
     "         [--json]   HMAC-SHA1 (40 uppercase hex digits)\n"
     "       bootstrap verify (--content-type CT | --content-type-hex H) --wbxml FILE\n"
     "         [--imsi DIGITS | --network-id RAW] [--pin P | --pin-file F] [--json]\n"
     "         'ok' or why not\n"
     "       bootstrap content-type --keytype K --mac HEX [--form seed|sec|wsp] [--json]\n"
     "       bootstrap make --db PATH --device-id ID --server-id SID --server-url URL\n"
     "         --keytype K [--imsi D | --network-id R] [--pin P | --pin-file F] --out FILE\n"
     "         [--scheme md5|sha256|basic] [--account NAME] [--notify udp://HOST:PORT]\n"
     "         [--json]   registers the device, writes its WBXML bootstrap\n"
     "         (--keytype GBA: --ks-naf-hex K | --ks-naf-file F instead of --imsi/--pin)"},
    {"gba-kdf", cmd_gba_kdf,
     "gba-kdf --ks-naf-hex K --key dmbik|dmbek [--json]     the key in hex"},
    {"device", cmd_device,
     "device add --db PATH --device-id ID --client-name N (--client-secret S | "
     "--client-secret-file F)\n"
     "         --scheme basic|md5|sha256|hmac-md5|hmac-sha256\n"
     "         [--server-secret S | --server-secret-file F]\n"
     "         [--server-scheme basic|md5|sha256] [--notify udp://HOST:PORT] [--server-id ID]\n"
     "         [--cert-subject CN] [--srvcred-path P] [--json]\n"
     "         registers a device; prints its secrets once (--server-id: the store's, set once)\n"
     "       device list --db PATH [--out-of-sync] [--json]   with state, last seen, sync\n"
     "       device show|remove|disable|enable DEVICE --db PATH [--json]\n"
     "         (DEVICE, here and below, may be given as --device-id ID)\n"
     "       device update DEVICE --db PATH [--notify udp://HOST:PORT | --no-notify]\n"
     "         [--client-name N] [--scheme S] [--server-scheme S] [--cert-subject CN]\n"
     "         [--srvcred-path P] [--client-secret S | --client-secret-file F]\n"
     "         [--server-id ID] [--json]\n"
     "         changes a device without new secrets (a new client name, or hmac-sha256,\n"
     "         takes the client secret the device has)\n"
     "       device rotate DEVICE --db PATH (--client | --server | both) [--json]\n"
     "         a new secret for the device (--client, its CLCRED) and/or for the server\n"
     "         towards it (--server, SRVCRED), sent in its next session\n"
     "       device import --csv F --db PATH [--secrets-out FILE] [--scheme S]\n"
     "         [--server-id ID] [--skip-bad] [--json]\n"
     "         many devices from a CSV in one transaction (see docs/SERVER.md)"},
    {"notify", cmd_notify,
     "notify DEVICE --db PATH [--server-id ID] [--resync] [--ui MODE] [--addr udp://H:P]\n"
     "         [--ttl SECONDS] [--json]          sends package #0; prints the session id"},
    {"cmd", cmd_cmd,
     "cmd get|replace|add|delete|exec|copy (DEVICE | --devices FILE | --all) URI --db PATH\n"
     "         [--data V | --data-file F] [--format F] [--type T] [--correlator C]\n"
     "         [--source URI] [--expires SECONDS] [--json]\n"
     "         [--notify [--addr udp://H:P] [--ui MODE] [--ttl SECONDS] [--server-id ID]]\n"
     "         queues a management command; prints its id\n"
     "       cmd list (DEVICE | --all) --db PATH [--state S[,S]] [--limit N] [--json]\n"
     "       cmd show ID --db PATH [--json]      cmd cancel ID --db PATH [--json]"},
    {"results", cmd_results,
     "results DEVICE --db PATH [--limit N] [--json]   answered commands and their results"},
    {"inventory", cmd_inventory, "inventory DEVICE --db PATH [--json]   DevInfo/DevDetail values"},
    {"events", cmd_events, "events DEVICE --db PATH [--limit N] [--json]   the device's alerts"},
    {"fumo", cmd_fumo,
     "fumo (DEVICE | --devices FILE | --all) --db PATH --url URL --sha256 HEX [--size N]\n"
     "         [--node ./FUMO/X] [--expires SECONDS] [--json]\n"
     "         [--notify [--addr udp://H:P] [--ui MODE] [--ttl SECONDS] [--server-id ID]]\n"
     "         queues a firmware update; prints the id of its Exec"},
    {"sessions", cmd_sessions, "sessions --db PATH [--limit N] [--json]"},
    {"audit", cmd_audit, "audit --db PATH [--limit N] [--json]"},
    {"store", cmd_store,
     "store restored --db PATH [--json]   after restoring a backup: every device's client\n"
     "         nonce replaced, so no credential recorded since the backup authenticates again"},
    {"wbxml", cmd_wbxml,
     "wbxml encode FILE.xml | wbxml decode FILE.wbxml   SyncML XML <-> WBXML\n"
     "         [--json]   encode: {format, length, hex, base64}; decode: {format, length, xml}"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dmsec COMMAND [OPTIONS] | dmsec --help | dmsec --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "\nResults go to stdout; errors to stderr with a non-zero exit. --json: the result\n"
               "as one JSON object per line (bytes as hex or base64).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "dmsec: missing command\n");
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dmsec %s\n", DMSEC_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "dmsec: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return TOOL_EXIT_USAGE;
}
