/*
 * The field-service domain plugins (plugins/<name>/) with real parts: one
 * throwaway PostgreSQL, the mock cluster in its own process, and one host
 * child process that loads every domain plugin for the whole binary (one
 * group join per plugin).
 *
 * Each test sends catalog events as binary CloudEvents, waits for the
 * database to reach the state the rules prescribe, and checks the events
 * the plugins emitted on their topics.  The host checks what comes in and
 * what the plugins emit against schemas/, so every emitted catalog event
 * here also matches its schema.  Tests use their own sales order
 * ids, so they do not see each other's orders; since every plugin is
 * loaded, an event a test sends is also seen by the other plugins that
 * subscribe to it, as in production.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "pgtmp.h"
#include "schema.h"
#include "testutil.h"

#define WAIT_MS 30000

/* Every topic the plugins read or write, one partition each. */
static const char *const topics[] = {
    "integration.sales.order_received:1",
    "projects.service_order.created:1",
    "projects.service_order.status_changed:1",
    "projects.service_order.unblocked:1",
    "projects.service_order.cancelled:1",
    "projects.service_order.closed:1",
    "projects.tv_outcome.recorded:1",
    "projects.task.created:1",
    "assignments.offer.created:1",
    "assignments.offer.responded:1",
    "assignments.assignment.confirmed:1",
    "assignments.date_negotiation.failed:1",
    "mobile.checkin.submitted:1",
    "mobile.checkout.submitted:1",
    "mobile.tv_outcome.submitted:1",
    "execution.checkin.completed:1",
    "execution.checkout.completed:1",
    "contracts.wcf.signed:1",
    "contracts.contract.signed:1",
    "integration.esign.contract_signed:1",
    "integration.erp.payment_ready:1",
    "fsm.tv.outcome_recorded:1",
    "fsm.order.status_updated:1",
    "sales.pyxis.order.created:1",
    "sales.pyxis.order.updated:1",
    "sales.pyxis.order.cancelled:1",
    "sales.tempo.service.requested:1",
    "sales.tempo.service.updated:1",
    "sales.tempo.service.cancelled:1",
    "integration.sales.order.normalized:1",
    "integration.sales.order.failed:1",
    "integration.sales.order_cancelled:1",
    "integration.pyxis.outbound:1",
    "integration.tempo.outbound:1",
    "dlq.orchestration:1",
    "dlq.assignment:1",
    "dlq.execution:1",
    "dlq.erp:1",
    "dlq.contracts:1",
    "dlq.pyxis:1",
    "dlq.tempo:1",
};

/* The plugins under test: conf.d file name and contents. */
static const struct {
    const char *file, *ini;
} plugins[] = {
    {"10-pyxis.ini",
     "[plugin]\npath = pyxis.so\n\n[settings]\n"
     "services = INSTALLATION:INSTALLATION:TV, REPAIR:REPAIR\ncountries = FR, ES\n"},
    {"10-tempo.ini",
     "[plugin]\npath = tempo.so\n\n[settings]\n"
     "services = INSTALLATION:INSTALLATION:TV, REPAIR:REPAIR\ncountries = FR, ES\n"
     "outbound_topic = integration.tempo.outbound\n"},
    {"20-orchestration.ini",
     "[plugin]\npath = orchestration.so\n\n[settings]\nbu_code = AHS\n"
     "source_system = PYXIS\ncurrency = EUR\n"
     "prices = INSTALLATION:1200.00:800.00,CONFIRMATION_TV:90.00:60.00\n"},
    {"30-assignment.ini",
     "[plugin]\npath = assignment.so\n\n[settings]\n"
     "providers = P1:FR:T1,P2:FR:T2,P3:ES:T3\nmax_rounds = 3\n"},
    {"40-execution.ini", "[plugin]\npath = execution.so\n"},
    {"50-contracts.ini", "[plugin]\npath = contracts.so\n"},
    {"60-erp.ini", "[plugin]\npath = erp.so\n"},
};

static yard_pgtmp *pg;
static PGconn *db;
static th_broker *broker;
static char *dir;
static pid_t host = -1;
static rd_kafka_t *producer;
static int next_id;

static int suite_init(void)
{
    char err[1024];
    yard_pgtmp_opts o = {0};
    if (yard_pgtmp_start(&o, &pg, err, sizeof err)) {
        fprintf(stderr, "PostgreSQL: %s\n", err);
        return -1;
    }
    PGconn *admin = th_connect(yard_pgtmp_dsn(pg), "postgres");
    bool ok = admin && th_sql(admin, "CREATE DATABASE domain");
    PQfinish(admin);
    db = ok ? th_connect(yard_pgtmp_dsn(pg), "domain") : NULL;
    broker = th_broker_start(1, topics, sizeof topics / sizeof *topics);
    dir = yard_test_tmpdir("domain");
    if (!db || !broker || !dir)
        return -1;
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[host]\nworkers = 2\nbatch_size = 16\nplugin_dir = %s/plugins\n"
             "schema_dir = %s/schemas\n"
             "log_level = info\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=domain\n\n"
             "[retry]\ninitial_ms = 50\nmax_ms = 200\nmax_attempts = 3\n",
             YARD_BINARY_DIR, YARD_SOURCE_DIR, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg));
    if (yard_test_write(dir, "host.ini", ini))
        return -1;
    for (size_t i = 0; i < sizeof plugins / sizeof *plugins; i++)
        if (yard_test_write(dir, plugins[i].file, plugins[i].ini))
            return -1;
    producer = th_producer(th_broker_bootstrap(broker));
    host = th_host_spawn(dir);
    if (!producer || host <= 0)
        return -1;
    /* Loaded: the last plugin's tables exist. */
    return th_wait_num(db, "SELECT count(*) FROM pg_tables WHERE tablename IN"
                           " ('orch_service_order', 'asg_offer', 'exe_execution',"
                           " 'erp_payment', 'ctr_wcf', 'pyxis_order',"
                           " 'tempo_request')", 7, WAIT_MS) == 7 ? 0 : -1;
}

static int suite_clean(void)
{
    if (host > 0) {
        kill(host, SIGTERM);
        int st = th_host_wait(host, 30000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "host did not stop cleanly (log: %s/host.log)\n", dir);
    }
    if (producer)
        rd_kafka_destroy(producer);
    th_broker_stop(broker);
    PQfinish(db);
    yard_pgtmp_stop(pg);
    if (dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* The payload send_ev() sent last, and the event_timestamp the next
 * send_ev() uses instead of its own (0: its own; then reset). */
static char sent_payload[2300];
static long long next_ts;

/* Send `type` (on the topic of the same name) with a payload made of
 * event_id, event_timestamp and the formatted members; the event id is
 * written to id_out (may be NULL). */
static void send_ev(char *id_out, const char *type, const char *key,
                    const char *fmt, ...)
{
    char id[64], members[2048], payload[sizeof sent_payload];
    snprintf(id, sizeof id, "dom-evt-%04d", ++next_id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(members, sizeof members, fmt, ap);
    va_end(ap);
    snprintf(payload, sizeof payload,
             "{\"event_id\":\"%s\",\"event_timestamp\":%lld%s%s}", id,
             next_ts ? next_ts : 1767225600000LL + next_id, *members ? "," : "",
             members);
    next_ts = 0;
    memcpy(sent_payload, payload, sizeof payload);
    /* Every 4th event is delivered twice, as Kafka may: the inbox makes the
     * second copy a no-op, so every count asserted here also holds under
     * redelivery. */
    int copies = next_id % 4 == 1 ? 2 : 1;
    for (int i = 0; i < copies; i++)
        CU_ASSERT_TRUE(th_produce_ce(producer, type, key, id, type, payload));
    CU_ASSERT_TRUE(th_flush(producer));
    if (id_out)
        strcpy(id_out, id);
}

/* Wait until the formatted query returns `want`; returns what it returned. */
#define wait_num(want, ...) th_wait_sqlf(db, (want), WAIT_MS, __VA_ARGS__)

#define WAIT_EQ(want, ...) CU_ASSERT_EQUAL(wait_num((want), __VA_ARGS__), (want))

/* Status of service order `id` is `want` (waits for it). */
#define WAIT_STATUS(id, want)                                                  \
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE"                 \
               " service_order_id = '%s' AND status = '%s'", (id), (want))

/* `id` was dead-lettered by `group` as REJECTED. */
#define WAIT_REJECTED(group, id)                                               \
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="  \
               " '%s' AND event_id = '%s' AND error_code = 'REJECTED'", (group), (id))

/* `id` was dead-lettered by `group`, whatever the code: payloads that
 * break the catalog may be refused by the host's schema check before the
 * plugin sees them. */
#define WAIT_DEAD(group, id)                                                   \
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="  \
               " '%s' AND event_id = '%s'", (group), (id))

/* `id` (sent to `group`) was handled: its transaction committed. */
#define WAIT_HANDLED(group, id)                                                \
    WAIT_EQ(1, "SELECT count(*) FROM yard_inbox WHERE consumer_group = '%s'"   \
               " AND event_id = '%s'", (group), (id))

typedef struct grep {
    const char *needle[3];
    long hits;
    char last[4096];
} grep;

static void on_msg(void *arg, const rd_kafka_message_t *m)
{
    grep *g = arg;
    char v[4096];
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    for (int i = 0; i < 3; i++)
        if (g->needle[i] && !strstr(v, g->needle[i]))
            return;
    g->hits++;
    memcpy(g->last, v, sizeof v);
}

/* How many messages on `topic` contain all of the (up to 3) needles, once
 * the outbox is drained.  The last one is copied to last (may be NULL). */
static long on_topic(char *last, const char *topic, const char *n1,
                     const char *n2, const char *n3)
{
    wait_num(0, "SELECT count(*) FROM yard_outbox");
    grep g = {.needle = {n1, n2, n3}};
    long n = th_consume_all(th_broker_bootstrap(broker), topic, 1, on_msg, &g);
    CU_ASSERT_TRUE(n >= 0);
    if (last)
        memcpy(last, g.last, sizeof g.last);
    return g.hits;
}

static void sales_order(const char *sale, bool tv)
{
    send_ev(NULL, "integration.sales.order_received", sale,
         "\"sales_order_id\":\"%s\",\"customer_id\":\"CUST-%s\","
         "\"country_code\":\"FR\",\"services\":[{\"service_type\":"
         "\"INSTALLATION\",\"requires_confirmation_tv\":%s}]",
         sale, sale, tv ? "true" : "false");
}

static void confirm(const char *so, const char *provider, const char *team)
{
    send_ev(NULL, "assignments.assignment.confirmed", so,
         "\"service_order_id\":\"%s\",\"provider_id\":\"%s\",\"team_id\":\"%s\","
         "\"confirmed_date\":\"2026-01-10\",\"confirmed_time_start\":\"08:00\","
         "\"confirmed_time_end\":\"12:00\"", so, provider, team);
}

/* Reports as the catalog events (straight to orchestration) or as the
 * technician app submits them (through execution). */
#define CHECKIN "execution.checkin.completed"
#define CHECKOUT "execution.checkout.completed"
#define TV_OUTCOME "projects.tv_outcome.recorded"
#define M_CHECKIN "mobile.checkin.submitted"
#define M_CHECKOUT "mobile.checkout.submitted"
#define M_TV_OUTCOME "mobile.tv_outcome.submitted"

#define checkin(...) checkin_as(CHECKIN, __VA_ARGS__)
#define checkout(...) checkout_as(CHECKOUT, __VA_ARGS__)
#define tv_outcome(...) tv_outcome_as(TV_OUTCOME, __VA_ARGS__)
#define m_checkin(...) checkin_as(M_CHECKIN, __VA_ARGS__)
#define m_checkout(...) checkout_as(M_CHECKOUT, __VA_ARGS__)
#define m_tv_outcome(...) tv_outcome_as(M_TV_OUTCOME, __VA_ARGS__)

static void checkin_as(const char *type, char *id, const char *so, const char *team)
{
    send_ev(id, type, so,
         "\"execution_id\":\"EXE-%s\",\"service_order_id\":\"%s\",\"team_id\":"
         "\"%s\",\"checked_in_at\":1767225600000,\"gps\":{\"lat\":48.85,"
         "\"lng\":2.35}", so, so, team);
}

static void checkout_as(const char *type, char *id, const char *so,
                        const char *team, bool completed)
{
    send_ev(id, type, so,
         "\"execution_id\":\"EXE-%s\",\"service_order_id\":\"%s\",\"team_id\":"
         "\"%s\",\"checked_out_at\":1767229200000,\"completed\":%s,"
         "\"incompletion_reason\":%s", so, so, team, completed ? "true" : "false",
         completed ? "null" : "\"missing parts\"");
}

static void tv_outcome_as(const char *type, char *id, const char *tv,
                          const char *outcome, const char *modifications)
{
    send_ev(id, type, tv,
         "\"tv_service_order_id\":\"%s\",\"linked_installation_order_id\":null,"
         "\"outcome\":\"%s\",\"modifications\":%s,\"recorded_by\":\"tech-1\"",
         tv, outcome, modifications ? modifications : "null");
}

static void wcf_signed(const char *so, bool accepted)
{
    send_ev(NULL, "contracts.wcf.signed", so,
         "\"wcf_id\":\"WCF-%s\",\"service_order_id\":\"%s\",\"execution_id\":"
         "\"EXE-%s\",\"customer_accepted\":%s,\"signed_at\":1767232800000",
         so, so, so, accepted ? "true" : "false");
}

/* Drive the TV order of `sale` to IN_PROGRESS. */
static void visit_tv(const char *sale)
{
    char tv[64];
    snprintf(tv, sizeof tv, "SO-%s-1-TV", sale);
    confirm(tv, "P1", "T1");
    WAIT_STATUS(tv, "ASSIGNED");
    checkin(NULL, tv, "T1");
    WAIT_STATUS(tv, "IN_PROGRESS");
}

/* ---- orchestration ------------------------------------------------------ */

static void test_orch_sales_order(void)
{
    send_ev(NULL, "integration.sales.order_received", "FR_SALE-A",
         "\"sales_order_id\":\"SALE-A\",\"customer_id\":\"CUST-A\","
         "\"country_code\":\"FR\",\"services\":["
         "{\"service_type\":\"INSTALLATION\",\"requires_confirmation_tv\":true},"
         "{\"service_type\":\"REPAIR\",\"requires_confirmation_tv\":false}]");
    WAIT_EQ(3, "SELECT count(*) FROM orch_service_order WHERE project_id = 'PRJ-SALE-A'");
    WAIT_STATUS("SO-SALE-A-1-TV", "READY_FOR_ASSIGNMENT");
    WAIT_STATUS("SO-SALE-A-1", "BLOCKED");
    WAIT_STATUS("SO-SALE-A-2", "READY_FOR_ASSIGNMENT");
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE service_order_id ="
               " 'SO-SALE-A-1' AND depends_on_order_id = 'SO-SALE-A-1-TV'"
               " AND customer_amount = 1200 AND provider_amount = 800");
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE service_order_id ="
               " 'SO-SALE-A-1-TV' AND is_tv AND service_type = 'CONFIRMATION_TV'");
    char last[4096];
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.created", "SO-SALE-A-", NULL, NULL), 3);
    CU_ASSERT_EQUAL(on_topic(last, "projects.service_order.created",
                             "\"service_order_id\":\"SO-SALE-A-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"depends_on_order_id\":\"SO-SALE-A-1-TV\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"requires_confirmation_tv\":true"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"bu_code\":\"AHS\""));
}

static void test_orch_rejects(void)
{
    char id[64];
    sales_order("SALE-B", true);
    WAIT_STATUS("SO-SALE-B-1", "BLOCKED");
    /* Impossible transition: the blocked installation cannot be assigned. */
    send_ev(id, "assignments.assignment.confirmed", "SO-SALE-B-1",
         "\"service_order_id\":\"SO-SALE-B-1\",\"provider_id\":\"P1\","
         "\"team_id\":\"T1\",\"confirmed_date\":\"2026-01-10\","
         "\"confirmed_time_start\":\"08:00\",\"confirmed_time_end\":\"12:00\"");
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-B-1", "BLOCKED");
    WAIT_EQ(0, "SELECT count(*) FROM orch_status_history WHERE"
               " service_order_id = 'SO-SALE-B-1' AND new_status = 'ASSIGNED'");
    /* Check-out without check-in: ASSIGNED -> COMPLETED is impossible. */
    confirm("SO-SALE-B-1-TV", "P1", "T1");
    WAIT_STATUS("SO-SALE-B-1-TV", "ASSIGNED");
    checkout(id, "SO-SALE-B-1-TV", "T1", true);
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-B-1-TV", "ASSIGNED");
    /* TV outcome before the visit. */
    tv_outcome(id, "SO-SALE-B-1-TV", "YES", NULL);
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-B-1", "BLOCKED");
    /* Unknown order, same sales order twice, malformed payloads. */
    send_ev(id, "assignments.assignment.confirmed", "x",
         "\"service_order_id\":\"SO-NOPE\",\"provider_id\":\"P1\",\"team_id\":"
         "\"T1\",\"confirmed_date\":\"2026-01-10\",\"confirmed_time_start\":"
         "\"08:00\",\"confirmed_time_end\":\"12:00\"");
    WAIT_REJECTED("orchestration", id);
    send_ev(id, "integration.sales.order_received", "FR_SALE-B",
         "\"sales_order_id\":\"SALE-B\",\"customer_id\":\"CUST-B\","
         "\"country_code\":\"FR\",\"services\":[{\"service_type\":\"X\","
         "\"requires_confirmation_tv\":false}]");
    WAIT_REJECTED("orchestration", id);
    send_ev(id, "integration.sales.order_received", "FR_SALE-C",
         "\"sales_order_id\":\"SALE-C\",\"customer_id\":\"CUST-C\","
         "\"country_code\":\"FR\",\"services\":[]");
    WAIT_DEAD("orchestration", id);
    CU_ASSERT_TRUE(th_produce_ce(producer, "integration.sales.order_received", "k",
                                 "dom-evt-notjson", "integration.sales.order_received",
                                 "{not json"));
    CU_ASSERT_TRUE(th_flush(producer));
    /* Not JSON: the host cannot decode it; not an object: the plugin
     * refuses it.  Both end in the DLQ. */
    send_ev(id, "integration.sales.order_received", "x", "\"services\":{}");
    WAIT_DEAD("orchestration", id);
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'orchestration' AND original_value = '{not json'::bytea");
    WAIT_EQ(0, "SELECT count(*) FROM orch_project WHERE sales_order_id = 'SALE-C'");
    WAIT_EQ(2, "SELECT count(*) FROM orch_service_order WHERE project_id = 'PRJ-SALE-B'");
}

static void test_orch_tv_yes_to_closed(void)
{
    char id[64], last[4096];
    sales_order("SALE-Y", true);
    WAIT_STATUS("SO-SALE-Y-1", "BLOCKED");
    visit_tv("SALE-Y");
    tv_outcome(NULL, "SO-SALE-Y-1-TV", "YES", NULL);
    WAIT_STATUS("SO-SALE-Y-1", "READY_FOR_ASSIGNMENT");
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE service_order_id ="
               " 'SO-SALE-Y-1-TV' AND tv_outcome = 'YES'");
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.unblocked",
                             "\"service_order_id\":\"SO-SALE-Y-1\"",
                             "\"tv_service_order_id\":\"SO-SALE-Y-1-TV\"", NULL), 1);
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.tv.outcome_recorded",
                             "\"external_order_id\":\"SALE-Y\"",
                             "\"tv_outcome\":\"YES\"", "\"modifications\":null"), 1);
    /* A second outcome for the same TV is refused. */
    tv_outcome(id, "SO-SALE-Y-1-TV", "NO", NULL);
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-Y-1", "READY_FOR_ASSIGNMENT");

    /* The installation, through an incomplete visit, to CLOSED. */
    confirm("SO-SALE-Y-1", "P2", "T2");
    WAIT_STATUS("SO-SALE-Y-1", "ASSIGNED");
    checkin(id, "SO-SALE-Y-1", "T9"); /* not the assigned team */
    WAIT_REJECTED("orchestration", id);
    checkin(NULL, "SO-SALE-Y-1", "T2");
    WAIT_STATUS("SO-SALE-Y-1", "IN_PROGRESS");
    checkout(NULL, "SO-SALE-Y-1", "T2", false);
    WAIT_STATUS("SO-SALE-Y-1", "ASSIGNED");
    WAIT_EQ(1, "SELECT count(*) FROM orch_task WHERE service_order_id ="
               " 'SO-SALE-Y-1' AND task_type = 'INCOMPLETE_WORK'");
    checkin(NULL, "SO-SALE-Y-1", "T2");
    WAIT_STATUS("SO-SALE-Y-1", "IN_PROGRESS");
    checkout(NULL, "SO-SALE-Y-1", "T2", true);
    WAIT_STATUS("SO-SALE-Y-1", "COMPLETED");
    wcf_signed("SO-SALE-Y-1", false);
    WAIT_EQ(1, "SELECT count(*) FROM orch_task WHERE service_order_id ="
               " 'SO-SALE-Y-1' AND task_type = 'WCF_CONTESTED'");
    WAIT_STATUS("SO-SALE-Y-1", "COMPLETED");
    wcf_signed("SO-SALE-Y-1", true);
    WAIT_STATUS("SO-SALE-Y-1", "CLOSED");
    CU_ASSERT_EQUAL(on_topic(last, "projects.service_order.closed",
                             "\"service_order_id\":\"SO-SALE-Y-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"provider_id\":\"P2\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"provider_amount\":{\"value\":800.0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"warranty_start_date\":\"2026-01-01\""));
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.task.created",
                             "\"service_order_id\":\"SO-SALE-Y-1\"", NULL, NULL), 2);
    /* Every change is in the history and on the topic, in order. */
    WAIT_EQ(7, "SELECT count(*) FROM orch_status_history WHERE service_order_id ="
               " 'SO-SALE-Y-1' AND old_status IS NOT NULL");
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.status_changed",
                             "\"service_order_id\":\"SO-SALE-Y-1\"", NULL, NULL), 7);
    /* The sales system follows: CREATED, ASSIGNED, IN_PROGRESS, ASSIGNED,
     * IN_PROGRESS, COMPLETED, CLOSED. */
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-Y-1\"", NULL, NULL), 7);
    CU_ASSERT_EQUAL(on_topic(last, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-Y-1\"",
                             "\"status\":\"CLOSED\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"external_order_id\":\"SALE-Y\""));
    CU_ASSERT_EQUAL(on_topic(last, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-Y-1\"",
                             "\"status\":\"ASSIGNED\"", "\"scheduled_date\":\"2026-01-10\""), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"provider_name\":\"P2\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"external_order_id\":\"SALE-Y\""));
}

static void test_orch_tv_yes_but(void)
{
    char last[4096];
    sales_order("SALE-M", true);
    WAIT_STATUS("SO-SALE-M-1", "BLOCKED");
    visit_tv("SALE-M");
    tv_outcome(NULL, "SO-SALE-M-1-TV", "YES_BUT",
               "[{\"description\":\"reinforce the wall\",\"extra_duration_min\":60}]");
    WAIT_STATUS("SO-SALE-M-1", "READY_FOR_ASSIGNMENT");
    CU_ASSERT_EQUAL(on_topic(last, "fsm.tv.outcome_recorded",
                             "\"external_order_id\":\"SALE-M\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"tv_outcome\":\"YES_BUT\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"modifications\":[{\"description\":"
                                        "\"reinforce the wall\",\"requires_repricing\":true}]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"source_system\":\"PYXIS\""));
}

static void test_orch_tv_no_compensates(void)
{
    char last[4096];
    sales_order("SALE-N", true);
    WAIT_STATUS("SO-SALE-N-1", "BLOCKED");
    visit_tv("SALE-N");
    tv_outcome(NULL, "SO-SALE-N-1-TV", "NO", NULL);
    WAIT_STATUS("SO-SALE-N-1", "CANCELLED");
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.cancelled",
                             "\"service_order_id\":\"SO-SALE-N-1\"", NULL, NULL), 1);
    CU_ASSERT_EQUAL(on_topic(last, "fsm.tv.outcome_recorded",
                             "\"external_order_id\":\"SALE-N\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"tv_outcome\":\"NO\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"cancellation_reason\":\"confirmation"));
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-N-1\"",
                             "\"status\":\"CANCELLED\"", NULL), 1);
    /* A cancelled order stays cancelled. */
    char id[64];
    send_ev(id, "assignments.assignment.confirmed", "SO-SALE-N-1",
         "\"service_order_id\":\"SO-SALE-N-1\",\"provider_id\":\"P1\","
         "\"team_id\":\"T1\",\"confirmed_date\":\"2026-01-10\","
         "\"confirmed_time_start\":\"08:00\",\"confirmed_time_end\":\"12:00\"");
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-N-1", "CANCELLED");
}

static void sales_cancelled(char *id, const char *sale, const char *source)
{
    char key[128];
    snprintf(key, sizeof key, "FR_%s", sale);
    send_ev(id, "integration.sales.order_cancelled", key,
            "\"sales_order_id\":\"%s\",\"country_code\":\"FR\","
            "\"source_system\":\"%s\",\"cancellation_reason\":\"customer withdrew\"",
            sale, source);
}

static void test_orch_sales_cancel(void)
{
    char id[64], last[4096];
    /* Before any assignment: the TV and its blocked installation are
     * cancelled, announced, and the sales system is told. */
    sales_order("SALE-K", true);
    WAIT_STATUS("SO-SALE-K-1", "BLOCKED");
    WAIT_STATUS("SO-SALE-K-1-TV", "READY_FOR_ASSIGNMENT");
    sales_cancelled(id, "SALE-K", "PYXIS");
    WAIT_STATUS("SO-SALE-K-1", "CANCELLED");
    WAIT_STATUS("SO-SALE-K-1-TV", "CANCELLED");
    WAIT_EQ(2, "SELECT count(*) FROM orch_status_history WHERE service_order_id"
               " LIKE 'SO-SALE-K-1%%' AND new_status = 'CANCELLED' AND"
               " changed_by = 'PYXIS' AND reason = 'customer withdrew'"
               " AND event_id = '%s'", id);
    CU_ASSERT_EQUAL(on_topic(last, "projects.service_order.cancelled",
                             "\"service_order_id\":\"SO-SALE-K-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"project_id\":\"PRJ-SALE-K\","
                                        "\"reason\":\"customer withdrew\""));
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.cancelled",
                             "\"service_order_id\":\"SO-SALE-K-1-TV\"", NULL, NULL), 1);
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"external_order_id\":\"SALE-K\"",
                             "\"status\":\"CANCELLED\"", NULL), 2);
    WAIT_EQ(0, "SELECT count(*) FROM orch_task WHERE service_order_id LIKE 'SO-SALE-K-%%'");
    /* Again (another event): everything is final already, nothing more. */
    sales_cancelled(id, "SALE-K", "PYXIS");
    WAIT_HANDLED("orchestration", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.cancelled",
                             "\"service_order_id\":\"SO-SALE-K-1", NULL, NULL), 2);

    /* After check-in: the TV's team is on site, so the machine has no
     * cancellation for it: it stays IN_PROGRESS and an operator task says
     * so; its blocked installation is cancelled. */
    sales_order("SALE-L", true);
    WAIT_STATUS("SO-SALE-L-1", "BLOCKED");
    visit_tv("SALE-L");
    sales_cancelled(id, "SALE-L", "PYXIS");
    WAIT_STATUS("SO-SALE-L-1", "CANCELLED");
    WAIT_EQ(1, "SELECT count(*) FROM orch_task WHERE service_order_id ="
               " 'SO-SALE-L-1-TV' AND task_type = 'SALES_CANCELLED_AFTER_START'"
               " AND event_id = '%s'", id);
    WAIT_STATUS("SO-SALE-L-1-TV", "IN_PROGRESS");
    CU_ASSERT_EQUAL(on_topic(last, "projects.task.created",
                             "\"service_order_id\":\"SO-SALE-L-1-TV\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"task_type\":\"SALES_CANCELLED_AFTER_START\","));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"priority\":\"HIGH\""));
    CU_ASSERT_EQUAL(on_topic(NULL, "projects.service_order.cancelled",
                             "\"service_order_id\":\"SO-SALE-L-1-TV\"", NULL, NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-L-1-TV\"",
                             "\"status\":\"CANCELLED\"", NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-L-1\"",
                             "\"status\":\"CANCELLED\"", NULL), 1);
    WAIT_EQ(0, "SELECT count(*) FROM orch_status_history WHERE service_order_id ="
               " 'SO-SALE-L-1-TV' AND new_status = 'CANCELLED'");

    /* Unknown sales order; another system's cancellation of it. */
    sales_cancelled(id, "SALE-NONE", "PYXIS");
    WAIT_REJECTED("orchestration", id);
    sales_order("SALE-J", false);
    WAIT_STATUS("SO-SALE-J-1", "READY_FOR_ASSIGNMENT");
    sales_cancelled(id, "SALE-J", "TEMPO");
    WAIT_REJECTED("orchestration", id);
    WAIT_STATUS("SO-SALE-J-1", "READY_FOR_ASSIGNMENT");
}

/* ---- assignment --------------------------------------------------------- */

/* The documented rule, computed here independently. */
static const char *expected_team(const char *order_id)
{
    static const char *const fr_teams[] = {"T1", "T2"};
    uint32_t h = 0x811c9dc5u;
    for (const char *c = order_id; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 0x01000193u;
    }
    return fr_teams[h % 2];
}

static void respond(char *id, const char *offer, const char *response,
                    const char *date)
{
    char d[32] = "null";
    if (date)
        snprintf(d, sizeof d, "\"%s\"", date);
    send_ev(id, "assignments.offer.responded", offer,
            "\"offer_id\":\"%s\",\"response\":\"%s\",\"proposed_date\":%s",
            offer, response, d);
}

#define WAIT_OFFER(offer, status, team)                                        \
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE offer_id = '%s' AND"       \
               " status = '%s' AND team_id = '%s'", (offer), (status), (team))

static void test_asg_offer_and_confirm(void)
{
    char id[64], last[4096];
    const char *team = expected_team("SO-SALE-O-1");
    sales_order("SALE-O", false);
    WAIT_OFFER("OFR-SO-SALE-O-1-1", "OFFERED", team);
    CU_ASSERT_EQUAL(on_topic(last, "assignments.offer.created",
                             "\"offer_id\":\"OFR-SO-SALE-O-1-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"auto_accepted\":false"));
    respond(NULL, "OFR-SO-SALE-O-1-1", "ACCEPTED", NULL);
    WAIT_OFFER("OFR-SO-SALE-O-1-1", "ACCEPTED", team);
    /* orchestration follows the confirmation */
    WAIT_STATUS("SO-SALE-O-1", "ASSIGNED");
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE service_order_id ="
               " 'SO-SALE-O-1' AND team_id = '%s'", team);
    CU_ASSERT_EQUAL(on_topic(NULL, "assignments.assignment.confirmed",
                             "\"service_order_id\":\"SO-SALE-O-1\"", team, NULL), 1);
    /* An offer is answered once. */
    respond(id, "OFR-SO-SALE-O-1-1", "ACCEPTED", NULL);
    WAIT_REJECTED("assignment", id);
    respond(id, "OFR-NOPE", "ACCEPTED", NULL);
    WAIT_REJECTED("assignment", id);
    /* Only one provider in ES: always its team. */
    send_ev(NULL, "integration.sales.order_received", "ES_SALE-E",
            "\"sales_order_id\":\"SALE-E\",\"customer_id\":\"CUST-E\","
            "\"country_code\":\"ES\",\"services\":[{\"service_type\":"
            "\"INSTALLATION\",\"requires_confirmation_tv\":false}]");
    WAIT_OFFER("OFR-SO-SALE-E-1-1", "OFFERED", "T3");
    /* No provider in DE: rejected, replayable once configured. */
    send_ev(NULL, "integration.sales.order_received", "DE_SALE-G",
            "\"sales_order_id\":\"SALE-G\",\"customer_id\":\"CUST-G\","
            "\"country_code\":\"DE\",\"services\":[{\"service_type\":"
            "\"INSTALLATION\",\"requires_confirmation_tv\":false}]");
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'assignment' AND error_code = 'REJECTED' AND"
               " convert_from(original_value, 'UTF8') LIKE '%%SO-SALE-G-1%%'");
    WAIT_EQ(0, "SELECT count(*) FROM asg_order WHERE service_order_id = 'SO-SALE-G-1'");
}

static void test_asg_negotiation_fails(void)
{
    char id[64], last[4096];
    sales_order("SALE-D", false);
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE offer_id = 'OFR-SO-SALE-D-1-1'");
    respond(NULL, "OFR-SO-SALE-D-1-1", "DATE_PROPOSED", "2026-02-02");
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE offer_id = 'OFR-SO-SALE-D-1-1'"
               " AND rounds = 1 AND offered_date = '2026-02-02' AND status = 'OFFERED'");
    respond(id, "OFR-SO-SALE-D-1-1", "DATE_PROPOSED", "someday");
    WAIT_DEAD("assignment", id);
    respond(NULL, "OFR-SO-SALE-D-1-1", "DATE_PROPOSED", "2026-02-03");
    respond(NULL, "OFR-SO-SALE-D-1-1", "DATE_PROPOSED", "2026-02-04");
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE offer_id = 'OFR-SO-SALE-D-1-1'"
               " AND rounds = 3 AND status = 'FAILED'");
    CU_ASSERT_EQUAL(on_topic(last, "assignments.date_negotiation.failed",
                             "\"offer_id\":\"OFR-SO-SALE-D-1-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"rounds_completed\":3"));
    /* orchestration opens an operator task */
    WAIT_EQ(1, "SELECT count(*) FROM orch_task WHERE service_order_id ="
               " 'SO-SALE-D-1' AND task_type = 'DATE_NEGOTIATION_FAILED'");
    respond(id, "OFR-SO-SALE-D-1-1", "ACCEPTED", NULL);
    WAIT_REJECTED("assignment", id);
    WAIT_STATUS("SO-SALE-D-1", "READY_FOR_ASSIGNMENT");
}

static void test_asg_reassign_after_tv(void)
{
    sales_order("SALE-R", true);
    const char *team = expected_team("SO-SALE-R-1-TV");
    WAIT_OFFER("OFR-SO-SALE-R-1-TV-1", "OFFERED", team);
    /* The installation waits for its TV: no offer yet. */
    WAIT_EQ(1, "SELECT count(*) FROM asg_order WHERE service_order_id ="
               " 'SO-SALE-R-1' AND status = 'WAITING'");
    WAIT_EQ(0, "SELECT count(*) FROM asg_offer WHERE service_order_id = 'SO-SALE-R-1'");
    respond(NULL, "OFR-SO-SALE-R-1-TV-1", "ACCEPTED", NULL);
    WAIT_STATUS("SO-SALE-R-1-TV", "ASSIGNED");
    checkin(NULL, "SO-SALE-R-1-TV", team);
    WAIT_STATUS("SO-SALE-R-1-TV", "IN_PROGRESS");
    tv_outcome(NULL, "SO-SALE-R-1-TV", "YES", NULL);
    /* The team that did the TV gets the installation, whatever the rule
     * would say. */
    WAIT_OFFER("OFR-SO-SALE-R-1-1", "OFFERED", team);
}

static void test_asg_cancel_withdraws(void)
{
    char id[64];
    const char *team = expected_team("SO-SALE-W-1");
    sales_order("SALE-W", false);
    WAIT_OFFER("OFR-SO-SALE-W-1-1", "OFFERED", team);
    sales_cancelled(NULL, "SALE-W", "PYXIS");
    WAIT_STATUS("SO-SALE-W-1", "CANCELLED");
    WAIT_OFFER("OFR-SO-SALE-W-1-1", "WITHDRAWN", team);
    WAIT_EQ(1, "SELECT count(*) FROM asg_order WHERE service_order_id ="
               " 'SO-SALE-W-1' AND status = 'CANCELLED'");
    /* The provider answers after all: acknowledged, ignored. */
    respond(id, "OFR-SO-SALE-W-1-1", "ACCEPTED", NULL);
    WAIT_HANDLED("assignment", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    respond(id, "OFR-SO-SALE-W-1-1", "DATE_PROPOSED", "2026-02-02");
    WAIT_HANDLED("assignment", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE service_order_id ="
               " 'SO-SALE-W-1' AND status = 'WITHDRAWN' AND rounds = 0");
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE service_order_id = 'SO-SALE-W-1'");
    CU_ASSERT_EQUAL(on_topic(NULL, "assignments.assignment.confirmed",
                             "\"service_order_id\":\"SO-SALE-W-1\"", NULL, NULL), 0);
    WAIT_STATUS("SO-SALE-W-1", "CANCELLED");
    /* A cancellation for an order assignment never saw: rejected, as an
     * unknown order (replayable once its creation is in). */
    send_ev(id, "projects.service_order.cancelled", "FR_SO-NONE",
            "\"service_order_id\":\"SO-NONE\",\"project_id\":\"PRJ-NONE\","
            "\"reason\":\"test\"");
    WAIT_REJECTED("assignment", id);
    /* execution has nothing for it: nothing to cancel, accepted. */
    WAIT_HANDLED("execution", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'execution' AND event_id = '%s'", id);
}

/* ---- execution ---------------------------------------------------------- */

#define WAIT_EXE(so, status)                                                   \
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="       \
               " 'EXE-%s' AND status = '%s'", (so), (status))

static void test_exe_records(void)
{
    char id[64];
    sales_order("SALE-X", false);
    WAIT_STATUS("SO-SALE-X-1", "READY_FOR_ASSIGNMENT");
    confirm("SO-SALE-X-1", "P1", "T1");
    WAIT_EXE("SO-SALE-X-1", "SCHEDULED");
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="
               " 'EXE-SO-SALE-X-1' AND team_id = 'T1' AND scheduled_date = '2026-01-10'");
    /* Check-out without check-in. */
    m_checkout(id, "SO-SALE-X-1", "T1", true);
    WAIT_REJECTED("execution", id);
    /* Wrong team, unknown execution, bad GPS. */
    m_checkin(id, "SO-SALE-X-1", "T2");
    WAIT_REJECTED("execution", id);
    m_checkin(id, "SO-SALE-NONE-1", "T1");
    WAIT_REJECTED("execution", id);
    send_ev(id, M_CHECKIN, "T1_SO-SALE-X-1",
            "\"execution_id\":\"EXE-SO-SALE-X-1\",\"service_order_id\":"
            "\"SO-SALE-X-1\",\"team_id\":\"T1\",\"checked_in_at\":"
            "1767225600000,\"gps\":{\"lat\":148.85,\"lng\":2.35}");
    WAIT_REJECTED("execution", id);
    WAIT_EXE("SO-SALE-X-1", "SCHEDULED");
    m_checkin(NULL, "SO-SALE-X-1", "T1");
    WAIT_EXE("SO-SALE-X-1", "CHECKED_IN");
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="
               " 'EXE-SO-SALE-X-1' AND visits = 1 AND gps_lat = 48.85"
               " AND checked_in_at = '2026-01-01 00:00:00+00'");
    /* No second check-in, no re-assignment while on site. */
    m_checkin(id, "SO-SALE-X-1", "T1");
    WAIT_REJECTED("execution", id);
    send_ev(id, "assignments.assignment.confirmed", "P2_SO-SALE-X-1",
            "\"service_order_id\":\"SO-SALE-X-1\",\"provider_id\":\"P2\","
            "\"team_id\":\"T2\",\"confirmed_date\":\"2026-01-11\","
            "\"confirmed_time_start\":\"08:00\",\"confirmed_time_end\":\"12:00\"");
    WAIT_REJECTED("execution", id);
    /* Incomplete without a reason is refused; then the complete one. */
    send_ev(id, M_CHECKOUT, "T1_SO-SALE-X-1",
            "\"execution_id\":\"EXE-SO-SALE-X-1\",\"service_order_id\":"
            "\"SO-SALE-X-1\",\"team_id\":\"T1\",\"checked_out_at\":"
            "1767229200000,\"completed\":false,\"incompletion_reason\":null");
    WAIT_REJECTED("execution", id);
    m_checkout(NULL, "SO-SALE-X-1", "T1", true);
    WAIT_EXE("SO-SALE-X-1", "CHECKED_OUT");
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="
               " 'EXE-SO-SALE-X-1' AND completed");
    m_checkout(id, "SO-SALE-X-1", "T1", true);
    WAIT_REJECTED("execution", id);
    /* Orchestration saw only the reports execution accepted. */
    WAIT_STATUS("SO-SALE-X-1", "COMPLETED");
    CU_ASSERT_EQUAL(on_topic(NULL, CHECKIN, "\"execution_id\":\"EXE-SO-SALE-X-1\"",
                             NULL, NULL), 1);
    CU_ASSERT_EQUAL(on_topic(NULL, CHECKOUT, "\"execution_id\":\"EXE-SO-SALE-X-1\"",
                             "\"completed\":true", NULL), 1);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'orchestration' AND event_type LIKE 'execution.%%' AND"
               " convert_from(original_value, 'UTF8') LIKE '%%SO-SALE-X-1%%'");
}

static void test_exe_tv_outcome(void)
{
    char id[64];
    sales_order("SALE-T", true);
    WAIT_STATUS("SO-SALE-T-1", "BLOCKED");
    confirm("SO-SALE-T-1-TV", "P1", "T1");
    WAIT_EXE("SO-SALE-T-1-TV", "SCHEDULED");
    m_tv_outcome(id, "SO-SALE-T-1-TV", "YES", NULL);
    WAIT_REJECTED("execution", id);
    m_checkin(NULL, "SO-SALE-T-1-TV", "T1");
    WAIT_EXE("SO-SALE-T-1-TV", "CHECKED_IN");
    m_tv_outcome(NULL, "SO-SALE-T-1-TV", "YES", NULL);
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="
               " 'EXE-SO-SALE-T-1-TV' AND tv_outcome = 'YES'");
    m_tv_outcome(id, "SO-SALE-T-1-TV", "NO", NULL);
    WAIT_REJECTED("execution", id);
    WAIT_STATUS("SO-SALE-T-1", "READY_FOR_ASSIGNMENT");
}

static void test_exe_cancel_before_checkin(void)
{
    char id[64];
    const char *team = expected_team("SO-SALE-V-1");
    sales_order("SALE-V", false);
    WAIT_OFFER("OFR-SO-SALE-V-1-1", "OFFERED", team);
    respond(NULL, "OFR-SO-SALE-V-1-1", "ACCEPTED", NULL);
    WAIT_STATUS("SO-SALE-V-1", "ASSIGNED");
    WAIT_EXE("SO-SALE-V-1", "SCHEDULED");
    sales_cancelled(NULL, "SALE-V", "PYXIS");
    WAIT_STATUS("SO-SALE-V-1", "CANCELLED");
    WAIT_EXE("SO-SALE-V-1", "CANCELLED");
    /* The accepted offer is history, not withdrawn. */
    WAIT_OFFER("OFR-SO-SALE-V-1-1", "ACCEPTED", team);
    /* The team turns up anyway: acknowledged, ignored, nothing announced. */
    m_checkin(id, "SO-SALE-V-1", team);
    WAIT_HANDLED("execution", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    m_checkout(id, "SO-SALE-V-1", team, true);
    WAIT_HANDLED("execution", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="
               " 'EXE-SO-SALE-V-1' AND status = 'CANCELLED' AND visits = 0"
               " AND checked_in_at IS NULL");
    CU_ASSERT_EQUAL(on_topic(NULL, CHECKIN, "\"service_order_id\":\"SO-SALE-V-1\"",
                             NULL, NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, CHECKOUT, "\"service_order_id\":\"SO-SALE-V-1\"",
                             NULL, NULL), 0);
    WAIT_STATUS("SO-SALE-V-1", "CANCELLED");
    /* Still checked: a check-in by another team is rejected. */
    m_checkin(id, "SO-SALE-V-1", "T9");
    WAIT_REJECTED("execution", id);
}

/* ---- erp ---------------------------------------------------------------- */

static void closed(char *id, const char *so, const char *provider,
                   const char *amount, bool accepted)
{
    send_ev(id, "projects.service_order.closed", so,
            "\"service_order_id\":\"%s\",\"project_id\":\"PRJ-ERP\","
            "\"provider_id\":\"%s\",\"team_id\":\"T1\",\"customer_amount\":"
            "{\"value\":100.0,\"currency\":\"EUR\"},\"provider_amount\":"
            "{\"value\":%s,\"currency\":\"EUR\"},\"wcf_accepted\":%s,"
            "\"warranty_start_date\":\"2026-01-05\"",
            so, provider, amount, accepted ? "true" : "false");
}

static void test_erp_payment_once(void)
{
    char id[64], last[4096];
    /* SO-SALE-Y-1 was closed by orchestration in an earlier test. */
    WAIT_EQ(1, "SELECT count(*) FROM erp_payment WHERE service_order_id ="
               " 'SO-SALE-Y-1' AND provider_id = 'P2' AND amount = 800"
               " AND currency = 'EUR'");
    closed(NULL, "SO-ERP-1", "P7", "321.5", true);
    WAIT_EQ(1, "SELECT count(*) FROM erp_payment WHERE service_order_id ="
               " 'SO-ERP-1' AND amount = 321.50 AND completion_date = '2026-01-05'");
    /* The same order closed again (another event): ignored, not paid twice. */
    closed(id, "SO-ERP-1", "P7", "999", true);
    WAIT_EQ(1, "SELECT count(*) FROM yard_inbox WHERE consumer_group = 'erp'"
               " AND event_id = '%s'", id);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
    WAIT_EQ(1, "SELECT count(*) FROM erp_payment WHERE service_order_id = 'SO-ERP-1'"
               " AND amount = 321.50");
    CU_ASSERT_EQUAL(on_topic(last, "integration.erp.payment_ready",
                             "\"service_order_id\":\"SO-ERP-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"amount\":{\"value\":321.5,\"currency\":\"EUR\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"completion_date\":\"2026-01-05\""));
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.erp.payment_ready",
                             "\"service_order_id\":\"SO-SALE-Y-1\"",
                             "\"provider_id\":\"P2\"", NULL), 1);
    /* Not accepted, negative: rejected, nothing paid. */
    closed(id, "SO-ERP-2", "P7", "10", false);
    WAIT_REJECTED("erp", id);
    closed(id, "SO-ERP-3", "P7", "-10", true);
    WAIT_REJECTED("erp", id);
    WAIT_EQ(0, "SELECT count(*) FROM erp_payment WHERE service_order_id IN"
               " ('SO-ERP-2', 'SO-ERP-3')");
}

/* ---- contracts ---------------------------------------------------------- */

static void esign(char *id, const char *type, const char *doc, bool accepted)
{
    send_ev(id, "integration.esign.contract_signed", doc,
            "\"document_type\":\"%s\",\"document_id\":\"%s\","
            "\"customer_accepted\":%s,\"signed_at\":1767232800000",
            type, doc, accepted ? "true" : "false");
}

#define WAIT_WCF(so, status)                                                   \
    WAIT_EQ(1, "SELECT count(*) FROM ctr_wcf WHERE wcf_id = 'WCF-%s' AND"       \
               " status = '%s'", (so), (status))

static void test_ctr_signatures(void)
{
    char id[64], last[4096];
    /* SO-SALE-X-1 was completed in the execution test. */
    WAIT_WCF("SO-SALE-X-1", "PENDING_SIGNATURE");
    /* No form for a check-out orchestration refused. */
    WAIT_EQ(0, "SELECT count(*) FROM ctr_wcf WHERE service_order_id = 'SO-SALE-B-1-TV'");
    esign(id, "WCF", "WCF-NOPE", true);
    WAIT_REJECTED("contracts", id);
    esign(id, "INVOICE", "WCF-SO-SALE-X-1", true);
    WAIT_DEAD("contracts", id);
    esign(NULL, "WCF", "WCF-SO-SALE-X-1", true);
    WAIT_WCF("SO-SALE-X-1", "ACCEPTED");
    CU_ASSERT_EQUAL(on_topic(last, "contracts.wcf.signed",
                             "\"wcf_id\":\"WCF-SO-SALE-X-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"execution_id\":\"EXE-SO-SALE-X-1\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"customer_accepted\":true"));
    /* which closes the order */
    WAIT_STATUS("SO-SALE-X-1", "CLOSED");
    esign(id, "WCF", "WCF-SO-SALE-X-1", false);
    WAIT_REJECTED("contracts", id);
    /* The project's contract lists its orders. */
    WAIT_EQ(1, "SELECT count(*) FROM ctr_contract WHERE contract_id = 'CTR-PRJ-SALE-A'"
               " AND status = 'PENDING_SIGNATURE'");
    WAIT_EQ(3, "SELECT count(*) FROM ctr_contract_order WHERE contract_id ="
               " 'CTR-PRJ-SALE-A'");
    esign(NULL, "CONTRACT", "CTR-PRJ-SALE-A", true);
    WAIT_EQ(1, "SELECT count(*) FROM ctr_contract WHERE contract_id = 'CTR-PRJ-SALE-A'"
               " AND status = 'SIGNED' AND signed_at = '2026-01-01 02:00:00+00'");
    CU_ASSERT_EQUAL(on_topic(last, "contracts.contract.signed",
                             "\"contract_id\":\"CTR-PRJ-SALE-A\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"service_order_ids\":[\"SO-SALE-A-1\","
                                        "\"SO-SALE-A-1-TV\",\"SO-SALE-A-2\"]"));
    /* orchestration records it on the project */
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE project_id = 'PRJ-SALE-A'"
               " AND contract_signed_at = '2026-01-01 02:00:00+00'");
    esign(id, "CONTRACT", "CTR-PRJ-SALE-A", true);
    WAIT_REJECTED("contracts", id);
    send_ev(id, "contracts.contract.signed", "FR_PRJ-NOPE",
            "\"contract_id\":\"CTR-PRJ-NOPE\",\"project_id\":\"PRJ-NOPE\","
            "\"service_order_ids\":[],\"signed_at\":1767232800000");
    WAIT_REJECTED("orchestration", id);
}

/* ---- the saga ----------------------------------------------------------- */

static void test_saga_tv_yes(void)
{
    char last[4096];
    const char *tv_team = expected_team("SO-SALE-S-1-TV");
    sales_order("SALE-S", true);
    WAIT_OFFER("OFR-SO-SALE-S-1-TV-1", "OFFERED", tv_team);
    WAIT_STATUS("SO-SALE-S-1", "BLOCKED");
    respond(NULL, "OFR-SO-SALE-S-1-TV-1", "ACCEPTED", NULL);
    WAIT_STATUS("SO-SALE-S-1-TV", "ASSIGNED");
    WAIT_EXE("SO-SALE-S-1-TV", "SCHEDULED");
    m_checkin(NULL, "SO-SALE-S-1-TV", tv_team);
    WAIT_EXE("SO-SALE-S-1-TV", "CHECKED_IN");
    WAIT_STATUS("SO-SALE-S-1-TV", "IN_PROGRESS");
    m_tv_outcome(NULL, "SO-SALE-S-1-TV", "YES", NULL);
    m_checkout(NULL, "SO-SALE-S-1-TV", tv_team, true);
    WAIT_STATUS("SO-SALE-S-1-TV", "COMPLETED");
    WAIT_STATUS("SO-SALE-S-1", "READY_FOR_ASSIGNMENT");
    /* The installation goes to the TV's team. */
    WAIT_OFFER("OFR-SO-SALE-S-1-1", "OFFERED", tv_team);
    respond(NULL, "OFR-SO-SALE-S-1-1", "ACCEPTED", NULL);
    WAIT_STATUS("SO-SALE-S-1", "ASSIGNED");
    WAIT_EXE("SO-SALE-S-1", "SCHEDULED");
    m_checkin(NULL, "SO-SALE-S-1", tv_team);
    WAIT_STATUS("SO-SALE-S-1", "IN_PROGRESS");
    m_checkout(NULL, "SO-SALE-S-1", tv_team, true);
    WAIT_STATUS("SO-SALE-S-1", "COMPLETED");
    WAIT_WCF("SO-SALE-S-1", "PENDING_SIGNATURE");
    esign(NULL, "WCF", "WCF-SO-SALE-S-1", true);
    WAIT_STATUS("SO-SALE-S-1", "CLOSED");
    WAIT_EQ(1, "SELECT count(*) FROM erp_payment WHERE service_order_id ="
               " 'SO-SALE-S-1' AND amount = 800 AND provider_id = '%s'",
            strcmp(tv_team, "T1") == 0 ? "P1" : "P2");
    CU_ASSERT_EQUAL(on_topic(last, "integration.erp.payment_ready",
                             "\"service_order_id\":\"SO-SALE-S-1\"", NULL, NULL), 1);
    CU_ASSERT_EQUAL(on_topic(NULL, "fsm.order.status_updated",
                             "\"fsm_service_order_id\":\"SO-SALE-S-1\"",
                             "\"status\":\"CLOSED\"", NULL), 1);
    /* The whole path in the installation's history. */
    WAIT_EQ(1, "SELECT count(*) FROM (SELECT string_agg(new_status, '>' ORDER BY id) s"
               " FROM orch_status_history WHERE service_order_id = 'SO-SALE-S-1') x"
               " WHERE s = 'BLOCKED>READY_FOR_ASSIGNMENT>ASSIGNED>IN_PROGRESS>"
               "COMPLETED>CLOSED'");
    /* Nothing of this order was dead-lettered by any plugin. */
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE"
               " convert_from(original_value, 'UTF8') LIKE '%%SALE-S-%%'");
}

/* ---- the sales adapters (pyxis, tempo) ---------------------------------- */

/* raw_payload of an integration.sales.order.failed: the consumed payload,
 * so that a retry can send it again. */
#define RAW(tag) "\"raw_payload\":\"{\\\"rev\\\":\\\"" tag "\\\"}\""

static const char customer_json[] =
    "\"customer\":{\"customer_id\":\"CUST-9\",\"name\":\"Ada Martin\","
    "\"email\":\"ada@example.com\",\"phone\":\"+33100000000\"}";

static void address(char *out, size_t len, const char *country)
{
    snprintf(out, len, "\"address\":{\"street\":\"1 rue de la Paix\",\"city\":"
                       "\"Paris\",\"postal_code\":\"75002\",\"country\":\"%s\"}",
             country);
}

/* sales.pyxis.order.created; `customer` and `raw` are JSON members. */
static void pyx_created(char *id, const char *order, const char *country,
                        const char *addr_country, const char *customer,
                        const char *products, const char *raw)
{
    char key[128], addr[256];
    snprintf(key, sizeof key, "%s_%s", country, order);
    address(addr, sizeof addr, addr_country);
    send_ev(id, "sales.pyxis.order.created", key,
            "\"pyxis_order_id\":\"%s\",\"sales_channel\":\"STORE\","
            "\"country_code\":\"%s\",\"bu_code\":\"AHS\",\"store_id\":\"S-12\","
            "%s,\"products\":%s,%s,%s", order, country, customer, products, addr,
            raw);
}

/* sales.pyxis.order.updated: new products (or null), same customer and
 * address. */
static void pyx_updated(char *id, const char *order, const char *country,
                        const char *products, const char *raw)
{
    char key[128];
    snprintf(key, sizeof key, "%s_%s", country, order);
    send_ev(id, "sales.pyxis.order.updated", key,
            "\"pyxis_order_id\":\"%s\",\"sales_channel\":\"WEB\","
            "\"country_code\":\"%s\",\"bu_code\":\"AHS\",\"customer\":null,"
            "\"address\":null,\"products\":%s,%s", order, country, products, raw);
}

static void pyx_cancelled(char *id, const char *order, const char *raw)
{
    char key[128];
    snprintf(key, sizeof key, "FR_%s", order);
    send_ev(id, "sales.pyxis.order.cancelled", key,
            "\"pyxis_order_id\":\"%s\",\"country_code\":\"FR\",\"bu_code\":\"AHS\","
            "\"cancellation_reason\":\"customer withdrew\",%s", order, raw);
}

static void tmp_requested(char *id, const char *req, const char *country,
                          const char *service, const char *raw)
{
    char key[128], addr[256];
    snprintf(key, sizeof key, "%s_%s", country, req);
    address(addr, sizeof addr, country);
    send_ev(id, "sales.tempo.service.requested", key,
            "\"tempo_request_id\":\"%s\",\"sales_channel\":\"CALL_CENTER\","
            "\"country_code\":\"%s\",\"bu_code\":\"AHS\",%s,\"service_type\":"
            "\"%s\",%s,%s", req, country, customer_json, service, addr, raw);
}

/* `service`: a JSON value (a string or null). */
static void tmp_updated(char *id, const char *req, const char *service,
                        const char *raw)
{
    char key[128];
    snprintf(key, sizeof key, "FR_%s", req);
    send_ev(id, "sales.tempo.service.updated", key,
            "\"tempo_request_id\":\"%s\",\"sales_channel\":\"CALL_CENTER\","
            "\"country_code\":\"FR\",\"bu_code\":\"AHS\",\"customer\":null,"
            "\"service_type\":%s,\"address\":null,%s", req, service, raw);
}

static void tmp_cancelled(char *id, const char *req, const char *raw)
{
    char key[128];
    snprintf(key, sizeof key, "FR_%s", req);
    send_ev(id, "sales.tempo.service.cancelled", key,
            "\"tempo_request_id\":\"%s\",\"country_code\":\"FR\",\"bu_code\":"
            "\"AHS\",\"cancellation_reason\":null,%s", req, raw);
}

/* The event just sent as `id` to `group` ended in exactly one
 * integration.sales.order.failed for `order` with `code`, whose raw_payload
 * is what was sent, and in nothing else. */
static void expect_failed(const char *group, const char *id, const char *order,
                          const char *code)
{
    char sent[sizeof sent_payload], last[4096], o[192], c[96], cause[96];
    memcpy(sent, sent_payload, sizeof sent);
    WAIT_HANDLED(group, id);
    snprintf(o, sizeof o, "\"external_order_id\":\"%s\"", order);
    snprintf(c, sizeof c, "\"error_code\":\"%s\"", code);
    /* The failed event's id derives from the consumed one: find it by
     * the sent event id inside raw_payload. */
    snprintf(cause, sizeof cause, "\\\"event_id\\\":\\\"%s\\\"", id);
    long hits = on_topic(last, "integration.sales.order.failed", o, c, cause);
    CU_ASSERT_EQUAL(hits, 1);
    json_t *doc = json_loads(last, 0, NULL);
    if (hits != 1 || !doc) {
        printf("\n  %s %s: %ld order.failed, last: %s\n", order, code, hits, last);
        json_decref(doc);
        return;
    }
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "raw_payload")),
                           sent);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "source_system")),
                           strcmp(group, "pyxis") == 0 ? "PYXIS" : "TEMPO");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "retry_count")), 0);
    CU_ASSERT_TRUE(json_string_length(json_object_get(doc, "error_message")) > 0);
    json_decref(doc);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'", id);
}

#define PRODUCTS_2                                                             \
    "[{\"product_id\":\"HP-300\",\"quantity\":1,\"service_type\":"             \
    "\"INSTALLATION\"},{\"product_id\":\"KIT-7\",\"quantity\":2,"             \
    "\"service_type\":\"REPAIR\"}]"
#define PRODUCTS_1 "[{\"product_id\":\"HP-300\",\"quantity\":1,\"service_type\":" \
                   "\"INSTALLATION\"}]"

#define WAIT_PYX(order, cond)                                                  \
    WAIT_EQ(1, "SELECT count(*) FROM pyxis_order WHERE sales_order_id = '%s'"  \
               " AND %s", (order), (cond))
#define WAIT_TMP(req, cond)                                                    \
    WAIT_EQ(1, "SELECT count(*) FROM tempo_request WHERE sales_order_id = '%s'" \
               " AND %s", (req), (cond))

static void test_pyxis_created(void)
{
    char id[64], last[4096];
    pyx_created(NULL, "PYX-1", "FR", "FR", customer_json, PRODUCTS_2, RAW("1"));
    WAIT_PYX("PYX-1", "status = 'OPEN' AND version = 1 AND customer_id = 'CUST-9'"
                      " AND country_code = 'FR' AND sales_channel = 'STORE'"
                      " AND created_sha256 = last_sha256");
    /* orchestration made the project and its orders from it */
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE project_id = 'PRJ-PYX-1'"
               " AND source_system = 'PYXIS' AND customer_id = 'CUST-9'");
    WAIT_STATUS("SO-PYX-1-1", "BLOCKED");
    WAIT_STATUS("SO-PYX-1-1-TV", "READY_FOR_ASSIGNMENT");
    WAIT_STATUS("SO-PYX-1-2", "READY_FOR_ASSIGNMENT");
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order_received",
                             "\"sales_order_id\":\"PYX-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"sales_order_id\":\"PYX-1\",\"customer_id\":\"CUST-9\","
              "\"country_code\":\"FR\",\"services\":[{\"service_type\":"
              "\"INSTALLATION\",\"requires_confirmation_tv\":true},"
              "{\"service_type\":\"REPAIR\",\"requires_confirmation_tv\":false}],"
              "\"source_system\":\"PYXIS\"}"));
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order.normalized",
                             "\"external_order_id\":\"PYX-1\"", NULL, NULL), 2);
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order.normalized",
                             "\"external_order_id\":\"PYX-1\"",
                             "\"fsm_service_order_id\":\"SO-PYX-1-2\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"source_system\":\"PYXIS\",\"external_order_id\":\"PYX-1\","
              "\"fsm_service_order_id\":\"SO-PYX-1-2\",\"sales_channel\":\"STORE\","
              "\"country_code\":\"FR\",\"transformation_version\":\"pyxis-1.0.0\"}"));
    /* The same order resent under another event id: nothing new. */
    pyx_created(id, "PYX-1", "FR", "FR", customer_json, PRODUCTS_2, RAW("1"));
    WAIT_HANDLED("pyxis", id);
    /* and the same event delivered again: the inbox drops it */
    CU_ASSERT_TRUE(th_produce_ce(producer, "sales.pyxis.order.created", "FR_PYX-1",
                                 id, "sales.pyxis.order.created", sent_payload));
    CU_ASSERT_TRUE(th_flush(producer));
    /* Another creation of PYX-1 with other content: refused. */
    pyx_created(id, "PYX-1", "FR", "FR", customer_json, PRODUCTS_1, RAW("1b"));
    expect_failed("pyxis", id, "PYX-1", "ORDER_EXISTS");
    WAIT_PYX("PYX-1", "version = 1");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order_received",
                             "\"sales_order_id\":\"PYX-1\"", NULL, NULL), 1);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order.normalized",
                             "\"external_order_id\":\"PYX-1\"", NULL, NULL), 2);
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE sales_order_id = 'PYX-1'");
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE"
               " convert_from(original_value, 'UTF8') LIKE '%%PYX-1\"%%'");
}

static void test_pyxis_update_cancel(void)
{
    char id[64], last[4096];
    pyx_created(NULL, "PYX-U", "FR", "FR", customer_json, PRODUCTS_2, RAW("u1"));
    WAIT_PYX("PYX-U", "version = 1");
    /* An update in order: applied, normalized again with its services. */
    pyx_updated(id, "PYX-U", "FR", PRODUCTS_1, RAW("u2"));
    WAIT_PYX("PYX-U", "version = 2 AND sales_channel = 'WEB' AND"
                      " jsonb_array_length(services) = 1 AND customer_id = 'CUST-9'");
    WAIT_HANDLED("pyxis", id);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order.normalized",
                             "\"external_order_id\":\"PYX-U\"",
                             "\"sales_channel\":\"WEB\"", NULL), 1);
    /* Resent (same raw payload, new event): nothing. */
    pyx_updated(id, "PYX-U", "FR", PRODUCTS_1, RAW("u2"));
    WAIT_HANDLED("pyxis", id);
    /* Without products: the recorded ones stay. */
    pyx_updated(NULL, "PYX-U", "FR", "null", RAW("u3"));
    WAIT_PYX("PYX-U", "version = 3 AND jsonb_array_length(services) = 1");
    /* Older than the last applied change: stale. */
    next_ts = 1767225600000LL;
    pyx_updated(id, "PYX-U", "FR", PRODUCTS_2, RAW("u0"));
    expect_failed("pyxis", id, "PYX-U", "STALE_UPDATE");
    /* Moved to another country: refused. */
    pyx_updated(id, "PYX-U", "ES", PRODUCTS_2, RAW("u4"));
    expect_failed("pyxis", id, "PYX-U", "INVALID_COUNTRY");
    WAIT_PYX("PYX-U", "version = 3 AND country_code = 'FR'");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order.normalized",
                             "\"external_order_id\":\"PYX-U\"", NULL, NULL), 4);

    /* Cancelled: forwarded in the platform's terms. */
    pyx_cancelled(id, "PYX-U", RAW("c1"));
    WAIT_PYX("PYX-U", "status = 'CANCELLED' AND version = 4 AND"
                      " cancellation_reason = 'customer withdrew'");
    WAIT_HANDLED("pyxis", id);
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order_cancelled",
                             "\"sales_order_id\":\"PYX-U\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"sales_order_id\":\"PYX-U\","
                                        "\"country_code\":\"FR\",\"source_system\":"
                                        "\"PYXIS\",\"cancellation_reason\":"
                                        "\"customer withdrew\"}"));
    /* and orchestration cancels its service orders, none started, and
     * Pyxis hears of each. */
    WAIT_STATUS("SO-PYX-U-1", "CANCELLED");
    WAIT_STATUS("SO-PYX-U-1-TV", "CANCELLED");
    WAIT_STATUS("SO-PYX-U-2", "CANCELLED");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.pyxis.outbound",
                             "\"pyxis_order_id\":\"PYX-U\"", "\"status\":\"CANCELLED\"",
                             NULL), 3);
    pyx_cancelled(id, "PYX-U", RAW("c1")); /* resent */
    WAIT_HANDLED("pyxis", id);
    pyx_cancelled(id, "PYX-U", RAW("c2"));
    expect_failed("pyxis", id, "PYX-U", "ORDER_CANCELLED");
    pyx_updated(id, "PYX-U", "FR", PRODUCTS_1, RAW("u5"));
    expect_failed("pyxis", id, "PYX-U", "ORDER_CANCELLED");
    WAIT_PYX("PYX-U", "version = 4");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order_cancelled",
                             "\"sales_order_id\":\"PYX-U\"", NULL, NULL), 1);
    /* Unknown orders. */
    pyx_updated(id, "PYX-NONE", "FR", PRODUCTS_1, RAW("n1"));
    expect_failed("pyxis", id, "PYX-NONE", "UNKNOWN_ORDER");
    pyx_cancelled(id, "PYX-NONE", RAW("n2"));
    expect_failed("pyxis", id, "PYX-NONE", "UNKNOWN_ORDER");
    WAIT_EQ(0, "SELECT count(*) FROM pyxis_order WHERE sales_order_id = 'PYX-NONE'");
}

static void test_pyxis_invalid(void)
{
    char id[64], cust[256];
    /* Each is failed with its code and changes nothing. */
    pyx_created(id, "PYX-E1", "XX", "XX", customer_json, PRODUCTS_1, RAW("e"));
    expect_failed("pyxis", id, "PYX-E1", "INVALID_COUNTRY");
    pyx_created(id, "PYX-E2", "DE", "DE", customer_json, PRODUCTS_1, RAW("e"));
    expect_failed("pyxis", id, "PYX-E2", "INVALID_COUNTRY");
    pyx_created(id, "PYX-E3", "FR", "ES", customer_json, PRODUCTS_1, RAW("e"));
    expect_failed("pyxis", id, "PYX-E3", "INVALID_COUNTRY");
    snprintf(cust, sizeof cust, "\"customer\":{\"customer_id\":\"\",\"name\":"
                                "\"Ada\",\"email\":\"a@b.fr\",\"phone\":\"1\"}");
    pyx_created(id, "PYX-E4", "FR", "FR", cust, PRODUCTS_1, RAW("e"));
    expect_failed("pyxis", id, "PYX-E4", "MISSING_FIELD");
    pyx_created(id, "PYX-E5", "FR", "FR", customer_json, "[]", RAW("e"));
    expect_failed("pyxis", id, "PYX-E5", "NO_SERVICES");
    pyx_created(id, "PYX-E6", "FR", "FR", customer_json,
                "[{\"product_id\":\"X\",\"quantity\":1,\"service_type\":\"POOL\"}]",
                RAW("e"));
    expect_failed("pyxis", id, "PYX-E6", "UNKNOWN_SERVICE_TYPE");
    pyx_created(id, "PYX-E7", "FR", "FR", customer_json,
                "[{\"product_id\":\"X\",\"quantity\":0,\"service_type\":\"REPAIR\"}]",
                RAW("e"));
    expect_failed("pyxis", id, "PYX-E7", "INVALID_QUANTITY");
    pyx_created(id, "PYX-E8", "FR", "FR", customer_json, PRODUCTS_1,
                "\"raw_payload\":\"<order/>\"");
    expect_failed("pyxis", id, "PYX-E8", "INVALID_RAW_PAYLOAD");
    pyx_created(id, "", "FR", "FR", customer_json, PRODUCTS_1, RAW("e"));
    expect_failed("pyxis", id, "", "MISSING_FIELD");
    WAIT_EQ(0, "SELECT count(*) FROM pyxis_order WHERE sales_order_id LIKE 'PYX-E%%'"
               " OR sales_order_id = ''");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order_received",
                             "\"sales_order_id\":\"PYX-E", NULL, NULL), 0);
    /* A field the schema requires is missing (products): the host refuses
     * it before the adapter (dead-lettered), no order.failed. */
    send_ev(id, "sales.pyxis.order.created", "FR_PYX-E9",
            "\"pyxis_order_id\":\"PYX-E9\",\"sales_channel\":\"STORE\","
            "\"country_code\":\"FR\",\"bu_code\":\"AHS\",\"store_id\":null,%s,"
            "\"address\":{\"street\":\"s\",\"city\":\"c\",\"postal_code\":\"p\","
            "\"country\":\"FR\"},%s", customer_json, RAW("e"));
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'pyxis' AND event_id = '%s' AND error_code = 'VALIDATION_FAILED'", id);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.sales.order.failed",
                             "\"external_order_id\":\"PYX-E9\"", NULL, NULL), 0);
}

static void test_tempo_request(void)
{
    char id[64], last[4096];
    tmp_requested(NULL, "TMP-1", "FR", "REPAIR", RAW("t1"));
    WAIT_TMP("TMP-1", "status = 'OPEN' AND version = 1");
    WAIT_STATUS("SO-TMP-1-1", "READY_FOR_ASSIGNMENT");
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE project_id = 'PRJ-TMP-1'"
               " AND source_system = 'TEMPO'");
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order_received",
                             "\"sales_order_id\":\"TMP-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"sales_order_id\":\"TMP-1\",\"customer_id\":\"CUST-9\","
              "\"country_code\":\"FR\",\"services\":[{\"service_type\":\"REPAIR\","
              "\"requires_confirmation_tv\":false}],\"source_system\":\"TEMPO\"}"));
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order.normalized",
                             "\"external_order_id\":\"TMP-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"source_system\":\"TEMPO\",\"external_order_id\":\"TMP-1\","
              "\"fsm_service_order_id\":\"SO-TMP-1-1\",\"sales_channel\":"
              "\"CALL_CENTER\",\"country_code\":\"FR\",\"transformation_version\":"
              "\"tempo-1.0.0\"}"));
    tmp_requested(id, "TMP-1", "FR", "REPAIR", RAW("t1")); /* resent */
    WAIT_HANDLED("tempo", id);
    /* Update: the service type changes. */
    tmp_updated(NULL, "TMP-1", "\"INSTALLATION\"", RAW("t2"));
    WAIT_TMP("TMP-1", "version = 2 AND services = '[{\"service_type\":"
                      " \"INSTALLATION\", \"requires_confirmation_tv\": true}]'");
    /* Optional members left out (their default, null): nothing replaced. */
    send_ev(NULL, "sales.tempo.service.updated", "FR_TMP-1",
            "\"tempo_request_id\":\"TMP-1\",\"sales_channel\":\"WEB\","
            "\"country_code\":\"FR\",\"bu_code\":\"AHS\",%s", RAW("t2b"));
    WAIT_TMP("TMP-1", "version = 3 AND sales_channel = 'WEB' AND"
                      " services->0->>'service_type' = 'INSTALLATION'");
    tmp_updated(id, "TMP-1", "\"\"", RAW("t3"));
    expect_failed("tempo", id, "TMP-1", "MISSING_FIELD");
    tmp_updated(id, "TMP-1", "\"GARDEN\"", RAW("t3"));
    expect_failed("tempo", id, "TMP-1", "UNKNOWN_SERVICE_TYPE");
    tmp_updated(id, "TMP-NONE", "null", RAW("t3"));
    expect_failed("tempo", id, "TMP-NONE", "UNKNOWN_ORDER");
    tmp_requested(id, "TMP-E1", "IT", "REPAIR", RAW("t4")); /* not served here */
    expect_failed("tempo", id, "TMP-E1", "INVALID_COUNTRY");
    /* Cancelled. */
    tmp_cancelled(id, "TMP-1", RAW("t5"));
    WAIT_TMP("TMP-1", "status = 'CANCELLED' AND version = 4"
                      " AND cancellation_reason IS NULL");
    WAIT_HANDLED("tempo", id);
    CU_ASSERT_EQUAL(on_topic(last, "integration.sales.order_cancelled",
                             "\"sales_order_id\":\"TMP-1\"", NULL, NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"source_system\":\"TEMPO\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"cancellation_reason\":null"));
    WAIT_STATUS("SO-TMP-1-1", "CANCELLED");
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.tempo.outbound",
                             "\"tempo_request_id\":\"TMP-1\"", "\"status\":\"CANCELLED\"",
                             NULL), 1);
    tmp_updated(id, "TMP-1", "\"REPAIR\"", RAW("t6"));
    expect_failed("tempo", id, "TMP-1", "ORDER_CANCELLED");
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE sales_order_id = 'TMP-1'");
}

/* Every fsm.* event one adapter handled, the other handled too. */
static void adapters_caught_up(void)
{
    WAIT_EQ(0, "SELECT count(*) FROM yard_inbox a WHERE a.consumer_group IN"
               " ('pyxis', 'tempo') AND a.event_id NOT LIKE 'dom-evt-%%' AND"
               " NOT EXISTS (SELECT 1 FROM yard_inbox b WHERE b.event_id ="
               " a.event_id AND b.consumer_group IN ('pyxis', 'tempo') AND"
               " b.consumer_group <> a.consumer_group)");
}

static void test_sales_outbound(void)
{
    char last[4096];
    /* Pyxis: TV YES_BUT -> reprice. */
    pyx_created(NULL, "PYX-2", "FR", "FR", customer_json, PRODUCTS_1, RAW("o1"));
    WAIT_STATUS("SO-PYX-2-1", "BLOCKED");
    visit_tv("PYX-2");
    tv_outcome(NULL, "SO-PYX-2-1-TV", "YES_BUT",
               "[{\"description\":\"longer pipes\",\"extra_duration_min\":30}]");
    WAIT_STATUS("SO-PYX-2-1", "READY_FOR_ASSIGNMENT");
    WAIT_PYX("PYX-2", "tv_outcome = 'YES_BUT'");
    WAIT_PYX("PYX-2", "last_fsm_order_id = 'SO-PYX-2-1-TV' AND"
                      " last_fsm_status = 'IN_PROGRESS'");
    CU_ASSERT_EQUAL(on_topic(last, "integration.pyxis.outbound",
                             "\"pyxis_order_id\":\"PYX-2\"",
                             "\"tv_outcome\":\"YES_BUT\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"pyxis_order_id\":\"PYX-2\",\"country_code\":\"FR\","
              "\"tv_outcome\":\"YES_BUT\",\"action\":\"REPRICE\",\"modifications\":"
              "[{\"description\":\"longer pipes\",\"requires_repricing\":true}],"
              "\"cancellation_reason\":null}"));
    /* Statuses: CREATED (TV and installation), then the TV's ASSIGNED and
     * IN_PROGRESS. */
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.pyxis.outbound",
                             "\"pyxis_order_id\":\"PYX-2\"", "\"status\":\"CREATED\"",
                             NULL), 2);
    CU_ASSERT_EQUAL(on_topic(last, "integration.pyxis.outbound",
                             "\"pyxis_order_id\":\"PYX-2\"", "\"status\":\"ASSIGNED\"",
                             NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        last, "\"pyxis_order_id\":\"PYX-2\",\"country_code\":\"FR\","
              "\"fsm_service_order_id\":\"SO-PYX-2-1-TV\",\"status\":\"ASSIGNED\","
              "\"scheduled_date\":\"2026-01-10\",\"provider_name\":\"P1\"}"));

    /* Tempo: TV NO -> the installation is cancelled; cancel and refund. */
    tmp_requested(NULL, "TMP-2", "FR", "INSTALLATION", RAW("o2"));
    WAIT_STATUS("SO-TMP-2-1", "BLOCKED");
    visit_tv("TMP-2");
    tv_outcome(NULL, "SO-TMP-2-1-TV", "NO", NULL);
    WAIT_STATUS("SO-TMP-2-1", "CANCELLED");
    WAIT_TMP("TMP-2", "tv_outcome = 'NO'");
    WAIT_TMP("TMP-2", "last_fsm_order_id = 'SO-TMP-2-1' AND"
                      " last_fsm_status = 'CANCELLED'");
    CU_ASSERT_EQUAL(on_topic(last, "integration.tempo.outbound",
                             "\"tempo_request_id\":\"TMP-2\"", "\"tv_outcome\":\"NO\"",
                             NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"action\":\"CANCEL_AND_REFUND\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"cancellation_reason\":\"confirmation"));
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.tempo.outbound",
                             "\"tempo_request_id\":\"TMP-2\"",
                             "\"fsm_service_order_id\":\"SO-TMP-2-1\"",
                             "\"status\":\"CANCELLED\""), 1);

    /* Each system gets its own orders only, and none of the orders that
     * reached the platform without an adapter. */
    adapters_caught_up();
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.pyxis.outbound", "TMP-", NULL, NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.pyxis.outbound", "SALE-", NULL, NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.tempo.outbound", "PYX-", NULL, NULL), 0);
    CU_ASSERT_EQUAL(on_topic(NULL, "integration.tempo.outbound", "SALE-", NULL, NULL), 0);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group IN"
               " ('pyxis', 'tempo') AND event_type LIKE 'fsm.%%'");
}

/* ---- the catalog ------------------------------------------------------- */

typedef struct schema_check {
    const yard_schema_registry *reg;
    long checked, invalid;
} schema_check;

static void on_validate(void *arg, const rd_kafka_message_t *m)
{
    schema_check *sc = arg;
    yard_schema_error why;
    char source[64], type[128];
    if (th_header(m, "ce_source", source, sizeof source) &&
        strcmp(source, "/tests") == 0)
        return; /* sent by a test, some of them malformed on purpose */
    /* The schema of the message's type: topics such as the sales adapters'
     * outbound ones carry several types. */
    const yard_schema *schema =
        th_header(m, "ce_type", type, sizeof type) ? yard_schema_find(sc->reg, type, 0)
                                                   : NULL;
    sc->checked++;
    if (!schema) {
        sc->invalid++;
        printf("\n  a message of type %s has no schema\n",
               th_header(m, "ce_type", type, sizeof type) ? type : "(none)");
    } else if (yard_schema_validate_text(schema, m->payload, m->len, 0, &why)) {
        if (sc->invalid++ < 3)
            printf("\n  %s: %s\n", yard_schema_file(schema), why.message);
    }
}

/* Every event the plugins emitted on a catalog topic matches its schema in
 * schemas/ exactly (checked here, whether or not the host validates). */
static void test_catalog_schemas(void)
{
    yard_schema_registry *reg = NULL;
    CU_ASSERT_EQUAL_FATAL(yard_schema_registry_load(YARD_SOURCE_DIR "/schemas", false,
                                                    &reg, NULL), 0);
    wait_num(0, "SELECT count(*) FROM yard_outbox");
    long topics_checked = 0;
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        char topic[128];
        snprintf(topic, sizeof topic, "%.*s", (int)strcspn(topics[i], ":"), topics[i]);
        schema_check sc = {.reg = reg};
        if (!yard_schema_find(reg, topic, 0) && !strstr(topic, ".outbound"))
            continue;
        CU_ASSERT_TRUE(th_consume_all(th_broker_bootstrap(broker), topic, 1,
                                      on_validate, &sc) >= 0);
        CU_ASSERT_EQUAL(sc.invalid, 0);
        if (sc.invalid)
            printf("\n  %s: %ld of %ld invalid\n", topic, sc.invalid, sc.checked);
        topics_checked += sc.checked > 0;
    }
    /* created, status_changed, unblocked, cancelled, closed, task, fsm.tv,
     * fsm.order, offer, confirmed, negotiation failed, check-in, check-out,
     * tv_outcome, wcf, contract, payment_ready, and from the sales adapters
     * order_received, normalized, failed, order_cancelled and the two
     * outbound topics (the mobile.*, sales.*, offer.responded and esign
     * topics carry only what the tests sent) */
    CU_ASSERT_EQUAL(topics_checked, 23);
    yard_schema_registry_free(reg);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"orchestration: sales order -> project, TV, blocked installation",
         test_orch_sales_order},
        {"orchestration: impossible transitions and bad input are REJECTED",
         test_orch_rejects},
        {"orchestration: TV YES unblocks; installation to CLOSED", test_orch_tv_yes_to_closed},
        {"orchestration: TV YES_BUT sends modifications for repricing",
         test_orch_tv_yes_but},
        {"orchestration: TV NO cancels and tells the sales system",
         test_orch_tv_no_compensates},
        {"orchestration: a sales cancellation cancels what has not started",
         test_orch_sales_cancel},
        {"assignment: offer by the rule, confirmation, answered once",
         test_asg_offer_and_confirm},
        {"assignment: date negotiation fails after 3 rounds", test_asg_negotiation_fails},
        {"assignment: installation goes to the team that did the TV",
         test_asg_reassign_after_tv},
        {"assignment: a cancelled order's offer is withdrawn; late answers ignored",
         test_asg_cancel_withdraws},
        {"execution: records, check-in/check-out rules, check-out without check-in",
         test_exe_records},
        {"execution: TV outcome only after check-in, once", test_exe_tv_outcome},
        {"execution: cancelled before check-in; late reports ignored",
         test_exe_cancel_before_checkin},
        {"erp: payment_ready once per closed order", test_erp_payment_once},
        {"contracts: WCF after COMPLETED, signatures drive orchestration",
         test_ctr_signatures},
        {"saga: TV YES to payment across all plugins", test_saga_tv_yes},
        {"pyxis: created -> order_received + normalized; resent once", test_pyxis_created},
        {"pyxis: updates in order, cancellation, unknown orders", test_pyxis_update_cancel},
        {"pyxis: bad orders -> order.failed with code and raw payload",
         test_pyxis_invalid},
        {"tempo: requested, updated, cancelled, failed", test_tempo_request},
        {"pyxis, tempo: status and TV outcome back to their own system only",
         test_sales_outbound},
        {"catalog: every event on a catalog topic matches its schema",
         test_catalog_schemas},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("domain", suite_init, suite_clean, tests);
}
