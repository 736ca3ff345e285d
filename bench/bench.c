/*
 * yard-bench — the benchmark suite behind bench/run.
 *
 * One process starts a PostgreSQL (fsync and synchronous_commit on, as in
 * production) and the mock cluster, measures the baselines and the host
 * scenarios in one run, and prints one Markdown table with absolute
 * figures and ratios against the same run's baselines: machines here are
 * shared and noisy, so only same-run ratios compare.
 *
 *   B1  broker ceiling: consume -> produce pass-through, no database
 *   B2  database ceiling: inbox + domain row + outbox, batched multi-row
 *       statements in pipeline mode on 4 connections, plus the relay's
 *       delete; no Kafka
 *   B3  the naive way: one event per transaction, one statement per round
 *       trip (check inbox, insert, insert, insert, commit), 1 connection
 *   H1  the host: one domain row and one emitted event per input, from
 *       first consume to the last outbox row published
 *   H2  H1 with 10% of the events delivered twice
 *   H3  latency at fixed offered loads, input produce to output publish
 *   H5  start-up to ready and resident memory, idle and after H1
 *
 * Every scenario verifies its counts: the mock cluster silently drops data
 * past 5 MiB per partition.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mock.h"
#include "pgtmp.h"

#define PARTITIONS 64
#define KEYS 10000
/* ~300-byte messages with key and headers: H2's 1.1M messages must stay
 * under the mock cluster's 5 MiB per partition. */
#define PAYLOAD_PAD 100
#define B2_CONNS 4
#define B2_BATCH 1000
#define B3_EVENTS_MAX 20000
#define LAT_SECONDS 8
#define LAT_WARMUP_SECONDS 2 /* offered but not measured: fetch sessions start */

typedef struct row {
    char id[16];
    char what[96];
    double events;
    double seconds;
    char extra[160];
} row;

static row rows[32];
static size_t n_rows;
static long long n_events = 1000000;
static yard_pgtmp *pg;
static yard_mock *mock;
static const char *brokers;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static row *add_row(const char *id, const char *what, double events,
                    double seconds)
{
    row *r = &rows[n_rows++];
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->what, sizeof r->what, "%s", what);
    r->events = events;
    r->seconds = seconds;
    fprintf(stderr, "bench: %s %s: %.0f events in %.2f s = %.0f/s\n", id, what,
            events, seconds, seconds > 0 ? events / seconds : 0);
    return r;
}

static double rate(const char *id)
{
    for (size_t i = 0; i < n_rows; i++)
        if (strcmp(rows[i].id, id) == 0 && rows[i].seconds > 0)
            return rows[i].events / rows[i].seconds;
    return 0;
}

static pid_t running_host; /* stopped by die() too: leave nothing behind */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench: %s: %s\n", what, why);
    if (running_host > 0)
        kill(running_host, SIGTERM);
    exit(1);
}

static PGconn *db(const char *name)
{
    char dsn[512];
    snprintf(dsn, sizeof dsn, "%s dbname=%s", yard_pgtmp_dsn(pg), name);
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK)
        die("connect", PQerrorMessage(c));
    return c;
}

static void sql(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(q, PQresultErrorMessage(r));
    PQclear(r);
}

static long long sql_num(PGconn *c, const char *q)
{
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die(q, PQresultErrorMessage(r));
    long long v = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void create_db(const char *name)
{
    PGconn *c = db("postgres");
    char q[128];
    snprintf(q, sizeof q, "CREATE DATABASE %s", name);
    sql(c, q);
    PQfinish(c);
}

/* ---- Kafka helpers ------------------------------------------------------ */

static rd_kafka_t *producer(const char *linger)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e);
    rd_kafka_conf_set(conf, "linger.ms", linger, e, sizeof e);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", e, sizeof e);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p)
        die("producer", e);
    return p;
}

static void produce_ce(rd_kafka_t *p, const char *topic, const char *key,
                       const char *id, const char *payload)
{
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
        rd_kafka_header_add(h, "ce_id", -1, id, -1);
        rd_kafka_header_add(h, "ce_type", -1, "bench.input", -1);
        rd_kafka_header_add(h, "ce_source", -1, "/bench", -1);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_END);
        if (!err)
            return;
        rd_kafka_headers_destroy(h);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            die("produce", rd_kafka_err2str(err));
        rd_kafka_poll(p, 10);
    }
}

static void event_payload(long long i, char *buf, size_t len)
{
    snprintf(buf, len, "{\"key\":\"k%05lld\",\"seq\":%lld,\"pad\":\"%0*d\"}",
             i % KEYS, i / KEYS, PAYLOAD_PAD, 0);
}

/* Produce n events (plus dup_pct% redeliveries of earlier ones). */
static long long produce_input(const char *topic, long long n, int dup_pct)
{
    rd_kafka_t *p = producer("20");
    long long sent = 0;
    char id[32], key[16], payload[400];
    for (long long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "e%lld", i);
        snprintf(key, sizeof key, "k%05lld", i % KEYS);
        event_payload(i, payload, sizeof payload);
        produce_ce(p, topic, key, id, payload);
        sent++;
        /* Redeliver an event from 500 back, same key, same id. */
        if (dup_pct && i >= 500 && i % (100 / dup_pct) == 0) {
            long long d = i - 500;
            snprintf(id, sizeof id, "e%lld", d);
            snprintf(key, sizeof key, "k%05lld", d % KEYS);
            event_payload(d, payload, sizeof payload);
            produce_ce(p, topic, key, id, payload);
            sent++;
        }
    }
    if (rd_kafka_flush(p, 120000))
        die("produce", "flush timed out");
    rd_kafka_destroy(p);
    return sent;
}

/* Messages ever written to a topic: the sum of its partitions' high
 * watermarks (the topics start empty; the low watermark moves when the
 * mock cluster drops old data, which is why that is not subtracted). */
static long long topic_count(rd_kafka_t *rk, const char *topic)
{
    long long total = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            return -1;
        total += hi;
    }
    return total;
}

static rd_kafka_t *reader(void)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e);
    rd_kafka_conf_set(conf, "group.id", "bench-reader", e, sizeof e);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", e, sizeof e);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!c)
        die("consumer", e);
    rd_kafka_poll_set_consumer(c);
    return c;
}

static void assign_all(rd_kafka_t *c, const char *topic, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- B1: broker ceiling ------------------------------------------------- */

static void bench_b1(const char *in, long long n)
{
    rd_kafka_t *c = reader();
    rd_kafka_t *p = producer("5");
    assign_all(c, in, RD_KAFKA_OFFSET_BEGINNING);
    long long seen = 0;
    double t0 = 0;
    while (seen < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m)
            continue;
        if (!m->err) {
            if (!seen)
                t0 = now_s();
            rd_kafka_headers_t *h = NULL;
            rd_kafka_message_detach_headers(m, &h);
            for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC("b1.out"),
                    RD_KAFKA_V_KEY(m->key, m->key_len),
                    RD_KAFKA_V_VALUE(m->payload, m->len),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                if (!err)
                    break;
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    die("b1 produce", rd_kafka_err2str(err));
                rd_kafka_poll(p, 5);
            }
            seen++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_flush(p, 120000);
    double t = now_s() - t0;
    long long out = topic_count(p, "b1.out");
    row *r = add_row("B1", "broker ceiling: consume -> produce, no database",
                     (double)n, t);
    snprintf(r->extra, sizeof r->extra, "verified %lld of %lld on b1.out", out, n);
    if (out != n)
        die("B1", "count mismatch (mock cluster dropped data?)");
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
}

/* ---- B2: database ceiling ----------------------------------------------- */

static const char *const b2_schema =
    "CREATE TABLE inbox (consumer_group text, event_id text,"
    " PRIMARY KEY (consumer_group, event_id));"
    "CREATE TABLE effect (event_id text, pkey text, payload jsonb);"
    "CREATE TABLE outbox (id bigserial PRIMARY KEY, topic text, partition_key"
    " text, event_id text, headers jsonb, payload bytea)";

typedef struct b2_part {
    long long from, to;
} b2_part;

/* Build "INSERT ... VALUES ($1,$2),($3,$4)..." for `rows` rows. */
static char *values_sql(const char *head, int nrows, int cols, const char *const *casts)
{
    size_t cap = strlen(head) + (size_t)nrows * (size_t)cols * 24 + 16;
    char *s = malloc(cap);
    size_t pos = (size_t)snprintf(s, cap, "%s", head);
    int k = 1;
    for (int r = 0; r < nrows; r++) {
        pos += (size_t)snprintf(s + pos, cap - pos, "%s(", r ? "," : "");
        for (int c = 0; c < cols; c++)
            pos += (size_t)snprintf(s + pos, cap - pos, "%s$%d%s", c ? "," : "",
                                    k++, casts[c]);
        pos += (size_t)snprintf(s + pos, cap - pos, ")");
    }
    return s;
}

static void pipeline_drain(PGconn *c)
{
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r)
            continue; /* end of one query's results */
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_FATAL_ERROR)
            die("B2", PQresultErrorMessage(r));
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            return;
    }
}

static void *b2_worker(void *arg)
{
    b2_part *part = arg;
    PGconn *c = db("b2");
    static const char *const none[] = {"", "", "", "", ""};
    static const char *const eff_casts[] = {"", "", "::jsonb"};
    static const char *const out_casts[] = {"", "", "", "::jsonb", "::bytea"};
    char *inbox_sql = values_sql("INSERT INTO inbox VALUES ", B2_BATCH, 2, none);
    char *eff_sql = values_sql("INSERT INTO effect VALUES ", B2_BATCH, 3, eff_casts);
    char *out_sql = values_sql("INSERT INTO outbox (topic, partition_key, event_id,"
                               " headers, payload) VALUES ",
                               B2_BATCH, 5, out_casts);
    char (*ids)[24] = malloc(B2_BATCH * sizeof *ids);
    char (*keys)[16] = malloc(B2_BATCH * sizeof *keys);
    char (*payloads)[400] = malloc(B2_BATCH * sizeof *payloads);
    const char **p = malloc(B2_BATCH * 5 * sizeof *p);
    const char *headers = "[[\"ce_id\",\"x\"],[\"ce_type\",\"bench.done\"]]";
    PQenterPipelineMode(c);
    for (long long i = part->from; i < part->to; i += B2_BATCH) {
        int n = (int)(part->to - i < B2_BATCH ? part->to - i : B2_BATCH);
        for (int k = 0; k < n; k++) {
            snprintf(ids[k], sizeof ids[k], "e%lld", i + k);
            snprintf(keys[k], sizeof keys[k], "k%05lld", (i + k) % KEYS);
            event_payload(i + k, payloads[k], sizeof payloads[k]);
        }
        char *ins = n == B2_BATCH ? inbox_sql : values_sql("INSERT INTO inbox VALUES ", n, 2, none);
        char *eff = n == B2_BATCH ? eff_sql : values_sql("INSERT INTO effect VALUES ", n, 3, eff_casts);
        char *out = n == B2_BATCH ? out_sql
                                  : values_sql("INSERT INTO outbox (topic, partition_key,"
                                               " event_id, headers, payload) VALUES ",
                                               n, 5, out_casts);
        PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        for (int k = 0; k < n; k++) {
            p[2 * k] = "bench";
            p[2 * k + 1] = ids[k];
        }
        PQsendQueryParams(c, ins, 2 * n, NULL, p, NULL, NULL, 0);
        for (int k = 0; k < n; k++) {
            p[3 * k] = ids[k];
            p[3 * k + 1] = keys[k];
            p[3 * k + 2] = payloads[k];
        }
        PQsendQueryParams(c, eff, 3 * n, NULL, p, NULL, NULL, 0);
        for (int k = 0; k < n; k++) {
            p[5 * k] = "bench.done";
            p[5 * k + 1] = keys[k];
            p[5 * k + 2] = ids[k];
            p[5 * k + 3] = headers;
            p[5 * k + 4] = payloads[k];
        }
        PQsendQueryParams(c, out, 5 * n, NULL, p, NULL, NULL, 0);
        PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        /* The relay's side: remove what was "published". */
        PQsendQueryParams(c,
                          "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
                          " ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)",
                          0, NULL, NULL, NULL, NULL, 0);
        PQpipelineSync(c);
        pipeline_drain(c);
        if (ins != inbox_sql) {
            free(ins);
            free(eff);
            free(out);
        }
    }
    PQexitPipelineMode(c);
    free(inbox_sql);
    free(eff_sql);
    free(out_sql);
    free(ids);
    free(keys);
    free(payloads);
    free(p);
    PQfinish(c);
    return NULL;
}

static void bench_b2(long long n)
{
    create_db("b2");
    PGconn *c = db("b2");
    sql(c, b2_schema);
    pthread_t t[B2_CONNS];
    b2_part parts[B2_CONNS];
    double t0 = now_s();
    for (int i = 0; i < B2_CONNS; i++) {
        parts[i].from = n * i / B2_CONNS;
        parts[i].to = n * (i + 1) / B2_CONNS;
        pthread_create(&t[i], NULL, b2_worker, &parts[i]);
    }
    for (int i = 0; i < B2_CONNS; i++)
        pthread_join(t[i], NULL);
    sql(c, "DELETE FROM outbox"); /* the relay's last round */
    double secs = now_s() - t0;
    long long eff = sql_num(c, "SELECT count(*) FROM effect");
    row *r = add_row("B2", "database ceiling: batched, pipelined, 4 connections",
                     (double)n, secs);
    snprintf(r->extra, sizeof r->extra, "%d-row statements; verified %lld effects",
             B2_BATCH, eff);
    if (eff != n)
        die("B2", "count mismatch");
    PQfinish(c);
}

/* ---- B3: the naive way -------------------------------------------------- */

static void bench_b3(long long n)
{
    create_db("b3");
    PGconn *c = db("b3");
    sql(c, b2_schema);
    char id[24], key[16], payload[400];
    double t0 = now_s();
    for (long long i = 0; i < n; i++) {
        snprintf(id, sizeof id, "e%lld", i);
        snprintf(key, sizeof key, "k%05lld", i % KEYS);
        event_payload(i, payload, sizeof payload);
        const char *p1[2] = {"bench", id};
        sql(c, "BEGIN");
        PGresult *r = PQexecParams(c, "SELECT 1 FROM inbox WHERE consumer_group = $1"
                                      " AND event_id = $2",
                                   2, NULL, p1, NULL, NULL, 0);
        bool dup = PQntuples(r) > 0;
        PQclear(r);
        if (!dup) {
            PQclear(PQexecParams(c, "INSERT INTO inbox VALUES ($1, $2)", 2, NULL, p1,
                                 NULL, NULL, 0));
            const char *p2[3] = {id, key, payload};
            PQclear(PQexecParams(c, "INSERT INTO effect VALUES ($1, $2, $3::jsonb)", 3,
                                 NULL, p2, NULL, NULL, 0));
            const char *p3[4] = {key, id, "[]", payload};
            PQclear(PQexecParams(c, "INSERT INTO outbox (topic, partition_key, event_id,"
                                    " headers, payload) VALUES ('bench.done', $1, $2,"
                                    " $3::jsonb, $4::bytea)",
                                 4, NULL, p3, NULL, NULL, 0));
        }
        sql(c, "COMMIT");
    }
    double secs = now_s() - t0;
    long long eff = sql_num(c, "SELECT count(*) FROM effect");
    row *r = add_row("B3", "naive: one event per transaction, 1 connection",
                     (double)n, secs);
    snprintf(r->extra, sizeof r->extra, "verified %lld effects", eff);
    if (eff != n)
        die("B3", "count mismatch");
    PQfinish(c);
}

/* ---- the host ----------------------------------------------------------- */

typedef struct host_run {
    char dir[256];
    pid_t pid;
    double spawned;
} host_run;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f))
        die("write", path);
}

static void host_start(host_run *h, const char *dbname, const char *in,
                       const char *out)
{
    snprintf(h->dir, sizeof h->dir, "/tmp/yard-bench-%s-XXXXXX", dbname);
    if (!mkdtemp(h->dir))
        die("mkdtemp", strerror(errno));
    char conf[2048];
    snprintf(conf, sizeof conf,
             "[host]\nworkers = 4\nbatch_size = 256\nplugin_dir = %s\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "fetch.wait.max.ms = 10\n\n"
             "[postgres]\ndsn = %s dbname=%s\n\n"
             "[topics]\nbench.input = %s\nbench.done = %s\n",
             YARD_BENCH_PLUGIN_DIR, brokers, yard_pgtmp_dsn(pg), dbname, in, out);
    write_file(h->dir, "host.ini", conf);
    write_file(h->dir, "50-bench.ini", "[plugin]\npath = bench_sink.so\n");
    h->spawned = now_s();
    h->pid = fork();
    running_host = h->pid;
    if (h->pid == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s/host.log", h->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(YARD_SWITCHYARD_BIN, YARD_SWITCHYARD_BIN, "run", "--conf-dir",
              h->dir, (char *)NULL);
        _exit(127);
    }
}

/* Wait until the host's log has a line containing `what`. */
static void host_wait_log(host_run *h, const char *what)
{
    char log[600], line[2048];
    snprintf(log, sizeof log, "%s/host.log", h->dir);
    for (int i = 0; i < 3000; i++) {
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, what)) {
                fclose(f);
                return;
            }
        if (f)
            fclose(f);
        usleep(10000);
    }
    die("host", what);
}

/* Seconds from spawn until the log says "host started". */
static double host_ready(host_run *h)
{
    char log[600];
    snprintf(log, sizeof log, "%s/host.log", h->dir);
    for (int i = 0; i < 3000; i++) {
        FILE *f = fopen(log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "msg=\"host started\"")) {
                fclose(f);
                return now_s() - h->spawned;
            }
        if (f)
            fclose(f);
        usleep(2000);
    }
    die("host", "not ready in 6 s");
    return 0;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void host_stop(host_run *h)
{
    kill(h->pid, SIGTERM);
    int st;
    waitpid(h->pid, &st, 0);
    running_host = 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", h->dir);
}

/* Run the host over `sent` messages carrying `distinct` events; returns
 * seconds from first consume to the last emitted event on `out`. */
static double host_throughput(const char *dbname, const char *in, const char *out,
                              long long distinct, long *rss_idle, long *rss_busy,
                              double *ready)
{
    create_db(dbname);
    host_run h;
    host_start(&h, dbname, in, out);
    double r = host_ready(&h);
    if (ready)
        *ready = r;
    usleep(200000);
    if (rss_idle)
        *rss_idle = rss_kb(h.pid);
    rd_kafka_t *probe = producer("0");
    long long published = 0;
    long busy = 0;
    double last_change = now_s();
    while (published < distinct) {
        usleep(100000);
        long long c = topic_count(probe, out);
        if (c != published)
            last_change = now_s();
        published = c;
        long kb = rss_kb(h.pid);
        if (kb > busy)
            busy = kb;
        if (now_s() - last_change > 60)
            die(dbname, "no progress for 60 s");
    }
    double end = wall_s();
    PGconn *c = db(dbname);
    char q[256];
    /* First consume: the start of the first transaction that handled one. */
    double start = (double)sql_num(c, "SELECT (extract(epoch FROM min(handled_at))"
                                      " * 1000)::bigint FROM yard_inbox") / 1000.0;
    long long eff = sql_num(c, "SELECT count(*) FROM bench_effect");
    long long uniq = sql_num(c, "SELECT count(DISTINCT event_id) FROM bench_effect");
    snprintf(q, sizeof q, "SELECT count(*) FROM yard_outbox");
    long long left = sql_num(c, q);
    PQfinish(c);
    if (eff != distinct || uniq != distinct || left != 0) {
        fprintf(stderr, "bench: %s: %lld effects (%lld distinct) of %lld, %lld unpublished\n",
                dbname, eff, uniq, distinct, left);
        die(dbname, "verification failed");
    }
    if (rss_busy)
        *rss_busy = busy;
    rd_kafka_destroy(probe);
    host_stop(&h);
    return end - start;
}

/* ---- H3: latency at fixed offered loads --------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_h3(int rate_per_s, int run)
{
    char dbname[32], in[32], out[32];
    snprintf(dbname, sizeof dbname, "h3_%d", run);
    snprintf(in, sizeof in, "lat%d.in", run);
    snprintf(out, sizeof out, "lat%d.out", run);
    char err[256];
    yard_mock_topic_create(mock, in, PARTITIONS, err, sizeof err);
    yard_mock_topic_create(mock, out, PARTITIONS, err, sizeof err);
    create_db(dbname);
    host_run h;
    host_start(&h, dbname, in, out);
    host_ready(&h);
    host_wait_log(&h, "partitions assigned"); /* offer load after the join */
    sleep(1);

    long long warm = (long long)rate_per_s * LAT_WARMUP_SECONDS;
    long long n = (long long)rate_per_s * (LAT_SECONDS + LAT_WARMUP_SECONDS);
    rd_kafka_t *p = producer("0");
    rd_kafka_t *c = reader();
    /* Start at today's ends, as explicit offsets: OFFSET_END is resolved
     * lazily and would skip outputs published before it is. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int q = 0; q < PARTITIONS; q++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(c, out, q, &lo, &hi, 5000))
            die("H3", "watermarks");
        rd_kafka_topic_partition_list_add(l, out, q)->offset = hi;
    }
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    double *sent_at = calloc((size_t)n, sizeof *sent_at);
    double *lat = calloc((size_t)n, sizeof *lat);
    long long got = 0;
    double t0 = wall_s();
    char id[32], key[16], payload[400];
    for (long long i = 0; i < n || got < n - warm;) {
        double due = t0 + (double)i / rate_per_s;
        if (i < n && wall_s() >= due) {
            snprintf(id, sizeof id, "e%lld", i);
            snprintf(key, sizeof key, "k%05lld", i % KEYS);
            event_payload(i, payload, sizeof payload);
            sent_at[i] = wall_s();
            produce_ce(p, in, key, id, payload);
            rd_kafka_poll(p, 0);
            i++;
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
        if (m) {
            if (!m->err) {
                const char *s = strstr((const char *)m->payload, "\"source_id\":\"e");
                rd_kafka_timestamp_type_t tt;
                int64_t ts = rd_kafka_message_timestamp(m, &tt);
                long long k = s ? atoll(s + 14) : -1;
                if (k >= warm && k < n && got < n - warm)
                    lat[got++] = (double)ts / 1000.0 - sent_at[k];
            }
            rd_kafka_message_destroy(m);
        }
        if (i >= n && wall_s() - t0 > LAT_SECONDS + LAT_WARMUP_SECONDS + 60)
            break; /* reported below: latency over what arrived */
    }
    long long missing = n - warm - got;
    n = got;
    if (n == 0)
        die("H3", "no output arrived");
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    char what[96];
    snprintf(what, sizeof what, "latency at %d events/s offered", rate_per_s);
    row *r = add_row("H3", what, (double)n, (double)LAT_SECONDS);
    snprintf(r->extra, sizeof r->extra,
             "p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms%s", lat[n / 2] * 1000,
             lat[n * 99 / 100] * 1000, lat[n * 999 / 1000] * 1000,
             missing ? " (some outputs not seen: see log)" : "");
    if (missing)
        fprintf(stderr, "bench: H3 %d/s: %lld outputs not seen in time\n",
                rate_per_s, missing);
    fprintf(stderr, "bench: H3 %d/s: %s\n", rate_per_s, r->extra);
    free(sent_at);
    free(lat);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    host_stop(&h);
}

/* ---- the table ---------------------------------------------------------- */

static void print_table(FILE *f, const char *date)
{
    double b1 = rate("B1"), b2 = rate("B2"), b3 = rate("B3");
    fprintf(f, "## Benchmark run %s\n\n", date);
    fprintf(f, "%lld events of ~300 bytes, %d partitions, %d keys; PostgreSQL "
               "with fsync and synchronous_commit on; librdkafka mock cluster.\n\n",
            n_events, PARTITIONS, KEYS);
    fprintf(f, "| id | scenario | events | seconds | events/s | vs B1 | vs B2 | vs B3 | notes |\n");
    fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < n_rows; i++) {
        row *r = &rows[i];
        double x = r->seconds > 0 ? r->events / r->seconds : 0;
        bool ratio = r->id[0] == 'H' && strcmp(r->id, "H3") != 0 && strcmp(r->id, "H5") != 0;
        fprintf(f, "| %s | %s | %.0f | %.2f | %.0f |", r->id, r->what, r->events,
                r->seconds, x);
        if (ratio && b1 && b2 && b3)
            fprintf(f, " %.2f | %.2f | %.1f |", x / b1, x / b2, x / b3);
        else
            fprintf(f, " | | |");
        fprintf(f, " %s |\n", r->extra);
    }
    double h1 = rate("H1"), h2 = rate("H2");
    fprintf(f, "\nTargets: H1 >= 0.5 x B2 (%s: %.2f), H1 >= 20 x B3 (%s: %.1f), "
               "H2 within 10%% of H1 (%s: %.2f).\n",
            h1 >= 0.5 * b2 ? "met" : "NOT met", b2 ? h1 / b2 : 0,
            h1 >= 20 * b3 ? "met" : "NOT met", b3 ? h1 / b3 : 0,
            h2 >= 0.9 * h1 ? "met" : "NOT met", h1 ? h2 / h1 : 0);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    bool latency = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            n_events = atoll(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--no-latency") == 0)
            latency = false;
        else {
            fprintf(stderr, "usage: yard-bench [--events N] [--out FILE] [--no-latency]\n");
            return 2;
        }
    }
    char err[1024];
    yard_pgtmp_opts po = {.fsync = true};
    if (yard_pgtmp_start(&po, &pg, err, sizeof err))
        die("PostgreSQL", err);
    if (yard_mock_start(1, &mock, err, sizeof err))
        die("mock cluster", err);
    brokers = yard_mock_bootstraps(mock);
    const char *topics[] = {"bench.in", "bench.out", "b1.out", "bench2.in", "bench2.out"};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++)
        if (yard_mock_topic_create(mock, topics[i], PARTITIONS, err, sizeof err))
            die("topic", err);

    double t0 = now_s();
    long long sent = produce_input("bench.in", n_events, 0);
    fprintf(stderr, "bench: produced %lld input events in %.1f s\n", sent, now_s() - t0);

    bench_b1("bench.in", n_events);
    bench_b2(n_events);
    bench_b3(n_events < B3_EVENTS_MAX ? n_events : B3_EVENTS_MAX);

    long rss_idle = 0, rss_busy = 0;
    double ready = 0;
    double secs = host_throughput("h1", "bench.in", "bench.out", n_events, &rss_idle,
                                  &rss_busy, &ready);
    row *r = add_row("H1", "host: domain row + emitted event per event",
                     (double)n_events, secs);
    snprintf(r->extra, sizeof r->extra, "4 workers, batch 256; verified effects once");

    long long sent2 = produce_input("bench2.in", n_events, 10);
    secs = host_throughput("h2", "bench2.in", "bench2.out", n_events, NULL, NULL, NULL);
    r = add_row("H2", "host with 10% redelivered events", (double)n_events, secs);
    snprintf(r->extra, sizeof r->extra, "%lld messages for %lld events; verified",
             sent2, n_events);

    if (latency) {
        int loads[] = {1000, 5000, 20000};
        for (int i = 0; i < 3; i++)
            bench_h3(loads[i], i);
    }
    r = add_row("H5", "footprint: start-up to ready, RSS", 0, 0);
    snprintf(r->extra, sizeof r->extra,
             "ready in %.0f ms; RSS %ld kB idle (1 plugin), %ld kB peak under H1",
             ready * 1000, rss_idle, rss_busy);

    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    print_table(stdout, date);
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (f) {
            print_table(f, date);
            fclose(f);
        }
    }
    yard_mock_stop(mock);
    yard_pgtmp_stop(pg);
    return 0;
}
