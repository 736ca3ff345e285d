/*
 * Unit tests of the envelope (host/envelope.c): every dialect decodes to
 * the canonical envelope and re-encodes to itself; the canonical envelope
 * travels through every dialect keeping what that dialect can carry;
 * ambiguous and inconsistent envelopes are refused with their codes;
 * emitted headers inherit correlation, tenant and trace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "err.h"
#include "testutil.h"

#define MAX_BYTES (1024 * 1024)
#define MAX_HDRS 16

/* A wire message built from a value and header pairs. */
typedef struct msg {
    yard_wire_msg w;
    yard_header h[MAX_HDRS];
    char *owned; /* value, when encoded */
    json_t *hjson;
} msg;

static void msg_init(msg *m, const char *topic, const char *key,
                     const char *value, const char *const *hdrs)
{
    memset(m, 0, sizeof *m);
    m->w.topic = topic;
    m->w.partition = 3;
    m->w.offset = 42;
    m->w.key = key;
    m->w.key_len = key ? strlen(key) : 0;
    m->w.value = value;
    m->w.value_len = strlen(value);
    size_t n = 0;
    for (; hdrs && hdrs[2 * n]; n++) {
        m->h[n].name = hdrs[2 * n];
        m->h[n].value = hdrs[2 * n + 1];
        m->h[n].len = strlen(hdrs[2 * n + 1]);
    }
    m->w.headers = m->h;
    m->w.n_headers = n;
}

/* From yard_envelope_encode()'s output. */
static void msg_from_encoded(msg *m, const char *topic, const char *key,
                             char *value, json_t *headers)
{
    msg_init(m, topic, key, value, NULL);
    m->owned = value;
    m->hjson = headers;
    size_t i;
    json_t *pair;
    json_array_foreach(headers, i, pair)
    {
        m->h[i].name = json_string_value(json_array_get(pair, 0));
        m->h[i].value = json_string_value(json_array_get(pair, 1));
        m->h[i].len = strlen(m->h[i].value);
    }
    m->w.n_headers = json_array_size(headers);
}

static void msg_free(msg *m)
{
    free(m->owned);
    json_decref(m->hjson);
}

static bool json_text_equal(const char *a, size_t alen, const char *b,
                            size_t blen)
{
    json_t *x = json_loadb(a, alen, JSON_DECODE_ANY, NULL);
    json_t *y = json_loadb(b, blen, JSON_DECODE_ANY, NULL);
    bool eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

#define DATA                                                               \
    "{\"event_id\":\"e-1\",\"event_timestamp\":1736937000000,"                \
    "\"service_order_id\":\"so-9\",\"country_code\":\"FR\"}"

/* One sample per dialect. */
typedef struct sample {
    const char *dialect;
    const char *value;
    const char *hdrs[2 * MAX_HDRS + 1];
    const char *want_id, *want_type;
    const char *key; /* the Kafka key it travels with */
} sample;

static const sample samples[] = {
    {"binary", DATA,
     {"ce_specversion", "1.0", "ce_id", "e-1", "ce_type",
      "projects.service_order.created", "ce_source", "/orchestration",
      "ce_time", "2025-01-15T10:30:00.000Z", "content-type",
      "application/json", "ce_correlationid", "corr-7", "ce_causationid",
      "e-0", "traceparent",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate",
      "vendor=abc", "ce_tenantid", "t1", "ce_partitionkey", "FR_so-9",
      "ce_schemaversion", "1", NULL},
     "e-1", "projects.service_order.created", "FR_so-9"},
    {"structured",
     "{\"specversion\":\"1.0\",\"id\":\"e-1\",\"type\":"
     "\"projects.service_order.created\",\"source\":\"/orchestration\","
     "\"time\":\"2025-01-15T10:30:00.000Z\",\"datacontenttype\":"
     "\"application/json\",\"correlationid\":\"corr-7\",\"causationid\":"
     "\"e-0\",\"traceparent\":"
     "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\","
     "\"tracestate\":\"vendor=abc\",\"tenantid\":\"t1\",\"partitionkey\":"
     "\"FR_so-9\",\"schemaversion\":\"1\",\"data\":" DATA "}",
     {"content-type", "application/cloudevents+json", NULL},
     "e-1", "projects.service_order.created", "FR_so-9"},
    {"flat",
     "{\"event_id\":\"e-1\",\"event_timestamp\":1736937000000,"
     "\"service_order_id\":\"so-9\",\"country_code\":\"FR\"}",
     {NULL},
     "e-1", "projects.service_order.created", "FR_so-9"},
    {"type-data",
     "{\"type\":\"order.created\",\"timestamp\":\"2024-01-15T10:35:00.000Z\","
     "\"tenantId\":\"tenant-123\",\"source\":\"orders-service\","
     "\"correlationId\":\"corr-123\",\"data\":{\"orderId\":\"o-1\","
     "\"grandTotal\":\"1500.00\"}}",
     {NULL},
     NULL, "order.created", NULL},
    {"event-type",
     "{\"eventType\":\"user.registered\",\"eventId\":\"u-1\",\"timestamp\":"
     "\"2024-12-31T10:00:00Z\",\"version\":\"1.0\",\"data\":{\"userId\":"
     "\"user-uuid-123\",\"role\":\"customer\"}}",
     {NULL},
     "u-1", "user.registered", NULL},
    {"id-payload",
     "{\"id\":\"w-1\",\"type\":\"workflow.instance.started.v1\","
     "\"occurred_at\":\"2025-01-01T00:00:00Z\",\"source\":\"workflow\","
     "\"correlation_id\":\"c-9\",\"trace_id\":"
     "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"payload\":{\"instance\":\"i-1\"},"
     "\"metadata\":{\"partition_key\":\"entity-123\",\"tenant_id\":\"t1\"}}",
     {NULL},
     "w-1", "workflow.instance.started", "entity-123"},
};

#define N_SAMPLES (sizeof samples / sizeof samples[0])

static void assert_same_envelope(const yard_envelope *a, const yard_envelope *b)
{
    CU_ASSERT(str_eq(a->ev.id, b->ev.id));
    CU_ASSERT(str_eq(a->ev.type, b->ev.type));
    CU_ASSERT(str_eq(a->ev.source, b->ev.source));
    CU_ASSERT(str_eq(a->ev.time, b->ev.time));
    CU_ASSERT(str_eq(a->ev.key, b->ev.key));
    CU_ASSERT(str_eq(a->ev.correlation_id, b->ev.correlation_id));
    CU_ASSERT(str_eq(a->ev.causation_id, b->ev.causation_id));
    CU_ASSERT(str_eq(a->ev.traceparent, b->ev.traceparent));
    CU_ASSERT(str_eq(a->ev.tenant_id, b->ev.tenant_id));
    CU_ASSERT(str_eq(a->tracestate, b->tracestate));
    CU_ASSERT(str_eq(a->schema_version, b->schema_version));
    CU_ASSERT(str_eq(a->dialect, b->dialect));
    CU_ASSERT(json_text_equal(a->ev.payload, a->ev.payload_len, b->ev.payload,
                              b->ev.payload_len));
}

/* dialect -> canonical -> dialect: the same message again. */
static void test_round_trip_each_dialect(void)
{
    const char *const *names = yard_envelope_dialects();
    size_t n_names = 0;
    while (names[n_names])
        n_names++;
    CU_ASSERT_EQUAL(n_names, N_SAMPLES);
    for (size_t i = 0; i < N_SAMPLES; i++) {
        const sample *s = &samples[i];
        msg m;
        msg_init(&m, "projects.service_order.created", s->key, s->value,
                 s->hdrs);
        yard_envelope env;
        yard_decode_error why;
        int rc = yard_envelope_decode(&m.w, MAX_BYTES, &env, &why);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        if (rc)
            fprintf(stderr, "%s: %s %s\n", s->dialect, why.code, why.message);
        CU_ASSERT_STRING_EQUAL(env.dialect, s->dialect);
        if (s->want_id)
            CU_ASSERT_STRING_EQUAL(env.ev.id, s->want_id);
        CU_ASSERT_STRING_EQUAL(env.ev.type, s->want_type);

        char *value;
        size_t len;
        json_t *hdrs;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(yard_envelope_encode(&env, s->dialect, &value,
                                                   &len, &hdrs, err, sizeof err),
                              0);
        /* Same value (as JSON) and, for binary, the same headers. */
        bool same = json_text_equal(value, len, s->value, strlen(s->value));
        CU_ASSERT(same);
        if (!same)
            fprintf(stderr, "%s:\n  in:  %s\n  out: %s\n", s->dialect, s->value,
                    value);
        size_t n_in = 0;
        while (s->hdrs[2 * n_in])
            n_in++;
        CU_ASSERT_EQUAL(json_array_size(hdrs), n_in);
        for (size_t k = 0; k < n_in; k++) {
            bool found = false;
            size_t hi;
            json_t *pair;
            json_array_foreach(hdrs, hi, pair)
            {
                found |= strcmp(json_string_value(json_array_get(pair, 0)),
                                s->hdrs[2 * k]) == 0 &&
                         strcmp(json_string_value(json_array_get(pair, 1)),
                                s->hdrs[2 * k + 1]) == 0;
            }
            CU_ASSERT(found);
            if (!found)
                fprintf(stderr, "%s: header %s lost\n", s->dialect, s->hdrs[2 * k]);
        }
        /* And it decodes to the same envelope. */
        msg m2;
        msg_from_encoded(&m2, m.w.topic, s->key, value, hdrs);
        yard_envelope env2;
        CU_ASSERT_EQUAL(yard_envelope_decode(&m2.w, MAX_BYTES, &env2, &why), 0);
        assert_same_envelope(&env, &env2);
        yard_envelope_clear(&env2);
        msg_free(&m2);
        yard_envelope_clear(&env);
    }
}

/* What each dialect carries of the canonical attributes. */
typedef struct carries {
    const char *dialect;
    bool source, time, correlation, causation, trace, tracestate, tenant,
        schema_version, id;
} carries;

static const carries carry[] = {
    {"binary", 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"structured", 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"flat", 0, 1, 0, 0, 0, 0, 0, 0, 1},
    {"type-data", 1, 1, 1, 0, 0, 0, 1, 0, 0},
    {"event-type", 0, 1, 0, 0, 0, 0, 0, 1, 1},
    {"id-payload", 1, 1, 1, 0, 1, 0, 1, 1, 1},
};

/* canonical -> dialect -> canonical keeps what the dialect carries. */
static void test_canonical_through_every_dialect(void)
{
    msg m;
    msg_init(&m, "projects.service_order.created", "FR_so-9", samples[0].value,
             samples[0].hdrs);
    yard_envelope canon;
    yard_decode_error why;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &canon, &why), 0);
    for (size_t i = 0; i < sizeof carry / sizeof carry[0]; i++) {
        const carries *c = &carry[i];
        char *value;
        size_t len;
        json_t *hdrs;
        char err[256];
        CU_ASSERT_EQUAL_FATAL(yard_envelope_encode(&canon, c->dialect, &value,
                                                   &len, &hdrs, err, sizeof err),
                              0);
        msg m2;
        msg_from_encoded(&m2, m.w.topic, "FR_so-9", value, hdrs);
        yard_envelope e;
        int rc = yard_envelope_decode(&m2.w, MAX_BYTES, &e, &why);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc) {
            fprintf(stderr, "%s: %s %s\n  %s\n", c->dialect, why.code,
                    why.message, value);
            msg_free(&m2);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(e.dialect, c->dialect);
        CU_ASSERT_STRING_EQUAL(e.ev.type, canon.ev.type);
        CU_ASSERT_STRING_EQUAL(e.ev.key, canon.ev.key);
        CU_ASSERT(json_text_equal(e.ev.payload, e.ev.payload_len,
                                  canon.ev.payload, canon.ev.payload_len));
        /* type-data has no id, but the record in data names itself. */
        CU_ASSERT_STRING_EQUAL(e.ev.id, canon.ev.id);
        CU_ASSERT(!c->source || str_eq(e.ev.source, canon.ev.source));
        CU_ASSERT(!c->correlation ||
                  str_eq(e.ev.correlation_id, canon.ev.correlation_id));
        CU_ASSERT(!c->causation || str_eq(e.ev.causation_id, canon.ev.causation_id));
        CU_ASSERT(!c->tenant || str_eq(e.ev.tenant_id, canon.ev.tenant_id));
        CU_ASSERT(!c->tracestate || str_eq(e.tracestate, canon.tracestate));
        CU_ASSERT(!c->schema_version ||
                  str_eq(e.schema_version, canon.schema_version));
        /* Same trace id; id-payload re-derives the parent span. */
        CU_ASSERT(!c->trace || (e.ev.traceparent &&
                                strncmp(e.ev.traceparent, canon.ev.traceparent,
                                        35) == 0));
        /* Times: the same instant (flat keeps millis only). */
        CU_ASSERT(!c->time || str_eq(e.ev.time, canon.ev.time));
        yard_envelope_clear(&e);
        msg_free(&m2);
    }
    yard_envelope_clear(&canon);
    char *value;
    size_t len;
    json_t *hdrs;
    char err[256];
    CU_ASSERT_EQUAL(yard_envelope_encode(&canon, "smoke-signals", &value, &len,
                                         &hdrs, err, sizeof err),
                    YARD_EINVAL);
}

static void test_type_data_ids(void)
{
    const char *v = samples[3].value;
    msg m;
    msg_init(&m, "orders", NULL, v, NULL);
    yard_envelope a, b;
    yard_decode_error why;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &a, &why), 0);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &b, &why), 0);
    CU_ASSERT(a.id_derived);
    CU_ASSERT_EQUAL(strlen(a.ev.id), 36);
    CU_ASSERT_STRING_EQUAL(a.ev.id, b.ev.id); /* redelivery: same id */
    yard_envelope_clear(&b);
    /* Member order does not matter; content does. */
    msg_init(&m, "orders", NULL,
             "{\"data\":{\"grandTotal\":\"1500.00\",\"orderId\":\"o-1\"},"
             "\"correlationId\":\"corr-123\",\"source\":\"orders-service\","
             "\"tenantId\":\"tenant-123\",\"timestamp\":"
             "\"2024-01-15T10:35:00.000Z\",\"type\":\"order.created\"}",
             NULL);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &b, &why), 0);
    CU_ASSERT_STRING_EQUAL(a.ev.id, b.ev.id);
    yard_envelope_clear(&b);
    msg_init(&m, "orders", NULL,
             "{\"type\":\"order.created\",\"timestamp\":"
             "\"2024-01-15T10:35:00.001Z\",\"tenantId\":\"tenant-123\","
             "\"data\":{\"orderId\":\"o-1\"}}",
             NULL);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &b, &why), 0);
    CU_ASSERT_STRING_NOT_EQUAL(a.ev.id, b.ev.id);
    yard_envelope_clear(&b);
    /* An explicit id wins. */
    msg_init(&m, "orders", NULL,
             "{\"id\":\"given-1\",\"type\":\"order.created\",\"tenantId\":"
             "\"t\",\"data\":{}}",
             NULL);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &b, &why), 0);
    CU_ASSERT_STRING_EQUAL(b.ev.id, "given-1");
    CU_ASSERT_FALSE(b.id_derived);
    yard_envelope_clear(&b);
    yard_envelope_clear(&a);
}

static void test_id_payload_details(void)
{
    msg m;
    msg_init(&m, "wf", NULL, samples[5].value, NULL);
    yard_envelope e;
    yard_decode_error why;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &e, &why), 0);
    CU_ASSERT_STRING_EQUAL(e.schema_version, "1");
    CU_ASSERT_STRING_EQUAL(e.ev.key, "entity-123"); /* no Kafka key */
    CU_ASSERT_STRING_EQUAL(e.ev.tenant_id, "t1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e.ev.traceparent);
    CU_ASSERT_EQUAL(strncmp(e.ev.traceparent,
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0);
    CU_ASSERT_EQUAL(strlen(e.ev.traceparent), 55);
    yard_envelope_clear(&e);
    /* A trace id that is not W3C is dropped, not invented into one. */
    msg_init(&m, "wf", NULL,
             "{\"id\":\"w-2\",\"type\":\"x.y\",\"trace_id\":\"traceid\","
             "\"payload\":{}}",
             NULL);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &e, &why), 0);
    CU_ASSERT_PTR_NULL(e.ev.traceparent);
    CU_ASSERT_PTR_NULL(e.schema_version);
    CU_ASSERT_STRING_EQUAL(e.ev.type, "x.y");
    yard_envelope_clear(&e);
}

typedef struct refused {
    const char *what;
    const char *value;
    const char *hdrs[9];
    const char *code;
} refused;

static const refused refusals[] = {
    /* ambiguous */
    {"structured + seed-002 members",
     "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"t\",\"eventType\":\"t\","
     "\"data\":{}}",
     {NULL}, "AMBIGUOUS_ENVELOPE"},
    {"seed-002 + seed-000 record",
     "{\"eventType\":\"t\",\"eventId\":\"a\",\"event_id\":\"a\",\"data\":{}}",
     {NULL}, "AMBIGUOUS_ENVELOPE"},
    {"seed-003 + seed-001",
     "{\"id\":\"a\",\"type\":\"t\",\"payload\":{},\"data\":{},\"tenantId\":"
     "\"t1\"}",
     {NULL}, "AMBIGUOUS_ENVELOPE"},
    {"structured + seed-001 camelCase",
     "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"t\",\"tenantId\":"
     "\"t1\",\"data\":{}}",
     {NULL}, "AMBIGUOUS_ENVELOPE"},
    {"cloudevents content-type on a seed-002 envelope",
     "{\"eventType\":\"t\",\"eventId\":\"a\",\"data\":{}}",
     {"content-type", "application/cloudevents+json", NULL},
     "AMBIGUOUS_ENVELOPE"},
    /* inconsistent */
    {"binary ce_id vs payload event_id", "{\"event_id\":\"b\"}",
     {"ce_specversion", "1.0", "ce_id", "a", "ce_type", "t", NULL},
     "INCONSISTENT_ENVELOPE"},
    {"binary ce_type vs payload event_type",
     "{\"event_id\":\"a\",\"event_type\":\"u\"}",
     {"ce_specversion", "1.0", "ce_id", "a", "ce_type", "t", NULL},
     "INCONSISTENT_ENVELOPE"},
    {"structured id vs data.event_id",
     "{\"specversion\":\"1.0\",\"id\":\"a\",\"type\":\"t\",\"data\":"
     "{\"event_id\":\"b\"}}",
     {NULL}, "INCONSISTENT_ENVELOPE"},
    {"seed-002 eventId vs data.event_id",
     "{\"eventType\":\"t\",\"eventId\":\"a\",\"data\":{\"event_id\":\"b\"}}",
     {NULL}, "INCONSISTENT_ENVELOPE"},
    {"seed-003 id vs payload.event_id",
     "{\"id\":\"a\",\"type\":\"t\",\"payload\":{\"event_id\":\"b\"}}", {NULL},
     "INCONSISTENT_ENVELOPE"},
    {"seed-001 id vs data.event_id",
     "{\"id\":\"a\",\"type\":\"t\",\"tenantId\":\"x\",\"data\":{\"event_id\":"
     "\"b\"}}",
     {NULL}, "INCONSISTENT_ENVELOPE"},
    /* other refusals */
    {"no known members", "{\"hello\":\"world\"}", {NULL}, "UNKNOWN_ENVELOPE"},
    {"seed-002 without eventId", "{\"eventType\":\"t\",\"data\":{}}", {NULL},
     "MISSING_ID"},
    {"seed-003 without payload", "{\"id\":\"a\",\"type\":\"t\",\"metadata\":{}}",
     {NULL}, "UNKNOWN_ENVELOPE"},
    {"seed-003 payload without type", "{\"id\":\"a\",\"payload\":{}}", {NULL},
     "MISSING_TYPE"},
    {"seed-001 type not a string",
     "{\"type\":7,\"tenantId\":\"x\",\"data\":{}}", {NULL},
     "INVALID_ATTRIBUTE"},
    {"seed-003 metadata not an object",
     "{\"id\":\"a\",\"type\":\"t\",\"payload\":{},\"metadata\":[]}", {NULL},
     "INVALID_ATTRIBUTE"},
};

static void test_refusals(void)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const refused *r = &refusals[i];
        msg m;
        msg_init(&m, "t", NULL, r->value, r->hdrs);
        yard_envelope e;
        yard_decode_error why;
        int rc = yard_envelope_decode(&m.w, MAX_BYTES, &e, &why);
        CU_ASSERT_EQUAL(rc, YARD_EINVAL);
        bool ok = rc && why.code && strcmp(why.code, r->code) == 0;
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "'%s': got %s (%s), want %s\n", r->what,
                    rc ? why.code : "accepted", rc ? why.message : "", r->code);
        CU_ASSERT_PTR_NULL(e.mem);
        if (!rc)
            yard_envelope_clear(&e);
    }
    /* The message names the styles that matched. */
    msg m;
    msg_init(&m, "t", NULL, refusals[1].value, NULL);
    yard_envelope e;
    yard_decode_error why;
    yard_envelope_decode(&m.w, MAX_BYTES, &e, &why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why.message, "eventType"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why.message, "event_id"));
}

static const char *pair(json_t *h, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(h, i, p)
    {
        if (strcmp(json_string_value(json_array_get(p, 0)), name) == 0)
            return json_string_value(json_array_get(p, 1));
    }
    return NULL;
}

/* The text form holds the tree form's pairs in its order; ce_time and
 * the traceparent's span (and its trace without a parent one) are made
 * afresh by each call. */
static void same_headers(const char *text, json_t *tree, bool same_trace)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tree);
    json_error_t e;
    json_t *t = json_loads(text, 0, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(json_array_size(t), json_array_size(tree));
    for (size_t i = 0; i < json_array_size(t) && i < json_array_size(tree); i++) {
        json_t *a = json_array_get(t, i), *b = json_array_get(tree, i);
        const char *name = json_string_value(json_array_get(a, 0));
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_STRING_EQUAL(name, json_string_value(json_array_get(b, 0)));
        const char *va = json_string_value(json_array_get(a, 1));
        const char *vb = json_string_value(json_array_get(b, 1));
        CU_ASSERT_PTR_NOT_NULL_FATAL(va);
        if (strcmp(name, "traceparent") == 0) {
            CU_ASSERT_EQUAL(strlen(va), 55);
            CU_ASSERT_EQUAL(strncmp(va, vb, same_trace ? 36 : 3), 0);
        } else if (strcmp(name, "ce_time") != 0) {
            CU_ASSERT_STRING_EQUAL(va, vb);
        }
    }
    json_decref(t);
}

static void test_emit_headers_text(void)
{
    msg m;
    msg_init(&m, "projects.service_order.created", "FR_so-9", samples[0].value,
             samples[0].hdrs);
    yard_envelope cause, c2;
    yard_decode_error why;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &cause, &why), 0);
    /* Quotes, backslashes, control bytes and UTF-8 in values. */
    const char *odd = "a\"b\\c\n\t\x01\x1f/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    const char *ids[] = {"new-1", odd};
    for (size_t i = 0; i < 2; i++) {
        char *text = yard_envelope_headers_text(ids[i], "assignments.offer.created",
                                                "/switchyard/assign", ids[i], "1",
                                                &cause);
        json_t *tree = yard_envelope_headers(ids[i], "assignments.offer.created",
                                             "/switchyard/assign", ids[i], "1",
                                             &cause);
        same_headers(text, tree, true);
        free(text);
        json_decref(tree);
    }
    msg_init(&m, "x", NULL, samples[4].value, NULL);
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &c2, &why), 0);
    const yard_envelope *causes[] = {&c2, NULL};
    for (size_t i = 0; i < 2; i++) {
        char *text = yard_envelope_headers_text("n", "t", "/s", NULL, NULL, causes[i]);
        json_t *tree = yard_envelope_headers("n", "t", "/s", NULL, NULL, causes[i]);
        same_headers(text, tree, false);
        free(text);
        json_decref(tree);
    }
    /* Not UTF-8 (a lone continuation byte, an overlong form, a surrogate):
     * refused by both forms. */
    const char *bad[] = {"k\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CU_ASSERT_PTR_NULL(yard_envelope_headers_text("n", "t", "/s", bad[i], NULL, NULL));
        CU_ASSERT_PTR_NULL(yard_envelope_headers("n", "t", "/s", bad[i], NULL, NULL));
    }
    yard_envelope_clear(&c2);
    yard_envelope_clear(&cause);
}

/* Random (version 4) ids, all different. */
static void test_uuid_v4(void)
{
    char seen[64][37];
    for (int i = 0; i < 64; i++) {
        yard_uuid(seen[i]);
        CU_ASSERT_EQUAL(strlen(seen[i]), 36);
        CU_ASSERT_EQUAL(seen[i][14], '4');
        CU_ASSERT_PTR_NOT_NULL(strchr("89ab", seen[i][19]));
        for (int j = 0; j < i; j++)
            CU_ASSERT_NOT_EQUAL(strcmp(seen[i], seen[j]), 0);
    }
}

static void test_emit_headers_propagate(void)
{
    msg m;
    msg_init(&m, "projects.service_order.created", "FR_so-9", samples[0].value,
             samples[0].hdrs);
    yard_envelope cause;
    yard_decode_error why;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &cause, &why), 0);
    json_t *h = yard_envelope_headers("new-1", "assignments.offer.created",
                                      "/switchyard/assign", "p_so-9", "1",
                                      &cause);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_id"), "new-1");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_specversion"), "1.0");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_type"), "assignments.offer.created");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_source"), "/switchyard/assign");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_partitionkey"), "p_so-9");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_schemaversion"), "1");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_correlationid"), "corr-7");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_causationid"), "e-1");
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_tenantid"), "t1");
    CU_ASSERT_STRING_EQUAL(pair(h, "tracestate"), "vendor=abc");
    CU_ASSERT_STRING_EQUAL(pair(h, "content-type"), "application/json");
    const char *tp = pair(h, "traceparent");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
    CU_ASSERT_EQUAL(strlen(tp), 55);
    /* Same trace, a new span. */
    CU_ASSERT_EQUAL(strncmp(tp, cause.ev.traceparent, 36), 0);
    CU_ASSERT_NOT_EQUAL(strncmp(tp + 36, cause.ev.traceparent + 36, 16), 0);
    CU_ASSERT_PTR_NOT_NULL(pair(h, "ce_time"));
    json_decref(h);

    /* No correlation id on the cause: its id becomes the correlation. */
    msg_init(&m, "x", NULL, samples[4].value, NULL);
    yard_envelope c2;
    CU_ASSERT_EQUAL_FATAL(yard_envelope_decode(&m.w, MAX_BYTES, &c2, &why), 0);
    h = yard_envelope_headers("new-2", "notification.sent", "/s", NULL, NULL, &c2);
    CU_ASSERT_STRING_EQUAL(pair(h, "ce_correlationid"), "u-1");
    CU_ASSERT_PTR_NULL(pair(h, "tracestate"));
    CU_ASSERT_PTR_NULL(pair(h, "ce_schemaversion"));
    CU_ASSERT_PTR_NOT_NULL(pair(h, "traceparent")); /* a new trace */
    json_decref(h);
    /* No cause at all. */
    h = yard_envelope_headers("new-3", "t", "/s", NULL, NULL, NULL);
    CU_ASSERT_PTR_NULL(pair(h, "ce_causationid"));
    CU_ASSERT_PTR_NOT_NULL(pair(h, "traceparent"));
    json_decref(h);
    yard_envelope_clear(&c2);
    yard_envelope_clear(&cause);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"round trip of each dialect", test_round_trip_each_dialect},
        {"canonical through every dialect", test_canonical_through_every_dialect},
        {"type-data ids are derived deterministically", test_type_data_ids},
        {"id-payload version suffix, key and trace", test_id_payload_details},
        {"ambiguous and inconsistent envelopes refused", test_refusals},
        {"emitted headers inherit from the cause", test_emit_headers_propagate},
        {"emitted headers as text: the tree's pairs, escaped", test_emit_headers_text},
        {"event ids are random version 4 UUIDs", test_uuid_v4},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("envelope", NULL, NULL, tests);
}
