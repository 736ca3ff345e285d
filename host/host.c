/* host.c — start and stop the whole runtime (see host.h). */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consumer.h"
#include "engine.h"
#include "log.h"
#include "plugin.h"
#include "relay.h"
#include "store.h"

struct yard_host {
    yard_config *cfg;
    char runtime_dir[256];
    yard_plugin **plugins;
    yard_binding **bindings;
    yard_consumer **consumers;
    size_t n; /* plugins loaded (== bindings) */
    yard_engine *engine;
    yard_relay *relay;
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

static int load_plugins(yard_host *h, PGconn *admin, char *err, size_t errlen)
{
    const yard_config *cfg = h->cfg;
    h->plugins = calloc(cfg->n_plugins ? cfg->n_plugins : 1, sizeof *h->plugins);
    h->bindings = calloc(cfg->n_plugins ? cfg->n_plugins : 1, sizeof *h->bindings);
    h->consumers = calloc(cfg->n_plugins ? cfg->n_plugins : 1, sizeof *h->consumers);
    if (!h->plugins || !h->bindings || !h->consumers)
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const yard_plugin_conf *pc = &cfg->plugins[i];
        if (!pc->enabled) {
            yard_log(YARD_LOG_INFO, "plugin disabled", "plugin", pc->name, NULL);
            continue;
        }
        yard_plugin_open_opts o;
        open_opts(cfg, h->runtime_dir, 1, &o);
        yard_plugin *p = NULL;
        char msg[1024];
        int rc = yard_plugin_open(pc, &o, &p, msg, sizeof msg);
        if (!rc)
            rc = yard_plugin_start(p, yard_engine_api(), yard_store_migrate_one,
                                   admin, msg, sizeof msg);
        if (rc) {
            yard_plugin_close(p);
            return yard_errf(err, errlen, rc, "%s:%d: plugin %s: %s", pc->file,
                             pc->line, pc->name, msg);
        }
        yard_binding *b = calloc(1, sizeof *b);
        if (!b) {
            yard_plugin_close(p);
            return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
        }
        b->plugin = p;
        b->conf = pc;
        b->cfg = cfg;
        snprintf(b->source, sizeof b->source, "/switchyard/%s", pc->name);
        h->plugins[h->n] = p;
        h->bindings[h->n] = b;
        h->n++;
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

int yard_host_start(yard_config *cfg, yard_host **out, char *err, size_t errlen)
{
    *out = NULL;
    yard_host *h = calloc(1, sizeof *h);
    if (!h) {
        yard_config_free(cfg);
        return yard_errf(err, errlen, YARD_ENOMEM, "out of memory");
    }
    h->cfg = cfg;
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
    if ((rc = load_plugins(h, admin, err, errlen)))
        goto fail;
    PQfinish(admin);
    admin = NULL;

    yard_engine_opts eo = {.dsn = cfg->postgres_dsn,
                           .workers = cfg->workers,
                           .batch_size = cfg->batch_size};
    if ((rc = yard_engine_start(&eo, &h->engine, err, errlen)))
        goto fail;
    if ((rc = yard_relay_start(cfg, &h->relay, err, errlen)))
        goto fail;
    for (size_t i = 0; i < h->n; i++) {
        yard_consumer_opts co = {.cfg = cfg,
                                 .binding = h->bindings[i],
                                 .engine = h->engine};
        if ((rc = yard_consumer_start(&co, &h->consumers[i], err, errlen)))
            goto fail;
    }
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
    uint32_t timeout = h->cfg->shutdown_timeout_ms;
    for (size_t i = 0; i < h->n; i++)
        yard_consumer_halt(h->consumers[i]);
    yard_engine_stop(h->engine, timeout);
    for (size_t i = 0; i < h->n; i++)
        yard_consumer_close(h->consumers[i]);
    yard_relay_stop(h->relay, timeout);
    for (size_t i = 0; i < h->n; i++) {
        yard_plugin_close(h->plugins[i]);
        free(h->bindings[i]);
    }
    remove_runtime_dir(h->runtime_dir);
    free(h->plugins);
    free(h->bindings);
    free(h->consumers);
    yard_config_free(h->cfg);
    free(h);
    yard_log(YARD_LOG_INFO, "host stopped", NULL);
}
