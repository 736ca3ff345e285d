/* harness.c — real parts for integration tests (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgtmp.h"
#include "testutil.h"

struct th_broker {
    pid_t pid;
    FILE *in;  /* its stdin */
    FILE *out; /* its stdout */
    char bootstrap[1024];
};

th_broker *th_broker_start(int brokers, const char *const *topics, size_t n)
{
    int to[2], from[2];
    /* Every topic on the command line (built before fork: no malloc in the
     * child). */
    char nb[8];
    snprintf(nb, sizeof nb, "%d", brokers);
    const char **argv = calloc(2 * n + 4, sizeof *argv);
    if (!argv)
        return NULL;
    size_t a = 0;
    argv[a++] = YARD_TESTBROKER_BIN;
    argv[a++] = "--brokers";
    argv[a++] = nb;
    for (size_t i = 0; i < n; i++) {
        argv[a++] = "--topic";
        argv[a++] = topics[i];
    }
    if (pipe(to) || pipe(from)) {
        free(argv);
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        return NULL;
    }
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    free(argv);
    close(to[0]);
    close(from[1]);
    th_broker *b = calloc(1, sizeof *b);
    b->pid = pid;
    b->in = fdopen(to[1], "w");
    b->out = fdopen(from[0], "r");
    char line[600];
    while (fgets(line, sizeof line, b->out)) {
        if (strncmp(line, "bootstrap=", 10) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(b->bootstrap, sizeof b->bootstrap, "%s", line + 10);
            return b;
        }
    }
    fprintf(stderr, "test broker did not start\n");
    th_broker_stop(b);
    return NULL;
}

const char *th_broker_bootstrap(const th_broker *b) { return b->bootstrap; }

bool th_broker_cmd(th_broker *b, const char *line)
{
    fprintf(b->in, "%s\n", line);
    fflush(b->in);
    char reply[512];
    if (!fgets(reply, sizeof reply, b->out))
        return false;
    if (strncmp(reply, "ok", 2) != 0)
        fprintf(stderr, "broker: %s -> %s", line, reply);
    return strncmp(reply, "ok", 2) == 0;
}

void th_broker_stop(th_broker *b)
{
    if (!b)
        return;
    fclose(b->in); /* EOF: it shuts down */
    if (th_host_wait(b->pid, 10000) < 0)
        fprintf(stderr, "test broker had to be killed\n");
    fclose(b->out);
    free(b);
}

pid_t th_host_spawn(const char *conf_dir)
{
    char log[1024];
    snprintf(log, sizeof log, "%s/host.log", conf_dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl(YARD_SWITCHYARD_BIN, YARD_SWITCHYARD_BIN, "run", "--conf-dir",
              conf_dir, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int th_host_wait(pid_t pid, long long timeout_ms)
{
    long long end = yard_test_now_ms() + timeout_ms;
    int st = 0;
    while (yard_test_now_ms() < end) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

PGconn *th_connect(const char *dsn, const char *db)
{
    char full[1024];
    snprintf(full, sizeof full, "%s dbname=%s", dsn, db);
    PGconn *c = PQconnectdb(full);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect %s: %s", full, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

long long th_sql_num(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
        v = PQgetisnull(r, 0, 0) ? 0 : atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

bool th_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

long long th_wait_num(PGconn *c, const char *sql, long long want,
                      long long timeout_ms)
{
    long long end = yard_test_now_ms() + timeout_ms, v = -1;
    while (yard_test_now_ms() < end) {
        v = th_sql_num(c, sql);
        if (v == want)
            break;
        usleep(100000);
    }
    return v;
}

long long th_wait_sqlf(PGconn *c, long long want, long long timeout_ms,
                       const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    long long v = th_wait_num(c, sql, want, timeout_ms);
    if (v != want)
        printf("\n  %s: %lld, want %lld\n", sql, v, want);
    return v;
}

static void th_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        (*(int *)rd_kafka_opaque(rk))++;
}

rd_kafka_t *th_producer(const char *bootstrap)
{
    static int failures; /* delivery failures, across test producers */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e);
    rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof e);
    rd_kafka_conf_set_dr_msg_cb(conf, th_dr);
    rd_kafka_conf_set_opaque(conf, &failures);
    failures = 0;
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p)
        fprintf(stderr, "producer: %s\n", e);
    return p;
}

bool th_produce_ce(rd_kafka_t *p, const char *topic, const char *key,
                   const char *id, const char *type, const char *payload)
{
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
        rd_kafka_header_add(h, "ce_id", -1, id, -1);
        rd_kafka_header_add(h, "ce_type", -1, type, -1);
        rd_kafka_header_add(h, "ce_source", -1, "/tests", -1);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_END);
        if (!e)
            return true;
        rd_kafka_headers_destroy(h);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return false;
        rd_kafka_poll(p, 50);
    }
}

bool th_flush(rd_kafka_t *p)
{
    int *failures = rd_kafka_opaque(p);
    return rd_kafka_flush(p, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           *failures == 0;
}

long th_consume_all(const char *bootstrap, const char *topic, int partitions,
                    th_msg_fn fn, void *arg)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e);
    rd_kafka_conf_set(conf, "group.id", "th-reader", e, sizeof e);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!c)
        return -1;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < partitions; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l); /* no group join: no 3 s wait */
    rd_kafka_topic_partition_list_destroy(l);
    long count = 0;
    int eofs = 0, idle = 0;
    while (eofs < partitions && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (!m->err) {
            fn(arg, m);
            count++;
        } else {
            fprintf(stderr, "consume %s: %s\n", topic, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return eofs == partitions ? count : -1;
}

const char *th_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) ||
        rd_kafka_header_get_last(h, name, &v, &n))
        return NULL;
    snprintf(buf, len, "%.*s", (int)n, (const char *)v);
    return buf;
}

int th_pg_start(yard_pgtmp **pg, PGconn **admin)
{
    char err[1024];
    yard_pgtmp_opts o = {0};
    *admin = NULL;
    if (yard_pgtmp_start(&o, pg, err, sizeof err)) {
        fprintf(stderr, "PostgreSQL: %s\n", err);
        return -1;
    }
    *admin = th_connect(yard_pgtmp_dsn(*pg), "postgres");
    return *admin ? 0 : -1;
}

void th_pg_stop(yard_pgtmp *pg, PGconn *admin)
{
    PQfinish(admin);
    yard_pgtmp_stop(pg);
}

/* ---- the counter test plugin ------------------------------------------- */

void th_counter_id(const char *run, int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s-evt-%06d", run, i);
}

bool th_counter_produce(rd_kafka_t *p, const char *run, int i, int keys)
{
    char id[64], key[16], payload[320], topic[80];
    th_counter_id(run, i, id, sizeof id);
    snprintf(key, sizeof key, "key-%02d", i % keys);
    snprintf(topic, sizeof topic, "%s.input", run);
    snprintf(payload, sizeof payload,
             "{\"key\":\"%s\",\"seq\":%d,\"pad\":\"%0200d\"}", key, i / keys, 0);
    return th_produce_ce(p, topic, key, id, topic, payload);
}

const char *const th_counter_drained_sql =
    "SELECT (SELECT count(*) FROM counter_effect)"
    " + (SELECT count(*) FROM yard_outbox) * 1000000";

/* What R.done held. */
typedef struct counter_seen {
    const char *run;
    char done[80];
    int events, keys;
    int *count;    /* per input event index */
    int *last_seq; /* per key: seq of the last first-seen event */
    long order_violations;
    long bad;
} counter_seen;

static void counter_on_done(void *arg, const rd_kafka_message_t *m)
{
    counter_seen *s = arg;
    char buf[128], cause[128], id[64], prefix[80];
    const char *src = m->payload ? strstr((const char *)m->payload,
                                          "\"source_id\":\"")
                                 : NULL;
    int i = -1;
    snprintf(prefix, sizeof prefix, "%s-evt-%%d", s->run);
    if (!src || sscanf(src + 13, prefix, &i) != 1)
        i = -1;
    if (i < 0 || i >= s->events) {
        s->bad++;
        return;
    }
    th_counter_id(s->run, i, id, sizeof id);
    if (!th_header(m, "ce_causationid", cause, sizeof cause) ||
        strcmp(cause, id) != 0 || !th_header(m, "ce_type", buf, sizeof buf) ||
        strcmp(buf, s->done) != 0 || !th_header(m, "ce_id", buf, sizeof buf))
        s->bad++;
    if (s->count[i]++ == 0) {
        int key = i % s->keys, seq = i / s->keys;
        if (seq <= s->last_seq[key] && s->order_violations++ < 5)
            printf("\n  key %d: seq %d after %d (partition %d offset %lld)", key,
                   seq, s->last_seq[key], (int)m->partition, (long long)m->offset);
        s->last_seq[key] = seq;
    }
}

void th_counter_check(PGconn *db, const char *bootstrap, const char *run,
                      int events, int keys, int partitions)
{
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM counter_effect"), events);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(DISTINCT event_id) FROM counter_effect"),
                    events);
    /* Effects of one key in the order of their seq. */
    CU_ASSERT_EQUAL(
        th_sql_num(db,
                   "SELECT count(*) FROM (SELECT (payload->>'seq')::int AS s,"
                   " lag((payload->>'seq')::int) OVER (PARTITION BY pkey ORDER BY id) AS p"
                   " FROM counter_effect) x WHERE p IS NOT NULL AND s <> p + 1"),
        0);
    /* Outbox rows of one key in the order of their cause's seq. */
    CU_ASSERT_EQUAL(
        th_sql_num(db,
                   "SELECT count(*) FROM (SELECT e.pkey, (e.payload->>'seq')::int AS s,"
                   " lag((e.payload->>'seq')::int) OVER (PARTITION BY a.pkey ORDER BY a.id) AS p"
                   " FROM counter_outbox_audit a JOIN counter_effect e"
                   " ON e.event_id = convert_from(a.payload, 'UTF8')::jsonb->>'source_id') x"
                   " WHERE p IS NOT NULL AND s <> p + 1"),
        0);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM counter_outbox_audit"), events);
    /* Inbox: one row per distinct event, each with its effect. */
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_inbox"), events);
    CU_ASSERT_EQUAL(th_sql_num(db,
                               "SELECT count(*) FROM yard_inbox i LEFT JOIN counter_effect e"
                               " ON e.event_id = i.event_id WHERE e.id IS NULL"),
                    0);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_outbox"), 0);
    CU_ASSERT_EQUAL(th_sql_num(db, "SELECT count(*) FROM yard_dead_letter"), 0);

    counter_seen s = {.run = run,
                      .events = events,
                      .keys = keys,
                      .count = calloc((size_t)events, sizeof(int)),
                      .last_seq = malloc((size_t)keys * sizeof(int))};
    CU_ASSERT_PTR_NOT_NULL_FATAL(s.count);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s.last_seq);
    snprintf(s.done, sizeof s.done, "%s.done", run);
    for (int k = 0; k < keys; k++)
        s.last_seq[k] = -1;
    long n = th_consume_all(bootstrap, s.done, partitions, counter_on_done, &s);
    CU_ASSERT_TRUE(n >= events);
    long missing = 0;
    for (int i = 0; i < events; i++)
        missing += s.count[i] == 0;
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(s.order_violations, 0);
    CU_ASSERT_EQUAL(s.bad, 0);
    printf("\n  %s: %ld published for %d events, %ld missing, %ld out of order\n",
           run, n, events, missing, s.order_violations);
    free(s.count);
    free(s.last_seq);
}

/* ---- a plain-socket HTTP client ----------------------------------------- */

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int th_connect_to(int port, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send `req` as is and read the answer to EOF.  Returns the status code,
 * 0 when the server closed without an answer, -1 when it could not be
 * reached.  *body (malloc'd, NUL-terminated) gets the body when asked. */
int th_http_raw(int port, const char *req, size_t reqlen, char **body)
{
    if (body)
        *body = NULL;
    int fd = th_connect_to(port, 10);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < reqlen;) {
        ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close before reading all of it */
        off += (size_t)n;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    char *b = strstr(buf, "\r\n\r\n");
    if (body && b) {
        *body = strdup(b + 4);
    }
    free(buf);
    return status;
}

int th_http_get(int port, const char *path, char **body)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: "
                     "close\r\n\r\n",
                     path);
    return th_http_raw(port, req, (size_t)n, body);
}

/* ---- processes and topics ------------------------------------------------ */

bool th_process_running(const char *needle)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir(d))) {
        char path[300], cmd[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[n] = '\0';
        found = strstr(cmd, needle) != NULL;
    }
    if (d)
        closedir(d);
    return found;
}

int th_topic_partitions(const char *bootstrap, const char *topic)
{
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, e, sizeof e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
    if (!rk)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) == 0) {
        n = 0;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, topic) == 0)
                n = md->topics[i].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return n;
}
