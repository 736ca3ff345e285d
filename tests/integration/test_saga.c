/*
 * The field-service saga end to end through the real host: one PostgreSQL,
 * the mock cluster in its own process, and ONE host child process loading
 * all eight domain plugins from the repository's conf.d files (copied into
 * the test's conf dir; host.ini written here to point at the test's
 * database, cluster and the built plugins; notifications spools into the
 * test directory).
 *
 * The outside world enters only as Pyxis and Tempo events and the inputs
 * of providers, technicians and customers (offer responses,
 * mobile.*.submitted, e-signatures).  Every input is produced twice under
 * the same event id: every fifth one at the very end, once every order has
 * reached its final state; of the others, every other one right after
 * itself and the rest after the next input (a late redelivery, once the
 * first copy's effects are committed).  Before the final checks, every
 * plugin's consumer group has committed the end of its input topics: it
 * has read every second copy.  The test then asserts that nothing happened twice: the
 * exact, ordered sequence of events per order and key on every output
 * topic, the final rows of every plugin, the ERP payments, what went back
 * to Pyxis and Tempo, one inbox row per input, and no dead letter.
 *
 * Orders:
 *   PYX-SAGA-Y  Pyxis installation, TV says YES: TV and installation
 *               assigned, executed, WCF accepted, closed, ERP payments;
 *               the contract signed
 *   PYX-SAGA-N  Pyxis installation, TV says NO: installation cancelled,
 *               Pyxis told to refund; the TV itself closed and paid
 *   PYX-SAGA-M  Pyxis installation, TV says YES_BUT: modifications sent
 *               for repricing, installation offered
 *   TMP-SAGA-R  Tempo repair, no TV: assigned, executed, closed, paid
 *
 * The test drives one step at a time and waits for each step's effects,
 * down to the adapter's record of what it sent back, before the next
 * input: so the order of events under one key is determined even across
 * topics the plugins read concurrently.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "pgtmp.h"
#include "testutil.h"

#define WAIT_MS 30000

/* Output topics whose events the trace lists, in this order. */
static const char *const outputs[] = {
    "integration.sales.order_received",
    "integration.sales.order.normalized",
    "integration.sales.order.failed",
    "integration.sales.order_cancelled",
    "projects.service_order.created",
    "projects.service_order.status_changed",
    "projects.service_order.unblocked",
    "projects.service_order.cancelled",
    "projects.service_order.closed",
    "projects.task.created",
    "projects.tv_outcome.recorded",
    "assignments.offer.created",
    "assignments.assignment.confirmed",
    "assignments.date_negotiation.failed",
    "execution.checkin.completed",
    "execution.checkout.completed",
    "contracts.contract.signed",
    "contracts.wcf.signed",
    "integration.erp.payment_ready",
    "fsm.order.status_updated",
    "fsm.tv.outcome_recorded",
    "integration.pyxis.outbound",
    "integration.tempo.outbound",
};
#define N_OUTPUTS (sizeof outputs / sizeof *outputs)

/* The topics the saga's inputs go to, and the plugin that reads each. */
static const struct {
    const char *topic, *group;
} input_topics[] = {
    {"sales.pyxis.order.created", "pyxis"},
    {"sales.tempo.service.requested", "tempo"},
    {"assignments.offer.responded", "assignment"},
    {"mobile.checkin.submitted", "execution"},
    {"mobile.checkout.submitted", "execution"},
    {"mobile.tv_outcome.submitted", "execution"},
    {"integration.esign.contract_signed", "contracts"},
};
#define N_INPUT_TOPICS (sizeof input_topics / sizeof *input_topics)

/* Inputs, the notifications' output and every plugin's DLQ. */
static const char *const other_topics[] = {
    "sales.pyxis.order.created", "sales.pyxis.order.updated",
    "sales.pyxis.order.cancelled", "sales.tempo.service.requested",
    "sales.tempo.service.updated", "sales.tempo.service.cancelled",
    "assignments.offer.responded", "mobile.checkin.submitted",
    "mobile.checkout.submitted", "mobile.tv_outcome.submitted",
    "integration.esign.contract_signed", "notification.sent",
    "notification.failed", "dlq.orchestration", "dlq.assignment",
    "dlq.execution", "dlq.contracts", "dlq.erp", "dlq.notifications",
    "dlq.pyxis", "dlq.tempo",
};

/* The repository's conf.d files the host loads. */
static const char *const conf_files[] = {
    "10-pyxis.ini",     "10-tempo.ini",     "20-orchestration.ini",
    "30-assignment.ini", "40-execution.ini", "50-contracts.ini",
    "60-erp.ini",       "70-notifications.ini",
};

static struct yard_pgtmp *pg;
static PGconn *admin, *db;
static th_broker *broker;
static char *dir;
static pid_t host = -1;
static rd_kafka_t *producer;

/* ---- setup -------------------------------------------------------------- */

/* conf.d/NAME copied into the test's conf dir; notifications' spool_dir
 * pointed into the test directory. */
static int copy_conf(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/conf.d/%s", YARD_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap), line[4096];
    while (out && fgets(line, sizeof line, f)) {
        char repl[1200];
        const char *l = line;
        if (strncmp(line, "spool_dir", 9) == 0) {
            snprintf(repl, sizeof repl, "spool_dir = %s/spool\n", dir);
            l = repl;
        }
        size_t n = strlen(l);
        if (len + n + 1 > cap)
            break;
        memcpy(out + len, l, n);
        len += n;
    }
    fclose(f);
    if (!out)
        return -1;
    out[len] = '\0';
    int rc = yard_test_write(dir, name, out);
    free(out);
    return rc;
}

static int suite_init(void)
{
    if (th_pg_start(&pg, &admin) || !th_sql(admin, "CREATE DATABASE saga"))
        return -1;
    db = th_connect(yard_pgtmp_dsn(pg), "saga");
    const char *topics[N_OUTPUTS + sizeof other_topics / sizeof *other_topics];
    char names[sizeof topics / sizeof *topics][96];
    size_t n = 0;
    for (size_t i = 0; i < N_OUTPUTS; i++, n++)
        snprintf(names[n], sizeof names[n], "%s:1", outputs[i]);
    for (size_t i = 0; i < sizeof other_topics / sizeof *other_topics; i++, n++)
        snprintf(names[n], sizeof names[n], "%s:1", other_topics[i]);
    for (size_t i = 0; i < n; i++)
        topics[i] = names[i];
    broker = th_broker_start(1, topics, n);
    dir = yard_test_tmpdir("saga");
    if (!db || !broker || !dir)
        return -1;
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[host]\nworkers = 2\nbatch_size = 16\nplugin_dir = %s/plugins\n"
             "schema_dir = %s/schemas\nstate_dir = %s\n"
             "log_level = info\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=saga\n\n"
             "[retry]\ninitial_ms = 50\nmax_ms = 200\nmax_attempts = 3\n\n"
             "[http]\nlisten = off\n",
             YARD_BINARY_DIR, YARD_SOURCE_DIR, dir, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg));
    if (yard_test_write(dir, "host.ini", ini))
        return -1;
    for (size_t i = 0; i < sizeof conf_files / sizeof *conf_files; i++)
        if (copy_conf(conf_files[i]))
            return -1;
    producer = th_producer(th_broker_bootstrap(broker));
    host = th_host_spawn(dir);
    if (!producer || host <= 0)
        return -1;
    /* Loaded: every plugin's tables exist. */
    return th_wait_num(db, "SELECT count(*) FROM pg_tables WHERE tablename IN"
                           " ('orch_service_order', 'asg_offer', 'exe_execution',"
                           " 'erp_payment', 'ctr_wcf', 'pyxis_order',"
                           " 'tempo_request', 'ntf_notification')", 8, WAIT_MS) == 8
               ? 0 : -1;
}

static int suite_clean(void)
{
    if (host > 0) {
        kill(host, SIGTERM);
        int st = th_host_wait(host, 30000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "host did not stop cleanly (log: %s/host.log)\n", dir);
    }
    if (producer)
        rd_kafka_destroy(producer);
    th_broker_stop(broker);
    PQfinish(db);
    th_pg_stop(pg, admin);
    if (dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

/* ---- inputs, each delivered twice --------------------------------------- */

static int inputs, copies;

/* An input's second copy, waiting. */
typedef struct copy {
    char type[96], key[128], id[32];
    char *payload; /* owned; NULL: none */
} copy;

/* The second copy that waits for the next input (or drain()), and those
 * that wait for the very end (drain_end()). */
static copy late, at_end[32];
static size_t n_at_end;

static void produce(const char *type, const char *key, const char *id,
                    const char *payload)
{
    CU_ASSERT_TRUE(th_produce_ce(producer, type, key, id, type, payload));
    copies++;
}

static void send_copy(copy *c)
{
    if (!c->payload)
        return;
    produce(c->type, c->key, c->id, c->payload);
    free(c->payload);
    c->payload = NULL;
    CU_ASSERT_TRUE(th_flush(producer));
}

static void keep_copy(copy *c, const char *type, const char *key,
                      const char *id, char *payload)
{
    snprintf(c->type, sizeof c->type, "%s", type);
    snprintf(c->key, sizeof c->key, "%s", key);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->payload = payload;
}

/* The late second copy, if one waits. */
static void drain(void)
{
    send_copy(&late);
}

/* The second copies kept for the end, once every order is final. */
static void drain_end(void)
{
    for (size_t i = 0; i < n_at_end; i++)
        send_copy(&at_end[i]);
    n_at_end = 0;
}

/* Send `type` on its topic under `key`: event_id and event_timestamp, then
 * the members of `m` (stolen).  Twice, see the top of the file. */
static void input(const char *type, const char *key, json_t *m)
{
    char id[32];
    snprintf(id, sizeof id, "saga-in-%03d", ++inputs);
    json_t *doc = json_pack("{s:s, s:I}", "event_id", id, "event_timestamp",
                            (json_int_t)(1767225600000LL + inputs * 60000LL));
    json_object_update(doc, m);
    json_decref(m);
    char *payload = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    produce(type, key, id, payload);
    drain(); /* the previous input's copy, after this one's first */
    if (inputs % 5 == 0 && n_at_end < sizeof at_end / sizeof *at_end) {
        keep_copy(&at_end[n_at_end++], type, key, id, payload);
    } else if (inputs % 2) {
        produce(type, key, id, payload);
        free(payload);
    } else {
        keep_copy(&late, type, key, id, payload);
    }
    CU_ASSERT_TRUE(th_flush(producer));
}

static json_t *customer(const char *sale)
{
    char cid[64];
    snprintf(cid, sizeof cid, "CUST-%s", sale);
    return json_pack("{s:s, s:s, s:s, s:s}", "customer_id", cid, "name",
                     "Ada Martin", "email", "ada@example.com", "phone",
                     "+33100000000");
}

static json_t *address(void)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "street", "1 rue de la Paix", "city",
                     "Paris", "postal_code", "75002", "country", "FR");
}

static void pyxis_created(const char *sale)
{
    char key[64];
    snprintf(key, sizeof key, "FR_%s", sale);
    input("sales.pyxis.order.created", key,
          json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:[{s:s, s:i, s:s}], s:o,"
                    " s:s}",
                    "pyxis_order_id", sale, "sales_channel", "STORE",
                    "country_code", "FR", "bu_code", "AHS", "store_id", "S-12",
                    "customer", customer(sale), "products", "product_id",
                    "HP-300", "quantity", 1, "service_type", "INSTALLATION",
                    "address", address(), "raw_payload", "{\"rev\":1}"));
}

static void tempo_requested(const char *sale, const char *service)
{
    char key[64];
    snprintf(key, sizeof key, "FR_%s", sale);
    input("sales.tempo.service.requested", key,
          json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s}", "tempo_request_id",
                    sale, "sales_channel", "CALL_CENTER", "country_code", "FR",
                    "bu_code", "AHS", "customer", customer(sale), "service_type",
                    service, "address", address(), "raw_payload", "{\"rev\":1}"));
}

/* The provider accepts the open offer of `so`. */
static void accept_offer(const char *so)
{
    char offer[128];
    snprintf(offer, sizeof offer, "OFR-%s-1", so);
    input("assignments.offer.responded", offer,
          json_pack("{s:s, s:s, s:n}", "offer_id", offer, "response", "ACCEPTED",
                    "proposed_date"));
}

/* The team of the accepted offer of `so` (the assignment rule's choice). */
static const char *team_of(const char *so, char *out, size_t len)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT team_id FROM asg_offer WHERE"
                              " service_order_id = '%s' AND status = 'ACCEPTED'", so);
    PGresult *r = PQexec(db, sql);
    snprintf(out, len, "%s",
             PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? PQgetvalue(r, 0, 0) : "?");
    PQclear(r);
    return out;
}

static void mobile_checkin(const char *so)
{
    char team[64], key[160], exe[96];
    team_of(so, team, sizeof team);
    snprintf(key, sizeof key, "%s_%s", team, so);
    snprintf(exe, sizeof exe, "EXE-%s", so);
    input("mobile.checkin.submitted", key,
          json_pack("{s:s, s:s, s:s, s:I, s:{s:f, s:f}}", "execution_id", exe,
                    "service_order_id", so, "team_id", team, "checked_in_at",
                    (json_int_t)1767258000000LL, "gps", "lat", 48.8686, "lng",
                    2.3314));
}

static void mobile_checkout(const char *so)
{
    char team[64], key[160], exe[96];
    team_of(so, team, sizeof team);
    snprintf(key, sizeof key, "%s_%s", team, so);
    snprintf(exe, sizeof exe, "EXE-%s", so);
    input("mobile.checkout.submitted", key,
          json_pack("{s:s, s:s, s:s, s:I, s:b, s:n}", "execution_id", exe,
                    "service_order_id", so, "team_id", team, "checked_out_at",
                    (json_int_t)1767261600000LL, "completed", 1,
                    "incompletion_reason"));
}

/* The technician reports the outcome of the TV of installation `inst`. */
static void mobile_tv_outcome(const char *inst, const char *outcome, json_t *mods)
{
    char team[64], key[160], tv[96];
    snprintf(tv, sizeof tv, "%s-TV", inst);
    team_of(tv, team, sizeof team);
    snprintf(key, sizeof key, "%s_%s", team, tv);
    input("mobile.tv_outcome.submitted", key,
          json_pack("{s:s, s:s, s:s, s:o, s:s}", "tv_service_order_id", tv,
                    "linked_installation_order_id", inst, "outcome", outcome,
                    "modifications", mods ? mods : json_null(), "recorded_by",
                    team));
}

/* The customer signs document `doc` (a WCF or the contract). */
static void esign(const char *type, const char *doc)
{
    input("integration.esign.contract_signed", doc,
          json_pack("{s:s, s:s, s:b, s:I}", "document_type", type, "document_id",
                    doc, "customer_accepted", 1, "signed_at",
                    (json_int_t)1767265200000LL));
}

/* ---- waiting ------------------------------------------------------------ */

#define WAIT_EQ(want, ...)                                                     \
    CU_ASSERT_EQUAL(th_wait_sqlf(db, (want), WAIT_MS, __VA_ARGS__), (want))

#define WAIT_ORDER(so, st)                                                     \
    WAIT_EQ(1, "SELECT count(*) FROM orch_service_order WHERE"                 \
               " service_order_id = '%s' AND status = '%s'", (so), (st))
#define WAIT_OFFERED(so)                                                       \
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer WHERE offer_id = 'OFR-%s-1'"     \
               " AND status = 'OFFERED'", (so))
#define WAIT_EXE(so, st)                                                       \
    WAIT_EQ(1, "SELECT count(*) FROM exe_execution WHERE execution_id ="       \
               " 'EXE-%s' AND status = '%s'", (so), (st))
#define WAIT_WCF(so, st)                                                       \
    WAIT_EQ(1, "SELECT count(*) FROM ctr_wcf WHERE wcf_id = 'WCF-%s' AND"       \
               " status = '%s'", (so), (st))
#define WAIT_PAID(so)                                                          \
    WAIT_EQ(1, "SELECT count(*) FROM erp_payment WHERE service_order_id = '%s'", (so))
/* The adapter `table` (pyxis_order, tempo_request) recorded that it told
 * its system status `st` of `so` last. */
#define WAIT_TOLD(table, sale, so, st)                                         \
    WAIT_EQ(1, "SELECT count(*) FROM %s WHERE sales_order_id = '%s' AND"        \
               " last_fsm_order_id = '%s' AND last_fsm_status = '%s'",          \
            (table), (sale), (so), (st))
#define WAIT_TOLD_TV(sale, outcome)                                            \
    WAIT_EQ(1, "SELECT count(*) FROM pyxis_order WHERE sales_order_id = '%s'"  \
               " AND tv_outcome = '%s'", (sale), (outcome))

/* One TV visit of installation `inst` (of Pyxis order `sale`) up to the
 * outcome: offer accepted, checked in. */
static void tv_visit(const char *sale, const char *inst)
{
    char tv[96];
    snprintf(tv, sizeof tv, "%s-TV", inst);
    accept_offer(tv);
    WAIT_ORDER(tv, "ASSIGNED");
    WAIT_EXE(tv, "SCHEDULED");
    WAIT_TOLD("pyxis_order", sale, tv, "ASSIGNED");
    mobile_checkin(tv);
    WAIT_EXE(tv, "CHECKED_IN");
    WAIT_ORDER(tv, "IN_PROGRESS");
    WAIT_TOLD("pyxis_order", sale, tv, "IN_PROGRESS");
}

static void created(const char *sale, const char *inst)
{
    char tv[96];
    snprintf(tv, sizeof tv, "%s-TV", inst);
    pyxis_created(sale);
    WAIT_ORDER(inst, "BLOCKED");
    WAIT_ORDER(tv, "READY_FOR_ASSIGNMENT");
    WAIT_OFFERED(tv);
    WAIT_TOLD("pyxis_order", sale, inst, "CREATED");
    WAIT_EQ(2, "SELECT count(*) FROM ctr_contract_order WHERE contract_id ="
               " 'CTR-PRJ-%s'", sale);
}

/* The TV's team checks out, the customer signs its WCF: closed, paid. */
static void tv_close(const char *sale, const char *tv)
{
    mobile_checkout(tv);
    WAIT_ORDER(tv, "COMPLETED");
    WAIT_WCF(tv, "PENDING_SIGNATURE");
    WAIT_TOLD("pyxis_order", sale, tv, "COMPLETED");
    char wcf[128];
    snprintf(wcf, sizeof wcf, "WCF-%s", tv);
    esign("WCF", wcf);
    WAIT_ORDER(tv, "CLOSED");
    WAIT_PAID(tv);
    WAIT_TOLD("pyxis_order", sale, tv, "CLOSED");
}

/* ---- the trace: what the plugins emitted, per order and key -------------- */

typedef struct msg {
    const char *topic;
    char key[160], type[96];
    char *payload;
} msg;

static msg *msgs;
static size_t n_msgs, cap_msgs;

static void on_msg(void *arg, const rd_kafka_message_t *m)
{
    if (n_msgs == cap_msgs) {
        cap_msgs = cap_msgs ? 2 * cap_msgs : 256;
        msgs = realloc(msgs, cap_msgs * sizeof *msgs);
    }
    msg *x = &msgs[n_msgs++];
    x->topic = arg;
    snprintf(x->key, sizeof x->key, "%.*s", (int)m->key_len,
             m->key ? (const char *)m->key : "");
    if (!th_header(m, "ce_type", x->type, sizeof x->type))
        snprintf(x->type, sizeof x->type, "(no ce_type)");
    x->payload = strndup(m->payload ? (const char *)m->payload : "", m->len);
}

/* Every output topic, read once everything settled. */
static void collect(void)
{
    for (size_t i = 0; i < N_OUTPUTS; i++)
        CU_ASSERT_TRUE(th_consume_all(th_broker_bootstrap(broker), outputs[i], 1,
                                      on_msg, (void *)outputs[i]) >= 0);
}

/* `id` without "<...>SALE-" in front: "SO-PYX-SAGA-Y-1-TV" -> "1-TV". */
static const char *after(const char *id, const char *sale)
{
    const char *p = id ? strstr(id, sale) : NULL;
    return p ? p + strlen(sale) + (p[strlen(sale)] == '-') : (id ? id : "?");
}

/* What the trace shows of one event. */
static void token(const msg *x, const char *sale, char *out, size_t len)
{
    json_t *p = json_loads(x->payload, 0, NULL);
    const char *t = x->type;
#define S(k) json_string_value(json_object_get(p, k))
    if (!strcmp(t, "projects.service_order.status_changed"))
        snprintf(out, len, "%s", S("new_status"));
    else if (!strcmp(t, "fsm.order.status_updated") ||
             strstr(t, ".status_updated"))
        snprintf(out, len, "%s=%s", after(S("fsm_service_order_id"), sale),
                 S("status"));
    else if (!strcmp(t, "fsm.tv.outcome_recorded"))
        snprintf(out, len, "%s/mods=%zu", S("tv_outcome"),
                 json_array_size(json_object_get(p, "modifications")));
    else if (strstr(t, ".tv_outcome_recorded"))
        snprintf(out, len, "%s/%s/mods=%zu", S("tv_outcome"), S("action"),
                 json_array_size(json_object_get(p, "modifications")));
    else if (!strcmp(t, "projects.tv_outcome.recorded"))
        snprintf(out, len, "%s", S("outcome"));
    else if (!strcmp(t, "integration.sales.order.normalized"))
        snprintf(out, len, "%s", after(S("fsm_service_order_id"), sale));
    else if (!strcmp(t, "assignments.offer.created"))
        snprintf(out, len, "%s", after(S("offer_id"), sale));
    else if (!strcmp(t, "integration.erp.payment_ready"))
        snprintf(out, len, "%.2f%s",
                 json_number_value(json_object_get(json_object_get(p, "amount"), "value")),
                 json_string_value(json_object_get(json_object_get(p, "amount"),
                                                   "currency")));
    else if (!strcmp(t, "projects.service_order.cancelled"))
        snprintf(out, len, "cancelled(%s)", S("reason"));
    else if (!strcmp(t, "projects.task.created"))
        snprintf(out, len, "task(%s)", S("task_type"));
    else
        snprintf(out, len, "%s", strrchr(t, '.') ? strrchr(t, '.') + 1 : t);
#undef S
    json_decref(p);
}

/* A key with the chosen provider or team written P or T: which one the
 * rule picks is checked against the database separately. */
static void norm_key(const char *key, char *out, size_t len)
{
    const char *rest = strchr(key, '_');
    if (rest && (!strncmp(key, "prov-", 5) || !strncmp(key, "team-", 5)))
        snprintf(out, len, "%c%s", key[0] == 'p' ? 'P' : 'T', rest);
    else
        snprintf(out, len, "%s", key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The line a message belongs to: its key, and its type when the topic
 * carries several (the adapters' outbound topics). */
static void line_of(const msg *x, char *out, size_t len)
{
    char k[160];
    norm_key(x->key, k, sizeof k);
    if (strcmp(x->type, x->topic) == 0)
        snprintf(out, len, "%s", k);
    else
        snprintf(out, len, "%s %s", k, x->type);
}

/* For every output topic and every key (sorted) of an event that names
 * `sale`: "topic key: token token ..." in offset order, one line each;
 * on a topic that carries several types, one line per key and type: the
 * adapters read status updates and TV outcomes from two topics, so when
 * one step emits both (a TV outcome NO cancels the installation) their
 * relative order on the outbound topic is not defined, only each one's. */
static char *trace(const char *sale)
{
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    for (size_t t = 0; t < N_OUTPUTS; t++) {
        char *keys[256];
        size_t nk = 0;
        for (size_t i = 0; i < n_msgs; i++) {
            if (msgs[i].topic != outputs[t] || !strstr(msgs[i].payload, sale))
                continue;
            char k[300];
            line_of(&msgs[i], k, sizeof k);
            bool seen = false;
            for (size_t j = 0; j < nk && !seen; j++)
                seen = strcmp(keys[j], k) == 0;
            if (!seen && nk < 256)
                keys[nk++] = strdup(k);
        }
        qsort(keys, nk, sizeof *keys, cmp_str);
        for (size_t j = 0; j < nk; j++) {
            len += (size_t)snprintf(out + len, cap - len, "%s %s:", outputs[t],
                                    keys[j]);
            for (size_t i = 0; i < n_msgs; i++) {
                char k[300], tok[256];
                line_of(&msgs[i], k, sizeof k);
                if (msgs[i].topic != outputs[t] || strcmp(k, keys[j]) ||
                    !strstr(msgs[i].payload, sale))
                    continue;
                token(&msgs[i], sale, tok, sizeof tok);
                len += (size_t)snprintf(out + len, cap - len, " %s", tok);
            }
            len += (size_t)snprintf(out + len, cap - len, "\n");
            free(keys[j]);
        }
    }
    return out;
}

static void expect_trace(const char *sale, const char *want)
{
    char *got = trace(sale);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want))
        printf("\n  %s: events\n%s  want\n%s", sale, got, want);
    free(got);
}

/* The first column of every row, joined by ' '. */
static void expect_rows(const char *want, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_rows(const char *want, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    char full[2200];
    snprintf(full, sizeof full, "SELECT coalesce(string_agg(x, ' '), '') FROM (%s) q(x)",
             sql);
    PGresult *r = PQexec(db, full);
    const char *got = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0)
                                                           : PQresultErrorMessage(r);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want))
        printf("\n  %s\n    got  %s\n    want %s\n", sql, got, want);
    PQclear(r);
}

/* ---- the saga ----------------------------------------------------------- */

#define Y "PYX-SAGA-Y"
#define N "PYX-SAGA-N"
#define M "PYX-SAGA-M"
#define R "TMP-SAGA-R"

static void test_pyxis_tv_yes(void)
{
    const char *inst = "SO-" Y "-1", *tv = "SO-" Y "-1-TV";
    created(Y, inst);
    tv_visit(Y, inst);
    mobile_tv_outcome(inst, "YES", NULL);
    WAIT_ORDER(inst, "READY_FOR_ASSIGNMENT");
    WAIT_OFFERED(inst);
    WAIT_TOLD_TV(Y, "YES");
    tv_close(Y, tv);
    /* The installation goes to the team that did the TV. */
    accept_offer(inst);
    WAIT_ORDER(inst, "ASSIGNED");
    WAIT_EXE(inst, "SCHEDULED");
    WAIT_TOLD("pyxis_order", Y, inst, "ASSIGNED");
    mobile_checkin(inst);
    WAIT_ORDER(inst, "IN_PROGRESS");
    WAIT_TOLD("pyxis_order", Y, inst, "IN_PROGRESS");
    mobile_checkout(inst);
    WAIT_ORDER(inst, "COMPLETED");
    WAIT_WCF(inst, "PENDING_SIGNATURE");
    WAIT_TOLD("pyxis_order", Y, inst, "COMPLETED");
    esign("WCF", "WCF-SO-" Y "-1");
    WAIT_ORDER(inst, "CLOSED");
    WAIT_PAID(inst);
    WAIT_TOLD("pyxis_order", Y, inst, "CLOSED");
    esign("CONTRACT", "CTR-PRJ-" Y);
    WAIT_EQ(1, "SELECT count(*) FROM orch_project WHERE project_id = 'PRJ-" Y "'"
               " AND contract_signed_at IS NOT NULL");
}

static void test_pyxis_tv_no(void)
{
    const char *inst = "SO-" N "-1", *tv = "SO-" N "-1-TV";
    created(N, inst);
    tv_visit(N, inst);
    mobile_tv_outcome(inst, "NO", NULL);
    WAIT_ORDER(inst, "CANCELLED");
    WAIT_TOLD("pyxis_order", N, inst, "CANCELLED");
    WAIT_TOLD_TV(N, "NO");
    tv_close(N, tv);
}

static void test_pyxis_tv_yes_but(void)
{
    const char *inst = "SO-" M "-1", *tv = "SO-" M "-1-TV";
    created(M, inst);
    tv_visit(M, inst);
    mobile_tv_outcome(inst, "YES_BUT",
                      json_pack("[{s:s, s:i}]", "description",
                                "reinforce the wall", "extra_duration_min", 60));
    WAIT_ORDER(inst, "READY_FOR_ASSIGNMENT");
    WAIT_OFFERED(inst);
    WAIT_TOLD_TV(M, "YES_BUT");
    mobile_checkout(tv);
    WAIT_ORDER(tv, "COMPLETED");
    WAIT_WCF(tv, "PENDING_SIGNATURE");
    WAIT_TOLD("pyxis_order", M, tv, "COMPLETED");
}

static void test_tempo_no_tv(void)
{
    const char *so = "SO-" R "-1";
    tempo_requested(R, "REPAIR");
    WAIT_ORDER(so, "READY_FOR_ASSIGNMENT");
    WAIT_OFFERED(so);
    WAIT_TOLD("tempo_request", R, so, "CREATED");
    accept_offer(so);
    WAIT_ORDER(so, "ASSIGNED");
    WAIT_EXE(so, "SCHEDULED");
    WAIT_TOLD("tempo_request", R, so, "ASSIGNED");
    mobile_checkin(so);
    WAIT_ORDER(so, "IN_PROGRESS");
    WAIT_TOLD("tempo_request", R, so, "IN_PROGRESS");
    mobile_checkout(so);
    WAIT_ORDER(so, "COMPLETED");
    WAIT_WCF(so, "PENDING_SIGNATURE");
    WAIT_TOLD("tempo_request", R, so, "COMPLETED");
    esign("WCF", "WCF-" "SO-" R "-1");
    WAIT_ORDER(so, "CLOSED");
    WAIT_PAID(so);
    WAIT_TOLD("tempo_request", R, so, "CLOSED");
}

#define NOTIFICATIONS 27

/* Everything settled: the last late copy sent and handled, the outbox
 * published, every notification written. */
/* True once consumer group `group` has committed the end of `topic`
 * (partition 0): it has read every message there, the second copies
 * included (handled, or skipped by its inbox).  The host auto-commits what
 * it has settled every few seconds. */
static bool consumed(const char *group, const char *topic)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", th_broker_bootstrap(broker), e,
                      sizeof e);
    rd_kafka_conf_set(conf, "group.id", group, e, sizeof e);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e);
    /* Never subscribes: asks the group's committed offset, joins nothing. */
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!c) {
        printf("\n  consumer: %s\n", e);
        return false;
    }
    long long end = yard_test_now_ms() + WAIT_MS;
    int64_t lo = -1, hi = -1, at = -1;
    while (yard_test_now_ms() < end) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, 0);
        if (rd_kafka_query_watermark_offsets(c, topic, 0, &lo, &hi, 5000) == 0 &&
            rd_kafka_committed(c, l, 5000) == 0)
            at = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        if (at == hi && hi > 0)
            break;
        usleep(250 * 1000);
    }
    rd_kafka_destroy(c);
    if (at != hi || hi <= 0)
        printf("\n  %s on %s: committed %lld of %lld\n", group, topic, (long long)at,
               (long long)hi);
    return at == hi && hi > 0;
}

static void settle(void)
{
    drain();
    drain_end();
    /* Every input topic, read to its end by the plugin that reads it. */
    for (size_t i = 0; i < N_INPUT_TOPICS; i++)
        CU_ASSERT_TRUE(consumed(input_topics[i].group, input_topics[i].topic));
    WAIT_EQ(inputs, "SELECT count(*) FROM yard_inbox WHERE event_id LIKE 'saga-in-%%'");
    WAIT_EQ(0, "SELECT count(*) FROM yard_outbox");
    /* notifications reads what the others emitted at its own pace.
     * conf.d/70-notifications.ini's templates: 4 orders received, 6
     * offers, 5 assignments, 3 TV outcomes, 5 orders COMPLETED, 4 closed.
     * Then nothing more for 2 s. */
    WAIT_EQ(NOTIFICATIONS, "SELECT count(*) FROM ntf_notification");
    long long last = -1, now = -2;
    int still = 0;
    for (int i = 0; i < 150 && still < 4; i++) {
        usleep(500 * 1000);
        now = th_sql_num(db, "SELECT count(*) FROM yard_inbox WHERE consumer_group"
                             " = 'notifications'") * 1000000 +
              th_sql_num(db, "SELECT count(*) FROM yard_outbox");
        still = now == last ? still + 1 : 0;
        last = now;
    }
    WAIT_EQ(0, "SELECT count(*) FROM yard_outbox");
}

static void count_msg(void *arg, const rd_kafka_message_t *m)
{
    (void)m;
    ++*(long *)arg;
}

static void test_final_state(void)
{
    settle();
    CU_ASSERT_EQUAL(inputs, 27);
    CU_ASSERT_EQUAL(copies, 2 * inputs);

    /* Service orders, their whole history, executions, forms, payments. */
    expect_rows("SO-PYX-SAGA-M-1:READY_FOR_ASSIGNMENT SO-PYX-SAGA-M-1-TV:COMPLETED"
                " SO-PYX-SAGA-N-1:CANCELLED SO-PYX-SAGA-N-1-TV:CLOSED"
                " SO-PYX-SAGA-Y-1:CLOSED SO-PYX-SAGA-Y-1-TV:CLOSED"
                " SO-TMP-SAGA-R-1:CLOSED",
                "SELECT service_order_id || ':' || status FROM orch_service_order"
                " ORDER BY service_order_id");
    expect_rows("SO-PYX-SAGA-M-1:BLOCKED>READY_FOR_ASSIGNMENT"
                " SO-PYX-SAGA-M-1-TV:READY_FOR_ASSIGNMENT>ASSIGNED>IN_PROGRESS>COMPLETED"
                " SO-PYX-SAGA-N-1:BLOCKED>CANCELLED"
                " SO-PYX-SAGA-N-1-TV:READY_FOR_ASSIGNMENT>ASSIGNED>IN_PROGRESS>"
                "COMPLETED>CLOSED"
                " SO-PYX-SAGA-Y-1:BLOCKED>READY_FOR_ASSIGNMENT>ASSIGNED>"
                "IN_PROGRESS>COMPLETED>CLOSED"
                " SO-PYX-SAGA-Y-1-TV:READY_FOR_ASSIGNMENT>ASSIGNED>IN_PROGRESS>"
                "COMPLETED>CLOSED"
                " SO-TMP-SAGA-R-1:READY_FOR_ASSIGNMENT>ASSIGNED>IN_PROGRESS>"
                "COMPLETED>CLOSED",
                "SELECT service_order_id || ':' || string_agg(new_status, '>'"
                " ORDER BY id) FROM orch_status_history GROUP BY service_order_id"
                " ORDER BY service_order_id");
    expect_rows("", "SELECT task_type FROM orch_task");
    expect_rows("PRJ-PYX-SAGA-M:PYXIS:false PRJ-PYX-SAGA-N:PYXIS:false"
                " PRJ-PYX-SAGA-Y:PYXIS:true PRJ-TMP-SAGA-R:TEMPO:false",
                "SELECT project_id || ':' || source_system || ':' ||"
                " (contract_signed_at IS NOT NULL) FROM orch_project ORDER BY project_id");
    expect_rows("EXE-SO-PYX-SAGA-M-1-TV:CHECKED_OUT:1:true:YES_BUT"
                " EXE-SO-PYX-SAGA-N-1-TV:CHECKED_OUT:1:true:NO"
                " EXE-SO-PYX-SAGA-Y-1:CHECKED_OUT:1:true:-"
                " EXE-SO-PYX-SAGA-Y-1-TV:CHECKED_OUT:1:true:YES"
                " EXE-SO-TMP-SAGA-R-1:CHECKED_OUT:1:true:-",
                "SELECT execution_id || ':' || status || ':' || visits || ':' ||"
                " completed || ':' || coalesce(tv_outcome, '-') FROM exe_execution"
                " ORDER BY execution_id");
    /* The installation went to the team that did its TV; each execution
     * is the accepted offer's team. */
    WAIT_EQ(1, "SELECT count(*) FROM asg_offer a JOIN asg_offer b ON"
               " b.service_order_id = a.service_order_id || '-TV' WHERE"
               " a.service_order_id = 'SO-" Y "-1' AND a.team_id = b.team_id");
    WAIT_EQ(0, "SELECT count(*) FROM exe_execution e WHERE NOT EXISTS (SELECT 1"
               " FROM asg_offer o WHERE o.service_order_id = e.service_order_id"
               " AND o.status = 'ACCEPTED' AND o.team_id = e.team_id AND"
               " o.provider_id = e.provider_id)");
    expect_rows("OFR-SO-PYX-SAGA-M-1-1:OFFERED OFR-SO-PYX-SAGA-M-1-TV-1:ACCEPTED"
                " OFR-SO-PYX-SAGA-N-1-TV-1:ACCEPTED OFR-SO-PYX-SAGA-Y-1-1:ACCEPTED"
                " OFR-SO-PYX-SAGA-Y-1-TV-1:ACCEPTED OFR-SO-TMP-SAGA-R-1-1:ACCEPTED",
                "SELECT offer_id || ':' || status FROM asg_offer ORDER BY offer_id");
    expect_rows("WCF-SO-PYX-SAGA-M-1-TV:PENDING_SIGNATURE"
                " WCF-SO-PYX-SAGA-N-1-TV:ACCEPTED WCF-SO-PYX-SAGA-Y-1:ACCEPTED"
                " WCF-SO-PYX-SAGA-Y-1-TV:ACCEPTED WCF-SO-TMP-SAGA-R-1:ACCEPTED",
                "SELECT wcf_id || ':' || status FROM ctr_wcf ORDER BY wcf_id");
    expect_rows("CTR-PRJ-PYX-SAGA-M:PENDING_SIGNATURE CTR-PRJ-PYX-SAGA-N:PENDING_SIGNATURE"
                " CTR-PRJ-PYX-SAGA-Y:SIGNED CTR-PRJ-TMP-SAGA-R:PENDING_SIGNATURE",
                "SELECT contract_id || ':' || status FROM ctr_contract ORDER BY contract_id");
    /* One payment per closed order, to the provider of its accepted offer. */
    expect_rows("SO-PYX-SAGA-N-1-TV:60.00:EUR SO-PYX-SAGA-Y-1:800.00:EUR"
                " SO-PYX-SAGA-Y-1-TV:60.00:EUR SO-TMP-SAGA-R-1:120.00:EUR",
                "SELECT service_order_id || ':' || amount || ':' || currency"
                " FROM erp_payment ORDER BY service_order_id");
    WAIT_EQ(4, "SELECT count(*) FROM erp_payment p JOIN asg_offer o ON"
               " o.service_order_id = p.service_order_id AND o.status ="
               " 'ACCEPTED' AND o.provider_id = p.provider_id");
    /* The adapters' records: open orders, the last status they sent. */
    expect_rows("PYX-SAGA-M:OPEN:1:YES_BUT:SO-PYX-SAGA-M-1-TV:COMPLETED"
                " PYX-SAGA-N:OPEN:1:NO:SO-PYX-SAGA-N-1-TV:CLOSED"
                " PYX-SAGA-Y:OPEN:1:YES:SO-PYX-SAGA-Y-1:CLOSED",
                "SELECT sales_order_id || ':' || status || ':' || version || ':' ||"
                " tv_outcome || ':' || last_fsm_order_id || ':' || last_fsm_status"
                " FROM pyxis_order ORDER BY sales_order_id");
    expect_rows("TMP-SAGA-R:OPEN:1:-:SO-TMP-SAGA-R-1:CLOSED",
                "SELECT sales_order_id || ':' || status || ':' || version || ':' ||"
                " coalesce(tv_outcome, '-') || ':' || last_fsm_order_id || ':' ||"
                " last_fsm_status FROM tempo_request ORDER BY sales_order_id");
    /* Every input handled once, by the one plugin that reads it; nothing
     * dead-lettered; every notification written once, as sent. */
    WAIT_EQ(inputs, "SELECT count(DISTINCT event_id) FROM yard_inbox WHERE"
                    " event_id LIKE 'saga-in-%%'");
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter");
    const long long notes = NOTIFICATIONS;
    WAIT_EQ(notes, "SELECT count(*) FROM ntf_notification");
    WAIT_EQ(notes, "SELECT count(*) FROM ntf_notification WHERE status = 'sent'");
    char spool[1100];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    long long files = 0;
    DIR *d = opendir(spool);
    for (struct dirent *e; d && (e = readdir(d));)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CU_ASSERT_EQUAL(files, notes);
    long sent = 0;
    CU_ASSERT_EQUAL(th_consume_all(th_broker_bootstrap(broker), "notification.sent",
                                   1, count_msg, &sent), notes);
    CU_ASSERT_EQUAL(sent, notes);
    /* And the inputs are there twice each. */
    long on_inputs = 0;
    for (size_t i = 0; i < N_INPUT_TOPICS; i++)
        CU_ASSERT_TRUE(th_consume_all(th_broker_bootstrap(broker),
                                      input_topics[i].topic, 1, count_msg,
                                      &on_inputs) >= 0);
    CU_ASSERT_EQUAL(on_inputs, 2 * inputs);
    printf("\n  %d inputs, %ld messages on the input topics; %lld notifications\n",
           inputs, on_inputs, notes);
}

/* Per order, every event the plugins emitted that names it, by topic and
 * key, in offset order (one partition per topic): each appears exactly
 * once although every input came twice.  Tokens: the new status, the
 * status told ("1-TV=ASSIGNED": service order SO-<sale>-1-TV), the TV
 * outcome (and the adapter's action), the offer, the amount paid, else
 * the last part of the event type.  Keys are the catalog's partition
 * keys, with the provider or team the rule chose written P or T (checked
 * against the accepted offers in the final rows). */
static void test_event_sequences(void)
{
    collect();
    expect_trace(Y,
                 "integration.sales.order_received FR_PYX-SAGA-Y: order_received\n"
                 "integration.sales.order.normalized PYXIS_PYX-SAGA-Y: 1\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-Y-1: created\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-Y-1-TV: created\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-Y-1: "
                 "READY_FOR_ASSIGNMENT ASSIGNED IN_PROGRESS COMPLETED CLOSED\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-Y-1-TV: ASSIGNED "
                 "IN_PROGRESS COMPLETED CLOSED\n"
                 "projects.service_order.unblocked FR_SO-PYX-SAGA-Y-1: unblocked\n"
                 "projects.service_order.closed FR_SO-PYX-SAGA-Y-1: closed\n"
                 "projects.service_order.closed FR_SO-PYX-SAGA-Y-1-TV: closed\n"
                 "projects.tv_outcome.recorded FR_SO-PYX-SAGA-Y-1-TV: YES\n"
                 "assignments.offer.created P_SO-PYX-SAGA-Y-1: 1-1\n"
                 "assignments.offer.created P_SO-PYX-SAGA-Y-1-TV: 1-TV-1\n"
                 "assignments.assignment.confirmed P_SO-PYX-SAGA-Y-1: confirmed\n"
                 "assignments.assignment.confirmed P_SO-PYX-SAGA-Y-1-TV: confirmed\n"
                 "execution.checkin.completed T_SO-PYX-SAGA-Y-1: completed\n"
                 "execution.checkin.completed T_SO-PYX-SAGA-Y-1-TV: completed\n"
                 "execution.checkout.completed T_SO-PYX-SAGA-Y-1: completed\n"
                 "execution.checkout.completed T_SO-PYX-SAGA-Y-1-TV: completed\n"
                 "contracts.contract.signed FR_PRJ-PYX-SAGA-Y: signed\n"
                 "contracts.wcf.signed FR_SO-PYX-SAGA-Y-1: signed\n"
                 "contracts.wcf.signed FR_SO-PYX-SAGA-Y-1-TV: signed\n"
                 "integration.erp.payment_ready P_SO-PYX-SAGA-Y-1: 800.00EUR\n"
                 "integration.erp.payment_ready P_SO-PYX-SAGA-Y-1-TV: 60.00EUR\n"
                 "fsm.order.status_updated PYXIS_PYX-SAGA-Y: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1-TV=COMPLETED 1-TV=CLOSED 1=ASSIGNED "
                 "1=IN_PROGRESS 1=COMPLETED 1=CLOSED\n"
                 "fsm.tv.outcome_recorded PYXIS_PYX-SAGA-Y: YES/mods=0\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-Y "
                 "integration.pyxis.order.status_updated: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1-TV=COMPLETED 1-TV=CLOSED 1=ASSIGNED "
                 "1=IN_PROGRESS 1=COMPLETED 1=CLOSED\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-Y "
                 "integration.pyxis.order.tv_outcome_recorded: YES/NONE/mods=0\n");
    expect_trace(N,
                 "integration.sales.order_received FR_PYX-SAGA-N: order_received\n"
                 "integration.sales.order.normalized PYXIS_PYX-SAGA-N: 1\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-N-1: created\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-N-1-TV: created\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-N-1: CANCELLED\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-N-1-TV: ASSIGNED "
                 "IN_PROGRESS COMPLETED CLOSED\n"
                 "projects.service_order.cancelled FR_SO-PYX-SAGA-N-1: "
                 "cancelled(confirmation technical visit outcome NO)\n"
                 "projects.service_order.closed FR_SO-PYX-SAGA-N-1-TV: closed\n"
                 "projects.tv_outcome.recorded FR_SO-PYX-SAGA-N-1-TV: NO\n"
                 "assignments.offer.created P_SO-PYX-SAGA-N-1-TV: 1-TV-1\n"
                 "assignments.assignment.confirmed P_SO-PYX-SAGA-N-1-TV: confirmed\n"
                 "execution.checkin.completed T_SO-PYX-SAGA-N-1-TV: completed\n"
                 "execution.checkout.completed T_SO-PYX-SAGA-N-1-TV: completed\n"
                 "contracts.wcf.signed FR_SO-PYX-SAGA-N-1-TV: signed\n"
                 "integration.erp.payment_ready P_SO-PYX-SAGA-N-1-TV: 60.00EUR\n"
                 "fsm.order.status_updated PYXIS_PYX-SAGA-N: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1=CANCELLED 1-TV=COMPLETED "
                 "1-TV=CLOSED\n"
                 "fsm.tv.outcome_recorded PYXIS_PYX-SAGA-N: NO/mods=0\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-N "
                 "integration.pyxis.order.status_updated: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1=CANCELLED 1-TV=COMPLETED "
                 "1-TV=CLOSED\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-N "
                 "integration.pyxis.order.tv_outcome_recorded: "
                 "NO/CANCEL_AND_REFUND/mods=0\n");
    expect_trace(M,
                 "integration.sales.order_received FR_PYX-SAGA-M: order_received\n"
                 "integration.sales.order.normalized PYXIS_PYX-SAGA-M: 1\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-M-1: created\n"
                 "projects.service_order.created FR_SO-PYX-SAGA-M-1-TV: created\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-M-1: "
                 "READY_FOR_ASSIGNMENT\n"
                 "projects.service_order.status_changed FR_SO-PYX-SAGA-M-1-TV: ASSIGNED "
                 "IN_PROGRESS COMPLETED\n"
                 "projects.service_order.unblocked FR_SO-PYX-SAGA-M-1: unblocked\n"
                 "projects.tv_outcome.recorded FR_SO-PYX-SAGA-M-1-TV: YES_BUT\n"
                 "assignments.offer.created P_SO-PYX-SAGA-M-1: 1-1\n"
                 "assignments.offer.created P_SO-PYX-SAGA-M-1-TV: 1-TV-1\n"
                 "assignments.assignment.confirmed P_SO-PYX-SAGA-M-1-TV: confirmed\n"
                 "execution.checkin.completed T_SO-PYX-SAGA-M-1-TV: completed\n"
                 "execution.checkout.completed T_SO-PYX-SAGA-M-1-TV: completed\n"
                 "fsm.order.status_updated PYXIS_PYX-SAGA-M: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1-TV=COMPLETED\n"
                 "fsm.tv.outcome_recorded PYXIS_PYX-SAGA-M: YES_BUT/mods=1\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-M "
                 "integration.pyxis.order.status_updated: 1-TV=CREATED 1=CREATED "
                 "1-TV=ASSIGNED 1-TV=IN_PROGRESS 1-TV=COMPLETED\n"
                 "integration.pyxis.outbound FR_PYX-SAGA-M "
                 "integration.pyxis.order.tv_outcome_recorded: YES_BUT/REPRICE/mods=1\n");
    expect_trace(R,
                 "integration.sales.order_received FR_TMP-SAGA-R: order_received\n"
                 "integration.sales.order.normalized TEMPO_TMP-SAGA-R: 1\n"
                 "projects.service_order.created FR_SO-TMP-SAGA-R-1: created\n"
                 "projects.service_order.status_changed FR_SO-TMP-SAGA-R-1: ASSIGNED "
                 "IN_PROGRESS COMPLETED CLOSED\n"
                 "projects.service_order.closed FR_SO-TMP-SAGA-R-1: closed\n"
                 "assignments.offer.created P_SO-TMP-SAGA-R-1: 1-1\n"
                 "assignments.assignment.confirmed P_SO-TMP-SAGA-R-1: confirmed\n"
                 "execution.checkin.completed T_SO-TMP-SAGA-R-1: completed\n"
                 "execution.checkout.completed T_SO-TMP-SAGA-R-1: completed\n"
                 "contracts.wcf.signed FR_SO-TMP-SAGA-R-1: signed\n"
                 "integration.erp.payment_ready P_SO-TMP-SAGA-R-1: 120.00EUR\n"
                 "fsm.order.status_updated TEMPO_TMP-SAGA-R: 1=CREATED 1=ASSIGNED "
                 "1=IN_PROGRESS 1=COMPLETED 1=CLOSED\n"
                 "integration.tempo.outbound FR_TMP-SAGA-R "
                 "integration.tempo.service.status_updated: 1=CREATED 1=ASSIGNED "
                 "1=IN_PROGRESS 1=COMPLETED 1=CLOSED\n");
    for (size_t i = 0; i < n_msgs; i++)
        free(msgs[i].payload);
    free(msgs);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"Pyxis, TV YES: TV and installation closed and paid, Pyxis told of each"
         " status", test_pyxis_tv_yes},
        {"Pyxis, TV NO: installation cancelled, Pyxis told to refund",
         test_pyxis_tv_no},
        {"Pyxis, TV YES_BUT: modifications sent for repricing",
         test_pyxis_tv_yes_but},
        {"Tempo, no TV: closed and paid, Tempo told", test_tempo_no_tv},
        {"final rows of every plugin; each effect once; no dead letter",
         test_final_state},
        {"the exact sequence of events per order and key", test_event_sequences},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("saga", suite_init, suite_clean, tests);
}
