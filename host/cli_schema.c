/* cli_schema.c — `switchyard schema` (see cli_schema.h). */
#include "cli_schema.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pattern.h"
#include "plugin.h"

enum { EXIT_OK = 0, EXIT_PROBLEMS = 1, EXIT_USAGE = 2, EXIT_CONFIG = 3 };

#define DEFAULT_SCHEMA_DIR "schemas"

static const char usage[] =
    "usage: switchyard schema [--schema-dir DIR] [--plugin-dir DIR]\n"
    "                         [--conf-dir DIR] COMMAND\n"
    "\n"
    "commands:\n"
    "  lint                    every schema parses, names resolve, every\n"
    "                          plugin subscription has a schema\n"
    "  check OLD.avsc NEW.avsc BACKWARD compatibility of NEW with OLD\n"
    "  validate TYPE[.vN] FILE validate a JSON payload (FILE or - for stdin)\n"
    "  catalog                 the event catalog in Markdown on stdout\n"
    "\n"
    "exit codes: 0 ok, 1 problems found, 2 usage, 3 schemas or configuration\n"
    "do not load\n";

/* ---- plugins ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void yard_catalog_plugins_free(yard_catalog_plugin *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].version);
        for (size_t k = 0; k < p[i].n_patterns; k++)
            free(p[i].patterns[k]);
        free(p[i].patterns);
    }
    free(p);
}

/* Copy what we need of an open plugin's descriptor. */
static int take_desc(yard_plugin *pl, yard_catalog_plugin *out)
{
    const sy_plugin_desc *d = yard_plugin_desc(pl);
    memset(out, 0, sizeof *out);
    out->name = strdup(d->name);
    out->version = strdup(d->version);
    out->patterns = calloc(d->n_subscriptions + 1, sizeof *out->patterns);
    if (!out->name || !out->version || !out->patterns)
        return YARD_ENOMEM;
    for (size_t k = 0; k < d->n_subscriptions; k++) {
        if (!(out->patterns[k] = strdup(d->subscriptions[k].pattern)))
            return YARD_ENOMEM;
        out->n_patterns++;
    }
    return 0;
}

typedef struct plugin_src {
    const char *name;
    const char *path;
} plugin_src;

static int open_plugins(const char *plugin_dir, const plugin_src *src,
                        size_t n_src, yard_catalog_plugin **out, size_t *n,
                        yard_diag *diag)
{
    *out = NULL;
    *n = 0;
    char rt[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(rt, sizeof rt, "%s/switchyard-schema-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(rt))
        return YARD_EIO;
    yard_catalog_plugin *v = calloc(n_src + 1, sizeof *v);
    if (!v) {
        rmdir(rt);
        return YARD_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n_src && !rc; i++) {
        yard_plugin_conf pc;
        memset(&pc, 0, sizeof pc);
        pc.name = (char *)src[i].name;
        pc.path = (char *)src[i].path;
        pc.enabled = true;
        yard_plugin_open_opts o = {.plugin_dir = plugin_dir,
                                   .runtime_dir = rt,
                                   .generation = 1,
                                   .host_uid = geteuid()};
        yard_plugin *pl = NULL;
        char err[1024];
        if (yard_plugin_open(&pc, &o, &pl, err, sizeof err)) {
            if (diag)
                yard_diag_add(diag, "plugin %s: %s", src[i].name, err);
            continue;
        }
        rc = take_desc(pl, &v[*n]);
        (*n)++;
        yard_plugin_close(pl);
    }
    rmdir(rt);
    if (rc) {
        yard_catalog_plugins_free(v, *n);
        *n = 0;
        return rc;
    }
    *out = v;
    return 0;
}

int yard_catalog_plugins_load(const char *dir, yard_catalog_plugin **out,
                              size_t *n, yard_diag *diag)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return YARD_EIO;
    char **files = NULL;
    size_t nf = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 4 || strcmp(e->d_name + l - 3, ".so"))
            continue;
        char **nv = realloc(files, (nf + 1) * sizeof *files);
        if (!nv || !(nv[nf] = strdup(e->d_name))) {
            files = nv ? nv : files;
            rc = YARD_ENOMEM;
            break;
        }
        files = nv;
        nf++;
    }
    closedir(d);
    if (nf)
        qsort(files, nf, sizeof *files, cmp_str);
    plugin_src *src = calloc(nf + 1, sizeof *src);
    char **names = calloc(nf + 1, sizeof *names);
    char **paths = calloc(nf + 1, sizeof *paths);
    for (size_t i = 0; !rc && src && names && paths && i < nf; i++) {
        names[i] = strndup(files[i], strlen(files[i]) - 3);
        size_t pl = strlen(dir) + strlen(files[i]) + 2;
        paths[i] = malloc(pl);
        if (!names[i] || !paths[i]) {
            rc = YARD_ENOMEM;
            break;
        }
        snprintf(paths[i], pl, "%s/%s", dir, files[i]);
        src[i] = (plugin_src){names[i], paths[i]};
    }
    if (!rc && (!src || !names || !paths))
        rc = YARD_ENOMEM;
    if (!rc)
        rc = open_plugins(dir, src, nf, out, n, diag);
    for (size_t i = 0; i < nf; i++) {
        free(files[i]);
        if (names)
            free(names[i]);
        if (paths)
            free(paths[i]);
    }
    free(files);
    free(names);
    free(paths);
    free(src);
    return rc;
}

/* The enabled plugins of a configuration. */
static int plugins_from_config(const yard_config *cfg, yard_catalog_plugin **out,
                               size_t *n, yard_diag *diag)
{
    plugin_src *src = calloc(cfg->n_plugins + 1, sizeof *src);
    if (!src)
        return YARD_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_plugins; i++)
        if (cfg->plugins[i].enabled)
            src[k++] = (plugin_src){cfg->plugins[i].name, cfg->plugins[i].path};
    int rc = open_plugins(cfg->plugin_dir, src, k, out, n, diag);
    free(src);
    return rc;
}

/* ---- lint ------------------------------------------------------------- */

size_t yard_schema_dir_problems(const char *dir, yard_diag *diag)
{
    yard_schema_registry *r = NULL;
    size_t before = diag ? diag->n : 0;
    int rc = yard_schema_registry_load(dir, true, &r, diag);
    yard_schema_registry_free(r);
    if (!rc)
        return 0;
    size_t n = diag ? diag->n - before : 0;
    return n ? n : 1;
}

static bool has_wildcard(const char *p) { return strchr(p, '*') != NULL; }

size_t yard_schema_lint_plugins(const yard_schema_registry *r,
                                const yard_catalog_plugin *plugins, size_t n,
                                yard_diag *problems)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const yard_catalog_plugin *p = &plugins[i];
        for (size_t k = 0; k < p->n_patterns; k++) {
            const char *pat = p->patterns[k];
            bool ok = false;
            if (!has_wildcard(pat)) {
                ok = yard_schema_find(r, pat, 0) != NULL;
            } else {
                for (size_t s = 0; s < yard_schema_count(r) && !ok; s++)
                    ok = yard_pattern_match(pat,
                                            yard_schema_type(yard_schema_at(r, s)));
            }
            if (ok)
                continue;
            bad++;
            if (problems)
                yard_diag_add(problems,
                              has_wildcard(pat)
                                  ? "plugin %s subscribes to %s, which matches "
                                    "no schema"
                                  : "plugin %s subscribes to %s, which has no "
                                    "schema (add %s.v1.avsc)",
                              p->name, pat, pat);
        }
    }
    return bad;
}

/* ---- catalog ---------------------------------------------------------- */

static void md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '\n')
            fputc(' ', out);
        else
            fputc(*s, out);
    }
}

void yard_schema_catalog(FILE *out, const yard_schema_registry *r,
                         const yard_catalog_plugin *plugins, size_t n)
{
    fputs("# Event catalog\n\n"
          "<!-- Generated by `switchyard schema catalog` from schemas/ and the\n"
          "     plugins' descriptors; do not edit. Regenerate with\n"
          "     scripts/update-docs; tests/unit/test_events_doc.c checks\n"
          "     it is current. -->\n\n"
          "Every event travels as a CloudEvents 1.0 binary-mode message (see\n"
          "host/envelope.h); its value is the JSON payload described here and\n"
          "is validated against the schema on consume and on emit. Fields\n"
          "marked optional have a default and may be absent; unknown fields\n"
          "are refused, except the top-level metadata `correlation_id` and\n"
          "`event_type`. Types without a schema are not validated. The\n"
          "partition key rule is the key an emitted event gets when its\n"
          "handler sets none.\n\n",
          out);
    size_t count = yard_schema_count(r);
    fputs("| Event type | Version | Partition key | Subscribed by |\n"
          "|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < count; i++) {
        const yard_schema *s = yard_schema_at(r, i);
        const yard_schema *next = i + 1 < count ? yard_schema_at(r, i + 1) : NULL;
        if (next && strcmp(yard_schema_type(next), yard_schema_type(s)) == 0)
            continue; /* the newest version only */
        fprintf(out, "| [`%s`](#", yard_schema_type(s));
        for (const char *c = yard_schema_type(s); *c; c++)
            if (*c != '.')
                fputc(*c, out);
        fprintf(out, ") | v%d | ", yard_schema_version(s));
        const char *kt = yard_schema_key_template(s);
        if (kt)
            fprintf(out, "`%s`", kt);
        fputs(" | ", out);
        bool first = true;
        for (size_t p = 0; p < n; p++)
            for (size_t k = 0; k < plugins[p].n_patterns; k++)
                if (yard_pattern_match(plugins[p].patterns[k],
                                       yard_schema_type(s))) {
                    fprintf(out, "%s%s", first ? "" : ", ", plugins[p].name);
                    first = false;
                    break;
                }
        fputs(" |\n", out);
    }
    fputs("\n", out);
    for (size_t i = 0; i < count; i++) {
        const yard_schema *s = yard_schema_at(r, i);
        fprintf(out, "## %s\n\n", yard_schema_type(s));
        if (yard_schema_doc(s))
            fprintf(out, "%s.\n\n", yard_schema_doc(s));
        fprintf(out, "- Version: %d (`schemas/%s`)\n", yard_schema_version(s),
                yard_schema_file(s));
        fprintf(out, "- Record: `%s`\n", yard_schema_fullname(s));
        const char *kt = yard_schema_key_template(s);
        fprintf(out, "- Partition key: %s%s%s\n", kt ? "`" : "",
                kt ? kt : "the consumed event's key", kt ? "`" : "");
        fputs("- Subscribed by:", out);
        bool any = false;
        for (size_t p = 0; p < n; p++)
            for (size_t k = 0; k < plugins[p].n_patterns; k++)
                if (yard_pattern_match(plugins[p].patterns[k],
                                       yard_schema_type(s))) {
                    fprintf(out, "%s %s (`%s`)", any ? "," : "", plugins[p].name,
                            plugins[p].patterns[k]);
                    any = true;
                    break;
                }
        fputs(any ? "\n\n" : " no plugin yet\n\n", out);
        fputs("| Field | Type | Optional | Description |\n|---|---|---|---|\n",
              out);
        json_t *fields = yard_schema_describe_fields(s);
        size_t fi;
        json_t *f;
        json_array_foreach(fields, fi, f)
        {
            fprintf(out, "| `%s` | ", json_string_value(json_object_get(f, "name")));
            md_cell(out, json_string_value(json_object_get(f, "type")));
            fprintf(out, " | %s | ",
                    json_is_true(json_object_get(f, "optional")) ? "yes" : "");
            md_cell(out, json_string_value(json_object_get(f, "doc")));
            fputs(" |\n", out);
        }
        json_decref(fields);
        fputs("\n", out);
    }
    fputs("## Shared types\n\nDefined once in `schemas/common/` and referenced "
          "by full name:\n\n",
          out);
    for (size_t i = 0; yard_schema_common_file(r, i); i++)
        fprintf(out, "- `schemas/%s`\n", yard_schema_common_file(r, i));
}

/* ---- the command ------------------------------------------------------ */

typedef struct opts {
    const char *schema_dir, *plugin_dir, *conf_dir;
    const char *cmd;
    char **rest;
    int n_rest;
} opts;

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            o->cmd = "help";
            return 0;
        }
        const char **dst = strcmp(argv[i], "--schema-dir") == 0   ? &o->schema_dir
                           : strcmp(argv[i], "--plugin-dir") == 0 ? &o->plugin_dir
                           : strcmp(argv[i], "--conf-dir") == 0   ? &o->conf_dir
                                                                   : NULL;
        if (!dst || i + 1 >= argc)
            return -1;
        *dst = argv[++i];
    }
    if (i >= argc)
        return -1;
    o->cmd = argv[i];
    o->rest = argv + i + 1;
    o->n_rest = argc - i - 1;
    return 0;
}

static void print_diag(const yard_diag *d, const char *prefix)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "%s%s\n", prefix, d->msgs[i]);
}

static char *slurp(FILE *f, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + *len, 1, 4096, f);
        *len += n;
        if (n < 4096)
            break;
    }
    buf[*len] = '\0';
    return buf;
}

static int cmd_validate(yard_schema_registry *r, const opts *o)
{
    if (o->n_rest != 2)
        return EXIT_USAGE;
    char type[256];
    snprintf(type, sizeof type, "%s", o->rest[0]);
    int version = 0;
    char *v = strrchr(type, '.');
    if (v && v[1] == 'v' && v[2] >= '0' && v[2] <= '9' && !yard_schema_find(r, type, 0)) {
        version = atoi(v + 2);
        *v = '\0';
    }
    const yard_schema *s = yard_schema_find(r, type, version);
    if (!s) {
        fprintf(stderr, "switchyard schema validate: no schema for %s\n",
                o->rest[0]);
        return EXIT_PROBLEMS;
    }
    FILE *f = strcmp(o->rest[1], "-") == 0 ? stdin : fopen(o->rest[1], "rb");
    if (!f) {
        fprintf(stderr, "switchyard schema validate: %s: %m\n", o->rest[1]);
        return EXIT_PROBLEMS;
    }
    size_t len;
    char *text = slurp(f, &len);
    if (f != stdin)
        fclose(f);
    if (!text)
        return EXIT_PROBLEMS;
    yard_schema_error why;
    int rc = yard_schema_validate_text(s, text, len, 0, &why);
    free(text);
    if (rc) {
        printf("%s: invalid against %s (rule %s): %s\n", o->rest[1],
               yard_schema_file(s), why.rule, why.message);
        return EXIT_PROBLEMS;
    }
    printf("%s: valid %s v%d\n", o->rest[1], yard_schema_type(s),
           yard_schema_version(s));
    return EXIT_OK;
}

static int cmd_check(yard_schema_registry *r, const opts *o)
{
    if (o->n_rest != 2)
        return EXIT_USAGE;
    const yard_schema *old = NULL, *nw = NULL;
    char err[1024];
    if (yard_schema_registry_parse_file(r, o->rest[0], &old, err, sizeof err) ||
        yard_schema_registry_parse_file(r, o->rest[1], &nw, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return EXIT_CONFIG;
    }
    yard_diag d = YARD_DIAG_INIT;
    size_t n = yard_schema_check_compat(old, nw, &d);
    for (size_t i = 0; i < d.n; i++)
        printf("%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    if (n) {
        printf("%s is not BACKWARD compatible with %s: %zu violation(s)\n",
               o->rest[1], o->rest[0], n);
        return EXIT_PROBLEMS;
    }
    printf("%s is BACKWARD compatible with %s\n", o->rest[1], o->rest[0]);
    return EXIT_OK;
}

int yard_cli_schema(int argc, char **argv, const char *default_conf_dir)
{
    opts o;
    if (parse(argc, argv, &o) || strcmp(o.cmd, "help") == 0) {
        fputs(usage, o.cmd && strcmp(o.cmd, "help") == 0 ? stdout : stderr);
        return o.cmd && strcmp(o.cmd, "help") == 0 ? EXIT_OK : EXIT_USAGE;
    }
    bool lint = strcmp(o.cmd, "lint") == 0;
    bool catalog = strcmp(o.cmd, "catalog") == 0;
    if (!lint && !catalog && strcmp(o.cmd, "check") != 0 &&
        strcmp(o.cmd, "validate") != 0) {
        fprintf(stderr, "switchyard schema: unknown command '%s'\n\n%s", o.cmd,
                usage);
        return EXIT_USAGE;
    }
    /* The configuration, when one is there, names the directories. */
    yard_config *cfg = NULL;
    const char *cdir = o.conf_dir ? o.conf_dir : default_conf_dir;
    if (o.conf_dir || !o.schema_dir || (lint && !o.plugin_dir)) {
        yard_diag d = YARD_DIAG_INIT;
        if (yard_config_load(cdir, &cfg, &d) && o.conf_dir) {
            print_diag(&d, "");
            yard_diag_clear(&d);
            return EXIT_CONFIG;
        }
        yard_diag_clear(&d);
    }
    const char *sdir = o.schema_dir ? o.schema_dir
                       : cfg        ? cfg->schema_dir
                                    : DEFAULT_SCHEMA_DIR;
    yard_schema_registry *r = NULL;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_schema_registry_load(sdir, false, &r, &d);
    print_diag(&d, "");
    yard_diag_clear(&d);
    int code = EXIT_OK;
    if (rc == YARD_EIO || (rc && !lint)) {
        code = EXIT_CONFIG;
        goto out;
    }
    if (strcmp(o.cmd, "validate") == 0) {
        code = cmd_validate(r, &o);
    } else if (strcmp(o.cmd, "check") == 0) {
        code = cmd_check(r, &o);
    } else {
        yard_catalog_plugin *pl = NULL;
        size_t npl = 0;
        int prc = 0;
        if (o.plugin_dir)
            prc = yard_catalog_plugins_load(o.plugin_dir, &pl, &npl, &d);
        else if (cfg)
            prc = plugins_from_config(cfg, &pl, &npl, &d);
        print_diag(&d, "");
        size_t refused = d.n;
        yard_diag_clear(&d);
        if (prc) {
            fprintf(stderr, "switchyard schema: cannot read plugins from %s: %s\n",
                    o.plugin_dir ? o.plugin_dir : cfg->plugin_dir,
                    yard_err_str(prc));
            code = EXIT_CONFIG;
        } else if (catalog) {
            yard_schema_catalog(stdout, r, pl, npl);
        } else {
            size_t bad = yard_schema_lint_plugins(r, pl, npl, &d);
            print_diag(&d, "");
            yard_diag_clear(&d);
            if (!o.plugin_dir && !cfg)
                fprintf(stderr, "note: no configuration in %s and no "
                                "--plugin-dir: plugin subscriptions not "
                                "checked\n",
                        cdir);
            if (rc || bad || refused)
                code = EXIT_PROBLEMS;
            else
                printf("%s: %zu event schema(s), %zu shared type(s), %zu "
                       "plugin(s) checked: ok\n",
                       sdir, yard_schema_count(r), yard_schema_common_count(r),
                       npl);
        }
        yard_catalog_plugins_free(pl, npl);
    }
    if (code == EXIT_USAGE)
        fputs(usage, stderr);
out:
    yard_schema_registry_free(r);
    yard_config_free(cfg);
    return code;
}
