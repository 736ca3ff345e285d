/*
 * sales_example — template of a sales-system adapter plugin.
 *
 * A sales system (here "example"; SAP, Pyxis, Tempo in real life) publishes
 * its orders in its own shape.  The adapter turns each one into the
 * canonical integration.sales.order_received event that the rest of the
 * platform consumes, and remembers which orders it has seen:
 *
 *   sales.example.order.created   ->  integration.sales.order_received
 *
 * What the host does for it (never the plugin's business): consume from
 * Kafka, skip events already handled (inbox), run the handler in a
 * PostgreSQL transaction, publish what it emits through the outbox only if
 * that transaction commits, retry SY_RETRY with backoff, send SY_REJECT and
 * exhausted retries to the dead-letter queue.
 *
 * Rename: sales_example -> sales_<system> here, in CMakeLists.txt, the .ini
 * and the test; then change parse_order() and the event types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <switchyard/sdk.h>

#define PLUGIN_NAME "sales_example"
#define PLUGIN_VERSION "0.1.0"
#define OUT_TYPE "integration.sales.order_received"
#define ERR_LEN 256

typedef struct adapter {
    sy_plugin *self;
    const sy_host_api *api;
    const char *source_system; /* [settings] source_system */
    const char *tv_types;      /* [settings] tv_service_types, "a,b,c" */
} adapter;

/* The plugin's own tables.  Entry i is version i+1 of its schema: append
 * new entries, never edit one that has shipped. */
static const char *const migrations[] = {
    "CREATE TABLE sales_example_order ("
    "  order_id      text PRIMARY KEY,"
    "  country_code  text NOT NULL,"
    "  source_event  text NOT NULL,"
    "  received_at   timestamptz NOT NULL DEFAULT now())",
    NULL,
};

static int init(sy_plugin *self, const sy_host_api *api, void **state,
                char *err, size_t errlen)
{
    adapter *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->self = self;
    a->api = api;
    a->source_system = api->config_get(self, "source_system");
    if (!a->source_system)
        a->source_system = "example";
    a->tv_types = api->config_get(self, "tv_service_types");
    if (!a->tv_types)
        a->tv_types = "";
    *state = a;
    return 0;
}

static void fini(void *state)
{
    free(state);
}

/* Is `type` one of the comma-separated `list`? */
static int in_list(const char *list, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, type, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/*
 * The sales system's order -> the canonical payload.  Returns NULL (with
 * why) when the order is malformed: that is permanent, the caller rejects.
 */
static json_t *parse_order(const adapter *a, const sy_event *ev, char *why,
                           size_t whylen)
{
    json_error_t jerr;
    json_t *in = json_loadb(ev->payload, ev->payload_len, 0, &jerr);
    if (!in) {
        snprintf(why, whylen, "payload is not JSON: %s", jerr.text);
        return NULL;
    }
    const char *order_id = NULL, *customer_id = NULL, *country = NULL;
    json_int_t ts = 0;
    json_t *services = NULL;
    if (json_unpack_ex(in, &jerr, 0, "{s:s, s:s, s:s, s:o, s?I}", "order_id",
                       &order_id, "customer_id", &customer_id, "country_code",
                       &country, "services", &services, "event_timestamp",
                       &ts) != 0 ||
        !json_is_array(services) || json_array_size(services) == 0) {
        snprintf(why, whylen, "not an order: %s",
                 jerr.text[0] ? jerr.text : "services must be a non-empty array");
        json_decref(in);
        return NULL;
    }
    json_t *out_services = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s)
    {
        const char *type = json_string_value(json_object_get(s, "service_type"));
        if (!type) {
            snprintf(why, whylen, "services[%zu] has no service_type", i);
            json_decref(out_services);
            json_decref(in);
            return NULL;
        }
        json_array_append_new(
            out_services,
            json_pack("{s:s, s:b}", "service_type", type,
                      "requires_confirmation_tv", in_list(a->tv_types, type)));
    }
    json_t *out = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "event_id", ev->id,
                            "event_timestamp", ts, "sales_order_id", order_id,
                            "customer_id", customer_id, "country_code", country,
                            "services", out_services);
    json_decref(in);
    return out;
}

static sy_result on_order_created(sy_ctx *ctx, const sy_event *ev, void *state)
{
    adapter *a = state;
    const sy_host_api *api = a->api;
    char err[ERR_LEN];

    json_t *order = parse_order(a, ev, err, sizeof err);
    if (!order) {
        api->log(a->self, ctx, SY_LOG_WARN, "order rejected: %s", err);
        return SY_REJECT; /* malformed: retrying cannot help */
    }
    const char *order_id =
        json_string_value(json_object_get(order, "sales_order_id"));
    const char *country =
        json_string_value(json_object_get(order, "country_code"));

    /* Same transaction as the inbox row and the outbox: if anything below
     * fails, none of it happened. */
    const char *params[] = {order_id, country, ev->id};
    sy_rows *rows = NULL;
    if (api->sql(ctx,
                 "INSERT INTO sales_example_order (order_id, country_code, "
                 "source_event) VALUES ($1, $2, $3) "
                 "ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
                 3, params, &rows, err, sizeof err) != 0) {
        api->log(a->self, ctx, SY_LOG_WARN, "cannot record order: %s", err);
        json_decref(order);
        return SY_RETRY; /* the database: transient, the host retries */
    }
    size_t inserted = api->rows_count(rows);
    api->rows_free(rows);
    if (inserted == 0) {
        /* The sales system sent the same order again under a new event id
         * (the host already drops exact redeliveries). */
        api->log(a->self, ctx, SY_LOG_INFO, "order %s already known", order_id);
        api->metric_add(a->self, "orders_duplicate", 1);
        json_decref(order);
        return SY_OK;
    }

    char *payload = json_dumps(order, JSON_COMPACT);
    char key[256];
    snprintf(key, sizeof key, "%s_%s", country, order_id);
    json_decref(order);
    if (!payload)
        return SY_RETRY;
    sy_emit out = SY_EMIT_INIT;
    out.type = OUT_TYPE;
    out.payload = payload;
    out.key = key;
    int rc = api->emit(ctx, &out, err, sizeof err);
    free(payload);
    if (rc != 0) {
        api->log(a->self, ctx, SY_LOG_WARN, "cannot emit: %s", err);
        return SY_RETRY;
    }
    api->metric_add(a->self, "orders_received", 1);
    return SY_OK;
}

static const sy_subscription subscriptions[] = {
    {"sales.example.order.created", on_order_created},
};

SY_PLUGIN_DESCRIPTOR(.name = PLUGIN_NAME, .version = PLUGIN_VERSION,
                     .subscriptions = subscriptions,
                     .n_subscriptions = SY_COUNT(subscriptions),
                     .migrations = migrations, .init = init, .fini = fini);
