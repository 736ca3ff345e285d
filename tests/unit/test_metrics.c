/*
 * test_metrics.c — the metric registry and its text rendering, time
 * parsing, listen-address parsing, password redaction in the log, and the
 * Grafana dashboard: every metric it queries must exist in the registry.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"

static char *render(void)
{
    size_t len = 0;
    char *s = yard_metrics_render(&len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(strlen(s), len);
    return s;
}

static void test_counter_and_labels(void)
{
    const char *l[] = {"orders", "grp", "orders.in", "order.created"};
    yard_metric_add(YARD_M_EVENTS_HANDLED, l, 1);
    yard_metric_add(YARD_M_EVENTS_HANDLED, l, 2);
    /* Quote, backslash and newline are escaped in label values. */
    const char *odd[] = {"p", "g\"x", "t\\y", "a\nb"};
    yard_metric_add(YARD_M_EVENTS_HANDLED, odd, 1);
    char *s = render();
    CU_ASSERT_PTR_NOT_NULL(strstr(
        s, "switchyard_events_handled_total{plugin=\"orders\",group=\"grp\","
           "topic=\"orders.in\",type=\"order.created\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(
        s, "{plugin=\"p\",group=\"g\\\"x\",topic=\"t\\\\y\",type=\"a\\nb\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "# TYPE switchyard_events_handled_total counter\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "switchyard_build_info{version=\""));
    /* The same series is found again, not duplicated. */
    CU_ASSERT_PTR_EQUAL(yard_metric_series(YARD_M_EVENTS_HANDLED, l),
                        yard_metric_series(YARD_M_EVENTS_HANDLED, l));
    free(s);
}

static void test_histogram(void)
{
    const char *l[] = {"x", "g", "t"};
    yard_metric_observe(YARD_M_HANDLER_DURATION, l, 0.0007);
    yard_metric_observe(YARD_M_HANDLER_DURATION, l, 0.003);
    yard_metric_observe(YARD_M_HANDLER_DURATION, l, 100);
    char *s = render();
    const char *pre = "switchyard_handler_duration_seconds_bucket{plugin=\"x\","
                      "group=\"g\",type=\"t\",le=\"";
    char want[256];
    snprintf(want, sizeof want, "%s0.0005\"} 0\n", pre);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "%s0.001\"} 1\n", pre);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "%s0.005\"} 2\n", pre);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "%s10\"} 2\n", pre);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    snprintf(want, sizeof want, "%s+Inf\"} 3\n", pre);
    CU_ASSERT_PTR_NOT_NULL(strstr(s, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(
        s, "switchyard_handler_duration_seconds_count{plugin=\"x\",group=\"g\","
           "type=\"t\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(
        s, "switchyard_handler_duration_seconds_sum{plugin=\"x\",group=\"g\","
           "type=\"t\"} 100.00"));
    free(s);
}

static void test_gauge_and_clear(void)
{
    yard_metric_set(YARD_M_OUTBOX_BACKLOG, NULL, 42);
    yard_metric_set(YARD_M_PLUGIN_INFO,
                    (const char *[]){"a", "1.0", "1.0", "1"}, 1);
    char *s = render();
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "\nswitchyard_outbox_backlog_events 42\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "switchyard_plugin_info{plugin=\"a\""));
    free(s);
    yard_metric_clear(YARD_M_PLUGIN_INFO);
    s = render();
    CU_ASSERT_PTR_NULL(strstr(s, "switchyard_plugin_info{plugin=\"a\""));
    /* The family is still announced. */
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "# TYPE switchyard_plugin_info gauge\n"));
    free(s);
}

static void test_reload_counter(void)
{
    yard_metrics_reload(true);
    yard_metrics_reload(false);
    yard_metrics_reload(false);
    char *s = render();
    CU_ASSERT_PTR_NOT_NULL(strstr(s, "switchyard_reloads_total{result=\"ok\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(s, "switchyard_reloads_total{result=\"failed\"} 2\n"));
    free(s);
}

static void test_parse_time(void)
{
    double t = 0;
    CU_ASSERT_TRUE(yard_metrics_parse_time("1970-01-01T00:00:10Z", &t));
    CU_ASSERT_DOUBLE_EQUAL(t, 10, 1e-9);
    CU_ASSERT_TRUE(yard_metrics_parse_time("2024-02-29T12:00:00.250+01:00", &t));
    CU_ASSERT_DOUBLE_EQUAL(t, 1709204400.25, 1e-6);
    CU_ASSERT_FALSE(yard_metrics_parse_time("2024-02-29 garbage", &t));
    CU_ASSERT_FALSE(yard_metrics_parse_time("2024-02-29T12:00:00", &t));
    CU_ASSERT_FALSE(yard_metrics_parse_time(NULL, &t));
    CU_ASSERT_TRUE(yard_metrics_age("2000-01-01T00:00:00Z") > 7e8);
    CU_ASSERT_TRUE(yard_metrics_age("nope") < 0);
}

static void test_split_listen(void)
{
    char h[64], p[16];
    CU_ASSERT_TRUE(yard_http_split_listen("127.0.0.1:9464", h, sizeof h, p, sizeof p));
    CU_ASSERT_STRING_EQUAL(h, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(p, "9464");
    CU_ASSERT_TRUE(yard_http_split_listen("[::1]:80", h, sizeof h, p, sizeof p));
    CU_ASSERT_STRING_EQUAL(h, "::1");
    CU_ASSERT_FALSE(yard_http_split_listen("9464", h, sizeof h, p, sizeof p));
    CU_ASSERT_FALSE(yard_http_split_listen(":9464", h, sizeof h, p, sizeof p));
    CU_ASSERT_FALSE(yard_http_split_listen("[::1:80", h, sizeof h, p, sizeof p));
}

static void test_readiness_conditions(void)
{
    char why[512];
    yard_health_set("thing a", true, NULL);
    yard_health_set("thing b", false, "broken on purpose");
    CU_ASSERT_FALSE(yard_health_ready(why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "thing b: broken on purpose"));
    CU_ASSERT_PTR_NULL(strstr(why, "thing a"));
    yard_health_set("thing b", true, NULL);
    CU_ASSERT_TRUE(yard_health_ready(why, sizeof why));
    yard_health_forget("thing a");
    yard_health_forget("thing b");

    yard_health_thread_start("test thread");
    yard_health_tick();
    CU_ASSERT_TRUE(yard_health_live(60000, why, sizeof why));
    usleep(30000);
    CU_ASSERT_FALSE(yard_health_live(10, why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "test thread"));
    yard_health_idle(); /* waiting for work is not being stuck */
    CU_ASSERT_TRUE(yard_health_live(10, why, sizeof why));
    yard_health_thread_end();
}

/* Log lines that carry a connection string keep no password. */
static void test_log_redacts_passwords(void)
{
    char *dir = yard_test_tmpdir("logredact");
    char path[512];
    snprintf(path, sizeof path, "%s/log", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    yard_log(YARD_LOG_ERROR, "cannot connect", "dsn",
             "host=db port=5432 password=Hunter2Secret user=x", NULL);
    yard_log(YARD_LOG_ERROR, "cannot connect", "dsn",
             "postgresql://app:Hunter2Secret@db:5432/app", NULL);
    yard_log(YARD_LOG_ERROR, "bad dsn password = 'Hunter2Secret' in file", NULL);
    yard_log_set_json(true);
    yard_log(YARD_LOG_ERROR, "json", "password", "Hunter2Secret", NULL);
    yard_log_set_json(false);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    CU_ASSERT_TRUE(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    CU_ASSERT_PTR_NULL(strstr(buf, "Hunter2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "host=db port=5432"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "@db:5432/app"));
    if (strstr(buf, "Hunter2"))
        printf("\n%s", buf);
    yard_test_rm_rf(dir);
    free(dir);
}

/* Every switchyard_* name in the dashboard's queries is a registry name. */
static void test_dashboard_names_exist(void)
{
    const char *path = YARD_SOURCE_DIR "/packaging/grafana/switchyard.json";
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    static char text[1 << 18];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    size_t n_names = 0;
    const char *const *names = yard_metrics_names(&n_names);
    CU_ASSERT_TRUE(n_names >= YARD_M_COUNT);
    size_t found = 0, missing = 0;
    for (const char *p = text; (p = strstr(p, "switchyard_")) != NULL;) {
        /* Only names inside queries: the token must be preceded by a
         * non-identifier character and be a metric, not the uid. */
        char tok[128];
        size_t k = 0;
        while (k < sizeof tok - 1 &&
               (isalnum((unsigned char)p[k]) || p[k] == '_'))
            tok[k] = p[k], k++;
        tok[k] = '\0';
        p += k;
        bool ok = false;
        for (size_t i = 0; i < n_names && !ok; i++)
            ok = strcmp(names[i], tok) == 0;
        found++;
        if (!ok) {
            missing++;
            printf("\n  dashboard queries %s, which the host does not export", tok);
        }
    }
    CU_ASSERT_TRUE(found >= 10);
    CU_ASSERT_EQUAL(missing, 0);
    /* And the panels the operator asked for are there. */
    const char *titles[] = {"Throughput by topic", "Consumer lag by group",
                            "p95 / p99", "DLQ rate", "Outbox backlog"};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(text, titles[i]));
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"counters with escaped labels", test_counter_and_labels},
        {"histogram buckets are cumulative", test_histogram},
        {"gauges; scrape-built families clear", test_gauge_and_clear},
        {"reload counter", test_reload_counter},
        {"RFC 3339 times", test_parse_time},
        {"listen addresses", test_split_listen},
        {"readiness conditions and liveness beats", test_readiness_conditions},
        {"the log never shows a password", test_log_redacts_passwords},
        {"dashboard queries only exported metrics", test_dashboard_names_exist},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("metrics", NULL, NULL, tests);
}
