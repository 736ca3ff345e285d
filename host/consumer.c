/* consumer.c — per-binding Kafka consumer and offset tracking (consumer.h). */
#include "consumer.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "pattern.h"

#define POLL_MS 100
#define YARD_STATS_INTERVAL_MS "2000" /* unless [kafka] says otherwise */
#define PAUSE_POLL_MS 2 /* how often a pause looks at binding->inflight */
#define DEFAULT_MAX_INFLIGHT 10000
#define DEFAULT_MAX_EVENT_BYTES (1024 * 1024)

/* A job as this transport owns it: the message stays alive until the job
 * leaves its partition's queue, so the wire view needs no copies. */
typedef struct cjob {
    yard_job job;
    struct cjob *pnext;     /* next in the partition's offset order */
    struct ptrack *track;
    rd_kafka_message_t *rkm;
    yard_header *headers;
    int state; /* 0 running, 1 done, 2 abandoned */
} cjob;

/* In-flight events of one partition, in offset order. */
typedef struct ptrack {
    struct ptrack *next;
    char *topic;
    int32_t partition;
    cjob *head, *tail;
    bool stuck; /* an abandoned event: never commit past it */
} ptrack;

struct yard_consumer {
    yard_consumer_opts o;
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu; /* tracks, held */
    pthread_cond_t cv;
    ptrack *tracks;
    size_t held; /* jobs fetched and not yet released */
    /* The thread saw binding->paused under mu and polls no more until it is
     * cleared: it is not between a poll and its submit. */
    bool parked;
};

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    yard_log_level l = level <= 3 ? YARD_LOG_ERROR
                       : level <= 4 ? YARD_LOG_WARN
                       : level <= 6 ? YARD_LOG_INFO
                                    : YARD_LOG_DEBUG;
    /* [kafka] is shared by the producer and the consumers on purpose: the
     * other client's properties are expected, not worth a warning. */
    if (strcmp(fac, "CONFWARN") == 0 &&
        (strstr(buf, "is a consumer property and will be ignored") ||
         strstr(buf, "is a producer property and will be ignored")))
        l = YARD_LOG_DEBUG;
    yard_log(l, buf, "component", "kafka", "facility", fac, NULL);
}

void yard_kafka_conf_logging(struct rd_kafka_conf_s *conf)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log);
}

int yard_kafka_conf_apply(struct rd_kafka_conf_s *conf, const yard_config *cfg,
                          char *err, size_t errlen)
{
    char e[256];
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        const yard_kv *kv = &cfg->kafka[i];
        if (rd_kafka_conf_set(conf, kv->key, kv->value, e, sizeof e) !=
            RD_KAFKA_CONF_OK)
            return yard_errf(err, errlen, YARD_ECONFIG, "%s:%d: [kafka] %s: %s",
                             kv->file, kv->line, kv->key, e);
    }
    return 0;
}

/* Release jobs at the head of a partition queue that are done; returns the
 * offset to store (next to consume) or -1 when nothing advanced.  Caller
 * holds c->mu. */
static int64_t advance(yard_consumer *c, ptrack *t)
{
    int64_t next = -1;
    while (t->head && t->head->state == 1) {
        cjob *j = t->head;
        t->head = j->pnext;
        next = j->job.wire.offset + 1;
        yard_envelope_clear(&j->job.env);
        rd_kafka_message_destroy(j->rkm);
        free(j->headers);
        free(j);
        c->held--;
    }
    if (!t->head)
        t->tail = NULL;
    if (t->head && t->head->state == 2)
        t->stuck = true;
    return next;
}

static void on_done(yard_job *job, yard_job_status status)
{
    cjob *j = (cjob *)job;
    yard_consumer *c = job->owner;
    pthread_mutex_lock(&c->mu);
    j->state = status == YARD_JOB_DONE ? 1 : 2;
    ptrack *t = j->track;
    int64_t next = t->stuck ? -1 : advance(c, t);
    if (next >= 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = next;
        rd_kafka_offsets_store(c->rk, l); /* thread-safe; auto-commit sends it */
        rd_kafka_topic_partition_list_destroy(l);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static ptrack *track_for(yard_consumer *c, const char *topic, int32_t part)
{
    for (ptrack *t = c->tracks; t; t = t->next)
        if (t->partition == part && strcmp(t->topic, topic) == 0)
            return t;
    ptrack *t = calloc(1, sizeof *t);
    if (!t || !(t->topic = strdup(topic))) {
        free(t);
        return NULL;
    }
    t->partition = part;
    t->next = c->tracks;
    c->tracks = t;
    return t;
}

/* Forget the partitions in `parts` (NULL: all); their jobs are finished. */
static void tracks_drop(yard_consumer *c,
                        const rd_kafka_topic_partition_list_t *parts)
{
    ptrack **pp = &c->tracks;
    while (*pp) {
        ptrack *t = *pp;
        bool drop = !parts || rd_kafka_topic_partition_list_find(
                                  parts, t->topic, t->partition) != NULL;
        if (!drop) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        for (cjob *j = t->head; j;) {
            cjob *n = j->pnext;
            yard_envelope_clear(&j->job.env);
            rd_kafka_message_destroy(j->rkm);
            free(j->headers);
            free(j);
            c->held--;
            j = n;
        }
        free(t->topic);
        free(t);
    }
}

/* Wait until no job of ours is running in the engine. */
static void wait_quiet(yard_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    for (;;) {
        bool running = false;
        for (ptrack *t = c->tracks; t && !running; t = t->next)
            for (cjob *j = t->head; j && !running; j = j->pnext)
                running = j->state == 0;
        if (!running)
            break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

/* "topic[0,1,5] other[2]" for the log; cut short when buf is full. */
static const char *parts_str(const rd_kafka_topic_partition_list_t *parts,
                             char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; parts && i < parts->cnt && pos < len; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        bool same = i > 0 && strcmp(parts->elems[i - 1].topic, p->topic) == 0;
        bool last = i + 1 == parts->cnt ||
                    strcmp(parts->elems[i + 1].topic, p->topic) != 0;
        int n = snprintf(buf + pos, len - pos, "%s%s%s%d%s", i && !same ? " " : "",
                         same ? "" : p->topic, same ? "," : "[",
                         (int)p->partition, last ? "]" : "");
        pos += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* Jobs of ours not finished yet.  Caller holds c->mu. */
static size_t count_running(const yard_consumer *c)
{
    size_t n = 0;
    for (const ptrack *t = c->tracks; t; t = t->next)
        for (const cjob *j = t->head; j; j = j->pnext)
            n += j->state == 0;
    return n;
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    yard_consumer *c = opaque;
    const char *group = c->o.binding->conf->group;
    char list[512];
    parts_str(parts, list, sizeof list);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        yard_log(YARD_LOG_INFO, "partitions assigned", "group", group,
                 "partitions", list, NULL);
        rd_kafka_assign(rk, parts);
        return;
    }
    /* Revoked: let in-flight events finish and commit before the partitions
     * move, so their next owner starts after the last committed effect.
     * Events waiting for a retry are abandoned rather than waited for (their
     * next owner redelivers them): a backoff must not hold up the group. */
    yard_health_idle(); /* waiting for the engine is not being stuck */
    long long t0 = yard_mono_ms();
    pthread_mutex_lock(&c->mu);
    size_t running = count_running(c);
    pthread_mutex_unlock(&c->mu);
    /* Closing (stop set): the engine has finished with us, or may be gone. */
    bool live = !atomic_load(&c->stop);
    if (live)
        yard_engine_release(c->o.engine, c->o.binding);
    wait_quiet(c);
    if (live)
        yard_engine_release_end(c->o.engine, c->o.binding);
    yard_health_tick();
    long long settled = yard_mono_ms() - t0;
    /* A failed commit is not lost work: the next owner redelivers from the
     * last committed offset and the inbox skips what had committed. */
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
    pthread_mutex_lock(&c->mu);
    tracks_drop(c, parts);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    rd_kafka_assign(rk, NULL);
    char in_flight[24], ms[24];
    snprintf(in_flight, sizeof in_flight, "%zu", running);
    snprintf(ms, sizeof ms, "%lld", settled);
    yard_log(YARD_LOG_INFO, "partitions revoked", "group", group, "partitions",
             list, "in_flight", in_flight, "settled_ms", ms, "commit",
             ce == RD_KAFKA_RESP_ERR_NO_ERROR || ce == RD_KAFKA_RESP_ERR__NO_OFFSET
                 ? "ok"
                 : rd_kafka_err2str(ce),
             NULL);
}

/* A decoded event whose type has a schema and that this binding handles
 * must match the schema, or it goes to the DLQ as VALIDATION_FAILED (the
 * engine dead-letters jobs with derr.code set).  Types without a schema and
 * types the plugin does not subscribe to pass unchecked.  The envelope is
 * kept, so the dead letter still names the event. */
static void validate_payload(yard_job *job)
{
    const yard_envelope *env = &job->env;
    const yard_binding *b = job->binding;
    if (job->derr.code || !b->schemas ||
        !yard_plugin_route(b->plugin, env->ev.type))
        return;
    const yard_schema *s =
        yard_schema_for_event(b->schemas, env->ev.type, env->schema_version);
    yard_schema_error why;
    if (!s || yard_schema_validate_text(s, env->ev.payload, env->ev.payload_len,
                                        0, &why) == 0)
        return;
    job->derr.code = "VALIDATION_FAILED";
    job->derr.rule = why.rule;
    /* Long paths and messages are cut: the DLQ row says enough. */
    if (snprintf(job->derr.field, sizeof job->derr.field, "%s", why.path) < 0 ||
        snprintf(job->derr.message, sizeof job->derr.message,
                 "%s (schema %s, rule %s)", why.message, yard_schema_file(s),
                 why.rule) < 0)
        job->derr.message[0] = '\0';
}

static void submit(yard_consumer *c, rd_kafka_message_t *rkm)
{
    cjob *j = calloc(1, sizeof *j);
    if (!j) {
        rd_kafka_message_destroy(rkm);
        return; /* not stored: redelivered after a restart */
    }
    j->rkm = rkm;
    yard_job *job = &j->job;
    job->binding = c->o.binding;
    job->on_done = on_done;
    job->owner = c;
    yard_wire_msg *w = &job->wire;
    w->topic = rd_kafka_topic_name(rkm->rkt);
    w->partition = rkm->partition;
    w->offset = rkm->offset;
    w->key = rkm->key;
    w->key_len = rkm->key_len;
    w->value = rkm->payload;
    w->value_len = rkm->len;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        size_t n = rd_kafka_header_cnt(hdrs);
        j->headers = calloc(n ? n : 1, sizeof *j->headers);
        for (size_t i = 0; j->headers && i < n; i++) {
            yard_header *h = &j->headers[i];
            rd_kafka_header_get_all(hdrs, i, &h->name, &h->value, &h->len);
        }
        w->headers = j->headers;
        w->n_headers = j->headers ? n : 0;
    }
    yard_envelope_decode(w, c->o.max_event_bytes, &job->env, &job->derr);
    validate_payload(job);

    pthread_mutex_lock(&c->mu);
    ptrack *t = track_for(c, w->topic, w->partition);
    if (!t) {
        pthread_mutex_unlock(&c->mu);
        yard_envelope_clear(&job->env);
        free(j->headers);
        free(j);
        rd_kafka_message_destroy(rkm);
        return;
    }
    j->track = t;
    if (t->tail)
        t->tail->pnext = j;
    else
        t->head = j;
    t->tail = j;
    c->held++;
    pthread_mutex_unlock(&c->mu);
    yard_metrics_job(YARD_M_EVENTS_CONSUMED, job);
    yard_engine_submit(c->o.engine, job);
}

/* librdkafka statistics (statistics.interval.ms): broker connectivity for
 * /readyz and switchyard_kafka_connected, and per-partition consumer lag.
 * Runs on the thread that polls the client. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)opaque;
    json_t *doc = json_loadb(json, len, 0, NULL);
    if (!doc)
        return 0;
    const char *type = json_string_value(json_object_get(doc, "type"));
    bool consumer = type && strcmp(type, "consumer") == 0;
    char group[256] = "";
    size_t gl = sizeof group;
    if (consumer && rd_kafka_conf_get(rd_kafka_conf(rk), "group.id", group,
                                      &gl) != RD_KAFKA_CONF_OK)
        group[0] = '\0';
    char client[300], cond[320];
    snprintf(client, sizeof client, consumer ? "consumer %s" : "producer", group);
    snprintf(cond, sizeof cond, "kafka %s", client);
    bool up = false;
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(doc, "brokers"), name, v) {
        const char *state = json_string_value(json_object_get(v, "state"));
        if (json_integer_value(json_object_get(v, "nodeid")) >= 0 && state &&
            strcmp(state, "UP") == 0)
            up = true;
    }
    yard_metric_set(YARD_M_KAFKA_CONNECTED, (const char *[]){client}, up);
    yard_health_set(cond, up, "no connection to a broker is up");
    json_t *t;
    json_object_foreach(consumer ? json_object_get(doc, "topics") : NULL, name, t) {
        const char *pname;
        json_t *p;
        json_object_foreach(json_object_get(t, "partitions"), pname, p) {
            json_t *lag = json_object_get(p, "consumer_lag");
            if (json_integer_value(json_object_get(p, "partition")) < 0 ||
                !json_is_integer(lag) || json_integer_value(lag) < 0)
                continue;
            yard_metric_set(YARD_M_CONSUMER_LAG,
                            (const char *[]){group, name, pname},
                            (double)json_integer_value(lag));
        }
    }
    json_decref(doc);
    return 0; /* we do not keep json */
}

void yard_kafka_conf_stats(struct rd_kafka_conf_s *conf, const yard_config *cfg)
{
    char e[256];
    if (!yard_config_kafka(cfg, "statistics.interval.ms"))
        rd_kafka_conf_set(conf, "statistics.interval.ms", YARD_STATS_INTERVAL_MS,
                          e, sizeof e);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
}

static void *consumer_main(void *arg)
{
    yard_consumer *c = arg;
    char name[16]; /* the kernel's limit, NUL included */
    snprintf(name, sizeof name, "yard-c-%.8s", c->o.binding->conf->name);
    pthread_setname_np(pthread_self(), name);
    yard_health_thread_start(name);
    while (!atomic_load(&c->stop)) {
        yard_health_tick();
        pthread_mutex_lock(&c->mu);
        bool paused = atomic_load(&c->o.binding->paused);
        if (paused && !c->parked) {
            c->parked = true;
            pthread_cond_broadcast(&c->cv);
        }
        if (!paused)
            c->parked = false;
        bool full = paused || c->held >= c->o.max_inflight;
        if (full) {
            /* Back-pressure: the engine is behind; wait for it rather than
             * fetch more than we can track. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += POLL_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
        pthread_mutex_unlock(&c->mu);
        /* While full or paused we do not poll: the consumer queue would hand
         * us messages.  The engine drains in well under max.poll.interval.ms
         * unless the database is down, when pausing is what we want.  Not
         * polling also holds rebalance callbacks back, so group membership
         * is kept across a pause. */
        if (full)
            continue;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, POLL_MS);
        if (!rkm)
            continue;
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                yard_log(rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                             ? YARD_LOG_DEBUG
                             : YARD_LOG_WARN,
                         "consumer error", "group", c->o.binding->conf->group,
                         "error", rd_kafka_message_errstr(rkm), NULL);
            rd_kafka_message_destroy(rkm);
            continue;
        }
        submit(c, rkm);
    }
    yard_health_thread_end();
    return NULL;
}

int yard_consumer_start(const yard_consumer_opts *o, yard_consumer **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    yard_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    c->o = *o;
    if (!c->o.max_inflight)
        c->o.max_inflight = DEFAULT_MAX_INFLIGHT;
    if (!c->o.max_event_bytes)
        c->o.max_event_bytes = DEFAULT_MAX_EVENT_BYTES;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);

    const yard_plugin_conf *pc = o->binding->conf;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    int rc = yard_kafka_conf_apply(conf, o->cfg, err, errlen);
    /* Offsets are stored by us once an event is finished; librdkafka's
     * auto-commit then sends what is stored. */
    const char *fixed[][2] = {
        {"group.id", pc->group},
        {"enable.auto.commit", "true"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; !rc && i < sizeof fixed / sizeof fixed[0]; i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], e, sizeof e))
            rc = yard_errf(err, errlen, YARD_ECONFIG, "%s: %s", fixed[i][0], e);
    if (!rc && !yard_config_kafka(o->cfg, "auto.offset.reset"))
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", e, sizeof e);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    yard_kafka_conf_logging(conf);
    yard_kafka_conf_stats(conf, o->cfg);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        rc = yard_errf(err, errlen, YARD_EKAFKA, "consumer for %s: %s", pc->name, e);
        goto fail;
    }
    rd_kafka_poll_set_consumer(c->rk);
    char cond[320];
    snprintf(cond, sizeof cond, "kafka consumer %s", pc->group);
    yard_health_set(cond, false, "connecting");

    const sy_plugin_desc *d = yard_plugin_desc(o->binding->plugin);
    const char **pats = calloc(d->n_subscriptions, sizeof *pats);
    char **topics = NULL;
    size_t n_topics = 0;
    if (!pats) {
        rc = yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < d->n_subscriptions; i++)
        pats[i] = d->subscriptions[i].pattern;
    rc = yard_topics_for_patterns(o->cfg, pats, d->n_subscriptions, &topics,
                                  &n_topics);
    free(pats);
    if (rc) {
        yard_errf(err, errlen, rc, "out of memory");
        goto fail;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    yard_topics_free(topics, n_topics);
    if (kerr) {
        rc = yard_errf(err, errlen, YARD_EKAFKA, "subscribe %s: %s", pc->name,
                       rd_kafka_err2str(kerr));
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, consumer_main, c)) {
        rc = yard_errf(err, errlen, YARD_EIO, "cannot start consumer thread");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (c->rk)
        rd_kafka_destroy(c->rk);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return rc;
}

static void ms_later(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int yard_consumer_pause(yard_consumer *c, uint32_t timeout_ms)
{
    yard_binding *b = c->o.binding;
    atomic_store(&b->paused, true);
    struct timespec end;
    ms_later(&end, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    while (!c->parked && !atomic_load(&c->stop) && rc == 0)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &end) == ETIMEDOUT)
            rc = YARD_ETIMEOUT;
    /* Parked: nothing new is submitted.  Let what was submitted finish;
     * finish_slot() drops inflight after on_done(), so poll the count. */
    while (rc == 0 && atomic_load(&b->inflight) > 0) {
        struct timespec step;
        ms_later(&step, PAUSE_POLL_MS);
        pthread_cond_timedwait(&c->cv, &c->mu, &step);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > end.tv_sec ||
            (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            rc = atomic_load(&b->inflight) > 0 ? YARD_ETIMEOUT : 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc)
        yard_consumer_resume(c);
    return rc;
}

void yard_consumer_resume(yard_consumer *c)
{
    atomic_store(&c->o.binding->paused, false);
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void yard_consumer_halt(yard_consumer *c)
{
    if (!c || atomic_exchange(&c->stop, true))
        return;
    pthread_join(c->thread, NULL);
}

void yard_consumer_close(yard_consumer *c)
{
    if (!c)
        return;
    yard_consumer_halt(c);
    wait_quiet(c);
    rd_kafka_commit(c->rk, NULL, 0);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    char cond[320];
    snprintf(cond, sizeof cond, "kafka consumer %s", c->o.binding->conf->group);
    yard_health_forget(cond);
    pthread_mutex_lock(&c->mu);
    tracks_drop(c, NULL);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
