/*
 * <switchyard/sdk.h> — the only header a Switchyard plugin needs.
 *
 * A plugin is a shared object that exports one symbol, the descriptor
 * `sy_plugin_descriptor` (declare it with SY_PLUGIN_DESCRIPTOR).  The host
 * reads the descriptor's ABI block before calling anything in the plugin,
 * then calls init() with a table of host functions.  Plugins never link
 * against host symbols: everything they may call arrives through that table.
 *
 * Versioning: SY_ABI_MAJOR changes only when an existing struct or function
 * changes meaning; the host refuses plugins of another major.  SY_ABI_MINOR
 * grows when entries are appended; a host loads plugins built for its own or
 * an older minor and refuses newer ones.  Every struct that crosses the ABI
 * by pointer starts with its size so it can grow at the end.
 *
 * Threads: handlers run on host worker threads, possibly several at once for
 * different partition keys; events that share a key are handled one at a
 * time, in the order they were consumed.  A handler must not keep any
 * pointer it receives after it returns unless the comment says otherwise.
 */
#ifndef SWITCHYARD_SDK_H
#define SWITCHYARD_SDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_ABI_MAJOR 1
#define SY_ABI_MINOR 0

/* First field of every descriptor; tells a descriptor from random bytes. */
#define SY_PLUGIN_MAGIC 0x5359504cu /* "SYPL" */

/* Name of the one symbol a plugin exports. */
#define SY_PLUGIN_SYMBOL "sy_plugin_descriptor"

#if defined(__GNUC__)
#define SY_EXPORT __attribute__((visibility("default")))
#define SY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SY_EXPORT
#define SY_PRINTF(fmt, args)
#endif

/* What a handler answers.  The host owns the policy behind each answer. */
typedef enum sy_result {
    SY_OK = 0,     /* effects commit with the inbox row and emitted events */
    SY_RETRY = 1,  /* transient: effects roll back, the host retries later */
    SY_REJECT = 2, /* permanent: effects roll back, event goes to the DLQ */
} sy_result;

typedef enum sy_log_level {
    SY_LOG_ERROR = 0,
    SY_LOG_WARN = 1,
    SY_LOG_INFO = 2,
    SY_LOG_DEBUG = 3,
} sy_log_level;

/* Opaque: one loaded plugin instance, valid from init() until fini()
 * returns. */
typedef struct sy_plugin sy_plugin;

/* Opaque: one handler invocation, bound to the current database
 * transaction.  Valid only during the handler call it was passed to. */
typedef struct sy_ctx sy_ctx;

/* Opaque: the rows a query returned.  Owned by the caller of sql(); free it
 * with rows_free(). */
typedef struct sy_rows sy_rows;

/*
 * One consumed event, in the canonical envelope (CloudEvents 1.0
 * attributes).  All strings are NUL-terminated, owned by the host and valid
 * until the handler returns.  Optional attributes the event did not carry
 * are NULL, never "".
 */
typedef struct sy_event {
    size_t size;                /* sizeof(sy_event) as the host built it */
    const char *id;             /* ce_id: unique per event, the dedupe key */
    const char *type;           /* ce_type, e.g. "projects.service_order.created" */
    const char *source;         /* ce_source */
    const char *time;           /* ce_time, RFC 3339, or NULL */
    const char *key;            /* partition key (the Kafka message key) or NULL */
    const char *correlation_id; /* or NULL */
    const char *causation_id;   /* id of the event that caused this one, or NULL */
    const char *traceparent;    /* W3C trace context, or NULL */
    const char *tenant_id;      /* or NULL */
    const char *topic;          /* where it was consumed from */
    int32_t partition;
    int64_t offset;
    const char *payload;        /* the JSON payload (ce data), NUL-terminated */
    size_t payload_len;         /* bytes of payload, without the NUL */
} sy_event;

/*
 * An event a handler emits.  The host copies everything before emit()
 * returns; the caller keeps ownership of all pointers.
 */
typedef struct sy_emit {
    size_t size;         /* set to sizeof(sy_emit) (SY_EMIT_INIT does) */
    const char *type;    /* required */
    const char *payload; /* required: a JSON document */
    size_t payload_len;  /* 0: strlen(payload) */
    const char *key;     /* partition key; NULL: the consumed event's key */
    const char *id;      /* NULL: the host generates a UUID */
    const char *topic;   /* NULL: the host's type→topic mapping */
} sy_emit;

#define SY_EMIT_INIT {.size = sizeof(sy_emit)}

/*
 * The host API table, handed to init().  The table and everything it points
 * to stay valid until fini() returns.  Entries are only ever appended: check
 * `size` before calling an entry added after SY_ABI_MINOR 0.
 *
 * Functions that return int return 0 on success and a negative value on
 * failure; where they take `err`, they write a NUL-terminated message of at
 * most errlen bytes into it (err may be NULL).
 */
typedef struct sy_host_api {
    size_t size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /* Queue an event for publication.  It is written to the outbox in the
     * handler's transaction: published if and only if the handler returns
     * SY_OK and the transaction commits.  Only valid inside a handler. */
    int (*emit)(sy_ctx *ctx, const sy_emit *ev, char *err, size_t errlen);

    /* Run one SQL statement in the handler's transaction, with $1..$n text
     * parameters (params may hold NULLs for SQL NULL).  A failed statement
     * rolls back this event's effects so far; the handler should then
     * return SY_RETRY or SY_REJECT.  If `rows` is not NULL it receives the
     * result, which the caller frees with rows_free().
     * A statement whose result is not asked for (rows == NULL) may be sent
     * ahead without waiting, and 0 returned: if it then fails, the host
     * rolls the batch back and calls the handler again with every
     * statement waited for, so the failure is reported to it then.  Hence
     * handlers keep their side effects inside the transaction. */
    int (*sql)(sy_ctx *ctx, const char *sql, int nparams,
               const char *const *params, sy_rows **rows, char *err,
               size_t errlen);
    size_t (*rows_count)(const sy_rows *rows);
    /* Value at (row, col) as text, or NULL for SQL NULL or out of range.
     * Owned by `rows`, valid until rows_free(). */
    const char *(*rows_value)(const sy_rows *rows, size_t row, size_t col);
    void (*rows_free)(sy_rows *rows); /* accepts NULL */

    /* The plugin's own setting from its conf.d section, or NULL.  Owned by
     * the host, valid until fini() returns.  Callable from any thread. */
    const char *(*config_get)(const sy_plugin *self, const char *key);

    /* Log a line attributed to the plugin.  Callable from any thread.
     * Inside a handler, pass its ctx so the line names the event; elsewhere
     * pass NULL. */
    void (*log)(const sy_plugin *self, const sy_ctx *ctx, sy_log_level level,
                const char *fmt, ...) SY_PRINTF(4, 5);

    /* Add `value` to the plugin's counter `name` ([a-z0-9_]).  Callable
     * from any thread. */
    void (*metric_add)(const sy_plugin *self, const char *name, double value);
} sy_host_api;

/* Handle one event.  `state` is what init() stored. */
typedef sy_result (*sy_handler_fn)(sy_ctx *ctx, const sy_event *ev,
                                   void *state);

/*
 * One subscription: an event type pattern and its handler.  `*` matches any
 * run of characters, dots included: "order.*", "*.status_changed", "*".
 * When several patterns match a type, the first one listed wins.
 */
typedef struct sy_subscription {
    const char *pattern;
    sy_handler_fn handler;
} sy_subscription;

/*
 * The descriptor.  Fill it with designated initializers through
 * SY_PLUGIN_DESCRIPTOR so the ABI block is always right.
 *
 * `migrations` is a NULL-terminated list of SQL scripts for the plugin's own
 * tables; the host applies each one once, in order, when the plugin loads
 * (entry i is version i+1 of the plugin's schema; append, never edit).
 *
 * init() runs once per loaded instance, before any handler; it may store a
 * state pointer for the handlers and fini().  Return 0, or a negative value
 * with a message in err to refuse loading.  fini() runs after the last
 * handler call has returned; it frees what init() allocated.
 */
typedef struct sy_plugin_desc {
    uint32_t magic;     /* SY_PLUGIN_MAGIC */
    uint32_t abi_major; /* SY_ABI_MAJOR at build time */
    uint32_t abi_minor; /* SY_ABI_MINOR at build time */
    uint32_t size;      /* sizeof(sy_plugin_desc) at build time */
    const char *name;   /* [a-z0-9_-]+, unique per host */
    const char *version;
    const sy_subscription *subscriptions; /* n_subscriptions entries */
    size_t n_subscriptions;
    const char *const *migrations; /* NULL or NULL-terminated */
    int (*init)(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen);
    void (*fini)(void *state);
} sy_plugin_desc;

#define SY_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Declare the descriptor:
 *   SY_PLUGIN_DESCRIPTOR(.name = "erp", .version = "1.0.0", ...);  */
#define SY_PLUGIN_DESCRIPTOR(...)                                          \
    SY_EXPORT const sy_plugin_desc sy_plugin_descriptor = {                \
        .magic = SY_PLUGIN_MAGIC,                                          \
        .abi_major = SY_ABI_MAJOR,                                         \
        .abi_minor = SY_ABI_MINOR,                                         \
        .size = (uint32_t)sizeof(sy_plugin_desc),                          \
        __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* SWITCHYARD_SDK_H */
