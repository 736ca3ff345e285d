/*
 * schema.h — the Avro schema registry, our JSON-against-Avro validator and
 * the BACKWARD compatibility check.
 *
 * Layout of a schema directory (cfg->schema_dir):
 *   common/NAME.avsc        shared named types (records, enums, fixed),
 *                           loaded first, visible to every other file by
 *                           their full name (e.g.
 *                           "com.ahs.fsm.events.common.SalesChannel")
 *   TYPE.vN.avsc            the schema of event type TYPE, version N (a
 *                           record), e.g. projects.service_order.created.v1.avsc
 * Named types defined inside a TYPE.vN.avsc file are local to that file, so
 * two versions of one event may both define "ServiceOrderCreated".
 * A top-level file may carry two attributes of ours (Avro ignores unknown
 * attributes): "x-event-type" (must equal TYPE from the file name) and
 * "x-partition-key", a template such as "{country_code}_{service_order_id}"
 * naming top-level payload fields (see yard_schema_partition_key()).
 *
 * Parsing follows the Avro 1.11 specification over jansson: primitives,
 * records, enums (with optional default), arrays, maps, unions, fixed,
 * logicalTypes, namespaces and full names, field defaults (checked against
 * the field's type; for a union against its first branch).  Extensions:
 * "logicalType": "date" is also accepted on a string (ISO "YYYY-MM-DD", as
 * the catalog uses it), and a "logicalType" written on a field rather than
 * on its type is moved onto the type.
 *
 * Validation is of a plain JSON document, not Avro's JSON encoding: union
 * values are written bare (null or a value of one branch, no {"type": v}
 * wrapper), bytes and fixed are strings, int must be a whole number within
 * 32 bits, long any whole number, float/double any number.  A record field
 * that is absent is fine only when the field has a default.
 *
 * Unknown-field policy: a member of a JSON object that the record does not
 * declare is an error (rule "unknown-field") unless YARD_SCHEMA_ALLOW_EXTRA
 * is passed.  Exception: the seed-000 envelope metadata members
 * "correlation_id" and "event_type" (strings) are accepted at the top
 * level of a document whose schema does not declare them (seed 000 asks
 * every record to carry correlation_id; the flat dialect reads both).
 * The host validates strictly on consume and on emit: the
 * registry is expected to hold the newest version of every type it sees,
 * and a typo in a field name is caught at the producer.
 *
 * Thread rules: a loaded registry is immutable; validation and lookups may
 * run on any number of threads at once.  Loading is single-threaded.
 */
#ifndef YARD_SCHEMA_H
#define YARD_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

typedef struct yard_schema_registry yard_schema_registry;
/* One event type's schema at one version.  Owned by its registry. */
typedef struct yard_schema yard_schema;

/* Flags of yard_schema_validate(). */
#define YARD_SCHEMA_ALLOW_EXTRA 0x1u /* ignore undeclared object members */

/* Why a document failed validation: a JSON path ("$.address.postal_code",
 * "$.products[2].quantity"), a stable rule name ("type", "required",
 * "unknown-field", "enum", "range", "union", "logicalType", "size") and a
 * message that starts with the path:
 * "$.address.postal_code: expected string, got number". */
typedef struct yard_schema_error {
    char path[256];
    const char *rule; /* static */
    char message[512];
} yard_schema_error;

/* An empty registry (for tests and the CLI).  NULL on allocation failure. */
yard_schema_registry *yard_schema_registry_new(void);

/*
 * Load `dir` as described above into a new registry.  Every problem is
 * reported in diag ("path: message", a JSON path inside the schema where it
 * helps) and loading goes on with the next file; returns 0 when every file
 * parsed, YARD_ECONFIG when some did not (*out then still holds the files
 * that did), YARD_EIO when dir cannot be read (*out NULL).  A missing
 * directory is an empty registry when `missing_ok`.  diag may be NULL.
 * *out is freed with yard_schema_registry_free().
 */
int yard_schema_registry_load(const char *dir, bool missing_ok,
                              yard_schema_registry **out, yard_diag *diag);

/*
 * Parse one schema document (text) and add it.  `name` is the file name it
 * came from; "common/..." (or is_common) adds named types for the other
 * files, "TYPE.vN.avsc" adds the event type TYPE at version N.  Returns 0,
 * or YARD_EINVAL/YARD_EEXIST with "name: path: message" in err.
 */
int yard_schema_registry_add(yard_schema_registry *r, const char *name,
                             bool is_common, const char *text, char *err,
                             size_t errlen);

/*
 * Parse a standalone schema file (for `schema check OLD NEW` and `schema
 * validate`) against the registry's shared named types, without adding it
 * as an event type.  The schema is owned by the registry.  Returns 0 or
 * YARD_EINVAL/YARD_EIO with a message.
 */
int yard_schema_registry_parse_file(yard_schema_registry *r, const char *path,
                                    const yard_schema **out, char *err,
                                    size_t errlen);

void yard_schema_registry_free(yard_schema_registry *r); /* accepts NULL */

/* The schema of `type` at `version`, or its highest version when version
 * is 0; NULL when the registry has none (such types are not validated). */
const yard_schema *yard_schema_find(const yard_schema_registry *r,
                                    const char *type, int version);

/* The schema an event is checked against: `version` (the envelope's schema
 * version, "N" or "N.M": major N) when the registry has it, else the
 * newest; NULL when the type has none. */
const yard_schema *yard_schema_for_event(const yard_schema_registry *r,
                                         const char *type,
                                         const char *version);

/* Event-type schemas in (type, version) order; for lint and the catalog. */
size_t yard_schema_count(const yard_schema_registry *r);
const yard_schema *yard_schema_at(const yard_schema_registry *r, size_t i);
/* Number of shared named types loaded from common/. */
size_t yard_schema_common_count(const yard_schema_registry *r);
/* Name of the i-th file loaded from common/ ("common/Amount.avsc"), or
 * NULL past the end. */
const char *yard_schema_common_file(const yard_schema_registry *r, size_t i);

const char *yard_schema_type(const yard_schema *s);     /* event type */
int yard_schema_version(const yard_schema *s);          /* N of .vN */
const char *yard_schema_file(const yard_schema *s);     /* as loaded */
const char *yard_schema_fullname(const yard_schema *s); /* record name */
const char *yard_schema_doc(const yard_schema *s);      /* or NULL */
const char *yard_schema_key_template(const yard_schema *s); /* or NULL */
/* The record's fields as "name: type" lines into a JSON array of
 * {name, type, doc, optional} objects (new reference), for the catalog. */
json_t *yard_schema_describe_fields(const yard_schema *s);

/* Validate a parsed document.  Returns 0, or YARD_EINVAL with *why filled
 * (the first violation found, in document order of the schema's fields). */
int yard_schema_validate(const yard_schema *s, const json_t *doc,
                         unsigned flags, yard_schema_error *why);
/* The same for JSON text (len bytes); not-JSON is rule "json". */
int yard_schema_validate_text(const yard_schema *s, const char *text,
                              size_t len, unsigned flags,
                              yard_schema_error *why);

/*
 * BACKWARD compatibility as seed 000 and Confluent define it: can a reader
 * using `newer` read every document written with `older`?  Allowed: adding
 * a field that has a default, adding enum symbols at the end, widening a
 * number (int -> long -> float -> double), making a type nullable (T ->
 * ["null", T]), adding union branches.  Violations (one diag line each,
 * "Record.field: ..."): removing a field (also what a rename looks like),
 * adding a field without a default, a field losing its default (JSON
 * documents may omit such fields), any other type change, a logicalType
 * change, removing or reordering enum symbols, a named type renamed, a
 * fixed size change, dropping a union branch.  Returns the number of
 * violations (0: compatible).
 */
size_t yard_schema_check_compat(const yard_schema *older,
                                const yard_schema *newer, yard_diag *out);

/*
 * Partition key of an emitted payload from the schema's x-partition-key
 * template: each {field} is replaced by the top-level field's value
 * (strings as they are, numbers and booleans in JSON form).  Returns 0;
 * YARD_ENOENT when the schema has no template or a field is absent or
 * null (the caller then falls back to the consumed event's key);
 * YARD_EINVAL when the key does not fit in outlen.
 */
int yard_schema_partition_key(const yard_schema *s, const json_t *payload,
                              char *out, size_t outlen);

#endif
