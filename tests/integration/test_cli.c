/*
 * The operator commands run as an operator runs them — the built
 * `switchyard` binary as a child process — against the mock cluster over
 * TCP: produce, tail and lag (cli_kafka.h), and status against a running
 * host with real PostgreSQL and the counter test plugin.
 *
 * Asserted: exit codes and usage; a produce -> tail round trip with exact
 * ids, keys, types and data; a payload its schema refuses names the field
 * and the schema, exits 1 and leaves the topic untouched; the [topics]
 * rule and the schema's partition key as defaults; lag 0 on every
 * partition once the host consumed everything, and exactly the events
 * produced while it was stopped afterwards; status of the running host.
 */
#include <fcntl.h>
#include <jansson.h>
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
#include "testutil.h"

#define BIN YARD_SWITCHYARD_BIN
#define EVENTS_TOPIC "cli.events"
#define ORDERS_TOPIC "cli.orders"
#define MIXED_TOPIC "cli.mixed" /* other dialects and non-events */
#define LAG_RUN "lag"           /* counter run: type and topic lag.input */
#define LAG_PARTITIONS 4
#define LAG_KEYS 40
#define LAG_N 40 /* consumed by the host */
#define LAG_M 7  /* produced while it is stopped */

static yard_pgtmp *pg;
static PGconn *admin, *db;
static th_broker *broker;
static char *dir;             /* scratch files */
static char prod_conf[1024];  /* [topics] and a schema, no plugins */
static char host_conf[1024];  /* the counter plugin and PostgreSQL */
static char empty_conf[1024]; /* loads, but names no broker */

/* ---- running the command ----------------------------------------------- */

typedef struct result {
    int code; /* exit code, -1 when it did not exit normally */
    char out[65536];
    char err[16384];
} result;

static result res;

static void slurp_path(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

static void slurp(const char *name, char *buf, size_t len)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    slurp_path(path, buf, len);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Start `switchyard ARGS...` (NULL-terminated) with `input` (or nothing)
 * on stdin and stdout/stderr into files of dir named after `tag`.
 * Returns the pid. */
static pid_t cli_spawn(const char *tag, const char *input, const char **argv)
{
    char in[1200], out[1200], err[1200];
    snprintf(in, sizeof in, "%s/%s.in", dir, tag);
    snprintf(out, sizeof out, "%s/%s.out", dir, tag);
    snprintf(err, sizeof err, "%s/%s.err", dir, tag);
    yard_test_write(dir, strrchr(in, '/') + 1, input ? input : "");
    pid_t pid = fork();
    if (pid == 0) {
        int i = open(in, O_RDONLY);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (i < 0 || o < 0 || e < 0)
            _exit(126);
        dup2(i, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(BIN, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int exit_code(int st)
{
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run `switchyard A...` to its end (at most 60 s); the outcome in res. */
static int cli(const char *input, ...)
{
    const char *argv[64] = {BIN};
    size_t n = 1;
    va_list ap;
    va_start(ap, input);
    for (const char *s; n < 63 && (s = va_arg(ap, const char *));)
        argv[n++] = s;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = cli_spawn("cli", input, argv);
    res.code = pid > 0 ? exit_code(th_host_wait(pid, 60000)) : -1;
    slurp("cli.out", res.out, sizeof res.out);
    slurp("cli.err", res.err, sizeof res.err);
    if (res.code != 0 && getenv("YARD_TEST_VERBOSE"))
        printf("\n  exit %d: %s", res.code, res.err);
    return res.code;
}

/* The lines of out as JSON documents; NULL when one does not parse. */
static json_t *json_lines(const char *out)
{
    json_t *arr = json_array();
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        json_t *doc = json_loadb(p, len, 0, NULL);
        if (!doc) {
            printf("\n  not JSON: %.*s", (int)len, p);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, doc);
        p += len + (p[len] == '\n');
    }
    return arr;
}

/* A string member, or "(absent)": CUnit's string asserts take no NULL. */
static const char *jget(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "(absent)";
}

static long long jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* ---- setup -----------------------------------------------------------------
 */

static const char order_schema[] =
    "{\"type\": \"record\", \"name\": \"CliOrder\", \"namespace\": "
    "\"test.cli\",\n"
    " \"x-partition-key\": \"{order_id}\",\n"
    " \"fields\": [{\"name\": \"order_id\", \"type\": \"string\"},\n"
    "            {\"name\": \"amount\", \"type\": \"int\"}]}\n";

static int suite_init(void)
{
    if (th_pg_start(&pg, &admin) || !th_sql(admin, "CREATE DATABASE clilag"))
        return -1;
    db = th_connect(yard_pgtmp_dsn(pg), "clilag");
    char lag[64];
    snprintf(lag, sizeof lag, LAG_RUN ".input:%d", LAG_PARTITIONS);
    const char *topics[] = {EVENTS_TOPIC ":3", ORDERS_TOPIC ":2",
                            MIXED_TOPIC ":1",  lag,
                            LAG_RUN ".done:1", "dlq.counter:1"};
    broker = th_broker_start(1, topics, sizeof topics / sizeof topics[0]);
    dir = yard_test_tmpdir("cli");
    if (!db || !broker || !dir)
        return -1;
    snprintf(prod_conf, sizeof prod_conf, "%s/produce", dir);
    snprintf(host_conf, sizeof host_conf, "%s/host", dir);
    snprintf(empty_conf, sizeof empty_conf, "%s/empty", dir);
    char schemas[1100], ini[4096];
    snprintf(schemas, sizeof schemas, "%s/schemas", dir);
    if (mkdir(prod_conf, 0755) || mkdir(host_conf, 0755) ||
        mkdir(empty_conf, 0755) || mkdir(schemas, 0755) ||
        yard_test_write(schemas, "cli.order.v1.avsc", order_schema))
        return -1;
    snprintf(ini, sizeof ini,
             "[host]\nschema_dir = %s\nstate_dir = %s\n\n"
             "[kafka]\nbootstrap.servers = %s\n\n"
             "[topics]\ncli.order* = " ORDERS_TOPIC "\n",
             schemas, dir, th_broker_bootstrap(broker));
    if (yard_test_write(prod_conf, "host.ini", ini))
        return -1;
    snprintf(ini, sizeof ini,
             "[host]\nworkers = 2\nplugin_dir = %s\nstate_dir = %s\n"
             "control_socket = %s/control.sock\nshutdown_timeout_ms = 20000\n\n"
             "[kafka]\nbootstrap.servers = %s\nsession.timeout.ms = 6000\n"
             "heartbeat.interval.ms = 500\nfetch.wait.max.ms = 10\n"
             "topic.metadata.refresh.interval.ms = 1000\n\n"
             "[postgres]\ndsn = %s dbname=clilag\n",
             YARD_TEST_PLUGIN_DIR, dir, dir, th_broker_bootstrap(broker),
             yard_pgtmp_dsn(pg));
    if (yard_test_write(host_conf, "host.ini", ini) ||
        yard_test_write(host_conf, "50-counter.ini",
                        "[plugin]\npath = counter.so\n"))
        return -1;
    return yard_test_write(empty_conf, "host.ini", "[host]\nworkers = 1\n");
}

static int suite_clean(void)
{
    th_broker_stop(broker);
    PQfinish(db);
    th_pg_stop(pg, admin);
    if (dir && !getenv("YARD_TEST_KEEP"))
        yard_test_rm_rf(dir);
    free(dir);
    return 0;
}

/* ---- usage and exit codes ---------------------------------------------------
 */

static void test_usage(void)
{
    const char *cmds[] = {"produce", "tail", "lag"};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: switchyard %s", cmds[i]);
        CU_ASSERT_EQUAL(cli(NULL, cmds[i], "--help", NULL), 0);
        CU_ASSERT_EQUAL(strncmp(res.out, want, strlen(want)), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "exit codes: 0 ok, 1 failure, "
                                               "2 usage, 3 configuration"));
        CU_ASSERT_EQUAL(res.err[0], '\0');
        CU_ASSERT_EQUAL(cli(NULL, cmds[i], "-h", NULL), 0);

        CU_ASSERT_EQUAL(cli(NULL, cmds[i], "--bogus", NULL), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "unknown option '--bogus'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err, want));
        CU_ASSERT_EQUAL(res.out[0], '\0');
        CU_ASSERT_EQUAL(cli(NULL, cmds[i], "--timeout", NULL), 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--timeout needs a value"));
    }
    /* Required and misplaced arguments. */
    CU_ASSERT_EQUAL(cli(NULL, "produce", "--brokers", "x:1", NULL), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--type is required"));
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", "x:1", NULL), 2);
    CU_ASSERT_EQUAL(cli(NULL, "tail", "t", "--type", "x", NULL), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--type is not an option of tail"));
    CU_ASSERT_EQUAL(cli(NULL, "tail", "t", "-n", "0", NULL), 2);
    CU_ASSERT_EQUAL(cli(NULL, "produce", "--type", "t", "extra", NULL), 2);
    CU_ASSERT_EQUAL(cli(NULL, "lag", "--brokers", "x:1", NULL), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no group"));
    /* Configuration errors. */
    CU_ASSERT_EQUAL(cli("{}", "produce", "--type", "t", "--conf-dir",
                        "/nonexistent/conf.d", NULL),
                    3);
    CU_ASSERT_EQUAL(
        cli("{}", "produce", "--type", "t", "--conf-dir", empty_conf, NULL), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "bootstrap.servers"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "--brokers"));
    /* The other commands' help too. */
    const char *others[][2] = {{"status", "--help"},
                               {"reload", "-h"},
                               {"dlq", "--help"},
                               {"schema", "--help"}};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(cli(NULL, others[i][0], others[i][1], NULL), 0);
        CU_ASSERT_EQUAL(strncmp(res.out, "usage: switchyard ", 18), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "exit codes: 0 ok"));
    }
    CU_ASSERT_EQUAL(cli(NULL, "--help", NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "produce"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "lag"));
}

/* ---- produce -> tail
 * --------------------------------------------------------- */

typedef struct sent {
    char id[64];
    const char *key, *type, *data;
} sent;

static sent produced[4];

/* The produced event whose id is `id`, or NULL. */
static const sent *sent_by_id(const char *id)
{
    for (size_t i = 0; i < 4; i++)
        if (strcmp(produced[i].id, id) == 0)
            return &produced[i];
    return NULL;
}

/* One tail --json line against what was produced. */
static void check_tailed(json_t *o)
{
    const sent *s = sent_by_id(jget(o, "id"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_STRING_EQUAL(jget(o, "topic"), EVENTS_TOPIC);
    CU_ASSERT_STRING_EQUAL(jget(o, "key"), s->key);
    CU_ASSERT_STRING_EQUAL(jget(o, "type"), s->type);
    CU_ASSERT_STRING_EQUAL(jget(o, "dialect"), "binary");
    json_t *data = json_loads(s->data, 0, NULL);
    CU_ASSERT_TRUE(json_equal(json_object_get(o, "data"), data));
    json_decref(data);
    json_t *h = json_object_get(o, "headers");
    CU_ASSERT_STRING_EQUAL(jget(h, "ce_id"), s->id);
    CU_ASSERT_STRING_EQUAL(jget(h, "ce_type"), s->type);
    CU_ASSERT_STRING_EQUAL(jget(h, "ce_specversion"), "1.0");
    CU_ASSERT_STRING_EQUAL(jget(h, "ce_partitionkey"), s->key);
    CU_ASSERT_PTR_NOT_NULL(jget(h, "ce_time"));
    CU_ASSERT_TRUE(jnum(o, "offset") >= 0);
}

static void test_round_trip(void)
{
    const char *bs = th_broker_bootstrap(broker);
    /* Only --brokers: no configuration on this machine is needed. */
    produced[0] = (sent){"cli-evt-1", "k-1", "cli.thing.created",
                         "{\"n\":1,\"name\":\"first\"}"};
    produced[1] = (sent){"cli-evt-2", "k-2", "cli.thing.updated",
                         "{\"n\":2,\"tags\":[\"a\",\"b\"]}"};
    produced[2] = (sent){"", "k-3", "cli.thing.deleted", "{\"n\":3}"};
    CU_ASSERT_EQUAL(cli(produced[0].data, "produce", "--brokers", bs, "--topic",
                        EVENTS_TOPIC, "--type", produced[0].type, "--key",
                        produced[0].key, "--id", produced[0].id, NULL),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "cli-evt-1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "to " EVENTS_TOPIC " ["));
    /* --data FILE, and --json. */
    yard_test_write(dir, "two.json", produced[1].data);
    char file[1200];
    snprintf(file, sizeof file, "%s/two.json", dir);
    CU_ASSERT_EQUAL(cli(NULL, "produce", "--brokers", bs, "--topic",
                        EVENTS_TOPIC, "--type", produced[1].type, "--key",
                        produced[1].key, "--id", produced[1].id, "--data", file,
                        "--json", NULL),
                    0);
    json_t *r = json_loads(res.out, 0, NULL);
    CU_ASSERT_STRING_EQUAL(jget(r, "id"), "cli-evt-2");
    CU_ASSERT_STRING_EQUAL(jget(r, "topic"), EVENTS_TOPIC);
    CU_ASSERT_STRING_EQUAL(jget(r, "key"), "k-2");
    CU_ASSERT_TRUE(jnum(r, "partition") >= 0 && jnum(r, "partition") < 3);
    CU_ASSERT_TRUE(jnum(r, "offset") >= 0);
    json_decref(r);
    /* No --id: a fresh UUID, reported. */
    CU_ASSERT_EQUAL(cli(produced[2].data, "produce", "--brokers", bs, "--topic",
                        EVENTS_TOPIC, "--type", produced[2].type, "--key",
                        produced[2].key, "--subject", "thing-3", "--header",
                        "ce_tenantid=acme", "--json", NULL),
                    0);
    r = json_loads(res.out, 0, NULL);
    const char *uuid = jget(r, "id");
    CU_ASSERT_TRUE(strlen(uuid) == 36 && uuid[14] == '4');
    snprintf(produced[2].id, sizeof produced[2].id, "%s", uuid);
    json_decref(r);

    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, EVENTS_TOPIC,
                        "--from-beginning", "--json", "-n", "3", NULL),
                    0);
    json_t *lines = json_lines(res.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
    CU_ASSERT_EQUAL(json_array_size(lines), 3);
    size_t i;
    json_t *o;
    bool seen[3] = {false, false, false};
    json_array_foreach(lines, i, o)
    {
        check_tailed(o);
        const sent *s = sent_by_id(jget(o, "id"));
        if (s)
            seen[s - produced] = true;
    }
    CU_ASSERT_TRUE(seen[0] && seen[1] && seen[2]);
    /* Subject and the extra header of the third. */
    json_array_foreach(lines, i, o)
    {
        if (strcmp(jget(o, "id"), produced[2].id) != 0)
            continue;
        CU_ASSERT_STRING_EQUAL(jget(o, "subject"), "thing-3");
        CU_ASSERT_STRING_EQUAL(jget(o, "tenant_id"), "acme");
        CU_ASSERT_STRING_EQUAL(jget(o, "source"), "/switchyard/cli");
    }
    json_decref(lines);

    /* Without -n: stops at the end of every partition; a pattern. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, "cli.ev*",
                        "--from-beginning", "--json", NULL),
                    0);
    lines = json_lines(res.out);
    CU_ASSERT_EQUAL(json_array_size(lines), 3);
    json_decref(lines);
    /* From the end without --follow: nothing new, and it returns. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, EVENTS_TOPIC, NULL), 0);
    CU_ASSERT_EQUAL(res.out[0], '\0');
    /* For people: the envelope and the data. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, EVENTS_TOPIC,
                        "--from-beginning", NULL),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "cli-evt-1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "key=k-2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "\"first\""));
    /* Unknown topics. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, "no.such.topic", NULL),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "no.such.topic"));
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", bs, "nothing.*", NULL), 1);

    /* --follow waits past the end: the 4th event, produced while it
     * waits, arrives and -n 4 ends it. */
    const char *argv[] = {BIN,        "tail",       "--brokers",
                          bs,         EVENTS_TOPIC, "--from-beginning",
                          "--follow", "--json",     "-n",
                          "4",        NULL};
    pid_t tail = cli_spawn("follow", NULL, argv);
    CU_ASSERT_TRUE_FATAL(tail > 0);
    usleep(1500000);
    CU_ASSERT_EQUAL(waitpid(tail, NULL, WNOHANG), 0); /* still waiting */
    produced[3] = (sent){"cli-evt-4", "k-4", "cli.thing.created", "{\"n\":4}"};
    CU_ASSERT_EQUAL(cli(produced[3].data, "produce", "--brokers", bs, "--topic",
                        EVENTS_TOPIC, "--type", produced[3].type, "--key",
                        produced[3].key, "--id", produced[3].id, NULL),
                    0);
    CU_ASSERT_EQUAL(exit_code(th_host_wait(tail, 30000)), 0);
    static char out[65536];
    slurp("follow.out", out, sizeof out);
    lines = json_lines(out);
    CU_ASSERT_EQUAL(json_array_size(lines), 4);
    json_array_foreach(lines, i, o) check_tailed(o);
    json_decref(lines);

    /* SWITCHYARD_KAFKA_BROKERS stands in for --brokers. */
    setenv("SWITCHYARD_KAFKA_BROKERS", bs, 1);
    CU_ASSERT_EQUAL(
        cli(NULL, "tail", EVENTS_TOPIC, "--from-beginning", "--json", NULL), 0);
    unsetenv("SWITCHYARD_KAFKA_BROKERS");
    lines = json_lines(res.out);
    CU_ASSERT_EQUAL(json_array_size(lines), 4);
    json_decref(lines);
}

/* ---- schemas and the configuration's defaults
 * -------------------------------- */

static void test_schema_refusal(void)
{
    /* The [topics] rule picks the topic, x-partition-key the key. */
    CU_ASSERT_EQUAL(cli("{\"order_id\":\"O-1\",\"amount\":5}", "produce",
                        "--conf-dir", prod_conf, "--type", "cli.order",
                        "--json", NULL),
                    0);
    json_t *r = json_loads(res.out, 0, NULL);
    CU_ASSERT_STRING_EQUAL(jget(r, "topic"), ORDERS_TOPIC);
    CU_ASSERT_STRING_EQUAL(jget(r, "key"), "O-1");
    char good_id[64];
    snprintf(good_id, sizeof good_id, "%s", jget(r, "id"));
    json_decref(r);

    /* A field of the wrong type: named, with the schema; exit 1. */
    CU_ASSERT_EQUAL(cli("{\"order_id\":\"O-2\",\"amount\":\"many\"}", "produce",
                        "--conf-dir", prod_conf, "--type", "cli.order", NULL),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "$.amount"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "cli.order.v1.avsc"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "nothing was produced"));
    CU_ASSERT_EQUAL(res.out[0], '\0');
    printf("\n  %s", res.err);
    /* A missing field, an unknown one, and not JSON at all. */
    CU_ASSERT_EQUAL(cli("{\"order_id\":\"O-3\"}", "produce", "--conf-dir",
                        prod_conf, "--type", "cli.order", NULL),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "$.amount"));
    CU_ASSERT_EQUAL(cli("{\"order_id\":\"O-4\",\"amount\":1,\"colour\":2}",
                        "produce", "--conf-dir", prod_conf, "--type",
                        "cli.order", NULL),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "$.colour"));
    CU_ASSERT_EQUAL(cli("{\"order_id\": ", "produce", "--conf-dir", prod_conf,
                        "--type", "cli.order", NULL),
                    1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "not JSON"));
    /* --id against the payload's own event_id: the host would refuse it. */
    CU_ASSERT_EQUAL(cli("{\"event_id\":\"e-1\"}", "produce", "--conf-dir",
                        prod_conf, "--type", "cli.other", "--id", "e-2", NULL),
                    1);

    /* Only the good one reached the topic. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--conf-dir", prod_conf, ORDERS_TOPIC,
                        "--from-beginning", "--json", NULL),
                    0);
    json_t *lines = json_lines(res.out);
    CU_ASSERT_EQUAL(json_array_size(lines), 1);
    json_t *o = json_array_get(lines, 0);
    CU_ASSERT_STRING_EQUAL(jget(o, "id"), good_id);
    CU_ASSERT_STRING_EQUAL(jget(o, "schema_version"), "1");
    CU_ASSERT_EQUAL(jnum(json_object_get(o, "data"), "amount"), 5);
    json_decref(lines);
}

/* ---- tail: every dialect, and messages that are not events
 * ------------------- */

static void produce_raw(rd_kafka_t *p, const char *value, const char *ctype)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (ctype)
        rd_kafka_header_add(h, "content-type", -1, ctype, -1);
    CU_ASSERT_EQUAL(
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(MIXED_TOPIC),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
        0);
}

static void test_tail_dialects(void)
{
    rd_kafka_t *p = th_producer(th_broker_bootstrap(broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    produce_raw(p,
                "{\"specversion\":\"1.0\",\"id\":\"s-1\",\"type\":"
                "\"cli.structured\",\"source\":\"/elsewhere\","
                "\"tenantid\":\"t-9\",\"data\":{\"a\":1}}",
                "application/cloudevents+json");
    produce_raw(p,
                "{\"eventType\":\"cli.legacy\",\"eventId\":\"e-1\","
                "\"timestamp\":\"2026-01-01T00:00:00Z\",\"version\":\"2\","
                "\"data\":{\"b\":2}}",
                NULL);
    produce_raw(p, "not json at all", NULL);
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);

    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", th_broker_bootstrap(broker),
                        MIXED_TOPIC, "--from-beginning", "--json", NULL),
                    0);
    json_t *lines = json_lines(res.out);
    CU_ASSERT_EQUAL_FATAL(json_array_size(lines), 3);
    json_t *s = json_array_get(lines, 0), *e = json_array_get(lines, 1),
           *bad = json_array_get(lines, 2);
    CU_ASSERT_STRING_EQUAL(jget(s, "dialect"), "structured");
    CU_ASSERT_STRING_EQUAL(jget(s, "id"), "s-1");
    CU_ASSERT_STRING_EQUAL(jget(s, "type"), "cli.structured");
    CU_ASSERT_STRING_EQUAL(jget(s, "tenant_id"), "t-9");
    CU_ASSERT_EQUAL(jnum(json_object_get(s, "data"), "a"), 1);
    CU_ASSERT_STRING_EQUAL(jget(e, "dialect"), "event-type");
    CU_ASSERT_STRING_EQUAL(jget(e, "id"), "e-1");
    CU_ASSERT_STRING_EQUAL(jget(e, "schema_version"), "2");
    CU_ASSERT_EQUAL(jnum(json_object_get(e, "data"), "b"), 2);
    CU_ASSERT_STRING_EQUAL(jget(json_object_get(bad, "error"), "code"),
                           "PAYLOAD_NOT_JSON");
    CU_ASSERT_STRING_EQUAL(jget(bad, "value"), "not json at all");
    CU_ASSERT_PTR_NULL(json_object_get(bad, "data"));
    json_decref(lines);
    /* For people: the reason, and the value. */
    CU_ASSERT_EQUAL(cli(NULL, "tail", "--brokers", th_broker_bootstrap(broker),
                        MIXED_TOPIC, "--from-beginning", NULL),
                    0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "not an event: PAYLOAD_NOT_JSON"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "dialect         structured"));
}

/* ---- lag and status against a running host ---------------------------------
 */

/* `lag ARGS --json` for group counter: its total lag (-1 unless it shows
 * every partition of LAG_RUN.input) and the number of those partitions
 * with committed == high watermark. */
static long long counter_lag(const char *const *args, int *caught_up)
{
    const char *a[6] = {NULL};
    for (size_t n = 0; n < 5 && args[n]; n++)
        a[n] = args[n];
    /* The list ends at the first NULL: "--json" goes first. */
    if (cli(NULL, "lag", "--json", a[0], a[1], a[2], a[3], a[4], NULL) != 0)
        return -1;
    json_t *doc = json_loads(res.out, 0, NULL);
    json_t *g = json_array_get(json_object_get(doc, "groups"), 0);
    long long lag = -1;
    *caught_up = 0;
    if (g && strcmp(jget(g, "group"), "counter") == 0) {
        lag = jnum(g, "lag");
        size_t i;
        json_t *p;
        long long sum = 0;
        json_array_foreach(json_object_get(g, "partitions"), i, p)
        {
            CU_ASSERT_STRING_EQUAL(jget(p, "topic"), LAG_RUN ".input");
            sum += jnum(p, "lag");
            if (jnum(p, "committed") >= 0 &&
                jnum(p, "committed") == jnum(p, "high_watermark"))
                (*caught_up)++;
        }
        CU_ASSERT_EQUAL(sum, lag);
        /* Before the group's first commit it shows no partition. */
        if (json_array_size(json_object_get(g, "partitions")) != LAG_PARTITIONS)
            lag = -1;
    }
    json_decref(doc);
    return lag;
}

static void produce_counter(int from, int to)
{
    rd_kafka_t *p = th_producer(th_broker_bootstrap(broker));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char id[64], key[16];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof id, LAG_RUN "-evt-%06d", i);
        snprintf(key, sizeof key, "key-%02d", i % LAG_KEYS);
        CU_ASSERT_TRUE(th_produce_ce(p, LAG_RUN ".input", key, id,
                                     LAG_RUN ".input", "{\"seq\":0}"));
    }
    CU_ASSERT_TRUE(th_flush(p));
    rd_kafka_destroy(p);
}

static void test_lag_and_status(void)
{
    pid_t host = th_host_spawn(host_conf);
    CU_ASSERT_TRUE_FATAL(host > 0);
    produce_counter(0, LAG_N);
    /* The plugin's migration creates its table. */
    CU_ASSERT_EQUAL(th_wait_num(db,
                                "SELECT count(*) FROM pg_tables"
                                " WHERE tablename = 'counter_effect'",
                                1, 60000),
                    1);
    CU_ASSERT_EQUAL(
        th_wait_num(db, "SELECT count(*) FROM counter_effect", LAG_N, 60000),
        LAG_N);
    /* Offsets are committed after the transactions: wait for them. */
    const char *by_conf[] = {"--conf-dir", host_conf, NULL};
    int caught_up = 0;
    long long lag = -1;
    for (int i = 0; i < 60 && (lag != 0 || caught_up != LAG_PARTITIONS); i++) {
        lag = counter_lag(by_conf, &caught_up);
        if (lag != 0 || caught_up != LAG_PARTITIONS)
            usleep(250000);
    }
    CU_ASSERT_EQUAL(lag, 0);
    CU_ASSERT_EQUAL(caught_up, LAG_PARTITIONS);
    printf("\n  running host: lag %lld, %d of %d partitions caught up", lag,
           caught_up, LAG_PARTITIONS);

    /* status of the running host. */
    CU_ASSERT_EQUAL(
        cli(NULL, "status", "--conf-dir", host_conf, "--json", NULL), 0);
    json_t *st = json_loads(res.out, 0, NULL);
    json_t *p = json_array_get(json_object_get(st, "plugins"), 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(st, "plugins")), 1);
    CU_ASSERT_STRING_EQUAL(jget(p, "name"), "counter");
    CU_ASSERT_STRING_EQUAL(jget(p, "group"), "counter");
    CU_ASSERT_EQUAL(jnum(p, "handled"), LAG_N);
    CU_ASSERT_EQUAL(jnum(p, "generation"), 1);
    CU_ASSERT_TRUE(json_is_true(json_object_get(p, "consuming")));
    CU_ASSERT_EQUAL(jnum(st, "reloads"), 0);
    json_decref(st);
    CU_ASSERT_EQUAL(cli(NULL, "status", "--conf-dir", host_conf, NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "counter"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "reloads: 0"));

    /* lag read the group's offsets without joining it: the host's
     * consumer was assigned its partitions once and never rebalanced. */
    char log[1200];
    snprintf(log, sizeof log, "%s/host.log", host_conf);
    static char hostlog[1 << 20];
    slurp_path(log, hostlog, sizeof hostlog);
    CU_ASSERT_EQUAL(count(hostlog, "partitions assigned"), 1);
    CU_ASSERT_EQUAL(count(hostlog, "partitions revoked"), 0);

    kill(host, SIGTERM);
    CU_ASSERT_EQUAL(exit_code(th_host_wait(host, 60000)), 0);
    CU_ASSERT_EQUAL(cli(NULL, "status", "--conf-dir", host_conf, NULL), 1);

    /* M more while nobody consumes: exactly M behind. */
    produce_counter(LAG_N, LAG_N + LAG_M);
    lag = counter_lag(by_conf, &caught_up);
    CU_ASSERT_EQUAL(lag, LAG_M);
    CU_ASSERT_TRUE(caught_up < LAG_PARTITIONS);
    /* The group by name with only --brokers; and --topic. */
    const char *bs = th_broker_bootstrap(broker);
    const char *by_name[] = {"counter", "--brokers", bs, NULL};
    CU_ASSERT_EQUAL(counter_lag(by_name, &caught_up), LAG_M);
    const char *by_topic[] = {"counter", "--brokers", bs,
                              "--topic", "lag.in*",   NULL};
    CU_ASSERT_EQUAL(counter_lag(by_topic, &caught_up), LAG_M);
    printf("\n  stopped host, %d produced: lag %lld\n", LAG_M, lag);
    /* For people. */
    CU_ASSERT_EQUAL(cli(NULL, "lag", "--conf-dir", host_conf, NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "GROUP"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "counter"));
    CU_ASSERT_PTR_NOT_NULL(strstr(res.out, "(total)"));
    printf("%s", res.out);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"--help, usage and configuration errors: exit codes 0, 2, 3",
         test_usage},
        {"produce 3 events, tail them back exactly; --follow", test_round_trip},
        {"a payload its schema refuses names the field, produces nothing",
         test_schema_refusal},
        {"tail decodes every dialect and shows what is not an event",
         test_tail_dialects},
        {"lag 0 after the host consumed, M after M more; status",
         test_lag_and_status},
        CU_TEST_INFO_NULL,
    };
    return yard_test_main("cli", suite_init, suite_clean, tests);
}
