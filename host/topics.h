/*
 * topics.h — topics as configuration: the [topic NAME] sections of conf.d
 * held against the cluster once, at start-up, before any consumer starts.
 *
 * For each configured topic:
 *  - missing on the cluster: created with exactly its configured settings
 *    (partitions; replication factor, retention.ms, cleanup.policy and
 *    min.insync.replicas when given, else the cluster's defaults);
 *  - present, and a configured setting differs: reported (one log line per
 *    setting with the configured and the actual value, the
 *    switchyard_topic_mismatch metric) and never changed.  Partitions
 *    cannot shrink, and growing them or rewriting configs under a running
 *    system is the operator's decision, not the host's;
 *  - present and as configured: nothing.
 * A setting the section leaves out is not compared.  A topic that is
 * missing and could not be created (the cluster refused, or cannot create
 * topics at all) keeps the "topics" readiness condition false and sets
 * switchyard_topic_missing; differences do not affect readiness (the topic
 * works, it just is not what conf.d says).
 *
 * The decisions (yard_topics_reconcile) reach the cluster only through a
 * backend, a table of function pointers: yard_topics_kafka_new() is the
 * real one (librdkafka's metadata and admin API), tests pass a recording
 * double.  Nothing here retries: one look, one report.
 */
#ifndef YARD_TOPICS_H
#define YARD_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define YARD_TOPICS_MSG_MAX 512 /* one backend message */
#define YARD_TOPICS_VALUE_MAX 64 /* one setting's value, as text */
#define YARD_TOPICS_SETTINGS 5  /* settings a [topic NAME] can hold */

/* What the cluster says about one topic. */
typedef struct yard_topic_actual {
    bool exists;
    /* Listed, but the cluster would not describe it (not authorised, ...):
     * nothing below counts; configs_why says why. */
    bool unreadable;
    int32_t partitions;
    int32_t replication_factor;  /* the fewest replicas of any partition */
    bool configs_known;          /* the three configs below were read */
    int64_t retention_ms;        /* -1 forever; 0: not reported */
    char cleanup_policy[32];     /* "": not reported */
    int32_t min_insync_replicas; /* 0: not reported */
    char configs_why[YARD_TOPICS_MSG_MAX]; /* !configs_known: why not */
} yard_topic_actual;

/*
 * The cluster, as the decisions see it.  Both calls run on the caller's
 * thread, describe first; `arg` is the backend's own state.
 */
typedef struct yard_topics_backend {
    /* Look up names[0..n) and fill actual[0..n) (zeroed by the caller).
     * Returns 0 when the cluster answered (configs it could not read are
     * marked per topic), or an error code with the reason in `why`: then
     * nothing in `actual` counts. */
    int (*describe)(void *arg, const char *const *names, size_t n,
                    yard_topic_actual *actual, char *why, size_t whylen);
    /* Create specs[0..n) with exactly their settings.  Sets rc[i] to 0
     * (created), YARD_EEXIST (someone else created it since describe), or
     * another error code, with the cluster's reason in msg[i]. */
    void (*create)(void *arg, const yard_topic_spec *const *specs, size_t n,
                   int *rc, char (*msg)[YARD_TOPICS_MSG_MAX]);
    void *arg;
} yard_topics_backend;

typedef enum yard_topic_status {
    YARD_TOPIC_MATCHES,   /* present; every compared setting as configured */
    YARD_TOPIC_CREATED,   /* was missing; created now */
    YARD_TOPIC_DIFFERS,   /* present; see mismatch[] */
    YARD_TOPIC_MISSING,   /* missing and not created; see reason */
    YARD_TOPIC_UNCHECKED, /* the cluster did not answer, would not
                             describe the topic, or it appeared meanwhile;
                             see reason */
} yard_topic_status;

typedef struct yard_topic_mismatch {
    const char *setting; /* the [topic] key, static: "partitions", ... */
    char configured[YARD_TOPICS_VALUE_MAX];
    char actual[YARD_TOPICS_VALUE_MAX];
} yard_topic_mismatch;

typedef struct yard_topic_result {
    const yard_topic_spec *spec; /* borrowed: the spec given */
    yard_topic_status status;
    yard_topic_mismatch mismatch[YARD_TOPICS_SETTINGS];
    size_t n_mismatch;
    /* Present, with configured configs that could not be compared (the
     * cluster would not describe them): reason says why. */
    bool configs_unchecked;
    char reason[YARD_TOPICS_MSG_MAX];
} yard_topic_result;

/* One result per spec, in the order given.  Plain data; the caller frees
 * it with yard_topics_report_free(). */
typedef struct yard_topics_report {
    yard_topic_result *topics;
    size_t n;
} yard_topics_report;

/*
 * Describe specs[0..n) through `be`, create the missing ones, compare the
 * rest.  The specs must outlive the report.  Returns 0 with *out set (also
 * when the cluster did not answer: every topic is then UNCHECKED), or
 * YARD_ENOMEM / YARD_EINVAL with a message.  Calls the backend from the
 * caller's thread; logs nothing.
 */
int yard_topics_reconcile(const yard_topic_spec *specs, size_t n,
                          const yard_topics_backend *be,
                          yard_topics_report **out, char *err, size_t errlen);

void yard_topics_report_free(yard_topics_report *r); /* NULL ok */

/* Count of results with this status. */
size_t yard_topics_count(const yard_topics_report *r, yard_topic_status s);

/* Ready unless a topic is MISSING; then false and `why` names them. */
bool yard_topics_ready(const yard_topics_report *r, char *why, size_t whylen);

/* Log the report: per created topic one info line, per differing setting
 * one warning (topic, setting, configured, actual, where configured), and
 * one warning per distinct reason for the topics missing, unchecked or
 * with configs not compared; then a one-line summary.  Any thread. */
void yard_topics_log(const yard_topics_report *r);

/* Readiness condition "topics" and the gauges switchyard_topic_missing
 * {topic} and switchyard_topic_mismatch{topic,setting}. */
void yard_topics_publish(const yard_topics_report *r);

/*
 * The real backend: a librdkafka client built from cfg's [kafka]
 * properties.  describe reads the cluster's metadata (all topics, so that
 * the lookup itself cannot auto-create a topic) and, when the cluster
 * names a controller among its brokers, the topics' configs through
 * DescribeConfigs; create uses CreateTopics.  When the cluster names no
 * usable controller, neither admin request is sent (it could only time
 * out): configs are marked unchecked and creations refused, with that
 * reason.  cfg must outlive the backend.  *be is filled on success; free
 * it with yard_topics_kafka_free().  One thread at a time.
 */
int yard_topics_kafka_new(const yard_config *cfg, yard_topics_backend *be,
                          char *err, size_t errlen);
void yard_topics_kafka_free(yard_topics_backend *be); /* zeroed be ok */

/*
 * The start-up step: reconcile cfg's [topic NAME] sections against the
 * cluster of its [kafka] section.  *out is NULL when there are none.
 * Returns 0, or an error (the client could not be built, out of memory).
 */
int yard_topics_check(const yard_config *cfg, yard_topics_report **out,
                      char *err, size_t errlen);

#endif
