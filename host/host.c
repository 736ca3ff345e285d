/* host.c — start, reload and stop the whole runtime (see host.h). */
#include "host.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "consumer.h"
#include "control.h"
#include "crashrec.h"
#include "engine.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pattern.h"
#include "plugin.h"
#include "relay.h"
#include "store.h"
#include "topics.h"

#define MSG_MAX 1024       /* one plugin's refusal */
#define RESULT_MAX 4096    /* a reload's result line */
#define SLOT_RESULT_MAX 512
#define IDLE_POLL_US 2000  /* how often a drain looks at binding->inflight */
#define FIRST_RELOAD_GEN 2 /* generation 1 is the start's */

/* One running plugin: its binding (which the engine's jobs point to), the
 * plugin version the binding currently routes to, and its consumer. */
typedef struct pslot {
    yard_binding *binding; /* binding->plugin is the live version */
    yard_consumer *consumer;
    time_t loaded_at; /* when the live version was loaded */
    char last_reload[SLOT_RESULT_MAX];
} pslot;

struct yard_host {
    yard_config *cfg;  /* the current configuration (live settings) */
    yard_config *base; /* the start's: engine, relay, kafka, plugin_dir */
    yard_config **cfgs; /* every configuration still referenced */
    size_t n_cfgs;
    char runtime_dir[256];
    pslot *slots;
    size_t n, cap;
    yard_engine *engine;
    yard_crashrec *crash; /* NULL: state_dir unusable, no crash record */
    yard_relay *relay;
    /* Payload schemas from [host] schema_dir, loaded at start (a reload
     * keeps them: changed schemas need a restart). */
    yard_schema_registry *schemas;
    yard_control *control;
    yard_monitor *monitor; /* PostgreSQL readiness, outbox gauges */
    yard_http *http;       /* /metrics, /healthz, /readyz, /plugins */
    int collector;
    uint64_t next_gen;
    /* Held for a whole reload; a second one finds it taken and is refused. */
    pthread_mutex_t reload_mu;
    /* Guards slots, n, cfg and the reload result for status readers; held
     * only briefly, never across a drain. */
    pthread_mutex_t state_mu;
    uint64_t reloads, reloads_failed;
    bool last_ok;
    time_t last_at; /* 0: no reload yet */
    char last_result[RESULT_MAX];
};

/* A private directory for the per-generation plugin copies. */
static int make_runtime_dir(char *out, size_t len, char *err, size_t errlen)
{
    const char *base = getenv("RUNTIME_DIRECTORY"); /* systemd's */
    if (!base)
        base = getenv("TMPDIR");
    snprintf(out, len, "%s/switchyard-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(out))
        return yard_errf(err, errlen, YARD_EIO, "cannot create %s: %m", out);
    return 0;
}

static void remove_runtime_dir(const char *dir)
{
    if (dir[0])
        rmdir(dir); /* plugin copies were removed when their plugin closed */
}

static void open_opts(const yard_config *cfg, const char *runtime_dir,
                      uint64_t gen, yard_plugin_open_opts *o)
{
    memset(o, 0, sizeof *o);
    o->plugin_dir = cfg->plugin_dir;
    o->runtime_dir = runtime_dir;
    o->generation = gen;
    o->host_uid = geteuid();
}

size_t yard_host_check_plugins(const yard_config *cfg, yard_diag *diag)
{
    char dir[256], err[1024];
    if (make_runtime_dir(dir, sizeof dir, err, sizeof err)) {
        yard_diag_add(diag, "%s", err);
        return 1;
    }
    size_t bad = 0;
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &cfg->plugins[i];
        if (!pc->enabled)
            continue;
        yard_plugin_open_opts o;
        open_opts(cfg, dir, 1, &o);
        yard_plugin *p = NULL;
        if (yard_plugin_open(pc, &o, &p, err, sizeof err)) {
            yard_diag_add(diag, "%s:%d: plugin %s: %s", pc->file, pc->line,
                          pc->name, err);
            bad++;
        }
        yard_plugin_close(p);
    }
    remove_runtime_dir(dir);
    return bad;
}

/* snprintf for messages that may be cut short on purpose. */
static void fmt(char *buf, size_t len, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* ---- plugins and their slots ------------------------------------------- */

/*
 * Open and start one plugin version: file trust checks, ABI check, its
 * migrations (through *admin, connected on first use), init().  Plugin
 * files are checked against the running plugin_dir (h->base).
 */
static int load_version(yard_host *h, const yard_plugin_conf *pc,
                        uint64_t gen, PGconn **admin, yard_plugin **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    yard_plugin_open_opts o;
    open_opts(h->base, h->runtime_dir, gen, &o);
    yard_plugin *p = NULL;
    char msg[MSG_MAX];
    int rc = yard_plugin_open(pc, &o, &p, msg, sizeof msg);
    if (!rc && !*admin)
        rc = yard_db_connect(h->base->postgres_dsn, admin, msg, sizeof msg);
    if (!rc)
        rc = yard_plugin_start(p, yard_engine_api(), yard_store_migrate_one,
                               *admin, msg, sizeof msg);
    if (rc) {
        yard_plugin_close(p);
        return yard_errf(err, errlen, rc, "%s:%d: plugin %s: %s", pc->file,
                         pc->line, pc->name, msg);
    }
    *out = p;
    return 0;
}

static int slot_reserve(yard_host *h)
{
    if (h->n < h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 8;
    pthread_mutex_lock(&h->state_mu);
    pslot *s = realloc(h->slots, cap * sizeof *s);
    if (s) {
        h->slots = s;
        h->cap = cap;
    }
    pthread_mutex_unlock(&h->state_mu);
    return s ? 0 : YARD_ENOMEM;
}

static yard_binding *binding_new(yard_plugin *p, const yard_plugin_conf *pc,
                                 const yard_config *cfg)
{
    yard_binding *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->plugin = p;
    b->conf = pc;
    b->cfg = cfg;
    snprintf(b->source, sizeof b->source, "/switchyard/%s", pc->name);
    return b;
}

static int consumer_start(yard_host *h, yard_binding *b, yard_consumer **out,
                          char *err, size_t errlen)
{
    b->schemas = h->schemas; /* before its first job */
    /* [kafka] and [topics] are the start's: they need a restart. */
    yard_consumer_opts co = {.cfg = h->base, .binding = b,
                             .engine = h->engine};
    return yard_consumer_start(&co, out, err, errlen);
}

/* Wait until no job of b is in flight: finish_slot() has returned for all. */
static void wait_idle(const yard_binding *b)
{
    while (atomic_load(&b->inflight) > 0)
        usleep(IDLE_POLL_US);
}

static pslot *slot_find(yard_host *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->slots[i].binding->conf->name, name) == 0)
            return &h->slots[i];
    return NULL;
}

/* ---- start ------------------------------------------------------------- */

static int load_plugins(yard_host *h, PGconn **admin, char *err, size_t errlen)
{
    const yard_config *cfg = h->cfg;
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &cfg->plugins[i];
        if (!pc->enabled) {
            yard_log(YARD_LOG_INFO, "plugin disabled", "plugin", pc->name, NULL);
            continue;
        }
        yard_plugin *p = NULL;
        int rc = load_version(h, pc, 1, admin, &p, err, errlen);
        if (rc)
            return rc;
        yard_binding *b = slot_reserve(h) ? NULL : binding_new(p, pc, cfg);
        if (!b) {
            yard_plugin_close(p);
            return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        }
        h->slots[h->n++] = (pslot){.binding = b, .loaded_at = time(NULL)};
        snprintf(h->slots[h->n - 1].last_reload, SLOT_RESULT_MAX,
                 "loaded at start");
        const sy_plugin_desc *d = yard_plugin_desc(p);
        yard_log(YARD_LOG_INFO, "plugin loaded", "plugin", pc->name, "version",
                 d->version, "group", pc->group, NULL);
    }
    return 0;
}

static void warn_settings(PGconn *admin)
{
    char v[64];
    if (yard_db_setting(admin, "synchronous_commit", v, sizeof v) == 0 &&
        strcmp(v, "off") == 0)
        yard_log(YARD_LOG_WARN,
                 "PostgreSQL runs with synchronous_commit=off: acknowledged "
                 "commits can be lost in a server crash",
                 NULL);
}

static char *control_answer(void *arg, const char *command);

static void start_control(yard_host *h)
{
    const char *path = h->cfg->control_socket;
    if (!path)
        return;
    char err[MSG_MAX];
    if (yard_control_start(path, control_answer, h, &h->control, err,
                           sizeof err))
        yard_log(YARD_LOG_WARN,
                 "control socket unavailable: `switchyard status` and "
                 "`switchyard reload` will not reach this host (SIGHUP "
                 "still reloads)",
                 "error", err, NULL);
    else
        yard_log(YARD_LOG_INFO, "control socket listening", "path", path,
                 NULL);
}

/* ---- metrics, health, the HTTP endpoint --------------------------------- */

#define MONITOR_INTERVAL_MS 1000

/* Scrape-time metrics from the plugin table. */
static void plugin_counter(void *arg, const char *name, double v)
{
    yard_metric_set(YARD_M_PLUGIN_COUNTER,
                    (const char *[]){(const char *)arg, name}, v);
}

static void collect(void *arg)
{
    yard_host *h = arg;
    yard_metric_clear(YARD_M_PLUGIN_INFO);
    yard_metric_clear(YARD_M_EVENTS_INFLIGHT);
    yard_metric_clear(YARD_M_PLUGIN_COUNTER);
    pthread_mutex_lock(&h->state_mu);
    for (size_t i = 0; i < h->n; i++) {
        const yard_binding *b = h->slots[i].binding;
        const sy_plugin_desc *d = yard_plugin_desc(b->plugin);
        char abi[32], gen[24];
        snprintf(abi, sizeof abi, "%u.%u", (unsigned)d->abi_major,
                 (unsigned)d->abi_minor);
        snprintf(gen, sizeof gen, "%llu",
                 (unsigned long long)yard_plugin_generation(b->plugin));
        yard_metric_set(YARD_M_PLUGIN_INFO,
                        (const char *[]){b->conf->name, d->version, abi, gen}, 1);
        yard_metric_set(YARD_M_EVENTS_INFLIGHT,
                        (const char *[]){b->conf->name, b->conf->group},
                        atomic_load(&b->inflight));
        yard_plugin_metric_each(b->plugin, plugin_counter, b->conf->name);
    }
    pthread_mutex_unlock(&h->state_mu);
}

/* /readyz: every enabled plugin of the current configuration is loaded,
 * and the last reload was not refused: what runs then differs from what
 * conf.d says, and the operator should know until a reload succeeds. */
static bool plugins_ready(void *arg, char *why, size_t whylen)
{
    yard_host *h = arg;
    size_t pos = 0;
    bool ok = true;
    pthread_mutex_lock(&h->state_mu);
    if (h->last_at && !h->last_ok) {
        ok = false;
        pos += (size_t)snprintf(why, whylen, "last reload refused: %s\n",
                                h->last_result);
    }
    for (size_t i = 0; i < h->cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &h->cfg->plugins[i];
        if (!pc->enabled || slot_find(h, pc->name))
            continue;
        ok = false;
        if (pos < whylen)
            pos += (size_t)snprintf(why + pos, whylen - pos,
                                    "plugin %s: enabled but not loaded (see "
                                    "the log)\n",
                                    pc->name);
    }
    pthread_mutex_unlock(&h->state_mu);
    return ok;
}

/* /plugins: what runs, with its counters; disabled plugins too. */
static char *plugins_json(void *arg)
{
    yard_host *h = arg;
    json_t *arr = json_array();
    pthread_mutex_lock(&h->state_mu);
    for (size_t i = 0; arr && i < h->n; i++) {
        const yard_binding *b = h->slots[i].binding;
        const sy_plugin_desc *d = yard_plugin_desc(b->plugin);
        const yard_binding_stats *st = &b->stats;
        char abi[32];
        snprintf(abi, sizeof abi, "%u.%u", (unsigned)d->abi_major,
                 (unsigned)d->abi_minor);
        json_t *subs = json_array();
        for (size_t k = 0; subs && k < d->n_subscriptions; k++)
            json_array_append_new(subs, json_string(d->subscriptions[k].pattern));
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:b, s:o, s:{s:I, s:I, "
                      "s:I, s:I, s:I, s:I, s:I}}",
                      "name", b->conf->name, "version", d->version, "abi", abi,
                      "generation",
                      (json_int_t)yard_plugin_generation(b->plugin), "group",
                      b->conf->group, "dlq_topic", b->conf->dlq_topic,
                      "enabled", 1, "subscriptions", subs, "counts",
                      "consumed", (json_int_t)atomic_load(&st->consumed),
                      "handled", (json_int_t)atomic_load(&st->handled),
                      "duplicates", (json_int_t)atomic_load(&st->duplicates),
                      "unmatched", (json_int_t)atomic_load(&st->unmatched),
                      "retried", (json_int_t)atomic_load(&st->retried),
                      "dead_lettered",
                      (json_int_t)atomic_load(&st->dead_lettered), "inflight",
                      (json_int_t)atomic_load(&b->inflight)));
    }
    for (size_t i = 0; arr && i < h->cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &h->cfg->plugins[i];
        if (!pc->enabled)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name",
                                                 pc->name, "group", pc->group,
                                                 "enabled", 0));
    }
    pthread_mutex_unlock(&h->state_mu);
    json_t *root = arr ? json_pack("{s:o}", "plugins", arr) : NULL;
    char *out = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    return out;
}

/* After everything they watch has started; stopped before it stops. */
static int start_observability(yard_host *h, char *err, size_t errlen)
{
    h->collector = yard_metrics_add_collector(collect, h);
    yard_health_set_probe(plugins_ready, h);
    int rc = yard_monitor_start(h->base->postgres_dsn, MONITOR_INTERVAL_MS,
                                &h->monitor, err, errlen);
    if (rc)
        return rc;
    yard_http_opts ho = {.listen = h->base->http_listen,
                         .plugins_json = plugins_json,
                         .arg = h};
    /* Not fatal: another process may hold the port (the default is the
     * same for every host), and events matter more than their metrics. */
    if (yard_http_start(&ho, &h->http, err, errlen))
        yard_log(YARD_LOG_ERROR,
                 "http endpoint unavailable: no /metrics, /healthz, /readyz, "
                 "/plugins",
                 "error", err, NULL);
    return 0;
}

static void stop_observability(yard_host *h)
{
    yard_http_stop(h->http);
    h->http = NULL;
    yard_monitor_stop(h->monitor);
    h->monitor = NULL;
    yard_health_set_probe(NULL, NULL);
    yard_metrics_remove_collector(h->collector);
    h->collector = 0;
}

/* Payload schemas: a missing directory means none (nothing validated); a
 * file that does not parse stops the start, like a configuration error. */
static int load_schemas(yard_host *h, char *err, size_t errlen)
{
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_schema_registry_load(h->cfg->schema_dir, true, &h->schemas, &d);
    if (rc) {
        char msg[1536];
        yard_diag_join(&d, msg, sizeof msg);
        yard_diag_clear(&d);
        return yard_errf(err, errlen, YARD_ECONFIG, "schemas in %s: %s",
                         h->cfg->schema_dir, msg);
    }
    yard_diag_clear(&d);
    char n[24];
    snprintf(n, sizeof n, "%zu", yard_schema_count(h->schemas));
    yard_log(YARD_LOG_INFO, "schemas loaded", "dir", h->cfg->schema_dir,
             "event_types", n, NULL);
    return 0;
}

/* Without a usable state_dir the host runs, but a plugin that crashes it
 * on one event would crash it forever: say so. */
static void open_crash_record(yard_host *h, PGconn *admin)
{
    char err[1024];
    if (yard_crashrec_open(h->cfg->state_dir, h->cfg->workers, admin, &h->crash,
                           err, sizeof err))
        yard_log(YARD_LOG_WARN,
                 "crash record disabled: events that crash a plugin are not "
                 "dead-lettered as PLUGIN_CRASHED",
                 "error", err, NULL);
}

/* [topic NAME] sections against the cluster, before any client of ours
 * asks for a topic by name (which may auto-create it).  Differences and
 * topics that cannot be created are reported, not fatal: the events on the
 * other topics still flow. */
static int check_topics(const yard_config *cfg, char *err, size_t errlen)
{
    yard_topics_report *r = NULL;
    int rc = yard_topics_check(cfg, &r, err, errlen);
    yard_topics_log(r);
    yard_topics_publish(r);
    yard_topics_report_free(r);
    return rc;
}

int yard_host_start(yard_config *cfg, yard_host **out, char *err, size_t errlen)
{
    *out = NULL;
    yard_host *h = calloc(1, sizeof *h);
    if (!h || !(h->cfgs = calloc(1, sizeof *h->cfgs))) {
        free(h);
        yard_config_free(cfg);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    h->cfg = h->base = cfg;
    h->cfgs[h->n_cfgs++] = cfg;
    h->next_gen = FIRST_RELOAD_GEN;
    pthread_mutex_init(&h->reload_mu, NULL);
    pthread_mutex_init(&h->state_mu, NULL);
    PGconn *admin = NULL;
    int rc = make_runtime_dir(h->runtime_dir, sizeof h->runtime_dir, err, errlen);
    if (rc) {
        h->runtime_dir[0] = '\0';
        goto fail;
    }
    if ((rc = yard_db_connect(cfg->postgres_dsn, &admin, err, errlen)))
        goto fail;
    warn_settings(admin);
    if ((rc = yard_store_migrate(admin, "host", yard_host_migrations,
                                 yard_host_migrations_count, err, errlen)))
        goto fail;
    if ((rc = load_schemas(h, err, errlen)))
        goto fail;
    if ((rc = load_plugins(h, &admin, err, errlen)))
        goto fail;
    open_crash_record(h, admin);
    PQfinish(admin);
    admin = NULL;

    yard_health_set_handler_limit(cfg->handler_hard_limit_ms);
    yard_engine_opts eo = {.dsn = cfg->postgres_dsn,
                           .workers = cfg->workers,
                           .batch_size = cfg->batch_size,
                           .handler_deadline_ms = cfg->handler_deadline_ms,
                           .handler_hard_limit_ms = cfg->handler_hard_limit_ms,
                           .crash = h->crash,
                           .max_crashes = cfg->max_crashes};
    if ((rc = yard_engine_start(&eo, &h->engine, err, errlen)))
        goto fail;
    if ((rc = check_topics(cfg, err, errlen)))
        goto fail;
    if ((rc = yard_relay_start(cfg, &h->relay, err, errlen)))
        goto fail;
    for (size_t i = 0; i < h->n; i++)
        if ((rc = consumer_start(h, h->slots[i].binding,
                                 &h->slots[i].consumer, err, errlen)))
            goto fail;
    start_control(h);
    if ((rc = start_observability(h, err, errlen)))
        goto fail;
    yard_log(YARD_LOG_INFO, "host started", NULL);
    *out = h;
    return 0;
fail:
    PQfinish(admin);
    yard_host_stop(h);
    return rc;
}

void yard_host_stop(yard_host *h)
{
    if (!h)
        return;
    /* First, so that no reload runs from the control thread any more. */
    yard_control_stop(h->control);
    stop_observability(h);
    uint32_t timeout = h->cfg->shutdown_timeout_ms;
    for (size_t i = 0; i < h->n; i++)
        yard_consumer_halt(h->slots[i].consumer);
    yard_engine_stop(h->engine, timeout);
    yard_crashrec_close(h->crash);
    for (size_t i = 0; i < h->n; i++)
        yard_consumer_close(h->slots[i].consumer);
    yard_relay_stop(h->relay, timeout);
    for (size_t i = 0; i < h->n; i++) {
        yard_plugin_close(h->slots[i].binding->plugin);
        free(h->slots[i].binding);
    }
    yard_schema_registry_free(h->schemas);
    remove_runtime_dir(h->runtime_dir);
    free(h->slots);
    for (size_t i = 0; i < h->n_cfgs; i++)
        yard_config_free(h->cfgs[i]);
    free(h->cfgs);
    pthread_mutex_destroy(&h->reload_mu);
    pthread_mutex_destroy(&h->state_mu);
    free(h);
    yard_log(YARD_LOG_INFO, "host stopped", NULL);
}

/* ---- reload: what changed ---------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool kv_eq(const yard_kv *a, size_t na, const yard_kv *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Same plugin section, by meaning (not by file or line). */
static bool plugin_conf_eq(const yard_plugin_conf *a, const yard_plugin_conf *b)
{
    return str_eq(a->name, b->name) && str_eq(a->path, b->path) &&
           str_eq(a->group, b->group) && str_eq(a->dlq_topic, b->dlq_topic) &&
           a->enabled == b->enabled &&
           a->retry.initial_ms == b->retry.initial_ms &&
           a->retry.max_ms == b->retry.max_ms &&
           a->retry.max_attempts == b->retry.max_attempts &&
           kv_eq(a->settings, a->n_settings, b->settings, b->n_settings);
}

/* Would the two versions subscribe the same topics under the same group? */
static bool same_subscription(const yard_host *h, const yard_plugin *a,
                              const yard_plugin *b)
{
    if (!str_eq(yard_plugin_conf_of(a)->group, yard_plugin_conf_of(b)->group))
        return false;
    const yard_plugin *v[2] = {a, b};
    char **topics[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    bool ok = true;
    for (int k = 0; k < 2 && ok; k++) {
        const sy_plugin_desc *d = yard_plugin_desc(v[k]);
        const char **pats = calloc(d->n_subscriptions, sizeof *pats);
        ok = pats != NULL;
        for (size_t i = 0; ok && i < d->n_subscriptions; i++)
            pats[i] = d->subscriptions[i].pattern;
        ok = ok && yard_topics_for_patterns(h->base, pats, d->n_subscriptions,
                                            &topics[k], &n[k]) == 0;
        free(pats);
    }
    ok = ok && n[0] == n[1];
    for (size_t i = 0; ok && i < n[0]; i++) {
        bool found = false;
        for (size_t j = 0; j < n[1] && !found; j++)
            found = strcmp(topics[0][i], topics[1][j]) == 0;
        ok = found;
    }
    for (int k = 0; k < 2; k++)
        yard_topics_free(topics[k], n[k]);
    return ok;
}

/* [host] keys that take effect on reload; everything else in the host
 * tables, [kafka] and [topics] needs a restart. */
static bool live_key(const char *section, const char *key)
{
    static const char *const live[] = {"log_level", "log_format",
                                       "shutdown_timeout_ms"};
    if (strcmp(section, "retry") == 0) /* through each plugin's policy */
        return true;
    if (strcmp(section, "host") != 0)
        return false;
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (strcmp(key, live[i]) == 0)
            return true;
    return false;
}

static bool key_eq(const yard_conf_key *k, const yard_config *a,
                   const yard_config *b)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;
    switch (k->type) {
    case YARD_CONF_UINT: return *(const uint32_t *)(const void *)pa ==
                                *(const uint32_t *)(const void *)pb;
    case YARD_CONF_BOOL: return *(const bool *)(const void *)pa ==
                                *(const bool *)(const void *)pb;
    default:
        return str_eq(*(char *const *)(const void *)pa,
                      *(char *const *)(const void *)pb);
    }
}

static bool topic_spec_eq(const yard_topic_spec *a, const yard_topic_spec *b)
{
    return str_eq(a->name, b->name) && a->partitions == b->partitions &&
           a->replication_factor == b->replication_factor &&
           a->retention_ms == b->retention_ms &&
           str_eq(a->cleanup_policy, b->cleanup_policy) &&
           a->min_insync_replicas == b->min_insync_replicas;
}

/* Log every host setting that changed but cannot change live; returns how
 * many. */
static size_t report_restart_needed(const yard_config *run,
                                    const yard_config *next)
{
    size_t n_sections, count = 0;
    const yard_conf_section *secs = yard_config_sections(&n_sections);
    char label[128];
    for (size_t s = 0; s < n_sections; s++) {
        if (secs[s].kind != YARD_CONF_HOST)
            continue;
        for (size_t k = 0; k < secs[s].n_keys; k++) {
            const yard_conf_key *key = &secs[s].keys[k];
            if (live_key(secs[s].name, key->name) || key_eq(key, run, next))
                continue;
            snprintf(label, sizeof label, "[%s] %s", secs[s].name, key->name);
            yard_log(YARD_LOG_WARN,
                     "setting changed but cannot change while running: "
                     "restart the host to apply it",
                     "setting", label, NULL);
            count++;
        }
    }
    if (!kv_eq(run->kafka, run->n_kafka, next->kafka, next->n_kafka)) {
        yard_log(YARD_LOG_WARN,
                 "setting changed but cannot change while running: restart "
                 "the host to apply it",
                 "setting", "[kafka]", NULL);
        count++;
    }
    if (!kv_eq(run->topics, run->n_topics, next->topics, next->n_topics)) {
        yard_log(YARD_LOG_WARN,
                 "setting changed but cannot change while running: restart "
                 "the host to apply it",
                 "setting", "[topics]", NULL);
        count++;
    }
    /* Topics are checked (and created) only at start. */
    bool topics_same = run->n_topic_specs == next->n_topic_specs;
    for (size_t i = 0; topics_same && i < run->n_topic_specs; i++)
        topics_same = topic_spec_eq(&run->topic_specs[i], &next->topic_specs[i]);
    if (!topics_same) {
        yard_log(YARD_LOG_WARN,
                 "setting changed but cannot change while running: restart "
                 "the host to apply it",
                 "setting", "[topic NAME]", NULL);
        count++;
    }
    return count;
}

static void apply_live_settings(const yard_config *cfg)
{
    yard_log_level l;
    if (yard_log_level_parse(cfg->log_level, &l) == 0)
        yard_log_set_level(l);
    yard_log_set_json(strcmp(cfg->log_format, "json") == 0);
}

/* ---- reload: actions ----------------------------------------------------- */

/* What one reload did, for its result line. */
typedef struct outcome {
    unsigned added, upgraded, removed, unchanged, refused;
    int first_rc;
    char errors[RESULT_MAX];
    size_t used;
} outcome;

static void refuse(outcome *o, int rc, const char *msg)
{
    o->refused++;
    if (!o->first_rc)
        o->first_rc = rc;
    if (o->used < sizeof o->errors) {
        int w = snprintf(o->errors + o->used, sizeof o->errors - o->used,
                         "%s%s", o->used ? "; " : "", msg);
        if (w > 0)
            o->used += (size_t)w;
    }
}

static void add_plugin(yard_host *h, const yard_plugin_conf *pc,
                       yard_config *cfg, PGconn **admin, outcome *o)
{
    char err[MSG_MAX];
    yard_plugin *p = NULL;
    yard_binding *b = NULL;
    yard_consumer *c = NULL;
    int rc = load_version(h, pc, h->next_gen++, admin, &p, err, sizeof err);
    if (!rc && (slot_reserve(h) || !(b = binding_new(p, pc, cfg))))
        rc = yard_errf(err, sizeof err, YARD_ENOMEM, "out of memory");
    char msg[MSG_MAX];
    if (!rc && (rc = consumer_start(h, b, &c, msg, sizeof msg)))
        yard_errf(err, sizeof err, rc, "%s:%d: plugin %s: %s", pc->file,
                  pc->line, pc->name, msg);
    if (rc) {
        free(b);
        yard_plugin_close(p);
        yard_log(YARD_LOG_ERROR, "plugin refused, not added", "plugin",
                 pc->name, "error", err, NULL);
        yard_metrics_plugin_load_failed(pc->name);
        refuse(o, rc, err);
        return;
    }
    pthread_mutex_lock(&h->state_mu);
    pslot *s = &h->slots[h->n++];
    *s = (pslot){.binding = b, .consumer = c, .loaded_at = time(NULL)};
    snprintf(s->last_reload, sizeof s->last_reload, "added");
    pthread_mutex_unlock(&h->state_mu);
    o->added++;
    yard_log(YARD_LOG_INFO, "plugin added", "plugin", pc->name, "version",
             yard_plugin_desc(p)->version, "group", pc->group, NULL);
}

static void remove_plugin(yard_host *h, size_t i, const char *why,
                          outcome *o)
{
    pslot s = h->slots[i];
    yard_binding *b = s.binding;
    /* Stop fetching, let what was fetched finish and commit, leave the
     * group; then no job can reach the plugin any more. */
    yard_consumer_halt(s.consumer);
    wait_idle(b);
    yard_consumer_close(s.consumer);
    wait_idle(b);
    pthread_mutex_lock(&h->state_mu);
    h->slots[i] = h->slots[--h->n];
    pthread_mutex_unlock(&h->state_mu);
    char name[128];
    snprintf(name, sizeof name, "%s", b->conf->name);
    yard_plugin_close(b->plugin);
    free(b);
    o->removed++;
    yard_log(YARD_LOG_INFO, "plugin removed", "plugin", name, "reason", why,
             NULL);
}

/*
 * Drain the running version and route the binding to np.  Returns 0; or an
 * error with the binding unchanged (*kept_consumer: the drain timed out);
 * or, with !*kept_consumer, an error after the swap (the new consumer did
 * not start).  The caller closes whichever version is out.
 */
static int swap_version(yard_host *h, pslot *s, yard_plugin *np,
                        const yard_plugin_conf *pc, yard_config *cfg,
                        bool *kept_consumer, char *err, size_t errlen)
{
    yard_binding *b = s->binding;
    *kept_consumer = s->consumer && same_subscription(h, b->plugin, np);
    if (*kept_consumer) {
        /* Same group and topics: keep the consumer and its partitions, swap
         * the handler under it. */
        uint32_t timeout = h->cfg->shutdown_timeout_ms;
        int rc = yard_consumer_pause(s->consumer, timeout);
        if (rc)
            return yard_errf(err, errlen, rc,
                             "%s:%d: plugin %s: in-flight events of the "
                             "running version did not finish within %u ms; "
                             "it keeps running",
                             pc->file, pc->line, pc->name, (unsigned)timeout);
        pthread_mutex_lock(&h->state_mu);
        b->plugin = np;
        b->conf = pc;
        b->cfg = cfg;
        pthread_mutex_unlock(&h->state_mu);
        yard_consumer_resume(s->consumer);
        return 0;
    }
    /* Other topics or group: a new consumer, after the old one has
     * committed what it handled and left. */
    yard_consumer_halt(s->consumer);
    wait_idle(b);
    yard_consumer_close(s->consumer);
    wait_idle(b);
    pthread_mutex_lock(&h->state_mu);
    s->consumer = NULL;
    b->plugin = np;
    b->conf = pc;
    b->cfg = cfg;
    snprintf(b->source, sizeof b->source, "/switchyard/%s", pc->name);
    pthread_mutex_unlock(&h->state_mu);
    yard_consumer *c = NULL;
    char msg[MSG_MAX];
    int rc = consumer_start(h, b, &c, msg, sizeof msg);
    pthread_mutex_lock(&h->state_mu);
    s->consumer = c;
    pthread_mutex_unlock(&h->state_mu);
    if (rc)
        /* The new version is in place but not consuming: say so loudly. */
        return yard_errf(err, errlen, rc,
                         "%s:%d: plugin %s: upgraded, but its consumer did "
                         "not start: %s",
                         pc->file, pc->line, pc->name, msg);
    return 0;
}

static void upgrade_plugin(yard_host *h, pslot *s, const yard_plugin_conf *pc,
                           yard_config *cfg, PGconn **admin, outcome *o)
{
    char err[MSG_MAX];
    yard_plugin *np = NULL;
    yard_plugin *old = s->binding->plugin;
    int rc = load_version(h, pc, h->next_gen++, admin, &np, err, sizeof err);
    bool kept = false;
    if (!rc) {
        char from[64];
        snprintf(from, sizeof from, "%s", yard_plugin_desc(old)->version);
        rc = swap_version(h, s, np, pc, cfg, &kept, err, sizeof err);
        if (rc && !kept) {
            /* Swapped but not consuming: the old version is gone. */
            yard_plugin_close(old);
            refuse(o, rc, err);
            yard_log(YARD_LOG_ERROR, "plugin upgrade incomplete", "plugin",
                     pc->name, "error", err, NULL);
            pthread_mutex_lock(&h->state_mu);
            s->loaded_at = time(NULL);
            fmt(s->last_reload, sizeof s->last_reload, "failed: %s", err);
            pthread_mutex_unlock(&h->state_mu);
            return;
        }
        if (!rc) {
            yard_plugin_close(old);
            char gen[32];
            snprintf(gen, sizeof gen, "%llu",
                     (unsigned long long)yard_plugin_generation(np));
            yard_log(YARD_LOG_INFO, "plugin upgraded", "plugin", pc->name,
                     "from", from, "to", yard_plugin_desc(np)->version,
                     "generation", gen, "consumer",
                     kept ? "kept" : "replaced", NULL);
            pthread_mutex_lock(&h->state_mu);
            s->loaded_at = time(NULL);
            snprintf(s->last_reload, sizeof s->last_reload,
                     "upgraded from %s to %s (consumer %s)", from,
                     yard_plugin_desc(np)->version, kept ? "kept" : "replaced");
            pthread_mutex_unlock(&h->state_mu);
            o->upgraded++;
            return;
        }
        yard_plugin_close(np); /* drain timed out: the old one still runs */
    }
    yard_log(YARD_LOG_ERROR, "plugin reload refused, the running version "
             "stays", "plugin", pc->name, "error", err, NULL);
    yard_metrics_plugin_load_failed(pc->name);
    refuse(o, rc, err);
    pthread_mutex_lock(&h->state_mu);
    fmt(s->last_reload, sizeof s->last_reload, "refused: %s", err);
    pthread_mutex_unlock(&h->state_mu);
}

/* Has the plugin's section or its file's content changed? */
static bool plugin_changed(const pslot *s, const yard_plugin_conf *pc)
{
    const yard_plugin *p = s->binding->plugin;
    if (!plugin_conf_eq(yard_plugin_conf_of(p), pc))
        return true;
    uint64_t hash = 0;
    /* Unreadable now: try to load it, which reports why. */
    return yard_file_hash(pc->path, &hash) != 0 ||
           hash != yard_plugin_file_hash(p);
}

/* Free configurations no binding points into any more. */
static void sweep_configs(yard_host *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n_cfgs; i++) {
        yard_config *c = h->cfgs[i];
        bool used = c == h->cfg || c == h->base;
        for (size_t j = 0; j < h->n && !used; j++)
            used = h->slots[j].binding->cfg == c;
        if (used)
            h->cfgs[k++] = c;
        else
            yard_config_free(c);
    }
    h->n_cfgs = k;
}

static void record(yard_host *h, bool ok, const char *result)
{
    pthread_mutex_lock(&h->state_mu);
    h->reloads++;
    h->reloads_failed += !ok;
    yard_metrics_reload(ok);
    h->last_ok = ok;
    h->last_at = time(NULL);
    snprintf(h->last_result, sizeof h->last_result, "%s", result);
    pthread_mutex_unlock(&h->state_mu);
}

static int apply_config(yard_host *h, yard_config *ncfg, char *result,
                        size_t len)
{
    yard_config **cfgs = realloc(h->cfgs, (h->n_cfgs + 1) * sizeof *cfgs);
    if (!cfgs) {
        yard_config_free(ncfg);
        return yard_errf(result, len, YARD_ENOMEM,
                         "refused: out of memory");
    }
    h->cfgs = cfgs;
    h->cfgs[h->n_cfgs++] = ncfg;
    /* Against the start's values: those are what still runs. */
    size_t restart = report_restart_needed(h->base, ncfg);
    apply_live_settings(ncfg);

    outcome o = {0};
    PGconn *admin = NULL;
    /* Removed or disabled first: their partitions go back to the group. */
    for (size_t i = h->n; i-- > 0;) {
        const yard_plugin_conf *pc =
            yard_config_plugin(ncfg, h->slots[i].binding->conf->name);
        if (!pc || !pc->enabled)
            remove_plugin(h, i, pc ? "disabled" : "removed from conf.d", &o);
    }
    for (size_t i = 0; i < ncfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &ncfg->plugins[i];
        if (!pc->enabled)
            continue;
        pslot *s = slot_find(h, pc->name);
        if (!s)
            add_plugin(h, pc, ncfg, &admin, &o);
        else if (plugin_changed(s, pc))
            upgrade_plugin(h, s, pc, ncfg, &admin, &o);
        else {
            o.unchanged++;
            pthread_mutex_lock(&h->state_mu);
            snprintf(s->last_reload, sizeof s->last_reload, "unchanged");
            pthread_mutex_unlock(&h->state_mu);
        }
    }
    PQfinish(admin);

    pthread_mutex_lock(&h->state_mu);
    h->cfg = ncfg;
    sweep_configs(h);
    pthread_mutex_unlock(&h->state_mu);

    char restart_note[96] = "";
    if (restart)
        snprintf(restart_note, sizeof restart_note,
                 ", %zu setting(s) need a restart (see the log)", restart);
    fmt(result, len,
             "%s: %u added, %u upgraded, %u removed, %u unchanged, %u "
             "refused%s%s%s",
             o.refused ? "partly applied" : "ok", o.added, o.upgraded,
             o.removed, o.unchanged, o.refused, restart_note,
             o.refused ? "; " : "", o.errors);
    return o.first_rc;
}

int yard_host_reload(yard_host *h, char *result, size_t len)
{
    if (pthread_mutex_trylock(&h->reload_mu) != 0) {
        yard_log(YARD_LOG_WARN, "reload refused: another reload is running",
                 NULL);
        return yard_errf(result, len, YARD_EEXIST,
                         "refused: another reload is in progress");
    }
    yard_notify_reloading(); /* Type=notify-reload: READY=1 again below */
    yard_log(YARD_LOG_INFO, "reloading", "conf_dir", h->cfg->conf_dir, NULL);
    yard_config *ncfg = NULL;
    yard_diag d = YARD_DIAG_INIT;
    int rc = yard_config_load(h->cfg->conf_dir, &ncfg, &d);
    char *res = malloc(RESULT_MAX);
    if (!res) {
        yard_config_free(ncfg);
        yard_diag_clear(&d);
        yard_notify_ready(NULL);
        pthread_mutex_unlock(&h->reload_mu);
        return yard_errf(result, len, YARD_ENOMEM, "refused: out of memory");
    }
    if (rc) {
        int w = snprintf(res, RESULT_MAX,
                         "refused: configuration has errors, the running "
                         "configuration stays: ");
        for (size_t i = 0; i < d.n && w > 0 && (size_t)w < RESULT_MAX; i++)
            w += snprintf(res + w, RESULT_MAX - (size_t)w, "%s%s",
                          i ? "; " : "", d.msgs[i]);
        for (size_t i = 0; i < d.n; i++)
            yard_log(YARD_LOG_ERROR, "reload refused: configuration error",
                     "error", d.msgs[i], NULL);
    } else {
        rc = apply_config(h, ncfg, res, RESULT_MAX);
    }
    yard_diag_clear(&d);
    record(h, rc == 0, res);
    yard_log(rc ? YARD_LOG_ERROR : YARD_LOG_INFO, "reload finished", "result",
             res, NULL);
    snprintf(result, len, "%s", res);
    free(res);
    yard_notify_ready(NULL); /* the old generation serves on failure too */
    pthread_mutex_unlock(&h->reload_mu);
    return rc;
}

/* ---- status -------------------------------------------------------------- */

static json_t *time_json(time_t t)
{
    if (!t)
        return json_null();
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

char *yard_host_status_json(yard_host *h)
{
    json_t *root = json_object(), *plugins = json_array();
    pthread_mutex_lock(&h->state_mu);
    for (size_t i = 0; root && plugins && i < h->n; i++) {
        const pslot *s = &h->slots[i];
        const yard_binding *b = s->binding;
        const sy_plugin_desc *d = yard_plugin_desc(b->plugin);
        char abi[32];
        snprintf(abi, sizeof abi, "%u.%u", (unsigned)d->abi_major,
                 (unsigned)d->abi_minor);
        json_array_append_new(
            plugins,
            json_pack("{s:s, s:s, s:s, s:I, s:o, s:s, s:I, s:I, s:I, s:b, "
                      "s:s}",
                      "name", b->conf->name, "version", d->version, "abi", abi,
                      "generation",
                      (json_int_t)yard_plugin_generation(b->plugin),
                      "loaded_at", time_json(s->loaded_at), "group",
                      b->conf->group, "handled",
                      (json_int_t)atomic_load(&b->stats.handled), "consumed",
                      (json_int_t)atomic_load(&b->stats.consumed),
                      "dead_lettered",
                      (json_int_t)atomic_load(&b->stats.dead_lettered),
                      "consuming", s->consumer != NULL, "last_reload",
                      s->last_reload));
    }
    json_t *last = h->last_at ? json_pack("{s:b, s:o, s:s}", "ok", h->last_ok,
                                          "at", time_json(h->last_at),
                                          "result", h->last_result)
                              : json_null();
    json_object_set_new(root, "plugins", plugins);
    json_object_set_new(root, "reloads", json_integer((json_int_t)h->reloads));
    json_object_set_new(root, "reloads_failed",
                        json_integer((json_int_t)h->reloads_failed));
    json_object_set_new(root, "last_reload", last);
    pthread_mutex_unlock(&h->state_mu);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

static char *control_answer(void *arg, const char *command)
{
    yard_host *h = arg;
    if (strcmp(command, "status") == 0)
        return yard_host_status_json(h);
    if (strcmp(command, "reload") == 0) {
        char res[RESULT_MAX];
        int rc = yard_host_reload(h, res, sizeof res);
        json_t *j = json_pack("{s:b, s:s}", "ok", rc == 0, "result", res);
        char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        return out;
    }
    json_t *j = json_pack("{s:b, s:s}", "ok", 0, "result",
                          "unknown command (known: status, reload)");
    char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return out;
}
