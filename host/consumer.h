/*
 * consumer.h — one Kafka consumer per plugin binding (its own consumer
 * group), feeding the engine and committing offsets only up to the lowest
 * unfinished event of each partition.
 *
 * This and relay.c are the only modules that speak librdkafka; a second
 * transport would replace them and keep engine.h's yard_job contract.
 */
#ifndef YARD_CONSUMER_H
#define YARD_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"

typedef struct yard_consumer yard_consumer;

typedef struct yard_consumer_opts {
    const yard_config *cfg; /* [kafka] properties, topic mapping */
    yard_binding *binding;  /* plugin and group; must outlive the consumer */
    yard_engine *engine;    /* must outlive yard_consumer_halt() + close */
    size_t max_inflight;    /* fetched but not yet committable, default 10000 */
    size_t max_event_bytes; /* larger values go to the DLQ */
} yard_consumer_opts;

/* Create the consumer, subscribe and start its thread.  *out owned by the
 * caller: yard_consumer_halt() then yard_consumer_close(). */
int yard_consumer_start(const yard_consumer_opts *opts, yard_consumer **out,
                        char *err, size_t errlen);

/* Stop fetching and join the thread.  Jobs already submitted stay with the
 * engine; stop (or drain) the engine before yard_consumer_close(). */
void yard_consumer_halt(yard_consumer *c);

/*
 * Hot reload: stop submitting jobs of the binding (binding->paused) and
 * wait until the consumer thread has parked and every job it submitted is
 * finished and committed (binding->inflight == 0).  The consumer keeps its
 * group membership and partitions.  Returns 0, after which the caller may
 * swap the binding's plugin and conf and must call yard_consumer_resume();
 * or YARD_ETIMEOUT after timeout_ms, already resumed.  One thread at a
 * time (the reload).
 */
int yard_consumer_pause(yard_consumer *c, uint32_t timeout_ms);
void yard_consumer_resume(yard_consumer *c);

/* Commit what is committable, leave the group, free.  Every job this
 * consumer submitted must be finished (engine drained).  NULL ok. */
void yard_consumer_close(yard_consumer *c);

/* librdkafka's log lines into ours (shared with relay.c). */
struct rd_kafka_conf_s;
void yard_kafka_conf_logging(struct rd_kafka_conf_s *conf);
/* librdkafka statistics into metrics and readiness (shared with relay.c):
 * sets statistics.interval.ms unless [kafka] does. */
void yard_kafka_conf_stats(struct rd_kafka_conf_s *conf, const yard_config *cfg);
/* Apply [kafka] properties to a librdkafka conf; returns 0 or YARD_ECONFIG
 * naming the key. */
int yard_kafka_conf_apply(struct rd_kafka_conf_s *conf, const yard_config *cfg,
                          char *err, size_t errlen);

#endif
