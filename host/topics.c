/*
 * topics.c — [topic NAME] sections against the cluster (see topics.h): the
 * decisions, their report, and the librdkafka backend.
 */
#include "topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "consumer.h"
#include "err.h"
#include "health.h"
#include "log.h"
#include "metrics.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define READY_NAME "topics"
#define LIST_MAX 1024          /* "a, b, c" in one log line */
#define METADATA_TIMEOUT_MS 10000
#define CONTROLLER_WAIT_MS 2000 /* metadata is cached by then */
#define ADMIN_TIMEOUT_MS 15000  /* a CreateTopics/DescribeConfigs round */
#define ADMIN_OP_TIMEOUT_MS 10000 /* broker-side wait for the creation */

/* ---- values as text ------------------------------------------------------ */

/* "604800000 ms (7d)", "forever", "1500 ms". */
static void fmt_duration(char *buf, size_t len, int64_t ms)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"w", 604800000}, {"d", 86400000}, {"h", 3600000},
                 {"min", 60000},   {"s", 1000}};
    if (ms < 0) {
        snprintf(buf, len, "forever");
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(units); i++)
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRId64 " ms (%" PRId64 "%s)", ms,
                     ms / units[i].ms, units[i].name);
            return;
        }
    snprintf(buf, len, "%" PRId64 " ms", ms);
}

/* Does a comma-separated policy list name `word`? */
static bool policy_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Same policies, in any order ("compact,delete" = "delete,compact"). */
static bool policy_eq(const char *a, const char *b)
{
    static const char *const words[] = {"delete", "compact"};
    for (size_t i = 0; i < ARRAY_LEN(words); i++)
        if (policy_has(a, words[i]) != policy_has(b, words[i]))
            return false;
    return true;
}

/* ---- decisions ------------------------------------------------------------ */

static void add_mismatch(yard_topic_result *t, const char *setting,
                         const char *configured, const char *actual)
{
    if (t->n_mismatch >= YARD_TOPICS_SETTINGS)
        return;
    yard_topic_mismatch *m = &t->mismatch[t->n_mismatch++];
    m->setting = setting;
    snprintf(m->configured, sizeof m->configured, "%s", configured);
    snprintf(m->actual, sizeof m->actual, "%s", actual);
}

static void add_mismatch_num(yard_topic_result *t, const char *setting,
                             int64_t configured, int64_t actual)
{
    char c[32], a[32];
    snprintf(c, sizeof c, "%" PRId64, configured);
    snprintf(a, sizeof a, "%" PRId64, actual);
    add_mismatch(t, setting, c, a);
}

static bool has_configs(const yard_topic_spec *s)
{
    return s->retention_ms != 0 || s->cleanup_policy ||
           s->min_insync_replicas != 0;
}

/* A present topic against its spec: only what the spec sets. */
static void compare(yard_topic_result *t, const yard_topic_actual *a)
{
    const yard_topic_spec *s = t->spec;
    if ((int64_t)s->partitions != a->partitions)
        add_mismatch_num(t, "partitions", s->partitions, a->partitions);
    if (s->replication_factor &&
        (int64_t)s->replication_factor != a->replication_factor)
        add_mismatch_num(t, "replication_factor", s->replication_factor,
                         a->replication_factor);
    if (has_configs(s) && !a->configs_known) {
        t->configs_unchecked = true;
        snprintf(t->reason, sizeof t->reason, "%s", a->configs_why);
    } else if (has_configs(s)) {
        if (s->retention_ms && s->retention_ms != a->retention_ms) {
            char c[YARD_TOPICS_VALUE_MAX], v[YARD_TOPICS_VALUE_MAX];
            fmt_duration(c, sizeof c, s->retention_ms);
            if (a->retention_ms)
                fmt_duration(v, sizeof v, a->retention_ms);
            else
                snprintf(v, sizeof v, "(not reported)");
            add_mismatch(t, "retention", c, v);
        }
        if (s->cleanup_policy &&
            !policy_eq(s->cleanup_policy, a->cleanup_policy))
            add_mismatch(t, "cleanup_policy", s->cleanup_policy,
                         a->cleanup_policy[0] ? a->cleanup_policy
                                              : "(not reported)");
        if (s->min_insync_replicas &&
            (int64_t)s->min_insync_replicas != a->min_insync_replicas)
            add_mismatch_num(t, "min_insync_replicas", s->min_insync_replicas,
                             a->min_insync_replicas);
    }
    t->status = t->n_mismatch ? YARD_TOPIC_DIFFERS : YARD_TOPIC_MATCHES;
}

int yard_topics_reconcile(const yard_topic_spec *specs, size_t n,
                          const yard_topics_backend *be,
                          yard_topics_report **out, char *err, size_t errlen)
{
    if (!out || !be || !be->describe || !be->create || (n && !specs))
        return yard_errf(err, errlen, YARD_EINVAL, "topics: bad arguments");
    *out = NULL;
    yard_topics_report *r = calloc(1, sizeof *r);
    yard_topic_result *res = calloc(n ? n : 1, sizeof *res);
    yard_topic_actual *act = calloc(n ? n : 1, sizeof *act);
    const char **names = calloc(n ? n : 1, sizeof *names);
    const yard_topic_spec **missing = calloc(n ? n : 1, sizeof *missing);
    size_t *missing_at = calloc(n ? n : 1, sizeof *missing_at);
    int *rc = calloc(n ? n : 1, sizeof *rc);
    char (*msg)[YARD_TOPICS_MSG_MAX] = calloc(n ? n : 1, sizeof *msg);
    if (!r || !res || !act || !names || !missing || !missing_at || !rc ||
        !msg) {
        free(r);
        free(res);
        r = NULL;
        goto done;
    }
    r->topics = res;
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        res[i].spec = &specs[i];
        names[i] = specs[i].name;
    }
    if (n == 0)
        goto done;

    char why[YARD_TOPICS_MSG_MAX] = "";
    if (be->describe(be->arg, names, n, act, why, sizeof why)) {
        for (size_t i = 0; i < n; i++) {
            res[i].status = YARD_TOPIC_UNCHECKED;
            snprintf(res[i].reason, sizeof res[i].reason, "%s", why);
        }
        goto done;
    }
    size_t n_missing = 0;
    for (size_t i = 0; i < n; i++) {
        if (act[i].unreadable) {
            res[i].status = YARD_TOPIC_UNCHECKED;
            snprintf(res[i].reason, sizeof res[i].reason, "%s",
                     act[i].configs_why);
        } else if (act[i].exists) {
            compare(&res[i], &act[i]);
        } else {
            missing[n_missing] = &specs[i];
            missing_at[n_missing++] = i;
        }
    }
    if (n_missing) {
        be->create(be->arg, missing, n_missing, rc, msg);
        for (size_t k = 0; k < n_missing; k++) {
            yard_topic_result *t = &res[missing_at[k]];
            /* Created by someone else since we looked: it exists, but
             * with settings we have not seen. */
            t->status = rc[k] == YARD_EEXIST ? YARD_TOPIC_UNCHECKED
                        : rc[k]              ? YARD_TOPIC_MISSING
                                             : YARD_TOPIC_CREATED;
            if (rc[k])
                snprintf(t->reason, sizeof t->reason, "%s",
                         msg[k][0] ? msg[k] : yard_err_str(rc[k]));
        }
    }
done:
    free(act);
    free(names);
    free(missing);
    free(missing_at);
    free(rc);
    free(msg);
    if (!r)
        return yard_errf(err, errlen, YARD_ENOMEM, "topics: out of memory");
    *out = r;
    return 0;
}

void yard_topics_report_free(yard_topics_report *r)
{
    if (!r)
        return;
    free(r->topics);
    free(r);
}

size_t yard_topics_count(const yard_topics_report *r, yard_topic_status s)
{
    size_t c = 0;
    for (size_t i = 0; r && i < r->n; i++)
        c += r->topics[i].status == s;
    return c;
}

/* Append ", name" (or "name") to buf; "..." once it is full. */
static void list_add(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);
    if (used + 4 >= len)
        return;
    int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
    if (w < 0 || (size_t)w >= len - used)
        snprintf(buf + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
}

bool yard_topics_ready(const yard_topics_report *r, char *why, size_t whylen)
{
    if (whylen)
        why[0] = '\0';
    if (!yard_topics_count(r, YARD_TOPIC_MISSING))
        return true;
    char names[LIST_MAX] = "";
    const char *reason = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (r->topics[i].status == YARD_TOPIC_MISSING) {
            list_add(names, sizeof names, r->topics[i].spec->name);
            if (!reason)
                reason = r->topics[i].reason;
        }
    if (whylen)
        snprintf(why, whylen, "missing on the cluster and not created: %s (%s)",
                 names, reason);
    return false;
}

/* ---- the report in the log ------------------------------------------------- */

static void where(char *buf, size_t len, const yard_topic_spec *s)
{
    snprintf(buf, len, "%s:%d", s->file ? s->file : "?", s->line);
}

/* One line for every distinct reason among the topics `pick` selects. */
static void log_grouped(const yard_topics_report *r, yard_log_level level,
                        const char *msg, const char *hint,
                        bool (*pick)(const yard_topic_result *))
{
    bool *done = calloc(r->n ? r->n : 1, sizeof *done);
    if (!done)
        return;
    for (size_t i = 0; i < r->n; i++) {
        if (done[i] || !pick(&r->topics[i]))
            continue;
        char names[LIST_MAX] = "";
        for (size_t j = i; j < r->n; j++)
            if (!done[j] && pick(&r->topics[j]) &&
                strcmp(r->topics[j].reason, r->topics[i].reason) == 0) {
                list_add(names, sizeof names, r->topics[j].spec->name);
                done[j] = true;
            }
        yard_log(level, msg, "topics", names, "reason", r->topics[i].reason,
                 "hint", hint, NULL);
    }
    free(done);
}

static bool is_missing(const yard_topic_result *t)
{
    return t->status == YARD_TOPIC_MISSING;
}

static bool is_unchecked(const yard_topic_result *t)
{
    return t->status == YARD_TOPIC_UNCHECKED;
}

static bool has_unchecked_configs(const yard_topic_result *t)
{
    return t->configs_unchecked;
}

void yard_topics_log(const yard_topics_report *r)
{
    if (!r || !r->n)
        return;
    char at[512], num[32];
    for (size_t i = 0; i < r->n; i++) {
        const yard_topic_result *t = &r->topics[i];
        const yard_topic_spec *s = t->spec;
        where(at, sizeof at, s);
        if (t->status == YARD_TOPIC_CREATED) {
            char parts[16], rf[16], ret[YARD_TOPICS_VALUE_MAX], misr[16];
            snprintf(parts, sizeof parts, "%u", (unsigned)s->partitions);
            snprintf(rf, sizeof rf, "%u", (unsigned)s->replication_factor);
            snprintf(misr, sizeof misr, "%u", (unsigned)s->min_insync_replicas);
            fmt_duration(ret, sizeof ret, s->retention_ms);
            yard_log(YARD_LOG_INFO, "topic created as configured", "topic",
                     s->name, "partitions", parts, "replication_factor",
                     s->replication_factor ? rf : "cluster default",
                     "retention", s->retention_ms ? ret : NULL,
                     "cleanup_policy", s->cleanup_policy,
                     "min_insync_replicas",
                     s->min_insync_replicas ? misr : NULL, "conf", at, NULL);
        }
        for (size_t k = 0; k < t->n_mismatch; k++)
            yard_log(YARD_LOG_WARN,
                     "topic differs from its configuration; left as it is",
                     "topic", s->name, "setting", t->mismatch[k].setting,
                     "configured", t->mismatch[k].configured, "actual",
                     t->mismatch[k].actual, "conf", at, "hint",
                     "change the topic with the cluster's tools, or conf.d "
                     "to match it",
                     NULL);
    }
    log_grouped(r, YARD_LOG_WARN,
                "topics missing on the cluster and not created", 
                "create them with the cluster's tools, with the settings of "
                "their [topic NAME] section, then restart the host",
                is_missing);
    log_grouped(r, YARD_LOG_WARN,
                "topic configs not compared (retention, cleanup_policy, "
                "min_insync_replicas)",
                "compare them with the cluster's tools", has_unchecked_configs);
    log_grouped(r, YARD_LOG_WARN, "topics not checked",
                "the host checks topics only at start; restart it once the "
                "cause is gone",
                is_unchecked);
    char c[5][24];
    static const yard_topic_status order[] = {
        YARD_TOPIC_MATCHES, YARD_TOPIC_CREATED, YARD_TOPIC_DIFFERS,
        YARD_TOPIC_MISSING, YARD_TOPIC_UNCHECKED};
    for (size_t i = 0; i < ARRAY_LEN(order); i++)
        snprintf(c[i], sizeof c[i], "%zu", yard_topics_count(r, order[i]));
    snprintf(num, sizeof num, "%zu", r->n);
    yard_log(YARD_LOG_INFO, "topics checked", "configured", num, "matching",
             c[0], "created", c[1], "differing", c[2], "missing", c[3],
             "unchecked", c[4], NULL);
}

void yard_topics_publish(const yard_topics_report *r)
{
    if (!r || !r->n)
        return;
    for (size_t i = 0; i < r->n; i++) {
        const yard_topic_result *t = &r->topics[i];
        yard_metric_set(YARD_M_TOPIC_MISSING, (const char *[]){t->spec->name},
                        t->status == YARD_TOPIC_MISSING ? 1 : 0);
        for (size_t k = 0; k < t->n_mismatch; k++)
            yard_metric_set(YARD_M_TOPIC_MISMATCH,
                            (const char *[]){t->spec->name,
                                             t->mismatch[k].setting},
                            1);
    }
    char why[LIST_MAX + YARD_TOPICS_MSG_MAX];
    bool ok = yard_topics_ready(r, why, sizeof why);
    yard_health_set(READY_NAME, ok, why);
}

int yard_topics_check(const yard_config *cfg, yard_topics_report **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->n_topic_specs)
        return 0;
    yard_topics_backend be;
    int rc = yard_topics_kafka_new(cfg, &be, err, errlen);
    if (rc)
        return rc;
    rc = yard_topics_reconcile(cfg->topic_specs, cfg->n_topic_specs, &be, out,
                               err, errlen);
    yard_topics_kafka_free(&be);
    return rc;
}

/* ---- the librdkafka backend ----------------------------------------------- */

typedef struct kafka_be {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    bool admin_ok; /* the cluster names a controller among its brokers */
    char admin_why[YARD_TOPICS_MSG_MAX];
} kafka_be;

static const struct rd_kafka_metadata_topic *
md_topic(const struct rd_kafka_metadata *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0)
            return &md->topics[i];
    return NULL;
}

/*
 * CreateTopics and DescribeConfigs go to the controller.  A cluster that
 * names none among its brokers cannot answer them, and asking would only
 * wait out the timeout, so the admin requests are not sent.
 */
static void probe_controller(kafka_be *k, const struct rd_kafka_metadata *md)
{
    int32_t ctrl = rd_kafka_controllerid(k->rk, CONTROLLER_WAIT_MS);
    for (int i = 0; i < md->broker_cnt; i++)
        if (md->brokers[i].id == ctrl) {
            k->admin_ok = true;
            return;
        }
    char ids[128] = "";
    for (int i = 0; i < md->broker_cnt; i++) {
        char one[16];
        snprintf(one, sizeof one, "%" PRId32, md->brokers[i].id);
        list_add(ids, sizeof ids, one);
    }
    snprintf(k->admin_why, sizeof k->admin_why,
             "the cluster names no controller among its brokers (controller "
             "id %" PRId32 ", brokers %s), and creating topics or reading "
             "their configs needs one (CreateTopics, DescribeConfigs)",
             ctrl, ids);
}

/* Wait for the admin result on our queue; NULL after the timeout. */
/* The answer to the admin request `what` just sent: the event (caller
 * destroys it; NULL when none came), with why filled when there is no
 * answer or it is an error. */
static rd_kafka_event_t *admin_wait(kafka_be *k, const char *what, char *why,
                                    size_t whylen)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(k->q, ADMIN_TIMEOUT_MS + 1000);
    if (!ev)
        snprintf(why, whylen, "%s: no answer in %d ms", what, ADMIN_TIMEOUT_MS);
    else if (rd_kafka_event_error(ev))
        snprintf(why, whylen, "%s: %s: %s", what,
                 rd_kafka_err2name(rd_kafka_event_error(ev)),
                 rd_kafka_event_error_string(ev));
    return ev;
}

static void read_configs(kafka_be *k, const char *const *names, size_t n,
                         yard_topic_actual *actual)
{
    size_t cnt = 0;
    rd_kafka_ConfigResource_t **res = calloc(n, sizeof *res);
    size_t *idx = calloc(n, sizeof *idx);
    for (size_t i = 0; res && idx && i < n; i++)
        if (actual[i].exists && !actual[i].unreadable) {
            res[cnt] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC,
                                                   names[i]);
            idx[cnt++] = i;
        }
    char why[YARD_TOPICS_MSG_MAX] = "";
    rd_kafka_event_t *ev = NULL;
    if (!res || !idx) {
        snprintf(why, sizeof why, "out of memory");
    } else if (cnt) {
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        char e[256];
        rd_kafka_AdminOptions_set_request_timeout(o, ADMIN_TIMEOUT_MS, e,
                                                  sizeof e);
        rd_kafka_DescribeConfigs(k->rk, res, cnt, o, k->q);
        rd_kafka_AdminOptions_destroy(o);
        ev = admin_wait(k, "DescribeConfigs", why, sizeof why);
    }
    const rd_kafka_DescribeConfigs_result_t *dr =
        ev && !why[0] ? rd_kafka_event_DescribeConfigs_result(ev) : NULL;
    size_t nr = 0;
    const rd_kafka_ConfigResource_t **rr =
        dr ? rd_kafka_DescribeConfigs_result_resources(dr, &nr) : NULL;
    for (size_t c = 0; c < cnt; c++) {
        yard_topic_actual *a = &actual[idx[c]];
        const rd_kafka_ConfigResource_t *got = NULL;
        for (size_t j = 0; j < nr && !got; j++)
            if (strcmp(rd_kafka_ConfigResource_name(rr[j]), names[idx[c]]) ==
                0)
                got = rr[j];
        if (!got || rd_kafka_ConfigResource_error(got)) {
            if (why[0])
                snprintf(a->configs_why, sizeof a->configs_why, "%s", why);
            else if (got)
                snprintf(a->configs_why, sizeof a->configs_why,
                         "DescribeConfigs: %s: %s",
                         rd_kafka_err2name(rd_kafka_ConfigResource_error(got)),
                         rd_kafka_ConfigResource_error_string(got));
            else
                snprintf(a->configs_why, sizeof a->configs_why,
                         "DescribeConfigs: topic missing from the answer");
            continue;
        }
        a->configs_known = true;
        size_t ne = 0;
        const rd_kafka_ConfigEntry_t **ents =
            rd_kafka_ConfigResource_configs(got, &ne);
        for (size_t j = 0; j < ne; j++) {
            const char *name = rd_kafka_ConfigEntry_name(ents[j]);
            const char *value = rd_kafka_ConfigEntry_value(ents[j]);
            if (!name || !value)
                continue;
            if (strcmp(name, "retention.ms") == 0)
                a->retention_ms = strtoll(value, NULL, 10);
            else if (strcmp(name, "cleanup.policy") == 0)
                snprintf(a->cleanup_policy, sizeof a->cleanup_policy, "%s",
                         value);
            else if (strcmp(name, "min.insync.replicas") == 0)
                a->min_insync_replicas = (int32_t)strtol(value, NULL, 10);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    for (size_t c = 0; res && c < cnt; c++)
        rd_kafka_ConfigResource_destroy(res[c]);
    free(res);
    free(idx);
}

static int kafka_describe(void *arg, const char *const *names, size_t n,
                          yard_topic_actual *actual, char *why, size_t whylen)
{
    kafka_be *k = arg;
    const struct rd_kafka_metadata *md = NULL;
    /* All topics: asking for one by name lets a cluster with automatic
     * topic creation create it, and the lookup must not change anything. */
    rd_kafka_resp_err_t e =
        rd_kafka_metadata(k->rk, 1, NULL, &md, METADATA_TIMEOUT_MS);
    if (e)
        return yard_errf(why, whylen, YARD_EKAFKA,
                         "cluster metadata: %s (after up to %d ms)",
                         rd_kafka_err2str(e), METADATA_TIMEOUT_MS);
    for (size_t i = 0; i < n; i++) {
        const struct rd_kafka_metadata_topic *t = md_topic(md, names[i]);
        if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        actual[i].exists = true;
        /* A leader being elected still lists the partitions; anything
         * else (not authorised, ...) leaves nothing to compare. */
        if (t->err && t->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
            actual[i].unreadable = true;
            snprintf(actual[i].configs_why, sizeof actual[i].configs_why,
                     "metadata: %s", rd_kafka_err2str(t->err));
            continue;
        }
        actual[i].partitions = t->partition_cnt;
        int32_t rf = t->partition_cnt ? INT32_MAX : 0;
        for (int p = 0; p < t->partition_cnt; p++)
            if (t->partitions[p].replica_cnt < rf)
                rf = t->partitions[p].replica_cnt;
        actual[i].replication_factor = rf;
    }
    probe_controller(k, md);
    rd_kafka_metadata_destroy(md);
    if (k->admin_ok) {
        read_configs(k, names, n, actual);
    } else {
        for (size_t i = 0; i < n; i++)
            if (!actual[i].unreadable)
                snprintf(actual[i].configs_why, sizeof actual[i].configs_why,
                         "%s", k->admin_why);
    }
    return 0;
}

/* One topic's creation request with exactly its settings. */
static rd_kafka_NewTopic_t *new_topic(const yard_topic_spec *s, char *why,
                                      size_t whylen)
{
    /* -1: the cluster's default replication factor. */
    int rf = s->replication_factor ? (int)s->replication_factor : -1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        s->name, (int)s->partitions, rf, why, whylen);
    if (!nt)
        return NULL;
    char v[32];
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (s->retention_ms) {
        snprintf(v, sizeof v, "%" PRId64, s->retention_ms);
        e = rd_kafka_NewTopic_set_config(nt, "retention.ms", v);
    }
    if (!e && s->cleanup_policy)
        e = rd_kafka_NewTopic_set_config(nt, "cleanup.policy",
                                         s->cleanup_policy);
    if (!e && s->min_insync_replicas) {
        snprintf(v, sizeof v, "%u", (unsigned)s->min_insync_replicas);
        e = rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", v);
    }
    if (e) {
        snprintf(why, whylen, "%s", rd_kafka_err2str(e));
        rd_kafka_NewTopic_destroy(nt);
        return NULL;
    }
    return nt;
}

static void kafka_create(void *arg, const yard_topic_spec *const *specs,
                         size_t n, int *rc, char (*msg)[YARD_TOPICS_MSG_MAX])
{
    kafka_be *k = arg;
    for (size_t i = 0; i < n; i++) {
        rc[i] = YARD_EKAFKA;
        msg[i][0] = '\0';
    }
    if (!k->admin_ok) {
        for (size_t i = 0; i < n; i++)
            snprintf(msg[i], YARD_TOPICS_MSG_MAX, "%s", k->admin_why);
        return;
    }
    rd_kafka_NewTopic_t **nts = calloc(n, sizeof *nts);
    size_t *idx = calloc(n, sizeof *idx);
    size_t cnt = 0;
    if (!nts || !idx) {
        for (size_t i = 0; i < n; i++)
            snprintf(msg[i], YARD_TOPICS_MSG_MAX, "out of memory");
        free(nts);
        free(idx);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char why[256] = "";
        nts[cnt] = new_topic(specs[i], why, sizeof why);
        if (nts[cnt])
            idx[cnt++] = i;
        else
            snprintf(msg[i], YARD_TOPICS_MSG_MAX, "not sent: %s", why);
    }
    rd_kafka_event_t *ev = NULL;
    char why[YARD_TOPICS_MSG_MAX] = "";
    if (cnt) {
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        char e[256];
        rd_kafka_AdminOptions_set_request_timeout(o, ADMIN_TIMEOUT_MS, e,
                                                  sizeof e);
        rd_kafka_AdminOptions_set_operation_timeout(o, ADMIN_OP_TIMEOUT_MS, e,
                                                    sizeof e);
        rd_kafka_CreateTopics(k->rk, nts, cnt, o, k->q);
        rd_kafka_AdminOptions_destroy(o);
        ev = admin_wait(k, "CreateTopics", why, sizeof why);
    }
    const rd_kafka_CreateTopics_result_t *cr =
        ev && !why[0] ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    size_t nr = 0;
    const rd_kafka_topic_result_t **tr =
        cr ? rd_kafka_CreateTopics_result_topics(cr, &nr) : NULL;
    for (size_t c = 0; c < cnt; c++) {
        size_t i = idx[c];
        if (why[0]) {
            snprintf(msg[i], YARD_TOPICS_MSG_MAX, "%s", why);
            continue;
        }
        const rd_kafka_topic_result_t *got = NULL;
        for (size_t j = 0; j < nr && !got; j++)
            if (strcmp(rd_kafka_topic_result_name(tr[j]), specs[i]->name) == 0)
                got = tr[j];
        if (!got) {
            snprintf(msg[i], YARD_TOPICS_MSG_MAX,
                     "CreateTopics: topic missing from the answer");
        } else if (rd_kafka_topic_result_error(got) ==
                   RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc[i] = YARD_EEXIST;
            snprintf(msg[i], YARD_TOPICS_MSG_MAX,
                     "created by someone else after the host looked; its "
                     "settings were not compared");
        } else if (rd_kafka_topic_result_error(got)) {
            const char *s = rd_kafka_topic_result_error_string(got);
            snprintf(msg[i], YARD_TOPICS_MSG_MAX, "CreateTopics: %s: %s",
                     rd_kafka_err2name(rd_kafka_topic_result_error(got)),
                     s ? s : "");
        } else {
            rc[i] = 0;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    for (size_t c = 0; c < cnt; c++)
        rd_kafka_NewTopic_destroy(nts[c]);
    free(nts);
    free(idx);
}

/* librdkafka's lines into ours, like the consumer's and relay's, except
 * the warnings about consumer-only [kafka] properties on this producer
 * handle: the relay already logs them once. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    yard_log_level l = level <= 3 ? YARD_LOG_ERROR
                       : level <= 4 ? YARD_LOG_WARN
                       : level <= 6 ? YARD_LOG_INFO
                                    : YARD_LOG_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0)
        l = YARD_LOG_DEBUG;
    yard_log(l, buf, "component", "kafka", "client", "topics", "facility",
             fac, NULL);
}

int yard_topics_kafka_new(const yard_config *cfg, yard_topics_backend *be,
                          char *err, size_t errlen)
{
    memset(be, 0, sizeof *be);
    kafka_be *k = calloc(1, sizeof *k);
    if (!k)
        return yard_errf(err, errlen, YARD_ENOMEM, "topics: out of memory");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = yard_kafka_conf_apply(conf, cfg, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    char e[512];
    /* A producer handle that never produces: the admin API needs one. */
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return yard_errf(err, errlen, YARD_EKAFKA, "topics: client: %s", e);
    }
    k->q = rd_kafka_queue_new(k->rk);
    be->describe = kafka_describe;
    be->create = kafka_create;
    be->arg = k;
    return 0;
}

void yard_topics_kafka_free(yard_topics_backend *be)
{
    if (!be || !be->arg)
        return;
    kafka_be *k = be->arg;
    rd_kafka_queue_destroy(k->q);
    rd_kafka_destroy(k->rk);
    free(k);
    memset(be, 0, sizeof *be);
}
