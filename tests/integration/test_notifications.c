/*
 * The notifications plugin (plugins/notifications/) with real parts: one
 * throwaway PostgreSQL, the mock cluster in its own process, one host
 * child process that loads the plugin, and an HTTP server in this process
 * that plays the webhook's receiver.
 *
 * The receiver records every request and answers 400 to the recipient
 * "reject-me", 503 to "always-busy", otherwise 503 to the first request
 * of an Idempotency-Key and 200 to the next ones, so every webhook
 * notification is retried once by the host before it is delivered.
 *
 * The plugin runs with the test's own templates (below): the file channel
 * for sales orders and completed service orders, the webhook for tasks,
 * and no template for closed orders, which it subscribes to anyway.
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pgtmp.h"
#include "schema.h"
#include "testutil.h"

#define WAIT_MS 30000
#define MAX_REQUESTS 64
#define BODY_MAX 4096

/* The plugin's subscriptions, its output and its DLQ. */
static const char *const topics[] = {
    "integration.sales.order_received:1",
    "assignments.offer.created:1",
    "assignments.assignment.confirmed:1",
    "assignments.date_negotiation.failed:1",
    "projects.tv_outcome.recorded:1",
    "projects.service_order.status_changed:1",
    "projects.service_order.closed:1",
    "projects.task.created:1",
    "notification.sent:1",
    "notification.failed:1",
    "dlq.notifications:1",
};

#define T_ORDER "template.integration.sales.order_received."
#define T_STATUS "template.projects.service_order.status_changed."
#define T_TASK "template.projects.task.created."

/* ---- the webhook's receiver --------------------------------------------- */

typedef struct request {
    char method[16], key[128], content_type[64];
    char body[BODY_MAX];
    unsigned status;
} request;

static struct {
    pthread_mutex_t mu;
    request reqs[MAX_REQUESTS];
    size_t n;
} hook = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct upload {
    char body[BODY_MAX];
    size_t len;
} upload;

static void copy_header(struct MHD_Connection *conn, const char *name,
                        char *out, size_t len)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(out, len, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    upload *u = *con_cls;
    if (!u) { /* headers only, so far */
        *con_cls = u = calloc(1, sizeof *u);
        return u ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        size_t room = sizeof u->body - 1 - u->len;
        size_t n = *data_size < room ? *data_size : room;
        memcpy(u->body + u->len, data, n);
        u->len += n;
        *data_size = 0;
        return MHD_YES;
    }
    request r = {.status = 200};
    snprintf(r.method, sizeof r.method, "%s", method);
    copy_header(conn, "Idempotency-Key", r.key, sizeof r.key);
    copy_header(conn, "Content-Type", r.content_type, sizeof r.content_type);
    memcpy(r.body, u->body, u->len + 1);
    pthread_mutex_lock(&hook.mu);
    bool seen = false;
    for (size_t i = 0; i < hook.n; i++)
        seen |= strcmp(hook.reqs[i].key, r.key) == 0;
    if (strstr(r.body, "\"recipient\":\"reject-me\""))
        r.status = 400;
    else if (strstr(r.body, "\"recipient\":\"always-busy\"") || !seen)
        r.status = 503;
    if (hook.n < MAX_REQUESTS)
        hook.reqs[hook.n++] = r;
    pthread_mutex_unlock(&hook.mu);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* Requests recorded for `key`, and how many of them were answered 200;
 * the first and last are copied out (may be NULL). */
static size_t requests_for(const char *key, size_t *ok, request *first,
                           request *last)
{
    size_t n = 0;
    *ok = 0;
    pthread_mutex_lock(&hook.mu);
    for (size_t i = 0; i < hook.n; i++) {
        if (strcmp(hook.reqs[i].key, key) != 0)
            continue;
        if (n++ == 0 && first)
            *first = hook.reqs[i];
        if (last)
            *last = hook.reqs[i];
        *ok += hook.reqs[i].status == 200;
    }
    pthread_mutex_unlock(&hook.mu);
    return n;
}

/* ---- the suite ---------------------------------------------------------- */

static yard_pgtmp *pg;
static PGconn *admin, *db;
static th_broker *broker;
static struct MHD_Daemon *httpd;
static char *dir;
static pid_t host = -1;
static rd_kafka_t *producer;

static int suite_init(void)
{
    if (th_pg_start(&pg, &admin) || !th_sql(admin, "CREATE DATABASE notif") ||
        !(db = th_connect(yard_pgtmp_dsn(pg), "notif")))
        return -1;
    struct sockaddr_in lo = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                             on_request, NULL, MHD_OPTION_SOCK_ADDR, &lo,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                             MHD_OPTION_END);
    broker = th_broker_start(1, topics, sizeof topics / sizeof *topics);
    dir = yard_test_tmpdir("notif");
    if (!httpd || !broker || !dir)
        return -1;
    unsigned port = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT)->port;
    char ini[4096];
    snprintf(ini, sizeof ini,
             "[host]\nworkers = 2\nbatch_size = 16\nplugin_dir = %s/plugins\n"
             "schema_dir = %s/schemas\nstate_dir = %s\n"
             "log_level = info\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[http]\nlisten =\n\n"
             "[postgres]\ndsn = %s dbname=notif\n\n"
             "[retry]\ninitial_ms = 50\nmax_ms = 200\nmax_attempts = 5\n",
             YARD_BINARY_DIR, YARD_SOURCE_DIR, dir, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg));
    if (yard_test_write(dir, "host.ini", ini))
        return -1;
    snprintf(ini, sizeof ini,
             "[plugin]\npath = notifications.so\n\n[settings]\n"
             "spool_dir = %s/spool\n"
             "webhook_url = http://127.0.0.1:%u/hook\n"
             "webhook_timeout_ms = 2000\n"
             T_ORDER "channel = file\n"
             T_ORDER "recipient = {customer_id}\n"
             T_ORDER "subject = Order {sales_order_id} received\n"
             T_ORDER "body = Hello {customer_id},\\nyour "
             "{services.0.service_type} order {sales_order_id} is in.\n"
             T_STATUS "channel = file\n"
             T_STATUS "when = new_status=COMPLETED\n"
             T_STATUS "medium = sms\n"
             T_STATUS "recipient = {service_order_id}\n"
             T_STATUS "body = {service_order_id}: please sign the form\n"
             T_TASK "channel = webhook\n"
             T_TASK "medium = push\n"
             T_TASK "recipient = {assigned_to}\n"
             T_TASK "subject = Task {task_id}\n"
             T_TASK "body = {task_type} for {service_order_id}, priority {priority}\n",
             dir, port);
    if (yard_test_write(dir, "70-notifications.ini", ini))
        return -1;
    producer = th_producer(th_broker_bootstrap(broker));
    host = th_host_spawn(dir);
    if (!producer || host <= 0)
        return -1;
    /* Loaded and subscribed: its table exists, its group joined. */
    return th_wait_num(db, "SELECT count(*) FROM pg_tables WHERE tablename ="
                           " 'ntf_notification'", 1, WAIT_MS) == 1 ? 0 : -1;
}

/* A host that does not exit 0 (a sanitizer report, a hung stop) fails the
 * suite. */
static int suite_clean(void)
{
    int rc = 0;
    if (host > 0) {
        kill(host, SIGTERM);
        int st = th_host_wait(host, 30000);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "host did not stop cleanly (log: %s/host.log)\n", dir);
            rc = -1;
        }
    }
    if (producer)
        rd_kafka_destroy(producer);
    th_broker_stop(broker);
    if (httpd)
        MHD_stop_daemon(httpd);
    PQfinish(db);
    th_pg_stop(pg, admin);
    if (dir && !getenv("YARD_TEST_KEEP") && rc == 0)
        yard_test_rm_rf(dir);
    free(dir);
    return rc;
}

/* ---- helpers ------------------------------------------------------------ */

/* Send `type` (on the topic of the same name) with event id `id` and a
 * payload of event_id, event_timestamp and the formatted members. */
static void send_ev(const char *id, const char *type, const char *key,
                    const char *fmt, ...)
{
    char members[2048], payload[2300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(members, sizeof members, fmt, ap);
    va_end(ap);
    snprintf(payload, sizeof payload,
             "{\"event_id\":\"%s\",\"event_timestamp\":1767225600000,%s}", id,
             members);
    CU_ASSERT_TRUE(th_produce_ce(producer, type, key, id, type, payload));
    CU_ASSERT_TRUE(th_flush(producer));
}

static long long wait_num(long long want, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    long long v = th_wait_num(db, sql, want, WAIT_MS);
    if (v != want)
        printf("\n  %s: %lld, want %lld\n", sql, v, want);
    return v;
}

#define WAIT_EQ(want, ...) CU_ASSERT_EQUAL(wait_num((want), __VA_ARGS__), (want))

/* The plugin has handled event `id` (committed). */
#define WAIT_HANDLED(id)                                                       \
    WAIT_EQ(1, "SELECT count(*) FROM yard_inbox WHERE consumer_group ="        \
               " 'notifications' AND event_id = '%s'", (id))

static void sales_order(const char *id, const char *sale)
{
    send_ev(id, "integration.sales.order_received", sale,
            "\"sales_order_id\":\"%s\",\"customer_id\":\"CUST-%s\","
            "\"country_code\":\"FR\",\"services\":[{\"service_type\":"
            "\"INSTALLATION\",\"requires_confirmation_tv\":false}]",
            sale, sale);
}

/* A task for `assigned_to` (a JSON value: "\"op-7\"" or "null"). */
static void task(const char *id, const char *task_id, const char *assigned_to)
{
    send_ev(id, "projects.task.created", task_id,
            "\"task_id\":\"%s\",\"task_type\":\"REVISIT\",\"service_order_id\":"
            "\"SO-N1\",\"priority\":\"HIGH\",\"assigned_to\":%s",
            task_id, assigned_to);
}

static void status_changed(const char *id, const char *so, const char *status)
{
    send_ev(id, "projects.service_order.status_changed", so,
            "\"service_order_id\":\"%s\",\"old_status\":\"IN_PROGRESS\","
            "\"new_status\":\"%s\",\"changed_by\":null,\"reason\":null",
            so, status);
}

typedef struct grep {
    const char *needle[2];
    long hits;
    char last[4096];
} grep;

static void on_msg(void *arg, const rd_kafka_message_t *m)
{
    grep *g = arg;
    char v[4096];
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    for (int i = 0; i < 2; i++)
        if (g->needle[i] && !strstr(v, g->needle[i]))
            return;
    g->hits++;
    memcpy(g->last, v, sizeof v);
}

/* Messages on `topic` that contain both needles, once the outbox is
 * drained; the last one is copied to last (may be NULL). */
static long on_topic(char *last, const char *topic, const char *n1,
                     const char *n2)
{
    wait_num(0, "SELECT count(*) FROM yard_outbox");
    grep g = {.needle = {n1, n2}};
    long n = th_consume_all(th_broker_bootstrap(broker), topic, 1, on_msg, &g);
    CU_ASSERT_TRUE(n >= 0);
    if (last)
        memcpy(last, g.last, sizeof g.last);
    return g.hits;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, BODY_MAX);
    size_t n = buf ? fread(buf, 1, BODY_MAX - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

/* ---- tests -------------------------------------------------------------- */

static void test_file_channel(void)
{
    char path[1024], last[4096];
    sales_order("ntf-order-1", "SALE-N1");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-order-1' AND status = 'sent' AND channel = 'file' AND"
               " template = 'integration.sales.order_received' AND recipient ="
               " 'CUST-SALE-N1' AND attempts = 1 AND error IS NULL");
    snprintf(path, sizeof path, "%s/spool/ntf-order-1.json", dir);
    char *text = read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(
        text, "{\"notificationId\":\"ntf-order-1\",\"eventType\":"
              "\"integration.sales.order_received\",\"template\":"
              "\"integration.sales.order_received\",\"type\":\"email\","
              "\"recipient\":\"CUST-SALE-N1\",\"subject\":\"Order SALE-N1 "
              "received\",\"body\":\"Hello CUST-SALE-N1,\\nyour INSTALLATION "
              "order SALE-N1 is in.\"}\n");
    free(text);
    CU_ASSERT_EQUAL(on_topic(last, "notification.sent",
                             "\"notificationId\":\"ntf-order-1\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"type\":\"email\",\"recipient\":"
                                        "\"CUST-SALE-N1\",\"subject\":\"Order"
                                        " SALE-N1 received\",\"template\":"
                                        "\"integration.sales.order_received\","
                                        "\"status\":\"sent\",\"provider\":"
                                        "\"file\",\"providerMessageId\":null,"
                                        "\"sentAt\":\"20"));
}

static void test_redelivery_notifies_once(void)
{
    char path[1024];
    struct stat before, after;
    snprintf(path, sizeof path, "%s/spool/ntf-order-1.json", dir);
    CU_ASSERT_EQUAL_FATAL(stat(path, &before), 0);
    /* The same event again, then a later one on the same key: once that
     * one is handled, so is the copy. */
    sales_order("ntf-order-1", "SALE-N1");
    sales_order("ntf-order-2", "SALE-N1");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-order-2' AND status = 'sent'");
    CU_ASSERT_EQUAL(stat(path, &after), 0);
    /* rename() would give the file a new inode: it was not rewritten */
    CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-order-1' AND attempts = 1");
    CU_ASSERT_EQUAL(on_topic(NULL, "notification.sent",
                             "\"notificationId\":\"ntf-order-1\"", NULL), 1);
}

static void test_missing_placeholder(void)
{
    char last[4096];
    size_t ok;
    /* assigned_to is null: {assigned_to}, the recipient, has no value */
    task("ntf-task-null", "TASK-N0", "null");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-task-null' AND status = 'failed' AND channel = 'webhook'"
               " AND recipient IS NULL AND attempts = 0 AND error_code ="
               " 'TEMPLATE_FIELD_MISSING' AND error = 'recipient placeholder"
               " {assigned_to} has no value in the payload'");
    CU_ASSERT_EQUAL(on_topic(last, "notification.failed",
                             "\"notificationId\":\"ntf-task-null\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"type\":\"push\",\"recipient\":\"\","
                                        "\"error\":\"TEMPLATE_FIELD_MISSING: "
                                        "recipient placeholder {assigned_to} has"
                                        " no value in the payload\","
                                        "\"retryCount\":0,\"failedAt\":\"20"));
    CU_ASSERT_EQUAL(on_topic(NULL, "notification.sent",
                             "\"notificationId\":\"ntf-task-null\"", NULL), 0);
    /* nothing was posted, nothing dead-lettered */
    CU_ASSERT_EQUAL(requests_for("ntf-task-null", &ok, NULL, NULL), 0);
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id ="
               " 'ntf-task-null'");
}

static void test_webhook_retry_then_sent(void)
{
    request first, last;
    size_t ok;
    char sent[4096];
    task("ntf-task-1", "TASK-N1", "\"op-7\"");
    task("ntf-task-1", "TASK-N1", "\"op-7\""); /* redelivered */
    task("ntf-task-2", "TASK-N1", "\"op-8\""); /* after it, same key */
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-task-2' AND status = 'sent'");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-task-1' AND status = 'sent' AND channel = 'webhook' AND"
               " recipient = 'op-7' AND attempts = 2");
    /* 503, retried by the host, 200; the copy posted nothing */
    CU_ASSERT_EQUAL(requests_for("ntf-task-1", &ok, &first, &last), 2);
    CU_ASSERT_EQUAL(ok, 1);
    CU_ASSERT_EQUAL(first.status, 503);
    CU_ASSERT_EQUAL(last.status, 200);
    CU_ASSERT_STRING_EQUAL(last.method, "POST");
    CU_ASSERT_STRING_EQUAL(last.key, "ntf-task-1");
    CU_ASSERT_STRING_EQUAL(last.content_type, "application/json");
    CU_ASSERT_STRING_EQUAL(first.body, last.body);
    CU_ASSERT_STRING_EQUAL(
        last.body, "{\"notificationId\":\"ntf-task-1\",\"eventType\":"
                   "\"projects.task.created\",\"template\":"
                   "\"projects.task.created\",\"type\":\"push\",\"recipient\":"
                   "\"op-7\",\"subject\":\"Task TASK-N1\",\"body\":\"REVISIT "
                   "for SO-N1, priority HIGH\"}");
    CU_ASSERT_EQUAL(on_topic(sent, "notification.sent",
                             "\"notificationId\":\"ntf-task-1\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(sent, "\"provider\":\"webhook\""));
}

static void test_webhook_4xx_fails(void)
{
    char last[4096];
    size_t ok;
    request r;
    task("ntf-task-bad", "TASK-N2", "\"reject-me\"");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-task-bad' AND status = 'failed' AND attempts = 1 AND"
               " error_code = 'DELIVERY_REFUSED' AND error = 'webhook answered"
               " HTTP 400'");
    CU_ASSERT_EQUAL(requests_for("ntf-task-bad", &ok, &r, NULL), 1);
    CU_ASSERT_EQUAL(ok, 0);
    CU_ASSERT_EQUAL(r.status, 400);
    CU_ASSERT_EQUAL(on_topic(last, "notification.failed",
                             "\"notificationId\":\"ntf-task-bad\"", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(last, "\"recipient\":\"reject-me\",\"error\":"
                                        "\"DELIVERY_REFUSED: webhook answered "
                                        "HTTP 400\",\"retryCount\":0,"));
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id ="
               " 'ntf-task-bad'");
}

static void test_webhook_down_to_dlq(void)
{
    size_t ok;
    /* 503 on every attempt: the host retries max_attempts (5) times, then
     * dead-letters the event, to be replayed; nothing is recorded. */
    task("ntf-task-busy", "TASK-N4", "\"always-busy\"");
    WAIT_EQ(1, "SELECT count(*) FROM yard_dead_letter WHERE consumer_group ="
               " 'notifications' AND event_id = 'ntf-task-busy' AND error_code"
               " = 'RETRIES_EXHAUSTED' AND attempts = 5");
    /* one POST per attempt at least: the first SY_RETRY of a batch also
     * has the host redo the batch, which calls the handler once more */
    CU_ASSERT_TRUE(requests_for("ntf-task-busy", &ok, NULL, NULL) >= 5);
    CU_ASSERT_EQUAL(ok, 0);
    WAIT_EQ(0, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-task-busy'");
    CU_ASSERT_EQUAL(on_topic(NULL, "notification.failed",
                             "\"notificationId\":\"ntf-task-busy\"", NULL), 0);
}

static void test_skipped(void)
{
    /* A status the template's `when` does not take, a type without a
     * template: handled, nothing notified, nothing dead-lettered. */
    status_changed("ntf-status-1", "SO-N3", "ASSIGNED");
    send_ev("ntf-closed-1", "projects.service_order.closed", "SO-N3",
            "\"service_order_id\":\"SO-N3\",\"project_id\":\"PRJ-N3\","
            "\"provider_id\":\"P1\",\"team_id\":\"T1\",\"customer_amount\":"
            "{\"value\":100.0,\"currency\":\"EUR\"},\"provider_amount\":"
            "{\"value\":80.0,\"currency\":\"EUR\"},\"wcf_accepted\":true,"
            "\"warranty_start_date\":\"2026-01-05\"");
    status_changed("ntf-status-2", "SO-N3", "COMPLETED");
    WAIT_HANDLED("ntf-status-1");
    WAIT_HANDLED("ntf-closed-1");
    WAIT_EQ(1, "SELECT count(*) FROM ntf_notification WHERE event_id ="
               " 'ntf-status-2' AND status = 'sent' AND recipient = 'SO-N3'");
    WAIT_EQ(0, "SELECT count(*) FROM ntf_notification WHERE event_id IN"
               " ('ntf-status-1', 'ntf-closed-1')");
    WAIT_EQ(0, "SELECT count(*) FROM yard_dead_letter WHERE event_id IN"
               " ('ntf-status-1', 'ntf-closed-1', 'ntf-status-2')");
    char path[1024];
    snprintf(path, sizeof path, "%s/spool/ntf-status-2.json", dir);
    char *text = read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"type\":\"sms\",\"recipient\":"
                                        "\"SO-N3\",\"subject\":null,\"body\":"
                                        "\"SO-N3: please sign the form\"}\n"));
    free(text);
}

typedef struct schema_check {
    const yard_schema *schema;
    long checked, invalid;
} schema_check;

static void on_validate(void *arg, const rd_kafka_message_t *m)
{
    schema_check *sc = arg;
    yard_schema_error why;
    sc->checked++;
    if (yard_schema_validate_text(sc->schema, m->payload, m->len, 0, &why) &&
        sc->invalid++ < 3)
        printf("\n  %s: %s\n", yard_schema_file(sc->schema), why.message);
}

/* Every notification.sent and notification.failed matches its schema in
 * schemas/ exactly. */
static void test_schemas(void)
{
    yard_schema_registry *reg = NULL;
    CU_ASSERT_EQUAL_FATAL(yard_schema_registry_load(YARD_SOURCE_DIR "/schemas",
                                                    false, &reg, NULL), 0);
    wait_num(0, "SELECT count(*) FROM yard_outbox");
    const char *types[] = {"notification.sent", "notification.failed"};
    const long want[] = {5, 2}; /* order-1, order-2, task-1, task-2, status-2 */
    for (size_t i = 0; i < 2; i++) {
        schema_check sc = {.schema = yard_schema_find(reg, types[i], 0)};
        CU_ASSERT_PTR_NOT_NULL_FATAL(sc.schema);
        CU_ASSERT_TRUE(th_consume_all(th_broker_bootstrap(broker), types[i], 1,
                                      on_validate, &sc) >= 0);
        CU_ASSERT_EQUAL(sc.checked, want[i]);
        CU_ASSERT_EQUAL(sc.invalid, 0);
    }
    yard_schema_registry_free(reg);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"file: the rendered notification in its spool file, notification.sent",
         test_file_channel},
        {"file: a redelivered event notifies nobody twice",
         test_redelivery_notifies_once},
        {"a placeholder without a value: notification.failed with its code",
         test_missing_placeholder},
        {"webhook: 503 is retried, then 200; Idempotency-Key is the event id",
         test_webhook_retry_then_sent},
        {"webhook: 400 is notification.failed", test_webhook_4xx_fails},
        {"webhook: 503 until the retries run out: the DLQ, no record",
         test_webhook_down_to_dlq},
        {"no template, `when` not met: handled, nobody notified", test_skipped},
        {"notification.sent/failed match their schemas", test_schemas},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("notifications", suite_init, suite_clean, tests);
}
