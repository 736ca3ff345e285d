/*
 * demo.c — `switchyard dev --demo` (see demo.h).
 *
 * One loop on the caller's thread, every TICK_MS:
 *   1. read what came out on the topics (counts, payments, what the sales
 *      systems were told);
 *   2. look at the domain's tables (read only) and let each actor do its
 *      next step for each service order — at most once per step, since
 *      the tables show the step's effect only once the host handled it;
 *   3. every second, the progress view;
 * until every sales order is final or the time is up.
 *
 * The scenarios are a table: a sales system, a service, a TV outcome and
 * what else happens to the order.
 */
#include "demo.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "envelope.h"
#include "err.h"
#include "log.h"
#include "pattern.h"

#define TICK_MS 250
#define VIEW_EVERY_MS 1000
#define METADATA_EVERY_MS 1000
#define BROKER_TIMEOUT_MS 5000
#define FLUSH_TIMEOUT_MS 10000
#define POLL_BATCH 10000       /* messages read per tick at most */
#define MAX_VALUE (1u << 20)   /* the demo's events are small */
#define MAX_HEADERS 32
#define ID_LEN 96
#define WORD_LEN 32
#define VIEW_WIDTH 78
#define VIEW_INDENT 17         /* where the view's items start */
#define MS_PER_DAY 86400000LL
#define NEGOTIATED_DAYS 2      /* the provider proposes the offered date + 2 */
#define DEMO_CLIENT_ID "switchyard-demo"
/* librdkafka's consumer wants a group.id even for partitions it assigns
 * itself; the demo never subscribes or commits, so the group never forms. */
#define DEMO_GROUP "switchyard-demo"
#define DEMO_SOURCE "/switchyard/demo/"

/* ---- the scenarios ------------------------------------------------------ */

typedef enum tv_plan { TV_NONE, TV_YES, TV_YES_BUT, TV_NO } tv_plan;

static const char *const tv_name[] = {"", "YES", "YES_BUT", "NO"};

typedef struct scenario {
    bool tempo;          /* Tempo, else Pyxis */
    const char *country; /* FR or ES */
    const char *service; /* the sales system's service type */
    tv_plan tv;          /* TV_NONE: the service needs no technical visit */
    bool negotiate;      /* the installer proposes another date once */
    bool incomplete;     /* the first visit is checked out incomplete */
    bool update;         /* the sales system updates the order */
    bool cancel;         /* the customer cancels before anyone comes */
    const char *story;
} scenario;

/* INSTALLATION needs a technical visit first (conf.d's adapters' services
 * setting); REPAIR and MAINTENANCE do not. */
static const scenario scenarios[] = {
    {.country = "FR", .service = "INSTALLATION", .tv = TV_YES, .negotiate = true,
     .story = "installation; technical visit says YES; the installer"
              " proposes another date once"},
    {.country = "FR", .service = "INSTALLATION", .tv = TV_YES_BUT,
     .story = "installation; technical visit says YES_BUT (a wall to"
              " reinforce): repriced"},
    {.country = "FR", .service = "INSTALLATION", .tv = TV_NO,
     .story = "installation; technical visit says NO: cancelled and refunded"},
    {.country = "FR", .service = "REPAIR", .update = true, .incomplete = true,
     .story = "repair, no technical visit; Pyxis updates the order; the"
              " first visit ends incomplete"},
    {.tempo = true, .country = "ES", .service = "MAINTENANCE",
     .story = "maintenance, no technical visit"},
    {.tempo = true, .country = "FR", .service = "INSTALLATION", .tv = TV_YES,
     .story = "installation; technical visit says YES"},
    {.tempo = true, .country = "FR", .service = "REPAIR", .cancel = true,
     .story = "repair; the customer cancels before anyone comes"},
};
#define N_SALES (sizeof scenarios / sizeof *scenarios)

static const struct {
    const char *country, *street, *city, *postal;
    double lat, lng;
} places[] = {
    {"FR", "1 rue de la Paix", "Paris", "75002", 48.8686, 2.3314},
    {"ES", "Calle de Alcala 42", "Madrid", "28014", 40.4189, -3.6969},
};

static const char *const customers[] = {
    "Ada Martin",  "Louis Bernard", "Chloe Petit", "Hugo Moreau",
    "Lucia Garcia", "Emma Laurent", "Noah Simon",
};

/* Tables of the plugins the demo needs, and the plugin that owns each. */
static const struct {
    const char *table, *plugin;
} needed[] = {
    {"orch_service_order", "orchestration"}, {"orch_status_history", "orchestration"},
    {"orch_task", "orchestration"},          {"asg_offer", "assignment"},
    {"exe_execution", "execution"},          {"ctr_wcf", "contracts"},
    {"ctr_contract", "contracts"},           {"erp_payment", "erp"},
    {"pyxis_order", "pyxis"},                {"tempo_request", "tempo"},
    {"yard_dead_letter", "the host"},
};

/* Service order states, in the order the view lists them. */
static const char *const statuses[] = {
    "BLOCKED", "READY_FOR_ASSIGNMENT", "ASSIGNED", "IN_PROGRESS",
    "COMPLETED", "CLOSED", "CANCELLED",
};

/* ---- state -------------------------------------------------------------- */

/* One service order: what the tables showed this tick, what the actors
 * did, what came back out. */
typedef struct order {
    char id[ID_LEN];
    bool is_tv;
    /* this tick's snapshot ("" / -1: no row) */
    char status[WORD_LEN];
    char offer[ID_LEN], offer_date[WORD_LEN];
    int offer_rounds;
    char exe[ID_LEN], exe_status[WORD_LEN], exe_team[ID_LEN];
    int exe_visits, exe_completed;
    char wcf[ID_LEN]; /* awaiting a signature */
    /* the actors */
    char proposed[ID_LEN], accepted[ID_LEN]; /* offers answered */
    int checkins, checkouts;
    bool tv_sent, wcf_signed;
    char last[128]; /* the last thing an actor did */
    /* integration.erp.payment_ready */
    bool paid;
    double amount;
    char currency[WORD_LEN], provider[ID_LEN];
} order;

typedef struct sale {
    const scenario *sc;
    char id[ID_LEN], project[ID_LEN];
    order orders[2]; /* [0] the service; [1] its TV when it has one */
    size_t n_orders;
    /* the adapter's table */
    char adapter_status[WORD_LEN];
    int version;
    char contract[ID_LEN]; /* ready for the customer's signature */
    bool update_sent, cancel_sent, contract_signed;
    /* what came back out */
    int told_status;
    char told_tv[WORD_LEN], told_action[WORD_LEN];
    bool cancel_seen;
    char failed[64];
    bool final;
} sale;

typedef struct topic_count {
    char *name;
    long count;
} topic_count;

typedef struct demo {
    const yard_demo_opts *o;
    FILE *out;
    char tag[8];
    sale sales[N_SALES];
    char orders_array[N_SALES * 2 * (ID_LEN + 1) + 4]; /* {a,b,...} */
    char sales_array[N_SALES * (ID_LEN + 1) + 4];
    char projects_array[N_SALES * (ID_LEN + 1) + 4];
    PGconn *db;
    rd_kafka_t *producer, *consumer;
    unsigned sent;
    long delivery_failures;
    char delivery_error[256];
    topic_count *topics;
    size_t n_topics, cap_topics;
    long long dead_letters, start_ms;
    char since[64]; /* the database's now() at the start: dead letters after it */
    char *last_view;
} demo;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static const char *system_name(const sale *s)
{
    return s->sc->tempo ? "Tempo" : "Pyxis";
}

/* ---- topics for the embedded cluster ------------------------------------ */

/* "a.b.c.v1.avsc" -> "a.b.c"; false for other names. */
static bool schema_type(const char *file, char *type, size_t len)
{
    size_t n = strlen(file);
    if (n < 9 || strcmp(file + n - 5, ".avsc") != 0)
        return false;
    const char *v = file + n - 5;
    while (v > file && v[-1] >= '0' && v[-1] <= '9')
        v--;
    if (v == file + n - 5 || v - file < 3 || v[-1] != 'v' || v[-2] != '.')
        return false;
    size_t tn = (size_t)(v - 2 - file);
    if (tn >= len)
        return false;
    memcpy(type, file, tn);
    type[tn] = '\0';
    return true;
}

int yard_demo_create_topics(yard_mock *mock, const yard_config *cfg, char *err,
                            size_t errlen)
{
    int rc = 0;
    DIR *dir = opendir(cfg->schema_dir);
    if (!dir)
        return yard_errf(err, errlen, YARD_EIO, "schema_dir %s: %s",
                         cfg->schema_dir, strerror(errno));
    struct dirent *e;
    char type[256], why[512];
    while ((e = readdir(dir))) {
        if (!schema_type(e->d_name, type, sizeof type))
            continue;
        int r = yard_mock_topic_create(mock, yard_topic_for_type(cfg, type), 1,
                                       why, sizeof why);
        if (r && !rc)
            rc = yard_errf(err, errlen, r, "%s", why);
    }
    closedir(dir);
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const yard_plugin_conf *p = &cfg->plugins[i];
        if (!p->enabled || !p->dlq_topic)
            continue;
        int r = yard_mock_topic_create(mock, p->dlq_topic, 1, why, sizeof why);
        if (r && !rc)
            rc = yard_errf(err, errlen, r, "%s", why);
    }
    return rc;
}

/* ---- Kafka: the producer ------------------------------------------------ */

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    (void)rk;
    (void)level;
    yard_log(YARD_LOG_DEBUG, "librdkafka (demo)", "facility", fac, "detail", buf,
             NULL);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    demo *d = opaque;
    if (!m->err)
        return;
    if (d->delivery_failures++ == 0)
        copy(d->delivery_error, sizeof d->delivery_error, rd_kafka_err2str(m->err));
}

static rd_kafka_t *client_new(demo *d, rd_kafka_type_t type,
                              const char *const *props, char *err, size_t errlen)
{
    char why[512];
    const char *brokers = yard_config_kafka(d->o->cfg, "bootstrap.servers");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_opaque(conf, d);
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers ? brokers : "", why,
                          sizeof why) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", DEMO_CLIENT_ID, why, sizeof why) !=
            RD_KAFKA_CONF_OK)
        goto bad;
    for (size_t i = 0; props[i]; i += 2)
        if (rd_kafka_conf_set(conf, props[i], props[i + 1], why, sizeof why) !=
            RD_KAFKA_CONF_OK)
            goto bad;
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (rk)
        return rk; /* it owns conf now */
    rd_kafka_conf_destroy(conf);
    yard_errf(err, errlen, YARD_EKAFKA, "Kafka client: %s", why);
    return NULL;
bad:
    rd_kafka_conf_destroy(conf);
    yard_errf(err, errlen, YARD_EKAFKA, "Kafka client settings: %s", why);
    return NULL;
}

/* Send `type` as `actor` with the members of `members` (stolen) after
 * event_id and event_timestamp; queued, delivered in the background. */
static void send_event(demo *d, const char *type, const char *key,
                       const char *actor, json_t *members)
{
    char id[64], source[64];
    snprintf(id, sizeof id, "demo-%s-%04u", d->tag, ++d->sent);
    snprintf(source, sizeof source, DEMO_SOURCE "%s", actor);
    json_t *ev = json_pack("{s:s, s:I}", "event_id", id, "event_timestamp",
                           (json_int_t)now_ms());
    json_object_update(ev, members);
    json_decref(members);
    char *value = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    json_t *pairs = yard_envelope_headers(id, type, source, key, NULL, NULL);
    rd_kafka_headers_t *h = rd_kafka_headers_new(MAX_HEADERS);
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) {
        const char *name = json_string_value(json_array_get(p, 0));
        const char *v = json_string_value(json_array_get(p, 1));
        if (name && v)
            rd_kafka_header_add(h, name, -1, v, -1);
    }
    json_decref(pairs);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;
    if (value)
        e = rd_kafka_producev(
            d->producer, RD_KAFKA_V_TOPIC(yard_topic_for_type(d->o->cfg, type)),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        if (d->delivery_failures++ == 0)
            snprintf(d->delivery_error, sizeof d->delivery_error, "%s: %s", type,
                     value ? rd_kafka_err2str(e) : "out of memory");
    }
    free(value);
}

/* ---- Kafka: the consumer ------------------------------------------------ */

static topic_count *topic_find(demo *d, const char *name)
{
    for (size_t i = 0; i < d->n_topics; i++)
        if (strcmp(d->topics[i].name, name) == 0)
            return &d->topics[i];
    return NULL;
}

static int topic_cmp(const void *a, const void *b)
{
    return strcmp(((const topic_count *)a)->name, ((const topic_count *)b)->name);
}

/* Assign every partition of topics not seen before, from the beginning:
 * the cluster is the demo's own, so everything on it is the demo's. */
static void assign_new_topics(demo *d)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(d->consumer, 1, NULL, &md, BROKER_TIMEOUT_MS))
        return; /* next time */
    rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(8);
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (mt->err || mt->partition_cnt < 1 || strncmp(mt->topic, "__", 2) == 0 ||
            topic_find(d, mt->topic))
            continue;
        if (d->n_topics == d->cap_topics) {
            size_t cap = d->cap_topics ? d->cap_topics * 2 : 64;
            topic_count *grown = realloc(d->topics, cap * sizeof *grown);
            if (!grown)
                break;
            d->topics = grown;
            d->cap_topics = cap;
        }
        char *name = strdup(mt->topic);
        if (!name)
            break;
        d->topics[d->n_topics++] = (topic_count){name, 0};
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(add, mt->topic, mt->partitions[p].id)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_metadata_destroy(md);
    if (add->cnt) {
        qsort(d->topics, d->n_topics, sizeof *d->topics, topic_cmp);
        rd_kafka_error_t *e = rd_kafka_incremental_assign(d->consumer, add);
        if (e) {
            yard_log(YARD_LOG_WARN, "demo: cannot read topics", "error",
                     rd_kafka_error_string(e), NULL);
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(add);
}

static sale *sale_by_id(demo *d, const char *id)
{
    for (size_t i = 0; id && i < N_SALES; i++)
        if (strcmp(d->sales[i].id, id) == 0)
            return &d->sales[i];
    return NULL;
}

static order *order_by_id(demo *d, const char *id)
{
    for (size_t i = 0; id && i < N_SALES; i++)
        for (size_t k = 0; k < d->sales[i].n_orders; k++)
            if (strcmp(d->sales[i].orders[k].id, id) == 0)
                return &d->sales[i].orders[k];
    return NULL;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* What comes back out to the outside world. */
static void observe(demo *d, const char *type, const json_t *p)
{
    if (strcmp(type, "integration.erp.payment_ready") == 0) {
        order *o = order_by_id(d, str(p, "service_order_id"));
        const json_t *amount = json_object_get(p, "amount");
        if (o) {
            o->paid = true;
            o->amount = json_number_value(json_object_get(amount, "value"));
            copy(o->currency, sizeof o->currency, str(amount, "currency"));
            copy(o->provider, sizeof o->provider, str(p, "provider_id"));
        }
    } else if (strcmp(type, "integration.pyxis.order.status_updated") == 0 ||
               strcmp(type, "integration.tempo.service.status_updated") == 0) {
        sale *s = sale_by_id(d, str(p, "pyxis_order_id"));
        if (!s)
            s = sale_by_id(d, str(p, "tempo_request_id"));
        if (s)
            s->told_status++;
    } else if (strcmp(type, "integration.pyxis.order.tv_outcome_recorded") == 0 ||
               strcmp(type, "integration.tempo.service.tv_outcome_recorded") == 0) {
        sale *s = sale_by_id(d, str(p, "pyxis_order_id"));
        if (!s)
            s = sale_by_id(d, str(p, "tempo_request_id"));
        if (s) {
            copy(s->told_tv, sizeof s->told_tv, str(p, "tv_outcome"));
            copy(s->told_action, sizeof s->told_action, str(p, "action"));
        }
    } else if (strcmp(type, "integration.sales.order_cancelled") == 0) {
        sale *s = sale_by_id(d, str(p, "sales_order_id"));
        if (s)
            s->cancel_seen = true;
    } else if (strcmp(type, "integration.sales.order.failed") == 0) {
        sale *s = sale_by_id(d, str(p, "external_order_id"));
        if (s)
            copy(s->failed, sizeof s->failed, str(p, "error_code"));
    }
}

static void read_message(demo *d, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    topic_count *tc = topic_find(d, topic);
    if (tc)
        tc->count++;
    yard_header hs[MAX_HEADERS];
    size_t n = 0;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *v;
        size_t len;
        while (n < MAX_HEADERS &&
               rd_kafka_header_get_all(h, n, &name, &v, &len) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR) {
            hs[n] = (yard_header){name, v, len};
            n++;
        }
    }
    yard_wire_msg w = {.topic = topic, .partition = m->partition,
                       .offset = m->offset, .key = m->key, .key_len = m->key_len,
                       .value = m->payload, .value_len = m->len, .headers = hs,
                       .n_headers = n};
    yard_envelope env;
    yard_decode_error why;
    if (yard_envelope_decode(&w, MAX_VALUE, &env, &why) != 0)
        return; /* counted; a dead letter's value need not decode */
    json_t *p = json_loadb(env.ev.payload, env.ev.payload_len, 0, NULL);
    if (p)
        observe(d, env.ev.type, p);
    json_decref(p);
    yard_envelope_clear(&env);
}

static void read_topics(demo *d)
{
    for (int i = 0; i < POLL_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, 0);
        if (!m)
            return;
        if (!m->err && m->rkt)
            read_message(d, m);
        rd_kafka_message_destroy(m);
    }
}

/* ---- the outside world's events ----------------------------------------- */

static int place_of(const char *country)
{
    return strcmp(country, "ES") == 0 ? 1 : 0;
}

static json_t *customer(const demo *d, const sale *s, const char *phone)
{
    size_t i = (size_t)(s - d->sales);
    char cid[ID_LEN + 8], email[64];
    snprintf(cid, sizeof cid, "CUST-%s", s->id);
    snprintf(email, sizeof email, "customer%zu@example.com", i + 1);
    return json_pack("{s:s, s:s, s:s, s:s}", "customer_id", cid, "name",
                     customers[i % (sizeof customers / sizeof *customers)],
                     "email", email, "phone", phone);
}

static json_t *address(const sale *s)
{
    int k = place_of(s->sc->country);
    return json_pack("{s:s, s:s, s:s, s:s}", "street", places[k].street, "city",
                     places[k].city, "postal_code", places[k].postal, "country",
                     places[k].country);
}

/* raw_payload: the sales system's own document, as a JSON string; `rev`
 * tells one version from the next. */
static char *raw(const sale *s, const char *what, int rev)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", s->sc->tempo ? "request" : "order",
                          s->id, "event", what, "rev", rev);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return txt;
}

static void sales_key(const sale *s, char *key, size_t len)
{
    snprintf(key, len, "%s_%s", s->sc->country, s->id);
}

static void send_created(demo *d, sale *s)
{
    char key[ID_LEN + 8];
    sales_key(s, key, sizeof key);
    char *r = raw(s, "created", 1);
    if (s->sc->tempo)
        send_event(d, "sales.tempo.service.requested", key, "tempo",
                   json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s}",
                             "tempo_request_id", s->id, "sales_channel",
                             "CALL_CENTER", "country_code", s->sc->country,
                             "bu_code", "AHS", "customer",
                             customer(d, s, "+33100000001"), "service_type",
                             s->sc->service, "address", address(s),
                             "raw_payload", r ? r : "{}"));
    else
        send_event(d, "sales.pyxis.order.created", key, "pyxis",
                   json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:[{s:s, s:i, s:s}],"
                             " s:o, s:s}",
                             "pyxis_order_id", s->id, "sales_channel", "STORE",
                             "country_code", s->sc->country, "bu_code", "AHS",
                             "store_id", "S-12", "customer",
                             customer(d, s, "+33100000001"), "products",
                             "product_id", "HP-300", "quantity", 1,
                             "service_type", s->sc->service, "address",
                             address(s), "raw_payload", r ? r : "{}"));
    free(r);
}

/* Pyxis: the customer gave another phone number. */
static void send_update(demo *d, sale *s)
{
    char key[ID_LEN + 8];
    sales_key(s, key, sizeof key);
    char *r = raw(s, "updated", 2);
    send_event(d, "sales.pyxis.order.updated", key, "pyxis",
               json_pack("{s:s, s:s, s:s, s:s, s:o, s:n, s:n, s:s}",
                         "pyxis_order_id", s->id, "sales_channel", "WEB",
                         "country_code", s->sc->country, "bu_code", "AHS",
                         "customer", customer(d, s, "+33100000002"), "address",
                         "products", "raw_payload", r ? r : "{}"));
    free(r);
    s->update_sent = true;
}

static void send_cancel(demo *d, sale *s)
{
    char key[ID_LEN + 8];
    sales_key(s, key, sizeof key);
    char *r = raw(s, "cancelled", 2);
    send_event(d, s->sc->tempo ? "sales.tempo.service.cancelled"
                               : "sales.pyxis.order.cancelled",
               key, s->sc->tempo ? "tempo" : "pyxis",
               json_pack("{s:s, s:s, s:s, s:s, s:s}",
                         s->sc->tempo ? "tempo_request_id" : "pyxis_order_id",
                         s->id, "country_code", s->sc->country, "bu_code", "AHS",
                         "cancellation_reason", "customer withdrew",
                         "raw_payload", r ? r : "{}"));
    free(r);
    s->cancel_sent = true;
}

static void note(order *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(order *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->last, sizeof o->last, fmt, ap);
    va_end(ap);
}

/* "YYYY-MM-DD" + days; false when it is not a date. */
static bool add_days(const char *date, int days, char *out, size_t len)
{
    struct tm tm = {0};
    if (sscanf(date, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm) + (time_t)days * (MS_PER_DAY / 1000);
    gmtime_r(&t, &tm);
    return strftime(out, len, "%Y-%m-%d", &tm) > 0;
}

/* The provider answers an open offer. */
static void provider_acts(demo *d, const sale *s, order *o)
{
    if (!o->offer[0])
        return;
    bool negotiate = s->sc->negotiate && !o->is_tv;
    if (negotiate && o->offer_rounds == 0) {
        char date[WORD_LEN];
        if (strcmp(o->proposed, o->offer) == 0 ||
            !add_days(o->offer_date, NEGOTIATED_DAYS, date, sizeof date))
            return;
        send_event(d, "assignments.offer.responded", o->offer, "provider",
                   json_pack("{s:s, s:s, s:s}", "offer_id", o->offer, "response",
                             "DATE_PROPOSED", "proposed_date", date));
        copy(o->proposed, sizeof o->proposed, o->offer);
        note(o, "the provider proposed %s instead of %s", date, o->offer_date);
        return;
    }
    if (strcmp(o->accepted, o->offer) == 0)
        return;
    send_event(d, "assignments.offer.responded", o->offer, "provider",
               json_pack("{s:s, s:s, s:n}", "offer_id", o->offer, "response",
                         "ACCEPTED", "proposed_date"));
    copy(o->accepted, sizeof o->accepted, o->offer);
    note(o, "the provider accepted offer %s", o->offer);
}

/* The technician on the job: check in, report the TV outcome, check out. */
static void technician_acts(demo *d, const sale *s, order *o)
{
    if (!o->exe[0] || o->exe_visits != o->checkins)
        return; /* not scheduled yet, or the last report not handled yet */
    int k = place_of(s->sc->country);
    bool back = strcmp(o->exe_status, "CHECKED_OUT") == 0 && o->exe_completed == 0;
    if (strcmp(o->status, "ASSIGNED") == 0 && o->checkouts == o->checkins &&
        (strcmp(o->exe_status, "SCHEDULED") == 0 || back)) {
        send_event(d, "mobile.checkin.submitted", o->id, "technician",
                   json_pack("{s:s, s:s, s:s, s:I, s:{s:f, s:f}}", "execution_id",
                             o->exe, "service_order_id", o->id, "team_id",
                             o->exe_team, "checked_in_at", (json_int_t)now_ms(),
                             "gps", "lat", places[k].lat, "lng", places[k].lng));
        o->checkins++;
        note(o, "team %s checked in (visit %d)", o->exe_team, o->checkins);
        return;
    }
    if (strcmp(o->status, "IN_PROGRESS") != 0 ||
        strcmp(o->exe_status, "CHECKED_IN") != 0 || o->checkouts >= o->checkins)
        return;
    if (o->is_tv && !o->tv_sent) {
        tv_plan tv = s->sc->tv;
        json_t *mods = tv == TV_YES_BUT
                           ? json_pack("[{s:s, s:i}]", "description",
                                       "reinforce the wall before mounting the unit",
                                       "extra_duration_min", 60)
                           : json_null();
        send_event(d, "mobile.tv_outcome.submitted", o->id, "technician",
                   json_pack("{s:s, s:s, s:s, s:o, s:s}", "tv_service_order_id",
                             o->id, "linked_installation_order_id",
                             s->orders[0].id, "outcome", tv_name[tv],
                             "modifications", mods, "recorded_by", o->exe_team));
        o->tv_sent = true;
    }
    bool done = !(s->sc->incomplete && o->checkins == 1);
    send_event(d, "mobile.checkout.submitted", o->id, "technician",
               json_pack("{s:s, s:s, s:s, s:I, s:b, s:s?}", "execution_id", o->exe,
                         "service_order_id", o->id, "team_id", o->exe_team,
                         "checked_out_at", (json_int_t)now_ms(), "completed", done,
                         "incompletion_reason", done ? NULL : "a part is missing"));
    o->checkouts++;
    note(o, "team %s checked out%s%s", o->exe_team, done ? "" : " incomplete",
         o->is_tv ? " after reporting the TV outcome" : "");
}

static void esign(demo *d, const char *doc_type, const char *doc)
{
    send_event(d, "integration.esign.contract_signed", doc, "esign",
               json_pack("{s:s, s:s, s:b, s:I}", "document_type", doc_type,
                         "document_id", doc, "customer_accepted", 1, "signed_at",
                         (json_int_t)now_ms()));
}

/* The customer signs the work closing form of a completed order. */
static void customer_acts(demo *d, order *o)
{
    if (strcmp(o->status, "COMPLETED") != 0 || !o->wcf[0] || o->wcf_signed)
        return;
    esign(d, "WCF", o->wcf);
    o->wcf_signed = true;
    note(o, "the customer signed %s", o->wcf);
}

static void act(demo *d)
{
    for (size_t i = 0; i < N_SALES; i++) {
        sale *s = &d->sales[i];
        if (s->version >= 1 && s->sc->update && !s->update_sent)
            send_update(d, s);
        if (s->version >= 1 && s->sc->cancel && !s->cancel_sent)
            send_cancel(d, s);
        if (s->sc->cancel)
            continue; /* nobody comes, nothing to sign */
        if (s->contract[0] && !s->contract_signed) {
            esign(d, "CONTRACT", s->contract);
            s->contract_signed = true;
        }
        for (size_t k = 0; k < s->n_orders; k++) {
            provider_acts(d, s, &s->orders[k]);
            technician_acts(d, s, &s->orders[k]);
            customer_acts(d, &s->orders[k]);
        }
    }
    rd_kafka_poll(d->producer, 0);
}

/* ---- the tables --------------------------------------------------------- */

static PGresult *query(demo *d, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(d->db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    yard_log(YARD_LOG_WARN, "demo: query failed", "error",
             PQresultErrorMessage(r), NULL);
    PQclear(r);
    if (PQstatus(d->db) != CONNECTION_OK)
        PQreset(d->db);
    return NULL;
}

static const char *val(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

/* This tick's view of the tables.  False when a query failed (the tick
 * does nothing). */
static bool snapshot(demo *d)
{
    const char *op[] = {d->orders_array}, *sp[] = {d->sales_array},
               *pp[] = {d->projects_array};
    PGresult *orders = query(d, "SELECT service_order_id, status FROM"
                                " orch_service_order WHERE service_order_id ="
                                " ANY($1::text[])", 1, op);
    PGresult *offers = query(d, "SELECT service_order_id, offer_id, rounds,"
                                " offered_date::text FROM asg_offer WHERE"
                                " service_order_id = ANY($1::text[]) AND"
                                " status = 'OFFERED'", 1, op);
    PGresult *exes = query(d, "SELECT service_order_id, execution_id, status,"
                              " team_id, visits, completed FROM exe_execution"
                              " WHERE service_order_id = ANY($1::text[])", 1, op);
    PGresult *wcfs = query(d, "SELECT service_order_id, wcf_id FROM ctr_wcf"
                              " WHERE service_order_id = ANY($1::text[]) AND"
                              " status = 'PENDING_SIGNATURE'", 1, op);
    /* A contract is ready once it lists every order of its project. */
    PGresult *contracts = query(
        d, "SELECT k.project_id, k.contract_id FROM ctr_contract k WHERE"
           " k.project_id = ANY($1::text[]) AND k.status = 'PENDING_SIGNATURE'"
           " AND (SELECT count(*) FROM ctr_contract_order c WHERE c.contract_id ="
           " k.contract_id) = (SELECT count(*) FROM orch_service_order s WHERE"
           " s.project_id = k.project_id)", 1, pp);
    PGresult *adapters = query(d, "SELECT sales_order_id, status, version FROM"
                                  " pyxis_order WHERE sales_order_id ="
                                  " ANY($1::text[]) UNION ALL SELECT"
                                  " sales_order_id, status, version FROM"
                                  " tempo_request WHERE sales_order_id ="
                                  " ANY($1::text[])", 1, sp);
    const char *dp[] = {d->since};
    PGresult *dlq = query(d, "SELECT count(*) FROM yard_dead_letter WHERE"
                             " failed_at >= $1::timestamptz", 1, dp);
    bool ok = orders && offers && exes && wcfs && contracts && adapters && dlq;
    if (ok) {
        for (size_t i = 0; i < N_SALES; i++) {
            sale *s = &d->sales[i];
            s->adapter_status[0] = s->contract[0] = '\0';
            s->version = 0;
            for (size_t k = 0; k < s->n_orders; k++) {
                order *o = &s->orders[k];
                o->status[0] = o->offer[0] = o->exe[0] = o->wcf[0] = '\0';
                o->exe_status[0] = '\0';
            }
        }
        for (int r = 0; r < PQntuples(orders); r++) {
            order *o = order_by_id(d, val(orders, r, 0));
            if (o)
                copy(o->status, sizeof o->status, val(orders, r, 1));
        }
        for (int r = 0; r < PQntuples(offers); r++) {
            order *o = order_by_id(d, val(offers, r, 0));
            if (!o)
                continue;
            copy(o->offer, sizeof o->offer, val(offers, r, 1));
            o->offer_rounds = atoi(val(offers, r, 2));
            copy(o->offer_date, sizeof o->offer_date, val(offers, r, 3));
        }
        for (int r = 0; r < PQntuples(exes); r++) {
            order *o = order_by_id(d, val(exes, r, 0));
            if (!o)
                continue;
            copy(o->exe, sizeof o->exe, val(exes, r, 1));
            copy(o->exe_status, sizeof o->exe_status, val(exes, r, 2));
            copy(o->exe_team, sizeof o->exe_team, val(exes, r, 3));
            o->exe_visits = atoi(val(exes, r, 4));
            const char *c = val(exes, r, 5);
            o->exe_completed = *c ? *c == 't' : -1;
        }
        for (int r = 0; r < PQntuples(wcfs); r++) {
            order *o = order_by_id(d, val(wcfs, r, 0));
            if (o)
                copy(o->wcf, sizeof o->wcf, val(wcfs, r, 1));
        }
        for (int r = 0; r < PQntuples(contracts); r++)
            for (size_t i = 0; i < N_SALES; i++)
                if (strcmp(d->sales[i].project, val(contracts, r, 0)) == 0)
                    copy(d->sales[i].contract, sizeof d->sales[i].contract,
                         val(contracts, r, 1));
        for (int r = 0; r < PQntuples(adapters); r++) {
            sale *s = sale_by_id(d, val(adapters, r, 0));
            if (!s)
                continue;
            copy(s->adapter_status, sizeof s->adapter_status, val(adapters, r, 1));
            s->version = atoi(val(adapters, r, 2));
        }
        d->dead_letters = atoll(val(dlq, 0, 0));
    }
    PQclear(orders);
    PQclear(offers);
    PQclear(exes);
    PQclear(wcfs);
    PQclear(contracts);
    PQclear(adapters);
    PQclear(dlq);
    return ok;
}

/* ---- final states ------------------------------------------------------- */

/* Final: cancelled by its customer, announced, and every service order
 * CANCELLED; or every service order CLOSED and its provider payment
 * announced, except an installation whose TV said NO, CANCELLED; and a TV
 * outcome told to the sales system. */
static bool is_final(const sale *s)
{
    if (s->failed[0])
        return false;
    if (s->sc->cancel) {
        if (strcmp(s->adapter_status, "CANCELLED") != 0 || !s->cancel_seen)
            return false;
        for (size_t k = 0; k < s->n_orders; k++)
            if (strcmp(s->orders[k].status, "CANCELLED") != 0)
                return false;
        return true;
    }
    for (size_t k = 0; k < s->n_orders; k++) {
        const order *o = &s->orders[k];
        if (!o->is_tv && s->sc->tv == TV_NO) {
            if (strcmp(o->status, "CANCELLED") != 0)
                return false;
        } else if (strcmp(o->status, "CLOSED") != 0 || !o->paid) {
            return false;
        }
    }
    return s->sc->tv == TV_NONE || s->told_action[0];
}

static size_t count_final(demo *d)
{
    size_t n = 0;
    for (size_t i = 0; i < N_SALES; i++)
        n += d->sales[i].final = is_final(&d->sales[i]);
    return n;
}

/* ---- the progress view -------------------------------------------------- */

/* Append "item" to a line that wraps at VIEW_WIDTH under `indent`. */
static void wrap_item(FILE *f, int *col, int indent, const char *item)
{
    int n = (int)strlen(item);
    if (*col > indent && *col + 2 + n > VIEW_WIDTH) {
        fprintf(f, "\n%*s", indent, "");
        *col = indent;
    }
    if (*col > indent) {
        fputs("  ", f);
        *col += 2;
    }
    fputs(item, f);
    *col += n;
}

static void view_orders(demo *d, FILE *f)
{
    int col = fprintf(f, "  %-*s", VIEW_INDENT - 2, "service orders");
    const int indent = VIEW_INDENT;
    char item[64];
    size_t missing = 0;
    for (size_t st = 0; st < sizeof statuses / sizeof *statuses; st++) {
        size_t n = 0;
        for (size_t i = 0; i < N_SALES; i++)
            for (size_t k = 0; k < d->sales[i].n_orders; k++)
                n += strcmp(d->sales[i].orders[k].status, statuses[st]) == 0;
        if (!n)
            continue;
        snprintf(item, sizeof item, "%s %zu", statuses[st], n);
        wrap_item(f, &col, indent, item);
    }
    for (size_t i = 0; i < N_SALES; i++)
        for (size_t k = 0; k < d->sales[i].n_orders; k++)
            missing += !d->sales[i].orders[k].status[0];
    if (missing) {
        snprintf(item, sizeof item, "not created yet %zu", missing);
        wrap_item(f, &col, indent, item);
    }
    fputc('\n', f);
}

/* Topics with events, one line per first name part:
 *   projects     service_order.created 9  service_order.closed 4 ... */
static void view_events(demo *d, FILE *f)
{
    long total = 0;
    for (size_t i = 0; i < d->n_topics; i++)
        total += d->topics[i].count;
    fprintf(f, "  events%s\n", total ? "" : " (none yet)");
    for (size_t i = 0; i < d->n_topics;) {
        const char *name = d->topics[i].name;
        size_t plen = strcspn(name, ".");
        size_t j = i;
        int col = 0;
        bool any = false;
        for (; j < d->n_topics && strncmp(d->topics[j].name, name, plen) == 0 &&
               (d->topics[j].name[plen] == '.' || d->topics[j].name[plen] == '\0');
             j++) {
            const topic_count *t = &d->topics[j];
            if (!t->count)
                continue;
            if (!any) {
                col = fprintf(f, "    %-*.*s", VIEW_INDENT - 4, (int)plen, name);
                any = true;
            }
            char item[300];
            const char *rest = t->name[plen] ? t->name + plen + 1 : t->name;
            snprintf(item, sizeof item, "%s %ld", rest, t->count);
            wrap_item(f, &col, VIEW_INDENT, item);
        }
        if (any)
            fputc('\n', f);
        i = j > i ? j : i + 1;
    }
}

static void view(demo *d, size_t final, bool force)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f)
        return;
    fprintf(f, "%zu/%zu sales orders final, dead letters %lld\n", final, N_SALES,
            d->dead_letters);
    view_orders(d, f);
    view_events(d, f);
    fclose(f);
    if (force || !d->last_view || strcmp(body, d->last_view) != 0)
        fprintf(d->out, "[%6.1fs] %s", (double)(yard_mono_ms() - d->start_ms) / 1000.0,
                body);
    fflush(d->out);
    free(d->last_view);
    d->last_view = body;
}

/* ---- summary and what is stuck ------------------------------------------ */

static const char *service_line(const sale *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s, %s", system_name(s), s->sc->country, s->sc->story);
    return buf;
}

static void print_stuck(demo *d)
{
    fprintf(d->out, "\nnot final:\n");
    char line[256];
    for (size_t i = 0; i < N_SALES; i++) {
        const sale *s = &d->sales[i];
        if (s->final)
            continue;
        fprintf(d->out, "%s  %s\n", s->id, service_line(s, line, sizeof line));
        fprintf(d->out, "  %s: %s (version %d)%s%s\n", system_name(s),
                s->adapter_status[0] ? s->adapter_status : "no order recorded",
                s->version, s->failed[0] ? "; order failed: " : "", s->failed);
        for (size_t k = 0; k < s->n_orders; k++) {
            const order *o = &s->orders[k];
            fprintf(d->out, "  %-24s %s; offer %s%s; execution %s; WCF %s; %s\n",
                    o->id, o->status[0] ? o->status : "not created",
                    o->offer[0] ? o->offer : "none open",
                    o->offer[0] && o->offer_rounds ? " (renegotiated)" : "",
                    o->exe_status[0] ? o->exe_status : "none",
                    o->wcf[0] ? "awaiting signature" : "none pending",
                    o->paid ? "payment announced" : "no payment yet");
            if (o->last[0])
                fprintf(d->out, "  %-24s last step: %s\n", "", o->last);
        }
    }
}

static void print_summary(demo *d)
{
    const char *op[] = {d->orders_array}, *pp[] = {d->projects_array};
    PGresult *paths = query(d, "SELECT service_order_id, string_agg(new_status,"
                               " ' > ' ORDER BY id) FROM orch_status_history"
                               " WHERE service_order_id = ANY($1::text[])"
                               " GROUP BY 1", 1, op);
    PGresult *tasks = query(d, "SELECT service_order_id, string_agg(task_type,"
                               " ', ' ORDER BY created_at) FROM orch_task WHERE"
                               " service_order_id = ANY($1::text[]) GROUP BY 1",
                            1, op);
    PGresult *contracts = query(d, "SELECT project_id, contract_id, status FROM"
                                   " ctr_contract WHERE project_id ="
                                   " ANY($1::text[])", 1, pp);
    PGresult *rounds = query(d, "SELECT service_order_id, offer_id, rounds,"
                                " offered_date::text, status FROM asg_offer WHERE"
                                " service_order_id = ANY($1::text[]) AND rounds > 0",
                             1, op);
    char line[256];
    fprintf(d->out, "\nsummary\n");
    for (size_t i = 0; i < N_SALES; i++) {
        const sale *s = &d->sales[i];
        fprintf(d->out, "\n%s  %s\n", s->id, service_line(s, line, sizeof line));
        for (size_t n = s->n_orders; n-- > 0;) { /* the TV first */
            const order *o = &s->orders[n];
            const char *path = "";
            const char *task = "";
            for (int r = 0; paths && r < PQntuples(paths); r++)
                if (strcmp(val(paths, r, 0), o->id) == 0)
                    path = val(paths, r, 1);
            for (int r = 0; tasks && r < PQntuples(tasks); r++)
                if (strcmp(val(tasks, r, 0), o->id) == 0)
                    task = val(tasks, r, 1);
            fprintf(d->out, "  %s  %s\n", o->id, *path ? path : "(no history)");
            if (o->paid)
                fprintf(d->out, "      ERP payment ready: %.2f %s to %s\n", o->amount,
                        o->currency, o->provider);
            for (int r = 0; rounds && r < PQntuples(rounds); r++)
                if (strcmp(val(rounds, r, 0), o->id) == 0)
                    fprintf(d->out, "      offer %s: %s other date(s) proposed,"
                                    " %s for %s\n",
                            val(rounds, r, 1), val(rounds, r, 2), val(rounds, r, 4),
                            val(rounds, r, 3));
            if (*task)
                fprintf(d->out, "      operator task: %s\n", task);
        }
        for (int r = 0; contracts && r < PQntuples(contracts); r++)
            if (strcmp(val(contracts, r, 0), s->project) == 0)
                fprintf(d->out, "  contract %s: %s\n", val(contracts, r, 1),
                        val(contracts, r, 2));
        if (s->sc->update)
            fprintf(d->out, "  %s updated the order: version %d\n", system_name(s),
                    s->version);
        fprintf(d->out, "  %s told: %d status update(s)", system_name(s),
                s->told_status);
        if (s->told_tv[0])
            fprintf(d->out, "; TV outcome %s, action %s", s->told_tv,
                    s->told_action);
        fputc('\n', d->out);
        if (!s->final) {
            fprintf(d->out, "  not final (see above)\n");
        } else if (s->sc->cancel) {
            fprintf(d->out, "  final: CANCELLED by the customer (%s %s %s,"
                            " integration.sales.order_cancelled %s)\n",
                    system_name(s), s->sc->tempo ? "request" : "order",
                    s->adapter_status,
                    s->cancel_seen ? "sent" : "not seen");
            for (size_t k = 0; k < s->n_orders; k++)
                if (strcmp(s->orders[k].status, "CLOSED") != 0 &&
                    strcmp(s->orders[k].status, "CANCELLED") != 0)
                    fprintf(d->out, "  service order left open: %s %s\n",
                            s->orders[k].id, s->orders[k].status);
        } else if (s->sc->tv == TV_NO) {
            fprintf(d->out, "  final: installation %s, technical visit %s;"
                            " refund asked of %s\n",
                    s->orders[0].status, s->orders[1].status, system_name(s));
        } else {
            fprintf(d->out, "  final: %s\n", s->orders[0].status);
        }
    }
    PQclear(paths);
    PQclear(tasks);
    PQclear(contracts);
    PQclear(rounds);
}

/* ---- setup -------------------------------------------------------------- */

/* A run tag of 4 base-36 characters from the clock. */
static void make_tag(char tag[8])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned long t = (unsigned long)time(NULL);
    for (int i = 3; i >= 0; i--) {
        tag[i] = digits[t % 36];
        t /= 36;
    }
    tag[4] = '\0';
}

static void append_id(char *arr, size_t len, const char *id)
{
    size_t n = strlen(arr);
    snprintf(arr + n, len - n, "%s%s", n > 1 ? "," : "", id);
}

static void setup_sales(demo *d)
{
    int pyxis = 0, tempo = 0;
    copy(d->orders_array, sizeof d->orders_array, "{");
    copy(d->sales_array, sizeof d->sales_array, "{");
    copy(d->projects_array, sizeof d->projects_array, "{");
    for (size_t i = 0; i < N_SALES; i++) {
        sale *s = &d->sales[i];
        s->sc = &scenarios[i];
        snprintf(s->id, sizeof s->id, "%s-%s-%d", s->sc->tempo ? "TMP" : "PYX",
                 d->tag, s->sc->tempo ? ++tempo : ++pyxis);
        /* orchestration's names (plugins/README.md, the saga) */
        snprintf(s->project, sizeof s->project, "PRJ-%s", s->id);
        s->n_orders = s->sc->tv == TV_NONE ? 1 : 2;
        snprintf(s->orders[0].id, sizeof s->orders[0].id, "SO-%s-1", s->id);
        if (s->n_orders == 2) {
            snprintf(s->orders[1].id, sizeof s->orders[1].id, "SO-%s-1-TV", s->id);
            s->orders[1].is_tv = true;
        }
        for (size_t k = 0; k < s->n_orders; k++) {
            s->orders[k].exe_completed = -1;
            append_id(d->orders_array, sizeof d->orders_array, s->orders[k].id);
        }
        append_id(d->sales_array, sizeof d->sales_array, s->id);
        append_id(d->projects_array, sizeof d->projects_array, s->project);
    }
    strcat(d->orders_array, "}");
    strcat(d->sales_array, "}");
    strcat(d->projects_array, "}");
}

static int check_tables(demo *d, char *err, size_t errlen)
{
    char missing[512] = "";
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
        const char *p[] = {needed[i].table};
        PGresult *r = query(d, "SELECT count(*) FROM pg_tables WHERE tablename = $1",
                            1, p);
        if (!r)
            return yard_errf(err, errlen, YARD_EDB, "cannot read the database: %s",
                             PQerrorMessage(d->db));
        bool found = atoi(val(r, 0, 0)) > 0;
        PQclear(r);
        if (!found && !strstr(missing, needed[i].plugin)) {
            size_t n = strlen(missing);
            snprintf(missing + n, sizeof missing - n, "%s%s", n ? ", " : "",
                     needed[i].plugin);
        }
    }
    if (missing[0])
        return yard_errf(err, errlen, YARD_ENOENT,
                         "the demo needs the domain plugins; not loaded: %s"
                         " (enable them in conf.d)", missing);
    return 0;
}

static void print_intro(demo *d)
{
    const char *providers = NULL;
    for (size_t i = 0; i < d->o->cfg->n_plugins; i++)
        if (strcmp(d->o->cfg->plugins[i].name, "assignment") == 0)
            providers = yard_plugin_conf_get(&d->o->cfg->plugins[i], "providers");
    fprintf(d->out,
            "demo: %zu sales orders from Pyxis and Tempo, run %s; providers,"
            " technicians and customers played by the demo\n"
            "demo: providers are not seeded: they are the assignment plugin's"
            " setting\n      providers = %s\n",
            N_SALES, d->tag, providers ? providers : "(none)");
    char line[256];
    for (size_t i = 0; i < N_SALES; i++)
        fprintf(d->out, "  %-14s %s\n", d->sales[i].id,
                service_line(&d->sales[i], line, sizeof line));
    fflush(d->out);
}

/* Wait up to ms for a signal of the set; returns it, or 0. */
static int wait_signal(const yard_demo_opts *o, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    if (!o->signals) {
        nanosleep(&ts, NULL);
        return 0;
    }
    int sig = sigtimedwait(o->signals, NULL, &ts);
    return sig > 0 ? sig : 0;
}

static void demo_free(demo *d)
{
    if (d->producer) {
        rd_kafka_flush(d->producer, FLUSH_TIMEOUT_MS);
        rd_kafka_destroy(d->producer);
    }
    if (d->consumer) {
        rd_kafka_consumer_close(d->consumer);
        rd_kafka_destroy(d->consumer);
    }
    PQfinish(d->db);
    for (size_t i = 0; i < d->n_topics; i++)
        free(d->topics[i].name);
    free(d->topics);
    free(d->last_view);
    free(d);
}

int yard_demo_run(const yard_demo_opts *o, char *err, size_t errlen)
{
    demo *d = calloc(1, sizeof *d);
    if (!d)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    d->o = o;
    d->out = o->out ? o->out : stdout;
    make_tag(d->tag);
    setup_sales(d);
    int rc = 0;
    d->db = PQconnectdb(o->cfg->postgres_dsn ? o->cfg->postgres_dsn : "");
    if (PQstatus(d->db) != CONNECTION_OK) {
        rc = yard_errf(err, errlen, YARD_EDB, "database: %s", PQerrorMessage(d->db));
        goto out;
    }
    if ((rc = check_tables(d, err, errlen)))
        goto out;
    /* A kept database (dev --data-dir) may hold dead letters of earlier
     * runs: only this run's count. */
    PGresult *begin = query(d, "SELECT now()::text", 0, NULL);
    if (!begin) {
        rc = yard_errf(err, errlen, YARD_EDB, "database: %s", PQerrorMessage(d->db));
        goto out;
    }
    copy(d->since, sizeof d->since, val(begin, 0, 0));
    PQclear(begin);
    const char *pprops[] = {"acks", "all", "enable.idempotence", "true",
                            "linger.ms", "5", NULL};
    const char *cprops[] = {"group.id", DEMO_GROUP, "enable.auto.commit", "false",
                            "enable.auto.offset.store", "false",
                            "fetch.wait.max.ms", "10", NULL};
    if (!(d->producer = client_new(d, RD_KAFKA_PRODUCER, pprops, err, errlen)) ||
        !(d->consumer = client_new(d, RD_KAFKA_CONSUMER, cprops, err, errlen))) {
        rc = YARD_EKAFKA;
        goto out;
    }
    rd_kafka_poll_set_consumer(d->consumer);
    print_intro(d);

    int timeout_s = o->timeout_s > 0 ? o->timeout_s : YARD_DEMO_TIMEOUT_S;
    d->start_ms = yard_mono_ms();
    long long deadline = d->start_ms + 1000LL * timeout_s;
    long long next_view = d->start_ms, next_md = d->start_ms;
    for (size_t i = 0; i < N_SALES; i++)
        send_created(d, &d->sales[i]);
    size_t final = 0;
    for (;;) {
        long long now = yard_mono_ms();
        if (now >= next_md) {
            assign_new_topics(d);
            next_md = now + METADATA_EVERY_MS;
        }
        read_topics(d);
        if (snapshot(d))
            act(d);
        final = count_final(d);
        bool done = final == N_SALES;
        if (done || now >= next_view) {
            view(d, final, o->every_second || done);
            next_view = now + VIEW_EVERY_MS;
        }
        if (done)
            break;
        if (d->delivery_failures) {
            rc = yard_errf(err, errlen, YARD_EKAFKA, "%ld event(s) not delivered: %s",
                           d->delivery_failures, d->delivery_error);
            break;
        }
        if (now >= deadline) {
            print_stuck(d);
            rc = yard_errf(err, errlen, YARD_ETIMEOUT,
                           "%zu of %zu sales orders not final after %d s",
                           N_SALES - final, N_SALES, timeout_s);
            break;
        }
        int sig = wait_signal(o, TICK_MS);
        if (sig == SIGHUP && o->on_hup)
            o->on_hup(o->hup_arg);
        else if (sig) {
            rc = yard_errf(err, errlen, YARD_EIO, "stopped by %s", strsignal(sig));
            break;
        }
    }
    if (final == N_SALES || rc == YARD_ETIMEOUT) {
        print_summary(d);
        size_t failed = 0;
        for (size_t i = 0; i < N_SALES; i++)
            failed += d->sales[i].failed[0] != '\0';
        fprintf(d->out, "\ndemo: %zu of %zu sales orders final in %.1f s, %lld dead"
                        " letter(s)\n",
                final, N_SALES, (double)(yard_mono_ms() - d->start_ms) / 1000.0,
                d->dead_letters);
        if (!rc && (d->dead_letters || failed))
            rc = yard_errf(err, errlen, YARD_EPLUGIN,
                           "%lld dead letter(s), %zu order(s) failed by a sales"
                           " adapter (switchyard dlq list)",
                           d->dead_letters, failed);
        fflush(d->out);
    }
out:
    demo_free(d);
    return rc;
}
