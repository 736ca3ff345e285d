/*
 * [topic NAME] against the mock cluster over TCP (the test broker
 * process), with the real librdkafka backend:
 *  - a partition count and a replication factor that differ are found
 *    through metadata and reported, and the topics are left as they are;
 *  - a topic missing on the cluster is not created by the lookup, and its
 *    creation is refused with the cluster's reason: the mock names no
 *    controller among its brokers, so CreateTopics/DescribeConfigs could
 *    only time out and are not sent; the whole check takes well under the
 *    admin timeout;
 *  - once the topic exists with its configured partitions, it matches;
 *  - a whole host (throwaway PostgreSQL, no plugins) logs the difference,
 *    keeps /readyz at 503 naming the missing topic, and exports the
 *    gauges, and still starts promptly.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"
#include "topics.h"

#define BROKERS 3
#define QUICK_MS 5000 /* the mock's answers need no admin timeout */

/* ---- helpers ------------------------------------------------------------ */

static const yard_topic_result *result(const yard_topics_report *r,
                                       const char *name)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->topics[i].spec->name, name) == 0)
            return &r->topics[i];
    return NULL;
}

static const yard_topic_mismatch *mismatch(const yard_topic_result *t,
                                           const char *setting)
{
    for (size_t i = 0; t && i < t->n_mismatch; i++)
        if (strcmp(t->mismatch[i].setting, setting) == 0)
            return &t->mismatch[i];
    return NULL;
}

static yard_config *load(const char *dir)
{
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    if (yard_config_load(dir, &cfg, &d))
        for (size_t i = 0; i < d.n; i++)
            printf("\n  %s", d.msgs[i]);
    yard_diag_clear(&d);
    return cfg;
}

/* ---- the backend against the mock cluster ------------------------------------ */

static void test_backend_against_mock(void)
{
    const char *topics[] = {"orders:3", "audit:2"};
    th_broker *b = th_broker_start(BROKERS, topics, 2);
    char *dir = yard_test_tmpdir("topics-mock");
    CU_ASSERT_TRUE_FATAL(b && dir);
    char host[512];
    snprintf(host, sizeof host, "[kafka]\nbootstrap.servers = %s\n",
             th_broker_bootstrap(b));
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "host.ini", host), 0);
    CU_ASSERT_EQUAL_FATAL(
        yard_test_write(dir, "topics.ini",
                        "[topic orders]\npartitions = 6\n\n"
                        "[topic audit]\npartitions = 2\n"
                        "replication_factor = 2\nretention = 7d\n\n"
                        "[topic fresh]\npartitions = 4\nretention = 3d\n"),
        0);
    yard_config *cfg = load(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);

    yard_topics_report *r = NULL;
    char err[512] = "";
    long long t0 = yard_test_now_ms();
    CU_ASSERT_EQUAL(yard_topics_check(cfg, &r, err, sizeof err), 0);
    long long took = yard_test_now_ms() - t0;
    printf("\n  check took %lld ms", took);
    CU_ASSERT(took < QUICK_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    yard_topics_log(r);

    /* orders: 6 configured, 3 on the cluster, reported and left alone. */
    const yard_topic_result *t = result(r, "orders");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->status, YARD_TOPIC_DIFFERS);
    const yard_topic_mismatch *m = mismatch(t, "partitions");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "6");
    CU_ASSERT_STRING_EQUAL(m->actual, "3");
    CU_ASSERT_EQUAL(t->n_mismatch, 1);
    CU_ASSERT_EQUAL(th_topic_partitions(th_broker_bootstrap(b), "orders"), 3);

    /* audit: partitions match; the mock replicates on every broker. */
    t = result(r, "audit");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->status, YARD_TOPIC_DIFFERS);
    m = mismatch(t, "replication_factor");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "2");
    CU_ASSERT_STRING_EQUAL(m->actual, "3");
    CU_ASSERT_PTR_NULL(mismatch(t, "partitions"));
    /* Its retention could not be compared, and it says why. */
    CU_ASSERT_TRUE(t->configs_unchecked);
    CU_ASSERT_PTR_NOT_NULL(strstr(t->reason, "no controller"));

    /* fresh: missing, refused with the reason, not auto-created. */
    t = result(r, "fresh");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->status, YARD_TOPIC_MISSING);
    printf("\n  fresh: %s", t->reason);
    CU_ASSERT_PTR_NOT_NULL(strstr(t->reason, "names no controller"));
    CU_ASSERT_PTR_NOT_NULL(strstr(t->reason, "CreateTopics"));
    CU_ASSERT_EQUAL(th_topic_partitions(th_broker_bootstrap(b), "fresh"), 0);
    char why[1024];
    CU_ASSERT_FALSE(yard_topics_ready(r, why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "fresh"));
    yard_topics_report_free(r);

    /* Provisioned by other means with its partitions: it now matches (its
     * retention is still not comparable), nothing is created. */
    CU_ASSERT_TRUE(th_broker_cmd(b, "topic fresh 4"));
    r = NULL;
    CU_ASSERT_EQUAL(yard_topics_check(cfg, &r, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    t = result(r, "fresh");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->status, YARD_TOPIC_MATCHES);
    CU_ASSERT_TRUE(t->configs_unchecked);
    CU_ASSERT_EQUAL(yard_topics_count(r, YARD_TOPIC_MISSING), 0);
    CU_ASSERT_TRUE(yard_topics_ready(r, why, sizeof why));
    yard_topics_report_free(r);

    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
    th_broker_stop(b);
}

/* An unreachable cluster: every topic unchecked, nothing blocks. */
static void test_unreachable_cluster(void)
{
    char *dir = yard_test_tmpdir("topics-down");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    CU_ASSERT_EQUAL_FATAL(
        yard_test_write(dir, "host.ini",
                        "[kafka]\nbootstrap.servers = 127.0.0.1:1\n"
                        "[topic x]\npartitions = 1\n"),
        0);
    yard_config *cfg = load(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    yard_topics_report *r = NULL;
    char err[512];
    CU_ASSERT_EQUAL(yard_topics_check(cfg, &r, err, sizeof err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_UNCHECKED);
    printf("\n  unreachable: %s", r->topics[0].reason);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->topics[0].reason, "cluster metadata"));
    yard_topics_report_free(r);
    yard_config_free(cfg);
    yard_test_rm_rf(dir);
    free(dir);
}

/* ---- a whole host ------------------------------------------------------------ */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

/* GET path; returns the status and the body in *body (malloc'd), or -1. */
static int http_get(int port, const char *path, char **body)
{
    *body = NULL;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    if (s < 0)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(s, req, (size_t)n) != n) {
        close(s);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (buf && (r = read(s, buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    close(s);
    if (!buf)
        return -1;
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    char *b = strstr(buf, "\r\n\r\n");
    *body = strdup(b ? b + 4 : "");
    free(buf);
    return status;
}

/* The host log holds `what`. */
static bool log_has(const char *dir, const char *what)
{
    char path[512];
    snprintf(path, sizeof path, "%s/host.log", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    fclose(f);
    return found;
}

static yard_pgtmp *pg;
static PGconn *admin;

static void test_host_reports(void)
{
    CU_ASSERT_TRUE_FATAL(pg && admin);
    CU_ASSERT_TRUE_FATAL(th_sql(admin, "CREATE DATABASE topicsit"));
    const char *topics[] = {"orders:3"};
    th_broker *b = th_broker_start(1, topics, 1);
    char *dir = yard_test_tmpdir("topics-host");
    int port = free_port();
    CU_ASSERT_TRUE_FATAL(b && dir && port > 0);
    char host[2048];
    snprintf(host, sizeof host,
             "[host]\nplugin_dir = %s\nstate_dir = %s\n\n"
             "[kafka]\nbootstrap.servers = %s\n\n"
             "[postgres]\ndsn = %s dbname=topicsit\n\n"
             "[http]\nlisten = 127.0.0.1:%d\n",
             dir, dir, th_broker_bootstrap(b), yard_pgtmp_dsn(pg), port);
    CU_ASSERT_EQUAL_FATAL(yard_test_write(dir, "host.ini", host), 0);
    CU_ASSERT_EQUAL_FATAL(
        yard_test_write(dir, "topics.ini",
                        "[topic orders]\npartitions = 6\n"
                        "[topic fresh]\npartitions = 1\n"),
        0);
    long long t0 = yard_test_now_ms();
    pid_t pid = th_host_spawn(dir);
    CU_ASSERT_TRUE_FATAL(pid > 0);

    /* /readyz names the missing topic (and only becomes 503 for it once
     * everything else is up). */
    char *body = NULL;
    int st = -1;
    bool named = false;
    while (!named && yard_test_now_ms() - t0 < 30000) {
        free(body);
        st = http_get(port, "/readyz", &body);
        named = st == 503 && body &&
                strstr(body, "topics: missing on the cluster and not "
                             "created: fresh");
        if (!named)
            usleep(100000);
    }
    printf("\n  /readyz after %lld ms: %d %s", yard_test_now_ms() - t0, st,
           body ? body : "");
    CU_ASSERT_TRUE(named);
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "names no controller"));
    free(body);
    CU_ASSERT_TRUE(log_has(dir, "host started"));
    CU_ASSERT_TRUE(log_has(dir,
                           "msg=\"topic differs from its configuration; left "
                           "as it is\" topic=orders setting=partitions "
                           "configured=6 actual=3"));
    CU_ASSERT_TRUE(log_has(dir, "msg=\"topics missing on the cluster and not "
                                "created\" topics=fresh"));
    st = http_get(port, "/metrics", &body);
    CU_ASSERT_EQUAL(st, 200);
    CU_ASSERT_PTR_NOT_NULL(
        body && strstr(body, "switchyard_topic_mismatch{topic=\"orders\","
                             "setting=\"partitions\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(
        body && strstr(body, "switchyard_topic_missing{topic=\"fresh\"} 1\n"));
    free(body);
    /* Left as it was: still 3 partitions, and no "fresh". */
    CU_ASSERT_EQUAL(th_topic_partitions(th_broker_bootstrap(b), "orders"), 3);
    CU_ASSERT_EQUAL(th_topic_partitions(th_broker_bootstrap(b), "fresh"), 0);

    kill(pid, SIGTERM);
    st = th_host_wait(pid, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    th_broker_stop(b);
    yard_test_rm_rf(dir);
    free(dir);
}

static int suite_init(void) { return th_pg_start(&pg, &admin); }

static int suite_clean(void)
{
    th_pg_stop(pg, admin);
    return 0;
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"backend against the mock cluster", test_backend_against_mock},
        {"unreachable cluster", test_unreachable_cluster},
        {"host: log, /readyz and metrics", test_host_reports},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("topic_provisioning", suite_init, suite_clean, tests);
}
