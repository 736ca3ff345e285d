/*
 * test_embedded.c — the embedded stack: throwaway PostgreSQL (pgtmp), the
 * mock Kafka cluster (mock) and the test broker process (yard-testbroker).
 */
#include "err.h"
#include "mock.h"
#include "pgtmp.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

enum {
    N_MSGS = 100,
    N_PARTS = 4,
    WAIT_MS = 20000,
};

/* ---- helpers ---------------------------------------------------------- */

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static bool pid_gone(pid_t pid)
{
    return kill(pid, 0) == -1 && errno == ESRCH;
}

/* Run `sql`; returns the first value of the first row (malloc'd) or NULL
 * on error. */
static char *q1(const char *dsn, const char *sql)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, sql);
    char *out = NULL;
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_TUPLES_OK && PQntuples(r) > 0)
        out = strdup(PQgetvalue(r, 0, 0));
    else if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        out = strdup("");
    else
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return out;
}

static bool q_is(const char *dsn, const char *sql, const char *want)
{
    char *v = q1(dsn, sql);
    bool ok = v && strcmp(v, want) == 0;
    if (v && !ok)
        fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", sql, v, want);
    free(v);
    return ok;
}

/* No child of ours is left, reaped or not. */
static bool no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* ---- pgtmp ------------------------------------------------------------ */

static void test_pgtmp_lifecycle(void)
{
    char err[2048] = "";
    yard_pgtmp *pg = NULL;
    yard_pgtmp_opts o = {0};
    int rc = yard_pgtmp_start(&o, &pg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "pgtmp start: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pg);

    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", yard_pgtmp_dir(pg));
    CU_ASSERT(strncmp(dir, "/tmp/yardpg-", 12) == 0);
    CU_ASSERT(path_exists(dir));
    CU_ASSERT(yard_pgtmp_port(pg) > 0);
    pid_t pid1 = yard_pgtmp_pid(pg);
    CU_ASSERT(pid1 > 0);

    char want[PATH_MAX + 64];
    snprintf(want, sizeof want,
             "host=%s port=%d dbname=postgres user=postgres", dir,
             yard_pgtmp_port(pg));
    CU_ASSERT_STRING_EQUAL(yard_pgtmp_dsn(pg), want);

    const char *dsn = yard_pgtmp_dsn(pg);
    CU_ASSERT(q_is(dsn, "SELECT 1", "1"));
    CU_ASSERT(q_is(dsn, "SHOW fsync", "off"));
    CU_ASSERT(q_is(dsn, "SHOW max_connections", "200"));
    CU_ASSERT(q_is(dsn, "SHOW server_encoding", "UTF8"));
    CU_ASSERT(q_is(dsn, "CREATE TABLE t (id int PRIMARY KEY, v text)", ""));
    CU_ASSERT(q_is(dsn,
                   "INSERT INTO t SELECT g, 'v' || g "
                   "FROM generate_series(1, 3) g",
                   ""));

    /* A crash of postgres keeps what was committed. */
    rc = yard_pgtmp_restart(pg, "immediate", err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "restart: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    pid_t pid2 = yard_pgtmp_pid(pg);
    CU_ASSERT(pid2 > 0 && pid2 != pid1);
    CU_ASSERT(pid_gone(pid1));
    CU_ASSERT_STRING_EQUAL(yard_pgtmp_dsn(pg), want); /* same port */
    CU_ASSERT(q_is(dsn = yard_pgtmp_dsn(pg), "SELECT count(*) FROM t", "3"));

    rc = yard_pgtmp_restart(pg, "fast", err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(q_is(yard_pgtmp_dsn(pg), "SELECT v FROM t WHERE id = 2", "v2"));

    CU_ASSERT_EQUAL(yard_pgtmp_restart(pg, "sideways", err, sizeof err),
                    YARD_EINVAL);
    CU_ASSERT(strstr(err, "sideways") != NULL);

    pid_t pid3 = yard_pgtmp_pid(pg);
    yard_pgtmp_stop(pg);
    CU_ASSERT(!path_exists(dir));
    CU_ASSERT(pid_gone(pid3));
    CU_ASSERT(no_children());
}

static void test_pgtmp_keep_and_settings(void)
{
    char *base = yard_test_tmpdir("emb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(base);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/pg", base);
    char err[2048] = "";
    const char *extra[] = {"work_mem=8MB", "application_name=emb", NULL};
    yard_pgtmp_opts o = {.data_dir = dir, .keep = true,
                         .extra_settings = extra};
    yard_pgtmp *pg = NULL;

    if (geteuid() == 0) {
        /* The postgres user cannot pass through a 0700 root directory. */
        chmod(base, 0700);
        CU_ASSERT_EQUAL(yard_pgtmp_start(&o, &pg, err, sizeof err),
                        YARD_EINVAL);
        CU_ASSERT_PTR_NULL(pg);
        CU_ASSERT(strstr(err, base) != NULL &&
                  strstr(err, "not searchable") != NULL);
        chmod(base, 0711);
    }

    int rc = yard_pgtmp_start(&o, &pg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "pgtmp start: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(yard_pgtmp_dir(pg), dir);
    const char *dsn = yard_pgtmp_dsn(pg);
    CU_ASSERT(q_is(dsn, "SHOW work_mem", "8MB"));
    CU_ASSERT(q_is(dsn, "CREATE TABLE kept (x int)", ""));
    CU_ASSERT(q_is(dsn, "INSERT INTO kept VALUES (42)", ""));
    pid_t pid = yard_pgtmp_pid(pg);
    yard_pgtmp_stop(pg);
    CU_ASSERT(pid_gone(pid));
    char ver[PATH_MAX + 16];
    snprintf(ver, sizeof ver, "%s/PG_VERSION", dir);
    CU_ASSERT(path_exists(ver));

    /* The kept cluster starts again without initdb, data intact. */
    pg = NULL;
    yard_pgtmp_opts o2 = {.data_dir = dir};
    rc = yard_pgtmp_start(&o2, &pg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "pgtmp restart from kept dir: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(q_is(yard_pgtmp_dsn(pg), "SELECT x FROM kept", "42"));
    yard_pgtmp_stop(pg);
    CU_ASSERT(path_exists(ver)); /* a named directory is never removed */
    CU_ASSERT(no_children());
    yard_test_rm_rf(base);
    free(base);

    /* Bad settings are refused before anything starts. */
    const char *bad[] = {"nonsense", NULL};
    yard_pgtmp_opts o3 = {.extra_settings = bad};
    pg = NULL;
    CU_ASSERT_EQUAL(yard_pgtmp_start(&o3, &pg, err, sizeof err),
                    YARD_EINVAL);
    CU_ASSERT(strstr(err, "nonsense") != NULL);
    CU_ASSERT_PTR_NULL(pg);
    yard_pgtmp_stop(NULL);
}

/* ---- mock ------------------------------------------------------------- */

static int delivered_ok;
static int delivered_bad;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op)
{
    (void)rk;
    (void)op;
    if (m->err)
        delivered_bad++;
    else
        delivered_ok++;
}

/* Brokers going down on purpose make clients complain; keep it quiet. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static rd_kafka_t *make_client(rd_kafka_type_t type, const char *bootstraps)
{
    char es[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet_log);
    bool ok = rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, es,
                                sizeof es) == RD_KAFKA_CONF_OK;
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        ok = ok && rd_kafka_conf_set(c, "linger.ms", "5", es, sizeof es) ==
                       RD_KAFKA_CONF_OK;
    } else {
        /* consumer_poll() wants a group.id, but with partitions assigned
         * by hand (no subscribe) the group is never joined: no 3 s join. */
        ok = ok &&
             rd_kafka_conf_set(c, "group.id", "emb-assigned", es,
                               sizeof es) == RD_KAFKA_CONF_OK &&
             rd_kafka_conf_set(c, "enable.auto.commit", "false", es,
                               sizeof es) == RD_KAFKA_CONF_OK &&
             rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", es, sizeof es) ==
                 RD_KAFKA_CONF_OK;
    }
    if (!ok) {
        fprintf(stderr, "conf: %s\n", es);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, es, sizeof es);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", es);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

/* Produce `n` messages "<tag>-<i>" round-robin over the partitions; returns
 * how many were acknowledged. */
static int produce(rd_kafka_t *p, const char *topic, const char *tag, int n)
{
    delivered_ok = delivered_bad = 0;
    for (int i = 0; i < n; i++) {
        char v[64];
        int len = snprintf(v, sizeof v, "%s-%d", tag, i);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % N_PARTS),
            RD_KAFKA_V_VALUE(v, (size_t)len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
    }
    rd_kafka_flush(p, WAIT_MS);
    rd_kafka_poll(p, 0);
    return delivered_bad ? -delivered_bad : delivered_ok;
}

/* Consume from the start of every partition until `n` distinct "<tag>-<i>"
 * arrived or time runs out; returns the distinct count. */
static int consume(const char *bootstraps, const char *topic,
                   const char *tag, int n)
{
    rd_kafka_t *c = make_client(RD_KAFKA_CONSUMER, bootstraps);
    if (!c)
        return -1;
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(N_PARTS);
    for (int i = 0; i < N_PARTS; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);

    bool *seen = calloc((size_t)n, sizeof(*seen));
    int got = 0;
    size_t taglen = strlen(tag);
    long long until = yard_test_now_ms() + WAIT_MS;
    while (got < n && yard_test_now_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (!m->err && m->len > taglen + 1 && m->len < 64 &&
            memcmp(m->payload, tag, taglen) == 0) {
            char v[64];
            memcpy(v, m->payload, m->len);
            v[m->len] = '\0';
            int i = atoi(v + taglen + 1);
            if (i >= 0 && i < n && !seen[i]) {
                seen[i] = true;
                got++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(seen);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got;
}

static void test_mock_produce_consume(void)
{
    char err[512] = "";
    yard_mock *m = NULL;
    CU_ASSERT_EQUAL(yard_mock_start(0, &m, err, sizeof err), YARD_EINVAL);
    CU_ASSERT_EQUAL(yard_mock_start(10, &m, err, sizeof err), YARD_EINVAL);
    int rc = yard_mock_start(3, &m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "mock start: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    const char *bs = yard_mock_bootstraps(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bs);
    CU_ASSERT(strncmp(bs, "127.0.0.1:", 10) == 0);
    CU_ASSERT_EQUAL(yard_mock_topic_create(m, "emb", N_PARTS, err, sizeof err),
                    0);
    /* "unless it exists": a second create is not an error. */
    CU_ASSERT_EQUAL(yard_mock_topic_create(m, "emb", N_PARTS, err, sizeof err),
                    0);
    CU_ASSERT_EQUAL(yard_mock_topic_create(m, "emb0", 0, err, sizeof err),
                    YARD_EINVAL);

    rd_kafka_t *p = make_client(RD_KAFKA_PRODUCER, bs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(produce(p, "emb", "a", N_MSGS), N_MSGS);
    CU_ASSERT_EQUAL(consume(bs, "emb", "a", N_MSGS), N_MSGS);

    /* A broker down and back up: the cluster still takes messages. */
    CU_ASSERT_EQUAL(yard_mock_command(m, "down 1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(yard_mock_command(m, "up 1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(produce(p, "emb", "b", 10), 10);
    CU_ASSERT_EQUAL(consume(bs, "emb", "b", 10), 10);
    rd_kafka_destroy(p);
    yard_mock_stop(m);
}

static void test_mock_commands(void)
{
    char err[512] = "";
    yard_mock *m = NULL;
    CU_ASSERT_EQUAL_FATAL(yard_mock_start(2, &m, err, sizeof err), 0);

    static const char *good[] = {
        "topic t1 2",
        "  topic   t2\t3  ",
        "leader t1 0 2",
        "leader t1 1 -1",
        "rtt 2 5",
        "rtt 2 0",
        "error Produce NOT_LEADER_FOR_PARTITION 2",
        "error 0 6 1",
        "error fetch RD_KAFKA_RESP_ERR__TRANSPORT 1",
        "down 2",
        "up 2",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        err[0] = '\0';
        int rc = yard_mock_command(m, good[i], err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "\"%s\": %s\n", good[i], err);
        CU_ASSERT_EQUAL(rc, 0);
    }

    /* Each bad command is refused with a message naming the bad word. */
    static const struct {
        const char *line;
        const char *word;
    } bad[] = {
        {"bogus", "\"bogus\""},
        {"down x", "\"x\""},
        {"down 3", "\"3\""},
        {"up 0", "\"0\""},
        {"topic t3", "usage"},
        {"topic t3 two", "\"two\""},
        {"topic t3 2 extra", "\"extra\""},
        {"leader t1 zero 1", "\"zero\""},
        {"rtt 1 -5", "\"-5\""},
        {"error Nope 6 1", "\"Nope\""},
        {"error Produce NOPE_ERR 1", "\"NOPE_ERR\""},
        {"error Produce 6 0", "\"0\""},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(yard_mock_command(m, bad[i].line, err, sizeof err),
                        YARD_EINVAL);
        if (!strstr(err, bad[i].word))
            fprintf(stderr, "\"%s\": message \"%s\" lacks %s\n", bad[i].line,
                    err, bad[i].word);
        CU_ASSERT(strstr(err, bad[i].word) != NULL);
    }

    /* Well-formed, but the cluster says no. */
    err[0] = '\0';
    CU_ASSERT_EQUAL(yard_mock_command(m, "leader t1 9 1", err, sizeof err),
                    YARD_EKAFKA);
    CU_ASSERT(strstr(err, "leader t1 9 1") != NULL);
    yard_mock_stop(m);
    yard_mock_stop(NULL);
}

/* ---- yard-testbroker -------------------------------------------------- */

/* One line from fd within timeout_ms, without the newline; false on EOF,
 * error or timeout. */
static bool read_line(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t have = 0;
    long long until = yard_test_now_ms() + timeout_ms;
    while (have + 1 < len) {
        int left = (int)(until - yard_test_now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        char ch;
        ssize_t n = read(fd, &ch, 1);
        if (n <= 0)
            return false;
        if (ch == '\n') {
            buf[have] = '\0';
            return true;
        }
        buf[have++] = ch;
    }
    return false;
}

static bool send_line(int fd, const char *line)
{
    size_t n = strlen(line);
    return write(fd, line, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
}

/* Wait for pid with a bound; its exit status, or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    long long until = yard_test_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (yard_test_now_ms() >= until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(10000);
    }
}

struct broker_proc {
    pid_t pid;
    int in;  /* its stdin */
    int out; /* its stdout */
    char bootstrap[512];
};

static bool broker_spawn(struct broker_proc *b, char *const argv[])
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return false;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return false;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return false;
    }
    b->pid = pid;
    b->in = in[1];
    b->out = out[0];
    char line[512];
    if (!read_line(b->out, line, sizeof line, WAIT_MS) ||
        strncmp(line, "bootstrap=", 10) != 0) {
        fprintf(stderr, "testbroker: no bootstrap line\n");
        return false;
    }
    snprintf(b->bootstrap, sizeof b->bootstrap, "%s", line + 10);
    return true;
}

static void broker_close(struct broker_proc *b)
{
    if (b->in >= 0)
        close(b->in);
    if (b->out >= 0)
        close(b->out);
    b->in = b->out = -1;
}

/* Partition count of `topic` as the cluster at `bootstraps` reports it. */
static int partitions_of(const char *bootstraps, const char *topic)
{
    rd_kafka_t *rk = make_client(RD_KAFKA_PRODUCER, bootstraps);
    if (!rk)
        return -1;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    int n = -1;
    if (!rd_kafka_metadata(rk, 0, t, &md, WAIT_MS)) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return n;
}

static void test_testbroker(void)
{
    char *argv[] = {YARD_TESTBROKER_BIN, "--brokers", "2", "--topic",
                    "pre:3", NULL};
    struct broker_proc b = {.pid = -1, .in = -1, .out = -1};
    if (!broker_spawn(&b, argv)) {
        broker_close(&b);
        if (b.pid > 0)
            wait_exit(b.pid, 5000);
        CU_FAIL_FATAL("yard-testbroker did not start");
    }
    CU_ASSERT(strncmp(b.bootstrap, "127.0.0.1:", 10) == 0);

    char line[512];
    CU_ASSERT(send_line(b.in, "topic t1 2"));
    CU_ASSERT(read_line(b.out, line, sizeof line, WAIT_MS));
    CU_ASSERT_STRING_EQUAL(line, "ok");
    CU_ASSERT(send_line(b.in, "bogus"));
    CU_ASSERT(read_line(b.out, line, sizeof line, WAIT_MS));
    CU_ASSERT(strncmp(line, "error ", 6) == 0 && strstr(line, "bogus"));
    CU_ASSERT(send_line(b.in, "down 2"));
    CU_ASSERT(read_line(b.out, line, sizeof line, WAIT_MS));
    CU_ASSERT_STRING_EQUAL(line, "ok");
    CU_ASSERT(send_line(b.in, "up 2"));
    CU_ASSERT(read_line(b.out, line, sizeof line, WAIT_MS));
    CU_ASSERT_STRING_EQUAL(line, "ok");

    /* Another process reaches the cluster, and sees the topics. */
    CU_ASSERT_EQUAL(partitions_of(b.bootstrap, "pre"), 3);
    CU_ASSERT_EQUAL(partitions_of(b.bootstrap, "t1"), 2);

    /* End of input: a clean exit. */
    close(b.in);
    b.in = -1;
    CU_ASSERT(!read_line(b.out, line, sizeof line, WAIT_MS)); /* EOF */
    CU_ASSERT_EQUAL(wait_exit(b.pid, WAIT_MS), 0);
    broker_close(&b);

    /* SIGTERM: a clean exit too. */
    char *argv2[] = {YARD_TESTBROKER_BIN, NULL};
    struct broker_proc c = {.pid = -1, .in = -1, .out = -1};
    if (!broker_spawn(&c, argv2)) {
        broker_close(&c);
        if (c.pid > 0)
            wait_exit(c.pid, 5000);
        CU_FAIL_FATAL("yard-testbroker did not start");
    }
    kill(c.pid, SIGTERM);
    CU_ASSERT_EQUAL(wait_exit(c.pid, WAIT_MS), 0);
    broker_close(&c);

    /* Bad arguments: usage error, no cluster. */
    char *argv3[] = {YARD_TESTBROKER_BIN, "--topic", "nocount", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        execv(argv3[0], argv3);
        _exit(127);
    }
    CU_ASSERT_EQUAL(wait_exit(pid, WAIT_MS), 2);
    CU_ASSERT(no_children());
}

static CU_TestInfo tests[] = {
    {"pgtmp start, query, restart, stop", test_pgtmp_lifecycle},
    {"pgtmp kept data dir and settings", test_pgtmp_keep_and_settings},
    {"mock produce and consume", test_mock_produce_consume},
    {"mock commands", test_mock_commands},
    {"yard-testbroker process", test_testbroker},
    CU_TEST_INFO_NULL,
};

int main(void)
{
    return yard_test_main("embedded", NULL, NULL, tests);
}
