/* engine.c — worker pool, batched transactions, inbox/outbox (engine.h). */
#include "engine.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crashrec.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "pattern.h"
#include "store.h"

#define RECONNECT_MIN_MS 100
/* A handler call longer than the deadline is logged: it holds its worker
 * (and every key queued behind it) and its transaction open. */
#define DEFAULT_DEADLINE_MS 5000
#define DEFAULT_MAX_CRASHES 3
#define DEFAULT_HARD_LIMIT_MS 60000
/* Beyond the handler hard limit, after which the host is being restarted
 * anyway (see worker_connect). */
#define IDLE_TX_MARGIN_MS 30000
#define RECONNECT_MAX_MS 5000
#define OUTBOX_ROWS_PER_INSERT 500 /* 5 params a row, well under 65535 */
#define ERRLEN 512
/* Results read at least this often in pipeline mode, so neither side's
 * socket buffer fills while the other waits. */
#define PIPE_MAX_PENDING 256
/* Handler statements prepared per worker connection; longer or further
 * ones go out unnamed. */
#define STMT_CACHE_MAX 32
#define STMT_SQL_MAX 512
/* Largest value the host queues for publishing (librdkafka's default
 * message.max.bytes is 1,000,000): a message the broker refuses is retried
 * forever and stops the relay behind it.  Emits above it are refused; the
 * DLQ copy leaves the value out (yard_dead_letter keeps it whole). */
#define DLQ_COPY_MAX_VALUE 900000

/* One event a handler emitted, waiting for the batch's outbox insert. */
typedef struct emitted {
    struct emitted *next;
    char *topic;
    char *key; /* or NULL */
    char *id;
    char *headers; /* JSON array of [name, value] */
    char *payload;
    size_t payload_len;
} emitted;

/* Jobs of one key waiting for a retry: the job whose handler asked to
 * retry first, then the key's later jobs in order. */
typedef struct parked {
    struct parked *next; /* by due time */
    long long due_ms;    /* monotonic */
    yard_job *head, *tail;
} parked;

typedef struct yard_worker {
    yard_engine *e;
    unsigned idx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    yard_job *head, *tail;
    size_t queued;
    parked *parked; /* the worker's own: no lock */
    PGconn *conn;
    /* Fast path: handlers' statements go out in pipeline mode and their
     * results are read at the end of the batch (see api_sql). */
    bool piped;
    size_t pending;   /* statements sent, results not yet read */
    int pipe_rc;      /* first failure among them */
    char pipe_err[ERRLEN];
    /* Handlers' statements prepared on conn ("yard_s<i>"), by text: a
     * prepared INSERT costs PostgreSQL half the CPU of one parsed and
     * planned every time.  Any failed pipelined batch marks the cache
     * stale, which deallocates it before the next; a statement that went
     * missing thus costs one careful redo, never an event's verdict. */
    struct {
        uint64_t hash;
        char sql[STMT_SQL_MAX];
    } stmts[STMT_CACHE_MAX];
    unsigned n_stmts;
    int stmts_pid; /* backend the cache belongs to (a reconnect changes it) */
    bool stmts_stale;
} yard_worker;

struct yard_engine {
    yard_worker *workers;
    unsigned n_workers;
    uint32_t batch_size;
    uint32_t deadline_ms;
    uint32_t max_crashes;
    uint64_t idle_tx_timeout_ms;
    yard_crashrec *crash;
    char *dsn;
    atomic_bool stopping; /* no more submissions; drain queues */
    atomic_bool abandon;  /* give up on queued and retrying jobs */
    atomic_uint releasing; /* bindings in yard_engine_release() */
    atomic_size_t pending;
};

/* The handler context: one job in one worker's open transaction. */
struct sy_ctx {
    yard_worker *w;
    yard_job *job;
    emitted *out, **out_tail;
    int sql_rc; /* first failure of sql() in this handler call */
    char sql_err[ERRLEN];
    int emit_rc; /* first emit() refused by its schema: the event fails */
    char emit_err[ERRLEN];
    yard_schema_error emit_why; /* its field and rule */
};

/* Where a job of the batch ended up. */
typedef enum outcome {
    OUT_PENDING = 0,
    OUT_DUPLICATE,
    OUT_UNMATCHED,
    OUT_OK,
    OUT_DLQ,
    OUT_PARKED, /* waits for a retry: not finished */
} outcome;

typedef struct slot {
    yard_job *job;
    bool fresh; /* its inbox row was inserted by this transaction */
    outcome out;
    emitted *emits;
    unsigned crashes; /* in the crash record (when it was loaded) */
    const char *code; /* DLQ error code (static) */
    char message[ERRLEN];
} slot;

/* What try_batch() asks of its caller. */
enum {
    BATCH_DONE = 0,   /* committed; OUT_PARKED slots wait for a retry */
    BATCH_CAREFUL = 1 /* redo with a savepoint per event */
};

static void emitted_free(emitted *e)
{
    while (e) {
        emitted *n = e->next;
        free(e->topic);
        free(e->key);
        free(e->id);
        free(e->headers);
        free(e->payload);
        free(e);
        e = n;
    }
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---- the host API handed to plugins ------------------------------------ */

static int api_emit(sy_ctx *ctx, const sy_emit *ev, char *err, size_t errlen)
{
    if (!ctx || !ev || ev->size < offsetof(sy_emit, topic) + sizeof ev->topic)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "emit: bad sy_emit (use SY_EMIT_INIT)");
    if (!ev->type || !*ev->type)
        return yard_errf(err, errlen, YARD_EINVAL, "emit: no event type");
    if (!ev->payload)
        return yard_errf(err, errlen, YARD_EINVAL, "emit %s: no payload",
                         ev->type);
    size_t len = ev->payload_len ? ev->payload_len : strlen(ev->payload);
    if (len > DLQ_COPY_MAX_VALUE)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "emit %s: payload of %zu bytes is over the %d limit",
                         ev->type, len, DLQ_COPY_MAX_VALUE);
    json_error_t jerr;
    json_t *doc = json_loadb(ev->payload, len, 0, &jerr);
    if (!doc)
        return yard_errf(err, errlen, YARD_EINVAL,
                         "emit %s: payload is not JSON: %s (column %d)",
                         ev->type, jerr.text, jerr.column);

    yard_job *job = ctx->job;
    yard_binding *b = job->binding;
    const sy_event *cause = &job->env.ev;
    /* A type with a schema is checked before it reaches the outbox; a
     * refused payload also fails the handler's event (see call_handler), so
     * its transaction does not commit even if the handler ignores this. */
    const yard_schema *sch = yard_schema_find(b->schemas, ev->type, 0);
    yard_schema_error why;
    if (sch && yard_schema_validate(sch, doc, 0, &why)) {
        json_decref(doc);
        int rc = yard_errf(err, errlen, YARD_EINVAL,
                           "emit %s: payload fails schema %s (rule %s): %s",
                           ev->type, yard_schema_file(sch), why.rule,
                           why.message);
        if (!ctx->emit_rc) {
            ctx->emit_rc = rc;
            ctx->emit_why = why;
            if (snprintf(ctx->emit_err, sizeof ctx->emit_err,
                         "emit %s: payload fails schema %s (rule %s): %s",
                         ev->type, yard_schema_file(sch), why.rule,
                         why.message) < 0)
                ctx->emit_err[0] = '\0';
        }
        return rc;
    }
    /* The record's own event_id (seed 000 records carry one) is the id. */
    const char *pid = json_string_value(json_object_get(doc, "event_id"));
    if (ev->id && pid && strcmp(ev->id, pid) != 0) {
        json_decref(doc);
        return yard_errf(err, errlen, YARD_EINVAL,
                         "emit %s: id %s but payload event_id %s", ev->type,
                         ev->id, pid);
    }
    char uuid[37];
    if (!ev->id && !pid)
        yard_uuid(uuid);
    const char *id = ev->id ? ev->id : pid ? pid : uuid;
    /* Key: the handler's; else the schema's rule; else the cause's. */
    char derived[256];
    const char *key = ev->key;
    if (!key && yard_schema_partition_key(sch, doc, derived, sizeof derived) == 0)
        key = derived;
    if (!key)
        key = cause->key;
    char version[16];
    if (sch)
        snprintf(version, sizeof version, "%d", yard_schema_version(sch));
    const char *topic = ev->topic ? ev->topic : yard_topic_for_type(b->cfg, ev->type);

    emitted *e = calloc(1, sizeof *e);
    char *h = yard_envelope_headers_text(id, ev->type, b->source, key,
                                         sch ? version : NULL, &job->env);
    if (e && h) {
        e->topic = strdup(topic);
        e->key = key ? strdup(key) : NULL;
        e->id = strdup(id);
        e->headers = h; /* e's from here */
        h = NULL;
        e->payload = malloc(len + 1);
    }
    free(h);
    json_decref(doc); /* id and key were copied above */
    if (!e || !e->topic || (key && !e->key) || !e->id || !e->headers ||
        !e->payload) {
        emitted_free(e);
        return yard_errf(err, errlen, YARD_ENOMEM, "emit: out of memory");
    }
    memcpy(e->payload, ev->payload, len);
    e->payload[len] = '\0';
    e->payload_len = len;
    *ctx->out_tail = e;
    ctx->out_tail = &e->next;
    return 0;
}

/* Note the first failure of a pipelined statement. */
static void pipe_fail(yard_worker *w, const PGresult *r)
{
    if (!w->pipe_rc)
        w->pipe_rc = yard_db_classify(w->conn, r, w->pipe_err, sizeof w->pipe_err);
}

/* Read the results of all statements sent ahead but `keep`, which stay
 * pending.  Failures go to w->pipe_rc. */
static void pipe_collect(yard_worker *w, size_t keep)
{
    if (PQsendFlushRequest(w->conn) != 1 || PQflush(w->conn) != 0) {
        pipe_fail(w, NULL);
        return;
    }
    while (w->pending > keep) {
        PGresult *r = PQgetResult(w->conn);
        if (!r) { /* only a broken connection answers nothing here */
            pipe_fail(w, NULL);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            pipe_fail(w, r);
        PQclear(r);
        while ((r = PQgetResult(w->conn)) != NULL) /* the statement's end */
            PQclear(r);
        w->pending--;
    }
}

static void pipe_begin(yard_worker *w)
{
    int pid = PQbackendPID(w->conn);
    if (w->stmts_stale || pid != w->stmts_pid) {
        if (w->stmts_stale && pid == w->stmts_pid)
            yard_db_exec(w->conn, "DEALLOCATE ALL", NULL, 0);
        w->n_stmts = 0;
        w->stmts_pid = pid;
        w->stmts_stale = false;
    }
    w->piped = PQenterPipelineMode(w->conn) == 1;
    w->pending = 0;
    w->pipe_rc = 0;
    w->pipe_err[0] = '\0';
}

/* Leave pipeline mode after reading every result.  Returns the first
 * failure of a pipelined statement (0 when all succeeded). */
static int pipe_end(yard_worker *w, char *err, size_t errlen)
{
    if (!w->piped)
        return 0;
    if (PQpipelineSync(w->conn) != 1)
        pipe_fail(w, NULL);
    pipe_collect(w, 0);
    for (;;) { /* up to the sync point */
        PGresult *r = w->pipe_rc == YARD_EDBCONN ? NULL : PQgetResult(w->conn);
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(w->conn) != 1 && !w->pipe_rc)
        pipe_fail(w, NULL);
    w->piped = false;
    int rc = w->pipe_rc;
    if (rc)
        w->stmts_stale = true;
    if (rc && err)
        snprintf(err, errlen, "%s", w->pipe_err);
    w->pipe_rc = 0;
    return rc;
}

/* Send a handler's statement in pipeline mode, prepared (once per
 * connection) when the cache has room.  Returns PQsend*'s answer; counts
 * what it sent in w->pending. */
static int pipe_send(yard_worker *w, const char *sql, int nparams,
                     const char *const *params)
{
    size_t len = strlen(sql);
    unsigned i = STMT_CACHE_MAX;
    if (len < STMT_SQL_MAX) {
        uint64_t h = fnv1a(0xcbf29ce484222325ULL, sql, len);
        for (i = 0; i < w->n_stmts; i++)
            if (w->stmts[i].hash == h && strcmp(w->stmts[i].sql, sql) == 0)
                break;
        if (i == w->n_stmts && i < STMT_CACHE_MAX) {
            char name[24];
            snprintf(name, sizeof name, "yard_s%u", i);
            if (PQsendPrepare(w->conn, name, sql, nparams, NULL) != 1)
                return 0;
            w->pending++;
            w->stmts[i].hash = h;
            memcpy(w->stmts[i].sql, sql, len + 1);
            w->n_stmts++;
        }
    }
    int ok;
    if (i < w->n_stmts) {
        char name[24];
        snprintf(name, sizeof name, "yard_s%u", i);
        ok = PQsendQueryPrepared(w->conn, name, nparams, params, NULL, NULL, 0);
    } else {
        ok = PQsendQueryParams(w->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    w->pending += ok == 1;
    return ok;
}

static int api_sql(sy_ctx *ctx, const char *sql, int nparams,
                   const char *const *params, sy_rows **rows, char *err,
                   size_t errlen)
{
    if (rows)
        *rows = NULL;
    if (!ctx || !sql)
        return yard_errf(err, errlen, YARD_EINVAL, "sql: no context or statement");
    yard_worker *w = ctx->w;
    if (w->piped && !ctx->sql_rc && w->pipe_rc) { /* one sent ahead failed */
        ctx->sql_rc = w->pipe_rc;
        snprintf(ctx->sql_err, sizeof ctx->sql_err, "%s", w->pipe_err);
    }
    if (ctx->sql_rc) /* the transaction is aborted: say why again */
        return yard_errf(err, errlen, ctx->sql_rc, "%s", ctx->sql_err);
    PGresult *r;
    if (w->piped) {
        /* A write whose result nobody reads goes out without waiting; its
         * failure surfaces at the end of the batch, which is then redone
         * with every statement waited for. */
        if (pipe_send(w, sql, nparams, params) != 1) {
            pipe_fail(w, NULL);
            ctx->sql_rc = w->pipe_rc;
            snprintf(ctx->sql_err, sizeof ctx->sql_err, "%s", w->pipe_err);
            return yard_errf(err, errlen, ctx->sql_rc, "%s", ctx->sql_err);
        }
        if (!rows) {
            if (w->pending >= PIPE_MAX_PENDING)
                pipe_collect(w, 0);
            return 0;
        }
        pipe_collect(w, 1); /* everything before this query */
        r = w->pipe_rc ? NULL : PQgetResult(w->conn);
        if (r) {
            PGresult *end;
            while ((end = PQgetResult(w->conn)) != NULL)
                PQclear(end);
            w->pending--;
        } else if (!w->pipe_rc) {
            pipe_fail(w, NULL);
        }
        if (w->pipe_rc) {
            ctx->sql_rc = w->pipe_rc;
            snprintf(ctx->sql_err, sizeof ctx->sql_err, "%s", w->pipe_err);
            return yard_errf(err, errlen, ctx->sql_rc, "%s", ctx->sql_err);
        }
    } else {
        r = PQexecParams(w->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ctx->sql_rc = yard_db_classify(w->conn, r, ctx->sql_err,
                                       sizeof ctx->sql_err);
        if (w->piped && !w->pipe_rc) {
            w->pipe_rc = ctx->sql_rc;
            snprintf(w->pipe_err, sizeof w->pipe_err, "%s", ctx->sql_err);
        }
        PQclear(r);
        return yard_errf(err, errlen, ctx->sql_rc, "%s", ctx->sql_err);
    }
    if (rows)
        *rows = (sy_rows *)r;
    else
        PQclear(r);
    return 0;
}

static size_t api_rows_count(const sy_rows *rows)
{
    return rows ? (size_t)PQntuples((const PGresult *)rows) : 0;
}

static const char *api_rows_value(const sy_rows *rows, size_t row, size_t col)
{
    const PGresult *r = (const PGresult *)rows;
    if (!r || row >= (size_t)PQntuples(r) || col >= (size_t)PQnfields(r) ||
        PQgetisnull(r, (int)row, (int)col))
        return NULL;
    return PQgetvalue(r, (int)row, (int)col);
}

static void api_rows_free(sy_rows *rows) { PQclear((PGresult *)rows); }

static const char *api_config_get(const sy_plugin *self, const char *key)
{
    yard_plugin *p = yard_plugin_from_self(self);
    return p && key ? yard_plugin_conf_get(yard_plugin_conf_of(p), key) : NULL;
}

static void api_log(const sy_plugin *self, const sy_ctx *ctx,
                    sy_log_level level, const char *fmt, ...)
{
    yard_log_level lvl = level > SY_LOG_DEBUG ? YARD_LOG_DEBUG
                                              : (yard_log_level)level;
    if (!yard_log_enabled(lvl) || !fmt)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    yard_plugin *p = yard_plugin_from_self(self);
    const sy_event *ev = ctx ? &ctx->job->env.ev : NULL;
    yard_log(lvl, msg, "plugin", p ? yard_plugin_name(p) : NULL, "event_id",
             ev ? ev->id : NULL, "event_type", ev ? ev->type : NULL,
             "correlation_id", ev ? ev->correlation_id : NULL, "traceparent",
             ev ? ev->traceparent : NULL, NULL);
}

static void api_metric_add(const sy_plugin *self, const char *name, double v)
{
    yard_plugin *p = yard_plugin_from_self(self);
    if (p && name)
        yard_plugin_metric_add(p, name, v);
}

static const sy_host_api host_api = {
    .size = sizeof(sy_host_api),
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .emit = api_emit,
    .sql = api_sql,
    .rows_count = api_rows_count,
    .rows_value = api_rows_value,
    .rows_free = api_rows_free,
    .config_get = api_config_get,
    .log = api_log,
    .metric_add = api_metric_add,
};

const sy_host_api *yard_engine_api(void) { return &host_api; }

/* ---- one batch ---------------------------------------------------------- */

/* The inbox key of a job: the event id, or for an undecodable message its
 * position, so that its dead letter too is written exactly once. */
static const char *inbox_id(const yard_job *j, char *buf, size_t len)
{
    if (j->env.ev.id) /* decoded, even if its payload failed the schema */
        return j->env.ev.id;
    snprintf(buf, len, "undecodable:%s/%d/%lld", j->wire.topic,
             (int)j->wire.partition, (long long)j->wire.offset);
    return buf;
}

static bool needs_inbox(const yard_job *j)
{
    return j->derr.code || yard_plugin_route(j->binding->plugin, j->env.ev.type);
}

/* Insert the batch's inbox rows; mark the slots whose row is new. */
static int inbox_insert(yard_worker *w, slot *s, size_t n, char *err,
                        size_t errlen)
{
    size_t rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += needs_inbox(s[i].job);
    if (!rows)
        return 0;
    const char **params = calloc(rows * 2, sizeof *params);
    char (*ids)[128] = calloc(n, sizeof *ids);
    size_t sqllen = 128 + rows * 24;
    char *sql = malloc(sqllen);
    int rc = YARD_ENOMEM;
    if (!params || !ids || !sql)
        goto out;
    size_t pos = (size_t)snprintf(sql, sqllen,
                                  "INSERT INTO yard_inbox (consumer_group, "
                                  "event_id) VALUES ");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!needs_inbox(s[i].job))
            continue;
        params[2 * k] = s[i].job->binding->conf->group;
        params[2 * k + 1] = inbox_id(s[i].job, ids[i], sizeof ids[i]);
        pos += (size_t)snprintf(sql + pos, sqllen - pos, "%s($%zu,$%zu)",
                                k ? "," : "", 2 * k + 1, 2 * k + 2);
        k++;
    }
    snprintf(sql + pos, sqllen - pos,
             " ON CONFLICT DO NOTHING RETURNING consumer_group, event_id");
    PGresult *r = PQexecParams(w->conn, sql, (int)(2 * rows), NULL, params,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = yard_db_classify(w->conn, r, err, errlen);
        PQclear(r);
        goto out;
    }
    /* A row comes back once per new (group, id); within the batch the first
     * occurrence is the fresh one, later copies are duplicates. */
    for (int t = 0; t < PQntuples(r); t++) {
        const char *g = PQgetvalue(r, t, 0), *id = PQgetvalue(r, t, 1);
        for (size_t i = 0; i < n; i++) {
            if (s[i].fresh || !needs_inbox(s[i].job))
                continue;
            if (strcmp(s[i].job->binding->conf->group, g) == 0 &&
                strcmp(inbox_id(s[i].job, ids[i], sizeof ids[i]), id) == 0) {
                s[i].fresh = true;
                break;
            }
        }
    }
    PQclear(r);
    rc = 0;
out:
    free(params);
    free(ids);
    free(sql);
    return rc;
}

/* DELETE FROM `table` the row of (group, event id): the statement's error
 * class, 0 when it ran. */
static int forget_row(yard_worker *w, const char *table, const char *group,
                      const char *id, char *err, size_t errlen)
{
    char sql[128];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE consumer_group = $1 AND event_id = $2",
             table);
    const char *p[2] = {group, id};
    PGresult *r = PQexecParams(w->conn, sql, 2, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : yard_db_classify(w->conn, r, err, errlen);
    PQclear(r);
    return rc;
}

static int inbox_forget(yard_worker *w, slot *s, char *err, size_t errlen)
{
    char idbuf[128];
    return forget_row(w, "yard_inbox", s->job->binding->conf->group,
                      inbox_id(s->job, idbuf, sizeof idbuf), err, errlen);
}

/* JSON array of the original message's headers.  A value that is not
 * valid UTF-8 text travels as [name, base64, "base64"]. */
static json_t *wire_headers_json(const yard_wire_msg *m)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < m->n_headers; i++) {
        const yard_header *h = &m->headers[i];
        json_t *v = h->value ? json_stringn(h->value, h->len) : json_null();
        if (v && (!h->value || !memchr(h->value, 0, h->len))) {
            json_array_append_new(arr, json_pack("[so]", h->name, v));
            continue;
        }
        json_decref(v);
        const unsigned char *in = h->value;
        size_t olen = 4 * ((h->len + 2) / 3);
        char *out = malloc(olen + 1);
        if (!out)
            continue;
        size_t o = 0;
        for (size_t j = 0; j < h->len; j += 3) {
            uint32_t x = (uint32_t)in[j] << 16;
            if (j + 1 < h->len)
                x |= (uint32_t)in[j + 1] << 8;
            if (j + 2 < h->len)
                x |= in[j + 2];
            out[o++] = b64[(x >> 18) & 63];
            out[o++] = b64[(x >> 12) & 63];
            out[o++] = j + 1 < h->len ? b64[(x >> 6) & 63] : '=';
            out[o++] = j + 2 < h->len ? b64[x & 63] : '=';
        }
        out[o] = '\0';
        json_array_append_new(arr, json_pack("[sss]", h->name, out, "base64"));
        free(out);
    }
    return arr;
}

/* Record a dead letter: a yard_dead_letter row, and the original message
 * with dlq_* headers queued for the group's DLQ topic.  Runs inside the
 * batch's transaction, so it commits together with the inbox row. */
static int dead_letter(yard_worker *w, slot *s, char *err, size_t errlen)
{
    yard_job *j = s->job;
    yard_binding *b = j->binding;
    const sy_plugin_desc *d = yard_plugin_desc(b->plugin);
    char attempts[16], part[16], off[24], now[40];
    snprintf(attempts, sizeof attempts, "%u", j->attempts);
    snprintf(part, sizeof part, "%d", (int)j->wire.partition);
    snprintf(off, sizeof off, "%lld", (long long)j->wire.offset);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* NULL for an undecodable message (its env is zeroed); a payload that
     * failed its schema decoded fine and keeps its id and type. */
    const char *type = j->env.ev.type;
    const char *evid = j->env.ev.id;

    json_t *orig = wire_headers_json(&j->wire);
    char *orig_txt = orig ? json_dumps(orig, JSON_COMPACT) : NULL;
    /* A payload that failed its schema decoded fine: env names the
     * dialect, and derr the field and the rule. */
    json_t *details = json_pack("{ss*ss*ss*}", "dialect", j->env.dialect,
                                "field", j->derr.field[0] ? j->derr.field : NULL,
                                "rule", j->derr.rule);
    char *details_txt = details ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref(details);

    const char *p[14] = {b->conf->group, yard_plugin_name(b->plugin),
                         d->version, evid, type, s->code, s->message,
                         details_txt, attempts, j->wire.topic, part, off,
                         j->wire.key ? (const char *)j->wire.key : NULL,
                         (const char *)j->wire.value};
    int lens[14] = {0};
    int fmts[14] = {0};
    lens[12] = (int)j->wire.key_len;
    fmts[12] = 1;
    lens[13] = (int)j->wire.value_len;
    fmts[13] = 1;
    const char *sql =
        "INSERT INTO yard_dead_letter (consumer_group, plugin, plugin_version,"
        " event_id, event_type, error_code, error_message, error_details,"
        " attempts, topic, kafka_partition, kafka_offset, original_key,"
        " original_value, original_headers) VALUES ($1,$2,$3,$4,$5,$6,$7,"
        "$8::jsonb,$9::integer,$10,$11::integer,$12::bigint,$13,$14,$15::jsonb)";
    const char *p15[15];
    int l15[15], f15[15];
    memcpy(p15, p, sizeof p);
    memcpy(l15, lens, sizeof lens);
    memcpy(f15, fmts, sizeof fmts);
    p15[14] = orig_txt;
    l15[14] = 0;
    f15[14] = 0;
    PGresult *r = PQexecParams(w->conn, sql, 15, NULL, p15, l15, f15, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : yard_db_classify(w->conn, r, err, errlen);
    PQclear(r);

    if (rc == 0) {
        /* The DLQ copy: original key and value, original headers plus
         * the dlq_* context, through the outbox like any event. */
        json_t *h = orig ? json_deep_copy(orig) : json_array();
        const char *ctx[][2] = {
            {"dlq_error_code", s->code},     {"dlq_error_message", s->message},
            {"dlq_attempts", attempts},       {"dlq_plugin", yard_plugin_name(b->plugin)},
            {"dlq_plugin_version", d->version}, {"dlq_group", b->conf->group},
            {"dlq_topic", j->wire.topic},     {"dlq_partition", part},
            {"dlq_offset", off},              {"dlq_failed_at", now},
        };
        for (size_t i = 0; h && i < sizeof ctx / sizeof ctx[0]; i++)
            json_array_append_new(h, json_pack("[ss]", ctx[i][0], ctx[i][1]));
        size_t copy_len = j->wire.value_len;
        if (copy_len > DLQ_COPY_MAX_VALUE) {
            char bytes[24];
            snprintf(bytes, sizeof bytes, "%zu", copy_len);
            json_array_append_new(h, json_pack("[ss]", "dlq_value_omitted", bytes));
            copy_len = 0;
        }
        emitted *e = calloc(1, sizeof *e);
        char idbuf[128];
        if (e && h) {
            e->topic = strdup(b->conf->dlq_topic);
            e->key = j->wire.key ? strndup(j->wire.key, j->wire.key_len) : NULL;
            e->id = strdup(inbox_id(j, idbuf, sizeof idbuf));
            e->headers = json_dumps(h, JSON_COMPACT);
            e->payload = malloc(copy_len + 1);
            if (e->payload) {
                if (copy_len)
                    memcpy(e->payload, j->wire.value, copy_len);
                e->payload[copy_len] = '\0';
                e->payload_len = copy_len;
            }
        }
        json_decref(h);
        if (!e || !e->topic || !e->id || !e->headers || !e->payload) {
            emitted_free(e);
            rc = yard_errf(err, errlen, YARD_ENOMEM, "dead letter: out of memory");
        } else {
            e->next = s->emits;
            s->emits = e;
        }
    }
    json_decref(orig);
    free(orig_txt);
    free(details_txt);
    return rc;
}

static int outbox_insert_chunk(yard_worker *w, emitted **rows, size_t n,
                               char *err, size_t errlen)
{
    const char **p = calloc(n * 5, sizeof *p);
    int *lens = calloc(n * 5, sizeof *lens);
    int *fmts = calloc(n * 5, sizeof *fmts);
    size_t sqllen = 128 + n * 64;
    char *sql = malloc(sqllen);
    int rc = YARD_ENOMEM;
    if (!p || !lens || !fmts || !sql)
        goto out;
    size_t pos = (size_t)snprintf(sql, sqllen,
                                  "INSERT INTO yard_outbox (topic, partition_key,"
                                  " event_id, headers, payload) VALUES ");
    for (size_t i = 0; i < n; i++) {
        size_t b = 5 * i;
        p[b] = rows[i]->topic;
        p[b + 1] = rows[i]->key;
        p[b + 2] = rows[i]->id;
        p[b + 3] = rows[i]->headers;
        p[b + 4] = rows[i]->payload;
        lens[b + 4] = (int)rows[i]->payload_len;
        fmts[b + 4] = 1; /* bytea, sent as is */
        pos += (size_t)snprintf(sql + pos, sqllen - pos,
                                "%s($%zu,$%zu,$%zu,$%zu::jsonb,$%zu::bytea)",
                                i ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5);
    }
    PGresult *r = PQexecParams(w->conn, sql, (int)(n * 5), NULL, p, lens, fmts, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK
             ? 0
             : yard_db_classify(w->conn, r, err, errlen);
    PQclear(r);
out:
    free(p);
    free(lens);
    free(fmts);
    free(sql);
    return rc;
}

static int outbox_insert(yard_worker *w, slot *s, size_t n, char *err,
                         size_t errlen)
{
    emitted *rows[OUTBOX_ROWS_PER_INSERT];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (emitted *e = s[i].emits; e; e = e->next) {
            rows[k++] = e;
            if (k == OUTBOX_ROWS_PER_INSERT) {
                int rc = outbox_insert_chunk(w, rows, k, err, errlen);
                if (rc)
                    return rc;
                k = 0;
            }
        }
    }
    return k ? outbox_insert_chunk(w, rows, k, err, errlen) : 0;
}

static void slots_reset(slot *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        emitted_free(s[i].emits);
        yard_job *j = s[i].job;
        memset(&s[i], 0, sizeof s[i]);
        s[i].job = j;
    }
}

/* Call the job's handler with a fresh context.  Returns its answer; a
 * failed sql() the handler ignored counts as REJECT (fast path: the
 * transaction is aborted anyway, so the careful path decides). */
static sy_result call_handler(yard_worker *w, slot *s, sy_handler_fn h,
                              int *sql_rc, char *err, size_t errlen)
{
    yard_job *j = s->job;
    sy_ctx ctx = {.w = w, .job = j, .out = NULL};
    ctx.out_tail = &ctx.out;
    j->attempts++;
    const char *plugin = yard_plugin_name(j->binding->plugin);
    /* If the handler takes the process down, the next start knows. */
    yard_crashrec_enter(w->e->crash, w->idx, j->binding->conf->group,
                        j->env.ev.id, plugin);
    yard_health_handler_begin();
    double t0 = yard_metrics_now();
    sy_result r = h(&ctx, &j->env.ev, yard_plugin_state(j->binding->plugin));
    double took = yard_metrics_now() - t0;
    yard_health_handler_end();
    yard_crashrec_leave(w->e->crash, w->idx);
    yard_metrics_handler(j, took);
    if (took * 1000 > w->e->deadline_ms) {
        char ms[24];
        snprintf(ms, sizeof ms, "%.0f", took * 1000);
        yard_metrics_job(YARD_M_HANDLER_OVERRUNS, j);
        yard_log(YARD_LOG_WARN, "handler exceeded its deadline", "plugin",
                 plugin, "event_id", j->env.ev.id, "event_type",
                 j->env.ev.type, "took_ms", ms, NULL);
    }
    *sql_rc = ctx.sql_rc;
    if (ctx.sql_rc)
        snprintf(err, errlen, "%s", ctx.sql_err);

    if (ctx.emit_rc) { /* a payload its schema refused: permanent */
        r = SY_REJECT;
        s->code = "EMIT_VALIDATION_FAILED";
        snprintf(s->message, sizeof s->message, "%s", ctx.emit_err);
        /* For the dead letter's details (derr.code stays NULL: the event
         * itself decoded and validated fine). */
        j->derr.rule = ctx.emit_why.rule;
        if (snprintf(j->derr.field, sizeof j->derr.field, "%s",
                     ctx.emit_why.path) < 0)
            j->derr.field[0] = '\0';
    }
    if (r == SY_OK && !ctx.sql_rc) {
        s->emits = ctx.out;
    } else {
        emitted_free(ctx.out);
        if (r == SY_OK)
            r = SY_REJECT;
    }
    return r;
}

/* Whether two jobs must keep their relative order: same group and key
 * (or, without a key, same partition). */
static bool same_lane(const yard_job *a, const yard_job *b)
{
    if (a->lane != b->lane ||
        strcmp(a->binding->conf->group, b->binding->conf->group) != 0)
        return false;
    bool ka = a->wire.key && a->wire.key_len, kb = b->wire.key && b->wire.key_len;
    if (ka != kb)
        return false;
    if (!ka)
        return a->wire.partition == b->wire.partition &&
               strcmp(a->wire.topic, b->wire.topic) == 0;
    return a->wire.key_len == b->wire.key_len &&
           memcmp(a->wire.key, b->wire.key, a->wire.key_len) == 0;
}

/* Slot i waits for a retry, and so does every later slot of its key: their
 * inbox rows must not commit before they are handled. */
static int park_lane(yard_worker *w, slot *s, size_t i, size_t n, char *err,
                     size_t errlen)
{
    for (size_t k = i; k < n; k++) {
        if (k > i && (s[k].out != OUT_PENDING || !same_lane(s[k].job, s[i].job)))
            continue;
        int rc = s[k].fresh ? inbox_forget(w, &s[k], err, errlen) : 0;
        if (rc)
            return rc;
        s[k].out = OUT_PARKED;
    }
    return 0;
}

/* Events that were in handlers during host crashes: forget them once they
 * are finished, so that only consecutive crashes count. */
static int crash_forget(yard_worker *w, slot *s, size_t n, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!s[i].crashes || (s[i].out != OUT_OK && s[i].out != OUT_DLQ))
            continue;
        int rc = forget_row(w, "yard_crash_record", s[i].job->binding->conf->group,
                            s[i].job->env.ev.id, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * One transaction over slots [0, n).  careful: a savepoint per event, so
 * one event's failure does not undo the others.  Returns BATCH_* or a
 * negative store error class.
 */
static int try_batch(yard_worker *w, slot *s, size_t n, bool careful,
                     char *err, size_t errlen)
{
    int rc = yard_db_exec(w->conn, "BEGIN", err, errlen);
    if (rc)
        return rc;
    if ((rc = inbox_insert(w, s, n, err, errlen)))
        goto rollback;
    /* Dead letters write synchronously: batches with undecodable messages
     * or events from the crash record take the careful path from the
     * start. */
    bool crashes = yard_crashrec_any(w->e->crash);
    for (size_t i = 0; i < n; i++) {
        yard_job *j = s[i].job;
        if (crashes && s[i].fresh && j->env.ev.id)
            s[i].crashes = yard_crashrec_crashes(w->e->crash,
                                                 j->binding->conf->group,
                                                 j->env.ev.id);
        careful = careful || j->derr.code || s[i].crashes;
    }
    if (!careful)
        pipe_begin(w);

    bool have_sp = false;
    for (size_t i = 0; i < n; i++) {
        yard_job *j = s[i].job;
        if (s[i].out == OUT_PARKED) /* behind a retry of its key */
            continue;
        if (!j->derr.code && !needs_inbox(j)) {
            s[i].out = OUT_UNMATCHED;
            continue;
        }
        if (!s[i].fresh) {
            s[i].out = OUT_DUPLICATE;
            continue;
        }
        if (!j->derr.code && s[i].crashes >= w->e->max_crashes) {
            s[i].code = "PLUGIN_CRASHED";
            snprintf(s[i].message, sizeof s[i].message,
                     "the host died %u times while this event was in the "
                     "plugin's handler; not handed to it again",
                     s[i].crashes);
        } else if (j->derr.code) {
            s[i].code = j->derr.code;
            snprintf(s[i].message, sizeof s[i].message, "%s", j->derr.message);
        }
        if (s[i].code) {
            if ((rc = dead_letter(w, &s[i], err, errlen)))
                goto rollback;
            s[i].out = OUT_DLQ;
            continue;
        }
        if (careful) {
            rc = yard_db_exec(w->conn,
                              have_sp ? "RELEASE SAVEPOINT ev; SAVEPOINT ev"
                                      : "SAVEPOINT ev",
                              err, errlen);
            if (rc)
                goto rollback;
            have_sp = true;
        }
        sy_handler_fn h = yard_plugin_route(j->binding->plugin, j->env.ev.type);
        int sql_rc = 0;
        char sql_err[ERRLEN] = "";
        sy_result r = call_handler(w, &s[i], h, &sql_rc, sql_err, sizeof sql_err);
        if (sql_rc == YARD_EDBCONN || sql_rc == YARD_EDBRETRY) {
            /* Not the event's fault: redo the batch (after reconnecting). */
            snprintf(err, errlen, "%s", sql_err);
            rc = sql_rc;
            goto rollback;
        }
        if (r == SY_OK) {
            s[i].out = OUT_OK;
            continue;
        }
        if (!careful) {
            pipe_end(w, NULL, 0);
            yard_db_exec(w->conn, "ROLLBACK", NULL, 0);
            return BATCH_CAREFUL;
        }
        if ((rc = yard_db_exec(w->conn, "ROLLBACK TO SAVEPOINT ev", err, errlen)))
            goto rollback;
        atomic_fetch_add(&j->binding->stats.retried, r == SY_RETRY);
        if (r == SY_RETRY)
            yard_metrics_job(YARD_M_EVENTS_RETRIED, j);
        if (r == SY_RETRY && !sql_rc && !s[i].code &&
            j->attempts < j->binding->conf->retry.max_attempts) {
            if ((rc = park_lane(w, s, i, n, err, errlen)))
                goto rollback;
            continue;
        }
        if (s[i].code) {
            /* set by call_handler: an emit() its schema refused */
        } else if (sql_rc) {
            s[i].code = "HANDLER_SQL_ERROR";
            snprintf(s[i].message, sizeof s[i].message, "%s", sql_err);
        } else if (r == SY_RETRY) {
            s[i].code = "RETRIES_EXHAUSTED";
            snprintf(s[i].message, sizeof s[i].message,
                     "handler asked to retry %u times", j->attempts);
        } else {
            s[i].code = "REJECTED";
            snprintf(s[i].message, sizeof s[i].message,
                     "handler rejected the event");
        }
        if ((rc = dead_letter(w, &s[i], err, errlen)))
            goto rollback;
        s[i].out = OUT_DLQ;
    }
    if ((rc = pipe_end(w, err, errlen))) {
        if (rc == YARD_EDBCONN || rc == YARD_EDBRETRY)
            goto rollback;
        /* A statement sent ahead failed: find out whose, carefully. */
        yard_db_exec(w->conn, "ROLLBACK", NULL, 0);
        return BATCH_CAREFUL;
    }
    if (crashes && (rc = crash_forget(w, s, n, err, errlen)))
        goto rollback;
    if ((rc = outbox_insert(w, s, n, err, errlen)))
        goto rollback;
    if ((rc = yard_db_exec(w->conn, "COMMIT", err, errlen)))
        return rc; /* maybe committed: the redo's inbox check settles it */
    return BATCH_DONE;

rollback:
    pipe_end(w, NULL, 0);
    yard_db_exec(w->conn, "ROLLBACK", NULL, 0);
    return rc;
}

static void finish_job(yard_worker *w, yard_job *j, yard_job_status status)
{
    yard_binding *b = j->binding;
    j->on_done(j, status);
    atomic_fetch_sub(&b->inflight, 1);
    atomic_fetch_sub(&w->e->pending, 1);
}

static void finish_slot(yard_worker *w, slot *s, yard_job_status status)
{
    yard_job *j = s->job;
    yard_binding *b = j->binding;
    if (status == YARD_JOB_DONE) {
        switch (s->out) {
        case OUT_OK:
            atomic_fetch_add(&b->stats.handled, 1);
            yard_metrics_job(YARD_M_EVENTS_HANDLED, j);
            yard_metrics_committed(j);
            break;
        case OUT_DUPLICATE:
            atomic_fetch_add(&b->stats.duplicates, 1);
            yard_metrics_job(YARD_M_EVENTS_DUPLICATE, j);
            break;
        case OUT_UNMATCHED:
            atomic_fetch_add(&b->stats.unmatched, 1);
            yard_metrics_job(YARD_M_EVENTS_UNMATCHED, j);
            break;
        case OUT_DLQ:
            atomic_fetch_add(&b->stats.dead_lettered, 1);
            yard_metrics_dead_letter(j, s->code);
            yard_log(YARD_LOG_WARN, "event dead-lettered", "plugin",
                     yard_plugin_name(b->plugin), "group", b->conf->group,
                     "event_id", j->env.ev.id,
                     "topic", j->wire.topic, "code", s->code, "error",
                     s->message, NULL);
            break;
        case OUT_PENDING:
        case OUT_PARKED: break;
        }
    }
    emitted_free(s->emits);
    s->emits = NULL;
    finish_job(w, j, status);
}

static unsigned backoff_ms(const yard_retry_policy *p, uint32_t attempt)
{
    uint64_t d = p->initial_ms;
    for (uint32_t i = 1; i < attempt && d < p->max_ms; i++)
        d *= 2;
    if (d > p->max_ms)
        d = p->max_ms;
    /* Full jitter over the upper half keeps the bound and spreads herds. */
    return (unsigned)(d / 2 + (uint64_t)rand() % (d / 2 + 1));
}

/* A worker's session.  A host that freezes (SIGSTOP, a VM paused) inside
 * a transaction would hold its inbox rows' locks and block the next
 * owner of its partitions: PostgreSQL ends a session idle in a
 * transaction for longer than any live handler call may take. */
static int worker_connect(yard_worker *w, char *err, size_t errlen)
{
    int rc = yard_db_connect(w->e->dsn, &w->conn, err, errlen);
    if (rc)
        return rc;
    char sql[96];
    snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %llu",
             (unsigned long long)w->e->idle_tx_timeout_ms);
    if ((rc = yard_db_exec(w->conn, sql, err, errlen))) {
        PQfinish(w->conn);
        w->conn = NULL;
    }
    return rc;
}

static bool reconnect(yard_worker *w)
{
    unsigned delay = RECONNECT_MIN_MS;
    char err[ERRLEN];
    for (;;) {
        if (w->conn && PQstatus(w->conn) == CONNECTION_OK &&
            yard_db_exec(w->conn, "SELECT 1", NULL, 0) == 0)
            return true;
        PQfinish(w->conn);
        w->conn = NULL;
        if (worker_connect(w, err, sizeof err) == 0) {
            yard_logf(YARD_LOG_INFO, "worker %u reconnected to PostgreSQL", w->idx);
            return true;
        }
        if (atomic_load(&w->e->abandon))
            return false;
        yard_log(YARD_LOG_WARN, "PostgreSQL unreachable, retrying", "error", err,
                 NULL);
        yard_health_tick();
        sleep_ms(delay);
        delay = delay * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : delay * 2;
    }
}

/* Park the batch's OUT_PARKED slots, by key, until their backoff has
 * passed; the first parked slot of a key is the one that asked to retry. */
static void park_slots(yard_worker *w, slot *s, size_t n)
{
    parked *mine[n];
    size_t n_mine = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].out != OUT_PARKED)
            continue;
        yard_job *j = s[i].job;
        parked *p = NULL;
        for (size_t k = 0; k < n_mine && !p; k++)
            if (same_lane(mine[k]->head, j))
                p = mine[k];
        j->next = NULL;
        if (p) {
            p->tail->next = j;
            p->tail = j;
            continue;
        }
        p = malloc(sizeof *p);
        if (!p) { /* cannot wait for it: redelivered after a restart */
            finish_slot(w, &s[i], YARD_JOB_ABANDONED);
            continue;
        }
        unsigned d = backoff_ms(&j->binding->conf->retry, j->attempts);
        j->retry = true;
        *p = (parked){.due_ms = yard_mono_ms() + d, .head = j, .tail = j};
        mine[n_mine++] = p;
        parked **at = &w->parked;
        while (*at && (*at)->due_ms <= p->due_ms)
            at = &(*at)->next;
        p->next = *at;
        *at = p;
        char ms[16];
        snprintf(ms, sizeof ms, "%u", d);
        yard_log(YARD_LOG_INFO, "handler asked to retry", "plugin",
                 yard_plugin_name(j->binding->plugin), "event_id", j->env.ev.id,
                 "backoff_ms", ms, NULL);
    }
}

/* The parked entry of j's key, or NULL. */
static parked *parked_find(yard_worker *w, const yard_job *j)
{
    for (parked *p = w->parked; p; p = p->next)
        if (same_lane(p->head, j))
            return p;
    return NULL;
}

/* Under w->mu: parked keys whose time has come go back to the front of
 * the queue, ahead of their later jobs. */
static void unpark_due(yard_worker *w, long long now)
{
    while (w->parked && w->parked->due_ms <= now) {
        parked *p = w->parked;
        w->parked = p->next;
        size_t n = 0;
        for (yard_job *j = p->head; j; j = j->next)
            n++;
        p->tail->next = w->head;
        if (!w->head)
            w->tail = p->tail;
        w->head = p->head;
        w->queued += n;
        free(p);
    }
}

/* Whether abandon_parked() has something to do. */
static bool parked_to_abandon(const yard_worker *w, bool all)
{
    if (!w->parked || (!all && !atomic_load(&w->e->releasing)))
        return false;
    for (const parked *p = w->parked; p; p = p->next)
        if (all || atomic_load(&p->head->binding->releasing))
            return true;
    return false;
}

/* Give up on what is parked, all (shutdown) or of bindings that are
 * releasing their partitions: it is redelivered later.  The parked list
 * is the worker's own. */
static void abandon_parked(yard_worker *w, bool all)
{
    if (!parked_to_abandon(w, all))
        return;
    for (parked **at = &w->parked; *at;) {
        parked *p = *at;
        if (!all && !atomic_load(&p->head->binding->releasing)) {
            at = &p->next;
            continue;
        }
        *at = p->next;
        for (yard_job *j = p->head, *next; j; j = next) {
            next = j->next;
            finish_job(w, j, YARD_JOB_ABANDONED);
        }
        free(p);
    }
}

static void run_batch(yard_worker *w, slot *s, size_t n)
{
    char err[ERRLEN];
    /* A retried event goes straight to the careful path: calling its
     * handler on the fast path first would only fail it twice. */
    bool careful = false;
    /* Handler calls that were rolled back with the whole batch (fast path
     * giving way to the careful one, lost connections) are not attempts. */
    uint32_t attempts[n];
    for (size_t i = 0; i < n; i++) {
        attempts[i] = s[i].job->attempts;
        careful = careful || s[i].job->retry;
        s[i].job->retry = false;
    }
    for (;;) {
        slots_reset(s, n);
        for (size_t i = 0; i < n; i++)
            s[i].job->attempts = attempts[i];
        double t0 = yard_metrics_now();
        int rc = try_batch(w, s, n, careful, err, sizeof err);
        const char *txn = rc == BATCH_DONE      ? "commit"
                          : rc == BATCH_CAREFUL ? "rollback"
                                                : "error";
        yard_metric_observe(YARD_M_TRANSACTION_DURATION, (const char *[]){txn},
                            yard_metrics_now() - t0);
        if (rc == BATCH_DONE)
            break;
        if (rc == BATCH_CAREFUL) {
            careful = true;
            continue;
        }
        if (rc == YARD_EDBRETRY)
            continue;
        if (rc != YARD_EDBCONN)
            yard_log(YARD_LOG_ERROR, "batch failed, retrying", "error", err,
                     NULL);
        else
            yard_log(YARD_LOG_WARN, "database connection lost in a batch",
                     "error", err, NULL);
        if (rc != YARD_EDBCONN)
            sleep_ms(RECONNECT_MIN_MS);
        if (!reconnect(w)) {
            for (size_t i = 0; i < n; i++)
                finish_slot(w, &s[i], YARD_JOB_ABANDONED);
            return;
        }
    }
    park_slots(w, s, n);
    for (size_t i = 0; i < n; i++)
        if (s[i].out != OUT_PARKED)
            finish_slot(w, &s[i], YARD_JOB_DONE);
}

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, long long ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    pthread_cond_timedwait(cv, mu, &ts);
}

static void *worker_main(void *arg)
{
    yard_worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "yard-work-%u", w->idx);
    pthread_setname_np(pthread_self(), name);
    yard_health_thread_start(name);
    yard_engine *e = w->e;
    slot *s = calloc(e->batch_size, sizeof *s);
    if (!s)
        abort(); /* nothing sensible to do without a few KiB at start */
    for (;;) {
        /* Not under w->mu: on_done takes the transport's lock, which is
         * held around submissions. */
        abandon_parked(w, atomic_load(&e->abandon));
        pthread_mutex_lock(&w->mu);
        yard_health_idle();
        bool redo = false;
        for (;;) {
            unpark_due(w, yard_mono_ms());
            if (w->head || (atomic_load(&e->stopping) && !w->parked))
                break;
            if ((redo = parked_to_abandon(w, atomic_load(&e->abandon))))
                break;
            if (w->parked)
                wait_until(&w->cv, &w->mu, w->parked->due_ms);
            else
                pthread_cond_wait(&w->cv, &w->mu);
        }
        if (redo) {
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        yard_health_tick();
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        size_t n = 0;
        while (w->head && n < e->batch_size) {
            yard_job *j = w->head;
            w->head = j->next;
            j->next = NULL;
            w->queued--;
            parked *p = parked_find(w, j);
            if (p) { /* its key waits for a retry: so does it */
                p->tail->next = j;
                p->tail = j;
                continue;
            }
            memset(&s[n], 0, sizeof s[n]);
            s[n++].job = j;
        }
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        /* A rebalance is taking these jobs' partitions: their next owner
         * starts from the committed offset, so jobs not started yet are
         * handed over rather than worked off while the group waits. */
        if (atomic_load(&e->releasing)) {
            size_t kept = 0;
            for (size_t i = 0; i < n; i++) {
                if (atomic_load(&s[i].job->binding->releasing))
                    finish_slot(w, &s[i], YARD_JOB_ABANDONED);
                else
                    s[kept++] = s[i];
            }
            n = kept;
        }
        if (!n)
            continue;

        if (atomic_load(&e->abandon)) {
            for (size_t i = 0; i < n; i++)
                finish_slot(w, &s[i], YARD_JOB_ABANDONED);
        } else {
            if (!w->conn || PQstatus(w->conn) != CONNECTION_OK)
                reconnect(w);
            run_batch(w, s, n);
        }
    }
    free(s);
    yard_health_thread_end();
    return NULL;
}

int yard_engine_start(const yard_engine_opts *o, yard_engine **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    yard_engine *e = calloc(1, sizeof *e);
    if (!e)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    e->n_workers = o->workers ? o->workers : 1;
    e->batch_size = o->batch_size ? o->batch_size : 1;
    e->deadline_ms = o->handler_deadline_ms ? o->handler_deadline_ms
                                            : DEFAULT_DEADLINE_MS;
    e->max_crashes = o->max_crashes ? o->max_crashes : DEFAULT_MAX_CRASHES;
    e->idle_tx_timeout_ms = (uint64_t)(o->handler_hard_limit_ms
                                           ? o->handler_hard_limit_ms
                                           : DEFAULT_HARD_LIMIT_MS) +
                            IDLE_TX_MARGIN_MS;
    e->crash = o->crash;
    e->dsn = strdup(o->dsn ? o->dsn : "");
    e->workers = calloc(e->n_workers, sizeof *e->workers);
    if (!e->dsn || !e->workers) {
        free(e->dsn);
        free(e->workers);
        free(e);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    unsigned started = 0;
    int rc = 0;
    /* Parked retries wait for a monotonic due time. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (unsigned i = 0; i < e->n_workers; i++) {
        yard_worker *w = &e->workers[i];
        w->e = e;
        w->idx = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, &ca);
        if ((rc = worker_connect(w, err, errlen)))
            break;
        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            rc = yard_errf(err, errlen, YARD_EIO, "cannot start worker thread");
            break;
        }
        started++;
    }
    pthread_condattr_destroy(&ca);
    if (rc) {
        atomic_store(&e->stopping, true);
        for (unsigned i = 0; i < started; i++) {
            pthread_mutex_lock(&e->workers[i].mu);
            pthread_cond_signal(&e->workers[i].cv);
            pthread_mutex_unlock(&e->workers[i].mu);
            pthread_join(e->workers[i].thread, NULL);
        }
        for (unsigned i = 0; i < e->n_workers; i++) {
            PQfinish(e->workers[i].conn);
            pthread_mutex_destroy(&e->workers[i].mu);
            pthread_cond_destroy(&e->workers[i].cv);
        }
        free(e->workers);
        free(e->dsn);
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void yard_engine_submit(yard_engine *e, yard_job *job)
{
    const char *group = job->binding->conf->group;
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, group, strlen(group));
    if (job->wire.key && job->wire.key_len)
        h = fnv1a(h, job->wire.key, job->wire.key_len);
    else /* no key: keep the partition's order */
        h = fnv1a(h, &job->wire.partition, sizeof job->wire.partition);
    yard_worker *w = &e->workers[h % e->n_workers];
    job->next = NULL;
    job->lane = h;
    job->retry = false;
    atomic_fetch_add(&job->binding->inflight, 1);
    atomic_fetch_add(&job->binding->stats.consumed, 1);
    atomic_fetch_add(&e->pending, 1);
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void wake_all(yard_engine *e)
{
    for (unsigned i = 0; i < e->n_workers; i++) {
        yard_worker *w = &e->workers[i];
        pthread_mutex_lock(&w->mu);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

void yard_engine_release(yard_engine *e, yard_binding *b)
{
    if (!atomic_exchange(&b->releasing, true))
        atomic_fetch_add(&e->releasing, 1);
    wake_all(e);
}

void yard_engine_release_end(yard_engine *e, yard_binding *b)
{
    if (atomic_exchange(&b->releasing, false))
        atomic_fetch_sub(&e->releasing, 1);
}

size_t yard_engine_pending(yard_engine *e) { return atomic_load(&e->pending); }

void yard_engine_stop(yard_engine *e, uint32_t abandon_after_ms)
{
    if (!e)
        return;
    for (uint32_t t = 0; atomic_load(&e->pending) > 0 && t < abandon_after_ms;
         t += 10)
        sleep_ms(10);
    atomic_store(&e->abandon, atomic_load(&e->pending) > 0);
    atomic_store(&e->stopping, true);
    for (unsigned i = 0; i < e->n_workers; i++) {
        yard_worker *w = &e->workers[i];
        pthread_mutex_lock(&w->mu);
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (unsigned i = 0; i < e->n_workers; i++) {
        yard_worker *w = &e->workers[i];
        pthread_join(w->thread, NULL);
        PQfinish(w->conn);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(e->workers);
    free(e->dsn);
    free(e);
}
