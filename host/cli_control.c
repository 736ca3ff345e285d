/* cli_control.c — `switchyard status` and `switchyard reload` (see
 * cli_control.h). */
#include "cli_control.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "control.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_CONFIG = 3 };

#define STATUS_TIMEOUT_MS 10000
/* A reload drains in-flight events of every upgraded plugin. */
#define RELOAD_TIMEOUT_MS 600000

static const char usage[] =
    "usage: switchyard status [--json] [--conf-dir DIR | --socket PATH]\n"
    "       switchyard reload [--conf-dir DIR | --socket PATH]\n"
    "\n"
    "exit codes: 0 ok, 1 the host is unreachable or refused the reload,\n"
    "2 usage, 3 configuration error\n";

/* The socket path: given, or the configuration's [host] control_socket. */
static int socket_path(const char *sock, const char *dir, char **out)
{
    if (sock) {
        *out = strdup(sock);
        return *out ? CLI_OK : CLI_FAIL;
    }
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_config_load(dir, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    if (rc) {
        fprintf(stderr,
                "switchyard: cannot find the control socket in %s; hint: "
                "pass --socket PATH\n",
                dir);
        return CLI_CONFIG;
    }
    *out = strdup(cfg->control_socket ? cfg->control_socket : "");
    yard_config_free(cfg);
    return *out ? CLI_OK : CLI_FAIL;
}

static const char *str_or(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

static void print_status(json_t *st)
{
    json_t *plugins = json_object_get(st, "plugins");
    printf("%-20s %-12s %-5s %-6s %-21s %10s  %s\n", "PLUGIN", "VERSION", "ABI",
           "GEN", "LOADED", "HANDLED", "LAST RELOAD");
    size_t i;
    json_t *p;
    json_array_foreach(plugins, i, p)
    {
        printf("%-20s %-12s %-5s %-6lld %-21s %10lld  %s\n",
               str_or(p, "name", "?"), str_or(p, "version", "?"),
               str_or(p, "abi", "?"),
               (long long)json_integer_value(json_object_get(p, "generation")),
               str_or(p, "loaded_at", "-"),
               (long long)json_integer_value(json_object_get(p, "handled")),
               str_or(p, "last_reload", ""));
    }
    json_t *last = json_object_get(st, "last_reload");
    printf("\nreloads: %lld, failed: %lld\n",
           (long long)json_integer_value(json_object_get(st, "reloads")),
           (long long)json_integer_value(json_object_get(st, "reloads_failed")));
    if (json_is_object(last))
        printf("last reload (%s): %s\n", str_or(last, "at", "?"),
               str_or(last, "result", ""));
}

int yard_cli_control(int argc, char **argv, const char *default_conf_dir)
{
    const char *cmd = argv[0], *dir = default_conf_dir, *sock = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--conf-dir") == 0 ||
             strcmp(argv[i], "--socket") == 0) &&
            i + 1 < argc) {
            *(argv[i][2] == 'c' ? &dir : &sock) = argv[i + 1];
            i++;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--json") == 0 &&
                   strcmp(cmd, "status") == 0) {
            json = true;
        } else {
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    char *path = NULL;
    int rc = socket_path(sock, dir, &path);
    if (rc)
        return rc;
    char *reply = NULL, err[1024];
    bool reload = strcmp(cmd, "reload") == 0;
    if (yard_control_request(path, cmd,
                             reload ? RELOAD_TIMEOUT_MS : STATUS_TIMEOUT_MS,
                             &reply, err, sizeof err)) {
        fprintf(stderr, "switchyard %s: %s\n", cmd, err);
        free(path);
        return CLI_FAIL;
    }
    free(path);
    json_error_t jerr;
    json_t *doc = json_loads(reply, 0, &jerr);
    if (!doc) {
        fprintf(stderr, "switchyard %s: unreadable reply: %s\n", cmd, jerr.text);
        free(reply);
        return CLI_FAIL;
    }
    rc = CLI_OK;
    if (reload) {
        bool ok = json_is_true(json_object_get(doc, "ok"));
        fprintf(ok ? stdout : stderr, "reload %s\n",
                str_or(doc, "result", "?"));
        rc = ok ? CLI_OK : CLI_FAIL;
    } else if (json) {
        fputs(reply, stdout);
    } else {
        print_status(doc);
    }
    json_decref(doc);
    free(reply);
    return rc;
}
