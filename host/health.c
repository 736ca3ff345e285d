/* health.c — beats, readiness conditions and the monitor (see health.h). */
#include "health.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define MAX_BEATS 1024
#define MAX_CONDS 256
#define NAME_LEN 64
#define REASON_LEN 256
#define MONITOR_STATEMENT_TIMEOUT "SET statement_timeout = 5000"

typedef struct yard_beat {
    atomic_bool used;
    atomic_bool idle;
    atomic_llong last_ms;
    atomic_llong handler_since_ms; /* in a plugin's handler since; 0: not */
    char what[NAME_LEN];
} yard_beat;

typedef struct cond {
    bool used, ok;
    char name[NAME_LEN];
    char reason[REASON_LEN];
} cond;

static yard_beat beats[MAX_BEATS];
static pthread_mutex_t beats_mu = PTHREAD_MUTEX_INITIALIZER;
static cond conds[MAX_CONDS];
static pthread_mutex_t conds_mu = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local yard_beat *self;
static atomic_uint handler_limit_ms; /* 0: handlers are not watched */

void yard_health_thread_start(const char *what)
{
    yard_beat *b = NULL;
    pthread_mutex_lock(&beats_mu);
    for (size_t i = 0; i < MAX_BEATS && !b; i++)
        if (!atomic_load(&beats[i].used))
            b = &beats[i];
    if (b) {
        snprintf(b->what, sizeof b->what, "%s", what ? what : "thread");
        atomic_store(&b->idle, false);
        atomic_store(&b->last_ms, yard_mono_ms());
        atomic_store(&b->handler_since_ms, 0);
        atomic_store(&b->used, true);
    }
    pthread_mutex_unlock(&beats_mu);
    self = b;
}

void yard_health_tick(void)
{
    yard_beat *b = self;
    if (!b)
        return;
    atomic_store_explicit(&b->last_ms, yard_mono_ms(), memory_order_relaxed);
    atomic_store_explicit(&b->idle, false, memory_order_relaxed);
}

void yard_health_idle(void)
{
    if (self)
        atomic_store_explicit(&self->idle, true, memory_order_relaxed);
}

void yard_health_set_handler_limit(uint32_t ms)
{
    atomic_store(&handler_limit_ms, ms);
}

void yard_health_handler_begin(void)
{
    if (self)
        atomic_store_explicit(&self->handler_since_ms, yard_mono_ms(),
                              memory_order_relaxed);
}

void yard_health_handler_end(void)
{
    if (self)
        atomic_store_explicit(&self->handler_since_ms, 0, memory_order_relaxed);
}

void yard_health_thread_end(void)
{
    yard_beat *b = self;
    if (!b)
        return;
    pthread_mutex_lock(&beats_mu);
    atomic_store(&b->used, false);
    pthread_mutex_unlock(&beats_mu);
    self = NULL;
}

bool yard_health_live(uint32_t stale_ms, char *why, size_t whylen)
{
    long long now = yard_mono_ms();
    size_t pos = 0;
    bool live = true;
    if (whylen)
        why[0] = '\0';
    long long limit = atomic_load(&handler_limit_ms);
    pthread_mutex_lock(&beats_mu);
    for (size_t i = 0; i < MAX_BEATS; i++) {
        yard_beat *b = &beats[i];
        if (!atomic_load(&b->used))
            continue;
        long long since = atomic_load(&b->handler_since_ms);
        if (limit && since && now - since > limit) {
            live = false;
            if (pos < whylen)
                pos += (size_t)snprintf(why + pos, whylen - pos,
                                        "%s: stuck in a plugin handler for %lld"
                                        " ms (hard limit %lld ms)\n",
                                        b->what, now - since, limit);
            continue;
        }
        if (atomic_load(&b->idle))
            continue;
        long long age = now - atomic_load(&b->last_ms);
        if (age <= (long long)stale_ms)
            continue;
        live = false;
        if (pos < whylen)
            pos += (size_t)snprintf(why + pos, whylen - pos,
                                    "%s: no progress for %lld ms\n", b->what,
                                    age);
    }
    pthread_mutex_unlock(&beats_mu);
    return live;
}

void yard_health_set(const char *name, bool ok, const char *reason)
{
    pthread_mutex_lock(&conds_mu);
    cond *c = NULL, *free_slot = NULL;
    for (size_t i = 0; i < MAX_CONDS && !c; i++) {
        if (conds[i].used && strcmp(conds[i].name, name) == 0)
            c = &conds[i];
        else if (!conds[i].used && !free_slot)
            free_slot = &conds[i];
    }
    if (!c && (c = free_slot)) {
        c->used = true;
        snprintf(c->name, sizeof c->name, "%s", name);
    }
    if (c) {
        if (!ok && c->ok != ok)
            yard_log(YARD_LOG_INFO, "not ready", "condition", name, "reason",
                     reason, NULL);
        c->ok = ok;
        snprintf(c->reason, sizeof c->reason, "%s", ok ? "" : reason ? reason : "");
    }
    pthread_mutex_unlock(&conds_mu);
}

void yard_health_forget(const char *name)
{
    pthread_mutex_lock(&conds_mu);
    for (size_t i = 0; i < MAX_CONDS; i++)
        if (conds[i].used && strcmp(conds[i].name, name) == 0)
            memset(&conds[i], 0, sizeof conds[i]);
    pthread_mutex_unlock(&conds_mu);
}

static struct {
    bool (*fn)(void *, char *, size_t);
    void *arg;
} probe;
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;

void yard_health_set_probe(bool (*fn)(void *arg, char *why, size_t whylen),
                           void *arg)
{
    pthread_mutex_lock(&probe_mu);
    probe.fn = fn;
    probe.arg = arg;
    pthread_mutex_unlock(&probe_mu);
}

bool yard_health_ready(char *why, size_t whylen)
{
    size_t pos = 0, n = 0;
    bool ready = true;
    if (whylen)
        why[0] = '\0';
    /* Held across the call so that the probe's owner can remove it and
     * then free what arg points to. */
    pthread_mutex_lock(&probe_mu);
    if (probe.fn && !probe.fn(probe.arg, why, whylen)) {
        ready = false;
        pos = strlen(why);
    }
    pthread_mutex_unlock(&probe_mu);
    pthread_mutex_lock(&conds_mu);
    for (size_t i = 0; i < MAX_CONDS; i++) {
        if (!conds[i].used)
            continue;
        n++;
        if (conds[i].ok)
            continue;
        ready = false;
        if (pos < whylen)
            pos += (size_t)snprintf(why + pos, whylen - pos, "%s: %s\n",
                                    conds[i].name, conds[i].reason);
    }
    pthread_mutex_unlock(&conds_mu);
    if (!n && pos < whylen)
        snprintf(why + pos, whylen - pos, "host: not started\n");
    return ready && n;
}

/* ---- the monitor --------------------------------------------------------- */

struct yard_monitor {
    char *dsn;
    uint32_t interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    PGconn *conn;
};

/* One check; false when the connection is unusable. */
static bool monitor_round(yard_monitor *m, char *err, size_t errlen)
{
    if (!m->conn) {
        if (yard_db_connect(m->dsn, &m->conn, err, errlen))
            return false;
        yard_db_exec(m->conn, MONITOR_STATEMENT_TIMEOUT, NULL, 0);
    }
    PGresult *r = PQexec(m->conn,
                         "SELECT count(*), coalesce(extract(epoch FROM"
                         " clock_timestamp() - min(created_at)), 0)::float8"
                         " FROM yard_outbox");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
        yard_metric_set(YARD_M_OUTBOX_BACKLOG, NULL,
                        strtod(PQgetvalue(r, 0, 0), NULL));
        double age = strtod(PQgetvalue(r, 0, 1), NULL);
        yard_metric_set(YARD_M_OUTBOX_OLDEST_AGE, NULL, age < 0 ? 0 : age);
    } else {
        yard_db_classify(m->conn, r, err, errlen);
        /* A failed query on a live session (say, no table yet) is not an
         * outage; a dead session is. */
        ok = PQstatus(m->conn) == CONNECTION_OK;
    }
    PQclear(r);
    if (PQstatus(m->conn) != CONNECTION_OK) {
        PQfinish(m->conn);
        m->conn = NULL;
        return false;
    }
    return true;
}

static void *monitor_main(void *arg)
{
    yard_monitor *m = arg;
    pthread_setname_np(pthread_self(), "yard-monitor");
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        pthread_mutex_unlock(&m->mu);
        char err[512] = "";
        bool ok = monitor_round(m, err, sizeof err);
        yard_metric_set(YARD_M_POSTGRES_UP, NULL, ok);
        yard_health_set("postgres", ok, err[0] ? err : "unreachable");
        pthread_mutex_lock(&m->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)m->interval_ms * 1000000LL;
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        while (!m->stop &&
               pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int yard_monitor_start(const char *dsn, uint32_t interval_ms,
                       yard_monitor **out, char *err, size_t errlen)
{
    *out = NULL;
    yard_monitor *m = calloc(1, sizeof *m);
    if (!m || !(m->dsn = strdup(dsn ? dsn : ""))) {
        free(m);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    m->interval_ms = interval_ms ? interval_ms : 1000;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->thread, NULL, monitor_main, m)) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        free(m->dsn);
        free(m);
        return yard_errf(err, errlen, YARD_EIO, "cannot start monitor thread");
    }
    *out = m;
    return 0;
}

void yard_monitor_stop(yard_monitor *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    PQfinish(m->conn);
    yard_health_forget("postgres");
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->dsn);
    free(m);
}
