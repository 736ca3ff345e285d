/*
 * metrics.h — the host's Prometheus metrics: a small registry of counters,
 * gauges and histograms with labels, rendered in the text exposition
 * format 0.0.4.
 *
 * Every metric the host exports is a row of one static table (metrics.c),
 * named by a yard_metric_id, so the list of names exists without a running
 * host (the Grafana dashboard test checks its queries against it).  A
 * series is one combination of label values; it is created on first use
 * and lives until the process exits, except in "scrape-built" families
 * (plugin info, in-flight counts) that a collector rebuilds at each scrape.
 *
 * Hot path: finding a series walks a short lock-free list (label values
 * compared after a hash); creating one takes the family's mutex once.
 * Values are atomics.  All functions are thread-safe unless noted.
 */
#ifndef YARD_METRICS_H
#define YARD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum yard_metric_id {
    YARD_M_BUILD_INFO,          /* gauge {version} 1 */
    YARD_M_START_TIME,          /* gauge, unix seconds */
    YARD_M_EVENTS_CONSUMED,     /* counter {plugin,group,topic,type} */
    YARD_M_EVENTS_HANDLED,      /* counter {plugin,group,topic,type} */
    YARD_M_EVENTS_DUPLICATE,    /* counter {plugin,group,topic,type} */
    YARD_M_EVENTS_UNMATCHED,    /* counter {plugin,group,topic,type} */
    YARD_M_EVENTS_RETRIED,      /* counter {plugin,group,topic,type} */
    YARD_M_EVENTS_DEAD_LETTERED,/* counter {plugin,group,topic,type,code} */
    YARD_M_HANDLER_DURATION,    /* histogram {plugin,group,type} seconds */
    YARD_M_HANDLER_OVERRUNS,    /* counter {plugin,group,topic,type}: calls
                                   past handler_deadline_ms */
    YARD_M_EVENT_LATENCY,       /* histogram {plugin,group,topic}: ce_time
                                   to commit, seconds */
    YARD_M_TRANSACTION_DURATION,/* histogram {result}: BEGIN..COMMIT */
    YARD_M_EVENTS_INFLIGHT,     /* gauge {plugin,group} (scrape-built) */
    YARD_M_CONSUMER_LAG,        /* gauge {group,topic,partition} */
    YARD_M_KAFKA_CONNECTED,     /* gauge {client}: a broker is up */
    YARD_M_EVENTS_PUBLISHED,    /* counter {topic} */
    YARD_M_PUBLISH_FAILURES,    /* counter: relay rounds that failed */
    YARD_M_PUBLISH_LATENCY,     /* histogram: outbox commit to broker ack */
    YARD_M_OUTBOX_BACKLOG,      /* gauge: rows not yet published */
    YARD_M_OUTBOX_OLDEST_AGE,   /* gauge seconds: age of the oldest row */
    YARD_M_POSTGRES_UP,         /* gauge: the monitor's connection works */
    YARD_M_RELOADS,             /* counter {result="ok|failed"} */
    YARD_M_PLUGIN_LOAD_FAILURES,/* counter {plugin} */
    YARD_M_PLUGIN_INFO,         /* gauge {plugin,version,abi,generation}
                                   (scrape-built) */
    YARD_M_PLUGIN_COUNTER,      /* counter {plugin,counter}: metric_add()
                                   of plugins (scrape-built) */
    YARD_M_HTTP_REQUESTS,       /* counter {route,code} */
    YARD_M_TOPIC_MISSING,       /* gauge {topic}: 1 when a [topic NAME] is
                                   missing and could not be created */
    YARD_M_TOPIC_MISMATCH,      /* gauge {topic,setting}: 1 when the topic
                                   differs from its [topic NAME] */
    YARD_M_COUNT
} yard_metric_id;

typedef struct yard_series yard_series;

/* The series of `id` with these label values (as many as the family has
 * labels, in the order above; NULL counts as "").  Created on first use;
 * lives as long as the process (scrape-built families: until the next
 * yard_metric_clear()).  NULL only when out of memory; the functions below
 * accept NULL and do nothing. */
yard_series *yard_metric_series(yard_metric_id id, const char *const *labels);

void yard_series_add(yard_series *s, double v);     /* counter, gauge */
void yard_series_set(yard_series *s, double v);     /* gauge */
void yard_series_observe(yard_series *s, double v); /* histogram */

/* Shorthands: find the series, then add / set / observe. */
void yard_metric_add(yard_metric_id id, const char *const *labels, double v);
void yard_metric_set(yard_metric_id id, const char *const *labels, double v);
void yard_metric_observe(yard_metric_id id, const char *const *labels,
                         double v);

/* Drop every series of a scrape-built family.  Only from a collector. */
void yard_metric_clear(yard_metric_id id);

/* Full metric name (e.g. "switchyard_events_consumed_total"). */
const char *yard_metric_name(yard_metric_id id);
/* Every name a query may use: family names, and for histograms also
 * NAME_bucket, NAME_sum and NAME_count.  Static storage; *n set. */
const char *const *yard_metrics_names(size_t *n);

/*
 * Collectors run at the start of each render, one render at a time, to
 * refresh scrape-built families and gauges read from elsewhere.  Returns a
 * handle for yard_metrics_remove_collector(), or 0 when the table is full.
 */
int yard_metrics_add_collector(void (*fn)(void *arg), void *arg);
void yard_metrics_remove_collector(int handle);

/* Render everything in the text format; malloc'd, caller frees.  NULL
 * when out of memory. */
char *yard_metrics_render(size_t *len);

/* ---- host hooks (thin wrappers over the above) ------------------------- */

/* Monotonic seconds, for durations. */
double yard_metrics_now(void);
/* RFC 3339 time (ce_time) as unix seconds; false when unparsable. */
bool yard_metrics_parse_time(const char *rfc3339, double *out);
/* Seconds from an event's ce_time to now (wall clock), or < 0 unknown. */
double yard_metrics_age(const char *rfc3339);

/* Reload outcome: bumps switchyard_reloads_total{result}. */
void yard_metrics_reload(bool ok);
/* A plugin that failed to load, init or reload. */
void yard_metrics_plugin_load_failed(const char *plugin);

/*
 * Engine and transport hooks.  Labels come from the job's binding and
 * wire message; the type label is the event type only when the plugin
 * subscribes to it ("" when undecodable, "other" otherwise), so that
 * producers cannot grow the series without bound.
 */
struct yard_job;
/* One event into family `id` (consumed, handled, duplicate, unmatched,
 * retried). */
void yard_metrics_job(yard_metric_id id, const struct yard_job *j);
void yard_metrics_dead_letter(const struct yard_job *j, const char *code);
/* A handler call that took `seconds`. */
void yard_metrics_handler(const struct yard_job *j, double seconds);
/* The job's effects committed now: event latency from its ce_time. */
void yard_metrics_committed(const struct yard_job *j);

#endif
