/*
 * Propagation through two plugin hops, with schemas, on real parts (a
 * throwaway PostgreSQL, the mock cluster in its own process, the host as a
 * child process):
 *
 *   prop.input --hop_a--> prop.middle --hop_b--> prop.output
 *
 * Asserted on the final output: correlation id, tenant and tracestate of
 * the input, the input's trace id under a new span at each hop, each event
 * naming its consumed event as cause, the middle event's key derived from
 * its schema's x-partition-key, the schema version header.  And the two
 * schema failures: an input payload that fails its schema is a
 * VALIDATION_FAILED dead letter naming field and rule; an emit() its schema
 * refuses fails the handler's event (EMIT_VALIDATION_FAILED) and nothing of
 * it is published.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define PARTITIONS 2
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define TRACEPARENT "00-" TRACE "-00f067aa0ba902b7-01"
#define WAIT_MS 120000

static yard_pgtmp *pg;
static PGconn *admin;
static th_broker *broker;
static PGconn *db;
static char *dir;

static const char input_schema[] =
    "{\"type\":\"record\",\"name\":\"PropInput\",\"namespace\":\"t\","
    "\"x-event-type\":\"prop.input\",\"fields\":["
    "{\"name\":\"order\",\"type\":\"string\"},"
    "{\"name\":\"region\",\"type\":\"string\"},"
    "{\"name\":\"bad_emit\",\"type\":\"boolean\",\"default\":false}]}";

static const char middle_schema[] =
    "{\"type\":\"record\",\"name\":\"PropMiddle\",\"namespace\":\"t\","
    "\"x-event-type\":\"prop.middle\",\"x-partition-key\":\"{region}_{order}\","
    "\"fields\":[{\"name\":\"order\",\"type\":\"string\"},"
    "{\"name\":\"region\",\"type\":\"string\"},"
    "{\"name\":\"hop\",\"type\":\"int\"}]}";

static int suite_init(void)
{
    char err[1024];
    yard_pgtmp_opts o = {0};
    if (yard_pgtmp_start(&o, &pg, err, sizeof err)) {
        fprintf(stderr, "PostgreSQL: %s\n", err);
        return -1;
    }
    admin = th_connect(yard_pgtmp_dsn(pg), "postgres");
    if (!admin || !th_sql(admin, "CREATE DATABASE prop"))
        return -1;
    db = th_connect(yard_pgtmp_dsn(pg), "prop");
    const char *topics[] = {"prop.input:2", "prop.middle:2", "prop.output:2",
                            "dlq.hop_a:1", "dlq.hop_b:1"};
    broker = th_broker_start(1, topics, 5);
    dir = yard_test_tmpdir("prop");
    if (!db || !broker || !dir)
        return -1;
    char path[1024], host[2048];
    snprintf(path, sizeof path, "%s/schemas", dir);
    if (mkdir(path, 0700))
        return -1;
    snprintf(host, sizeof host,
             "[host]\nworkers = 2\nbatch_size = 16\nplugin_dir = %s\n"
             "schema_dir = %s\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=prop\n",
             YARD_TEST_PLUGIN_DIR, path, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg));
    if (yard_test_write(dir, "host.ini", host) ||
        yard_test_write(dir, "10-hop_a.ini", "[plugin]\npath = hop_a.so\n") ||
        yard_test_write(dir, "20-hop_b.ini", "[plugin]\npath = hop_b.so\n") ||
        yard_test_write(path, "prop.input.v1.avsc", input_schema) ||
        yard_test_write(path, "prop.middle.v1.avsc", middle_schema))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    th_broker_stop(broker);
    PQfinish(db);
    PQfinish(admin);
    yard_pgtmp_stop(pg);
    if (dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

static bool produce(rd_kafka_t *p, const char *id, const char *key,
                    const char *payload)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(10);
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    rd_kafka_header_add(h, "ce_id", -1, id, -1);
    rd_kafka_header_add(h, "ce_type", -1, "prop.input", -1);
    rd_kafka_header_add(h, "ce_source", -1, "/tests/prop", -1);
    rd_kafka_header_add(h, "ce_correlationid", -1, "corr-prop-1", -1);
    rd_kafka_header_add(h, "ce_tenantid", -1, "tenant-9", -1);
    rd_kafka_header_add(h, "traceparent", -1, TRACEPARENT, -1);
    rd_kafka_header_add(h, "tracestate", -1, "sy=1,vendor=abc", -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC("prop.input"), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    if (e)
        rd_kafka_headers_destroy(h);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* What a topic held: the headers of its one message. */
typedef struct got {
    long n;
    char id[128], cause[128], corr[128], tenant[128], tp[128], ts[128],
        key[128], type[128], version[16];
    char payload[512];
} got;

static void on_msg(void *arg, const rd_kafka_message_t *m)
{
    got *g = arg;
    g->n++;
    th_header(m, "ce_id", g->id, sizeof g->id);
    th_header(m, "ce_causationid", g->cause, sizeof g->cause);
    th_header(m, "ce_correlationid", g->corr, sizeof g->corr);
    th_header(m, "ce_tenantid", g->tenant, sizeof g->tenant);
    th_header(m, "traceparent", g->tp, sizeof g->tp);
    th_header(m, "tracestate", g->ts, sizeof g->ts);
    th_header(m, "ce_type", g->type, sizeof g->type);
    if (!th_header(m, "ce_schemaversion", g->version, sizeof g->version))
        g->version[0] = '\0';
    snprintf(g->key, sizeof g->key, "%.*s", (int)m->key_len,
             m->key ? (const char *)m->key : "");
    snprintf(g->payload, sizeof g->payload, "%.*s", (int)m->len,
             (const char *)m->payload);
}

static void read_topic(const char *topic, got *g, long want)
{
    long long t0 = yard_test_now_ms();
    do {
        memset(g, 0, sizeof *g);
        th_consume_all(th_broker_bootstrap(broker), topic, PARTITIONS, on_msg, g);
        if (g->n >= want)
            return;
        usleep(200000);
    } while (yard_test_now_ms() - t0 < WAIT_MS);
}

static void test_two_hops(void)
{
    pid_t host = th_host_spawn(dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    rd_kafka_t *p = th_producer(th_broker_bootstrap(broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_TRUE(produce(p, "in-1", "k-1",
                           "{\"order\":\"o-1\",\"region\":\"eu\"}"));
    /* Fails prop.input's schema: order is a number. */
    CU_ASSERT_TRUE(produce(p, "in-2", "k-2", "{\"order\":5,\"region\":\"eu\"}"));
    /* Delivered twice: still one dead letter (it is keyed by event id). */
    CU_ASSERT_TRUE(produce(p, "in-2", "k-2", "{\"order\":5,\"region\":\"eu\"}"));
    /* hop_a emits a payload prop.middle's schema refuses. */
    CU_ASSERT_TRUE(produce(p, "in-3", "k-3",
                           "{\"order\":\"o-3\",\"region\":\"eu\",\"bad_emit\":true}"));
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    got out, mid;
    read_topic("prop.output", &out, 1);
    CU_ASSERT_EQUAL(th_wait_num(db, "SELECT count(*) FROM yard_dead_letter", 2,
                                WAIT_MS),
                    2);
    /* Everything that will be published is: the outbox is empty. */
    CU_ASSERT_EQUAL(th_wait_num(db, "SELECT count(*) FROM yard_outbox", 0, WAIT_MS),
                    0);
    read_topic("prop.output", &out, 1);
    read_topic("prop.middle", &mid, 1);
    kill(host, SIGTERM);
    int st = th_host_wait(host, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* Exactly one event went all the way; in-3's middle never left. */
    CU_ASSERT_EQUAL(mid.n, 1);
    CU_ASSERT_EQUAL(out.n, 1);
    printf("\n  middle: id=%s key=%s cause=%s tp=%s\n", mid.id, mid.key,
           mid.cause, mid.tp);
    printf("  output: id=%s key=%s cause=%s tp=%s\n", out.id, out.key,
           out.cause, out.tp);
    /* Hop 1. */
    CU_ASSERT_STRING_EQUAL(mid.type, "prop.middle");
    CU_ASSERT_STRING_EQUAL(mid.cause, "in-1");
    CU_ASSERT_STRING_EQUAL(mid.key, "eu_o-1"); /* x-partition-key */
    CU_ASSERT_STRING_EQUAL(mid.version, "1");
    CU_ASSERT_STRING_EQUAL(mid.corr, "corr-prop-1");
    CU_ASSERT_STRING_EQUAL(mid.tenant, "tenant-9");
    CU_ASSERT_STRING_EQUAL(mid.ts, "sy=1,vendor=abc");
    CU_ASSERT_EQUAL(strncmp(mid.tp, "00-" TRACE "-", 36), 0);
    CU_ASSERT_STRING_NOT_EQUAL(mid.tp, TRACEPARENT);
    /* Hop 2: the same trace, correlation and tenant; caused by hop 1. */
    CU_ASSERT_STRING_EQUAL(out.type, "prop.output");
    CU_ASSERT_STRING_EQUAL(out.cause, mid.id);
    CU_ASSERT_STRING_EQUAL(out.key, "eu_o-1"); /* no schema: the cause's */
    CU_ASSERT_STRING_EQUAL(out.version, "");
    CU_ASSERT_STRING_EQUAL(out.corr, "corr-prop-1");
    CU_ASSERT_STRING_EQUAL(out.tenant, "tenant-9");
    CU_ASSERT_STRING_EQUAL(out.ts, "sy=1,vendor=abc");
    CU_ASSERT_EQUAL(strncmp(out.tp, "00-" TRACE "-", 36), 0);
    CU_ASSERT_STRING_NOT_EQUAL(out.tp, mid.tp);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.payload, "\"order\":\"o-1\""));

    /* The two schema failures, each a dead letter of hop_a. */
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_dead_letter"
                                   " WHERE consumer_group = 'hop_a'"
                                   " AND error_code = 'VALIDATION_FAILED'"
                                   " AND error_details->>'field' = '$.order'"
                                   " AND error_details->>'rule' = 'type'"
                                   " AND event_id = 'in-2'"),
                    1);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_dead_letter"
                                   " WHERE consumer_group = 'hop_a'"
                                   " AND error_code = 'EMIT_VALIDATION_FAILED'"
                                   " AND error_details->>'field' = '$.region'"
                                   " AND error_details->>'rule' = 'required'"
                                   " AND event_id = 'in-3'"
                                   " AND error_message LIKE '%prop.middle%'"),
                    1);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"propagation through two hops, with schemas", test_two_hops},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("propagation", suite_init, suite_clean, tests);
}
