/*
 * envelope.h — from a message on the wire to the canonical envelope, and
 * back.
 *
 * Canonical form is CloudEvents 1.0 in the Kafka binding's binary mode:
 * attributes in ce_* headers, the JSON payload as the value.  Accepted on
 * input as well: structured mode (a JSON object with "specversion") and
 * flat records carrying "event_id" (the catalog's Avro-style records).
 * The module knows nothing of librdkafka: a transport fills yard_wire_msg.
 */
#ifndef YARD_ENVELOPE_H
#define YARD_ENVELOPE_H

#include <jansson.h>
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
    const char *dialect;        /* "binary", "structured", "flat" */
    char *mem;                  /* owned */
} yard_envelope;

/* Why a message could not be decoded: a stable code for the DLQ and a
 * message naming the field. */
typedef struct yard_decode_error {
    const char *code; /* static: PAYLOAD_TOO_LARGE, PAYLOAD_NOT_JSON, ... */
    char message[256];
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
 * NULL): correlation id, tenant and trace are inherited from it, a new span
 * id is made under its trace, and its id becomes the causation id.
 * Returns a new reference or NULL on allocation failure.
 */
json_t *yard_envelope_headers(const char *id, const char *type,
                              const char *source, const char *key,
                              const sy_event *cause);

/* A new random UUID (36 chars + NUL). */
void yard_uuid(char out[37]);

#endif
