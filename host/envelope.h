/*
 * envelope.h — from a message on the wire to the canonical envelope, and
 * back.
 *
 * Canonical form is CloudEvents 1.0 in the Kafka binding's binary mode:
 * attributes in headers, the JSON payload as the value.  Headers:
 *   ce_specversion "1.0", ce_id, ce_type, ce_source, ce_time (RFC 3339),
 *   content-type (application/json), traceparent and tracestate (W3C trace
 *   context), and our extensions ce_correlationid, ce_causationid (id of
 *   the consumed event that caused this one), ce_tenantid, ce_partitionkey
 *   (also the Kafka message key) and ce_schemaversion (N of the payload's
 *   schema TYPE.vN.avsc; absent: the newest version the reader has).
 *
 * Dialects accepted on input, each mapped onto the same envelope (the
 * `dialect` names it) and re-encodable from it (yard_envelope_encode()):
 *   "binary"      the canonical form above
 *   "structured"  CloudEvents structured mode, application/cloudevents+json:
 *                 {specversion, id, type, source, time, correlationid,
 *                 causationid, traceparent, tracestate, tenantid,
 *                 partitionkey, schemaversion, datacontenttype, data}
 *   "flat"        seed 000: the Avro record itself, carrying event_id and
 *                 event_timestamp (epoch millis); the topic names the type
 *                 unless the record has event_type; payload = the record
 *   "type-data"   seed 001: {type, timestamp, tenantId, source,
 *                 correlationId, data}.  It has no id: we accept an "id"
 *                 member when present, else the data's "event_id" (a seed
 *                 000 record as data), else derive one deterministically —
 *                 a UUID v5 (SHA-1) over the record's canonical JSON (keys
 *                 sorted, compact) — so a redelivered copy gets the same id
 *                 and is deduplicated.  Two distinct events with identical
 *                 content, type, timestamp, tenant and source would collide;
 *                 the millisecond timestamp makes that a non-issue in
 *                 practice.  Re-encoding writes no id.
 *   "event-type"  seed 002: {eventType, eventId, timestamp, version, data};
 *                 version becomes the schema version
 *   "id-payload"  seed 003: {id, type, occurred_at, source, correlation_id,
 *                 trace_id, payload, metadata {partition_key, tenant_id}};
 *                 a ".vN" suffix of type becomes the schema version; a
 *                 32-hex trace_id becomes a traceparent (parent span derived
 *                 from the event id), any other trace_id is dropped
 *
 * Which dialect: ce_* headers make it binary; otherwise the value's
 * top-level members decide: "specversion" (or a cloudevents content-type)
 * structured; "eventType"/"eventId" event-type; "payload" with "id",
 * "occurred_at" or "metadata" id-payload; "type" and "data" with
 * "tenantId", "timestamp" or "correlationId" type-data; "event_id" flat.
 * A value matching more than one is refused as AMBIGUOUS_ENVELOPE, never
 * guessed.  An event whose envelope and payload disagree — the payload's
 * event_id (or event_type) differs from the envelope's id (or type) — is
 * refused as INCONSISTENT_ENVELOPE.
 *
 * The module knows nothing of librdkafka: a transport fills yard_wire_msg.
 */
#ifndef YARD_ENVELOPE_H
#define YARD_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <switchyard/sdk.h>

typedef struct yard_header {
    const char *name;
    const void *value; /* may be NULL for a null header */
    size_t len;
} yard_header;

/* A message as a transport hands it over.  Nothing is owned. */
typedef struct yard_wire_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const yard_header *headers;
    size_t n_headers;
} yard_wire_msg;

/* A decoded event.  ev's strings point into memory the envelope owns. */
typedef struct yard_envelope {
    sy_event ev;
    const char *tracestate;     /* or NULL */
    const char *content_type;   /* or NULL */
    const char *dialect;        /* static: one of yard_envelope_dialects() */
    const char *schema_version; /* or NULL: newest */
    bool id_derived;            /* type-data without id: derived (above) */
    char *mem;                  /* owned */
} yard_envelope;

/* Why a message could not be decoded: a stable code for the DLQ and a
 * message naming the field. */
typedef struct yard_decode_error {
    const char *code; /* static: PAYLOAD_TOO_LARGE, PAYLOAD_NOT_JSON,
                         AMBIGUOUS_ENVELOPE, INCONSISTENT_ENVELOPE,
                         VALIDATION_FAILED, ... */
    char message[256];
    /* A schema failure: the JSON path of the offending field and the
     * schema rule; else "" and NULL.  Set by the transport with code
     * VALIDATION_FAILED for a consumed payload, or by the engine with code
     * left NULL for an emit() its schema refused (EMIT_VALIDATION_FAILED
     * dead letter). */
    char field[128];
    const char *rule; /* static */
} yard_decode_error;

/*
 * Decode msg.  On success returns 0 and fills *out (free with
 * yard_envelope_clear()).  On failure returns YARD_EINVAL, *out is zeroed
 * and *why says what is wrong.  max_bytes bounds the value size.
 */
int yard_envelope_decode(const yard_wire_msg *msg, size_t max_bytes,
                         yard_envelope *out, yard_decode_error *why);

void yard_envelope_clear(yard_envelope *env); /* accepts zeroed */

/*
 * The binary-mode headers of an emitted event as a JSON array of
 * [name, value] pairs, for the outbox.  `cause` is the consumed event (or
 * NULL): correlation id (its own, else its id), tenant, trace state and
 * trace id are inherited from it, a new span id is made under its trace,
 * and its id becomes the causation id.  schema_version may be NULL.
 * Returns a new reference or NULL on allocation failure.
 */
json_t *yard_envelope_headers(const char *id, const char *type,
                              const char *source, const char *key,
                              const char *schema_version,
                              const yard_envelope *cause);

/* The same headers as compact JSON text, written directly (the engine's
 * emit path: building and dumping the tree cost ~90k instructions per
 * event).  malloc'd, owned by the caller; NULL on allocation failure or
 * when a value is not valid UTF-8 (as yard_envelope_headers). */
char *yard_envelope_headers_text(const char *id, const char *type,
                                 const char *source, const char *key,
                                 const char *schema_version,
                                 const yard_envelope *cause);

/* The dialect names, NULL-terminated; the first is the canonical one. */
const char *const *yard_envelope_dialects(void);

/*
 * Re-encode a decoded envelope in `dialect`: *value (malloc'd, NUL-
 * terminated, *value_len bytes) and *headers (new JSON array of [name,
 * value] pairs; empty for dialects that live in the value alone).  What
 * the dialect cannot carry is dropped (see above).  The Kafka key is
 * ev.key.  Returns 0, or YARD_EINVAL with a message (unknown dialect; a
 * payload that is not a JSON object for "flat") or YARD_ENOMEM.
 */
int yard_envelope_encode(const yard_envelope *env, const char *dialect,
                         char **value, size_t *value_len, json_t **headers,
                         char *err, size_t errlen);

/* A new random UUID (36 chars + NUL). */
void yard_uuid(char out[37]);

#endif
