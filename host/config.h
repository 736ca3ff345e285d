/*
 * config.h — conf.d/NAME.ini files, read in name order, validated from key tables.
 *
 * host.ini (any file may hold host sections; a section given twice is an
 * error) has:
 *   [host]      workers, batch_size, plugin_dir, schema_dir, state_dir,
 *               log_level, log_format, shutdown_timeout_ms,
 *               control_socket
 *   [kafka]     any librdkafka property, passed through (checked against
 *               librdkafka itself, so a typo is an error with file:line)
 *   [postgres]  dsn
 *   [retry]     initial_ms, max_ms, max_attempts
 *   [http]      listen
 *   [topics]    PATTERN = TOPIC: event types matching PATTERN live on
 *               TOPIC (first match in file order wins; default: the type
 *               itself is the topic)
 *   [topic NAME] one topic as it should exist on the cluster: partitions
 *               (required), replication_factor, retention, cleanup_policy,
 *               min_insync_replicas; any number of these sections, in any
 *               file, each NAME once (see topics.h for what the host does
 *               with them)
 * A plugin file has:
 *   [plugin]    name (default: file name without leading "NN-" and
 *               ".ini"), path (.so, relative to plugin_dir), group
 *               (default: name), enabled (default true), dlq_topic
 *               (default "dlq.<group>"), retry_initial_ms, retry_max_ms,
 *               retry_max_attempts (default: [retry])
 *   [settings]  free-form keys the plugin reads with config_get()
 *
 * Environment variables override host settings after the files are read:
 * SWITCHYARD_<SECTION>_<KEY> in upper case for table keys (for example
 * SWITCHYARD_HOST_WORKERS, SWITCHYARD_POSTGRES_DSN), and
 * SWITCHYARD_KAFKA_BROKERS for kafka bootstrap.servers.
 *
 * Relative directories (plugin_dir, schema_dir, state_dir) are resolved
 * against the conf.d directory.
 */
#ifndef YARD_CONFIG_H
#define YARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A key=value with where it came from.  Strings owned by the config. */
typedef struct yard_kv {
    char *key;
    char *value;
    char *file; /* path of the .ini, or "environment" */
    int line;   /* 0 for the environment */
} yard_kv;

typedef struct yard_retry_policy {
    uint32_t initial_ms;   /* first backoff, default 100 */
    uint32_t max_ms;       /* backoff cap, default 30000 */
    uint32_t max_attempts; /* handler calls before the DLQ, default 5 */
} yard_retry_policy;

typedef struct yard_plugin_conf {
    char *name;
    char *file; /* the .ini it came from */
    int line;   /* line of its [plugin] header */
    char *path; /* .so path as resolved against plugin_dir */
    char *group;
    char *dlq_topic;
    bool enabled;
    yard_retry_policy retry;
    yard_kv *settings; /* [settings], in file order */
    size_t n_settings;
} yard_plugin_conf;

/* A [topic NAME] section.  Settings left out are 0 / NULL: the cluster's
 * default applies on creation and the setting is not compared. */
typedef struct yard_topic_spec {
    char *name;
    char *file;                   /* the .ini it came from */
    int line;                     /* line of its [topic NAME] header */
    uint32_t partitions;          /* required, 1..100000 */
    uint32_t replication_factor;  /* 0: not set */
    char *retention;              /* as written ("7d"); NULL: not set */
    int64_t retention_ms;         /* from retention; -1 forever; 0 not set */
    char *cleanup_policy;         /* delete | compact | compact,delete */
    uint32_t min_insync_replicas; /* 0: not set */
} yard_topic_spec;

typedef struct yard_config {
    char *conf_dir;
    /* [host] */
    uint32_t workers;        /* default 4, 1..256 */
    uint32_t batch_size;     /* events per transaction, default 64, 1..10000 */
    char *plugin_dir;        /* default "../plugins" */
    char *schema_dir;        /* default "../schemas" */
    char *state_dir;         /* default "/var/lib/switchyard" */
    char *log_level;         /* default "info" */
    char *log_format;        /* "logfmt" (default) or "json" */
    uint32_t shutdown_timeout_ms; /* default 10000 */
    char *control_socket;    /* default "<state_dir>/control.sock" */
    uint32_t handler_deadline_ms;   /* slower handlers are logged, default 5000 */
    uint32_t handler_hard_limit_ms; /* liveness fails past it, default 60000 */
    uint32_t max_crashes;    /* crashes in a handler before PLUGIN_CRASHED, 3 */
    /* [postgres] */
    char *postgres_dsn;      /* default "" (libpq defaults / PG* env) */
    /* [http] */
    char *http_listen;       /* default "127.0.0.1:9464" */
    /* [retry] */
    yard_retry_policy retry;
    /* [kafka], in file order, then environment */
    yard_kv *kafka;
    size_t n_kafka;
    /* [topics], in file order */
    yard_kv *topics;
    size_t n_topics;
    /* [topic NAME] sections, in file order */
    yard_topic_spec *topic_specs;
    size_t n_topic_specs;
    /* one per plugin file, in file-name order */
    yard_plugin_conf *plugins;
    size_t n_plugins;
} yard_config;

/*
 * The key tables.  Configuration is data: each section's keys are rows of a
 * static table, and parsing, defaults, validation, environment overrides,
 * error messages and `switchyard check` all come from these rows.
 */
typedef enum yard_conf_type {
    YARD_CONF_STRING, /* text; a key may add its own check */
    YARD_CONF_UINT,   /* whole number in [min, max] */
    YARD_CONF_BOOL,   /* true/false, yes/no, on/off, 1/0 */
    YARD_CONF_DIR,    /* non-empty path; relative: against conf_dir */
    YARD_CONF_ENUM,   /* one of `choices`, written "a|b|c" */
} yard_conf_type;

#define YARD_CONF_REQUIRED 0x1u /* no default: the key must be given */
#define YARD_CONF_DERIVED 0x2u  /* default computed from other keys (help) */
#define YARD_CONF_SECRET 0x4u   /* the value is never echoed in messages */

typedef struct yard_conf_key {
    const char *name;
    yard_conf_type type;
    const char *def;     /* default in file syntax; NULL: REQUIRED/DERIVED */
    uint32_t min, max;   /* YARD_CONF_UINT bounds, inclusive */
    const char *choices; /* YARD_CONF_ENUM */
    unsigned flags;      /* YARD_CONF_REQUIRED | _DERIVED | _SECRET */
    size_t offset;       /* of the field in yard_config / yard_plugin_conf */
    /* Extra check of a STRING value: false with "expected ..." in why. */
    bool (*check)(const char *value, char *why, size_t whylen);
    const char *help;
} yard_conf_key;

typedef enum yard_conf_kind {
    YARD_CONF_HOST,     /* table keys of yard_config; one per host; env
                           SWITCHYARD_<SECTION>_<KEY> overrides them */
    YARD_CONF_KAFKA,    /* librdkafka properties, checked by librdkafka */
    YARD_CONF_TOPICS,   /* PATTERN = TOPIC rules */
    YARD_CONF_PLUGIN,   /* table keys of yard_plugin_conf; makes the file a
                           plugin file */
    YARD_CONF_SETTINGS, /* free-form keys of the plugin in the same file */
    YARD_CONF_TOPIC,    /* table keys of yard_topic_spec; the header is
                           "[topic NAME]", any number of them */
} yard_conf_kind;

typedef struct yard_conf_section {
    const char *name;
    yard_conf_kind kind;
    const yard_conf_key *keys; /* NULL for free-form sections */
    size_t n_keys;
    const char *help;
} yard_conf_section;

/* Every section the loader knows, in documentation order.  Static storage,
 * any thread. */
const yard_conf_section *yard_config_sections(size_t *n);

/*
 * Read every *.ini in conf_dir in name order, apply the environment and
 * validate.  On success *out is a new config the caller frees with
 * yard_config_free().  On failure returns YARD_ECONFIG (or YARD_EIO when
 * the directory cannot be read), *out is NULL, and `diag` holds one
 * "file:line: message" per problem found (all of them, not just the first;
 * "environment: VARIABLE ..." for a bad environment value).  diag may be
 * NULL.  Files are read in byte order of their names (not the locale's);
 * hidden files are skipped.  A line may hold at most 198 characters (the
 * INI reader's buffer); multi-line values are not supported.  Relative
 * directories from the environment are resolved against conf_dir too.
 * Reads the environment; otherwise safe to call from any thread.
 */
int yard_config_load(const char *conf_dir, yard_config **out, yard_diag *diag);

void yard_config_free(yard_config *cfg); /* accepts NULL */

/* Value of a [kafka] key, or NULL.  Owned by cfg. */
const char *yard_config_kafka(const yard_config *cfg, const char *key);

/* The plugin's conf by name, or NULL.  Owned by cfg. */
const yard_plugin_conf *yard_config_plugin(const yard_config *cfg,
                                           const char *name);

/* The [topic NAME] section of `name`, or NULL.  Owned by cfg. */
const yard_topic_spec *yard_config_topic_spec(const yard_config *cfg,
                                              const char *name);

/* A duration as [topic] retention takes it: a whole number of
 * milliseconds, or a number with a unit (ms, s, min, h, d, w), or
 * "forever" / "-1" (-1).  False when malformed, zero or too large. */
bool yard_config_parse_duration(const char *s, int64_t *ms);

/* Setting from a plugin's [settings], or NULL.  Owned by pc. */
const char *yard_plugin_conf_get(const yard_plugin_conf *pc, const char *key);

#endif
