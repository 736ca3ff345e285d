/* relay.c — the outbox relay (see relay.h). */
#include "relay.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "consumer.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define RELAY_BATCH 2000
#define YARD_STR_(x) #x
#define YARD_STR(x) YARD_STR_(x)
#define RELAY_IDLE_WAIT_MS 200 /* also bounds how late a stop is seen */
#define RELAY_FLUSH_MS 60000
#define RELAY_BACKOFF_MAX_MS 5000
/* A relay that does not own the outbox tries the lock this often: another
 * host's relay takes over within about this long of the owner's session
 * ending. */
#define RELAY_STANDBY_MS 1000
/* Advisory lock key of the outbox's single owner ("yardrely"). */
#define RELAY_LOCK_KEY 0x7961726472656c79LL

/* A topic the relay produces to, with its partition count.  We partition
 * keyed rows ourselves: librdkafka parks messages for a topic whose
 * metadata it does not know yet and partitions them later, and messages
 * produced meanwhile can overtake them, which would break per-key order. */
typedef struct relay_topic {
    struct relay_topic *next;
    rd_kafka_topic_t *rkt;
    int32_t partitions; /* 0: unknown (topic missing or metadata failed) */
    long long checked_ms;
} relay_topic;

#define RELAY_METADATA_TTL_MS 30000
#define RELAY_METADATA_TIMEOUT_MS 5000

struct yard_relay {
    const yard_config *cfg;
    relay_topic *topics;
    rd_kafka_t *rk;
    PGconn *conn;
    bool owner; /* holds the advisory lock on conn */
    bool standing_by; /* connected, another session holds the lock */
    pthread_t thread;
    atomic_bool stop;
    atomic_ullong published;
    uint32_t drain_ms; /* on stop: keep publishing this long */
};

static void delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* A statement setting up the session failed: log it and close the session
 * (which ends the lock too, if taken), so the next try starts afresh. */
static bool session_failed(yard_relay *r, const char *err)
{
    yard_log(YARD_LOG_WARN, "relay cannot set up its session", "error", err,
             NULL);
    PQfinish(r->conn);
    r->conn = NULL;
    r->owner = false;
    r->standing_by = false;
    return false;
}

/* Connected, owning the outbox and listening?  (Re)establishes all three. */
static bool ensure_ready(yard_relay *r)
{
    char err[512];
    if (r->conn && PQstatus(r->conn) == CONNECTION_OK && r->owner)
        return true;
    if (!r->conn || PQstatus(r->conn) != CONNECTION_OK) {
        PQfinish(r->conn);
        r->conn = NULL;
        r->owner = false;
        r->standing_by = false;
        if (yard_db_connect(r->cfg->postgres_dsn, &r->conn, err, sizeof err)) {
            yard_log(YARD_LOG_WARN, "relay cannot reach PostgreSQL", "error", err,
                     NULL);
            return false;
        }
        /* The lock lives as long as this session.  When this machine
         * vanishes (power, network) instead of the process dying, the server
         * keeps the session, and the outbox without a relay, for its TCP
         * keepalive time (2 h by default): have it probe within ~25 s.
         * Ignored over a Unix socket, where nothing can vanish that way. */
        if (yard_db_exec(r->conn,
                         "SET tcp_keepalives_idle = 10;"
                         " SET tcp_keepalives_interval = 5;"
                         " SET tcp_keepalives_count = 3",
                         err, sizeof err))
            return session_failed(r, err);
        /* The relay's only writes delete published rows.  One lost in a
         * crash of PostgreSQL publishes those rows again, which the relay
         * allows anyway (at least once): no commit of ours waits for the
         * WAL flush, which took a good part of every round. */
        if (yard_db_exec(r->conn, "SET synchronous_commit = off", err, sizeof err))
            return session_failed(r, err);
    }
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)", RELAY_LOCK_KEY);
    PGresult *res = PQexec(r->conn, sql);
    bool answered = PQresultStatus(res) == PGRES_TUPLES_OK;
    r->owner = answered && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!r->owner) {
        if (answered && !r->standing_by)
            yard_log(YARD_LOG_INFO,
                     "relay stands by: another session owns the outbox", NULL);
        r->standing_by = answered;
        return false;
    }
    /* Only the owner listens: libpq keeps every notification it reads until
     * PQnotifies() takes it, and a standby, which takes none, would collect
     * one per committed batch of every host for as long as it waits.  Rows
     * committed before LISTEN are found by the first round. */
    if (yard_db_exec(r->conn, "LISTEN yard_outbox", err, sizeof err))
        return session_failed(r, err);
    r->standing_by = false;
    yard_log(YARD_LOG_INFO, "relay owns the outbox", NULL);
    return true;
}

/* After a statement failed: a connection error may have ended the session,
 * and the lock with it, while libpq still says CONNECTION_OK.  Then start
 * over (reconnect, take the lock again) instead of trusting `owner`. */
static void drop_if_lost(yard_relay *r, int cls)
{
    if (cls != YARD_EDBCONN)
        return;
    PQfinish(r->conn);
    r->conn = NULL;
    r->owner = false;
    r->standing_by = false;
}

/* Wait for a NOTIFY (or the timeout), then drain the notifications. */
static void wait_notify(yard_relay *r, int timeout_ms)
{
    /* A NOTIFY that came in during the last round is already in libpq's
     * queue, not on the socket: look there first, or we would sleep on it. */
    PGnotify *n;
    bool pending = false;
    PQconsumeInput(r->conn);
    while ((n = PQnotifies(r->conn)) != NULL) {
        PQfreemem(n);
        pending = true;
    }
    if (pending)
        return;
    struct pollfd p = {.fd = PQsocket(r->conn), .events = POLLIN};
    if (p.fd >= 0)
        poll(&p, 1, timeout_ms);
    PQconsumeInput(r->conn);
    while ((n = PQnotifies(r->conn)) != NULL)
        PQfreemem(n);
}

static relay_topic *topic_get(yard_relay *r, const char *name)
{
    relay_topic *t;
    for (t = r->topics; t; t = t->next)
        if (strcmp(rd_kafka_topic_name(t->rkt), name) == 0)
            break;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || !(t->rkt = rd_kafka_topic_new(r->rk, name, NULL))) {
            free(t);
            return NULL;
        }
        t->next = r->topics;
        r->topics = t;
    }
    long long now = yard_mono_ms();
    if (t->partitions == 0 || now - t->checked_ms > RELAY_METADATA_TTL_MS) {
        const struct rd_kafka_metadata *md = NULL;
        t->checked_ms = now;
        if (rd_kafka_metadata(r->rk, 0, t->rkt, &md, RELAY_METADATA_TIMEOUT_MS) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            t->partitions = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
    }
    return t;
}

static void topics_free(yard_relay *r)
{
    while (r->topics) {
        relay_topic *n = r->topics->next;
        rd_kafka_topic_destroy(r->topics->rkt);
        free(r->topics);
        r->topics = n;
    }
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* A JSON string without escapes or control bytes at p: its bytes in *s,
 * *n; returns what follows it, NULL for anything else. */
static const char *plain_string(const char *p, const char *end, const char **s,
                                size_t *n)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *q = ++p;
    while (q < end && *q != '"') {
        if (*q == '\\' || (unsigned char)*q < 0x20)
            return NULL;
        q++;
    }
    if (q >= end)
        return NULL;
    *s = p;
    *n = (size_t)(q - p);
    return q + 1;
}

/* The common shape of an outbox row's headers, [["name", "value"], ...]
 * with plain strings only, read without building a JSON tree: parsing
 * them with jansson was the largest cost per event in the relay (~64k
 * instructions of ~130k, callgrind).  NULL for any other shape (escapes,
 * null or base64 values): headers_from_json() then parses it fully. */
static rd_kafka_headers_t *headers_plain(const char *txt, size_t len)
{
    const char *p = skip_ws(txt, txt + len), *end = txt + len;
    if (p >= end || *p++ != '[')
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(16);
    p = skip_ws(p, end);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            const char *name, *val;
            size_t nl, vl;
            p = skip_ws(p, end);
            if (p >= end || *p++ != '[')
                goto other;
            if (!(p = plain_string(skip_ws(p, end), end, &name, &nl)))
                goto other;
            p = skip_ws(p, end);
            if (p >= end || *p++ != ',')
                goto other;
            if (!(p = plain_string(skip_ws(p, end), end, &val, &vl)))
                goto other;
            p = skip_ws(p, end);
            if (p >= end || *p++ != ']')
                goto other;
            rd_kafka_header_add(h, name, (ssize_t)nl, val, (ssize_t)vl);
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            goto other;
        }
    }
    if (skip_ws(p, end) == end)
        return h;
other:
    rd_kafka_headers_destroy(h);
    return NULL;
}

static rd_kafka_headers_t *headers_from_json(const char *txt, size_t len)
{
    rd_kafka_headers_t *plain = headers_plain(txt, len);
    if (plain)
        return plain;
    json_t *arr = json_loadb(txt, len, 0, NULL);
    rd_kafka_headers_t *h = rd_kafka_headers_new(arr ? json_array_size(arr) : 0);
    size_t i;
    json_t *pair;
    json_array_foreach(arr, i, pair) {
        const char *name = json_string_value(json_array_get(pair, 0));
        json_t *v = json_array_get(pair, 1);
        if (!name)
            continue;
        if (json_array_size(pair) == 3) { /* base64 of a binary value */
            const char *b = json_string_value(v);
            size_t bl = b ? strlen(b) : 0;
            unsigned char *out = malloc(bl / 4 * 3 + 3);
            size_t o = 0;
            uint32_t acc = 0;
            int bits = 0;
            for (size_t k = 0; out && k < bl && b[k] != '='; k++) {
                const char *tab =
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                const char *pos = strchr(tab, b[k]);
                if (!pos)
                    continue;
                acc = acc << 6 | (uint32_t)(pos - tab);
                bits += 6;
                if (bits >= 8) {
                    bits -= 8;
                    out[o++] = (unsigned char)(acc >> bits);
                }
            }
            if (out)
                rd_kafka_header_add(h, name, -1, out, (ssize_t)o);
            free(out);
        } else if (json_is_string(v)) {
            rd_kafka_header_add(h, name, -1, json_string_value(v),
                                (ssize_t)json_string_length(v));
        } else {
            rd_kafka_header_add(h, name, -1, NULL, 0);
        }
    }
    json_decref(arr);
    return h;
}

/* Metrics of the rows [0, n) of an outbox read, published and removed. */
static void count_published(const PGresult *res, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    for (int i = 0; i < n; i++) {
        char topic[256];
        snprintf(topic, sizeof topic, "%.*s", PQgetlength(res, i, 1),
                 PQgetvalue(res, i, 1));
        yard_metric_add(YARD_M_EVENTS_PUBLISHED, (const char *[]){topic}, 1);
        double created = strtod(PQgetvalue(res, i, 5), NULL);
        if (created > 0)
            yard_metric_observe(YARD_M_PUBLISH_LATENCY, NULL,
                                now > created ? now - created : 0);
    }
}

/* Wait for the delivery reports of a round's `n` messages (st[i] leaves
 * __IN_PROGRESS when its report is served).  Not rd_kafka_flush(): it
 * serves reports in 10 ms slices and is not woken when one arrives
 * (librdkafka 2.0), which put up to 10 ms on every round; 1 ms slices cost
 * a few wakeups only while a round is in flight.  After RELAY_FLUSH_MS the
 * messages still out are purged (they stay in the outbox and go out again:
 * at least once), and their reports are waited for as long again.  Returns
 * false if some report is still due then: st must outlive it. */
static bool await_deliveries(yard_relay *r, const rd_kafka_resp_err_t *st, int n)
{
    long long end = yard_mono_ms() + RELAY_FLUSH_MS;
    bool purged = false;
    int done = 0;
    for (;;) {
        while (done < n && st[done] != RD_KAFKA_RESP_ERR__IN_PROGRESS)
            done++;
        if (done == n)
            return true;
        if (yard_mono_ms() >= end) {
            if (purged)
                return false;
            rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
            end = yard_mono_ms() + RELAY_FLUSH_MS;
        }
        rd_kafka_poll(r->rk, 1);
    }
}

/* One round: publish up to RELAY_BATCH rows.  Returns rows published, 0
 * when the outbox is empty, -1 on a failure (caller backs off). */
static int relay_round(yard_relay *r)
{
    char err[512];
    PGresult *res = PQexecParams(
        r->conn,
        /* Qualified: a bare "id" would sort by the text output column. */
        "SELECT id::text, topic, partition_key, headers::text, payload,"
        " extract(epoch FROM created_at)::text"
        " FROM yard_outbox ORDER BY yard_outbox.id LIMIT " YARD_STR(RELAY_BATCH),
        0, NULL, NULL, NULL, NULL, 1 /* binary: raw bytes, no unescaping */);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int cls = yard_db_classify(r->conn, res, err, sizeof err);
        yard_log(YARD_LOG_WARN, "relay cannot read the outbox", "error", err, NULL);
        PQclear(res);
        drop_if_lost(r, cls);
        return -1;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    rd_kafka_resp_err_t *st = malloc((size_t)n * sizeof *st);
    if (!st) {
        PQclear(res);
        return -1;
    }
    int produced = 0;
    for (int i = 0; i < n; i++) {
        st[i] = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        char tbuf[256];
        snprintf(tbuf, sizeof tbuf, "%.*s", PQgetlength(res, i, 1),
                 PQgetvalue(res, i, 1));
        relay_topic *t = topic_get(r, tbuf);
        if (!t || t->partitions <= 0) {
            /* No partition count yet: wait for metadata rather than let
             * librdkafka park the message and place it later. */
            yard_log(YARD_LOG_WARN, "relay waits for topic metadata", "topic",
                     tbuf, NULL);
            st[i] = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            break;
        }
        bool has_key = !PQgetisnull(res, i, 2);
        const char *key = has_key ? PQgetvalue(res, i, 2) : NULL;
        size_t key_len = has_key ? (size_t)PQgetlength(res, i, 2) : 0;
        int32_t part = rd_kafka_msg_partitioner_consistent_random(
            t->rkt, key, key_len, t->partitions, NULL, NULL);
        rd_kafka_headers_t *h =
            headers_from_json(PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3));
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(
                r->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(part),
                RD_KAFKA_V_KEY(key, key_len),
                RD_KAFKA_V_VALUE(PQgetvalue(res, i, 4),
                                 (size_t)PQgetlength(res, i, 4)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                RD_KAFKA_V_OPAQUE(&st[i]), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(r->rk, 50);
        }
        if (e) {
            rd_kafka_headers_destroy(h);
            st[i] = e;
            break; /* keep per-key order: nothing after a failure */
        }
        produced++;
    }
    if (!await_deliveries(r, st, produced)) {
        /* A report may still write into st: leave it allocated. */
        yard_log(YARD_LOG_ERROR, "relay: delivery reports overdue after a purge",
                 NULL);
        PQclear(res);
        return -1;
    }

    /* Remove the delivered prefix only: a failed row is published again
     * before anything behind it, which keeps per-key order. */
    int ok = 0;
    while (ok < produced && st[ok] == RD_KAFKA_RESP_ERR_NO_ERROR)
        ok++;
    int rc = ok;
    if (ok < n)
        yard_log(YARD_LOG_WARN, "relay delivery failed, will retry", "error",
                 rd_kafka_err2str(st[ok] == RD_KAFKA_RESP_ERR__IN_PROGRESS
                                      ? RD_KAFKA_RESP_ERR__TIMED_OUT
                                      : st[ok]),
                 NULL);
    if (ok > 0) {
        /* Delete exactly the rows published: ids are not contiguous, a
         * lower id may belong to a transaction that committed after our
         * SELECT. */
        size_t cap = (size_t)ok * 21 + 3, pos = 0;
        char *ids = malloc(cap);
        if (!ids) {
            free(st);
            PQclear(res);
            return -1;
        }
        ids[pos++] = '{';
        for (int i = 0; i < ok; i++)
            pos += (size_t)snprintf(ids + pos, cap - pos, "%s%.*s", i ? "," : "",
                                    PQgetlength(res, i, 0), PQgetvalue(res, i, 0));
        snprintf(ids + pos, cap - pos, "}");
        const char *p[1] = {ids};
        PGresult *d = PQexecParams(r->conn,
                                   "DELETE FROM yard_outbox WHERE id = ANY($1::bigint[])",
                                   1, NULL, p, NULL, NULL, 0);
        free(ids);
        if (PQresultStatus(d) != PGRES_COMMAND_OK) {
            int cls = yard_db_classify(r->conn, d, err, sizeof err);
            yard_log(YARD_LOG_WARN, "relay cannot delete published rows", "error",
                     err, NULL);
            rc = -1; /* published again later: at least once */
            PQclear(d);
            d = NULL;
            drop_if_lost(r, cls);
        } else {
            atomic_fetch_add(&r->published, (unsigned long long)ok);
            count_published(res, ok);
        }
        PQclear(d);
    }
    if (ok < n)
        rc = -1;
    free(st);
    PQclear(res);
    return rc;
}

static void *relay_main(void *arg)
{
    yard_relay *r = arg;
    pthread_setname_np(pthread_self(), "yard-relay");
    yard_health_thread_start("yard-relay");
    unsigned backoff = 100;
    long long drain_until = -1;
    for (;;) {
        if (atomic_load(&r->stop) && drain_until < 0)
            drain_until = yard_mono_ms() + r->drain_ms;
        if (drain_until >= 0 && yard_mono_ms() >= drain_until)
            break;
        yard_health_tick();
        rd_kafka_poll(r->rk, 0); /* statistics, for readiness */
        if (!ensure_ready(r)) {
            if (drain_until >= 0 && !r->owner && r->conn)
                break; /* another host's relay owns the outbox */
            if (r->standing_by) {
                /* Not a failure: no backoff, keep trying the lock. */
                sleep_ms(RELAY_STANDBY_MS);
                continue;
            }
            sleep_ms(backoff);
            backoff = backoff * 2 > RELAY_BACKOFF_MAX_MS ? RELAY_BACKOFF_MAX_MS
                                                         : backoff * 2;
            continue;
        }
        int n = relay_round(r);
        if (n < 0) {
            yard_metric_add(YARD_M_PUBLISH_FAILURES, NULL, 1);
            sleep_ms(backoff);
            backoff = backoff * 2 > RELAY_BACKOFF_MAX_MS ? RELAY_BACKOFF_MAX_MS
                                                         : backoff * 2;
            continue;
        }
        backoff = 100;
        if (n == 0) {
            if (drain_until >= 0)
                break; /* stopping and nothing left */
            wait_notify(r, RELAY_IDLE_WAIT_MS);
        }
    }
    yard_health_thread_end();
    return NULL;
}

int yard_relay_start(const yard_config *cfg, yard_relay **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    yard_relay *r = calloc(1, sizeof *r);
    if (!r)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    r->cfg = cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    int rc = yard_kafka_conf_apply(conf, cfg, err, errlen);
    if (!rc && (rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof e) ||
                rd_kafka_conf_set(conf, "acks", "all", e, sizeof e)))
        rc = yard_errf(err, errlen, YARD_ECONFIG, "producer: %s", e);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return rc;
    }
    if (!yard_config_kafka(cfg, "linger.ms"))
        rd_kafka_conf_set(conf, "linger.ms", "2", e, sizeof e);
    yard_kafka_conf_logging(conf);
    yard_kafka_conf_stats(conf, cfg);
    yard_health_set("kafka producer", false, "connecting");
    rd_kafka_conf_set_dr_msg_cb(conf, delivery);
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        free(r);
        return yard_errf(err, errlen, YARD_EKAFKA, "producer: %s", e);
    }
    if (pthread_create(&r->thread, NULL, relay_main, r)) {
        rd_kafka_destroy(r->rk);
        free(r);
        return yard_errf(err, errlen, YARD_EIO, "cannot start relay thread");
    }
    *out = r;
    return 0;
}

void yard_relay_stop(yard_relay *r, uint32_t timeout_ms)
{
    if (!r)
        return;
    r->drain_ms = timeout_ms;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    rd_kafka_flush(r->rk, (int)timeout_ms);
    topics_free(r);
    rd_kafka_destroy(r->rk);
    yard_health_forget("kafka producer");
    PQfinish(r->conn);
    free(r);
}

uint64_t yard_relay_published(const yard_relay *r)
{
    return atomic_load(&r->published);
}
