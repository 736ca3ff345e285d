/* envelope.c — wire message <-> canonical envelope (see envelope.h). */
#include "envelope.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "err.h"

/* Room for attributes the decoder writes itself (times, type). */
#define ENVELOPE_SLACK 256

typedef struct arena {
    char *base;
    size_t used, cap;
} arena;

static const char *arena_put(arena *a, const void *s, size_t n)
{
    if (a->used + n + 1 > a->cap)
        return NULL; /* cannot happen: cap is computed from the inputs */
    char *p = a->base + a->used;
    memcpy(p, s, n);
    p[n] = '\0';
    a->used += n + 1;
    return p;
}

static const char *arena_str(arena *a, const char *s)
{
    return s ? arena_put(a, s, strlen(s)) : NULL;
}

static const yard_header *find_header(const yard_wire_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (strcmp(m->headers[i].name, name) == 0)
            return &m->headers[i];
    return NULL;
}

/* Header value copied into the arena, or NULL when absent or empty. */
static const char *header_str(arena *a, const yard_wire_msg *m,
                              const char *name)
{
    const yard_header *h = find_header(m, name);
    if (!h || !h->value || h->len == 0)
        return NULL;
    return arena_put(a, h->value, h->len);
}

static int fail(yard_decode_error *why, const char *code, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));
static int fail(yard_decode_error *why, const char *code, const char *fmt, ...)
{
    why->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->message, sizeof why->message, fmt, ap);
    va_end(ap);
    return YARD_EINVAL;
}

/* A string member of obj, or NULL.  Sets *bad when present but not a
 * string. */
static const char *json_member_str(json_t *obj, const char *name, bool *bad)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static void millis_to_rfc3339(long long ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03lldZ", ms % 1000);
}

static int decode_structured(json_t *root, arena *a, yard_envelope *out,
                             yard_decode_error *why)
{
    bool bad = false;
    const char *spec = json_member_str(root, "specversion", &bad);
    if (bad || !spec || strcmp(spec, "1.0") != 0)
        return fail(why, "UNSUPPORTED_SPECVERSION",
                    "structured CloudEvent: specversion must be \"1.0\"");
    sy_event *ev = &out->ev;
    const char *id = json_member_str(root, "id", &bad);
    const char *type = json_member_str(root, "type", &bad);
    if (bad)
        return fail(why, "INVALID_ATTRIBUTE",
                    "structured CloudEvent: an attribute is not a string");
    if (!id || !*id)
        return fail(why, "MISSING_ID", "structured CloudEvent: no \"id\"");
    if (!type || !*type)
        return fail(why, "MISSING_TYPE", "structured CloudEvent: no \"type\"");
    ev->id = arena_str(a, id);
    ev->type = arena_str(a, type);
    ev->source = arena_str(a, json_member_str(root, "source", &bad));
    ev->time = arena_str(a, json_member_str(root, "time", &bad));
    ev->correlation_id = arena_str(a, json_member_str(root, "correlationid", &bad));
    ev->causation_id = arena_str(a, json_member_str(root, "causationid", &bad));
    ev->traceparent = arena_str(a, json_member_str(root, "traceparent", &bad));
    out->tracestate = arena_str(a, json_member_str(root, "tracestate", &bad));
    ev->tenant_id = arena_str(a, json_member_str(root, "tenantid", &bad));
    const char *pk = json_member_str(root, "partitionkey", &bad);
    if (pk && !ev->key)
        ev->key = arena_str(a, pk);
    if (bad)
        return fail(why, "INVALID_ATTRIBUTE",
                    "structured CloudEvent: an attribute is not a string");
    json_t *data = json_object_get(root, "data");
    if (!data)
        return fail(why, "MISSING_DATA", "structured CloudEvent %s: no \"data\"",
                    id);
    char *payload = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!payload)
        return fail(why, "PAYLOAD_NOT_JSON", "cannot serialise \"data\"");
    /* The payload outgrows the arena: keep it in the arena's slack when it
     * fits, else the decode fails as too large for the envelope. */
    size_t n = strlen(payload);
    ev->payload = arena_put(a, payload, n);
    free(payload);
    if (!ev->payload)
        return fail(why, "PAYLOAD_TOO_LARGE", "data too large");
    ev->payload_len = n;
    out->dialect = "structured";
    return 0;
}

static int decode_flat(json_t *root, const yard_wire_msg *m, arena *a,
                       yard_envelope *out, yard_decode_error *why)
{
    bool bad = false;
    sy_event *ev = &out->ev;
    const char *id = json_member_str(root, "event_id", &bad);
    if (bad)
        return fail(why, "INVALID_ATTRIBUTE", "\"event_id\" is not a string");
    if (!id || !*id)
        return fail(why, "MISSING_ID", "record has no \"event_id\"");
    const char *type = json_member_str(root, "event_type", &bad);
    if (bad)
        return fail(why, "INVALID_ATTRIBUTE", "\"event_type\" is not a string");
    ev->id = arena_str(a, id);
    /* Without event_type the topic names the type (one type per topic). */
    ev->type = arena_str(a, type && *type ? type : m->topic);
    json_t *ts = json_object_get(root, "event_timestamp");
    if (json_is_integer(ts)) {
        char t[40];
        millis_to_rfc3339((long long)json_integer_value(ts), t);
        ev->time = arena_str(a, t);
    } else if (json_is_string(ts)) {
        ev->time = arena_str(a, json_string_value(ts));
    }
    ev->correlation_id = arena_str(a, json_member_str(root, "correlation_id", &bad));
    ev->payload = arena_put(a, m->value, m->value_len);
    ev->payload_len = m->value_len;
    out->dialect = "flat";
    return 0;
}

int yard_envelope_decode(const yard_wire_msg *m, size_t max_bytes,
                         yard_envelope *out, yard_decode_error *why)
{
    memset(out, 0, sizeof *out);
    why->code = NULL;
    why->message[0] = '\0';
    if (m->value_len > max_bytes)
        return fail(why, "PAYLOAD_TOO_LARGE",
                    "value of %zu bytes exceeds the limit of %zu", m->value_len,
                    max_bytes);
    if (!m->value || m->value_len == 0)
        return fail(why, "EMPTY_PAYLOAD", "message has no value");

    size_t cap = m->value_len * 2 + m->key_len + ENVELOPE_SLACK +
                 strlen(m->topic);
    for (size_t i = 0; i < m->n_headers; i++)
        cap += m->headers[i].len + 1;
    arena a = {malloc(cap), 0, cap};
    if (!a.base)
        return fail(why, "INTERNAL", "out of memory");
    out->mem = a.base;
    sy_event *ev = &out->ev;
    ev->size = sizeof *ev;
    ev->topic = arena_str(&a, m->topic);
    ev->partition = m->partition;
    ev->offset = m->offset;
    if (m->key && m->key_len)
        ev->key = arena_put(&a, m->key, m->key_len);

    json_error_t jerr;
    json_t *root = json_loadb(m->value, m->value_len, 0, &jerr);
    if (!root) {
        fail(why, "PAYLOAD_NOT_JSON", "value is not JSON: %s at line %d column %d",
             jerr.text, jerr.line, jerr.column);
        goto error;
    }
    int rc;
    const yard_header *ce_id = find_header(m, "ce_id");
    const yard_header *ce_type = find_header(m, "ce_type");
    const char *ctype = header_str(&a, m, "content-type");
    out->content_type = ctype;
    if (ce_id || ce_type || find_header(m, "ce_specversion")) {
        ev->id = header_str(&a, m, "ce_id");
        ev->type = header_str(&a, m, "ce_type");
        const char *spec = header_str(&a, m, "ce_specversion");
        if (!ev->id)
            rc = fail(why, "MISSING_ID", "binary CloudEvent without ce_id header");
        else if (!ev->type)
            rc = fail(why, "MISSING_TYPE", "event %s: no ce_type header", ev->id);
        else if (spec && strcmp(spec, "1.0") != 0)
            rc = fail(why, "UNSUPPORTED_SPECVERSION",
                      "event %s: ce_specversion %s, expected 1.0", ev->id, spec);
        else {
            ev->source = header_str(&a, m, "ce_source");
            ev->time = header_str(&a, m, "ce_time");
            ev->correlation_id = header_str(&a, m, "ce_correlationid");
            ev->causation_id = header_str(&a, m, "ce_causationid");
            ev->traceparent = header_str(&a, m, "traceparent");
            out->tracestate = header_str(&a, m, "tracestate");
            ev->tenant_id = header_str(&a, m, "ce_tenantid");
            if (!ev->key)
                ev->key = header_str(&a, m, "ce_partitionkey");
            ev->payload = arena_put(&a, m->value, m->value_len);
            ev->payload_len = m->value_len;
            out->dialect = "binary";
            rc = 0;
        }
    } else if (!json_is_object(root)) {
        rc = fail(why, "UNKNOWN_ENVELOPE", "value is JSON but not an object");
    } else if (json_object_get(root, "specversion") ||
               (ctype && strncmp(ctype, "application/cloudevents+json", 28) == 0)) {
        rc = decode_structured(root, &a, out, why);
    } else if (json_object_get(root, "event_id")) {
        rc = decode_flat(root, m, &a, out, why);
    } else {
        rc = fail(why, "UNKNOWN_ENVELOPE",
                  "no ce_* headers, no \"specversion\", no \"event_id\": "
                  "cannot tell the event's id and type");
    }
    json_decref(root);
    if (rc == 0)
        return 0;
error:
    free(out->mem);
    memset(out, 0, sizeof *out);
    return YARD_EINVAL;
}

void yard_envelope_clear(yard_envelope *env)
{
    if (!env)
        return;
    free(env->mem);
    memset(env, 0, sizeof *env);
}

void yard_uuid(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

static void rand_hex(char *out, size_t bytes)
{
    uuid_t u; /* 16 random bytes from libuuid's generator */
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < bytes) {
        uuid_generate_random(u);
        for (size_t j = 0; j < sizeof u && i < bytes; j++, i++) {
            out[2 * i] = hex[u[j] >> 4];
            out[2 * i + 1] = hex[u[j] & 15];
        }
    }
    out[2 * bytes] = '\0';
}

/* New traceparent: same trace id as the parent's (or a new one), new span. */
static void child_traceparent(const char *parent, char out[56])
{
    char trace[33], span[17];
    if (parent && strlen(parent) >= 55 && parent[2] == '-' && parent[35] == '-') {
        memcpy(trace, parent + 3, 32);
        trace[32] = '\0';
    } else {
        rand_hex(trace, 16);
    }
    rand_hex(span, 8);
    snprintf(out, 56, "00-%s-%s-01", trace, span);
}

static int add_pair(json_t *arr, const char *name, const char *value)
{
    if (!value)
        return 0;
    return json_array_append_new(arr, json_pack("[ss]", name, value));
}

json_t *yard_envelope_headers(const char *id, const char *type,
                              const char *source, const char *key,
                              const sy_event *cause)
{
    json_t *h = json_array();
    if (!h)
        return NULL;
    char now[40];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    millis_to_rfc3339((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now);
    char tp[56];
    child_traceparent(cause ? cause->traceparent : NULL, tp);
    int rc = add_pair(h, "ce_specversion", "1.0") | add_pair(h, "ce_id", id) |
             add_pair(h, "ce_type", type) | add_pair(h, "ce_source", source) |
             add_pair(h, "ce_time", now) |
             add_pair(h, "content-type", "application/json") |
             add_pair(h, "traceparent", tp) | add_pair(h, "ce_partitionkey", key);
    if (cause) {
        rc |= add_pair(h, "ce_correlationid",
                       cause->correlation_id ? cause->correlation_id : cause->id);
        rc |= add_pair(h, "ce_causationid", cause->id);
        rc |= add_pair(h, "ce_tenantid", cause->tenant_id);
    }
    if (rc) {
        json_decref(h);
        return NULL;
    }
    return h;
}
