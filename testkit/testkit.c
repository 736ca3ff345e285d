/*
 * testkit.c — libswitchyard-testkit: one plugin in a real host, inside a
 * test process, on the embedded stack (pgtmp + the mock cluster), driven
 * through <switchyard/testkit.h>.
 */
#include <switchyard/testkit.h>

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <switchyard/sdk.h>

#include "config.h"
#include "host.h"
#include "log.h"
#include "mock.h"
#include "pgtmp.h"

#define POLL_MS 20
#define SEND_TIMEOUT_MS 10000
#define MAX_TYPES 32

typedef struct seen {
    char type[256];
    long returned; /* events of this type already handed out */
} seen;

struct sy_testkit {
    yard_pgtmp *pg;
    yard_mock *mock;
    yard_host *host;
    rd_kafka_t *producer;
    rd_kafka_t *reader;
    PGconn *db;
    char conf_dir[64];
    char brokers[512];
    seen seen[MAX_TYPES];
    size_t n_seen;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return -1;
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    fclose(in);
    if (fclose(out))
        rc = -1;
    return rc;
}

/* Topics the host will subscribe to: the plugin's literal patterns.  Only
 * the descriptor's data is read; no plugin code runs here. */
static int create_topics(sy_testkit *tk, const char *so, char *err,
                         size_t errlen)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(err, errlen, "%s", dlerror());
    const sy_plugin_desc *d = dlsym(h, SY_PLUGIN_SYMBOL);
    int rc = 0;
    if (!d || d->magic != SY_PLUGIN_MAGIC)
        rc = fail(err, errlen, "%s: no plugin descriptor", so);
    for (size_t i = 0; !rc && i < d->n_subscriptions; i++) {
        const char *p = d->subscriptions[i].pattern;
        if (!strchr(p, '*') &&
            yard_mock_topic_create(tk->mock, p, 1, err, errlen) != 0)
            rc = -1;
    }
    dlclose(h);
    return rc;
}

static int write_conf(sy_testkit *tk, const char *so, const char *ini,
                      char *err, size_t errlen)
{
    char so_abs[PATH_MAX], ini_copy[PATH_MAX], state[PATH_MAX + 8];
    if (!realpath(so, so_abs))
        return fail(err, errlen, "%s: %s", so, strerror(errno));
    snprintf(tk->conf_dir, sizeof tk->conf_dir, "/tmp/sytk-XXXXXX");
    if (!mkdtemp(tk->conf_dir))
        return fail(err, errlen, "mkdtemp: %s", strerror(errno));
    snprintf(state, sizeof state, "%s/state", tk->conf_dir);
    if (mkdir(state, 0700) != 0)
        return fail(err, errlen, "%s: %s", state, strerror(errno));
    char host_ini[PATH_MAX + 16];
    snprintf(host_ini, sizeof host_ini, "%s/00-host.ini", tk->conf_dir);
    FILE *f = fopen(host_ini, "w");
    if (!f)
        return fail(err, errlen, "%s: %s", host_ini, strerror(errno));
    fprintf(f,
            "[host]\nworkers = 1\nplugin_dir = %s\nstate_dir = %s\n"
            "log_level = warn\nshutdown_timeout_ms = 5000\n"
            "[kafka]\nbootstrap.servers = %s\nfetch.wait.max.ms = 10\n"
            "session.timeout.ms = 6000\n"
            "[postgres]\ndsn = %s\n"
            "[retry]\ninitial_ms = 10\nmax_ms = 100\nmax_attempts = 3\n"
            "[http]\nlisten = 127.0.0.1:0\n",
            dirname(so_abs), state, tk->brokers, yard_pgtmp_dsn(tk->pg));
    if (fclose(f) != 0)
        return fail(err, errlen, "%s: write failed", host_ini);
    char ini_dup[PATH_MAX];
    snprintf(ini_dup, sizeof ini_dup, "%s", ini);
    snprintf(ini_copy, sizeof ini_copy, "%s/%s", tk->conf_dir,
             basename(ini_dup));
    if (copy_file(ini, ini_copy) != 0)
        return fail(err, errlen, "%s: cannot copy to %s", ini, ini_copy);
    return 0;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char e[256];
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, e, sizeof e);
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(c, "group.id", "sy-testkit-reader", e, sizeof e);
        rd_kafka_conf_set(c, "enable.partition.eof", "true", e, sizeof e);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", e, sizeof e);
    } else {
        rd_kafka_conf_set(c, "linger.ms", "0", e, sizeof e);
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, e, sizeof e);
    if (!rk)
        rd_kafka_conf_destroy(c);
    else if (type == RD_KAFKA_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

int sy_testkit_start(const char *plugin_so, const char *ini_path,
                     sy_testkit **out, char *err, size_t errlen)
{
    *out = NULL;
    sy_testkit *tk = calloc(1, sizeof *tk);
    if (!tk)
        return fail(err, errlen, "out of memory");
    char e[2048];
    yard_pgtmp_opts po = {0};
    if (yard_pgtmp_start(&po, &tk->pg, e, sizeof e) != 0) {
        fail(err, errlen, "PostgreSQL: %s", e);
        goto bad;
    }
    if (yard_mock_start(1, &tk->mock, e, sizeof e) != 0) {
        fail(err, errlen, "Kafka mock cluster: %s", e);
        goto bad;
    }
    snprintf(tk->brokers, sizeof tk->brokers, "%s",
             yard_mock_bootstraps(tk->mock));
    if (create_topics(tk, plugin_so, err, errlen) ||
        write_conf(tk, plugin_so, ini_path, err, errlen))
        goto bad;
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    if (yard_config_load(tk->conf_dir, &cfg, &d) != 0) {
        fail(err, errlen, "configuration: %s", d.n ? d.msgs[0] : "invalid");
        yard_diag_clear(&d);
        goto bad;
    }
    yard_diag_clear(&d);
    yard_log_level level;
    if (yard_log_level_parse(cfg->log_level, &level) == 0)
        yard_log_set_level(level);
    if (yard_host_start(cfg, &tk->host, e, sizeof e) != 0) {
        fail(err, errlen, "host: %s", e);
        goto bad;
    }
    tk->producer = client(RD_KAFKA_PRODUCER, tk->brokers);
    tk->reader = client(RD_KAFKA_CONSUMER, tk->brokers);
    tk->db = PQconnectdb(yard_pgtmp_dsn(tk->pg));
    if (!tk->producer || !tk->reader || PQstatus(tk->db) != CONNECTION_OK) {
        fail(err, errlen, "test clients: %s",
             tk->db ? PQerrorMessage(tk->db) : "out of memory");
        goto bad;
    }
    *out = tk;
    return 0;
bad:
    sy_testkit_stop(tk);
    return -1;
}

static void remove_tree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    if (!dir[0] || strncmp(dir, "/tmp/sytk-", 10) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "testkit: could not remove %s\n", dir);
}

void sy_testkit_stop(sy_testkit *tk)
{
    if (!tk)
        return;
    yard_host_stop(tk->host);
    if (tk->producer) {
        rd_kafka_flush(tk->producer, 1000);
        rd_kafka_destroy(tk->producer);
    }
    if (tk->reader) {
        rd_kafka_consumer_close(tk->reader);
        rd_kafka_destroy(tk->reader);
    }
    PQfinish(tk->db);
    yard_mock_stop(tk->mock);
    yard_pgtmp_stop(tk->pg);
    remove_tree(tk->conf_dir);
    free(tk);
}

const char *sy_testkit_brokers(const sy_testkit *tk)
{
    return tk->brokers;
}

const char *sy_testkit_dsn(const sy_testkit *tk)
{
    return yard_pgtmp_dsn(tk->pg);
}

int sy_testkit_send(sy_testkit *tk, const char *type, const char *key,
                    const char *id, const char *payload, char *id_out,
                    char *err, size_t errlen)
{
    char gen[64];
    if (!id) {
        uuid_t u;
        uuid_generate(u);
        uuid_unparse_lower(u, gen);
        id = gen;
    }
    if (id_out)
        snprintf(id_out, 64, "%s", id);
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    rd_kafka_header_add(h, "ce_id", -1, id, -1);
    rd_kafka_header_add(h, "ce_type", -1, type, -1);
    rd_kafka_header_add(h, "ce_source", -1, "/testkit", -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        tk->producer, RD_KAFKA_V_TOPIC(type),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return fail(err, errlen, "produce %s: %s", type, rd_kafka_err2str(e));
    }
    e = rd_kafka_flush(tk->producer, SEND_TIMEOUT_MS);
    if (e)
        return fail(err, errlen, "produce %s: %s", type, rd_kafka_err2str(e));
    return 0;
}

int sy_testkit_wait(sy_testkit *tk, const char *id, int timeout_ms, char *err,
                    size_t errlen)
{
    long long until = now_ms() + timeout_ms;
    do {
        /* One statement, one snapshot: the inbox row and the dead letter
         * commit together, so both are seen or neither.  Errors (no tables
         * yet) read as "not yet". */
        const char *param = id;
        PGresult *r = PQexecParams(
            tk->db,
            "SELECT EXISTS (SELECT 1 FROM yard_inbox WHERE event_id = $1), "
            "(SELECT error_code || ': ' || error_message FROM yard_dead_letter"
            " WHERE event_id = $1 ORDER BY id DESC LIMIT 1)",
            1, NULL, &param, NULL, NULL, 0);
        int state = -1;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            if (!PQgetisnull(r, 0, 1)) {
                fail(err, errlen, "%s", PQgetvalue(r, 0, 1));
                state = 1;
            } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
                state = 0;
            }
        }
        PQclear(r);
        if (state >= 0)
            return state;
        sleep_ms(POLL_MS);
    } while (now_ms() < until);
    return fail(err, errlen, "event %s not handled within %d ms", id,
                timeout_ms);
}

static seen *seen_for(sy_testkit *tk, const char *type)
{
    for (size_t i = 0; i < tk->n_seen; i++)
        if (strcmp(tk->seen[i].type, type) == 0)
            return &tk->seen[i];
    if (tk->n_seen == MAX_TYPES)
        return NULL;
    seen *s = &tk->seen[tk->n_seen++];
    snprintf(s->type, sizeof s->type, "%s", type);
    s->returned = 0;
    return s;
}

/* Read `topic` from the beginning; copy the message at index `want` (in
 * partition order).  1 when found, 0 when not there yet, -1 on error. */
static int read_nth(sy_testkit *tk, const char *topic, long want, char *payload,
                    size_t len, char *key, size_t keylen)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(tk->reader, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(tk->reader, 0, t, &md, 2000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return 0; /* not created yet */
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int i = 0; i < parts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(tk->reader, l);
    rd_kafka_topic_partition_list_destroy(l);
    long n = 0;
    int found = 0, eofs = 0, idle = 0;
    while (eofs < parts && idle < 50) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(tk->reader, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!m->err) {
            if (n++ == want && !found) {
                snprintf(payload, len, "%.*s", (int)m->len,
                         m->payload ? (const char *)m->payload : "");
                if (key && keylen)
                    snprintf(key, keylen, "%.*s", (int)m->key_len,
                             m->key ? (const char *)m->key : "");
                found = 1;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(tk->reader, NULL);
    return found;
}

int sy_testkit_expect(sy_testkit *tk, const char *type, int timeout_ms,
                      char *payload, size_t len, char *key, size_t keylen,
                      char *err, size_t errlen)
{
    seen *s = seen_for(tk, type);
    if (!s)
        return fail(err, errlen, "more than %d event types", MAX_TYPES);
    long long until = now_ms() + timeout_ms;
    do {
        int r = read_nth(tk, type, s->returned, payload, len, key, keylen);
        if (r == 1) {
            s->returned++;
            return 0;
        }
        sleep_ms(POLL_MS);
    } while (now_ms() < until);
    return fail(err, errlen, "no %s event #%ld within %d ms", type,
                s->returned + 1, timeout_ms);
}

int sy_testkit_sql(sy_testkit *tk, const char *sql, char *out, size_t len,
                   char *err, size_t errlen)
{
    PGresult *r = PQexec(tk->db, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        rc = fail(err, errlen, "%s", PQresultErrorMessage(r));
    } else if (out && len) {
        snprintf(out, len, "%s",
                 st == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
                         PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)
                     ? PQgetvalue(r, 0, 0)
                     : "");
    }
    PQclear(r);
    return rc;
}
