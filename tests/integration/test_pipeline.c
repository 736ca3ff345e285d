/*
 * The path of one event, end to end, with real parts: a throwaway
 * PostgreSQL, the mock cluster in its own process over TCP, the host as a
 * child process, and the counter test plugin loaded with dlopen.
 *
 * 20,000 events over 50 keys and 4 partitions, 10% of them delivered twice.
 * Asserted: exactly one effect per distinct event; effects in per-key
 * order; every emitted event on its topic at least once and in per-key
 * order; inbox and outbox consistent; nothing left unpublished.  Then the
 * same with the host SIGKILLed mid-stream and restarted.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define EVENTS 20000
#define KEYS 50
#define PARTITIONS 4
#define DUP_EVERY 10 /* every 10th event is delivered again ... */
#define DUP_LAG 37   /* ... 37 events later */

static yard_pgtmp *pg;
static PGconn *admin;

static int suite_init(void) { return th_pg_start(&pg, &admin); }

static int suite_clean(void)
{
    th_pg_stop(pg, admin);
    return 0;
}

/* One scenario's world: its database, broker, conf dir. */
typedef struct run {
    const char *name; /* also the database, event prefix and group */
    th_broker *broker;
    char *dir;
    PGconn *db;
    char input[64], done[64];
} run;

static bool run_setup(run *r, const char *name)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    snprintf(r->input, sizeof r->input, "%s.input", name);
    snprintf(r->done, sizeof r->done, "%s.done", name);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!th_sql(admin, sql))
        return false;
    r->db = th_connect(yard_pgtmp_dsn(pg), name);
    char t1[80], t2[80];
    snprintf(t1, sizeof t1, "%s:%d", r->input, PARTITIONS);
    snprintf(t2, sizeof t2, "%s:%d", r->done, PARTITIONS);
    const char *topics[] = {t1, t2, "dlq.counter:1"};
    r->broker = th_broker_start(1, topics, 3);
    r->dir = yard_test_tmpdir(name);
    if (!r->db || !r->broker || !r->dir)
        return false;
    char host[2048];
    snprintf(host, sizeof host,
             "[host]\nworkers = 4\nbatch_size = 64\nplugin_dir = %s\n"
             "shutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=%s\n",
             YARD_TEST_PLUGIN_DIR, th_broker_bootstrap(r->broker),
             yard_pgtmp_dsn(pg), name);
    return yard_test_write(r->dir, "host.ini", host) == 0 &&
           yard_test_write(r->dir, "50-counter.ini",
                           "[plugin]\npath = counter.so\n") == 0;
}

static void run_teardown(run *r)
{
    th_broker_stop(r->broker);
    PQfinish(r->db);
    if (r->dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(r->dir);
    free(r->dir);
}

static void event_id(const run *r, int i, char *buf, size_t len)
{
    th_counter_id(r->name, i, buf, len);
}

static bool produce_one(rd_kafka_t *p, const run *r, int i)
{
    return th_counter_produce(p, r->name, i, KEYS);
}

/* The stream: every event once, and every DUP_EVERY-th again DUP_LAG
 * events later.  Returns the number of messages produced. */
static int produce_stream(const run *r)
{
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r->broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int sent = 0;
    for (int i = 0; i < EVENTS + DUP_LAG; i++) {
        if (i < EVENTS && produce_one(p, r, i))
            sent++;
        int d = i - DUP_LAG;
        if (d >= 0 && d % DUP_EVERY == DUP_EVERY - 1 && produce_one(p, r, d))
            sent++;
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
    return sent;
}

/* The invariants of issue #2, after the host has drained. */
static void check_invariants(const run *r)
{
    th_counter_check(r->db, th_broker_bootstrap(r->broker), r->name, EVENTS,
                     KEYS, PARTITIONS);
}

static void test_stream_exactly_once(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup(&r, "stream"));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    long long t0 = yard_test_now_ms();
    int sent = produce_stream(&r);
    CU_ASSERT_EQUAL(sent, EVENTS + EVENTS / DUP_EVERY);
    /* All effects in, outbox empty. */
    long long v = th_wait_num(r.db, th_counter_drained_sql, EVENTS, 180000);
    CU_ASSERT_EQUAL(v, EVENTS);
    printf("\n  stream: drained in %lld ms\n", yard_test_now_ms() - t0);
    kill(host, SIGTERM);
    int st = th_host_wait(host, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_invariants(&r);
    run_teardown(&r);
}

static void test_crash_and_restart(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup(&r, "crash"));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    int sent = produce_stream(&r);
    CU_ASSERT_EQUAL(sent, EVENTS + EVENTS / DUP_EVERY);
    /* Kill it mid-stream: some effects committed, some not. */
    long long before = -1;
    for (int i = 0; i < 1200; i++) {
        before = th_sql_num(r.db, "SELECT count(*) FROM counter_effect");
        if (before >= EVENTS / 4)
            break;
        usleep(50000);
    }
    kill(host, SIGKILL);
    CU_ASSERT_TRUE(th_host_wait(host, 10000) >= 0);
    long long at_kill = th_sql_num(r.db, "SELECT count(*) FROM counter_effect");
    printf("\n  crash: killed with %lld of %d effects committed\n", at_kill, EVENTS);
    CU_ASSERT_TRUE(at_kill > 0 && at_kill < EVENTS);

    host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    long long v = th_wait_num(r.db, th_counter_drained_sql, EVENTS, 180000);
    CU_ASSERT_EQUAL(v, EVENTS);
    kill(host, SIGTERM);
    int st = th_host_wait(host, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_invariants(&r);
    run_teardown(&r);
}

/* A handler statement fails and the handler does not notice: the event
 * goes to the DLQ as HANDLER_SQL_ERROR with none of its effects, and the
 * other events of its batch commit. */
static void test_failed_statement_found_out(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup(&r, "sqlfail"));
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    char id[64], key[16];
    for (int i = 0; i < 200; i++) {
        event_id(&r, i, id, sizeof id);
        snprintf(key, sizeof key, "key-%02d", i % 4);
        CU_ASSERT_TRUE(th_produce_ce(p, r.input, key, id, r.input,
                                     i == 77 ? "{\"seq\":77,\"bad_sql\":true}"
                                             : "{\"seq\":0}"));
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM yard_dead_letter", 1, 60000), 1);
    long long drained = th_wait_num(r.db, th_counter_drained_sql, 199, 60000);
    if (drained != 199)
        printf("\n  sqlfail: effects + 1e6 x unpublished = %lld", drained);
    CU_ASSERT_EQUAL(drained, 199);
    kill(host, SIGTERM);
    CU_ASSERT_TRUE(th_host_wait(host, 30000) >= 0);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_dead_letter WHERE"
                                     " error_code = 'HANDLER_SQL_ERROR' AND"
                                     " event_id = 'sqlfail-evt-000077'"),
                    1);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM counter_effect WHERE"
                                     " event_id = 'sqlfail-evt-000077'"),
                    0);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_inbox"), 200);
    run_teardown(&r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"20k events, 10% redelivered: effects once, order kept", test_stream_exactly_once},
        {"SIGKILL mid-stream and restart: same invariants", test_crash_and_restart},
        {"a failed statement the handler ignored: DLQ, batch intact",
         test_failed_statement_found_out},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("pipeline", suite_init, suite_clean, tests);
}
