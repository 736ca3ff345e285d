/*
 * test_sales_example — the adapter's handlers against a fake host API: no
 * Kafka, no PostgreSQL.  The fake records what the plugin emits and keeps
 * the order table as a list of ids, so each test can say "this event in,
 * these events out, this answer".  It includes the plugin's source to
 * reach its static handlers.
 *
 * What this cannot show (transactions, the inbox, retries, the DLQ, the
 * real SQL): run the plugin in `switchyard dev` for that; see
 * docs/plugin-guide.md.
 */
#include "sales_example.c"

#include <stdarg.h>

/* --- the fake host ------------------------------------------------------ */

#define MAX_EMITS 8
#define MAX_ORDERS 16

static struct {
    char emitted_type[MAX_EMITS][128];
    char emitted_payload[MAX_EMITS][1024];
    char emitted_key[MAX_EMITS][256];
    int n_emits;
    char orders[MAX_ORDERS][64];
    int n_orders;
    int fail_sql, fail_emit;
} fake;

struct sy_rows {
    size_t n;
};

static int fake_emit(sy_ctx *ctx, const sy_emit *ev, char *err, size_t errlen)
{
    (void)ctx;
    if (fake.fail_emit || fake.n_emits == MAX_EMITS) {
        snprintf(err, errlen, "fake: emit refused");
        return -1;
    }
    snprintf(fake.emitted_type[fake.n_emits], 128, "%s", ev->type);
    snprintf(fake.emitted_payload[fake.n_emits], 1024, "%s", ev->payload);
    snprintf(fake.emitted_key[fake.n_emits], 256, "%s", ev->key ? ev->key : "");
    fake.n_emits++;
    return 0;
}

/* Understands the one INSERT ... RETURNING the plugin runs. */
static int fake_sql(sy_ctx *ctx, const char *sql, int nparams,
                    const char *const *params, sy_rows **rows, char *err,
                    size_t errlen)
{
    (void)ctx;
    (void)sql;
    if (fake.fail_sql || nparams < 1) {
        snprintf(err, errlen, "fake: connection lost");
        return -1;
    }
    sy_rows *r = calloc(1, sizeof *r);
    int known = 0;
    for (int i = 0; i < fake.n_orders; i++)
        known |= strcmp(fake.orders[i], params[0]) == 0;
    if (!known && fake.n_orders < MAX_ORDERS) {
        snprintf(fake.orders[fake.n_orders++], 64, "%s", params[0]);
        r->n = 1;
    }
    if (rows)
        *rows = r;
    else
        free(r);
    return 0;
}

static size_t fake_rows_count(const sy_rows *r) { return r ? r->n : 0; }
static const char *fake_rows_value(const sy_rows *r, size_t row, size_t col)
{
    (void)r;
    (void)row;
    (void)col;
    return NULL;
}
static void fake_rows_free(sy_rows *r) { free(r); }

static const char *fake_config_get(const sy_plugin *self, const char *key)
{
    (void)self;
    if (strcmp(key, "tv_service_types") == 0)
        return "heat_pump,solar_panels";
    return NULL;
}

static void fake_log(const sy_plugin *self, const sy_ctx *ctx, sy_log_level l,
                     const char *fmt, ...)
{
    (void)self;
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  plugin log %d: ", (int)l);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void fake_metric(const sy_plugin *self, const char *name, double v)
{
    (void)self;
    (void)name;
    (void)v;
}

static const sy_host_api fake_api = {
    .size = sizeof(sy_host_api),
    .abi_major = SY_ABI_MAJOR,
    .abi_minor = SY_ABI_MINOR,
    .emit = fake_emit,
    .sql = fake_sql,
    .rows_count = fake_rows_count,
    .rows_value = fake_rows_value,
    .rows_free = fake_rows_free,
    .config_get = fake_config_get,
    .log = fake_log,
    .metric_add = fake_metric,
};

/* --- the tests ---------------------------------------------------------- */

static int failures;
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static sy_result deliver(void *state, const char *id, const char *payload)
{
    sy_event ev = {.size = sizeof ev, .id = id,
                   .type = "sales.example.order.created",
                   .source = "example", .key = "FR_A-1",
                   .payload = payload, .payload_len = strlen(payload)};
    /* Dispatch the way the host does: by the descriptor's subscriptions. */
    return sy_plugin_descriptor.subscriptions[0].handler(NULL, &ev, state);
}

static const char *order =
    "{\"order_id\":\"A-1\",\"customer_id\":\"C-9\",\"country_code\":\"FR\","
    "\"event_timestamp\":1700000000000,\"services\":["
    "{\"service_type\":\"heat_pump\"},{\"service_type\":\"boiler\"}]}";

int main(void)
{
    void *state = NULL;
    char err[256];
    CHECK(sy_plugin_descriptor.init(NULL, &fake_api, &state, err,
                                    sizeof err) == 0);

    /* A new order: recorded, one canonical event out, keyed per order. */
    CHECK(deliver(state, "ev-1", order) == SY_OK);
    CHECK(fake.n_emits == 1);
    CHECK(strcmp(fake.emitted_type[0], OUT_TYPE) == 0);
    CHECK(strcmp(fake.emitted_key[0], "FR_A-1") == 0);
    json_t *p = json_loads(fake.emitted_payload[0], 0, NULL);
    CHECK(p != NULL);
    CHECK(strcmp(json_string_value(json_object_get(p, "sales_order_id")),
                 "A-1") == 0);
    json_t *svc = json_object_get(p, "services");
    CHECK(json_array_size(svc) == 2);
    CHECK(json_is_true(json_object_get(json_array_get(svc, 0),
                                       "requires_confirmation_tv")));
    CHECK(json_is_false(json_object_get(json_array_get(svc, 1),
                                        "requires_confirmation_tv")));
    json_decref(p);

    /* The same order again under another event id: OK, nothing emitted. */
    CHECK(deliver(state, "ev-2", order) == SY_OK);
    CHECK(fake.n_emits == 1);

    /* Malformed: rejected (to the DLQ), nothing emitted. */
    CHECK(deliver(state, "ev-3", "{\"order_id\":\"A-2\"}") == SY_REJECT);
    CHECK(deliver(state, "ev-4", "not json") == SY_REJECT);
    CHECK(fake.n_emits == 1);

    /* The database or the outbox failing: retried by the host. */
    fake.fail_sql = 1;
    CHECK(deliver(state, "ev-5", order) == SY_RETRY);
    fake.fail_sql = 0;
    fake.fail_emit = 1;
    CHECK(deliver(state, "ev-6",
                  "{\"order_id\":\"B-1\",\"customer_id\":\"C\",\"country_code"
                  "\":\"FR\",\"services\":[{\"service_type\":\"x\"}]}") ==
          SY_RETRY);

    sy_plugin_descriptor.fini(state);
    printf("%d failed\n", failures);
    return failures ? 1 : 0;
}
