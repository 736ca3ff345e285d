/*
 * Topics as configuration: [topic NAME] sections as the loader reads them
 * (values, units, every bad value with file:line), and the decisions of
 * yard_topics_reconcile() over a recording test double of the cluster:
 * missing -> created with exactly the configured settings; partitions,
 * replication or config differences -> reported, nothing altered;
 * matching -> nothing; a cluster that cannot create or describe -> the
 * reasons, and readiness, log lines and metrics that say so.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"
#include "topics.h"

#define MAX_TOPICS 8

/* ---- the test double ------------------------------------------------------ */

/* A cluster as a table, and a record of every call made to it. */
typedef struct fake {
    /* the cluster */
    const char *names[MAX_TOPICS];
    yard_topic_actual actual[MAX_TOPICS];
    size_t n;
    int describe_rc;            /* != 0: the cluster does not answer */
    const char *configs_why;    /* non-NULL: configs cannot be read */
    int create_rc;              /* != 0: every creation refused */
    const char *unreadable;     /* this topic is listed but not described */
    const char *create_why;
    /* the record */
    int describe_calls;
    size_t described;           /* names asked for in the last describe */
    int create_calls;
    yard_topic_spec created[MAX_TOPICS]; /* copies, as asked for */
    size_t n_created;
} fake;

static int fake_describe(void *arg, const char *const *names, size_t n,
                         yard_topic_actual *actual, char *why, size_t whylen)
{
    fake *f = arg;
    f->describe_calls++;
    f->described = n;
    if (f->describe_rc)
        return yard_errf(why, whylen, f->describe_rc, "broker unreachable");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < f->n; j++)
            if (strcmp(names[i], f->names[j]) == 0) {
                actual[i] = f->actual[j];
                actual[i].exists = true;
                if (f->unreadable && strcmp(names[i], f->unreadable) == 0) {
                    actual[i].unreadable = true;
                    snprintf(actual[i].configs_why,
                             sizeof actual[i].configs_why,
                             "metadata: Broker: Topic authorization failed");
                }
                if (f->configs_why) {
                    actual[i].configs_known = false;
                    snprintf(actual[i].configs_why,
                             sizeof actual[i].configs_why, "%s",
                             f->configs_why);
                }
            }
    return 0;
}

static void fake_create(void *arg, const yard_topic_spec *const *specs,
                        size_t n, int *rc, char (*msg)[YARD_TOPICS_MSG_MAX])
{
    fake *f = arg;
    f->create_calls++;
    for (size_t i = 0; i < n; i++) {
        if (f->n_created < MAX_TOPICS)
            f->created[f->n_created++] = *specs[i];
        rc[i] = f->create_rc;
        snprintf(msg[i], YARD_TOPICS_MSG_MAX, "%s",
                 f->create_rc ? f->create_why : "");
    }
}

static yard_topics_backend backend(fake *f)
{
    return (yard_topics_backend){.describe = fake_describe,
                                 .create = fake_create,
                                 .arg = f};
}

/* A topic on the fake cluster whose configs are known. */
static void on_cluster(fake *f, const char *name, int32_t parts, int32_t rf,
                       int64_t retention_ms, const char *cleanup,
                       int32_t min_isr)
{
    f->names[f->n] = name;
    yard_topic_actual *a = &f->actual[f->n++];
    memset(a, 0, sizeof *a);
    a->partitions = parts;
    a->replication_factor = rf;
    a->configs_known = true;
    a->retention_ms = retention_ms;
    snprintf(a->cleanup_policy, sizeof a->cleanup_policy, "%s", cleanup);
    a->min_insync_replicas = min_isr;
}

static yard_topic_spec spec(const char *name, uint32_t parts)
{
    return (yard_topic_spec){.name = (char *)name, .file = "topics.ini",
                             .line = 1, .partitions = parts};
}

static const yard_topic_mismatch *find_mismatch(const yard_topic_result *t,
                                                const char *setting)
{
    for (size_t i = 0; i < t->n_mismatch; i++)
        if (strcmp(t->mismatch[i].setting, setting) == 0)
            return &t->mismatch[i];
    return NULL;
}

static yard_topics_report *run(const yard_topic_spec *specs, size_t n, fake *f)
{
    yard_topics_backend be = backend(f);
    yard_topics_report *r = NULL;
    char err[256];
    CU_ASSERT_EQUAL(yard_topics_reconcile(specs, n, &be, &r, err, sizeof err),
                    0);
    CU_ASSERT_PTR_NOT_NULL(r);
    if (r)
        CU_ASSERT_EQUAL(r->n, n);
    return r;
}

/* ---- decisions ---------------------------------------------------------- */

static void test_missing_is_created_as_configured(void)
{
    fake f = {0};
    on_cluster(&f, "present", 2, 3, 604800000, "delete", 2);
    yard_topic_spec s[2] = {spec("present", 2), spec("fresh", 6)};
    s[1].replication_factor = 3;
    s[1].retention = "30d";
    s[1].retention_ms = 2592000000LL;
    s[1].cleanup_policy = "compact,delete";
    s[1].min_insync_replicas = 2;
    yard_topics_report *r = run(s, 2, &f);
    CU_ASSERT_EQUAL(f.describe_calls, 1);
    CU_ASSERT_EQUAL(f.described, 2);
    /* Only the missing one is created, once, with exactly its settings. */
    CU_ASSERT_EQUAL(f.create_calls, 1);
    CU_ASSERT_EQUAL_FATAL(f.n_created, 1);
    const yard_topic_spec *c = &f.created[0];
    CU_ASSERT_STRING_EQUAL(c->name, "fresh");
    CU_ASSERT_EQUAL(c->partitions, 6);
    CU_ASSERT_EQUAL(c->replication_factor, 3);
    CU_ASSERT_EQUAL(c->retention_ms, 2592000000LL);
    CU_ASSERT_STRING_EQUAL(c->cleanup_policy, "compact,delete");
    CU_ASSERT_EQUAL(c->min_insync_replicas, 2);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_MATCHES);
    CU_ASSERT_EQUAL(r->topics[1].status, YARD_TOPIC_CREATED);
    CU_ASSERT_EQUAL(yard_topics_count(r, YARD_TOPIC_CREATED), 1);
    char why[256];
    CU_ASSERT_TRUE(yard_topics_ready(r, why, sizeof why));
    yard_topics_report_free(r);
}

static void test_mismatch_is_reported_not_altered(void)
{
    fake f = {0};
    on_cluster(&f, "orders", 3, 1, 86400000, "delete", 1);
    yard_topic_spec s = spec("orders", 6);
    s.replication_factor = 3;
    s.retention = "7d";
    s.retention_ms = 604800000;
    s.cleanup_policy = "compact";
    s.min_insync_replicas = 2;
    yard_topics_report *r = run(&s, 1, &f);
    CU_ASSERT_EQUAL(f.create_calls, 0); /* nothing is changed or created */
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_DIFFERS);
    CU_ASSERT_EQUAL(r->topics[0].n_mismatch, 5);
    const yard_topic_mismatch *m = find_mismatch(&r->topics[0], "partitions");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "6");
    CU_ASSERT_STRING_EQUAL(m->actual, "3");
    m = find_mismatch(&r->topics[0], "replication_factor");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "3");
    CU_ASSERT_STRING_EQUAL(m->actual, "1");
    m = find_mismatch(&r->topics[0], "retention");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "604800000 ms (1w)");
    CU_ASSERT_STRING_EQUAL(m->actual, "86400000 ms (1d)");
    m = find_mismatch(&r->topics[0], "cleanup_policy");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "compact");
    CU_ASSERT_STRING_EQUAL(m->actual, "delete");
    m = find_mismatch(&r->topics[0], "min_insync_replicas");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "2");
    CU_ASSERT_STRING_EQUAL(m->actual, "1");
    /* Differences do not make the host unready. */
    char why[256];
    CU_ASSERT_TRUE(yard_topics_ready(r, why, sizeof why));
    yard_topics_report_free(r);
}

static void test_matching_and_unset_settings(void)
{
    fake f = {0};
    on_cluster(&f, "a", 4, 3, 259200000, "delete,compact", 2);
    on_cluster(&f, "b", 1, 1, -1, "delete", 1);
    yard_topic_spec s[2] = {spec("a", 4), spec("b", 1)};
    /* a: policies in another order are the same policies. */
    s[0].replication_factor = 3;
    s[0].retention = "3d";
    s[0].retention_ms = 259200000;
    s[0].cleanup_policy = "compact,delete";
    s[0].min_insync_replicas = 2;
    /* b: only partitions set; its retention (forever) is not compared. */
    yard_topics_report *r = run(s, 2, &f);
    CU_ASSERT_EQUAL(f.create_calls, 0);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_MATCHES);
    CU_ASSERT_EQUAL(r->topics[0].n_mismatch, 0);
    CU_ASSERT_EQUAL(r->topics[1].status, YARD_TOPIC_MATCHES);
    CU_ASSERT_FALSE(r->topics[1].configs_unchecked);
    yard_topics_report_free(r);
    /* "forever" against a finite retention is a difference. */
    s[1].retention = "forever";
    s[1].retention_ms = -1;
    f.actual[1].retention_ms = 604800000;
    r = run(&s[1], 1, &f);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_DIFFERS);
    const yard_topic_mismatch *m = find_mismatch(&r->topics[0], "retention");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_STRING_EQUAL(m->configured, "forever");
    yard_topics_report_free(r);
}

static void test_configs_not_readable(void)
{
    fake f = {.configs_why = "DescribeConfigs: not supported"};
    on_cluster(&f, "t", 2, 1, 1, "compact", 1);
    yard_topic_spec s[2] = {spec("t", 2), spec("t", 3)};
    s[0].retention = "7d";
    s[0].retention_ms = 604800000;
    s[1].retention_ms = 0; /* no configs set: nothing to compare */
    yard_topics_report *r = run(&s[0], 1, &f);
    /* Partitions (from metadata) still compared; configs marked. */
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_MATCHES);
    CU_ASSERT_TRUE(r->topics[0].configs_unchecked);
    CU_ASSERT_STRING_EQUAL(r->topics[0].reason,
                           "DescribeConfigs: not supported");
    yard_topics_report_free(r);
    r = run(&s[1], 1, &f);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_DIFFERS);
    CU_ASSERT_FALSE(r->topics[0].configs_unchecked);
    yard_topics_report_free(r);
}

static void test_creation_refused(void)
{
    fake f = {.create_rc = YARD_EKAFKA,
              .create_why = "CreateTopics: TOPIC_AUTHORIZATION_FAILED"};
    yard_topic_spec s[2] = {spec("x", 1), spec("y", 2)};
    yard_topics_report *r = run(s, 2, &f);
    CU_ASSERT_EQUAL(f.create_calls, 1); /* one request, both topics */
    CU_ASSERT_EQUAL(f.n_created, 2);
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(r->topics[i].status, YARD_TOPIC_MISSING);
        CU_ASSERT_STRING_EQUAL(r->topics[i].reason,
                               "CreateTopics: TOPIC_AUTHORIZATION_FAILED");
    }
    char why[512];
    CU_ASSERT_FALSE(yard_topics_ready(r, why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "x, y"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "TOPIC_AUTHORIZATION_FAILED"));
    yard_topics_report_free(r);
}

static void test_cluster_not_answering(void)
{
    fake f = {.describe_rc = YARD_EKAFKA};
    yard_topic_spec s = spec("x", 1);
    yard_topics_report *r = run(&s, 1, &f);
    CU_ASSERT_EQUAL(f.create_calls, 0); /* no blind creation */
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_UNCHECKED);
    CU_ASSERT_STRING_EQUAL(r->topics[0].reason, "broker unreachable");
    char why[256];
    CU_ASSERT_TRUE(yard_topics_ready(r, why, sizeof why));
    yard_topics_report_free(r);
}

static void test_unreadable_and_raced(void)
{
    /* A topic the cluster lists but will not describe: unchecked, not
     * "0 partitions", and nothing is created for it. */
    fake f = {.unreadable = "secret"};
    on_cluster(&f, "secret", 0, 0, 0, "", 0);
    yard_topic_spec s = spec("secret", 3);
    yard_topics_report *r = run(&s, 1, &f);
    CU_ASSERT_EQUAL(f.create_calls, 0);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_UNCHECKED);
    CU_ASSERT_EQUAL(r->topics[0].n_mismatch, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->topics[0].reason, "authorization"));
    yard_topics_report_free(r);
    /* Created by someone else between the look and the creation: it
     * exists, so it does not hold readiness back. */
    fake g = {.create_rc = YARD_EEXIST, .create_why = "created meanwhile"};
    s = spec("raced", 2);
    r = run(&s, 1, &g);
    CU_ASSERT_EQUAL(g.create_calls, 1);
    CU_ASSERT_EQUAL(r->topics[0].status, YARD_TOPIC_UNCHECKED);
    CU_ASSERT_STRING_EQUAL(r->topics[0].reason, "created meanwhile");
    char why[256];
    CU_ASSERT_TRUE(yard_topics_ready(r, why, sizeof why));
    yard_topics_report_free(r);
}

static void test_bad_arguments(void)
{
    yard_topics_report *r = NULL;
    char err[128];
    CU_ASSERT_EQUAL(yard_topics_reconcile(NULL, 1, NULL, &r, err, sizeof err),
                    YARD_EINVAL);
    CU_ASSERT_PTR_NULL(r);
    fake f = {0};
    yard_topics_backend be = backend(&f);
    CU_ASSERT_EQUAL(yard_topics_reconcile(NULL, 0, &be, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(f.describe_calls, 0);
    CU_ASSERT_TRUE(r && r->n == 0);
    yard_topics_report_free(r);
    yard_topics_report_free(NULL);
}

/* ---- what operators see ---------------------------------------------------- */

/* Run fn with stderr going to a file; returns what was written (malloc'd). */
static char *capture_stderr(void (*fn)(const yard_topics_report *),
                            const yard_topics_report *r)
{
    char path[] = "/tmp/yard-topics-log-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    if (buf && pread(fd, buf, (size_t)len, 0) != len) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    unlink(path);
    return buf;
}

static void test_log_metrics_readiness(void)
{
    fake f = {.create_rc = YARD_EKAFKA,
              .create_why = "the cluster names no controller"};
    on_cluster(&f, "orders", 3, 1, 604800000, "delete", 1);
    yard_topic_spec s[2] = {spec("orders", 6), spec("fresh", 2)};
    s[0].file = "conf.d/topics.ini";
    s[0].line = 12;
    yard_topics_report *r = run(s, 2, &f);
    char *log = capture_stderr(yard_topics_log, r);
    if (!log) {
        CU_FAIL("stderr not captured");
        yard_topics_report_free(r);
        return;
    }
    printf("\n%s", log);
    /* One line naming topic, setting, configured and actual value. */
    CU_ASSERT_PTR_NOT_NULL(strstr(
        log, "topic=orders setting=partitions configured=6 actual=3 "
             "conf=conf.d/topics.ini:12"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "left as it is"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "not created"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "topics=fresh"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "the cluster names no controller"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "differing=1 missing=1"));
    free(log);

    yard_topics_publish(r);
    char *m = yard_metrics_render(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        m, "switchyard_topic_mismatch{topic=\"orders\",setting=\"partitions\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "switchyard_topic_missing{topic=\"fresh\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "switchyard_topic_missing{topic=\"orders\"} 0\n"));
    free(m);
    char why[1024];
    CU_ASSERT_FALSE(yard_health_ready(why, sizeof why));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "topics: missing on the cluster and not "
                                       "created: fresh"));
    yard_topics_report_free(r);
    yard_health_forget("topics");
}

/* ---- the configuration ------------------------------------------------------ */

static void test_config_sections(void)
{
    char *dir = yard_test_tmpdir("topics-conf");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    CU_ASSERT_EQUAL(yard_test_write(dir, "host.ini",
                                    "[kafka]\nbootstrap.servers = x:1\n"
                                    "[topic orders]\npartitions = 6\n"
                                    "replication_factor = 3\nretention = 7d\n"
                                    "cleanup_policy = compact,delete\n"
                                    "min_insync_replicas = 2\n"),
                    0);
    CU_ASSERT_EQUAL(yard_test_write(dir, "topics.ini",
                                    "[topics]\norders.* = orders\n\n"
                                    "[topic  plain ]\npartitions = 1\n"
                                    "[topic ms]\npartitions = 2\n"
                                    "retention = 1500\n"
                                    "[topic keep]\npartitions = 3\n"
                                    "retention = forever\n"
                                    "[topic hours]\npartitions = 3\n"
                                    "retention = 72 h\n"),
                    0);
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_config_load(dir, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        printf("\n  %s", d.msgs[i]);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(cfg->n_topics, 1); /* [topics] untouched */
    CU_ASSERT_EQUAL_FATAL(cfg->n_topic_specs, 5);
    const yard_topic_spec *t = yard_config_topic_spec(cfg, "orders");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->partitions, 6);
    CU_ASSERT_EQUAL(t->replication_factor, 3);
    CU_ASSERT_STRING_EQUAL(t->retention, "7d");
    CU_ASSERT_EQUAL(t->retention_ms, 604800000);
    CU_ASSERT_STRING_EQUAL(t->cleanup_policy, "compact,delete");
    CU_ASSERT_EQUAL(t->min_insync_replicas, 2);
    CU_ASSERT_EQUAL(t->line, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(t->file, "host.ini"));
    t = yard_config_topic_spec(cfg, "plain");
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(t->replication_factor, 0); /* not set */
    CU_ASSERT_EQUAL(t->retention_ms, 0);
    CU_ASSERT_PTR_NULL(t->cleanup_policy);
    CU_ASSERT_EQUAL(t->min_insync_replicas, 0);
    CU_ASSERT_EQUAL(yard_config_topic_spec(cfg, "ms")->retention_ms, 1500);
    CU_ASSERT_EQUAL(yard_config_topic_spec(cfg, "keep")->retention_ms, -1);
    CU_ASSERT_EQUAL(yard_config_topic_spec(cfg, "hours")->retention_ms,
                    259200000);
    CU_ASSERT_PTR_NULL(yard_config_topic_spec(cfg, "nope"));
    yard_config_free(cfg);
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

static bool diag_has(const yard_diag *d, const char *s)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->msgs[i], s))
            return true;
    return false;
}

static void test_config_errors(void)
{
    char *dir = yard_test_tmpdir("topics-bad");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    CU_ASSERT_EQUAL(yard_test_write(dir, "t.ini",
                                    "[topic a]\n"                 /* 1 */
                                    "partitions = 0\n"            /* 2 */
                                    "retention = 7 days\n"        /* 3 */
                                    "cleanup_policy = compaction\n" /* 4 */
                                    "replication_factor = 2\n"    /* 5 */
                                    "min_insync_replicas = 3\n"   /* 6 */
                                    "colour = blue\n"             /* 7 */
                                    "[topic]\n"                   /* 8 */
                                    "partitions = 1\n"            /* 9 */
                                    "[topic bad name]\n"          /* 10 */
                                    "[topic b]\n"                 /* 11 */
                                    "retention = 0\n"             /* 12 */
                                    "[topic a]\n"                 /* 13 */
                                    "[topic c]\n"                 /* 14 */
                                    "partitions = 3\n"            /* 15 */
                                    "partitions = 4\n"            /* 16 */
                                    "replication_factor = 40000\n" /* 17 */
                                    ),
                    0);
    yard_config *cfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    CU_ASSERT_EQUAL(yard_config_load(dir, &cfg, &d), YARD_ECONFIG);
    CU_ASSERT_PTR_NULL(cfg);
    for (size_t i = 0; i < d.n; i++)
        printf("\n  %s", d.msgs[i]);
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:2: [topic a] partitions = \"0\""));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:3: [topic a] retention = \"7 days\""));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:4: [topic a] cleanup_policy = "
                                "\"compaction\": expected one of: delete, "
                                "compact, compact,delete"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:6: [topic a] min_insync_replicas (3) "
                                "is larger than replication_factor (2)"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:7: [topic a] unknown key \"colour\""));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:8: [topic] without a topic name"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:10: [topic bad name]: expected a Kafka "
                                "topic name"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:11: [topic b] partitions is required"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:12: [topic b] retention = \"0\""));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:13: [topic a] is already given at"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:16: [topic c] duplicate key partitions"));
    CU_ASSERT_TRUE(diag_has(&d, "t.ini:17: [topic c] replication_factor = "
                                "\"40000\""));
    CU_ASSERT_EQUAL(d.n, 12);
    yard_diag_clear(&d);
    yard_test_rm_rf(dir);
    free(dir);
}

static void test_parse_duration(void)
{
    int64_t ms = 0;
    CU_ASSERT_TRUE(yard_config_parse_duration("250ms", &ms) && ms == 250);
    CU_ASSERT_TRUE(yard_config_parse_duration("90s", &ms) && ms == 90000);
    CU_ASSERT_TRUE(yard_config_parse_duration("5min", &ms) && ms == 300000);
    CU_ASSERT_TRUE(yard_config_parse_duration("2w", &ms) && ms == 1209600000);
    CU_ASSERT_TRUE(yard_config_parse_duration("-1", &ms) && ms == -1);
    CU_ASSERT_FALSE(yard_config_parse_duration("", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration("5m", &ms)); /* ambiguous */
    CU_ASSERT_FALSE(yard_config_parse_duration("d", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration("-5", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration("1.5h", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration("99999999999999999999", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration("9999999999999999w", &ms));
    CU_ASSERT_FALSE(yard_config_parse_duration(NULL, &ms));
}

int main(void)
{
    yard_log_set_level(YARD_LOG_INFO);
    CU_TestInfo tests[] = {
        {"missing topic created with exactly its settings",
         test_missing_is_created_as_configured},
        {"differences reported, nothing altered",
         test_mismatch_is_reported_not_altered},
        {"matching topics and unset settings: nothing",
         test_matching_and_unset_settings},
        {"configs the cluster cannot describe", test_configs_not_readable},
        {"creation refused: missing, not ready", test_creation_refused},
        {"cluster not answering: unchecked, no creation",
         test_cluster_not_answering},
        {"unreadable topic, creation raced", test_unreadable_and_raced},
        {"bad arguments", test_bad_arguments},
        {"log lines, metrics and readiness", test_log_metrics_readiness},
        {"[topic NAME] sections", test_config_sections},
        {"[topic NAME] errors with file:line", test_config_errors},
        {"durations", test_parse_duration},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("topics", NULL, NULL, tests);
}
