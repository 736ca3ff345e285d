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
 *   H3  latency at fixed offered loads, input produce to output publish,
 *       split by stage (consume, transaction, relay) on stderr
 *   H4  10 SIGHUP plugin upgrades at 5k events/s: longest processing gap,
 *       p99 during the reloads, every effect checked
 *   H5  every conf.d plugin loaded: start-up to ready, resident memory
 *   H6  instructions per event under callgrind (repeatable on a noisy
 *       machine), split by thread
 *
 * Options: --events N (default 1000000), --loads N,N,.. (H3's offered
 * loads), --only B1,H3,.. (a subset; ratios need B1-B3), --no-latency
 * (skip H3), --keep (leave each host's directory, log and H6's profile).
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
    char extra[400];
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

/* For the targets line. */
static double h3_p99[8], h3_rate[8];
static double h4_gap = -1;
static bool h4_ok;
static long h5_rss_kb;
static double h5_ready_ms;
static bool keep_dirs; /* --keep: leave each host's directory and log */
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

/* How a host is started: by default bench_sink from the build directory,
 * nothing else. */
typedef struct host_opts {
    const char *plugin_dir; /* NULL: the build's bench plugins */
    bool domain;            /* also every conf.d/[0-9]*.ini plugin */
    const char *const *wrap; /* NULL-terminated command to run it under */
} host_opts;

static void copy_file(const char *from, const char *to)
{
    char tmp[600], buf[65536];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = fopen(tmp, "wb");
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            die("copy", to);
    if (!in || !out || fclose(out) || rename(tmp, to))
        die("copy", from);
    fclose(in);
}

static void host_start_opts(host_run *h, const char *dbname, const char *in,
                            const char *out, const host_opts *o)
{
    static const host_opts none;
    if (!o)
        o = &none;
    snprintf(h->dir, sizeof h->dir, "/tmp/yard-bench-%s-XXXXXX", dbname);
    if (!mkdtemp(h->dir))
        die("mkdtemp", strerror(errno));
    /* With the domain plugins: the repo's schemas, as conf.d sets them up
     * (plugin_dir must then hold them and bench_sink). */
    const char *plugin_dir = o->plugin_dir ? o->plugin_dir : YARD_BENCH_PLUGIN_DIR;
    char conf[2048];
    snprintf(conf, sizeof conf,
             "[host]\nworkers = 4\nbatch_size = 256\nplugin_dir = %s\n"
             "state_dir = %s\n%s\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "fetch.wait.max.ms = 10\n\n"
             "[postgres]\ndsn = %s dbname=%s\n\n"
             "[topics]\nbench.input = %s\nbench.done = %s\n",
             plugin_dir, h->dir,
             o->domain ? "schema_dir = " YARD_SOURCE_DIR "/schemas\n" : "",
             brokers, yard_pgtmp_dsn(pg), dbname, in, out);
    write_file(h->dir, "host.ini", conf);
    if (o->domain) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cp %s/conf.d/[0-9]*.ini %s/", YARD_SOURCE_DIR,
                 h->dir);
        if (system(cmd) != 0)
            die("host", "cannot copy conf.d");
    }
    write_file(h->dir, "99-bench.ini", "[plugin]\npath = bench_sink.so\n");
    h->spawned = now_s();
    h->pid = fork();
    running_host = h->pid;
    if (h->pid == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s/host.log", h->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        /* Relative paths in conf.d land here, as ${state_dir} does. */
        char build[600];
        snprintf(build, sizeof build, "%s/build", h->dir);
        if (mkdir(build, 0755) != 0 || chdir(h->dir) != 0)
            _exit(126);
        const char *argv[24];
        int a = 0;
        for (size_t i = 0; o && o->wrap && o->wrap[i] && a < 18; i++)
            argv[a++] = o->wrap[i];
        argv[a++] = YARD_SWITCHYARD_BIN;
        argv[a++] = "run";
        argv[a++] = "--conf-dir";
        argv[a++] = h->dir;
        argv[a] = NULL;
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
}

static void host_start(host_run *h, const char *dbname, const char *in,
                       const char *out)
{
    host_start_opts(h, dbname, in, out, NULL);
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

/* ---- CPU accounting ------------------------------------------------------ */

/* utime + stime (+ the reaped children's when `children`) of a process, in
 * seconds; and its parent pid. */
static double proc_cpu(pid_t pid, bool children, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime */
    int pp = 0;
    unsigned long long ut = 0, stt = 0;
    long long cut = 0, cst = 0;
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &pp, &ut, &stt, &cut, &cst) != 5)
        return 0;
    if (ppid)
        *ppid = pp;
    double tick = (double)sysconf(_SC_CLK_TCK);
    return ((double)(ut + stt) + (children ? (double)(cut + cst) : 0)) / tick;
}

/* CPU seconds PostgreSQL has used: the postmaster with its reaped children,
 * and its live children. */
static double pg_cpu(void)
{
    pid_t pm = yard_pgtmp_pid(pg);
    double total = proc_cpu(pm, true, NULL);
    FILE *ls = popen("ls /proc", "r");
    char name[64];
    while (ls && fgets(name, sizeof name, ls)) {
        pid_t pid = (pid_t)atoi(name), pp = 0;
        if (pid <= 0 || pid == pm)
            continue;
        double c = proc_cpu(pid, false, &pp);
        if (pp == pm)
            total += c;
    }
    if (ls)
        pclose(ls);
    return total;
}

static double self_cpu(void)
{
    return proc_cpu(getpid(), false, NULL);
}

static void host_stop(host_run *h)
{
    kill(h->pid, SIGTERM);
    int st;
    waitpid(h->pid, &st, 0);
    running_host = 0;
    if (keep_dirs) {
        fprintf(stderr, "bench: kept %s (host.ini, host.log)\n", h->dir);
        return;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", h->dir);
}

/* Run the host over `sent` messages carrying `distinct` events; returns
 * seconds from first consume to the last emitted event on `out`. */
static double host_throughput(const char *dbname, const char *in, const char *out,
                              long long distinct, long *rss_idle, long *rss_busy,
                              double *ready, double *cpu)
{
    create_db(dbname);
    double pg0 = pg_cpu(), self0 = self_cpu();
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
    if (cpu) { /* host, PostgreSQL, this process (the mock cluster) */
        cpu[0] = proc_cpu(h.pid, false, NULL);
        cpu[1] = pg_cpu() - pg0;
        cpu[2] = self_cpu() - self0;
    }
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

static double pct(double *v, size_t n, int per_mille)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return v[n * (size_t)per_mille / 1000] * 1000;
}

/* Where an event's latency goes, stage by stage: produce -> transaction
 * start (the inbox row's handled_at: consume and queueing), -> commit
 * (pg_xact_commit_timestamp of the inbox row; the server runs with
 * track_commit_timestamp), -> publish (the output's CreateTime, set when
 * the relay hands it to librdkafka), -> the bench's receipt.  Fills
 * commit_at[k] for every event k found; prints p50/p99 per stage and the
 * mean split of the slowest 1% to stderr. */
static void lat_stages(const char *tag, const char *dbname, long long warm,
                       long long n, const double *sent_at, const double *pub_at,
                       const double *recv_at, double *commit_at)
{
    PGconn *c = db(dbname);
    PGresult *r = PQexec(c, "SELECT substr(event_id, 2),"
                            " extract(epoch FROM handled_at),"
                            " extract(epoch FROM pg_xact_commit_timestamp(xmin))"
                            " FROM yard_inbox WHERE event_id LIKE 'e%'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("stages", PQresultErrorMessage(r));
    double *start_at = calloc((size_t)n, sizeof *start_at);
    for (int i = 0; i < PQntuples(r); i++) {
        long long k = atoll(PQgetvalue(r, i, 0));
        if (k >= 0 && k < n && !PQgetisnull(r, i, 2)) {
            start_at[k] = atof(PQgetvalue(r, i, 1));
            commit_at[k] = atof(PQgetvalue(r, i, 2));
        }
    }
    PQclear(r);
    PQfinish(c);
    size_t cap = (size_t)(n - warm), m = 0;
    double *st[5];
    for (int k = 0; k < 5; k++)
        st[k] = calloc(cap ? cap : 1, sizeof *st[k]);
    for (long long k = warm; k < n; k++) {
        if (!pub_at[k] || !commit_at[k])
            continue;
        st[0][m] = start_at[k] - sent_at[k];
        st[1][m] = commit_at[k] - start_at[k];
        st[2][m] = pub_at[k] - commit_at[k];
        st[3][m] = recv_at[k] - pub_at[k];
        st[4][m] = pub_at[k] - sent_at[k];
        m++;
    }
    double p99 = pct(st[4], m, 990) / 1000; /* sorts st[4] */
    double slow[4] = {0};
    size_t n_slow = 0;
    for (long long k = warm; k < n; k++) {
        if (!pub_at[k] || !commit_at[k] || pub_at[k] - sent_at[k] < p99)
            continue;
        slow[0] += start_at[k] - sent_at[k];
        slow[1] += commit_at[k] - start_at[k];
        slow[2] += pub_at[k] - commit_at[k];
        slow[3] += recv_at[k] - pub_at[k];
        n_slow++;
    }
    static const char *const names[] = {"produce->txn start", "txn start->commit",
                                        "commit->publish", "publish->bench receipt",
                                        "produce->publish"};
    for (int k = 0; k < 5; k++)
        fprintf(stderr, "bench: %s stage %-22s p50 %7.1f ms  p99 %7.1f ms\n", tag,
                names[k], pct(st[k], m, 500), pct(st[k], m, 990));
    if (n_slow)
        fprintf(stderr, "bench: %s slowest 1%% (%zu events), mean ms: to txn start "
                        "%.1f, txn %.1f, commit->publish %.1f, receipt %.1f\n",
                tag, n_slow, slow[0] * 1000 / (double)n_slow,
                slow[1] * 1000 / (double)n_slow, slow[2] * 1000 / (double)n_slow,
                slow[3] * 1000 / (double)n_slow);
    for (int k = 0; k < 5; k++)
        free(st[k]);
    free(start_at);
}

static int log_count(const host_run *h, const char *what)
{
    char log[600], line[2048];
    snprintf(log, sizeof log, "%s/host.log", h->dir);
    FILE *f = fopen(log, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Longest gap between consecutive times among t[k] (k in [0, n), t[k] != 0)
 * that fall in [from, to]; in ms. */
static double longest_gap(const double *t, long long n, double from, double to)
{
    double *v = malloc((size_t)n * sizeof *v);
    size_t m = 0;
    for (long long k = 0; k < n; k++)
        if (t[k] && t[k] >= from && t[k] <= to)
            v[m++] = t[k];
    qsort(v, m, sizeof *v, cmp_double);
    double gap = 0;
    for (size_t i = 1; i < m; i++)
        if (v[i] - v[i - 1] > gap)
            gap = v[i] - v[i - 1];
    free(v);
    return gap * 1000;
}

#define H4_RELOADS 10
#define H4_RATE 5000
#define H4_EVERY_S 1.0 /* one upgrade a second */

/* Offer `rate_per_s` events/s to a fresh host and measure input produce to
 * output publish.  H3: LAT_SECONDS measured after a warm-up.  H4
 * (reloads > 0): the same, while bench_sink is swapped between 1.0.0 and
 * 1.0.1 in a private plugin directory and the host gets a SIGHUP, once a
 * second; the longest gap between handler commits and between publishes
 * around the reloads, p99 of what was produced during them, and every
 * effect checked: once each, none lost, every output published. */
static void bench_lat(int rate_per_s, int run, int reloads)
{
    char dbname[32], in[32], out[32], tag[32];
    const char *id_ = reloads ? "H4" : "H3";
    snprintf(dbname, sizeof dbname, "%s_%d", reloads ? "h4" : "h3", run);
    snprintf(in, sizeof in, "%s%d.in", reloads ? "rel" : "lat", run);
    snprintf(out, sizeof out, "%s%d.out", reloads ? "rel" : "lat", run);
    snprintf(tag, sizeof tag, "%s %d/s", id_, rate_per_s);
    char err[256];
    yard_mock_topic_create(mock, in, PARTITIONS, err, sizeof err);
    yard_mock_topic_create(mock, out, PARTITIONS, err, sizeof err);
    create_db(dbname);

    char plugdir[64] = "", so[600];
    host_opts ho = {0};
    if (reloads) {
        snprintf(plugdir, sizeof plugdir, "/tmp/yard-bench-plugins-XXXXXX");
        if (!mkdtemp(plugdir))
            die("mkdtemp", strerror(errno));
        snprintf(so, sizeof so, "%s/bench_sink.so", plugdir);
        copy_file(YARD_BENCH_PLUGIN_DIR "/bench_sink.so", so);
        ho.plugin_dir = plugdir;
    }
    host_run h;
    host_start_opts(&h, dbname, in, out, &ho);
    host_ready(&h);
    host_wait_log(&h, "partitions assigned"); /* offer load after the join */
    sleep(1);

    /* H4 offers load until 1 s after the last reload has finished (at most
     * a minute); n shrinks to what was offered then. */
    double seconds = reloads ? 60 : LAT_SECONDS;
    long long warm = (long long)rate_per_s * LAT_WARMUP_SECONDS;
    long long n = warm + (long long)(rate_per_s * seconds);
    rd_kafka_t *p = producer("0");
    rd_kafka_t *c = reader();
    /* Start at today's ends, as explicit offsets: OFFSET_END is resolved
     * lazily and would skip outputs published before it is. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int q = 0; q < PARTITIONS; q++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(c, out, q, &lo, &hi, 5000))
            die(id_, "watermarks");
        rd_kafka_topic_partition_list_add(l, out, q)->offset = hi;
    }
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    double *sent_at = calloc((size_t)n, sizeof *sent_at);
    double *pub_at = calloc((size_t)n, sizeof *pub_at);
    double *recv_at = calloc((size_t)n, sizeof *recv_at);
    double *commit_at = calloc((size_t)n, sizeof *commit_at);
    double *lat = calloc((size_t)n, sizeof *lat);
    double reload_at[H4_RELOADS + 1] = {0};
    int reloaded = 0;
    long long next = 0, got = 0, seen = 0, dup_out = 0;
    double t0 = wall_s(), next_check = 0;
    char id[32], key[16], payload[400];
    while (seen < n) {
        double now = wall_s();
        /* The next SIGHUP once the last reload has finished (a SIGHUP
         * during a reload is refused) and a second has passed. */
        if (reloads && now >= next_check &&
            now >= (reloaded ? reload_at[reloaded - 1] + H4_EVERY_S
                             : t0 + LAT_WARMUP_SECONDS + 0.5)) {
            next_check = now + 0.02;
            int finished = log_count(&h, "msg=\"reload finished\"");
            if (finished == reloads && next < n) {
                n = next; /* the last one is done and a second has passed */
                seconds = now - t0 - LAT_WARMUP_SECONDS;
            }
            if (finished == reloaded && reloaded < reloads) {
                copy_file(reloaded % 2 == 0
                              ? YARD_BENCH_PLUGIN_DIR "/bench_sink_v2.so"
                              : YARD_BENCH_PLUGIN_DIR "/bench_sink.so",
                          so);
                reload_at[reloaded++] = wall_s();
                kill(h.pid, SIGHUP);
                continue;
            }
        }
        if (next < n && now >= t0 + (double)next / rate_per_s) {
            snprintf(id, sizeof id, "e%lld", next);
            snprintf(key, sizeof key, "k%05lld", next % KEYS);
            event_payload(next, payload, sizeof payload);
            sent_at[next] = wall_s();
            produce_ce(p, in, key, id, payload);
            rd_kafka_poll(p, 0);
            next++;
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
        if (m) {
            if (!m->err) {
                const char *sid = strstr((const char *)m->payload, "\"source_id\":\"e");
                rd_kafka_timestamp_type_t tt;
                int64_t ts = rd_kafka_message_timestamp(m, &tt);
                long long k = sid ? atoll(sid + 14) : -1;
                if (k >= 0 && k < n && pub_at[k])
                    dup_out++;
                else if (k >= 0 && k < n) {
                    pub_at[k] = (double)ts / 1000.0;
                    recv_at[k] = wall_s();
                    seen++;
                    if (k >= warm)
                        lat[got++] = pub_at[k] - sent_at[k];
                }
            }
            rd_kafka_message_destroy(m);
        }
        if (wall_s() - t0 > LAT_WARMUP_SECONDS + seconds + 60)
            break; /* reported below: latency over what arrived */
    }
    long long missing = n - seen;
    lat_stages(tag, dbname, warm, n, sent_at, pub_at, recv_at, commit_at);
    if (got == 0)
        die(id_, "no output arrived");
    qsort(lat, (size_t)got, sizeof *lat, cmp_double);
    char what[96];
    row *r;
    if (!reloads) {
        snprintf(what, sizeof what, "latency at %d events/s offered", rate_per_s);
        r = add_row("H3", what, (double)got, seconds);
        snprintf(r->extra, sizeof r->extra, "p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms%s",
                 lat[got / 2] * 1000, lat[got * 99 / 100] * 1000,
                 lat[got * 999 / 1000] * 1000,
                 missing ? " (some outputs not seen: see log)" : "");
        if (run < 8) {
            h3_p99[run] = lat[got * 99 / 100] * 1000;
            h3_rate[run] = rate_per_s;
        }
        /* H4's gaps without reloads, to set them against. */
        double from = t0 + LAT_WARMUP_SECONDS, to = t0 + LAT_WARMUP_SECONDS + seconds;
        fprintf(stderr, "bench: %s: longest gap %.0f ms between commits, %.0f ms"
                        " between publishes (no reloads)\n",
                tag, longest_gap(commit_at, n, from, to), longest_gap(pub_at, n, from, to));
    } else {
        /* Around the reloads: from the first SIGHUP to 1 s after the last. */
        if (!reloaded)
            die("H4", "no reload was sent");
        double from = reload_at[0], to = reload_at[reloaded - 1] + 1.0;
        double gap_commit = longest_gap(commit_at, n, from, to);
        double gap_pub = longest_gap(pub_at, n, from, to);
        size_t m = 0;
        for (long long k = warm; k < n; k++)
            if (pub_at[k] && sent_at[k] >= from && sent_at[k] <= to)
                lat[m++] = pub_at[k] - sent_at[k];
        double p99 = pct(lat, m, 990);
        PGconn *dbc = db(dbname);
        long long eff = sql_num(dbc, "SELECT count(*) FROM bench_effect");
        long long uniq = sql_num(dbc, "SELECT count(DISTINCT event_id) FROM bench_effect");
        long long left = sql_num(dbc, "SELECT count(*) FROM yard_outbox");
        PQfinish(dbc);
        char log[600], line[2048];
        snprintf(log, sizeof log, "%s/host.log", h.dir);
        FILE *f = fopen(log, "r");
        int upgraded = 0;
        while (f && fgets(line, sizeof line, f))
            upgraded += strstr(line, "msg=\"plugin upgraded\"") != NULL;
        if (f)
            fclose(f);
        snprintf(what, sizeof what, "%d SIGHUP upgrades at %d events/s", reloads,
                 rate_per_s);
        r = add_row("H4", what, (double)n, seconds + LAT_WARMUP_SECONDS);
        snprintf(r->extra, sizeof r->extra,
                 "longest gap %.0f ms between commits, %.0f ms between publishes;"
                 " p99 %.1f ms during reloads; %d upgraded; effects %lld once of %lld,"
                 " %lld outputs missing, %lld re-sent",
                 gap_commit, gap_pub, p99, upgraded, uniq, n, missing, dup_out);
        h4_gap = gap_commit > gap_pub ? gap_commit : gap_pub;
        h4_ok = eff == n && uniq == n && left == 0 && missing == 0 &&
                upgraded == reloads;
        if (!h4_ok)
            fprintf(stderr, "bench: H4: %lld effects (%lld distinct) of %lld, %lld"
                            " unpublished, %lld outputs missing, %d of %d upgrades\n",
                    eff, uniq, n, left, missing, upgraded, reloads);
    }
    if (missing)
        fprintf(stderr, "bench: %s: %lld outputs not seen in time\n", tag, missing);
    fprintf(stderr, "bench: %s: %s\n", tag, r->extra);
    free(sent_at);
    free(pub_at);
    free(recv_at);
    free(commit_at);
    free(lat);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    host_stop(&h);
    if (reloads) {
        unlink(so);
        rmdir(plugdir);
    }
}

/* ---- H5: footprint with every domain plugin ----------------------------- */

/* All conf.d plugins plus bench_sink on a fresh database: the first start
 * applies every migration; ready and idle RSS are taken on the second,
 * after the consumer groups have joined. */
static void bench_h5(long rss_busy_h1)
{
    create_db("h5");
    /* The host loads plugins from one directory only. */
    char plugdir[64] = "/tmp/yard-bench-plugins-XXXXXX", cmd[1024];
    if (!mkdtemp(plugdir))
        die("mkdtemp", strerror(errno));
    snprintf(cmd, sizeof cmd, "cp %s/*.so %s/bench_sink.so %s/", YARD_DOMAIN_PLUGIN_DIR,
             YARD_BENCH_PLUGIN_DIR, plugdir);
    if (system(cmd) != 0)
        die("H5", "cannot copy the plugins (are they built?)");
    host_opts o = {.domain = true, .plugin_dir = plugdir};
    host_run h;
    host_start_opts(&h, "h5", "h5.in", "h5.out", &o);
    double first = host_ready(&h);
    host_stop(&h);
    host_start_opts(&h, "h5", "h5.in", "h5.out", &o);
    double ready = host_ready(&h);
    int plugins = log_count(&h, "msg=\"plugin loaded\"");
    sleep(6); /* group joins on the mock take ~3 s */
    long rss = rss_kb(h.pid);
    host_stop(&h);
    snprintf(cmd, sizeof cmd, "rm -rf %s", plugdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", plugdir);
    h5_rss_kb = rss;
    h5_ready_ms = ready * 1000;
    row *r = add_row("H5", "footprint: start-up to ready, RSS", 0, 0);
    snprintf(r->extra, sizeof r->extra,
             "%d plugins loaded (conf.d + bench_sink): ready in %.0f ms (%.0f ms on"
             " the first start, with migrations); RSS %ld kB idle; %ld kB peak"
             " under H1 (bench_sink only)",
             plugins, ready * 1000, first * 1000, rss, rss_busy_h1);
}

/* ---- H6: instructions per event ----------------------------------------- */

#define H6_EVENTS 10000

/* The Ir a callgrind_annotate --inclusive=yes line gives `fn` (0: none). */
static double annotate_ir(const char *path, const char *fn)
{
    FILE *f = fopen(path, "r");
    char line[4096], pat[128];
    snprintf(pat, sizeof pat, ":%s ", fn);
    double ir = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, pat) && !(strcmp(fn, "PROGRAM TOTALS") == 0 &&
                                    strstr(line, "PROGRAM TOTALS")))
            continue;
        double v = 0;
        const char *c = line;
        while (*c == ' ') /* right-aligned */
            c++;
        for (; *c && *c != ' ' && *c != '('; c++)
            if (*c >= '0' && *c <= '9')
                v = v * 10 + (*c - '0');
        if (v > ir)
            ir = v;
    }
    if (f)
        fclose(f);
    return ir;
}

/* The host under callgrind over H6_EVENTS events: instructions per event,
 * in all and per thread (inclusive cost of each thread's main function).
 * Instruction counts do not depend on how busy the machine is. */
static void bench_h6(void)
{
    if (system("valgrind --version >/dev/null 2>&1") != 0) {
        row *r = add_row("H6", "instructions per event (callgrind)", 0, 0);
        snprintf(r->extra, sizeof r->extra, "skipped: valgrind not installed");
        return;
    }
    char err[256];
    yard_mock_topic_create(mock, "h6.in", PARTITIONS, err, sizeof err);
    yard_mock_topic_create(mock, "h6.out", PARTITIONS, err, sizeof err);
    produce_input("h6.in", H6_EVENTS, 0);
    create_db("h6");
    char cg[128], ann[160], out_opt[160];
    snprintf(cg, sizeof cg, "/tmp/yard-bench-h6-%d.callgrind", (int)getpid());
    snprintf(ann, sizeof ann, "%s.txt", cg);
    snprintf(out_opt, sizeof out_opt, "--callgrind-out-file=%s", cg);
    const char *wrap[] = {"valgrind", "--tool=callgrind", out_opt, NULL};
    host_opts o = {.wrap = wrap};
    host_run h;
    host_start_opts(&h, "h6", "h6.in", "h6.out", &o);
    host_wait_log(&h, "msg=\"host started\"");
    rd_kafka_t *probe = producer("0");
    long long published = 0;
    double last_change = now_s();
    while (published < H6_EVENTS) {
        usleep(200000);
        long long c = topic_count(probe, "h6.out");
        if (c != published)
            last_change = now_s();
        published = c;
        if (now_s() - last_change > 120)
            die("H6", "no progress for 120 s");
    }
    rd_kafka_destroy(probe);
    PGconn *c = db("h6");
    long long eff = sql_num(c, "SELECT count(DISTINCT event_id) FROM bench_effect");
    PQfinish(c);
    if (eff != H6_EVENTS)
        die("H6", "effect count mismatch");
    kill(h.pid, SIGTERM);
    int st;
    waitpid(h.pid, &st, 0);
    running_host = 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "callgrind_annotate --inclusive=yes %s > %s 2>/dev/null",
             cg, ann);
    if (system(cmd) != 0)
        die("H6", "callgrind_annotate failed");
    double total = annotate_ir(ann, "PROGRAM TOTALS");
    double worker = annotate_ir(ann, "worker_main");
    double consumer = annotate_ir(ann, "consumer_main");
    double relay = annotate_ir(ann, "relay_main");
    /* librdkafka's statistics are parsed every 2 s whatever the load (and
     * valgrind stretches the run 50-fold): left out of the per-event sum. */
    double stats = annotate_ir(ann, "stats_cb");
    row *r = add_row("H6", "instructions per event (callgrind)", H6_EVENTS, 0);
    snprintf(r->extra, sizeof r->extra,
             "%.0fk Ir/event in all, start-up included, statistics callbacks"
             " (%.0fk) not; of which engine workers %.0fk (the handler path:"
             " batch, handler, emit, SQL), consumer %.0fk, relay %.0fk (these two"
             " with the statistics callbacks they run)",
             (total - stats) / H6_EVENTS / 1000, stats / H6_EVENTS / 1000,
             worker / H6_EVENTS / 1000, consumer / H6_EVENTS / 1000,
             relay / H6_EVENTS / 1000);
    fprintf(stderr, "bench: H6: %s (profile: %s)\n", r->extra,
            keep_dirs ? ann : "use --keep to keep it");
    if (!keep_dirs) {
        unlink(cg);
        unlink(ann);
        snprintf(cmd, sizeof cmd, "rm -rf %s", h.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", h.dir);
    }
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
        bool ratio = strcmp(r->id, "H1") == 0 || strcmp(r->id, "H2") == 0;
        fprintf(f, "| %s | %s | %.0f | %.2f | %.0f |", r->id, r->what, r->events,
                r->seconds, x);
        if (ratio && b1 && b2 && b3)
            fprintf(f, " %.2f | %.2f | %.1f |", x / b1, x / b2, x / b3);
        else
            fprintf(f, " | | |");
        fprintf(f, " %s |\n", r->extra);
    }
    double h1 = rate("H1"), h2 = rate("H2");
    fprintf(f, "\nTargets:\n");
    if (h1 && b2 && b3)
        fprintf(f, "- H1 >= 0.5 x B2: %s (%.2f); H1 >= 20 x B3: %s (%.1f)\n",
                h1 >= 0.5 * b2 ? "met" : "NOT met", h1 / b2,
                h1 >= 20 * b3 ? "met" : "NOT met", h1 / b3);
    if (h1 && h2)
        fprintf(f, "- H2 within 10%% of H1: %s (%.2f)\n",
                h2 >= 0.9 * h1 ? "met" : "NOT met", h2 / h1);
    for (int i = 0; i < 8; i++)
        if (h3_rate[i] == 5000)
            fprintf(f, "- H3 p99 <= 25 ms at 5000 events/s: %s (%.1f ms)\n",
                    h3_p99[i] <= 25 ? "met" : "NOT met", h3_p99[i]);
    if (h4_gap >= 0)
        fprintf(f, "- H4 longest gap <= 250 ms, no lost or duplicated effect: %s"
                   " (%.0f ms, effects %s)\n",
                h4_gap <= 250 && h4_ok ? "met" : "NOT met", h4_gap,
                h4_ok ? "checked" : "WRONG");
    if (h5_rss_kb)
        fprintf(f, "- H5 RSS <= 30 MB idle with every plugin: %s (%.1f MB); ready"
                   " <= 200 ms: %s (%.0f ms)\n",
                h5_rss_kb <= 30 * 1024 ? "met" : "NOT met", h5_rss_kb / 1024.0,
                h5_ready_ms <= 200 ? "met" : "NOT met", h5_ready_ms);
}

/* --only: a comma-separated list of scenario ids (NULL: all). */
static const char *only;

static bool want(const char *id)
{
    if (!only)
        return true;
    size_t l = strlen(id);
    for (const char *p = only; (p = strstr(p, id)) != NULL; p += l)
        if ((p == only || p[-1] == ',') && (p[l] == ',' || p[l] == '\0'))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    const char *loads_arg = "1000,5000,20000";
    bool latency = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            n_events = atoll(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--loads") == 0 && i + 1 < argc)
            loads_arg = argv[++i];
        else if (strcmp(argv[i], "--no-latency") == 0)
            latency = false;
        else if (strcmp(argv[i], "--keep") == 0)
            keep_dirs = true;
        else {
            fprintf(stderr, "usage: yard-bench [--events N] [--out FILE] "
                            "[--no-latency] [--loads N,N,..] [--only B1,B2,B3,H1,...] [--keep]\n");
            return 2;
        }
    }
    char err[1024];
    /* Commit timestamps: H3 splits latency at the handler's commit. */
    static const char *const pg_settings[] = {"track_commit_timestamp=on", NULL};
    yard_pgtmp_opts po = {.fsync = true, .extra_settings = pg_settings};
    if (yard_pgtmp_start(&po, &pg, err, sizeof err))
        die("PostgreSQL", err);
    if (yard_mock_start(1, &mock, err, sizeof err))
        die("mock cluster", err);
    brokers = yard_mock_bootstraps(mock);
    const char *topics[] = {"bench.in", "bench.out", "b1.out", "bench2.in", "bench2.out"};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++)
        if (yard_mock_topic_create(mock, topics[i], PARTITIONS, err, sizeof err))
            die("topic", err);

    if (want("B1") || want("H1")) {
        double t0 = now_s();
        long long sent = produce_input("bench.in", n_events, 0);
        fprintf(stderr, "bench: produced %lld input events in %.1f s\n", sent,
                now_s() - t0);
    }
    if (want("B1"))
        bench_b1("bench.in", n_events);
    if (want("B2"))
        bench_b2(n_events);
    if (want("B3"))
        bench_b3(n_events < B3_EVENTS_MAX ? n_events : B3_EVENTS_MAX);

    long rss_idle = 0, rss_busy = 0;
    double ready = 0;
    row *r;
    if (want("H1")) {
        double cpu[3];
        double secs = host_throughput("h1", "bench.in", "bench.out", n_events,
                                      &rss_idle, &rss_busy, &ready, cpu);
        r = add_row("H1", "host: domain row + emitted event per event",
                    (double)n_events, secs);
        snprintf(r->extra, sizeof r->extra,
                 "4 workers, batch 256; verified effects once; CPU s: host %.1f,"
                 " PostgreSQL %.1f, mock cluster %.1f",
                 cpu[0], cpu[1], cpu[2]);
    }
    if (want("H2")) {
        long long sent2 = produce_input("bench2.in", n_events, 10);
        double secs = host_throughput("h2", "bench2.in", "bench2.out", n_events,
                                      NULL, NULL, NULL, NULL);
        r = add_row("H2", "host with 10% redelivered events", (double)n_events, secs);
        snprintf(r->extra, sizeof r->extra, "%lld messages for %lld events; verified",
                 sent2, n_events);
    }

    if (latency && want("H3")) {
        int run = 0;
        for (const char *p = loads_arg; *p; p += *p == ',') {
            char *end;
            long load = strtol(p, &end, 10);
            if (end == p || load <= 0)
                die("--loads", "a comma-separated list of events/s");
            bench_lat((int)load, run++, 0);
            p = end;
        }
    }
    if (want("H4"))
        bench_lat(H4_RATE, 0, H4_RELOADS);
    if (want("H5"))
        bench_h5(rss_busy);
    if (want("H6"))
        bench_h6();

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
