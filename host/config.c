/*
 * config.c — the conf.d loader: inih reads the INI syntax, the key tables
 * below give it meaning (see config.h).
 *
 * inih as Debian builds it hands the handler no line numbers, so it reads
 * through our own line reader (ini_parse_stream): the reader numbers the
 * lines, sees every section header (empty sections too) and tells which
 * lines inih would skip or fold, so that every problem gets a file:line.
 * Every problem is collected; nothing stops at the first.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define ENV_PREFIX "SWITCHYARD_"
#define ENV_KAFKA_BROKERS "SWITCHYARD_KAFKA_BROKERS"
#define ENV_LOCATION "environment"
#define KAFKA_BROKERS_KEY "bootstrap.servers"
#define CONF_SUFFIX ".ini"
#define CONTROL_SOCKET_NAME "control.sock"
#define DLQ_PREFIX "dlq."
#define TOPIC_NAME_MAX 249  /* Kafka's limit */
#define PORT_MAX 65535
#define WHY_MAX 512         /* "expected ..." reasons */
#define ENV_NAME_MAX 128
#define MAX_SECTION_KEYS 16 /* the largest key table, with room */

/* [topic NAME] bounds.  Kafka counts replicas in an int16. */
#define TOPIC_PARTITIONS_MAX 100000u
#define TOPIC_REPLICAS_MAX 32767u
#define TOPIC_SECTION "topic"

/* Bounds shared by [retry] and the plugins' retry_* keys. */
#define RETRY_INITIAL_MS_MAX 3600000u
#define RETRY_MAX_MS_MAX 86400000u
#define RETRY_ATTEMPTS_MAX 1000u

/* ---- checks for STRING keys ------------------------------------------ */

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool valid_plugin_name(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (!is_name_char(*v))
            return false;
    return true;
}

static bool check_plugin_name(const char *v, char *why, size_t whylen)
{
    if (valid_plugin_name(v))
        return true;
    snprintf(why, whylen,
             "expected lowercase letters, digits, '_' and '-' ([a-z0-9_-]+)");
    return false;
}

static bool check_topic(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    bool ok = n > 0 && n <= TOPIC_NAME_MAX && strcmp(v, ".") != 0 &&
              strcmp(v, "..") != 0;
    for (const char *p = v; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' ||
             *p == '-';
    if (!ok)
        snprintf(why, whylen,
                 "expected a Kafka topic name: 1 to %d of [A-Za-z0-9._-], "
                 "not \".\" or \"..\"",
                 TOPIC_NAME_MAX);
    return ok;
}

/* Units of a duration, longest name first where one is a prefix of
 * another ("ms" before "m..." is not needed: "m" alone is not a unit, since
 * it reads as minutes to some and months to others). */
static const struct {
    const char *name;
    int64_t ms;
} duration_units[] = {
    {"ms", 1},           {"s", 1000},          {"min", 60000},
    {"h", 3600000},      {"d", 86400000},      {"w", 604800000},
};

bool yard_config_parse_duration(const char *s, int64_t *ms)
{
    if (!s)
        return false;
    if (strcmp(s, "forever") == 0 || strcmp(s, "-1") == 0) {
        *ms = -1;
        return true;
    }
    int64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    while (*p == ' ')
        p++;
    int64_t unit = 1; /* a bare number is milliseconds, like retention.ms */
    if (*p) {
        unit = 0;
        for (size_t i = 0; i < ARRAY_LEN(duration_units) && !unit; i++)
            if (strcmp(p, duration_units[i].name) == 0)
                unit = duration_units[i].ms;
        if (!unit)
            return false;
    }
    if (v == 0 || v > INT64_MAX / unit)
        return false;
    *ms = v * unit;
    return true;
}

static bool check_duration(const char *v, char *why, size_t whylen)
{
    int64_t ms;
    if (yard_config_parse_duration(v, &ms))
        return true;
    snprintf(why, whylen,
             "expected a positive duration: milliseconds (604800000) or a "
             "number with a unit ms, s, min, h, d or w (7d), or \"forever\"");
    return false;
}

static bool check_nonempty(const char *v, char *why, size_t whylen)
{
    if (*v)
        return true;
    snprintf(why, whylen, "expected a non-empty value");
    return false;
}

/* HOST:PORT, the host part possibly a bracketed IPv6 address; "off" or
 * an empty value turn the endpoint off. */
static bool check_listen(const char *v, char *why, size_t whylen)
{
    if (!*v || strcmp(v, "off") == 0)
        return true;
    const char *colon = strrchr(v, ':');
    bool ok = colon && colon > v && colon[1] != '\0';
    unsigned long port = 0;
    for (const char *p = colon ? colon + 1 : ""; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        port = port * 10 + (unsigned long)(*p - '0');
        ok = ok && port <= PORT_MAX;
    }
    if (!ok)
        snprintf(why, whylen,
                 "expected HOST:PORT with a port from 0 to %d, for example "
                 "127.0.0.1:9464",
                 PORT_MAX);
    return ok;
}

/* libpq itself parses the connection string, without connecting. */
static bool check_dsn(const char *v, char *why, size_t whylen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(v, &msg);
    if (opts) {
        PQconninfoFree(opts);
        return true;
    }
    if (msg) {
        size_t n = strlen(msg);
        while (n > 0 && isspace((unsigned char)msg[n - 1]))
            msg[--n] = '\0';
        snprintf(why, whylen, "%s", msg);
        PQfreemem(msg);
    } else {
        snprintf(why, whylen, "out of memory parsing the connection string");
    }
    return false;
}

/* ---- the tables ------------------------------------------------------- */

#define CFG(field) offsetof(yard_config, field)
#define PC(field) offsetof(yard_plugin_conf, field)

static const yard_conf_key host_keys[] = {
    {.name = "workers", .type = YARD_CONF_UINT, .def = "4", .min = 1,
     .max = 256, .offset = CFG(workers),
     .help = "worker threads that run handlers"},
    {.name = "batch_size", .type = YARD_CONF_UINT, .def = "64", .min = 1,
     .max = 10000, .offset = CFG(batch_size),
     .help = "events handled per database transaction"},
    {.name = "plugin_dir", .type = YARD_CONF_DIR, .def = "../plugins",
     .offset = CFG(plugin_dir),
     .help = "directory that plugin paths are relative to"},
    {.name = "schema_dir", .type = YARD_CONF_DIR, .def = "../schemas",
     .offset = CFG(schema_dir),
     .help = "directory of the event schemas (.avsc)"},
    {.name = "state_dir", .type = YARD_CONF_DIR,
     .def = "/var/lib/switchyard", .offset = CFG(state_dir),
     .help = "the host's private runtime state"},
    {.name = "log_level", .type = YARD_CONF_ENUM, .def = "info",
     .choices = "error|warn|info|debug", .offset = CFG(log_level),
     .help = "least severe level that is logged"},
    {.name = "log_format", .type = YARD_CONF_ENUM, .def = "logfmt",
     .choices = "logfmt|json", .offset = CFG(log_format),
     .help = "one key=value line or one JSON object per record"},
    {.name = "shutdown_timeout_ms", .type = YARD_CONF_UINT, .def = "10000",
     .min = 1, .max = 3600000, .offset = CFG(shutdown_timeout_ms),
     .help = "how long shutdown waits for in-flight events"},
    {.name = "control_socket", .type = YARD_CONF_STRING,
     .flags = YARD_CONF_DERIVED, .offset = CFG(control_socket),
     .check = check_nonempty,
     .help = "AF_UNIX socket (mode 0600) of `switchyard status` and "
             "`switchyard reload`; default: \"<state_dir>/" CONTROL_SOCKET_NAME
             "\""},
    {.name = "handler_deadline_ms", .type = YARD_CONF_UINT, .def = "5000",
     .min = 1, .max = 3600000, .offset = CFG(handler_deadline_ms),
     .help = "a handler call that takes longer is logged with its event id "
             "and counted"},
    {.name = "handler_hard_limit_ms", .type = YARD_CONF_UINT, .def = "60000",
     .min = 1, .max = 86400000, .offset = CFG(handler_hard_limit_ms),
     .help = "while a handler call runs longer, /healthz fails and the "
             "systemd watchdog is not fed, so the supervisor restarts the "
             "host; a worker's session idle in a transaction 30 s longer "
             "is ended by PostgreSQL (a frozen host releases its locks)"},
    {.name = "max_crashes", .type = YARD_CONF_UINT, .def = "3", .min = 1,
     .max = 1000, .offset = CFG(max_crashes),
     .help = "an event that was inside a handler in this many consecutive "
             "host crashes goes to the DLQ as PLUGIN_CRASHED (needs a "
             "writable state_dir)"},
};

static const yard_conf_key postgres_keys[] = {
    {.name = "dsn", .type = YARD_CONF_STRING, .def = "",
     .flags = YARD_CONF_SECRET, .offset = CFG(postgres_dsn),
     .check = check_dsn,
     .help = "libpq connection string or URI; empty: libpq defaults and "
             "PG* variables"},
};

static const yard_conf_key retry_keys[] = {
    {.name = "initial_ms", .type = YARD_CONF_UINT, .def = "100", .min = 1,
     .max = RETRY_INITIAL_MS_MAX, .offset = CFG(retry.initial_ms),
     .help = "first backoff after a handler asks for a retry"},
    {.name = "max_ms", .type = YARD_CONF_UINT, .def = "30000", .min = 1,
     .max = RETRY_MAX_MS_MAX, .offset = CFG(retry.max_ms),
     .help = "longest backoff"},
    {.name = "max_attempts", .type = YARD_CONF_UINT, .def = "5", .min = 1,
     .max = RETRY_ATTEMPTS_MAX, .offset = CFG(retry.max_attempts),
     .help = "handler calls before the event goes to the DLQ"},
};

static const yard_conf_key http_keys[] = {
    {.name = "listen", .type = YARD_CONF_STRING, .def = "127.0.0.1:9464",
     .offset = CFG(http_listen), .check = check_listen,
     .help = "HOST:PORT of the metrics and health endpoints (/metrics, "
             "/healthz, /readyz, /plugins); \"off\" or empty: none"},
};

static const yard_conf_key plugin_keys[] = {
    {.name = "name", .type = YARD_CONF_STRING, .flags = YARD_CONF_DERIVED,
     .offset = PC(name), .check = check_plugin_name,
     .help = "unique plugin name; default: the file name without a leading "
             "\"NN-\" and \".ini\""},
    {.name = "path", .type = YARD_CONF_STRING, .flags = YARD_CONF_REQUIRED,
     .offset = PC(path), .check = check_nonempty,
     .help = "the plugin's .so file, relative to plugin_dir"},
    {.name = "group", .type = YARD_CONF_STRING, .flags = YARD_CONF_DERIVED,
     .offset = PC(group), .check = check_nonempty,
     .help = "Kafka consumer group; default: the plugin name"},
    {.name = "enabled", .type = YARD_CONF_BOOL, .def = "true",
     .offset = PC(enabled), .help = "load the plugin"},
    {.name = "dlq_topic", .type = YARD_CONF_STRING,
     .flags = YARD_CONF_DERIVED, .offset = PC(dlq_topic),
     .check = check_topic,
     .help = "dead-letter topic; default: \"dlq.<group>\""},
    {.name = "retry_initial_ms", .type = YARD_CONF_UINT,
     .flags = YARD_CONF_DERIVED, .min = 1, .max = RETRY_INITIAL_MS_MAX,
     .offset = PC(retry.initial_ms),
     .help = "first retry backoff; default: [retry] initial_ms"},
    {.name = "retry_max_ms", .type = YARD_CONF_UINT,
     .flags = YARD_CONF_DERIVED, .min = 1, .max = RETRY_MAX_MS_MAX,
     .offset = PC(retry.max_ms),
     .help = "longest retry backoff; default: [retry] max_ms"},
    {.name = "retry_max_attempts", .type = YARD_CONF_UINT,
     .flags = YARD_CONF_DERIVED, .min = 1, .max = RETRY_ATTEMPTS_MAX,
     .offset = PC(retry.max_attempts),
     .help = "handler calls before the DLQ; default: [retry] max_attempts"},
};

#define TS(field) offsetof(yard_topic_spec, field)

static const yard_conf_key topic_keys[] = {
    {.name = "partitions", .type = YARD_CONF_UINT, .min = 1,
     .max = TOPIC_PARTITIONS_MAX, .flags = YARD_CONF_REQUIRED,
     .offset = TS(partitions),
     .help = "partition count; an existing topic with another count is "
             "reported, never changed"},
    {.name = "replication_factor", .type = YARD_CONF_UINT, .min = 1,
     .max = TOPIC_REPLICAS_MAX, .flags = YARD_CONF_DERIVED,
     .offset = TS(replication_factor),
     .help = "replicas of each partition; default: the cluster's "
             "default.replication.factor, and not compared"},
    {.name = "retention", .type = YARD_CONF_STRING,
     .flags = YARD_CONF_DERIVED, .offset = TS(retention),
     .check = check_duration,
     .help = "retention.ms: milliseconds or a number with a unit (ms, s, "
             "min, h, d, w), or \"forever\"; default: the cluster's, and "
             "not compared"},
    {.name = "cleanup_policy", .type = YARD_CONF_ENUM,
     .choices = "delete|compact|compact,delete", .flags = YARD_CONF_DERIVED,
     .offset = TS(cleanup_policy),
     .help = "cleanup.policy; default: the cluster's, and not compared"},
    {.name = "min_insync_replicas", .type = YARD_CONF_UINT, .min = 1,
     .max = TOPIC_REPLICAS_MAX, .flags = YARD_CONF_DERIVED,
     .offset = TS(min_insync_replicas),
     .help = "min.insync.replicas, at most replication_factor; default: "
             "the cluster's, and not compared"},
};

/* Indexes into topic_keys that the loader cross-checks. */
enum { TK_PARTITIONS = 0, TK_REPLICATION = 1, TK_RETENTION = 2,
       TK_MIN_INSYNC = 4 };

/* Indexes into retry_keys. */
enum { RK_INITIAL = 0, RK_MAX = 1 };

/* Indexes into plugin_keys that the loader derives or cross-checks. */
enum {
    PK_NAME = 0,
    PK_PATH = 1,
    PK_GROUP = 2,
    PK_DLQ = 4,
    PK_RETRY_INITIAL = 5,
    PK_RETRY_MAX = 6,
    PK_RETRY_ATTEMPTS = 7,
};

static const yard_conf_section sections[] = {
    {.name = "host", .kind = YARD_CONF_HOST, .keys = host_keys,
     .n_keys = ARRAY_LEN(host_keys), .help = "the host process"},
    {.name = "kafka", .kind = YARD_CONF_KAFKA,
     .help = "librdkafka properties, passed through and checked by "
             "librdkafka"},
    {.name = "postgres", .kind = YARD_CONF_HOST, .keys = postgres_keys,
     .n_keys = ARRAY_LEN(postgres_keys), .help = "the database"},
    {.name = "retry", .kind = YARD_CONF_HOST, .keys = retry_keys,
     .n_keys = ARRAY_LEN(retry_keys),
     .help = "default retry policy of the plugins"},
    {.name = "http", .kind = YARD_CONF_HOST, .keys = http_keys,
     .n_keys = ARRAY_LEN(http_keys), .help = "metrics and health endpoints"},
    {.name = "topics", .kind = YARD_CONF_TOPICS,
     .help = "PATTERN = TOPIC: event types matching PATTERN live on TOPIC; "
             "first match wins"},
    {.name = TOPIC_SECTION, .kind = YARD_CONF_TOPIC, .keys = topic_keys,
     .n_keys = ARRAY_LEN(topic_keys),
     .help = "one topic as it should exist on the cluster: created at "
             "start when missing, reported (never changed) when it differs"},
    {.name = "plugin", .kind = YARD_CONF_PLUGIN, .keys = plugin_keys,
     .n_keys = ARRAY_LEN(plugin_keys),
     .help = "one plugin; a file with this section is a plugin file"},
    {.name = "settings", .kind = YARD_CONF_SETTINGS,
     .help = "free-form keys the plugin reads with config_get(); "
             "${state_dir} and ${conf_dir} in a value stand for those "
             "directories"},
};

_Static_assert(ARRAY_LEN(host_keys) <= MAX_SECTION_KEYS, "host_keys");
_Static_assert(ARRAY_LEN(plugin_keys) <= MAX_SECTION_KEYS, "plugin_keys");
_Static_assert(ARRAY_LEN(topic_keys) <= MAX_SECTION_KEYS, "topic_keys");
_Static_assert(ARRAY_LEN(topic_keys) == TK_MIN_INSYNC + 1,
               "topic key indexes");
_Static_assert(ARRAY_LEN(plugin_keys) == PK_RETRY_ATTEMPTS + 1,
               "plugin key indexes");

#define N_SECTIONS ARRAY_LEN(sections)

const yard_conf_section *yard_config_sections(size_t *n)
{
    if (n)
        *n = N_SECTIONS;
    return sections;
}

static const yard_conf_section *find_section(const char *name)
{
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i].name, name) == 0)
            return &sections[i];
    return NULL;
}

static const yard_conf_key *find_key(const yard_conf_section *sec,
                                     const char *name)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return &sec->keys[i];
    return NULL;
}

/* ---- loader state ----------------------------------------------------- */

/* Where a value came from; `file` is borrowed from the loader. */
typedef struct loc {
    const char *file;
    int line; /* 0: the environment */
} loc;

typedef struct plugin_state {
    loc key_at[MAX_SECTION_KEYS]; /* where each plugin key was set */
} plugin_state;

typedef struct topic_state {
    loc key_at[MAX_SECTION_KEYS]; /* where each [topic NAME] key was set */
} topic_state;

typedef struct loader {
    yard_config *cfg;
    yard_diag *diag;
    bool oom;
    rd_kafka_conf_t *kconf; /* scratch conf that checks [kafka] keys */
    loc section_at[N_SECTIONS];                   /* host-wide sections */
    loc key_at[N_SECTIONS][MAX_SECTION_KEYS];     /* their keys */
    plugin_state *pstate; /* parallel to cfg->plugins */
    topic_state *tstate;  /* parallel to cfg->topic_specs */
    char **paths;         /* every file read; locations borrow these */
    size_t n_paths;
} loader;

enum line_kind {
    LINE_BLANK,   /* empty or comment: inih ignores it */
    LINE_SECTION, /* a [section] header */
    LINE_BAD,     /* already reported by the reader */
    LINE_CONT,    /* indented: inih folds it into the previous value */
    LINE_KEY,     /* should be key = value */
};

typedef struct file_ctx {
    loader *ld;
    const char *path;
    FILE *fp;
    char *raw; /* the current line, as read */
    size_t rawcap;
    int lineno;
    enum line_kind kind;
    bool handled;       /* inih called the handler for this line */
    bool have_prev_key; /* inih's prev_name: indented lines continue it */
    size_t errors_before;
    /* the current section: NULL before the first header and when skipped */
    const yard_conf_section *sec;
    bool in_section;
    size_t topic_idx; /* in cfg->topic_specs, while sec is [topic NAME] */
    /* this file's plugin, built here and appended at the end of the file */
    int plugin_line;
    int settings_line;
    yard_plugin_conf pc;
    plugin_state ps;
} file_ctx;

static void note_oom(loader *ld, int rc)
{
    if (rc == YARD_ENOMEM)
        ld->oom = true;
}

/* Add "file:line: message" ("file: message" when line is 0). */
static void diag_at(loader *ld, const char *file, int line, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static void diag_at(loader *ld, const char *file, int line, const char *fmt,
                    ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        ld->oom = true;
        return;
    }
    int rc = line > 0 ? yard_diag_add(ld->diag, "%s:%d: %s", file, line, msg)
                      : yard_diag_add(ld->diag, "%s: %s", file, msg);
    note_oom(ld, rc);
    free(msg);
}

static char *xstrdup(loader *ld, const char *s)
{
    char *d = strdup(s);
    if (!d)
        ld->oom = true;
    return d;
}

/* "dir/name" with one slash; simple string joining, no realpath(): the
 * target need not exist when the configuration is checked. */
static char *path_join(loader *ld, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    const char *sep = n > 0 && dir[n - 1] == '/' ? "" : "/";
    char *out = NULL;
    if (asprintf(&out, "%s%s%s", dir, sep, name) < 0) {
        ld->oom = true;
        return NULL;
    }
    return out;
}

/* `value` with every ${state_dir} and ${conf_dir} replaced, so one plugin
 * file can name a directory that fits both a packaged host and `switchyard
 * dev`; NULL when there is none (or out of memory: ld->oom). */
static char *expand_dirs(loader *ld, const char *value)
{
    static const char *const names[] = {"${state_dir}", "${conf_dir}"};
    const char *dirs[] = {ld->cfg->state_dir, ld->cfg->conf_dir};
    if (!strstr(value, "${"))
        return NULL;
    char *out = strdup(value);
    for (size_t i = 0; out && i < ARRAY_LEN(names); i++) {
        char *at;
        while (dirs[i] && (at = strstr(out, names[i]))) {
            char *next = NULL;
            if (asprintf(&next, "%.*s%s%s", (int)(at - out), out, dirs[i],
                         at + strlen(names[i])) < 0)
                next = NULL;
            free(out);
            out = next;
            if (!out)
                break;
        }
    }
    if (!out)
        ld->oom = true;
    return out;
}

static int kv_append(yard_kv **arr, size_t *n, const char *key,
                     const char *value, const char *file, int line)
{
    yard_kv *a = realloc(*arr, (*n + 1) * sizeof(*a));
    if (!a)
        return YARD_ENOMEM;
    *arr = a;
    yard_kv *kv = &a[*n];
    kv->key = strdup(key);
    kv->value = strdup(value);
    kv->file = strdup(file);
    kv->line = line;
    if (!kv->key || !kv->value || !kv->file) {
        free(kv->key);
        free(kv->value);
        free(kv->file);
        return YARD_ENOMEM;
    }
    (*n)++;
    return 0;
}

static void kv_free(yard_kv *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(arr[i].key);
        free(arr[i].value);
        free(arr[i].file);
    }
    free(arr);
}

static const yard_kv *kv_find(const yard_kv *arr, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].key, key) == 0)
            return &arr[i];
    return NULL;
}

/* ---- values ------------------------------------------------------------ */

static bool parse_uint(const char *s, uint32_t min, uint32_t max,
                       uint32_t *out)
{
    if (!*s)
        return false;
    unsigned long long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long long)(*s - '0');
        if (v > max)
            return false;
    }
    if (v < min)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool enum_has(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, s, n) == 0)
            return true;
        c += len;
        if (*c == '|')
            c++;
    }
    return false;
}

/* "expected one of: a, b, c" from "a|b|c". */
static void expected_choices(const char *choices, char *why, size_t whylen)
{
    int w = snprintf(why, whylen, "expected one of: ");
    size_t used = w > 0 ? (size_t)w : 0;
    for (const char *c = choices; *c && used + 2 < whylen; c++) {
        if (*c == '|') {
            why[used++] = ',';
            why[used++] = ' ';
        } else {
            why[used++] = *c;
        }
    }
    why[used < whylen ? used : whylen - 1] = '\0';
}

/*
 * Parse `value` for key `k` into the struct at `base`.  Returns 0,
 * YARD_ECONFIG with the reason ("expected ...") in why, or YARD_ENOMEM.
 */
static int key_parse(const yard_conf_key *k, const char *value, void *base,
                     char *why, size_t whylen)
{
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case YARD_CONF_UINT: {
        uint32_t v;
        if (!parse_uint(value, k->min, k->max, &v)) {
            snprintf(why, whylen, "expected a whole number from %u to %u",
                     (unsigned)k->min, (unsigned)k->max);
            return YARD_ECONFIG;
        }
        *(uint32_t *)(void *)field = v;
        return 0;
    }
    case YARD_CONF_BOOL: {
        bool v;
        if (!parse_bool(value, &v)) {
            snprintf(why, whylen,
                     "expected true or false (or yes/no, on/off, 1/0)");
            return YARD_ECONFIG;
        }
        *(bool *)(void *)field = v;
        return 0;
    }
    case YARD_CONF_DIR:
        if (!*value) {
            snprintf(why, whylen, "expected a directory path");
            return YARD_ECONFIG;
        }
        break;
    case YARD_CONF_ENUM:
        if (!enum_has(k->choices, value)) {
            expected_choices(k->choices, why, whylen);
            return YARD_ECONFIG;
        }
        break;
    case YARD_CONF_STRING:
        if (k->check && !k->check(value, why, whylen))
            return YARD_ECONFIG;
        break;
    }
    char *dup = strdup(value);
    if (!dup)
        return YARD_ENOMEM;
    char **slot = (char **)(void *)field;
    free(*slot);
    *slot = dup;
    return 0;
}

/*
 * Set a table key and report a bad value at file:line.  `label` names the
 * setting in the message: "[host] workers" for files, the variable for the
 * environment.  Returns true when the value was taken.
 */
static bool key_set(loader *ld, const char *file, int line, const char *label,
                    const yard_conf_key *k, void *base, const char *value)
{
    char why[WHY_MAX] = "";
    int rc = key_parse(k, value, base, why, sizeof why);
    if (rc == YARD_ENOMEM)
        ld->oom = true;
    else if (rc != 0 && (k->flags & YARD_CONF_SECRET))
        diag_at(ld, file, line, "%s: %s", label, why);
    else if (rc != 0)
        diag_at(ld, file, line, "%s = \"%s\": %s", label, value, why);
    return rc == 0;
}

static void apply_defaults(loader *ld, const yard_conf_section *sec,
                           void *base)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const yard_conf_key *k = &sec->keys[i];
        if (!k->def)
            continue;
        char label[ENV_NAME_MAX];
        snprintf(label, sizeof label, "default of [%s] %s", sec->name,
                 k->name);
        key_set(ld, "internal error", 0, label, k, base, k->def);
    }
}

static void free_table_strings(const yard_conf_section *sec, void *base)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const yard_conf_key *k = &sec->keys[i];
        if (k->type == YARD_CONF_UINT || k->type == YARD_CONF_BOOL)
            continue;
        char **slot = (char **)(void *)((char *)base + k->offset);
        free(*slot);
        *slot = NULL;
    }
}

static void plugin_conf_clear(yard_plugin_conf *pc)
{
    free_table_strings(find_section("plugin"), pc);
    free(pc->file);
    kv_free(pc->settings, pc->n_settings);
    memset(pc, 0, sizeof(*pc));
}

/* ---- sections and keys ------------------------------------------------ */

/* "a, b, c" of a table's key names or of the known sections. */
static void list_names(char *buf, size_t len, const yard_conf_section *sec)
{
    size_t n = sec ? sec->n_keys : N_SECTIONS;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        const char *name = sec ? sec->keys[i].name : sections[i].name;
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void topic_spec_clear(yard_topic_spec *t)
{
    free_table_strings(find_section(TOPIC_SECTION), t);
    free(t->name);
    free(t->file);
    memset(t, 0, sizeof(*t));
}

/* "[topic NAME]": a new spec, unless NAME is bad or already given.
 * `rest` is what follows the word "topic". */
static void begin_topic(file_ctx *fc, const yard_conf_section *sec,
                        const char *rest)
{
    loader *ld = fc->ld;
    yard_config *cfg = ld->cfg;
    while (isspace((unsigned char)*rest))
        rest++;
    char why[WHY_MAX];
    if (!*rest) {
        diag_at(ld, fc->path, fc->lineno,
                "[topic] without a topic name: expected [topic NAME]");
        return;
    }
    if (!check_topic(rest, why, sizeof why)) {
        diag_at(ld, fc->path, fc->lineno, "[topic %s]: %s", rest, why);
        return;
    }
    const yard_topic_spec *prev = yard_config_topic_spec(cfg, rest);
    if (prev) {
        diag_at(ld, fc->path, fc->lineno,
                "[topic %s] is already given at %s:%d; each topic may "
                "appear once",
                rest, prev->file, prev->line);
        return;
    }
    yard_topic_spec *ts =
        realloc(cfg->topic_specs, (cfg->n_topic_specs + 1) * sizeof(*ts));
    if (ts)
        cfg->topic_specs = ts;
    topic_state *st =
        realloc(ld->tstate, (cfg->n_topic_specs + 1) * sizeof(*st));
    if (st)
        ld->tstate = st;
    if (!ts || !st) {
        ld->oom = true;
        return;
    }
    yard_topic_spec *t = &cfg->topic_specs[cfg->n_topic_specs];
    memset(t, 0, sizeof(*t));
    memset(&ld->tstate[cfg->n_topic_specs], 0, sizeof(*st));
    t->name = xstrdup(ld, rest);
    t->file = xstrdup(ld, fc->path);
    t->line = fc->lineno;
    if (!t->name || !t->file) {
        topic_spec_clear(t);
        return;
    }
    fc->topic_idx = cfg->n_topic_specs++;
    fc->sec = sec;
}

static void begin_section(file_ctx *fc, const char *name)
{
    loader *ld = fc->ld;
    fc->in_section = true;
    fc->sec = NULL;
    size_t tl = strlen(TOPIC_SECTION);
    if (strncmp(name, TOPIC_SECTION, tl) == 0 &&
        (name[tl] == '\0' || isspace((unsigned char)name[tl]))) {
        begin_topic(fc, find_section(TOPIC_SECTION), name + tl);
        return;
    }
    const yard_conf_section *sec = find_section(name);
    if (!sec) {
        char known[WHY_MAX];
        list_names(known, sizeof known, NULL);
        diag_at(ld, fc->path, fc->lineno, "unknown section [%s] (known: %s)",
                name, known);
        return;
    }
    switch (sec->kind) {
    case YARD_CONF_PLUGIN:
        if (fc->plugin_line) {
            diag_at(ld, fc->path, fc->lineno,
                    "[plugin] given twice in one file (first at line %d); "
                    "one plugin per file",
                    fc->plugin_line);
            return;
        }
        fc->plugin_line = fc->lineno;
        apply_defaults(ld, sec, &fc->pc);
        break;
    case YARD_CONF_SETTINGS:
        if (fc->settings_line) {
            diag_at(ld, fc->path, fc->lineno,
                    "[settings] given twice in one file (first at line %d)",
                    fc->settings_line);
            return;
        }
        fc->settings_line = fc->lineno;
        break;
    default: {
        loc *first = &ld->section_at[sec - sections];
        if (first->line) {
            diag_at(ld, fc->path, fc->lineno,
                    "[%s] is already given at %s:%d; each host section may "
                    "appear once",
                    name, first->file, first->line);
            return;
        }
        *first = (loc){fc->path, fc->lineno};
        break;
    }
    }
    fc->sec = sec;
}

/* A key of a table section (host-wide or [plugin]). */
static void table_key(file_ctx *fc, void *base, loc *key_at, const char *name,
                      const char *value)
{
    loader *ld = fc->ld;
    const yard_conf_section *sec = fc->sec;
    /* "[topic NAME]" names its topic in every message. */
    char secname[WHY_MAX];
    if (sec->kind == YARD_CONF_TOPIC)
        snprintf(secname, sizeof secname, "%s %s", sec->name,
                 ld->cfg->topic_specs[fc->topic_idx].name);
    else
        snprintf(secname, sizeof secname, "%s", sec->name);
    const yard_conf_key *k = find_key(sec, name);
    if (!k) {
        char known[WHY_MAX];
        list_names(known, sizeof known, sec);
        diag_at(ld, fc->path, fc->lineno,
                "[%s] unknown key \"%s\" (known: %s)", secname, name,
                known);
        return;
    }
    loc *at = &key_at[k - sec->keys];
    if (at->line) {
        diag_at(ld, fc->path, fc->lineno,
                "[%s] duplicate key %s (first set at line %d)", secname,
                name, at->line);
        return;
    }
    *at = (loc){fc->path, fc->lineno};
    char label[2 * WHY_MAX];
    snprintf(label, sizeof label, "[%s] %s", secname, name);
    key_set(ld, fc->path, fc->lineno, label, k, base, value);
}

/* Check a librdkafka property on the scratch conf, then keep it (an
 * existing entry is replaced in place: the environment overrides files). */
static void kafka_key(loader *ld, const char *file, int line,
                      const char *label, const char *key, const char *value)
{
    yard_config *cfg = ld->cfg;
    if (!ld->kconf && !(ld->kconf = rd_kafka_conf_new())) {
        ld->oom = true;
        return;
    }
    char errstr[WHY_MAX] = "";
    if (rd_kafka_conf_set(ld->kconf, key, value, errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        diag_at(ld, file, line, "%s: %s", label, errstr);
        return;
    }
    /* The consumer's rebalance handling is eager: every partition is
     * revoked (in-flight events settled, offsets committed), then the new
     * set assigned.  Under the cooperative protocol librdkafka refuses that
     * assign() and the consumer would never get a partition. */
    if (strcmp(key, "partition.assignment.strategy") == 0 &&
        strstr(value, "cooperative")) {
        diag_at(ld, file, line,
                "%s = %s: the cooperative rebalance protocol is not "
                "supported; use range or roundrobin",
                label, value);
        return;
    }
    yard_kv *kv = (yard_kv *)kv_find(cfg->kafka, cfg->n_kafka, key);
    if (!kv) {
        note_oom(ld, kv_append(&cfg->kafka, &cfg->n_kafka, key, value, file,
                               line));
        return;
    }
    char *v = xstrdup(ld, value), *f = xstrdup(ld, file);
    if (!v || !f) {
        free(v);
        free(f);
        return;
    }
    free(kv->value);
    free(kv->file);
    kv->value = v;
    kv->file = f;
    kv->line = line;
}

static void on_kafka(file_ctx *fc, const char *name, const char *value)
{
    yard_config *cfg = fc->ld->cfg;
    const yard_kv *prev = kv_find(cfg->kafka, cfg->n_kafka, name);
    if (prev) {
        diag_at(fc->ld, fc->path, fc->lineno,
                "[kafka] duplicate key %s (first set at line %d)", name,
                prev->line);
        return;
    }
    char label[WHY_MAX];
    snprintf(label, sizeof label, "[kafka] %s", name);
    kafka_key(fc->ld, fc->path, fc->lineno, label, name, value);
}

static void on_topics(file_ctx *fc, const char *pattern, const char *topic)
{
    loader *ld = fc->ld;
    yard_config *cfg = ld->cfg;
    bool ok = *pattern != '\0';
    for (const char *p = pattern; ok && *p; p++)
        ok = isgraph((unsigned char)*p);
    if (!ok) {
        diag_at(ld, fc->path, fc->lineno,
                "[topics] pattern \"%s\": expected an event type with "
                "optional '*' wildcards, without spaces",
                pattern);
        return;
    }
    const yard_kv *prev = kv_find(cfg->topics, cfg->n_topics, pattern);
    if (prev) {
        diag_at(ld, fc->path, fc->lineno,
                "[topics] duplicate pattern %s (first set at line %d)",
                pattern, prev->line);
        return;
    }
    char why[WHY_MAX];
    if (!check_topic(topic, why, sizeof why)) {
        diag_at(ld, fc->path, fc->lineno, "[topics] %s = \"%s\": %s", pattern,
                topic, why);
        return;
    }
    note_oom(ld, kv_append(&cfg->topics, &cfg->n_topics, pattern, topic,
                           fc->path, fc->lineno));
}

static void on_settings(file_ctx *fc, const char *name, const char *value)
{
    const yard_kv *prev = kv_find(fc->pc.settings, fc->pc.n_settings, name);
    if (prev) {
        diag_at(fc->ld, fc->path, fc->lineno,
                "[settings] duplicate key %s (first set at line %d)", name,
                prev->line);
        return;
    }
    note_oom(fc->ld, kv_append(&fc->pc.settings, &fc->pc.n_settings, name,
                               value, fc->path, fc->lineno));
}

/* inih's handler.  The section comes from our reader (which saw the header
 * line), not from inih's copy, which inih truncates. */
static int on_key(void *user, const char *section, const char *name,
                  const char *value)
{
    file_ctx *fc = user;
    loader *ld = fc->ld;
    (void)section;
    if (!name || !value)
        return 1; /* a section or a bare name: finish_line() reports it */
    fc->handled = true;
    if (fc->kind == LINE_CONT)
        return 1; /* reported by finish_line() */
    fc->have_prev_key = *name != '\0';
    if (!fc->in_section) {
        diag_at(ld, fc->path, fc->lineno,
                "%s = ...: key outside any section; put it under a "
                "[section] header",
                name);
        return 1;
    }
    if (!fc->sec)
        return 1; /* unknown or repeated section: reported at its header */
    switch (fc->sec->kind) {
    case YARD_CONF_HOST: {
        size_t si = (size_t)(fc->sec - sections);
        table_key(fc, ld->cfg, ld->key_at[si], name, value);
        break;
    }
    case YARD_CONF_PLUGIN:
        table_key(fc, &fc->pc, fc->ps.key_at, name, value);
        break;
    case YARD_CONF_KAFKA:
        on_kafka(fc, name, value);
        break;
    case YARD_CONF_TOPICS:
        on_topics(fc, name, value);
        break;
    case YARD_CONF_SETTINGS:
        on_settings(fc, name, value);
        break;
    case YARD_CONF_TOPIC:
        table_key(fc, &ld->cfg->topic_specs[fc->topic_idx],
                  ld->tstate[fc->topic_idx].key_at, name, value);
        break;
    }
    return 1;
}

/* ---- the line reader -------------------------------------------------- */

/* Report the line just parsed if inih folded it into the previous value
 * or skipped it as malformed.  Runs once per line. */
static void finish_line(file_ctx *fc)
{
    if (fc->kind == LINE_CONT)
        diag_at(fc->ld, fc->path, fc->lineno,
                "indented line continues the previous value; multi-line "
                "values are not supported (remove the indentation)");
    else if (fc->kind == LINE_KEY && !fc->handled)
        diag_at(fc->ld, fc->path, fc->lineno,
                "expected \"key = value\" or \"[section]\"");
    fc->kind = LINE_BLANK;
}

/* Mirror inih's reading of a "[name]" line: the name ends at ']' or at an
 * inline comment (';' after whitespace). */
static void read_header(file_ctx *fc, char *start)
{
    char *end = start + 1;
    bool was_space = false;
    while (*end && *end != ']' && !(was_space && *end == ';')) {
        was_space = isspace((unsigned char)*end);
        end++;
    }
    if (*end != ']') {
        fc->kind = LINE_BAD;
        fc->in_section = true;
        fc->sec = NULL; /* inih would keep the previous section: skip it */
        diag_at(fc->ld, fc->path, fc->lineno,
                "section header without a closing \"]\"");
        return;
    }
    char *name = start + 1;
    while (isspace((unsigned char)*name))
        name++;
    while (end > name && isspace((unsigned char)end[-1]))
        end--;
    char saved = *end;
    *end = '\0';
    fc->kind = LINE_SECTION;
    fc->have_prev_key = false;
    begin_section(fc, name);
    *end = saved;
}

/* fgets-style reader for ini_parse_stream(): one whole line per call. */
static char *read_line(char *buf, int size, void *stream)
{
    file_ctx *fc = stream;
    finish_line(fc);
    ssize_t len = getline(&fc->raw, &fc->rawcap, fc->fp);
    if (len < 0)
        return NULL;
    fc->lineno++;
    fc->handled = false;
    size_t n = (size_t)len;
    while (n > 0 && (fc->raw[n - 1] == '\n' || fc->raw[n - 1] == '\r'))
        fc->raw[--n] = '\0';
    if (size < 2 || n + 2 > (size_t)size) {
        /* inih's line buffer is fixed; a cut line would be misread */
        fc->kind = LINE_BAD;
        diag_at(fc->ld, fc->path, fc->lineno,
                "line is longer than %d characters, the INI reader's limit",
                size > 2 ? size - 2 : 0);
        snprintf(buf, (size_t)size, "\n");
        return buf;
    }
    memcpy(buf, fc->raw, n);
    memcpy(buf + n, "\n", 2);

    char *start = fc->raw;
    if (fc->lineno == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;
    bool indented = start > fc->raw || isspace((unsigned char)*start);
    while (isspace((unsigned char)*start))
        start++;
    if (*start == '\0' || *start == ';' || *start == '#')
        fc->kind = LINE_BLANK;
    else if (indented && fc->have_prev_key)
        fc->kind = LINE_CONT;
    else if (*start == '[')
        read_header(fc, start);
    else
        fc->kind = LINE_KEY;
    return buf;
}

/* ---- files ------------------------------------------------------------ */

/* "50-erp.ini" -> "erp": drop ".ini" and a leading "NN-". */
static char *name_from_file(loader *ld, const char *base)
{
    const char *p = base;
    while (*p >= '0' && *p <= '9')
        p++;
    const char *start = p > base && *p == '-' ? p + 1 : base;
    size_t n = strlen(start);
    size_t suffix = strlen(CONF_SUFFIX);
    if (n >= suffix && strcmp(start + n - suffix, CONF_SUFFIX) == 0)
        n -= suffix;
    char *name = strndup(start, n);
    if (!name)
        ld->oom = true;
    return name;
}

/* Defaults of a plugin that depend only on its own file. */
static void plugin_file_defaults(file_ctx *fc, const char *base)
{
    loader *ld = fc->ld;
    yard_plugin_conf *pc = &fc->pc;
    char why[WHY_MAX];
    bool derived_ok = true; /* no follow-up errors from a bad name */
    if (!pc->name) {
        pc->name = name_from_file(ld, base);
        if (pc->name && !check_plugin_name(pc->name, why, sizeof why)) {
            diag_at(ld, fc->path, fc->plugin_line,
                    "[plugin] name \"%s\" taken from the file name: %s; "
                    "rename the file or set name",
                    pc->name, why);
            derived_ok = false;
        }
    }
    if (!pc->group && pc->name)
        pc->group = xstrdup(ld, pc->name);
    if (!pc->dlq_topic && pc->group && derived_ok) {
        if (asprintf(&pc->dlq_topic, DLQ_PREFIX "%s", pc->group) < 0) {
            pc->dlq_topic = NULL;
            ld->oom = true;
        } else if (!check_topic(pc->dlq_topic, why, sizeof why)) {
            diag_at(ld, fc->path, fc->plugin_line,
                    "[plugin] dlq_topic \"%s\" derived from the group: %s; "
                    "set dlq_topic",
                    pc->dlq_topic, why);
        }
    }
}

static void end_file(file_ctx *fc, const char *base)
{
    loader *ld = fc->ld;
    yard_config *cfg = ld->cfg;
    if (!fc->plugin_line) {
        if (fc->settings_line)
            diag_at(ld, fc->path, fc->settings_line,
                    "[settings] without a [plugin] section in the same file");
        plugin_conf_clear(&fc->pc);
        return;
    }
    plugin_file_defaults(fc, base);
    fc->pc.file = xstrdup(ld, fc->path);
    fc->pc.line = fc->plugin_line;
    yard_plugin_conf *pl =
        realloc(cfg->plugins, (cfg->n_plugins + 1) * sizeof(*pl));
    if (pl)
        cfg->plugins = pl;
    plugin_state *ps =
        realloc(ld->pstate, (cfg->n_plugins + 1) * sizeof(*ps));
    if (ps)
        ld->pstate = ps;
    if (!pl || !ps) {
        ld->oom = true;
        plugin_conf_clear(&fc->pc);
        return;
    }
    cfg->plugins[cfg->n_plugins] = fc->pc;
    ld->pstate[cfg->n_plugins] = fc->ps;
    cfg->n_plugins++;
    memset(&fc->pc, 0, sizeof fc->pc);
}

static void read_file(loader *ld, const char *dir, const char *base)
{
    char *path = path_join(ld, dir, base);
    if (!path)
        return;
    char **paths = realloc(ld->paths, (ld->n_paths + 1) * sizeof(*paths));
    if (!paths) {
        free(path);
        ld->oom = true;
        return;
    }
    ld->paths = paths;
    ld->paths[ld->n_paths++] = path;

    FILE *fp = fopen(path, "r");
    if (!fp) {
        diag_at(ld, path, 0, "cannot open: %s", strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        diag_at(ld, path, 0, "not a regular file");
        fclose(fp);
        return;
    }
    file_ctx fc = {.ld = ld, .path = path, .fp = fp,
                   .errors_before = ld->diag->n};
    int rc = ini_parse_stream(read_line, &fc, on_key, &fc);
    finish_line(&fc);
    if (ferror(fp))
        diag_at(ld, path, 0, "read error: %s", strerror(errno));
    else if (rc == -2)
        ld->oom = true;
    else if (rc > 0 && ld->diag->n == fc.errors_before)
        diag_at(ld, path, rc, "syntax error"); /* inih saw what we did not */
    fclose(fp);
    free(fc.raw);
    end_file(&fc, base);
}

/* *.ini, not hidden (editors' lock and swap files are). */
static int is_conf_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    size_t suffix = strlen(CONF_SUFFIX);
    return d->d_name[0] != '.' && n > suffix &&
           strcmp(d->d_name + n - suffix, CONF_SUFFIX) == 0;
}

/* Byte order, so that the order never depends on the locale (alphasort
 * uses strcoll). */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* ---- environment and final checks ------------------------------------- */

static void apply_env(loader *ld)
{
    for (size_t si = 0; si < N_SECTIONS; si++) {
        const yard_conf_section *sec = &sections[si];
        if (sec->kind != YARD_CONF_HOST)
            continue;
        for (size_t ki = 0; ki < sec->n_keys; ki++) {
            const yard_conf_key *k = &sec->keys[ki];
            char var[ENV_NAME_MAX];
            snprintf(var, sizeof var, ENV_PREFIX "%s_%s", sec->name, k->name);
            for (char *p = var; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            const char *v = getenv(var);
            if (v && key_set(ld, ENV_LOCATION, 0, var, k, ld->cfg, v))
                ld->key_at[si][ki] = (loc){ENV_LOCATION, 0};
        }
    }
    const char *brokers = getenv(ENV_KAFKA_BROKERS);
    if (brokers)
        kafka_key(ld, ENV_LOCATION, 0,
                  ENV_KAFKA_BROKERS " (" KAFKA_BROKERS_KEY ")",
                  KAFKA_BROKERS_KEY, brokers);
}

/* The first backoff must not exceed the cap; reported where the first
 * backoff was set, else where the cap was. */
static void check_retry(loader *ld, const yard_retry_policy *r,
                        const char *initial_name, const char *max_name,
                        const loc *initial_at, const loc *max_at,
                        const loc *fallback)
{
    if (r->initial_ms <= r->max_ms)
        return;
    const loc *at = initial_at->file ? initial_at : max_at;
    if (!at->file)
        at = fallback;
    diag_at(ld, at->file, at->line, "%s (%u) is larger than %s (%u)",
            initial_name, (unsigned)r->initial_ms, max_name,
            (unsigned)r->max_ms);
}

static void resolve_dirs(loader *ld)
{
    yard_config *cfg = ld->cfg;
    for (size_t si = 0; si < N_SECTIONS; si++) {
        const yard_conf_section *sec = &sections[si];
        if (sec->kind != YARD_CONF_HOST)
            continue;
        for (size_t ki = 0; ki < sec->n_keys; ki++) {
            const yard_conf_key *k = &sec->keys[ki];
            if (k->type != YARD_CONF_DIR)
                continue;
            char **slot = (char **)(void *)((char *)cfg + k->offset);
            if (!*slot || (*slot)[0] == '/')
                continue;
            char *joined = path_join(ld, cfg->conf_dir, *slot);
            if (joined) {
                free(*slot);
                *slot = joined;
            }
        }
    }
}

static void finish_plugin(loader *ld, size_t idx)
{
    yard_config *cfg = ld->cfg;
    yard_plugin_conf *pc = &cfg->plugins[idx];
    const loc *at = ld->pstate[idx].key_at;
    const loc header = {pc->file, pc->line};

    for (size_t ki = 0; ki < ARRAY_LEN(plugin_keys); ki++)
        if ((plugin_keys[ki].flags & YARD_CONF_REQUIRED) && !at[ki].line)
            diag_at(ld, pc->file, pc->line,
                    "[plugin] %s is required: %s", plugin_keys[ki].name,
                    plugin_keys[ki].help);

    if (!at[PK_RETRY_INITIAL].line)
        pc->retry.initial_ms = cfg->retry.initial_ms;
    if (!at[PK_RETRY_MAX].line)
        pc->retry.max_ms = cfg->retry.max_ms;
    if (!at[PK_RETRY_ATTEMPTS].line)
        pc->retry.max_attempts = cfg->retry.max_attempts;
    if (at[PK_RETRY_INITIAL].line || at[PK_RETRY_MAX].line)
        check_retry(ld, &pc->retry, "[plugin] retry_initial_ms",
                    "retry_max_ms", &at[PK_RETRY_INITIAL], &at[PK_RETRY_MAX],
                    &header);

    if (pc->path && pc->path[0] != '/' && cfg->plugin_dir) {
        char *joined = path_join(ld, cfg->plugin_dir, pc->path);
        if (joined) {
            free(pc->path);
            pc->path = joined;
        }
    }

    for (size_t k = 0; k < pc->n_settings; k++) {
        char *v = expand_dirs(ld, pc->settings[k].value);
        if (v) {
            free(pc->settings[k].value);
            pc->settings[k].value = v;
        }
    }

    for (size_t j = 0; j < idx && pc->name; j++) {
        const yard_plugin_conf *other = &cfg->plugins[j];
        if (other->name && strcmp(other->name, pc->name) == 0) {
            diag_at(ld, pc->file, pc->line,
                    "[plugin] name \"%s\" is already used by %s:%d; plugin "
                    "names must be unique",
                    pc->name, other->file, other->line);
            break;
        }
    }
}

static void finish_topic(loader *ld, size_t idx)
{
    yard_topic_spec *t = &ld->cfg->topic_specs[idx];
    const loc *at = ld->tstate[idx].key_at;
    for (size_t ki = 0; ki < ARRAY_LEN(topic_keys); ki++)
        if ((topic_keys[ki].flags & YARD_CONF_REQUIRED) && !at[ki].line)
            diag_at(ld, t->file, t->line, "[topic %s] %s is required: %s",
                    t->name, topic_keys[ki].name, topic_keys[ki].help);
    if (t->retention && !yard_config_parse_duration(t->retention,
                                                    &t->retention_ms))
        t->retention_ms = 0; /* reported when the key was read */
    /* A topic that could never accept a write with acks=all. */
    if (t->replication_factor && t->min_insync_replicas >
                                     t->replication_factor)
        diag_at(ld, at[TK_MIN_INSYNC].file, at[TK_MIN_INSYNC].line,
                "[topic %s] min_insync_replicas (%u) is larger than "
                "replication_factor (%u): no write could succeed",
                t->name, (unsigned)t->min_insync_replicas,
                (unsigned)t->replication_factor);
}

static void finish(loader *ld)
{
    yard_config *cfg = ld->cfg;
    resolve_dirs(ld);
    /* A path like the directories: relative ones against conf_dir. */
    if (!cfg->control_socket && cfg->state_dir) {
        cfg->control_socket = path_join(ld, cfg->state_dir, CONTROL_SOCKET_NAME);
    } else if (cfg->control_socket && cfg->control_socket[0] != '/') {
        char *joined = path_join(ld, cfg->conf_dir, cfg->control_socket);
        if (joined) {
            free(cfg->control_socket);
            cfg->control_socket = joined;
        }
    }
    size_t si = (size_t)(find_section("retry") - sections);
    const loc fallback = {ENV_LOCATION, 0};
    check_retry(ld, &cfg->retry, "[retry] initial_ms", "max_ms",
                &ld->key_at[si][RK_INITIAL], &ld->key_at[si][RK_MAX],
                &fallback);
    for (size_t i = 0; i < cfg->n_plugins; i++)
        finish_plugin(ld, i);
    for (size_t i = 0; i < cfg->n_topic_specs; i++)
        finish_topic(ld, i);
}

/* ---- API --------------------------------------------------------------- */

int yard_config_load(const char *conf_dir, yard_config **out, yard_diag *diag)
{
    if (!out)
        return YARD_EINVAL;
    *out = NULL;
    if (!conf_dir)
        return YARD_EINVAL;
    yard_diag local = YARD_DIAG_INIT;
    if (!diag)
        diag = &local; /* the caller only wants the code */

    struct dirent **ents = NULL;
    int n = scandir(conf_dir, &ents, is_conf_file, by_name);
    if (n < 0) {
        int e = errno;
        int rc = yard_diag_add(diag,
                               "%s: cannot read the configuration "
                               "directory: %s",
                               conf_dir, strerror(e));
        yard_diag_clear(&local);
        return rc ? rc : YARD_EIO;
    }

    size_t errors_before = diag->n;
    loader ld = {.diag = diag};
    yard_config *cfg = calloc(1, sizeof(*cfg));
    ld.cfg = cfg;
    if (cfg && (cfg->conf_dir = strdup(conf_dir))) {
        for (size_t si = 0; si < N_SECTIONS; si++)
            if (sections[si].kind == YARD_CONF_HOST)
                apply_defaults(&ld, &sections[si], cfg);
        for (int i = 0; i < n && !ld.oom; i++)
            read_file(&ld, conf_dir, ents[i]->d_name);
        if (!ld.oom)
            apply_env(&ld);
        if (!ld.oom)
            finish(&ld);
    } else {
        ld.oom = true;
    }

    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    if (ld.kconf)
        rd_kafka_conf_destroy(ld.kconf);
    for (size_t i = 0; i < ld.n_paths; i++)
        free(ld.paths[i]);
    free(ld.paths);
    free(ld.pstate);
    free(ld.tstate);

    int rc = ld.oom ? YARD_ENOMEM
                    : diag->n > errors_before ? YARD_ECONFIG : YARD_OK;
    yard_diag_clear(&local);
    if (rc != YARD_OK) {
        yard_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void yard_config_free(yard_config *cfg)
{
    if (!cfg)
        return;
    for (size_t si = 0; si < N_SECTIONS; si++)
        if (sections[si].kind == YARD_CONF_HOST)
            free_table_strings(&sections[si], cfg);
    free(cfg->conf_dir);
    kv_free(cfg->kafka, cfg->n_kafka);
    kv_free(cfg->topics, cfg->n_topics);
    for (size_t i = 0; i < cfg->n_topic_specs; i++)
        topic_spec_clear(&cfg->topic_specs[i]);
    free(cfg->topic_specs);
    for (size_t i = 0; i < cfg->n_plugins; i++)
        plugin_conf_clear(&cfg->plugins[i]);
    free(cfg->plugins);
    free(cfg);
}

const char *yard_config_kafka(const yard_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    const yard_kv *kv = kv_find(cfg->kafka, cfg->n_kafka, key);
    return kv ? kv->value : NULL;
}

const yard_plugin_conf *yard_config_plugin(const yard_config *cfg,
                                           const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_plugins; i++)
        if (strcmp(cfg->plugins[i].name, name) == 0)
            return &cfg->plugins[i];
    return NULL;
}

const yard_topic_spec *yard_config_topic_spec(const yard_config *cfg,
                                              const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_topic_specs; i++)
        if (cfg->topic_specs[i].name &&
            strcmp(cfg->topic_specs[i].name, name) == 0)
            return &cfg->topic_specs[i];
    return NULL;
}

const char *yard_plugin_conf_get(const yard_plugin_conf *pc, const char *key)
{
    if (!pc || !key)
        return NULL;
    const yard_kv *kv = kv_find(pc->settings, pc->n_settings, key);
    return kv ? kv->value : NULL;
}
