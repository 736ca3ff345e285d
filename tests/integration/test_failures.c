/*
 * Failure handling (issue #3), with real parts: one throwaway PostgreSQL
 * for the binary, a test broker process per scenario, the host as a child
 * process.
 *
 *  - poison pill and retries: 10,000 good events on one partition with a
 *    poison pill, transient failures and a retry-forever event among them
 *    (the faulty plugin); then `switchyard dlq` list, show, replay (dry run
 *    and real) on what landed in the dead letter table.
 *  - malformed input: one message of each kind the envelope refuses, each
 *    a dead letter with its own error code; the host keeps running.
 *  - infrastructure faults under a 20,000-event stream (counter plugin):
 *    PostgreSQL restarted, the host's backends terminated, the broker
 *    down and up.  Nothing lost, nothing applied twice, no dead letters.
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

#define GOOD 10000
#define KEYS 50
#define RETRY_INITIAL_MS 400
#define RETRY_MAX_MS 1600
#define RETRY_MAX_ATTEMPTS 4
/* Sum of the longest backoffs before the last attempt. */
#define RETRY_BUDGET_MS (400 + 800 + 1600)
#define SLACK_MS 1500 /* scheduling, batch redo, sanitizers */
#define HUGE_BYTES (1024 * 1024 + 4096) /* over the 1 MiB event limit */

static yard_pgtmp *pg;
static PGconn *admin;

static int suite_init(void) { return th_pg_start(&pg, &admin); }

static int suite_clean(void)
{
    th_pg_stop(pg, admin);
    return 0;
}

typedef struct run {
    const char *name; /* database, topic prefix */
    th_broker *broker;
    char *dir;
    PGconn *db;
    char input[64];
    char calls[1100]; /* the faulty plugin's call log */
} run;

/* A database, a broker with <name>.input (1 partition unless given) and
 * the DLQ topic, a conf dir with the plugin; host_extra: more [host]
 * lines, or NULL. */
static bool run_setup_with(run *r, const char *name, const char *plugin,
                           int partitions, const char *extra_topic,
                           const char *host_extra, int retry_initial_ms)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    snprintf(r->input, sizeof r->input, "%s.input", name);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!th_sql(admin, sql))
        return false;
    r->db = th_connect(yard_pgtmp_dsn(pg), name);
    char t1[80], t2[80];
    snprintf(t1, sizeof t1, "%s:%d", r->input, partitions);
    snprintf(t2, sizeof t2, "dlq.%s:1", plugin);
    const char *topics[] = {t1, t2, extra_topic};
    r->broker = th_broker_start(1, topics, extra_topic ? 3 : 2);
    r->dir = yard_test_tmpdir(name);
    if (!r->db || !r->broker || !r->dir)
        return false;
    snprintf(r->calls, sizeof r->calls, "%s/calls.log", r->dir);
    char host[3072];
    snprintf(host, sizeof host,
             "[host]\n%sbatch_size = 64\nplugin_dir = %s\n"
             "shutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=%s\n",
             host_extra ? host_extra : "workers = 4\n", YARD_TEST_PLUGIN_DIR,
             th_broker_bootstrap(r->broker), yard_pgtmp_dsn(pg), name);
    char pl[1400];
    snprintf(pl, sizeof pl,
             "[plugin]\npath = %s.so\nretry_initial_ms = %d\n"
             "retry_max_ms = %d\nretry_max_attempts = %d\n\n"
             "[settings]\ncall_log = %s\n",
             plugin, retry_initial_ms ? retry_initial_ms : RETRY_INITIAL_MS,
             retry_initial_ms ? 4 * retry_initial_ms : RETRY_MAX_MS,
             RETRY_MAX_ATTEMPTS, r->calls);
    char plname[64];
    snprintf(plname, sizeof plname, "50-%s.ini", plugin);
    return yard_test_write(r->dir, "host.ini", host) == 0 &&
           yard_test_write(r->dir, plname, pl) == 0;
}

static bool run_setup(run *r, const char *name, const char *plugin,
                      int partitions, const char *extra_topic)
{
    return run_setup_with(r, name, plugin, partitions, extra_topic, NULL, 0);
}

static void run_teardown(run *r)
{
    th_broker_stop(r->broker);
    PQfinish(r->db);
    if (r->dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(r->dir);
    free(r->dir);
}

/* The host has started and applied the plugin's migrations. */
static void wait_ready(const run *r, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_tables WHERE tablename = '%s'", table);
    CU_ASSERT_EQUAL(th_wait_num(r->db, sql, 1, 60000), 1);
}

static void stop_host(pid_t host)
{
    kill(host, SIGTERM);
    int st = th_host_wait(host, 30000);
    CU_ASSERT_TRUE(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!(st >= 0 && WIFEXITED(st)))
        printf("\n  host status %d (signal %d)\n", st,
               st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* ---- the call log of the faulty plugin --------------------------------- */

#define MAX_ATTEMPTS_SEEN 16

typedef struct calls {
    unsigned attempts;                     /* highest attempt seen */
    unsigned n_calls;
    long long first_ms[MAX_ATTEMPTS_SEEN]; /* first call of each attempt */
} calls;

static calls calls_of(const run *r, const char *id)
{
    calls c = {0};
    FILE *f = fopen(r->calls, "r");
    if (!f)
        return c;
    char eid[128];
    unsigned att, call;
    long long ms;
    while (fscanf(f, "%127s %u %u %lld", eid, &att, &call, &ms) == 4) {
        if (strcmp(eid, id) != 0)
            continue;
        c.n_calls++;
        if (att > c.attempts)
            c.attempts = att;
        if (att && att <= MAX_ATTEMPTS_SEEN && !c.first_ms[att - 1])
            c.first_ms[att - 1] = ms;
    }
    fclose(f);
    return c;
}

/* The backoff before attempt a+1: between d/2 and d, d = initial * 2^(a-1)
 * capped at max (engine.c backoff_ms). */
static void check_backoff(const char *id, const calls *c)
{
    for (unsigned a = 1; a < c->attempts; a++) {
        long long d = RETRY_INITIAL_MS;
        for (unsigned i = 1; i < a && d < RETRY_MAX_MS; i++)
            d *= 2;
        if (d > RETRY_MAX_MS)
            d = RETRY_MAX_MS;
        long long gap = c->first_ms[a] - c->first_ms[a - 1];
        printf("\n  %s: attempt %u -> %u after %lld ms (backoff %lld..%lld)", id,
               a, a + 1, gap, d / 2, d);
        CU_ASSERT_TRUE(gap >= d / 2 - 2);
        CU_ASSERT_TRUE(gap <= d + SLACK_MS);
    }
}

/* ---- producing ---------------------------------------------------------- */

typedef struct hdr {
    const char *name;
    const char *value; /* NULL: a null header */
    size_t len;        /* 0: strlen(value) */
} hdr;

static bool produce_raw(rd_kafka_t *p, const char *topic, const char *key,
                        const void *value, size_t len, const hdr *h, size_t nh)
{
    for (;;) {
        rd_kafka_headers_t *hs = rd_kafka_headers_new(nh ? nh : 1);
        for (size_t i = 0; i < nh; i++)
            rd_kafka_header_add(hs, h[i].name, -1, h[i].value,
                                h[i].value ? (ssize_t)(h[i].len ? h[i].len
                                                                : strlen(h[i].value))
                                           : 0);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hs),
            RD_KAFKA_V_END);
        if (!e)
            return true;
        rd_kafka_headers_destroy(hs);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            return false;
        }
        rd_kafka_poll(p, 50);
    }
}

/* ---- poison pill, retries, DLQ and replay ------------------------------- */

typedef struct special {
    int at;           /* produced before good event #at */
    const char *id;
    const char *mode; /* payload "mode" and extra fields */
    unsigned want_attempts;
    const char *want_code; /* dead letter code, or NULL: handled */
} special;

static const special specials[] = {
    {2000, "poison-transient-1", "\"mode\":\"retry\",\"k\":1", 2, NULL},
    {4000, "poison-transient-2", "\"mode\":\"retry\",\"k\":2", 3, NULL},
    {5000, "poison-pill", "\"mode\":\"reject_first\"", 1, "REJECTED"},
    {6000, "poison-transient-3", "\"mode\":\"retry\",\"k\":3", 4, NULL},
    {8000, "poison-forever", "\"mode\":\"retry_always\"",
     RETRY_MAX_ATTEMPTS, "RETRIES_EXHAUSTED"},
    /* An emit the broker would refuse is refused at emit: the handler
     * rejects, and the relay is not held up by an unpublishable row. */
    {9000, "poison-emit-huge", "\"mode\":\"emit_huge\"", 1, "REJECTED"},
};
#define N_SPECIAL (sizeof specials / sizeof specials[0])
#define N_HANDLED_SPECIAL 3
#define N_DLQ_SPECIAL 3

/* Run `switchyard dlq ARGS` and capture its stdout; returns the exit code
 * (or -1). */
static int dlq_cli(const run *r, const char *args, char *out, size_t outlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s dlq --conf-dir %s %s 2>&1", YARD_SWITCHYARD_BIN,
             r->dir, args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct dlq_seen {
    int count;
    int complete; /* messages with every dlq_* context header */
    int with_id;  /* ... and the original ce_id and ce_type */
    int omitted;  /* value left out (too large), size in a header */
} dlq_seen;

static void on_dlq_msg(void *arg, const rd_kafka_message_t *m)
{
    dlq_seen *s = arg;
    static const char *const need[] = {
        "dlq_error_code", "dlq_error_message", "dlq_attempts",
        "dlq_plugin",     "dlq_plugin_version", "dlq_group",
        "dlq_topic",      "dlq_partition",     "dlq_offset",
        "dlq_failed_at",
    };
    char buf[256];
    bool all = true;
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        all = all && th_header(m, need[i], buf, sizeof buf);
    s->count++;
    s->complete += all;
    s->with_id += all && th_header(m, "ce_id", buf, sizeof buf) &&
                  th_header(m, "ce_type", buf, sizeof buf);
    s->omitted += th_header(m, "dlq_value_omitted", buf, sizeof buf) &&
                  atol(buf) == HUGE_BYTES && m->len == 0;
}

static void test_poison_retries_replay(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup(&r, "poison", "faulty", 1, NULL));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    wait_ready(&r, "faulty_effect");
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t next = 0;
    for (int i = 0; i < GOOD; i++) {
        char key[16], id[64], payload[320];
        snprintf(key, sizeof key, "key-%02d", i % KEYS);
        while (next < N_SPECIAL && specials[next].at == i) {
            snprintf(payload, sizeof payload, "{\"seq\":%d,%s}", i / KEYS,
                     specials[next].mode);
            CU_ASSERT_TRUE(th_produce_ce(p, r.input, key, specials[next].id,
                                         r.input, payload));
            next++;
        }
        snprintf(id, sizeof id, "good-%05d", i);
        snprintf(payload, sizeof payload, "{\"seq\":%d,\"pad\":\"%0200d\"}",
                 i / KEYS, 0);
        CU_ASSERT_TRUE(th_produce_ce(p, r.input, key, id, r.input, payload));
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    const char *drained =
        "SELECT (SELECT count(*) FROM faulty_effect)"
        " + (SELECT count(*) FROM yard_dead_letter) * 100000"
        " + (SELECT count(*) FROM yard_outbox) * 10000000";
    long long want = GOOD + N_HANDLED_SPECIAL + N_DLQ_SPECIAL * 100000;
    long long t0 = yard_test_now_ms();
    CU_ASSERT_EQUAL(th_wait_num(r.db, drained, want, 180000), want);
    printf("\n  poison: drained %d events in %lld ms", GOOD + (int)N_SPECIAL,
           yard_test_now_ms() - t0);

    /* Every good event once; the handled specials once; no effect of the
     * dead-lettered ones. */
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(DISTINCT event_id) FROM faulty_effect"),
                    GOOD + N_HANDLED_SPECIAL);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM faulty_effect WHERE"
                                     " event_id IN ('poison-pill', 'poison-forever',"
                                     " 'poison-emit-huge')"),
                    0);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_inbox"),
                    GOOD + (long long)N_SPECIAL);
    /* Per-key order kept around the failures. */
    CU_ASSERT_EQUAL(
        th_sql_num(r.db,
                   "SELECT count(*) FROM (SELECT (payload->>'seq')::int AS s,"
                   " lag((payload->>'seq')::int) OVER (PARTITION BY pkey ORDER BY id) AS p"
                   " FROM faulty_effect WHERE event_id LIKE 'good-%') x"
                   " WHERE p IS NOT NULL AND s <> p + 1"),
        0);

    /* Attempts and backoff, as the plugin saw them. */
    for (size_t i = 0; i < N_SPECIAL; i++) {
        calls c = calls_of(&r, specials[i].id);
        printf("\n  %s: %u attempt(s) in %u handler call(s)", specials[i].id,
               c.attempts, c.n_calls);
        CU_ASSERT_EQUAL(c.attempts, specials[i].want_attempts);
        /* One call per attempt, plus at most one for the fast path of the
         * first attempt when it gives way to the careful one. */
        CU_ASSERT_TRUE(c.n_calls <= c.attempts + 1);
        check_backoff(specials[i].id, &c);
    }

    /* The dead letters: code, attempts and full context. */
    char sql[1024];
    for (size_t i = 0; i < N_SPECIAL; i++) {
        if (!specials[i].want_code)
            continue;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM yard_dead_letter WHERE event_id = '%s'"
                 " AND error_code = '%s' AND attempts = %u AND plugin = 'faulty'"
                 " AND consumer_group = 'faulty' AND event_type = '%s'"
                 " AND topic = '%s' AND kafka_partition = 0 AND kafka_offset >= 0"
                 " AND original_key IS NOT NULL AND error_message <> ''"
                 " AND convert_from(original_value, 'UTF8') LIKE '%%mode%%'"
                 " AND original_headers @> '[[\"ce_id\", \"%s\"]]'"
                 " AND replayed_at IS NULL",
                 specials[i].id, specials[i].want_code,
                 specials[i].want_attempts, r.input, r.input, specials[i].id);
        CU_ASSERT_EQUAL(th_sql_num(r.db, sql), 1);
    }
    /* The partition was not held up: each failing event's key moved on
     * within the retry budget of its first attempt (all specials share
     * key-00, produced just before a good event of the same seq). */
    for (size_t i = 0; i < N_SPECIAL; i++) {
        calls sc = calls_of(&r, specials[i].id);
        snprintf(sql, sizeof sql,
                 "SELECT (extract(epoch FROM min(at)) * 1000)::bigint FROM faulty_effect"
                 " WHERE pkey = 'key-00' AND event_id LIKE 'good-%%'"
                 " AND (payload->>'seq')::int >= %d",
                 specials[i].at / KEYS);
        long long next_ms = th_sql_num(r.db, sql);
        printf("\n  %s: next event of its key handled %lld ms after its first call",
               specials[i].id, next_ms - sc.first_ms[0]);
        CU_ASSERT_TRUE(next_ms - sc.first_ms[0] < RETRY_BUDGET_MS + SLACK_MS);
    }

    /* The DLQ topic: each, with the original id and the context headers. */
    dlq_seen ds = {0};
    long n = th_consume_all(th_broker_bootstrap(r.broker), "dlq.faulty", 1,
                            on_dlq_msg, &ds);
    CU_ASSERT_EQUAL(n, N_DLQ_SPECIAL);
    CU_ASSERT_EQUAL(ds.complete, N_DLQ_SPECIAL);
    CU_ASSERT_EQUAL(ds.with_id, N_DLQ_SPECIAL);

    /* switchyard dlq list / show. */
    char out[16384];
    CU_ASSERT_EQUAL(dlq_cli(&r, "list", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "poison-pill"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 dead letter(s)"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "list --code REJECTED --json", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"code\": \"REJECTED\""));
    CU_ASSERT_PTR_NULL(strstr(out, "poison-forever"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "list --group faulty --since 1h --type poison.input",
                            out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 dead letter(s)"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "list --until 1h", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 dead letter(s)"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "list --group nobody", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 dead letter(s)"));

    long long pill = th_sql_num(r.db, "SELECT id FROM yard_dead_letter"
                                      " WHERE event_id = 'poison-pill'");
    long long forever = th_sql_num(r.db, "SELECT id FROM yard_dead_letter"
                                         " WHERE event_id = 'poison-forever'");
    char args[128];
    snprintf(args, sizeof args, "show %lld --json", pill);
    CU_ASSERT_EQUAL(dlq_cli(&r, args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"original_headers\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "reject_first"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"inbox_row\": true"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "show 999999", out, sizeof out), 4);

    /* Dry run: says what it would do and changes nothing. */
    long long outbox_ids = th_sql_num(r.db, "SELECT coalesce(max(id), 0) FROM yard_outbox");
    (void)outbox_ids;
    snprintf(args, sizeof args, "replay %lld --dry-run", pill);
    CU_ASSERT_EQUAL(dlq_cli(&r, args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "would replay"));
    CU_ASSERT_EQUAL(dlq_cli(&r, "replay --all --dry-run", out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 dead letter(s) would be replayed"));
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_dead_letter"
                                     " WHERE replayed_at IS NOT NULL"),
                    0);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_inbox WHERE"
                                     " event_id IN ('poison-pill', 'poison-forever')"),
                    2);
    usleep(500000);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM faulty_effect"
                                     " WHERE event_id = 'poison-pill'"),
                    0);

    /* Replay the poison pill: it goes through this time, exactly once. */
    snprintf(args, sizeof args, "replay %lld", pill);
    CU_ASSERT_EQUAL(dlq_cli(&r, args, out, sizeof out), 0);
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM faulty_effect"
                                      " WHERE event_id = 'poison-pill'",
                                1, 60000),
                    1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM yard_dead_letter WHERE id = %lld"
             " AND replayed_at IS NOT NULL", pill);
    CU_ASSERT_EQUAL(th_sql_num(r.db, sql), 1);
    /* A second replay of the same dead letter is refused. */
    CU_ASSERT_EQUAL(dlq_cli(&r, args, out, sizeof out), 4);

    /* Replay the one that always fails: it comes back as a new dead
     * letter, with its attempts, and the old one stays replayed. */
    snprintf(args, sizeof args, "replay --code RETRIES_EXHAUSTED");
    CU_ASSERT_EQUAL(dlq_cli(&r, args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 dead letter(s) replayed"));
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM yard_dead_letter"
                                      " WHERE event_id = 'poison-forever'",
                                2, 60000),
                    2);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM yard_dead_letter WHERE event_id = 'poison-forever'"
             " AND id > %lld AND replayed_at IS NULL AND attempts = %d"
             " AND error_code = 'RETRIES_EXHAUSTED'",
             forever, RETRY_MAX_ATTEMPTS);
    CU_ASSERT_EQUAL(th_sql_num(r.db, sql), 1);

    /* Nothing else moved: every good event still once. */
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM yard_outbox", 0, 30000), 0);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM faulty_effect"),
                    GOOD + N_HANDLED_SPECIAL + 1);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(DISTINCT event_id) FROM faulty_effect"),
                    GOOD + N_HANDLED_SPECIAL + 1);
    stop_host(host);
    printf("\n");
    run_teardown(&r);
}

/* ---- malformed input ----------------------------------------------------- */

typedef struct bad {
    const char *what;
    const char *value; /* NULL: no value */
    size_t len;        /* 0: strlen */
    hdr h[5];
    size_t nh;
    const char *code;
} bad;

#define CE(id, type) {"ce_specversion", "1.0", 0}, {"ce_id", id, 0}, \
                     {"ce_type", type, 0}

static const bad bads[] = {
    {"binary CE, value not JSON", "{not json", 0, {CE("m1", "bad.input")}, 3,
     "PAYLOAD_NOT_JSON"},
    {"binary CE, truncated JSON", "{\"a\":[1,2", 0, {CE("m2", "bad.input")}, 3,
     "PAYLOAD_NOT_JSON"},
    {"binary garbage", "\xff\xfe\x00\x01\x80garbage", 12, {CE("m3", "bad.input")},
     3, "PAYLOAD_NOT_JSON"},
    {"empty value", "", 0, {CE("m4", "bad.input")}, 3, "EMPTY_PAYLOAD"},
    {"no value at all", NULL, 0, {CE("m5", "bad.input")}, 3, "EMPTY_PAYLOAD"},
    {"huge value over the limit", "HUGE", 0, {CE("m6", "bad.input")}, 3,
     "PAYLOAD_TOO_LARGE"},
    {"no headers, object without id", "{\"foo\":1}", 0, {{0}}, 0,
     "UNKNOWN_ENVELOPE"},
    {"no headers, JSON array", "[1,2,3]", 0, {{0}}, 0, "UNKNOWN_ENVELOPE"},
    {"binary CE without ce_id", "{}", 0,
     {{"ce_specversion", "1.0", 0}, {"ce_type", "bad.input", 0}}, 2, "MISSING_ID"},
    {"binary CE without ce_type", "{}", 0,
     {{"ce_specversion", "1.0", 0}, {"ce_id", "m10", 0}}, 2, "MISSING_TYPE"},
    {"binary CE, specversion 0.3", "{}", 0,
     {{"ce_specversion", "0.3", 0}, {"ce_id", "m11", 0}, {"ce_type", "bad.input", 0}},
     3, "UNSUPPORTED_SPECVERSION"},
    {"binary CE, ce_id with a NUL byte", "{}", 0,
     {{"ce_specversion", "1.0", 0}, {"ce_id", "m1\0x", 4}, {"ce_type", "bad.input", 0}},
     3, "INVALID_ATTRIBUTE"},
    {"binary CE, ce_type not UTF-8", "{}", 0,
     {{"ce_specversion", "1.0", 0}, {"ce_id", "m13", 0}, {"ce_type", "bad\xff\xfe", 0}},
     3, "INVALID_ATTRIBUTE"},
    {"structured CE, specversion 0.3",
     "{\"specversion\":\"0.3\",\"id\":\"m14\",\"type\":\"bad.input\",\"data\":{}}", 0,
     {{0}}, 0, "UNSUPPORTED_SPECVERSION"},
    {"structured CE, id is a number",
     "{\"specversion\":\"1.0\",\"id\":14,\"type\":\"bad.input\",\"data\":{}}", 0,
     {{0}}, 0, "INVALID_ATTRIBUTE"},
    {"structured CE without data",
     "{\"specversion\":\"1.0\",\"id\":\"m16\",\"type\":\"bad.input\"}", 0, {{0}}, 0,
     "MISSING_DATA"},
    {"structured CE without type",
     "{\"specversion\":\"1.0\",\"id\":\"m17\",\"data\":{}}", 0, {{0}}, 0,
     "MISSING_TYPE"},
    {"flat record, empty event_id", "{\"event_id\":\"\",\"x\":1}", 0, {{0}}, 0,
     "MISSING_ID"},
    {"flat record, event_id a number", "{\"event_id\":18,\"x\":1}", 0, {{0}}, 0,
     "INVALID_ATTRIBUTE"},
    {"flat record, event_type an object",
     "{\"event_id\":\"m20\",\"event_type\":{},\"x\":1}", 0, {{0}}, 0,
     "INVALID_ATTRIBUTE"},
    {"conflicting envelopes: ce_* headers and a structured content-type",
     "{\"specversion\":\"1.0\",\"id\":\"other\",\"type\":\"bad.input\",\"data\":{}}",
     0,
     {CE("m21", "bad.input"), {"content-type", "application/cloudevents+json", 0}},
     4, "CONFLICTING_ENVELOPE"},
};
#define N_BAD (sizeof bads / sizeof bads[0])

static void test_malformed(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup(&r, "bad", "faulty", 1, NULL));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    wait_ready(&r, "faulty_effect");

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", th_broker_bootstrap(r.broker), e,
                      sizeof e);
    rd_kafka_conf_set(conf, "message.max.bytes", "4000000", e, sizeof e);
    rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof e);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *huge = malloc(HUGE_BYTES);
    memset(huge, ' ', HUGE_BYTES);
    memcpy(huge, "{\"x\":1", 6);
    huge[HUGE_BYTES - 1] = '}';
    /* One at a time, flushed, so the offsets follow the table. */
    for (size_t i = 0; i < N_BAD; i++) {
        const bad *b = &bads[i];
        bool is_huge = b->value && strcmp(b->value, "HUGE") == 0;
        const char *v = is_huge ? huge : b->value;
        size_t len = is_huge ? HUGE_BYTES : b->len ? b->len : v ? strlen(v) : 0;
        CU_ASSERT_TRUE(produce_raw(p, r.input, "k", v, len, b->h, b->nh));
        CU_ASSERT_EQUAL(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    free(huge);
    /* A good event last: when it is handled, everything before it was. */
    hdr ok[] = {CE("good-after-bad", "bad.input")};
    /* ... and slower than the handler deadline, which the host logs. */
    const char *slow = "{\"mode\":\"slow\",\"ms\":5300}";
    CU_ASSERT_TRUE(produce_raw(p, r.input, "k", slow, strlen(slow), ok, 3));
    CU_ASSERT_EQUAL(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(p);

    long long want = 1 + (long long)N_BAD * 1000;
    CU_ASSERT_EQUAL(th_wait_num(r.db,
                                "SELECT (SELECT count(*) FROM faulty_effect)"
                                " + (SELECT count(*) FROM yard_dead_letter) * 1000",
                                want, 120000),
                    want);
    /* The host is alive and well. */
    CU_ASSERT_EQUAL(waitpid(host, NULL, WNOHANG), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "grep -q 'handler exceeded its deadline.*event_id=good-after-bad'"
             " %s/host.log", r.dir);
    CU_ASSERT_EQUAL(system(cmd), 0);

    int wrong = 0;
    for (size_t i = 0; i < N_BAD; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM yard_dead_letter WHERE kafka_offset = %zu"
                 " AND error_code = '%s' AND error_message <> ''"
                 " AND topic = 'bad.input' AND consumer_group = 'faulty'",
                 i, bads[i].code);
        if (th_sql_num(r.db, sql) != 1) {
            wrong++;
            char q[160];
            snprintf(q, sizeof q,
                     "SELECT error_code || ': ' || error_message FROM yard_dead_letter"
                     " WHERE kafka_offset = %zu", i);
            PGresult *res = PQexec(r.db, q);
            printf("\n  %-60s want %s, got %s", bads[i].what, bads[i].code,
                   PQntuples(res) ? PQgetvalue(res, 0, 0) : "(nothing)");
            PQclear(res);
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
    printf("\n  malformed: %zu kinds, %zu dead letters, %d with the wrong code",
           N_BAD, (size_t)th_sql_num(r.db, "SELECT count(*) FROM yard_dead_letter"),
           wrong);
    /* Each also on the DLQ topic. */
    dlq_seen ds = {0};
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM yard_outbox", 0, 30000), 0);
    long n = th_consume_all(th_broker_bootstrap(r.broker), "dlq.faulty", 1,
                            on_dlq_msg, &ds);
    CU_ASSERT_EQUAL(n, (long)N_BAD);
    CU_ASSERT_EQUAL(ds.complete, (int)N_BAD);
    CU_ASSERT_EQUAL(ds.omitted, 1);
    stop_host(host);
    printf("\n");
    run_teardown(&r);
}

/* ---- infrastructure faults under a stream -------------------------------- */

#define STREAM 20000
#define STREAM_PARTITIONS 4

/* Queue events [from, to) of the stream on producer p. */
static void produce_range(rd_kafka_t *p, const run *r, int from, int to)
{
    int sent = 0;
    for (int i = from; i < to; i++) {
        char id[64], key[16], payload[320];
        snprintf(id, sizeof id, "%s-evt-%06d", r->name, i);
        snprintf(key, sizeof key, "key-%02d", i % KEYS);
        snprintf(payload, sizeof payload,
                 "{\"key\":\"%s\",\"seq\":%d,\"pad\":\"%0200d\"}", key,
                 i / KEYS, 0);
        sent += th_produce_ce(p, r->input, key, id, r->input, payload);
    }
    CU_ASSERT_EQUAL(sent, to - from);
}

static void produce_stream(const run *r)
{
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r->broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    produce_range(p, r, 0, STREAM);
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
}

static long long effects(const run *r)
{
    return th_sql_num(r->db, "SELECT count(*) FROM counter_effect");
}

/* Wait until at least `n` effects are in (or 3 minutes). */
static long long wait_effects(const run *r, long long n)
{
    long long v = -1;
    for (int i = 0; i < 1800; i++) {
        v = effects(r);
        if (v >= n)
            break;
        usleep(100000);
    }
    return v;
}

typedef struct done_seen {
    const run *r;
    int *count;
} done_seen;

static void on_done(void *arg, const rd_kafka_message_t *m)
{
    done_seen *s = arg;
    const char *src = m->payload ? strstr((const char *)m->payload, "-evt-") : NULL;
    int i = src ? atoi(src + 5) : -1;
    if (i >= 0 && i < STREAM)
        s->count[i]++;
}

/* No loss, no duplicate effect, no dead letter, everything published. */
static void check_stream(const run *r)
{
    const char *drained = "SELECT (SELECT count(*) FROM counter_effect)"
                          " + (SELECT count(*) FROM yard_outbox) * 1000000";
    CU_ASSERT_EQUAL(th_wait_num(r->db, drained, STREAM, 180000), STREAM);
    CU_ASSERT_EQUAL(th_sql_num(r->db, "SELECT count(DISTINCT event_id) FROM counter_effect"),
                    STREAM);
    CU_ASSERT_EQUAL(th_sql_num(r->db, "SELECT count(*) FROM yard_inbox"), STREAM);
    CU_ASSERT_EQUAL(th_sql_num(r->db, "SELECT count(*) FROM yard_dead_letter"), 0);
    CU_ASSERT_EQUAL(
        th_sql_num(r->db,
                   "SELECT count(*) FROM (SELECT (payload->>'seq')::int AS s,"
                   " lag((payload->>'seq')::int) OVER (PARTITION BY pkey ORDER BY id) AS p"
                   " FROM counter_effect) x WHERE p IS NOT NULL AND s <> p + 1"),
        0);
    done_seen s = {.r = r, .count = calloc(STREAM, sizeof(int))};
    char done[80];
    snprintf(done, sizeof done, "%s.done", r->name);
    long n = th_consume_all(th_broker_bootstrap(r->broker), done, STREAM_PARTITIONS,
                            on_done, &s);
    long missing = 0;
    for (int i = 0; i < STREAM; i++)
        missing += s.count[i] == 0;
    CU_ASSERT_EQUAL(missing, 0);
    printf("\n  %s: %lld effects, %ld published, %ld missing, %lld dead letters",
           r->name, effects(r), n, missing,
           th_sql_num(r->db, "SELECT count(*) FROM yard_dead_letter"));
    free(s.count);
}

static bool fault_setup(run *r, const char *name)
{
    char done[80];
    snprintf(done, sizeof done, "%s.done:%d", name, STREAM_PARTITIONS);
    return run_setup(r, name, "counter", STREAM_PARTITIONS, done);
}

/* The host's backends of database `db` terminated, mid-transaction or
 * not, `times` times; returns how many were terminated. */
static long long terminate_host_backends(const run *r, int times)
{
    char sql[512];
    long long killed = 0;
    for (int t = 0; t < times; t++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                 " WHERE datname = '%s' AND pid <> %d AND backend_type = 'client backend'",
                 r->name, PQbackendPID(r->db));
        killed += th_sql_num(admin, sql);
        usleep(400000);
    }
    return killed;
}

static void test_postgres_faults(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(fault_setup(&r, "pgfault"));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    wait_ready(&r, "counter_effect");
    produce_stream(&r);

    long long at = wait_effects(&r, STREAM / 5);
    long long killed = terminate_host_backends(&r, 3);
    printf("\n  pgfault: %lld backends terminated at %lld effects", killed, at);
    CU_ASSERT_TRUE(killed > 0);

    at = wait_effects(&r, STREAM / 2);
    char err[1024];
    long long t0 = yard_test_now_ms();
    int rc = yard_pgtmp_restart(pg, "immediate", err, sizeof err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        printf("\n  restart: %s", err);
    PQreset(admin);
    PQreset(r.db);
    printf("\n  pgfault: PostgreSQL restarted (immediate) at %lld effects in %lld ms",
           at, yard_test_now_ms() - t0);
    CU_ASSERT_EQUAL(waitpid(host, NULL, WNOHANG), 0);
    check_stream(&r);
    stop_host(host);
    printf("\n");
    run_teardown(&r);
}

static void test_broker_down_up(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(fault_setup(&r, "kfault"));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    wait_ready(&r, "counter_effect");
    /* Half the stream, then the broker goes away while the host is
     * consuming, committing offsets and publishing; the other half waits
     * in the producer and arrives when the broker is back. */
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    produce_range(p, &r, 0, STREAM / 2);
    CU_ASSERT_TRUE(th_flush(p));
    long long at = wait_effects(&r, STREAM / 8);
    CU_ASSERT_TRUE(th_broker_cmd(r.broker, "down 1"));
    produce_range(p, &r, STREAM / 2, STREAM);
    usleep(5000000);
    long long during = effects(&r);
    CU_ASSERT_TRUE(th_broker_cmd(r.broker, "up 1"));
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
    printf("\n  kfault: broker down for 5 s at %lld effects (%lld when it came back)",
           at, during);
    CU_ASSERT_EQUAL(waitpid(host, NULL, WNOHANG), 0);
    check_stream(&r);
    stop_host(host);
    printf("\n");
    run_teardown(&r);
}

/* ---- a retry holds back its key, not the others -------------------------- */

#define WAIT_OTHERS 100
#define WAIT_INITIAL_MS 2000 /* backoffs 1-2 s, then 2-4 s */

/* The committed offset of partition 0 of `topic` for `group` (negative:
 * none), read without joining the group. */
static long long committed_offset(const char *bootstrap, const char *group,
                                  const char *topic)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c)
        return -2;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    long long off = -2;
    if (rd_kafka_committed(c, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        !l->elems[0].err)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
    return off;
}

/* One worker, so every key shares it: while the first event waits between
 * its attempts, the other keys' events are handled; the next event of its
 * key waits for it, and the committed offset stays at the waiting one. */
static void test_retry_other_keys(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup_with(&r, "waits", "faulty", 1, NULL,
                                        "workers = 1\n", WAIT_INITIAL_MS));
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    wait_ready(&r, "faulty_effect");
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* Offsets 0 and 1: the retrying event and the next of its key. */
    CU_ASSERT_TRUE(th_produce_ce(p, r.input, "slow", "waits-retry", r.input,
                                 "{\"seq\":0,\"mode\":\"retry\",\"k\":2}"));
    CU_ASSERT_TRUE(th_produce_ce(p, r.input, "slow", "waits-next", r.input,
                                 "{\"seq\":1}"));
    for (int i = 0; i < WAIT_OTHERS; i++) {
        char key[16], id[32], payload[64];
        snprintf(key, sizeof key, "other-%02d", i % 20);
        snprintf(id, sizeof id, "other-%03d", i);
        snprintf(payload, sizeof payload, "{\"seq\":%d}", i / 20);
        CU_ASSERT_TRUE(th_produce_ce(p, r.input, key, id, r.input, payload));
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM faulty_effect"
                                      " WHERE event_id LIKE 'other-%'",
                                WAIT_OTHERS, 60000),
                    WAIT_OTHERS);
    const char *waiting = "SELECT count(*) FROM faulty_effect"
                          " WHERE event_id LIKE 'waits-%'";
    long long before = th_sql_num(r.db, waiting);
    long long off = committed_offset(th_broker_bootstrap(r.broker), "faulty",
                                     r.input);
    long long after = th_sql_num(r.db, waiting);
    printf("\n  others handled; the waiting key has %lld effect(s), committed"
           " offset %lld",
           after, off);
    CU_ASSERT_EQUAL(before, 0); /* else the premise (it still waits) failed */
    CU_ASSERT_EQUAL(after, 0);
    CU_ASSERT_TRUE(off <= 0);

    CU_ASSERT_EQUAL(th_wait_num(r.db, waiting, 2, 60000), 2);
    calls c = calls_of(&r, "waits-retry");
    CU_ASSERT_EQUAL(c.attempts, 3);
    /* The others committed before the waiting event; its key kept order. */
    CU_ASSERT_EQUAL(th_sql_num(r.db,
                               "SELECT ((SELECT max(at) FROM faulty_effect WHERE"
                               " event_id LIKE 'other-%') < (SELECT at FROM"
                               " faulty_effect WHERE event_id = 'waits-retry'))::int"),
                    1);
    CU_ASSERT_EQUAL(th_sql_num(r.db,
                               "SELECT ((SELECT id FROM faulty_effect WHERE event_id"
                               " = 'waits-retry') < (SELECT id FROM faulty_effect"
                               " WHERE event_id = 'waits-next'))::int"),
                    1);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM faulty_effect"),
                    WAIT_OTHERS + 2);
    /* Once it is done, the committed offset moves past everything. */
    long long t0 = yard_test_now_ms();
    while ((off = committed_offset(th_broker_bootstrap(r.broker), "faulty",
                                   r.input)) != WAIT_OTHERS + 2 &&
           yard_test_now_ms() - t0 < 20000)
        usleep(200 * 1000);
    CU_ASSERT_EQUAL(off, WAIT_OTHERS + 2);
    stop_host(host);
    run_teardown(&r);
}

/* ---- a plugin that crashes the host on one event ------------------------ */

#define CRASH_EVENTS 300
#define CRASH_AT 150
#define MAX_CRASHES 3

/* Like a supervisor: wait for the host to die, or for `sql` to reach
 * `want`.  Returns true when the host died (status in *st). */
static bool died_before(pid_t host, PGconn *db, const char *sql, long long want,
                        int *st)
{
    long long t0 = yard_test_now_ms();
    while (yard_test_now_ms() - t0 < 120000) {
        if (waitpid(host, st, WNOHANG) == host)
            return true;
        if (th_sql_num(db, sql) == want)
            return false;
        usleep(100 * 1000);
    }
    CU_FAIL("neither died nor finished in 120 s");
    return false;
}

static void test_crash_loop(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup_with(&r, "crashes", "faulty", 1, NULL,
                                        "workers = 2\nstate_dir = .\n"
                                        "max_crashes = 3\n",
                                        0));
    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < CRASH_EVENTS; i++) {
        char key[16], id[32], payload[96];
        snprintf(key, sizeof key, "key-%02d", i % 10);
        if (i == CRASH_AT)
            snprintf(id, sizeof id, "crash-me");
        else
            snprintf(id, sizeof id, "calm-%03d", i);
        snprintf(payload, sizeof payload, "{\"seq\":%d%s}", i / 10,
                 i == CRASH_AT ? ",\"mode\":\"crash\"" : "");
        CU_ASSERT_TRUE(th_produce_ce(p, r.input, key, id, r.input, payload));
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    /* Every calm event handled and the crasher dead-lettered. */
    const char *finished =
        "SELECT (SELECT count(*) FROM faulty_effect) + (SELECT count(*) FROM"
        " yard_dead_letter) * 10000";
    long long want = CRASH_EVENTS - 1 + 10000;
    int deaths = 0, st = 0;
    pid_t host = -1;
    for (int start = 0; start < MAX_CRASHES + 2; start++) {
        host = th_host_spawn(r.dir);
        CU_ASSERT_TRUE_FATAL(host > 0);
        if (start == 0) /* its migrations come before any event */
            wait_ready(&r, "faulty_effect");
        if (!died_before(host, r.db, finished, want, &st))
            break;
        deaths++;
        host = -1;
        printf("\n  host died (%s %d)", WIFSIGNALED(st) ? "signal" : "exit",
               WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        CU_ASSERT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    printf("\n  %d crash(es) before the event was dead-lettered", deaths);
    CU_ASSERT_EQUAL(deaths, MAX_CRASHES);
    CU_ASSERT_EQUAL(th_sql_num(r.db, finished), want);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(DISTINCT event_id) FROM"
                                     " faulty_effect WHERE event_id LIKE 'calm-%'"),
                    CRASH_EVENTS - 1);
    CU_ASSERT_EQUAL(th_sql_num(r.db, "SELECT count(*) FROM yard_dead_letter"
                                     " WHERE event_id = 'crash-me' AND"
                                     " error_code = 'PLUGIN_CRASHED' AND plugin"
                                     " = 'faulty' AND kafka_offset = 150"),
                    1);
    calls c = calls_of(&r, "crash-me");
    CU_ASSERT_EQUAL(c.n_calls, MAX_CRASHES); /* never handed over again */
    /* Handled normally or dead-lettered: no longer on record. */
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM yard_crash_record",
                                0, 10000),
                    0);
    if (host > 0)
        stop_host(host);
    run_teardown(&r);
}

/* ---- a handler stuck past the hard limit ------------------------------ */

#define STUCK_MS 6000

/* Poll GET path until it answers `want` (body kept in *body) or timeout. */
static int poll_http(int port, const char *path, int want, long long timeout_ms,
                     char **body)
{
    long long t0 = yard_test_now_ms();
    int st;
    *body = NULL;
    while ((st = th_http_get(port, path, body)) != want &&
           yard_test_now_ms() - t0 < timeout_ms) {
        free(*body);
        *body = NULL;
        usleep(100 * 1000);
    }
    return st;
}

static bool file_has(const char *dir, const char *name, const char *needle)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Past the deadline: logged with the event id and counted.  Past the hard
 * limit: /healthz fails (naming the worker) while the call lasts, so a
 * supervisor would restart the host; live again once it returns. */
static void test_stuck_handler(void)
{
    run r;
    CU_ASSERT_TRUE_FATAL(run_setup_with(&r, "stuck", "faulty", 1, NULL,
                                        "workers = 2\nhandler_deadline_ms = 300\n"
                                        "handler_hard_limit_ms = 1500\n",
                                        0));
    int port = th_free_port();
    char http[64];
    snprintf(http, sizeof http, "[http]\nlisten = 127.0.0.1:%d\n", port);
    CU_ASSERT_TRUE_FATAL(yard_test_write(r.dir, "20-http.ini", http) == 0);
    pid_t host = th_host_spawn(r.dir);
    CU_ASSERT_TRUE_FATAL(host > 0);
    char *body = NULL;
    CU_ASSERT_EQUAL(poll_http(port, "/readyz", 200, 60000, &body), 200);
    free(body);
    CU_ASSERT_EQUAL(th_http_get(port, "/healthz", NULL), 200);

    rd_kafka_t *p = th_producer(th_broker_bootstrap(r.broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char payload[96];
    snprintf(payload, sizeof payload, "{\"seq\":0,\"mode\":\"slow\",\"ms\":%d}",
             STUCK_MS);
    CU_ASSERT_TRUE(th_produce_ce(p, r.input, "k", "stuck-1", r.input, payload));
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    long long t0 = yard_test_now_ms();
    CU_ASSERT_EQUAL(poll_http(port, "/healthz", 503, STUCK_MS, &body), 503);
    printf("\n  /healthz 503 after %lld ms: %s", yard_test_now_ms() - t0,
           body ? body : "");
    CU_ASSERT_PTR_NOT_NULL(body ? strstr(body, "stuck in a plugin handler") : NULL);
    free(body);
    CU_ASSERT_EQUAL(poll_http(port, "/healthz", 200, STUCK_MS + 10000, &body), 200);
    free(body);
    printf("\n  live again after %lld ms", yard_test_now_ms() - t0);
    CU_ASSERT_TRUE(yard_test_now_ms() - t0 >= STUCK_MS - 1500);
    CU_ASSERT_EQUAL(th_wait_num(r.db, "SELECT count(*) FROM faulty_effect WHERE"
                                      " event_id = 'stuck-1'",
                                1, 20000),
                    1);
    CU_ASSERT_EQUAL(th_http_get(port, "/metrics", &body), 200);
    CU_ASSERT_PTR_NOT_NULL(
        body ? strstr(body, "switchyard_handler_deadline_exceeded_total{plugin="
                            "\"faulty\",group=\"faulty\",topic=\"stuck.input\","
                            "type=\"stuck.input\"} 1")
             : NULL);
    free(body);
    stop_host(host);
    CU_ASSERT_TRUE(file_has(r.dir, "host.log", "event_id=stuck-1"));
    CU_ASSERT_TRUE(file_has(r.dir, "host.log", "handler exceeded its deadline"));
    run_teardown(&r);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"poison pill, retries, DLQ topic and replay among 10k events",
         test_poison_retries_replay},
        {"malformed input: a dead letter with its own code each", test_malformed},
        {"PostgreSQL backends terminated and server restarted mid-stream",
         test_postgres_faults},
        {"broker down and up mid-stream", test_broker_down_up},
        {"a retry holds back its key, not the other keys of its worker",
         test_retry_other_keys},
        {"a plugin that crashes the host: PLUGIN_CRASHED after 3 crashes",
         test_crash_loop},
        {"a handler stuck past its hard limit fails /healthz", test_stuck_handler},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("failures", suite_init, suite_clean, tests);
}
