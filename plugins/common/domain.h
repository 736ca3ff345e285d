/*
 * domain.h — small helpers the field-service plugins share: parse a
 * payload with jansson, read typed fields, reject with a logged reason,
 * run SQL, and emit a catalog event with its event_id and event_timestamp.
 *
 * Header-only (static functions) so that every plugin stays one .so that
 * links nothing but jansson.  A plugin fills one dom_plugin at init() and
 * builds a dom_call at the top of each handler.
 *
 * Emitted event ids are derived from the consumed event's id, the emitted
 * type and an entity id, so a handler that runs again for the same event
 * (a redone batch) emits the same ids and consumers dedupe them.
 */
#ifndef SWITCHYARD_PLUGINS_DOMAIN_H
#define SWITCHYARD_PLUGINS_DOMAIN_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <switchyard/sdk.h>

/* What init() received; one per loaded plugin instance. */
typedef struct dom_plugin {
    const sy_host_api *api;
    const sy_plugin *self;
} dom_plugin;

/* One handler call. */
typedef struct dom_call {
    const dom_plugin *p;
    sy_ctx *ctx;
    const sy_event *ev;
} dom_call;

#define DOM_ERRLEN 256
#define DOM_ID_LEN 37 /* a UUID string and its NUL */
#define DOM_DATE_LEN 11 /* "YYYY-MM-DD" and its NUL */
#define DOM_KEY_LEN 256

static inline int64_t dom_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "YYYY-MM-DD" (UTC) of a time in milliseconds since the epoch. */
static inline void dom_date(int64_t ms, char out[DOM_DATE_LEN])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, DOM_DATE_LEN, "%Y-%m-%d", &tm);
}

static inline uint64_t dom_fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= 0xff; /* field separator: ("ab","c") differs from ("a","bc") */
    h *= 0x100000001b3ULL;
    return h;
}

/* A UUID-shaped id (version 8, "custom") derived from three strings. */
static inline void dom_event_id(const char *cause, const char *type,
                                const char *entity, char out[DOM_ID_LEN])
{
    uint64_t hi = 0xcbf29ce484222325ULL, lo = 0x84222325cbf29ce4ULL;
    hi = dom_fnv1a(dom_fnv1a(dom_fnv1a(hi, cause), type), entity);
    lo = dom_fnv1a(dom_fnv1a(dom_fnv1a(lo, entity), type), cause);
    hi = (hi & ~0xf000ULL) | 0x8000ULL;                   /* version 8 */
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);             /* RFC 4122 variant */
    snprintf(out, DOM_ID_LEN, "%08x-%04x-%04x-%04x-%012llx",
             (unsigned)(hi >> 32), (unsigned)(hi >> 16) & 0xffffu,
             (unsigned)hi & 0xffffu, (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

/* Log why the event is refused and answer SY_REJECT: the event goes to the
 * plugin's dead-letter queue, the log line says why. */
static inline sy_result dom_reject(const dom_call *c, const char *fmt, ...)
    SY_PRINTF(2, 3);
static inline sy_result dom_reject(const dom_call *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->p->api->log(c->p->self, c->ctx, SY_LOG_WARN, "event rejected: %s", msg);
    c->p->api->metric_add(c->p->self, "rejected", 1);
    return SY_REJECT;
}

/* Log why the event changes nothing, count it in the plugin's counter
 * `metric` and answer SY_OK: for an event that is late rather than wrong
 * (e.g. a report on something already withdrawn), which must not end in
 * the dead-letter queue. */
static inline sy_result dom_ignore(const dom_call *c, const char *metric,
                                   const char *fmt, ...) SY_PRINTF(3, 4);
static inline sy_result dom_ignore(const dom_call *c, const char *metric,
                                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->p->api->log(c->p->self, c->ctx, SY_LOG_INFO, "event ignored: %s", msg);
    c->p->api->metric_add(c->p->self, metric, 1);
    return SY_OK;
}

/* The payload as a JSON object, or NULL (logged) when it is not one.
 * The caller owns the result (json_decref). */
static inline json_t *dom_payload(const dom_call *c)
{
    json_error_t jerr;
    json_t *doc = json_loadb(c->ev->payload, c->ev->payload_len, 0, &jerr);
    if (!json_is_object(doc)) {
        dom_reject(c, "payload is not a JSON object: %s",
                   doc ? "other JSON value" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* A non-empty string member, or NULL. */
static inline const char *dom_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* An identifier member: a non-empty string of at most DOM_ID_MAX bytes,
 * or NULL. */
#define DOM_ID_MAX 100
static inline const char *dom_id(const json_t *o, const char *key)
{
    const char *s = dom_str(o, key);
    return s && strlen(s) <= DOM_ID_MAX ? s : NULL;
}

/* A boolean member: 1 true, 0 false, -1 missing or not a boolean. */
static inline int dom_bool(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* One SQL statement in the handler's transaction.  0, or -1 (logged). */
static inline int dom_sql(const dom_call *c, const char *sql, int n,
                          const char *const *params, sy_rows **rows)
{
    char err[DOM_ERRLEN];
    if (c->p->api->sql(c->ctx, sql, n, params, rows, err, sizeof err) == 0)
        return 0;
    c->p->api->log(c->p->self, c->ctx, SY_LOG_ERROR, "SQL failed: %s", err);
    return -1;
}

/* Emit `type` with `payload` (an object, stolen) under partition `key` on
 * `topic` (NULL: the host's type->topic mapping).  Adds event_id and
 * event_timestamp; `entity` makes the id unique among the events this
 * handler emits.  0, or -1 (logged). */
static inline int dom_emit_to(const dom_call *c, const char *type,
                              const char *topic, const char *key,
                              const char *entity, json_t *payload)
{
    char id[DOM_ID_LEN], err[DOM_ERRLEN];
    dom_event_id(c->ev->id, type, entity, id);
    json_t *doc = json_object();
    int rc = -1;
    /* event_id and event_timestamp first, as in the catalog. */
    if (doc && payload &&
        json_object_set_new(doc, "event_id", json_string(id)) == 0 &&
        json_object_set_new(doc, "event_timestamp",
                            json_integer((json_int_t)dom_now_ms())) == 0 &&
        json_object_update(doc, payload) == 0) {
        char *text = json_dumps(doc, JSON_COMPACT);
        sy_emit out = SY_EMIT_INIT;
        out.type = type;
        out.payload = text;
        out.key = key;
        out.id = id;
        out.topic = topic;
        if (text && c->p->api->emit(c->ctx, &out, err, sizeof err) == 0)
            rc = 0;
        else
            c->p->api->log(c->p->self, c->ctx, SY_LOG_ERROR, "emit %s failed: %s",
                           type, text ? err : "out of memory");
        free(text);
    } else {
        c->p->api->log(c->p->self, c->ctx, SY_LOG_ERROR,
                       "emit %s failed: out of memory", type);
    }
    json_decref(payload);
    json_decref(doc);
    return rc;
}

/* dom_emit_to() on the host's topic for `type`. */
static inline int dom_emit(const dom_call *c, const char *type, const char *key,
                           const char *entity, json_t *payload)
{
    return dom_emit_to(c, type, NULL, key, entity, payload);
}

/* "{a}_{b}", the catalog's partition keys. */
static inline const char *dom_key(char out[DOM_KEY_LEN], const char *a,
                                  const char *b)
{
    snprintf(out, DOM_KEY_LEN, "%s_%s", a ? a : "", b ? b : "");
    return out;
}

/* ---- handler plumbing ---------------------------------------------------- */

/*
 * Every handler decodes the payload (REJECT when it is not a JSON object:
 * dom_payload logged why), runs the plugin's rule on it and frees it.
 *   DOM_HANDLER(rule)           on_<rule>() for
 *                               sy_result rule(const dom_call *, json_t *)
 *                               when the state is a bare dom_plugin;
 *   DOM_HANDLER_ST(type, rule)  on_<rule>() for
 *                               sy_result rule(const dom_call *,
 *                                              const type *, json_t *)
 *                               when the state is a `type` holding settings
 *                               after its first member `dom_plugin dom`.
 */
#define DOM_HANDLER(rule)                                                    \
    static sy_result on_##rule(sy_ctx *ctx, const sy_event *ev, void *state) \
    {                                                                        \
        dom_call c = {state, ctx, ev};                                       \
        json_t *p = dom_payload(&c);                                         \
        sy_result r = p ? rule(&c, p) : SY_REJECT;                           \
        json_decref(p);                                                      \
        return r;                                                            \
    }

#define DOM_HANDLER_ST(type, rule)                                           \
    static sy_result on_##rule(sy_ctx *ctx, const sy_event *ev, void *state) \
    {                                                                        \
        const type *st = state;                                              \
        dom_call c = {&st->dom, ctx, ev};                                    \
        json_t *p = dom_payload(&c);                                         \
        sy_result r = p ? rule(&c, st, p) : SY_REJECT;                       \
        json_decref(p);                                                      \
        return r;                                                            \
    }

/* init() and fini() of a plugin without settings: the state is a
 * dom_plugin, owned by the host until fini(). */
static inline int dom_init(sy_plugin *self, const sy_host_api *api,
                           void **state, char *err, size_t errlen)
{
    dom_plugin *p = malloc(sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *p = (dom_plugin){api, self};
    *state = p;
    return 0;
}

static inline void dom_fini(void *state) { free(state); }

#endif
