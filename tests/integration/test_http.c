/*
 * The HTTP endpoint and the metrics with real parts: a throwaway
 * PostgreSQL, the test broker process, the host as a child process with
 * the counter plugin, and a plain-socket HTTP client.
 *
 * One host run (one group join): 1000 events, 100 redelivered, 5
 * undecodable.  /metrics counts exactly those; `promtool check metrics`
 * accepts the scrape; /plugins and /healthz answer; requests that are not
 * GET, malformed, oversized, or 200 idle connections at once are answered
 * or refused while events keep flowing; /readyz turns 503 while PostgreSQL
 * is down and 200 when it is back.  The DSN's password appears in no log
 * line, also when the host cannot connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define EVENTS 1000
#define DUPLICATES 100
#define MALFORMED 5
#define BURST 100 /* produced while 200 idle connections are open */
#define AFTER_OUTAGE 10
#define PARTITIONS 4
#define FLOOD 200
#define SECRET "Hunter2Secret"

static yard_pgtmp *pg;
static PGconn *admin;

static int suite_init(void) { return th_pg_start(&pg, &admin); }

static int suite_clean(void)
{
    th_pg_stop(pg, admin);
    return 0;
}

/* Sum of the samples of `name` whose line contains `filter` (NULL: all). */
static double metric_sum(const char *text, const char *name, const char *filter)
{
    double sum = 0;
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, nl) != 0 || (l[nl] != '{' && l[nl] != ' '))
            continue;
        const char *end = strchr(l, '\n');
        size_t ll = end ? (size_t)(end - l) : strlen(l);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)ll, l);
        if (filter && !strstr(line, filter))
            continue;
        const char *sp = strrchr(line, ' ');
        if (sp)
            sum += strtod(sp + 1, NULL);
    }
    return sum;
}

/* Poll `path` until it answers `want` or timeout; returns the last status
 * and leaves the last body in *body (may be NULL). */
static int wait_status(int port, const char *path, int want, long long timeout_ms,
                       char **body)
{
    long long until = yard_test_now_ms() + timeout_ms;
    int st = -1;
    for (;;) {
        char *b = NULL;
        st = th_http_get(port, path, &b);
        if (st == want || yard_test_now_ms() >= until) {
            if (body)
                *body = b;
            else
                free(b);
            return st;
        }
        free(b);
        usleep(200000);
    }
}

/* Poll /metrics until `name{filter}` sums to want; returns the last sum. */
static double wait_metric(int port, const char *name, const char *filter,
                          double want, long long timeout_ms)
{
    long long until = yard_test_now_ms() + timeout_ms;
    double v = -1;
    while (yard_test_now_ms() < until) {
        char *b = NULL;
        if (th_http_get(port, "/metrics", &b) == 200)
            v = metric_sum(b, name, filter);
        free(b);
        if (v == want)
            break;
        usleep(200000);
    }
    return v;
}

/* Lag reported for every input partition, and all of it zero. */
static bool wait_lag_zero(int port, long long timeout_ms)
{
    long long until = yard_test_now_ms() + timeout_ms;
    while (yard_test_now_ms() < until) {
        char *b = NULL;
        bool ok = th_http_get(port, "/metrics", &b) == 200;
        for (int i = 0; ok && i < PARTITIONS; i++) {
            char series[160];
            snprintf(series, sizeof series,
                     "switchyard_consumer_lag_messages{group=\"counter\","
                     "topic=\"httpm.input\",partition=\"%d\"} 0\n", i);
            ok = strstr(b, series) != NULL;
        }
        free(b);
        if (ok)
            return true;
        usleep(200000);
    }
    return false;
}

/* ---- events ------------------------------------------------------------- */

static bool produce_event(rd_kafka_t *p, const char *topic, const char *type,
                          int i)
{
    char id[64], key[16], payload[128], now[40];
    snprintf(id, sizeof id, "http-evt-%06d", i);
    snprintf(key, sizeof key, "key-%02d", i % 20);
    snprintf(payload, sizeof payload, "{\"seq\":%d}", i);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t l = strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(now + l, sizeof now - l, ".%03ldZ", ts.tv_nsec / 1000000);
    rd_kafka_headers_t *h = rd_kafka_headers_new(5);
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    rd_kafka_header_add(h, "ce_id", -1, id, -1);
    rd_kafka_header_add(h, "ce_type", -1, type, -1);
    rd_kafka_header_add(h, "ce_source", -1, "/tests/http", -1);
    rd_kafka_header_add(h, "ce_time", -1, now, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(payload, strlen(payload)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    if (e)
        rd_kafka_headers_destroy(h);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static bool produce_garbage(rd_kafka_t *p, const char *topic, int i)
{
    char v[64];
    int n = snprintf(v, sizeof v, "\x01\x02 this is no event %d {", i);
    return rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_VALUE(v, (size_t)n),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static bool log_has(const char *dir, const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/host.log", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* ---- the run -------------------------------------------------------------- */

static void check_plugins_json(int port)
{
    char *b = NULL;
    CU_ASSERT_EQUAL(th_http_get(port, "/plugins", &b), 200);
    json_t *doc = b ? json_loads(b, 0, NULL) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    json_t *p = json_array_get(json_object_get(doc, "plugins"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "name")), "counter");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "version")), "1.0.0");
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(p, "abi")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(p, "generation")), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p, "group")), "counter");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_array_get(json_object_get(p, "subscriptions"), 0)),
        "*.input");
    json_t *c = json_object_get(p, "counts");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "handled")), EVENTS);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "duplicates")), DUPLICATES);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(c, "dead_lettered")), MALFORMED);
    json_decref(doc);
    free(b);
}

static void check_promtool(const char *dir, const char *scrape)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("\n  SKIPPED: promtool not installed (Debian package "
               "\"prometheus\"); the scrape was not linted\n");
        return;
    }
    char path[512], cmd[1200];
    snprintf(path, sizeof path, "%s/scrape.txt", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(scrape, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    CU_ASSERT_EQUAL(rc, 0);
}

/* Requests that are not what we serve, and too many connections. */
static void abuse(int port, const char *dir, rd_kafka_t *p, const char *input,
                  PGconn *db)
{
    char *b = NULL;
    const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
                        "5\r\nConnection: close\r\n\r\nhello";
    CU_ASSERT_EQUAL(th_http_raw(port, post, sizeof post - 1, NULL), 405);
    const char del[] = "DELETE /plugins HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    CU_ASSERT_EQUAL(th_http_raw(port, del, sizeof del - 1, NULL), 405);
    CU_ASSERT_EQUAL(th_http_get(port, "/nope", NULL), 404);
    CU_ASSERT_EQUAL(th_http_get(port, "/metrics/../plugins", NULL), 404);

    /* Malformed: not HTTP at all, and a broken request line. */
    const char junk[] = "\x01\x02\x03 hello there\r\n\r\n";
    int st = th_http_raw(port, junk, sizeof junk - 1, NULL);
    CU_ASSERT_TRUE(st == 400 || st == 0);
    const char bad[] = "GET\r\n\r\n";
    st = th_http_raw(port, bad, sizeof bad - 1, NULL);
    CU_ASSERT_TRUE(st == 400 || st == 0);

    /* Oversized: 64 KiB of headers against a 16 KiB per-connection limit. */
    size_t big = 64 * 1024;
    char *req = malloc(big + 256);
    int n = snprintf(req, 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    n += (int)big;
    n += snprintf(req + n, 256, "\r\nConnection: close\r\n\r\n");
    long long t0 = yard_test_now_ms();
    st = th_http_raw(port, req, (size_t)n, NULL);
    free(req);
    printf("\n  oversized request: status %d after %lld ms", st,
           yard_test_now_ms() - t0);
    CU_ASSERT_TRUE(st != 200 && st != -1);
    CU_ASSERT_TRUE(yard_test_now_ms() - t0 < 15000);

    /* 200 idle connections at once, while events keep flowing. */
    int fds[FLOOD], opened = 0;
    for (int i = 0; i < FLOOD; i++)
        if ((fds[i] = th_connect_to(port, 2)) >= 0)
            opened++;
    printf("\n  flood: %d of %d connections accepted by the kernel", opened, FLOOD);
    for (int i = EVENTS; i < EVENTS + BURST; i++)
        CU_ASSERT_TRUE(produce_event(p, input, input, i));
    CU_ASSERT_TRUE(th_flush(p));
    CU_ASSERT_EQUAL(th_wait_num(db, "SELECT count(*) FROM counter_effect",
                                EVENTS + BURST, 60000),
                    EVENTS + BURST);
    for (int i = 0; i < FLOOD; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* Served again once they are gone. */
    CU_ASSERT_EQUAL(wait_status(port, "/healthz", 200, 15000, &b), 200);
    free(b);
    (void)dir;
}

static void test_metrics_health_ready(void)
{
    const char *name = "httpm";
    char input[64], done[64], sql[128];
    snprintf(input, sizeof input, "%s.input", name);
    snprintf(done, sizeof done, "%s.done", name);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    CU_ASSERT_TRUE_FATAL(th_sql(admin, sql));
    PGconn *db = th_connect(yard_pgtmp_dsn(pg), name);
    char t1[80], t2[80];
    snprintf(t1, sizeof t1, "%s:%d", input, PARTITIONS);
    snprintf(t2, sizeof t2, "%s:%d", done, PARTITIONS);
    const char *topics[] = {t1, t2, "dlq.counter:1"};
    th_broker *broker = th_broker_start(1, topics, 3);
    char *dir = yard_test_tmpdir(name);
    int port = th_free_port();
    CU_ASSERT_TRUE_FATAL(db && broker && dir && port > 0);
    char host[2048];
    snprintf(host, sizeof host,
             "[host]\nworkers = 4\nbatch_size = 64\nplugin_dir = %s\n"
             "shutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n"
             "statistics.interval.ms = 500\n\n"
             "[postgres]\ndsn = %s dbname=%s password=" SECRET "\n\n"
             "[http]\nlisten = 127.0.0.1:%d\n",
             YARD_TEST_PLUGIN_DIR, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg), name, port);
    CU_ASSERT_TRUE_FATAL(yard_test_write(dir, "host.ini", host) == 0);
    CU_ASSERT_TRUE_FATAL(
        yard_test_write(dir, "50-counter.ini", "[plugin]\npath = counter.so\n") == 0);
    pid_t pid = th_host_spawn(dir);
    CU_ASSERT_TRUE_FATAL(pid > 0);

    char *b = NULL;
    long long t0 = yard_test_now_ms();
    int st = wait_status(port, "/readyz", 200, 60000, &b);
    printf("\n  ready after %lld ms: %d %s", yard_test_now_ms() - t0, st, b ? b : "");
    CU_ASSERT_EQUAL(st, 200);
    free(b);
    CU_ASSERT_EQUAL(th_http_get(port, "/healthz", NULL), 200);

    rd_kafka_t *p = th_producer(th_broker_bootstrap(broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < EVENTS; i++)
        CU_ASSERT_TRUE(produce_event(p, input, input, i));
    for (int i = 0; i < DUPLICATES; i++)
        CU_ASSERT_TRUE(produce_event(p, input, input, i * 7));
    for (int i = 0; i < MALFORMED; i++)
        CU_ASSERT_TRUE(produce_garbage(p, input, i));
    CU_ASSERT_TRUE(th_flush(p));

    /* Counters move by exactly what was sent. */
    const char *f = "plugin=\"counter\"";
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_consumed_total", f,
                                EVENTS + DUPLICATES + MALFORMED, 90000),
                    EVENTS + DUPLICATES + MALFORMED);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_handled_total", f,
                                EVENTS, 30000),
                    EVENTS);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_duplicates_total", f,
                                DUPLICATES, 30000),
                    DUPLICATES);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_dead_lettered_total", f,
                                MALFORMED, 30000),
                    MALFORMED);
    /* Every handled event and dead letter published; the outbox drains. */
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_published_total",
                                "topic=\"httpm.done\"", EVENTS, 60000),
                    EVENTS);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_published_total",
                                "topic=\"dlq.counter\"", MALFORMED, 30000),
                    MALFORMED);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_outbox_backlog_events", NULL, 0,
                                30000),
                    0);
    CU_ASSERT_TRUE(wait_lag_zero(port, 30000));
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM counter_effect"), EVENTS);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_dead_letter"), MALFORMED);

    char *m = NULL;
    CU_ASSERT_EQUAL_FATAL(th_http_get(port, "/metrics", &m), 200);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_handler_duration_seconds_count", f),
                    EVENTS);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_event_latency_seconds_count", f),
                    EVENTS);
    CU_ASSERT_TRUE(metric_sum(m, "switchyard_transaction_duration_seconds_count",
                              "result=\"commit\"") > 0);
    CU_ASSERT_TRUE(metric_sum(m, "switchyard_publish_latency_seconds_count", NULL) >=
                   EVENTS + MALFORMED);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_plugin_info",
                               "plugin=\"counter\",version=\"1.0.0\""),
                    1);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_build_info", NULL), 1);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_postgres_up", NULL), 1);
    CU_ASSERT_EQUAL(metric_sum(m, "switchyard_kafka_connected", "consumer counter"), 1);
    check_promtool(dir, m ? m : "");
    free(m);
    check_plugins_json(port);

    abuse(port, dir, p, input, db);

    /* A refused reload: not ready, and says why, until one succeeds. */
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "90-broken.ini", "[plugin\n"), 0);
    CU_ASSERT_TRUE(kill(pid, SIGHUP) == 0);
    b = NULL;
    st = wait_status(port, "/readyz", 503, 30000, &b);
    CU_ASSERT_EQUAL(st, 503);
    CU_ASSERT_PTR_NOT_NULL(b ? strstr(b, "last reload refused") : NULL);
    CU_ASSERT_PTR_NOT_NULL(b ? strstr(b, "90-broken.ini:1") : NULL);
    printf("\n  refused reload: /readyz %d: %.160s", st, b ? b : "");
    free(b);
    char broken[1100];
    snprintf(broken, sizeof broken, "%s/90-broken.ini", dir);
    CU_ASSERT_EQUAL(unlink(broken), 0);
    CU_ASSERT_TRUE(kill(pid, SIGHUP) == 0);
    CU_ASSERT_EQUAL(wait_status(port, "/readyz", 200, 30000, NULL), 200);

    /* PostgreSQL goes away: not ready, and says why; back: ready again. */
    pid_t pm = yard_pgtmp_pid(pg);
    CU_ASSERT_TRUE(pm > 0 && kill(pm, SIGINT) == 0);
    b = NULL;
    st = wait_status(port, "/readyz", 503, 30000, &b);
    CU_ASSERT_EQUAL(st, 503);
    CU_ASSERT_PTR_NOT_NULL(b ? strstr(b, "postgres") : NULL);
    printf("\n  PostgreSQL down: /readyz %d: %s", st, b ? b : "");
    free(b);
    CU_ASSERT_EQUAL(th_http_get(port, "/healthz", NULL), 200);
    char err[512];
    CU_ASSERT_EQUAL_FATAL(yard_pgtmp_restart(pg, NULL, err, sizeof err), 0);
    st = wait_status(port, "/readyz", 200, 60000, NULL);
    CU_ASSERT_EQUAL(st, 200);
    PQreset(admin);
    PQreset(db);
    /* And it processes again. */
    for (int i = EVENTS + BURST; i < EVENTS + BURST + AFTER_OUTAGE; i++)
        CU_ASSERT_TRUE(produce_event(p, input, input, i));
    CU_ASSERT_TRUE(th_flush(p));
    CU_ASSERT_EQUAL(th_wait_num(db, "SELECT count(*) FROM counter_effect",
                                EVENTS + BURST + AFTER_OUTAGE, 60000),
                    EVENTS + BURST + AFTER_OUTAGE);
    CU_ASSERT_EQUAL(wait_metric(port, "switchyard_events_handled_total", f,
                                EVENTS + BURST + AFTER_OUTAGE, 30000),
                    EVENTS + BURST + AFTER_OUTAGE);
    rd_kafka_destroy(p);

    kill(pid, SIGTERM);
    st = th_host_wait(pid, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_FALSE(log_has(dir, SECRET));
    CU_ASSERT_TRUE(log_has(dir, "http endpoint listening"));

    th_broker_stop(broker);
    PQfinish(db);
    if (!getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
}

/* A host that cannot reach its database says so, without the password. */
static void test_no_password_in_logs(void)
{
    char *dir = yard_test_tmpdir("httpsecret");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char host[1024];
    snprintf(host, sizeof host,
             "[host]\nplugin_dir = %s\n\n"
             "[kafka]\nbootstrap.servers = 127.0.0.1:1\n\n"
             "[postgres]\ndsn = host=127.0.0.1 port=1 user=app password=" SECRET
             " connect_timeout=2\n\n[http]\nlisten = off\n",
             YARD_TEST_PLUGIN_DIR);
    CU_ASSERT_TRUE_FATAL(yard_test_write(dir, "host.ini", host) == 0);
    setenv("SWITCHYARD_HOST_LOG_LEVEL", "debug", 1);
    pid_t pid = th_host_spawn(dir);
    unsetenv("SWITCHYARD_HOST_LOG_LEVEL");
    CU_ASSERT_TRUE_FATAL(pid > 0);
    int st = th_host_wait(pid, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
    CU_ASSERT_TRUE(log_has(dir, "cannot connect to PostgreSQL"));
    CU_ASSERT_FALSE(log_has(dir, SECRET));
    yard_test_rm_rf(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CU_TestInfo tests[] = {
        {"no password in the log when PostgreSQL is unreachable",
         test_no_password_in_logs},
        {"metrics count exactly; promtool; /plugins; abuse; /readyz follows "
         "PostgreSQL",
         test_metrics_health_ready},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("http", suite_init, suite_clean, tests);
}
