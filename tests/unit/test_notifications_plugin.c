/*
 * The notifications plugin (plugins/notifications/) in-process, without a
 * host: the built .so is dlopen'ed and called through its descriptor with
 * a host API table of stubs (settings from an array, SQL and emit
 * recorded).  Covers what the integration test does not: every way init()
 * refuses a configuration, and how placeholders render values of each
 * JSON type.  tests/integration/test_notifications.c runs it in a host.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <switchyard/sdk.h>

#include "testutil.h"

#define PLUGIN YARD_BINARY_DIR "/plugins/notifications.so"
#define T_ORDER "template.integration.sales.order_received."

static void *so;
static const sy_plugin_desc *desc;
static char *dir;

/* ---- the stub host ------------------------------------------------------ */

static const char *const *settings; /* key, value, ..., NULL */
static char emitted[4096];          /* the last emit()'s type and payload */
static int n_sql;

static const char *stub_config_get(const sy_plugin *self, const char *key)
{
    (void)self;
    for (size_t i = 0; settings[i]; i += 2)
        if (strcmp(settings[i], key) == 0)
            return settings[i + 1];
    return NULL;
}

static void stub_log(const sy_plugin *self, const sy_ctx *ctx,
                     sy_log_level level, const char *fmt, ...)
{
    (void)self;
    (void)ctx;
    (void)level;
    (void)fmt;
}

static void stub_metric(const sy_plugin *self, const char *name, double v)
{
    (void)self;
    (void)name;
    (void)v;
}

static int stub_sql(sy_ctx *ctx, const char *sql, int nparams,
                    const char *const *params, sy_rows **rows, char *err,
                    size_t errlen)
{
    (void)ctx;
    (void)sql;
    (void)nparams;
    (void)params;
    (void)err;
    (void)errlen;
    if (rows)
        *rows = NULL;
    n_sql++;
    return 0;
}

static int stub_emit(sy_ctx *ctx, const sy_emit *ev, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    snprintf(emitted, sizeof emitted, "%s %s", ev->type, ev->payload);
    return 0;
}

static const sy_host_api api = {
    .size = sizeof(sy_host_api),
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .emit = stub_emit,
    .sql = stub_sql,
    .config_get = stub_config_get,
    .log = stub_log,
    .metric_add = stub_metric,
};

/* init() with these settings: its return code, its message in err. */
static int init_with(const char *const *kv, void **state, char *err,
                     size_t errlen)
{
    settings = kv;
    *err = '\0';
    *state = NULL;
    return desc->init((sy_plugin *)&api, &api, state, err, errlen);
}

/* init() refuses kv with a message that contains `want`. */
static void refused(const char *const *kv, const char *want)
{
    void *state;
    char err[512];
    CU_ASSERT_NOT_EQUAL(init_with(kv, &state, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    if (!strstr(err, want))
        printf("\n  got \"%s\", want \"%s\"\n", err, want);
}

static int suite_init(void)
{
    dir = yard_test_tmpdir("ntfunit");
    so = dlopen(PLUGIN, RTLD_NOW | RTLD_LOCAL);
    desc = so ? dlsym(so, SY_PLUGIN_SYMBOL) : NULL;
    if (!desc)
        fprintf(stderr, "%s: %s\n", PLUGIN, dlerror());
    return dir && desc ? 0 : -1;
}

static int suite_clean(void)
{
    if (so)
        dlclose(so);
    if (dir)
        yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void test_init_refuses(void)
{
    char spool[1024];
    snprintf(spool, sizeof spool, "%s/spool", dir);
#define FILE_TEMPLATE(body)                                                    \
    "spool_dir", spool, T_ORDER "channel", "file", T_ORDER "recipient",        \
        "{customer_id}", T_ORDER "body", body
    refused((const char *[]){FILE_TEMPLATE("Hi {customer_id"), NULL},
            T_ORDER "body: bad placeholder at offset 3");
    refused((const char *[]){FILE_TEMPLATE("Hi {}"), NULL},
            T_ORDER "body: bad placeholder");
    refused((const char *[]){FILE_TEMPLATE("Hi {a..b}"), NULL},
            T_ORDER "body: bad placeholder");
    refused((const char *[]){FILE_TEMPLATE("Hi \xff"), NULL},
            T_ORDER "body: not valid UTF-8");
    refused((const char *[]){FILE_TEMPLATE("x"), T_ORDER "medium", "pigeon", NULL},
            T_ORDER "medium = pigeon: want email, sms or push");
    refused((const char *[]){FILE_TEMPLATE("x"), T_ORDER "when", "new_status", NULL},
            T_ORDER "when = new_status: want path=value");
    refused((const char *[]){FILE_TEMPLATE("x"), T_ORDER "when", "a b=c", NULL},
            T_ORDER "when = a b=c: want path=value");
    refused((const char *[]){"spool_dir", spool, T_ORDER "channel", "file",
                             T_ORDER "body", "x", NULL},
            "template.integration.sales.order_received: channel, recipient and"
            " body are required");
    refused((const char *[]){"spool_dir", spool, T_ORDER "channel", "fax",
                             T_ORDER "recipient", "r", T_ORDER "body", "x", NULL},
            T_ORDER "channel = fax: want file or webhook");
    refused((const char *[]){T_ORDER "channel", "webhook", T_ORDER "recipient",
                             "r", T_ORDER "body", "x", NULL},
            T_ORDER "channel = webhook: webhook_url is not set");
    refused((const char *[]){T_ORDER "channel", "file", T_ORDER "recipient",
                             "r", T_ORDER "body", "x", NULL},
            T_ORDER "channel = file: spool_dir is not set");
    refused((const char *[]){"webhook_url", "ftp://example.org/x", NULL},
            "webhook_url ftp://example.org/x: not an http:// or https:// URL");
    refused((const char *[]){"webhook_url", "http://127.0.0.1/x",
                             "webhook_timeout_ms", "0", NULL},
            "webhook_timeout_ms = 0: want 1..600000");
    refused((const char *[]){"spool_dir", "/proc/no/such/dir", NULL},
            "spool_dir /proc/no/such/dir: cannot create it");
#undef FILE_TEMPLATE
}

static void test_render_values(void)
{
    char spool[1024], path[1200], err[512];
    snprintf(spool, sizeof spool, "%s/render", dir);
    const char *kv[] = {
        "spool_dir", spool,
        "webhook_url", "https://notify.example.org/hook",
        T_ORDER "channel", "file",
        T_ORDER "medium", "sms",
        T_ORDER "recipient", "{customer.phone}",
        T_ORDER "body", "n={n} f={f} t={t} s={services.1.type} o={o}"
                        " a={services.0} {{x} }\\n.",
        NULL,
    };
    void *state;
    CU_ASSERT_EQUAL_FATAL(init_with(kv, &state, err, sizeof err), 0);
    const char *payload =
        "{\"customer\":{\"phone\":\"+33 6\"},\"n\":42,\"f\":1.5,\"t\":true,"
        "\"o\":{\"k\":[1,null]},\"services\":[{\"type\":\"A\"},{\"type\":\"B\"}]}";
    sy_event ev = {.size = sizeof ev, .id = "evt/1", .type =
                   "integration.sales.order_received", .payload = payload,
                   .payload_len = strlen(payload)};
    n_sql = 0;
    CU_ASSERT_EQUAL(desc->subscriptions[0].handler((sy_ctx *)&ev, &ev, state),
                    SY_OK);
    CU_ASSERT_EQUAL(n_sql, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(emitted, "notification.sent {"));
    /* "/" is not a file name character: written as %2F */
    snprintf(path, sizeof path, "%s/evt%%2F1.json", spool);
    FILE *f = fopen(path, "r");
    char text[1024] = "";
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(fgets(text, sizeof text, f) != NULL);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(
        text, "{\"notificationId\":\"evt/1\",\"eventType\":"
              "\"integration.sales.order_received\",\"template\":"
              "\"integration.sales.order_received\",\"type\":\"sms\","
              "\"recipient\":\"+33 6\",\"subject\":null,\"body\":\"n=42 f=1.5"
              " t=true s=B o={\\\"k\\\":[1,null]} a={\\\"type\\\":\\\"A\\\"} {x}"
              " }\\n.\"}\n");
    /* out of range, null, a member of a string: no value */
    const char *missing[] = {"{\"customer\":{\"phone\":null}}",
                             "{\"customer\":\"+33 6\"}", "{}"};
    for (size_t i = 0; i < 3; i++) {
        ev.payload = missing[i];
        ev.payload_len = strlen(missing[i]);
        CU_ASSERT_EQUAL(desc->subscriptions[0].handler((sy_ctx *)&ev, &ev, state),
                        SY_OK);
        CU_ASSERT_PTR_NOT_NULL(strstr(emitted,
                                      "notification.failed {\"notificationId\":"
                                      "\"evt/1\",\"type\":\"sms\",\"recipient\":"
                                      "\"\",\"error\":\"TEMPLATE_FIELD_MISSING:"
                                      " recipient placeholder {customer.phone}"
                                      " has no value in the payload\""));
    }
    /* not a JSON object: the DLQ */
    ev.payload = "[1]";
    ev.payload_len = 3;
    CU_ASSERT_EQUAL(desc->subscriptions[0].handler((sy_ctx *)&ev, &ev, state),
                    SY_REJECT);
    desc->fini(state);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"init refuses bad templates and settings, naming the key",
         test_init_refuses},
        {"placeholders render every JSON type; absent or null is missing",
         test_render_values},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("notifications_plugin", suite_init, suite_clean, tests);
}
