/* envelope.c — wire message <-> canonical envelope (see envelope.h). */
#include "envelope.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

#include "err.h"

/* Room for attributes the decoder writes itself (times, ids, types). */
#define ENVELOPE_SLACK 512

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

/* The first ce_* (or trace) header that is not text: a NUL byte or not
 * UTF-8.  Such a value would be cut or garbled on its way to the handler,
 * the outbox and the DLQ, so the message is refused instead. */
static const char *binary_header(const yard_wire_msg *m)
{
    for (size_t i = 0; i < m->n_headers; i++) {
        const yard_header *h = &m->headers[i];
        if ((strncmp(h->name, "ce_", 3) != 0 &&
             strcmp(h->name, "traceparent") != 0) ||
            !h->value)
            continue;
        if (memchr(h->value, 0, h->len))
            return h->name;
        json_t *t = json_stringn(h->value, h->len); /* NULL: not UTF-8 */
        if (!t)
            return h->name;
        json_decref(t);
    }
    return NULL;
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
    out->schema_version =
        arena_str(a, json_member_str(root, "schemaversion", &bad));
    out->content_type = arena_str(a, json_member_str(root, "datacontenttype", &bad));
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

static int add_pair(json_t *arr, const char *name, const char *value);

/* ---- the seeds' dialects -------------------------------------------- */

static bool has(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return v && !json_is_null(v);
}

/* A string member into the arena; fails naming it when not a string. */
static int member(json_t *o, const char *name, arena *a, const char **out,
                  yard_decode_error *why)
{
    bool bad = false;
    const char *v = json_member_str(o, name, &bad);
    if (bad)
        return fail(why, "INVALID_ATTRIBUTE", "\"%s\" is not a string", name);
    *out = v && *v ? arena_str(a, v) : NULL;
    return 0;
}

/* The wrapper's data member as the payload. */
static int put_payload(json_t *data, const char *name, arena *a,
                       yard_envelope *out, yard_decode_error *why)
{
    if (!data)
        return fail(why, "MISSING_DATA", "no \"%s\" member", name);
    char *payload = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!payload)
        return fail(why, "PAYLOAD_NOT_JSON", "cannot serialise \"%s\"", name);
    size_t n = strlen(payload);
    out->ev.payload = arena_put(a, payload, n);
    free(payload);
    if (!out->ev.payload)
        return fail(why, "PAYLOAD_TOO_LARGE", "\"%s\" too large", name);
    out->ev.payload_len = n;
    return 0;
}

/* Fixed namespace of the ids derived for type-data records. */
static const char DERIVED_ID_NS[] = "6f1d2a4e-53a9-4c8b-9e0d-7377796172640";

static int decode_type_data(json_t *root, arena *a, yard_envelope *out,
                            yard_decode_error *why)
{
    sy_event *ev = &out->ev;
    int rc = member(root, "type", a, &ev->type, why) ||
             member(root, "id", a, &ev->id, why) ||
             member(root, "timestamp", a, &ev->time, why) ||
             member(root, "tenantId", a, &ev->tenant_id, why) ||
             member(root, "source", a, &ev->source, why) ||
             member(root, "correlationId", a, &ev->correlation_id, why);
    if (rc)
        return YARD_EINVAL;
    if (!ev->type)
        return fail(why, "MISSING_TYPE", "type-data event without \"type\"");
    const char *pid = json_string_value(
        json_object_get(json_object_get(root, "data"), "event_id"));
    if (!ev->id && pid && *pid) /* a seed-000 record as data names itself */
        ev->id = arena_str(a, pid);
    if (!ev->id) {
        /* Deterministic: the same record always gets the same id. */
        char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        if (!canon)
            return fail(why, "INTERNAL", "out of memory");
        uuid_t ns, id;
        char text[37];
        uuid_parse(DERIVED_ID_NS, ns);
        uuid_generate_sha1(id, ns, canon, strlen(canon));
        free(canon);
        uuid_unparse_lower(id, text);
        ev->id = arena_str(a, text);
        out->id_derived = true;
    }
    out->dialect = "type-data";
    return put_payload(json_object_get(root, "data"), "data", a, out, why);
}

static int decode_event_type(json_t *root, arena *a, yard_envelope *out,
                             yard_decode_error *why)
{
    sy_event *ev = &out->ev;
    int rc = member(root, "eventType", a, &ev->type, why) ||
             member(root, "eventId", a, &ev->id, why) ||
             member(root, "timestamp", a, &ev->time, why) ||
             member(root, "version", a, &out->schema_version, why);
    if (rc)
        return YARD_EINVAL;
    if (!ev->id)
        return fail(why, "MISSING_ID", "event-type event without \"eventId\"");
    if (!ev->type)
        return fail(why, "MISSING_TYPE", "event %s: no \"eventType\"", ev->id);
    out->dialect = "event-type";
    return put_payload(json_object_get(root, "data"), "data", a, out, why);
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0';
}

/* A parent span id for a seed-003 trace id: FNV-1a of the event id, so the
 * same event always maps to the same traceparent. */
static void span_of(const char *id, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)(h ? h : 1));
}

static int decode_id_payload(json_t *root, arena *a, yard_envelope *out,
                             yard_decode_error *why)
{
    sy_event *ev = &out->ev;
    const char *type = NULL, *trace = NULL, *pk = NULL;
    int rc = member(root, "id", a, &ev->id, why) ||
             member(root, "type", a, &type, why) ||
             member(root, "occurred_at", a, &ev->time, why) ||
             member(root, "source", a, &ev->source, why) ||
             member(root, "correlation_id", a, &ev->correlation_id, why) ||
             member(root, "trace_id", a, &trace, why);
    if (rc)
        return YARD_EINVAL;
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta))
            return fail(why, "INVALID_ATTRIBUTE", "\"metadata\" is not an object");
        if (member(meta, "partition_key", a, &pk, why) ||
            member(meta, "tenant_id", a, &ev->tenant_id, why))
            return YARD_EINVAL;
    }
    if (!ev->id)
        return fail(why, "MISSING_ID", "id-payload event without \"id\"");
    if (!type)
        return fail(why, "MISSING_TYPE", "event %s: no \"type\"", ev->id);
    /* "event.name.v1": the suffix is the schema version. */
    const char *v = strrchr(type, '.');
    size_t vl = v ? strlen(v + 1) : 0;
    if (v && v != type && v[1] == 'v' && vl > 1 && vl < 8 &&
        strspn(v + 2, "0123456789") == vl - 1) {
        out->schema_version = arena_str(a, v + 2);
        ev->type = arena_put(a, type, (size_t)(v - type));
    } else {
        ev->type = type;
    }
    if (!ev->key && pk)
        ev->key = pk;
    if (trace && strlen(trace) == 32 && is_hex(trace, 32) &&
        strspn(trace, "0") != 32) {
        char tp[56], span[17];
        span_of(ev->id, span);
        snprintf(tp, sizeof tp, "00-%s-%s-01", trace, span);
        ev->traceparent = arena_str(a, tp);
    }
    out->dialect = "id-payload";
    return put_payload(json_object_get(root, "payload"), "payload", a, out, why);
}

/* Pick the dialect of a JSON object value by its members; refuse a value
 * that matches several. */
static int decode_object(json_t *root, const yard_wire_msg *m, const char *ctype,
                         arena *a, yard_envelope *out, yard_decode_error *why)
{
    enum { S, E, P, T, F, N_STYLES };
    static const char *const what[N_STYLES] = {
        "structured CloudEvent (specversion)", "seed-002 event-type (eventType)",
        "seed-003 id-payload (payload)", "seed-001 type-data (type, data)",
        "seed-000 flat record (event_id)"};
    bool match[N_STYLES];
    match[S] = has(root, "specversion") ||
               (ctype && strncmp(ctype, "application/cloudevents+json", 28) == 0);
    match[E] = has(root, "eventType") || has(root, "eventId");
    match[P] = has(root, "payload") &&
               (has(root, "id") || has(root, "occurred_at") || has(root, "metadata"));
    match[T] = has(root, "type") && has(root, "data") &&
               (has(root, "tenantId") || has(root, "timestamp") ||
                has(root, "correlationId"));
    match[F] = has(root, "event_id");
    int n = 0, which = -1;
    char list[256] = "";
    size_t o = 0;
    for (int i = 0; i < N_STYLES; i++) {
        if (!match[i])
            continue;
        if (o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                                  n ? " and " : "", what[i]);
        n++;
        which = i;
    }
    if (n > 1)
        return fail(why, "AMBIGUOUS_ENVELOPE",
                    "value matches several envelope styles: %s", list);
    switch (which) {
    case S: return decode_structured(root, a, out, why);
    case E: return decode_event_type(root, a, out, why);
    case P: return decode_id_payload(root, a, out, why);
    case T: return decode_type_data(root, a, out, why);
    case F: return decode_flat(root, m, a, out, why);
    default:
        return fail(why, "UNKNOWN_ENVELOPE",
                    "no ce_* headers and no known envelope members "
                    "(specversion, eventType, payload, type+data, event_id): "
                    "cannot tell the event's id and type");
    }
}

/* The payload's own event_id / event_type must agree with the envelope. */
static int check_consistency(const yard_envelope *env, yard_decode_error *why)
{
    const sy_event *ev = &env->ev;
    if (strcmp(env->dialect, "flat") == 0)
        return 0; /* the envelope is the record */
    json_t *p = json_loadb(ev->payload, ev->payload_len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return 0;
    }
    int rc = 0;
    json_t *pid = json_object_get(p, "event_id");
    json_t *ptype = json_object_get(p, "event_type");
    if (json_is_string(pid) && strcmp(json_string_value(pid), ev->id) != 0)
        rc = fail(why, "INCONSISTENT_ENVELOPE",
                  "%s envelope id %s but payload event_id %.64s", env->dialect,
                  ev->id, json_string_value(pid));
    else if (json_is_string(ptype) &&
             strcmp(json_string_value(ptype), ev->type) != 0)
        rc = fail(why, "INCONSISTENT_ENVELOPE",
                  "%s envelope type %s but payload event_type %.64s",
                  env->dialect, ev->type, json_string_value(ptype));
    json_decref(p);
    return rc;
}

/* ---- re-encoding ------------------------------------------------------ */

static const char *const dialects[] = {"binary",     "structured", "flat",
                                       "type-data",  "event-type", "id-payload",
                                       NULL};

const char *const *yard_envelope_dialects(void) { return dialects; }

/* "2025-01-15T10:30:00.123Z" (or +hh:mm) -> epoch millis; false if not. */
static bool rfc3339_to_millis(const char *s, long long *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    long long frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
        off = (hh * 60L + mm) * 60L * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    *ms = ((long long)timegm(&tm) - off) * 1000 + frac;
    return true;
}

static int set_str(json_t *o, const char *name, const char *v)
{
    return v ? json_object_set_new(o, name, json_string(v)) : 0;
}

int yard_envelope_encode(const yard_envelope *env, const char *dialect,
                         char **value, size_t *value_len, json_t **headers,
                         char *err, size_t errlen)
{
    *value = NULL;
    *value_len = 0;
    *headers = NULL;
    const sy_event *ev = &env->ev;
    json_error_t jerr;
    json_t *data = json_loadb(ev->payload, ev->payload_len, JSON_DECODE_ANY, &jerr);
    if (!data)
        return yard_errf(err, errlen, YARD_EINVAL, "payload is not JSON: %s",
                         jerr.text);
    json_t *h = json_array();
    json_t *o = NULL;
    int rc = 0;
    if (!dialect || strcmp(dialect, "binary") == 0) {
        rc = add_pair(h, "ce_specversion", "1.0") | add_pair(h, "ce_id", ev->id) |
             add_pair(h, "ce_type", ev->type) | add_pair(h, "ce_source", ev->source) |
             add_pair(h, "ce_time", ev->time) |
             add_pair(h, "content-type",
                      env->content_type ? env->content_type : "application/json") |
             add_pair(h, "ce_correlationid", ev->correlation_id) |
             add_pair(h, "ce_causationid", ev->causation_id) |
             add_pair(h, "traceparent", ev->traceparent) |
             add_pair(h, "tracestate", env->tracestate) |
             add_pair(h, "ce_tenantid", ev->tenant_id) |
             add_pair(h, "ce_partitionkey", ev->key) |
             add_pair(h, "ce_schemaversion", env->schema_version);
        *value = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    } else if (strcmp(dialect, "structured") == 0) {
        o = json_object();
        rc = set_str(o, "specversion", "1.0") | set_str(o, "id", ev->id) |
             set_str(o, "type", ev->type) | set_str(o, "source", ev->source) |
             set_str(o, "time", ev->time) |
             set_str(o, "datacontenttype", "application/json") |
             set_str(o, "correlationid", ev->correlation_id) |
             set_str(o, "causationid", ev->causation_id) |
             set_str(o, "traceparent", ev->traceparent) |
             set_str(o, "tracestate", env->tracestate) |
             set_str(o, "tenantid", ev->tenant_id) |
             set_str(o, "partitionkey", ev->key) |
             set_str(o, "schemaversion", env->schema_version) |
             json_object_set(o, "data", data);
        rc |= add_pair(h, "content-type", "application/cloudevents+json");
    } else if (strcmp(dialect, "flat") == 0) {
        if (!json_is_object(data)) {
            rc = yard_errf(err, errlen, YARD_EINVAL,
                           "flat: payload of %s is not a JSON object", ev->id);
            goto out;
        }
        o = json_incref(data);
        if (!json_object_get(o, "event_id"))
            rc |= set_str(o, "event_id", ev->id);
        long long ms;
        if (!json_object_get(o, "event_timestamp") && ev->time &&
            rfc3339_to_millis(ev->time, &ms))
            rc |= json_object_set_new(o, "event_timestamp", json_integer(ms));
    } else if (strcmp(dialect, "type-data") == 0) {
        o = json_object();
        rc = set_str(o, "type", ev->type) | set_str(o, "timestamp", ev->time) |
             set_str(o, "tenantId", ev->tenant_id) |
             set_str(o, "source", ev->source) |
             set_str(o, "correlationId", ev->correlation_id) |
             json_object_set(o, "data", data);
    } else if (strcmp(dialect, "event-type") == 0) {
        o = json_object();
        rc = set_str(o, "eventType", ev->type) | set_str(o, "eventId", ev->id) |
             set_str(o, "timestamp", ev->time) |
             set_str(o, "version", env->schema_version) |
             json_object_set(o, "data", data);
    } else if (strcmp(dialect, "id-payload") == 0) {
        o = json_object();
        char type[512];
        const char *sv = env->schema_version;
        if (sv && *sv >= '0' && *sv <= '9')
            snprintf(type, sizeof type, "%s.v%d", ev->type, atoi(sv));
        else
            snprintf(type, sizeof type, "%s", ev->type);
        char trace[33] = "";
        const char *tp = ev->traceparent;
        if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-')
            snprintf(trace, sizeof trace, "%.32s", tp + 3);
        json_t *meta = json_object();
        rc = set_str(o, "id", ev->id) | set_str(o, "type", type) |
             set_str(o, "occurred_at", ev->time) |
             set_str(o, "source", ev->source) |
             set_str(o, "correlation_id", ev->correlation_id) |
             set_str(o, "trace_id", trace[0] ? trace : NULL) |
             json_object_set(o, "payload", data) |
             set_str(meta, "partition_key", ev->key) |
             set_str(meta, "tenant_id", ev->tenant_id);
        if (json_object_size(meta))
            rc |= json_object_set_new(o, "metadata", meta);
        else
            json_decref(meta);
    } else {
        rc = yard_errf(err, errlen, YARD_EINVAL, "unknown dialect \"%s\"", dialect);
        goto out;
    }
    if (o)
        *value = json_dumps(o, JSON_COMPACT);
    if (rc || !*value || !h) {
        rc = yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        goto out;
    }
    *value_len = strlen(*value);
    *headers = h;
    h = NULL;
out:
    if (rc) {
        free(*value);
        *value = NULL;
    }
    json_decref(h);
    json_decref(o);
    json_decref(data);
    return rc;
}

int yard_envelope_decode(const yard_wire_msg *m, size_t max_bytes,
                         yard_envelope *out, yard_decode_error *why)
{
    memset(out, 0, sizeof *out);
    why->code = NULL;
    why->message[0] = '\0';
    why->field[0] = '\0';
    why->rule = NULL;
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
        const char *nontext = binary_header(m);
        if (nontext)
            rc = fail(why, "INVALID_ATTRIBUTE",
                      "header %s is not UTF-8 text", nontext);
        else if (ctype && strncmp(ctype, "application/cloudevents", 23) == 0)
            rc = fail(why, "CONFLICTING_ENVELOPE",
                      "ce_* headers (binary mode) with content-type %s "
                      "(structured mode)", ctype);
        else if (!ev->id)
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
            out->schema_version = header_str(&a, m, "ce_schemaversion");
            if (!ev->key)
                ev->key = header_str(&a, m, "ce_partitionkey");
            ev->payload = arena_put(&a, m->value, m->value_len);
            ev->payload_len = m->value_len;
            out->dialect = "binary";
            rc = 0;
        }
    } else if (!json_is_object(root)) {
        rc = fail(why, "UNKNOWN_ENVELOPE", "value is JSON but not an object");
    } else {
        rc = decode_object(root, m, ctype, &a, out, why);
    }
    if (rc == 0)
        rc = check_consistency(out, why);
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

/* n random bytes (n <= 64) from a per-thread pool that getrandom()
 * refills: one system call per few emitted events instead of libuuid's
 * ~9k instructions and a system call per id (callgrind, H6).  libuuid is
 * the fallback when getrandom() fails. */
static void random_bytes(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[256];
    static _Thread_local size_t left;
    if (left < n) {
        if (getrandom(pool, sizeof pool, 0) == (ssize_t)sizeof pool) {
            left = sizeof pool;
        } else {
            for (size_t i = 0; i < n; i += sizeof(uuid_t)) {
                uuid_t u;
                uuid_generate_random(u);
                memcpy(out + i, u, n - i < sizeof u ? n - i : sizeof u);
            }
            return;
        }
    }
    memcpy(out, pool + sizeof pool - left, n);
    memset(pool + sizeof pool - left, 0, n); /* used bytes do not linger */
    left -= n;
}

void yard_uuid(char out[37])
{
    uuid_t u;
    random_bytes(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_unparse_lower(u, out);
}

static void rand_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[32];
    random_bytes(b, bytes);
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
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

#define HEADER_PAIRS_MAX 13

/* The [name, value] pairs of an emitted event's headers, in order; values
 * NULL are left out.  now and tp are the caller's buffers. */
static size_t header_pairs(const char *id, const char *type, const char *source,
                           const char *key, const char *schema_version,
                           const yard_envelope *env, char now[40], char tp[56],
                           const char *pairs[HEADER_PAIRS_MAX][2])
{
    const sy_event *cause = env ? &env->ev : NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    millis_to_rfc3339((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now);
    child_traceparent(cause ? cause->traceparent : NULL, tp);
    const char *all[HEADER_PAIRS_MAX][2] = {
        {"ce_specversion", "1.0"},
        {"ce_id", id},
        {"ce_type", type},
        {"ce_source", source},
        {"ce_time", now},
        {"content-type", "application/json"},
        {"traceparent", tp},
        {"ce_partitionkey", key},
        {"ce_schemaversion", schema_version},
        {"ce_correlationid",
         cause ? cause->correlation_id ? cause->correlation_id : cause->id : NULL},
        {"ce_causationid", cause ? cause->id : NULL},
        {"ce_tenantid", cause ? cause->tenant_id : NULL},
        /* W3C: tracestate travels with the trace, unchanged by us. */
        {"tracestate", env ? env->tracestate : NULL},
    };
    size_t n = 0;
    for (size_t i = 0; i < HEADER_PAIRS_MAX; i++)
        if (all[i][1]) {
            pairs[n][0] = all[i][0];
            pairs[n++][1] = all[i][1];
        }
    return n;
}

json_t *yard_envelope_headers(const char *id, const char *type,
                              const char *source, const char *key,
                              const char *schema_version,
                              const yard_envelope *env)
{
    json_t *h = json_array();
    if (!h)
        return NULL;
    char now[40], tp[56];
    const char *pairs[HEADER_PAIRS_MAX][2];
    size_t n = header_pairs(id, type, source, key, schema_version, env, now, tp,
                            pairs);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= add_pair(h, pairs[i][0], pairs[i][1]);
    if (rc) {
        json_decref(h);
        return NULL;
    }
    return h;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if there is none:
 * overlong forms, surrogates and code points past U+10FFFF are invalid,
 * as for jansson. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* s as a JSON string at out (room for 6 bytes per input byte plus 2);
 * returns the bytes written, 0 when s is not valid UTF-8. */
static size_t json_quote(const char *s, char *out)
{
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t l = utf8_len(p);
        if (!l)
            return 0;
        if (l > 1 || (*p >= 0x20 && *p != '"' && *p != '\\')) {
            memcpy(out + o, p, l);
            o += l;
            p += l;
            continue;
        }
        static const char hex[] = "0123456789abcdef";
        char e = *p == '"' ? '"' : *p == '\\' ? '\\' : *p == '\n' ? 'n'
                 : *p == '\r' ? 'r' : *p == '\t' ? 't' : *p == '\b' ? 'b'
                 : *p == '\f' ? 'f' : 0;
        out[o++] = '\\';
        if (e) {
            out[o++] = e;
        } else {
            memcpy(out + o, "u00", 3);
            out[o + 3] = hex[*p >> 4];
            out[o + 4] = hex[*p & 15];
            o += 5;
        }
        p++;
    }
    out[o++] = '"';
    return o;
}

char *yard_envelope_headers_text(const char *id, const char *type,
                                 const char *source, const char *key,
                                 const char *schema_version,
                                 const yard_envelope *env)
{
    char now[40], tp[56];
    const char *pairs[HEADER_PAIRS_MAX][2];
    size_t n = header_pairs(id, type, source, key, schema_version, env, now, tp,
                            pairs);
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 6 * (strlen(pairs[i][0]) + strlen(pairs[i][1])) + 8;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = ',';
        out[o++] = '[';
        size_t a = json_quote(pairs[i][0], out + o);
        if (!a)
            goto bad;
        o += a;
        out[o++] = ',';
        size_t b = json_quote(pairs[i][1], out + o);
        if (!b)
            goto bad;
        o += b;
        out[o++] = ']';
    }
    out[o++] = ']';
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}
