/*
 * engine.h — the worker pool: per-key order, batched transactions, the
 * inbox, handlers, the outbox, retries and dead letters.
 *
 * A transport (consumer.c) turns each message into a yard_job and submits
 * it.  Jobs of one (group, key) always land on the same worker, in
 * submission order, so events that share a key are handled in offset order;
 * different keys run in parallel on different workers.  A worker takes up
 * to batch_size queued jobs into one transaction:
 *
 *   BEGIN; inbox insert for the batch (duplicates skipped);
 *   handler per new event (domain SQL, emit); outbox insert; COMMIT
 *
 * and then reports each job done through its on_done callback, which is
 * when its offset becomes committable.  The first handler that does not
 * answer OK makes the worker roll back and redo the batch with a savepoint
 * per event, so a handler may run more than once for one event but its
 * effects commit exactly once.
 *
 * A job whose handler asks to retry is parked with the later jobs of its
 * key until its backoff has passed; the worker goes on with other keys
 * meanwhile.  Parked jobs are not done, so their offsets are not
 * committed.
 */
#ifndef YARD_ENGINE_H
#define YARD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/sdk.h>

#include "config.h"
#include "envelope.h"
#include "plugin.h"
#include "schema.h"

typedef struct yard_engine yard_engine;
typedef struct yard_job yard_job;

/* Counters of one binding; read by metrics, written by workers. */
typedef struct yard_binding_stats {
    atomic_ullong consumed;      /* jobs submitted */
    atomic_ullong handled;       /* handler answered OK and it committed */
    atomic_ullong duplicates;    /* skipped: already in the inbox */
    atomic_ullong unmatched;     /* no subscription matched the type */
    atomic_ullong retried;       /* handler answered RETRY */
    atomic_ullong dead_lettered; /* written to the DLQ */
} yard_binding_stats;

/*
 * Who handles a job: a plugin under its consumer group.  Owned by the host;
 * must outlive every job that points to it.  `plugin`, `conf` and `cfg` may
 * be swapped by a reload only while the binding is paused and no job of it
 * is in flight (inflight == 0).
 */
typedef struct yard_binding {
    yard_plugin *plugin;
    const yard_plugin_conf *conf; /* group, dlq_topic, retry */
    const yard_config *cfg;       /* type -> topic for emitted events */
    /* Payload schemas checked on emit (and by the transport on consume);
     * NULL or a type without a schema: not checked.  Outlives the binding. */
    const yard_schema_registry *schemas;
    char source[128];             /* ce_source of emitted events */
    atomic_uint inflight;         /* jobs submitted and not yet done */
    /* Set by a reload: the transport submits no new job of this binding
     * until it is cleared (see yard_consumer_pause()). */
    atomic_bool paused;
    /* Set while the transport's partitions are being revoked (see
     * yard_engine_release()). */
    atomic_bool releasing;
    yard_binding_stats stats;
} yard_binding;

typedef enum yard_job_status {
    YARD_JOB_DONE = 0,      /* handled, skipped or dead-lettered: committable */
    YARD_JOB_ABANDONED = 1, /* not finished (shutdown): must be redelivered */
} yard_job_status;

struct yard_job {
    yard_job *next;             /* engine queue link (engine-owned) */
    yard_binding *binding;
    yard_wire_msg wire;         /* the original message, for the DLQ */
    yard_envelope env;          /* decoded envelope (when derr.code == NULL) */
    yard_decode_error derr;     /* why it could not be decoded, or code NULL */
    uint32_t attempts;          /* handler calls so far */
    uint64_t lane;              /* engine-owned: hash of (group, key) */
    bool retry;                 /* engine-owned: its handler asked to retry */
    /* Called once by the engine, from a worker thread, when the job is
     * finished with; the transport then releases the job. */
    void (*on_done)(yard_job *job, yard_job_status status);
    void *owner;                /* the transport's */
};

typedef struct yard_engine_opts {
    const char *dsn;
    uint32_t workers;
    uint32_t batch_size;
    uint32_t handler_deadline_ms; /* slower calls are logged; 0: 5000 */
    /* Liveness fails past it (health.h); sessions idle in a transaction
     * for 30 s longer are ended by PostgreSQL.  0: 60000. */
    uint32_t handler_hard_limit_ms;
    /* Events in handlers are noted here (one slot per worker), and events
     * it counted max_crashes times are dead-lettered as PLUGIN_CRASHED.
     * NULL: no crash record.  Owned by the caller; outlives the engine. */
    struct yard_crashrec *crash;
    uint32_t max_crashes;         /* 0: 3 */
} yard_engine_opts;

/* Start the workers, each with its own connection.  Returns 0 or an error
 * (database unreachable).  *out owned by caller: yard_engine_stop(). */
int yard_engine_start(const yard_engine_opts *opts, yard_engine **out,
                      char *err, size_t errlen);

/* Queue a job; the engine takes it over until on_done.  Thread-safe. */
void yard_engine_submit(yard_engine *e, yard_job *job);

/* The transport is losing its partitions (a rebalance): jobs of b that
 * wait for a retry are abandoned at once instead of holding up the
 * rebalance for their backoff; their next owner redelivers them.  Until
 * yard_engine_release_end(), jobs of b parked later are abandoned too.
 * Thread-safe. */
void yard_engine_release(yard_engine *e, yard_binding *b);
void yard_engine_release_end(yard_engine *e, yard_binding *b);

/* Jobs queued or running, over all workers. */
size_t yard_engine_pending(yard_engine *e);

/* Finish every queued job (or abandon them once `abandon_after_ms` has
 * passed), stop the workers, close their connections, free.  NULL ok. */
void yard_engine_stop(yard_engine *e, uint32_t abandon_after_ms);

/* The host API table handed to plugins (static, lives forever). */
const sy_host_api *yard_engine_api(void);

#endif
