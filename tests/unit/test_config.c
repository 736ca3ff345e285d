/* test_config.c — the conf.d loader: defaults, files, errors, environment. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

extern char **environ;

/* ---- helpers ---------------------------------------------------------- */

static void put(const char *dir, const char *name, const char *content)
{
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, name, content), 0);
}

static void dump(const yard_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  diag[%zu]: %s\n", i, d->msgs[i]);
}

static yard_config *load_ok(const char *dir)
{
    yard_diag d = YARD_DIAG_INIT;
    yard_config *cfg = NULL;
    int rc = yard_config_load(dir, &cfg, &d);
    if (rc != 0)
        dump(&d);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(d.n, 0);
    CU_ASSERT_PTR_NOT_NULL(cfg);
    yard_diag_clear(&d);
    return cfg;
}

/* Expect a configuration error; the messages stay in *d. */
static void load_fail(const char *dir, yard_diag *d)
{
    yard_config *cfg = (yard_config *)1;
    CU_ASSERT_EQUAL(yard_config_load(dir, &cfg, d), YARD_ECONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    if (cfg != (yard_config *)1)
        yard_config_free(cfg); /* keep a failure from turning into a leak */
}

/* Some message is "<dir>/<file>:<line>: ..." and contains `want`. */
static bool has_diag(const yard_diag *d, const char *dir, const char *file,
                     int line, const char *want)
{
    char prefix[1024];
    if (dir)
        snprintf(prefix, sizeof prefix, "%s/%s:%d: ", dir, file, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", file); /* "environment" */
    for (size_t i = 0; i < d->n; i++)
        if (strncmp(d->msgs[i], prefix, strlen(prefix)) == 0 &&
            strstr(d->msgs[i] + strlen(prefix), want))
            return true;
    fprintf(stderr, "no diagnostic \"%s...%s\" among:\n", prefix, want);
    dump(d);
    return false;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    CU_ASSERT_FATAL(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void unset_switchyard_env(void)
{
    /* collect first: unsetenv() changes environ */
    char *names[256];
    size_t n = 0;
    for (char **e = environ; *e && n < ARRAY_LEN(names); e++)
        if (strncmp(*e, "SWITCHYARD_", 11) == 0)
            names[n++] = strndup(*e, strcspn(*e, "="));
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
}

static int suite_init(void)
{
    unset_switchyard_env();
    return 0;
}

/* ---- defaults and a full valid configuration -------------------------- */

static void test_empty_dir_defaults(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "README", "not a conf file\n");
    put(dir, "host.ini.bak", "[nonsense\n");
    put(dir, ".hidden.ini", "[nonsense\n");
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char *plugins = path_in(dir, "../plugins");
    char *schemas = path_in(dir, "../schemas");
    CU_ASSERT_STRING_EQUAL(cfg->conf_dir, dir);
    CU_ASSERT_EQUAL(cfg->workers, 4);
    CU_ASSERT_EQUAL(cfg->batch_size, 64);
    CU_ASSERT_STRING_EQUAL(cfg->plugin_dir, plugins);
    CU_ASSERT_STRING_EQUAL(cfg->schema_dir, schemas);
    CU_ASSERT_STRING_EQUAL(cfg->state_dir, "/var/lib/switchyard");
    CU_ASSERT_STRING_EQUAL(cfg->log_level, "info");
    CU_ASSERT_STRING_EQUAL(cfg->log_format, "logfmt");
    CU_ASSERT_EQUAL(cfg->shutdown_timeout_ms, 10000);
    CU_ASSERT_STRING_EQUAL(cfg->postgres_dsn, "");
    CU_ASSERT_STRING_EQUAL(cfg->http_listen, "127.0.0.1:9464");
    CU_ASSERT_EQUAL(cfg->retry.initial_ms, 100);
    CU_ASSERT_EQUAL(cfg->retry.max_ms, 30000);
    CU_ASSERT_EQUAL(cfg->retry.max_attempts, 5);
    CU_ASSERT_EQUAL(cfg->n_kafka, 0);
    CU_ASSERT_EQUAL(cfg->n_topics, 0);
    CU_ASSERT_EQUAL(cfg->n_plugins, 0);
    CU_ASSERT_PTR_NULL(yard_config_kafka(cfg, "bootstrap.servers"));
    CU_ASSERT_PTR_NULL(yard_config_plugin(cfg, "erp"));
    free(plugins);
    free(schemas);
    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_missing_dir(void)
{
    char *dir = yard_test_tmpdir("cfg");
    char *missing = path_in(dir, "conf.d");
    yard_diag d = YARD_DIAG_INIT;
    yard_config *cfg = (yard_config *)1;
    CU_ASSERT_EQUAL(yard_config_load(missing, &cfg, &d), YARD_EIO);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL_FATAL(d.n, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.msgs[0], missing));
    CU_ASSERT_PTR_NOT_NULL(strstr(d.msgs[0], "No such file"));
    yard_diag_clear(&d);
    free(missing);
    yard_test_rm_rf(dir);
    free(dir);
}

static const char full_host_ini[] =
    "; the host\n"                          /* 1 */
    "[host]\n"                              /* 2 */
    "workers = 8\n"                         /* 3 */
    "batch_size = 128\n"                    /* 4 */
    "plugin_dir = plugins\n"                /* 5 */
    "schema_dir = /opt/schemas\n"           /* 6 */
    "state_dir = state\n"                   /* 7 */
    "log_level = debug\n"                   /* 8 */
    "log_format = json\n"                   /* 9 */
    "shutdown_timeout_ms = 2500\n"          /* 10 */
    "\n"                                    /* 11 */
    "[kafka]\n"                             /* 12 */
    "bootstrap.servers = localhost:9092\n"  /* 13 */
    "client.id = switchyard ; inline\n"     /* 14 */
    "acks = all\n"                          /* 15 */
    "\n"                                    /* 16 */
    "[postgres]\n"                          /* 17 */
    "dsn = host=/tmp dbname=yard\n"         /* 18 */
    "\n"                                    /* 19 */
    "[retry]\n"                             /* 20 */
    "initial_ms = 50\n"                     /* 21 */
    "max_ms = 5000\n"                       /* 22 */
    "max_attempts = 3\n"                    /* 23 */
    "\n"                                    /* 24 */
    "[http]\n"                              /* 25 */
    "listen = [::1]:9100\n"                 /* 26 */
    "\n"                                    /* 27 */
    "[topics]\n"                            /* 28 */
    "order.* = orders\n"                    /* 29 */
    "*.status_changed = status\n";          /* 30 */

static const char billing_ini[] =
    "[plugin]\n"
    "name = billing\n"
    "path = /usr/lib/switchyard/plugins/billing.so\n"
    "group = billing-v2\n"
    "enabled = no\n"
    "dlq_topic = billing.dlq\n"
    "retry_initial_ms = 10\n"
    "retry_max_ms = 20\n"
    "retry_max_attempts = 2\n"
    "\n"
    "[settings]\n"
    "currency = EUR\n"
    "rounding = half-even\n";

static const char erp_ini[] =
    "# ERP adapter\n"                       /* 1 */
    "[settings]\n"                          /* 2 */
    "endpoint = http://erp.local/api\n"     /* 3 */
    "[plugin]\n"                            /* 4 */
    "path = erp.so\n";                      /* 5 */

static void test_full_valid(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "host.ini", full_host_ini);
    put(dir, "50-erp.ini", erp_ini);
    put(dir, "10-billing.ini", billing_ini);
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char *host = path_in(dir, "host.ini");
    char *plugins = path_in(dir, "plugins");
    char *state = path_in(dir, "state");
    char *erp_so = path_in(dir, "plugins/erp.so");
    char *erp_file = path_in(dir, "50-erp.ini");

    CU_ASSERT_EQUAL(cfg->workers, 8);
    CU_ASSERT_EQUAL(cfg->batch_size, 128);
    CU_ASSERT_STRING_EQUAL(cfg->plugin_dir, plugins);
    CU_ASSERT_STRING_EQUAL(cfg->schema_dir, "/opt/schemas");
    CU_ASSERT_STRING_EQUAL(cfg->state_dir, state);
    CU_ASSERT_STRING_EQUAL(cfg->log_level, "debug");
    CU_ASSERT_STRING_EQUAL(cfg->log_format, "json");
    CU_ASSERT_EQUAL(cfg->shutdown_timeout_ms, 2500);
    CU_ASSERT_STRING_EQUAL(cfg->postgres_dsn, "host=/tmp dbname=yard");
    CU_ASSERT_STRING_EQUAL(cfg->http_listen, "[::1]:9100");
    CU_ASSERT_EQUAL(cfg->retry.initial_ms, 50);
    CU_ASSERT_EQUAL(cfg->retry.max_ms, 5000);
    CU_ASSERT_EQUAL(cfg->retry.max_attempts, 3);

    CU_ASSERT_EQUAL_FATAL(cfg->n_kafka, 3);
    static const char *const kkeys[] = {"bootstrap.servers", "client.id",
                                        "acks"};
    static const char *const kvals[] = {"localhost:9092", "switchyard",
                                        "all"};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(cfg->kafka[i].key, kkeys[i]);
        CU_ASSERT_STRING_EQUAL(cfg->kafka[i].value, kvals[i]);
        CU_ASSERT_STRING_EQUAL(cfg->kafka[i].file, host);
        CU_ASSERT_EQUAL(cfg->kafka[i].line, 13 + (int)i);
    }
    CU_ASSERT_STRING_EQUAL(yard_config_kafka(cfg, "client.id"),
                           "switchyard");
    CU_ASSERT_PTR_NULL(yard_config_kafka(cfg, "group.id"));

    CU_ASSERT_EQUAL_FATAL(cfg->n_topics, 2);
    CU_ASSERT_STRING_EQUAL(cfg->topics[0].key, "order.*");
    CU_ASSERT_STRING_EQUAL(cfg->topics[0].value, "orders");
    CU_ASSERT_EQUAL(cfg->topics[0].line, 29);
    CU_ASSERT_STRING_EQUAL(cfg->topics[1].key, "*.status_changed");
    CU_ASSERT_STRING_EQUAL(cfg->topics[1].value, "status");

    CU_ASSERT_EQUAL_FATAL(cfg->n_plugins, 2);
    const yard_plugin_conf *b = &cfg->plugins[0]; /* 10- before 50- */
    CU_ASSERT_STRING_EQUAL(b->name, "billing");
    CU_ASSERT_STRING_EQUAL(b->path, "/usr/lib/switchyard/plugins/billing.so");
    CU_ASSERT_STRING_EQUAL(b->group, "billing-v2");
    CU_ASSERT_STRING_EQUAL(b->dlq_topic, "billing.dlq");
    CU_ASSERT_FALSE(b->enabled);
    CU_ASSERT_EQUAL(b->retry.initial_ms, 10);
    CU_ASSERT_EQUAL(b->retry.max_ms, 20);
    CU_ASSERT_EQUAL(b->retry.max_attempts, 2);
    CU_ASSERT_EQUAL_FATAL(b->n_settings, 2);
    CU_ASSERT_STRING_EQUAL(b->settings[0].key, "currency");
    CU_ASSERT_STRING_EQUAL(b->settings[1].key, "rounding");
    CU_ASSERT_EQUAL(b->settings[1].line, 13);
    CU_ASSERT_STRING_EQUAL(yard_plugin_conf_get(b, "rounding"), "half-even");

    const yard_plugin_conf *e = &cfg->plugins[1];
    CU_ASSERT_PTR_EQUAL(yard_config_plugin(cfg, "erp"), e);
    CU_ASSERT_PTR_EQUAL(yard_config_plugin(cfg, "billing"), b);
    CU_ASSERT_PTR_NULL(yard_config_plugin(cfg, "tempo"));
    CU_ASSERT_STRING_EQUAL(e->name, "erp");
    CU_ASSERT_STRING_EQUAL(e->file, erp_file);
    CU_ASSERT_EQUAL(e->line, 4);
    CU_ASSERT_STRING_EQUAL(e->path, erp_so);
    CU_ASSERT_STRING_EQUAL(e->group, "erp");
    CU_ASSERT_STRING_EQUAL(e->dlq_topic, "dlq.erp");
    CU_ASSERT_TRUE(e->enabled);
    CU_ASSERT_EQUAL(e->retry.initial_ms, 50); /* from [retry] */
    CU_ASSERT_EQUAL(e->retry.max_ms, 5000);
    CU_ASSERT_EQUAL(e->retry.max_attempts, 3);
    CU_ASSERT_STRING_EQUAL(yard_plugin_conf_get(e, "endpoint"),
                           "http://erp.local/api");
    CU_ASSERT_PTR_NULL(yard_plugin_conf_get(e, "currency"));

    free(host);
    free(plugins);
    free(state);
    free(erp_so);
    free(erp_file);
    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_plugin_defaults(void)
{
    char *dir = yard_test_tmpdir("cfg");
    /* host.ini sorts after 50-erp.ini: [retry] must still reach the plugin */
    put(dir, "50-erp.ini", "[plugin]\npath = erp.so\n");
    put(dir, "7-x_y.ini", "[plugin]\nname = ledger\npath = l.so\n");
    put(dir, "pyxis.ini", "[plugin]\npath = p.so\ngroup = pyxis-g\n"
                          "retry_max_attempts = 2\n");
    put(dir, "host.ini", "[host]\nplugin_dir = /srv/plugins/\n"
                         "[retry]\nmax_attempts = 7\n");
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_plugins, 3);

    const yard_plugin_conf *erp = yard_config_plugin(cfg, "erp");
    CU_ASSERT_PTR_NOT_NULL_FATAL(erp);
    CU_ASSERT_STRING_EQUAL(erp->group, "erp");
    CU_ASSERT_STRING_EQUAL(erp->dlq_topic, "dlq.erp");
    CU_ASSERT_STRING_EQUAL(erp->path, "/srv/plugins/erp.so");
    CU_ASSERT_TRUE(erp->enabled);
    CU_ASSERT_EQUAL(erp->retry.max_attempts, 7);
    CU_ASSERT_EQUAL(erp->retry.initial_ms, 100);
    CU_ASSERT_EQUAL(erp->retry.max_ms, 30000);
    CU_ASSERT_EQUAL(erp->n_settings, 0);

    /* an explicit name replaces the file name; group and DLQ follow it */
    CU_ASSERT_PTR_NULL(yard_config_plugin(cfg, "x_y"));
    const yard_plugin_conf *l = yard_config_plugin(cfg, "ledger");
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_STRING_EQUAL(l->group, "ledger");
    CU_ASSERT_STRING_EQUAL(l->dlq_topic, "dlq.ledger");

    const yard_plugin_conf *p = yard_config_plugin(cfg, "pyxis");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->group, "pyxis-g");
    CU_ASSERT_STRING_EQUAL(p->dlq_topic, "dlq.pyxis-g");
    CU_ASSERT_EQUAL(p->retry.max_attempts, 2);
    CU_ASSERT_EQUAL(p->retry.initial_ms, 100);

    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

/* ${state_dir} and ${conf_dir} in [settings] values; other text, and
 * other ${...}, stay as written. */
static void test_settings_dirs(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "50-n.ini", "[plugin]\npath = n.so\n[settings]\n"
                         "spool = ${state_dir}/spool\n"
                         "both = ${conf_dir}:${state_dir}:${conf_dir}\n"
                         "other = ${amount} EUR\nplain = {field}\n");
    put(dir, "host.ini", "[host]\nstate_dir = /srv/state\n");
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    const yard_plugin_conf *n = yard_config_plugin(cfg, "n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_EQUAL_FATAL(n->n_settings, 4);
    char want[2048];
    CU_ASSERT_STRING_EQUAL(n->settings[0].value, "/srv/state/spool");
    snprintf(want, sizeof want, "%s:/srv/state:%s", cfg->conf_dir, cfg->conf_dir);
    CU_ASSERT_STRING_EQUAL(n->settings[1].value, want);
    CU_ASSERT_STRING_EQUAL(n->settings[2].value, "${amount} EUR");
    CU_ASSERT_STRING_EQUAL(n->settings[3].value, "{field}");
    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_bool_forms(void)
{
    static const struct {
        const char *text;
        bool value;
    } forms[] = {{"true", true},   {"yes", true},  {"on", true},
                 {"1", true},      {"TRUE", true}, {"Yes", true},
                 {"false", false}, {"no", false},  {"off", false},
                 {"0", false},     {"OFF", false}, {"False", false}};
    char *dir = yard_test_tmpdir("cfg");
    for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
        char ini[128];
        snprintf(ini, sizeof ini, "[plugin]\npath = a.so\nenabled = %s\n",
                 forms[i].text);
        put(dir, "a.ini", ini);
        yard_config *cfg = load_ok(dir);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
        CU_ASSERT_EQUAL_FATAL(cfg->n_plugins, 1);
        if (cfg->plugins[0].enabled != forms[i].value)
            fprintf(stderr, "enabled = %s read as %d\n", forms[i].text,
                    cfg->plugins[0].enabled);
        CU_ASSERT_EQUAL(cfg->plugins[0].enabled, forms[i].value);
        yard_config_free(cfg);
    }
    yard_test_rm_rf(dir);
    free(dir);
}

/* ---- one error of each kind, with its file:line ----------------------- */

#define LONG_X                                                             \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct error_case {
    const char *what;
    const char *files[2][2]; /* name, content */
    const char *file;        /* where the error is */
    int line;
    const char *want;   /* the message contains this */
    const char *absent; /* and not this (or NULL) */
} error_cases[] = {
    {"not a number",
     {{"host.ini", "# host\n[host]\nbatch_size = 10\nworkers = abc\n"}},
     "host.ini", 4,
     "[host] workers = \"abc\": expected a whole number from 1 to 256",
     NULL},
    {"above the maximum",
     {{"host.ini", "[host]\nworkers = 257\n"}},
     "host.ini", 2, "[host] workers = \"257\": expected a whole number from "
                    "1 to 256", NULL},
    {"below the minimum",
     {{"host.ini", "[retry]\nmax_attempts = 0\n"}},
     "host.ini", 2, "[retry] max_attempts = \"0\": expected a whole number "
                    "from 1 to 1000", NULL},
    {"negative",
     {{"host.ini", "[host]\nbatch_size = -5\n"}},
     "host.ini", 2, "expected a whole number from 1 to 10000", NULL},
    {"overflow",
     {{"h.ini", "[host]\nshutdown_timeout_ms = 99999999999999999999999\n"}},
     "h.ini", 2, "[host] shutdown_timeout_ms = \"99999999999999999999999\": "
                 "expected a whole number from 1 to 3600000", NULL},
    {"bad bool",
     {{"20-x.ini", "[plugin]\npath = x.so\nenabled = maybe\n"}},
     "20-x.ini", 3, "[plugin] enabled = \"maybe\": expected true or false",
     NULL},
    {"bad choice",
     {{"host.ini", "[host]\nlog_level = loud\n"}},
     "host.ini", 2, "[host] log_level = \"loud\": expected one of: error, "
                    "warn, info, debug", NULL},
    {"empty directory",
     {{"host.ini", "[host]\nplugin_dir =\n"}},
     "host.ini", 2, "[host] plugin_dir = \"\": expected a directory path",
     NULL},
    {"unknown key",
     {{"host.ini", "[host]\nworkers = 2\nwrokers = 3\n"}},
     "host.ini", 3, "[host] unknown key \"wrokers\" (known: workers, "
                    "batch_size,", NULL},
    {"unknown plugin key",
     {{"a.ini", "[plugin]\npath = a.so\nretries = 3\n"}},
     "a.ini", 3, "[plugin] unknown key \"retries\"", NULL},
    {"unknown section",
     {{"host.ini", "[host]\nworkers = 2\n[hots]\nworkers = 2\nfoo = 1\n"}},
     "host.ini", 3, "unknown section [hots] (known: host, kafka,", NULL},
    {"duplicate key",
     {{"host.ini", "[host]\nworkers = 2\n\nworkers = 3\n"}},
     "host.ini", 4, "[host] duplicate key workers (first set at line 2)",
     NULL},
    {"host section in two files",
     {{"a.ini", "[http]\nlisten = 127.0.0.1:1\n"},
      {"b.ini", "\n[http]\nlisten = 127.0.0.1:2\n"}},
     "b.ini", 2, "[http] is already given at ", NULL},
    {"host section twice in one file",
     {{"host.ini", "[retry]\nmax_ms = 1000\n[retry]\nmax_ms = 2000\n"}},
     "host.ini", 3, "[retry] is already given at ", NULL},
    {"second [plugin] in one file",
     {{"a.ini", "[plugin]\npath = a.so\n[plugin]\npath = b.so\n"}},
     "a.ini", 3, "[plugin] given twice in one file (first at line 1)", NULL},
    {"missing path",
     {{"30-x.ini", "# x\n[plugin]\ngroup = g\n"}},
     "30-x.ini", 2, "[plugin] path is required", NULL},
    {"same plugin name from two files",
     {{"10-erp.ini", "[plugin]\npath = a.so\n"},
      {"20-erp.ini", "\n\n[plugin]\npath = b.so\n"}},
     "20-erp.ini", 3, "[plugin] name \"erp\" is already used by ", NULL},
    {"same explicit plugin name",
     {{"a.ini", "[plugin]\nname = x\npath = a.so\n"},
      {"b.ini", "[plugin]\nname = x\npath = b.so\n"}},
     "b.ini", 1, "name \"x\" is already used by ", NULL},
    {"bad plugin name",
     {{"a.ini", "[plugin]\nname = ERP\npath = a.so\n"}},
     "a.ini", 2, "[plugin] name = \"ERP\": expected lowercase letters",
     NULL},
    {"bad plugin name from the file name",
     {{"Bad Name.ini", "[plugin]\npath = a.so\n"}},
     "Bad Name.ini", 1, "name \"Bad Name\" taken from the file name", NULL},
    {"bad derived DLQ topic",
     {{"a.ini", "[plugin]\npath = a.so\ngroup = my group\n"}},
     "a.ini", 1, "dlq_topic \"dlq.my group\" derived from the group", NULL},
    {"bad DLQ topic",
     {{"a.ini", "[plugin]\npath = a.so\ndlq_topic = dlq/a\n"}},
     "a.ini", 3, "[plugin] dlq_topic = \"dlq/a\": expected a Kafka topic",
     NULL},
    {"unknown librdkafka property",
     {{"host.ini", "[kafka]\nbootstrap.servers = x:1\nbootstrap.server = y\n"}},
     "host.ini", 3, "[kafka] bootstrap.server: No such configuration "
                    "property", NULL},
    {"bad librdkafka value",
     {{"host.ini", "[kafka]\nsession.timeout.ms = soon\n"}},
     "host.ini", 2, "[kafka] session.timeout.ms: Invalid value", NULL},
    {"cooperative rebalancing",
     {{"host.ini", "[kafka]\npartition.assignment.strategy = cooperative-sticky\n"}},
     "host.ini", 2, "[kafka] partition.assignment.strategy = "
                    "cooperative-sticky: the cooperative rebalance protocol "
                    "is not supported", NULL},
    {"duplicate librdkafka property",
     {{"host.ini", "[kafka]\nclient.id = a\nclient.id = b\n"}},
     "host.ini", 3, "[kafka] duplicate key client.id (first set at line 2)",
     NULL},
    {"bad topic name",
     {{"host.ini", "[topics]\norder.* = bad topic!\n"}},
     "host.ini", 2, "[topics] order.* = \"bad topic!\": expected a Kafka "
                    "topic name", NULL},
    {"topic \"..\"",
     {{"host.ini", "[topics]\na.* = ..\n"}},
     "host.ini", 2, "[topics] a.* = \"..\": expected a Kafka topic name",
     NULL},
    {"duplicate topic pattern",
     {{"host.ini", "[topics]\na.* = a\nb.* = b\na.* = c\n"}},
     "host.ini", 4, "[topics] duplicate pattern a.* (first set at line 2)",
     NULL},
    {"bad dsn, password not echoed",
     {{"host.ini", "[postgres]\ndsn = host=db password=hunter2 sslmodee=1\n"}},
     "host.ini", 2, "[postgres] dsn: invalid connection option \"sslmodee\"",
     "hunter2"},
    {"bad listen address",
     {{"host.ini", "[http]\nlisten = 9464\n"}},
     "host.ini", 2, "[http] listen = \"9464\": expected HOST:PORT", NULL},
    {"port out of range",
     {{"host.ini", "[http]\nlisten = localhost:65536\n"}},
     "host.ini", 2, "[http] listen = \"localhost:65536\": expected HOST:PORT",
     NULL},
    {"first backoff above the cap",
     {{"host.ini", "[retry]\ninitial_ms = 5000\nmax_ms = 1000\n"}},
     "host.ini", 2, "[retry] initial_ms (5000) is larger than max_ms (1000)",
     NULL},
    {"plugin cap below the first backoff",
     {{"a.ini", "[plugin]\npath = a.so\nretry_max_ms = 50\n"}},
     "a.ini", 3, "[plugin] retry_initial_ms (100) is larger than "
                 "retry_max_ms (50)", NULL},
    {"key outside any section",
     {{"host.ini", "workers = 3\n[host]\n"}},
     "host.ini", 1, "workers = ...: key outside any section", NULL},
    {"no equals sign",
     {{"host.ini", "[host]\nworkers\n"}},
     "host.ini", 2, "expected \"key = value\" or \"[section]\"", NULL},
    {"header without ]",
     {{"host.ini", "[host]\nworkers = 2\n[retry\nmax_ms = 1\n"}},
     "host.ini", 3, "section header without a closing \"]\"", NULL},
    {"[settings] without [plugin]",
     {{"host.ini", "[host]\n[settings]\na = 1\n"}},
     "host.ini", 2, "[settings] without a [plugin] section", NULL},
    {"indented continuation",
     {{"host.ini", "[host]\nworkers = 2\n\n  batch_size = 3\n"}},
     "host.ini", 4, "indented line continues the previous value", NULL},
    {"line too long",
     {{"host.ini", "[host]\nstate_dir = /" LONG_X "\n"}},
     "host.ini", 2, "line is longer than 198 characters", NULL},
    {"BOM and CRLF keep line numbers",
     {{"host.ini", "\xEF\xBB\xBF[host]\r\nworkers = 2\r\nbatch_size = x\r\n"}},
     "host.ini", 3, "[host] batch_size = \"x\": expected", NULL},
};

static void test_error_kinds(void)
{
    for (size_t i = 0; i < ARRAY_LEN(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        char *dir = yard_test_tmpdir("cfg");
        for (size_t f = 0; f < 2 && c->files[f][0]; f++)
            put(dir, c->files[f][0], c->files[f][1]);
        yard_diag d = YARD_DIAG_INIT;
        load_fail(dir, &d);
        bool found = has_diag(&d, dir, c->file, c->line, c->want);
        if (!found || d.n != 1)
            fprintf(stderr, "case \"%s\": %zu messages\n", c->what, d.n);
        CU_ASSERT_TRUE(found);
        CU_ASSERT_EQUAL(d.n, 1); /* no cascade of follow-up errors */
        for (size_t m = 0; c->absent && m < d.n; m++)
            CU_ASSERT_PTR_NULL(strstr(d.msgs[m], c->absent));
        yard_diag_clear(&d);
        yard_test_rm_rf(dir);
        free(dir);
    }
}

/* Debian's inih reads lines into a 200-byte buffer: 198 characters plus
 * "\n" and NUL.  The longest line fits; one more is an error, not a cut. */
#define INI_LINE_MAX 198

static void test_line_length_limit(void)
{
    char *dir = yard_test_tmpdir("cfg");
    char line[INI_LINE_MAX + 2], ini[INI_LINE_MAX + 32];
    int head = snprintf(line, sizeof line, "state_dir = /");
    memset(line + head, 's', INI_LINE_MAX - (size_t)head);
    line[INI_LINE_MAX] = '\0';
    CU_ASSERT_EQUAL_FATAL(strlen(line), INI_LINE_MAX);
    snprintf(ini, sizeof ini, "[host]\n%s\n", line);
    put(dir, "host.ini", ini);
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->state_dir, line + head - 1);
    yard_config_free(cfg);

    memcpy(line + INI_LINE_MAX, "s", 2);
    snprintf(ini, sizeof ini, "[host]\n%s\n", line);
    put(dir, "host.ini", ini);
    yard_diag d = YARD_DIAG_INIT;
    load_fail(dir, &d);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_TRUE(has_diag(&d, dir, "host.ini", 2, "longer than 198"));
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_error_names_first_place(void)
{
    /* the "already" messages name where the first one is */
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "10-erp.ini", "\n[plugin]\npath = a.so\n");
    put(dir, "20-erp.ini", "[plugin]\npath = b.so\n");
    put(dir, "a.ini", "[http]\nlisten = 127.0.0.1:1\n");
    put(dir, "b.ini", "[http]\n");
    yard_diag d = YARD_DIAG_INIT;
    load_fail(dir, &d);
    char *first_plugin = NULL, *first_http = NULL;
    CU_ASSERT_FATAL(asprintf(&first_plugin, "already used by %s/10-erp.ini:2",
                             dir) > 0);
    CU_ASSERT_FATAL(asprintf(&first_http, "already given at %s/a.ini:1", dir) >
                    0);
    CU_ASSERT_EQUAL(d.n, 2);
    CU_ASSERT_TRUE(has_diag(&d, dir, "20-erp.ini", 1, first_plugin));
    CU_ASSERT_TRUE(has_diag(&d, dir, "b.ini", 1, first_http));
    free(first_plugin);
    free(first_http);
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_multiple_errors(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "host.ini",
        "[host]\n"                    /* 1 */
        "workers = abc\n"             /* 2 */
        "log_format = xml\n"          /* 3 */
        "[kafka]\n"                   /* 4 */
        "no.such.property = 1\n"      /* 5 */
        "[hots]\n");                  /* 6 */
    put(dir, "50-erp.ini",
        "[plugin]\n"                  /* 1: no path */
        "enabled = perhaps\n"         /* 2 */
        "colour = blue\n");           /* 3 */
    yard_diag d = YARD_DIAG_INIT;
    CU_ASSERT_EQUAL(yard_diag_add(&d, "caller's own message"), 0);
    load_fail(dir, &d);
    CU_ASSERT_EQUAL(d.n, 1 + 7);
    CU_ASSERT_STRING_EQUAL(d.msgs[0], "caller's own message");
    CU_ASSERT_TRUE(has_diag(&d, dir, "host.ini", 2, "workers = \"abc\""));
    CU_ASSERT_TRUE(has_diag(&d, dir, "host.ini", 3, "log_format = \"xml\""));
    CU_ASSERT_TRUE(has_diag(&d, dir, "host.ini", 5, "no.such.property"));
    CU_ASSERT_TRUE(has_diag(&d, dir, "host.ini", 6, "unknown section [hots]"));
    CU_ASSERT_TRUE(has_diag(&d, dir, "50-erp.ini", 1, "path is required"));
    CU_ASSERT_TRUE(has_diag(&d, dir, "50-erp.ini", 2, "enabled = \"perhaps\""));
    CU_ASSERT_TRUE(has_diag(&d, dir, "50-erp.ini", 3, "unknown key \"colour\""));
    yard_diag_clear(&d);

    /* without a diag list the code still says what happened */
    yard_config *cfg = (yard_config *)1;
    CU_ASSERT_EQUAL(yard_config_load(dir, &cfg, NULL), YARD_ECONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_name_order(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "30-c.ini", "[plugin]\npath = c.so\n");
    put(dir, "10-a.ini", "[plugin]\npath = a.so\n");
    put(dir, "zz.ini", "[plugin]\npath = z.so\n");
    put(dir, "20-b.ini", "[plugin]\npath = b.so\n");
    put(dir, "9-d.ini", "[plugin]\npath = d.so\n"); /* "9" > "3" by name */
    yard_config *cfg = load_ok(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    static const char *const order[] = {"a", "b", "c", "d", "zz"};
    CU_ASSERT_EQUAL_FATAL(cfg->n_plugins, ARRAY_LEN(order));
    for (size_t i = 0; i < ARRAY_LEN(order); i++)
        CU_ASSERT_STRING_EQUAL(cfg->plugins[i].name, order[i]);
    yard_config_free(cfg);

    /* of two [host] sections, the one in the later file is the error */
    put(dir, "zz-host.ini", "[host]\nworkers = 2\n");
    put(dir, "aa-host.ini", "[host]\nworkers = 3\n");
    yard_diag d = YARD_DIAG_INIT;
    load_fail(dir, &d);
    CU_ASSERT_EQUAL(d.n, 1);
    CU_ASSERT_TRUE(has_diag(&d, dir, "zz-host.ini", 1, "aa-host.ini:1"));
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

/* ---- environment ------------------------------------------------------ */

static void test_env_overrides(void)
{
    char *dir = yard_test_tmpdir("cfg");
    put(dir, "host.ini", "[host]\nworkers = 2\n"
                         "[kafka]\nbootstrap.servers = file:9092\n"
                         "client.id = yard\n");
    put(dir, "50-erp.ini", "[plugin]\npath = erp.so\n");
    setenv("SWITCHYARD_HOST_WORKERS", "16", 1);
    setenv("SWITCHYARD_HOST_LOG_FORMAT", "json", 1);
    setenv("SWITCHYARD_HOST_SCHEMA_DIR", "avsc", 1);
    setenv("SWITCHYARD_POSTGRES_DSN", "dbname=env", 1);
    setenv("SWITCHYARD_RETRY_MAX_ATTEMPTS", "9", 1);
    setenv("SWITCHYARD_HTTP_LISTEN", "0.0.0.0:1234", 1);
    setenv("SWITCHYARD_KAFKA_BROKERS", "b1:9092,b2:9092", 1);
    yard_config *cfg = load_ok(dir);
    unset_switchyard_env();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char *avsc = path_in(dir, "avsc");
    CU_ASSERT_EQUAL(cfg->workers, 16);
    CU_ASSERT_STRING_EQUAL(cfg->log_format, "json");
    CU_ASSERT_STRING_EQUAL(cfg->schema_dir, avsc);
    CU_ASSERT_STRING_EQUAL(cfg->postgres_dsn, "dbname=env");
    CU_ASSERT_EQUAL(cfg->retry.max_attempts, 9);
    CU_ASSERT_STRING_EQUAL(cfg->http_listen, "0.0.0.0:1234");
    /* replaced in place, and says where it came from */
    CU_ASSERT_EQUAL_FATAL(cfg->n_kafka, 2);
    CU_ASSERT_STRING_EQUAL(cfg->kafka[0].key, "bootstrap.servers");
    CU_ASSERT_STRING_EQUAL(cfg->kafka[0].value, "b1:9092,b2:9092");
    CU_ASSERT_STRING_EQUAL(cfg->kafka[0].file, "environment");
    CU_ASSERT_EQUAL(cfg->kafka[0].line, 0);
    CU_ASSERT_STRING_EQUAL(cfg->kafka[1].value, "yard");
    /* plugin defaults see the environment's [retry] */
    CU_ASSERT_EQUAL_FATAL(cfg->n_plugins, 1);
    CU_ASSERT_EQUAL(cfg->plugins[0].retry.max_attempts, 9);
    free(avsc);
    yard_config_free(cfg);

    /* no [kafka] bootstrap.servers in the files: appended */
    put(dir, "host.ini", "[kafka]\nclient.id = yard\n");
    setenv("SWITCHYARD_KAFKA_BROKERS", "b3:9092", 1);
    cfg = load_ok(dir);
    unset_switchyard_env();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_kafka, 2);
    CU_ASSERT_STRING_EQUAL(cfg->kafka[0].key, "client.id");
    CU_ASSERT_STRING_EQUAL(cfg->kafka[1].key, "bootstrap.servers");
    CU_ASSERT_STRING_EQUAL(yard_config_kafka(cfg, "bootstrap.servers"),
                           "b3:9092");
    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_env_bad_values(void)
{
    char *dir = yard_test_tmpdir("cfg");
    setenv("SWITCHYARD_HOST_WORKERS", "abc", 1);
    setenv("SWITCHYARD_POSTGRES_DSN", "password=hunter2 nope", 1);
    setenv("SWITCHYARD_RETRY_INITIAL_MS", "90000", 1);
    yard_diag d = YARD_DIAG_INIT;
    load_fail(dir, &d);
    unset_switchyard_env();
    CU_ASSERT_EQUAL(d.n, 3);
    CU_ASSERT_TRUE(has_diag(&d, NULL, "environment",
                            0, "SWITCHYARD_HOST_WORKERS = \"abc\": expected "
                               "a whole number from 1 to 256"));
    CU_ASSERT_TRUE(has_diag(&d, NULL, "environment", 0,
                            "SWITCHYARD_POSTGRES_DSN: missing \"=\""));
    CU_ASSERT_TRUE(has_diag(&d, NULL, "environment", 0,
                            "[retry] initial_ms (90000) is larger than "
                            "max_ms (30000)"));
    for (size_t i = 0; i < d.n; i++)
        CU_ASSERT_PTR_NULL(strstr(d.msgs[i], "hunter2"));
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_env_every_host_key(void)
{
    /* every table key of a host section has its variable, checked like a
     * file value: a bad value names the variable */
    size_t n = 0, tried = 0;
    const yard_conf_section *secs = yard_config_sections(&n);
    char *dir = yard_test_tmpdir("cfg");
    for (size_t s = 0; s < n; s++) {
        if (secs[s].kind != YARD_CONF_HOST)
            continue;
        for (size_t k = 0; k < secs[s].n_keys; k++) {
            const yard_conf_key *key = &secs[s].keys[k];
            char var[128];
            snprintf(var, sizeof var, "SWITCHYARD_%s_%s", secs[s].name,
                     key->name);
            for (char *p = var; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            /* a value each key refuses: "" for paths, "x" for the rest */
            bool path = key->type == YARD_CONF_DIR ||
                        strcmp(key->name, "control_socket") == 0;
            setenv(var, path ? "" : "x", 1);
            yard_diag d = YARD_DIAG_INIT;
            load_fail(dir, &d);
            unsetenv(var);
            CU_ASSERT_EQUAL(d.n, 1);
            CU_ASSERT_TRUE(has_diag(&d, NULL, "environment", 0, var));
            yard_diag_clear(&d);
            tried++;
        }
    }
    CU_ASSERT_EQUAL(tried, 12 + 1 + 3 + 1); /* host, postgres, retry, http */
    yard_test_rm_rf(dir);
    free(dir);
}

/* ---- the tables ------------------------------------------------------- */

static void test_sections_table(void)
{
    size_t n = 0;
    const yard_conf_section *secs = yard_config_sections(&n);
    static const char *const names[] = {"host",   "kafka",  "postgres",
                                        "retry",  "http",   "topics",
                                        "topic",  "plugin", "settings"};
    CU_ASSERT_EQUAL_FATAL(n, ARRAY_LEN(names));
    for (size_t s = 0; s < n; s++) {
        CU_ASSERT_STRING_EQUAL(secs[s].name, names[s]);
        CU_ASSERT_PTR_NOT_NULL(secs[s].help);
        CU_ASSERT_EQUAL(secs[s].keys == NULL, secs[s].n_keys == 0);
        for (size_t k = 0; k < secs[s].n_keys; k++) {
            const yard_conf_key *key = &secs[s].keys[k];
            CU_ASSERT_PTR_NOT_NULL(key->help);
            /* a key without a default says why */
            CU_ASSERT_EQUAL(key->def == NULL,
                            (key->flags & (YARD_CONF_REQUIRED |
                                           YARD_CONF_DERIVED)) != 0);
            if (key->type == YARD_CONF_UINT)
                CU_ASSERT(key->min <= key->max);
            CU_ASSERT_EQUAL(key->type == YARD_CONF_ENUM,
                            key->choices != NULL);
        }
    }
}

static void test_free_null(void)
{
    yard_config_free(NULL);
    CU_ASSERT_PTR_NULL(yard_config_kafka(NULL, "acks"));
    CU_ASSERT_PTR_NULL(yard_config_plugin(NULL, "erp"));
    CU_ASSERT_PTR_NULL(yard_plugin_conf_get(NULL, "x"));
    yard_config *cfg = (yard_config *)1;
    CU_ASSERT_EQUAL(yard_config_load(NULL, &cfg, NULL), YARD_EINVAL);
    CU_ASSERT_PTR_NULL(cfg);
}

static CU_TestInfo tests[] = {
    {"empty directory: all defaults", test_empty_dir_defaults},
    {"missing directory", test_missing_dir},
    {"full valid configuration", test_full_valid},
    {"plugin defaults", test_plugin_defaults},
    {"${state_dir} and ${conf_dir} in settings", test_settings_dirs},
    {"boolean spellings", test_bool_forms},
    {"each error kind at its file:line", test_error_kinds},
    {"line length limit", test_line_length_limit},
    {"errors name the first place", test_error_names_first_place},
    {"all errors of one load", test_multiple_errors},
    {"files read in name order", test_name_order},
    {"environment overrides", test_env_overrides},
    {"bad environment values", test_env_bad_values},
    {"every host key has a variable", test_env_every_host_key},
    {"key tables", test_sections_table},
    {"NULL arguments", test_free_null},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return yard_test_main("config", suite_init, NULL, tests);
}
