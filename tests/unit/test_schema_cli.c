/*
 * `switchyard schema` and the schema part of `switchyard check`, run as a
 * user runs them: exit codes and what they print.
 */
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#define BIN YARD_SWITCHYARD_BIN
#define SCHEMAS YARD_SOURCE_DIR "/schemas"
#define EXAMPLES YARD_SOURCE_DIR "/tests/data/examples"

static char *tmp;

static int suite_init(void)
{
    tmp = yard_test_tmpdir("schemacli");
    return tmp ? 0 : -1;
}

static int suite_clean(void)
{
    if (tmp && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(tmp);
    free(tmp);
    return 0;
}

/* Run a shell command; its exit code, stdout+stderr into out. */
static int run(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t len, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_validate(void)
{
    char out[8192];
    CU_ASSERT_EQUAL(run(out, sizeof out,
                        "%s schema --schema-dir %s validate "
                        "projects.project.created %s/projects.project.created.v1.json",
                        BIN, SCHEMAS, EXAMPLES),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "valid projects.project.created v1"));
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    CU_ASSERT_EQUAL_FATAL(
        yard_test_write(tmp, "bad.json",
                        "{\"event_id\":\"e\",\"event_timestamp\":1,\"project_id\":"
                        "\"p\",\"customer_id\":\"c\",\"country_code\":\"FR\","
                        "\"bu_code\":\"b\",\"project_type\":\"t\",\"address\":{"
                        "\"street\":\"s\",\"city\":\"c\",\"postal_code\":75011,"
                        "\"country\":\"FR\"}}"),
        0);
    CU_ASSERT_EQUAL(run(out, sizeof out,
                        "%s schema --schema-dir %s validate projects.project.created.v1 %s",
                        BIN, SCHEMAS, bad),
                    1);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(out, "$.address.postal_code: expected string, got number"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "rule type"));
    /* From stdin; an unknown type. */
    CU_ASSERT_EQUAL(run(out, sizeof out,
                        "echo '{}' | %s schema --schema-dir %s validate "
                        "projects.project.created -",
                        BIN, SCHEMAS),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "missing required field"));
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema --schema-dir %s validate no.such %s",
                        BIN, SCHEMAS, bad),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "no schema for no.such"));
}

static void test_check(void)
{
    char out[8192];
    const char *v1 = SCHEMAS "/projects.service_order.created.v1.avsc";
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema --schema-dir %s check %s %s", BIN,
                        SCHEMAS, v1, v1),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "is BACKWARD compatible"));
    /* v2: bu_code removed, priority added without default. */
    CU_ASSERT_EQUAL_FATAL(
        yard_test_write(
            tmp, "projects.service_order.created.v2.avsc",
            "{\"type\":\"record\",\"name\":\"ServiceOrderCreated\",\"fields\":["
            "{\"name\":\"event_id\",\"type\":\"string\"},"
            "{\"name\":\"event_timestamp\",\"type\":\"long\"},"
            "{\"name\":\"service_order_id\",\"type\":\"string\"},"
            "{\"name\":\"project_id\",\"type\":\"string\"},"
            "{\"name\":\"service_type\",\"type\":\"string\"},"
            "{\"name\":\"country_code\",\"type\":\"string\"},"
            "{\"name\":\"estimated_duration_min\",\"type\":\"long\"},"
            "{\"name\":\"requires_confirmation_tv\",\"type\":\"boolean\"},"
            "{\"name\":\"depends_on_order_id\",\"type\":[\"null\",\"string\"],"
            "\"default\":null},{\"name\":\"priority\",\"type\":\"string\"}]}"),
        0);
    CU_ASSERT_EQUAL(run(out, sizeof out,
                        "%s schema --schema-dir %s check %s "
                        "%s/projects.service_order.created.v2.avsc",
                        BIN, SCHEMAS, v1, tmp),
                    1);
    /* event_timestamp lost its logicalType, bu_code removed, priority
     * added without default; int -> long is a widening. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "event_timestamp: logicalType changed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ServiceOrderCreated.bu_code: field removed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "priority: field added without a default"));
    CU_ASSERT_PTR_NULL(strstr(out, "estimated_duration_min"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 violation(s)"));
}

static void test_lint_and_usage(void)
{
    char out[8192], empty[1024];
    snprintf(empty, sizeof empty, "%s/noplugins", tmp);
    CU_ASSERT_EQUAL_FATAL(mkdir(empty, 0700), 0);
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema --schema-dir %s --plugin-dir %s lint",
                        BIN, SCHEMAS, empty),
                    0);
    /* Every file counted: the repository's own schemas, as many as there
     * are today. */
    char want[96], pat[1100];
    glob_t g = {0}, gc = {0};
    snprintf(pat, sizeof pat, "%s/*.avsc", SCHEMAS);
    glob(pat, 0, NULL, &g);
    snprintf(pat, sizeof pat, "%s/common/*.avsc", SCHEMAS);
    glob(pat, 0, NULL, &gc);
    snprintf(want, sizeof want, "%zu event schema(s), %zu shared type(s)",
             g.gl_pathc, gc.gl_pathc);
    CU_ASSERT_TRUE(g.gl_pathc >= 34 && gc.gl_pathc >= 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    globfree(&g);
    globfree(&gc);
    /* A broken schema directory. */
    char sdir[1024];
    snprintf(sdir, sizeof sdir, "%s/broken", tmp);
    CU_ASSERT_EQUAL_FATAL(mkdir(sdir, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(yard_test_write(sdir, "x.v1.avsc",
                                          "{\"type\":\"record\",\"name\":\"X\","
                                          "\"fields\":[{\"name\":\"a\",\"type\":"
                                          "\"Nope\"}]}"),
                          0);
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema --schema-dir %s --plugin-dir %s lint",
                        BIN, sdir, empty),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "x.v1.avsc: $.fields[0](a).type: unknown type "
                                       "name \"Nope\""));
    /* switchyard check refuses it too. */
    CU_ASSERT_EQUAL_FATAL(yard_test_write(tmp, "host.ini",
                                          "[host]\nschema_dir = broken\n"),
                          0);
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s check --conf-dir %s", BIN, tmp), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown type name"));
    /* Usage. */
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema frobnicate", BIN), 2);
    CU_ASSERT_EQUAL(run(out, sizeof out, "%s schema help", BIN), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "catalog"));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"validate", test_validate},
        {"check", test_check},
        {"lint, check and usage", test_lint_and_usage},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("schema_cli", suite_init, suite_clean, tests);
}
