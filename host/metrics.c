/* metrics.c — metric registry and text rendering (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "plugin.h"
#include "version.h"

#define MAX_LABELS 5
#define MAX_BUCKETS 16
#define MAX_COLLECTORS 8

typedef enum { COUNTER, GAUGE, HISTOGRAM } mtype;

/* Buckets in seconds, fitted to what each histogram measures. */
static const double handler_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,  0.1,    0.25,  0.5,
                                         1,      2.5,   5,      10};
static const double latency_buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05,
                                         0.1,   0.25,  0.5,  1,     2.5,
                                         5,     10,    30,   60,    300};

typedef struct family {
    const char *name;
    mtype type;
    const char *help;
    const char *labels[MAX_LABELS];
    const double *buckets;
    size_t n_buckets;
    bool scrape_built;
} family;

#define L(...) {__VA_ARGS__}
#define HB handler_buckets, sizeof handler_buckets / sizeof(double)
#define LB latency_buckets, sizeof latency_buckets / sizeof(double)
#define EV L("plugin", "group", "topic", "type")

static const family families[YARD_M_COUNT] = {
    [YARD_M_BUILD_INFO] = {"switchyard_build_info", GAUGE,
                           "Build of the running host (always 1).",
                           L("version")},
    [YARD_M_START_TIME] = {"switchyard_start_time_seconds", GAUGE,
                           "Unix time the host process started.", L(NULL)},
    [YARD_M_EVENTS_CONSUMED] = {"switchyard_events_consumed_total", COUNTER,
                                "Events fetched and handed to the engine.", EV},
    [YARD_M_EVENTS_HANDLED] = {"switchyard_events_handled_total", COUNTER,
                               "Events whose handler answered OK and whose "
                               "transaction committed.",
                               EV},
    [YARD_M_EVENTS_DUPLICATE] = {"switchyard_events_duplicates_total", COUNTER,
                                 "Redelivered events skipped because the "
                                 "inbox already held them.",
                                 EV},
    [YARD_M_EVENTS_UNMATCHED] = {"switchyard_events_unmatched_total", COUNTER,
                                 "Events on a subscribed topic whose type no "
                                 "subscription matched.",
                                 EV},
    [YARD_M_EVENTS_RETRIED] = {"switchyard_events_retried_total", COUNTER,
                               "Handler calls that answered RETRY.", EV},
    [YARD_M_EVENTS_DEAD_LETTERED] = {"switchyard_events_dead_lettered_total",
                                     COUNTER,
                                     "Events written to the dead-letter queue.",
                                     L("plugin", "group", "topic", "type",
                                       "code")},
    [YARD_M_HANDLER_DURATION] = {"switchyard_handler_duration_seconds",
                                 HISTOGRAM, "Time spent in plugin handlers.",
                                 L("plugin", "group", "type"), HB},
    [YARD_M_HANDLER_OVERRUNS] = {"switchyard_handler_deadline_exceeded_total",
                                 COUNTER,
                                 "Handler calls that ran past "
                                 "handler_deadline_ms.",
                                 EV},
    [YARD_M_EVENT_LATENCY] = {"switchyard_event_latency_seconds", HISTOGRAM,
                              "From the event's ce_time to the commit of its "
                              "effects.",
                              L("plugin", "group", "topic"), LB},
    [YARD_M_TRANSACTION_DURATION] = {"switchyard_transaction_duration_seconds",
                                     HISTOGRAM,
                                     "Duration of engine transactions "
                                     "(BEGIN to COMMIT or ROLLBACK).",
                                     L("result"), HB},
    [YARD_M_EVENTS_INFLIGHT] = {"switchyard_events_inflight", GAUGE,
                                "Events handed to the engine and not yet "
                                "finished.",
                                L("plugin", "group"), .scrape_built = true},
    [YARD_M_CONSUMER_LAG] = {"switchyard_consumer_lag_messages", GAUGE,
                             "Messages between the committed offset and the "
                             "end of the partition (librdkafka statistics).",
                             L("group", "topic", "partition")},
    [YARD_M_KAFKA_CONNECTED] = {"switchyard_kafka_connected", GAUGE,
                                "1 when the client has a broker connection "
                                "up (librdkafka statistics).",
                                L("client")},
    [YARD_M_EVENTS_PUBLISHED] = {"switchyard_events_published_total", COUNTER,
                                 "Outbox rows acknowledged by the broker.",
                                 L("topic")},
    [YARD_M_PUBLISH_FAILURES] = {"switchyard_publish_failures_total", COUNTER,
                                 "Relay rounds that could not publish or "
                                 "remove every row.",
                                 L(NULL)},
    [YARD_M_PUBLISH_LATENCY] = {"switchyard_publish_latency_seconds", HISTOGRAM,
                                "From the outbox row's commit to the broker's "
                                "acknowledgement.",
                                L(NULL), LB},
    [YARD_M_OUTBOX_BACKLOG] = {"switchyard_outbox_backlog_events", GAUGE,
                               "Outbox rows not yet published.", L(NULL)},
    [YARD_M_OUTBOX_OLDEST_AGE] = {"switchyard_outbox_oldest_age_seconds", GAUGE,
                                  "Age of the oldest unpublished outbox row "
                                  "(0 when empty).",
                                  L(NULL)},
    [YARD_M_POSTGRES_UP] = {"switchyard_postgres_up", GAUGE,
                            "1 when the host's monitor connection to "
                            "PostgreSQL works.",
                            L(NULL)},
    [YARD_M_RELOADS] = {"switchyard_reloads_total", COUNTER,
                        "Configuration and plugin reloads, by result.",
                        L("result")},
    [YARD_M_PLUGIN_LOAD_FAILURES] = {"switchyard_plugin_load_failures_total",
                                     COUNTER,
                                     "Plugins refused at load, init or "
                                     "reload.",
                                     L("plugin")},
    [YARD_M_PLUGIN_INFO] = {"switchyard_plugin_info", GAUGE,
                            "Loaded plugins (always 1).",
                            L("plugin", "version", "abi", "generation"),
                            .scrape_built = true},
    [YARD_M_PLUGIN_COUNTER] = {"switchyard_plugin_counter_total", COUNTER,
                               "Counters plugins keep with metric_add().",
                               L("plugin", "counter"), .scrape_built = true},
    [YARD_M_HTTP_REQUESTS] = {"switchyard_http_requests_total", COUNTER,
                              "Requests to the HTTP endpoint.",
                              L("route", "code")},
    [YARD_M_TOPIC_MISSING] = {"switchyard_topic_missing", GAUGE,
                              "1 when a configured topic was missing at "
                              "start and could not be created.",
                              L("topic")},
    [YARD_M_TOPIC_MISMATCH] = {"switchyard_topic_mismatch", GAUGE,
                               "1 when a configured topic's setting differs "
                               "on the cluster (checked at start).",
                               L("topic", "setting")},
};

struct yard_series {
    yard_series *next;
    const family *fam;
    uint64_t hash;
    char *labels[MAX_LABELS]; /* point into the same allocation */
    atomic_ullong value;      /* double bits (counter, gauge, histogram sum) */
    atomic_ullong count;      /* histogram observations */
    atomic_ullong buckets[];  /* histogram, per bucket (not cumulative) */
};

typedef struct fstate {
    _Atomic(yard_series *) head;
    pthread_mutex_t mu;
} fstate;

static fstate states[YARD_M_COUNT];
static pthread_mutex_t render_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void (*fn)(void *);
    void *arg;
} collectors[MAX_COLLECTORS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static size_t n_labels(const family *f)
{
    size_t n = 0;
    while (n < MAX_LABELS && f->labels[n])
        n++;
    return n;
}

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(atomic_ullong *a, double v)
{
    unsigned long long old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        a, &old, d2u(u2d(old) + v), memory_order_relaxed, memory_order_relaxed))
        ;
}

static yard_series *series_get(yard_metric_id id, const char *const *labels);

static void init_once(void)
{
    for (size_t i = 0; i < YARD_M_COUNT; i++)
        pthread_mutex_init(&states[i].mu, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    yard_series_set(series_get(YARD_M_BUILD_INFO,
                               (const char *[]){YARD_VERSION}), 1);
    yard_series_set(series_get(YARD_M_START_TIME, NULL),
                    (double)ts.tv_sec + ts.tv_nsec / 1e9);
}

static uint64_t hash_labels(const char *const *labels, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = labels && labels[i] ? labels[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 0x100000001b3ULL;
        }
        h ^= 0xff; /* separator: ("ab","") differs from ("a","b") */
        h *= 0x100000001b3ULL;
    }
    return h;
}

static bool same(const yard_series *s, uint64_t h, const char *const *labels,
                 size_t n)
{
    if (s->hash != h)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->labels[i], labels && labels[i] ? labels[i] : "") != 0)
            return false;
    return true;
}

static yard_series *find(fstate *st, uint64_t h, const char *const *labels,
                         size_t n)
{
    for (yard_series *s = atomic_load_explicit(&st->head, memory_order_acquire);
         s; s = s->next)
        if (same(s, h, labels, n))
            return s;
    return NULL;
}

static yard_series *series_get(yard_metric_id id, const char *const *labels)
{
    const family *f = &families[id];
    fstate *st = &states[id];
    size_t n = n_labels(f);
    uint64_t h = hash_labels(labels, n);
    yard_series *s = find(st, h, labels, n);
    if (s)
        return s;
    pthread_mutex_lock(&st->mu);
    s = find(st, h, labels, n);
    if (!s) {
        size_t nb = f->type == HISTOGRAM ? f->n_buckets : 0;
        size_t text = 0;
        for (size_t i = 0; i < n; i++)
            text += strlen(labels && labels[i] ? labels[i] : "") + 1;
        size_t head = sizeof *s + nb * sizeof s->buckets[0];
        s = calloc(1, head + text);
        if (s) {
            char *p = (char *)s + head;
            for (size_t i = 0; i < n; i++) {
                const char *v = labels && labels[i] ? labels[i] : "";
                size_t l = strlen(v) + 1;
                memcpy(p, v, l);
                s->labels[i] = p;
                p += l;
            }
            s->hash = h;
            s->fam = f;
            s->next = atomic_load_explicit(&st->head, memory_order_relaxed);
            atomic_store_explicit(&st->head, s, memory_order_release);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return s;
}

yard_series *yard_metric_series(yard_metric_id id, const char *const *labels)
{
    if ((unsigned)id >= YARD_M_COUNT)
        return NULL;
    pthread_once(&once, init_once);
    return series_get(id, labels);
}

void yard_series_add(yard_series *s, double v)
{
    if (s && isfinite(v))
        atomic_add_double(&s->value, v);
}

void yard_series_set(yard_series *s, double v)
{
    if (s && !isnan(v))
        atomic_store_explicit(&s->value, d2u(v), memory_order_relaxed);
}

void yard_series_observe(yard_series *s, double v)
{
    if (!s || s->fam->type != HISTOGRAM || !isfinite(v))
        return;
    const family *f = s->fam;
    size_t b = 0;
    while (b < f->n_buckets && v > f->buckets[b])
        b++;
    if (b < f->n_buckets)
        atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

void yard_metric_add(yard_metric_id id, const char *const *labels, double v)
{
    yard_series_add(yard_metric_series(id, labels), v);
}

void yard_metric_set(yard_metric_id id, const char *const *labels, double v)
{
    yard_series_set(yard_metric_series(id, labels), v);
}

void yard_metric_observe(yard_metric_id id, const char *const *labels,
                         double v)
{
    yard_series_observe(yard_metric_series(id, labels), v);
}

void yard_metric_clear(yard_metric_id id)
{
    if ((unsigned)id >= YARD_M_COUNT || !families[id].scrape_built)
        return;
    pthread_once(&once, init_once);
    fstate *st = &states[id];
    pthread_mutex_lock(&st->mu);
    yard_series *s = atomic_exchange(&st->head, NULL);
    pthread_mutex_unlock(&st->mu);
    while (s) {
        yard_series *n = s->next;
        free(s);
        s = n;
    }
}

const char *yard_metric_name(yard_metric_id id)
{
    return (unsigned)id < YARD_M_COUNT ? families[id].name : NULL;
}

const char *const *yard_metrics_names(size_t *n)
{
    static const char *names[YARD_M_COUNT * 4];
    static char suffixed[YARD_M_COUNT][3][96];
    static size_t count;
    pthread_mutex_lock(&render_mu);
    if (!count) {
        for (size_t i = 0; i < YARD_M_COUNT; i++) {
            names[count++] = families[i].name;
            if (families[i].type != HISTOGRAM)
                continue;
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            for (size_t k = 0; k < 3; k++) {
                snprintf(suffixed[i][k], sizeof suffixed[i][k], "%s%s",
                         families[i].name, sfx[k]);
                names[count++] = suffixed[i][k];
            }
        }
    }
    pthread_mutex_unlock(&render_mu);
    *n = count;
    return names;
}

int yard_metrics_add_collector(void (*fn)(void *arg), void *arg)
{
    int h = 0;
    pthread_mutex_lock(&render_mu);
    for (int i = 0; i < MAX_COLLECTORS && !h; i++)
        if (!collectors[i].fn) {
            collectors[i].fn = fn;
            collectors[i].arg = arg;
            h = i + 1;
        }
    pthread_mutex_unlock(&render_mu);
    return h;
}

void yard_metrics_remove_collector(int handle)
{
    if (handle < 1 || handle > MAX_COLLECTORS)
        return;
    pthread_mutex_lock(&render_mu);
    collectors[handle - 1].fn = NULL;
    collectors[handle - 1].arg = NULL;
    pthread_mutex_unlock(&render_mu);
}

/* A growing output buffer; on allocation failure it stays failed. */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value: backslash, double quote and newline escaped. */
static void put_value(buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            put(b, "\\\\");
        else if (*v == '"')
            put(b, "\\\"");
        else if (*v == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *v);
    }
}

/* {a="x",b="y"[,le="..."]} or nothing. */
static void put_labels(buf *b, const family *f, const yard_series *s,
                       const char *le)
{
    size_t n = n_labels(f);
    if (!n && !le)
        return;
    put(b, "{");
    for (size_t i = 0; i < n; i++) {
        put(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_value(b, s->labels[i]);
        put(b, "\"");
    }
    if (le)
        put(b, "%sle=\"%s\"", n ? "," : "", le);
    put(b, "}");
}

static void put_number(buf *b, double v)
{
    if (isinf(v))
        put(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        put(b, "%.0f", v);
    else
        put(b, "%.17g", v);
}

static void render_family(buf *b, const family *f, fstate *st)
{
    static const char *const tname[] = {"counter", "gauge", "histogram"};
    put(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
        tname[f->type]);
    for (yard_series *s = atomic_load_explicit(&st->head, memory_order_acquire);
         s; s = s->next) {
        double v = u2d(atomic_load_explicit(&s->value, memory_order_relaxed));
        if (f->type != HISTOGRAM) {
            put(b, "%s", f->name);
            put_labels(b, f, s, NULL);
            put(b, " ");
            put_number(b, v);
            put(b, "\n");
            continue;
        }
        /* Read the count first: buckets then never sum above it... but
         * they may sum below it; take the larger as the total. */
        unsigned long long cum = 0;
        for (size_t i = 0; i < f->n_buckets; i++) {
            char le[32];
            snprintf(le, sizeof le, "%g", f->buckets[i]);
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            put(b, "%s_bucket", f->name);
            put_labels(b, f, s, le);
            put(b, " %llu\n", cum);
        }
        unsigned long long count =
            atomic_load_explicit(&s->count, memory_order_relaxed);
        if (count < cum)
            count = cum;
        put(b, "%s_bucket", f->name);
        put_labels(b, f, s, "+Inf");
        put(b, " %llu\n%s_sum", count, f->name);
        put_labels(b, f, s, NULL);
        put(b, " ");
        put_number(b, v);
        put(b, "\n%s_count", f->name);
        put_labels(b, f, s, NULL);
        put(b, " %llu\n", count);
    }
}

char *yard_metrics_render(size_t *len)
{
    pthread_once(&once, init_once);
    buf b = {.cap = 16384};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&render_mu);
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (collectors[i].fn)
            collectors[i].fn(collectors[i].arg);
    for (size_t i = 0; i < YARD_M_COUNT; i++)
        render_family(&b, &families[i], &states[i]);
    pthread_mutex_unlock(&render_mu);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- host hooks -------------------------------------------------------- */

double yard_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

bool yard_metrics_parse_time(const char *s, double *out)
{
    if (!s)
        return false;
    int Y, M, D, h, m, sec;
    const char *p = s;
    if (!digits(&p, 4, &Y) || *p++ != '-' || !digits(&p, 2, &M) ||
        *p++ != '-' || !digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        return false;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &m) ||
        *p++ != ':' || !digits(&p, 2, &sec))
        return false;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
            return false;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 ||
        sec > 60)
        return false;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = sec};
    *out = (double)timegm(&tm) - off + frac;
    return true;
}

double yard_metrics_age(const char *rfc3339)
{
    double t;
    if (!yard_metrics_parse_time(rfc3339, &t))
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double age = (double)ts.tv_sec + ts.tv_nsec / 1e9 - t;
    return age < 0 ? 0 : age; /* a producer's clock slightly ahead */
}

void yard_metrics_reload(bool ok)
{
    yard_metric_add(YARD_M_RELOADS, (const char *[]){ok ? "ok" : "failed"}, 1);
}

void yard_metrics_plugin_load_failed(const char *plugin)
{
    yard_metric_add(YARD_M_PLUGIN_LOAD_FAILURES, (const char *[]){plugin}, 1);
}

static const char *type_label(const yard_job *j)
{
    if (j->derr.code)
        return "";
    if (j->env.ev.type && yard_plugin_route(j->binding->plugin, j->env.ev.type))
        return j->env.ev.type;
    return "other";
}

void yard_metrics_job(yard_metric_id id, const yard_job *j)
{
    const yard_binding *b = j->binding;
    yard_metric_add(id,
                    (const char *[]){yard_plugin_name(b->plugin), b->conf->group,
                                     j->wire.topic, type_label(j)},
                    1);
}

void yard_metrics_dead_letter(const yard_job *j, const char *code)
{
    const yard_binding *b = j->binding;
    yard_metric_add(YARD_M_EVENTS_DEAD_LETTERED,
                    (const char *[]){yard_plugin_name(b->plugin), b->conf->group,
                                     j->wire.topic, type_label(j), code},
                    1);
}

void yard_metrics_handler(const yard_job *j, double seconds)
{
    const yard_binding *b = j->binding;
    yard_metric_observe(YARD_M_HANDLER_DURATION,
                        (const char *[]){yard_plugin_name(b->plugin),
                                         b->conf->group, type_label(j)},
                        seconds);
}

void yard_metrics_committed(const yard_job *j)
{
    if (j->derr.code)
        return;
    double age = yard_metrics_age(j->env.ev.time);
    if (age < 0)
        return;
    const yard_binding *b = j->binding;
    yard_metric_observe(YARD_M_EVENT_LATENCY,
                        (const char *[]){yard_plugin_name(b->plugin),
                                         b->conf->group, j->wire.topic},
                        age);
}
