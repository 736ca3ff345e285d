/*
 * sales.h — what the sales-system adapters (plugins/pyxis, plugins/tempo)
 * share: validate a sales system's order events, keep the adapter's order
 * table, turn them into the canonical integration.sales.* events, and send
 * fsm.order.status_updated and fsm.tv.outcome_recorded back to the system
 * the order came from.
 *
 * Header-only (static functions) like domain.h, so that each adapter stays
 * one .so linking nothing but jansson.  An adapter describes its system in
 * one sal_system (field names, table, event types, how its payload lists
 * services) and calls sal_init() and the sal_on_* handlers.
 *
 * Outcomes, the same in both adapters:
 *   - a valid order event: SY_OK with its canonical events;
 *   - an order event the sales system got wrong (empty required field,
 *     unknown country or service type, update of an unknown or cancelled
 *     order, stale update): integration.sales.order.failed with an error
 *     code and the consumed payload, and SY_OK — the failure is the
 *     recorded business outcome, and the payload in it is what a retry
 *     would send again;
 *   - a payload that is not JSON or fails its schema never reaches the
 *     adapter: the host dead-letters it (VALIDATION_FAILED and the like);
 *     one that is not a JSON object is SY_REJECT (dead-lettered too);
 *   - the same order content again under a new event id (the sales system
 *     resending): acknowledged, nothing recorded or emitted twice;
 *   - a failed SQL statement or emit: SY_RETRY.
 */
#ifndef SWITCHYARD_PLUGINS_SALES_H
#define SWITCHYARD_PLUGINS_SALES_H

#include <ctype.h>

#include "domain.h"

#define SAL_MAX_MAP 64       /* service map entries */
#define SAL_MAX_COUNTRIES 64
#define SAL_TYPE_LEN 64      /* a service type */
#define SAL_TEXT_LEN 128
#define SAL_SQL_LEN 1024
#define SAL_MSG_LEN 300
#define SAL_SETTING_LEN 128  /* outbound_topic */

/* The adapter's order table, one row per sales order (name `t`).
 * `version` counts the applied changes (1: created); `source_ts` is the
 * event_timestamp of the last applied change, the order in which updates
 * must come; the sha256 columns are of the sales system's raw_payload, to
 * recognise a resent event. */
#define SAL_TABLE_SQL(t)                                                        \
    "CREATE TABLE " t " ("                                                     \
    " sales_order_id text PRIMARY KEY,"                                        \
    " country_code text NOT NULL,"                                             \
    " bu_code text NOT NULL,"                                                  \
    " sales_channel text NOT NULL,"                                            \
    " customer_id text NOT NULL,"                                              \
    " services jsonb NOT NULL,"                                                \
    " status text NOT NULL CHECK (status IN ('OPEN', 'CANCELLED')),"           \
    " version integer NOT NULL CHECK (version >= 1),"                          \
    " source_ts bigint NOT NULL,"                                              \
    " created_sha256 text NOT NULL,"                                           \
    " last_sha256 text NOT NULL,"                                              \
    " cancellation_reason text,"                                               \
    " last_fsm_order_id text,"                                                 \
    " last_fsm_status text,"                                                   \
    " tv_outcome text,"                                                        \
    " last_event_id text NOT NULL,"                                            \
    " created_at timestamptz NOT NULL DEFAULT now(),"                          \
    " updated_at timestamptz NOT NULL DEFAULT now())"

/* The hash the table keeps of a raw payload ($n). */
#define SAL_SHA(n) "encode(sha256(convert_to(" n ", 'UTF8')), 'hex')"

/* Orchestration names the service orders of sales order S "SO-S-<n>", n
 * from 1 in the order of its services (plugins/README.md, the saga). */
#define SAL_FSM_ORDER_FMT "SO-%s-%zu"

/* Error codes of integration.sales.order.failed. */
#define SAL_MISSING_FIELD "MISSING_FIELD"
#define SAL_INVALID_FIELD "INVALID_FIELD"
#define SAL_INVALID_COUNTRY "INVALID_COUNTRY"
#define SAL_INVALID_RAW_PAYLOAD "INVALID_RAW_PAYLOAD"
#define SAL_NO_SERVICES "NO_SERVICES"
#define SAL_INVALID_QUANTITY "INVALID_QUANTITY"
#define SAL_UNKNOWN_SERVICE_TYPE "UNKNOWN_SERVICE_TYPE"
#define SAL_ORDER_EXISTS "ORDER_EXISTS"
#define SAL_UNKNOWN_ORDER "UNKNOWN_ORDER"
#define SAL_ORDER_CANCELLED "ORDER_CANCELLED"
#define SAL_STALE_UPDATE "STALE_UPDATE"

/*
 * The services an order event lists, in the sales system's terms: append
 * each service type (a json string) to `out`.  `update`: the list may be
 * absent (null), then set *absent and append nothing.  Returns NULL, or an
 * error code above with a message in msg.
 */
typedef const char *(*sal_services_fn)(const json_t *payload, bool update,
                                       json_t *out, bool *absent, char *msg,
                                       size_t msglen);

/* One sales system.  Everything is static, owned by the adapter. */
typedef struct sal_system {
    const char *source_system;          /* SourceSystem symbol: "PYXIS" */
    const char *id_field;               /* its order id field: "pyxis_order_id" */
    const char *table;                  /* the adapter's order table */
    const char *status_type;            /* outbound event types */
    const char *tv_type;
    const char *default_topic;          /* outbound_topic's default */
    const char *default_services;       /* services' default */
    const char *transformation_version; /* of the mapping, in order.normalized */
    sal_services_fn services;
} sal_system;

/* services setting: a sales service type, the FSM service type it becomes,
 * and whether a confirmation technical visit must come first. */
typedef struct sal_map {
    char from[SAL_TYPE_LEN], to[SAL_TYPE_LEN];
    bool tv;
} sal_map;

/* One loaded adapter instance (the handlers' state). */
typedef struct sal_adapter {
    dom_plugin dom;
    const sal_system *sys;
    char topic[SAL_SETTING_LEN];
    sal_map map[SAL_MAX_MAP];
    size_t n_map;
    char countries[SAL_MAX_COUNTRIES][3];
    size_t n_countries;
} sal_adapter;

/* ---- settings ----------------------------------------------------------- */

static inline const char *sal_setting(const sal_adapter *a, const char *key,
                                      const char *def)
{
    const char *v = a->dom.api->config_get(a->dom.self, key);
    return v && *v ? v : def;
}

/* The next comma-separated item of *list, blanks trimmed, into out;
 * false at the end.  An item too long for out is cut to "" (refused by the
 * callers as empty). */
static inline bool sal_next_item(const char **list, char *out, size_t len)
{
    const char *s = *list;
    while (*s == ' ' || *s == '\t' || *s == ',')
        s++;
    if (!*s)
        return false;
    size_t n = strcspn(s, ",");
    *list = s + n;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= len)
        n = 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static inline bool sal_is_country(const char *s)
{
    return s && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1]) &&
           !s[2];
}

/* services = FROM:TO[:TV],...  and  countries = FR,ES,... */
static inline int sal_parse_settings(sal_adapter *a, char *err, size_t errlen)
{
    const char *list = sal_setting(a, "services", a->sys->default_services);
    char item[3 * SAL_TYPE_LEN];
    while (sal_next_item(&list, item, sizeof item)) {
        if (a->n_map == SAL_MAX_MAP) {
            snprintf(err, errlen, "services: more than %d entries", SAL_MAX_MAP);
            return -1;
        }
        sal_map *m = &a->map[a->n_map];
        char *c1 = strchr(item, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1)
            *c1 = '\0';
        if (c2)
            *c2 = '\0';
        if (!c1 || !item[0] || !c1[1] || strlen(item) >= sizeof m->from ||
            strlen(c1 + 1) >= sizeof m->to || (c2 && strcmp(c2 + 1, "TV") != 0)) {
            snprintf(err, errlen, "services: bad entry near \"%.64s\""
                                  " (want FROM:TO or FROM:TO:TV)", item);
            return -1;
        }
        snprintf(m->from, sizeof m->from, "%s", item);
        snprintf(m->to, sizeof m->to, "%s", c1 + 1);
        m->tv = c2 != NULL;
        a->n_map++;
    }
    if (!a->n_map) {
        snprintf(err, errlen, "services: no service type is mapped");
        return -1;
    }
    list = sal_setting(a, "countries", "FR,ES,IT,PT,BE,PL");
    while (sal_next_item(&list, item, sizeof item)) {
        if (!sal_is_country(item) || a->n_countries == SAL_MAX_COUNTRIES) {
            snprintf(err, errlen, "countries: \"%.64s\" is not a two-letter"
                                  " country code (or more than %d)", item,
                     SAL_MAX_COUNTRIES);
            return -1;
        }
        memcpy(a->countries[a->n_countries++], item, 3);
    }
    const char *topic = sal_setting(a, "outbound_topic", a->sys->default_topic);
    if (strlen(topic) >= sizeof a->topic || strpbrk(topic, " \t*")) {
        snprintf(err, errlen, "outbound_topic: \"%.64s\" is not a topic name", topic);
        return -1;
    }
    snprintf(a->topic, sizeof a->topic, "%s", topic);
    return 0;
}

/* init() of an adapter: settings checked, state allocated. */
static inline int sal_init(const sal_system *sys, sy_plugin *self,
                           const sy_host_api *api, void **state, char *err,
                           size_t errlen)
{
    sal_adapter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->dom = (dom_plugin){api, self};
    a->sys = sys;
    if (sal_parse_settings(a, err, errlen)) {
        free(a);
        return -1;
    }
    *state = a;
    return 0;
}

static inline void sal_fini(void *state) { free(state); }

static inline const sal_map *sal_map_find(const sal_adapter *a, const char *from)
{
    for (size_t i = 0; i < a->n_map; i++)
        if (strcmp(a->map[i].from, from) == 0)
            return &a->map[i];
    return NULL;
}

static inline bool sal_country_ok(const sal_adapter *a, const char *cc)
{
    if (!sal_is_country(cc))
        return false;
    if (!a->n_countries)
        return true;
    for (size_t i = 0; i < a->n_countries; i++)
        if (strcmp(a->countries[i], cc) == 0)
            return true;
    return false;
}

/* ---- outcomes ----------------------------------------------------------- */

/* One handler call of an adapter. */
typedef struct sal_call {
    dom_call c;
    const sal_adapter *a;
    const char *ext; /* the sales system's order id, "" before it is known */
} sal_call;

/* sql with the table name: `fmt` has one %s, the table. */
static inline int sal_sql(const sal_call *s, const char *fmt, int n,
                          const char *const *params, sy_rows **rows)
{
    char sql[SAL_SQL_LEN];
    snprintf(sql, sizeof sql, fmt, s->a->sys->table);
    return dom_sql(&s->c, sql, n, params, rows);
}

static inline void sal_metric(const sal_call *s, const char *name)
{
    s->a->dom.api->metric_add(s->a->dom.self, name, 1);
}

/* integration.sales.order.failed: the event is answered, the failure is
 * its outcome.  SY_OK, or SY_RETRY when the emit failed. */
static inline sy_result sal_fail(const sal_call *s, const char *code,
                                 const char *fmt, ...) SY_PRINTF(3, 4);
static inline sy_result sal_fail(const sal_call *s, const char *code,
                                 const char *fmt, ...)
{
    char msg[SAL_MSG_LEN], key[DOM_KEY_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const sal_system *sys = s->a->sys;
    s->a->dom.api->log(s->a->dom.self, s->c.ctx, SY_LOG_WARN,
                       "order failed: %s order=%s: %s", code, s->ext, msg);
    sal_metric(s, "orders_failed");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s%, s:i}", "source_system",
                           sys->source_system, "external_order_id", s->ext,
                           "error_code", code, "error_message", msg,
                           "raw_payload", s->c.ev->payload, s->c.ev->payload_len,
                           "retry_count", 0);
    return dom_emit(&s->c, "integration.sales.order.failed",
                    dom_key(key, sys->source_system, s->ext), s->ext, ev)
               ? SY_RETRY : SY_OK;
}

/* The same content again: acknowledged, nothing done. */
static inline sy_result sal_duplicate(const sal_call *s, const char *what)
{
    s->a->dom.api->log(s->a->dom.self, s->c.ctx, SY_LOG_INFO,
                       "%s of order %s already applied (same raw payload); ignored",
                       what, s->ext);
    sal_metric(s, "orders_duplicate");
    return SY_OK;
}

/* ---- validation --------------------------------------------------------- */

/* A required non-empty string member (of `o`, named `path` in messages):
 * the value, or NULL with *code/msg set. */
static inline const char *sal_need(const json_t *o, const char *key,
                                   const char *path, const char **code,
                                   char *msg, size_t msglen)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v || !*v) {
        *code = SAL_MISSING_FIELD;
        snprintf(msg, msglen, "%s is empty", path);
        return NULL;
    }
    if (strlen(v) > DOM_ID_MAX) {
        *code = SAL_INVALID_FIELD;
        snprintf(msg, msglen, "%s is longer than %d bytes", path, DOM_ID_MAX);
        return NULL;
    }
    return v;
}

/* What an order event carries, checked. */
typedef struct sal_order {
    const char *country, *bu, *channel, *customer_id, *raw;
    json_t *services; /* FSM services (owned), or NULL: absent from an update */
    int64_t ts;
} sal_order;

/* Check the members every order event has (and, `full`, a created or
 * updated order's customer, address and services).  Returns NULL, or an
 * error code with msg. */
static inline const char *sal_check(const sal_call *s, const json_t *p,
                                    bool full, bool update, sal_order *o,
                                    char *msg, size_t msglen)
{
    const char *code = NULL;
    o->ts = (int64_t)json_integer_value(json_object_get(p, "event_timestamp"));
    o->channel = dom_str(p, "sales_channel");
    if (!(o->country = sal_need(p, "country_code", "country_code", &code, msg, msglen)))
        return code;
    if (!sal_country_ok(s->a, o->country)) {
        snprintf(msg, msglen, "country_code %s is not a country this adapter"
                              " serves", o->country);
        return SAL_INVALID_COUNTRY;
    }
    if (!(o->bu = sal_need(p, "bu_code", "bu_code", &code, msg, msglen)))
        return code;
    o->raw = json_string_value(json_object_get(p, "raw_payload"));
    json_t *raw = o->raw ? json_loads(o->raw, 0, NULL) : NULL;
    bool raw_ok = json_is_object(raw);
    json_decref(raw);
    if (!raw_ok) {
        snprintf(msg, msglen, "raw_payload is not a JSON object");
        return SAL_INVALID_RAW_PAYLOAD;
    }
    if (!full)
        return NULL;

    const json_t *cust = json_object_get(p, "customer");
    if (json_is_object(cust) || !update) {
        if (!(o->customer_id = sal_need(cust, "customer_id", "customer.customer_id",
                                        &code, msg, msglen)) ||
            !sal_need(cust, "name", "customer.name", &code, msg, msglen))
            return code;
        const char *email = dom_str(cust, "email");
        if (email && !strchr(email, '@')) {
            snprintf(msg, msglen, "customer.email \"%.64s\" is not an e-mail address",
                     email);
            return SAL_INVALID_FIELD;
        }
    }
    const json_t *addr = json_object_get(p, "address");
    if (json_is_object(addr) || !update) {
        static const char *const parts[] = {"street", "city", "postal_code", "country"};
        char path[64];
        for (size_t i = 0; i < SY_COUNT(parts); i++) {
            snprintf(path, sizeof path, "address.%s", parts[i]);
            if (!sal_need(addr, parts[i], path, &code, msg, msglen))
                return code;
        }
        const char *ac = dom_str(addr, "country");
        if (strcmp(ac, o->country) != 0) {
            snprintf(msg, msglen, "address.country %.8s is not country_code %s",
                     ac, o->country);
            return SAL_INVALID_COUNTRY;
        }
    }

    json_t *types = json_array();
    bool absent = false;
    if (!types) {
        snprintf(msg, msglen, "out of memory");
        return SAL_INVALID_FIELD;
    }
    code = s->a->sys->services(p, update, types, &absent, msg, msglen);
    if (!code && !absent) {
        o->services = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(types, i, t) {
            const sal_map *m = sal_map_find(s->a, json_string_value(t));
            if (!m) {
                snprintf(msg, msglen, "service type %.64s is not mapped (services"
                                      " setting)", json_string_value(t));
                code = SAL_UNKNOWN_SERVICE_TYPE;
                break;
            }
            json_array_append_new(o->services,
                                  json_pack("{s:s, s:b}", "service_type", m->to,
                                            "requires_confirmation_tv", m->tv));
        }
        if (code) {
            json_decref(o->services);
            o->services = NULL;
        }
    }
    json_decref(types);
    return code;
}

/* integration.sales.order.normalized, one per FSM service order the sales
 * order becomes. */
static inline sy_result sal_normalized(const sal_call *s, const sal_order *o,
                                       const char *channel, size_t n_services)
{
    const sal_system *sys = s->a->sys;
    char key[DOM_KEY_LEN], fsm_id[SAL_TEXT_LEN];
    dom_key(key, sys->source_system, s->ext);
    for (size_t i = 0; i < n_services; i++) {
        snprintf(fsm_id, sizeof fsm_id, SAL_FSM_ORDER_FMT, s->ext, i + 1);
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "source_system",
                               sys->source_system, "external_order_id", s->ext,
                               "fsm_service_order_id", fsm_id, "sales_channel",
                               channel, "country_code", o->country,
                               "transformation_version", sys->transformation_version);
        if (dom_emit(&s->c, "integration.sales.order.normalized", key, fsm_id, ev))
            return SY_RETRY;
    }
    return SY_OK;
}

/* ---- the order events --------------------------------------------------- */

typedef enum sal_kind { SAL_CREATED, SAL_UPDATED, SAL_CANCELLED } sal_kind;

static inline sy_result sal_created(const sal_call *s, const json_t *p, sal_order *o)
{
    char *services = json_dumps(o->services, JSON_COMPACT);
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)o->ts);
    const char *q[] = {s->ext, o->country, o->bu, o->channel, o->customer_id,
                       services, ts, o->raw, s->c.ev->id};
    sy_rows *rows = NULL;
    int rc = services ? sal_sql(s, "INSERT INTO %s (sales_order_id, country_code,"
                                   " bu_code, sales_channel, customer_id, services,"
                                   " status, version, source_ts, created_sha256,"
                                   " last_sha256, last_event_id) VALUES ($1, $2, $3,"
                                   " $4, $5, $6::jsonb, 'OPEN', 1, $7::bigint, "
                                   SAL_SHA("$8") ", " SAL_SHA("$8") ", $9)"
                                   " ON CONFLICT (sales_order_id) DO NOTHING"
                                   " RETURNING 1", 9, q, &rows)
                      : -1;
    free(services);
    if (rc)
        return SY_RETRY;
    size_t inserted = s->a->dom.api->rows_count(rows);
    s->a->dom.api->rows_free(rows);
    if (!inserted) {
        /* Known: the same creation resent, or a second, different one. */
        const char *k[] = {s->ext, o->raw};
        if (sal_sql(s, "SELECT created_sha256 = " SAL_SHA("$2")
                       " FROM %s WHERE sales_order_id = $1", 2, k, &rows))
            return SY_RETRY;
        const char *same = s->a->dom.api->rows_value(rows, 0, 0);
        bool dup = same && strcmp(same, "t") == 0;
        s->a->dom.api->rows_free(rows);
        return dup ? sal_duplicate(s, "creation")
                   : sal_fail(s, SAL_ORDER_EXISTS, "order %s was already created"
                                                   " with other content; send an"
                                                   " update", s->ext);
    }
    (void)p;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O, s:s}", "sales_order_id", s->ext,
                           "customer_id", o->customer_id, "country_code",
                           o->country, "services", o->services, "source_system",
                           s->a->sys->source_system);
    if (dom_emit(&s->c, "integration.sales.order_received",
                 dom_key(key, o->country, s->ext), s->ext, ev))
        return SY_RETRY;
    sal_metric(s, "orders_received");
    return sal_normalized(s, o, o->channel, json_array_size(o->services));
}

/* The order's row, locked: 1 found (fields set), 0 unknown, -1 error. */
typedef struct sal_row {
    char country[SAL_TEXT_LEN], status[SAL_TEXT_LEN];
    long long source_ts;
    bool same_as_last; /* raw payload hash equals the last applied one */
} sal_row;

static inline int sal_load(const sal_call *s, const char *raw, sal_row *r)
{
    const char *q[] = {s->ext, raw};
    sy_rows *rows = NULL;
    if (sal_sql(s, "SELECT country_code, status, source_ts, last_sha256 = "
                   SAL_SHA("$2") " FROM %s WHERE sales_order_id = $1 FOR UPDATE",
                2, q, &rows))
        return -1;
    const sy_host_api *api = s->a->dom.api;
    int found = api->rows_count(rows) == 1;
    if (found) {
        snprintf(r->country, sizeof r->country, "%s", api->rows_value(rows, 0, 0));
        snprintf(r->status, sizeof r->status, "%s", api->rows_value(rows, 0, 1));
        r->source_ts = strtoll(api->rows_value(rows, 0, 2), NULL, 10);
        r->same_as_last = strcmp(api->rows_value(rows, 0, 3), "t") == 0;
    }
    api->rows_free(rows);
    return found;
}

static inline sy_result sal_updated(const sal_call *s, sal_order *o)
{
    sal_row r;
    int found = sal_load(s, o->raw, &r);
    if (found < 0)
        return SY_RETRY;
    if (!found)
        return sal_fail(s, SAL_UNKNOWN_ORDER, "update of order %s, which was"
                                              " never created", s->ext);
    if (r.same_as_last)
        return sal_duplicate(s, "update");
    if (strcmp(r.status, "CANCELLED") == 0)
        return sal_fail(s, SAL_ORDER_CANCELLED, "update of order %s, which is"
                                                " cancelled", s->ext);
    if (strcmp(r.country, o->country) != 0)
        return sal_fail(s, SAL_INVALID_COUNTRY, "update moves order %s from %s"
                                                " to %s", s->ext, r.country,
                        o->country);
    if (o->ts <= r.source_ts)
        return sal_fail(s, SAL_STALE_UPDATE, "update of order %s from %lld is"
                                             " not newer than its last change"
                                             " (%lld)", s->ext, (long long)o->ts,
                        r.source_ts);
    char *services = o->services ? json_dumps(o->services, JSON_COMPACT) : NULL;
    if (o->services && !services)
        return SY_RETRY;
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)o->ts);
    const char *q[] = {s->ext, o->bu, o->channel, o->customer_id, services, ts,
                       o->raw, s->c.ev->id};
    sy_rows *rows = NULL;
    int rc = sal_sql(s, "UPDATE %s SET bu_code = $2, sales_channel = $3,"
                        " customer_id = COALESCE($4, customer_id),"
                        " services = COALESCE($5::jsonb, services),"
                        " version = version + 1, source_ts = $6::bigint,"
                        " last_sha256 = " SAL_SHA("$7") ", last_event_id = $8,"
                        " updated_at = now() WHERE sales_order_id = $1"
                        " RETURNING jsonb_array_length(services)", 8, q, &rows);
    free(services);
    if (rc)
        return SY_RETRY;
    const char *n = s->a->dom.api->rows_value(rows, 0, 0);
    size_t n_services = n ? (size_t)strtoul(n, NULL, 10) : 0;
    s->a->dom.api->rows_free(rows);
    sal_metric(s, "orders_updated");
    /* Orchestration has no input for a changed order yet: the change is
     * recorded here and announced as normalized (see plugins/README.md). */
    return sal_normalized(s, o, o->channel, n_services);
}

static inline sy_result sal_cancelled(const sal_call *s, const json_t *p,
                                      sal_order *o)
{
    sal_row r;
    int found = sal_load(s, o->raw, &r);
    if (found < 0)
        return SY_RETRY;
    if (!found)
        return sal_fail(s, SAL_UNKNOWN_ORDER, "cancellation of order %s, which"
                                              " was never created", s->ext);
    if (r.same_as_last)
        return sal_duplicate(s, "cancellation");
    if (strcmp(r.status, "CANCELLED") == 0)
        return sal_fail(s, SAL_ORDER_CANCELLED, "order %s is already cancelled",
                        s->ext);
    if (strcmp(r.country, o->country) != 0)
        return sal_fail(s, SAL_INVALID_COUNTRY, "cancellation of order %s in %s,"
                                                " but it is in %s", s->ext,
                        o->country, r.country);
    /* A cancellation is final: it applies whatever its timestamp (an update
     * that overtook it changes nothing about the customer's decision). */
    const char *reason = dom_str(p, "cancellation_reason");
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", (long long)o->ts);
    const char *q[] = {s->ext, reason, ts, o->raw, s->c.ev->id};
    if (sal_sql(s, "UPDATE %s SET status = 'CANCELLED', cancellation_reason = $2,"
                   " version = version + 1,"
                   " source_ts = GREATEST(source_ts, $3::bigint),"
                   " last_sha256 = " SAL_SHA("$4") ", last_event_id = $5,"
                   " updated_at = now() WHERE sales_order_id = $1", 5, q, NULL))
        return SY_RETRY;
    char key[DOM_KEY_LEN];
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s?}", "sales_order_id", s->ext,
                           "country_code", o->country, "source_system",
                           s->a->sys->source_system, "cancellation_reason", reason);
    if (dom_emit(&s->c, "integration.sales.order_cancelled",
                 dom_key(key, o->country, s->ext), s->ext, ev))
        return SY_RETRY;
    sal_metric(s, "orders_cancelled");
    return SY_OK;
}

/* One order event of the sales system. */
static inline sy_result sal_order_event(sy_ctx *ctx, const sy_event *ev,
                                        void *state, sal_kind kind)
{
    const sal_adapter *a = state;
    sal_call s = {{&a->dom, ctx, ev}, a, ""};
    json_t *p = dom_payload(&s.c);
    if (!p)
        return SY_REJECT;
    sy_result r;
    const char *code = NULL;
    char msg[SAL_MSG_LEN];
    const char *ext = sal_need(p, a->sys->id_field, a->sys->id_field, &code, msg,
                               sizeof msg);
    sal_order o = {0};
    if (ext) {
        s.ext = ext;
        code = sal_check(&s, p, kind != SAL_CANCELLED, kind == SAL_UPDATED, &o, msg,
                         sizeof msg);
    }
    if (code)
        r = sal_fail(&s, code, "%s", msg);
    else if (kind == SAL_CREATED)
        r = sal_created(&s, p, &o);
    else if (kind == SAL_UPDATED)
        r = sal_updated(&s, &o);
    else
        r = sal_cancelled(&s, p, &o);
    json_decref(o.services);
    json_decref(p);
    return r;
}

/* ---- back to the sales system ------------------------------------------- */

typedef enum sal_back { SAL_STATUS, SAL_TV } sal_back;

static inline sy_result sal_outbound(sy_ctx *ctx, const sy_event *ev, void *state,
                                     sal_back what)
{
    const sal_adapter *a = state;
    const sal_system *sys = a->sys;
    sal_call s = {{&a->dom, ctx, ev}, a, ""};
    json_t *p = dom_payload(&s.c);
    if (!p)
        return SY_REJECT;
    const char *source = dom_str(p, "source_system");
    const char *ext = dom_id(p, "external_order_id");
    sy_result r = SY_OK;
    if (!source || strcmp(source, sys->source_system) != 0) {
        sal_metric(&s, "outbound_other_system"); /* another adapter's */
        goto out;
    }
    if (!ext) {
        r = dom_reject(&s.c, "%s without external_order_id", ev->type);
        goto out;
    }
    s.ext = ext;
    const char *fsm_id = dom_id(p, "fsm_service_order_id");
    const char *status = dom_str(p, "status");
    const char *outcome = dom_str(p, "tv_outcome");
    if (what == SAL_STATUS ? !fsm_id || !status : !outcome) {
        r = dom_reject(&s.c, "%s for %s without %s", ev->type, ext,
                       what == SAL_STATUS ? "fsm_service_order_id or status"
                                          : "tv_outcome");
        goto out;
    }
    /* Only orders this adapter received go back: one the platform got some
     * other way has no place in this system to go to. */
    const char *q[] = {ext, what == SAL_STATUS ? fsm_id : outcome, status};
    sy_rows *rows = NULL;
    if (sal_sql(&s, what == SAL_STATUS
                        ? "UPDATE %s SET last_fsm_order_id = $2, last_fsm_status = $3,"
                          " updated_at = now() WHERE sales_order_id = $1"
                          " RETURNING country_code"
                        : "UPDATE %s SET tv_outcome = $2, updated_at = now()"
                          " WHERE sales_order_id = $1 RETURNING country_code",
                what == SAL_STATUS ? 3 : 2, q, &rows)) {
        r = SY_RETRY;
        goto out;
    }
    char country[SAL_TEXT_LEN] = "";
    if (a->dom.api->rows_count(rows) == 1)
        snprintf(country, sizeof country, "%s", a->dom.api->rows_value(rows, 0, 0));
    a->dom.api->rows_free(rows);
    if (!country[0]) {
        a->dom.api->log(a->dom.self, ctx, SY_LOG_WARN,
                        "%s for %s order %s, which this adapter never received;"
                        " not sent", ev->type, sys->source_system, ext);
        sal_metric(&s, "outbound_unknown_order");
        goto out;
    }

    json_t *out;
    const char *type;
    if (what == SAL_STATUS) {
        type = sys->status_type;
        out = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?}", sys->id_field, ext,
                        "country_code", country, "fsm_service_order_id", fsm_id,
                        "status", status, "scheduled_date",
                        json_object_get(p, "scheduled_date"), "provider_name",
                        json_object_get(p, "provider_name"));
    } else {
        type = sys->tv_type;
        const char *action = strcmp(outcome, "YES_BUT") == 0 ? "REPRICE"
                             : strcmp(outcome, "NO") == 0    ? "CANCEL_AND_REFUND"
                                                             : "NONE";
        out = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?}", sys->id_field, ext,
                        "country_code", country, "tv_outcome", outcome, "action",
                        action, "modifications", json_object_get(p, "modifications"),
                        "cancellation_reason",
                        json_object_get(p, "cancellation_reason"));
    }
    char key[DOM_KEY_LEN];
    if (dom_emit_to(&s.c, type, a->topic, dom_key(key, country, ext), ext, out))
        r = SY_RETRY;
    else
        sal_metric(&s, "outbound_sent");
out:
    json_decref(p);
    return r;
}

#endif
