/* cli_kafka.c — `switchyard produce`, `tail` and `lag` (cli_kafka.h). */
#include "cli_kafka.h"

#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "consumer.h"
#include "envelope.h"
#include "pattern.h"
#include "schema.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_CONFIG = 3 };

/* Which command an option belongs to. */
enum { C_PRODUCE = 1u, C_TAIL = 2u, C_LAG = 4u, C_ALL = 7u };

#define DEFAULT_TIMEOUT_S 30
#define MAX_TIMEOUT_S 86400
#define MAX_ARGS 256               /* patterns, groups, headers, topics */
#define MAX_DATA_BYTES (64u << 20) /* a payload read by produce */
#define DATA_CHUNK 65536
#define TAIL_MAX_VALUE (64u << 20) /* values tail decodes */
#define TAIL_POLL_MS 200
#define ERRLEN 1024
#define CLI_SOURCE "/switchyard/cli"
#define CLI_CLIENT_ID "switchyard-cli"
/* librdkafka's high-level consumer needs a group.id even to assign
 * partitions itself; tail never subscribes or commits, so the group is
 * never joined and holds no offsets. */
#define TAIL_GROUP "switchyard-tail"

typedef enum opt_id {
    O_CONF_DIR,
    O_BROKERS,
    O_TIMEOUT,
    O_JSON,
    O_HELP,
    O_TYPE,
    O_KEY,
    O_ID,
    O_SOURCE,
    O_SUBJECT,
    O_TOPIC,
    O_HEADER,
    O_DATA,
    O_SCHEMA_DIR,
    O_FROM_BEGINNING,
    O_FOLLOW,
    O_LIMIT,
} opt_id;

typedef struct opt_def {
    const char *name;
    const char *alias; /* or NULL */
    opt_id id;
    unsigned cmds; /* C_* of the commands that take it */
    bool value;    /* takes the next argument */
} opt_def;

static const opt_def options[] = {
    {"--conf-dir", NULL, O_CONF_DIR, C_ALL, true},
    {"--brokers", NULL, O_BROKERS, C_ALL, true},
    {"--timeout", NULL, O_TIMEOUT, C_ALL, true},
    {"--json", NULL, O_JSON, C_ALL, false},
    {"--help", "-h", O_HELP, C_ALL, false},
    {"--type", NULL, O_TYPE, C_PRODUCE, true},
    {"--key", NULL, O_KEY, C_PRODUCE, true},
    {"--id", NULL, O_ID, C_PRODUCE, true},
    {"--source", NULL, O_SOURCE, C_PRODUCE, true},
    {"--subject", NULL, O_SUBJECT, C_PRODUCE, true},
    {"--topic", NULL, O_TOPIC, C_PRODUCE | C_LAG, true},
    {"--header", NULL, O_HEADER, C_PRODUCE, true},
    {"--data", NULL, O_DATA, C_PRODUCE, true},
    {"--schema-dir", NULL, O_SCHEMA_DIR, C_PRODUCE, true},
    {"--from-beginning", NULL, O_FROM_BEGINNING, C_TAIL, false},
    {"--follow", "-f", O_FOLLOW, C_TAIL, false},
    {"-n", "--limit", O_LIMIT, C_TAIL, true},
};

typedef struct kargs {
    unsigned cmd;         /* C_PRODUCE, C_TAIL or C_LAG */
    const char *name;     /* argv[0] */
    const char *conf_dir; /* NULL: the default */
    const char *brokers;
    int timeout_ms;
    bool json, help;
    /* produce */
    const char *type, *key, *id, *source, *subject, *data, *schema_dir;
    const char *headers[MAX_ARGS];
    size_t n_headers;
    /* tail */
    bool from_beginning, follow;
    long limit; /* -1: none */
    /* --topic: produce's topic (one), lag's topic patterns */
    const char *topics[MAX_ARGS];
    size_t n_topics;
    /* positional: tail's patterns, lag's groups */
    const char *args[MAX_ARGS];
    size_t n_args;
} kargs;

/* ---- usage ------------------------------------------------------------- */

static const char produce_usage[] =
    "usage: switchyard produce --type TYPE [--key KEY] [--id ID]\n"
    "           [--source SOURCE] [--subject SUBJECT] [--topic TOPIC]\n"
    "           [--header NAME=VALUE]... [--data FILE|-] [--schema-dir DIR]\n"
    "           [--json] [COMMON OPTIONS]\n"
    "\n"
    "Produce one event in the host's envelope (CloudEvents 1.0, binary mode:\n"
    "ce_* headers, the JSON payload as the value) and wait until the broker\n"
    "has it.\n"
    "  --data FILE       the JSON payload; - or no --data: standard input\n"
    "  --type TYPE       ce_type (required)\n"
    "  --id ID           ce_id; default the payload's event_id, else a new "
    "UUID\n"
    "  --key KEY         message key and ce_partitionkey; default the\n"
    "                    schema's x-partition-key, else none\n"
    "  --source SOURCE   ce_source (default " CLI_SOURCE ")\n"
    "  --subject SUBJECT ce_subject\n"
    "  --topic TOPIC     default the [topics] rule for TYPE, else TYPE\n"
    "  --header N=V      one more header, or a replacement (ce_tenantid=acme)\n"
    "  --schema-dir DIR  default schema_dir of the configuration\n"
    "  --json            print the result as a JSON object\n"
    "A payload that is not JSON or fails TYPE's newest schema is refused,\n"
    "naming the field and the schema; nothing is produced then.\n"
    "Prints the event id, topic, partition and offset.\n";

static const char tail_usage[] =
    "usage: switchyard tail PATTERN... [--from-beginning] [-f|--follow]\n"
    "           [-n N] [--json] [COMMON OPTIONS]\n"
    "\n"
    "Decode and print the events of the topics PATTERN names: a topic name,\n"
    "or a pattern in which * matches any run of characters (\"orders.*\").\n"
    "  --from-beginning  start at the beginning of each partition\n"
    "                    (default: at the end, so only new events show)\n"
    "  -f, --follow      keep waiting for new events (default: stop at the\n"
    "                    end of every partition)\n"
    "  -n, --limit N     stop after N events\n"
    "  --json            one JSON object per event and line: topic,\n"
    "                    partition, offset, timestamp, key, headers, the\n"
    "                    envelope's fields (id, type, source, ...), data;\n"
    "                    error for a message that is not an event\n"
    "tail assigns partitions itself: it joins no consumer group and commits\n"
    "nothing.\n";

static const char lag_usage[] =
    "usage: switchyard lag [GROUP...] [--topic PATTERN]... [--json]\n"
    "           [COMMON OPTIONS]\n"
    "\n"
    "Per consumer group and partition: committed offset, high watermark and\n"
    "lag.  GROUPs default to the groups of the enabled plugins.  Without a\n"
    "committed offset the lag is every retained message of the partition.\n"
    "  --topic PATTERN   the topics to show (repeatable); default: the\n"
    "                    topics where the group committed an offset\n"
    "  --json            the table as a JSON object\n"
    "The offsets are read without joining the group.\n";

static void print_usage(FILE *f, const kargs *a, const char *default_dir)
{
    fputs(a->cmd == C_PRODUCE ? produce_usage
          : a->cmd == C_TAIL  ? tail_usage
                              : lag_usage,
          f);
    fprintf(f,
            "\n"
            "common options:\n"
            "  --brokers LIST    bootstrap servers (default:\n"
            "                    $SWITCHYARD_KAFKA_BROKERS, else [kafka]\n"
            "                    bootstrap.servers of the configuration)\n"
            "  --conf-dir DIR    configuration (default %s;\n"
            "                    with --brokers used only when it loads)\n"
            "  --timeout SEC     bound of each broker operation (default %d)\n"
            "  -h, --help        this text\n"
            "\n"
            "exit codes: 0 ok, 1 failure, 2 usage, 3 configuration error\n",
            default_dir, DEFAULT_TIMEOUT_S);
}

/* ---- arguments --------------------------------------------------------- */

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static const opt_def *find_option(const char *s)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(s, options[i].name) == 0 ||
            (options[i].alias && strcmp(s, options[i].alias) == 0))
            return &options[i];
    return NULL;
}

static bool push(const char **list, size_t *n, const char *v)
{
    if (*n >= MAX_ARGS)
        return false;
    list[(*n)++] = v;
    return true;
}

/* One option and its value.  Returns 0 or -1 (message printed). */
static int take_option(kargs *a, const opt_def *d, const char *v)
{
    long n = 0;
    bool ok = true;
    switch (d->id) {
    case O_CONF_DIR:
        a->conf_dir = v;
        break;
    case O_BROKERS:
        a->brokers = v;
        break;
    case O_TIMEOUT:
        ok = parse_long(v, 1, MAX_TIMEOUT_S, &n);
        a->timeout_ms = (int)n * 1000;
        break;
    case O_JSON:
        a->json = true;
        break;
    case O_HELP:
        a->help = true;
        break;
    case O_TYPE:
        a->type = v;
        break;
    case O_KEY:
        a->key = v;
        break;
    case O_ID:
        a->id = v;
        break;
    case O_SOURCE:
        a->source = v;
        break;
    case O_SUBJECT:
        a->subject = v;
        break;
    case O_TOPIC:
        ok = push(a->topics, &a->n_topics, v);
        break;
    case O_HEADER:
        /* NAME=VALUE with a name of 1 to 255 bytes */
        ok = strchr(v, '=') && v[0] != '=' && strchr(v, '=') - v < 256 &&
             push(a->headers, &a->n_headers, v);
        break;
    case O_DATA:
        a->data = v;
        break;
    case O_SCHEMA_DIR:
        a->schema_dir = v;
        break;
    case O_FROM_BEGINNING:
        a->from_beginning = true;
        break;
    case O_FOLLOW:
        a->follow = true;
        break;
    case O_LIMIT:
        ok = parse_long(v, 1, LONG_MAX, &n);
        a->limit = n;
        break;
    }
    if (!ok) {
        const char *want = d->id == O_HEADER    ? "NAME=VALUE"
                           : d->id == O_TIMEOUT ? "seconds, 1 to 86400"
                           : d->id == O_LIMIT   ? "a positive number"
                                                : "at most 256 of them";
        fprintf(stderr, "switchyard %s: %s '%s': expected %s\n", a->name,
                d->name, v, want);
        return -1;
    }
    return 0;
}

static int parse(int argc, char **argv, kargs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const opt_def *d = find_option(s);
        if (!d && s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "switchyard %s: unknown option '%s'\n", a->name, s);
            return -1;
        }
        if (!d) {
            if (a->cmd == C_PRODUCE) {
                fprintf(stderr,
                        "switchyard produce: unexpected argument '%s'"
                        " (the payload comes from --data or stdin)\n",
                        s);
                return -1;
            }
            if (!push(a->args, &a->n_args, s)) {
                fprintf(stderr, "switchyard %s: too many arguments\n", a->name);
                return -1;
            }
            continue;
        }
        if (!(d->cmds & a->cmd)) {
            fprintf(stderr, "switchyard %s: %s is not an option of %s\n",
                    a->name, s, a->name);
            return -1;
        }
        const char *v = NULL;
        if (d->value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "switchyard %s: %s needs a value\n", a->name,
                        s);
                return -1;
            }
            v = argv[++i];
        }
        if (take_option(a, d, v))
            return -1;
    }
    if (a->help)
        return 0;
    if (a->cmd == C_PRODUCE && (!a->type || !*a->type)) {
        fprintf(stderr, "switchyard produce: --type is required\n");
        return -1;
    }
    if (a->cmd == C_PRODUCE && a->n_topics > 1) {
        fprintf(stderr, "switchyard produce: one --topic at most\n");
        return -1;
    }
    if (a->cmd == C_TAIL && !a->n_args) {
        fprintf(stderr, "switchyard tail: name at least one topic or "
                        "pattern\n");
        return -1;
    }
    return 0;
}

/* ---- configuration and clients ------------------------------------------ */

/* The configuration (NULL when it is optional and does not load) and the
 * broker list.  The configuration must load when --conf-dir is given or
 * --brokers is not. */
static int load_config(const kargs *a, const char *default_dir,
                       yard_config **cfg, const char **brokers)
{
    *cfg = NULL;
    *brokers = a->brokers;
    const char *dir = a->conf_dir ? a->conf_dir : default_dir;
    bool optional = !a->conf_dir && a->brokers;
    struct stat st;
    if (optional && stat(dir, &st) != 0)
        return CLI_OK;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_config_load(dir, cfg, &d);
    if (rc && optional) {
        fprintf(stderr,
                "switchyard %s: note: %s not used (%s): no [topics] rules, "
                "schemas or [kafka] properties from it\n",
                a->name, dir, d.n ? d.msgs[0] : yard_err_str(rc));
        yard_diag_clear(&d);
        return CLI_OK;
    }
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    yard_diag_clear(&d);
    if (rc)
        return CLI_CONFIG;
    if (!*brokers)
        *brokers = yard_config_kafka(*cfg, "bootstrap.servers");
    if (!*brokers || !**brokers) {
        fprintf(stderr,
                "switchyard %s: %s has no [kafka] bootstrap.servers; hint: "
                "pass --brokers HOST:PORT\n",
                a->name, dir);
        yard_config_free(*cfg);
        *cfg = NULL;
        return CLI_CONFIG;
    }
    return CLI_OK;
}

static void cli_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                          const char *buf)
{
    (void)rk;
    /* Errors reach on_kafka_error(); [kafka] serves consumers and
     * producers alike, and librdkafka warns about every property of the
     * other kind, so only what is worse than an error is shown here. */
    if (level <= 2)
        fprintf(stderr, "switchyard: kafka %s: %s\n", fac, buf);
}

#define SEEN_ERRORS 8

/* Each distinct client error once: a broker that is down is reported on
 * every reconnect attempt, with a changing "(after N ms ...)" tail.
 * Called on the application's thread (poll, flush), so the static list is
 * not shared. */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
    (void)rk;
    (void)opaque;
    static char seen[SEEN_ERRORS][256];
    static size_t next;
    size_t n = strcspn(reason, "(");
    while (n && reason[n - 1] == ' ')
        n--;
    char what[256];
    snprintf(what, sizeof what, "%.*s", (int)n, reason);
    for (size_t i = 0; i < SEEN_ERRORS; i++)
        if (strcmp(seen[i], what) == 0)
            return;
    snprintf(seen[next++ % SEEN_ERRORS], sizeof seen[0], "%s", what);
    fprintf(stderr, "switchyard: kafka: %s (%s)\n", what,
            rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

typedef void (*delivery_fn)(rd_kafka_t *rk, const rd_kafka_message_t *m,
                            void *opaque);

static rd_kafka_t *client_new(rd_kafka_type_t type, const yard_config *cfg,
                              const char *brokers, const char *const *props,
                              delivery_fn dr, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (rd_kafka_conf_set(conf, "client.id", CLI_CLIENT_ID, e, sizeof e) !=
        RD_KAFKA_CONF_OK) {
        yard_errf(err, errlen, YARD_EKAFKA, "client.id: %s", e);
        goto fail;
    }
    if (cfg && yard_kafka_conf_apply(conf, cfg, err, errlen))
        goto fail;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e) !=
        RD_KAFKA_CONF_OK) {
        yard_errf(err, errlen, YARD_EKAFKA, "brokers %s: %s", brokers, e);
        goto fail;
    }
    for (size_t i = 0; props && props[i]; i += 2)
        if (rd_kafka_conf_set(conf, props[i], props[i + 1], e, sizeof e) !=
            RD_KAFKA_CONF_OK) {
            yard_errf(err, errlen, YARD_EKAFKA, "%s: %s", props[i], e);
            goto fail;
        }
    rd_kafka_conf_set_log_cb(conf, cli_kafka_log);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof e);
    if (!rk) {
        yard_errf(err, errlen, YARD_EKAFKA, "%s", e);
        goto fail;
    }
    return rk; /* conf is owned by rk now */
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- output helpers ------------------------------------------------------ */

/* A JSON string of n bytes.  Bytes that are not UTF-8 text (a binary key
 * or header) are shown as U+FFFD rather than dropping the whole value. */
static json_t *jstr(const void *p, size_t n)
{
    if (!p)
        return json_null();
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    const unsigned char *b = p;
    char *copy = malloc(n * 3 + 1);
    if (!copy)
        return json_null();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80 && b[i] != 0) {
            copy[o++] = (char)b[i];
        } else {
            memcpy(copy + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
    }
    s = json_stringn(copy, o);
    free(copy);
    return s ? s : json_null();
}

static void rfc3339_ms(long long ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03lldZ", ms % 1000);
}

/* Print a JSON document on one line; false when stdout is gone. */
static bool print_json_line(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return false;
    bool ok = puts(s) >= 0 && fflush(stdout) == 0;
    free(s);
    return ok;
}

/* ---- produce ------------------------------------------------------------- */

typedef struct delivery {
    bool done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} delivery;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    d->done = true;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
}

/* The whole of path ("-" or NULL: stdin) into *out (malloc'd, NUL-
 * terminated, trailing whitespace removed). */
static int read_payload(const char *path, char **out, size_t *len, char *err,
                        size_t errlen)
{
    bool is_stdin = !path || strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return yard_errf(err, errlen, YARD_EIO, "%s: %s", name,
                         strerror(errno));
    size_t cap = DATA_CHUNK, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? 0 : yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    while (!rc) {
        if (n == cap) {
            if (cap >= MAX_DATA_BYTES) {
                rc = yard_errf(err, errlen, YARD_EINVAL,
                               "%s: more than %u bytes", name, MAX_DATA_BYTES);
                break;
            }
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                rc = yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = yard_errf(err, errlen, YARD_EIO, "%s: %s", name,
                               strerror(errno));
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    while (n && strchr(" \t\r\n", buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (!n) {
        free(buf);
        return yard_errf(err, errlen, YARD_EINVAL, "%s: no payload", name);
    }
    *out = buf;
    *len = n;
    return 0;
}

/* --schema-dir, else the configuration's, else none. */
static const char *schema_dir(const kargs *a, const yard_config *cfg)
{
    return a->schema_dir ? a->schema_dir : cfg ? cfg->schema_dir : NULL;
}

/* The type's newest schema when the schema directory has one (*s NULL
 * otherwise); *reg owns it. */
static int produce_schema(const kargs *a, const yard_config *cfg,
                          yard_schema_registry **reg, const yard_schema **s)
{
    *reg = NULL;
    *s = NULL;
    const char *dir = schema_dir(a, cfg);
    if (!dir)
        return CLI_OK;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_schema_registry_load(dir, !a->schema_dir, reg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "switchyard produce: %s\n", d.msgs[i]);
    yard_diag_clear(&d);
    if (rc) {
        fprintf(stderr,
                "switchyard produce: the schemas in %s do not load "
                "(%s); nothing was produced\n",
                dir, yard_err_str(rc));
        return CLI_CONFIG;
    }
    *s = yard_schema_find(*reg, a->type, 0);
    return CLI_OK;
}

/* Headers: the envelope's [name, value] pairs, then ce_subject and the
 * --header pairs, each replacing a header of its name. */
static rd_kafka_headers_t *produce_headers(const kargs *a, json_t *pairs)
{
    rd_kafka_headers_t *h =
        rd_kafka_headers_new(json_array_size(pairs) + a->n_headers + 1);
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p)
    {
        rd_kafka_header_add(h, json_string_value(json_array_get(p, 0)), -1,
                            json_string_value(json_array_get(p, 1)), -1);
    }
    if (a->subject) {
        rd_kafka_header_remove(h, "ce_subject");
        rd_kafka_header_add(h, "ce_subject", -1, a->subject, -1);
    }
    for (i = 0; i < a->n_headers; i++) {
        const char *eq = strchr(a->headers[i], '=');
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - a->headers[i]),
                 a->headers[i]);
        rd_kafka_header_remove(h, name);
        rd_kafka_header_add(h, name, -1, eq + 1, -1);
    }
    return h;
}

/* Produce one message and wait for its delivery report.  Takes h. */
static int produce_send(const kargs *a, const yard_config *cfg,
                        const char *brokers, const char *topic, const char *key,
                        const char *value, size_t len, rd_kafka_headers_t *h,
                        delivery *d)
{
    char err[ERRLEN], tmo[24];
    snprintf(tmo, sizeof tmo, "%d", a->timeout_ms);
    const char *props[] = {"enable.idempotence", "true", "acks", "all",
                           "message.timeout.ms", tmo,    NULL};
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, cfg, brokers, props,
                                on_delivery, err, sizeof err);
    if (!rk) {
        rd_kafka_headers_destroy(h);
        fprintf(stderr, "switchyard produce: %s\n", err);
        return CLI_FAIL;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h); /* not taken on failure */
        fprintf(stderr, "switchyard produce: %s: %s\n", topic,
                rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return CLI_FAIL;
    }
    /* message.timeout.ms fails the message in time; the flush bound is a
     * backstop for a client that cannot even do that. */
    rd_kafka_flush(rk, a->timeout_ms + 5000);
    rd_kafka_destroy(rk);
    if (!d->done || d->err) {
        fprintf(stderr, "switchyard produce: %s: not delivered: %s\n", topic,
                d->done ? rd_kafka_err2str(d->err) : "no delivery report");
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int cmd_produce(const kargs *a, const yard_config *cfg,
                       const char *brokers)
{
    char err[ERRLEN];
    char *value = NULL;
    size_t len = 0;
    if (read_payload(a->data, &value, &len, err, sizeof err)) {
        fprintf(stderr, "switchyard produce: %s; nothing was produced\n", err);
        return CLI_FAIL;
    }
    const char *what = a->data && strcmp(a->data, "-") ? a->data : "stdin";
    json_error_t jerr;
    json_t *doc = json_loadb(value, len, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        fprintf(stderr,
                "switchyard produce: %s is not JSON: %s (line %d, column %d); "
                "nothing was produced\n",
                what, jerr.text, jerr.line, jerr.column);
        free(value);
        return CLI_FAIL;
    }
    yard_schema_registry *reg = NULL;
    const yard_schema *sch = NULL;
    int rc = produce_schema(a, cfg, &reg, &sch);
    yard_schema_error why;
    if (!rc && sch && yard_schema_validate(sch, doc, 0, &why)) {
        fprintf(stderr,
                "switchyard produce: %s does not match schema %s/%s "
                "(%s v%d): %s (rule %s); nothing was produced\n",
                what, schema_dir(a, cfg), yard_schema_file(sch),
                yard_schema_type(sch), yard_schema_version(sch), why.message,
                why.rule);
        rc = CLI_FAIL;
    }
    /* id and key as emit() chooses them. */
    const char *pid = json_string_value(json_object_get(doc, "event_id"));
    if (!rc && a->id && pid && strcmp(a->id, pid) != 0) {
        fprintf(stderr,
                "switchyard produce: --id %s but the payload's event_id is "
                "%s (the host would refuse the event); nothing was "
                "produced\n",
                a->id, pid);
        rc = CLI_FAIL;
    }
    char uuid[37], derived[256], version[16];
    yard_uuid(uuid);
    const char *id = a->id ? a->id : pid ? pid : uuid;
    const char *key = a->key;
    if (!key && sch &&
        yard_schema_partition_key(sch, doc, derived, sizeof derived) == 0)
        key = derived;
    if (sch)
        snprintf(version, sizeof version, "%d", yard_schema_version(sch));
    const char *topic = a->n_topics ? a->topics[0]
                        : cfg       ? yard_topic_for_type(cfg, a->type)
                                    : a->type;
    delivery d = {0};
    json_t *pairs = NULL;
    if (!rc) {
        pairs = yard_envelope_headers(id, a->type,
                                      a->source ? a->source : CLI_SOURCE, key,
                                      sch ? version : NULL, NULL);
        if (!pairs) {
            fprintf(stderr, "switchyard produce: out of memory\n");
            rc = CLI_FAIL;
        }
    }
    if (!rc)
        rc = produce_send(a, cfg, brokers, topic, key, value, len,
                          produce_headers(a, pairs), &d);
    if (!rc && a->json) {
        json_t *o = json_pack("{ss ss ss? ss si sI}", "id", id, "type", a->type,
                              "key", key, "topic", topic, "partition",
                              (int)d.partition, "offset", (json_int_t)d.offset);
        if (!o || !print_json_line(o))
            rc = CLI_FAIL;
        json_decref(o);
    } else if (!rc) {
        printf("produced %s (%s%s%s) to %s [%d] at offset %lld\n", id, a->type,
               key ? ", key " : "", key ? key : "", topic, (int)d.partition,
               (long long)d.offset);
    }
    json_decref(pairs);
    json_decref(doc);
    yard_schema_registry_free(reg);
    free(value);
    return rc;
}

/* ---- topics from metadata ------------------------------------------------ */

static int cmp_topic(const void *x, const void *y)
{
    const rd_kafka_metadata_topic_t *a =
        *(const rd_kafka_metadata_topic_t *const *)x;
    const rd_kafka_metadata_topic_t *b =
        *(const rd_kafka_metadata_topic_t *const *)y;
    return strcmp(a->topic, b->topic);
}

static bool pattern_selects(const char *pattern, const char *topic)
{
    if (!strchr(pattern, '*'))
        return strcmp(pattern, topic) == 0;
    /* Internal topics (__consumer_offsets) only when asked for. */
    if (strncmp(topic, "__", 2) == 0 && strncmp(pattern, "__", 2) != 0)
        return false;
    return yard_pattern_match(pattern, topic);
}

/* Every partition of the cluster's topics that the patterns select, topics
 * in name order, each with `offset`.  A pattern that selects nothing is an
 * error when must_match.  Returns CLI_OK or CLI_FAIL (message printed). */
static int select_partitions(rd_kafka_t *rk, const kargs *a,
                             const char *const *pats, size_t n, bool must_match,
                             int64_t offset,
                             rd_kafka_topic_partition_list_t **out)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, a->timeout_ms);
    if (e) {
        fprintf(stderr, "switchyard %s: topic metadata: %s\n", a->name,
                rd_kafka_err2str(e));
        return CLI_FAIL;
    }
    const rd_kafka_metadata_topic_t **sorted =
        calloc((size_t)md->topic_cnt + 1, sizeof *sorted);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    int rc = sorted ? CLI_OK : CLI_FAIL;
    for (int t = 0; sorted && t < md->topic_cnt; t++)
        sorted[t] = &md->topics[t];
    if (sorted)
        qsort(sorted, (size_t)md->topic_cnt, sizeof *sorted, cmp_topic);
    for (size_t p = 0; !rc && p < n; p++) {
        bool any = false;
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = sorted[t];
            if (!pattern_selects(pats[p], mt->topic))
                continue;
            any = true;
            /* One pattern cannot select a topic twice. */
            for (int k = 0; k < mt->partition_cnt; k++)
                if (n == 1 || !rd_kafka_topic_partition_list_find(
                                  l, mt->topic, mt->partitions[k].id))
                    rd_kafka_topic_partition_list_add(l, mt->topic,
                                                      mt->partitions[k].id)
                        ->offset = offset;
        }
        if (!any && must_match) {
            fprintf(stderr, "switchyard %s: %s '%s'\n", a->name,
                    strchr(pats[p], '*') ? "no topic matches"
                                         : "the cluster has no topic",
                    pats[p]);
            rc = CLI_FAIL;
        }
    }
    free(sorted);
    rd_kafka_metadata_destroy(md);
    if (rc) {
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
    }
    *out = l;
    return CLI_OK;
}

/* ---- tail -----------------------------------------------------------------
 */

static volatile sig_atomic_t tail_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    tail_stop = 1;
}

#define ENV_FIELDS_MAX 13
#define RAW_PREVIEW 1024 /* bytes of a value that is not an event */

/* The decoded envelope's fields that are set, as (name, value) pairs. */
typedef struct field {
    const char *name;
    const char *value;
} field;

static size_t env_fields(const yard_envelope *env, const char *subject,
                         field *f)
{
    const sy_event *ev = &env->ev;
    const field all[] = {
        {"id", ev->id},
        {"type", ev->type},
        {"source", ev->source},
        {"time", ev->time},
        {"subject", subject},
        {"correlation_id", ev->correlation_id},
        {"causation_id", ev->causation_id},
        {"tenant_id", ev->tenant_id},
        {"traceparent", ev->traceparent},
        {"tracestate", env->tracestate},
        {"schema_version", env->schema_version},
        {"content_type", env->content_type},
        {"dialect", env->dialect},
    };
    _Static_assert(sizeof all / sizeof all[0] == ENV_FIELDS_MAX,
                   "ENV_FIELDS_MAX counts the fields");
    size_t n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i].value)
            f[n++] = all[i];
    return n;
}

/* One message as a JSON object (new reference). */
static json_t *message_json(const rd_kafka_message_t *m, const yard_wire_msg *w,
                            const yard_envelope *env,
                            const yard_decode_error *why, const char *subject,
                            long long ts)
{
    json_t *o = json_object();
    json_object_set_new(o, "topic", json_string(w->topic));
    json_object_set_new(o, "partition", json_integer(w->partition));
    json_object_set_new(o, "offset", json_integer(w->offset));
    json_object_set_new(o, "timestamp",
                        ts >= 0 ? json_integer(ts) : json_null());
    json_object_set_new(o, "key", jstr(m->key, m->key_len));
    json_t *h = json_object();
    for (size_t i = 0; i < w->n_headers; i++)
        json_object_set_new(h, w->headers[i].name,
                            jstr(w->headers[i].value, w->headers[i].len));
    json_object_set_new(o, "headers", h);
    if (why->code) {
        json_object_set_new(
            o, "error",
            json_pack("{ss ss}", "code", why->code, "message", why->message));
        json_object_set_new(o, "value", jstr(m->payload, m->len));
        return o;
    }
    field f[ENV_FIELDS_MAX];
    size_t n = env_fields(env, subject, f);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, f[i].name, json_string(f[i].value));
    json_t *data =
        json_loadb(env->ev.payload, env->ev.payload_len, JSON_DECODE_ANY, NULL);
    json_object_set_new(
        o, "data", data ? data : jstr(env->ev.payload, env->ev.payload_len));
    return o;
}

/* One message for people: where it is, the envelope, the data indented. */
static void message_text(const rd_kafka_message_t *m, const yard_wire_msg *w,
                         const yard_envelope *env, const yard_decode_error *why,
                         const char *subject, long long ts)
{
    char when[40] = "";
    if (ts >= 0)
        rfc3339_ms(ts, when);
    printf("%s [%d] @%lld  %s", w->topic, (int)w->partition,
           (long long)w->offset, when);
    if (m->key)
        printf("  key=%.*s", (int)m->key_len, (const char *)m->key);
    putchar('\n');
    if (why->code) {
        size_t n = m->len < RAW_PREVIEW ? m->len : RAW_PREVIEW;
        printf("  not an event: %s: %s\n  value: %.*s%s\n\n", why->code,
               why->message, (int)n, m->payload ? (const char *)m->payload : "",
               n < m->len ? " ..." : "");
        return;
    }
    field f[ENV_FIELDS_MAX];
    size_t n = env_fields(env, subject, f);
    for (size_t i = 0; i < n; i++) {
        /* The canonical form goes without saying. */
        bool usual = (strcmp(f[i].name, "dialect") == 0 &&
                      strcmp(f[i].value, "binary") == 0) ||
                     (strcmp(f[i].name, "content_type") == 0 &&
                      strcmp(f[i].value, "application/json") == 0);
        if (!usual)
            printf("  %-15s %s\n", f[i].name, f[i].value);
    }
    json_t *data =
        json_loadb(env->ev.payload, env->ev.payload_len, JSON_DECODE_ANY, NULL);
    char *pretty =
        data ? json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    json_decref(data);
    const char *text = pretty ? pretty : env->ev.payload;
    fputs("  data\n", stdout);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        printf("    %.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    putchar('\n');
    free(pretty);
}

/* Decode and print one message; false when stdout is gone. */
static bool tail_print(const kargs *a, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hs = NULL;
    size_t nh = 0;
    if (rd_kafka_message_headers(m, &hs) == 0)
        nh = rd_kafka_header_cnt(hs);
    yard_header *h = calloc(nh + 1, sizeof *h);
    if (!h)
        return false;
    const char *subject = NULL;
    char subject_buf[512];
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        const void *v;
        size_t len;
        if (rd_kafka_header_get_all(hs, i, &name, &v, &len))
            break;
        h[i] = (yard_header){name, v, len};
        if (strcmp(name, "ce_subject") == 0 && v) {
            snprintf(subject_buf, sizeof subject_buf, "%.*s", (int)len,
                     (const char *)v);
            subject = subject_buf;
        }
    }
    yard_wire_msg w = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .headers = h,
        .n_headers = nh,
    };
    yard_envelope env;
    yard_decode_error why;
    yard_envelope_decode(&w, TAIL_MAX_VALUE, &env, &why);
    rd_kafka_timestamp_type_t tt;
    long long ts = rd_kafka_message_timestamp(m, &tt);
    bool ok = true;
    if (a->json) {
        json_t *o = message_json(m, &w, &env, &why, subject, ts);
        ok = o && print_json_line(o);
        json_decref(o);
    } else {
        message_text(m, &w, &env, &why, subject, ts);
        ok = fflush(stdout) == 0;
    }
    yard_envelope_clear(&env);
    free(h);
    return ok;
}

static int cmd_tail(const kargs *a, const yard_config *cfg, const char *brokers)
{
    char err[ERRLEN];
    const char *props[] = {"group.id",
                           TAIL_GROUP,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "enable.partition.eof",
                           "true",
                           NULL};
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, cfg, brokers, props, NULL,
                                err, sizeof err);
    if (!rk) {
        fprintf(stderr, "switchyard tail: %s\n", err);
        return CLI_FAIL;
    }
    rd_kafka_topic_partition_list_t *parts = NULL;
    int rc = select_partitions(rk, a, a->args, a->n_args, true,
                               a->from_beginning ? RD_KAFKA_OFFSET_BEGINNING
                                                 : RD_KAFKA_OFFSET_END,
                               &parts);
    bool *at_end = NULL;
    if (!rc) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
        at_end = calloc((size_t)parts->cnt + 1, sizeof *at_end);
        if (e || !at_end) {
            fprintf(stderr, "switchyard tail: assign: %s\n",
                    e ? rd_kafka_err2str(e) : "out of memory");
            rc = CLI_FAIL;
        }
    }
    /* Stop on SIGINT/SIGTERM between messages; a closed pipe ends the
     * loop through a failed write instead of killing the process. */
    struct sigaction sa = {.sa_handler = on_stop_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    signal(SIGPIPE, SIG_IGN);
    long printed = 0;
    int ends = 0;
    long long progress = yard_mono_ms();
    while (!rc && !tail_stop && (a->limit < 0 || printed < a->limit) &&
           (a->follow || ends < parts->cnt)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, TAIL_POLL_MS);
        if (!m) {
            if (!a->follow && yard_mono_ms() - progress > a->timeout_ms) {
                fprintf(stderr,
                        "switchyard tail: %d of %d partition(s) did not reach "
                        "their end within %d s\n",
                        parts->cnt - ends, parts->cnt, a->timeout_ms / 1000);
                rc = CLI_FAIL;
            }
            continue;
        }
        progress = yard_mono_ms();
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->err) {
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(parts, topic, m->partition);
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "switchyard tail: %s [%d]: %s\n", topic,
                        (int)m->partition, rd_kafka_message_errstr(m));
                /* Without --follow the partition is given up; with it the
                 * client keeps retrying. */
                if (!a->follow)
                    rc = CLI_FAIL;
            }
            if (tp && !at_end[tp - parts->elems]) {
                at_end[tp - parts->elems] = true;
                ends++;
            }
        } else if (tail_print(a, m)) {
            printed++;
        } else {
            tail_stop = 1; /* stdout is gone */
        }
        rd_kafka_message_destroy(m);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(at_end);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- lag ------------------------------------------------------------------
 */

/* Low or high watermarks of every partition of l (offsets_for_times with
 * the special timestamps -2 earliest, -1 latest).  A copy owned by the
 * caller, or NULL (message printed). */
static rd_kafka_topic_partition_list_t *
watermarks(rd_kafka_t *rk, const kargs *a,
           const rd_kafka_topic_partition_list_t *l, int64_t which)
{
    rd_kafka_topic_partition_list_t *w = rd_kafka_topic_partition_list_copy(l);
    for (int i = 0; i < w->cnt; i++)
        w->elems[i].offset = which;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, w, a->timeout_ms);
    if (e) {
        fprintf(stderr, "switchyard lag: watermarks: %s\n",
                rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(w);
        return NULL;
    }
    return w;
}

/* The partitions a group shows: with --topic all of them, else every
 * partition of the topics where the group committed something.  c holds
 * each topic's partitions together (select_partitions()). */
static rd_kafka_topic_partition_list_t *
shown_partitions(const kargs *a, const rd_kafka_topic_partition_list_t *c)
{
    if (a->n_topics)
        return rd_kafka_topic_partition_list_copy(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int first = 0, end; first < c->cnt; first = end) {
        bool committed = false;
        for (end = first; end < c->cnt && strcmp(c->elems[end].topic,
                                                 c->elems[first].topic) == 0;
             end++)
            committed |= c->elems[end].offset >= 0;
        for (int k = first; committed && k < end; k++)
            rd_kafka_topic_partition_list_add(l, c->elems[k].topic,
                                              c->elems[k].partition);
    }
    return l;
}

/* One group: {group, lag, partitions: [...]}, or NULL (message printed). */
static json_t *lag_group(const kargs *a, const yard_config *cfg,
                         const char *brokers, const char *group)
{
    char err[ERRLEN];
    const char *props[] = {"group.id",
                           group,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           NULL};
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, cfg, brokers, props, NULL,
                                err, sizeof err);
    if (!rk) {
        fprintf(stderr, "switchyard lag: %s\n", err);
        return NULL;
    }
    static const char *const every[] = {"*"};
    rd_kafka_topic_partition_list_t *all = NULL, *shown = NULL, *lo = NULL,
                                    *hi = NULL;
    json_t *out = NULL;
    bool explicit = a->n_topics > 0;
    if (select_partitions(rk, a, explicit ? a->topics : every,
                          explicit ? a->n_topics : 1, explicit,
                          RD_KAFKA_OFFSET_INVALID, &all))
        goto done;
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, all, a->timeout_ms);
    if (e) {
        fprintf(stderr, "switchyard lag: committed offsets of %s: %s\n", group,
                rd_kafka_err2str(e));
        goto done;
    }
    shown = shown_partitions(a, all);
    if (shown->cnt && (!(lo = watermarks(rk, a, shown, -2)) ||
                       !(hi = watermarks(rk, a, shown, -1))))
        goto done;
    json_t *rows = json_array();
    json_int_t total = 0;
    for (int i = 0; i < shown->cnt; i++) {
        const rd_kafka_topic_partition_t *s = &shown->elems[i];
        const rd_kafka_topic_partition_t *c =
            rd_kafka_topic_partition_list_find(all, s->topic, s->partition);
        int64_t committed = c && !c->err ? c->offset : -1;
        int64_t low = lo->elems[i].err ? -1 : lo->elems[i].offset;
        int64_t high = hi->elems[i].err ? -1 : hi->elems[i].offset;
        const char *problem = c && c->err ? rd_kafka_err2str(c->err)
                              : hi->elems[i].err
                                  ? rd_kafka_err2str(hi->elems[i].err)
                                  : NULL;
        int64_t lag = high < 0 ? -1
                      : committed >= 0
                          ? (high > committed ? high - committed : 0)
                      : low >= 0 ? high - low
                                 : high;
        if (lag > 0)
            total += lag;
        json_t *r = json_pack(
            "{ss si so so so so}", "topic", s->topic, "partition",
            (int)s->partition, "committed",
            committed >= 0 ? json_integer(committed) : json_null(),
            "low_watermark", low >= 0 ? json_integer(low) : json_null(),
            "high_watermark", high >= 0 ? json_integer(high) : json_null(),
            "lag", lag >= 0 ? json_integer(lag) : json_null());
        if (r && problem)
            json_object_set_new(r, "error", json_string(problem));
        json_array_append_new(rows, r);
    }
    out = json_pack("{ss sI so}", "group", group, "lag", total, "partitions",
                    rows);
done:
    if (all)
        rd_kafka_topic_partition_list_destroy(all);
    if (shown)
        rd_kafka_topic_partition_list_destroy(shown);
    if (lo)
        rd_kafka_topic_partition_list_destroy(lo);
    if (hi)
        rd_kafka_topic_partition_list_destroy(hi);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

static int width(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

static void num_cell(char *buf, size_t len, json_t *v)
{
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, len, "-");
}

static void lag_text(json_t *groups)
{
    int gw = (int)strlen("GROUP"), tw = (int)strlen("TOPIC");
    size_t i, k;
    json_t *g, *r;
    json_array_foreach(groups, i, g)
    {
        gw = width(gw, json_string_value(json_object_get(g, "group")));
        json_array_foreach(json_object_get(g, "partitions"), k, r) tw =
            width(tw, json_string_value(json_object_get(r, "topic")));
    }
    printf("%-*s  %-*s  %9s  %12s  %12s  %12s\n", gw, "GROUP", tw, "TOPIC",
           "PARTITION", "COMMITTED", "HIGH", "LAG");
    json_array_foreach(groups, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "group"));
        json_t *rows = json_object_get(g, "partitions");
        json_array_foreach(rows, k, r)
        {
            char c[24], h[24], l[24];
            num_cell(c, sizeof c, json_object_get(r, "committed"));
            num_cell(h, sizeof h, json_object_get(r, "high_watermark"));
            num_cell(l, sizeof l, json_object_get(r, "lag"));
            const char *problem =
                json_string_value(json_object_get(r, "error"));
            printf(
                "%-*s  %-*s  %9lld  %12s  %12s  %12s%s%s\n", gw, name, tw,
                json_string_value(json_object_get(r, "topic")),
                (long long)json_integer_value(json_object_get(r, "partition")),
                c, h, l, problem ? "  " : "", problem ? problem : "");
        }
        if (!json_array_size(rows))
            printf("%-*s  (no committed offsets)\n", gw, name);
        else
            printf("%-*s  %-*s  %9s  %12s  %12s  %12lld\n", gw, name, tw,
                   "(total)", "", "", "",
                   (long long)json_integer_value(json_object_get(g, "lag")));
    }
}

static int cmd_lag(const kargs *a, const yard_config *cfg, const char *brokers)
{
    const char *groups[MAX_ARGS];
    size_t n = 0;
    for (size_t i = 0; i < a->n_args; i++)
        groups[n++] = a->args[i];
    for (size_t i = 0; !a->n_args && cfg && i < cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &cfg->plugins[i];
        bool seen = !pc->enabled;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(groups[k], pc->group) == 0;
        if (!seen && n < MAX_ARGS)
            groups[n++] = pc->group;
    }
    if (!n) {
        fprintf(stderr, "switchyard lag: no group: name one, or give a "
                        "configuration with enabled plugins\n");
        return cfg ? CLI_CONFIG : CLI_USAGE;
    }
    json_t *all = json_array();
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        json_t *g = lag_group(a, cfg, brokers, groups[i]);
        if (!g) {
            rc = CLI_FAIL;
            break;
        }
        json_array_append_new(all, g);
    }
    if (!rc && a->json) {
        json_t *doc = json_pack("{sO}", "groups", all);
        if (!doc || !print_json_line(doc))
            rc = CLI_FAIL;
        json_decref(doc);
    } else if (!rc) {
        lag_text(all);
    }
    json_decref(all);
    return rc;
}

/* ---- entry -----------------------------------------------------------------
 */

int yard_cli_kafka(int argc, char **argv, const char *default_conf_dir)
{
    kargs a;
    memset(&a, 0, sizeof a);
    a.name = argv[0];
    a.cmd = strcmp(argv[0], "produce") == 0 ? C_PRODUCE
            : strcmp(argv[0], "tail") == 0  ? C_TAIL
                                            : C_LAG;
    a.timeout_ms = DEFAULT_TIMEOUT_S * 1000;
    a.limit = -1;
    /* The variable overrides [kafka] bootstrap.servers (config.h); here
     * it also stands in for --brokers, as `switchyard dev` prints it. */
    const char *env = getenv("SWITCHYARD_KAFKA_BROKERS");
    a.brokers = env && *env ? env : NULL;
    if (parse(argc, argv, &a)) {
        print_usage(stderr, &a, default_conf_dir);
        return CLI_USAGE;
    }
    if (a.help) {
        print_usage(stdout, &a, default_conf_dir);
        return CLI_OK;
    }
    yard_config *cfg = NULL;
    const char *brokers = NULL;
    int rc = load_config(&a, default_conf_dir, &cfg, &brokers);
    if (rc)
        return rc;
    rc = a.cmd == C_PRODUCE ? cmd_produce(&a, cfg, brokers)
         : a.cmd == C_TAIL  ? cmd_tail(&a, cfg, brokers)
                            : cmd_lag(&a, cfg, brokers);
    yard_config_free(cfg);
    return rc;
}
