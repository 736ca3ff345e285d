/*
 * test_plugin_abi.c — the plugin loader: descriptor checks against real,
 * deliberately broken test plugins (tests/plugins/abi_*.c), file trust
 * checks in a temporary plugin directory, the lifecycle of a good plugin
 * (migrations, init, routing, counters, fini), and upgrades through
 * per-generation copies.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "plugin.h"
#include "testutil.h"

#include "../plugins/abi_good.h"

#define ERRLEN 1024
#define OTHER_UID 12345
#define METRIC_THREADS 4
#define METRIC_ADDS 5000

static char *g_runtime; /* runtime_dir for every test; must end up empty */

#define ASSERT_CONTAINS(hay, needle)                                        \
    do {                                                                    \
        const char *h_ = (hay), *n_ = (needle);                             \
        bool ok_ = h_ && strstr(h_, n_);                                    \
        if (!ok_)                                                           \
            fprintf(stderr, "\n    %s:%d: \"%s\" not in \"%s\"\n", __FILE__, \
                    __LINE__, n_, h_ ? h_ : "(null)");                      \
        CU_ASSERT(ok_);                                                     \
    } while (0)

/* ---- fixtures ---------------------------------------------------------- */

static int suite_init(void)
{
    g_runtime = yard_test_tmpdir("plugrt");
    return g_runtime ? 0 : -1;
}

static int suite_clean(void)
{
    yard_test_rm_rf(g_runtime);
    free(g_runtime);
    return 0;
}

/* Entries in a directory, "." and ".." excluded; -1 if unreadable. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int copy_path(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[8192];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r)
            rc = -1;
    if (r < 0)
        rc = -1;
    close(in);
    if (close(out) != 0 || chmod(to, mode) != 0)
        rc = -1;
    return rc;
}

/* A conf for a plugin file; `path` and `name` are copied into it. */
typedef struct test_conf {
    yard_plugin_conf conf;
    char path[PATH_MAX];
    char name[64];
    yard_kv setting;
} test_conf;

static void conf_set(test_conf *tc, const char *name, const char *path)
{
    memset(tc, 0, sizeof *tc);
    snprintf(tc->path, sizeof tc->path, "%s", path);
    snprintf(tc->name, sizeof tc->name, "%s", name);
    tc->setting.key = "greeting";
    tc->setting.value = "world";
    tc->conf.name = tc->name;
    tc->conf.path = tc->path;
    tc->conf.enabled = true;
    tc->conf.settings = &tc->setting;
    tc->conf.n_settings = 1;
}

/* A conf for build/tests/plugins/<plugin>.so. */
static void conf_test_plugin(test_conf *tc, const char *plugin)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.so", YARD_TEST_PLUGIN_DIR, plugin);
    conf_set(tc, plugin, path);
}

static yard_plugin_open_opts opts_untrusted(uint64_t generation)
{
    return (yard_plugin_open_opts){.runtime_dir = g_runtime,
                                   .generation = generation,
                                   .host_uid = getuid(),
                                   .skip_trust_checks = true};
}

static yard_plugin_open_opts opts_trusted(const char *plugin_dir,
                                          uint64_t generation)
{
    return (yard_plugin_open_opts){.plugin_dir = plugin_dir,
                                   .runtime_dir = g_runtime,
                                   .generation = generation,
                                   .host_uid = getuid()};
}

/* ---- the host API the good plugin calls -------------------------------- */

/* from_self() of the last API call, as an address: it is compared after
 * the plugin is freed. */
static uintptr_t g_seen_owner;
static char g_log[512];           /* the last line logged */
static int g_log_calls;

static const char *api_config_get(const sy_plugin *self, const char *key)
{
    yard_plugin *p = yard_plugin_from_self(self);
    g_seen_owner = (uintptr_t)p;
    const yard_plugin_conf *c = yard_plugin_conf_of(p);
    for (size_t i = 0; i < c->n_settings; i++)
        if (strcmp(c->settings[i].key, key) == 0)
            return c->settings[i].value;
    return NULL;
}

static void api_log(const sy_plugin *self, const sy_ctx *ctx,
                    sy_log_level level, const char *fmt, ...)
{
    g_seen_owner = (uintptr_t)yard_plugin_from_self(self);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_log, sizeof g_log, fmt, ap);
    va_end(ap);
    g_log_calls++;
}

static void api_metric_add(const sy_plugin *self, const char *name,
                           double value)
{
    yard_plugin *p = yard_plugin_from_self(self);
    g_seen_owner = (uintptr_t)p;
    yard_plugin_metric_add(p, name, value);
}

static const sy_host_api g_api = {
    .size = sizeof(sy_host_api),
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .config_get = api_config_get,
    .log = api_log,
    .metric_add = api_metric_add,
};

/* Records every migrate() call; fails at version `fail_at` if set. */
#define MIGRATE_MAX 8
typedef struct migrate_rec {
    int calls;
    int versions[MIGRATE_MAX];
    char plugin[64];
    char sql[MIGRATE_MAX][256];
    int fail_at;
} migrate_rec;

static int record_migrate(void *arg, const char *plugin, int version,
                          const char *sql, char *err, size_t errlen)
{
    migrate_rec *m = arg;
    if (m->calls < MIGRATE_MAX) {
        m->versions[m->calls] = version;
        snprintf(m->sql[m->calls], sizeof m->sql[0], "%s", sql);
    }
    snprintf(m->plugin, sizeof m->plugin, "%s", plugin);
    m->calls++;
    if (version == m->fail_at) {
        snprintf(err, errlen, "relation already exists (test)");
        return YARD_EDB;
    }
    return 0;
}

/* metric_each into a name -> value lookup of one counter. */
typedef struct metric_find {
    const char *name;
    double value;
    int found;
    int total; /* counters visited */
} metric_find;

static void find_metric(void *arg, const char *name, double value)
{
    metric_find *f = arg;
    f->total++;
    if (strcmp(name, f->name) == 0) {
        f->value = value;
        f->found++;
    }
}

static metric_find metric_get(const yard_plugin *p, const char *name)
{
    metric_find f = {.name = name};
    yard_plugin_metric_each(p, find_metric, &f);
    return f;
}

/* ---- descriptor refusals ----------------------------------------------- */

/*
 * Open build/tests/plugins/<plugin>.so without trust checks; expect `code`
 * and a message naming the file and holding every string in the
 * NULL-terminated list; nothing may be left in the runtime directory.
 */
static void expect_refusal(const char *plugin, int code, ...)
{
    test_conf tc;
    conf_test_plugin(&tc, plugin);
    yard_plugin_open_opts o = opts_untrusted(1);
    yard_plugin *p = (yard_plugin *)&tc; /* must be reset to NULL */
    char err[ERRLEN] = "";
    int rc = yard_plugin_open(&tc.conf, &o, &p, err, sizeof err);
    if (rc != code)
        fprintf(stderr, "\n    %s: rc %d (%s), message: %s\n", plugin, rc,
                yard_err_str(rc), err);
    CU_ASSERT_EQUAL(rc, code);
    CU_ASSERT_PTR_NULL(p);
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s.so", plugin);
    ASSERT_CONTAINS(err, file);
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *));)
        ASSERT_CONTAINS(err, s);
    va_end(ap);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
    if (rc == 0)
        yard_plugin_close(p);
}

static void test_refuse_no_descriptor(void)
{
    expect_refusal("abi_nodesc", YARD_EABI, "no descriptor",
                   "symbol sy_plugin_descriptor not exported",
                   "hint: declare it with SY_PLUGIN_DESCRIPTOR(...)", NULL);
}

static void test_refuse_function_symbol(void)
{
    expect_refusal("abi_func", YARD_EABI, "malformed descriptor",
                   "not a data object", NULL);
}

static void test_refuse_tiny_symbol(void)
{
    expect_refusal("abi_tiny", YARD_EABI, "malformed descriptor",
                   "is 8 bytes, too small", "host has 16, plugin has 8",
                   NULL);
}

static void test_refuse_bad_magic(void)
{
    expect_refusal("abi_badmagic", YARD_EABI, "malformed descriptor",
                   "bad magic", "host has 0x5359504c",
                   "plugin has 0x12345678", "hint:", NULL);
}

static void test_refuse_major(void)
{
    expect_refusal("abi_major2", YARD_EABI, "refused", "ABI major mismatch",
                   "host has ABI 1.0", "plugin has ABI 2.3",
                   "hint: rebuild the plugin against this host's "
                   "<switchyard/sdk.h>",
                   NULL);
}

static void test_refuse_newer_minor(void)
{
    expect_refusal("abi_minor_newer", YARD_EABI, "refused",
                   "needs a newer host", "host has ABI 1.0",
                   "plugin has ABI 1.1", "hint: upgrade the host", NULL);
}

static void test_refuse_small_size(void)
{
    char want[64];
    snprintf(want, sizeof want, "host has %zu, plugin has %zu",
             sizeof(sy_plugin_desc), sizeof(sy_plugin_desc) - 16);
    expect_refusal("abi_small", YARD_EABI, "malformed descriptor",
                   "size field too small for ABI 1.0", want, NULL);
}

static void test_refuse_truncated_symbol(void)
{
    char want[96];
    snprintf(want, sizeof want, "is 16 bytes but its size field says %zu",
             sizeof(sy_plugin_desc));
    expect_refusal("abi_truncated", YARD_EABI, "malformed descriptor", want,
                   NULL);
}

static void test_refuse_no_subscriptions(void)
{
    expect_refusal("abi_nosubs", YARD_EABI, "malformed descriptor",
                   "field subscriptions is empty", "n_subscriptions 0", NULL);
}

static void test_refuse_null_handler(void)
{
    expect_refusal("abi_nohandler", YARD_EABI, "malformed descriptor",
                   "subscriptions[1].handler is NULL", "\"invoice.*\"", NULL);
}

static void test_refuse_no_init(void)
{
    expect_refusal("abi_noinit", YARD_EABI, "malformed descriptor",
                   "field init is NULL", NULL);
}

static void test_refuse_bad_name(void)
{
    expect_refusal("abi_badname", YARD_EABI, "malformed descriptor",
                   "field name \"Bad Name\"", "[a-z0-9_-]+", NULL);
}

static void test_refuse_no_version(void)
{
    expect_refusal("abi_noversion", YARD_EABI, "malformed descriptor",
                   "field version is empty", NULL);
}

static void test_refuse_missing_file(void)
{
    expect_refusal("abi_does_not_exist", YARD_EIO, "cannot open",
                   "No such file", NULL);
}

static void test_init_failure(void)
{
    test_conf tc;
    conf_test_plugin(&tc, "abi_initfail");
    yard_plugin_open_opts o = opts_untrusted(1);
    yard_plugin *p = NULL;
    char err[ERRLEN] = "";
    int rc = yard_plugin_open(&tc.conf, &o, &p, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    rc = yard_plugin_start(p, &g_api, NULL, NULL, err, sizeof err);
    CU_ASSERT_EQUAL(rc, YARD_EPLUGIN);
    ASSERT_CONTAINS(err, "plugin abi_initfail (");
    ASSERT_CONTAINS(err, "abi_initfail.so): init failed: ");
    ASSERT_CONTAINS(err, "setting dsn is required");
    CU_ASSERT_PTR_NULL(yard_plugin_state(p));
    /* Not started: close must not call its fini() (which traps). */
    yard_plugin_close(p);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
}

/* ---- the good plugin --------------------------------------------------- */

static yard_plugin *open_good(test_conf *tc, uint64_t generation)
{
    conf_test_plugin(tc, "abi_good");
    /* A conf name unlike the descriptor's, to tell the two apart. */
    snprintf(tc->name, sizeof tc->name, "good_inst");
    yard_plugin_open_opts o = opts_untrusted(generation);
    yard_plugin *p = NULL;
    char err[ERRLEN] = "";
    int rc = yard_plugin_open(&tc->conf, &o, &p, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n    open abi_good: %s\n", err);
    CU_ASSERT_EQUAL(rc, 0);
    return p;
}

static void test_good_open(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const sy_plugin_desc *d = yard_plugin_desc(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d->name, "abi_good");
    CU_ASSERT_STRING_EQUAL(d->version, "1.2.3");
    CU_ASSERT_EQUAL(d->n_subscriptions, 2);
    CU_ASSERT_STRING_EQUAL(yard_plugin_name(p), "good_inst");
    CU_ASSERT_PTR_EQUAL(yard_plugin_conf_of(p), &tc.conf);
    CU_ASSERT_EQUAL(yard_plugin_generation(p), 7);
    CU_ASSERT_PTR_NULL(yard_plugin_state(p));

    uint64_t h = 0;
    CU_ASSERT_EQUAL(yard_file_hash(tc.path, &h), 0);
    CU_ASSERT_EQUAL(yard_plugin_file_hash(p), h);
    CU_ASSERT_NOT_EQUAL(h, 0);

    /* The private copy: named by conf name and generation, owner-only. */
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s/good_inst.7.so", g_runtime);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(stat(copy, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0500);
    uint64_t hc = 0;
    CU_ASSERT_EQUAL(yard_file_hash(copy, &hc), 0);
    CU_ASSERT_EQUAL(hc, h);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 1);

    yard_plugin_close(p);
    CU_ASSERT_EQUAL(stat(copy, &st), -1);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
}

static void test_good_route(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    static const struct {
        const char *type;
        int order, status; /* which handler must run: calls expected */
    } cases[] = {
        {"order.created", 1, 0},
        {"order.line.added", 1, 0},
        {"x.status_changed", 0, 1},
        {"projects.service_order.status_changed", 0, 1},
        {"order.status_changed", 1, 0}, /* both match: the first wins */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sy_handler_fn fn = yard_plugin_route(p, cases[i].type);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fn);
        abi_good_state st;
        memset(&st, 0, sizeof st);
        sy_event ev = {.size = sizeof ev, .type = cases[i].type};
        CU_ASSERT_EQUAL(fn(NULL, &ev, &st), SY_OK);
        if (st.order_calls != cases[i].order ||
            st.status_calls != cases[i].status)
            fprintf(stderr, "\n    %s routed wrong\n", cases[i].type);
        CU_ASSERT_EQUAL(st.order_calls, cases[i].order);
        CU_ASSERT_EQUAL(st.status_calls, cases[i].status);
    }
    CU_ASSERT_PTR_EQUAL(yard_plugin_route(p, "order.created"),
                        yard_plugin_desc(p)->subscriptions[0].handler);
    CU_ASSERT_PTR_EQUAL(yard_plugin_route(p, "x.status_changed"),
                        yard_plugin_desc(p)->subscriptions[1].handler);
    CU_ASSERT_PTR_NULL(yard_plugin_route(p, "other"));
    CU_ASSERT_PTR_NULL(yard_plugin_route(p, "orders.created"));
    CU_ASSERT_PTR_NULL(yard_plugin_route(p, "status_changed"));
    CU_ASSERT_PTR_NULL(yard_plugin_route(p, NULL));
    yard_plugin_close(p);
}

static void test_good_start(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    migrate_rec m = {0};
    g_seen_owner = 0;
    g_log_calls = 0;
    char err[ERRLEN] = "";
    int rc = yard_plugin_start(p, &g_api, record_migrate, &m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n    start: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    CU_ASSERT_EQUAL(m.calls, 1);
    CU_ASSERT_EQUAL(m.versions[0], 1);
    CU_ASSERT_STRING_EQUAL(m.plugin, "abi_good");
    CU_ASSERT_STRING_EQUAL(m.sql[0],
                           "CREATE TABLE abi_good_items (id bigint PRIMARY KEY)");

    /* init() saw its own handle, its setting, and counted itself. */
    CU_ASSERT_EQUAL(g_seen_owner, (uintptr_t)p);
    const abi_good_state *st = yard_plugin_state(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_STRING_EQUAL(st->text, "hello world");
    CU_ASSERT_PTR_EQUAL(st->self, yard_plugin_self(p));
    metric_find f = metric_get(p, "inits");
    CU_ASSERT_EQUAL(f.found, 1);
    CU_ASSERT_DOUBLE_EQUAL(f.value, 1.0, 0.0);

    /* Handlers get the state init() stored. */
    sy_handler_fn fn = yard_plugin_route(p, "order.created");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fn);
    sy_event ev = {.size = sizeof ev, .type = "order.created"};
    CU_ASSERT_EQUAL(fn(NULL, &ev, yard_plugin_state(p)), SY_OK);
    CU_ASSERT_EQUAL(st->order_calls, 1);

    /* Twice is a caller error, and runs nothing again. */
    rc = yard_plugin_start(p, &g_api, record_migrate, &m, err, sizeof err);
    CU_ASSERT_EQUAL(rc, YARD_EINVAL);
    ASSERT_CONTAINS(err, "already started");
    CU_ASSERT_EQUAL(m.calls, 1);
    CU_ASSERT_DOUBLE_EQUAL(metric_get(p, "inits").value, 1.0, 0.0);

    /* close() runs fini(), which logs through the API and frees state
     * (a leak would fail this binary under ASan). */
    CU_ASSERT_EQUAL(g_log_calls, 0);
    uintptr_t addr = (uintptr_t)p;
    g_seen_owner = 0;
    yard_plugin_close(p);
    CU_ASSERT_EQUAL(g_log_calls, 1);
    CU_ASSERT_STRING_EQUAL(g_log, "fini hello world");
    CU_ASSERT_EQUAL(g_seen_owner, addr);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
}

static void test_start_without_migrate(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char err[ERRLEN] = "";
    CU_ASSERT_EQUAL(yard_plugin_start(p, &g_api, NULL, NULL, err, sizeof err),
                    0);
    CU_ASSERT_PTR_NOT_NULL(yard_plugin_state(p));
    g_log_calls = 0;
    yard_plugin_close(p);
    CU_ASSERT_EQUAL(g_log_calls, 1);
}

static void test_migration_failure(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    migrate_rec m = {.fail_at = 1};
    char err[ERRLEN] = "";
    int rc = yard_plugin_start(p, &g_api, record_migrate, &m, err, sizeof err);
    CU_ASSERT_EQUAL(rc, YARD_EDB);
    ASSERT_CONTAINS(err, "plugin abi_good (");
    ASSERT_CONTAINS(err, "abi_good.so): migration 1 failed: ");
    ASSERT_CONTAINS(err, "relation already exists (test)");
    /* init() did not run: no state, no counter; close runs no fini(). */
    CU_ASSERT_PTR_NULL(yard_plugin_state(p));
    CU_ASSERT_EQUAL(metric_get(p, "inits").found, 0);
    g_log_calls = 0;
    yard_plugin_close(p);
    CU_ASSERT_EQUAL(g_log_calls, 0);
}

static void test_self_handle(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    sy_plugin *self = yard_plugin_self(p);
    CU_ASSERT_PTR_NOT_NULL(self);
    CU_ASSERT_PTR_EQUAL((void *)self, (void *)p);
    CU_ASSERT_PTR_EQUAL(yard_plugin_from_self(self), p);
    CU_ASSERT_PTR_NULL(yard_plugin_from_self(NULL));
    CU_ASSERT_PTR_NULL(yard_plugin_self(NULL));
    yard_plugin_close(p);
    yard_plugin_close(NULL);
}

/* ---- counters ---------------------------------------------------------- */

static void *add_many(void *arg)
{
    for (int i = 0; i < METRIC_ADDS; i++)
        yard_plugin_metric_add(arg, "events", 1);
    return NULL;
}

static void test_metrics(void)
{
    test_conf tc;
    yard_plugin *p = open_good(&tc, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);

    pthread_t t[METRIC_THREADS];
    for (int i = 0; i < METRIC_THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, add_many, p), 0);
    for (int i = 0; i < METRIC_THREADS; i++)
        pthread_join(t[i], NULL);
    metric_find f = metric_get(p, "events");
    CU_ASSERT_EQUAL(f.found, 1);
    CU_ASSERT_DOUBLE_EQUAL(f.value, (double)METRIC_THREADS * METRIC_ADDS,
                           0.0);

    /* Names are copied: the caller's buffer may change afterwards. */
    char name[16] = "bytes_in";
    yard_plugin_metric_add(p, name, 2.5);
    yard_plugin_metric_add(p, name, 0.5);
    snprintf(name, sizeof name, "zzz");
    f = metric_get(p, "bytes_in");
    CU_ASSERT_EQUAL(f.found, 1);
    CU_ASSERT_DOUBLE_EQUAL(f.value, 3.0, 0.0);
    CU_ASSERT_EQUAL(metric_get(p, "zzz").found, 0);

    /* Bad names and values are ignored. */
    yard_plugin_metric_add(p, "Bad-Name", 1);
    yard_plugin_metric_add(p, "", 1);
    yard_plugin_metric_add(p, NULL, 1);
    yard_plugin_metric_add(p, "nan_value", NAN);
    f = metric_get(p, "events");
    CU_ASSERT_EQUAL(f.total, 2);
    CU_ASSERT_EQUAL(metric_get(p, "Bad-Name").found, 0);
    CU_ASSERT_EQUAL(metric_get(p, "nan_value").found, 0);
    yard_plugin_close(p);
}

/* ---- file trust -------------------------------------------------------- */

/* A temporary plugin dir holding a copy of abi_good.so as good.so (0644),
 * and a sibling "outside" dir. */
typedef struct trust_env {
    char *dir;
    char *outside;
    char file[PATH_MAX];
    char good_src[PATH_MAX];
} trust_env;

static bool trust_setup(trust_env *e)
{
    memset(e, 0, sizeof *e);
    e->dir = yard_test_tmpdir("plugdir");
    e->outside = yard_test_tmpdir("plugout");
    if (!e->dir || !e->outside)
        return false;
    snprintf(e->good_src, sizeof e->good_src, "%s/abi_good.so",
             YARD_TEST_PLUGIN_DIR);
    snprintf(e->file, sizeof e->file, "%s/good.so", e->dir);
    return copy_path(e->good_src, e->file, 0644) == 0;
}

static void trust_teardown(trust_env *e)
{
    yard_test_rm_rf(e->dir);
    yard_test_rm_rf(e->outside);
    free(e->dir);
    free(e->outside);
}

/* Open `path` against plugin_dir `dir`; returns the code, message in err.
 * A plugin that loads is closed again at once. */
static int trust_open(const char *dir, const char *path, uid_t host_uid,
                      char *err, size_t errlen)
{
    test_conf tc;
    conf_set(&tc, "trusted", path);
    yard_plugin_open_opts o = opts_trusted(dir, 1);
    o.host_uid = host_uid;
    yard_plugin *p = NULL;
    err[0] = '\0';
    int rc = yard_plugin_open(&tc.conf, &o, &p, err, errlen);
    CU_ASSERT_EQUAL(rc == 0, p != NULL);
    yard_plugin_close(p);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
    return rc;
}

static void test_trust_accepts_good_file(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    char err[ERRLEN];
    int rc = trust_open(e.dir, e.file, getuid(), err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n    %s\n", err);
    CU_ASSERT_EQUAL(rc, 0);
    /* Relative components and an in-directory symlink resolve inside. */
    char path[PATH_MAX + 16], link_path[PATH_MAX];
    snprintf(path, sizeof path, "%s/./../%s/good.so", e.dir,
             strrchr(e.dir, '/') + 1);
    CU_ASSERT_EQUAL(trust_open(e.dir, path, getuid(), err, sizeof err), 0);
    snprintf(link_path, sizeof link_path, "%s/alias.so", e.dir);
    CU_ASSERT_EQUAL_FATAL(symlink("good.so", link_path), 0);
    CU_ASSERT_EQUAL(trust_open(e.dir, link_path, getuid(), err, sizeof err),
                    0);
    trust_teardown(&e);
}

static void test_trust_refuses_writable(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    static const struct {
        mode_t mode;
        const char *shown;
    } bad[] = {{0666, "(mode 0666)"}, {0620, "(mode 0620)"},
               {0602, "(mode 0602)"}};
    char err[ERRLEN];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(chmod(e.file, bad[i].mode), 0);
        CU_ASSERT_EQUAL(trust_open(e.dir, e.file, getuid(), err, sizeof err),
                        YARD_EPLUGIN);
        ASSERT_CONTAINS(err, e.file);
        ASSERT_CONTAINS(err, "refused: group- or world-writable");
        ASSERT_CONTAINS(err, bad[i].shown);
        ASSERT_CONTAINS(err, "hint: chmod go-w ");
    }
    /* The same file, fixed, loads. */
    CU_ASSERT_EQUAL_FATAL(chmod(e.file, 0640), 0);
    CU_ASSERT_EQUAL(trust_open(e.dir, e.file, getuid(), err, sizeof err), 0);
    trust_teardown(&e);
}

static void test_trust_refuses_symlink_escape(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    char target[PATH_MAX], link_path[PATH_MAX];
    snprintf(target, sizeof target, "%s/evil.so", e.outside);
    CU_ASSERT_EQUAL_FATAL(copy_path(e.good_src, target, 0644), 0);
    snprintf(link_path, sizeof link_path, "%s/evil.so", e.dir);
    CU_ASSERT_EQUAL_FATAL(symlink(target, link_path), 0);
    char err[ERRLEN];
    CU_ASSERT_EQUAL(trust_open(e.dir, link_path, getuid(), err, sizeof err),
                    YARD_EPLUGIN);
    ASSERT_CONTAINS(err, link_path);
    ASSERT_CONTAINS(err, "refused: resolves to ");
    ASSERT_CONTAINS(err, "outside the plugin directory");
    ASSERT_CONTAINS(err, "hint:");
    trust_teardown(&e);
}

static void test_trust_refuses_outside_path(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    char err[ERRLEN];
    /* The build directory's own copy: a regular, trusted-looking file. */
    CU_ASSERT_EQUAL(trust_open(e.dir, e.good_src, getuid(), err, sizeof err),
                    YARD_EPLUGIN);
    ASSERT_CONTAINS(err, "abi_good.so");
    ASSERT_CONTAINS(err, "outside the plugin directory");

    /* A sibling whose name starts with the plugin dir's name is outside. */
    char sibling[PATH_MAX], sib_file[PATH_MAX + 16];
    snprintf(sibling, sizeof sibling, "%s-evil", e.dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sibling, 0755), 0);
    snprintf(sib_file, sizeof sib_file, "%s/good.so", sibling);
    CU_ASSERT_EQUAL_FATAL(copy_path(e.good_src, sib_file, 0644), 0);
    CU_ASSERT_EQUAL(trust_open(e.dir, sib_file, getuid(), err, sizeof err),
                    YARD_EPLUGIN);
    ASSERT_CONTAINS(err, sib_file);
    ASSERT_CONTAINS(err, "outside the plugin directory");
    yard_test_rm_rf(sibling);

    /* A directory is not a plugin file. */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/dir.so", e.dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
    CU_ASSERT_EQUAL(trust_open(e.dir, sub, getuid(), err, sizeof err),
                    YARD_EPLUGIN);
    ASSERT_CONTAINS(err, "dir.so: refused: not a regular file");

    /* Missing file, missing plugin dir. */
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing.so", e.dir);
    CU_ASSERT_EQUAL(trust_open(e.dir, missing, getuid(), err, sizeof err),
                    YARD_EIO);
    ASSERT_CONTAINS(err, "missing.so: cannot resolve");
    CU_ASSERT_EQUAL(
        trust_open("/nonexistent-yard-dir", e.file, getuid(), err, sizeof err),
        YARD_EIO);
    ASSERT_CONTAINS(err, "cannot resolve plugin directory");
    trust_teardown(&e);
}

static void test_trust_refuses_foreign_owner(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    char err[ERRLEN], want[64];
    if (getuid() == 0) {
        /* Root host: a file of another user is refused... */
        CU_ASSERT_EQUAL_FATAL(chown(e.file, OTHER_UID, (gid_t)-1), 0);
        CU_ASSERT_EQUAL(trust_open(e.dir, e.file, 0, err, sizeof err),
                        YARD_EPLUGIN);
        snprintf(want, sizeof want, "owned by uid %d", OTHER_UID);
        ASSERT_CONTAINS(err, e.file);
        ASSERT_CONTAINS(err, want);
        ASSERT_CONTAINS(err, "host's uid 0");
        ASSERT_CONTAINS(err, "hint: chown root");
        /* ...unless that user is the host's. */
        CU_ASSERT_EQUAL(trust_open(e.dir, e.file, OTHER_UID, err, sizeof err),
                        0);
    } else {
        /* Not root: our own file, but the host claims another uid. */
        CU_ASSERT_EQUAL(
            trust_open(e.dir, e.file, getuid() + 1, err, sizeof err),
            YARD_EPLUGIN);
        snprintf(want, sizeof want, "owned by uid %lu",
                 (unsigned long)getuid());
        ASSERT_CONTAINS(err, want);
        ASSERT_CONTAINS(err, "hint: chown root");
    }
    trust_teardown(&e);
}

/* ---- upgrades ---------------------------------------------------------- */

static void test_upgrade_new_generation(void)
{
    trust_env e;
    CU_ASSERT_FATAL(trust_setup(&e));
    test_conf tc;
    conf_set(&tc, "svc", e.file);
    char err[ERRLEN] = "";
    yard_plugin *g1 = NULL, *g2 = NULL;
    yard_plugin_open_opts o1 = opts_trusted(e.dir, 1);
    CU_ASSERT_EQUAL_FATAL(yard_plugin_open(&tc.conf, &o1, &g1, err, sizeof err),
                          0);
    CU_ASSERT_STRING_EQUAL(yard_plugin_desc(g1)->name, "abi_good");

    /* Replace the file's content in place (same path, same inode). */
    char initfail[PATH_MAX];
    snprintf(initfail, sizeof initfail, "%s/abi_initfail.so",
             YARD_TEST_PLUGIN_DIR);
    CU_ASSERT_EQUAL_FATAL(copy_path(initfail, e.file, 0644), 0);

    yard_plugin_open_opts o2 = opts_trusted(e.dir, 2);
    int rc = yard_plugin_open(&tc.conf, &o2, &g2, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n    %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(yard_plugin_desc(g2)->name, "abi_initfail");
    CU_ASSERT_STRING_EQUAL(yard_plugin_desc(g2)->version, "2.0.0");
    /* The old generation is untouched beside the new one. */
    CU_ASSERT_STRING_EQUAL(yard_plugin_desc(g1)->name, "abi_good");
    CU_ASSERT_PTR_NOT_EQUAL(yard_plugin_desc(g1), yard_plugin_desc(g2));
    CU_ASSERT_EQUAL(yard_plugin_generation(g2), 2);

    uint64_t h = 0;
    CU_ASSERT_EQUAL(yard_file_hash(e.file, &h), 0);
    CU_ASSERT_EQUAL(yard_plugin_file_hash(g2), h);
    CU_ASSERT_NOT_EQUAL(yard_plugin_file_hash(g1), h);

    char c1[PATH_MAX], c2[PATH_MAX];
    snprintf(c1, sizeof c1, "%s/svc.1.so", g_runtime);
    snprintf(c2, sizeof c2, "%s/svc.2.so", g_runtime);
    CU_ASSERT_EQUAL(access(c1, F_OK), 0);
    CU_ASSERT_EQUAL(access(c2, F_OK), 0);

    yard_plugin_close(g1);
    CU_ASSERT_EQUAL(access(c1, F_OK), -1);
    CU_ASSERT_EQUAL(access(c2, F_OK), 0);
    CU_ASSERT_STRING_EQUAL(yard_plugin_desc(g2)->name, "abi_initfail");
    yard_plugin_close(g2);
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
    trust_teardown(&e);
}

static void test_bad_conf_name(void)
{
    test_conf tc;
    conf_test_plugin(&tc, "abi_good");
    snprintf(tc.name, sizeof tc.name, "../escape");
    yard_plugin_open_opts o = opts_untrusted(1);
    yard_plugin *p = NULL;
    char err[ERRLEN] = "";
    CU_ASSERT_EQUAL(yard_plugin_open(&tc.conf, &o, &p, err, sizeof err),
                    YARD_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    ASSERT_CONTAINS(err, "abi_good.so: plugin name \"../escape\"");
    CU_ASSERT_EQUAL(dir_entries(g_runtime), 0);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"refuse: no descriptor", test_refuse_no_descriptor},
        {"refuse: descriptor is a function", test_refuse_function_symbol},
        {"refuse: symbol smaller than ABI block", test_refuse_tiny_symbol},
        {"refuse: bad magic", test_refuse_bad_magic},
        {"refuse: ABI major 2", test_refuse_major},
        {"refuse: newer ABI minor", test_refuse_newer_minor},
        {"refuse: size field too small", test_refuse_small_size},
        {"refuse: symbol smaller than size field", test_refuse_truncated_symbol},
        {"refuse: no subscriptions", test_refuse_no_subscriptions},
        {"refuse: NULL handler", test_refuse_null_handler},
        {"refuse: no init", test_refuse_no_init},
        {"refuse: bad name", test_refuse_bad_name},
        {"refuse: empty version", test_refuse_no_version},
        {"refuse: missing file", test_refuse_missing_file},
        {"refuse: conf name with a slash", test_bad_conf_name},
        {"init failure", test_init_failure},
        {"good: open, copy, hash", test_good_open},
        {"good: route", test_good_route},
        {"good: migrate, init, fini", test_good_start},
        {"good: start without migrate", test_start_without_migrate},
        {"good: migration failure stops start", test_migration_failure},
        {"good: self handle", test_self_handle},
        {"counters", test_metrics},
        {"trust: good file loads", test_trust_accepts_good_file},
        {"trust: writable refused", test_trust_refuses_writable},
        {"trust: symlink escape refused", test_trust_refuses_symlink_escape},
        {"trust: outside path refused", test_trust_refuses_outside_path},
        {"trust: foreign owner refused", test_trust_refuses_foreign_owner},
        {"upgrade: new generation sees new file", test_upgrade_new_generation},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("plugin_abi", suite_init, suite_clean, tests);
}
